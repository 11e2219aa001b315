//! `render::ps`: the measured processes of a directory, as `skull-mem ps` lists them.

mod support;

use skull_mem_inspect::reader;
use skull_mem_inspect::render::ps::ps;
use skull_mem_inspect::render::table::human_bytes;
use skull_mem_inspect::report::Report;
use support::*;

#[test]
fn ps_lists_a_paused_process_with_its_totals_and_renders_its_row() {
    let dir = TestDir::new("ps");
    let mut program = Measured::start("reader_pattern", &[], dir.path());
    program.expect("ready");
    let pid = program.pid();

    let listing = ps(dir.path()).expect("scan the directory");
    let totals = Report::of(&reader::read_pid(dir.path(), pid).unwrap().snapshot).totals;
    assert_eq!(listing.processes.len(), 1, "{listing:?}");
    let row = &listing.processes[0];
    assert_eq!(
        (row.pid, row.scopes, row.threads, row.tracing),
        (pid, 6, Some(1), false)
    );
    assert_eq!(
        (row.used_bytes, row.live_blocks),
        (totals.used_bytes, totals.live_blocks)
    );
    assert!(listing.removed.is_empty() && listing.unreadable.is_empty());
    assert_eq!(
        listing.table(),
        format!(
            "     PID         USED SCOPES TRACE  COMMAND\n{pid:>8} {:>12}      6   off  {}\n",
            human_bytes(totals.used_bytes as i64),
            row.command
        )
    );
}
