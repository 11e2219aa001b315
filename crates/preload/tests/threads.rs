//! Threads and processes: cross-thread frees, many short-lived threads, fork
//! (acceptance points 5, 6 and 7).

mod common;

use common::*;

const THREADS: u64 = 4;
/// Allocations per thread; each is also freed, so 2 * THREADS * PER_THREAD operations.
const PER_THREAD: u64 = 150_000;

fn thread_size(i: u64, j: u64) -> u64 {
    1 + (j * 131 + i * 17) % 1024
}

#[test]
fn four_threads_freeing_each_others_blocks_reconcile_exactly() {
    const { assert!(2 * THREADS * PER_THREAD >= 1_000_000) };
    let v = run_c("threads", &[&THREADS.to_string(), &PER_THREAD.to_string()]);
    assert_eq!(
        v.i("bad"),
        0,
        "a block arrived corrupted or an allocation failed"
    );
    let m = PER_THREAD;
    let mut expectations = Vec::new();
    for i in 0..THREADS {
        let bytes = sum(m, |j| thread_size(i, j));
        let cross_bytes = sum(m, |j| if j % 3 != 0 { thread_size(i, j) } else { 0 });
        let cross_blocks = (0..m).filter(|j| j % 3 != 0).count() as i64;
        let callocs = (0..m).filter(|j| j % 4 == 1).count() as i64;
        let m = m as i64;
        // The program's own bookkeeping agrees with the formulas...
        let t = format!("book.t{i}.");
        assert_eq!(v.i(&format!("{t}alloc_bytes")), bytes);
        assert_eq!(v.i(&format!("{t}alloc_blocks")), m);
        assert_eq!(v.i(&format!("{t}cross_bytes")), cross_bytes);
        assert_eq!(v.i(&format!("{t}cross_blocks")), cross_blocks);
        assert_eq!(v.i(&format!("{t}calloc_calls")), callocs);
        assert_eq!(v.i(&format!("{t}free_calls")), m);
        // ...and the library's counters agree with both.
        expectations.push((
            format!("t{i}"),
            vec![
                ("ALLOC_BYTES", bytes),
                ("FREED_BYTES", bytes),
                ("ALLOC_BLOCKS", m),
                ("FREED_BLOCKS", m),
                ("MALLOC_CALLS", m - callocs),
                ("CALLOC_CALLS", callocs),
                ("FREE_CALLS", m),
                ("CROSS_FREED_BLOCKS", cross_blocks),
                ("CROSS_FREED_BYTES", cross_bytes),
                ("OVERHEAD_BYTES", 16 * m),
                ("OVERHEAD_FREED_BYTES", 16 * m),
            ],
        ));
    }
    let refs: Vec<(&str, Expect)> = expectations
        .iter()
        .map(|(s, e)| (s.as_str(), e.as_slice()))
        .collect();
    assert_scopes(&v, "d.", &refs);
}

fn short_size(t: u64, k: u64) -> u64 {
    1 + (t * 31 + k * 7) % 500
}

/// Runs shortlived.c and checks scope "short" exactly.
fn check_short_lived(threads: u64, k: u64, batch: u64, hold: bool) {
    let hold = if hold { "1" } else { "0" };
    let v = run_c(
        "shortlived",
        &[
            &threads.to_string(),
            &k.to_string(),
            &batch.to_string(),
            hold,
        ],
    );
    assert_eq!(v.i("bad"), 0);
    assert_eq!(v.i("book.threads"), threads as i64);
    let bytes: i64 = (0..threads).map(|t| sum(k, |kk| short_size(t, kk))).sum();
    let last_bytes = sum(threads, |t| short_size(t, k - 1));
    let t = threads as i64;
    let blocks = t * k as i64;
    assert_scopes(
        &v,
        "d.",
        &[(
            "short",
            &[
                ("ALLOC_BYTES", bytes),
                ("FREED_BYTES", bytes),
                ("ALLOC_BLOCKS", blocks),
                ("FREED_BLOCKS", blocks),
                ("MALLOC_CALLS", blocks - t),
                ("CALLOC_CALLS", t),
                ("FREE_CALLS", blocks - t),
                ("CROSS_FREED_BLOCKS", t),
                ("CROSS_FREED_BYTES", last_bytes),
                ("OVERHEAD_BYTES", 16 * blocks),
                ("OVERHEAD_FREED_BYTES", 16 * blocks),
            ],
        )],
    );
}

#[test]
fn ten_thousand_short_lived_threads_lose_no_counts() {
    check_short_lived(10_000, 8, 32, false);
}

