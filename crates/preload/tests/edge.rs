//! Edge semantics of the malloc family (acceptance points 9 and 10).
//!
//! `test/c/edge.c` resolves the skull_* functions with dlsym, so the same binary runs with and
//! without the preload: its `sem.*` lines (NULL or not, errno, return codes) must be identical,
//! and with the preload the counters of scope "edge" must be exact.

mod common;

use common::*;

const GIB: i64 = 1 << 30;

/// Runs one case of edge.c with and without the preload; checks the observable behaviour is
/// the same and `expect_sem` holds; returns the preloaded run's values.
fn edge(case: &str, expect_sem: &[(&str, i64)]) -> Vals {
    let prog = compile("edge", Link::Dlsym);
    let with = run(&prog.exe, &[case], true);
    check_success(&format!("edge {case} (preloaded)"), &with);
    let without = run(&prog.exe, &[case], false);
    check_success(&format!("edge {case} (plain)"), &without);
    let with = Vals::parse(&String::from_utf8_lossy(&with.stdout));
    let without = Vals::parse(&String::from_utf8_lossy(&without.stdout));
    assert_eq!(with.i("active"), 1, "skull_* not found under the preload");
    assert_eq!(without.i("active"), 0);
    let sem_with: Vec<_> = with.with_prefix("sem.").collect();
    let sem_without: Vec<_> = without.with_prefix("sem.").collect();
    assert!(!sem_with.is_empty());
    assert_eq!(
        sem_with, sem_without,
        "case {case}: behaviour with the preload (left) differs from plain glibc (right)"
    );
    for (k, want) in expect_sem {
        assert_eq!(with.i(&format!("sem.{k}")), *want, "case {case}: sem.{k}");
    }
    with
}

fn assert_edge(v: &Vals, expect: Expect) {
    assert_scopes(v, "d.", &[("edge", expect)]);
}

#[test]
fn malloc_zero_returns_unique_freeable_pointers() {
    let v = edge(
        "malloc0",
        &[("p_nonnull", 1), ("q_nonnull", 1), ("unique", 1)],
    );
    assert_edge(
        &v,
        &[
            ("ALLOC_BLOCKS", 2),
            ("FREED_BLOCKS", 2),
            ("MALLOC_CALLS", 2),
            ("FREE_CALLS", 2),
            ("OVERHEAD_BYTES", 32),
            ("OVERHEAD_FREED_BYTES", 32),
        ],
    );
}

#[test]
fn free_null_counts_a_free_call_and_nothing_else() {
    let v = edge("free_null", &[("errno", 1234)]);
    assert_edge(&v, &[("FREE_CALLS", 3)]);
}

#[test]
fn realloc_null_allocates() {
    let v = edge(
        "realloc_null",
        &[("nonnull", 1), ("errno", 1234), ("zero_nonnull", 1)],
    );
    assert_edge(
        &v,
        &[
            ("ALLOC_BYTES", 100),
            ("FREED_BYTES", 100),
            ("ALLOC_BLOCKS", 2),
            ("FREED_BLOCKS", 2),
            ("REALLOC_CALLS", 2),
            ("FREE_CALLS", 2),
            ("OVERHEAD_BYTES", 32),
            ("OVERHEAD_FREED_BYTES", 32),
        ],
    );
}

#[test]
fn realloc_to_zero_frees_and_returns_null() {
    let v = edge("realloc_zero", &[("returns_null", 1), ("errno", 1234)]);
    assert_edge(
        &v,
        &[
            ("ALLOC_BYTES", 100),
            ("FREED_BYTES", 100),
            ("ALLOC_BLOCKS", 1),
            ("FREED_BLOCKS", 1),
            ("MALLOC_CALLS", 1),
            ("REALLOC_CALLS", 1),
            ("OVERHEAD_BYTES", 16),
            ("OVERHEAD_FREED_BYTES", 16),
        ],
    );
}

