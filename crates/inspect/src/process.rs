//! A measured process whole: its segment's counters and its resident figures from `/proc`,
//! as one snapshot in format v1 (`skull-mem memory`, `snapshot`, and the in-process report).

use std::io;
use std::path::Path;

use skull_mem_core::snapshot::Snapshot;

use crate::clock;
use crate::process_memory::{read_process_memory, ProcessFigures, ProcessMemory};
use crate::reader::{self, ReadError, SegmentInfo};
use crate::report::{ProcessSnapshot, Report, SNAPSHOT_FORMAT, SNAPSHOT_FORMAT_VERSION};

/// The snapshot of `counters` read through `segment`, with the resident figures `memory`
/// explained by them, timed now.
pub fn process_snapshot(
    counters: &Snapshot,
    segment: SegmentInfo,
    memory: ProcessMemory,
) -> ProcessSnapshot {
    let report = Report::of(counters);
    let live_and_headers = report.totals.used_bytes + report.totals.overhead_bytes;
    ProcessSnapshot {
        format: SNAPSHOT_FORMAT.to_owned(),
        format_version: SNAPSHOT_FORMAT_VERSION,
        time: clock::now_iso(),
        report,
        segment,
        process: ProcessFigures::new(memory, live_and_headers),
    }
}

/// Reads process `pid` now, through its segment in `dir`: counters and resident figures.
pub fn take(dir: &Path, pid: u32) -> Result<ProcessSnapshot, ReadError> {
    let reading = reader::read_pid(dir, pid)?;
    let memory = resident(pid, &reading.info.path)?;
    Ok(process_snapshot(&reading.snapshot, reading.info, memory))
}

/// The resident figures of process `pid`, whose segment is `segment`, read just after it.
pub(crate) fn resident(pid: u32, segment: &Path) -> Result<ProcessMemory, ReadError> {
    read_process_memory(pid, segment).map_err(|error| match error.kind() {
        // It ended between the two reads.
        io::ErrorKind::NotFound => ReadError::NoProcess { pid },
        _ => ReadError::Io {
            path: format!("/proc/{pid}").into(),
            error,
        },
    })
}
