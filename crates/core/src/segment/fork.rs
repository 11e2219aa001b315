//! A forked child's own segment: the parent's file still belongs to the parent, so the child
//! copies what it inherited into a file of its own and maps it at the same addresses (every
//! pointer into the region and the areas stays valid). Its trace tables start empty.

use core::mem::size_of;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use super::file::{self, map_anonymous};
use super::{group_file_offset, write_header, FIXED_FILE_BYTES, TRACE_FILE_OFFSET};
use crate::region::{Region, BLOCK_AREAS, BLOCK_GROUPS, TRACE_AREA};

/// A private copy of the fixed part and the committed thread blocks, taken by the parent
/// just before `fork`: after `fork` the parent keeps counting into the shared segment at
/// once, so a child that copied from the shared segment would also inherit whatever the
/// parent counted until the child's copy ran (typically everything the forking thread did
/// right after `fork`).
static FORK_COPY: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
/// Bytes of `FORK_COPY`.
static FORK_COPY_LEN: AtomicUsize = AtomicUsize::new(0);
/// Bytes of each block group in `FORK_COPY`, which follow the fixed part one after another.
static FORK_COPY_GROUPS: [AtomicU64; BLOCK_GROUPS] = [const { AtomicU64::new(0) }; BLOCK_GROUPS];

/// In the parent just before `fork` (the `pthread_atfork` prepare handler): takes the copy
/// the child will start from. Without memory for it the child copies the shared segment,
/// and the counts then may mix.
///
/// # Safety
/// `region` is the published region and `file_backed` says how it was mapped.
pub(crate) unsafe fn before_fork(region: *mut Region, file_backed: bool) {
    if !file_backed {
        return;
    }
    let errno = crate::sys::errno();
    let committed: [usize; BLOCK_GROUPS] = core::array::from_fn(|g| BLOCK_AREAS[g].committed());
    let len = FIXED_FILE_BYTES + committed.iter().sum::<usize>();
    if let Some(copy) = map_anonymous(len) {
        // SAFETY: `copy` is a fresh mapping of `len` bytes; the fixed part and each group's
        // committed blocks (committed only grows) are mapped.
        unsafe {
            ptr::copy_nonoverlapping(region as *const u8, copy, size_of::<Region>());
            let mut at = FIXED_FILE_BYTES;
            for (group, &bytes) in committed.iter().enumerate() {
                if bytes > 0 {
                    ptr::copy_nonoverlapping(BLOCK_AREAS[group].base(), copy.add(at), bytes);
                }
                FORK_COPY_GROUPS[group].store(bytes as u64, Ordering::Relaxed);
                at += bytes;
            }
        }
        release_fork_copy(FORK_COPY.swap(copy, Ordering::AcqRel));
        FORK_COPY_LEN.store(len, Ordering::Release);
    }
    crate::sys::set_errno(errno);
}

/// In the parent after `fork`: drops the copy taken for the child.
pub(crate) extern "C" fn after_fork_in_parent() {
    let errno = crate::sys::errno();
    release_fork_copy(FORK_COPY.swap(ptr::null_mut(), Ordering::AcqRel));
    crate::sys::set_errno(errno);
}

fn release_fork_copy(copy: *mut u8) {
    if !copy.is_null() {
        // SAFETY: `copy` was mapped by `before_fork` with this length and is no longer used.
        unsafe { libc::munmap(copy.cast(), FORK_COPY_LEN.load(Ordering::Acquire)) };
    }
}

/// In a child after `fork`: moves the fixed part and the committed thread blocks to a
/// segment file of the child's own, starting from what was in use at `fork` (`FORK_COPY`),
/// and empties the trace tables. With an anonymous region the kernel already gave the child
/// a private copy. Without room for a file the child's segment becomes private memory: it
/// counts on, unseen from outside (stderr says so once). Returns whether it is in a file.
///
/// Other parent threads may count between the copy and `fork`; those few calls then also
/// show in the child's inherited totals.
///
/// # Safety
/// Called in the child with one thread, before anything else counts; `region` is the
/// published region and `file_backed` says how it was mapped.
pub(crate) unsafe fn move_to_own_segment(region: *mut Region, file_backed: bool) -> bool {
    let copy = FORK_COPY.swap(ptr::null_mut(), Ordering::AcqRel);
    let moved = file_backed && {
        // SAFETY: guaranteed by the caller; `copy` is null or the parent's copy.
        unsafe { move_from(region, copy) }
    };
    release_fork_copy(copy);
    moved
}

