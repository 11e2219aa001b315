//! A measured process whole, read from outside (`skull-mem memory`, `snapshot`,
//! `sm.report()`): the snapshot format v1 as typed objects, and the memory table rendered
//! from it by the inspect crate.
//!
//! `ProcessSnapshot` is flat, as the format is (the model flattens its `Report` with serde),
//! so `JSON.stringify` of it prints the documented format; it converts back to the model
//! when the table is rendered from it.

use napi_derive::napi;
use skull_mem_inspect::process;
use skull_mem_inspect::process_memory as memory;
use skull_mem_inspect::reader as model_reader;
use skull_mem_inspect::render::memory::{memory_table as render_memory_table, TableOptions};
use skull_mem_inspect::report as model;

use crate::error::{fail, unreadable, Result, BAD_ARGUMENT};
use crate::reader::{as_tool, dir_or_default};
use crate::report::{Report, ReportTotals, ScopeReport};

/// What the segment header says about its process.
#[napi(object)]
pub struct SegmentInfo {
    /// The segment file.
    pub path: String,
    /// The process id.
    pub pid: u32,
    /// The process's real user id.
    pub uid: u32,
    /// The process's start time, in clock ticks after boot.
    #[napi(js_name = "start_time")]
    pub start_time: f64,
    /// The executable at start.
    pub executable: String,
    /// The command line at start.
    #[napi(js_name = "command_line")]
    pub command_line: String,
    /// The version of the library in the process.
    #[napi(js_name = "library_version")]
    pub library_version: String,
    /// The tracing control word (0: off).
    pub control: f64,
}

impl From<&model_reader::SegmentInfo> for SegmentInfo {
    fn from(info: &model_reader::SegmentInfo) -> Self {
        SegmentInfo {
            path: info.path.to_string_lossy().into_owned(),
            pid: info.pid,
            uid: info.uid,
            start_time: info.start_time as f64,
            executable: info.executable.clone(),
            command_line: info.command_line.clone(),
            library_version: info.library_version.clone(),
            control: info.control as f64,
        }
    }
}

impl From<&SegmentInfo> for model_reader::SegmentInfo {
    fn from(info: &SegmentInfo) -> Self {
        model_reader::SegmentInfo {
            path: info.path.clone().into(),
            pid: info.pid,
            uid: info.uid,
            start_time: info.start_time as u64,
            executable: info.executable.clone(),
            command_line: info.command_line.clone(),
            library_version: info.library_version.clone(),
            control: info.control as u64,
        }
    }
}

/// Where the process's resident memory is, from `/proc`, and how much of it malloc explains.
#[napi(object)]
pub struct ProcessFigures {
    /// VmRSS.
    #[napi(js_name = "rss_bytes")]
    pub rss_bytes: f64,
    /// RssAnon: heap, arenas, stacks, JIT and V8 heaps, anonymous mmaps.
    #[napi(js_name = "anon_bytes")]
    pub anon_bytes: f64,
    /// RssFile: code and mapped files.
    #[napi(js_name = "file_bytes")]
    pub file_bytes: f64,
    /// RssShmem: shared memory, including skull-mem's own segment.
    #[napi(js_name = "shmem_bytes")]
    pub shmem_bytes: f64,
    /// Resident in glibc's heap mappings: the brk heap and the per-thread arena heaps.
    #[napi(js_name = "malloc_heap_bytes")]
    pub malloc_heap_bytes: f64,
    /// Resident part of the process's skull-mem segment.
    #[napi(js_name = "segment_bytes")]
    pub segment_bytes: f64,
    /// Resident in glibc's heap mappings beyond live blocks and their headers (at least).
    #[napi(js_name = "malloc_retained_bytes")]
    pub malloc_retained_bytes: f64,
    /// Anonymous memory outside glibc's heap mappings.
    #[napi(js_name = "other_anon_bytes")]
    pub other_anon_bytes: f64,
}

impl From<&memory::ProcessFigures> for ProcessFigures {
    fn from(p: &memory::ProcessFigures) -> Self {
        ProcessFigures {
            rss_bytes: p.rss_bytes as f64,
            anon_bytes: p.anon_bytes as f64,
            file_bytes: p.file_bytes as f64,
            shmem_bytes: p.shmem_bytes as f64,
            malloc_heap_bytes: p.malloc_heap_bytes as f64,
            segment_bytes: p.segment_bytes as f64,
            malloc_retained_bytes: p.malloc_retained_bytes as f64,
            other_anon_bytes: p.other_anon_bytes as f64,
        }
    }
}

