//! The traced heap of a process as plain data for the exporters (pprof, the HTML page):
//! every recorded stack with what it allocated since tracing started and what of it is
//! live now, per scope, with sampled tracing's figures scaled to estimates.

use std::collections::HashMap;
use std::path::Path;

use skull_mem_core::trace::tables::LiveBlock;
use skull_mem_symbolize::{Frame, Process};

use crate::reader::{self, SegmentView};
use crate::trace::status::TraceStatus;
use crate::trace::TraceError;

/// A registered scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeName {
    /// Its id (what traced blocks record).
    pub id: u32,
    /// Registered name.
    pub name: String,
    /// Registered kind.
    pub kind: String,
}

/// One recorded stack (equal stacks interned twice merged) and its traced allocations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracedStack {
    /// Return addresses, innermost first.
    pub frames: Vec<u64>,
    /// Traced allocations since tracing started.
    pub allocations: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// One live traced block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracedBlock {
    /// Index of its stack in [`HeapTrace::stacks`].
    pub stack: usize,
    /// Requested bytes.
    pub size: u64,
    /// The scope it is charged to.
    pub scope: u32,
}

/// What tracing recorded in a process, read at one moment.
pub struct HeapTrace {
    /// The process.
    pub pid: u32,
    /// Its tracing state (`sample_bytes` is the sampling mean, 0 or `None`: every allocation).
    pub status: TraceStatus,
    /// Its scopes.
    pub scopes: Vec<ScopeName>,
    /// Every recorded stack.
    pub stacks: Vec<TracedStack>,
    /// The live traced blocks.
    pub live: Vec<TracedBlock>,
    /// The process's mappings, read right after the tables, to symbolize the stacks
    /// (`None`: it could not be read, so addresses only).
    pub process: Option<Process>,
    /// When it was read, ns since the Unix epoch.
    pub time_nanos: i64,
}

/// Reads what tracing recorded in process `pid`, through its segment in `dir`.
pub fn read_heap_trace(dir: &Path, pid: u32) -> Result<HeapTrace, TraceError> {
    let (reading, (recorded, blocks, live_stacks, status)) =
        reader::read_pid_with(dir, pid, |view: &SegmentView| {
            let tables = view.trace;
            let blocks: Vec<LiveBlock> = tables.live_blocks();
            let live_stacks: HashMap<u32, Vec<u64>> = blocks
                .iter()
                .map(|block| (block.stack, tables.stack(block.stack)))
                .collect();
            (
                tables.stacks(),
                blocks,
                live_stacks,
                TraceStatus::of_view(view),
            )
        })?;
    let process = Process::attach(pid).ok();
    let time_nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as i64);
    let mut stacks: Vec<TracedStack> = Vec::with_capacity(recorded.len());
    // Equal stacks may be interned twice (a race between threads): merge by content.
    let mut by_frames: HashMap<Vec<u64>, usize> = HashMap::with_capacity(recorded.len());
    for (frames, allocations, bytes) in recorded {
        let index = *by_frames.entry(frames.clone()).or_insert_with(|| {
            stacks.push(TracedStack {
                frames,
                allocations: 0,
                bytes: 0,
            });
            stacks.len() - 1
        });
        stacks[index].allocations += allocations;
        stacks[index].bytes += bytes;
    }
    let live = blocks
        .iter()
        .map(|block| {
            let frames = live_stacks.get(&block.stack).cloned().unwrap_or_default();
            // A stack interned after the table walk above is new to `stacks`.
            let stack = *by_frames.entry(frames.clone()).or_insert_with(|| {
                stacks.push(TracedStack {
                    frames,
                    allocations: 0,
                    bytes: 0,
                });
                stacks.len() - 1
            });
            TracedBlock {
                stack,
                size: block.size,
                scope: block.scope,
            }
        })
        .collect();
    let scopes = reading
        .snapshot
        .scopes
        .iter()
        .map(|scope| ScopeName {
            id: scope.id,
            name: scope.name.clone(),
            kind: scope.kind.clone(),
        })
        .collect();
    Ok(HeapTrace {
        pid,
        status,
        scopes,
        stacks,
        live,
        process,
        time_nanos,
    })
}

/// A frame's name in a profile or flame graph: its function, or `?? (module+offset)`.
pub fn function_name(frame: &Frame) -> String {
    match &frame.function {
        Some(name) => name.clone(),
        None => format!("?? ({}+{:#x})", frame.module, frame.module_offset),
    }
}

