//! Switching tracing of a process on and off: its control word, and the scopes to trace.

use std::path::Path;
use std::sync::atomic::Ordering;

use skull_mem_core::region::MAX_SCOPES;
use skull_mem_core::trace::control::{TraceConfig, MAX_DEPTH};

use super::status::TraceStatus;
use super::TraceError;
use crate::reader::{self, SegmentView};

/// How to trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSettings {
    /// Frames per stack, 1 to `MAX_DEPTH` (larger values are cut to it).
    pub depth: usize,
    /// Poisson sampling mean in bytes; 0 traces every allocation.
    pub sample_bytes: u64,
    /// Only allocations charged to these scopes (by name); empty: all scopes.
    pub scopes: Vec<String>,
    /// The trace tables' memory budget in bytes (`--memory`); `None` keeps the process's.
    pub memory: Option<u64>,
}

fn switch(
    view: &SegmentView,
    pid: u32,
    settings: Option<&TraceSettings>,
) -> Result<TraceStatus, TraceError> {
    if !view.writable {
        return Err(TraceError::NotWritable {
            what: format!("switch tracing of process {pid}"),
        });
    }
    let config = settings.map(|settings| TraceConfig {
        depth: settings.depth.clamp(1, MAX_DEPTH),
        sample_bytes: settings.sample_bytes,
        scoped: !settings.scopes.is_empty(),
    });
    let header = &view.region.header;
    if let Some(settings) = settings.filter(|settings| !settings.scopes.is_empty()) {
        let table = &view.region.scopes;
        let mut bits = [0u64; MAX_SCOPES / 64];
        for name in &settings.scopes {
            let Some(id) = (0..table.len()).find(|&id| table.name(id) == name) else {
                return Err(TraceError::NoScope {
                    pid,
                    name: name.clone(),
                    known: (0..table.len())
                        .map(|id| table.name(id).to_owned())
                        .collect(),
                });
            };
            bits[id as usize / 64] |= 1 << (id % 64);
        }
        // The scope bits first: the library reads them once the control word says so.
        for (word, value) in header.trace_scopes.iter().zip(bits) {
            word.store(value, Ordering::Release);
        }
    }
    if let Some(memory) = settings.and_then(|settings| settings.memory) {
        // Before the control word, so that tracing starts with it.
        header.trace_budget.store(memory, Ordering::Release);
    }
    let word = config.map_or(0, |config| config.encode());
    header.control.store(word, Ordering::Release);
    Ok(TraceStatus::of(word, view.trace))
}

/// Switches tracing of process `pid` on with `settings`, or off with `None` (the blocks
/// traced so far stay listed until freed). Returns the status after it.
pub fn control(
    dir: &Path,
    pid: u32,
    settings: Option<&TraceSettings>,
) -> Result<TraceStatus, TraceError> {
    let (_, result) = reader::read_pid_with(dir, pid, |view| switch(view, pid, settings))?;
    result
}
