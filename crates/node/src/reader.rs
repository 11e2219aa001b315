//! Reading other processes' segments for the CLI (`skull-mem ps`, `memory`, `snapshot`).
//!
//! Every failure reaches JavaScript as an error whose `code` is the reader's stable code
//! (`error.rs`), so the CLI maps it to an exit status and a one-line message.

use std::path::PathBuf;

use napi_derive::napi;
use skull_mem_core::reader::{self, ReadError};
use skull_mem_core::report;

use crate::error::{unreadable, Result};
use crate::report::Report;

/// Runs `read` with the binding's allocations charged to the `skull-mem` scope when this
/// process is measured itself, so reading never inflates the caller's scope.
pub(crate) fn as_tool<T>(read: impl FnOnce() -> T) -> T {
    let _scope = crate::abi::Abi::get().map(crate::SelfScope::enter);
    read()
}

/// The segment directory asked for, or `$SKULL_MEM_DIR` / /dev/shm.
pub(crate) fn dir_or_default(dir: Option<String>) -> PathBuf {
    dir.filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(reader::segment_dir)
}

/// What the segment header says about its process.
#[napi(object, object_from_js = false)]
pub struct SegmentInfo {
    /// The segment file.
    pub path: String,
    /// The process id.
    pub pid: u32,
    /// The owner's user id.
    pub uid: u32,
    /// The process's start time, in clock ticks after boot.
    #[napi(js_name = "start_time")]
    pub start_time: f64,
    /// The executable.
    pub executable: String,
    /// The command line, arguments separated by spaces.
    #[napi(js_name = "command_line")]
    pub command_line: String,
    /// The version of the library that wrote the segment.
    #[napi(js_name = "library_version")]
    pub library_version: String,
    /// The tracing control word (0: off).
    pub control: f64,
}

/// One process read through its segment.
#[napi(object, object_from_js = false)]
pub struct Reading {
    /// The segment's header.
    pub segment: SegmentInfo,
    /// The process's figures.
    pub report: Report,
}

impl Reading {
    fn from_core(reading: &reader::Reading) -> Result<Reading> {
        let info = &reading.info;
        Ok(Reading {
            segment: SegmentInfo {
                path: info.path.to_string_lossy().into_owned(),
                pid: info.pid,
                uid: info.uid,
                start_time: info.start_time as f64,
                executable: info.executable.clone(),
                command_line: info.command_line.clone(),
                library_version: info.library_version.clone(),
                control: info.control as f64,
            },
            report: Report::from_json(report::json(&reading.snapshot))?,
        })
    }
}

fn reading(result: std::result::Result<reader::Reading, ReadError>) -> Result<Reading> {
    Reading::from_core(&result.map_err(|error| unreadable(&error))?)
}

/// Reads the segment of process `pid` (in `dir`, default `$SKULL_MEM_DIR` or /dev/shm).
#[napi]
pub fn read_process(pid: u32, dir: Option<String>) -> Result<Reading> {
    as_tool(|| reading(reader::read_pid(&dir_or_default(dir), pid)))
}

/// Reads a segment file by path, without checking that its process lives (for tests and
/// for inspecting a file left behind).
#[napi]
pub fn read_segment_file(path: String) -> Result<Reading> {
    as_tool(|| reading(reader::read_file(&PathBuf::from(path))))
}

/// A segment that could not be read, and why.
#[napi(object, object_from_js = false)]
pub struct Unreadable {
    /// The reader's stable code (`NOT_OWNED`, `CORRUPT`, ...).
    pub code: String,
    /// One line for the user.
    pub message: String,
}

/// The live measured processes of a directory.
#[napi(object, object_from_js = false)]
pub struct Scan {
    /// The directory scanned.
    pub dir: String,
    /// Every live process the caller may read.
    pub processes: Vec<Reading>,
    /// Segments removed because their process has ended.
    pub removed: Vec<String>,
    /// Segments that could not be read.
    pub unreadable: Vec<Unreadable>,
}

/// Every live measured process the caller may read; with `clean`, removes segments of
/// processes that have ended.
#[napi]
pub fn scan_processes(dir: Option<String>, clean: bool) -> Result<Scan> {
    let dir = dir_or_default(dir);
    as_tool(|| {
        let scan = reader::scan(&dir, clean).map_err(|error| unreadable(&error))?;
        Ok(Scan {
            dir: dir.to_string_lossy().into_owned(),
            processes: scan
                .live
                .iter()
                .map(Reading::from_core)
                .collect::<Result<_>>()?,
            removed: scan
                .removed
                .iter()
                .map(|path| path.to_string_lossy().into_owned())
                .collect(),
            unreadable: scan
                .unreadable
                .iter()
                .map(|error| Unreadable {
                    code: error.code().to_owned(),
                    message: error.to_string(),
                })
                .collect(),
        })
    })
}
