//! `skull-mem-inspect`: the one place that reads what skull-mem measured, groups it and
//! renders it, for every front end (the CLI through the Node binding, the C `skull_report`,
//! the Rust `skull_mem::report`, the demo).
//!
//! ## API
//! - [`reader`]: find and check another process's segment and read its counters:
//!   [`reader::read_pid`] / [`reader::read_file`] → [`reader::Reading`] (segment info and
//!   `skull_mem_core::snapshot::Snapshot`), [`reader::scan`] of a directory,
//!   [`reader::ReadError`] with a stable `code()` and a one-line `Display`;
//!   [`reader::read_pid_with`] hands the mapped region to a closure (tracing).
//! - [`process_memory`]: `/proc/<pid>/status` and `smaps` → [`process_memory::ProcessMemory`]
//!   (RSS, anon, file, shmem, malloc heap, segment) and [`process_memory::ProcessFigures`]
//!   (plus malloc retained and other anon).
//! - [`process::take`]: a process read from outside, whole: a
//!   [`report::ProcessSnapshot`] (snapshot format v1: `format`, `time`, the [`report::Report`],
//!   `segment`, `process`), serde `Serialize`/`Deserialize`.
//! - [`report`]: the serde model of the snapshot format v1; [`report::Report::of`] a
//!   `Snapshot` is the library's JSON report.
//! - [`render`]: [`render::memory::memory_table`] (`--detail`, `--sort`, growth against a
//!   previous reading), [`render::diff::diff`] and [`render::diff::diff_table`],
//!   [`render::ps::ps`] (listing, `--json` as is) and [`render::ps::ps_table`], all on
//!   [`render::table::Table`];
//!   [`render::table::human_bytes`].
//! - [`own`]: the report a process makes of itself, byte for byte what an outside reader
//!   renders right after it returns: [`own::report`], [`own::report_with`].
//! - [`leak_check`]: the leak check a process makes of itself at exit (a conservative scan of
//!   its roots for pointers to its traced blocks), and its text ([`leak_check::render`]).
//! - [`trace`]: tracing from outside: [`trace::control::control`] (on/off, scopes),
//!   [`trace::status::status`], the leak engine [`trace::leaks::leaks`] (live traced blocks
//!   grouped by stack, symbolized) and [`trace::leaks::stacks`], [`trace::events::events`];
//!   their text in [`trace::render`] (`leaks_text`, `stacks_text`, `collapsed`,
//!   `event_line`, `status_text`). Errors: [`trace::TraceError`] with a stable `code()`.
//!   The caller owns the `Symbolizer` (and so its caches).
//! - [`export`]: pprof heap profiles: [`export::pprof::heap_profile`] of a
//!   [`export::heap::HeapTrace`] ([`export::heap::read_heap_trace`]), or
//!   [`export::pprof::heap_profile_of`] a pid; [`export::pprof::scope_profile`] of a
//!   snapshot (tracing off); [`export::metrics`], Prometheus text and OpenMetrics of every
//!   measured process (`skull-mem serve`'s `/metrics`), and the per-scope families the
//!   in-process collectors share.
//! - [`clock`]: ISO-8601 times as JavaScript writes them.

pub mod clock;
pub mod export;
pub mod leak_check;
pub mod own;
pub mod process;
pub mod process_memory;
pub mod reader;
pub mod render;
pub mod report;
pub mod trace;
