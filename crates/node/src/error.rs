//! Failures as JavaScript errors with a stable `code`.
//!
//! napi-rs turns an `Error<S>` into a JS `Error` whose `code` is `S`, so every failure reaches
//! TypeScript as a code it maps once to a `SkullMemError` (src/native.ts), never as a message
//! to match. The reader's codes (`NO_PROCESS`, `NOT_MEASURED`, ...) pass through unchanged.
//! Every message is one line starting with `skull-mem: `, ready for the CLI to print.

use skull_mem_inspect::reader::ReadError;

/// What every fallible function of the binding returns. Named `Result` because napi-derive
/// recognises fallible functions by that name.
pub type Result<T> = std::result::Result<T, napi::Error<&'static str>>;

/// The interposer is not preloaded into this process.
pub const NOT_PRELOADED: &str = "NOT_PRELOADED";
/// The preloaded library speaks another C ABI version than this binding.
pub const ABI_MISMATCH: &str = "ABI_MISMATCH";
/// An argument the library refuses (a scope name with a NUL byte, an unknown scope id).
pub const BAD_ARGUMENT: &str = "BAD_ARGUMENT";
/// The library's report lacks the documented fields (the reader's code for bad content).
pub const CORRUPT: &str = "CORRUPT";
/// Tracing needs to write a segment this user may only read.
pub const NOT_WRITABLE: &str = "NOT_WRITABLE";
/// Tracing was asked for a scope the process does not have.
pub const NO_SCOPE: &str = "NO_SCOPE";

/// A failure with `code` and a one-line message for the user (without the `skull-mem: `).
pub fn fail(code: &'static str, message: impl std::fmt::Display) -> napi::Error<&'static str> {
    napi::Error::new(code, format!("skull-mem: {message}"))
}

/// A reader failure, with the reader's code and message.
pub fn unreadable(error: &ReadError) -> napi::Error<&'static str> {
    fail(error.code(), error)
}
