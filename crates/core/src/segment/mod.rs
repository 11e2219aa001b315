//! The region as a per-process shared-memory segment that the CLI can read from outside.
//!
//! Like the JVM's hsperfdata files: the counters live in a file under `/dev/shm` (or
//! `$SKULL_MEM_DIR`), named `skull-mem-<uid>-<pid>`, created 0600 with
//! `O_EXCL|O_NOFOLLOW`, so nothing in the measured process has to listen, poll or handle a
//! signal (`file`). The file is removed at normal exit; a forked child moves to a file of
//! its own (`fork`); readers ignore and clean up files whose process is gone (`reader`).
//!
//! Layout of the file: the fixed part (`Region`, reserved with `fallocate` when the file is
//! made), then the thread block groups, then tracing's tables, each an `area` at a fixed
//! offset (`area_offset`) that is reserved in the file chunk by chunk as it grows. The file
//! is sparse between them; the header records how much of each area is committed, and
//! readers read nothing else. No store into the segment can fault: every byte is reserved
//! in the file before it is mapped, and when that fails the process counts on without it
//! (`note` says so once on stderr).
//!
//! Everything here runs at the first allocation, when a thread or tracing first needs its
//! memory, or in a child after `fork`, never on the allocation path. It must not allocate:
//! paths are built in fixed buffers.

use core::cell::UnsafeCell;
use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::counters::{CounterSet, COUNTER_COUNT};
use crate::region::{
    Region, ThreadBlock, BLOCK_GROUPS, MAX_SCOPES, MAX_THREADS, THREADS_PER_GROUP,
};
use area::AreaRecord;

pub mod area;
mod file;
mod fork;
mod note;
mod stale;

pub use file::remove_at_exit;
pub(crate) use file::{bind_areas, map_fresh};
pub(crate) use fork::{after_fork_in_parent, before_fork, move_to_own_segment};
pub(crate) use note::degraded;

/// `SKULLMEM` in little-endian: the first word of every segment, written last.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SKULLMEM");
/// The segment layout this build writes and reads; bumped on any layout change.
pub const LAYOUT_VERSION: u32 = 7;
/// File name prefix; the full name is `skull-mem-<uid>-<pid>`.
pub const FILE_PREFIX: &str = "skull-mem-";
/// Where segments go unless `SKULL_MEM_DIR` says otherwise.
pub const DEFAULT_DIR: &str = "/dev/shm";
/// The environment variable that moves segments to another directory (`options::SEGMENT_DIR`).
pub const DIR_ENV: &str = match crate::options::SEGMENT_DIR.env_name() {
    Some(name) => name,
    None => panic!("the segment directory has a variable"),
};

/// Bytes of the fixed part in the file: `Region` rounded up to whole pages, so that the
/// areas after it start on a page.
pub const FIXED_FILE_BYTES: usize = size_of::<Region>().div_ceil(4096) * 4096;
/// Bytes of one block group's area.
pub const GROUP_BYTES: usize = THREADS_PER_GROUP * size_of::<ThreadBlock>();
/// Where tracing's area starts in the file.
pub const TRACE_FILE_OFFSET: u64 = (FIXED_FILE_BYTES + BLOCK_GROUPS * GROUP_BYTES) as u64;

/// Where block group `group`'s area starts in the file.
pub const fn group_file_offset(group: usize) -> u64 {
    (FIXED_FILE_BYTES + group * GROUP_BYTES) as u64
}

const VERSION_MAX: usize = 32;
const EXECUTABLE_MAX: usize = 512;
const COMMAND_LINE_MAX: usize = 1024;

