//! Tracing, read and switched from outside a process (or from inside, through its own
//! segment): the control word (`control`), and what the trace tables say: the status
//! (`status`), the live traced blocks grouped by stack (`leaks`: the leak candidates),
//! every stack with its allocations (`leaks::stacks`) and the event ring (`events`), each
//! symbolized through `skull-mem-symbolize` (`frames`) and rendered as text (`render`).
//!
//! The symbolizer's module and frame caches belong to the caller: every function that
//! symbolizes takes a `&mut Symbolizer`, so a long-lived caller (the Node binding) keeps
//! one for the process and a one-shot caller makes a fresh one.

pub mod control;
pub mod estimate;
pub mod events;
pub mod frames;
pub mod grouping;
pub mod jit_note;
pub mod leaks;
pub mod progress;
pub mod render;
pub mod stack_set;
pub mod status;
pub mod untraced;

use std::fmt;

use crate::reader::ReadError;
use crate::render::escape::escape;

/// Why a tracing request failed. `code()` is stable; `Display` is one line for a user.
#[derive(Debug)]
pub enum TraceError {
    /// The segment could not be read.
    Read(ReadError),
    /// The caller may read the segment but not write it (switching, following events).
    NotWritable {
        /// What was asked, for the message (`switch tracing of process 42`).
        what: String,
    },
    /// No scope of this name exists in the process.
    NoScope {
        /// The process.
        pid: u32,
        /// The name asked for.
        name: String,
        /// The scopes it has.
        known: Vec<String>,
    },
}

impl TraceError {
    /// A stable identifier for scripts and tests.
    pub fn code(&self) -> &'static str {
        match self {
            TraceError::Read(error) => error.code(),
            TraceError::NotWritable { .. } => "NOT_WRITABLE",
            TraceError::NoScope { .. } => "NO_SCOPE",
        }
    }
}

/// The message as written, before escaping.
struct Raw<'a>(&'a TraceError);

impl fmt::Display for TraceError {
    /// One line, escaped as a whole (`render::escape`): scope names come from the process.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Read(error) => error.fmt(f),
            _ => f.write_str(&escape(&Raw(self).to_string())),
        }
    }
}

impl fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            // Escaped by its own `Display`; `TraceError`'s writes it directly.
            TraceError::Read(error) => error.fmt(f),
            TraceError::NotWritable { what } => {
                write!(f, "cannot {what}: its segment is not writable by this user")
            }
            TraceError::NoScope { pid, name, known } => write!(
                f,
                "process {pid} has no scope named \"{name}\" (its scopes: {})",
                known.join(", ")
            ),
        }
    }
}

impl std::error::Error for TraceError {}

impl From<ReadError> for TraceError {
    fn from(error: ReadError) -> Self {
        TraceError::Read(error)
    }
}
