//! The difference between two snapshots, and its table, computed and rendered by the inspect
//! crate (`render::diff`) from snapshots JavaScript holds (`sm.snapshot()`, files checked by
//! `parseSnapshot`, `skull-mem snapshot`).

use indexmap::IndexMap;
use napi_derive::napi;
use skull_mem_core::counters::{Counter, COUNTER_COUNT};
use skull_mem_inspect::clock;
use skull_mem_inspect::render::diff as model;
use skull_mem_inspect::report::Report as ModelReport;

use crate::error::{fail, Result, BAD_ARGUMENT};
use crate::report::{Report, ReportTotals, ScopeReport};

/// The part of a snapshot's `process` a diff reads.
#[napi(object, object_to_js = false)]
pub struct DiffProcess {
    /// The resident set size.
    #[napi(js_name = "rss_bytes")]
    pub rss_bytes: f64,
}

/// What a diff reads of a snapshot in format v1 (other fields are ignored).
#[napi(object, object_to_js = false, use_nullable = true)]
pub struct DiffSnapshot {
    /// ISO-8601 time of the snapshot.
    pub time: String,
    /// The version of the skull-mem that made it.
    pub version: String,
    /// The process id.
    pub pid: u32,
    /// Threads holding a counter block.
    pub threads: Option<f64>,
    /// Bytes mapped for counters.
    #[napi(js_name = "region_bytes")]
    pub region_bytes: Option<f64>,
    /// Whether tracing was on.
    #[napi(js_name = "trace_enabled")]
    pub trace_enabled: bool,
    /// Every scope.
    pub scopes: Vec<ScopeReport>,
    /// Sums over every scope.
    pub totals: ReportTotals,
    /// Resident figures.
    pub process: DiffProcess,
}

/// Growth of every counter by name (negative: shrank), in the order of `enum skull_counter`.
fn growth_to_js(growth: &model::CounterGrowth) -> IndexMap<String, f64> {
    Counter::ALL
        .iter()
        .map(|&counter| (counter.name().to_owned(), growth.get(counter) as f64))
        .collect()
}

fn growth_from_js(growth: &IndexMap<String, f64>) -> model::CounterGrowth {
    let mut out = [0i64; COUNTER_COUNT];
    for counter in Counter::ALL {
        out[counter as usize] = growth.get(counter.name()).map_or(0, |&n| n as i64);
    }
    model::CounterGrowth(out)
}

/// The growth of one scope between two snapshots (after minus before).
#[napi(object)]
pub struct ScopeGrowth {
    /// The scope name.
    pub name: String,
    /// The scope kind.
    pub kind: String,
    /// Used bytes in the first snapshot (0 when the scope did not exist yet).
    #[napi(js_name = "used_bytes_before")]
    pub used_bytes_before: f64,
    /// Used bytes in the second snapshot (0 when the scope no longer appears).
    #[napi(js_name = "used_bytes_after")]
    pub used_bytes_after: f64,
    /// `used_bytes_after - used_bytes_before`.
    #[napi(js_name = "used_bytes")]
    pub used_bytes: f64,
    /// Growth of live blocks.
    #[napi(js_name = "live_blocks")]
    pub live_blocks: f64,
    /// Growth of header and alignment overhead.
    #[napi(js_name = "overhead_bytes")]
    pub overhead_bytes: f64,
    /// Growth of every counter.
    pub counters: IndexMap<String, f64>,
}

/// Growth of the totals over all scopes.
#[napi(object)]
pub struct TotalsGrowth {
    /// Growth of used bytes.
    #[napi(js_name = "used_bytes")]
    pub used_bytes: f64,
    /// Growth of live blocks.
    #[napi(js_name = "live_blocks")]
    pub live_blocks: f64,
    /// Growth of header and alignment overhead.
    #[napi(js_name = "overhead_bytes")]
    pub overhead_bytes: f64,
    /// Growth of every counter.
    pub counters: IndexMap<String, f64>,
}

