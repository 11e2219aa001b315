//! What the tracing functions return, as typed JavaScript objects converted to and from the
//! inspect crate's model (`skull_mem_inspect::trace`). Field names are the snake_case of
//! `skull-trace ... --json`, so `JSON.stringify` prints that format.

use napi_derive::napi;
use skull_mem_inspect::trace::estimate as estimate_model;
use skull_mem_inspect::trace::events as events_model;
use skull_mem_inspect::trace::frames as frames_model;
use skull_mem_inspect::trace::leaks as leaks_model;
use skull_mem_inspect::trace::status as status_model;
use skull_mem_inspect::trace::untraced as untraced_model;

/// Recorded allocations, recorded frees, and what was dropped because a table was full.
#[napi(object)]
pub struct TraceCounts {
    /// Allocations recorded since tracing started.
    #[napi(js_name = "traced_allocs")]
    pub traced_allocs: f64,
    /// Recorded allocations freed since.
    #[napi(js_name = "traced_frees")]
    pub traced_frees: f64,
    /// Stacks not recorded because the stack table was full.
    #[napi(js_name = "dropped_stacks")]
    pub dropped_stacks: f64,
    /// Blocks not recorded because the live-block table was full.
    #[napi(js_name = "dropped_blocks")]
    pub dropped_blocks: f64,
}

/// The memory the trace tables take, of their budget (`SKULL_MEM_TRACE_MEMORY`).
#[napi(object)]
pub struct TraceMemory {
    /// Bytes the tables may take.
    pub budget: f64,
    /// Bytes the tables have taken.
    pub used: f64,
    /// Bytes backed (the tables' header included).
    pub committed: f64,
    /// Nodes of the stack trie.
    #[napi(js_name = "stack_nodes")]
    pub stack_nodes: f64,
    /// Bytes the stack trie takes.
    #[napi(js_name = "stack_bytes")]
    pub stack_bytes: f64,
    /// Bytes the live-block table takes.
    #[napi(js_name = "live_bytes")]
    pub live_bytes: f64,
    /// Bytes the threads' running totals take.
    #[napi(js_name = "totals_bytes")]
    pub totals_bytes: f64,
}

/// Tracing state and counts of a process.
#[napi(object, use_nullable = true)]
pub struct TraceStatus {
    /// Whether tracing is on.
    pub enabled: bool,
    /// Frames per stack; null when off.
    pub depth: Option<u32>,
    /// The Poisson mean in bytes (0: every allocation); null when off.
    #[napi(js_name = "sample_bytes")]
    pub sample_bytes: Option<f64>,
    /// Whether only chosen scopes are traced.
    pub scoped: bool,
    /// What was recorded and dropped.
    pub counts: TraceCounts,
    /// Traced blocks live now.
    #[napi(js_name = "live_blocks")]
    pub live_blocks: f64,
    /// The tables' memory.
    pub memory: TraceMemory,
}

/// One frame of a stack (inlined frames come before the frame they are inlined in).
#[napi(object, use_nullable = true)]
#[derive(Clone)]
pub struct TraceFrame {
    /// Position of the return address in the stack, innermost 0.
    pub index: u32,
    /// The return address, `0x...`.
    pub address: String,
    /// The demangled function; null when unknown.
    pub function: Option<String>,
    /// The source file; null when unknown.
    pub file: Option<String>,
    /// The 1-based source line; null when unknown.
    pub line: Option<u32>,
    /// The module the address belongs to; null when the process could not be read.
    pub module: Option<String>,
    /// Whether this frame was inlined into the next one.
    pub inlined: bool,
    /// `function at file:line (module)`, or `?? (module+offset)`.
    pub text: String,
}

