//! The region as a per-process shared-memory segment that the CLI can read from outside.
//!
//! Like the JVM's hsperfdata files: the counters live in a file under `/dev/shm` (or
//! `$SKULL_MEM_DIR`), named `skull-mem-<uid>-<pid>`, created 0600 with
//! `O_EXCL|O_NOFOLLOW`, so nothing in the measured process has to listen, poll or handle a
//! signal. The file is removed at normal exit; a forked child moves to a file of its own;
//! readers ignore and clean up files whose process is gone (`reader`).
//!
//! Everything here runs once, at the first allocation or in a child after `fork`, never on
//! the allocation path. It must not allocate: paths are built in fixed buffers.

use core::cell::UnsafeCell;
use core::mem::{offset_of, size_of};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use crate::counters::{CounterSet, COUNTER_COUNT};
use crate::region::{Region, MAX_SCOPES, MAX_THREADS};

pub mod area;

/// `SKULLMEM` in little-endian: the first word of every segment, written last.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SKULLMEM");
/// The segment layout this build writes and reads; bumped on any layout change.
pub const LAYOUT_VERSION: u32 = 2;
/// File name prefix; the full name is `skull-mem-<uid>-<pid>`.
pub const FILE_PREFIX: &str = "skull-mem-";
/// Where segments go unless `SKULL_MEM_DIR` says otherwise.
pub const DEFAULT_DIR: &str = "/dev/shm";
/// The environment variable that moves segments to another directory (`options::SEGMENT_DIR`).
pub const DIR_ENV: &str = match crate::options::SEGMENT_DIR.env_name() {
    Some(name) => name,
    None => panic!("the segment directory has a variable"),
};

const VERSION_MAX: usize = 32;
const EXECUTABLE_MAX: usize = 512;
const COMMAND_LINE_MAX: usize = 1024;
const PATH_MAX: usize = 512;

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
    /// Size of the whole segment (`size_of::<Region>()`).
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
    /// With the control word's scope flag, the scopes to trace: bit `id % 64` of word
    /// `id / 64`. Written by the CLI before the control word.
    pub trace_scopes: [AtomicU64; crate::region::MAX_SCOPES / 64],
    text: UnsafeCell<HeaderText>,
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

    /// Whether every layout field matches this build's, so the rest can be read as a `Region`.
    pub fn layout_matches(&self, file_size: u64) -> bool {
        self.header_size as usize == size_of::<SegmentHeader>()
            && self.segment_size == size_of::<Region>() as u64
            && self.segment_size == file_size
            && self.max_scopes as usize == MAX_SCOPES
            && self.max_threads as usize == MAX_THREADS
            && self.counter_count as usize == COUNTER_COUNT
            && self.counter_set_size as usize == size_of::<CounterSet>()
            && self.scopes_offset == offset_of!(Region, scopes) as u64
            && self.overflow_offset == offset_of!(Region, overflow) as u64
            && self.blocks_offset == offset_of!(Region, blocks) as u64
    }
}

pub(crate) fn nul_terminated(bytes: &[u8]) -> &str {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    match core::str::from_utf8(&bytes[..len]) {
        Ok(text) => text,
        // Keep the valid prefix rather than losing the whole string.
        Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or(""),
    }
}

/// A NUL-terminated path in a fixed buffer.
struct PathBuf {
    bytes: [u8; PATH_MAX],
    len: usize,
}

impl PathBuf {
    const fn new() -> Self {
        PathBuf {
            bytes: [0; PATH_MAX],
            len: 0,
        }
    }

    /// Appends, keeping room for the NUL; false when it does not fit.
    fn push(&mut self, part: &[u8]) -> bool {
        if self.len + part.len() >= PATH_MAX {
            return false;
        }
        self.bytes[self.len..self.len + part.len()].copy_from_slice(part);
        self.len += part.len();
        self.bytes[self.len] = 0;
        true
    }

    fn push_decimal(&mut self, mut value: u64) -> bool {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.push(&digits[at..])
    }

    fn as_ptr(&self) -> *const libc::c_char {
        self.bytes.as_ptr().cast()
    }
}

/// The segment file this process created, to remove at exit.
struct OwnFile {
    path: UnsafeCell<PathBuf>,
    pid: UnsafeCell<libc::pid_t>,
    /// Set once `path` holds a file to remove.
    present: AtomicBool,
}

// SAFETY: written at creation (the first allocation, published by the region's state
// machine) and in a forked child while it has one thread; read at exit.
unsafe impl Sync for OwnFile {}

static OWN_FILE: OwnFile = OwnFile {
    path: UnsafeCell::new(PathBuf::new()),
    pid: UnsafeCell::new(0),
    present: AtomicBool::new(false),
};

