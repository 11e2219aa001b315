//! The few libc facts the core needs outside allocation: errno.

/// The calling thread's errno.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: `__errno_location` always returns the calling thread's valid errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
#[inline]
pub fn set_errno(value: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value }
}
