//! The measurement core of skull-mem: everything that runs inside malloc.
//!
//! - `header`: the 16-byte header in front of each block (owner scope, size, check value).
//! - `alloc`: the malloc family with glibc's semantics over a `RawAlloc`, counted;
//!   `cache`: the per-thread cache of small freed blocks in front of it.
//! - `thread`: the per-thread state and the counting fast path; `thread_exit` reuse of
//!   blocks after a thread ends; `thread_name` the `thread:<name>` pseudo-scope a thread
//!   started by native code charges by default.
//! - `region`: the mapping with every thread's counters; `scopes`: the scope table;
//!   `segment`: the region as a shared-memory file the CLI reads (`skull-mem-inspect`).
//! - `trace`: on-demand tracing (control word, stack capture, bounded tables in the region).
//! - `options`: the table of settings and limits, and the one parser of their values.
//! - `snapshot`: summing the counters, outside malloc; `abi`: the C structs;
//!   `proc_self`: the `/proc/<pid>/stat` fields the segment header records.
//!
//! Reading a segment from outside, grouping and rendering live in `skull-mem-inspect`.
//!
//! The core never allocates through the allocator it measures on the allocation path:
//! counters live in an `mmap`ed region and the thread state in a const thread-local.

pub mod abi;
pub mod alloc;
pub mod cache;
pub mod counters;
pub mod header;
pub mod options;
pub mod proc_self;
pub mod region;
pub mod scopes;
pub mod segment;
pub mod snapshot;
mod sys;
pub mod thread;
mod thread_exit;
pub mod thread_name;
mod tls;
pub mod trace;

/// The version every part of skull-mem reports (library, binding, npm package).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The C ABI version (`SKULL_ABI_VERSION`).
pub const ABI_VERSION: u32 = 1;
