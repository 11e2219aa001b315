//! The C ABI declared in `include/skull_mem.h`.

use core::ffi::{c_char, c_int, CStr};

use skull_mem_core::abi::ScopeStatsC;
use skull_mem_core::scopes::SCOPE_INVALID;
use skull_mem_core::{region, thread};
use skull_mem_inspect::own::{self, Format};
use skull_mem_inspect::render::memory::TableOptions;

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the version has no NUL"),
    };

/// The library's version string.
#[no_mangle]
pub extern "C" fn skull_version() -> *const c_char {
    VERSION.as_ptr()
}

/// `SKULL_ABI_VERSION` of this library.
#[no_mangle]
pub extern "C" fn skull_abi_version() -> u32 {
    skull_mem_core::ABI_VERSION
}

/// 1 when this library's malloc is the process's malloc and counting runs.
#[no_mangle]
pub extern "C" fn skull_is_active() -> c_int {
    c_int::from(crate::start::interposing() && region::get().is_some())
}

/// # Safety
/// `name` and `kind` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn skull_scope_register(name: *const c_char, kind: *const c_char) -> u32 {
    if name.is_null() || kind.is_null() {
        return SCOPE_INVALID;
    }
    // SAFETY: the caller passes NUL-terminated strings.
    let (name, kind) = unsafe { (CStr::from_ptr(name), CStr::from_ptr(kind)) };
    let (Ok(name), Ok(kind)) = (name.to_str(), kind.to_str()) else {
        return SCOPE_INVALID;
    };
    region::get_or_map()
        .and_then(|region| region.scopes.register(name, kind).ok())
        .unwrap_or(SCOPE_INVALID)
}

/// Makes `id` current; returns the previous scope or `SKULL_SCOPE_INVALID`.
#[no_mangle]
pub extern "C" fn skull_scope_enter(id: u32) -> u32 {
    thread::enter(id)
}

/// Restores the scope `skull_scope_enter` returned.
#[no_mangle]
pub extern "C" fn skull_scope_leave(previous: u32) {
    thread::leave(previous)
}

/// The calling thread's two scope switch words (`thread::switch_words`): storing an id
/// the library gave in word 1, then 0 in word 0, switches the thread's scope without a call.
#[no_mangle]
pub extern "C" fn skull_scope_switch_words() -> *mut u32 {
    thread::switch_words()
}

/// The calling thread's current scope.
#[no_mangle]
pub extern "C" fn skull_scope_current() -> u32 {
    thread::current_scope()
}

/// # Safety
/// `buf` holds `cap` entries of `entry_size` bytes each (or `cap` is 0).
#[no_mangle]
pub unsafe extern "C" fn skull_snapshot(
    buf: *mut ScopeStatsC,
    cap: usize,
    entry_size: usize,
) -> usize {
    let Some(region) = region::get() else {
        return 0;
    };
    let count = region.scopes.len();
    if !buf.is_null() {
        let copy = entry_size.min(core::mem::size_of::<ScopeStatsC>());
        for id in 0..count.min(cap.try_into().unwrap_or(u32::MAX)) {
            let stats = ScopeStatsC::of(region, id);
            // SAFETY: entry `id` is inside the caller's buffer; only the prefix both sides
            // know is copied, so an older caller's smaller struct is not overrun.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    &stats as *const ScopeStatsC as *const u8,
                    (buf as *mut u8).add(id as usize * entry_size),
                    copy,
                );
            }
        }
    }
    count as usize
}

/// # Safety
/// `buf` holds `cap` writable bytes (or `cap` is 0).
#[no_mangle]
pub unsafe extern "C" fn skull_report(buf: *mut c_char, cap: usize, format: c_int) -> usize {
    let format = match format {
        1 => Format::Json,
        _ => Format::Text,
    };
    let copy = |text: &str| {
        if !buf.is_null() && cap > 0 {
            let len = text.len().min(cap - 1);
            // SAFETY: `len + 1 <= cap` bytes of the caller's buffer are written.
            unsafe {
                core::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, len);
                *buf.add(len) = 0;
            }
        }
        text.len()
    };
    // Rendered, copied and freed in skull-mem's own scope (see `skull_mem_inspect::own`).
    own::report_with(format, &TableOptions::default(), copy).unwrap_or_else(|| copy(""))
}
