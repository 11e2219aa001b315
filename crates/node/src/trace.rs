//! Tracing from outside a process (`skull-trace`) or inside it (`trace.*` of the API): the
//! control word in the segment, and leak reports from its tables, symbolized here.
//!
//! Results are the typed objects of `trace_types.rs`; failures are errors with the reader's
//! codes, or `NOT_WRITABLE` / `NO_SCOPE` (`error.rs`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::error::{fail, unreadable, Result, NOT_WRITABLE, NO_SCOPE};
use crate::reader::dir_or_default;
use crate::trace_types::{
    LeakGroup, LeakReport, StackEntry, StackReport, TraceCapacity, TraceCounts, TraceEvent,
    TraceEvents, TraceFrame, TraceStatus,
};
use napi_derive::napi;
use skull_mem_core::trace::control::{TraceConfig, MAX_DEPTH};
use skull_mem_core::trace::tables::{LiveBlock, TraceTables, EVENT_FREE};
use skull_mem_inspect::reader::{self, Reading, SegmentView};
use skull_mem_symbolize::{Lookup, Process, Symbolizer};

/// The tables' counts; `live` is the number of live traced blocks (every recorded block not
/// live any more was freed).
fn counts(tables: &TraceTables, live: usize) -> TraceCounts {
    let traced_allocs = tables.traced_allocs();
    TraceCounts {
        traced_allocs: traced_allocs as f64,
        traced_frees: traced_allocs.saturating_sub(live as u64) as f64,
        dropped_stacks: tables.dropped_stacks.load(Ordering::Relaxed) as f64,
        dropped_blocks: tables.dropped_blocks.load(Ordering::Relaxed) as f64,
    }
}

