//! The library's report of a process (the snapshot format v1 without the fields the
//! TypeScript API adds) as typed JavaScript objects.
//!
//! The figures are derived once, by the report's JSON model (`skull_mem_core::report::json`,
//! or the same JSON from the preloaded library's `skull_report`); these structs only give it a
//! type. Field names are the format's snake_case (README, "JSON"), so `JSON.stringify` of a
//! result prints the documented format; counters keep the order of `enum skull_counter`.

use indexmap::IndexMap;
use napi_derive::napi;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use skull_mem_core::counters::Counter;

use crate::error::{fail, Result, CORRUPT};

/// One scope's figures.
#[napi(object, object_from_js = false)]
#[derive(Deserialize)]
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
    /// Every counter of the scope.
    #[serde(deserialize_with = "counters_in_order")]
    pub counters: IndexMap<String, f64>,
}

/// The figures summed over every scope.
#[napi(object, object_from_js = false)]
#[derive(Deserialize)]
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
    /// Every counter summed.
    #[serde(deserialize_with = "counters_in_order")]
    pub counters: IndexMap<String, f64>,
}

/// A process's figures, as the library reports them.
#[napi(object, object_from_js = false, use_nullable = true)]
#[derive(Deserialize)]
pub struct Report {
    /// The process id.
    pub pid: u32,
    /// The library's version.
    pub version: String,
    /// Threads holding a counter block.
    pub threads: Option<f64>,
    /// Bytes mapped for counters.
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

impl Report {
    /// Types the JSON report (`report::json`, or `skull_report`'s text parsed).
    pub fn from_json(json: Value) -> Result<Report> {
        serde_json::from_value(json).map_err(|e| {
            fail(
                CORRUPT,
                format!("the library's report does not have the documented fields: {e}"),
            )
        })
    }
}

/// Every counter by its snake_case name, in the order of `enum skull_counter` whatever order
/// the JSON has (serde_json sorts keys); a name this build does not know goes last, so
/// nothing is dropped.
fn counters_in_order<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<IndexMap<String, f64>, D::Error> {
    let mut found: IndexMap<String, f64> = IndexMap::deserialize(deserializer)?;
    let mut ordered = IndexMap::with_capacity(found.len());
    for counter in Counter::ALL {
        if let Some((name, value)) = found.shift_remove_entry(counter.name()) {
            ordered.insert(name, value);
        }
    }
    ordered.extend(found);
    Ok(ordered)
}
