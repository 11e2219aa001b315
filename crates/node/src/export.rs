//! The exports of `skull_mem_inspect::export`: pprof heap profiles (`skull-trace report
//! --format pprof`, `sm.trace.pprof()`, `skull-mem snapshot --format pprof`) as Buffers, and
//! the HTML report (`skull-trace report --format html`).

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use skull_mem_inspect::export::html::html_report_of;
use skull_mem_inspect::export::pprof::{heap_profile_of, scope_profile, ProfileOptions};
use skull_mem_inspect::process;

use crate::error::{unreadable, Result};
use crate::reader::{as_tool, dir_or_default};
use crate::trace::{traced, with_symbolizer};

/// The pprof heap profile (gzipped `perftools.profiles.Profile`) of the stacks traced in
/// process `pid`: allocations and live blocks by stack and scope.
#[napi]
pub fn trace_pprof(pid: u32, dir: Option<String>) -> Result<Buffer> {
    as_tool(|| {
        let profile = with_symbolizer(|symbolizer| {
            heap_profile_of(
                &dir_or_default(dir),
                pid,
                symbolizer,
                &ProfileOptions::default(),
            )
        })
        .map_err(traced)?;
        Ok(Buffer::from(profile))
    })
}

/// The per-scope pprof profile of process `pid` from its counters (no tracing needed): one
/// sample per scope, its stack one frame named after the scope.
#[napi]
pub fn snapshot_pprof(pid: u32, dir: Option<String>) -> Result<Buffer> {
    as_tool(|| {
        let snapshot =
            process::take(&dir_or_default(dir), pid).map_err(|error| unreadable(&error))?;
        Ok(Buffer::from(scope_profile(&snapshot)))
    })
}

/// One self-contained HTML page of process `pid`: flame graphs of its live and allocated
/// traced bytes, its per-scope table and what makes up its RSS.
#[napi]
pub fn trace_html(pid: u32, dir: Option<String>) -> Result<String> {
    as_tool(|| {
        with_symbolizer(|symbolizer| html_report_of(&dir_or_default(dir), pid, symbolizer))
            .map_err(traced)
    })
}