/// The segment's first bytes: what it is, whose it is, and where everything else lies.
///
/// Only integers and bytes, so that any content a reader finds is a valid value; readers
/// check every field before trusting the rest of the file.
#[repr(C)]
pub struct SegmentHeader {
    /// `MAGIC` once the segment is complete; zero while it is being set up.
    pub magic: AtomicU64,
    /// `LAYOUT_VERSION` of the writer.
    pub layout_version: u32,
    /// `size_of::<SegmentHeader>()` of the writer.
    pub header_size: u32,
    /// Size of the fixed part (`size_of::<Region>()`); the file is at least this long.
    pub segment_size: u64,
    /// `MAX_SCOPES` of the writer.
    pub max_scopes: u32,
    /// `MAX_THREADS` of the writer.
    pub max_threads: u32,
    /// `COUNTER_COUNT` of the writer.
    pub counter_count: u32,
    /// `size_of::<CounterSet>()` of the writer.
    pub counter_set_size: u32,
    /// Byte offsets of the region's parts, as the writer laid them out.
    pub scopes_offset: u64,
    /// See `scopes_offset`.
    pub overflow_offset: u64,
    /// See `scopes_offset`.
    pub blocks_offset: u64,
    /// The process that writes this segment.
    pub pid: u32,
    /// Its real user id.
    pub uid: u32,
    /// Its start time in clock ticks after boot (`/proc/<pid>/stat` field 22): a pid reused
    /// by a later process has another start time.
    pub start_time: u64,
    /// Control word written by the CLI (tracing); the library only reads it.
    pub control: AtomicU64,
    /// Tracing's memory budget asked for by `skull-trace on --memory` (0: none asked), written
    /// by the CLI before the control word; the library applies it as it next records.
    pub trace_budget: AtomicU64,
    /// Whether `skull-trace tail` follows the event ring, and until when.
    pub tail: crate::trace::tables::TailLease,
    /// With the control word's scope flag, the scopes to trace: bit `id % 64` of word
    /// `id / 64`. Written by the CLI before the control word.
    pub trace_scopes: [AtomicU64; crate::region::MAX_SCOPES / 64],
    text: UnsafeCell<HeaderText>,
    /// `THREADS_PER_GROUP` of the writer.
    pub threads_per_group: u32,
    /// `size_of::<ThreadBlock>()` of the writer.
    pub thread_block_size: u32,
    /// The thread block groups' areas (`region::BLOCK_AREAS`): committed blocks only.
    pub block_groups: [AreaRecord; BLOCK_GROUPS],
    /// Tracing's area (`region::TRACE_AREA`): nothing committed until tracing first records.
    pub trace_area: AreaRecord,
    /// Allocations tracing selected but could not record: its tables had no memory.
    pub trace_unbacked: AtomicU64,
    /// The process's pid namespace (`proc_self::pid_namespace`; 0: unknown): `pid` is its
    /// pid there, and a reader in another namespace translates it through `/proc`.
    pub pid_namespace: u64,
    /// `trace::tables::TRACE_LAYOUT` of the writer: the trace tables' layout, which
    /// `LAYOUT_VERSION` is only bumped for by hand.
    pub trace_layout: u64,
}

/// The header's strings, NUL-terminated (truncated where longer).
#[repr(C)]
struct HeaderText {
    library_version: [u8; VERSION_MAX],
    executable: [u8; EXECUTABLE_MAX],
    command_line: [u8; COMMAND_LINE_MAX],
}

// SAFETY: `text` is written only before the segment is published (magic) and read after.
unsafe impl Sync for SegmentHeader {}

impl SegmentHeader {
    /// The library version that wrote the segment.
    pub fn library_version(&self) -> &str {
        // SAFETY: see the `Sync` impl: written before publication, read-only afterwards.
        nul_terminated(unsafe { &(*self.text.get()).library_version })
    }

    /// The executable (`/proc/<pid>/exe` when the segment was made).
    pub fn executable(&self) -> &str {
        // SAFETY: as in `library_version`.
        nul_terminated(unsafe { &(*self.text.get()).executable })
    }

    /// The command line, arguments separated by spaces.
    pub fn command_line(&self) -> &str {
        // SAFETY: as in `library_version`.
        nul_terminated(unsafe { &(*self.text.get()).command_line })
    }

