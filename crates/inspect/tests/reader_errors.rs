//! Bad input to the reader: every refusal has its `ReadError` code and a one-line message
//! naming the problem. Segment-like files are made from the segment of a real paused process.

mod support;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use std::mem::size_of;

use skull_mem_core::region::{ThreadBlock, MAX_SCOPES};
use skull_mem_core::segment::{
    SegmentHeader, FIXED_FILE_BYTES, GROUP_BYTES, LAYOUT_VERSION, MAGIC,
};
use skull_mem_core::trace::tables::TRACE_LAYOUT;
use skull_mem_inspect::reader::{self, ReadError, Reading};
use support::*;

/// A paused measured process and an image of its segment.
fn paused(dir: &Path) -> (Measured, Image) {
    let mut measured = Measured::start("reader_pattern", &[], dir);
    measured.expect("ready");
    let image = Image::of(&segment_of(dir, measured.pid()));
    assert_eq!(image.u64_at(0), MAGIC);
    (measured, image)
}

/// Reads `path` on another thread: the read must finish within 10 s.
fn read_file_within_10s(path: &Path) -> Result<Reading, ReadError> {
    let (send, recv) = mpsc::channel();
    let path = path.to_owned();
    std::thread::spawn(move || {
        let _ = send.send(reader::read_file(&path));
    });
    recv.recv_timeout(Duration::from_secs(10))
        .expect("read_file hung")
}

#[test]
fn a_pid_without_a_process_is_no_process() {
    let dir = TestDir::new("nopid");
    // Above PID_MAX_LIMIT (4194304): never a process.
    let pid = 1 << 30;
    let message = assert_error(
        reader::read_pid(dir.path(), pid),
        "NO_PROCESS",
        &["1073741824"],
    );
    assert_eq!(message, "no process with pid 1073741824");
}

#[test]
fn a_process_without_the_library_is_not_measured() {
    let dir = TestDir::new("notmeasured");
    let sleeper = Plain::sleep();
    assert_error(
        reader::read_pid(dir.path(), sleeper.pid()),
        "NOT_MEASURED",
        &[
            &sleeper.pid().to_string(),
            "sleep 600",
            "skull-mem run -- sleep 600",
        ],
    );
}

#[test]
fn a_command_line_with_newlines_still_gives_a_one_line_message() {
    let dir = TestDir::new("newline");
    let sleeper = Plain::spawn(Command::new("sleep").arg0("evil\nname\r").arg("600"));
    let message = assert_error(
        reader::read_pid(dir.path(), sleeper.pid()),
        "NOT_MEASURED",
        &["skull-mem run"],
    );
    assert!(message.contains("evil\\nname\\r 600"), "{message}");
}

#[test]
fn a_symlink_at_the_segment_path_is_refused_not_followed() {
    let dir = TestDir::new("symlink");
    let (_measured, image) = paused(dir.path());
    let target = dir.path().join("target-segment");
    image.write(&target);
    let sleeper = Plain::sleep();
    let planted = segment_of(dir.path(), sleeper.pid());
    std::os::unix::fs::symlink(&target, &planted).unwrap();
    let words = [planted.to_str().unwrap(), "symbolic link"];
    assert_error(
        reader::read_pid(dir.path(), sleeper.pid()),
        "SYMLINK",
        &words,
    );
    assert_error(reader::read_file(&planted), "SYMLINK", &words);
    // The target itself is fine.
    assert!(reader::read_file(&target).is_ok());
}