fn status_of(word: u64, tables: &TraceTables) -> TraceStatus {
    let config = TraceConfig::decode(word);
    let live = tables.live_blocks().len();
    TraceStatus {
        enabled: config.is_some(),
        depth: config.map(|c| c.depth as u32),
        sample_bytes: config.map(|c| c.sample_bytes as f64),
        scoped: config.is_some_and(|c| c.scoped),
        counts: counts(tables, live),
        live_blocks: live as f64,
        capacity: TraceCapacity {
            stacks: tables.stack_slots() as f64,
            live_blocks: tables.live_slots() as f64,
        },
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
) -> Result<TraceStatus> {
    let config = (depth != 0).then(|| TraceConfig {
        depth: (depth as usize).min(MAX_DEPTH),
        sample_bytes: sample_bytes.max(0.0) as u64,
        scoped: !scopes.is_empty(),
    });
    let result = reader::read_pid_with(&dir_or_default(dir), pid, |view: &SegmentView| {
        if !view.writable {
            return Err(fail(
                NOT_WRITABLE,
                format!("cannot switch tracing of process {pid}: its segment is not writable by this user"),
            ));
        }
        let header = &view.region.header;
        if config.is_some_and(|config| config.scoped) {
            let table = &view.region.scopes;
            let mut bits = [0u64; 8];
            for name in &scopes {
                let Some(id) = (0..table.len()).find(|&id| table.name(id) == name) else {
                    let known: Vec<&str> = (0..table.len()).map(|id| table.name(id)).collect();
                    return Err(fail(
                        NO_SCOPE,
                        format!(
                            "process {pid} has no scope named \"{name}\" (its scopes: {})",
                            known.join(", ")
                        ),
                    ));
                };
                bits[id as usize / 64] |= 1 << (id % 64);
            }
            for (word, value) in header.trace_scopes.iter().zip(bits) {
                word.store(value, Ordering::Release);
            }
        }
        let word = config.map_or(0, |config| config.encode());
        header.control.store(word, Ordering::Release);
        Ok(status_of(word, &view.region.trace))
    });
    result.map_err(|error| unreadable(&error))?.1
}

/// The tracing state of process `pid`.
#[napi]
pub fn trace_status(pid: u32, dir: Option<String>) -> Result<TraceStatus> {
    let (_, status) = reader::read_pid_with(&dir_or_default(dir), pid, |view: &SegmentView| {
        status_of(
            view.region.header.control.load(Ordering::Relaxed),
            &view.region.trace,
        )
    })
    .map_err(|error| unreadable(&error))?;
    Ok(status)
}

/// One symbolizer for the process: modules and frames stay cached between reports.
static SYMBOLIZER: Mutex<Option<Symbolizer>> = Mutex::new(None);

fn symbolize_stack(process: Option<&Process>, frames: &[u64]) -> Vec<TraceFrame> {
    let mut guard = SYMBOLIZER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let symbolizer = guard.get_or_insert_with(Symbolizer::new);
    let mut out = Vec::new();
    for (index, &address) in frames.iter().enumerate() {
        // The innermost address is where malloc returns to; all are return addresses.
        let resolved = match process {
            Some(process) => symbolizer.symbolize(process, address, Lookup::ReturnAddress),
            None => Vec::new(),
        };
        if resolved.is_empty() {
            out.push(TraceFrame {
                index: index as u32,
                address: format!("{address:#x}"),
                function: None,
                file: None,
                line: None,
                module: None,
                inlined: false,
                text: format!("?? ({address:#x})"),
            });
        }
        for frame in resolved {
            out.push(TraceFrame {
                index: index as u32,
                address: format!("{address:#x}"),
                text: frame.to_string(),
                function: frame.function,
                file: frame.file,
                line: frame.line,
                module: Some(frame.module),
                inlined: frame.inlined,
            });
        }
    }
    out
}

/// Scope names by id, as the reading found them.
fn scope_names(reading: &Reading) -> HashMap<u32, &str> {
    reading
        .snapshot
        .scopes
        .iter()
        .map(|scope| (scope.id, scope.name.as_str()))
        .collect()
}

struct Group {
    frames: Vec<u64>,
    bytes: u64,
    blocks: u64,
    scopes: Vec<u32>,
    oldest_ns: u64,
    newest_ns: u64,
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
) -> Result<LeakReport> {
    let now = skull_mem_core::trace::now_ns();
    let result = reader::read_pid_with(&dir_or_default(dir), pid, |view: &SegmentView| {
        let tables = &view.region.trace;
        let blocks: Vec<LiveBlock> = tables.live_blocks();
        let stacks: HashMap<u32, Vec<u64>> = blocks
            .iter()
            .map(|block| (block.stack, tables.stack(block.stack)))
            .collect();
        (
            blocks,
            stacks,
            status_of(view.region.header.control.load(Ordering::Relaxed), tables),
        )
    });
    let (reading, (blocks, stacks, status)) = result.map_err(|error| unreadable(&error))?;
    let scope_names = scope_names(&reading);
    let wanted = scope.as_deref();
    let min_age_ns = (min_age.max(0.0) * 1e9) as u64;
    // Equal stacks may be interned twice (a race between threads): group by content.
    let mut groups: HashMap<Vec<u64>, Group> = HashMap::new();
    for block in &blocks {
        let age = now.saturating_sub(block.time_ns);
        if age < min_age_ns {
            continue;
        }
        if wanted.is_some_and(|name| scope_names.get(&block.scope) != Some(&name)) {
            continue;
        }
        let frames = stacks.get(&block.stack).cloned().unwrap_or_default();
        let group = groups.entry(frames.clone()).or_insert(Group {
            frames,
            bytes: 0,
            blocks: 0,
            scopes: Vec::new(),
            oldest_ns: age,
            newest_ns: age,
        });
        group.bytes += block.size;
        group.blocks += 1;
        if !group.scopes.contains(&block.scope) {
            group.scopes.push(block.scope);
        }
        group.oldest_ns = group.oldest_ns.max(age);
        group.newest_ns = group.newest_ns.min(age);
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.blocks.cmp(&a.blocks)));
    let total_groups = groups.len();
    groups.truncate(if top == 0 { usize::MAX } else { top as usize });
    let process = Process::attach(pid).ok();
    let listed: Vec<LeakGroup> = groups
        .iter()
        .map(|group| LeakGroup {
            bytes: group.bytes as f64,
            blocks: group.blocks as f64,
            scopes: group
                .scopes
                .iter()
                .map(|id| scope_names.get(id).copied().unwrap_or("?").to_owned())
                .collect(),
            oldest_seconds: group.oldest_ns as f64 / 1e9,
            newest_seconds: group.newest_ns as f64 / 1e9,
            frames: symbolize_stack(process.as_ref(), &group.frames),
        })
        .collect();
    Ok(LeakReport {
        pid,
        status,
        stacks: total_groups as u32,
        groups: listed,
    })
}

