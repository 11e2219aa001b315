//! `skull-mem-node`: the napi-rs binding of skull-mem.
//!
//! Thin by design: it finds the C ABI of the preloaded `libskull_mem.so` (see
//! `include/skull_mem.h`) with `dlsym(RTLD_DEFAULT, ...)` and converts values between C and
//! JavaScript. It never links the interposer: an addon is opened with local symbol scope, so a
//! `malloc` inside it would interpose nothing; only a library preloaded at exec time counts the
//! whole process. When the library is absent, `preloadStatus()` says so and every other call
//! throws an error the user can act on, with a stable `code` (`error.rs`).
//!
//! Results are typed objects (`#[napi(object)]`), never JSON text; `@napi-rs/cli` generates
//! their TypeScript declarations (src/native-binding.d.ts) from this crate.
//!
//! `switch.rs` holds what the JS context hooks switch scopes with on every async callback
//! (the thread's switch words, or the `scopeSwitch` call); `threadpool.rs` makes the libuv pool threads charge the `threadpool` scope.
//!
//! 64-bit counters are handed to JavaScript as `number` (an `f64`): exact below 2^53 bytes
//! (8 PiB), which no process reaches in practice.

pub mod diff;
pub mod error;
pub mod escape;
pub mod export;
pub mod metrics;
pub mod options;
pub mod reader;
pub mod report;
pub mod snapshot;
pub mod switch;
pub mod threadpool;
pub mod trace;
pub mod trace_async;
pub mod trace_types;

use std::ffi::{CStr, CString};

use napi_derive::napi;

// Named `abi` so the other modules reach it as `crate::abi`.
use skull_mem_abi_client as abi;

use abi::{Abi, AbiError, ScopeStats, ABI_VERSION, SCOPE_INVALID, SCOPE_SELF};
use error::{fail, Result, ABI_MISMATCH, BAD_ARGUMENT, CORRUPT, NOT_PRELOADED};
use report::Report;

/// The C ABI of the preloaded library, or the error telling the user how to preload it.
fn loaded() -> Result<&'static Abi> {
    Abi::checked().map_err(|error| match error {
        AbiError::Missing => fail(
            NOT_PRELOADED,
            "the interposer is not loaded in this process; \
             start it with `npx skull-mem run -- node app.js`",
        ),
        AbiError::Version { found } => fail(
            ABI_MISMATCH,
            format!(
                "the preloaded libskull_mem.so speaks C ABI version {found}, this binding \
                 speaks version {ABI_VERSION}; preload the libskull_mem.so shipped with this \
                 package (`npx skull-mem preload-path` prints it)"
            ),
        ),
    })
}

/// Charges the binding's own allocations (report buffers, snapshot arrays) to the `self`
/// scope while alive, so the tool's cost is visible and not blamed on the caller's scope.
pub(crate) struct SelfScope<'a> {
    abi: &'a Abi,
    previous: u32,
}

impl<'a> SelfScope<'a> {
    #[must_use]
    pub(crate) fn enter(abi: &'a Abi) -> Self {
        // SAFETY: `skull_scope_enter` accepts any id and only switches a thread-local.
        let previous = unsafe { (abi.scope_enter)(SCOPE_SELF) };
        Self { abi, previous }
    }
}

impl Drop for SelfScope<'_> {
    fn drop(&mut self) {
        if self.previous != SCOPE_INVALID {
            // SAFETY: `previous` was returned by the matching `skull_scope_enter` on this thread.
            unsafe { (self.abi.scope_leave)(self.previous) };
        }
    }
}

/// The version of this binding (the Rust crate's version), compared with the JS package and
/// the preloaded library by the TypeScript API.
#[napi]
pub fn binding_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Whether the interposer is preloaded, and which version of it.
#[napi(object)]
pub struct PreloadStatus {
    /// True when `libskull_mem.so` is preloaded and counting this process's allocations.
    pub active: bool,
    /// The library's version string; absent when the library is not loaded.
    pub version: Option<String>,
    /// The library's C ABI version; absent when the library is not loaded.
    pub abi_version: Option<u32>,
}

/// Reports whether the interposer is loaded in this process. Never throws.
#[napi]
pub fn preload_status() -> PreloadStatus {
    let Some(abi) = Abi::get() else {
        return PreloadStatus {
            active: false,
            version: None,
            abi_version: None,
        };
    };
    // SAFETY: `skull_version` returns a pointer to a static NUL-terminated string (or NULL,
    // checked below), valid for the life of the library, which is never unloaded.
    let version = unsafe {
        let ptr = (abi.version)();
        (!ptr.is_null()).then(|| CStr::from_ptr(ptr).to_string_lossy().into_owned())
    };
    // SAFETY: both functions take no arguments and only read the library's state.
    let (active, abi_version) = unsafe { ((abi.is_active)() != 0, (abi.abi_version)()) };
    PreloadStatus {
        active,
        version,
        abi_version: Some(abi_version),
    }
}

/// This process's figures, as the preloaded library reports them (through the C ABI, so it
/// works whether or not the process has a segment file).
#[napi]
pub fn report() -> Result<Report> {
    own_report().map(|report| Report::from(&report))
}

