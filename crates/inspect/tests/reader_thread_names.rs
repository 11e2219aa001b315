//! Threads that native code starts and names charge `thread:<name>` pseudo-scopes (issue 12,
//! native threads): exact figures per row, read from outside with `reader::read_pid`.

mod support;

use skull_mem_core::counters::Counter::*;
use skull_mem_core::counters::COUNTER_COUNT;
use skull_mem_core::scopes::SCOPE_CORE;
use skull_mem_core::thread_name::{MAX_THREAD_SCOPES, OVERFLOW_NAME};
use skull_mem_inspect::reader;
use support::*;

/// `n` blocks of `size` bytes allocated with malloc and kept.
fn kept(n: u64, size: u64) -> [u64; COUNTER_COUNT] {
    counters(&[
        (MallocCalls, n),
        (AllocBlocks, n),
        (AllocBytes, n * size),
        (OverheadBytes, 16 * n),
    ])
}

/// `a` and `b` added counter by counter.
fn plus(a: [u64; COUNTER_COUNT], b: [u64; COUNTER_COUNT]) -> [u64; COUNTER_COUNT] {
    let mut sum = a;
    for (s, b) in sum.iter_mut().zip(b) {
        *s += b;
    }
    sum
}

#[test]
fn named_threads_charge_one_pseudo_scope_per_name_and_follow_renames() {
    let dir = TestDir::new("named");
    let mut program = Measured::start("reader_named", &[], dir.path());
    // A child forked by a named thread: that thread is the child's main thread, so `core`.
    program.expect(&format!("fork.child.current={SCOPE_CORE}"));
    // The main thread keeps charging `core`.
    program.expect(&format!("main.current={SCOPE_CORE}"));
    program.expect("ready");
    let reading = reader::read_pid(dir.path(), program.pid()).unwrap();

    // alpha: named before its first allocation; 3 x 100 bytes, one freed by itself.
    let freed_own_100 = counters(&[
        (FreeCalls, 1),
        (FreedBlocks, 1),
        (FreedBytes, 100),
        (OverheadFreedBytes, 16),
    ]);
    assert_counters(
        scope(&reading, "thread:alpha"),
        &plus(kept(3, 100), freed_own_100),
    );
    // The name it was born with (the process's): plain's 33 bytes and beta's 2 x 50 before
    // its rename; one of those freed by beta after the rename, so from another scope.
    let freed_cross_50 = counters(&[
        (FreedBlocks, 1),
        (FreedBytes, 50),
        (OverheadFreedBytes, 16),
        (CrossFreedBlocks, 1),
        (CrossFreedBytes, 50),
    ]);
    assert_counters(
        scope(&reading, "thread:reader_named"),
        &plus(plus(kept(1, 33), kept(2, 50)), freed_cross_50),
    );
    // beta after prctl(PR_SET_NAME): 4 x 70 bytes, and the free call of the 50-byte block.
    assert_counters(
        scope(&reading, "thread:beta"),
        &plus(kept(4, 70), counters(&[(FreeCalls, 1)])),
    );
    // pool-17 and pool-18: digits collapse, one row for both.
    assert_counters(scope(&reading, "thread:pool-*"), &kept(2, 10));
    // delta entered `work` before its first allocation; leaving gave back its pseudo-scope.
    assert_counters(scope(&reading, "work"), &kept(1, 5));
    assert_counters(scope(&reading, "thread:delta"), &kept(1, 7));
    // eta was named by the main thread before it allocated: its name is read when needed.
    assert_counters(scope(&reading, "thread:eta"), &kept(1, 9));
    assert_counters(scope(&reading, "thread:forker"), &kept(1, 3));

    // Nothing else became a pseudo-scope, and each has the kind `thread`.
    let mut rows: Vec<(&str, &str)> = reading
        .snapshot
        .scopes
        .iter()
        .filter(|s| s.name.starts_with("thread:"))
        .map(|s| (s.name.as_str(), s.kind.as_str()))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("thread:alpha", "thread"),
            ("thread:beta", "thread"),
            ("thread:delta", "thread"),
            ("thread:eta", "thread"),
            ("thread:forker", "thread"),
            ("thread:pool-*", "thread"),
            ("thread:reader_named", "thread"),
        ]
    );
    program.send("");
    program.wait_success();
}

#[test]
fn three_hundred_uniquely_named_threads_take_sixty_five_rows() {
    // Threads "u0".."u299" one after the other, each keeping 24 bytes: the first 64 names
    // (`MAX_THREAD_SCOPES`) get a row each, the other 236 threads share `thread:*`.
    const THREADS: u64 = 300;
    let dir = TestDir::new("many");
    let mut program = Measured::start("reader_named", &["many", &THREADS.to_string()], dir.path());
    program.expect("ready");
    let reading = reader::read_pid(dir.path(), program.pid()).unwrap();
    let rows: Vec<&str> = reading
        .snapshot
        .scopes
        .iter()
        .filter(|s| s.kind == "thread")
        .map(|s| s.name.as_str())
        .collect();
    let mut want: Vec<String> = (0..MAX_THREAD_SCOPES)
        .map(|i| format!("thread:u{i}"))
        .collect();
    want.push(OVERFLOW_NAME.to_owned());
    assert_eq!(rows, want);
    // Each thread has exited: glibc's `__libc_thread_freeres` then calls free twice, for its
    // thread-local strerror and strsignal buffers (never allocated here: free(NULL)), in the
    // thread's scope.
    let exited = |n: u64| plus(kept(n, 24), counters(&[(FreeCalls, 2 * n)]));
    for i in 0..MAX_THREAD_SCOPES {
        assert_counters(scope(&reading, &format!("thread:u{i}")), &exited(1));
    }
    let shared = THREADS - u64::from(MAX_THREAD_SCOPES);
    assert_counters(scope(&reading, OVERFLOW_NAME), &exited(shared));
    program.send("");
    program.wait_success();
}
