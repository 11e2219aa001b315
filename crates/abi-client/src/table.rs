//! The functions of `skull_mem.h`, looked up in the global symbol scope.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt;
use std::sync::OnceLock;

use crate::{ScopeStats, ABI_VERSION};

/// `const char *skull_version(void)`.
pub type VersionFn = unsafe extern "C" fn() -> *const c_char;
/// `uint32_t skull_abi_version(void)`.
pub type AbiVersionFn = unsafe extern "C" fn() -> u32;
/// `int skull_is_active(void)`.
pub type IsActiveFn = unsafe extern "C" fn() -> c_int;
/// `size_t skull_report(char *buf, size_t cap, int format)`.
pub type ReportFn = unsafe extern "C" fn(*mut c_char, usize, c_int) -> usize;
/// `size_t skull_snapshot(struct skull_scope_stats *buf, size_t cap, size_t entry_size)`.
pub type SnapshotFn = unsafe extern "C" fn(*mut ScopeStats, usize, usize) -> usize;
/// `skull_scope_id skull_scope_register(const char *name, const char *kind)`.
pub type RegisterFn = unsafe extern "C" fn(*const c_char, *const c_char) -> u32;
/// `skull_scope_id skull_scope_enter(skull_scope_id id)`.
pub type EnterFn = unsafe extern "C" fn(u32) -> u32;
/// `void skull_scope_leave(skull_scope_id previous)`.
pub type LeaveFn = unsafe extern "C" fn(u32);
/// `skull_scope_id skull_scope_current(void)`.
pub type CurrentFn = unsafe extern "C" fn() -> u32;
/// `uint32_t *skull_scope_switch_words(void)`.
pub type SwitchWordsFn = unsafe extern "C" fn() -> *mut u32;

/// The functions of `skull_mem.h` as found in this process. Each is called as the header
/// documents it; the library is never unloaded, so the pointers stay valid.
pub struct Abi {
    /// `skull_version`: the library's version string.
    pub version: VersionFn,
    /// `skull_abi_version`: the `SKULL_ABI_VERSION` of the loaded library.
    pub abi_version: AbiVersionFn,
    /// `skull_is_active`: 1 when the library counts this process's allocations.
    pub is_active: IsActiveFn,
    /// `skull_report`: renders the report like snprintf.
    pub report: ReportFn,
    /// `skull_snapshot`: copies every scope's figures (see [`Abi::scopes`]).
    pub snapshot: SnapshotFn,
    /// `skull_scope_register`: registers a scope or finds the same one.
    pub scope_register: RegisterFn,
    /// `skull_scope_enter`: makes a scope current, returns the previous one.
    pub scope_enter: EnterFn,
    /// `skull_scope_leave`: restores the scope `skull_scope_enter` returned.
    pub scope_leave: LeaveFn,
    /// `skull_scope_current`: the calling thread's scope.
    pub scope_current: CurrentFn,
    /// `skull_scope_switch_words`: the calling thread's words to switch scopes by a store;
    /// `None` for a library of the same ABI version built before it existed, whose callers
    /// switch with `scope_enter`.
    pub scope_switch_words: Option<SwitchWordsFn>,
    /// What `abi_version` returned at resolution: a library's ABI version never changes.
    found_version: u32,
}

/// Why the C ABI cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiError {
    /// `libskull_mem.so` is not loaded in this process, or lacks a function of the header.
    Missing,
    /// The loaded library speaks C ABI version `found`, not [`ABI_VERSION`].
    Version {
        /// The loaded library's `SKULL_ABI_VERSION`.
        found: u32,
    },
}

impl fmt::Display for AbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AbiError::Missing => f.write_str("libskull_mem.so is not loaded in this process"),
            AbiError::Version { found } => write!(
                f,
                "the preloaded libskull_mem.so speaks C ABI version {found}, this program \
                 speaks version {ABI_VERSION}; preload the library of the same skull-mem release"
            ),
        }
    }
}