#[test]
fn calloc_overflow_returns_null_with_enomem() {
    let v = edge(
        "calloc_overflow",
        &[
            ("a_null", 1),
            ("a_errno", 12),
            ("b_null", 1),
            ("b_errno", 12),
        ],
    );
    // The two frees are free(NULL).
    assert_edge(
        &v,
        &[("CALLOC_CALLS", 2), ("FAILED_ALLOCS", 2), ("FREE_CALLS", 2)],
    );
}

#[test]
fn calloc_zeroes_memory_even_when_reusing_dirty_blocks() {
    let v = edge("calloc_zeroes", &[("nonzero_bytes", 0)]);
    let sizes: [i64; 11] = [
        1,
        16,
        24,
        100,
        1000,
        4000,
        4096,
        10000,
        100000,
        200000,
        1 << 20,
    ];
    let per_round: i64 = sizes.iter().sum();
    let n = sizes.len() as i64;
    assert_edge(
        &v,
        &[
            ("ALLOC_BYTES", 6 * per_round),
            ("FREED_BYTES", 6 * per_round),
            ("ALLOC_BLOCKS", 6 * n),
            ("FREED_BLOCKS", 6 * n),
            ("MALLOC_CALLS", 3 * n),
            ("CALLOC_CALLS", 3 * n),
            ("FREE_CALLS", 6 * n),
            ("OVERHEAD_BYTES", 16 * 6 * n),
            ("OVERHEAD_FREED_BYTES", 16 * 6 * n),
        ],
    );
}

#[test]
fn posix_memalign_invalid_alignment_returns_einval_and_keeps_errno() {
    let aligns = [0, 1, 2, 3, 4, 12, 24, 48, 100];
    let keys: Vec<(String, String)> = aligns
        .iter()
        .map(|a| (format!("rc_{a}"), format!("errno_{a}")))
        .collect();
    let mut sem: Vec<(&str, i64)> = Vec::new();
    for (rc, errno) in &keys {
        sem.push((rc, 22));
        sem.push((errno, 1234));
    }
    let v = edge("posix_memalign_invalid", &sem);
    assert_edge(
        &v,
        &[
            ("POSIX_MEMALIGN_CALLS", aligns.len() as i64),
            ("FAILED_ALLOCS", aligns.len() as i64),
        ],
    );
}

#[test]
fn memalign_and_aligned_alloc_with_absurd_alignment_fail_with_einval() {
    let v = edge(
        "memalign_huge",
        &[
            ("memalign_null", 1),
            ("memalign_errno", 22),
            ("aligned_alloc_null", 1),
            ("aligned_alloc_errno", 22),
            ("memalign_half_null", 1),
            ("memalign_half_errno", 22),
        ],
    );
    assert_edge(
        &v,
        &[
            ("MEMALIGN_CALLS", 2),
            ("ALIGNED_ALLOC_CALLS", 1),
            ("FAILED_ALLOCS", 3),
            ("FREE_CALLS", 3),
        ],
    );
}

#[test]
fn errno_is_preserved_by_successful_calls() {
    let keys = [
        "malloc",
        "realloc_grow",
        "realloc_shrink",
        "usable",
        "free",
        "calloc",
        "free_calloc",
        "malloc_big",
        "free_big",
        "calloc_big",
        "free_calloc_big",
        "reallocarray",
        "free_reallocarray",
        "posix_memalign",
        "free_posix_memalign",
        "aligned_alloc",
        "free_aligned_alloc",
        "memalign",
        "free_memalign",
        "valloc",
        "free_valloc",
        "pvalloc",
        "free_pvalloc",
        "free_null",
    ];
    let sem: Vec<(&str, i64)> = keys.iter().map(|k| (*k, 1234)).collect();
    let v = edge("errno_preserved", &sem);
    let bytes =
        100 + 100_000 + 10 + 100 + (1 << 20) + (1 << 20) + 100 + 100 + 128 + 100 + 100 + 4096;
    let ov = 7 * 16 + 64 + 64 + 4096 + 4096 + 4096;
    assert_edge(
        &v,
        &[
            ("ALLOC_BYTES", bytes),
            ("FREED_BYTES", bytes),
            ("ALLOC_BLOCKS", 12),
            ("FREED_BLOCKS", 12),
            ("MALLOC_CALLS", 2),
            ("REALLOC_CALLS", 2),
            ("CALLOC_CALLS", 2),
            ("REALLOCARRAY_CALLS", 1),
            ("POSIX_MEMALIGN_CALLS", 1),
            ("ALIGNED_ALLOC_CALLS", 1),
            ("MEMALIGN_CALLS", 1),
            ("VALLOC_CALLS", 1),
            ("PVALLOC_CALLS", 1),
            ("FREE_CALLS", 11),
            ("OVERHEAD_BYTES", ov),
            ("OVERHEAD_FREED_BYTES", ov),
        ],
    );
}

