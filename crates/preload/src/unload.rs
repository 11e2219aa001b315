//! `dlclose`, wrapped so that stack capture forgets what it cached about the addresses of
//! unloaded code (another library may be loaded at them later), and so that the object
//! unloaded is recorded in the segment for leak reports to name its frames (`unloading`). `dlopen` is not wrapped: glibc
//! resolves a library's search path from its caller's address, which a wrapper would change;
//! code loaded at addresses never used before needs nothing forgotten.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicPtr, Ordering};

use skull_mem_core::trace;

use crate::unloading::Object;

type DlcloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;

static REAL_DLCLOSE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// glibc's `dlclose`, followed by forgetting cached unwind steps and recording the object
/// when it was really unloaded.
///
/// # Safety
/// As glibc's `dlclose`: `handle` came from `dlopen` and is closed at most once per open.
#[no_mangle]
pub unsafe extern "C" fn dlclose(handle: *mut c_void) -> c_int {
    let mut real = REAL_DLCLOSE.load(Ordering::Acquire);
    if real.is_null() {
        // SAFETY: a plain symbol lookup past our own library.
        real = unsafe { libc::dlsym(libc::RTLD_NEXT, c"dlclose".as_ptr()) };
        if real.is_null() {
            return -1;
        }
        REAL_DLCLOSE.store(real, Ordering::Release);
    }
    // SAFETY: `real` is glibc's `dlclose`, which has this signature.
    let real = unsafe { core::mem::transmute::<*mut c_void, DlcloseFn>(real) };
    // Copied before: once unloaded, its program headers are gone.
    // SAFETY: the caller's open handle.
    let object = unsafe { Object::of_handle(handle) };
    // SAFETY: forwarding the caller's handle.
    let result = unsafe { real(handle) };
    trace::capture::forget_unloaded_code();
    if let Some(object) = object.filter(|object| result == 0 && !object.still_loaded()) {
        object.record();
    }
    result
}