/// How many allocations one sampled allocation of `size` bytes stands for when tracing
/// samples one allocation every `mean` bytes on average (Poisson sampling): it was sampled
/// with probability `1 − e^(−size/mean)`, so `1 / (1 − e^(−size/mean))` (as Go's
/// `scaleHeapSample`). 1 when every allocation is traced (`mean` 0).
pub fn sample_scale(size: f64, mean: u64) -> f64 {
    if mean == 0 || size <= 0.0 {
        return 1.0;
    }
    1.0 / (1.0 - (-size / mean as f64).exp())
}

/// The figures of one stack in one scope: allocated since tracing started and live now,
/// estimated when tracing samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    /// Allocations.
    pub alloc_objects: f64,
    /// Their bytes.
    pub alloc_space: f64,
    /// Live blocks.
    pub inuse_objects: f64,
    /// Their bytes.
    pub inuse_space: f64,
}

/// One stack's figures in one scope.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StackScope {
    /// Index in [`HeapTrace::stacks`].
    pub stack: usize,
    /// Index in [`HeapTrace::scopes`]; `None` when the scope is not known: the stack has no
    /// live block (the stack table does not record scopes, only live blocks do) or its scope
    /// id is not registered.
    pub scope: Option<usize>,
    /// The figures.
    pub figures: Figures,
}

/// Every stack's figures by scope. The live figures are split by the scope of each live
/// block; the allocation figures of a stack (not recorded by scope) go with the scope that
/// holds most of its live bytes, or with no scope when nothing of it is live.
pub fn by_stack_and_scope(trace: &HeapTrace) -> Vec<StackScope> {
    let mean = trace.status.sample_bytes.unwrap_or(0);
    let scope_index: HashMap<u32, usize> = trace
        .scopes
        .iter()
        .enumerate()
        .map(|(index, scope)| (scope.id, index))
        .collect();
    let mut live: HashMap<(usize, Option<usize>), Figures> = HashMap::new();
    for block in &trace.live {
        let scale = sample_scale(block.size as f64, mean);
        let key = (block.stack, scope_index.get(&block.scope).copied());
        let figures = live.entry(key).or_default();
        figures.inuse_objects += scale;
        figures.inuse_space += block.size as f64 * scale;
    }
    // Per stack, its scope with the most live bytes (lowest index on a tie, so the result
    // does not depend on hash order).
    let mut main_scope: HashMap<usize, (Option<usize>, f64)> = HashMap::new();
    for (&(stack, scope), figures) in &live {
        let best = main_scope
            .entry(stack)
            .or_insert((scope, figures.inuse_space));
        if figures.inuse_space > best.1 || (figures.inuse_space == best.1 && scope < best.0) {
            *best = (scope, figures.inuse_space);
        }
    }
    for (index, stack) in trace.stacks.iter().enumerate() {
        if stack.allocations == 0 {
            continue;
        }
        let scope = main_scope.get(&index).and_then(|best| best.0);
        let average = stack.bytes as f64 / stack.allocations as f64;
        let scale = sample_scale(average, mean);
        let figures = live.entry((index, scope)).or_default();
        figures.alloc_objects += stack.allocations as f64 * scale;
        figures.alloc_space += stack.bytes as f64 * scale;
    }
    let mut out: Vec<StackScope> = live
        .into_iter()
        .map(|((stack, scope), figures)| StackScope {
            stack,
            scope,
            figures,
        })
        .collect();
    out.sort_by_key(|entry| (entry.stack, entry.scope));
    out
}

#[cfg(test)]
mod tests {
    use super::sample_scale;

    #[test]
    fn every_allocation_traced_counts_once() {
        assert_eq!(sample_scale(100.0, 0), 1.0);
    }

    #[test]
    fn a_sampled_allocation_stands_for_its_probability_inverse() {
        // size = mean: sampled with probability 1 − 1/e, so it stands for e / (e − 1).
        let e = std::f64::consts::E;
        assert!((sample_scale(512.0, 512) - e / (e - 1.0)).abs() < 1e-12);
        // Far larger than the mean: sampled almost surely.
        assert!((sample_scale(1e9, 512) - 1.0).abs() < 1e-12);
    }
}
