//! Making this process's segment file: where, how safely, and removing it at exit.

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use super::{
    degraded, group_file_offset, DEFAULT_DIR, FILE_PREFIX, FIXED_FILE_BYTES, TRACE_FILE_OFFSET,
};
use crate::region::{Region, BLOCK_AREAS, TRACE_AREA};

const PATH_MAX: usize = 512;

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
pub(super) fn directory() -> &'static [u8] {
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

/// The segment file descriptor of this process, or -1: kept open (close-on-exec, at a high
/// number) so the areas can grow; a program that closes it only stops them growing, as
/// `Area` checks the descriptor is still the segment file before each use.
static FD: AtomicI32 = AtomicI32::new(-1);

/// The lowest descriptor number the segment file is moved to, out of the way of programs
/// that expect their first descriptors to be the ones they open.
const HIGH_FD: libc::c_int = 512;

/// Maps a fresh zeroed fixed part: the segment file when it can be made, otherwise
/// anonymous memory (counting still works; only outside readers cannot see it, and stderr
/// says so once). Returns the mapping and whether it is the segment file.
pub(crate) fn map_fresh(pid: u32) -> Option<(*mut Region, bool)> {
    let errno = crate::sys::errno();
    let mapped = map_file(pid)
        .map(|region| (region, true))
        .or_else(|| map_anonymous(FIXED_FILE_BYTES).map(|region| (region.cast(), false)));
    crate::sys::set_errno(errno);
    mapped
}

/// A fresh private anonymous mapping of `size` bytes, zeroed.
pub(super) fn map_anonymous(size: usize) -> Option<*mut u8> {
    // SAFETY: a fresh anonymous mapping; no existing memory is affected.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    (addr != libc::MAP_FAILED).then_some(addr.cast())
}

fn map_file(pid: u32) -> Option<*mut Region> {
    let fd = create_file(pid)?;
    super::stale::remove_stale(directory(), pid);
    // SAFETY: `fd` is our fresh file, its first `FIXED_FILE_BYTES` reserved.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            FIXED_FILE_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        discard(fd);
        return None;
    }
    FD.store(fd, Ordering::Release);
    Some(addr.cast())
}

/// Creates this process's segment file with its fixed part reserved, and records it for
/// removal at exit; `None` (said once on stderr) when that cannot be done. Any previous
/// segment file of this process (the parent's, in a forked child) is no longer its own.
pub(super) fn create_file(pid: u32) -> Option<libc::c_int> {
    OWN_FILE.present.store(false, Ordering::Release);
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    // SAFETY: only this thread touches `OWN_FILE` now (see its `Sync` impl).
    let path = unsafe { &mut *OWN_FILE.path.get() };
    *path = PathBuf::new();
    if !segment_path(path, uid, pid) {
        degraded(b"the segment directory's path is too long");
        return None;
    }
    if !directory_is_safe() {
        return None;
    }
    let Some(fd) = create_exclusive(path) else {
        degraded(b"the segment file could not be created");
        return None;
    };
    // SAFETY: `fd` is our fresh file. The shared lock, held as long as the descriptor is
    // open (the life of the process, or until `exec`), tells `stale` the file is in use.
    let reserved = unsafe {
        libc::fchmod(fd, 0o600) == 0
            && libc::flock(fd, libc::LOCK_SH | libc::LOCK_NB) == 0
            && libc::fallocate(fd, 0, 0, FIXED_FILE_BYTES as libc::off_t) == 0
    };
    if !reserved {
        // SAFETY: removing the file we just created.
        unsafe { libc::unlink(path.as_ptr()) };
        discard(fd);
        degraded(b"no room for the segment file (is its filesystem full?)");
        return None;
    }
    // SAFETY: as above, this thread alone.
    unsafe { *OWN_FILE.pid.get() = pid as libc::pid_t };
    OWN_FILE.present.store(true, Ordering::Release);
    Some(high_fd(fd))
}

/// `fd` moved to `HIGH_FD` or above where the descriptor limit allows.
fn high_fd(fd: libc::c_int) -> libc::c_int {
    // SAFETY: duplicating and closing our own descriptor.
    unsafe {
        let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD);
        if high < 0 {
            return fd;
        }
        libc::close(fd);
        high
    }
}

/// Gives up the segment file just made: removed, its descriptor closed.
pub(super) fn abandon(fd: libc::c_int) {
    OWN_FILE.present.store(false, Ordering::Release);
    // SAFETY: the path of the file this thread just created.
    unsafe { libc::unlink((*OWN_FILE.path.get()).as_ptr()) };
    discard(fd);
}

/// Writes `len` bytes from `source` at `offset` of `fd`.
///
/// # Safety
/// `source .. source + len` is readable.
pub(super) unsafe fn write_all(
    fd: libc::c_int,
    source: *const u8,
    len: usize,
    offset: u64,
) -> bool {
    let mut done = 0;
    while done < len {
        // SAFETY: the caller's guarantee.
        let written = unsafe {
            libc::pwrite(
                fd,
                source.add(done).cast(),
                len - done,
                (offset + done as u64) as libc::off_t,
            )
        };
        if written > 0 {
            done += written as usize;
        } else if written == 0 || crate::sys::errno() != libc::EINTR {
            return false;
        }
    }
    true
}

fn discard(fd: libc::c_int) {
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(fd) };
}

/// Binds the areas to this process's segment file, when the fixed part is in one.
///
/// # Safety
/// `region` is the fixed part just mapped by `map_fresh`, before any thread commits.
pub(crate) unsafe fn bind_areas(region: *mut Region) {
    let fd = FD.load(Ordering::Acquire);
    if fd < 0 {
        return;
    }
    // SAFETY: the caller's guarantee; the header's records live as long as the mapping.
    unsafe {
        let header = &(*region).header;
        for (group, area) in BLOCK_AREAS.iter().enumerate() {
            area.bind(fd, group_file_offset(group), &header.block_groups[group]);
        }
        TRACE_AREA.bind(fd, TRACE_FILE_OFFSET, &header.trace_area);
    }
}

/// In a forked child: the segment file the areas now use (`fd`, or -1 when the child has
/// none), closing the parent's descriptor the child inherited.
pub(super) fn replace_fd(fd: libc::c_int) {
    let parent = FD.swap(fd, Ordering::AcqRel);
    if parent >= 0 && parent != fd {
        discard(parent);
    }
}

/// Whether the segment directory may hold segments: a directory that others may write to
/// must have the sticky bit (as /dev/shm and /tmp do), or another user could replace or
/// remove this process's file.
fn directory_is_safe() -> bool {
    let mut dir = PathBuf::new();
    if !dir.push(directory()) {
        return false;
    }
    // SAFETY: a zeroed stat is a valid out-buffer; `dir` is NUL-terminated.
    let mut stat: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::stat(dir.as_ptr(), &mut stat) } != 0 {
        degraded(b"the segment directory does not exist");
        return false;
    }
    let writable_by_others = stat.st_mode & (libc::S_IWGRP | libc::S_IWOTH) != 0;
    if writable_by_others && stat.st_mode & libc::S_ISVTX == 0 {
        degraded(b"the segment directory is writable by others and not sticky; refused");
        return false;
    }
    true
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

/// Removes this process's segment file at normal exit. The mapping stays, so allocations
/// in later exit handlers still count; a forked child removes only its own file. Public for
/// an exit handler that ends the process with `_exit` before this one has run (the leak
/// check); a second call does nothing.
pub extern "C" fn remove_at_exit() {
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
