//! The malloc family with glibc's semantics, counted, over the allocator being measured.
//!
//! Every block gets a `header` in front; every call is counted: a plain block of the
//! current scope by `thread::count_plain_alloc` / `count_plain_free`, everything else by
//! `thread::record`. Small plain blocks freed in their own scope go to the thread's
//! `cache`, where the next malloc of their class finds them. The common calls (malloc,
//! free, calloc, realloc) are inlined straight-line code; failures, cross-scope frees and
//! the aligned family are outlined.

use crate::cache::{self, Keep, CACHED_MAX};
use crate::counters::{Api, Counter};
use crate::header::{self, BlockInfo, HEADER_SIZE, MAX_SIZE, PLAIN_SHIFT, SCOPE_SHIFT};
use crate::sys::set_errno;
use crate::thread::{
    arm_cache, count_plain_alloc, count_plain_free, keep_cached, record, record_slow, take_cached,
    Alloc, Call, Foreign, Free, Resize,
};
use crate::trace;

/// glibc's malloc alignment on x86-64: smaller alignments are plain mallocs.
const MALLOC_ALIGNMENT: usize = 16;
/// glibc's smallest chunk, the least alignment memalign uses above `MALLOC_ALIGNMENT`.
const MIN_CHUNK: usize = 32;

/// The allocator skull-mem measures and forwards to.
///
/// # Safety
/// Implementations must behave like glibc's `__libc_*` functions: `malloc` returns
/// 16-aligned memory or null, `free` accepts what they returned, and so on.
pub unsafe trait RawAlloc {
    /// `malloc(size)`.
    ///
    /// # Safety
    /// Callable from any thread at any time, as glibc's; the caller owns the result.
    unsafe fn malloc(size: usize) -> *mut u8;
    /// `calloc(1, size)`: zeroed memory.
    ///
    /// # Safety
    /// As `malloc`.
    unsafe fn calloc(size: usize) -> *mut u8;
    /// `realloc(ptr, size)`.
    ///
    /// # Safety
    /// `ptr` is null or a live block returned by this allocator.
    unsafe fn realloc(ptr: *mut u8, size: usize) -> *mut u8;
    /// `memalign(align, size)`, `align` a power of two of at least 32.
    ///
    /// # Safety
    /// As `malloc`, and `align` must be a power of two.
    unsafe fn memalign(align: usize, size: usize) -> *mut u8;
    /// `free(ptr)`.
    ///
    /// # Safety
    /// `ptr` is null or a live block returned by this allocator; it is dead afterwards.
    unsafe fn free(ptr: *mut u8);
    /// `malloc_usable_size(ptr)`.
    ///
    /// # Safety
    /// `ptr` is a live block returned by this allocator.
    unsafe fn usable_size(ptr: *mut u8) -> usize;
}

#[cold]
#[inline(never)]
fn failed(api: Api) -> *mut u8 {
    record(Call {
        calls: api.calls(),
        failed: true,
    });
    core::ptr::null_mut()
}

#[cold]
#[inline(never)]
fn out_of_memory(api: Api) -> *mut u8 {
    set_errno(libc::ENOMEM);
    failed(api)
}

/// Hands out a new block of `size` bytes, recording it first when tracing selects it (off,
/// one relaxed load).
#[inline(always)]
fn traced(user: *mut u8, size: usize) -> *mut u8 {
    let word = trace::word();
    if word == 0 {
        return user;
    }
    // SAFETY: `user` is null or a block of ours of `size` bytes just made, with its header.
    unsafe { trace::on_new_block(user, size, word) }
}

/// Finishes a plain block: counts it and writes its header.
#[inline(always)]
unsafe fn plain_block<R: RawAlloc>(raw: *mut u8, size: usize, api: Api) -> *mut u8 {
    let Some(scope_bits) = count_plain_alloc(api, size) else {
        // SAFETY: as below.
        return unsafe { plain_block_slow::<R>(raw, size, api) };
    };
    // SAFETY: `raw` is a live 16-aligned libc block of at least `size + HEADER_SIZE` bytes.
    unsafe { header::write_plain(raw, header::first_word(size, scope_bits)) }
}

