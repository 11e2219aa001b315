//! Reading other processes' segments through the inspect crate's reader (`skull-mem ps`,
//! `memory`, `snapshot`).
//!
//! Every failure reaches JavaScript as an error whose `code` is the reader's stable code
//! (`error.rs`), so the CLI maps it to an exit status and a one-line message.

use std::path::{Path, PathBuf};

use napi_derive::napi;
use skull_mem_inspect::reader::{self, ReadError};
use skull_mem_inspect::render::ps::{ps, PsRow};
use skull_mem_inspect::report as model;

use crate::error::{unreadable, Result};
use crate::report::Report;
use crate::snapshot::SegmentInfo;

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

/// One process read through its segment.
#[napi(object)]
pub struct Reading {
    /// The segment's header.
    pub segment: SegmentInfo,
    /// The process's figures.
    pub report: Report,
}

impl From<&reader::Reading> for Reading {
    fn from(reading: &reader::Reading) -> Self {
        Reading {
            segment: SegmentInfo::from(&reading.info),
            report: Report::from(&model::Report::of(&reading.snapshot)),
        }
    }
}

/// Reads the segment of process `pid` (in `dir`, default `$SKULL_MEM_DIR` or /dev/shm).
#[napi]
pub fn read_process(pid: u32, dir: Option<String>) -> Result<Reading> {
    as_tool(|| {
        let reading =
            reader::read_pid(&dir_or_default(dir), pid).map_err(|error| unreadable(&error))?;
        Ok(Reading::from(&reading))
    })
}

/// Reads a segment file by path, without checking that its process lives (for tests and
/// for inspecting a file left behind).
#[napi]
pub fn read_segment_file(path: String) -> Result<Reading> {
    as_tool(|| {
        let reading = reader::read_file(Path::new(&path)).map_err(|error| unreadable(&error))?;
        Ok(Reading::from(&reading))
    })
}

/// A segment that could not be read, and why.
#[napi(object)]
pub struct Unreadable {
    /// The reader's stable code (`NOT_OWNED`, `CORRUPT`, ...).
    pub code: String,
    /// One line for the user.
    pub message: String,
}

impl From<&ReadError> for Unreadable {
    fn from(error: &ReadError) -> Self {
        Unreadable {
            code: error.code().to_owned(),
            message: error.to_string(),
        }
    }
}

/// The live measured processes of a directory.
#[napi(object)]
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

fn paths(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|path| path.to_string_lossy().into_owned())
        .collect()
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
            processes: scan.live.iter().map(Reading::from).collect(),
            removed: paths(&scan.removed),
            unreadable: scan.unreadable.iter().map(Unreadable::from).collect(),
        })
    })
}

/// One process of `skull-mem ps`.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct ProcessRow {
    /// The process id.
    pub pid: u32,
    /// Its command line, from the segment header.
    pub command: String,
    /// Bytes allocated and not yet freed, over all scopes.
    #[napi(js_name = "used_bytes")]
    pub used_bytes: f64,
    /// Blocks allocated and not yet freed.
    #[napi(js_name = "live_blocks")]
    pub live_blocks: f64,
    /// Registered scopes.
    pub scopes: u32,
    /// Threads holding a counter block.
    pub threads: Option<f64>,
    /// Whether tracing is on.
    pub tracing: bool,
    /// The library version in the process.
    #[napi(js_name = "library_version")]
    pub library_version: String,
    /// The segment file.
    pub segment: String,
}

impl From<&PsRow> for ProcessRow {
    fn from(row: &PsRow) -> Self {
        ProcessRow {
            pid: row.pid,
            command: row.command.clone(),
            used_bytes: row.used_bytes as f64,
            live_blocks: row.live_blocks as f64,
            scopes: row.scopes as u32,
            threads: row.threads.map(|n| n as f64),
            tracing: row.tracing,
            library_version: row.library_version.clone(),
            segment: row.segment.clone(),
        }
    }
}

/// `skull-mem ps`: the rows, the table of them, and what the scan removed or could not read.
#[napi(object, object_from_js = false)]
pub struct ProcessList {
    /// The directory scanned.
    pub dir: String,
    /// One row per live measured process.
    pub processes: Vec<ProcessRow>,
    /// Segments removed because their process has ended.
    pub removed: Vec<String>,
    /// Segments that could not be read.
    pub unreadable: Vec<Unreadable>,
    /// The rows as the text table `skull-mem ps` prints.
    pub table: String,
}

/// Lists the live measured processes of `dir` for `skull-mem ps`, removing the segments of
/// processes that have ended.
#[napi]
pub fn list_processes(dir: Option<String>) -> Result<ProcessList> {
    let dir = dir_or_default(dir);
    as_tool(|| {
        let listing = ps(&dir).map_err(|error| unreadable(&error))?;
        Ok(ProcessList {
            table: listing.table(),
            dir: listing.dir,
            processes: listing.processes.iter().map(ProcessRow::from).collect(),
            removed: listing.removed,
            unreadable: listing
                .unreadable
                .into_iter()
                .map(|failure| Unreadable {
                    code: failure.code.to_owned(),
                    message: failure.message,
                })
                .collect(),
        })
    })
}
