//! Where scopes and snapshots go: this process's own core (local counting), or the
//! preloaded `libskull_mem.so` through its C ABI.

use std::ffi::CString;
use std::sync::OnceLock;

use skull_mem_abi_client::{
    c_text, library_active, Abi, AbiError, KIND_MAX, NAME_MAX, REPORT_JSON, REPORT_TEXT,
    SCOPE_INVALID,
};
use skull_mem_core::scopes::RegisterError;
use skull_mem_core::snapshot::{ScopeStats, Snapshot};
use skull_mem_core::{region, snapshot, thread};
use skull_mem_inspect::own;
pub use skull_mem_inspect::own::Format;
use skull_mem_inspect::render::memory::TableOptions;

use crate::scope::ScopeError;

pub(crate) enum Backend {
    /// Nothing preloaded counts: `SkullAlloc` counts with this process's own core.
    Local,
    /// The preloaded library counts; scopes and snapshots go through its C ABI.
    Preloaded(&'static Abi),
    /// The preloaded library counts but its C ABI is not the one this crate speaks.
    Unusable(AbiError),
}

/// Decided once, the same way `SkullAlloc` decides whether to count (`library_active`).
pub(crate) fn backend() -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        if !library_active() {
            return Backend::Local;
        }
        Abi::checked().map_or_else(Backend::Unusable, Backend::Preloaded)
    })
}

impl Backend {
    pub(crate) fn register(&self, name: &str, kind: &str) -> Result<u32, ScopeError> {
        match self {
            Backend::Local => Ok(region::get_or_map()
                .ok_or(RegisterError::TableFull)?
                .scopes
                .register(name, kind)?),
            Backend::Preloaded(abi) => {
                let name = CString::new(name).map_err(|_| RegisterError::Nul)?;
                let kind = CString::new(kind).map_err(|_| RegisterError::Nul)?;
                // SAFETY: both strings are NUL-terminated and outlive the call; the library
                // copies them and keeps no pointer.
                let id = unsafe { (abi.scope_register)(name.as_ptr(), kind.as_ptr()) };
                if id == SCOPE_INVALID {
                    // The library refuses empty, long or NUL-containing strings or a full
                    // table; tell which by checking locally.
                    Err(validation_error(name.as_bytes(), kind.as_bytes()).into())
                } else {
                    Ok(id)
                }
            }
            Backend::Unusable(error) => Err(ScopeError::Abi(*error)),
        }
    }

    pub(crate) fn enter(&self, id: u32) -> u32 {
        match self {
            Backend::Local => thread::enter(id),
            // SAFETY: the library's enter takes any id and only switches a thread-local.
            Backend::Preloaded(abi) => unsafe { (abi.scope_enter)(id) },
            // No scope was registered, so there is nothing to enter.
            Backend::Unusable(_) => SCOPE_INVALID,
        }
    }

    pub(crate) fn leave(&self, previous: u32) {
        match self {
            Backend::Local => thread::leave(previous),
            // SAFETY: the library's leave takes any id and only switches a thread-local.
            Backend::Preloaded(abi) => unsafe { (abi.scope_leave)(previous) },
            Backend::Unusable(_) => {}
        }
    }

    fn snapshot(&self) -> Option<Snapshot> {
        match self {
            Backend::Local => snapshot::take(),
            Backend::Preloaded(abi) => Some(preloaded_snapshot(abi)),
            Backend::Unusable(_) => None,
        }
    }
}

fn validation_error(name: &[u8], kind: &[u8]) -> RegisterError {
    if name.is_empty() || kind.is_empty() {
        RegisterError::Empty
    } else if name.len() >= NAME_MAX || kind.len() >= KIND_MAX {
        RegisterError::TooLong
    } else {
        RegisterError::TableFull
    }
}

fn preloaded_snapshot(abi: &Abi) -> Snapshot {
    Snapshot {
        pid: std::process::id(),
        threads: None,
        region_bytes: None,
        trace_enabled: None,
        scopes: abi
            .scopes()
            .iter()
            .map(|stats| ScopeStats {
                id: stats.id,
                name: c_text(&stats.name),
                kind: c_text(&stats.kind),
                counters: stats.counters,
                peak_used_bytes: stats.peak_used_bytes,
            })
            .collect(),
    }
}

/// Every scope's figures now, from the local core or the preloaded library; `None` when
/// neither counts (no `SkullAlloc` and nothing preloaded) or the preloaded library speaks
/// another C ABI.
pub fn snapshot() -> Option<Snapshot> {
    backend().snapshot()
}

/// The report of this process in `format` (the text is the table `skull-mem memory <pid>`
/// prints), or `None` when nothing counts.
pub fn report(format: Format) -> Option<String> {
    match backend() {
        Backend::Local => own::report(format, &TableOptions::default()),
        Backend::Preloaded(abi) => Some(preloaded_report(abi, format)),
        Backend::Unusable(_) => None,
    }
}

/// The preloaded library's `skull_report`, into a buffer of ours.
fn preloaded_report(abi: &Abi, format: Format) -> String {
    let code = match format {
        Format::Text => REPORT_TEXT,
        Format::Json => REPORT_JSON,
    };
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // SAFETY: `buf` is writable for `buf.len()` bytes; the library writes at most that
        // many (snprintf contract) and keeps no pointer.
        let len = unsafe { (abi.report)(buf.as_mut_ptr().cast(), buf.len(), code) };
        if len < buf.len() {
            buf.truncate(len);
            return String::from_utf8_lossy(&buf).into_owned();
        }
        // The figures can grow wider between two calls: retry with room to spare.
        buf.resize(len + 1 + len / 8, 0);
    }
}