/// Live traced blocks from one call site (or stack, or function).
#[napi(object)]
pub struct LeakGroup {
    /// Bytes of the live blocks (estimated when `estimated`).
    pub bytes: f64,
    /// Number of live blocks (estimated when `estimated`).
    pub blocks: f64,
    /// Whether `bytes` and `blocks` are estimates from a sample by bytes.
    pub estimated: bool,
    /// Traced blocks behind the figures.
    pub samples: f64,
    /// Their own bytes, before scaling.
    #[napi(js_name = "sampled_bytes")]
    pub sampled_bytes: f64,
    /// Rough relative error of the estimates, 1/sqrt(samples) (0 when counted).
    pub error: f64,
    /// Recorded stacks in the group.
    pub stacks: u32,
    /// Whether the stack was cut at the recording depth.
    pub truncated: bool,
    /// The scopes the blocks are charged to.
    pub scopes: Vec<String>,
    /// Age of the oldest block, in seconds.
    #[napi(js_name = "oldest_seconds")]
    pub oldest_seconds: f64,
    /// Age of the newest block, in seconds.
    #[napi(js_name = "newest_seconds")]
    pub newest_seconds: f64,
    /// The symbolized stack, innermost first.
    pub frames: Vec<TraceFrame>,
}

/// The leak candidates of a process, largest first.
#[napi(object)]
pub struct LeakReport {
    /// The process id.
    pub pid: u32,
    /// Its tracing state.
    pub status: TraceStatus,
    /// How blocks were grouped.
    #[napi(js_name = "group_by", ts_type = "'stack' | 'line' | 'function'")]
    pub group_by: String,
    /// Whether the figures are estimates from a sample.
    pub estimated: bool,
    /// Groups with live blocks (before `top`).
    pub stacks: u32,
    /// The groups listed, largest first.
    pub groups: Vec<LeakGroup>,
    /// Live blocks the scopes count that no table holds.
    pub untraced: Untraced,
    /// Said once about the JIT frames listed, when due: `function_lines` (some JavaScript
    /// frames show where their function is defined) or `unnamed` (no JIT map names JIT code).
    #[napi(js_name = "jit_note", ts_type = "'function_lines' | 'unnamed'")]
    pub jit_note: Option<String>,
}

/// Live blocks of one cause that no trace table holds.
#[napi(object)]
pub struct UntracedPart {
    /// `before_main`, `before_tracing` or `not_sampled`.
    #[napi(ts_type = "'before_main' | 'before_tracing' | 'not_sampled'")]
    pub reason: String,
    /// Their bytes.
    pub bytes: f64,
    /// How many blocks.
    pub blocks: f64,
    /// The reason in words.
    pub why: String,
}

/// Live blocks counted in the program's scopes (skull-mem's own left out) and not traced:
/// allocated before tracing was ready or switched on, not sampled, or dropped.
#[napi(object)]
pub struct Untraced {
    /// Their bytes.
    pub bytes: f64,
    /// How many blocks.
    pub blocks: f64,
    /// By cause; empty when every live block is traced.
    pub parts: Vec<UntracedPart>,
}

impl From<&untraced_model::Untraced> for Untraced {
    fn from(u: &untraced_model::Untraced) -> Self {
        Untraced {
            bytes: u.bytes as f64,
            blocks: u.blocks as f64,
            parts: u
                .parts
                .iter()
                .map(|p| UntracedPart {
                    reason: p.reason.clone(),
                    bytes: p.bytes as f64,
                    blocks: p.blocks as f64,
                    why: p.why.clone(),
                })
                .collect(),
        }
    }
}

impl From<Untraced> for untraced_model::Untraced {
    fn from(u: Untraced) -> Self {
        untraced_model::Untraced {
            bytes: u.bytes as u64,
            blocks: u.blocks as u64,
            parts: u
                .parts
                .into_iter()
                .map(|p| untraced_model::UntracedPart {
                    reason: p.reason,
                    bytes: p.bytes as u64,
                    blocks: p.blocks as u64,
                    why: p.why,
                })
                .collect(),
        }
    }
}

