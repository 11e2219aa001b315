//! Tracing from outside a process (`skull-trace`) or inside it (`trace.*` of the API):
//! converts the calls and results of `skull_mem_inspect::trace`, which switches, reads,
//! groups, symbolizes and renders.
//!
//! Results are the typed objects of `trace_types.rs`; failures are errors with the reader's
//! codes, or `NOT_WRITABLE` / `NO_SCOPE` (`error.rs`).

use std::sync::Mutex;

use napi_derive::napi;
use skull_mem_inspect::trace::control::{control, TraceSettings};
use skull_mem_inspect::trace::events::events;
use skull_mem_inspect::trace::grouping::GroupBy;
use skull_mem_inspect::trace::leaks::{leaks, stacks, LeakOptions};
use skull_mem_inspect::trace::render;
use skull_mem_inspect::trace::status::status;
use skull_mem_inspect::trace::TraceError;
use skull_mem_symbolize::Symbolizer;

use crate::error::{fail, Result, BAD_ARGUMENT};
use crate::reader::{as_tool, dir_or_default};
use crate::trace_types::{LeakReport, StackReport, TraceEvent, TraceEvents, TraceStatus};

/// One symbolizer for the process: modules and frames stay cached between reports.
static SYMBOLIZER: Mutex<Option<Symbolizer>> = Mutex::new(None);

/// Runs `use_it` with the process's symbolizer, made on first use.
pub(crate) fn with_symbolizer<T>(use_it: impl FnOnce(&mut Symbolizer) -> T) -> T {
    let mut guard = SYMBOLIZER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    use_it(guard.get_or_insert_with(Symbolizer::new))
}

/// Drops the process's symbolizer and its caches; whether there was one.
pub(crate) fn release_symbolizer() -> bool {
    let dropped = SYMBOLIZER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    dropped.is_some()
}

/// The options of a leak report as the binding's callers give them; the grouping named
/// (`stack`, `line` or `function`) or the default.
pub(crate) fn leak_options(
    min_age: f64,
    scope: Option<String>,
    top: u32,
    group_by: Option<String>,
) -> Result<LeakOptions> {
    let group_by = match group_by.as_deref().map(str::parse::<GroupBy>) {
        None => GroupBy::default(),
        Some(Ok(group_by)) => group_by,
        Some(Err(message)) => return Err(fail(BAD_ARGUMENT, message)),
    };
    Ok(LeakOptions {
        min_age,
        scope,
        top: top as usize,
        group_by,
        // A library call never prints; `trace_leaks` turns it on for the CLI.
        progress: false,
    })
}

/// A tracing failure, with its stable code and message.
pub(crate) fn traced(error: TraceError) -> napi::Error<&'static str> {
    fail(error.code(), error)
}

/// Sets the control word of process `pid`: `depth` 0 turns tracing off; otherwise on, with
/// `sample_bytes` the Poisson mean (0: every allocation), and only the scopes named in
/// `scopes` when it is not empty; `memory` sets the trace tables' budget in bytes. Returns the
/// status after it.
#[napi]
pub fn trace_control(
    pid: u32,
    dir: Option<String>,
    depth: u32,
    sample_bytes: f64,
    scopes: Vec<String>,
    memory: Option<f64>,
) -> Result<TraceStatus> {
    let settings = (depth != 0).then(|| TraceSettings {
        depth: depth as usize,
        sample_bytes: sample_bytes.max(0.0) as u64,
        scopes,
        memory: memory.map(|bytes| bytes.max(0.0) as u64),
    });
    as_tool(|| {
        let status = control(&dir_or_default(dir), pid, settings.as_ref()).map_err(traced)?;
        Ok(TraceStatus::from(&status))
    })
}

/// The tracing state of process `pid`.
#[napi]
pub fn trace_status(pid: u32, dir: Option<String>) -> Result<TraceStatus> {
    as_tool(|| {
        let status = status(&dir_or_default(dir), pid).map_err(traced)?;
        Ok(TraceStatus::from(&status))
    })
}

/// Traced blocks of process `pid` still live, grouped by `group_by` (`line`, the default:
/// symbolized call sites; `stack`; `function`), largest first: the leak candidates.
/// `min_age` (seconds) leaves out younger blocks; `scope` keeps one scope; `top` 0 lists
/// every group. `progress`: say on stderr how symbolizing goes, when stderr is a terminal and
/// it takes over a second (the CLI's; the API leaves it off).
#[napi]
pub fn trace_leaks(
    pid: u32,
    dir: Option<String>,
    min_age: f64,
    scope: Option<String>,
    top: u32,
    #[napi(ts_arg_type = "'stack' | 'line' | 'function'")] group_by: Option<String>,
    progress: Option<bool>,
) -> Result<LeakReport> {
    let mut options = leak_options(min_age, scope, top, group_by)?;
    options.progress = progress.unwrap_or(false);
    as_tool(|| {
        let report =
            with_symbolizer(|symbolizer| leaks(&dir_or_default(dir), pid, &options, symbolizer))
                .map_err(traced)?;
        Ok(LeakReport::from(&report))
    })
}

/// Every stack tracing has recorded in process `pid`, with its traced allocations and bytes
/// since tracing started (freed or not), largest first: where the allocations come from.
/// `progress` as for `trace_leaks`.
#[napi]
pub fn trace_report(
    pid: u32,
    dir: Option<String>,
    top: u32,
    progress: Option<bool>,
) -> Result<StackReport> {
    let progress = progress.unwrap_or(false);
    as_tool(|| {
        let report = with_symbolizer(|symbolizer| {
            stacks(
                &dir_or_default(dir),
                pid,
                top as usize,
                progress,
                symbolizer,
            )
        })
        .map_err(traced)?;
        Ok(StackReport::from(&report))
    })
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
) -> Result<TraceEvents> {
    as_tool(|| {
        let found = with_symbolizer(|symbolizer| {
            events(
                &dir_or_default(dir),
                pid,
                from.max(0.0) as u64,
                frames as usize,
                follow_seconds,
                symbolizer,
            )
        })
        .map_err(traced)?;
        Ok(TraceEvents::from(&found))
    })
}

/// The leak report as text: one block per stack, largest first (`skull-trace leaks`).
#[napi]
pub fn leaks_text(report: LeakReport) -> String {
    render::leaks_text(&report.into())
}

/// The report by stack as text (`skull-trace report`).
#[napi]
pub fn stacks_text(report: StackReport) -> String {
    render::stacks_text(&report.into())
}

/// The report by stack in the folded format of flame graph tools (`flamegraph.pl`,
/// speedscope, inferno): one line per stack, outermost frame first, then the bytes.
#[napi]
pub fn collapsed_stacks(report: StackReport) -> String {
    render::collapsed(&report.into())
}

/// One event as a line (`skull-trace tail`).
#[napi]
pub fn event_line(event: TraceEvent) -> String {
    render::event_line(&event.into())
}

/// The status as `skull-trace status` prints it.
#[napi]
pub fn status_text(pid: u32, status: TraceStatus) -> String {
    render::status_text(pid, &status.into())
}

/// `off`, or how tracing runs (`on: every allocation, stacks of up to 32 frames`).
#[napi]
pub fn describe_tracing(status: TraceStatus) -> String {
    render::describe(&status.into())
}
