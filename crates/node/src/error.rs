//! Failures as JavaScript errors with a stable `code`.
//!
//! napi-rs turns an `Error<S>` into a JS `Error` whose `code` is `S`, so every failure reaches
//! TypeScript as a code it maps once to a `SkullMemError` (src/errors.ts), never as a message
//! to match. The reader's and tracing's codes (`NO_PROCESS`, `NOT_MEASURED`, `NOT_WRITABLE`,
//! `NO_SCOPE`, ...) pass through unchanged.
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

/// A failure with `code` and a one-line message for the user (without the `skull-mem: `).
pub fn fail(code: &'static str, message: impl std::fmt::Display) -> napi::Error<&'static str> {
    napi::Error::new(code, format!("skull-mem: {message}"))
}

/// A reader failure, with the reader's code and message.
pub fn unreadable(error: &ReadError) -> napi::Error<&'static str> {
    fail(error.code(), error)
}
