//! The traced heap of a process as plain data for the exporters (pprof, the HTML page):
//! every recorded stack with what it allocated since tracing started and what of it is
//! live now, per scope, with sampled tracing's figures scaled to estimates.

use std::collections::HashMap;
use std::path::Path;

use skull_mem_core::trace::tables::LiveBlock;
use skull_mem_symbolize::{Frame, Process};

use crate::reader::{self, SegmentView};
use crate::trace::estimate::Sampling;
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
                .map(|block| (block.stack, tables.stack(block.stack).frames))
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
    for (stack, allocations, bytes) in recorded {
        let frames = stack.frames;
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

/// Every stack's figures by scope, in stack order. The live figures are split by the scope
/// of each live block; the allocation figures of a stack (not recorded by scope) go with the
/// scope that holds most of its live bytes, or with no scope when nothing of it is live.
pub fn by_stack_and_scope(trace: &HeapTrace) -> Vec<StackScope> {
    let sampling = Sampling::new(trace.status.sample_bytes.unwrap_or(0));
    let scope_index: HashMap<u32, usize> = trace
        .scopes
        .iter()
        .enumerate()
        .map(|(index, scope)| (scope.id, index))
        .collect();
    // Per stack, its scopes and their figures: a stack's blocks are in one scope or a few,
    // so a short list searched in order beats a map (measured: 100,000 stacks in a map took
    // most of a profile's time).
    let mut per_stack: Vec<Vec<(Option<usize>, Figures)>> = vec![Vec::new(); trace.stacks.len()];
    for block in &trace.live {
        let scale = sampling.blocks_per_sample(block.size as f64);
        let scope = scope_index.get(&block.scope).copied();
        let scopes = &mut per_stack[block.stack];
        let at = match scopes.iter().position(|(known, _)| *known == scope) {
            Some(at) => at,
            None => {
                scopes.push((scope, Figures::default()));
                scopes.len() - 1
            }
        };
        let figures = &mut scopes[at].1;
        figures.inuse_objects += scale;
        figures.inuse_space += block.size as f64 * scale;
    }
    let mut out = Vec::with_capacity(trace.stacks.len());
    for (stack, (traced, mut scopes)) in trace.stacks.iter().zip(per_stack).enumerate() {
        if traced.allocations != 0 {
            // The scope with the most live bytes (the first seen on a tie); none when empty.
            let main = scopes
                .iter()
                .enumerate()
                .fold(
                    None,
                    |best: Option<(usize, f64)>, (at, (_, figures))| match best {
                        Some((_, bytes)) if bytes >= figures.inuse_space => best,
                        _ => Some((at, figures.inuse_space)),
                    },
                )
                .map(|(at, _)| at);
            let at = main.unwrap_or_else(|| {
                scopes.push((None, Figures::default()));
                scopes.len() - 1
            });
            let average = traced.bytes as f64 / traced.allocations as f64;
            let scale = sampling.blocks_per_sample(average);
            let figures = &mut scopes[at].1;
            figures.alloc_objects += traced.allocations as f64 * scale;
            figures.alloc_space += traced.bytes as f64 * scale;
        }
        out.extend(scopes.into_iter().map(|(scope, figures)| StackScope {
            stack,
            scope,
            figures,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::status::{TraceCounts, TraceMemory};

    fn status(sample_bytes: u64) -> TraceStatus {
        TraceStatus {
            enabled: true,
            depth: Some(32),
            sample_bytes: Some(sample_bytes),
            scoped: false,
            counts: TraceCounts {
                traced_allocs: 0,
                traced_frees: 0,
                dropped_stacks: 0,
                dropped_blocks: 0,
            },
            live_blocks: 0,
            memory: TraceMemory {
                budget: 0,
                used: 0,
                committed: 0,
                stack_nodes: 0,
                stack_bytes: 0,
                live_bytes: 0,
                totals_bytes: 0,
            },
        }
    }

    fn stack(allocations: u64, bytes: u64) -> TracedStack {
        TracedStack {
            frames: vec![0x1000],
            allocations,
            bytes,
        }
    }

    fn block(stack: usize, size: u64, scope: u32) -> TracedBlock {
        TracedBlock { stack, size, scope }
    }

    /// Stack 0: 4 allocations of 100 bytes, live: 2 in scope 7 ("a"), 1 in scope 9 ("b").
    /// Stack 1: 5 allocations, nothing live. Stack 2: live in scope 42, not registered.
    fn trace(sample_bytes: u64) -> HeapTrace {
        HeapTrace {
            pid: 1,
            status: status(sample_bytes),
            scopes: vec![
                ScopeName {
                    id: 7,
                    name: "a".into(),
                    kind: "module".into(),
                },
                ScopeName {
                    id: 9,
                    name: "b".into(),
                    kind: "service".into(),
                },
            ],
            stacks: vec![stack(4, 400), stack(5, 50), stack(1, 30)],
            live: vec![
                block(0, 100, 9),
                block(0, 100, 7),
                block(0, 100, 7),
                block(2, 30, 42),
            ],
            process: None,
            time_nanos: 0,
        }
    }

    fn figures(alloc: (f64, f64), inuse: (f64, f64)) -> Figures {
        Figures {
            alloc_objects: alloc.0,
            alloc_space: alloc.1,
            inuse_objects: inuse.0,
            inuse_space: inuse.1,
        }
    }

    #[test]
    fn live_figures_split_by_scope_and_allocations_go_with_the_largest_live_scope() {
        let entries = by_stack_and_scope(&trace(0));
        let got: Vec<(usize, Option<usize>, Figures)> = entries
            .iter()
            .map(|entry| (entry.stack, entry.scope, entry.figures))
            .collect();
        assert_eq!(
            got,
            vec![
                // Scope "b" (index 1) was seen first, but "a" holds 200 of the 300 live bytes.
                (0, Some(1), figures((0.0, 0.0), (1.0, 100.0))),
                (0, Some(0), figures((4.0, 400.0), (2.0, 200.0))),
                // Nothing live: the scope of its allocations is not known.
                (1, None, figures((5.0, 50.0), (0.0, 0.0))),
                // Scope id 42 is not registered.
                (2, None, figures((1.0, 30.0), (1.0, 30.0))),
            ]
        );
    }

    #[test]
    fn sampled_figures_are_scaled_to_estimates() {
        let entries = by_stack_and_scope(&trace(100));
        // A live block of 100 bytes sampled with mean 100 stands for e / (e − 1) blocks.
        let e = std::f64::consts::E;
        let scale = e / (e - 1.0);
        let a = entries[1].figures;
        assert!((a.inuse_objects - 2.0 * scale).abs() < 1e-9);
        assert!((a.inuse_space - 200.0 * scale).abs() < 1e-9);
        // Allocations are scaled by their average size, 100 bytes: the same factor.
        assert!((a.alloc_objects - 4.0 * scale).abs() < 1e-9);
        assert!((a.alloc_space - 400.0 * scale).abs() < 1e-9);
    }

    #[test]
    fn every_allocation_traced_counts_once() {
        assert_eq!(Sampling::new(0).blocks_per_sample(100.0), 1.0);
    }

    #[test]
    fn a_sampled_allocation_stands_for_its_probability_inverse() {
        // size = mean: sampled with probability 1 − 1/e, so it stands for e / (e − 1).
        let e = std::f64::consts::E;
        assert!((Sampling::new(512).blocks_per_sample(512.0) - e / (e - 1.0)).abs() < 1e-12);
        // Far larger than the mean: sampled almost surely.
        assert!((Sampling::new(512).blocks_per_sample(1e9) - 1.0).abs() < 1e-12);
    }
}