#[test]
fn allocations_over_4_gib_work() {
    let v = edge(
        "huge",
        &[
            ("malloc_nonnull", 1),
            ("realloc_nonnull", 1),
            ("realloc_kept", 1),
            ("calloc_nonnull", 1),
            ("calloc_zero", 1),
            ("posix_memalign_rc", 0),
            ("posix_memalign_aligned", 1),
            ("usable_ge", 1),
        ],
    );
    let bytes = 5 * GIB + 6 * GIB + 5 * GIB + 5 * GIB;
    assert_edge(
        &v,
        &[
            ("ALLOC_BYTES", bytes),
            ("FREED_BYTES", bytes),
            ("ALLOC_BLOCKS", 4),
            ("FREED_BLOCKS", 4),
            ("MALLOC_CALLS", 1),
            ("REALLOC_CALLS", 1),
            ("CALLOC_CALLS", 1),
            ("POSIX_MEMALIGN_CALLS", 1),
            ("FREE_CALLS", 3),
            ("OVERHEAD_BYTES", 3 * 16 + 4096),
            ("OVERHEAD_FREED_BYTES", 3 * 16 + 4096),
        ],
    );
}

#[test]
fn impossible_sizes_fail_with_enomem_and_count_failed_allocs() {
    let mut sem = Vec::new();
    for k in [
        "malloc_max",
        "malloc_max8",
        "calloc_max8",
        "aligned_alloc",
        "memalign",
        "valloc",
        "pvalloc",
        "reallocarray",
        "realloc",
        "reallocarray_old",
    ] {
        sem.push((format!("{k}_null"), 1));
        sem.push((format!("{k}_errno"), 12));
    }
    sem.push(("posix_memalign_rc".to_string(), 12));
    sem.push(("realloc_kept".to_string(), 1));
    sem.push(("reallocarray_kept".to_string(), 1));
    let sem_ref: Vec<(&str, i64)> = sem.iter().map(|(k, x)| (k.as_str(), *x)).collect();
    let v = edge("malloc_max", &sem_ref);
    assert_edge(
        &v,
        &[
            ("ALLOC_BYTES", 10),
            ("FREED_BYTES", 10),
            ("ALLOC_BLOCKS", 1),
            ("FREED_BLOCKS", 1),
            ("MALLOC_CALLS", 3),
            ("CALLOC_CALLS", 1),
            ("ALIGNED_ALLOC_CALLS", 1),
            ("MEMALIGN_CALLS", 1),
            ("VALLOC_CALLS", 1),
            ("PVALLOC_CALLS", 1),
            ("REALLOCARRAY_CALLS", 2),
            ("POSIX_MEMALIGN_CALLS", 1),
            ("REALLOC_CALLS", 1),
            ("FAILED_ALLOCS", 11),
            ("FREE_CALLS", 1),
            ("OVERHEAD_BYTES", 16),
            ("OVERHEAD_FREED_BYTES", 16),
        ],
    );
}

