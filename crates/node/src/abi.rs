//! The C ABI of `libskull_mem.so` (`include/skull_mem.h`), resolved at run time with
//! `dlsym(RTLD_DEFAULT, ...)` so the addon loads whether or not the library is preloaded.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

pub use skull_mem_core::abi::ScopeStatsC as ScopeStats;
pub use skull_mem_core::scopes::{KIND_MAX, NAME_MAX, SCOPE_INVALID, SCOPE_SELF};
/// `SKULL_ABI_VERSION`: the C ABI this binding was written against (the core's, which the
/// preloaded library of the same version speaks).
pub use skull_mem_core::ABI_VERSION;

/// `SKULL_REPORT_JSON`.
pub const REPORT_JSON: c_int = 1;

type VersionFn = unsafe extern "C" fn() -> *const c_char;
type AbiVersionFn = unsafe extern "C" fn() -> u32;
type IsActiveFn = unsafe extern "C" fn() -> c_int;
type ReportFn = unsafe extern "C" fn(*mut c_char, usize, c_int) -> usize;
type SnapshotFn = unsafe extern "C" fn(*mut ScopeStats, usize, usize) -> usize;
type RegisterFn = unsafe extern "C" fn(*const c_char, *const c_char) -> u32;
type EnterFn = unsafe extern "C" fn(u32) -> u32;
type LeaveFn = unsafe extern "C" fn(u32);
type CurrentFn = unsafe extern "C" fn() -> u32;

/// The functions of `skull_mem.h` as found in this process.
pub struct Abi {
    pub version: VersionFn,
    pub abi_version: AbiVersionFn,
    pub is_active: IsActiveFn,
    pub report: ReportFn,
    pub snapshot: SnapshotFn,
    pub scope_register: RegisterFn,
    pub scope_enter: EnterFn,
    pub scope_leave: LeaveFn,
    pub scope_current: CurrentFn,
}

/// Resolves `$name` and gives it the function type `$ty`, or returns `None` from the caller.
macro_rules! resolve {
    ($name:literal as $ty:ty) => {{
        let ptr = symbol($name)?;
        // SAFETY: the symbol is the function declared in skull_mem.h under this name, whose
        // C signature is exactly `$ty`; a function pointer and `*mut c_void` have one size.
        unsafe { std::mem::transmute::<*mut c_void, $ty>(ptr) }
    }};
}

impl Abi {
    /// The preloaded library's functions, or `None` when any of them is missing. Looked up
    /// once: a library preloaded at exec time cannot appear or vanish later.
    pub fn get() -> Option<&'static Abi> {
        static ABI: OnceLock<Option<Abi>> = OnceLock::new();
        ABI.get_or_init(Abi::resolve).as_ref()
    }

    fn resolve() -> Option<Abi> {
        Some(Abi {
            version: resolve!(c"skull_version" as VersionFn),
            abi_version: resolve!(c"skull_abi_version" as AbiVersionFn),
            is_active: resolve!(c"skull_is_active" as IsActiveFn),
            report: resolve!(c"skull_report" as ReportFn),
            snapshot: resolve!(c"skull_snapshot" as SnapshotFn),
            scope_register: resolve!(c"skull_scope_register" as RegisterFn),
            scope_enter: resolve!(c"skull_scope_enter" as EnterFn),
            scope_leave: resolve!(c"skull_scope_leave" as LeaveFn),
            scope_current: resolve!(c"skull_scope_current" as CurrentFn),
        })
    }
}

/// Looks `name` up in the global symbol scope (the executable and preloaded libraries).
fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: `name` is NUL-terminated; RTLD_DEFAULT is a valid pseudo-handle.
    let ptr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!ptr.is_null()).then_some(ptr)
}
