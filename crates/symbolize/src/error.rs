//! Errors are values: every way symbolization can fail, with a message a user can act on.

use std::fmt;
use std::path::PathBuf;

/// Why a process, a maps line or a module could not be read.
///
/// `Clone` so that a module that failed to load is remembered with its error and not retried
/// for every address that falls into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `/proc/<pid>/maps` could not be read: the process does not exist or is not ours to read.
    Process { pid: u32, message: String },
    /// A line of a maps file does not have the `start-end perms offset dev inode [path]` shape.
    MapsLine {
        line: usize,
        text: String,
        reason: &'static str,
    },
    /// A file could not be opened or mapped.
    Io { path: PathBuf, message: String },
    /// A file was read but is not an ELF file we can use (truncated, corrupt, other format).
    Elf { path: PathBuf, message: String },
    /// The address lies in no mapping of the process.
    Unmapped { address: u64 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Process { pid, message } => {
                write!(f, "cannot read the memory map of process {pid}: {message}")
            }
            Error::MapsLine { line, text, reason } => {
                write!(f, "maps line {line} is malformed ({reason}): {text:?}")
            }
            Error::Io { path, message } => write!(f, "cannot open {}: {message}", path.display()),
            Error::Elf { path, message } => {
                write!(f, "{} is not a usable ELF file: {message}", path.display())
            }
            Error::Unmapped { address } => {
                write!(f, "address {address:#x} is in no mapping of the process")
            }
        }
    }
}

impl std::error::Error for Error {}
