//! The C ABI of `libskull_mem.so` (`include/skull_mem.h`), resolved at run time with
//! `dlsym(RTLD_DEFAULT, ...)` so the addon loads whether or not the library is preloaded.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

/// `SKULL_ABI_VERSION`: the C ABI this binding was written against.
pub const ABI_VERSION: u32 = 1;
/// `SKULL_SCOPE_SELF`: skull-mem's own allocations.
pub const SCOPE_SELF: u32 = 2;
/// `SKULL_SCOPE_INVALID`.
pub const SCOPE_INVALID: u32 = u32::MAX;
/// `SKULL_NAME_MAX`, including the NUL.
pub const NAME_MAX: usize = 48;
/// `SKULL_KIND_MAX`, including the NUL.
pub const KIND_MAX: usize = 16;
/// `SKULL_COUNTER_COUNT`.
pub const COUNTER_COUNT: usize = 20;
/// `SKULL_REPORT_TEXT`.
pub const REPORT_TEXT: c_int = 0;
/// `SKULL_REPORT_JSON`.
pub const REPORT_JSON: c_int = 1;

/// Mirror of `struct skull_scope_stats`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ScopeStats {
    pub struct_size: u32,
    pub struct_version: u32,
    pub id: u32,
    pub reserved: u32,
    pub name: [c_char; NAME_MAX],
    pub kind: [c_char; KIND_MAX],
    pub used_bytes: u64,
    pub live_blocks: u64,
    pub peak_used_bytes: u64,
    pub counters: [u64; COUNTER_COUNT],
}

// 16 header bytes + 64 name/kind bytes + 3 figures + 20 counters, 8 bytes each.
const _: () = assert!(std::mem::size_of::<ScopeStats>() == 16 + 64 + 8 * (3 + COUNTER_COUNT));

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
