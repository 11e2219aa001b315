//! Segments over a process's life: fork gives the child a segment of its own, exec gives the
//! new image a fresh one under the same pid, a normal exit removes it, a SIGKILL leaves a
//! stale one that `scan(dir, true)` removes, and a pid reused by another process is told
//! apart by its start time.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use skull_mem_core::counters::Counter::*;
use skull_mem_core::segment::SegmentHeader;
use skull_mem_inspect::reader::{self, ReadError};
use support::*;

fn pid_after(line: &str, prefix: &str) -> u32 {
    line.strip_prefix(prefix)
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("expected `{prefix}<pid>`, got {line:?}"))
}

fn live_pids(scan: &reader::Scan) -> Vec<u32> {
    scan.live.iter().map(|r| r.info.pid).collect()
}

#[test]
fn fork_gives_each_process_its_own_numbers_and_exec_a_fresh_segment() {
    let dir = TestDir::new("fork");
    let pattern = program("reader_pattern");
    let mut parent = Measured::start("reader_fork", &[pattern.to_str().unwrap()], dir.path());
    let mut child_pid = 0;
    let mut parent_said = 0;
    for _ in 0..2 {
        let line = parent.next_line();
        if line.starts_with("child ready ") {
            child_pid = pid_after(&line, "child ready ");
        } else {
            parent_said = pid_after(&line, "parent ready ");
        }
    }
    assert_eq!(parent_said, child_pid, "both lines seen");
    let parent_pid = parent.pid();

    let scan = reader::scan(dir.path(), false).unwrap();
    assert!(scan.unreadable.is_empty(), "{:?}", scan.unreadable);
    assert!(scan.removed.is_empty());
    let mut want_pids = vec![parent_pid, child_pid];
    want_pids.sort();
    assert_eq!(live_pids(&scan), want_pids);
    let of = |pid| scan.live.iter().find(|r| r.info.pid == pid).unwrap();
    let (in_parent, in_child) = (of(parent_pid), of(child_pid));
    assert_ne!(in_parent.info.path, in_child.info.path);
    assert_eq!(
        in_child.info.path,
        segment_of(dir.path(), child_pid),
        "the child's segment is named for the child"
    );
    assert_ne!(in_parent.info.start_time, 0);

    let before = counters(&[
        (AllocBytes, 333),
        (AllocBlocks, 3),
        (MallocCalls, 3),
        (OverheadBytes, 48),
    ]);
    // The parent: its own 5 blocks, none of the child's, and all 3 blocks from before.
    assert_counters(scope(in_parent, "before"), &before);
    assert_counters(
        scope(in_parent, "parent_only"),
        &counters(&[
            (AllocBytes, 5 * 333),
            (AllocBlocks, 5),
            (MallocCalls, 5),
            (OverheadBytes, 80),
        ]),
    );
    assert_counters(scope(in_parent, "child_only"), &counters(&[]));
    // The child: what it inherited, plus its own 4 blocks and its free of a block from before.
    let mut before_in_child = before;
    before_in_child[FreedBytes as usize] = 111;
    before_in_child[FreedBlocks as usize] = 1;
    before_in_child[CrossFreedBlocks as usize] = 1;
    before_in_child[CrossFreedBytes as usize] = 111;
    before_in_child[OverheadFreedBytes as usize] = 16;
    assert_counters(scope(in_child, "before"), &before_in_child);
    assert_counters(
        scope(in_child, "child_only"),
        &counters(&[
            (AllocBytes, 4 * 222),
            (AllocBlocks, 4),
            (MallocCalls, 4),
            (FreeCalls, 1),
            (OverheadBytes, 64),
        ]),
    );
    assert_counters(scope(in_child, "parent_only"), &counters(&[]));

    // The child execs reader_pattern: same pid, a new segment with the new image's scopes.
    parent.send("exec");
    parent.expect("ready");
    let execd = reader::read_pid(dir.path(), child_pid).expect("the exec'd image");
    assert_eq!(execd.info.pid, child_pid);
    assert_eq!(execd.info.start_time, in_child.info.start_time);
    assert_eq!(execd.info.executable, pattern.to_str().unwrap());
    let names: BTreeSet<&str> = execd
        .snapshot
        .scopes
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert!(names.contains("alpha") && names.contains("gamma"));
    assert!(!names.contains("child_only") && !names.contains("before"));
    assert_eq!(scope(&execd, "alpha").get(MallocCalls), 11);
    // The parent's numbers did not move.
    let parent_now = reader::read_pid(dir.path(), parent_pid).unwrap();
    assert_eq!(parent_now.snapshot.scopes, in_parent.snapshot.scopes);

    // The exec'd image exits normally: its segment goes, the parent's stays.
    parent.send("");
    parent.expect("ready2");
    parent.send("");
    parent.expect("child exited 0");
    assert!(!segment_of(dir.path(), child_pid).exists());
    let scan = reader::scan(dir.path(), true).unwrap();
    assert_eq!(live_pids(&scan), [parent_pid]);
    assert!(scan.removed.is_empty() && scan.unreadable.is_empty());

    parent.send("");
    parent.wait_success();
    assert!(!segment_of(dir.path(), parent_pid).exists());
    let scan = reader::scan(dir.path(), true).unwrap();
    assert!(scan.live.is_empty() && scan.removed.is_empty() && scan.unreadable.is_empty());
}