/// `plain_block` for a size too large for a header (`malloc` checks it only here, after
/// libc, to keep the check off its fast path), or a thread without a block of its own
/// yet. A tail call taking scalars, so the fast path builds no event on the stack.
#[cold]
#[inline(never)]
unsafe fn plain_block_slow<R: RawAlloc>(raw: *mut u8, size: usize, api: Api) -> *mut u8 {
    if size > MAX_SIZE {
        // libc was asked for `size + 16` wrapped around to a few bytes (larger sizes it
        // refuses itself: they exceed the address space).
        // SAFETY: `raw` is the block libc just returned; nobody else has seen it.
        unsafe { R::free(raw) };
        return out_of_memory(api);
    }
    let scope = record_slow(plain_alloc(size, api));
    let word0 = header::first_word(size, u64::from(scope) << SCOPE_SHIFT);
    // SAFETY: as in `plain_block`.
    unsafe { header::write_plain(raw, word0) }
}

#[inline(always)]
fn plain_alloc(size: usize, api: Api) -> Alloc {
    Alloc {
        api,
        size,
        overhead: HEADER_SIZE,
    }
}

/// `malloc(size)`, counted as a call of `api`.
///
/// # Safety
/// As `malloc`.
#[inline(always)]
pub unsafe fn malloc<R: RawAlloc>(size: usize, api: Api) -> *mut u8 {
    // Budget: a cached block or libc, a null check, `count_plain_alloc`, the header (one
    // multiply). Sizes above `MAX_SIZE` are caught after libc, in `plain_block_slow`.
    let mut raw = if size <= CACHED_MAX {
        take_cached(size)
    } else {
        core::ptr::null_mut()
    };
    if raw.is_null() {
        // SAFETY: forwarding to the measured allocator.
        raw = unsafe { R::malloc(cache::raw_size(size)) };
        if raw.is_null() {
            return failed(api);
        }
    }
    // SAFETY: `raw` holds `raw_size(size)` bytes, or the size is caught as too large.
    traced(unsafe { plain_block::<R>(raw, size, api) }, size)
}

/// `calloc(count, size)`: overflow of `count * size` fails with ENOMEM.
///
/// # Safety
/// As `calloc`.
#[inline(always)]
pub unsafe fn calloc<R: RawAlloc>(count: usize, size: usize) -> *mut u8 {
    let total = match count.checked_mul(size) {
        Some(total) if total <= MAX_SIZE => total,
        _ => return out_of_memory(Api::Calloc),
    };
    // Never from the cache, whose blocks are not zeroed: glibc knows when its memory
    // already is. The header bytes are zeroed too and overwritten below.
    // SAFETY: forwarding to the measured allocator.
    let raw = unsafe { R::calloc(cache::raw_size(total)) };
    if raw.is_null() {
        return failed(Api::Calloc);
    }
    // SAFETY: `raw` holds `raw_size(total)` bytes.
    traced(unsafe { plain_block::<R>(raw, total, Api::Calloc) }, total)
}

/// `free(ptr)`: the block's bytes are credited to the scope that allocated it.
///
/// # Safety
/// As `free`: `ptr` is null or a live block from this malloc family.
#[inline(always)]
pub unsafe fn free<R: RawAlloc>(ptr: *mut u8) {
    if ptr.is_null() {
        return free_null();
    }
    // Fast path: a plain block of the current scope. Budget: the header check (one
    // multiply, one compare), `count_plain_free`, and the cache or a tail call to libc.
    // The slow paths take the header's address too, so that it is computed once, in place.
    let raw = opaque(ptr.wrapping_sub(HEADER_SIZE));
    // SAFETY: a malloc-family pointer has 16 readable bytes in front of it.
    let Some(word0) = (unsafe { header::read_plain(raw) }) else {
        // SAFETY: the caller's contract, passed on.
        return unsafe { free_other::<R>(raw) };
    };
    let Some(size) = count_plain_free(word0) else {
        // SAFETY: as below.
        return unsafe { free_plain_slow::<R>(raw) };
    };
    if size <= CACHED_MAX {
        match keep_cached(raw, size) {
            Keep::Kept => return,
            Keep::Full => {}
            // SAFETY: as below.
            Keep::Unarmed => return unsafe { free_unarmed::<R>(raw) },
        }
    }
    // SAFETY: the header proves `ptr` came from us as a plain block, so `raw` (the header's
    // address) is libc's block.
    unsafe { R::free(raw) }
}