impl std::error::Error for AbiError {}

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
    /// The library's functions, whatever ABI version it speaks, or `None` when any of them
    /// is missing. Only `version`, `abi_version` and `is_active` are safe to call on a table
    /// that [`Abi::checked`] refuses. Looked up once: a library preloaded at exec time cannot
    /// appear or vanish later. dlsym may allocate: a global allocator must not call this
    /// from its allocation path (see [`library_active`]).
    pub fn get() -> Option<&'static Abi> {
        static ABI: OnceLock<Option<Abi>> = OnceLock::new();
        ABI.get_or_init(Abi::resolve).as_ref()
    }

    /// The library's functions when it speaks [`ABI_VERSION`], else why not.
    pub fn checked() -> Result<&'static Abi, AbiError> {
        let abi = Abi::get().ok_or(AbiError::Missing)?;
        if abi.found_version == ABI_VERSION {
            Ok(abi)
        } else {
            Err(AbiError::Version {
                found: abi.found_version,
            })
        }
    }

    fn resolve() -> Option<Abi> {
        let abi_version = resolve!(c"skull_abi_version" as AbiVersionFn);
        Some(Abi {
            version: resolve!(c"skull_version" as VersionFn),
            abi_version,
            is_active: resolve!(c"skull_is_active" as IsActiveFn),
            report: resolve!(c"skull_report" as ReportFn),
            snapshot: resolve!(c"skull_snapshot" as SnapshotFn),
            scope_register: resolve!(c"skull_scope_register" as RegisterFn),
            scope_enter: resolve!(c"skull_scope_enter" as EnterFn),
            scope_leave: resolve!(c"skull_scope_leave" as LeaveFn),
            scope_current: resolve!(c"skull_scope_current" as CurrentFn),
            scope_switch_words: (|| Some(resolve!(c"skull_scope_switch_words" as SwitchWordsFn)))(),
            // SAFETY: `skull_abi_version` takes no arguments and returns a constant.
            found_version: unsafe { abi_version() },
        })
    }

    /// Every scope's figures at this instant, in id order. Allocates the returned vector in
    /// the caller's current scope.
    pub fn scopes(&self) -> Vec<ScopeStats> {
        let mut stats: Vec<ScopeStats> = Vec::with_capacity(64);
        loop {
            let cap = stats.capacity();
            // SAFETY: the buffer has room for `cap` entries of `size_of::<ScopeStats>()`
            // bytes, the layout of `struct skull_scope_stats`; the library writes at most
            // `cap` of them and keeps no pointer.
            let count = unsafe {
                (self.snapshot)(stats.as_mut_ptr(), cap, std::mem::size_of::<ScopeStats>())
            };
            if count <= cap {
                // SAFETY: the library initialised the first `count` entries, `count <= cap`,
                // and every bit pattern is a valid `ScopeStats` (plain integers and bytes).
                unsafe { stats.set_len(count) };
                return stats;
            }
            // Scopes were registered between two calls: retry with room for more.
            stats.reserve(count + 16);
        }
    }
}

/// Whether `libskull_mem.so` is loaded and counting this process (`skull_is_active() == 1`).
/// Looks the one symbol up on every call, with no lock and no cached state, so a global
/// allocator can ask during its first allocation, before anything else is set up. dlsym may
/// allocate: such a caller must pass the nested allocations through.
pub fn library_active() -> bool {
    let Some(found) = symbol(c"skull_is_active") else {
        return false;
    };
    // SAFETY: the symbol is the library's `int skull_is_active(void)`.
    let is_active = unsafe { std::mem::transmute::<*mut c_void, IsActiveFn>(found) };
    // SAFETY: `skull_is_active` takes no arguments and only reads the library's state.
    unsafe { is_active() == 1 }
}

/// Looks `name` up in the global symbol scope (the executable and preloaded libraries).
fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: `name` is NUL-terminated; RTLD_DEFAULT is a valid pseudo-handle.
    let ptr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!ptr.is_null()).then_some(ptr)
}
