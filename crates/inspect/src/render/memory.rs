//! The Skull Memory Measurement table, as `skull-mem memory` prints it (and `sm.report()`,
//! the C `skull_report`, the Rust `skull_mem::report` and the demo): the seed's per-scope
//! table, extended with peak, calls per API (`detail`), cross-scope frees and growth per
//! interval (`previous`), and a summary that explains the RSS.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::str::FromStr;

use skull_mem_core::counters::Counter;

use super::escape::escape;
use super::table::{human_bytes, pad, signed, Align, Column, Table};
use crate::report::{ProcessSnapshot, ScopeReport};

/// How the scopes are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Most used bytes first.
    #[default]
    Used,
    /// Most grown since the previous reading first.
    Growth,
    /// By name.
    Name,
}

impl SortKey {
    /// Every key, as `--sort` spells it.
    pub const ALL: [(&'static str, SortKey); 3] = [
        ("used", SortKey::Used),
        ("growth", SortKey::Growth),
        ("name", SortKey::Name),
    ];
}

impl FromStr for SortKey {
    type Err = String;

    /// `used`, `growth` or `name`; otherwise the message `--sort` gives a user.
    fn from_str(text: &str) -> Result<SortKey, String> {
        SortKey::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|&(_, key)| key)
            .ok_or_else(|| format!("--sort must be one of used, growth, name (got \"{text}\")"))
    }
}

/// What to show besides the basic columns.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableOptions<'a> {
    /// Calls per API, failed allocations and header overhead per scope.
    pub detail: bool,
    /// Order of the scopes.
    pub sort: SortKey,
    /// The previous reading, for the growth column; `None` on a single reading.
    pub previous: Option<&'a ProcessSnapshot>,
    /// Seconds between `previous` and this reading.
    pub interval: Option<f64>,
}

/// Built-in kinds show as `.`, as in the seed's table.
fn display_kind(kind: &str) -> &str {
    match kind {
        "core" | "init" => ".",
        other => other,
    }
}

const ALIGNED: [Counter; 5] = [
    Counter::PosixMemalignCalls,
    Counter::AlignedAllocCalls,
    Counter::MemalignCalls,
    Counter::VallocCalls,
    Counter::PvallocCalls,
];

/// Used-bytes growth of each scope since `previous` (a new scope grew from 0); scopes match
/// by kind and name.
pub fn growth_by(previous: Option<&ProcessSnapshot>) -> impl Fn(&ScopeReport) -> i64 + '_ {
    let before: HashMap<(&str, &str), u64> = previous
        .map(|previous| {
            previous
                .report
                .scopes
                .iter()
                .map(|scope| ((scope.kind.as_str(), scope.name.as_str()), scope.used_bytes))
                .collect()
        })
        .unwrap_or_default();
    move |scope| {
        let was = before
            .get(&(scope.kind.as_str(), scope.name.as_str()))
            .copied()
            .unwrap_or(0);
        scope.used_bytes as i64 - was as i64
    }
}

/// Orders names the way JavaScript's `localeCompare` does for ASCII names (ICU's root
/// collation): punctuation before digits before letters, letters without regard to case
/// first, then lower case before upper case.
pub fn locale_compare(a: &str, b: &str) -> Ordering {
    fn primary(c: char) -> (u8, char) {
        match c {
            '0'..='9' => (1, c),
            'a'..='z' | 'A'..='Z' => (2, c.to_ascii_lowercase()),
            c if c.is_ascii() => (0, c),
            c => (3, c),
        }
    }
    a.chars()
        .map(primary)
        .cmp(b.chars().map(primary))
        .then_with(|| {
            let case = |c: char| c.is_ascii_uppercase();
            a.chars().map(case).cmp(b.chars().map(case))
        })
        .then_with(|| a.cmp(b))
}

/// Orders scopes: most used (or most grown) first, or by name; ties by id.
pub fn sort_scopes<'a>(
    scopes: &'a [ScopeReport],
    sort: SortKey,
    growth: &dyn Fn(&ScopeReport) -> i64,
) -> Vec<&'a ScopeReport> {
    let mut sorted: Vec<&ScopeReport> = scopes.iter().collect();
    sorted.sort_by(|a, b| {
        match sort {
            SortKey::Used => b.used_bytes.cmp(&a.used_bytes),
            SortKey::Growth => growth(b).cmp(&growth(a)),
            SortKey::Name => locale_compare(&a.name, &b.name),
        }
        .then(a.id.cmp(&b.id))
    });
    sorted
}

/// The columns and, for a scope, its cells.
fn columns(options: &TableOptions) -> Vec<Column> {
    let mut list = vec![
        Column::right("kind", 8),
        Column::right("name", 16),
        Column::right("used", 14),
        Column::right("peak", 14),
        Column::right("blocks", 10),
    ];
    if options.previous.is_some() {
        list.push(Column::right("growth", 12));
    }
    if options.detail {
        list.extend([
            Column::right("malloc", 9),
            Column::right("calloc", 9),
            Column::right("realloc", 9),
            Column::right("free", 9),
            Column::right("aligned", 9),
            Column::right("failed", 7),
            Column::right("overhead", 10),
        ]);
    }
    list.extend([
        Column::right("x-freed", 9),
        Column::right("x-freed-bytes", 14),
    ]);
    list
}

