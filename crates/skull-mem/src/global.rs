//! `SkullAlloc`: the `#[global_allocator]` over the skull-mem core.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicU8, Ordering};

use skull_mem_core::alloc::{self, RawAlloc};
use skull_mem_core::counters::Api;

/// A global allocator that counts every allocation per scope, with the same core, header
/// and counters as `libskull_mem.so`.
pub struct SkullAlloc;

const MODE_UNKNOWN: u8 = 0;
const MODE_DETECTING: u8 = 1;
const MODE_LOCAL: u8 = 2;
const MODE_PRELOADED: u8 = 3;

static MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);

/// glibc, reached through the plain names (the preloaded library is never involved in
/// local mode: it is not loaded then).
struct Libc;

// SAFETY: glibc's malloc family, as `RawAlloc` requires.
unsafe impl RawAlloc for Libc {
    #[inline(always)]
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: forwarding the caller's contract.
        unsafe { libc::malloc(size) as *mut u8 }
    }
    unsafe fn calloc(size: usize) -> *mut u8 {
        // SAFETY: forwarding the caller's contract.
        unsafe { libc::calloc(1, size) as *mut u8 }
    }
    #[inline(always)]
    unsafe fn realloc(ptr: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: forwarding the caller's contract.
        unsafe { libc::realloc(ptr as *mut libc::c_void, size) as *mut u8 }
    }
    unsafe fn memalign(align: usize, size: usize) -> *mut u8 {
        // SAFETY: forwarding the caller's contract.
        unsafe { libc::memalign(align, size) as *mut u8 }
    }
    #[inline(always)]
    unsafe fn free(ptr: *mut u8) {
        // SAFETY: forwarding the caller's contract.
        unsafe { libc::free(ptr as *mut libc::c_void) }
    }
    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: forwarding the caller's contract.
        unsafe { libc::malloc_usable_size(ptr as *mut libc::c_void) }
    }
}

/// Whether this process counts with its own core (true) or passes through to libc.
#[inline(always)]
fn counting_locally() -> bool {
    match MODE.load(Ordering::Relaxed) {
        MODE_LOCAL => true,
        MODE_PRELOADED => false,
        _ => detect(),
    }
}

#[cold]
#[inline(never)]
fn detect() -> bool {
    if MODE
        .compare_exchange(
            MODE_UNKNOWN,
            MODE_DETECTING,
            Ordering::Acquire,
            Ordering::Acquire,
        )
        .is_err()
    {
        // Detecting right now (dlsym may allocate): pass this call through; its block
        // has no header and is freed as foreign, which libc handles.
        return MODE.load(Ordering::Acquire) == MODE_LOCAL;
    }
    let preloaded = skull_mem_abi_client::library_active();
    if !preloaded {
        // A Rust program cannot mark the start of main; its allocations go to `core`.
        skull_mem_core::thread::main_started();
    }
    let mode = if preloaded {
        MODE_PRELOADED
    } else {
        MODE_LOCAL
    };
    MODE.store(mode, Ordering::Release);
    !preloaded
}

const MALLOC_ALIGNMENT: usize = 16;

/// Mirrors std's `System`: plain malloc when it gives enough alignment, else
/// posix_memalign. The calls are counted under the same names as when `System` runs under
/// the preloaded library, so both ways report identical figures.
#[inline(always)]
fn plain_malloc_fits(layout: &Layout) -> bool {
    layout.align() <= MALLOC_ALIGNMENT && layout.align() <= layout.size()
}

/// # Safety
/// As posix_memalign.
unsafe fn aligned(layout: &Layout) -> *mut u8 {
    let align = layout.align().max(core::mem::size_of::<usize>());
    // SAFETY: forwarded; `align` is a power of two.
    unsafe { alloc::memalign::<Libc>(align, layout.size(), Api::PosixMemalign) }
}

// SAFETY: every path returns memory from glibc laid out as `layout` asks (the core adds
// its header in front and keeps the requested alignment), or null.
unsafe impl GlobalAlloc for SkullAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !counting_locally() {
            // SAFETY: the caller's layout contract, forwarded.
            return unsafe { std::alloc::System.alloc(layout) };
        }
        if plain_malloc_fits(&layout) {
            // SAFETY: as malloc.
            unsafe { alloc::malloc::<Libc>(layout.size(), Api::Malloc) }
        } else {
            // SAFETY: as posix_memalign with a power-of-two alignment.
            unsafe { aligned(&layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !counting_locally() {
            // SAFETY: the caller's layout contract, forwarded.
            return unsafe { std::alloc::System.alloc_zeroed(layout) };
        }
        if plain_malloc_fits(&layout) {
            // SAFETY: as calloc.
            unsafe { alloc::calloc::<Libc>(1, layout.size()) }
        } else {
            // SAFETY: as posix_memalign; the block is then zeroed over its requested size.
            unsafe {
                let ptr = aligned(&layout);
                if !ptr.is_null() {
                    ptr.write_bytes(0, layout.size());
                }
                ptr
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if MODE.load(Ordering::Relaxed) == MODE_LOCAL {
            // SAFETY: as free; blocks from before detection are foreign and go to libc.
            unsafe { alloc::free::<Libc>(ptr) }
        } else {
            // SAFETY: the caller's contract, forwarded.
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if MODE.load(Ordering::Relaxed) != MODE_LOCAL {
            // SAFETY: the caller's contract, forwarded.
            return unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        }
        if layout.align() <= MALLOC_ALIGNMENT && layout.align() <= new_size {
            // SAFETY: as realloc; `new_size` is non-zero by GlobalAlloc's contract.
            return unsafe { alloc::realloc::<Libc>(ptr, new_size, Api::Realloc) };
        }
        // SAFETY: `new_size` with the old alignment is a valid layout by the caller's
        // contract; the old block holds at least `min(old, new)` bytes.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}
