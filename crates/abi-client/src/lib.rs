//! The one client of `libskull_mem.so`'s C ABI (`include/skull_mem.h`), shared by the napi
//! binding (`crates/node`) and the Rust front end (`crates/skull-mem`).
//!
//! The functions are found with `dlsym(RTLD_DEFAULT, ...)`, never linked: a user of this
//! crate runs whether or not the library is preloaded, and only a library preloaded at exec
//! time counts the whole process. The table is resolved once ([`Abi::get`]) and checked
//! against the ABI version this crate speaks ([`Abi::checked`]); [`library_active`] answers
//! the one question a global allocator asks during its first allocation, without the table.
//!
//! The types and limits are the core's own (the library fills the same `#[repr(C)]` struct),
//! so client and library cannot drift; `tests/c_header_layout.rs` checks both against the
//! header as gcc sees it.

mod table;
mod text;

use std::ffi::c_int;

pub use table::{library_active, Abi, AbiError};
pub use text::c_text;

/// `struct skull_scope_stats`: one scope's figures as `skull_snapshot` copies them.
pub use skull_mem_core::abi::ScopeStatsC as ScopeStats;
/// `SKULL_NAME_MAX`, `SKULL_KIND_MAX` (bytes including the NUL), `SKULL_SCOPE_INVALID` and
/// `SKULL_SCOPE_SELF` (the tool's own scope).
pub use skull_mem_core::scopes::{KIND_MAX, NAME_MAX, SCOPE_INVALID, SCOPE_SELF};
/// `SKULL_ABI_VERSION`: the C ABI this client speaks (the core's, which the preloaded
/// library of the same version speaks).
pub use skull_mem_core::ABI_VERSION;

/// `SKULL_REPORT_TEXT`: `skull_report` renders the "Skull Memory Measurement" table.
pub const REPORT_TEXT: c_int = 0;
/// `SKULL_REPORT_JSON`: `skull_report` renders the same figures as JSON.
pub const REPORT_JSON: c_int = 1;