fn cells(scope: &ScopeReport, options: &TableOptions, growth: i64) -> Vec<String> {
    let count = |counters: &[Counter]| scope.counters.sum(counters).to_string();
    let mut cells = vec![
        escape(display_kind(&scope.kind)).into_owned(),
        escape(&scope.name).into_owned(),
        scope.used_bytes.to_string(),
        scope.peak_used_bytes.to_string(),
        scope.live_blocks.to_string(),
    ];
    if options.previous.is_some() {
        cells.push(signed(growth));
    }
    if options.detail {
        cells.extend([
            count(&[Counter::MallocCalls]),
            count(&[Counter::CallocCalls]),
            count(&[Counter::ReallocCalls, Counter::ReallocarrayCalls]),
            count(&[Counter::FreeCalls]),
            count(&ALIGNED),
            count(&[Counter::FailedAllocs]),
            scope.overhead_bytes.to_string(),
        ]);
    }
    cells.extend([
        count(&[Counter::CrossFreedBlocks]),
        count(&[Counter::CrossFreedBytes]),
    ]);
    cells
}

/// One line of the RSS summary: label, exact bytes, human bytes, and a note.
fn summary_line(label: &str, bytes: i64, note: &str) -> String {
    let mut line = format!(
        "{}{} bytes  {}",
        pad(label, 34, Align::Left),
        pad(&bytes.to_string(), 14, Align::Right),
        pad(&human_bytes(bytes), 10, Align::Right)
    );
    if !note.is_empty() {
        line.push_str("  ");
        line.push_str(note);
    }
    line
}

/// Renders the table and the RSS summary, each line ending in a newline.
pub fn memory_table(snapshot: &ProcessSnapshot, options: &TableOptions) -> String {
    let growth = growth_by(options.previous);
    let report = &snapshot.report;
    let mut table = Table::new(columns(options));
    for scope in sort_scopes(&report.scopes, options.sort, &growth) {
        table.row(cells(scope, options, growth(scope)));
    }
    let mut out = vec![format!(
        "======== Skull Memory Measurement ======== pid {}: {}",
        report.pid,
        escape(&snapshot.segment.command_line)
    )];
    out.extend(table.lines(false));
    let totals = &report.totals;
    let p = &snapshot.process;
    out.push(String::new());
    out.push("================ Summary =================".to_owned());
    out.push(format!(
        "Total Used: {} bytes in {} blocks",
        totals.used_bytes, totals.live_blocks
    ));
    if let Some(previous) = options.previous {
        let interval = match options.interval {
            Some(seconds) if seconds != 0.0 => format!(" in {seconds} s"),
            _ => String::new(),
        };
        let grown = totals.used_bytes as i64 - previous.report.totals.used_bytes as i64;
        out.push(format!("Growth: {} bytes{interval}", signed(grown)));
    }
    let live_and_headers = (totals.used_bytes + totals.overhead_bytes) as i64;
    let in_heap = p.malloc_heap_bytes as i64 - p.malloc_retained_bytes as i64;
    out.push(format!(
        "Header Overhead: {} bytes (16 per block, more for aligned blocks)",
        totals.overhead_bytes
    ));
    let bytes = |value: u64| value as i64;
    out.push(summary_line("Process RSS", bytes(p.rss_bytes), ""));
    out.push(summary_line(
        "  glibc heap mappings",
        bytes(p.malloc_heap_bytes),
        "brk heap and arena heaps",
    ));
    out.push(summary_line("    live blocks and headers", in_heap, ""));
    out.push(summary_line(
        "    retained by malloc (at least)",
        bytes(p.malloc_retained_bytes),
        "freed but kept, fragmentation",
    ));
    out.push(summary_line(
        "  other anonymous memory",
        bytes(p.other_anon_bytes),
        "V8/JS heap, stacks, mmapped large blocks",
    ));
    if live_and_headers > in_heap {
        out.push(summary_line(
            "    of it live large blocks (about)",
            live_and_headers - in_heap,
            "malloc maps these one by one",
        ));
    }
    out.push(summary_line(
        "  code and mapped files",
        bytes(p.file_bytes),
        "",
    ));
    out.push(summary_line(
        "  shared memory",
        bytes(p.shmem_bytes),
        &format!(
            "the skull-mem segment: {}",
            human_bytes(bytes(p.segment_bytes))
        ),
    ));
    let threads = report
        .threads
        .map_or_else(|| "?".to_owned(), |threads| threads.to_string());
    let tracing = if snapshot.segment.control == 0 {
        "off"
    } else {
        "on"
    };
    out.push(format!(
        "Scopes: {}  Threads: {threads}  Tracing: {tracing}  Library: {}",
        report.scopes.len(),
        escape(&report.version)
    ));
    let mut text = out.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_like_locale_compare() {
        let mut names = vec!["b", "B", "a", "_x", "10", "2", "Alpha", "alpha"];
        names.sort_by(|a, b| locale_compare(a, b));
        assert_eq!(names, ["_x", "10", "2", "a", "alpha", "Alpha", "b", "B"]);
    }

    #[test]
    fn sort_keys_parse_or_say_which_exist() {
        assert_eq!("growth".parse(), Ok(SortKey::Growth));
        assert_eq!(
            "size".parse::<SortKey>(),
            Err("--sort must be one of used, growth, name (got \"size\")".to_owned())
        );
    }
}
