//! Tracing from outside a process (`skull-trace`) or inside it (`trace.*` of the API):
//! converts the calls and results of `skull_mem_inspect::trace`, which switches, reads,
//! groups and symbolizes.
//!
//! Results cross to JavaScript as JSON text, `{"ok":true,...}` or
//! `{"ok":false,"code":...,"message":...}`, like the reader's.

use std::sync::Mutex;

use crate::reader::dir_or_default;
use napi_derive::napi;
use serde::Serialize;
use serde_json::json;
use skull_mem_inspect::trace::control::{control, TraceSettings};
use skull_mem_inspect::trace::events::events;
use skull_mem_inspect::trace::leaks::{leaks, stacks, LeakOptions};
use skull_mem_inspect::trace::status::status;
use skull_mem_inspect::trace::TraceError;
use skull_mem_symbolize::Symbolizer;

/// One symbolizer for the process: modules and frames stay cached between reports.
static SYMBOLIZER: Mutex<Option<Symbolizer>> = Mutex::new(None);

fn with_symbolizer<T>(use_it: impl FnOnce(&mut Symbolizer) -> T) -> T {
    let mut guard = SYMBOLIZER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    use_it(guard.get_or_insert_with(Symbolizer::new))
}

/// A result as the JSON text every function of the binding returns.
fn result_json<T: Serialize>(result: Result<T, TraceError>) -> String {
    match result {
        Ok(value) => {
            // Plain structs of numbers, strings and options: serializing cannot fail.
            let mut value = serde_json::to_value(value).expect("a trace result serializes");
            value["ok"] = json!(true);
            value.to_string()
        }
        Err(error) => {
            json!({ "ok": false, "code": error.code(), "message": error.to_string() }).to_string()
        }
    }
}

/// Sets the control word of process `pid`: `depth` 0 turns tracing off; otherwise on, with
/// `sample_bytes` the Poisson mean (0: every allocation), and only the scopes named in
/// `scopes` when it is not empty. Returns the status after it.
#[napi]
pub fn trace_control(
    pid: u32,
    dir: Option<String>,
    depth: u32,
    sample_bytes: f64,
    scopes: Vec<String>,
) -> String {
    let settings = (depth != 0).then(|| TraceSettings {
        depth: depth as usize,
        sample_bytes: sample_bytes.max(0.0) as u64,
        scopes,
    });
    result_json(control(&dir_or_default(dir), pid, settings.as_ref()))
}

/// The tracing state of process `pid`.
#[napi]
pub fn trace_status(pid: u32, dir: Option<String>) -> String {
    result_json(status(&dir_or_default(dir), pid))
}

/// Traced blocks of process `pid` still live, grouped by stack, largest first: the leak
/// candidates. `min_age` (seconds) leaves out younger blocks; `scope` keeps one scope.
#[napi]
pub fn trace_leaks(
    pid: u32,
    dir: Option<String>,
    min_age: f64,
    scope: Option<String>,
    top: u32,
) -> String {
    let options = LeakOptions {
        min_age,
        scope,
        top: top as usize,
    };
    result_json(with_symbolizer(|symbolizer| {
        leaks(&dir_or_default(dir), pid, &options, symbolizer)
    }))
}

/// Every stack tracing has recorded in process `pid`, with its traced allocations and bytes
/// since tracing started (freed or not), largest first: where the allocations come from.
#[napi]
pub fn trace_report(pid: u32, dir: Option<String>, top: u32) -> String {
    result_json(with_symbolizer(|symbolizer| {
        stacks(&dir_or_default(dir), pid, top as usize, symbolizer)
    }))
}

/// Traced allocations and frees of process `pid` from sequence number `from` on (the ring
/// keeps the last 4,096), each with the top `frames` frames of its stack symbolized; `next`
/// is where the following call should start, `lost` counts events overwritten before read.
/// The process writes events only while someone follows them: `follow_seconds` (when above
/// 0) asks it to go on writing them for that long after this call.
#[napi]
pub fn trace_events(
    pid: u32,
    dir: Option<String>,
    from: f64,
    frames: u32,
    follow_seconds: f64,
) -> String {
    result_json(with_symbolizer(|symbolizer| {
        events(
            &dir_or_default(dir),
            pid,
            from.max(0.0) as u64,
            frames as usize,
            follow_seconds,
            symbolizer,
        )
    }))
}
