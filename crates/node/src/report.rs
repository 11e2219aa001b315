//! The library's report of a process (the snapshot format v1 without the fields a reading
//! adds) as typed JavaScript objects, converted to and from the inspect crate's model
//! (`skull_mem_inspect::report`), which derives every figure.
//!
//! Why mirror structs: `#[napi(object)]` must sit on a type of this crate. Field names are the
//! format's snake_case (README, "JSON") and in the model's order, so `JSON.stringify` of a
//! result prints what the model serialises; counters keep the order of `enum skull_counter`.
//! Counts cross as `number` (`f64`): exact below 2^53, which no process reaches.

use indexmap::IndexMap;
use napi_derive::napi;
use skull_mem_core::counters::{Counter, COUNTER_COUNT};
use skull_mem_inspect::report as model;

/// Counters by name, in the order of `enum skull_counter`.
pub(crate) fn counters_to_js(counters: &[u64; COUNTER_COUNT]) -> IndexMap<String, f64> {
    Counter::ALL
        .iter()
        .map(|&counter| (counter.name().to_owned(), counters[counter as usize] as f64))
        .collect()
}

/// Counters from an object of names, as the model reads a file: unknown names are ignored,
/// missing ones are 0.
pub(crate) fn counters_from_js(counters: &IndexMap<String, f64>) -> model::Counters {
    let mut out = model::Counters::default();
    for counter in Counter::ALL {
        out.0[counter as usize] = counters.get(counter.name()).map_or(0, |&n| n as u64);
    }
    out
}

/// One scope's figures.
#[napi(object)]
pub struct ScopeReport {
    /// The scope id (0 = core, 1 = init, 2 = skull-mem, user scopes after).
    pub id: u32,
    /// The scope name.
    pub name: String,
    /// The scope kind: module, service, route, core, init, ...
    pub kind: String,
    /// Bytes allocated by this scope and not yet freed (by any scope).
    #[napi(js_name = "used_bytes")]
    pub used_bytes: f64,
    /// Blocks allocated by this scope and not yet freed.
    #[napi(js_name = "live_blocks")]
    pub live_blocks: f64,
    /// The highest `used_bytes` any snapshot has seen.
    #[napi(js_name = "peak_used_bytes")]
    pub peak_used_bytes: f64,
    /// Header and alignment bytes of this scope's live blocks.
    #[napi(js_name = "overhead_bytes")]
    pub overhead_bytes: f64,
    /// Every counter of the scope by name.
    pub counters: IndexMap<String, f64>,
}

/// The figures summed over every scope.
#[napi(object)]
pub struct ReportTotals {
    /// Bytes allocated and not yet freed.
    #[napi(js_name = "used_bytes")]
    pub used_bytes: f64,
    /// Blocks allocated and not yet freed.
    #[napi(js_name = "live_blocks")]
    pub live_blocks: f64,
    /// Header and alignment bytes of live blocks.
    #[napi(js_name = "overhead_bytes")]
    pub overhead_bytes: f64,
    /// Every counter summed, by name.
    pub counters: IndexMap<String, f64>,
}

/// A process's figures, as the library reports them.
#[napi(object, use_nullable = true)]
pub struct Report {
    /// The version of the skull-mem that made the report.
    pub version: String,
    /// The process id.
    pub pid: u32,
    /// Threads holding a counter block, where known.
    pub threads: Option<f64>,
    /// Bytes mapped for counters, where known.
    #[napi(js_name = "region_bytes")]
    pub region_bytes: Option<f64>,
    /// Whether tracing is on.
    #[napi(js_name = "trace_enabled")]
    pub trace_enabled: bool,
    /// Every scope, by id.
    pub scopes: Vec<ScopeReport>,
    /// Sums over every scope.
    pub totals: ReportTotals,
}

impl From<&model::ScopeReport> for ScopeReport {
    fn from(scope: &model::ScopeReport) -> Self {
        ScopeReport {
            id: scope.id,
            name: scope.name.clone(),
            kind: scope.kind.clone(),
            used_bytes: scope.used_bytes as f64,
            live_blocks: scope.live_blocks as f64,
            peak_used_bytes: scope.peak_used_bytes as f64,
            overhead_bytes: scope.overhead_bytes as f64,
            counters: counters_to_js(&scope.counters.0),
        }
    }
}

impl From<&ScopeReport> for model::ScopeReport {
    fn from(scope: &ScopeReport) -> Self {
        model::ScopeReport {
            id: scope.id,
            name: scope.name.clone(),
            kind: scope.kind.clone(),
            used_bytes: scope.used_bytes as u64,
            live_blocks: scope.live_blocks as u64,
            peak_used_bytes: scope.peak_used_bytes as u64,
            overhead_bytes: scope.overhead_bytes as u64,
            counters: counters_from_js(&scope.counters),
        }
    }
}

impl From<&model::Report> for Report {
    fn from(report: &model::Report) -> Self {
        let totals = &report.totals;
        Report {
            version: report.version.clone(),
            pid: report.pid,
            threads: report.threads.map(|n| n as f64),
            region_bytes: report.region_bytes.map(|n| n as f64),
            trace_enabled: report.trace_enabled,
            scopes: report.scopes.iter().map(ScopeReport::from).collect(),
            totals: ReportTotals {
                used_bytes: totals.used_bytes as f64,
                live_blocks: totals.live_blocks as f64,
                overhead_bytes: totals.overhead_bytes as f64,
                counters: counters_to_js(&totals.counters.0),
            },
        }
    }
}

impl From<&Report> for model::Report {
    fn from(report: &Report) -> Self {
        let totals = &report.totals;
        model::Report {
            version: report.version.clone(),
            pid: report.pid,
            threads: report.threads.map(|n| n as usize),
            region_bytes: report.region_bytes.map(|n| n as usize),
            trace_enabled: report.trace_enabled,
            scopes: report.scopes.iter().map(model::ScopeReport::from).collect(),
            totals: model::Totals {
                used_bytes: totals.used_bytes as u64,
                live_blocks: totals.live_blocks as u64,
                overhead_bytes: totals.overhead_bytes as u64,
                counters: counters_from_js(&totals.counters),
            },
        }
    }
}
