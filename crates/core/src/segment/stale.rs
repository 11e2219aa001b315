//! Removing the segment files of this user's processes that are gone.
//!
//! A process that ends by `_exit`, a signal or SIGKILL cannot remove its file. So every
//! preloaded process, when it makes its own segment, removes the files of this user whose
//! process has ended: the directory holds at most the files of processes that ended since
//! the last preloaded process of the user started (and of live processes that exec'd a
//! program that is not measured, until they end).
//!
//! A file is removed only when all of these hold: no process holds its lock (every process
//! holds a shared `flock` on its own file from creation to exit or `exec`, released by the
//! kernel however it ends), no process has its pid (so none can be creating it right now),
//! and the name still names the file that was judged (a process that took the pid since
//! replaces the file first). Files are opened without following links or blocking, and
//! only regular files of this user are considered.
//!
//! It runs once per process, at its first allocation: no allocation, a fixed buffer.

use super::FILE_PREFIX;

/// Bytes of directory entries read at a time.
const DIRENT_BUFFER: usize = 4096;

/// Removes the segment files of this user's ended processes in `dir` (the caller, `own_pid`,
/// keeps its own).
pub(super) fn remove_stale(dir: &[u8], own_pid: u32) {
    let mut path = [0u8; 512];
    if dir.len() >= path.len() {
        return;
    }
    path[..dir.len()].copy_from_slice(dir);
    // SAFETY: `path` is NUL-terminated (zeroed beyond `dir`).
    let dir_fd = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dir_fd < 0 {
        return;
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut buffer = [0u64; DIRENT_BUFFER / 8];
    loop {
        // SAFETY: reads directory entries into our buffer.
        let read = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir_fd,
                buffer.as_mut_ptr(),
                DIRENT_BUFFER,
            )
        };
        if read <= 0 {
            break;
        }
        // SAFETY: the kernel filled `read` bytes of whole entries.
        let bytes =
            unsafe { core::slice::from_raw_parts(buffer.as_ptr().cast::<u8>(), read as usize) };
        let mut at = 0;
        while at + 19 < bytes.len() {
            // linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name.
            let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            if reclen == 0 || at + reclen > bytes.len() {
                break;
            }
            let name = &bytes[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(pid) = pid_of(name, uid).filter(|&pid| pid != own_pid) {
                remove_if_stale(dir_fd, &bytes[at + 19..at + reclen], pid);
            }
            at += reclen;
        }
    }
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(dir_fd) };
}

/// The pid a segment file name of user `uid` names (`skull-mem-<uid>-<pid>`).
fn pid_of(name: &[u8], uid: u32) -> Option<u32> {
    let rest = name.strip_prefix(FILE_PREFIX.as_bytes())?;
    let dash = rest.iter().position(|&b| b == b'-')?;
    (decimal(&rest[..dash])? == u64::from(uid)).then_some(())?;
    u32::try_from(decimal(&rest[dash + 1..])?).ok()
}

fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u64::from(digit - b'0'))
    })
}

/// Removes the file `name` (NUL-terminated) of `dir_fd` if it is stale (see the module doc).
fn remove_if_stale(dir_fd: libc::c_int, name: &[u8], pid: u32) {
    let name = name.as_ptr().cast::<libc::c_char>();
    // SAFETY: `name` is a NUL-terminated entry name of `dir_fd`.
    let fd = unsafe {
        libc::openat(
            dir_fd,
            name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return;
    }
    // SAFETY: zeroed stats are valid out-buffers; plain system calls on our descriptors.
    unsafe {
        let mut opened: libc::stat = core::mem::zeroed();
        let mut named: libc::stat = core::mem::zeroed();
        let stale = libc::fstat(fd, &mut opened) == 0
            && opened.st_mode & libc::S_IFMT == libc::S_IFREG
            && opened.st_uid == libc::getuid()
            && libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) == 0
            && libc::kill(pid as libc::pid_t, 0) != 0
            && crate::sys::errno() == libc::ESRCH
            && libc::fstatat(dir_fd, name, &mut named, libc::AT_SYMLINK_NOFOLLOW) == 0
            && (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino);
        if stale {
            libc::unlinkat(dir_fd, name, 0);
        }
        libc::close(fd);
    }
}
