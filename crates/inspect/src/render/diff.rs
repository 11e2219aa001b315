//! The difference between two snapshots: which scopes grew, by how much, sorted so the worst
//! comes first, and its table (`skull-mem diff a.json b.json`, `diff(a, b).toString()`).
//! Scopes are matched by (name, kind), never by id: ids are given in registration order and
//! differ between two runs of the same program.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use skull_mem_core::counters::{Counter, COUNTER_COUNT};

use super::escape::escape;
use super::memory::locale_compare;
use super::table::{fixed, signed, Column, Table};
use crate::report::{Counters, Report, ScopeReport};

/// One side of a diff: a snapshot's report, when it was taken and the RSS then.
#[derive(Clone, Copy, Debug)]
pub struct DiffSide<'a> {
    /// The counters.
    pub report: &'a Report,
    /// Milliseconds since the epoch (`clock::parse_iso` of the snapshot's `time`).
    pub time_ms: i64,
    /// `process.rss_bytes`.
    pub rss_bytes: u64,
}

/// Growth of every counter (after minus before); in JSON an object by counter name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterGrowth(pub [i64; COUNTER_COUNT]);

impl CounterGrowth {
    fn between(before: &Counters, after: &Counters) -> CounterGrowth {
        let mut growth = [0i64; COUNTER_COUNT];
        for (index, value) in growth.iter_mut().enumerate() {
            *value = after.0[index] as i64 - before.0[index] as i64;
        }
        CounterGrowth(growth)
    }

    /// One counter's growth.
    pub fn get(&self, counter: Counter) -> i64 {
        self.0[counter as usize]
    }
}

impl Serialize for CounterGrowth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(COUNTER_COUNT))?;
        for counter in Counter::ALL {
            map.serialize_entry(counter.name(), &self.get(counter))?;
        }
        map.end()
    }
}

/// The growth of one scope between two snapshots (negative: it shrank).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScopeGrowth {
    /// Scope name.
    pub name: String,
    /// Scope kind.
    pub kind: String,
    /// Used bytes in the first snapshot (0 when the scope did not exist yet).
    pub used_bytes_before: u64,
    /// Used bytes in the second snapshot (0 when the scope no longer appears).
    pub used_bytes_after: u64,
    /// `used_bytes_after - used_bytes_before`.
    pub used_bytes: i64,
    /// Growth of live blocks.
    pub live_blocks: i64,
    /// Growth of header and alignment overhead.
    pub overhead_bytes: i64,
    /// Growth of every counter (what happened between the snapshots).
    pub counters: CounterGrowth,
}

/// Growth of the totals over all scopes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TotalsGrowth {
    /// Used bytes.
    pub used_bytes: i64,
    /// Live blocks.
    pub live_blocks: i64,
    /// Header and alignment overhead.
    pub overhead_bytes: i64,
    /// Every counter.
    pub counters: CounterGrowth,
}

/// The whole difference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SnapshotDiff {
    /// Seconds between the two snapshots.
    pub seconds: f64,
    /// One entry per scope found in either snapshot, by descending `used_bytes` growth.
    pub scopes: Vec<ScopeGrowth>,
    /// Growth of the totals.
    pub totals: TotalsGrowth,
    /// Growth of the resident set size.
    pub rss_bytes: i64,
}

fn growth(before: Option<&ScopeReport>, after: Option<&ScopeReport>) -> ScopeGrowth {
    let named = after.or(before).expect("a scope of either snapshot");
    let zero = Counters::default();
    let field = |scope: Option<&ScopeReport>, get: fn(&ScopeReport) -> u64| scope.map_or(0, get);
    let used_before = field(before, |s| s.used_bytes);
    let used_after = field(after, |s| s.used_bytes);
    ScopeGrowth {
        name: named.name.clone(),
        kind: named.kind.clone(),
        used_bytes_before: used_before,
        used_bytes_after: used_after,
        used_bytes: used_after as i64 - used_before as i64,
        live_blocks: field(after, |s| s.live_blocks) as i64
            - field(before, |s| s.live_blocks) as i64,
        overhead_bytes: field(after, |s| s.overhead_bytes) as i64
            - field(before, |s| s.overhead_bytes) as i64,
        counters: CounterGrowth::between(
            before.map_or(&zero, |s| &s.counters),
            after.map_or(&zero, |s| &s.counters),
        ),
    }
}