#[test]
fn a_fifo_at_the_segment_path_is_refused_without_blocking() {
    let dir = TestDir::new("fifo");
    let sleeper = Plain::sleep();
    let planted = segment_of(dir.path(), sleeper.pid());
    let name = CString::new(planted.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let words = [planted.to_str().unwrap(), "not a regular file"];
    assert_error(read_file_within_10s(&planted), "NOT_REGULAR", &words);
    let (send, recv) = mpsc::channel();
    let (dir_path, pid) = (dir.path().to_owned(), sleeper.pid());
    std::thread::spawn(move || {
        let _ = send.send(reader::read_pid(&dir_path, pid));
    });
    let result = recv
        .recv_timeout(Duration::from_secs(10))
        .expect("read_pid hung");
    assert_error(result, "NOT_REGULAR", &words);
    // A directory is not a regular file either.
    let sub = dir.path().join("a-directory");
    fs::create_dir(&sub).unwrap();
    assert_error(
        reader::read_file(&sub),
        "NOT_REGULAR",
        &[sub.to_str().unwrap()],
    );
}

#[test]
fn a_segment_readable_by_others_is_refused() {
    let dir = TestDir::new("mode");
    let (_measured, image) = paused(dir.path());
    for mode in [0o644, 0o640, 0o602, 0o660] {
        let path = dir.path().join(format!("mode-{mode:o}"));
        Image::write_as(&image.bytes, image.size, &path, mode);
        let message = assert_error(
            reader::read_file(&path),
            "INSECURE_MODE",
            &[path.to_str().unwrap(), &format!("{mode:04o}"), "0600"],
        );
        assert!(message.contains("refusing"), "{message}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(reader::read_file(&path).is_ok(), "the same file at 0600");
    }
}

/// Reads `paths` in a forked child that dropped to uid/gid 65534, then scans `scan_dir`,
/// and returns what it reports through a pipe: `OK <pid>` or `<CODE> <message>`, one line
/// per path, then `SCAN live=<paths> unreadable=<codes> removed=<count>`.
fn read_as_nobody(paths: &[PathBuf], scan_dir: &Path) -> Vec<String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child only drops privileges, reads files and writes to the pipe, then
    // leaves with `_exit`; glibc's malloc is usable after fork.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        // SAFETY: plain system calls in the child.
        unsafe {
            libc::close(fds[0]);
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(65534, 65534, 65534) != 0
                || libc::setresuid(65534, 65534, 65534) != 0
            {
                libc::_exit(2);
            }
        }
        let mut report = String::new();
        for path in paths {
            match reader::read_file(path) {
                Ok(reading) => report.push_str(&format!("OK {}\n", reading.info.pid)),
                Err(error) => report.push_str(&format!("{} {}\n", error.code(), error)),
            }
        }
        match reader::scan(scan_dir, true) {
            Ok(scan) => {
                let live: Vec<String> = scan
                    .live
                    .iter()
                    .map(|r| r.info.path.display().to_string())
                    .collect();
                let unreadable: Vec<&str> = scan.unreadable.iter().map(|e| e.code()).collect();
                report.push_str(&format!(
                    "SCAN live={} unreadable={} removed={}\n",
                    live.join(","),
                    unreadable.join(","),
                    scan.removed.len()
                ));
            }
            Err(error) => report.push_str(&format!("SCAN failed: {error}\n")),
        }
        let bytes = report.as_bytes();
        // SAFETY: writing our own buffer to our pipe, then leaving without unwinding.
        unsafe {
            libc::write(fds[1], bytes.as_ptr().cast(), bytes.len());
            libc::_exit(0);
        }
    }
    // SAFETY: closing the parent's copy of the write end.
    unsafe { libc::close(fds[1]) };
    // SAFETY: `fds[0]` is our read end, owned by the File from here on.
    let mut pipe: fs::File = unsafe { std::os::fd::FromRawFd::from_raw_fd(fds[0]) };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut pipe, &mut out).unwrap();
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the uid 65534 child failed: status {status:#x}"
    );
    out.lines().map(str::to_owned).collect()
}

#[test]
fn segments_of_other_users_are_refused_except_to_root() {
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test runs as root");
    let dir = TestDir::new("owner");
    let (measured, image) = paused(dir.path());
    let pid = measured.pid();
    let chown = |path: &Path, uid: u32| {
        let name = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::chown(name.as_ptr(), uid, uid) }, 0);
    };
    // Root's segment, 0600: a non-root reader cannot even open it.
    let private = dir.path().join("root-0600");
    image.write(&private);
    // Root's segment readable by all: opened, but it is not the reader's.
    let foreign = dir.path().join("root-0644");
    Image::write_as(&image.bytes, image.size, &foreign, 0o644);
    // A segment of uid 65534.
    let users = dir.path().join(format!("skull-mem-65534-{pid}"));
    image.write(&users);
    chown(&users, 65534);

    let report = read_as_nobody(
        &[private.clone(), foreign.clone(), users.clone()],
        dir.path(),
    );
    assert_eq!(report.len(), 4, "{report:?}");
    assert!(
        report[0].starts_with("PERMISSION_DENIED ") && report[0].contains("permission denied"),
        "{}",
        report[0]
    );
    assert!(report[0].contains(private.to_str().unwrap()));
    assert!(
        report[1].starts_with("NOT_OWNED ") && report[1].contains("belongs to uid 0"),
        "{}",
        report[1]
    );
    assert!(report[1].contains(foreign.to_str().unwrap()));
    assert_eq!(
        report[2],
        format!("OK {pid}"),
        "the owner reads its own segment"
    );
    // A scan by uid 65534 sees its own segment as live (it cannot read root's process maps,
    // which is no reason to call the segment stale) and skips root's segment entirely.
    assert_eq!(
        report[3],
        format!("SCAN live={} unreadable= removed=0", users.display())
    );
    assert!(segment_of(dir.path(), pid).exists());

    // Root reads a user's segment.
    let reading = reader::read_file(&users).expect("root reads uid 65534's segment");
    assert_eq!(reading.info.pid, pid);
    assert_eq!(
        scope(&reading, "alpha").get(skull_mem_core::counters::Counter::MallocCalls),
        11
    );
}