impl From<&ProcessFigures> for memory::ProcessFigures {
    fn from(p: &ProcessFigures) -> Self {
        memory::ProcessFigures {
            rss_bytes: p.rss_bytes as u64,
            anon_bytes: p.anon_bytes as u64,
            file_bytes: p.file_bytes as u64,
            shmem_bytes: p.shmem_bytes as u64,
            malloc_heap_bytes: p.malloc_heap_bytes as u64,
            segment_bytes: p.segment_bytes as u64,
            malloc_retained_bytes: p.malloc_retained_bytes as u64,
            other_anon_bytes: p.other_anon_bytes as u64,
        }
    }
}

/// A process read from outside: the snapshot format v1, as `skull-mem memory --json` and
/// `skull-mem snapshot` write it.
#[napi(object, use_nullable = true)]
pub struct ProcessSnapshot {
    /// `"skull-mem-snapshot"`.
    #[napi(ts_type = "'skull-mem-snapshot'")]
    pub format: String,
    /// `1`.
    #[napi(js_name = "format_version", ts_type = "1")]
    pub format_version: u32,
    /// ISO-8601 time of the reading.
    pub time: String,
    /// The version of the skull-mem that read the process.
    pub version: String,
    /// The process id.
    pub pid: u32,
    /// Threads holding a counter block.
    pub threads: Option<f64>,
    /// Bytes mapped for counters.
    #[napi(js_name = "region_bytes")]
    pub region_bytes: Option<f64>,
    /// Whether tracing is on.
    #[napi(js_name = "trace_enabled")]
    pub trace_enabled: bool,
    /// Every scope, by id.
    pub scopes: Vec<ScopeReport>,
    /// Sums over every scope.
    pub totals: ReportTotals,
    /// What the segment header says.
    pub segment: SegmentInfo,
    /// Resident figures from `/proc`.
    pub process: ProcessFigures,
}

impl From<&model::ProcessSnapshot> for ProcessSnapshot {
    fn from(s: &model::ProcessSnapshot) -> Self {
        let report = Report::from(&s.report);
        ProcessSnapshot {
            format: s.format.clone(),
            format_version: s.format_version,
            time: s.time.clone(),
            version: report.version,
            pid: report.pid,
            threads: report.threads,
            region_bytes: report.region_bytes,
            trace_enabled: report.trace_enabled,
            scopes: report.scopes,
            totals: report.totals,
            segment: SegmentInfo::from(&s.segment),
            process: ProcessFigures::from(&s.process),
        }
    }
}

impl From<ProcessSnapshot> for model::ProcessSnapshot {
    fn from(s: ProcessSnapshot) -> Self {
        let report = Report {
            version: s.version,
            pid: s.pid,
            threads: s.threads,
            region_bytes: s.region_bytes,
            trace_enabled: s.trace_enabled,
            scopes: s.scopes,
            totals: s.totals,
        };
        model::ProcessSnapshot {
            format: s.format,
            format_version: s.format_version,
            time: s.time,
            report: model::Report::from(&report),
            segment: model_reader::SegmentInfo::from(&s.segment),
            process: memory::ProcessFigures::from(&s.process),
        }
    }
}

/// Reads process `pid` now, through its segment in `dir` (default `$SKULL_MEM_DIR` or
/// /dev/shm): its counters and its resident figures.
#[napi]
pub fn take_process_snapshot(pid: u32, dir: Option<String>) -> Result<ProcessSnapshot> {
    as_tool(|| {
        let snapshot =
            process::take(&dir_or_default(dir), pid).map_err(|error| unreadable(&error))?;
        Ok(ProcessSnapshot::from(&snapshot))
    })
}

/// What the memory table shows besides the basic columns.
#[napi(object)]
pub struct MemoryTableOptions {
    /// Calls per API, failed allocations and header overhead per scope.
    pub detail: bool,
    /// The order of the scopes: `used`, `growth` or `name`.
    #[napi(ts_type = "'used' | 'growth' | 'name'")]
    pub sort: String,
    /// An earlier reading of the process, for the growth column.
    pub previous: Option<ProcessSnapshot>,
    /// Seconds between `previous` and this reading.
    pub interval: Option<f64>,
}

/// The Skull Memory Measurement table of `snapshot` and its RSS summary, as `skull-mem
/// memory` prints it.
#[napi]
pub fn memory_table(snapshot: ProcessSnapshot, options: MemoryTableOptions) -> Result<String> {
    let sort = options
        .sort
        .parse()
        .map_err(|why| fail(BAD_ARGUMENT, why))?;
    let previous = options.previous.map(model::ProcessSnapshot::from);
    let snapshot = model::ProcessSnapshot::from(snapshot);
    Ok(as_tool(|| {
        render_memory_table(
            &snapshot,
            &TableOptions {
                detail: options.detail,
                sort,
                previous: previous.as_ref(),
                interval: options.interval,
            },
        )
    }))
}

/// `1536` → `"1.5 KiB"`, as the tables write sizes.
#[napi]
pub fn human_bytes(bytes: f64) -> String {
    skull_mem_inspect::render::table::human_bytes(bytes as i64)
}
