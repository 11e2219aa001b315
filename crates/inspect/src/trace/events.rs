//! The event ring: traced allocations and frees as they happen (`skull-trace tail`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;

use serde::Serialize;
use skull_mem_core::trace::tables::EVENT_FREE;
use skull_mem_symbolize::{Process, Symbolizer};

use super::frames::{symbolize_stack, Frame};
use super::leaks::scope_names;
use super::TraceError;
use crate::reader::{self, SegmentView};

/// The longest a reader may ask a process to go on writing events: a day.
const MAX_FOLLOW_SECONDS: f64 = 86_400.0;

/// A traced allocation or free (field names stable in `--json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceEvent {
    /// Sequence number.
    pub seq: u64,
    /// `alloc` or `free`.
    pub op: &'static str,
    /// The block, `0x...`.
    pub addr: String,
    /// Its size.
    pub size: u64,
    /// Its scope's name.
    pub scope: String,
    /// Kernel thread id.
    pub thread: u32,
    /// When, in the process's monotonic clock.
    pub time_ns: u64,
    /// The innermost frames of the block's stack.
    pub frames: Vec<Frame>,
}

/// Events from a sequence number on, and where to continue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceEvents {
    /// The process.
    pub pid: u32,
    /// The sequence number to ask for next.
    pub next: u64,
    /// Events overwritten in the ring before they were read.
    pub lost: u64,
    /// The events.
    pub events: Vec<TraceEvent>,
}

/// Traced allocations and frees of process `pid` from sequence number `from` on (the ring
/// keeps the last 4,096), each with the top `frames` frames of its stack. The process
/// writes events only while someone follows them: `follow_seconds` (when above 0) asks it
/// to go on writing them for that long after this call.
pub fn events(
    dir: &Path,
    pid: u32,
    from: u64,
    frames: usize,
    follow_seconds: f64,
    symbolizer: &mut Symbolizer,
) -> Result<TraceEvents, TraceError> {
    let (reading, found) = reader::read_pid_with(dir, pid, |view: &SegmentView| {
        let tables = view.trace;
        if follow_seconds > 0.0 {
            if !view.writable {
                return Err(TraceError::NotWritable {
                    what: format!("follow the events of process {pid}"),
                });
            }
            let lease = (follow_seconds.min(MAX_FOLLOW_SECONDS) * 1e9) as u64;
            view.region
                .header
                .tail
                .want_events_until(skull_mem_core::trace::now_ns() + lease);
        }
        let (events, lost) = tables.events_since(from);
        let stacks: HashMap<u32, Vec<u64>> = events
            .iter()
            .map(|event| (event.stack, tables.stack(event.stack).frames))
            .collect();
        // Without events (caught up, or all lost), continue from the end of the ring.
        let next = events
            .last()
            .map_or(tables.events_written.load(Ordering::Acquire), |last| {
                last.seq + 1
            });
        Ok((events, lost, stacks, next, view.region.unloaded.modules()))
    })?;
    let (events, lost, stacks, next, unloaded) = found?;
    let names = scope_names(&reading);
    let process = Process::attach(pid).ok();
    let mut symbolized: HashMap<u32, Vec<Frame>> = HashMap::new();
    let events = events
        .iter()
        .map(|event| {
            let top = symbolized.entry(event.stack).or_insert_with(|| {
                let stack = stacks.get(&event.stack).map_or(&[][..], |s| &s[..]);
                let mut all = symbolize_stack(symbolizer, process.as_ref(), &unloaded, stack);
                all.truncate(frames);
                all
            });
            TraceEvent {
                seq: event.seq,
                op: if event.kind == EVENT_FREE {
                    "free"
                } else {
                    "alloc"
                },
                addr: format!("{:#x}", event.addr),
                size: event.size,
                scope: names.get(&event.scope).copied().unwrap_or("?").to_owned(),
                thread: event.thread,
                time_ns: event.time_ns,
                frames: top.clone(),
            }
        })
        .collect();
    Ok(TraceEvents {
        pid,
        next,
        lost,
        events,
    })
}