#[test]
fn truncated_files_are_truncated() {
    let dir = TestDir::new("truncated");
    let (_measured, image) = paused(dir.path());
    let header = std::mem::size_of::<SegmentHeader>();
    let fixed = FIXED_FILE_BYTES as u64;
    // Shorter than the fixed part, which the writer reserves before anything else.
    for size in [0, 1, 8, header as u64 - 1, header as u64, 4096, fixed - 1] {
        let path = dir.path().join(format!("truncated-{size}"));
        Image::write_as(&image.bytes, size, &path, 0o600);
        let message = assert_error(
            reader::read_file(&path),
            "TRUNCATED",
            &[path.to_str().unwrap(), &format!("({size} bytes")],
        );
        assert!(message.contains(&fixed.to_string()), "{message}");
    }
    // The fixed part is there, but not the thread block the header says is committed: the
    // reader must not map past the end of the file (a fault), it refuses the record.
    assert_eq!(
        image.size,
        fixed + size_of::<ThreadBlock>() as u64,
        "one block"
    );
    for size in [fixed, image.size - 1] {
        let path = dir.path().join(format!("truncated-{size}"));
        Image::write_as(&image.bytes, size, &path, 0o600);
        assert_error(
            reader::read_file(&path),
            "CORRUPT",
            &[
                path.to_str().unwrap(),
                "an area record does not fit its file",
            ],
        );
    }
}

#[test]
fn a_file_without_the_magic_is_not_a_segment() {
    let dir = TestDir::new("magic");
    let (_measured, mut image) = paused(dir.path());
    let words_for = |path: &PathBuf| {
        [
            path.to_str().unwrap().to_owned(),
            "not a skull-mem segment".into(),
        ]
    };
    // A segment still being set up: magic zero.
    image.put_u64(0, 0);
    let path = dir.path().join("zero-magic");
    image.write(&path);
    let words = words_for(&path);
    assert_error(
        reader::read_file(&path),
        "NOT_A_SEGMENT",
        &[&words[0], &words[1]],
    );
    // One bit off.
    image.put_u64(0, MAGIC ^ 1);
    let path = dir.path().join("bad-magic");
    image.write(&path);
    let words = words_for(&path);
    assert_error(
        reader::read_file(&path),
        "NOT_A_SEGMENT",
        &[&words[0], &words[1]],
    );
    // Another kind of file of the right size.
    let path = dir.path().join("text");
    let text = b"hello, this is not a segment\n".repeat(100);
    Image::write_as(&text, image.size, &path, 0o600);
    let words = words_for(&path);
    assert_error(
        reader::read_file(&path),
        "NOT_A_SEGMENT",
        &[&words[0], &words[1]],
    );
}

fn library_version_offset() -> usize {
    // The header's strings follow the trace-scope bitmap; the library version comes first.
    std::mem::offset_of!(SegmentHeader, trace_scopes)
        + std::mem::size_of::<[std::sync::atomic::AtomicU64; 8]>()
}

/// The same layout version with other trace tables (a layout change nobody bumped the
/// version for) is refused as another version, naming both fingerprints.
#[test]
fn another_trace_layout_is_refused_as_another_version() {
    let dir = TestDir::new("trace-layout");
    let (_measured, mut image) = paused(dir.path());
    let at = std::mem::offset_of!(SegmentHeader, trace_layout);
    assert_eq!(
        image.bytes[at..at + 8],
        u64::from(TRACE_LAYOUT).to_le_bytes(),
        "the library writes its fingerprint"
    );
    let other = u64::from(TRACE_LAYOUT ^ 0x10);
    image.put_u64(at, other);
    let path = dir.path().join("trace-layout");
    image.write(&path);
    assert_error(
        reader::read_file(&path),
        "VERSION_MISMATCH",
        &[
            path.to_str().unwrap(),
            &format!("has segment layout {LAYOUT_VERSION}.{other:08x}"),
            &format!("reads layout {LAYOUT_VERSION}.{TRACE_LAYOUT:08x}"),
        ],
    );
}