/// `free` of a small plain block on a thread whose cache is not armed yet: arms it (so a
/// thread that never frees keeps no cache), and libc takes this one.
#[cold]
#[inline(never)]
unsafe fn free_unarmed<R: RawAlloc>(raw: *mut u8) {
    arm_cache(R::free);
    // SAFETY: the caller proved `raw` is the libc block of a plain block of ours.
    unsafe { R::free(raw) }
}

/// `ptr`, hidden from the optimiser, which would otherwise rewrite `free`'s
/// `(ptr - 16) + word0` as two adds and compute `ptr - 16` a second time for libc.
#[inline(always)]
fn opaque(ptr: *mut u8) -> *mut u8 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut addr = ptr.addr();
        // SAFETY: an empty asm block (the operand is only named in a comment); it claims
        // to change the register and does nothing.
        unsafe {
            core::arch::asm!(
                "/* {0} */",
                inout(reg) addr,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        ptr.with_addr(addr)
    }
    #[cfg(not(target_arch = "x86_64"))]
    ptr
}

#[cold]
#[inline(never)]
fn free_null() {
    record(Call {
        calls: Counter::FreeCalls,
        failed: false,
    });
}

/// `free` of a plain block of ours that the fast path did not count: allocated in another
/// scope, or freed by a thread without a block of its own. It takes only the header's
/// address and reads the (checked) header again, so the fast path builds no event on the
/// stack and keeps no register for it.
#[cold]
#[inline(never)]
unsafe fn free_plain_slow<R: RawAlloc>(raw: *mut u8) {
    // SAFETY: the caller checked the header at `raw`.
    let word0 = unsafe { (raw as *const u64).read() };
    record(Free {
        calls: Counter::FreeCalls,
        block: header::plain_info(word0),
    });
    // SAFETY: the caller checked that `raw` holds a plain header of ours: it is libc's block.
    unsafe { R::free(raw) }
}

/// `free` of anything but a plain untraced block of ours (`raw` is 16 bytes in front of the
/// pointer): an aligned or traced block, or a foreign pointer.
#[cold]
#[inline(never)]
unsafe fn free_other<R: RawAlloc>(raw: *mut u8) {
    let ptr = raw.wrapping_add(HEADER_SIZE);
    // SAFETY: a malloc-family pointer has 16 readable bytes in front of it.
    let Some(block) = (unsafe { header::read(ptr) }) else {
        // SAFETY: not ours: libc gets exactly what the caller passed.
        return unsafe { free_foreign::<R>(ptr, Counter::FreeCalls) };
    };
    record(Free {
        calls: Counter::FreeCalls,
        block,
    });
    // SAFETY: the header proves `ptr` came from us, so `raw_of` is libc's block.
    unsafe { release::<R>(ptr, &block) }
}

/// Gives a block of ours back to libc.
#[inline(always)]
unsafe fn release<R: RawAlloc>(ptr: *mut u8, block: &BlockInfo) {
    if block.traced {
        trace::on_free(ptr, block.level);
    }
    if block.shift != PLAIN_SHIFT {
        // libc reuses the front of the raw block, not the padding where this header sits;
        // clearing it keeps a double free from passing the check.
        // SAFETY: the header is ours and still allocated.
        unsafe { header::clear(ptr) };
    }
    // SAFETY: the caller proved `ptr` is ours.
    unsafe { R::free(header::raw_of(ptr, block)) }
}

#[cold]
#[inline(never)]
unsafe fn free_foreign<R: RawAlloc>(ptr: *mut u8, calls: Counter) {
    record(Foreign { calls });
    // SAFETY: the caller passes a pointer it got from libc (or its own bug to libc).
    unsafe { R::free(ptr) }
}

