//! The leak engine: traced blocks still live, grouped by call site (or stack, or function),
//! largest first (the leak candidates); and every recorded stack with its allocations since
//! tracing started. Sampled figures are scaled to what the samples stand for (`estimate`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;

use rustc_hash::FxHashMap;

use serde::Serialize;
use skull_mem_core::trace::control::MAX_DEPTH;
use skull_mem_core::trace::tables::LiveBlock;
use skull_mem_symbolize::{Process, Symbolizer};

use super::estimate::{Estimate, Sampling, Tally};
use super::frames::{Frame, StackSymbols};
use super::grouping::{GroupBy, Sites};
use super::jit_note::JitNote;
use super::stack_set::StackSet;
use super::status::TraceStatus;
use super::untraced::{untraced, Untraced};
use super::TraceError;
use crate::reader::{self, Reading, SegmentView};

/// Which blocks `leaks` lists, and how it groups them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeakOptions {
    /// Only blocks at least this old (seconds).
    pub min_age: f64,
    /// Only blocks of this scope.
    pub scope: Option<String>,
    /// At most this many groups; 0: all.
    pub top: usize,
    /// What makes blocks one group (default: their symbolized call sites).
    pub group_by: GroupBy,
    /// Whether to say on stderr how symbolizing goes, when it is a terminal and it takes over
    /// a second (`skull-trace`'s; a library call never prints).
    pub progress: bool,
}

/// Live traced blocks allocated from one call site (or stack, or function).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeakGroup {
    /// Bytes of the blocks (estimated when sampled: see `estimate`).
    pub bytes: u64,
    /// How many blocks (estimated when sampled).
    pub blocks: u64,
    /// Whether the figures are estimates, and from how many samples.
    #[serde(flatten)]
    pub estimate: Estimate,
    /// Recorded stacks in the group (more than 1 when addresses differ but sites do not).
    pub stacks: usize,
    /// Whether the stack was cut at the recording depth (outer callers are missing).
    pub truncated: bool,
    /// The scopes they are charged to, in the order first seen.
    pub scopes: Vec<String>,
    /// Age of the oldest block, seconds.
    pub oldest_seconds: f64,
    /// Age of the newest block, seconds.
    pub newest_seconds: f64,
    /// The stack that allocated them (of the group's largest recorded stack).
    pub frames: Vec<Frame>,
}

/// The leak candidates of a process, largest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeakReport {
    /// The process.
    pub pid: u32,
    /// Its tracing state.
    pub status: TraceStatus,
    /// How the blocks were grouped: `stack`, `line` or `function`.
    pub group_by: String,
    /// Whether figures are estimates from a sample (tracing samples by bytes).
    pub estimated: bool,
    /// Groups with live blocks (before `top`).
    pub stacks: usize,
    /// The groups listed.
    pub groups: Vec<LeakGroup>,
    /// Live blocks the scopes count that no table holds (of the scope asked for, if any).
    pub untraced: Untraced,
    /// What the listed frames need said once about their JIT code, if anything (absent in
    /// JSON when nothing; last, where the Node binding puts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jit_note: Option<JitNote>,
}

/// One stack with what it allocated since tracing started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StackAllocations {
    /// Traced allocations (estimated when sampled).
    pub allocations: u64,
    /// Their bytes (estimated when sampled).
    pub bytes: u64,
    /// Whether the figures are estimates, and from how many samples.
    #[serde(flatten)]
    pub estimate: Estimate,
    /// Whether the stack was cut at the recording depth.
    pub truncated: bool,
    /// The stack.
    pub frames: Vec<Frame>,
}

/// Every stack tracing recorded in a process, largest by bytes first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StackReport {
    /// The process.
    pub pid: u32,
    /// Its tracing state.
    pub status: TraceStatus,
    /// Whether figures are estimates from a sample.
    pub estimated: bool,
    /// Distinct stacks (before `top`).
    pub stacks: usize,
    /// The stacks listed.
    pub by_stack: Vec<StackAllocations>,
    /// Live blocks the scopes count that no table holds.
    pub untraced: Untraced,
    /// What the listed frames need said once about their JIT code, if anything (absent in
    /// JSON when nothing; last, where the Node binding puts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jit_note: Option<JitNote>,
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

/// How traced blocks were chosen: by the sampling mean tracing runs with now. Off, it is not
/// known any more, and the blocks count as they are.
fn sampling(status: &TraceStatus) -> Sampling {
    Sampling::new(status.sample_bytes.unwrap_or(0))
}

/// Whether a recorded stack of `len` frames was cut at the recording depth: it is as deep
/// as tracing records (the depth now, or the deepest there is when tracing is off).
fn truncated(len: usize, status: &TraceStatus) -> bool {
    len >= status.depth.unwrap_or(MAX_DEPTH)
}

