//! What the leak reports say they could not trace: live blocks the program's scopes count
//! and no trace table holds, with the reason, in `leaks` and `report`, text and JSON. On real
//! preloaded processes: a C++ program traced from start-up (libstdc++'s emergency pool is
//! allocated before the library's constructor readies tracing) and a C program that
//! allocates before tracing is switched on.

mod support;

use std::process::Command;

use skull_mem_inspect::trace::control::{control, TraceSettings};
use skull_mem_inspect::trace::leaks::{leaks, stacks, LeakOptions, LeakReport};
use skull_mem_inspect::trace::render::{leaks_text, stacks_text};
use skull_mem_inspect::trace::untraced::Untraced;
use skull_mem_symbolize::Symbolizer;
use support::*;

/// Each cause with its bytes and blocks.
fn parts(untraced: &Untraced) -> Vec<(&str, u64, u64)> {
    untraced
        .parts
        .iter()
        .map(|part| (part.reason.as_str(), part.bytes, part.blocks))
        .collect()
}

/// Bytes and blocks of the groups of a leak report listing every group.
fn traced(report: &LeakReport) -> (u64, u64) {
    let bytes = report.groups.iter().map(|group| group.bytes).sum();
    let blocks = report.groups.iter().map(|group| group.blocks).sum();
    (bytes, blocks)
}

/// `leaks` and `report` of `pid`, checked to say the same of what they could not trace, in
/// their text and their JSON.
fn reports(dir: &std::path::Path, pid: u32) -> LeakReport {
    let mut symbolizer = Symbolizer::new();
    let report = leaks(dir, pid, &LeakOptions::default(), &mut symbolizer).expect("leaks");
    let by_stack = stacks(dir, pid, 0, false, &mut symbolizer).expect("report");
    assert_eq!(by_stack.untraced, report.untraced);
    let line = format!(
        "not traced: {} bytes in {} live block(s) the scopes count: ",
        report.untraced.bytes, report.untraced.blocks
    );
    assert!(
        leaks_text(&report).contains(&line),
        "{}",
        leaks_text(&report)
    );
    assert!(stacks_text(&by_stack).contains(&line));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["untraced"]["bytes"], report.untraced.bytes);
    assert_eq!(json["untraced"]["blocks"], report.untraced.blocks);
    assert_eq!(
        json["untraced"]["parts"][0]["reason"],
        report.untraced.parts[0].reason
    );
    report
}

#[test]
fn blocks_allocated_before_tracing_was_switched_on_are_stated() {
    let dir = TestDir::new("untraced-late");
    // 1,000 blocks of 48 bytes while tracing is off.
    let mut program = Measured::start("untraced_late", &["1000", "48"], dir.path());
    program.expect("ready");
    let every_allocation = TraceSettings {
        depth: 16,
        sample_bytes: 0,
        scopes: Vec::new(),
        memory: None,
    };
    control(dir.path(), program.pid(), Some(&every_allocation)).expect("switch tracing on");
    program.send("go");
    program.expect("traced");
    let report = reports(dir.path(), program.pid());
    // The program allocates nothing else (no stdio): the 1,000 x 48 = 48,000 bytes are all
    // that is live and untraced, and the 10 blocks of 32 bytes made after the switch are
    // traced.
    assert_eq!(
        parts(&report.untraced),
        vec![("before_tracing", 48_000, 1_000)]
    );
    assert_eq!(traced(&report), (320, 10));
    program.send("end");
    program.wait_success();
}

#[test]
fn a_cxx_program_traced_from_start_up_states_libstdcxx_s_emergency_pool() {
    let dir = TestDir::new("untraced-pool");
    let exe = dir.path().join("untraced_pool");
    let src = repo_root().join("crates/inspect/tests/c/untraced_pool.cc");
    let out = Command::new("g++")
        .args(["-O1", "-g", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("run g++");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = Command::new(&exe);
    cmd.env("SKULL_MEM_TRACE", "all");
    let mut program = Measured::spawn("untraced_pool", cmd, dir.path());
    program.expect("ready");
    let report = reports(dir.path(), program.pid());
    // libstdc++'s emergency pool for exceptions thrown when memory is short: 72,704 bytes on
    // 64-bit Linux, one block, allocated by libstdc++'s initializer before the library's
    // constructor readies tracing, so charged to scope init and not traced.
    assert_eq!(parts(&report.untraced), vec![("before_main", 72_704, 1)]);
    // Everything after is traced: the std::string object (32 bytes) and its 100 characters
    // and terminator (101 bytes).
    assert_eq!(traced(&report), (133, 2));
    program.send("end");
    program.wait_success();
}