/// The directory for segments: `$SKULL_MEM_DIR` or `/dev/shm`.
fn directory() -> &'static [u8] {
    match crate::options::SEGMENT_DIR
        .env
        .and_then(crate::sys::env_bytes)
    {
        Some(value) if !value.is_empty() => value,
        _ => DEFAULT_DIR.as_bytes(),
    }
}

fn segment_path(path: &mut PathBuf, uid: u32, pid: u32) -> bool {
    let dir = directory();
    path.push(dir)
        && (dir.ends_with(b"/") || path.push(b"/"))
        && path.push(FILE_PREFIX.as_bytes())
        && path.push_decimal(uid.into())
        && path.push(b"-")
        && path.push_decimal(pid.into())
}

/// Maps a fresh zeroed region: the segment file when it can be made, otherwise anonymous
/// memory (counting still works; only outside readers cannot see it). Returns the mapping
/// and whether it is the segment file.
pub(crate) fn map_fresh(pid: u32) -> Option<(*mut Region, bool)> {
    let errno = crate::sys::errno();
    let mapped = map_file(pid)
        .map(|region| (region, true))
        .or_else(|| map_anonymous().map(|region| (region, false)));
    crate::sys::set_errno(errno);
    mapped
}

fn map_anonymous() -> Option<*mut Region> {
    // SAFETY: a fresh anonymous mapping; no existing memory is affected.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size_of::<Region>(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (addr != libc::MAP_FAILED).then_some(addr.cast())
}

fn map_file(pid: u32) -> Option<*mut Region> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    // SAFETY: only this thread touches `OWN_FILE` now (see its `Sync` impl).
    let path = unsafe { &mut *OWN_FILE.path.get() };
    *path = PathBuf::new();
    if !segment_path(path, uid, pid) {
        return None;
    }
    let fd = create_exclusive(path)?;
    let size = size_of::<Region>();
    // SAFETY: `fd` is our fresh file; the mapping covers exactly its new size.
    let addr = unsafe {
        if libc::fchmod(fd, 0o600) != 0 || libc::ftruncate(fd, size as libc::off_t) != 0 {
            libc::MAP_FAILED
        } else {
            libc::mmap(
                ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd,
                0,
            )
        }
    };
    // SAFETY: closing our own descriptor; the mapping keeps the file.
    unsafe { libc::close(fd) };
    if addr == libc::MAP_FAILED {
        // SAFETY: removing the file we just created.
        unsafe { libc::unlink(path.as_ptr()) };
        return None;
    }
    // SAFETY: as above, this thread alone.
    unsafe { *OWN_FILE.pid.get() = pid as libc::pid_t };
    OWN_FILE.present.store(true, Ordering::Release);
    Some(addr.cast())
}

