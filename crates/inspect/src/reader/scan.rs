//! Listing every measured process in a segment directory, and cleaning up after ended ones.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{
    io_error, maps_segment, parse_file_name, process_start_time, read_file, ReadError, Reading,
};

/// What a scan of the segment directory found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Live processes' segments, by pid.
    pub live: Vec<Reading>,
    /// Stale segments removed (their processes had ended).
    pub removed: Vec<PathBuf>,
    /// Segments that could not be read, with why (not removed).
    pub unreadable: Vec<ReadError>,
}

/// Reads every segment in `dir` the caller may read. With `clean`, removes the caller's
/// segments whose process has ended (checked by pid and start time, so a reused pid is
/// never mistaken for the old process).
pub fn scan(dir: &Path, clean: bool) -> Result<Scan, ReadError> {
    let entries = fs::read_dir(dir).map_err(|error| io_error(dir, error))?;
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut scan = Scan::default();
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
            Ok(reading)
                if process_start_time(pid) == Some(reading.info.start_time)
                    && maps_segment(pid, &path) != Some(false) =>
            {
                scan.live.push(reading)
            }
            Ok(_) => stale(&mut scan, path, pid, clean, judged),
            Err(_) if process_start_time(pid).is_none() => {
                stale(&mut scan, path, pid, clean, judged)
            }
            Err(error) => scan.unreadable.push(error),
        }
    }
    scan.live.sort_by_key(|reading| reading.info.pid);
    Ok(scan)
}

/// Device and inode of the file at `path` itself (not followed).
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    fs::symlink_metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino()))
}

/// Reports or removes a stale segment; removes it only if it is still the file that was
/// judged stale (`judged`), so a segment just made by a new process with the same pid stays.
fn stale(scan: &mut Scan, path: PathBuf, pid: u32, clean: bool, judged: Option<(u64, u64)>) {
    let unchanged = judged.is_some() && file_identity(&path) == judged;
    if clean && unchanged && fs::remove_file(&path).is_ok() {
        scan.removed.push(path);
    } else if !clean {
        scan.unreadable.push(ReadError::Stale { path, pid });
    }
}
