//! The few libc facts the core needs: errno, and numbers from the environment.

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

/// The environment variable `name` as a decimal number of at most 15 digits; `None` when
/// unset or anything else. Reads the environment in place, without allocating.
pub fn env_number(name: &core::ffi::CStr) -> Option<u64> {
    // SAFETY: getenv with a NUL-terminated name; a non-null result is a NUL-terminated
    // string in the environment.
    let value = unsafe {
        let value = libc::getenv(name.as_ptr());
        if value.is_null() {
            return None;
        }
        core::ffi::CStr::from_ptr(value).to_bytes()
    };
    if value.is_empty() || value.len() > 15 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}
