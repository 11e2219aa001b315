//! The leak check a process makes of itself at exit (`skull-mem run --leak-check`): which of
//! its traced blocks still live are lost (no pointer reaches them from the roots, directly or
//! through reached blocks) and which are still reachable, grouped by the stack that
//! allocated them, symbolized and checked against suppressions.
//!
//! It runs inside the exiting process (`libskull_mem.so`'s exit handler): that process's
//! memory is what must be scanned, and it is there without a debugger or a stopped process;
//! every process of a tree (fork, exec) checks itself. Tracing is switched off first, so
//! nothing the check allocates becomes a traced block, and it allocates in skull-mem's own
//! scope; blocks of that scope (the tool's own) are never candidates. What counts as a root
//! is in `roots`; the mark phase in `scan`.
//!
//! Not roots: registers of threads other than the caller (they may still run at exit; only
//! their stacks are read, whole), and the malloc heap itself.

mod memory;
pub mod render;
mod roots;
mod scan;
pub mod suppress;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;
use skull_mem_core::region::{self, Region};
use skull_mem_core::scopes::SCOPE_SELF;
use skull_mem_core::trace::control::{TraceConfig, MAX_DEPTH};
use skull_mem_core::trace::tables::LiveBlock;
use skull_mem_core::{thread, trace};
use skull_mem_symbolize::{Process, ProcessMaps, Symbolizer};

use crate::trace::estimate::Estimate;
use crate::trace::frames::symbolize_stack;
use crate::trace::leaks::LeakGroup;
use scan::{BlockIndex, Marker};
pub use suppress::{SuppressionError, Suppressions};

/// How the check reports.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// List still-reachable blocks by stack too (`--leak-check=full`), not only their totals.
    pub full: bool,
    /// Lost blocks not to count.
    pub suppressions: Suppressions,
}

/// Bytes, blocks and allocation sites (distinct stacks) of one kind of block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Bytes requested.
    pub bytes: u64,
    /// Blocks.
    pub blocks: u64,
    /// Distinct stacks.
    pub sites: u64,
}

/// Lost blocks a suppression silenced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Suppressed {
    /// The pattern (`leak:<pattern>`).
    pub pattern: String,
    /// What it silenced.
    pub tally: Tally,
}

/// The result of a process's leak check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeakCheck {
    /// `"skull-mem-leak-check"`.
    pub format: &'static str,
    /// The process.
    pub pid: u32,
    /// Its executable.
    pub executable: String,
    /// Blocks no pointer reaches, suppressed ones left out.
    pub lost: Tally,
    /// Blocks still reached from the roots.
    pub reachable: Tally,
    /// Lost blocks silenced by suppressions, by pattern.
    pub suppressed: Vec<Suppressed>,
    /// Blocks the trace tables had no room for: not checked.
    pub untraced_blocks: u64,
    /// Time the scan (marking) took, seconds.
    pub scan_seconds: f64,
    /// The lost blocks by stack, largest first.
    pub lost_sites: Vec<LeakGroup>,
    /// The still-reachable blocks by stack, largest first (only with `full`).
    pub reachable_sites: Vec<LeakGroup>,
}

/// Captures the caller's stack pointer and callee-saved registers (where a caller's
/// pointers may still be held), in the frame of the function it is inlined into.
#[inline(always)]
fn registers() -> (u64, [u64; 6]) {
    let mut saved = [0u64; 6];
    let sp: u64;
    // SAFETY: stores six registers into `saved` and reads the stack pointer; no other effect.
    unsafe {
        core::arch::asm!(
            "mov [{saved}], rbx",
            "mov [{saved} + 8], rbp",
            "mov [{saved} + 16], r12",
            "mov [{saved} + 24], r13",
            "mov [{saved} + 32], r14",
            "mov [{saved} + 40], r15",
            "mov {sp}, rsp",
            saved = in(reg) saved.as_mut_ptr(),
            sp = out(reg) sp,
            options(nostack, preserves_flags),
        );
    }
    (sp, saved)
}

