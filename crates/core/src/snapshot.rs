//! Reading the counters: per-scope sums over all threads, and the derived figures.
//!
//! A snapshot sums single-writer counters while threads keep running, so it is exact for
//! a quiescent process and otherwise may lag by the calls in flight (never by more).

use crate::counters::{Counter, COUNTER_COUNT};
use crate::region::{self, Blocks, Region, MAX_SCOPES};

/// One scope's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeStats {
    /// Scope id.
    pub id: u32,
    /// Registered name.
    pub name: String,
    /// Registered kind (`core`, `init`, `tool`, `module`, `service`, `route`, ...).
    pub kind: String,
    /// Monotonic counters, indexed by `Counter`.
    pub counters: [u64; COUNTER_COUNT],
    /// Highest used bytes any snapshot has seen.
    pub peak_used_bytes: u64,
}

impl ScopeStats {
    /// One counter.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter as usize]
    }

    /// Bytes allocated and not yet freed.
    pub fn used_bytes(&self) -> u64 {
        used_bytes(&self.counters)
    }

    /// Blocks allocated and not yet freed.
    pub fn live_blocks(&self) -> u64 {
        live_blocks(&self.counters)
    }

    /// Header and alignment bytes of live blocks.
    pub fn overhead_bytes(&self) -> u64 {
        self.get(Counter::OverheadBytes)
            .saturating_sub(self.get(Counter::OverheadFreedBytes))
    }
}

/// Bytes allocated and not yet freed, from a counter array.
pub fn used_bytes(counters: &[u64; COUNTER_COUNT]) -> u64 {
    counters[Counter::AllocBytes as usize].saturating_sub(counters[Counter::FreedBytes as usize])
}

/// Blocks allocated and not yet freed, from a counter array.
pub fn live_blocks(counters: &[u64; COUNTER_COUNT]) -> u64 {
    counters[Counter::AllocBlocks as usize].saturating_sub(counters[Counter::FreedBlocks as usize])
}

/// A whole process's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The measured process.
    pub pid: u32,
    /// Threads holding a counter block now, where known (not through the C ABI).
    pub threads: Option<usize>,
    /// Bytes of address space the counters map, where known (not through the C ABI).
    pub region_bytes: Option<usize>,
    /// Every registered scope, by id.
    pub scopes: Vec<ScopeStats>,
    /// Whether tracing is on, where known (not through the C ABI).
    pub trace_enabled: Option<bool>,
}

impl Snapshot {
    /// Sum of every scope's counters.
    pub fn totals(&self) -> [u64; COUNTER_COUNT] {
        let mut sum = [0u64; COUNTER_COUNT];
        for scope in &self.scopes {
            for (total, value) in sum.iter_mut().zip(scope.counters) {
                *total = total.wrapping_add(value);
            }
        }
        sum
    }
}

/// Sums scope `id` of this process's own region and raises its peak to the used bytes seen
/// now. Never allocates.
pub fn scope_counters(region: &Region, id: u32) -> ([u64; COUNTER_COUNT], u64) {
    let counters = region.sum_scope(&Blocks::own(), id as usize);
    let used = used_bytes(&counters);
    let previous = region
        .scopes
        .entry(id)
        .peak_used
        .fetch_max(used, core::sync::atomic::Ordering::Relaxed);
    (counters, previous.max(used))
}

/// Scope `id`'s counters and peak as read from outside, leaving the segment untouched: the
/// peak is the highest the process's own reports stored, or what is used now if more.
/// Never allocates.
fn scope_figures_read_only(
    region: &Region,
    blocks: &Blocks,
    id: u32,
) -> ([u64; COUNTER_COUNT], u64) {
    let counters = region.sum_scope(blocks, id as usize);
    let stored = region
        .scopes
        .entry(id)
        .peak_used
        .load(core::sync::atomic::Ordering::Relaxed);
    (counters, stored.max(used_bytes(&counters)))
}

fn trace_enabled(region: &Region) -> bool {
    crate::trace::control::TraceConfig::decode(
        region
            .header
            .control
            .load(core::sync::atomic::Ordering::Relaxed),
    )
    .is_some()
}

/// Every scope of another process's `region` and thread `blocks`, as process `pid`'s
/// snapshot, the region left untouched; `mapped_bytes` is the address space its counters
/// take.
pub fn of_region(region: &Region, blocks: &Blocks, pid: u32, mapped_bytes: usize) -> Snapshot {
    let scopes = (0..region.scopes.len())
        .map(|id| {
            let (counters, peak_used_bytes) = scope_figures_read_only(region, blocks, id);
            ScopeStats {
                id,
                name: region.scopes.name(id).to_owned(),
                kind: region.scopes.kind(id).to_owned(),
                counters,
                peak_used_bytes,
            }
        })
        .collect();
    Snapshot {
        pid,
        threads: Some(region.threads_attached()),
        region_bytes: Some(mapped_bytes),
        scopes,
        trace_enabled: Some(trace_enabled(region)),
    }
}

/// The counters of every scope at one instant, in storage that is no heap block: what the
/// in-process report reads before it allocates anything, so that its own buffers are not
/// in the figures it prints (they are freed when it returns).
pub struct Counts {
    scopes: u32,
    threads: usize,
    counters: [[u64; COUNTER_COUNT]; MAX_SCOPES],
    peaks: [u64; MAX_SCOPES],
}

impl Counts {
    /// No scope yet; fill with `read`.
    pub const EMPTY: Counts = Counts {
        scopes: 0,
        threads: 0,
        counters: [[0; COUNTER_COUNT]; MAX_SCOPES],
        peaks: [0; MAX_SCOPES],
    };

    /// Reads every scope of `region` now, raising the peaks. Never allocates.
    pub fn read(&mut self, region: &Region) {
        self.scopes = region.scopes.len();
        self.threads = region.threads_attached();
        for id in 0..self.scopes {
            let (counters, peak) = scope_counters(region, id);
            self.counters[id as usize] = counters;
            self.peaks[id as usize] = peak;
        }
    }

    /// The snapshot of what `read` saw, as process `pid`'s (names are read from `region`
    /// now: a registered scope's name and kind never change).
    pub fn snapshot(&self, region: &Region, pid: u32) -> Snapshot {
        Snapshot {
            pid,
            threads: Some(self.threads),
            region_bytes: Some(Region::mapped_bytes()),
            scopes: (0..self.scopes)
                .map(|id| ScopeStats {
                    id,
                    name: region.scopes.name(id).to_owned(),
                    kind: region.scopes.kind(id).to_owned(),
                    counters: self.counters[id as usize],
                    peak_used_bytes: self.peaks[id as usize],
                })
                .collect(),
            trace_enabled: Some(trace_enabled(region)),
        }
    }
}

/// The calling process's figures, or `None` when counting is not running; raises the
/// peaks it stores to what it sees.
pub fn take() -> Option<Snapshot> {
    let region = region::get()?;
    let scopes = (0..region.scopes.len())
        .map(|id| {
            let (counters, peak_used_bytes) = scope_counters(region, id);
            ScopeStats {
                id,
                name: region.scopes.name(id).to_owned(),
                kind: region.scopes.kind(id).to_owned(),
                counters,
                peak_used_bytes,
            }
        })
        .collect();
    Some(Snapshot {
        pid: std::process::id(),
        threads: Some(region.threads_attached()),
        region_bytes: Some(Region::mapped_bytes()),
        scopes,
        trace_enabled: Some(trace_enabled(region)),
    })
}
