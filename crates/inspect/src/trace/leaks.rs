//! The leak engine: traced blocks still live, grouped by stack, largest first (the leak
//! candidates); and every recorded stack with its allocations since tracing started.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use skull_mem_core::trace::tables::LiveBlock;
use skull_mem_symbolize::{Process, Symbolizer};

use super::frames::{symbolize_stack, Frame};
use super::status::TraceStatus;
use super::TraceError;
use crate::reader::{self, Reading, SegmentView};

/// Which blocks `leaks` lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeakOptions {
    /// Only blocks at least this old (seconds).
    pub min_age: f64,
    /// Only blocks of this scope.
    pub scope: Option<String>,
    /// At most this many stacks; 0: all.
    pub top: usize,
}

/// Live traced blocks with one stack.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeakGroup {
    /// Bytes of the blocks.
    pub bytes: u64,
    /// How many blocks.
    pub blocks: u64,
    /// The scopes they are charged to, in the order first seen.
    pub scopes: Vec<String>,
    /// Age of the oldest block, seconds.
    pub oldest_seconds: f64,
    /// Age of the newest block, seconds.
    pub newest_seconds: f64,
    /// The stack that allocated them.
    pub frames: Vec<Frame>,
}

/// The leak candidates of a process, largest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeakReport {
    /// The process.
    pub pid: u32,
    /// Its tracing state.
    pub status: TraceStatus,
    /// Distinct stacks with live blocks (before `top`).
    pub stacks: usize,
    /// The groups listed.
    pub groups: Vec<LeakGroup>,
}

/// One stack with what it allocated since tracing started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackAllocations {
    /// Traced allocations.
    pub allocations: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The stack.
    pub frames: Vec<Frame>,
}

/// Every stack tracing recorded in a process, largest by bytes first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackReport {
    /// The process.
    pub pid: u32,
    /// Its tracing state.
    pub status: TraceStatus,
    /// Distinct stacks (before `top`).
    pub stacks: usize,
    /// The stacks listed.
    pub by_stack: Vec<StackAllocations>,
}

/// Scope names by id, as the reading found them.
pub(crate) fn scope_names(reading: &Reading) -> HashMap<u32, &str> {
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

fn limit(top: usize) -> usize {
    if top == 0 {
        usize::MAX
    } else {
        top
    }
}

/// The leak candidates of process `pid`: its traced blocks still live, grouped by stack.
pub fn leaks(
    dir: &Path,
    pid: u32,
    options: &LeakOptions,
    symbolizer: &mut Symbolizer,
) -> Result<LeakReport, TraceError> {
    let now = skull_mem_core::trace::now_ns();
    let (reading, (blocks, stacks, status)) =
        reader::read_pid_with(dir, pid, |view: &SegmentView| {
            let tables = &view.region.trace;
            let blocks: Vec<LiveBlock> = tables.live_blocks();
            let stacks: HashMap<u32, Vec<u64>> = blocks
                .iter()
                .map(|block| (block.stack, tables.stack(block.stack).frames))
                .collect();
            (blocks, stacks, TraceStatus::of_view(view))
        })?;
    let names = scope_names(&reading);
    let min_age_ns = (options.min_age.max(0.0) * 1e9) as u64;
    // Equal stacks may be interned twice (a race between threads): group by content.
    let mut groups: HashMap<Vec<u64>, Group> = HashMap::new();
    for block in &blocks {
        let age = now.saturating_sub(block.time_ns);
        if age < min_age_ns {
            continue;
        }
        if let Some(wanted) = options.scope.as_deref() {
            if names.get(&block.scope) != Some(&wanted) {
                continue;
            }
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
    let total = groups.len();
    groups.truncate(limit(options.top));
    let process = Process::attach(pid).ok();
    let groups = groups
        .iter()
        .map(|group| LeakGroup {
            bytes: group.bytes,
            blocks: group.blocks,
            scopes: group
                .scopes
                .iter()
                .map(|id| names.get(id).copied().unwrap_or("?").to_owned())
                .collect(),
            oldest_seconds: group.oldest_ns as f64 / 1e9,
            newest_seconds: group.newest_ns as f64 / 1e9,
            frames: symbolize_stack(symbolizer, process.as_ref(), &group.frames),
        })
        .collect();
    Ok(LeakReport {
        pid,
        status,
        stacks: total,
        groups,
    })
}

/// Every stack tracing recorded in process `pid`, with its traced allocations and bytes
/// since tracing started (freed or not), largest first: where the allocations come from.
pub fn stacks(
    dir: &Path,
    pid: u32,
    top: usize,
    symbolizer: &mut Symbolizer,
) -> Result<StackReport, TraceError> {
    let (_, (recorded, status)) = reader::read_pid_with(dir, pid, |view: &SegmentView| {
        (view.region.trace.stacks(), TraceStatus::of_view(view))
    })?;
    // Equal stacks may be interned twice (a race between threads): merge by content.
    let mut merged: HashMap<Vec<u64>, (u64, u64)> = HashMap::new();
    for (stack, allocations, bytes) in recorded {
        let frames = stack.frames;
        let entry = merged.entry(frames).or_default();
        entry.0 += allocations;
        entry.1 += bytes;
    }
    let mut merged: Vec<(Vec<u64>, (u64, u64))> = merged.into_iter().collect();
    merged.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(b.1 .0.cmp(&a.1 .0)));
    let total = merged.len();
    merged.truncate(limit(top));
    let process = Process::attach(pid).ok();
    let by_stack = merged
        .iter()
        .map(|(frames, (allocations, bytes))| StackAllocations {
            allocations: *allocations,
            bytes: *bytes,
            frames: symbolize_stack(symbolizer, process.as_ref(), frames),
        })
        .collect();
    Ok(StackReport {
        pid,
        status,
        stacks: total,
        by_stack,
    })
}