/// Every stack tracing has recorded in process `pid`, with its traced allocations and bytes
/// since tracing started (freed or not), largest first: where the allocations come from.
#[napi]
pub fn trace_report(pid: u32, dir: Option<String>, top: u32) -> Result<StackReport> {
    let result = reader::read_pid_with(&dir_or_default(dir), pid, |view: &SegmentView| {
        let tables = &view.region.trace;
        (
            tables.stacks(),
            status_of(view.region.header.control.load(Ordering::Relaxed), tables),
        )
    });
    let (_, (stacks, status)) = result.map_err(|error| unreadable(&error))?;
    // Equal stacks may be interned twice (a race between threads): merge by content.
    let mut merged: HashMap<Vec<u64>, (u64, u64)> = HashMap::new();
    for (frames, allocs, bytes) in stacks {
        let entry = merged.entry(frames).or_default();
        entry.0 += allocs;
        entry.1 += bytes;
    }
    let mut merged: Vec<(Vec<u64>, (u64, u64))> = merged.into_iter().collect();
    merged.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(b.1 .0.cmp(&a.1 .0)));
    let total = merged.len();
    merged.truncate(if top == 0 { usize::MAX } else { top as usize });
    let process = Process::attach(pid).ok();
    let listed: Vec<StackEntry> = merged
        .iter()
        .map(|(frames, (allocs, bytes))| StackEntry {
            allocations: *allocs as f64,
            bytes: *bytes as f64,
            frames: symbolize_stack(process.as_ref(), frames),
        })
        .collect();
    Ok(StackReport {
        pid,
        status,
        stacks: total as u32,
        by_stack: listed,
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
    let from = from.max(0.0) as u64;
    let result = reader::read_pid_with(&dir_or_default(dir), pid, |view: &SegmentView| {
        let tables = &view.region.trace;
        if follow_seconds > 0.0 {
            if !view.writable {
                return Err(fail(
                    NOT_WRITABLE,
                    format!("cannot follow the events of process {pid}: its segment is not writable by this user"),
                ));
            }
            let lease = (follow_seconds.min(86_400.0) * 1e9) as u64;
            tables.want_events_until(skull_mem_core::trace::now_ns() + lease);
        }
        let (events, lost) = tables.events_since(from);
        let stacks: HashMap<u32, Vec<u64>> = events
            .iter()
            .map(|event| (event.stack, tables.stack(event.stack)))
            .collect();
        // Without events (caught up, or all lost), continue from the end of the ring.
        let next = events
            .last()
            .map_or(tables.events_written.load(Ordering::Acquire), |last| {
                last.seq + 1
            });
        Ok((events, lost, stacks, next))
    });
    let (reading, found) = result.map_err(|error| unreadable(&error))?;
    let (events, lost, stacks, next) = found?;
    let scope_names = scope_names(&reading);
    let process = Process::attach(pid).ok();
    let mut symbolized: HashMap<u32, Vec<TraceFrame>> = HashMap::new();
    let listed: Vec<TraceEvent> = events
        .iter()
        .map(|event| {
            let top = symbolized.entry(event.stack).or_insert_with(|| {
                let stack = stacks.get(&event.stack).map_or(&[][..], |s| &s[..]);
                let mut all = symbolize_stack(process.as_ref(), stack);
                all.truncate(frames as usize);
                all
            });
            TraceEvent {
                seq: event.seq as f64,
                op: if event.kind == EVENT_FREE {
                    "free"
                } else {
                    "alloc"
                }
                .to_owned(),
                addr: format!("{:#x}", event.addr),
                size: event.size as f64,
                scope: scope_names
                    .get(&event.scope)
                    .copied()
                    .unwrap_or("?")
                    .to_owned(),
                thread: event.thread,
                time_ns: event.time_ns as f64,
                frames: top.clone(),
            }
        })
        .collect();
    Ok(TraceEvents {
        pid,
        next: next as f64,
        lost: lost as f64,
        events: listed,
    })
}
