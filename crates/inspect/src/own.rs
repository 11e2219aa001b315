//! The report a process makes of itself (`skull_report` of the C API, `skull_mem::report`,
//! hence the demo): the same text an outside reader (`skull-mem memory <pid>`) renders of
//! the process right after the report returns.
//!
//! Why they agree: the counters are read first, into storage that is no heap block
//! (`COUNTS`), before the report allocates anything; everything it allocates afterwards
//! lives and dies in skull-mem's own scope while it runs, so the counters after it returns
//! are those it read. The header line comes from the segment header, as the reader takes
//! it, and the resident figures from `/proc/<pid>`, as the reader reads them.
//!
//! Rendering, and handing the text over (a copy the caller keeps), may touch pages for the
//! first time and so raise the RSS it prints: the report reads `/proc` again after the
//! hand-over and renders and hands over again until the figures stand still (the `/proc`
//! reader itself allocates nothing). The first report of a process still moves its figures
//! after it has read them, as it frees and empties the cache for the first time (measured:
//! two more pages of heap in the demo), so it renders once unseen first (`SETTLED`); from
//! then on every report agrees with the outside reader. The
//! calling thread's block cache is emptied before the counters are read and again before
//! the report returns, so the blocks the report's own frees would leave there (counted in
//! skull-mem's scope) are not in the figures. Only the call counters of skull-mem's scope
//! (`--detail`: malloc, free, ...) move on by the report's own calls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use skull_mem_core::region::{self, Region};
use skull_mem_core::scopes::SCOPE_SELF;
use skull_mem_core::snapshot::Counts;
use skull_mem_core::thread;

use crate::process::process_snapshot;
use crate::process_memory::read_process_memory;
use crate::reader::{segment_dir, segment_path, SegmentInfo};
use crate::render::memory::{memory_table, TableOptions};
use crate::report::Report;

/// Report formats (the values of `enum skull_report_format` in C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Skull Memory Measurement table with its RSS summary.
    Text,
    /// The library's report: the snapshot format v1 without time, segment and process.
    Json,
}

/// Where the counters are read before anything is allocated; one report at a time.
static COUNTS: Mutex<Counts> = Mutex::new(Counts::EMPTY);

/// Renders the report and hands it to `out`. The text report hands it over again, rendered
/// anew, until reading `/proc` after the hand-over changes nothing: rendering and the
/// hand-over itself (a copy the caller keeps) may touch pages for the first time, and the
/// figures must be those after them. `out` may run more than once; the last result counts.
fn render<T>(
    region: &Region,
    format: Format,
    options: &TableOptions,
    mut out: impl FnMut(&str) -> T,
) -> T {
    let snapshot = {
        let mut counts = COUNTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.read(region);
        counts.snapshot(region, region.header.pid)
    };
    match format {
        Format::Json => out(&Report::of(&snapshot).to_json()),
        Format::Text => {
            let path = segment_path(&segment_dir(), region.header.uid, region.header.pid);
            let segment = SegmentInfo::of(&path, &region.header);
            let pid = std::process::id();
            // No /proc (a sandbox): the counters still show; the resident figures read 0.
            let read = || read_process_memory(pid, &path).unwrap_or_default();
            let mut memory = read();
            let mut attempts = 1;
            loop {
                let table = memory_table(
                    &process_snapshot(&snapshot, segment.clone(), memory),
                    options,
                );
                let result = out(&table);
                drop(table);
                let after = read();
                if after == memory || attempts == MAX_RENDERINGS {
                    return result;
                }
                drop(result);
                memory = after;
                attempts += 1;
            }
        }
    }
}

/// Set by the first report of the process, which renders once unseen (see the module doc).
static SETTLED: AtomicBool = AtomicBool::new(false);

/// Renderings of the text report before it settles for the figures of the last one.
const MAX_RENDERINGS: u32 = 4;

/// Renders this process's report and hands it to `out` (perhaps more than once: the last
/// result counts), all in skull-mem's own scope; `None` when counting is not running.
pub fn report_with<T>(
    format: Format,
    options: &TableOptions,
    mut out: impl FnMut(&str) -> T,
) -> Option<T> {
    let region = region::get()?;
    let previous = thread::enter(SCOPE_SELF);
    thread::drain_cache();
    if !SETTLED.swap(true, Ordering::Relaxed) {
        render(region, format, options, |_| ());
        thread::drain_cache();
    }
    let result = render(region, format, options, &mut out);
    thread::drain_cache();
    thread::leave(previous);
    Some(result)
}

/// This process's report, allocated in the caller's scope (the caller frees it there);
/// `None` when counting is not running.
pub fn report(format: Format, options: &TableOptions) -> Option<String> {
    let caller = thread::current_scope();
    report_with(format, options, |text| {
        let own = thread::enter(caller);
        let copy = text.to_owned();
        thread::leave(own);
        copy
    })
}
