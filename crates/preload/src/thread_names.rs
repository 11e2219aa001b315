//! `pthread_setname_np` and `prctl`, wrapped so that a thread that renames itself charges
//! the `thread:<name>` pseudo-scope of its new name (`thread::renamed`).
//!
//! Libraries name their threads after starting them, often after the thread's first
//! allocation (glib names a thread in its start routine, V8 with `prctl(PR_SET_NAME)`,
//! libuv with `pthread_setname_np(pthread_self(), ...)`). Wrapping the two calls follows
//! every rename at its cost of one more system call (the name is read back from the
//! kernel, which truncates it) and costs nothing anywhere else: the allocation paths never
//! look at the name. glibc's own `pthread_setname_np` reaches the kernel without calling
//! `prctl` through the PLT, hence both wrappers. A thread renamed by another thread
//! (`pthread_setname_np` of a thread other than the caller) is not followed: its scope
//! lives in its own thread-local state, out of the caller's reach.

use core::ffi::{c_char, c_int, c_ulong, c_void};
use core::sync::atomic::{AtomicPtr, Ordering};

use skull_mem_core::thread;

type SetnameFn = unsafe extern "C" fn(libc::pthread_t, *const c_char) -> c_int;
type PrctlFn = unsafe extern "C" fn(c_int, ...) -> c_int;

static REAL_SETNAME: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static REAL_PRCTL: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// The next definition of `name` after this library (glibc's), looked up once.
fn next(cache: &AtomicPtr<c_void>, name: &core::ffi::CStr) -> *mut c_void {
    let mut real = cache.load(Ordering::Acquire);
    if real.is_null() {
        // SAFETY: a plain symbol lookup past our own library.
        real = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
        cache.store(real, Ordering::Release);
    }
    real
}

/// glibc's `pthread_setname_np`, then, when the caller named itself, the switch to the
/// pseudo-scope of its new name.
///
/// # Safety
/// As glibc's `pthread_setname_np`: `thread` is a live thread, `name` a C string.
#[no_mangle]
pub unsafe extern "C" fn pthread_setname_np(thread: libc::pthread_t, name: *const c_char) -> c_int {
    let real = next(&REAL_SETNAME, c"pthread_setname_np");
    if real.is_null() {
        return libc::ENOSYS;
    }
    // SAFETY: `real` is glibc's `pthread_setname_np`, which has this signature.
    let real = unsafe { core::mem::transmute::<*mut c_void, SetnameFn>(real) };
    // SAFETY: forwarding the caller's arguments.
    let result = unsafe { real(thread, name) };
    // SAFETY: pthread_self and pthread_equal have no preconditions.
    if result == 0 && unsafe { libc::pthread_equal(thread, libc::pthread_self()) } != 0 {
        thread::renamed();
    }
    result
}

/// glibc's `prctl`, then, for `PR_SET_NAME`, the switch to the pseudo-scope of the calling
/// thread's new name.
///
/// # Safety
/// As glibc's `prctl`. It is variadic in C; defining a variadic function is not stable
/// Rust, so this takes the four further arguments as `unsigned long`. On the x86-64 and
/// AArch64 Linux calling conventions a variadic caller passes integer and pointer
/// arguments in the same registers as a fixed-argument call, and glibc's own wrapper reads
/// all four whatever the option, so forwarding them is what glibc does.
#[no_mangle]
pub unsafe extern "C" fn prctl(
    option: c_int,
    arg2: c_ulong,
    arg3: c_ulong,
    arg4: c_ulong,
    arg5: c_ulong,
) -> c_int {
    let real = next(&REAL_PRCTL, c"prctl");
    if real.is_null() {
        // SAFETY: errno is the calling thread's.
        unsafe { *libc::__errno_location() = libc::ENOSYS };
        return -1;
    }
    // SAFETY: `real` is glibc's variadic `prctl`.
    let real = unsafe { core::mem::transmute::<*mut c_void, PrctlFn>(real) };
    // SAFETY: forwarding the caller's arguments.
    let result = unsafe { real(option, arg2, arg3, arg4, arg5) };
    if result == 0 && option == libc::PR_SET_NAME {
        thread::renamed();
    }
    result
}
