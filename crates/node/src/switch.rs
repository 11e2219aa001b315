//! How the JavaScript context hooks switch the thread's scope on async callbacks:
//! `scopeSwitchWords()` hands them the thread's switch words, which they store into (two
//! typed-array stores, no call); `scopeSwitch(id)` is the call they make instead when the
//! preloaded library has no switch words (one of the same ABI version built before them).
//! Both are raw Node-API callbacks.
//!
//! Why not `#[napi]`: napi-rs 3 wraps every call that takes arguments in a borrow scope that
//! allocates (measured: ~110 ns per call, most of it in `native_borrow`, against ~25-30 ns for
//! this raw callback in a loop on Node 20; on Node 22 and 24 any Node-API call costs about
//! twice that, 85-90 ns on the busy development machine). With the promise mechanism of
//! Node 24 those calls were the largest part of skull-mem's own cost on await-heavy code,
//! hence the switch words (benches/README.md).

use std::ptr;

use napi::bindgen_prelude::Object;
use napi::sys;
use napi::{Env, JsValue, Result};
use napi_derive::napi;

use crate::abi::{Abi, SCOPE_INVALID};

/// Makes the `u32` argument the calling thread's scope and returns the previous scope, or
/// `4294967295` (`SCOPE_INVALID`) when the id is unknown, the argument is not a number, or
/// the library is not preloaded. Never throws: the TypeScript layer checks `status()` first.
unsafe extern "C" fn scope_switch(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut argc = 1usize;
    let mut argv = [ptr::null_mut(); 1];
    // SAFETY: `env` and `info` come from Node for this call; `argv` has room for `argc` values.
    let got = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    let mut id = SCOPE_INVALID;
    let previous = if got == sys::Status::napi_ok
        && argc >= 1
        // SAFETY: `argv[0]` is a live handle of this call (undefined when no argument was given).
        && unsafe { sys::napi_get_value_uint32(env, argv[0], &mut id) } == sys::Status::napi_ok
    {
        match Abi::get() {
            // SAFETY: `skull_scope_enter` accepts any id; an unknown one changes nothing.
            Some(abi) => unsafe { (abi.scope_enter)(id) },
            None => SCOPE_INVALID,
        }
    } else {
        SCOPE_INVALID
    };
    let mut out = ptr::null_mut();
    // SAFETY: `env` is live for this call; on failure `out` stays null, which Node reads as
    // `undefined`.
    unsafe { sys::napi_create_uint32(env, previous, &mut out) };
    out
}

/// `scopeSwitchWords() -> ArrayBuffer | undefined`: the calling thread's two switch words
/// (`skull_scope_switch_words` in include/skull_mem.h) as an 8-byte external ArrayBuffer,
/// so that the context hooks switch with two typed-array stores (a few ns) instead of a
/// `scopeSwitch` call (85-90 ns on Node 22 and 24). `undefined` when the library is absent
/// or predates the words; the caller then uses `scopeSwitch`.
///
/// The buffer has no finalizer: the words live in the thread's static TLS block, which
/// outlives the thread's isolate (the main thread's lasts as long as the process; a
/// worker's isolate is disposed before its thread exits), so each thread sees its own.
unsafe extern "C" fn scope_switch_words(
    env: sys::napi_env,
    _info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut out = ptr::null_mut();
    let words = Abi::get().and_then(|abi| abi.scope_switch_words);
    if let Some(words) = words {
        // SAFETY: takes no arguments and returns the calling thread's words.
        let data = unsafe { words() };
        // SAFETY: `data` points at 8 bytes of this thread's TLS, valid while the thread runs,
        // which outlasts any buffer of this thread's isolate (see above); no finalizer is
        // needed since nothing is to be freed. On failure `out` stays null (`undefined`).
        unsafe {
            sys::napi_create_external_arraybuffer(
                env,
                data.cast(),
                8,
                None,
                ptr::null_mut(),
                &mut out,
            )
        };
    }
    out
}

/// Adds the raw functions to the addon's exports.
#[napi(module_exports)]
pub fn register_raw_functions(exports: Object, env: Env) -> Result<()> {
    export_raw(&exports, &env, c"scopeSwitch", scope_switch)?;
    export_raw(&exports, &env, c"scopeSwitchWords", scope_switch_words)
}

/// Exports the raw callback `callback` as `name`.
fn export_raw(
    exports: &Object,
    env: &Env,
    name: &std::ffi::CStr,
    callback: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value,
) -> Result<()> {
    let mut function = ptr::null_mut();
    // SAFETY: `name` is a NUL-terminated string valid for its length; `callback` matches
    // `napi_callback`.
    let status = unsafe {
        sys::napi_create_function(
            env.raw(),
            name.as_ptr(),
            name.count_bytes() as isize,
            Some(callback),
            ptr::null_mut(),
            &mut function,
        )
    };
    let what = name.to_string_lossy();
    check(status, &format!("create {what}"))?;
    // SAFETY: `exports` is the live exports object of this module; `function` was just created.
    let status =
        unsafe { sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr(), function) };
    check(status, &format!("export {what}"))
}

fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!(
            "skull-mem: cannot {what} (napi status {status})"
        )))
    }
}
