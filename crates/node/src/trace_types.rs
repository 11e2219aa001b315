//! What the tracing functions return, as typed JavaScript objects. Field names are the
//! snake_case of `skull-trace ... --json`, so `JSON.stringify` prints that format.

use napi_derive::napi;

/// Recorded allocations, recorded frees, and what was dropped because a table was full.
#[napi(object, object_from_js = false)]
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

/// Entries of the stack and live-block tables (`SKULL_MEM_TRACE_STACKS`,
/// `SKULL_MEM_TRACE_LIVE`).
#[napi(object, object_from_js = false)]
pub struct TraceCapacity {
    /// Entries of the stack table.
    pub stacks: f64,
    /// Entries of the live-block table.
    #[napi(js_name = "live_blocks")]
    pub live_blocks: f64,
}

/// Tracing state and counts of a process.
#[napi(object, object_from_js = false, use_nullable = true)]
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
    /// Sizes of the tables.
    pub capacity: TraceCapacity,
}

/// One frame of a stack (inlined frames come before the frame they are inlined in).
#[napi(object, object_from_js = false, use_nullable = true)]
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

/// Live traced blocks with one stack.
#[napi(object, object_from_js = false)]
pub struct LeakGroup {
    /// Bytes of the live blocks.
    pub bytes: f64,
    /// Number of live blocks.
    pub blocks: f64,
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
#[napi(object, object_from_js = false)]
pub struct LeakReport {
    /// The process id.
    pub pid: u32,
    /// Its tracing state.
    pub status: TraceStatus,
    /// Distinct stacks with live blocks (before `top`).
    pub stacks: u32,
    /// The groups listed, largest first.
    pub groups: Vec<LeakGroup>,
}

/// Every allocation traced with one stack.
#[napi(object, object_from_js = false)]
pub struct StackEntry {
    /// Traced allocations.
    pub allocations: f64,
    /// Their bytes.
    pub bytes: f64,
    /// The symbolized stack, innermost first.
    pub frames: Vec<TraceFrame>,
}

/// All traced allocations of a process by stack, since tracing started.
#[napi(object, object_from_js = false)]
pub struct StackReport {
    /// The process id.
    pub pid: u32,
    /// Its tracing state.
    pub status: TraceStatus,
    /// Distinct stacks (before `top`).
    pub stacks: u32,
    /// The stacks listed, largest by bytes first.
    #[napi(js_name = "by_stack")]
    pub by_stack: Vec<StackEntry>,
}

/// A traced allocation or free.
#[napi(object, object_from_js = false)]
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
#[napi(object, object_from_js = false)]
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
