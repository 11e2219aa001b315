//! Measured processes as Prometheus metrics: the text exposition format 0.0.4 (what
//! Prometheus, Grafana Alloy and `promtool check metrics` read) and OpenMetrics 1.0 (asked
//! for by `Accept: application/openmetrics-text`), for `skull-mem serve`'s `/metrics`.
//!
//! One series per process and scope (`pid`, `command`, `scope`, `kind` labels) for each of
//! [`SCOPE_FAMILIES`], and per process its resident figures and tracing drops. The same
//! scope families, without the process labels, feed the in-process prom-client and
//! OpenTelemetry collectors through the Node binding, so a name or a help text has one home.
//!
//! Label values come from the measured process (its command line, scope names): they are
//! escaped as both formats require (`\\`, `\"`, `\n`), so no process can forge a series.

use std::fmt::Write;
use std::fs;
use std::path::Path;

use skull_mem_core::counters::Counter;

use crate::process::{process_snapshot, resident};
use crate::reader::{self, parse_file_name, ReadError};
use crate::report::{ProcessSnapshot, ScopeReport};

/// Which exposition format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text: counters' families named without `_total`, `# UNIT`, `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A metric family's type, as both formats name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// A value that goes up and down.
    Gauge,
    /// A value that only goes up while the process lives; its name ends in `_total`.
    Counter,
}

impl MetricType {
    /// The name in `# TYPE` lines (and in the binding).
    pub fn name(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        }
    }
}

/// One metric family: its sample name, help text, type and unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Family {
    /// The sample name (a counter's ends in `_total`).
    pub name: &'static str,
    /// The `# HELP` text (no backslash or newline, so it needs no escaping).
    pub help: &'static str,
    /// Gauge or counter.
    pub metric_type: MetricType,
    /// `bytes`, or `None` for counts: the name's suffix, and OpenMetrics' `# UNIT`.
    pub unit: Option<&'static str>,
}

impl Family {
    /// The OpenMetrics family name: a counter's sample name without `_total`.
    fn open_metrics_name(&self) -> &'static str {
        match self.metric_type {
            MetricType::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            MetricType::Gauge => self.name,
        }
    }
}

/// A per-scope family and how a scope's figures give its value.
#[derive(Clone, Copy, Debug)]
pub struct ScopeFamily {
    /// Name, help, type, unit.
    pub family: Family,
    /// The value of one scope.
    pub value: fn(&ScopeReport) -> u64,
}

/// The allocating entry points: their calls are `skull_mem_alloc_calls_total`.
const ALLOC_CALLS: [Counter; 9] = [
    Counter::MallocCalls,
    Counter::CallocCalls,
    Counter::ReallocCalls,
    Counter::ReallocarrayCalls,
    Counter::PosixMemalignCalls,
    Counter::AlignedAllocCalls,
    Counter::MemalignCalls,
    Counter::VallocCalls,
    Counter::PvallocCalls,
];

/// The per-scope families, in the order they are written.
pub const SCOPE_FAMILIES: [ScopeFamily; 5] = [
    ScopeFamily {
        family: Family {
            name: "skull_mem_used_bytes",
            help: "Bytes requested by this scope's live blocks (allocated and not yet freed, by any scope).",
            metric_type: MetricType::Gauge,
            unit: Some("bytes"),
        },
        value: |scope| scope.used_bytes,
    },
    ScopeFamily {
        family: Family {
            name: "skull_mem_live_blocks",
            help: "Blocks this scope allocated that are not yet freed.",
            metric_type: MetricType::Gauge,
            unit: None,
        },
        value: |scope| scope.live_blocks,
    },
    ScopeFamily {
        family: Family {
            name: "skull_mem_allocated_bytes_total",
            help: "Bytes requested by every block this scope allocated.",
            metric_type: MetricType::Counter,
            unit: Some("bytes"),
        },
        value: |scope| scope.counters.get(Counter::AllocBytes),
    },
    ScopeFamily {
        family: Family {
            name: "skull_mem_freed_bytes_total",
            help: "Bytes of this scope's blocks freed, by any scope.",
            metric_type: MetricType::Counter,
            unit: Some("bytes"),
        },
        value: |scope| scope.counters.get(Counter::FreedBytes),
    },
    ScopeFamily {
        family: Family {
            name: "skull_mem_alloc_calls_total",
            help: "Calls of the allocating functions (malloc, calloc, realloc, reallocarray and the aligned family) made in this scope.",
            metric_type: MetricType::Counter,
            unit: None,
        },
        value: |scope| scope.counters.sum(&ALLOC_CALLS),
    },
];