/// Live blocks of one recorded stack, or of one group.
struct Group {
    tally: Tally,
    stacks: usize,
    truncated: bool,
    scopes: Vec<u32>,
    oldest_ns: u64,
    newest_ns: u64,
}

impl Group {
    fn new(age: u64) -> Group {
        Group {
            tally: Tally::default(),
            stacks: 1,
            truncated: false,
            scopes: Vec::new(),
            oldest_ns: age,
            newest_ns: age,
        }
    }

    /// Adds `other`'s blocks.
    fn absorb(&mut self, other: Group) {
        self.tally.merge(&other.tally);
        self.stacks += other.stacks;
        self.truncated |= other.truncated;
        for scope in other.scopes {
            if !self.scopes.contains(&scope) {
                self.scopes.push(scope);
            }
        }
        self.oldest_ns = self.oldest_ns.max(other.oldest_ns);
        self.newest_ns = self.newest_ns.min(other.newest_ns);
    }
}

fn limit(top: usize) -> usize {
    if top == 0 {
        usize::MAX
    } else {
        top
    }
}

/// Largest estimated bytes first, then most blocks.
fn by_size(a: &Tally, b: &Tally) -> std::cmp::Ordering {
    b.bytes
        .total_cmp(&a.bytes)
        .then(b.blocks.total_cmp(&a.blocks))
}

/// The leak candidates of process `pid`: its traced blocks still live, grouped as
/// `options.group_by` says.
pub fn leaks(
    dir: &Path,
    pid: u32,
    options: &LeakOptions,
    symbolizer: &mut Symbolizer,
) -> Result<LeakReport, TraceError> {
    let now = skull_mem_core::trace::now_ns();
    let (reading, (blocks, set, index_of, status, unloaded)) =
        reader::read_pid_with(dir, pid, |view: &SegmentView| {
            let tables = view.trace;
            let blocks: Vec<LiveBlock> = tables.live_blocks();
            // Each recorded stack is read from the trie once, however many blocks it has.
            let mut index_of: FxHashMap<u32, usize> =
                FxHashMap::with_capacity_and_hasher(blocks.len(), Default::default());
            let mut ids = Vec::new();
            for block in &blocks {
                index_of.entry(block.stack).or_insert_with(|| {
                    ids.push(block.stack);
                    ids.len() - 1
                });
            }
            let set = StackSet::read(tables, &ids, options.progress);
            let unloaded = view.region.unloaded.modules();
            let word = view.region.header.control.load(Ordering::Relaxed);
            let status = TraceStatus::with_live(word, tables, blocks.len());
            (blocks, set, index_of, status, unloaded)
        })?;
    let names = scope_names(&reading);
    let sampling = sampling(&status);
    let min_age_ns = (options.min_age.max(0.0) * 1e9) as u64;
    // Blocks by recorded stack first; stacks are then grouped by what they show.
    let mut by_stack: Vec<Option<Group>> = (0..set.len()).map(|_| None).collect();
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
        let group = by_stack[index_of[&block.stack]].get_or_insert_with(|| Group::new(age));
        group.tally.add(sampling, block.size, 1);
        if !group.scopes.contains(&block.scope) {
            group.scopes.push(block.scope);
        }
        group.oldest_ns = group.oldest_ns.max(age);
        group.newest_ns = group.newest_ns.min(age);
    }
    let process = Process::attach(pid).ok();
    let mut symbols = StackSymbols::new(symbolizer, process.as_ref(), &unloaded);
    // The addresses of the stacks with blocks listed, each symbolized once.
    let mut wanted = vec![false; set.distinct()];
    for (index, _) in by_stack.iter().enumerate().filter(|(_, g)| g.is_some()) {
        for &id in set.ids(index) {
            wanted[id as usize] = true;
        }
    }
    let wanted: Vec<u64> = (0..set.distinct() as u32)
        .filter(|&id| wanted[id as usize])
        .map(|id| set.address(id))
        .collect();
    symbols.prepare(&wanted, options.progress);
    // Each group shows the stack of its largest member; frames are built for those listed.
    // Equal stacks interned twice (a race between threads) have equal keys: one group.
    let mut groups: FxHashMap<Vec<u64>, (Group, usize)> =
        FxHashMap::with_capacity_and_hasher(set.len(), Default::default());
    {
        let no_sites = Sites::default();
        let sites: Vec<&Sites> = (0..set.distinct() as u32)
            .map(|id| symbols.sites(set.address(id)).unwrap_or(&no_sites))
            .collect();
        let mut key = Vec::new();
        for (index, group) in by_stack.into_iter().enumerate() {
            let Some(mut group) = group else { continue };
            let ids = set.ids(index);
            group.truncated = truncated(ids.len(), &status);
            key.clear();
            for &id in ids {
                options
                    .group_by
                    .extend_key(&mut key, set.address(id), sites[id as usize]);
            }
            match groups.get_mut(&key[..]) {
                Some((merged, shown)) => {
                    if group.tally.bytes > merged.tally.bytes {
                        *shown = index;
                    }
                    merged.absorb(group);
                }
                None => {
                    groups.insert(key.clone(), (group, index));
                }
            }
        }
    }
    let mut groups: Vec<(Group, usize)> = groups.into_values().collect();
    groups.sort_by(|a, b| by_size(&a.0.tally, &b.0.tally));
    let total = groups.len();
    groups.truncate(limit(options.top));
    let groups: Vec<LeakGroup> = groups
        .into_iter()
        .map(|(group, shown)| LeakGroup {
            bytes: group.tally.bytes.round() as u64,
            blocks: group.tally.blocks.round() as u64,
            estimate: group.tally.estimate(sampling),
            stacks: group.stacks,
            truncated: group.truncated,
            scopes: group
                .scopes
                .iter()
                .map(|id| names.get(id).copied().unwrap_or("?").to_owned())
                .collect(),
            oldest_seconds: group.oldest_ns as f64 / 1e9,
            newest_seconds: group.newest_ns as f64 / 1e9,
            frames: symbols.stack(&set.addresses(shown)),
        })
        .collect();
    Ok(LeakReport {
        untraced: untraced(&reading, &blocks, &status, options.scope.as_deref()),
        pid,
        status,
        group_by: options.group_by.name().to_owned(),
        estimated: sampling.sampled(),
        stacks: total,
        jit_note: JitNote::of(groups.iter().flat_map(|g| &g.frames)),
        groups,
    })
}