/// `move_to_own_segment` with the copy to start from (the shared segment when null).
///
/// # Safety
/// As `move_to_own_segment`, for a file-backed region.
unsafe fn move_from(region: *mut Region, copy: *const u8) -> bool {
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() } as u32;
    let fixed_source = if copy.is_null() {
        region as *const u8
    } else {
        copy
    };
    let mut fd = file::create_file(pid).unwrap_or(-1);
    // SAFETY: the only thread; `fixed_source` holds a whole `Region`; the new file is ours
    // and its fixed part reserved, mapped over the region's own range.
    let in_file = fd >= 0
        && unsafe {
            file::write_all(fd, fixed_source, size_of::<Region>(), 0)
                && libc::mmap(
                    region.cast(),
                    FIXED_FILE_BYTES,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_FIXED,
                    fd,
                    0,
                ) != libc::MAP_FAILED
        };
    if !in_file {
        if fd >= 0 {
            file::abandon(fd);
            fd = -1;
        }
        // SAFETY: the only thread; the fixed part becomes a private copy at its address.
        unsafe { private_copy(region.cast(), FIXED_FILE_BYTES, fixed_source) };
    }
    file::replace_fd(fd);
    // SAFETY: the region is the child's own now; nothing reads it until the header is
    // published again (magic last).
    unsafe {
        (*region).header.magic.store(0, Ordering::Release);
        write_header(region, pid);
    }
    // SAFETY: the only thread; the header's records live as long as the region.
    let header = unsafe { &(*region).header };
    let mut at = FIXED_FILE_BYTES;
    for (group, area) in BLOCK_AREAS.iter().enumerate() {
        let copied = FORK_COPY_GROUPS[group].load(Ordering::Relaxed) as usize;
        let content = if !copy.is_null() && copied == area.committed() {
            // SAFETY: the copy holds this group's `copied` bytes at `at`.
            unsafe { copy.add(at) }
        } else {
            // No copy, or the group grew after it was taken: from the shared blocks.
            area.base()
        };
        at += copied;
        let record = if fd >= 0 {
            &header.block_groups[group] as *const _
        } else {
            ptr::null()
        };
        // SAFETY: the only thread; `content` holds the group's committed bytes.
        unsafe { area.move_to(fd, group_file_offset(group), record, Some(content)) };
    }
    let record = if fd >= 0 {
        &header.trace_area as *const _
    } else {
        ptr::null()
    };
    // SAFETY: the only thread; the trace tables start empty.
    unsafe { TRACE_AREA.move_to(fd, TRACE_FILE_OFFSET, record, None) };
    crate::region::reset_trace_tables();
    crate::trace::capture::forget_stacks();
    in_file
}

/// Makes `[base, base + len)` a private copy of `source` (which may be that range itself).
///
/// # Safety
/// The only thread; both ranges are readable, `base` is page-aligned and ours.
unsafe fn private_copy(base: *mut u8, len: usize, source: *const u8) {
    let Some(aside) = map_anonymous(len) else {
        // No memory for a copy: keep sharing rather than crash; the counts mix.
        return;
    };
    // SAFETY: the caller's guarantee; `aside` is a fresh mapping of `len` bytes.
    unsafe {
        ptr::copy_nonoverlapping(source, aside, len);
        let moved = libc::mremap(
            aside.cast(),
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            base.cast::<libc::c_void>(),
        );
        if moved == libc::MAP_FAILED {
            libc::munmap(aside.cast(), len);
        }
    }
}