#[test]
fn a_killed_process_leaves_a_stale_segment_that_scan_removes() {
    let dir = TestDir::new("killed");
    let mut killed = Measured::start("reader_pattern", &[], dir.path());
    let mut alive = Measured::start("reader_pattern", &[], dir.path());
    killed.expect("ready");
    alive.expect("ready");
    let (dead_pid, live_pid) = (killed.pid(), alive.pid());
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let stale_path = segment_of(dir.path(), dead_pid);
    assert!(stale_path.exists(), "SIGKILL runs no exit handler");

    // The stale file is still a valid segment, but its process is gone.
    assert!(reader::read_file(&stale_path).is_ok());
    assert_error(
        reader::read_pid(dir.path(), dead_pid),
        "NO_PROCESS",
        &[&dead_pid.to_string()],
    );

    // Without cleaning: reported, kept.
    let scan = reader::scan(dir.path(), false).unwrap();
    assert_eq!(live_pids(&scan), [live_pid]);
    assert!(scan.removed.is_empty());
    assert_eq!(scan.unreadable.len(), 1);
    match &scan.unreadable[0] {
        ReadError::Stale { path, pid } => {
            assert_eq!((path, *pid), (&stale_path, dead_pid));
        }
        other => panic!("expected STALE, got {other}"),
    }
    assert!(scan.unreadable[0].to_string().contains("has ended"));
    assert!(stale_path.exists());

    // Cleaning: removed and reported; the live one untouched.
    let scan = reader::scan(dir.path(), true).unwrap();
    assert_eq!(live_pids(&scan), [live_pid]);
    assert_eq!(scan.removed, vec![stale_path.clone()]);
    assert!(scan.unreadable.is_empty());
    assert!(!stale_path.exists());
    assert!(segment_of(dir.path(), live_pid).exists());
    assert_eq!(scope(&scan.live[0], "alpha").get(AllocBlocks), 22);
}

#[test]
fn a_killed_process_not_yet_reaped_is_ended_and_its_segment_stale() {
    let dir = TestDir::new("zombie");
    let mut zombie = Measured::start("reader_pattern", &[], dir.path());
    zombie.expect("ready");
    let pid = zombie.pid();
    zombie.child.kill().unwrap();
    // Not waited for: the process stays a zombie, with its pid and /proc entry, until reaped.
    let stat = format!("/proc/{pid}/stat");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(&stat).unwrap().contains(") Z ") {
        assert!(
            std::time::Instant::now() < deadline,
            "{pid} never became a zombie"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let path = segment_of(dir.path(), pid);
    assert!(path.exists(), "SIGKILL runs no exit handler");
    assert_error(
        reader::read_pid(dir.path(), pid),
        "NO_PROCESS",
        &[&pid.to_string()],
    );
    let scan = reader::scan(dir.path(), true).unwrap();
    assert!(live_pids(&scan).is_empty());
    assert_eq!(scan.removed, vec![path.clone()]);
    assert!(!path.exists());
    zombie.child.wait().unwrap();
}

#[test]
fn a_segment_whose_pid_now_belongs_to_another_process_is_stale() {
    let dir = TestDir::new("reused");
    let mut measured = Measured::start("reader_pattern", &[], dir.path());
    measured.expect("ready");
    let mut image = Image::of(&segment_of(dir.path(), measured.pid()));
    // A live process that is not measured; the copy pretends its pid had a segment before.
    let sleeper = Plain::sleep();
    let pid = sleeper.pid();
    image.put_u32(std::mem::offset_of!(SegmentHeader, pid), pid);
    let planted: PathBuf = segment_of(dir.path(), pid);
    image.write(&planted);
    assert!(
        reader::read_file(&planted).is_ok(),
        "the copy itself is a valid segment"
    );

    let message = assert_error(
        reader::read_pid(dir.path(), pid),
        "STALE",
        &[&pid.to_string(), planted.to_str().unwrap()],
    );
    assert!(message.contains("has ended"), "{message}");

    let scan = reader::scan(dir.path(), false).unwrap();
    assert_eq!(live_pids(&scan), [measured.pid()]);
    assert_eq!(scan.unreadable.len(), 1);
    assert_eq!(scan.unreadable[0].code(), "STALE");
    let scan = reader::scan(dir.path(), true).unwrap();
    assert_eq!(scan.removed, vec![planted.clone()]);
    assert!(!planted.exists());
    assert_eq!(live_pids(&scan), [measured.pid()]);
    // The pid's process is untouched and, with no segment now, simply not measured.
    assert_error(
        reader::read_pid(dir.path(), pid),
        "NOT_MEASURED",
        &["skull-mem run"],
    );
}

#[test]
fn a_segment_left_by_an_earlier_image_of_a_live_process_is_stale() {
    let dir = TestDir::new("execd");
    // A preloaded shell that, on a line, execs `env`, which execs `sleep` without the
    // library: the pid lives on with the start time of the segment, but nothing maps it.
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "echo ready; read x; exec env -u LD_PRELOAD sleep 600"]);
    let mut shell = Measured::spawn("sh", cmd, dir.path());
    shell.expect("ready");
    let pid = shell.pid();
    let path = segment_of(dir.path(), pid);
    let before = reader::read_pid(dir.path(), pid).expect("the shell is measured");
    assert!(
        before.info.executable.ends_with("sh"),
        "{}",
        before.info.executable
    );
    shell.send("");
    // Wait for sleep to be the image.
    let mut exe = PathBuf::new();
    for _ in 0..1000 {
        exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if exe.ends_with("sleep") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(exe.ends_with("sleep"), "{}", exe.display());
    assert!(
        path.exists(),
        "exec leaves the last measured image's segment"
    );
    assert_error(
        reader::read_pid(dir.path(), pid),
        "STALE",
        &[path.to_str().unwrap()],
    );
    let scan = reader::scan(dir.path(), true).unwrap();
    assert!(scan.live.is_empty(), "{:?}", live_pids(&scan));
    assert_eq!(scan.removed, vec![path.clone()]);
    assert!(!path.exists());
}