/// Every stack tracing recorded in process `pid`, with its traced allocations and bytes
/// since tracing started (freed or not), largest first: where the allocations come from.
/// With `progress`, says on stderr how symbolizing goes (see `LeakOptions::progress`).
pub fn stacks(
    dir: &Path,
    pid: u32,
    top: usize,
    progress: bool,
    symbolizer: &mut Symbolizer,
) -> Result<StackReport, TraceError> {
    let (reading, (counted, set, live, status, unloaded)) =
        reader::read_pid_with(dir, pid, |view: &SegmentView| {
            let tables = view.trace;
            let counted = tables.counted_stacks();
            let ids: Vec<u32> = counted.iter().map(|&(id, _, _)| id).collect();
            let set = StackSet::read(tables, &ids, progress);
            let live = tables.live_blocks();
            let word = view.region.header.control.load(Ordering::Relaxed);
            let status = TraceStatus::with_live(word, tables, live.len());
            (counted, set, live, status, view.region.unloaded.modules())
        })?;
    let sampling = sampling(&status);
    // Equal stacks may be interned twice (a race between threads): merge by content, here
    // the address ids of the set (one id per distinct address).
    let mut merged: FxHashMap<&[u32], Tally> =
        FxHashMap::with_capacity_and_hasher(counted.len(), Default::default());
    for (index, &(_, allocations, bytes)) in counted.iter().enumerate() {
        // The tables keep a count and a sum per stack, not each size: a stack's blocks are
        // scaled as if all were of its mean size (exact when they are of one size).
        let mut tally = Tally::default();
        tally.add_total(sampling, allocations, bytes);
        merged.entry(set.ids(index)).or_default().merge(&tally);
    }
    let mut merged: Vec<(&[u32], Tally)> = merged.into_iter().collect();
    merged.sort_by(|a, b| by_size(&a.1, &b.1));
    let total = merged.len();
    merged.truncate(limit(top));
    let process = Process::attach(pid).ok();
    let mut symbols = StackSymbols::new(symbolizer, process.as_ref(), &unloaded);
    let mut wanted: Vec<u64> = merged
        .iter()
        .flat_map(|(ids, _)| ids.iter())
        .map(|&id| set.address(id))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    symbols.prepare(&wanted, progress);
    let by_stack: Vec<StackAllocations> = merged
        .iter()
        .map(|(ids, tally)| StackAllocations {
            allocations: tally.blocks.round() as u64,
            bytes: tally.bytes.round() as u64,
            estimate: tally.estimate(sampling),
            truncated: truncated(ids.len(), &status),
            frames: symbols.stack(&ids.iter().map(|&id| set.address(id)).collect::<Vec<_>>()),
        })
        .collect();
    Ok(StackReport {
        untraced: untraced(&reading, &live, &status, None),
        pid,
        status,
        estimated: sampling.sampled(),
        stacks: total,
        jit_note: JitNote::of(by_stack.iter().flat_map(|s| &s.frames)),
        by_stack,
    })
}
