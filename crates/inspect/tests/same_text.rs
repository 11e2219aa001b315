//! The report a process prints of itself (`skull_report`, hence the demo and the Rust API)
//! is byte for byte the table an outside reader (`skull-mem memory <pid>`) renders of the
//! same paused process; and the tables are byte for byte those the TypeScript printed.

mod support;

use std::fs;

use skull_mem_inspect::clock;
use skull_mem_inspect::process;
use skull_mem_inspect::render::diff::{diff, diff_table, DiffSide};
use skull_mem_inspect::render::memory::{memory_table, SortKey, TableOptions};
use skull_mem_inspect::report::ProcessSnapshot;
use support::*;

#[test]
fn the_report_of_a_process_is_the_table_read_from_outside() {
    let dir = TestDir::new("same-text");
    let file = dir.path().join("report.txt");
    let program = Measured::start("report_self", &[file.to_str().unwrap()], dir.path());
    let pid = program.pid();
    skull_mem_test_support::wait_stopped(pid);

    let inside = fs::read_to_string(&file).expect("the program wrote its report");
    let snapshot = process::take(dir.path(), pid).expect("read the paused process");
    let outside = memory_table(&snapshot, &TableOptions::default());
    skull_mem_test_support::assert_same_memory_table(&inside, &outside);
    assert!(inside.contains(" session-cache "), "{inside}");

    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
}

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn snapshot(name: &str) -> ProcessSnapshot {
    serde_json::from_str(&fixture(name)).expect("a snapshot in format v1")
}

fn side(snapshot: &ProcessSnapshot) -> DiffSide<'_> {
    DiffSide {
        report: &snapshot.report,
        time_ms: clock::parse_iso(&snapshot.time).expect("an ISO time"),
        rss_bytes: snapshot.process.rss_bytes,
    }
}

#[test]
fn the_memory_table_is_the_one_the_typescript_printed() {
    let (a, b) = (snapshot("snapshot_a.json"), snapshot("snapshot_b.json"));
    assert_eq!(
        memory_table(&a, &TableOptions::default()),
        fixture("memory_used.txt")
    );
    let growth = TableOptions {
        detail: true,
        sort: SortKey::Growth,
        previous: Some(&a),
        interval: Some(2.25),
    };
    assert_eq!(
        memory_table(&b, &growth),
        fixture("memory_detail_growth.txt")
    );
    let by_name = TableOptions {
        sort: SortKey::Name,
        previous: Some(&a),
        ..TableOptions::default()
    };
    assert_eq!(memory_table(&b, &by_name), fixture("memory_name.txt"));
}

#[test]
fn the_diff_table_is_the_one_the_typescript_printed() {
    let (a, b) = (snapshot("snapshot_a.json"), snapshot("snapshot_b.json"));
    assert_eq!(diff_table(&diff(side(&a), side(&b))), fixture("diff.txt"));
    assert_eq!(
        diff_table(&diff(side(&a), side(&a))),
        fixture("diff_none.txt")
    );
}

#[test]
fn snapshots_round_trip_through_json() {
    let a = snapshot("snapshot_a.json");
    let again: ProcessSnapshot = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    assert_eq!(again, a);
}
