//! The few libc facts the core needs: errno, and the environment.

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

/// The `SKULL_MEM_*` variable `name`'s value, read in place without allocating; `None` when
/// unset, and in a secure-mode process, where every setting keeps its default
/// (`options::ignored_in_secure_mode`). Every setting the core reads comes through here, so
/// that rule holds in one place. The environment is not changed while the library reads it
/// (at start-up).
pub fn env_bytes(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv with a NUL-terminated name; a non-null result is a NUL-terminated
    // string in the environment.
    let value = unsafe {
        let value = libc::getenv(name.as_ptr());
        (!value.is_null()).then(|| core::ffi::CStr::from_ptr(value).to_bytes())
    };
    if value.is_some() && crate::options::ignored_in_secure_mode() {
        return None;
    }
    value
}