/// Every allocation traced with one stack.
#[napi(object)]
pub struct StackEntry {
    /// Traced allocations (estimated when `estimated`).
    pub allocations: f64,
    /// Their bytes (estimated when `estimated`).
    pub bytes: f64,
    /// Whether the figures are estimates from a sample by bytes.
    pub estimated: bool,
    /// Traced allocations behind the figures.
    pub samples: f64,
    /// Their own bytes, before scaling.
    #[napi(js_name = "sampled_bytes")]
    pub sampled_bytes: f64,
    /// Rough relative error of the estimates, 1/sqrt(samples) (0 when counted).
    pub error: f64,
    /// Whether the stack was cut at the recording depth.
    pub truncated: bool,
    /// The symbolized stack, innermost first.
    pub frames: Vec<TraceFrame>,
}

/// All traced allocations of a process by stack, since tracing started.
#[napi(object)]
pub struct StackReport {
    /// The process id.
    pub pid: u32,
    /// Its tracing state.
    pub status: TraceStatus,
    /// Whether the figures are estimates from a sample.
    pub estimated: bool,
    /// Distinct stacks (before `top`).
    pub stacks: u32,
    /// The stacks listed, largest by bytes first.
    #[napi(js_name = "by_stack")]
    pub by_stack: Vec<StackEntry>,
    /// Live blocks the scopes count that no table holds.
    pub untraced: Untraced,
    /// Said once about the JIT frames listed, when due: `function_lines` (some JavaScript
    /// frames show where their function is defined) or `unnamed` (no JIT map names JIT code).
    #[napi(js_name = "jit_note", ts_type = "'function_lines' | 'unnamed'")]
    pub jit_note: Option<String>,
}

/// A traced allocation or free.
#[napi(object)]
pub struct TraceEvent {
    /// Sequence number in the ring.
    pub seq: f64,
    /// `alloc` or `free`.
    #[napi(ts_type = "'alloc' | 'free'")]
    pub op: String,
    /// The block's address, `0x...`.
    pub addr: String,
    /// The block's size.
    pub size: f64,
    /// The scope the block is charged to.
    pub scope: String,
    /// Kernel thread id.
    pub thread: u32,
    /// Time of the event, in nanoseconds of the monotonic clock.
    #[napi(js_name = "time_ns")]
    pub time_ns: f64,
    /// The innermost frames of the block's stack.
    pub frames: Vec<TraceFrame>,
}

/// Events from a sequence number on, and where to continue.
#[napi(object)]
pub struct TraceEvents {
    /// The process id.
    pub pid: u32,
    /// The sequence number to ask for next.
    pub next: f64,
    /// Events overwritten in the ring before they were read.
    pub lost: f64,
    /// The events read.
    pub events: Vec<TraceEvent>,
}

impl From<&status_model::TraceStatus> for TraceStatus {
    fn from(s: &status_model::TraceStatus) -> Self {
        TraceStatus {
            enabled: s.enabled,
            depth: s.depth.map(|depth| depth as u32),
            sample_bytes: s.sample_bytes.map(|bytes| bytes as f64),
            scoped: s.scoped,
            counts: TraceCounts {
                traced_allocs: s.counts.traced_allocs as f64,
                traced_frees: s.counts.traced_frees as f64,
                dropped_stacks: s.counts.dropped_stacks as f64,
                dropped_blocks: s.counts.dropped_blocks as f64,
            },
            live_blocks: s.live_blocks as f64,
            memory: TraceMemory {
                budget: s.memory.budget as f64,
                used: s.memory.used as f64,
                committed: s.memory.committed as f64,
                stack_nodes: s.memory.stack_nodes as f64,
                stack_bytes: s.memory.stack_bytes as f64,
                live_bytes: s.memory.live_bytes as f64,
                totals_bytes: s.memory.totals_bytes as f64,
            },
        }
    }
}

