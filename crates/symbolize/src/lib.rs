//! Symbolization for skull-mem: turns the addresses the tracer captured in a process into
//! function, file:line frames, from outside that process.
//!
//! ```no_run
//! use skull_mem_symbolize::{Lookup, Process, Symbolizer};
//! let process = Process::attach(1234)?;
//! let mut symbolizer = Symbolizer::new();
//! for frame in symbolizer.symbolize(&process, 0x55d0c2a01139, Lookup::ReturnAddress) {
//!     println!("{frame}"); // leak_here at /src/app.c:42 (app)
//! }
//! # Ok::<(), skull_mem_symbolize::Error>(())
//! ```
//!
//! ELF modules are found through `/proc/<pid>/maps` and opened through `/proc/<pid>/root`;
//! DWARF (the module's own or a separate debug file under `/usr/lib/debug`) gives file:line and
//! inline frames, the symbol tables give names when there is no DWARF, the vDSO is read from
//! memory, and V8's JIT code is named from its jitdump (`node --perf-prof`: with the line that
//! executes) or `/tmp/perf-<pid>.map` (`node --perf-basic-prof`: with the function's line).
//! What is not known is a `?? (module+offset)` frame; errors are values, never panics.

mod debug_file;
mod demangle;
mod error;
mod frame;
mod jitdump;
mod js_extent;
mod maps;
mod module;
mod perf_map;
mod process;
mod symbolizer;
mod symtab;

pub use demangle::demangle;
pub use error::Error;
pub use frame::{Frame, Jit};
pub use jitdump::JitDump;
pub use maps::{Backing, Mapping, ProcessMaps};
pub use module::Module;
pub use perf_map::PerfMap;
pub use process::Process;
pub use symbolizer::{Lookup, Symbolizer};