#[test]
fn malloc_usable_size_covers_the_requested_size() {
    let v = edge("usable_size", &[("too_short", 0), ("null", 0)]);
    let plain: Vec<i64> = (0..3000).step_by(7).collect();
    let aligned: Vec<i64> = (1..2000).step_by(97).collect();
    let n_plain = plain.len() as i64;
    let n_al = aligned.len() as i64;
    assert_eq!(v.i("sem.blocks"), n_plain + 2 * n_al);
    let bytes = plain.iter().sum::<i64>() + 2 * aligned.iter().sum::<i64>();
    let ov = 16 * n_plain + 256 * n_al + 64 * n_al;
    let blocks = n_plain + 2 * n_al;
    assert_edge(
        &v,
        &[
            ("ALLOC_BYTES", bytes),
            ("FREED_BYTES", bytes),
            ("ALLOC_BLOCKS", blocks),
            ("FREED_BLOCKS", blocks),
            ("MALLOC_CALLS", n_plain),
            ("POSIX_MEMALIGN_CALLS", n_al),
            ("MEMALIGN_CALLS", n_al),
            ("FREE_CALLS", blocks),
            ("OVERHEAD_BYTES", ov),
            ("OVERHEAD_FREED_BYTES", ov),
        ],
    );
}

#[test]
fn foreign_pointers_are_passed_to_libc_and_counted() {
    let v = edge("foreign_free", &[("nonnull", 1), ("survived", 1)]);
    assert_edge(&v, &[("FREE_CALLS", 8), ("FOREIGN_FREES", 8)]);
}

#[test]
fn zero_sized_requests_return_distinct_aligned_blocks() {
    let v = edge(
        "zero_sizes",
        &[("nonnull", 8), ("distinct", 1), ("aligned", 1)],
    );
    let ov = 4 * 16 + 3 * 64 + 4096;
    assert_edge(
        &v,
        &[
            ("ALLOC_BLOCKS", 8),
            ("FREED_BLOCKS", 8),
            ("CALLOC_CALLS", 2),
            ("POSIX_MEMALIGN_CALLS", 1),
            ("ALIGNED_ALLOC_CALLS", 1),
            ("MEMALIGN_CALLS", 1),
            ("VALLOC_CALLS", 1),
            ("REALLOCARRAY_CALLS", 1),
            ("REALLOC_CALLS", 1),
            ("FREE_CALLS", 8),
            ("OVERHEAD_BYTES", ov),
            ("OVERHEAD_FREED_BYTES", ov),
        ],
    );
}

#[test]
fn enormous_valid_alignments_fail_like_glibc_without_overflow() {
    // Whatever glibc answers (compared by `edge`), each NULL is one failed allocation.
    let v = edge("align_extreme", &[]);
    let failed = [
        v.i("sem.posix_2_40_rc") != 0,
        v.i("sem.posix_2_63_rc") != 0,
        v.i("sem.memalign_2_63_null") == 1,
        v.i("sem.aligned_alloc_2_63_null") == 1,
        v.i("sem.memalign_big_size_null") == 1,
        v.i("sem.memalign_2_62_null") == 1,
    ]
    .iter()
    .filter(|x| **x)
    .count() as i64;
    assert_eq!(failed, 6, "glibc 2.36 fails all of these");
    assert_edge(
        &v,
        &[
            ("POSIX_MEMALIGN_CALLS", 2),
            ("MEMALIGN_CALLS", 3),
            ("ALIGNED_ALLOC_CALLS", 1),
            ("FAILED_ALLOCS", 6),
            ("FREE_CALLS", 4),
        ],
    );
}

#[test]
fn foreign_blocks_can_be_reallocated_and_measured() {
    let v = edge(
        "foreign_realloc",
        &[
            ("usable_ge", 1),
            ("nonnull", 1),
            ("kept", 1),
            ("usable_after", 1),
        ],
    );
    // How a foreign realloc is booked is the library's choice; it must balance and not fail.
    assert_eq!(v.i("d.edge.REALLOC_CALLS"), 1);
    assert_eq!(v.i("d.edge.FREE_CALLS"), 1);
    assert_eq!(v.i("d.edge.FAILED_ALLOCS"), 0);
    assert_eq!(v.i("d.edge.USED"), 0);
    assert_eq!(v.i("d.edge.LIVE"), 0);
    assert!(v.i("d.edge.FOREIGN_FREES") >= 1);
}
