//! Listing every measured process in a segment directory, and cleaning up after ended ones.

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::namespace::{self, Found, Namespaces};
use super::{
    io_error, maps_segment, parse_file_name, process_start_time, read_file, ReadError, Reading,
};

/// What a scan of the segment directory found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Live processes' segments, by pid (in the reader's pid namespace).
    pub live: Vec<Reading>,
    /// Stale segments removed (their processes had ended).
    pub removed: Vec<PathBuf>,
    /// Segments that could not be read, with why (not removed).
    pub unreadable: Vec<ReadError>,
}

/// How long a segment file that cannot be read yet may be in the making: a process writes
/// its header within microseconds of creating the file, so an unreadable file older than
/// this whose lock nobody holds is a leftover.
const MAKING: Duration = Duration::from_secs(2);

/// Reads every segment in `dir` the caller may read. With `clean`, removes the caller's
/// segments whose process has provably ended: checked by pid and start time (a reused pid
/// is never mistaken for the old process), translated through `/proc` for a process of
/// another pid namespace (a container's, read from the host), and only when no process
/// holds the file's lock (every process holds it on its own file until it exits or execs).
/// A segment whose process cannot be found nor proven gone (another namespace this reader
/// does not see whole) is reported, never removed.
pub fn scan(dir: &Path, clean: bool) -> Result<Scan, ReadError> {
    let entries = fs::read_dir(dir).map_err(|error| io_error(dir, error))?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut scan = Scan::default();
    // Read from `/proc` only when a segment of another namespace turns up.
    let mut others: Option<Namespaces> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((uid, pid)) = name.to_str().and_then(parse_file_name) else {
            continue;
        };
        if uid != me && me != 0 {
            continue;
        }
        let path = entry.path();
        // Which file was judged: a process that took the pid since may have replaced it.
        let judged = file_identity(&path);
        match read_file(&path) {
            Ok(reading) if namespace::is_own(reading.pid_namespace) => {
                if process_start_time(pid) == Some(reading.info.start_time)
                    && maps_segment(pid, &path) != Some(false)
                {
                    scan.live.push(reading)
                } else {
                    stale(&mut scan, path, pid, clean, judged)
                }
            }
            Ok(reading) => {
                let namespaces = others.get_or_insert_with(Namespaces::read);
                match namespaces.find(reading.pid_namespace, pid) {
                    Found::Here(here)
                        if process_start_time(here) == Some(reading.info.start_time)
                            && maps_segment(here, &path) != Some(false) =>
                    {
                        scan.live.push(reading.seen_as(here))
                    }
                    Found::Here(_) | Found::Gone => stale(&mut scan, path, pid, clean, judged),
                    Found::Unknown => scan
                        .unreadable
                        .push(ReadError::OtherNamespace { path, pid }),
                }
            }
            // Unreadable (in the making, another version, corrupt): its namespace is
            // unknown, so its pid proves nothing alone; it goes only when nobody holds its
            // lock, and a file that may be in the making only once past the making.
            Err(error)
                if process_start_time(pid).is_none()
                    && (!in_making(&error) || made_before(&path, MAKING)) =>
            {
                stale(&mut scan, path, pid, clean, judged)
            }
            Err(error) => scan.unreadable.push(error),
        }
    }
    scan.live.sort_by_key(|reading| reading.info.pid);
    Ok(scan)
}

/// Whether `error` is what a file still being made reads as: empty or short (before its
/// fixed part is reserved), or without magic (before its header is written).
fn in_making(error: &ReadError) -> bool {
    matches!(
        error,
        ReadError::Truncated { .. } | ReadError::NotASegment { .. }
    )
}

/// Device and inode of the file at `path` itself (not followed).
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    fs::symlink_metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

/// Whether the file at `path` was last changed more than `age` ago.
fn made_before(path: &Path, age: Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|meta| meta.modified())
        .is_ok_and(|modified| {
            SystemTime::now()
                .duration_since(modified)
                .is_ok_and(|since| since > age)
        })
}

/// Reports or removes a stale segment. Removes it only if no process holds its lock (a live
/// process holds its own file's lock whatever its pid looks like from here) and it is still
/// the file that was judged stale (`judged`), so a segment just made by a new process with
/// the same pid stays.
fn stale(scan: &mut Scan, path: PathBuf, pid: u32, clean: bool, judged: Option<(u64, u64)>) {
    if !clean {
        scan.unreadable.push(ReadError::Stale { path, pid });
        return;
    }
    let Some(lock) = unlocked(&path) else {
        return;
    };
    let unchanged = judged.is_some() && file_identity(&path) == judged;
    if unchanged && fs::remove_file(&path).is_ok() {
        scan.removed.push(path);
    }
    drop(lock);
}

/// The file at `path` (not followed), locked exclusively: `None` when a process holds its
/// lock (or it cannot be opened). The lock is held until the returned file is dropped.
fn unlocked(path: &Path) -> Option<File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    // SAFETY: a plain system call on our own descriptor.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    locked.then_some(file)
}
