//! Reading other processes' segments for the CLI (`skull-mem ps`, `memory`, `snapshot`).
//!
//! Results cross to JavaScript as JSON text: either `{"ok":true,...}` or
//! `{"ok":false,"code":...,"message":...}`, so that every failure reaches the CLI as a code it
//! can map to an exit status and a one-line message, never as an exception with a stack.

use std::path::PathBuf;

use napi_derive::napi;
use serde_json::{json, Value};
use skull_mem_inspect::reader::{self, ReadError, Reading};
use skull_mem_inspect::report::Report;

/// Runs `read` with the binding's allocations charged to the `skull-mem` scope when this
/// process is measured itself, so reading never inflates the caller's scope.
fn as_tool<T>(read: impl FnOnce() -> T) -> T {
    let _scope = crate::abi::Abi::get().map(crate::SelfScope::enter);
    read()
}

/// The segment directory asked for, or `$SKULL_MEM_DIR` / /dev/shm.
pub(crate) fn dir_or_default(dir: Option<String>) -> PathBuf {
    dir.filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(reader::segment_dir)
}

/// A reader failure as the JSON every function of the binding returns.
pub(crate) fn error_json(error: &ReadError) -> Value {
    json!({ "ok": false, "code": error.code(), "message": error.to_string() })
}

fn reading_json(reading: &Reading) -> Value {
    json!({
        "segment": reading.info,
        "report": Report::of(&reading.snapshot),
    })
}

fn result_json(result: Result<Reading, ReadError>) -> String {
    let value = match result {
        Ok(reading) => {
            let mut value = reading_json(&reading);
            value["ok"] = json!(true);
            value
        }
        Err(error) => error_json(&error),
    };
    value.to_string()
}

/// Reads the segment of process `pid` (in `dir`, default `$SKULL_MEM_DIR` or /dev/shm).
#[napi]
pub fn read_process(pid: u32, dir: Option<String>) -> String {
    as_tool(|| result_json(reader::read_pid(&dir_or_default(dir), pid)))
}

/// Reads a segment file by path, without checking that its process lives (for tests and
/// for inspecting a file left behind).
#[napi]
pub fn read_segment_file(path: String) -> String {
    as_tool(|| result_json(reader::read_file(&PathBuf::from(path))))
}

/// Every live measured process the caller may read; with `clean`, removes segments of
/// processes that have ended.
#[napi]
pub fn scan_processes(dir: Option<String>, clean: bool) -> String {
    as_tool(|| scan_json(dir_or_default(dir), clean))
}

fn scan_json(dir: PathBuf, clean: bool) -> String {
    let value = match reader::scan(&dir, clean) {
        Ok(scan) => json!({
            "ok": true,
            "dir": dir.to_string_lossy(),
            "processes": scan.live.iter().map(reading_json).collect::<Vec<_>>(),
            "removed": scan.removed.iter().map(|path| path.to_string_lossy()).collect::<Vec<_>>(),
            "unreadable": scan.unreadable.iter().map(error_json).collect::<Vec<_>>(),
        }),
        Err(error) => error_json(&error),
    };
    value.to_string()
}