/// Checks this process for leaks; `None` when skull-mem is not counting in it, or when the
/// process cannot read its own memory (`process_vm_readv` refused by a seccomp filter). Call it
/// at exit: it switches tracing off for good.
#[inline(never)]
pub fn check_self(options: &CheckOptions) -> Option<LeakCheck> {
    // Taken here so that the check's own frames, all below, are not read as roots.
    let (stack_pointer, saved) = registers();
    let region = region::get()?;
    if !memory::can_read_own() {
        return None;
    }
    let previous = thread::enter(SCOPE_SELF);
    // Tracing stops here; the depth it recorded at says which stacks were cut.
    let word = region.header.control.swap(0, Ordering::AcqRel);
    let depth = TraceConfig::decode(word).map_or(MAX_DEPTH, |config| config.depth);
    let check = check_below(region, stack_pointer, &saved, options, depth);
    thread::leave(previous);
    Some(check)
}

#[inline(never)]
fn check_below(
    region: &'static Region,
    stack_pointer: u64,
    saved: &[u64],
    options: &CheckOptions,
    depth: usize,
) -> LeakCheck {
    let started = Instant::now();
    let mut blocks: Vec<LiveBlock> = region::trace_tables()
        .map(|tables| tables.live_blocks())
        .unwrap_or_default();
    blocks.retain(|block| block.scope != SCOPE_SELF && block.size != 0);
    blocks.sort_unstable_by_key(|block| block.addr);
    let index = BlockIndex {
        starts: blocks.iter().map(|block| block.addr).collect(),
        ends: blocks.iter().map(|block| block.addr + block.size).collect(),
    };
    let mut marker = Marker::new(index);
    let pid = std::process::id();
    let ranges = ProcessMaps::read(pid)
        .map(|maps| roots::root_ranges(&maps, stack_pointer))
        .unwrap_or_default();
    // Every buffer holding block addresses is left out of the roots, its own included.
    let mut exclusions: Vec<Range<u64>> = Vec::with_capacity(blocks.len() + 16);
    let mut pieces: Vec<Range<u64>> = Vec::with_capacity(ranges.len() + blocks.len() + 16);
    let region_start = region as *const Region as u64;
    exclusions.push(region_start..region_start + std::mem::size_of::<Region>() as u64);
    // The segment's growable parts (thread counters, tracing's tables: every traced block's
    // address is a key there) are no roots either.
    for area in region::BLOCK_AREAS.iter().chain([&region::TRACE_AREA]) {
        let base = area.base() as u64;
        if base != 0 {
            exclusions.push(base..base + area.reserved() as u64);
        }
    }
    exclusions.extend(
        blocks
            .iter()
            .map(|block| block.addr..block.addr + block.size),
    );
    exclusions.extend(marker.buffers());
    for vec_span in [
        span(&blocks),
        span(&exclusions),
        span(&pieces),
        span(&ranges),
    ] {
        exclusions.push(vec_span);
    }
    roots::merge_in_place(&mut exclusions);
    roots::subtract_into(&ranges, &exclusions, &mut pieces);
    drop(exclusions);
    marker.mark(&pieces, saved);
    let reached = marker.into_reached();
    let scan_seconds = started.elapsed().as_secs_f64();
    drop(pieces);
    report(region, pid, &blocks, &reached, options, scan_seconds, depth)
}

fn span<T>(vec: &Vec<T>) -> Range<u64> {
    let start = vec.as_ptr() as u64;
    start..start + (vec.capacity() * std::mem::size_of::<T>()) as u64
}

struct Group {
    frames: Vec<u64>,
    bytes: u64,
    blocks: u64,
    scopes: Vec<u32>,
    oldest_ns: u64,
    newest_ns: u64,
}

