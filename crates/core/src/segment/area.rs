//! An area: a growable part of the segment (thread counter blocks, tracing's tables).
//!
//! An area is a range of the process's address space reserved when it is first needed
//! (`PROT_NONE`, `MAP_NORESERVE`: no memory, no file), at an address that never changes, over
//! a range of the segment file at a fixed offset. `commit` backs it from the start in whole
//! chunks: each chunk is first reserved in the file with `fallocate`, so a full filesystem
//! is an error code now rather than a SIGBUS on some later store, and only then mapped
//! `MAP_SHARED|MAP_FIXED` over its place. Readers in other processes learn from the
//! segment header's `AreaRecord` how much is committed and read only that (reading a hole of
//! a file on a full tmpfs can fault too).
//!
//! Without a segment file (the anonymous fallback) the same area is anonymous memory whose
//! chunks are made writable with `mprotect`.
//!
//! `commit` never blocks and is idempotent: threads racing for the same chunk may both
//! reserve and map it, which is harmless (the data lives in the file, and mapping the same
//! file range again keeps it; `mprotect` keeps anonymous data). The committed end is
//! published with a Release `fetch_max` after the mapping, so a thread that sees it sees
//! the mapping.

use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// What the segment header records of one area, for readers in other processes.
///
/// Only integers, so any content is a valid value; readers check every field against the
/// file before mapping anything through it.
#[repr(C)]
pub struct AreaRecord {
    /// Where the area starts in the segment file.
    pub file_offset: AtomicU64,
    /// Bytes reserved for it, in the address space and in the file.
    pub reserved: AtomicU64,
    /// Bytes from its start that are backed in the file: the only ones a reader may read.
    pub committed: AtomicU64,
}

impl AreaRecord {
    /// A record of nothing: an area not bound to a file yet.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const EMPTY: AreaRecord = AreaRecord {
        file_offset: AtomicU64::new(0),
        reserved: AtomicU64::new(0),
        committed: AtomicU64::new(0),
    };
}

/// A growable range of memory, backed chunk by chunk (see the module doc). Lives in static
/// memory of the process that writes it: its base and descriptor are this process's own.
pub struct Area {
    reserved: usize,
    chunk: usize,
    /// Start of the reserved range; null until first committed.
    base: AtomicPtr<u8>,
    /// Bytes from `base` that are backed and mapped.
    committed: AtomicUsize,
    /// The segment file, or -1 for anonymous memory.
    fd: AtomicI32,
    /// The file's device and inode (`file_identity`) when bound: a program may close the
    /// descriptor and open another file under its number, which must never be grown.
    identity: AtomicU64,
    /// Where the area starts in the segment file.
    file_offset: AtomicU64,
    /// The header's record of this area, or null (anonymous).
    record: AtomicPtr<AreaRecord>,
}

/// x86-64 Linux's base page size: mappings start and end on it.
const PAGE: usize = 4096;

