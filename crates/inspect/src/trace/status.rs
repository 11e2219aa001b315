//! The tracing state of a process and what its tables hold.

use std::path::Path;
use std::sync::atomic::Ordering;

use serde::Serialize;
use skull_mem_core::trace::control::TraceConfig;
use skull_mem_core::trace::tables::TraceTables;

use super::TraceError;
use crate::reader::{self, SegmentView};

/// Recorded allocations and frees, and what was dropped because a table was full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TraceCounts {
    /// Allocations recorded.
    pub traced_allocs: u64,
    /// Recorded allocations freed since.
    pub traced_frees: u64,
    /// Stacks not recorded: the stack table was full.
    pub dropped_stacks: u64,
    /// Blocks not recorded: the live-block table was full.
    pub dropped_blocks: u64,
}

/// The memory the trace tables take, of their budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TraceMemory {
    /// `SKULL_MEM_TRACE_MEMORY` (`skull-trace on --memory`): bytes the tables may take.
    pub budget: u64,
    /// Bytes the tables have taken.
    pub used: u64,
    /// Bytes backed (the tables' header included).
    pub committed: u64,
    /// Nodes of the stack trie (one per frame not shared with an earlier stack).
    pub stack_nodes: u64,
    /// Bytes the stack trie takes (nodes and their index).
    pub stack_bytes: u64,
    /// Bytes the live-block table takes.
    pub live_bytes: u64,
    /// Bytes the threads' running totals take (one chunk once a thread has counted).
    pub totals_bytes: u64,
}

/// Tracing state and counts of a process (field names stable in `--json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TraceStatus {
    /// Whether tracing is on.
    pub enabled: bool,
    /// Frames per stack, when on.
    pub depth: Option<usize>,
    /// The Poisson sampling mean in bytes (0: every allocation), when on.
    pub sample_bytes: Option<u64>,
    /// Whether only chosen scopes are traced.
    pub scoped: bool,
    /// What was recorded and dropped.
    pub counts: TraceCounts,
    /// Traced blocks live now.
    pub live_blocks: usize,
    /// The tables' memory.
    pub memory: TraceMemory,
}

impl TraceStatus {
    /// The status a control word and the tables say.
    pub fn of(word: u64, tables: &TraceTables) -> TraceStatus {
        TraceStatus::with_live(word, tables, tables.live_blocks().len())
    }

    /// The status a control word and the tables say, `live` traced blocks being live: for a
    /// caller that has just walked the live table, so that it is not walked a second time.
    pub fn with_live(word: u64, tables: &TraceTables, live: usize) -> TraceStatus {
        let config = TraceConfig::decode(word);
        let usage = tables.usage_with_live(live as u64);
        let traced_allocs = tables.traced_allocs();
        TraceStatus {
            enabled: config.is_some(),
            depth: config.map(|c| c.depth),
            sample_bytes: config.map(|c| c.sample_bytes),
            scoped: config.is_some_and(|c| c.scoped),
            counts: TraceCounts {
                traced_allocs,
                // Every recorded block not live any more was freed.
                traced_frees: traced_allocs.saturating_sub(live as u64),
                dropped_stacks: usage.stacks.dropped,
                dropped_blocks: usage.live.dropped,
            },
            live_blocks: live,
            memory: TraceMemory {
                budget: usage.budget,
                used: usage.used,
                committed: usage.committed,
                stack_nodes: usage.stacks.entries,
                stack_bytes: usage.stacks.bytes,
                live_bytes: usage.live.bytes,
                totals_bytes: usage.totals_bytes,
            },
        }
    }

    /// The status of a mapped segment.
    pub fn of_view(view: &SegmentView) -> TraceStatus {
        TraceStatus::of(
            view.region.header.control.load(Ordering::Relaxed),
            view.trace,
        )
    }
}

/// The tracing state of process `pid`, through its segment in `dir`.
pub fn status(dir: &Path, pid: u32) -> Result<TraceStatus, TraceError> {
    let (_, status) = reader::read_pid_with(dir, pid, TraceStatus::of_view)?;
    Ok(status)
}
