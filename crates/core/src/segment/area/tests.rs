//! Areas grow in whole chunks, keep their data while threads race to grow them, and fail
//! with `false` (never SIGBUS) when the filesystem is full.

use super::*;
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

const CHUNK: usize = 64 * 1024;
const RESERVED: usize = 1024 * 1024;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skull-area-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_anonymous_area_grows_in_whole_chunks_up_to_its_reservation() {
    let area = Area::new(RESERVED, CHUNK);
    assert!(
        area.base().is_null(),
        "nothing is reserved before the first commit"
    );
    assert_eq!(area.reserved(), RESERVED);
    assert!(area.commit(1));
    // One byte takes one whole chunk.
    assert_eq!(area.committed(), CHUNK);
    let base = area.base();
    // SAFETY: the first chunk is committed.
    unsafe { base.add(CHUNK - 1).write(7) };
    assert!(area.commit(CHUNK + 1));
    assert_eq!(area.committed(), 2 * CHUNK);
    assert_eq!(area.base(), base, "the base never moves");
    // SAFETY: committed above; the first chunk kept its byte.
    unsafe {
        assert_eq!(base.add(CHUNK - 1).read(), 7);
        base.add(2 * CHUNK - 1).write(8);
    }
    assert!(area.commit(RESERVED));
    assert_eq!(area.committed(), RESERVED);
    assert!(!area.commit(RESERVED + 1), "past the reservation");
    assert_eq!(area.committed(), RESERVED);
}

#[test]
fn a_file_area_reserves_its_chunks_in_the_file_and_tells_readers() {
    let dir = scratch("file");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("segment"))
        .unwrap();
    let record = AreaRecord::EMPTY;
    let area = Area::new(RESERVED, CHUNK);
    // SAFETY: the file stays open and the record alive for the whole test.
    unsafe { area.bind(file.as_raw_fd(), 8192, &record) };
    assert_eq!(record.file_offset.load(Ordering::Relaxed), 8192);
    assert_eq!(record.reserved.load(Ordering::Relaxed), RESERVED as u64);
    assert_eq!(record.committed.load(Ordering::Relaxed), 0);
    assert!(area.commit(100_000));
    // 100,000 bytes round up to two 64 KiB chunks.
    assert_eq!(area.committed(), 2 * CHUNK);
    assert_eq!(record.committed.load(Ordering::Relaxed), 2 * CHUNK as u64);
    // The file holds exactly the offset plus the committed chunks, all allocated.
    let meta = file.metadata().unwrap();
    assert_eq!(meta.len(), 8192 + 2 * CHUNK as u64);
    use std::os::unix::fs::{FileExt, MetadataExt};
    assert!(meta.blocks() * 512 >= 2 * CHUNK as u64);
    // SAFETY: committed above.
    unsafe { area.base().add(CHUNK + 5).write(42) };
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, 8192 + CHUNK as u64 + 5)
        .unwrap();
    assert_eq!(byte[0], 42, "the area is the file");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn threads_racing_to_grow_an_area_keep_every_byte() {
    let dir = scratch("race");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("segment"))
        .unwrap();
    let record = AreaRecord::EMPTY;
    let area = Area::new(RESERVED, CHUNK);
    // SAFETY: the file stays open and the record alive for the whole test.
    unsafe { area.bind(file.as_raw_fd(), 0, &record) };
    const THREADS: usize = 8;
    let chunks = RESERVED / CHUNK;
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let area = &area;
            scope.spawn(move || {
                for chunk in 0..chunks {
                    assert!(area.commit((chunk + 1) * CHUNK));
                    // SAFETY: committed just above; each thread writes its own byte.
                    unsafe {
                        area.base()
                            .add(chunk * CHUNK + thread)
                            .write(thread as u8 + 1)
                    };
                }
            });
        }
    });
    assert_eq!(area.committed(), RESERVED);
    assert_eq!(record.committed.load(Ordering::Relaxed), RESERVED as u64);
    for chunk in 0..chunks {
        for thread in 0..THREADS {
            // SAFETY: committed.
            let byte = unsafe { area.base().add(chunk * CHUNK + thread).read() };
            assert_eq!(byte, thread as u8 + 1, "chunk {chunk} thread {thread}");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// In a forked child, alone in a private mount namespace with a 128 KiB tmpfs: the first
/// chunk fits, the area cannot grow past what the filesystem holds, and nothing faults.
/// Exit codes name the step that went wrong.
fn on_a_tiny_tmpfs(mount_point: &CString, file: &CString) -> i32 {
    // SAFETY: plain system calls on prepared NUL-terminated strings; no allocation.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0
            && libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0
        {
            return 10;
        }
        let none = c"none".as_ptr();
        if libc::mount(
            none,
            c"/".as_ptr(),
            ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            ptr::null(),
        ) != 0
        {
            return 11;
        }
        let options = c"size=128k";
        if libc::mount(
            none,
            mount_point.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            options.as_ptr().cast(),
        ) != 0
        {
            return 12;
        }
        let fd = libc::open(
            file.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
            0o600,
        );
        if fd < 0 {
            return 13;
        }
        let record = AreaRecord::EMPTY;
        let area = Area::new(RESERVED, CHUNK);
        area.bind(fd, 0, &record);
        if !area.commit(CHUNK) {
            return 14;
        }
        // 128 KiB hold two chunks at most; the whole reservation (16) cannot fit.
        if area.commit(RESERVED) {
            return 15;
        }
        let committed = area.committed();
        if committed > 2 * CHUNK || record.committed.load(Ordering::Relaxed) != committed as u64 {
            return 16;
        }
        // Every committed byte can be written: it was reserved in the file.
        ptr::write_bytes(area.base(), 0xa5, committed);
        0
    }
}

#[test]
fn a_full_filesystem_makes_commit_return_false_never_fault() {
    let dir = scratch("tiny");
    let mount_point = CString::new(dir.to_str().unwrap()).unwrap();
    let file = CString::new(dir.join("segment").to_str().unwrap()).unwrap();
    // SAFETY: the child only makes system calls and exits with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = on_a_tiny_tmpfs(&mount_point, &file);
        // SAFETY: leaves the forked child without running the parent's test harness.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status),
        "the child died of signal {}",
        libc::WTERMSIG(status)
    );
    assert_eq!(libc::WEXITSTATUS(status), 0);
    std::fs::remove_dir_all(dir).unwrap();
}