const RSS: Family = Family {
    name: "skull_mem_process_rss_bytes",
    help: "Resident set size of the process (VmRSS).",
    metric_type: MetricType::Gauge,
    unit: Some("bytes"),
};

const RETAINED: Family = Family {
    name: "skull_mem_malloc_retained_bytes",
    help: "Resident bytes of glibc's heap mappings beyond live blocks and their headers: kept by malloc after frees, and fragmentation (a lower bound).",
    metric_type: MetricType::Gauge,
    unit: Some("bytes"),
};

const TRACE_DROPPED: Family = Family {
    name: "skull_mem_trace_dropped_total",
    help:
        "Traced allocations not recorded because a trace table was full (table=stacks or blocks).",
    metric_type: MetricType::Counter,
    unit: None,
};

const UNREADABLE: Family = Family {
    name: "skull_mem_unreadable_segments",
    help: "Segments of this user's (or, as root, any user's) processes that the exporter could not read, at this scrape.",
    metric_type: MetricType::Gauge,
    unit: None,
};

/// How a per-process family's value is read.
type ProcessValue = fn(&ProcessMetrics) -> u64;

/// What the exporter shows of one process.
#[derive(Clone, Debug)]
pub struct ProcessMetrics {
    /// Counters and resident figures, as `skull-mem memory --json` prints them.
    pub snapshot: ProcessSnapshot,
    /// Traced allocations whose stack (`.0`) or block (`.1`) was not recorded: a table was full.
    pub trace_dropped: (u64, u64),
}

/// Reads process `pid` through its segment in `dir`: one mapping for counters and tracing
/// counts, then its resident figures.
pub fn read_process(dir: &Path, pid: u32) -> Result<ProcessMetrics, ReadError> {
    // Two counters only: `TraceStatus` also counts the live table, which touches every page
    // of it (a hundred processes: most of a scrape's time).
    let (reading, trace_dropped) = reader::read_pid_with(dir, pid, |view| {
        let trace = view.trace;
        (trace.dropped_stacks(), trace.dropped_blocks())
    })?;
    let memory = resident(pid, &reading.info.path)?;
    Ok(ProcessMetrics {
        snapshot: process_snapshot(&reading.snapshot, reading.info, memory),
        trace_dropped,
    })
}

/// Every live measured process in `dir` the caller may read, by pid, and how many segments
/// of its own (any, as root) could not be read. Processes that ended meanwhile are left out
/// and their segments left alone (`skull-mem ps` removes them).
pub fn read_all(dir: &Path) -> Result<(Vec<ProcessMetrics>, usize), ReadError> {
    let entries = fs::read_dir(dir).map_err(|error| reader::io_error(dir, error))?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(parse_file_name))
        .filter(|&(uid, _)| uid == me || me == 0)
        .map(|(_, pid)| pid)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let mut processes = Vec::with_capacity(pids.len());
    let mut unreadable = 0;
    for pid in pids {
        match read_process(dir, pid) {
            Ok(process) => processes.push(process),
            Err(ReadError::NoProcess { .. } | ReadError::Stale { .. }) => {}
            // A segment of a pid now used by a process without the library is stale too.
            Err(ReadError::NotMeasured { .. }) => {}
            Err(_) => unreadable += 1,
        }
    }
    Ok((processes, unreadable))
}

