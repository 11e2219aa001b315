//! The memory tracing's tables grow into: a range reserved up front and backed from its start
//! as it is needed (the segment's trace area), never moved, so a reader in another process
//! follows offsets into it while writers grow it.
//!
//! Tables store offsets from `base`, never pointers: a reader maps the same bytes elsewhere.

/// A growable range of memory at a fixed address.
pub trait Backing {
    /// Start of the range; stable once something is committed.
    fn base(&self) -> *mut u8;
    /// Makes `[0, end)` backed (zero-filled where new); false when it cannot be (past the
    /// reservation, or the system refuses): the caller drops and counts, never waits.
    fn commit(&self, end: usize) -> bool;
    /// Bytes from `base` that are backed now: the only ones a reader may read.
    fn committed(&self) -> usize;
}

/// Bytes a reader may read: the committed part of a table's memory, mapped at `base` in the
/// reader's address space. Every offset a table holds is checked against it, so a corrupt or
/// racing segment never makes a reader read outside the mapping.
#[derive(Clone, Copy, Debug)]
pub struct Bytes {
    base: *const u8,
    len: usize,
}

impl Bytes {
    /// The committed part of `backing`.
    pub fn of(backing: &impl Backing) -> Bytes {
        Bytes {
            base: backing.base(),
            len: backing.committed(),
        }
    }

    /// `len` bytes mapped at `base`.
    ///
    /// # Safety
    /// `[base, base + len)` stays mapped and readable while the value is used, and is only
    /// ever changed through atomics.
    pub unsafe fn new(base: *const u8, len: usize) -> Bytes {
        Bytes { base, len }
    }

    /// The `T` at `offset`, when it lies wholly inside and is aligned.
    pub fn get<T>(&self, offset: u64) -> Option<&T> {
        let size = core::mem::size_of::<T>() as u64;
        let end = offset.checked_add(size)?;
        if self.base.is_null()
            || end > self.len as u64
            || !offset.is_multiple_of(core::mem::align_of::<T>() as u64)
        {
            return None;
        }
        // SAFETY: inside the mapping (checked above), aligned, and `T` is only used with
        // atomics and integers, which any bytes are a valid value of.
        Some(unsafe { &*(self.base.add(offset as usize) as *const T) })
    }
}

#[cfg(test)]
pub(crate) mod anon {
    //! An anonymous reservation for tests: what the trace area does, without a file.

    use core::sync::atomic::{AtomicUsize, Ordering};

    /// A zeroed `T` on the heap (for the tables' headers: all zero is a valid empty one).
    pub(crate) fn zeroed<T>() -> Box<T> {
        // SAFETY: only used with types made of atomics and integers, for which zero is valid;
        // allocated with `T`'s layout, as `Box` frees it.
        unsafe {
            let layout = std::alloc::Layout::new::<T>();
            Box::from_raw(std::alloc::alloc_zeroed(layout) as *mut T)
        }
    }

    /// `reserved` bytes of anonymous memory, committed by moving a high-water mark.
    pub(crate) struct AnonBacking {
        base: *mut u8,
        reserved: usize,
        committed: AtomicUsize,
        /// Calls of `commit` that grew the committed part.
        pub(crate) grown: AtomicUsize,
    }

    // SAFETY: the memory is only accessed through atomics; the fields are set once.
    unsafe impl Sync for AnonBacking {}
    // SAFETY: as above.
    unsafe impl Send for AnonBacking {}

    impl AnonBacking {
        /// Reserves `reserved` bytes.
        pub(crate) fn new(reserved: usize) -> AnonBacking {
            // SAFETY: a fresh anonymous mapping; no existing memory is affected.
            let base = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    reserved,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            assert_ne!(base, libc::MAP_FAILED);
            AnonBacking {
                base: base.cast(),
                reserved,
                committed: AtomicUsize::new(0),
                grown: AtomicUsize::new(0),
            }
        }
    }

    impl Drop for AnonBacking {
        fn drop(&mut self) {
            // SAFETY: mapped by `new`, and no reference into it outlives `self`.
            unsafe { libc::munmap(self.base.cast(), self.reserved) };
        }
    }

    impl super::Backing for AnonBacking {
        fn base(&self) -> *mut u8 {
            self.base
        }

        fn commit(&self, end: usize) -> bool {
            if end > self.reserved {
                return false;
            }
            if self.committed.fetch_max(end, Ordering::Release) < end {
                self.grown.fetch_add(1, Ordering::Relaxed);
            }
            true
        }

        fn committed(&self) -> usize {
            self.committed.load(Ordering::Acquire)
        }
    }
}