/// `realloc(ptr, size)` (or `reallocarray` as `api`): the old block is freed and credited
/// to its owner, the new one charged to the current scope, whether or not it moved.
/// `realloc(NULL, n)` allocates; `realloc(p, 0)` frees `p` and returns NULL, as glibc.
///
/// # Safety
/// As `realloc`.
#[inline(always)]
pub unsafe fn realloc<R: RawAlloc>(ptr: *mut u8, size: usize, api: Api) -> *mut u8 {
    if ptr.is_null() {
        // SAFETY: as malloc.
        return unsafe { malloc::<R>(size, api) };
    }
    // SAFETY: a malloc-family pointer has 16 readable bytes in front of it.
    let Some(old) = (unsafe { header::read(ptr) }) else {
        // SAFETY: not ours: libc resizes its own block.
        return unsafe { realloc_foreign::<R>(ptr, size, api) };
    };
    if size == 0 {
        record(Free {
            calls: api.calls(),
            block: old,
        });
        // SAFETY: `ptr` is ours, checked above.
        unsafe { release::<R>(ptr, &old) };
        return core::ptr::null_mut();
    }
    if size > MAX_SIZE {
        return out_of_memory(api);
    }
    if old.traced {
        // Moved or resized, it is a new block to tracing; if libc fails, the old one stays
        // but is no longer traced (its traced bit only costs a table lookup at its free).
        trace::on_free(ptr, old.level);
    }
    let raw = if old.shift == PLAIN_SHIFT {
        // SAFETY: `ptr` is ours and plain, so its raw block is a libc block.
        unsafe { R::realloc(header::raw_of(ptr, &old), cache::raw_size(size)) }
    } else {
        // SAFETY: as above, for an aligned block.
        unsafe { move_aligned::<R>(ptr, &old, size) }
    };
    if raw.is_null() {
        // libc left the old block (and its header) as it was.
        return failed(api);
    }
    let scope = record(Resize { api, old, size });
    let word0 = header::first_word(size, u64::from(scope) << SCOPE_SHIFT);
    // SAFETY: `raw` is a 16-aligned libc block of `raw_size(size)` bytes.
    traced(unsafe { header::write_plain(raw, word0) }, size)
}

#[cold]
#[inline(never)]
unsafe fn realloc_foreign<R: RawAlloc>(ptr: *mut u8, size: usize, api: Api) -> *mut u8 {
    record(Foreign { calls: api.calls() });
    // SAFETY: the caller passes a block libc allocated.
    unsafe { R::realloc(ptr, size) }
}

/// Moves an aligned block into a new plain one (realloc need not keep alignment).
#[cold]
#[inline(never)]
unsafe fn move_aligned<R: RawAlloc>(ptr: *mut u8, old: &BlockInfo, size: usize) -> *mut u8 {
    // SAFETY: forwarding to the measured allocator.
    let raw = unsafe { R::malloc(cache::raw_size(size)) };
    if !raw.is_null() {
        // SAFETY: both blocks hold at least `min(old.size, size)` bytes and are distinct.
        unsafe {
            core::ptr::copy_nonoverlapping(ptr, raw.add(HEADER_SIZE), old.size.min(size));
            release::<R>(ptr, old);
        }
    }
    raw
}

/// `reallocarray(ptr, count, size)`: overflow fails with ENOMEM and leaves `ptr` alone.
///
/// # Safety
/// As `reallocarray`.
pub unsafe fn reallocarray<R: RawAlloc>(ptr: *mut u8, count: usize, size: usize) -> *mut u8 {
    match count.checked_mul(size) {
        // SAFETY: as realloc.
        Some(total) => unsafe { realloc::<R>(ptr, total, Api::ReallocArray) },
        None => out_of_memory(Api::ReallocArray),
    }
}

