//! Noticing thread exit without a thread-local destructor.
//!
//! A Rust `thread_local!` with `Drop` registers its destructor through
//! `__cxa_thread_atexit_impl`, which allocates; inside malloc that would recurse. Instead one
//! process-wide pthread key with a destructor is created once, and each thread stores a
//! non-null value in it (`pthread_setspecific` allocates only for keys past the first 32; if it does,
//! that allocation is counted in the overflow set, see `thread::record_cold`).

use core::sync::atomic::{AtomicU32, Ordering};

const NO_KEY: u32 = u32::MAX;
static KEY: AtomicU32 = AtomicU32::new(NO_KEY);

extern "C" fn on_thread_exit(_slot: *mut libc::c_void) {
    crate::thread::detach();
}

fn key() -> Option<libc::pthread_key_t> {
    let key = KEY.load(Ordering::Acquire);
    if key != NO_KEY {
        return Some(key);
    }
    let mut created: libc::pthread_key_t = 0;
    // SAFETY: `created` is a valid out-pointer; the destructor is a plain extern fn.
    if unsafe { libc::pthread_key_create(&mut created, Some(on_thread_exit)) } != 0 {
        return None;
    }
    match KEY.compare_exchange(NO_KEY, created, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Some(created),
        Err(winner) => {
            // SAFETY: `created` is our own key, never used.
            unsafe { libc::pthread_key_delete(created) };
            Some(winner)
        }
    }
}

/// Arranges for `thread::detach` to run when the calling thread exits. Without a key
/// (the process ran out of them) the thread's block is simply not reused, and tracing's
/// per-thread memory is not freed.
pub(crate) fn watch() {
    if let Some(key) = key() {
        // The value only has to be non-null for the destructor to run.
        let value = core::ptr::NonNull::<libc::c_void>::dangling().as_ptr();
        // SAFETY: `key` is a live key created above.
        unsafe { libc::pthread_setspecific(key, value) };
    }
}
