//! Pids across pid namespaces: a segment names its process by its pid in the process's own
//! pid namespace (a container's), and records that namespace (`SegmentHeader::pid_namespace`,
//! the inode of `/proc/<pid>/ns/pid`). A reader in another namespace (the host) finds the
//! process among its own `/proc` entries: the one in that namespace whose innermost pid
//! (the last `NSpid` entry of `/proc/<p>/status`) is the segment's pid.
//!
//! A process of another namespace is proven gone only when this reader sees that namespace
//! (some process of it is visible) and no `/proc` entry could be it: every entry's status
//! could be read, and none whose namespace could not be read (a process that is not
//! dumpable, without CAP_SYS_PTRACE) has the pid looked for as its innermost pid. Otherwise
//! it is unknown, and the segment is never removed.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;

/// The inode of process `pid`'s pid namespace (`/proc/<pid>/ns/pid`); `None` when it cannot
/// be read (the process is gone, or the caller may not inspect it: PTRACE_MODE_READ).
pub(crate) fn pid_namespace_of(pid: u32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|meta| meta.ino())
}

/// The reader's own pid namespace; `None` when `/proc/self/ns/pid` cannot be read.
pub(crate) fn own_pid_namespace() -> Option<u64> {
    fs::metadata("/proc/self/ns/pid")
        .ok()
        .map(|meta| meta.ino())
}

/// Process `pid`'s pid in its own (innermost) pid namespace: the last `NSpid` entry of its
/// status; `pid` itself on a kernel without `NSpid` (before 4.1, no namespace translation).
pub(crate) fn innermost_pid(pid: u32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    match status.lines().find_map(|line| line.strip_prefix("NSpid:")) {
        Some(pids) => pids.split_whitespace().last()?.parse().ok(),
        None => Some(pid),
    }
}

/// Whether a segment's process is in the reader's pid namespace: the namespace it recorded
/// is the reader's, or either is unknown (a segment of a build before namespaces were
/// recorded cannot be read by this one, so unknown means `/proc` could not be read).
pub(crate) fn is_own(namespace: u64) -> bool {
    namespace == 0 || own_pid_namespace().is_none_or(|own| own == namespace)
}

/// Where a process of another pid namespace is, seen from the reader's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Alive, with this pid in the reader's namespace.
    Here(u32),
    /// Provably gone: the reader sees its whole namespace and it is not there.
    Gone,
    /// Not visible: the namespace is not seen whole (not root, `hidepid`, or no process of
    /// it is left to find it by).
    Unknown,
}

/// The processes of other pid namespaces, read once from `/proc`: (namespace, innermost pid)
/// to the pid here, and which namespaces are seen.
pub(crate) struct Namespaces {
    pids: HashMap<(u64, u32), u32>,
    seen: HashSet<u64>,
    /// Innermost pids of processes whose namespace could not be read: any may be the one.
    unsure: HashSet<u32>,
    /// Every `/proc` entry's status could be read.
    complete: bool,
}

impl Namespaces {
    /// Reads every process's namespace and innermost pid.
    pub(crate) fn read() -> Namespaces {
        let mut namespaces = Namespaces {
            pids: HashMap::new(),
            seen: HashSet::new(),
            unsure: HashSet::new(),
            complete: true,
        };
        let Ok(entries) = fs::read_dir("/proc") else {
            namespaces.complete = false;
            return namespaces;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            match (pid_namespace_of(pid), innermost_pid(pid)) {
                (Some(namespace), Some(inner)) => {
                    namespaces.seen.insert(namespace);
                    namespaces.pids.insert((namespace, inner), pid);
                }
                (None, Some(inner)) => {
                    namespaces.unsure.insert(inner);
                }
                // Ended since the directory was listed: nothing to see.
                _ if !std::path::Path::new(&format!("/proc/{pid}")).exists() => {}
                _ => namespaces.complete = false,
            }
        }
        namespaces
    }

    /// Where process `pid` of pid namespace `namespace` is.
    pub(crate) fn find(&self, namespace: u64, pid: u32) -> Found {
        match self.pids.get(&(namespace, pid)) {
            Some(&here) => Found::Here(here),
            None if self.complete
                && self.seen.contains(&namespace)
                && !self.unsure.contains(&pid) =>
            {
                Found::Gone
            }
            None => Found::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Namespace 7 holds process 2 (pid 100 here); pid 3 is some process whose namespace
    /// could not be read.
    fn namespaces(complete: bool) -> Namespaces {
        Namespaces {
            pids: HashMap::from([((7, 2), 100)]),
            seen: HashSet::from([7]),
            unsure: HashSet::from([3]),
            complete,
        }
    }

    #[test]
    fn a_process_is_gone_only_when_nothing_unread_could_be_it() {
        let seen = namespaces(true);
        assert_eq!(seen.find(7, 2), Found::Here(100));
        assert_eq!(seen.find(7, 4), Found::Gone);
        // Pid 3 may be the process whose namespace could not be read.
        assert_eq!(seen.find(7, 3), Found::Unknown);
        // No process of namespace 8 is visible: it may be hidden, not gone.
        assert_eq!(seen.find(8, 4), Found::Unknown);
        // A status that could not be read: nothing is proven gone.
        assert_eq!(namespaces(false).find(7, 4), Found::Unknown);
    }
}
