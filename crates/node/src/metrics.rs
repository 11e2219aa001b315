//! Metrics: the Prometheus/OpenMetrics text of every measured process (`skull-mem serve`),
//! and this process's per-scope families for the prom-client and OpenTelemetry collectors
//! (src/metrics.ts), and the profile `/debug/pprof/heap` serves. Names, help texts and values come from `skull_mem_inspect::export::metrics`.

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use skull_mem_inspect::export::metrics::{self, Format, SCOPE_FAMILIES};
use skull_mem_inspect::export::scrape::heap_or_scope_profile;

use crate::error::{unreadable, Result};
use crate::reader::{as_tool, dir_or_default};
use crate::trace::{traced, with_symbolizer};

/// A response body and its content type.
#[napi(object, object_from_js = false)]
pub struct Exposition {
    /// The `Content-Type` header.
    pub content_type: String,
    /// The metrics text.
    pub text: String,
}

/// `/metrics`: every live measured process in `dir` (default `$SKULL_MEM_DIR` or /dev/shm)
/// the caller may read, as Prometheus text, or OpenMetrics with `openMetrics`.
#[napi]
pub fn render_metrics(dir: Option<String>, open_metrics: bool) -> Result<Exposition> {
    let dir = dir_or_default(dir);
    let format = if open_metrics {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    };
    as_tool(|| {
        let (processes, failed) = metrics::read_all(&dir).map_err(|error| unreadable(&error))?;
        Ok(Exposition {
            content_type: format.content_type().to_owned(),
            text: metrics::render(&processes, failed, format),
        })
    })
}

/// `/debug/pprof/heap?pid=N`: the gzipped pprof profile of process `pid` (traced stacks, or
/// per scope when tracing recorded nothing).
#[napi]
pub fn scrape_heap_profile(pid: u32, dir: Option<String>) -> Result<Buffer> {
    let dir = dir_or_default(dir);
    as_tool(|| {
        with_symbolizer(|symbolizer| heap_or_scope_profile(&dir, pid, symbolizer))
            .map(Buffer::from)
            .map_err(traced)
    })
}

/// One scope's value in a family.
#[napi(object, object_from_js = false)]
pub struct ScopeSample {
    /// The scope's name.
    pub scope: String,
    /// The scope's kind.
    pub kind: String,
    /// The value (exact below 2^53).
    pub value: f64,
}

/// A per-scope metric family: what the collectors register before any scrape.
#[napi(object, object_from_js = false)]
pub struct MetricFamily {
    /// The Prometheus sample name (a counter's ends in `_total`).
    pub name: String,
    /// The help text.
    pub help: String,
    /// `gauge` or `counter`.
    #[napi(ts_type = "'gauge' | 'counter'")]
    pub metric_type: String,
    /// `bytes`, or absent for counts.
    pub unit: Option<String>,
}

/// The per-scope families, in the order `ownScopeMetrics` gives their samples. Reads nothing.
#[napi]
pub fn scope_metric_families() -> Vec<MetricFamily> {
    SCOPE_FAMILIES
        .iter()
        .map(|scope_family| MetricFamily {
            name: scope_family.family.name.to_owned(),
            help: scope_family.family.help.to_owned(),
            metric_type: scope_family.family.metric_type.name().to_owned(),
            unit: scope_family.family.unit.map(str::to_owned),
        })
        .collect()
}

/// This process's per-scope values, read now: one list per family of
/// `scopeMetricFamilies()`, in its order (the collectors call it on each scrape).
#[napi]
pub fn own_scope_metrics() -> Result<Vec<Vec<ScopeSample>>> {
    let report = crate::own_report()?;
    Ok(SCOPE_FAMILIES
        .iter()
        .map(|scope_family| {
            report
                .scopes
                .iter()
                .map(|scope| ScopeSample {
                    scope: scope.name.clone(),
                    kind: scope.kind.clone(),
                    value: (scope_family.value)(scope) as f64,
                })
                .collect()
        })
        .collect())
}