    /// Whether every layout field matches this build's, so the fixed part can be read as a
    /// `Region` (the areas are checked one by one, `area_committed`).
    pub fn layout_matches(&self, file_size: u64) -> bool {
        self.header_size as usize == size_of::<SegmentHeader>()
            && self.segment_size == size_of::<Region>() as u64
            && file_size >= FIXED_FILE_BYTES as u64
            && self.threads_per_group as usize == THREADS_PER_GROUP
            && self.thread_block_size as usize == size_of::<ThreadBlock>()
            && self.max_scopes as usize == MAX_SCOPES
            && self.max_threads as usize == MAX_THREADS
            && self.counter_count as usize == COUNTER_COUNT
            && self.counter_set_size as usize == size_of::<CounterSet>()
            && self.scopes_offset == offset_of!(Region, scopes) as u64
            && self.overflow_offset == offset_of!(Region, overflow) as u64
            && self.blocks_offset == group_file_offset(0)
    }
}

/// What an area record says is committed, checked against where this layout puts the area
/// (`file_offset`, `reserved`), the unit it grows by (`unit`) and the file's size: `None`
/// when the record is corrupt. Only committed bytes may be read: reading a hole of a file
/// on a full tmpfs can fault.
///
/// `file_size` is asked after the record is read: the writer reserves a chunk in the file
/// before it records it, so a size taken after the record covers all it says, while a size
/// taken before could miss a chunk recorded meanwhile and call a growing segment corrupt.
pub fn area_committed(
    record: &AreaRecord,
    file_offset: u64,
    reserved: u64,
    unit: u64,
    file_size: impl FnOnce() -> u64,
) -> Option<u64> {
    let committed = record.committed.load(Ordering::Acquire);
    let offset = record.file_offset.load(Ordering::Relaxed);
    let file_size = if committed == 0 { 0 } else { file_size() };
    // Nothing committed needs no file behind it (later areas start past the file's end).
    let fits = committed == 0
        || (committed <= reserved && file_offset.checked_add(committed)? <= file_size);
    let empty_or_ours = (offset == 0 && committed == 0)
        || (offset == file_offset && record.reserved.load(Ordering::Relaxed) == reserved);
    (fits && empty_or_ours && committed.is_multiple_of(unit)).then_some(committed)
}

pub(crate) fn nul_terminated(bytes: &[u8]) -> &str {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    match core::str::from_utf8(&bytes[..len]) {
        Ok(text) => text,
        // Keep the valid prefix rather than losing the whole string.
        Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or(""),
    }
}

/// Writes the header of a fresh region; `magic` last, so readers see all or nothing.
///
/// # Safety
/// `region` is a fresh mapping nothing else reads or writes yet.
pub(crate) unsafe fn write_header(region: *mut Region, pid: u32) {
    // SAFETY: guaranteed by the caller.
    let header = unsafe { &mut (*region).header };
    header.layout_version = LAYOUT_VERSION;
    header.header_size = size_of::<SegmentHeader>() as u32;
    header.segment_size = size_of::<Region>() as u64;
    header.max_scopes = MAX_SCOPES as u32;
    header.max_threads = MAX_THREADS as u32;
    header.counter_count = COUNTER_COUNT as u32;
    header.counter_set_size = size_of::<CounterSet>() as u32;
    header.threads_per_group = THREADS_PER_GROUP as u32;
    header.thread_block_size = size_of::<ThreadBlock>() as u32;
    header.scopes_offset = offset_of!(Region, scopes) as u64;
    header.overflow_offset = offset_of!(Region, overflow) as u64;
    header.blocks_offset = group_file_offset(0);
    header.pid = pid;
    // SAFETY: getuid cannot fail.
    header.uid = unsafe { libc::getuid() };
    header.start_time = crate::proc_self::start_time().unwrap_or(0);
    header.pid_namespace = crate::proc_self::pid_namespace();
    header.trace_layout = u64::from(crate::trace::tables::TRACE_LAYOUT);
    let text = header.text.get_mut();
    copy_truncated(&mut text.library_version, crate::VERSION.as_bytes());
    crate::proc_self::executable(&mut text.executable);
    crate::proc_self::command_line(&mut text.command_line);
    header.magic.store(MAGIC, Ordering::Release);
}

fn copy_truncated(dest: &mut [u8], source: &[u8]) {
    let len = source.len().min(dest.len() - 1);
    dest[..len].copy_from_slice(&source[..len]);
    dest[len] = 0;
}
