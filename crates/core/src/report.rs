//! The "Skull Memory Measurement" table, and the same figures as JSON.

use std::fmt::Write;

use serde_json::{json, Map, Value};

use crate::counters::{Counter, COUNTER_COUNT};
use crate::scopes::SCOPE_SELF;
use crate::snapshot::{live_blocks, used_bytes, ScopeStats, Snapshot};

/// Renders the seed's table, extended with peak, live blocks, calls per API and the
/// header overhead. Built-in kinds show as `.`, as in the original.
pub fn text(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    out.push_str("======== Skull Memory Measurement ========\n");
    let _ = writeln!(
        out,
        "{:>8} {:>16} {:>14} {:>14} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
        "kind",
        "name",
        "used",
        "peak",
        "blocks",
        "malloc",
        "calloc",
        "realloc",
        "free",
        "aligned",
        "failed",
        "x-freed"
    );
    for scope in &snapshot.scopes {
        let _ = writeln!(
            out,
            "{:>8} {:>16} {:>14} {:>14} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9}",
            display_kind(&scope.kind),
            scope.name,
            scope.used_bytes(),
            scope.peak_used_bytes,
            scope.live_blocks(),
            scope.get(Counter::MallocCalls),
            scope.get(Counter::CallocCalls),
            reallocs(&scope.counters),
            scope.get(Counter::FreeCalls),
            aligned_calls(&scope.counters),
            scope.get(Counter::FailedAllocs),
            scope.get(Counter::CrossFreedBlocks),
        );
    }
    let totals = snapshot.totals();
    let overhead = live_overhead(&totals);
    out.push_str("\n================ Summary =================\n");
    let _ = writeln!(
        out,
        "Total Used: {} bytes in {} blocks",
        used_bytes(&totals),
        live_blocks(&totals)
    );
    // The program's allocations: skull-mem's own scope also counts every block its caches
    // take in (see `cache`), which would count the program's reused blocks twice.
    let program = snapshot
        .scopes
        .iter()
        .filter(|scope| scope.id != SCOPE_SELF)
        .fold((0u64, 0u64), |(bytes, blocks), scope| {
            (
                bytes.wrapping_add(scope.get(Counter::AllocBytes)),
                blocks.wrapping_add(scope.get(Counter::AllocBlocks)),
            )
        });
    let _ = writeln!(
        out,
        "Total Allocated: {} bytes in {} blocks since start, outside skull-mem's own scope",
        program.0, program.1
    );
    let _ = writeln!(
        out,
        "Header Overhead: {overhead} bytes (16 per block, more for aligned blocks)"
    );
    let _ = writeln!(
        out,
        "Foreign Frees: {}",
        totals[Counter::ForeignFrees as usize]
    );
    let _ = write!(out, "Scopes: {}", snapshot.scopes.len());
    if let Some(threads) = snapshot.threads {
        let _ = write!(out, "  Threads: {threads}");
    }
    if let Some(bytes) = snapshot.region_bytes {
        let _ = write!(out, "  Counter Region: {} KiB mapped", bytes / 1024);
    }
    out.push('\n');
    if let Some(enabled) = snapshot.trace_enabled {
        let _ = writeln!(out, "Trace Enabled: {}", u8::from(enabled));
    }
    out
}

fn display_kind(kind: &str) -> &str {
    match kind {
        "core" | "init" => ".",
        other => other,
    }
}

fn reallocs(counters: &[u64; COUNTER_COUNT]) -> u64 {
    counters[Counter::ReallocCalls as usize] + counters[Counter::ReallocarrayCalls as usize]
}

fn aligned_calls(counters: &[u64; COUNTER_COUNT]) -> u64 {
    [
        Counter::PosixMemalignCalls,
        Counter::AlignedAllocCalls,
        Counter::MemalignCalls,
        Counter::VallocCalls,
        Counter::PvallocCalls,
    ]
    .iter()
    .map(|&counter| counters[counter as usize])
    .sum()
}

fn live_overhead(counters: &[u64; COUNTER_COUNT]) -> u64 {
    counters[Counter::OverheadBytes as usize]
        .saturating_sub(counters[Counter::OverheadFreedBytes as usize])
}

fn counters_json(counters: &[u64; COUNTER_COUNT]) -> Value {
    let map: Map<String, Value> = Counter::ALL
        .iter()
        .map(|&counter| (counter.name().to_owned(), json!(counters[counter as usize])))
        .collect();
    Value::Object(map)
}

fn scope_json(scope: &ScopeStats) -> Value {
    json!({
        "id": scope.id,
        "name": scope.name,
        "kind": scope.kind,
        "used_bytes": scope.used_bytes(),
        "live_blocks": scope.live_blocks(),
        "peak_used_bytes": scope.peak_used_bytes,
        "overhead_bytes": scope.overhead_bytes(),
        "counters": counters_json(&scope.counters),
    })
}

/// The same figures as JSON. Field names are stable; byte counts are JSON numbers.
pub fn json(snapshot: &Snapshot) -> Value {
    let totals = snapshot.totals();
    json!({
        "version": crate::VERSION,
        "pid": snapshot.pid,
        "threads": snapshot.threads,
        "region_bytes": snapshot.region_bytes,
        "trace_enabled": snapshot.trace_enabled.unwrap_or(false),
        "scopes": snapshot.scopes.iter().map(scope_json).collect::<Vec<_>>(),
        "totals": {
            "used_bytes": used_bytes(&totals),
            "live_blocks": live_blocks(&totals),
            "overhead_bytes": live_overhead(&totals),
            "counters": counters_json(&totals),
        },
    })
}
