//! How long does a pprof heap profile of 100,000 unique stacks take (target: under 1 s)?
//!
//! The stacks are made of 2,000 distinct return addresses, half spread over libc's code and
//! half over this benchmark's own executable, symbolized from this process's own maps: each
//! stack is 16 frames, its two innermost frames a unique pair, the 14 outer ones shared (as
//! real stacks share `main` and the event loop). Every stack has one live block, in one of
//! five scopes, and 3 traced allocations.
//!
//! - cold: a fresh `Symbolizer` (modules found, mapped and their DWARF indexed);
//! - warm: the same symbolizer again, as `serve` answers the next scrape;
//! - symbolizing alone: the 2,000 addresses on a fresh symbolizer, the part of the cold
//!   figure that is loading and looking up, not making the profile.
//!
//! Baseline from the same run: the folded-stack text of the same stacks on the warm
//! symbolizer (`skull-trace report --format collapsed`, the export flame graph tools read).
//!
//! Run: `cargo bench -p skull-mem-inspect --bench pprof`. `ROUNDS` (default 5) sets the
//! rounds; the median is printed. The machine may be busy: compare the ratio, not the ms.

use std::time::Instant;

use skull_mem_inspect::export::heap::{HeapTrace, ScopeName, TracedBlock, TracedStack};
use skull_mem_inspect::export::pprof::{heap_profile, ProfileOptions};
use skull_mem_inspect::trace::estimate::Estimate;
use skull_mem_inspect::trace::frames::symbolize_stack;
use skull_mem_inspect::trace::leaks::{StackAllocations, StackReport};
use skull_mem_inspect::trace::render::collapsed;
use skull_mem_inspect::trace::status::{TraceCounts, TraceMemory, TraceStatus};
use skull_mem_symbolize::{Backing, Lookup, Mapping, Process, Symbolizer};

const STACKS: usize = 100_000;
const PER_MODULE: u64 = 1_000;
const DEPTH: usize = 16;

/// `count` distinct addresses evenly spread over an executable mapping.
fn spread(mapping: &Mapping, count: u64) -> Vec<u64> {
    let step = (mapping.end - mapping.start) / count;
    (0..count).map(|i| mapping.start + 1 + i * step).collect()
}

fn code_mapping<'a>(process: &'a Process, wanted: &dyn Fn(&str) -> bool) -> &'a Mapping {
    process
        .maps()
        .executable()
        .filter(|m| matches!(&m.backing, Backing::File { path, .. } if wanted(path)))
        .max_by_key(|m| m.end - m.start)
        .expect("the mapping is present")
}

fn trace(addresses: &[u64]) -> HeapTrace {
    let n = addresses.len();
    let stacks: Vec<TracedStack> = (0..STACKS)
        .map(|i| {
            let mut frames = vec![addresses[i % n], addresses[(i / n) % n]];
            frames.extend(&addresses[..DEPTH - 2]);
            TracedStack {
                frames,
                allocations: 3,
                bytes: 3 * 64,
            }
        })
        .collect();
    let live = (0..STACKS)
        .map(|stack| TracedBlock {
            stack,
            size: 64,
            scope: (stack % 5) as u32,
        })
        .collect();
    let scopes = (0..5)
        .map(|id| ScopeName {
            id,
            name: format!("scope-{id}"),
            kind: "module".to_owned(),
        })
        .collect();
    HeapTrace {
        pid: std::process::id(),
        status: TraceStatus {
            enabled: true,
            depth: Some(DEPTH),
            sample_bytes: Some(0),
            scoped: false,
            counts: TraceCounts {
                traced_allocs: 3 * STACKS as u64,
                traced_frees: 2 * STACKS as u64,
                dropped_stacks: 0,
                dropped_blocks: 0,
            },
            live_blocks: STACKS,
            memory: TraceMemory {
                budget: 0,
                used: 0,
                committed: 0,
                stack_nodes: 0,
                stack_bytes: 0,
                live_bytes: 0,
                totals_bytes: 0,
            },
        },
        scopes,
        stacks,
        live,
        process: Some(Process::attach(std::process::id()).expect("own maps are readable")),
        time_nanos: 0,
    }
}

fn folded(trace: &HeapTrace, symbolizer: &mut Symbolizer) -> String {
    let process = trace.process.as_ref();
    let by_stack = trace
        .stacks
        .iter()
        .map(|stack| StackAllocations {
            allocations: stack.allocations,
            bytes: stack.bytes,
            estimate: Estimate::exact(stack.allocations, stack.bytes),
            truncated: false,
            frames: symbolize_stack(symbolizer, process, &[], &stack.frames),
        })
        .collect();
    collapsed(&StackReport {
        untraced: Default::default(),
        pid: trace.pid,
        status: trace.status,
        estimated: false,
        stacks: trace.stacks.len(),
        jit_note: None,
        by_stack,
    })
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let process = Process::attach(std::process::id()).expect("own maps are readable");
    let exe = std::env::current_exe().unwrap();
    let libc = code_mapping(&process, &|p| {
        p.rsplit('/').next().unwrap().starts_with("libc.so")
    });
    let own = code_mapping(&process, &|p| exe == std::path::Path::new(p));
    let mut addresses = spread(libc, PER_MODULE);
    addresses.extend(spread(own, PER_MODULE));
    let trace = trace(&addresses);
    let options = ProfileOptions::default();
    let (mut cold, mut warm, mut base, mut alone) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut size = 0;
    for _ in 0..rounds {
        let mut symbolizer = Symbolizer::new();
        let start = Instant::now();
        size = heap_profile(&trace, &mut symbolizer, &options).len();
        cold.push(ms(start));
        let start = Instant::now();
        heap_profile(&trace, &mut symbolizer, &options);
        warm.push(ms(start));
        let start = Instant::now();
        let text = folded(&trace, &mut symbolizer);
        base.push(ms(start));
        assert_eq!(text.lines().count(), STACKS);
        let mut fresh = Symbolizer::new();
        let start = Instant::now();
        for &address in &addresses {
            fresh.symbolize(&process, address, Lookup::ReturnAddress);
        }
        alone.push(ms(start));
    }
    let (cold, warm, base, alone) = (median(cold), median(warm), median(base), median(alone));
    println!(
        "pprof heap profile of {STACKS} unique stacks ({DEPTH} frames, {} distinct addresses), \
         median of {rounds} rounds; {size} bytes gzipped",
        addresses.len()
    );
    println!("{:<44} {:>9} {:>12}", "", "ms", "vs folded");
    println!(
        "{:<44} {cold:>9.1} {:>11.2}x",
        "pprof, cold symbolizer",
        cold / base
    );
    println!(
        "{:<44} {warm:>9.1} {:>11.2}x",
        "pprof, warm symbolizer",
        warm / base
    );
    println!(
        "{:<44} {alone:>9.1} {:>11.2}x",
        "symbolizing the addresses alone, cold",
        alone / base
    );
    println!(
        "{:<44} {base:>9.1} {:>11.2}x",
        "baseline: folded stacks, warm symbolizer", 1.0
    );
}