#[test]
fn another_layout_version_names_both_versions() {
    let dir = TestDir::new("version");
    let (_measured, mut image) = paused(dir.path());
    let at = library_version_offset();
    let version = skull_mem_core::VERSION.as_bytes();
    assert_eq!(
        &image.bytes[at..at + version.len() + 1],
        [version, b"\0"].concat()
    );
    image.put_u32(
        std::mem::offset_of!(SegmentHeader, layout_version),
        LAYOUT_VERSION + 1,
    );
    image.bytes[at..at + 7].copy_from_slice(b"9.9.9\0\0");
    let path = dir.path().join("version");
    image.write(&path);
    let message = assert_error(
        reader::read_file(&path),
        "VERSION_MISMATCH",
        &[
            path.to_str().unwrap(),
            &format!("layout {}", LAYOUT_VERSION + 1),
            "library 9.9.9",
            &format!("skull-mem {}", skull_mem_core::VERSION),
        ],
    );
    assert!(
        message.contains(&format!("reads layout {LAYOUT_VERSION}")),
        "{message}"
    );

    // The library version comes from the file: control characters in it stay on one line.
    image.bytes[at..at + 12].copy_from_slice(b"1.0\nFAKE\x1b[m\0");
    image.write(&path);
    let message = assert_error(
        reader::read_file(&path),
        "VERSION_MISMATCH",
        &["library 1.0"],
    );
    assert!(!message.contains('\x1b'), "{message:?}");
}

#[test]
fn inconsistent_layout_fields_are_corrupt() {
    use std::mem::offset_of;
    let dir = TestDir::new("corrupt");
    let (measured, image) = paused(dir.path());
    // (field, offset, width, value)
    let fields: [(&str, usize, usize, u64); 10] = [
        ("header_size", offset_of!(SegmentHeader, header_size), 4, 8),
        (
            "max_scopes",
            offset_of!(SegmentHeader, max_scopes),
            4,
            MAX_SCOPES as u64 + 1,
        ),
        (
            "max_threads",
            offset_of!(SegmentHeader, max_threads),
            4,
            4096,
        ),
        (
            "counter_count",
            offset_of!(SegmentHeader, counter_count),
            4,
            21,
        ),
        (
            "counter_set_size",
            offset_of!(SegmentHeader, counter_set_size),
            4,
            168,
        ),
        (
            "scopes_offset",
            offset_of!(SegmentHeader, scopes_offset),
            8,
            0,
        ),
        (
            "overflow_offset",
            offset_of!(SegmentHeader, overflow_offset),
            8,
            1 << 40,
        ),
        (
            "blocks_offset",
            offset_of!(SegmentHeader, blocks_offset),
            8,
            4096,
        ),
        (
            "thread_block_size",
            offset_of!(SegmentHeader, thread_block_size),
            4,
            4096,
        ),
        (
            "segment_size",
            offset_of!(SegmentHeader, segment_size),
            8,
            4096,
        ),
    ];
    // Named like the real segment, so the name's pid is checked too (and matches).
    let path = segment_of(dir.path(), measured.pid());
    let copy = dir.path().join("copy");
    for (field, offset, width, value) in fields {
        let mut bad = Image {
            bytes: image.bytes.clone(),
            size: image.size,
        };
        match width {
            4 => bad.put_u32(offset, value as u32),
            _ => bad.put_u64(offset, value),
        }
        bad.write(&copy);
        let message = assert_error(
            reader::read_file(&copy),
            "CORRUPT",
            &[copy.to_str().unwrap(), "is corrupt", "layout fields"],
        );
        assert!(
            message.ends_with("do not match its layout version"),
            "{field}: {message}"
        );
    }
    assert!(reader::read_file(&path).is_ok(), "the original is fine");
    // A header naming another pid than the file name.
    let mut other = Image {
        bytes: image.bytes.clone(),
        size: image.size,
    };
    other.put_u32(offset_of!(SegmentHeader, pid), measured.pid() + 1);
    let misnamed = segment_of(dir.path(), 7);
    other.write(&misnamed);
    assert_error(
        reader::read_file(&misnamed),
        "CORRUPT",
        &[misnamed.to_str().unwrap(), "another pid than its file name"],
    );
    // Longer than what it has committed: fine (a chunk reserved, not recorded yet).
    let path = dir.path().join("longer");
    Image::write_as(&image.bytes, image.size + 4096, &path, 0o600);
    assert!(reader::read_file(&path).is_ok());
    // Area records that do not describe this layout's areas inside the file.
    let group = offset_of!(SegmentHeader, block_groups);
    let block = size_of::<ThreadBlock>() as u64;
    let record: [(&str, usize, u64); 5] = [
        ("more committed than the file holds", group + 16, 2 * block),
        (
            "more committed than reserved",
            group + 16,
            GROUP_BYTES as u64 + block,
        ),
        ("not whole blocks", group + 16, block - 8),
        ("another file offset", group, 4096),
        ("another reservation", group + 8, 1 << 40),
    ];
    for (what, offset, value) in record {
        let mut bad = Image {
            bytes: image.bytes.clone(),
            size: image.size,
        };
        bad.put_u64(offset, value);
        bad.write(&copy);
        let message = assert_error(
            reader::read_file(&copy),
            "CORRUPT",
            &["an area record does not fit its file"],
        );
        assert!(
            message.contains(copy.to_str().unwrap()),
            "{what}: {message}"
        );
    }
}
