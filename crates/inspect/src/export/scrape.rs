//! What `skull-mem serve`'s `/debug/pprof/heap?pid=N` answers (the path Pyroscope, Parca and
//! Grafana Alloy scrape): the heap profile of the traced stacks when tracing has recorded
//! any, else the per-scope profile of the always-on counters, so every measured process has
//! a profile.

use std::path::Path;

use skull_mem_symbolize::Symbolizer;

use super::heap::read_heap_trace;
use super::pprof::{heap_profile, scope_profile, ProfileOptions};
use crate::process;
use crate::trace::TraceError;

/// The gzipped pprof profile of process `pid` (segment in `dir`): traced stacks when tracing
/// is on or recorded stacks before it was switched off, the per-scope profile otherwise.
pub fn heap_or_scope_profile(
    dir: &Path,
    pid: u32,
    symbolizer: &mut Symbolizer,
) -> Result<Vec<u8>, TraceError> {
    let trace = read_heap_trace(dir, pid)?;
    if trace.status.enabled || !trace.stacks.is_empty() {
        return Ok(heap_profile(&trace, symbolizer, &ProfileOptions::default()));
    }
    Ok(scope_profile(&process::take(dir, pid)?))
}