/// `memalign(align, size)` (also `aligned_alloc` as `api`), with glibc 2.36's rules:
/// alignments up to 16 are plain mallocs, others are raised to at least 32 and to a
/// power of two, and one above `SIZE_MAX / 2 + 1` fails with EINVAL.
///
/// # Safety
/// As `memalign`.
pub unsafe fn memalign<R: RawAlloc>(align: usize, size: usize, api: Api) -> *mut u8 {
    if align <= MALLOC_ALIGNMENT {
        // SAFETY: as malloc.
        return unsafe { malloc::<R>(size, api) };
    }
    if align > usize::MAX / 2 + 1 {
        set_errno(libc::EINVAL);
        return failed(api);
    }
    let align = align.next_power_of_two().max(MIN_CHUNK);
    let total = match size.checked_add(align) {
        Some(total) if size <= MAX_SIZE => total,
        _ => return out_of_memory(api),
    };
    // The user pointer is `raw + align`: aligned, with the header in the padding in front.
    // SAFETY: forwarding to the measured allocator with a valid power-of-two alignment.
    let raw = unsafe { R::memalign(align, total) };
    if raw.is_null() {
        return failed(api);
    }
    let scope = record(Alloc {
        api,
        size,
        overhead: align,
    });
    // SAFETY: `raw` holds `size + align` bytes and `align >= HEADER_SIZE`.
    unsafe {
        let user = raw.add(align);
        header::write(
            user,
            BlockInfo {
                size,
                scope,
                shift: align.trailing_zeros(),
                traced: false,
                level: 0,
            },
        );
        traced(user, size)
    }
}

/// `posix_memalign(out, align, size)`: EINVAL unless `align` is a power of two multiple of
/// `sizeof(void *)`; ENOMEM when out of memory; `*out` is set only on success.
///
/// # Safety
/// As `posix_memalign`: `out` is writable.
pub unsafe fn posix_memalign<R: RawAlloc>(out: *mut *mut u8, align: usize, size: usize) -> i32 {
    let word = core::mem::size_of::<usize>();
    if align == 0 || !align.is_multiple_of(word) || !(align / word).is_power_of_two() {
        failed(Api::PosixMemalign);
        return libc::EINVAL;
    }
    // SAFETY: as memalign.
    let ptr = unsafe { memalign::<R>(align, size, Api::PosixMemalign) };
    if ptr.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller guarantees `out` is writable.
    unsafe { out.write(ptr) };
    0
}

fn page_size() -> usize {
    // SAFETY: getauxval only reads the auxiliary vector the kernel passed.
    match unsafe { libc::getauxval(libc::AT_PAGESZ) } {
        0 => 4096,
        size => size as usize,
    }
}

/// `valloc(size)`: page-aligned.
///
/// # Safety
/// As `valloc`.
pub unsafe fn valloc<R: RawAlloc>(size: usize) -> *mut u8 {
    // SAFETY: as memalign.
    unsafe { memalign::<R>(page_size(), size, Api::Valloc) }
}

/// `pvalloc(size)`: page-aligned, the size rounded up to whole pages (at least one).
///
/// # Safety
/// As `pvalloc`.
pub unsafe fn pvalloc<R: RawAlloc>(size: usize) -> *mut u8 {
    let page = page_size();
    match size.max(1).checked_add(page - 1) {
        // SAFETY: as memalign.
        Some(end) => unsafe { memalign::<R>(page, end & !(page - 1), Api::Pvalloc) },
        None => out_of_memory(Api::Pvalloc),
    }
}

/// `malloc_usable_size(ptr)`: the bytes the caller may use from `ptr` on.
///
/// # Safety
/// As `malloc_usable_size`.
pub unsafe fn usable_size<R: RawAlloc>(ptr: *mut u8) -> usize {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: a malloc-family pointer has 16 readable bytes in front of it.
    match unsafe { header::read(ptr) } {
        // SAFETY: ours: libc's usable size of the raw block, less what precedes `ptr`.
        Some(block) => unsafe { R::usable_size(header::raw_of(ptr, &block)) - block.overhead() },
        // SAFETY: libc's own block.
        None => unsafe { R::usable_size(ptr) },
    }
}