#[test]
fn more_threads_alive_than_counter_blocks_lose_no_counts() {
    // 3000 threads alive and counting at once: more than the library's per-thread blocks.
    check_short_lived(3000, 8, 3000, true);
}

#[test]
fn fork_gives_parent_and_child_independent_counters() {
    let (n, m) = (100i64, 50i64);
    let v = run_c("fork", &[&n.to_string(), &m.to_string()]);
    assert_eq!(v.i("parent.child_status"), 0, "child failed");
    assert_eq!(v.i("child.current_after_fork"), 0);
    // The child's own work, seen by the child: its blocks in f_child, and the parent's
    // f_before blocks it freed, credited back to f_before.
    assert_scopes(
        &v,
        "child1.",
        &[
            (
                "f_child",
                &[
                    ("ALLOC_BYTES", 1000 * n),
                    ("ALLOC_BLOCKS", n),
                    ("MALLOC_CALLS", n),
                    ("FREE_CALLS", n),
                    ("OVERHEAD_BYTES", 16 * n),
                ],
            ),
            (
                "f_before",
                &[
                    ("FREED_BYTES", 100 * n),
                    ("FREED_BLOCKS", n),
                    ("CROSS_FREED_BLOCKS", n),
                    ("CROSS_FREED_BYTES", 100 * n),
                    ("OVERHEAD_FREED_BYTES", 16 * n),
                ],
            ),
        ],
    );
    // The parent does not see the child's work...
    assert_scopes(&v, "parent1.", &[("f_child", &[]), ("f_before", &[])]);
    // ...its own allocations after fork count for it...
    assert_scopes(
        &v,
        "parent2.",
        &[
            (
                "f_child",
                &[
                    ("ALLOC_BYTES", 3000 * m),
                    ("ALLOC_BLOCKS", m),
                    ("MALLOC_CALLS", m),
                    ("OVERHEAD_BYTES", 16 * m),
                ],
            ),
            ("f_before", &[]),
        ],
    );
    // ...and do not show in the child.
    assert_scopes(&v, "child2.", &[("f_child", &[]), ("f_before", &[])]);
}

#[test]
fn fork_while_other_threads_allocate_neither_deadlocks_nor_miscounts() {
    let forks = 50;
    let v = run_c("forkthreads", &[&forks.to_string()]);
    assert_eq!(
        v.i("forks.failed"),
        0,
        "a child failed; first wait status {} (exit code = status >> 8: 1 scope missing, \
         2 counters wrong, 3/4 report; signal 14 = deadlock caught by alarm)",
        v.i("forks.first_bad_status")
    );
    assert_eq!(v.i("forks.ok"), forks);
}

#[test]
fn tracing_memory_of_each_thread_is_skull_mems_own_and_freed_when_it_exits() {
    const TRACED_THREADS: usize = 6;
    let prog = compile("traced_threads", Link::Skull);
    let out = std::process::Command::new(&prog.exe)
        .args([&TRACED_THREADS.to_string(), "2000"])
        .env("LD_PRELOAD", lib_path())
        .env("SKULL_MEM_DIR", segment_dir())
        .env("SKULL_MEM_TRACE", "all")
        .output()
        .expect("run traced_threads");
    check_success("traced_threads", &out);
    let v = Vals::parse(&String::from_utf8_lossy(&out.stdout));
    // Each thread's first traced allocation allocates its remembered walks, one block in
    // skull-mem's own scope, freed by the thread's exit; nothing of it stays.
    let threads = TRACED_THREADS as i64;
    assert_eq!(v.i("d.skull-mem.ALLOC_BLOCKS"), threads, "{}", v.raw);
    assert_eq!(v.i("d.skull-mem.FREED_BLOCKS"), threads, "{}", v.raw);
    assert_eq!(v.i("d.skull-mem.LIVE"), 0, "{}", v.raw);
    assert_eq!(v.i("d.skull-mem.USED"), 0, "{}", v.raw);
    assert!(
        v.i("d.skull-mem.ALLOC_BYTES") >= threads * 8000,
        "{}",
        v.raw
    );
    // The threads' own pairs, all freed, are charged to the pseudo-scope of their name (the
    // process's): they are not the main thread and never enter a scope. (They were charged to
    // core before threads started by native code got `thread:<name>` rows.)
    let own = "d.thread:traced_threads";
    assert_eq!(
        v.i(&format!("{own}.ALLOC_BLOCKS")),
        threads * 2000,
        "{}",
        v.raw
    );
    assert_eq!(
        v.i(&format!("{own}.ALLOC_BYTES")),
        threads * 2000 * 64,
        "{}",
        v.raw
    );
    assert_eq!(v.i(&format!("{own}.USED")), 0, "{}", v.raw);
}
