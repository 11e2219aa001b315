//! glibc's own allocator, reached through its `__libc_*` entry points.
//!
//! These names bypass symbol interposition, so forwarding to them can never land back in
//! our exports, and they need no `dlsym` (which may itself allocate) before first use.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};

use skull_mem_core::alloc::RawAlloc;

extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    fn __libc_free(ptr: *mut c_void);
}

type UsableSizeFn = unsafe extern "C" fn(*mut c_void) -> usize;

/// glibc's `malloc_usable_size`, which has no `__libc_` alias; looked up on first use,
/// outside any allocation.
static USABLE_SIZE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

fn libc_usable_size() -> Option<UsableSizeFn> {
    let mut found = USABLE_SIZE.load(Ordering::Acquire);
    if found.is_null() {
        // SAFETY: a plain symbol lookup past our own library.
        found = unsafe { libc::dlsym(libc::RTLD_NEXT, c"malloc_usable_size".as_ptr()) };
        USABLE_SIZE.store(found, Ordering::Release);
    }
    // SAFETY: the symbol, when found, is glibc's `size_t malloc_usable_size(void *)`.
    (!found.is_null()).then(|| unsafe { core::mem::transmute::<*mut c_void, UsableSizeFn>(found) })
}

/// glibc's allocator.
pub struct LibcAlloc;

// SAFETY: these are glibc's own implementations of the functions `RawAlloc` describes.
unsafe impl RawAlloc for LibcAlloc {
    #[inline(always)]
    unsafe fn malloc(size: usize) -> *mut u8 {
        // SAFETY: forwarding the caller's contract.
        unsafe { __libc_malloc(size) as *mut u8 }
    }

    #[inline(always)]
    unsafe fn calloc(size: usize) -> *mut u8 {
        // SAFETY: forwarding the caller's contract.
        unsafe { __libc_calloc(1, size) as *mut u8 }
    }

    #[inline(always)]
    unsafe fn realloc(ptr: *mut u8, size: usize) -> *mut u8 {
        // SAFETY: forwarding the caller's contract.
        unsafe { __libc_realloc(ptr as *mut c_void, size) as *mut u8 }
    }

    unsafe fn memalign(align: usize, size: usize) -> *mut u8 {
        // SAFETY: forwarding the caller's contract.
        unsafe { __libc_memalign(align, size) as *mut u8 }
    }

    #[inline(always)]
    unsafe fn free(ptr: *mut u8) {
        // SAFETY: forwarding the caller's contract.
        unsafe { __libc_free(ptr as *mut c_void) }
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        match libc_usable_size() {
            // SAFETY: `ptr` is a live glibc block, as the caller guarantees.
            Some(usable_size) => unsafe { usable_size(ptr as *mut c_void) },
            None => 0,
        }
    }
}