impl Area {
    /// An area of `reserved` bytes committed `chunk` bytes at a time (both rounded up to
    /// whole pages), anonymous until `bind` gives it a file. Reserves nothing yet.
    pub const fn new(reserved: usize, chunk: usize) -> Area {
        let chunk = if chunk == 0 {
            PAGE
        } else {
            round_up(chunk, PAGE)
        };
        Area {
            reserved: round_up(reserved, chunk),
            chunk,
            base: AtomicPtr::new(ptr::null_mut()),
            committed: AtomicUsize::new(0),
            fd: AtomicI32::new(-1),
            identity: AtomicU64::new(0),
            file_offset: AtomicU64::new(0),
            record: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Start of the area, stable for the life of the process once set: null until the
    /// first successful `commit`.
    #[inline]
    pub fn base(&self) -> *mut u8 {
        self.base.load(Ordering::Acquire)
    }

    /// Bytes the area may grow to.
    #[inline]
    pub fn reserved(&self) -> usize {
        self.reserved
    }

    /// Bytes from `base` that are backed and may be read and written.
    #[inline]
    pub fn committed(&self) -> usize {
        self.committed.load(Ordering::Acquire)
    }

    /// Bytes committed at a time.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// Makes `[0, end)` backed. False when `end` is past the reservation, or the address
    /// space, the file or the filesystem refuses: the caller then drops what it wanted to
    /// store (and counts it), it never blocks and never faults. Already committed: one
    /// Acquire load and a compare.
    #[inline]
    pub fn commit(&self, end: usize) -> bool {
        end <= self.committed.load(Ordering::Acquire) || self.commit_slow(end)
    }

    #[cold]
    #[inline(never)]
    fn commit_slow(&self, end: usize) -> bool {
        if end > self.reserved {
            return false;
        }
        let errno = crate::sys::errno();
        let done = self.reserve().is_some_and(|base| {
            let end = round_up(end, self.chunk).min(self.reserved);
            let from = self.committed.load(Ordering::Acquire);
            from >= end || self.back(base, from, end)
        });
        crate::sys::set_errno(errno);
        done
    }

    /// The reserved range's start, reserving it on first use. A thread that loses the race
    /// to reserve gives its own range back and uses the winner's.
    fn reserve(&self) -> Option<*mut u8> {
        let base = self.base.load(Ordering::Acquire);
        if !base.is_null() {
            return Some(base);
        }
        // SAFETY: a fresh inaccessible mapping; no existing memory is affected.
        let fresh = unsafe {
            libc::mmap(
                ptr::null_mut(),
                self.reserved,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if fresh == libc::MAP_FAILED {
            return None;
        }
        let fresh = fresh.cast::<u8>();
        match self.base.compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Some(fresh),
            Err(winner) => {
                // SAFETY: our own fresh range, which nobody else has seen.
                unsafe { libc::munmap(fresh.cast(), self.reserved) };
                Some(winner)
            }
        }
    }

    /// Backs `[from, end)` (whole chunks inside the reservation at `base`), then publishes.
    fn back(&self, base: *mut u8, from: usize, end: usize) -> bool {
        let len = end - from;
        // SAFETY: `from < end <= reserved`, so the address stays inside the reservation.
        let at = unsafe { base.add(from) };
        let fd = self.fd.load(Ordering::Acquire);
        let backed = if fd < 0 {
            // SAFETY: a page-aligned range of our own reservation; data already there (a
            // racing thread's chunk) is kept by mprotect.
            unsafe { libc::mprotect(at.cast(), len, libc::PROT_READ | libc::PROT_WRITE) == 0 }
        } else {
            let offset = self.file_offset.load(Ordering::Relaxed) + from as u64;
            file_identity(fd) == Some(self.identity.load(Ordering::Relaxed))
                && reserve_in_file(fd, offset, len)
                // SAFETY: replaces part of our own reservation with the file range just
                // reserved; a range mapped already maps the same file pages again.
                && unsafe { map_file_at(at, len, fd, offset) }
        };
        if backed {
            self.publish(end);
        }
        backed
    }

    fn publish(&self, end: usize) {
        self.committed.fetch_max(end, Ordering::Release);
        // SAFETY: a non-null record is the header of our mapped segment (see `bind`).
        if let Some(record) = unsafe { self.record.load(Ordering::Acquire).as_ref() } {
            record.committed.fetch_max(end as u64, Ordering::Release);
        }
    }

    /// Gives the area a segment file: later commits reserve and map `fd` from
    /// `file_offset`, and `record` (in the segment header) tells readers what is committed.
    /// With `fd` -1 (and `record` null) the area is anonymous memory.
    ///
    /// # Safety
    /// `fd` stays open and `record` (when not null) mapped while the area is bound; called
    /// before any thread commits, or by the only thread.
    pub(crate) unsafe fn bind(&self, fd: i32, file_offset: u64, record: *const AreaRecord) {
        self.file_offset.store(file_offset, Ordering::Relaxed);
        // SAFETY: the caller's guarantee.
        if let Some(header) = unsafe { record.as_ref() } {
            header.file_offset.store(file_offset, Ordering::Relaxed);
            header
                .reserved
                .store(self.reserved as u64, Ordering::Relaxed);
            header
                .committed
                .store(self.committed() as u64, Ordering::Relaxed);
        }
        self.record
            .store(record as *mut AreaRecord, Ordering::Release);
        let identity = if fd >= 0 { file_identity(fd) } else { None };
        self.identity
            .store(identity.unwrap_or(0), Ordering::Relaxed);
        self.fd.store(fd, Ordering::Release);
    }

    /// In a forked child (one thread): moves what is committed to the child's own segment
    /// `fd` at `file_offset`, starting from `content` (the committed bytes as they were at
    /// `fork`; `None`: starts empty), at the same address. Without room in the file the
    /// area becomes anonymous memory with the same content: the child counts on, unseen.
    /// Returns whether the area is in the file.
    ///
    /// # Safety
    /// The only thread; `fd`, `record` as in `bind`; `content`, when given, holds
    /// `committed()` readable bytes outside the area.
    pub(crate) unsafe fn move_to(
        &self,
        fd: i32,
        file_offset: u64,
        record: *const AreaRecord,
        content: Option<*const u8>,
    ) -> bool {
        let committed = self.committed();
        let base = self.base();
        let Some(source) = content else {
            // Starts empty: inaccessible again, committed anew on the next use.
            if committed > 0 {
                // SAFETY: our own reservation, replaced by a fresh inaccessible range.
                unsafe {
                    libc::mmap(
                        base.cast(),
                        committed,
                        libc::PROT_NONE,
                        libc::MAP_PRIVATE
                            | libc::MAP_ANONYMOUS
                            | libc::MAP_NORESERVE
                            | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
            }
            self.committed.store(0, Ordering::Release);
            // SAFETY: passed on from the caller.
            unsafe { self.bind(fd, file_offset, record) };
            return fd >= 0;
        };
        // SAFETY: passed on from the caller.
        unsafe { self.bind(fd, file_offset, record) };
        if committed == 0 {
            return fd >= 0;
        }
        let in_file = fd >= 0
            && reserve_in_file(fd, file_offset, committed)
            // SAFETY: `source` holds `committed` readable bytes (the caller's guarantee).
            && unsafe { super::file::write_all(fd, source, committed, file_offset) }
            // SAFETY: maps the child's file over the area's committed range, at the same
            // address, so every pointer into it stays valid.
            && unsafe { map_file_at(base, committed, fd, file_offset) };
        if !in_file {
            // SAFETY: the only thread; `base` is our committed range.
            unsafe { self.become_anonymous(base, committed, source) };
        }
        in_file
    }

    /// Makes the committed range a private anonymous copy of `source` (which may be the
    /// range itself), at the same address: copied aside first, then moved over it.
    ///
    /// # Safety
    /// The only thread; `source` holds `committed` readable bytes.
    unsafe fn become_anonymous(&self, base: *mut u8, committed: usize, source: *const u8) {
        self.fd.store(-1, Ordering::Release);
        self.record.store(ptr::null_mut(), Ordering::Release);
        // SAFETY: a fresh private mapping, filled and then moved over our own range; when
        // there is no memory for it the range keeps being the parent's (the counts mix).
        unsafe {
            let aside = libc::mmap(
                ptr::null_mut(),
                committed,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if aside == libc::MAP_FAILED {
                return;
            }
            ptr::copy_nonoverlapping(source, aside.cast::<u8>(), committed);
            let moved = libc::mremap(
                aside,
                committed,
                committed,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                base.cast::<libc::c_void>(),
            );
            if moved == libc::MAP_FAILED {
                libc::munmap(aside, committed);
            }
        }
    }
}

/// The device and inode of the file open as `fd`, mixed into one word; `None` when `fd` is
/// not open.
fn file_identity(fd: i32) -> Option<u64> {
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut stat: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return None;
    }
    Some((stat.st_dev << 40) ^ stat.st_ino | 1)
}

/// Maps `len` bytes of file `fd` from `offset`, shared and writable, over `at`.
///
/// # Safety
/// `[at, at + len)` is this process's own mapping that nothing else uses as other memory
/// (it is replaced), and the file range is reserved (`reserve_in_file`).
unsafe fn map_file_at(at: *mut u8, len: usize, fd: i32, offset: u64) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        libc::mmap(
            at.cast(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            offset as libc::off_t,
        ) != libc::MAP_FAILED
    }
}

/// Reserves `[offset, offset + len)` of the file, so stores into its mapping never fault.
fn reserve_in_file(fd: i32, offset: u64, len: usize) -> bool {
    loop {
        // SAFETY: plain system call on our own descriptor.
        let result = unsafe { libc::fallocate(fd, 0, offset as libc::off_t, len as libc::off_t) };
        if result == 0 {
            return true;
        }
        if crate::sys::errno() != libc::EINTR {
            return false;
        }
    }
}

const fn round_up(value: usize, to: usize) -> usize {
    value.div_ceil(to) * to
}

#[cfg(test)]
mod tests;
