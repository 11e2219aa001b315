//! Reading another process's segment: find it by pid, check everything, take a snapshot.
//!
//! The file may be stale, foreign, truncated, planted or corrupt, so nothing in it is
//! trusted until checked: it must be a regular file (not followed through a symlink),
//! owned by the caller (or the caller is root) with mode 0600, at least its fixed part long,
//! with our magic, layout version and layout; its process must be alive with the start time
//! the header records. Counts read from it are clamped to the table sizes by `Region`.
//!
//! Only committed bytes are mapped: the fixed part, and of each area (thread block groups,
//! tracing's tables) what its header record says is committed, checked to lie inside the
//! file where this layout puts the area (a record that does not is refused as corrupt).
//! Holes of the file are never read: on a full tmpfs that faults, even for a read. The
//! library reserves what it records before recording it; the reader refuses a file on a
//! tmpfs that has fewer bytes reserved (`st_blocks`) than its fixed part and committed
//! ranges take,
//! such as one whose pages were punched out or never reserved. (A file crafted by its owner
//! with its reserved bytes elsewhere is not caught, like truncation during the read below.)
//!
//! The reader never writes into the segment except the tracing control word that
//! `skull-trace on/off` writes by design: the fixed part is mapped writable for that alone,
//! where the caller may write the file; the areas are mapped read-only. Peaks are the
//! process's own (raised by its own reports) or, if more, what is used now. A same-user
//! process truncating the file during the read could still raise SIGBUS; only its owner
//! can do that, and the owner can already do worse.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use skull_mem_core::region::{Blocks, Region, ThreadBlock, BLOCK_GROUPS, TRACE_AREA};
use skull_mem_core::segment::{
    self, area::AreaRecord, SegmentHeader, FILE_PREFIX, FIXED_FILE_BYTES, GROUP_BYTES,
    LAYOUT_VERSION, MAGIC, TRACE_FILE_OFFSET,
};
use skull_mem_core::snapshot::{self, Snapshot};
use skull_mem_core::trace::tables::{TraceTables, TRACE_LAYOUT};

mod error;
mod namespace;
mod process;
mod scan;

pub use error::ReadError;
pub(crate) use process::maps_segment;
pub use process::process_start_time;
use process::{process_command, process_uid, segment_of_other_user};
pub use scan::{scan, Scan};

/// What a segment says about its process (field names stable in `--json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// The segment file.
    #[serde(serialize_with = "lossy_path")]
    pub path: PathBuf,
    /// The process.
    pub pid: u32,
    /// Its real user id.
    pub uid: u32,
    /// Start time in clock ticks after boot.
    pub start_time: u64,
    /// `/proc/<pid>/exe` at start.
    pub executable: String,
    /// The command line at start.
    pub command_line: String,
    /// The library version in the process.
    pub library_version: String,
    /// The control word (tracing state).
    pub control: u64,
}