/// `/metrics`: every process's series in `format`, families in a fixed order.
pub fn render(processes: &[ProcessMetrics], unreadable: usize, format: Format) -> String {
    let scopes: usize = processes
        .iter()
        .map(|p| p.snapshot.report.scopes.len())
        .sum();
    let mut out = String::with_capacity(4096 + scopes * 5 * 160);
    let labels: Vec<String> = processes.iter().map(process_labels).collect();
    for scope_family in &SCOPE_FAMILIES {
        header(&mut out, &scope_family.family, format);
        for (process, labels) in processes.iter().zip(&labels) {
            for scope in &process.snapshot.report.scopes {
                out.push_str(scope_family.family.name);
                out.push('{');
                out.push_str(labels);
                out.push_str(",scope=\"");
                escape_label(&scope.name, &mut out);
                out.push_str("\",kind=\"");
                escape_label(&scope.kind, &mut out);
                let _ = writeln!(out, "\"}} {}", (scope_family.value)(scope));
            }
        }
    }
    let per_process: [(&Family, ProcessValue); 2] = [
        (&RSS, |p| p.snapshot.process.rss_bytes),
        (&RETAINED, |p| p.snapshot.process.malloc_retained_bytes),
    ];
    for (family, value) in per_process {
        header(&mut out, family, format);
        for (process, labels) in processes.iter().zip(&labels) {
            let _ = writeln!(out, "{}{{{labels}}} {}", family.name, value(process));
        }
    }
    header(&mut out, &TRACE_DROPPED, format);
    for (process, labels) in processes.iter().zip(&labels) {
        for (table, dropped) in [
            ("stacks", process.trace_dropped.0),
            ("blocks", process.trace_dropped.1),
        ] {
            let name = TRACE_DROPPED.name;
            let _ = writeln!(out, "{name}{{{labels},table=\"{table}\"}} {dropped}");
        }
    }
    header(&mut out, &UNREADABLE, format);
    let _ = writeln!(out, "{} {unreadable}", UNREADABLE.name);
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// `pid="..",command=".."`, escaped.
fn process_labels(process: &ProcessMetrics) -> String {
    let mut labels = format!("pid=\"{}\",command=\"", process.snapshot.segment.pid);
    escape_label(&process.snapshot.segment.command_line, &mut labels);
    labels.push('"');
    labels
}

/// The `# HELP`, `# TYPE` (and in OpenMetrics `# UNIT`) lines of `family`.
fn header(out: &mut String, family: &Family, format: Format) {
    let name = match format {
        Format::Prometheus => family.name,
        Format::OpenMetrics => family.open_metrics_name(),
    };
    let _ = writeln!(out, "# HELP {name} {}", family.help);
    let _ = writeln!(out, "# TYPE {name} {}", family.metric_type.name());
    if let (Format::OpenMetrics, Some(unit)) = (format, family.unit) {
        let _ = writeln!(out, "# UNIT {name} {unit}");
    }
}

/// Appends `value` escaped for a label value: backslash, double quote and newline are the
/// characters both formats escape; everything else (valid UTF-8) stays as it is.
pub fn escape_label(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        let mut out = String::new();
        escape_label("a\\b\"c\nd\té", &mut out);
        assert_eq!(out, "a\\\\b\\\"c\\nd\té");
    }

    #[test]
    fn open_metrics_names_counter_families_without_total() {
        assert_eq!(
            SCOPE_FAMILIES[2].family.open_metrics_name(),
            "skull_mem_allocated_bytes"
        );
        assert_eq!(
            SCOPE_FAMILIES[0].family.open_metrics_name(),
            "skull_mem_used_bytes"
        );
    }

    #[test]
    fn no_process_still_gives_every_family_and_the_unreadable_count() {
        let text = render(&[], 2, Format::OpenMetrics);
        assert_eq!(text.matches("# TYPE ").count(), 9);
        assert!(text.contains("# TYPE skull_mem_alloc_calls counter\n"));
        assert!(text.contains("# UNIT skull_mem_used_bytes bytes\n"));
        assert!(text.ends_with("skull_mem_unreadable_segments 2\n# EOF\n"));
        let prometheus = render(&[], 0, Format::Prometheus);
        assert!(prometheus.contains("# TYPE skull_mem_alloc_calls_total counter\n"));
        assert!(!prometheus.contains("# EOF"));
    }
}
