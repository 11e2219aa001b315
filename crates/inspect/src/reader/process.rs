//! What `/proc` says about the process a segment claims to be of: alive (and since when),
//! its user, its command line, and whether it still maps the segment.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use skull_mem_core::proc_self::{start_time_from_stat, state_from_stat};

use super::parse_file_name;

/// A live process's start time, or `None` when there is no such process. A zombie (killed
/// or exited, not yet reaped by its parent) is no live process: it has no memory left, and
/// its segment is left over like that of any process that ended without its exit handlers.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    if matches!(state_from_stat(&stat), Some(b'Z' | b'X')) {
        return None;
    }
    start_time_from_stat(&stat)
}

pub(super) fn process_uid(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(super) fn process_command(pid: u32) -> String {
    let line = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = line
        .split(|&b| b == 0)
        .filter(|word| !word.is_empty())
        .map(|word| String::from_utf8_lossy(word).into_owned())
        .collect();
    if words.is_empty() {
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|comm| comm.trim().to_owned())
            .unwrap_or_else(|_| "?".to_owned())
    } else {
        words.join(" ")
    }
}

/// Whether process `pid` maps the segment file at `path`: `Some(false)` when the process
/// has since exec'd a program that is not measured, which leaves the segment of the last
/// measured image behind under the same pid and start time. `None` when its maps cannot be
/// read (another user's process) or are empty (its main thread has exited), so unknown.
/// A mapping matches by inode or by file name, so a mismatch is never a guess.
pub(crate) fn maps_segment(pid: u32, path: &Path) -> Option<bool> {
    let inode = fs::symlink_metadata(path).ok()?.ino();
    let name = path.file_name()?.to_str()?;
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    if maps.trim().is_empty() {
        return None;
    }
    Some(maps.lines().any(|line| {
        // address perms offset device inode [path]
        let mut fields = line.split_ascii_whitespace().skip(4);
        let mapped_inode = fields.next().and_then(|field| field.parse::<u64>().ok());
        mapped_inode == Some(inode) || line.ends_with(name)
    }))
}

/// A segment of `pid` in `dir` under any user id.
pub(super) fn segment_of_other_user(dir: &Path, pid: u32) -> Option<PathBuf> {
    fs::read_dir(dir).ok()?.flatten().find_map(|entry| {
        let name = entry.file_name();
        let (_, found) = parse_file_name(name.to_str()?)?;
        (found == pid).then(|| entry.path())
    })
}
