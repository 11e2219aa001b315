//! The report a process prints of itself (`skull_report`, hence the demo and the Rust API)
//! is byte for byte the table an outside reader (`skull-mem memory <pid>`) renders of the
//! same paused process.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use skull_mem_inspect::process;
use skull_mem_inspect::render::memory::{memory_table, TableOptions};
use support::*;

/// Waits until process `pid` is stopped by a signal (state `T`).
fn wait_stopped(pid: u32) {
    let deadline = Instant::now() + LINE_TIMEOUT;
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("the program runs");
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim().chars().next());
        if state == Some('T') {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} never stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_report_of_a_process_is_the_table_read_from_outside() {
    let dir = TestDir::new("same-text");
    let file = dir.path().join("report.txt");
    let program = Measured::start("report_self", &[file.to_str().unwrap()], dir.path());
    let pid = program.pid();
    wait_stopped(pid);

    let inside = fs::read_to_string(&file).expect("the program wrote its report");
    let snapshot = process::take(dir.path(), pid).expect("read the paused process");
    let outside = memory_table(&snapshot, &TableOptions::default());
    assert_eq!(inside, outside, "inside:\n{inside}\noutside:\n{outside}");
    assert!(inside.contains(" session-cache "), "{inside}");

    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
}