/// Compares two snapshots. A scope present in only one counts as 0 in the other.
pub fn diff(before: DiffSide, after: DiffSide) -> SnapshotDiff {
    fn find<'r>(report: &'r Report, kind: &str, name: &str) -> Option<&'r ScopeReport> {
        // The last scope of a name and kind wins, as when the TypeScript keyed them in a Map.
        report
            .scopes
            .iter()
            .rfind(|s| s.name == name && s.kind == kind)
    }
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for scope in before.report.scopes.iter().chain(&after.report.scopes) {
        let key = (scope.kind.as_str(), scope.name.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut scopes: Vec<ScopeGrowth> = keys
        .iter()
        .map(|&(kind, name)| {
            growth(
                find(before.report, kind, name),
                find(after.report, kind, name),
            )
        })
        .collect();
    // Descending growth; ties keep a stable, readable order.
    scopes.sort_by(|p, q| {
        q.used_bytes
            .cmp(&p.used_bytes)
            .then_with(|| locale_compare(&p.name, &q.name))
            .then_with(|| locale_compare(&p.kind, &q.kind))
    });
    let (b, a) = (&before.report.totals, &after.report.totals);
    SnapshotDiff {
        seconds: (after.time_ms - before.time_ms) as f64 / 1000.0,
        scopes,
        totals: TotalsGrowth {
            used_bytes: a.used_bytes as i64 - b.used_bytes as i64,
            live_blocks: a.live_blocks as i64 - b.live_blocks as i64,
            overhead_bytes: a.overhead_bytes as i64 - b.overhead_bytes as i64,
            counters: CounterGrowth::between(&b.counters, &a.counters),
        },
        rss_bytes: after.rss_bytes as i64 - before.rss_bytes as i64,
    }
}

/// Renders a diff as a text table, one line per scope that changed (used bytes, live blocks
/// or any allocation), then the totals.
pub fn diff_table(diff: &SnapshotDiff) -> String {
    let mut table = Table::new(vec![
        Column::left("kind", 0),
        Column::left("name", 0).after("  "),
        Column::right("used before", 0).after("  "),
        Column::right("used after", 0).after("  "),
        Column::right("growth", 0).after("  "),
        Column::right("blocks", 0).after("  "),
        Column::right("allocs", 0).after("  "),
        Column::right("frees", 0).after("  "),
    ]);
    for s in diff.scopes.iter().filter(|s| {
        s.used_bytes != 0 || s.live_blocks != 0 || s.counters.get(Counter::AllocBlocks) != 0
    }) {
        table.row(vec![
            escape(&s.kind).into_owned(),
            escape(&s.name).into_owned(),
            s.used_bytes_before.to_string(),
            s.used_bytes_after.to_string(),
            signed(s.used_bytes),
            signed(s.live_blocks),
            s.counters.get(Counter::AllocBlocks).to_string(),
            s.counters.get(Counter::FreedBlocks).to_string(),
        ]);
    }
    table.fit();
    let mut out = vec![format!(
        "======== Skull Memory Diff ({} s) ========",
        fixed(diff.seconds, 3)
    )];
    let changed = !table.is_empty();
    out.extend(table.lines(true));
    if !changed {
        out.push("(no scope changed)".to_owned());
    }
    out.push(format!(
        "total used {} bytes, live blocks {}, rss {} bytes",
        signed(diff.totals.used_bytes),
        signed(diff.totals.live_blocks),
        signed(diff.rss_bytes)
    ));
    let mut text = out.join("\n");
    text.push('\n');
    text
}
