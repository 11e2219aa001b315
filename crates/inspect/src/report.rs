//! The snapshot format v1 as one serde model: the library's report (`Report`, what
//! `skull_report(..., SKULL_REPORT_JSON)` and `sm.report('json')` print) and the whole snapshot
//! the CLI writes (`SnapshotFile`: the report plus time, segment and resident figures).
//!
//! Field names are stable and documented in the README ("JSON"); byte counts are JSON numbers.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use skull_mem_core::counters::{Counter, COUNTER_COUNT};
use skull_mem_core::snapshot::{live_blocks, used_bytes, ScopeStats, Snapshot};

use crate::process_memory::ProcessFigures;
use crate::reader::SegmentInfo;

/// The value of `format`.
pub const SNAPSHOT_FORMAT: &str = "skull-mem-snapshot";
/// The value of `format_version` this crate writes and reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

/// Every counter of a scope (or of all), indexed by `Counter`; in JSON an object from the
/// counter's snake_case name to its value, in index order. Names this build does not know
/// are ignored when read, and counters missing from a file read as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub [u64; COUNTER_COUNT]);

impl Counters {
    /// One counter.
    pub fn get(&self, counter: Counter) -> u64 {
        self.0[counter as usize]
    }

    /// The sum of several counters (`realloc` and `reallocarray` calls, ...).
    pub fn sum(&self, counters: &[Counter]) -> u64 {
        counters.iter().map(|&counter| self.get(counter)).sum()
    }
}

impl Serialize for Counters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(COUNTER_COUNT))?;
        for counter in Counter::ALL {
            map.serialize_entry(counter.name(), &self.get(counter))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Counters {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountersVisitor;
        impl<'de> Visitor<'de> for CountersVisitor {
            type Value = Counters;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of counter names to non-negative integers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Counters, A::Error> {
                let mut counters = Counters::default();
                while let Some((name, value)) = map.next_entry::<String, u64>()? {
                    if let Some(counter) = Counter::ALL.iter().find(|c| c.name() == name) {
                        counters.0[*counter as usize] = value;
                    }
                }
                Ok(counters)
            }
        }
        deserializer.deserialize_map(CountersVisitor)
    }
}

/// One scope's figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeReport {
    /// Scope id, in registration order (differs between runs: match scopes by name and kind).
    pub id: u32,
    /// Registered name.
    pub name: String,
    /// Registered kind (`core`, `init`, `tool`, `module`, `service`, `route`, ...).
    pub kind: String,
    /// Bytes allocated by this scope and not yet freed (by any scope).
    pub used_bytes: u64,
    /// Blocks allocated by this scope and not yet freed.
    pub live_blocks: u64,
    /// Highest `used_bytes` any snapshot has seen.
    pub peak_used_bytes: u64,
    /// Header and alignment bytes of this scope's live blocks.
    pub overhead_bytes: u64,
    /// Every counter.
    pub counters: Counters,
}

impl From<&ScopeStats> for ScopeReport {
    fn from(scope: &ScopeStats) -> Self {
        ScopeReport {
            id: scope.id,
            name: scope.name.clone(),
            kind: scope.kind.clone(),
            used_bytes: scope.used_bytes(),
            live_blocks: scope.live_blocks(),
            peak_used_bytes: scope.peak_used_bytes,
            overhead_bytes: scope.overhead_bytes(),
            counters: Counters(scope.counters),
        }
    }
}

/// The sums over every scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Bytes allocated and not yet freed.
    pub used_bytes: u64,
    /// Blocks allocated and not yet freed.
    pub live_blocks: u64,
    /// Header and alignment bytes of live blocks.
    pub overhead_bytes: u64,
    /// Every counter, summed.
    pub counters: Counters,
}

/// The library's report of one process: the snapshot format v1 without `format`,
/// `format_version`, `time`, `segment` and `process`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The version of the skull-mem that made this report.
    pub version: String,
    /// The measured process.
    pub pid: u32,
    /// Threads holding a counter block, where known.
    pub threads: Option<usize>,
    /// Bytes of address space the counters map, where known.
    pub region_bytes: Option<usize>,
    /// Whether tracing is on.
    pub trace_enabled: bool,
    /// Every registered scope, by id.
    pub scopes: Vec<ScopeReport>,
    /// Sums over every scope.
    pub totals: Totals,
}

impl Report {
    /// The report of `snapshot`, made by this version of skull-mem.
    pub fn of(snapshot: &Snapshot) -> Report {
        let totals = snapshot.totals();
        Report {
            version: skull_mem_core::VERSION.to_owned(),
            pid: snapshot.pid,
            threads: snapshot.threads,
            region_bytes: snapshot.region_bytes,
            trace_enabled: snapshot.trace_enabled.unwrap_or(false),
            scopes: snapshot.scopes.iter().map(ScopeReport::from).collect(),
            totals: Totals {
                used_bytes: used_bytes(&totals),
                live_blocks: live_blocks(&totals),
                overhead_bytes: totals[Counter::OverheadBytes as usize]
                    .saturating_sub(totals[Counter::OverheadFreedBytes as usize]),
                counters: Counters(totals),
            },
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report serializes")
    }
}

/// A process read from outside: the snapshot format v1 as `skull-mem memory --json` and
/// `skull-mem snapshot` write it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    /// `SNAPSHOT_FORMAT`.
    pub format: String,
    /// `SNAPSHOT_FORMAT_VERSION`.
    pub format_version: u32,
    /// ISO-8601 time of the reading (UTC, milliseconds).
    pub time: String,
    /// The counters.
    #[serde(flatten)]
    pub report: Report,
    /// What the segment header says.
    pub segment: SegmentInfo,
    /// Resident figures from `/proc`.
    pub process: ProcessFigures,
}