/// Creates the file with O_EXCL|O_NOFOLLOW. A file already at the path can only be a
/// leftover with our uid and pid: this very process before an `exec`, or a dead process
/// whose pid we now have (a live process with our pid cannot exist). It is replaced, once.
fn create_exclusive(path: &PathBuf) -> Option<libc::c_int> {
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    for attempt in 0..2 {
        // SAFETY: `path` is NUL-terminated.
        let fd = unsafe { libc::open(path.as_ptr(), flags, 0o600 as libc::c_uint) };
        if fd >= 0 {
            return Some(fd);
        }
        if attempt > 0 || crate::sys::errno() != libc::EEXIST {
            return None;
        }
        // SAFETY: `path` is NUL-terminated; unlink removes a planted symlink itself, never
        // its target, and the sticky /dev/shm only lets us remove our own files.
        unsafe { libc::unlink(path.as_ptr()) };
    }
    None
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
    header.scopes_offset = offset_of!(Region, scopes) as u64;
    header.overflow_offset = offset_of!(Region, overflow) as u64;
    header.blocks_offset = offset_of!(Region, blocks) as u64;
    header.pid = pid;
    // SAFETY: getuid cannot fail.
    header.uid = unsafe { libc::getuid() };
    header.start_time = crate::proc_self::start_time().unwrap_or(0);
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

/// A private copy of the region's in-use part, taken by the parent just before `fork`:
/// after `fork` the parent keeps counting into the shared segment at once, so a child that
/// copied from the shared segment would also inherit whatever the parent counted until the
/// child's copy ran (typically everything the forking thread did right after `fork`).
static FORK_COPY: AtomicPtr<Region> = AtomicPtr::new(ptr::null_mut());

/// In the parent just before `fork` (the `pthread_atfork` prepare handler): takes the
/// copy the child will start from. Without memory for it the child copies the shared
/// segment, as the counts then may mix.
///
/// # Safety
/// `region` is the published region and `file_backed` says how it was mapped.
pub(crate) unsafe fn before_fork(region: *mut Region, file_backed: bool) {
    if !file_backed {
        return;
    }
    let errno = crate::sys::errno();
    if let Some(copy) = map_anonymous() {
        // SAFETY: `copy` is a fresh zeroed mapping of the same layout; `region` is mapped.
        unsafe { copy_in_use(region, copy) };
        release_fork_copy(FORK_COPY.swap(copy, Ordering::AcqRel));
    }
    crate::sys::set_errno(errno);
}

/// In the parent after `fork`: drops the copy taken for the child.
pub(crate) extern "C" fn after_fork_in_parent() {
    let errno = crate::sys::errno();
    release_fork_copy(FORK_COPY.swap(ptr::null_mut(), Ordering::AcqRel));
    crate::sys::set_errno(errno);
}

fn release_fork_copy(copy: *mut Region) {
    if !copy.is_null() {
        // SAFETY: `copy` was mapped by `before_fork` and is no longer referenced.
        unsafe { libc::munmap(copy.cast(), size_of::<Region>()) };
    }
}

/// In a child after `fork`: the shared segment still belongs to the parent. Copies what was
/// in use at `fork` (`FORK_COPY`) into a segment of the child's own and moves it to the
/// same address, so every pointer into the region stays valid. With an anonymous region
/// the kernel already gave the child a private copy.
///
/// Other parent threads may count between the copy and `fork`; those few calls then also
/// show in the child's inherited totals.
///
/// # Safety
/// Called in the child with one thread, before anything else counts; `region` is the
/// published region and `file_backed` says how it was mapped.
pub(crate) unsafe fn move_to_own_segment(region: *mut Region, file_backed: bool) -> bool {
    let fork_copy = FORK_COPY.swap(ptr::null_mut(), Ordering::AcqRel);
    let moved = if file_backed {
        // SAFETY: guaranteed by the caller; `fork_copy` is null or the parent's copy.
        unsafe { move_from(region, fork_copy) }
    } else {
        false
    };
    release_fork_copy(fork_copy);
    moved
}

/// `move_to_own_segment` with the copy to start from (the shared segment when null).
///
/// # Safety
/// As `move_to_own_segment`, for a file-backed region.
unsafe fn move_from(region: *mut Region, fork_copy: *mut Region) -> bool {
    let file_backed = true;
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() } as u32;
    OWN_FILE.present.store(false, Ordering::Release);
    let Some((fresh, now_file_backed)) = map_fresh(pid) else {
        // No memory for a copy: keep sharing rather than crash; the counts mix.
        return file_backed;
    };
    let source = if fork_copy.is_null() {
        region
    } else {
        fork_copy
    };
    // SAFETY: `fresh` is a new mapping of the same layout nobody else sees yet; `source`
    // is only read, by the only thread.
    unsafe {
        copy_in_use(source, fresh);
        write_header(fresh, pid);
        let moved = libc::mremap(
            fresh.cast(),
            size_of::<Region>(),
            size_of::<Region>(),
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            region.cast::<libc::c_void>(),
        );
        if moved == libc::MAP_FAILED {
            libc::munmap(fresh.cast(), size_of::<Region>());
            return file_backed;
        }
    }
    now_file_backed
}

/// Copies the scope table, the overflow sets and, of each used thread block, the sets of
/// registered scopes: the rest is zero in both, and copying it would touch its pages.
///
/// # Safety
/// Both point to mapped regions; `to` is fresh and zeroed.
unsafe fn copy_in_use(from: *const Region, to: *mut Region) {
    // SAFETY: guaranteed by the caller; both regions have the same layout and the counts
    // are bounded by the table sizes.
    unsafe {
        let before_blocks = offset_of!(Region, blocks);
        let header = size_of::<SegmentHeader>();
        ptr::copy_nonoverlapping(
            from.cast::<u8>().add(header),
            to.cast::<u8>().add(header),
            before_blocks - header,
        );
        let scopes = ((*from).scopes.len() as usize).min(MAX_SCOPES);
        let threads = (*from).blocks_in_use();
        for index in 0..threads {
            ptr::copy_nonoverlapping(
                (*from).blocks[index].sets.as_ptr(),
                (*to).blocks[index].sets.as_mut_ptr(),
                scopes,
            );
        }
    }
}

/// Removes this process's segment file at normal exit. The mapping stays, so allocations
/// in later exit handlers still count; a forked child removes only its own file.
extern "C" fn remove_at_exit() {
    if !OWN_FILE.present.swap(false, Ordering::AcqRel) {
        return;
    }
    // SAFETY: written before `present` was set, and not changed since.
    let (path, pid) = unsafe { (&*OWN_FILE.path.get(), *OWN_FILE.pid.get()) };
    // SAFETY: getpid cannot fail; `path` is NUL-terminated.
    unsafe {
        if libc::getpid() == pid {
            libc::unlink(path.as_ptr());
        }
    }
}

#[used]
#[link_section = ".fini_array"]
static REMOVE_AT_EXIT: extern "C" fn() = remove_at_exit;
