//! The heap report as one self-contained HTML page (`skull-trace report --format html`):
//! icicle flame graphs of the live and the allocated traced bytes (click a frame to zoom,
//! search to highlight), the per-scope table and what makes up the RSS.
//!
//! The page is `report.html` (its CSS and script written for skull-mem, no library, no
//! network access) with the data put in as JSON. It is rendered here, in Rust, so every
//! front end (the CLI through the binding, `serve`) gets the same page from one renderer.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use skull_mem_symbolize::{Lookup, Symbolizer};

use super::heap::{by_stack_and_scope, function_name, read_heap_trace, HeapTrace};
use crate::process;
use crate::render::memory::{memory_table, TableOptions};
use crate::report::ProcessSnapshot;
use crate::trace::render::describe;
use crate::trace::TraceError;

const TEMPLATE: &str = include_str!("report.html");
const DATA_MARK: &str = "/*DATA*/";

/// One stack in the page: frame name ids, outermost first, and its bytes.
#[derive(Serialize)]
struct PageStack {
    frames: Vec<u32>,
    live: f64,
    alloc: f64,
}

/// What the page's script draws.
#[derive(Serialize)]
struct PageData {
    title: String,
    meta: String,
    table: String,
    names: Vec<String>,
    stacks: Vec<PageStack>,
}

/// The page of `trace`, with the per-scope table and RSS explanation of `snapshot` (the same
/// process read at the same moment).
pub fn html_report(
    trace: &HeapTrace,
    snapshot: &ProcessSnapshot,
    symbolizer: &mut Symbolizer,
) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut name_ids: HashMap<String, u32> = HashMap::new();
    let mut by_address: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut name_id = |name: String| -> u32 {
        *name_ids.entry(name.clone()).or_insert_with(|| {
            names.push(name);
            names.len() as u32 - 1
        })
    };
    let mut totals: HashMap<usize, (f64, f64)> = HashMap::new();
    for entry in by_stack_and_scope(trace) {
        let total = totals.entry(entry.stack).or_default();
        total.0 += entry.figures.inuse_space;
        total.1 += entry.figures.alloc_space;
    }
    let mut stacks: Vec<PageStack> = Vec::with_capacity(totals.len());
    let mut ordered: Vec<(usize, (f64, f64))> = totals.into_iter().collect();
    ordered.sort_by_key(|&(stack, _)| stack);
    for (stack, (live, alloc)) in ordered {
        let mut frames: Vec<u32> = Vec::new();
        // Innermost first, each address's inlined frames before the frame they are in.
        for &address in &trace.stacks[stack].frames {
            let ids = by_address
                .entry(address)
                .or_insert_with(|| match &trace.process {
                    Some(process) => symbolizer
                        .symbolize(process, address, Lookup::ReturnAddress)
                        .iter()
                        .map(|frame| name_id(function_name(frame)))
                        .collect(),
                    None => vec![name_id(format!("?? ({address:#x})"))],
                });
            frames.extend(ids.iter());
        }
        frames.reverse();
        stacks.push(PageStack {
            frames,
            live,
            alloc,
        });
    }
    let segment = &snapshot.segment;
    let data = PageData {
        title: format!(
            "skull-mem heap report: {} (pid {})",
            segment.executable, trace.pid
        ),
        meta: format!(
            "{} · read {} · tracing {} · {} traced allocations, {} live, dropped: {} stacks, {} blocks",
            segment.command_line,
            snapshot.time,
            describe(&trace.status),
            trace.status.counts.traced_allocs,
            trace.status.live_blocks,
            trace.status.counts.dropped_stacks,
            trace.status.counts.dropped_blocks,
        ),
        table: memory_table(snapshot, &TableOptions::default()),
        names,
        stacks,
    };
    let json = serde_json::to_string(&data).expect("the page's data serializes");
    // Inside <script>, "</script" or "<!--" in a name could end or upset the element: every
    // "<" (only ever inside a JSON string) is written as the escape "\u003c", the same string.
    TEMPLATE.replacen(DATA_MARK, &json.replace('<', "\\u003c"), 1)
}

/// The page of process `pid`, read now through its segment in `dir`.
pub fn html_report_of(
    dir: &Path,
    pid: u32,
    symbolizer: &mut Symbolizer,
) -> Result<String, TraceError> {
    let trace = read_heap_trace(dir, pid)?;
    let snapshot = process::take(dir, pid)?;
    Ok(html_report(&trace, &snapshot, symbolizer))
}