/// The whole difference between two snapshots.
#[napi(object)]
pub struct SnapshotDiff {
    /// Seconds between the two snapshots.
    pub seconds: f64,
    /// One entry per scope found in either snapshot, by descending `used_bytes` growth.
    pub scopes: Vec<ScopeGrowth>,
    /// Growth of the totals.
    pub totals: TotalsGrowth,
    /// Growth of the resident set size.
    #[napi(js_name = "rss_bytes")]
    pub rss_bytes: f64,
}

impl From<&model::SnapshotDiff> for SnapshotDiff {
    fn from(d: &model::SnapshotDiff) -> Self {
        SnapshotDiff {
            seconds: d.seconds,
            scopes: d
                .scopes
                .iter()
                .map(|s| ScopeGrowth {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    used_bytes_before: s.used_bytes_before as f64,
                    used_bytes_after: s.used_bytes_after as f64,
                    used_bytes: s.used_bytes as f64,
                    live_blocks: s.live_blocks as f64,
                    overhead_bytes: s.overhead_bytes as f64,
                    counters: growth_to_js(&s.counters),
                })
                .collect(),
            totals: TotalsGrowth {
                used_bytes: d.totals.used_bytes as f64,
                live_blocks: d.totals.live_blocks as f64,
                overhead_bytes: d.totals.overhead_bytes as f64,
                counters: growth_to_js(&d.totals.counters),
            },
            rss_bytes: d.rss_bytes as f64,
        }
    }
}

impl From<&SnapshotDiff> for model::SnapshotDiff {
    fn from(d: &SnapshotDiff) -> Self {
        model::SnapshotDiff {
            seconds: d.seconds,
            scopes: d
                .scopes
                .iter()
                .map(|s| model::ScopeGrowth {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    used_bytes_before: s.used_bytes_before as u64,
                    used_bytes_after: s.used_bytes_after as u64,
                    used_bytes: s.used_bytes as i64,
                    live_blocks: s.live_blocks as i64,
                    overhead_bytes: s.overhead_bytes as i64,
                    counters: growth_from_js(&s.counters),
                })
                .collect(),
            totals: model::TotalsGrowth {
                used_bytes: d.totals.used_bytes as i64,
                live_blocks: d.totals.live_blocks as i64,
                overhead_bytes: d.totals.overhead_bytes as i64,
                counters: growth_from_js(&d.totals.counters),
            },
            rss_bytes: d.rss_bytes as i64,
        }
    }
}

/// A snapshot's report, time in milliseconds and RSS, as the model's diff reads them.
fn side(snapshot: DiffSnapshot) -> Result<(ModelReport, i64, u64)> {
    let time = clock::parse_iso(&snapshot.time).ok_or_else(|| {
        fail(
            BAD_ARGUMENT,
            format!("{:?} is not an ISO-8601 time", snapshot.time),
        )
    })?;
    let report = Report {
        version: snapshot.version,
        pid: snapshot.pid,
        threads: snapshot.threads,
        region_bytes: snapshot.region_bytes,
        trace_enabled: snapshot.trace_enabled,
        scopes: snapshot.scopes,
        totals: snapshot.totals,
    };
    Ok((
        ModelReport::from(&report),
        time,
        snapshot.process.rss_bytes as u64,
    ))
}

/// What grew between `before` and `after`, scope by scope, largest growth first. Scopes are
/// matched by (name, kind): ids differ between two runs of the same program.
#[napi]
pub fn diff(before: DiffSnapshot, after: DiffSnapshot) -> Result<SnapshotDiff> {
    let (before, after) = (side(before)?, side(after)?);
    let diff = model::diff(
        model::DiffSide {
            report: &before.0,
            time_ms: before.1,
            rss_bytes: before.2,
        },
        model::DiffSide {
            report: &after.0,
            time_ms: after.1,
            rss_bytes: after.2,
        },
    );
    Ok(SnapshotDiff::from(&diff))
}

/// The diff as the table `skull-mem diff` prints: one line per scope that changed, then the
/// totals.
#[napi]
pub fn diff_table(diff: SnapshotDiff) -> String {
    model::diff_table(&model::SnapshotDiff::from(&diff))
}