impl SegmentInfo {
    /// What `header`, the header of the segment file at `path`, says.
    pub fn of(path: &Path, header: &SegmentHeader) -> SegmentInfo {
        SegmentInfo {
            path: path.to_owned(),
            pid: header.pid,
            uid: header.uid,
            start_time: header.start_time,
            executable: header.executable().to_owned(),
            command_line: header.command_line().to_owned(),
            library_version: header.library_version().to_owned(),
            control: header.control.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// A path as JSON text, any byte that is not UTF-8 replaced (as the CLI shows it).
fn lossy_path<S: serde::Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

/// A checked segment and the snapshot read from it.
#[derive(Clone, Debug)]
pub struct Reading {
    /// Whose segment. Its `pid` is the process's pid in the reader's pid namespace once
    /// `read_pid` or `scan` found the process (the header's, in the process's own namespace,
    /// from `read_file`).
    pub info: SegmentInfo,
    /// Its counters.
    pub snapshot: Snapshot,
    /// The process's pid namespace as the segment records it (0: unknown).
    pub pid_namespace: u64,
}

impl Reading {
    /// Names the process by `pid`, its pid in the reader's namespace.
    fn seen_as(mut self, pid: u32) -> Reading {
        self.info.pid = pid;
        self.snapshot.pid = pid;
        self
    }
}

/// `$SKULL_MEM_DIR`, or `/dev/shm`: where processes put their segments.
pub fn segment_dir() -> PathBuf {
    match std::env::var_os(segment::DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(segment::DEFAULT_DIR),
    }
}

/// The segment path of process `pid` owned by `uid`.
pub fn segment_path(dir: &Path, uid: u32, pid: u32) -> PathBuf {
    dir.join(format!("{FILE_PREFIX}{uid}-{pid}"))
}

/// The `(uid, pid)` a segment file name encodes, if it is one.
pub fn parse_file_name(name: &str) -> Option<(u32, u32)> {
    let (uid, pid) = name.strip_prefix(FILE_PREFIX)?.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(uid) || !digits(pid) {
        return None;
    }
    Some((uid.parse().ok()?, pid.parse().ok()?))
}

/// Reads the segment of the live process `pid` in `dir`.
pub fn read_pid(dir: &Path, pid: u32) -> Result<Reading, ReadError> {
    read_pid_with(dir, pid, |_| ()).map(|(reading, ())| reading)
}

/// `read_pid`, also handing the checked region to `also` (tracing reads its tables, and
/// writes the control word, through it) while the segment is mapped.
pub fn read_pid_with<T>(
    dir: &Path,
    pid: u32,
    also: impl FnOnce(&SegmentView) -> T,
) -> Result<(Reading, T), ReadError> {
    let mut also = Some(also);
    let mut result = None;
    let mut read = |path: &Path| {
        read_file_with(path, |view| {
            if let Some(also) = also.take() {
                result = Some(also(view));
            }
        })
        .map(|(reading, ())| reading)
    };
    let Some(start_time) = process_start_time(pid) else {
        return Err(ReadError::NoProcess { pid });
    };
    let uid = process_uid(pid).ok_or(ReadError::NoProcess { pid })?;
    // The segment is named by the pid the process has in its own pid namespace (a
    // container's process read from the host has another pid there).
    let own_pid = namespace::innermost_pid(pid).ok_or(ReadError::NoProcess { pid })?;
    let mut path = segment_path(dir, uid, own_pid);
    let reading = match read(&path) {
        Err(ReadError::Io { error, .. }) if error.kind() == io::ErrorKind::NotFound => {
            // The segment is named for the user id the process had when it made it; a
            // process that has changed its user id since (a daemon dropping root) has it
            // under the old one.
            match segment_of_other_user(dir, own_pid) {
                Some(found) => {
                    path = found;
                    read(&path)?
                }
                None => {
                    return Err(ReadError::NotMeasured {
                        pid,
                        command: process_command(pid),
                    })
                }
            }
        }
        other => other?,
    };
    if reading.info.pid != own_pid {
        return Err(ReadError::Corrupt {
            path,
            what: "its header names another pid",
        });
    }
    // A segment of the same pid in another namespace is another process's (the directory
    // of a container read with the pid of a host process).
    let namespace = namespace::pid_namespace_of(pid);
    if reading.pid_namespace != 0 && namespace.is_some_and(|ns| ns != reading.pid_namespace) {
        return Err(ReadError::NotMeasured {
            pid,
            command: process_command(pid),
        });
    }
    if reading.info.start_time != start_time || maps_segment(pid, &path) == Some(false) {
        return Err(ReadError::Stale { path, pid });
    }
    let reading = reading.seen_as(pid);
    match result {
        Some(extra) => Ok((reading, extra)),
        None => Err(ReadError::Corrupt {
            path,
            what: "it could not be read twice the same way",
        }),
    }
}

/// A checked segment, mapped: its region, its committed thread blocks and trace tables, and
/// whether the caller may write its control word.
pub struct SegmentView<'a> {
    /// The fixed part, checked to be of this build's layout.
    pub region: &'a Region,
    /// The committed thread blocks.
    pub blocks: Blocks<'a>,
    /// Tracing's tables: empty tables while the process has never traced.
    pub trace: &'a TraceTables,
    /// Whether the fixed part is mapped writable (the caller owns the file or is root).
    pub writable: bool,
}

/// Opens and checks a segment file, then takes its snapshot. Does not check that its
/// process is alive (`read_pid` and `scan` do).
pub fn read_file(path: &Path) -> Result<Reading, ReadError> {
    read_file_with(path, |_| ()).map(|(reading, ())| reading)
}

/// `read_file`, also handing the checked region to `also` while it is mapped.
pub fn read_file_with<T>(
    path: &Path,
    also: impl FnOnce(&SegmentView) -> T,
) -> Result<(Reading, T), ReadError> {
    let (file, writable) = open_checked(path)?;
    let size = file
        .metadata()
        .map_err(|error| io_error(path, error))?
        .len();
    if size < std::mem::size_of::<SegmentHeader>() as u64 {
        return Err(ReadError::Truncated {
            path: path.to_owned(),
            size,
        });
    }
    // No more than the file holds until the header says what it is (`check_header` then
    // refuses a file shorter than the fixed part).
    let fixed_len = FIXED_FILE_BYTES.min(size as usize);
    let fixed = map_fixed(&file, fixed_len, writable).map_err(|error| io_error(path, error))?;
    // SAFETY: the mapping is page-aligned and at least a header long; a header is plain
    // integers and bytes, valid for any content.
    let header = unsafe { &*(fixed.as_ptr() as *const SegmentHeader) };
    check_header(path, header, size)?;
    // SAFETY: `check_header` proved the file holds the fixed part of our layout; a `Region`
    // is plain integers, atomics and bytes, valid for any content, and the mapping is
    // page-aligned and lives until `fixed` drops below.
    let region = unsafe { &*(fixed.as_ptr() as *const Region) };
    let areas = Areas::map(path, &file, header, size)?;
    // Every byte read from here on must be reserved in the file: the fixed part and what
    // each area record says is committed.
    let blocks = file
        .metadata()
        .map_err(|error| io_error(path, error))?
        .blocks();
    if on_tmpfs(&file) && blocks * 512 < (FIXED_FILE_BYTES + areas.committed_bytes()) as u64 {
        return Err(ReadError::Corrupt {
            path: path.to_owned(),
            what: "it records more than is reserved in the file (it has holes)",
        });
    }
    let info = SegmentInfo::of(path, header);
    let pid_namespace = header.pid_namespace;
    let blocks = areas.blocks();
    let snapshot = snapshot::of_region(region, &blocks, header.pid, areas.mapped_bytes());
    let extra = also(&SegmentView {
        region,
        blocks,
        trace: areas.trace(),
        writable,
    });
    drop(areas);
    drop(fixed);
    Ok((
        Reading {
            info,
            snapshot,
            pid_namespace,
        },
        extra,
    ))
}

/// Maps the first `len` bytes (the fixed part, or less of a short file): writable where the
/// caller may write the file, for the control word.
fn map_fixed(file: &File, len: usize, writable: bool) -> io::Result<View> {
    let mut options = memmap2::MmapOptions::new();
    options.len(len);
    // SAFETY: a shared view of the first `len` bytes of a file checked to be the caller's
    // and regular, and at least that long (the fixed part is reserved when the file is
    // made, so reading it cannot fault); only accessed through integer and atomic types.
    unsafe {
        if writable {
            options.map_mut(file).map(View::Writable)
        } else {
            options.map(file).map(View::ReadOnly)
        }
    }
}

/// The committed parts of a segment's areas, mapped read-only.
struct Areas {
    groups: Vec<Option<memmap2::Mmap>>,
    trace: Option<memmap2::Mmap>,
    /// What the area records say is committed, in bytes.
    committed: usize,
}

impl Areas {
    /// Maps what each area record says is committed, refusing a record that does not lie
    /// where this layout puts its area inside the file.
    fn map(
        path: &Path,
        file: &File,
        header: &SegmentHeader,
        size: u64,
    ) -> Result<Areas, ReadError> {
        // `whole`: map the area's whole reservation, not only what is committed now. The
        // trace tables grow while they are read, and their own committed mark (never past
        // the file's end, which only grows) bounds every read; bytes past the end of the file
        // are mapped but never touched.
        let mut committed_bytes = 0;
        let mut map = |record: &AreaRecord, offset: u64, reserved: u64, unit: u64, whole: bool| {
            // The file only grows; its size now, after the header was checked, is asked
            // once the record has been read (see `area_committed`).
            let now = || file.metadata().map_or(size, |meta| meta.len().max(size));
            let committed = segment::area_committed(record, offset, reserved, unit, now)
                .ok_or_else(|| ReadError::Corrupt {
                    path: path.to_owned(),
                    what: "an area record does not fit its file",
                })?;
            if committed == 0 {
                return Ok(None);
            }
            committed_bytes += committed as usize;
            // SAFETY: a read-only view of committed bytes, inside the file (checked above),
            // reserved by the writer before it recorded them; only read through atomics.
            unsafe {
                memmap2::MmapOptions::new()
                    .offset(offset)
                    .len(if whole { reserved } else { committed } as usize)
                    .map(file)
            }
            .map(Some)
            .map_err(|error| io_error(path, error))
        };
        let block = std::mem::size_of::<ThreadBlock>() as u64;
        let groups = header
            .block_groups
            .iter()
            .enumerate()
            .map(|(group, record)| {
                map(
                    record,
                    segment::group_file_offset(group),
                    GROUP_BYTES as u64,
                    block,
                    false,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let trace = map(
            &header.trace_area,
            TRACE_FILE_OFFSET,
            TRACE_AREA.reserved() as u64,
            TRACE_AREA.chunk() as u64,
            true,
        )?;
        Ok(Areas {
            groups,
            trace,
            committed: committed_bytes,
        })
    }

    /// The committed thread blocks, group by group.
    fn blocks(&self) -> Blocks<'_> {
        let block = std::mem::size_of::<ThreadBlock>();
        Blocks::of_groups(std::array::from_fn::<_, BLOCK_GROUPS, _>(|group| {
            match &self.groups[group] {
                // SAFETY: the mapping is page-aligned, holds whole blocks (checked by
                // `area_committed`) and lives as long as `self`; blocks are atomics.
                Some(map) => unsafe {
                    std::slice::from_raw_parts(
                        map.as_ptr() as *const ThreadBlock,
                        map.len() / block,
                    )
                },
                None => &[][..],
            }
        }))
    }

    /// The trace tables, or empty ones while nothing is committed.
    fn trace(&self) -> &TraceTables {
        match &self.trace {
            Some(map) if map.len() >= std::mem::size_of::<TraceTables>() => {
                // SAFETY: page-aligned, long enough, lives as long as `self`; the tables
                // are atomics, valid for any content (and bounded on read).
                unsafe { &*(map.as_ptr() as *const TraceTables) }
            }
            _ => empty_trace_tables(),
        }
    }

    /// Bytes of the areas' committed ranges that will be read: the block groups', and the
    /// trace area's as its record says (the tables read no further).
    fn committed_bytes(&self) -> usize {
        self.committed
    }

    /// Address space the counters take in the process: the fixed part and each block
    /// group it has reserved.
    fn mapped_bytes(&self) -> usize {
        FIXED_FILE_BYTES + self.groups.iter().flatten().count() * GROUP_BYTES
    }
}

/// Empty trace tables (all zero is empty), made once for segments that never traced.
fn empty_trace_tables() -> &'static TraceTables {
    static EMPTY: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let address = *EMPTY.get_or_init(|| {
        let layout = std::alloc::Layout::new::<TraceTables>();
        // SAFETY: a non-zero-sized layout; zeroed memory is valid empty tables (atomics),
        // kept for the life of the program.
        let tables = unsafe { std::alloc::alloc_zeroed(layout) };
        if tables.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        tables as usize
    });
    // SAFETY: made above, never freed.
    unsafe { &*(address as *const TraceTables) }
}

/// Whether `file` is on a tmpfs: there a hole faults once the filesystem is full, even to
/// read it, and `st_blocks` counts exactly the pages reserved. (Elsewhere a hole reads as
/// zeros, and compression or deduplication make `st_blocks` say less than is written.)
fn on_tmpfs(file: &File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: a zeroed statfs is a valid out-buffer; a plain system call on our descriptor.
    unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        libc::fstatfs(file.as_raw_fd(), &mut stat) == 0 && stat.f_type == libc::TMPFS_MAGIC
    }
}

/// The mapping of a segment's fixed part: writable when the caller may switch tracing.
enum View {
    Writable(memmap2::MmapMut),
    ReadOnly(memmap2::Mmap),
}

impl View {
    fn as_ptr(&self) -> *const u8 {
        match self {
            View::Writable(map) => map.as_ptr(),
            View::ReadOnly(map) => map.as_ptr(),
        }
    }
}

pub(crate) fn io_error(path: &Path, error: io::Error) -> ReadError {
    match error.raw_os_error() {
        Some(libc::ELOOP) => ReadError::Symlink {
            path: path.to_owned(),
        },
        Some(libc::EACCES) | Some(libc::EPERM) => ReadError::PermissionDenied {
            path: path.to_owned(),
        },
        _ => ReadError::Io {
            path: path.to_owned(),
            error,
        },
    }
}

/// Opens without following a symlink and without blocking on a planted FIFO, then checks
/// kind, owner and mode on the open file (no race with a swap of the path). Opens for
/// writing too where allowed (to switch tracing); says which.
fn open_checked(path: &Path) -> Result<(File, bool), ReadError> {
    let open = |write: bool| {
        fs::OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
    };
    let (file, writable) = match open(true) {
        Ok(file) => (file, true),
        // Not writable here (or a directory, refused below): read-only, tracing not switched.
        Err(error)
            if matches!(
                error.raw_os_error(),
                Some(libc::EACCES | libc::EROFS | libc::EISDIR)
            ) =>
        {
            (open(false).map_err(|error| io_error(path, error))?, false)
        }
        Err(error) => return Err(io_error(path, error)),
    };
    let meta = file.metadata().map_err(|error| io_error(path, error))?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular {
            path: path.to_owned(),
        });
    }
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && me != 0 {
        return Err(ReadError::NotOwned {
            path: path.to_owned(),
            owner: meta.uid(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ReadError::InsecureMode {
            path: path.to_owned(),
            mode,
        });
    }
    Ok((file, writable))
}

fn check_header(path: &Path, header: &SegmentHeader, size: u64) -> Result<(), ReadError> {
    let corrupt = |what| ReadError::Corrupt {
        path: path.to_owned(),
        what,
    };
    if header.magic.load(std::sync::atomic::Ordering::Acquire) != MAGIC {
        return Err(ReadError::NotASegment {
            path: path.to_owned(),
        });
    }
    if header.layout_version != LAYOUT_VERSION || header.trace_layout != u64::from(TRACE_LAYOUT) {
        return Err(ReadError::Version {
            path: path.to_owned(),
            found: header.layout_version,
            trace_layout: header.trace_layout,
            library: header.library_version().to_owned(),
        });
    }
    if size < header.segment_size || size < FIXED_FILE_BYTES as u64 {
        return Err(ReadError::Truncated {
            path: path.to_owned(),
            size,
        });
    }
    if !header.layout_matches(size) {
        return Err(corrupt("its layout fields do not match its layout version"));
    }
    if let Some((_, pid)) = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(parse_file_name)
    {
        if pid != header.pid {
            return Err(corrupt("its header names another pid than its file name"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_parse_only_when_exact() {
        assert_eq!(parse_file_name("skull-mem-1000-42"), Some((1000, 42)));
        assert_eq!(parse_file_name("skull-mem-1000-42x"), None);
        assert_eq!(parse_file_name("skull-mem--42"), None);
        assert_eq!(parse_file_name("other-1000-42"), None);
        assert_eq!(parse_file_name("skull-mem-1000"), None);
    }
}