/// `blocks` by stack content (equal stacks may be interned twice), largest first.
fn grouped<'a>(blocks: impl Iterator<Item = &'a LiveBlock>) -> Vec<Group> {
    let now = trace::now_ns();
    let mut groups: HashMap<Vec<u64>, Group> = HashMap::new();
    let mut stacks: HashMap<u32, Vec<u64>> = HashMap::new();
    for block in blocks {
        let frames = stacks
            .entry(block.stack)
            .or_insert_with(|| {
                region::trace_tables()
                    .map(|tables| tables.stack(block.stack).frames)
                    .unwrap_or_default()
            })
            .clone();
        let age = now.saturating_sub(block.time_ns);
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
    groups
}

fn tally(groups: &[LeakGroup]) -> Tally {
    Tally {
        bytes: groups.iter().map(|group| group.bytes).sum(),
        blocks: groups.iter().map(|group| group.blocks).sum(),
        sites: groups.len() as u64,
    }
}

fn symbolized(
    region: &Region,
    group: &Group,
    symbolizer: &mut Symbolizer,
    process: Option<&Process>,
    depth: usize,
) -> LeakGroup {
    let scopes = &region.scopes;
    LeakGroup {
        bytes: group.bytes,
        blocks: group.blocks,
        estimate: Estimate::exact(group.blocks, group.bytes),
        stacks: 1,
        truncated: group.frames.len() >= depth,
        scopes: group
            .scopes
            .iter()
            .map(|&id| {
                if id < scopes.len() {
                    scopes.name(id).to_owned()
                } else {
                    "?".to_owned()
                }
            })
            .collect(),
        oldest_seconds: group.oldest_ns as f64 / 1e9,
        newest_seconds: group.newest_ns as f64 / 1e9,
        frames: symbolize_stack(
            symbolizer,
            process,
            &region.unloaded.modules(),
            &group.frames,
        ),
    }
}

fn report(
    region: &Region,
    pid: u32,
    blocks: &[LiveBlock],
    reached: &[bool],
    options: &CheckOptions,
    scan_seconds: f64,
    depth: usize,
) -> LeakCheck {
    let lost = grouped(
        blocks
            .iter()
            .zip(reached)
            .filter(|(_, &r)| !r)
            .map(|(b, _)| b),
    );
    let reachable = grouped(
        blocks
            .iter()
            .zip(reached)
            .filter(|(_, &r)| r)
            .map(|(b, _)| b),
    );
    let process = Process::attach(pid).ok();
    let mut symbolizer = Symbolizer::new();
    let mut lost_sites = Vec::new();
    let mut suppressed: Vec<Suppressed> = Vec::new();
    for group in &lost {
        let group = symbolized(region, group, &mut symbolizer, process.as_ref(), depth);
        match options.suppressions.matching(&group.frames) {
            None => lost_sites.push(group),
            Some(pattern) => {
                let entry = match suppressed.iter().position(|s| s.pattern == pattern) {
                    Some(at) => &mut suppressed[at],
                    None => {
                        suppressed.push(Suppressed {
                            pattern: pattern.to_owned(),
                            tally: Tally::default(),
                        });
                        suppressed.last_mut().expect("just pushed")
                    }
                };
                entry.tally.bytes += group.bytes;
                entry.tally.blocks += group.blocks;
                entry.tally.sites += 1;
            }
        }
    }
    let reachable_tally = Tally {
        bytes: reachable.iter().map(|group| group.bytes).sum(),
        blocks: reachable.iter().map(|group| group.blocks).sum(),
        sites: reachable.len() as u64,
    };
    let reachable_sites = if options.full {
        reachable
            .iter()
            .map(|group| symbolized(region, group, &mut symbolizer, process.as_ref(), depth))
            .collect()
    } else {
        Vec::new()
    };
    LeakCheck {
        format: "skull-mem-leak-check",
        pid,
        executable: region.header.executable().to_owned(),
        lost: tally(&lost_sites),
        reachable: reachable_tally,
        suppressed,
        untraced_blocks: region::trace_tables().map_or(0, |tables| tables.dropped_blocks()),
        scan_seconds,
        lost_sites,
        reachable_sites,
    }
}