impl From<TraceStatus> for status_model::TraceStatus {
    fn from(s: TraceStatus) -> Self {
        status_model::TraceStatus {
            enabled: s.enabled,
            depth: s.depth.map(|depth| depth as usize),
            sample_bytes: s.sample_bytes.map(|bytes| bytes as u64),
            scoped: s.scoped,
            counts: status_model::TraceCounts {
                traced_allocs: s.counts.traced_allocs as u64,
                traced_frees: s.counts.traced_frees as u64,
                dropped_stacks: s.counts.dropped_stacks as u64,
                dropped_blocks: s.counts.dropped_blocks as u64,
            },
            live_blocks: s.live_blocks as usize,
            memory: status_model::TraceMemory {
                budget: s.memory.budget as u64,
                used: s.memory.used as u64,
                committed: s.memory.committed as u64,
                stack_nodes: s.memory.stack_nodes as u64,
                stack_bytes: s.memory.stack_bytes as u64,
                live_bytes: s.memory.live_bytes as u64,
                totals_bytes: s.memory.totals_bytes as u64,
            },
        }
    }
}

impl From<&frames_model::Frame> for TraceFrame {
    fn from(f: &frames_model::Frame) -> Self {
        let symbol = f.symbol.as_ref();
        TraceFrame {
            index: f.index as u32,
            address: f.address.clone(),
            function: symbol.and_then(|s| s.function.clone()),
            file: symbol.and_then(|s| s.file.clone()),
            line: symbol.and_then(|s| s.line),
            module: symbol.map(|s| s.module.clone()),
            inlined: f.inlined(),
            text: f.text.clone(),
        }
    }
}

impl From<TraceFrame> for frames_model::Frame {
    fn from(f: TraceFrame) -> Self {
        frames_model::Frame {
            index: f.index as usize,
            address: f.address,
            // The model knows a symbol exactly when it knows the module.
            symbol: f.module.map(|module| frames_model::Symbol {
                function: f.function,
                file: f.file,
                line: f.line,
                module,
                inlined: f.inlined,
                // What a frame's line means is said by the report's `jit_note`.
                jit: None,
            }),
            text: f.text,
        }
    }
}

fn estimate_from_js(
    estimated: bool,
    samples: f64,
    sampled_bytes: f64,
    error: f64,
) -> estimate_model::Estimate {
    estimate_model::Estimate {
        estimated,
        samples: samples as u64,
        sampled_bytes: sampled_bytes as u64,
        error,
    }
}

fn frames_to_js(frames: &[frames_model::Frame]) -> Vec<TraceFrame> {
    frames.iter().map(TraceFrame::from).collect()
}

fn frames_from_js(frames: Vec<TraceFrame>) -> Vec<frames_model::Frame> {
    frames.into_iter().map(frames_model::Frame::from).collect()
}

impl From<&leaks_model::LeakReport> for LeakReport {
    fn from(r: &leaks_model::LeakReport) -> Self {
        LeakReport {
            untraced: Untraced::from(&r.untraced),
            pid: r.pid,
            status: TraceStatus::from(&r.status),
            group_by: r.group_by.clone(),
            estimated: r.estimated,
            stacks: r.stacks as u32,
            jit_note: r.jit_note.map(|note| note.name().to_owned()),
            groups: r
                .groups
                .iter()
                .map(|g| LeakGroup {
                    bytes: g.bytes as f64,
                    blocks: g.blocks as f64,
                    estimated: g.estimate.estimated,
                    samples: g.estimate.samples as f64,
                    sampled_bytes: g.estimate.sampled_bytes as f64,
                    error: g.estimate.error,
                    stacks: g.stacks as u32,
                    truncated: g.truncated,
                    scopes: g.scopes.clone(),
                    oldest_seconds: g.oldest_seconds,
                    newest_seconds: g.newest_seconds,
                    frames: frames_to_js(&g.frames),
                })
                .collect(),
        }
    }
}

