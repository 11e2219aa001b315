//! Where scopes and snapshots go: this process's own core (local counting), or the
//! preloaded `libskull_mem.so` through its C ABI.

use std::ffi::{c_char, c_int, CString};
use std::sync::OnceLock;

use skull_mem_core::abi::ScopeStatsC;
use skull_mem_core::scopes::{RegisterError, SCOPE_INVALID};
use skull_mem_core::snapshot::{ScopeStats, Snapshot};
use skull_mem_core::{region, snapshot, thread};
use skull_mem_inspect::own;
pub use skull_mem_inspect::own::Format;
use skull_mem_inspect::render::memory::TableOptions;

type RegisterFn = unsafe extern "C" fn(*const c_char, *const c_char) -> u32;
type EnterFn = unsafe extern "C" fn(u32) -> u32;
type LeaveFn = unsafe extern "C" fn(u32);
type SnapshotFn = unsafe extern "C" fn(*mut ScopeStatsC, usize, usize) -> usize;
type ReportFn = unsafe extern "C" fn(*mut c_char, usize, c_int) -> usize;

/// The preloaded library's functions.
pub(crate) struct PreloadedAbi {
    register: RegisterFn,
    enter: EnterFn,
    leave: LeaveFn,
    snapshot: SnapshotFn,
    report: ReportFn,
}

pub(crate) enum Backend {
    Local,
    Preloaded(PreloadedAbi),
}

fn symbol(name: &std::ffi::CStr) -> Option<*mut libc::c_void> {
    // SAFETY: a plain lookup in the global scope.
    let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!found.is_null()).then_some(found)
}

/// Whether `libskull_mem.so` is preloaded and counting. May allocate (dlsym).
pub(crate) fn preloaded_library_active() -> bool {
    let Some(found) = symbol(c"skull_is_active") else {
        return false;
    };
    // SAFETY: the symbol is the library's `int skull_is_active(void)`.
    let is_active =
        unsafe { std::mem::transmute::<*mut libc::c_void, extern "C" fn() -> c_int>(found) };
    is_active() == 1
}

fn preloaded_abi() -> Option<PreloadedAbi> {
    if !preloaded_library_active() {
        return None;
    }
    // SAFETY: each symbol, when present, has the signature of `include/skull_mem.h`.
    unsafe {
        Some(PreloadedAbi {
            register: std::mem::transmute::<*mut libc::c_void, RegisterFn>(symbol(
                c"skull_scope_register",
            )?),
            enter: std::mem::transmute::<*mut libc::c_void, EnterFn>(symbol(c"skull_scope_enter")?),
            leave: std::mem::transmute::<*mut libc::c_void, LeaveFn>(symbol(c"skull_scope_leave")?),
            snapshot: std::mem::transmute::<*mut libc::c_void, SnapshotFn>(symbol(
                c"skull_snapshot",
            )?),
            report: std::mem::transmute::<*mut libc::c_void, ReportFn>(symbol(c"skull_report")?),
        })
    }
}

pub(crate) fn backend() -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(|| preloaded_abi().map_or(Backend::Local, Backend::Preloaded))
}

impl Backend {
    pub(crate) fn register(&self, name: &str, kind: &str) -> Result<u32, RegisterError> {
        match self {
            Backend::Local => region::get_or_map()
                .ok_or(RegisterError::TableFull)?
                .scopes
                .register(name, kind),
            Backend::Preloaded(abi) => {
                let name = CString::new(name).map_err(|_| RegisterError::Nul)?;
                let kind = CString::new(kind).map_err(|_| RegisterError::Nul)?;
                // SAFETY: both strings are NUL-terminated and outlive the call.
                let id = unsafe { (abi.register)(name.as_ptr(), kind.as_ptr()) };
                if id == SCOPE_INVALID {
                    // The library refuses empty, long or NUL-containing strings or a full
                    // table; tell which by checking locally.
                    Err(validation_error(name.as_bytes(), kind.as_bytes()))
                } else {
                    Ok(id)
                }
            }
        }
    }

    pub(crate) fn enter(&self, id: u32) -> u32 {
        match self {
            Backend::Local => thread::enter(id),
            // SAFETY: the library's enter takes any id.
            Backend::Preloaded(abi) => unsafe { (abi.enter)(id) },
        }
    }

    pub(crate) fn leave(&self, previous: u32) {
        match self {
            Backend::Local => thread::leave(previous),
            // SAFETY: the library's leave takes any id.
            Backend::Preloaded(abi) => unsafe { (abi.leave)(previous) },
        }
    }

    fn snapshot(&self) -> Option<Snapshot> {
        match self {
            Backend::Local => snapshot::take(),
            Backend::Preloaded(abi) => Some(preloaded_snapshot(abi)),
        }
    }
}

fn validation_error(name: &[u8], kind: &[u8]) -> RegisterError {
    use skull_mem_core::scopes::{KIND_MAX, NAME_MAX};
    if name.is_empty() || kind.is_empty() {
        RegisterError::Empty
    } else if name.len() >= NAME_MAX || kind.len() >= KIND_MAX {
        RegisterError::TooLong
    } else {
        RegisterError::TableFull
    }
}

fn c_text(bytes: &[u8]) -> String {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..len]).into_owned()
}

fn preloaded_snapshot(abi: &PreloadedAbi) -> Snapshot {
    let entry = std::mem::size_of::<ScopeStatsC>();
    let mut entries: Vec<ScopeStatsC> = Vec::new();
    loop {
        // SAFETY: the buffer has `capacity` entries of `entry` bytes.
        let count = unsafe { (abi.snapshot)(entries.as_mut_ptr(), entries.capacity(), entry) };
        if count <= entries.capacity() {
            // SAFETY: the library filled the first `count` entries.
            unsafe { entries.set_len(count) };
            break;
        }
        entries.reserve_exact(count);
    }
    Snapshot {
        pid: std::process::id(),
        threads: None,
        region_bytes: None,
        trace_enabled: None,
        scopes: entries
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
/// neither counts (no `SkullAlloc` and nothing preloaded).
pub fn snapshot() -> Option<Snapshot> {
    backend().snapshot()
}

/// The report of this process in `format` (the text is the table `skull-mem memory <pid>`
/// prints), or `None` when nothing counts.
pub fn report(format: Format) -> Option<String> {
    match backend() {
        Backend::Local => own::report(format, &TableOptions::default()),
        Backend::Preloaded(abi) => Some(preloaded_report(abi, format)),
    }
}

/// The preloaded library's `skull_report`, into a buffer of ours.
fn preloaded_report(abi: &PreloadedAbi, format: Format) -> String {
    let code = match format {
        Format::Text => 0,
        Format::Json => 1,
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
