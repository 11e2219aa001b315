//! skull-mem for Rust programs: count every allocation per scope without preloading.
//!
//! ```no_run
//! use skull_mem::{Scope, SkullAlloc};
//!
//! #[global_allocator]
//! static ALLOC: SkullAlloc = SkullAlloc;
//!
//! let parser = Scope::new("parser", "module").unwrap();
//! let tokens = parser.in_scope(|| vec![0u8; 4096]);
//! {
//!     let _guard = parser.enter();
//!     let more = vec![1u8; 100];
//! }
//! print!("{}", skull_mem::report(skull_mem::Format::Text).unwrap());
//! ```
//!
//! When `libskull_mem.so` is preloaded as well, `SkullAlloc` passes every call straight
//! to libc (which the preloaded library counts) and scopes drive the preloaded library,
//! so nothing is counted twice.

mod backend;
mod global;
mod scope;

pub use backend::{report, snapshot, Format};
pub use global::SkullAlloc;
pub use scope::{AbiError, RegisterError, Scope, ScopeError, ScopeGuard};
pub use skull_mem_core::counters::Counter;
pub use skull_mem_core::snapshot::{ScopeStats, Snapshot};
