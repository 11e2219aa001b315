//! The malloc family, exported under glibc's names so that preloading interposes them.
//!
//! Each export is a thin shell over `skull_mem_core::alloc` with glibc as the allocator;
//! the semantics (and every edge case) live there.

use core::ffi::{c_int, c_void};

use skull_mem_core::alloc;
use skull_mem_core::counters::Api;

use crate::libc_alloc::LibcAlloc;

/// # Safety
/// As C `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    // SAFETY: the C contract of malloc is the core's contract.
    unsafe { alloc::malloc::<LibcAlloc>(size, Api::Malloc) as *mut c_void }
}

/// # Safety
/// As C `free`.
#[no_mangle]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    // SAFETY: as free.
    unsafe { alloc::free::<LibcAlloc>(ptr as *mut u8) }
}

/// # Safety
/// As C `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    // SAFETY: as calloc.
    unsafe { alloc::calloc::<LibcAlloc>(count, size) as *mut c_void }
}

/// # Safety
/// As C `realloc`.
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: as realloc.
    unsafe { alloc::realloc::<LibcAlloc>(ptr as *mut u8, size, Api::Realloc) as *mut c_void }
}

/// # Safety
/// As C `reallocarray`.
#[no_mangle]
pub unsafe extern "C" fn reallocarray(ptr: *mut c_void, count: usize, size: usize) -> *mut c_void {
    // SAFETY: as reallocarray.
    unsafe { alloc::reallocarray::<LibcAlloc>(ptr as *mut u8, count, size) as *mut c_void }
}

/// # Safety
/// As C `posix_memalign`.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: as posix_memalign.
    unsafe { alloc::posix_memalign::<LibcAlloc>(out as *mut *mut u8, align, size) }
}

/// # Safety
/// As C `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: as aligned_alloc, which glibc 2.36 implements as memalign.
    unsafe { alloc::memalign::<LibcAlloc>(align, size, Api::AlignedAlloc) as *mut c_void }
}

/// # Safety
/// As C `memalign`.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: as memalign.
    unsafe { alloc::memalign::<LibcAlloc>(align, size, Api::Memalign) as *mut c_void }
}

/// # Safety
/// As C `valloc`.
#[no_mangle]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    // SAFETY: as valloc.
    unsafe { alloc::valloc::<LibcAlloc>(size) as *mut c_void }
}

/// # Safety
/// As C `pvalloc`.
#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    // SAFETY: as pvalloc.
    unsafe { alloc::pvalloc::<LibcAlloc>(size) as *mut c_void }
}

/// # Safety
/// As C `malloc_usable_size`.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(ptr: *mut c_void) -> usize {
    // SAFETY: as malloc_usable_size.
    unsafe { alloc::usable_size::<LibcAlloc>(ptr as *mut u8) }
}
