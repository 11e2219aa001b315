//! `libskull_mem.so`: preload it into any process and every malloc-family call is counted
//! and charged to the calling thread's scope.
//!
//! - `exports`: the malloc family, forwarding to glibc through `libc_alloc`.
//! - `abi`: the C ABI of `include/skull_mem.h`.
//! - `start`: the load-time constructor and the `__libc_start_main` hook that tells
//!   allocations before `main` (scope `init`) from the rest.
//! - `leak_exit`: the leak check at exit (`SKULL_MEM_LEAK_CHECK`).
//! - `thread_names`: the `pthread_setname_np` and `prctl` wrappers that let a renamed thread
//!   charge the `thread:<name>` pseudo-scope of its new name.
//! - `unload`: the `dlclose` wrapper that keeps stack capture's cache true, and `unloading`,
//!   which records the unloaded object for leak reports.

mod abi;
mod exports;
mod leak_exit;
mod libc_alloc;
mod start;
mod thread_names;
mod unload;
mod unloading;