/// This process's report through the C ABI, as the inspect crate models it.
pub(crate) fn own_report() -> Result<skull_mem_inspect::report::Report> {
    let abi = loaded()?;
    let _self = SelfScope::enter(abi);
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // SAFETY: `buf` is writable for `buf.len()` bytes; the library writes at most that
        // many (snprintf contract) and never keeps the pointer.
        let len = unsafe { (abi.report)(buf.as_mut_ptr().cast(), buf.len(), abi::REPORT_JSON) };
        if len < buf.len() {
            buf.truncate(len);
            let report: skull_mem_inspect::report::Report =
                serde_json::from_slice(&buf).map_err(|e| {
                    fail(
                        CORRUPT,
                        format!("the library's report is not the documented JSON: {e}"),
                    )
                })?;
            return Ok(report);
        }
        // The figures can grow wider between two calls: retry with room to spare.
        buf.resize(len + 1 + len / 8, 0);
    }
}

/// One scope's figures, as `skull_snapshot` returns them.
#[napi(object)]
pub struct ScopeSnapshot {
    /// The scope id (0 = core, 1 = init, 2 = self, user scopes after).
    pub id: u32,
    /// The scope name.
    pub name: String,
    /// The scope kind: module, service, route, core, init, ...
    pub kind: String,
    /// Bytes allocated by this scope and not yet freed.
    pub used_bytes: f64,
    /// Blocks allocated by this scope and not yet freed.
    pub live_blocks: f64,
    /// The highest `usedBytes` any snapshot has seen.
    pub peak_used_bytes: f64,
    /// Every counter, indexed by `enum skull_counter` of `skull_mem.h`.
    pub counters: Vec<f64>,
}

impl From<&ScopeStats> for ScopeSnapshot {
    fn from(s: &ScopeStats) -> Self {
        Self {
            id: s.id,
            name: c_text(&s.name),
            kind: c_text(&s.kind),
            used_bytes: s.used_bytes as f64,
            live_blocks: s.live_blocks as f64,
            peak_used_bytes: s.peak_used_bytes as f64,
            counters: s.counters.iter().map(|&c| c as f64).collect(),
        }
    }
}

/// A NUL-terminated name from a fixed C array; a missing NUL takes the whole array.
fn c_text(raw: &[u8]) -> String {
    let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..len]).into_owned()
}

/// Every scope's figures at this instant.
#[napi]
pub fn snapshot_scopes() -> Result<Vec<ScopeSnapshot>> {
    let abi = loaded()?;
    let _self = SelfScope::enter(abi);
    let mut stats: Vec<ScopeStats> = Vec::with_capacity(64);
    loop {
        let cap = stats.capacity();
        // SAFETY: the buffer has room for `cap` entries of `size_of::<ScopeStats>()` bytes,
        // the layout of `struct skull_scope_stats`; the library writes at most `cap` of them.
        let n =
            unsafe { (abi.snapshot)(stats.as_mut_ptr(), cap, std::mem::size_of::<ScopeStats>()) };
        if n <= cap {
            // SAFETY: the library initialised the first `n` entries, `n <= capacity`, and
            // every bit pattern is a valid `ScopeStats` (plain integers and bytes).
            unsafe { stats.set_len(n) };
            return Ok(stats.iter().map(ScopeSnapshot::from).collect());
        }
        // Scopes were registered between two calls: retry with room for them.
        stats.reserve(n + 16);
    }
}

/// Registers a scope (or finds the one with the same name and kind) and returns its id.
#[napi]
pub fn scope_register(name: String, kind: String) -> Result<u32> {
    let abi = loaded()?;
    let bad = |what: &str| {
        fail(
            BAD_ARGUMENT,
            format!("cannot register scope {name:?} of kind {kind:?}: {what}"),
        )
    };
    let c_name = CString::new(name.as_str()).map_err(|_| bad("the name contains a NUL byte"))?;
    let c_kind = CString::new(kind.as_str()).map_err(|_| bad("the kind contains a NUL byte"))?;
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call;
    // the library copies them and keeps no pointer.
    let id = unsafe { (abi.scope_register)(c_name.as_ptr(), c_kind.as_ptr()) };
    if id == SCOPE_INVALID {
        return Err(bad(&format!(
            "names are 1 to {} bytes, kinds 1 to {} bytes, or the scope table is full",
            abi::NAME_MAX - 1,
            abi::KIND_MAX - 1
        )));
    }
    Ok(id)
}

/// Makes `id` the calling thread's current scope; returns the previous scope, to be passed to
/// `scopeLeave`.
#[napi]
pub fn scope_enter(id: u32) -> Result<u32> {
    let abi = loaded()?;
    // SAFETY: `skull_scope_enter` accepts any id; an unknown one changes nothing.
    let previous = unsafe { (abi.scope_enter)(id) };
    if previous == SCOPE_INVALID {
        return Err(fail(
            BAD_ARGUMENT,
            format!("unknown scope id {id}; use an id returned by scopeRegister"),
        ));
    }
    Ok(previous)
}

/// Restores the scope returned by the matching `scopeEnter`.
#[napi]
pub fn scope_leave(previous: u32) -> Result<()> {
    let abi = loaded()?;
    // SAFETY: `skull_scope_leave` accepts any id and only switches a thread-local.
    unsafe { (abi.scope_leave)(previous) };
    Ok(())
}

/// The calling thread's current scope id.
#[napi]
pub fn scope_current() -> Result<u32> {
    let abi = loaded()?;
    // SAFETY: `skull_scope_current` takes no arguments and only reads a thread-local.
    Ok(unsafe { (abi.scope_current)() })
}
