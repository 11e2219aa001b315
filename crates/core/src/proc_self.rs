//! Facts about a process from `/proc`: the calling one's read without allocating (they are
//! read inside the first `malloc`, when the segment header is written); the `stat` parsers
//! also serve the reader of `skull-mem-inspect`, which checks another process's start time.

/// Reads a whole small file into `buf`; returns the bytes read.
fn read_file(path: &core::ffi::CStr, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `path` is NUL-terminated; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: the destination range lies inside `buf`.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: our own descriptor.
    unsafe { libc::close(fd) };
    Some(len)
}

/// Field 22 of a `/proc/<pid>/stat` line: start time in clock ticks after boot. The
/// command name (field 2) may contain spaces and parentheses, so fields are counted from
/// the last `)`.
pub fn start_time_from_stat(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    // After ")": field 3 is the first; field 22 is the 20th.
    let field = stat[close + 1..]
        .split(|&b| b == b' ')
        .filter(|part| !part.is_empty())
        .nth(19)?;
    core::str::from_utf8(field).ok()?.trim().parse().ok()
}

/// Field 3 of a `/proc/<pid>/stat` line: the process state (`R`, `S`, `Z` for a zombie...).
pub fn state_from_stat(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat[close + 1..].iter().copied().find(|&b| b != b' ')
}

/// This process's start time (see `start_time_from_stat`).
pub fn start_time() -> Option<u64> {
    let mut buf = [0u8; 1024];
    let len = read_file(c"/proc/self/stat", &mut buf)?;
    start_time_from_stat(&buf[..len])
}

/// The identity of this process's pid namespace: the inode of `/proc/self/ns/pid` (0 when
/// it cannot be read). The segment records it so that a reader in another pid namespace (a
/// container's process read from the host) can find which of its processes wrote it.
pub fn pid_namespace() -> u64 {
    // SAFETY: a zeroed stat is a valid out-buffer; the path is NUL-terminated.
    unsafe {
        let mut stat: libc::stat = core::mem::zeroed();
        if libc::stat(c"/proc/self/ns/pid".as_ptr(), &mut stat) == 0 {
            stat.st_ino
        } else {
            0
        }
    }
}

/// Writes the executable path, NUL-terminated and truncated to fit, into `dest`.
pub fn executable(dest: &mut [u8]) {
    // SAFETY: readlink writes at most `dest.len() - 1` bytes into `dest`.
    let len = unsafe {
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            dest.as_mut_ptr().cast(),
            dest.len() - 1,
        )
    };
    dest[len.max(0) as usize] = 0;
}

/// Writes the command line, arguments joined by spaces, NUL-terminated, into `dest`.
pub fn command_line(dest: &mut [u8]) {
    let last = dest.len() - 1;
    let len = read_file(c"/proc/self/cmdline", &mut dest[..last]).unwrap_or(0);
    let text = &mut dest[..len];
    // Arguments end in NUL: join them with spaces and drop the final one.
    let end = if text.last() == Some(&0) {
        len - 1
    } else {
        len
    };
    for byte in &mut text[..end] {
        if *byte == 0 {
            *byte = b' ';
        }
    }
    dest[end] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_skips_a_command_name_with_spaces_and_parentheses() {
        let stat = b"42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 987654 123 4";
        assert_eq!(start_time_from_stat(stat), Some(987654));
        assert_eq!(start_time_from_stat(b"42 (short) S 1"), None);
    }

    #[test]
    fn state_is_the_field_after_the_command_name() {
        assert_eq!(state_from_stat(b"42 (a (Z) c) S 1 42"), Some(b'S'));
        assert_eq!(state_from_stat(b"7 (dead) Z 1 7 7"), Some(b'Z'));
        assert_eq!(state_from_stat(b"7 (cut)"), None);
    }

    #[test]
    fn this_process_has_a_start_time_and_a_command_line() {
        assert!(start_time().is_some_and(|ticks| ticks > 0));
        let mut line = [0u8; 256];
        command_line(&mut line);
        assert_ne!(line[0], 0);
        let mut exe = [0u8; 512];
        executable(&mut exe);
        assert_eq!(exe[0], b'/');
    }
}