impl From<LeakReport> for leaks_model::LeakReport {
    fn from(r: LeakReport) -> Self {
        leaks_model::LeakReport {
            untraced: r.untraced.into(),
            pid: r.pid,
            status: r.status.into(),
            group_by: r.group_by,
            estimated: r.estimated,
            stacks: r.stacks as usize,
            jit_note: r.jit_note.and_then(|note| note.parse().ok()),
            groups: r
                .groups
                .into_iter()
                .map(|g| leaks_model::LeakGroup {
                    bytes: g.bytes as u64,
                    blocks: g.blocks as u64,
                    estimate: estimate_from_js(g.estimated, g.samples, g.sampled_bytes, g.error),
                    stacks: g.stacks as usize,
                    truncated: g.truncated,
                    scopes: g.scopes,
                    oldest_seconds: g.oldest_seconds,
                    newest_seconds: g.newest_seconds,
                    frames: frames_from_js(g.frames),
                })
                .collect(),
        }
    }
}

impl From<&leaks_model::StackReport> for StackReport {
    fn from(r: &leaks_model::StackReport) -> Self {
        StackReport {
            untraced: Untraced::from(&r.untraced),
            pid: r.pid,
            status: TraceStatus::from(&r.status),
            estimated: r.estimated,
            stacks: r.stacks as u32,
            jit_note: r.jit_note.map(|note| note.name().to_owned()),
            by_stack: r
                .by_stack
                .iter()
                .map(|s| StackEntry {
                    allocations: s.allocations as f64,
                    bytes: s.bytes as f64,
                    estimated: s.estimate.estimated,
                    samples: s.estimate.samples as f64,
                    sampled_bytes: s.estimate.sampled_bytes as f64,
                    error: s.estimate.error,
                    truncated: s.truncated,
                    frames: frames_to_js(&s.frames),
                })
                .collect(),
        }
    }
}

impl From<StackReport> for leaks_model::StackReport {
    fn from(r: StackReport) -> Self {
        leaks_model::StackReport {
            untraced: r.untraced.into(),
            pid: r.pid,
            status: r.status.into(),
            estimated: r.estimated,
            stacks: r.stacks as usize,
            jit_note: r.jit_note.and_then(|note| note.parse().ok()),
            by_stack: r
                .by_stack
                .into_iter()
                .map(|s| leaks_model::StackAllocations {
                    allocations: s.allocations as u64,
                    bytes: s.bytes as u64,
                    estimate: estimate_from_js(s.estimated, s.samples, s.sampled_bytes, s.error),
                    truncated: s.truncated,
                    frames: frames_from_js(s.frames),
                })
                .collect(),
        }
    }
}

impl From<&events_model::TraceEvent> for TraceEvent {
    fn from(e: &events_model::TraceEvent) -> Self {
        TraceEvent {
            seq: e.seq as f64,
            op: e.op.to_owned(),
            addr: e.addr.clone(),
            size: e.size as f64,
            scope: e.scope.clone(),
            thread: e.thread,
            time_ns: e.time_ns as f64,
            frames: frames_to_js(&e.frames),
        }
    }
}

impl From<TraceEvent> for events_model::TraceEvent {
    fn from(e: TraceEvent) -> Self {
        events_model::TraceEvent {
            seq: e.seq as u64,
            // The model names the two operations with static strings.
            op: if e.op == "free" { "free" } else { "alloc" },
            addr: e.addr,
            size: e.size as u64,
            scope: e.scope,
            thread: e.thread,
            time_ns: e.time_ns as u64,
            frames: frames_from_js(e.frames),
        }
    }
}

impl From<&events_model::TraceEvents> for TraceEvents {
    fn from(e: &events_model::TraceEvents) -> Self {
        TraceEvents {
            pid: e.pid,
            next: e.next as f64,
            lost: e.lost as f64,
            events: e.events.iter().map(TraceEvent::from).collect(),
        }
    }
}
