//! Why a segment could not be read: one variant per cause, a stable code and a one-line message.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::render::escape::escape;
use skull_mem_core::segment::FIXED_FILE_BYTES;
use skull_mem_core::segment::LAYOUT_VERSION;
use skull_mem_core::trace::tables::TRACE_LAYOUT;

/// Why a segment could not be read. `code()` is stable; `Display` is one line for a user.
#[derive(Debug)]
pub enum ReadError {
    /// No process has this pid.
    NoProcess { pid: u32 },
    /// The process exists but has no segment: it does not run with the library.
    NotMeasured { pid: u32, command: String },
    /// The caller may not open the file.
    PermissionDenied { path: PathBuf },
    /// The file belongs to another user.
    NotOwned { path: PathBuf, owner: u32 },
    /// A symbolic link sits where the segment should be.
    Symlink { path: PathBuf },
    /// Not a regular file.
    NotRegular { path: PathBuf },
    /// Readable or writable by others than its owner.
    InsecureMode { path: PathBuf, mode: u32 },
    /// Shorter than a segment header or than the segment it describes.
    Truncated { path: PathBuf, size: u64 },
    /// No magic: another kind of file, or a segment still being set up.
    NotASegment { path: PathBuf },
    /// Written by a skull-mem with another segment layout.
    Version {
        path: PathBuf,
        found: u32,
        /// The writer's `TRACE_LAYOUT`.
        trace_layout: u64,
        library: String,
    },
    /// Inconsistent content.
    Corrupt { path: PathBuf, what: &'static str },
    /// Left by a process that has ended (its pid may since belong to another process).
    Stale { path: PathBuf, pid: u32 },
    /// The file's process is in a pid namespace this reader does not see whole (a
    /// container's, read without root or under `hidepid`): neither found nor proven gone.
    OtherNamespace { path: PathBuf, pid: u32 },
    /// Any other I/O failure.
    Io { path: PathBuf, error: io::Error },
}

impl ReadError {
    /// A stable identifier for scripts and tests.
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::NoProcess { .. } => "NO_PROCESS",
            ReadError::NotMeasured { .. } => "NOT_MEASURED",
            ReadError::PermissionDenied { .. } => "PERMISSION_DENIED",
            ReadError::NotOwned { .. } => "NOT_OWNED",
            ReadError::Symlink { .. } => "SYMLINK",
            ReadError::NotRegular { .. } => "NOT_REGULAR",
            ReadError::InsecureMode { .. } => "INSECURE_MODE",
            ReadError::Truncated { .. } => "TRUNCATED",
            ReadError::NotASegment { .. } => "NOT_A_SEGMENT",
            ReadError::Version { .. } => "VERSION_MISMATCH",
            ReadError::Corrupt { .. } => "CORRUPT",
            ReadError::Stale { .. } => "STALE",
            ReadError::OtherNamespace { .. } => "OTHER_NAMESPACE",
            ReadError::Io { .. } => "IO",
        }
    }
}

/// The message as written, before escaping.
struct Raw<'a>(&'a ReadError);

impl fmt::Display for ReadError {
    /// One line, escaped as a whole (`render::escape`): paths and command lines come from
    /// elsewhere.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&Raw(self).to_string()))
    }
}

impl fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ReadError::NoProcess { pid } => write!(f, "no process with pid {pid}"),
            ReadError::NotMeasured { pid, command } => write!(
                f,
                "process {pid} ({command}) does not run with skull-mem; start it with `skull-mem run -- {command}`"
            ),
            ReadError::PermissionDenied { path } => {
                write!(f, "{}: permission denied", path.display())
            }
            ReadError::NotOwned { path, owner } => write!(
                f,
                "{} belongs to uid {owner}; only that user or root may read it",
                path.display()
            ),
            ReadError::Symlink { path } => write!(
                f,
                "{} is a symbolic link, not a skull-mem segment; refusing to follow it",
                path.display()
            ),
            ReadError::NotRegular { path } => {
                write!(f, "{} is not a regular file; refusing it", path.display())
            }
            ReadError::InsecureMode { path, mode } => write!(
                f,
                "{} has mode {mode:04o}, but a skull-mem segment is 0600; refusing it",
                path.display()
            ),
            ReadError::Truncated { path, size } => write!(
                f,
                "{} is truncated ({size} bytes; a segment is at least {} bytes)",
                path.display(),
                FIXED_FILE_BYTES
            ),
            ReadError::NotASegment { path } => write!(
                f,
                "{} is not a skull-mem segment (no magic; or its process is still starting)",
                path.display()
            ),
            ReadError::Version {
                path,
                found,
                trace_layout,
                library,
            } => write!(
                f,
                "{} has segment layout {found}.{trace_layout:08x} (library {library}); this skull-mem {} reads layout {LAYOUT_VERSION}.{TRACE_LAYOUT:08x}: use the CLI of the same version as the library",
                path.display(),
                skull_mem_core::VERSION
            ),
            ReadError::Corrupt { path, what } => {
                write!(f, "{} is corrupt: {what}", path.display())
            }
            ReadError::Stale { path, pid } => write!(
                f,
                "{} is left over from process {pid}, which has ended",
                path.display()
            ),
            ReadError::OtherNamespace { path, pid } => write!(
                f,
                "{} is of process {pid} of another pid namespace, which this reader cannot see whole; read it as root from the host, or from inside its container",
                path.display()
            ),
            ReadError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for ReadError {}
