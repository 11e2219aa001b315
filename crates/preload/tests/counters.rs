//! Exact per-scope counters for known allocation patterns: every API, cross-scope frees,
//! aligned allocations and realloc (acceptance points 1-4).
//!
//! Each test compiles a C program of `test/c/`, runs it with `LD_PRELOAD=libskull_mem.so`
//! and compares the counter deltas it prints with values computed here from the pattern.

mod common;

use common::*;

const N: u64 = 100;

/// (size, overhead) of blocks.
type Blocks = Vec<(u64, u64)>;

/// The blocks allocated, and the blocks freed, by a pattern.
struct Pattern {
    allocs: Blocks,
    freed: Blocks,
}

impl Pattern {
    fn expect(&self, api: &'static str, calls: i64, free_calls: i64) -> Vec<(&'static str, i64)> {
        let s = |v: &[(u64, u64)], f: fn(&(u64, u64)) -> u64| v.iter().map(f).sum::<u64>() as i64;
        vec![
            ("ALLOC_BYTES", s(&self.allocs, |x| x.0)),
            ("ALLOC_BLOCKS", self.allocs.len() as i64),
            ("OVERHEAD_BYTES", s(&self.allocs, |x| x.1)),
            ("FREED_BYTES", s(&self.freed, |x| x.0)),
            ("FREED_BLOCKS", self.freed.len() as i64),
            ("OVERHEAD_FREED_BYTES", s(&self.freed, |x| x.1)),
            (api, calls),
            ("FREE_CALLS", free_calls),
        ]
    }
}

/// The blocks patterns.c allocates for API `k` (see the formulas there): generation one and,
/// for realloc and reallocarray, generation two (which replaces generation one).
fn pattern_blocks(k: usize, n: u64) -> (Blocks, Blocks) {
    let gen = |f: &dyn Fn(u64) -> (u64, u64)| (0..n).map(f).collect::<Vec<_>>();
    match k {
        0 => (gen(&|i| (8 + 3 * i, HEADER)), vec![]),
        1 => (gen(&|i| (5 * (i + 1), HEADER)), vec![]),
        2 => (gen(&|i| (16 + i, HEADER)), gen(&|i| (32 + 2 * i, HEADER))),
        3 => (
            gen(&|i| (4 * (i + 1), HEADER)),
            gen(&|i| (8 * (i + 1), HEADER)),
        ),
        4 => (gen(&|i| (100 + i, overhead(8 << (i % 6)))), vec![]),
        5 => (
            gen(&|i| {
                let a = 16u64 << (i % 5);
                (a * (i % 3 + 1), overhead(a))
            }),
            vec![],
        ),
        6 => (gen(&|i| (50 + i, overhead(1 << (i % 10)))), vec![]),
        7 => (gen(&|i| (100 + i, 4096)), vec![]),
        8 => (
            gen(&|i| {
                let size = if i == 0 {
                    4096
                } else {
                    (i * 1000).div_ceil(4096) * 4096
                };
                (size, 4096)
            }),
            vec![],
        ),
        _ => unreachable!(),
    }
}

#[test]
fn every_api_is_counted_exactly_in_its_scope() {
    let v = run_c("patterns", &[&N.to_string()]);
    assert_eq!(
        v.i("bad"),
        0,
        "a block was NULL, misaligned or calloc memory not zero"
    );
    let apis = [
        ("p_malloc", "MALLOC_CALLS"),
        ("p_calloc", "CALLOC_CALLS"),
        ("p_realloc", "REALLOC_CALLS"),
        ("p_reallocarray", "REALLOCARRAY_CALLS"),
        ("p_posix_memalign", "POSIX_MEMALIGN_CALLS"),
        ("p_aligned_alloc", "ALIGNED_ALLOC_CALLS"),
        ("p_memalign", "MEMALIGN_CALLS"),
        ("p_valloc", "VALLOC_CALLS"),
        ("p_pvalloc", "PVALLOC_CALLS"),
    ];
    let half = (N / 2) as usize;
    let mut mid = Vec::new();
    let mut end = Vec::new();
    for (k, (scope, api)) in apis.iter().enumerate() {
        let (g1, g2) = pattern_blocks(k, N);
        let two_gen = !g2.is_empty();
        let calls = if two_gen { 2 * N } else { N } as i64;
        // Blocks live at the end of the pattern are the last generation.
        let last = if two_gen { &g2 } else { &g1 };
        let mut allocs = g1.clone();
        allocs.extend(g2.iter().copied());
        // Realloc frees generation one; the program then frees the first N/2 of the last one.
        let mut freed_mid: Blocks = if two_gen { g1.clone() } else { vec![] };
        freed_mid.extend(last[..half].iter().copied());
        let mut freed_end = freed_mid.clone();
        freed_end.extend(last[half..].iter().copied());
        let pm = Pattern {
            allocs: allocs.clone(),
            freed: freed_mid,
        };
        let pe = Pattern {
            allocs,
            freed: freed_end,
        };
        mid.push((*scope, pm.expect(api, calls, half as i64)));
        end.push((*scope, pe.expect(api, calls, N as i64)));
    }
    let mid_ref: Vec<(&str, Expect)> = mid.iter().map(|(s, e)| (*s, e.as_slice())).collect();
    let end_ref: Vec<(&str, Expect)> = end.iter().map(|(s, e)| (*s, e.as_slice())).collect();
    assert_scopes(&v, "mid.", &mid_ref);
    assert_scopes(&v, "end.", &end_ref);
    // Live blocks and used bytes while half the blocks are still allocated.
    assert_eq!(v.i("mid.p_malloc.LIVE"), (N - N / 2) as i64);
    assert_eq!(
        v.i("mid.p_malloc.USED"),
        sum(N, |i| if i >= N / 2 { 8 + 3 * i } else { 0 })
    );
    assert_eq!(v.i("end.p_pvalloc.USED"), 0);
}

#[test]
fn frees_are_credited_to_the_allocating_scope() {
    let v = run_c("cross", &[&N.to_string()]);
    assert_eq!(v.i("bad"), 0);
    let n = N as i64;
    let g1 = sum(N, |i| 10 + i);
    let g2 = sum(N, |i| 3 * (i + 1));
    let g3 = sum(N, |i| 30 + i);
    let g4 = sum(N, |i| 20 + i);
    let g5 = 7 * n;
    let g6 = sum(N, |i| 5 + i);
    let owner_bytes = g1 + g2 + g3 + g4 + g5 + g6;
    let owner_overhead = 5 * n * 16 + n * 64;
    let moved = sum(N, |i| 40 + i);
    assert_scopes(
        &v,
        "d.",
        &[
            (
                "x_owner",
                &[
                    ("ALLOC_BYTES", owner_bytes),
                    ("FREED_BYTES", owner_bytes),
                    ("ALLOC_BLOCKS", 6 * n),
                    ("FREED_BLOCKS", 6 * n),
                    ("MALLOC_CALLS", 4 * n),
                    ("CALLOC_CALLS", n),
                    ("POSIX_MEMALIGN_CALLS", n),
                    ("FREE_CALLS", n),
                    ("CROSS_FREED_BLOCKS", 5 * n),
                    ("CROSS_FREED_BYTES", owner_bytes - g5),
                    ("OVERHEAD_BYTES", owner_overhead),
                    ("OVERHEAD_FREED_BYTES", owner_overhead),
                ],
            ),
            (
                "x_freer",
                &[
                    ("ALLOC_BYTES", moved),
                    ("FREED_BYTES", moved),
                    ("ALLOC_BLOCKS", n),
                    ("FREED_BLOCKS", n),
                    ("REALLOC_CALLS", n),
                    ("FREE_CALLS", 4 * n),
                    ("OVERHEAD_BYTES", 16 * n),
                    ("OVERHEAD_FREED_BYTES", 16 * n),
                ],
            ),
            ("core", &[("FREE_CALLS", n)]),
        ],
    );
}

#[test]
fn aligned_allocations_from_16_bytes_to_2_mib_are_aligned_usable_and_counted() {
    let v = run_c("aligned", &[]);
    assert_eq!(
        v.i("bad"),
        0,
        "misaligned, NULL or too small block (see stderr)"
    );
    let shifts = 4u32..=21;
    let n = shifts.clone().count() as i64;
    let ov: i64 = shifts.clone().map(|s| overhead(1 << s) as i64).sum();
    let sized: i64 = shifts.clone().map(|s| 1000 + s as i64).sum();
    let pow: i64 = shifts.clone().map(|s| 1i64 << s).sum();
    let scope = |api: &'static str, bytes: i64| {
        vec![
            ("ALLOC_BYTES", bytes),
            ("FREED_BYTES", bytes),
            ("ALLOC_BLOCKS", n),
            ("FREED_BLOCKS", n),
            (api, n),
            ("FREE_CALLS", n),
            ("OVERHEAD_BYTES", ov),
            ("OVERHEAD_FREED_BYTES", ov),
        ]
    };
    let posix = scope("POSIX_MEMALIGN_CALLS", sized);
    let aligned = scope("ALIGNED_ALLOC_CALLS", pow);
    let memalign = scope("MEMALIGN_CALLS", sized);
    // Non-power-of-two alignments 24, 100, 3000, 17 (memalign) and 48 (aligned_alloc).
    let npot_ov = [24, 100, 3000, 17, 48]
        .iter()
        .map(|&a| overhead(a) as i64)
        .sum();
    assert_eq!(npot_ov, 32 + 128 + 4096 + 32 + 64);
    let npot = [
        ("ALLOC_BYTES", 316),
        ("FREED_BYTES", 316),
        ("ALLOC_BLOCKS", 5),
        ("FREED_BLOCKS", 5),
        ("MEMALIGN_CALLS", 4),
        ("ALIGNED_ALLOC_CALLS", 1),
        ("FREE_CALLS", 5),
        ("OVERHEAD_BYTES", npot_ov),
        ("OVERHEAD_FREED_BYTES", npot_ov),
    ];
    let small = [
        ("ALLOC_BYTES", 82),
        ("FREED_BYTES", 82),
        ("ALLOC_BLOCKS", 7),
        ("FREED_BLOCKS", 7),
        ("MEMALIGN_CALLS", 3),
        ("POSIX_MEMALIGN_CALLS", 2),
        ("ALIGNED_ALLOC_CALLS", 2),
        ("FREE_CALLS", 7),
        ("OVERHEAD_BYTES", 7 * 16),
        ("OVERHEAD_FREED_BYTES", 7 * 16),
    ];
    assert_scopes(
        &v,
        "d.",
        &[
            ("al_posix", &posix),
            ("al_aligned", &aligned),
            ("al_memalign", &memalign),
            ("al_npot", &npot),
            ("al_small", &small),
        ],
    );
}

fn realloc_loop_size(k: u64) -> u64 {
    1 + (k * 7919) % 5000
}

#[test]
fn realloc_growth_and_shrink_count_the_same_in_place_or_moved() {
    let v = run_c("realloc", &[]);
    assert_eq!(v.i("bad"), 0, "realloc lost data or failed");
    let scenarios = [
        ("r_shrink_small", false),
        ("r_grow_usable", false),
        ("r_grow_blocked", false),
        ("r_grow_mmap", false),
        ("r_shrink_mmap", false),
        ("r_shrink_mmap_small", false),
        ("r_grow_aligned", true),
        ("r_shrink_aligned", true),
    ];
    let mut expectations = Vec::new();
    let mut inplace = 0;
    let mut moved = 0;
    for (name, aligned) in scenarios {
        let a = v.i(&format!("a.{name}"));
        let b = v.i(&format!("b.{name}"));
        if v.i(&format!("inplace.{name}")) == 1 {
            inplace += 1;
        } else {
            moved += 1;
        }
        let first = if aligned { 256 } else { 16 };
        expectations.push((
            name,
            vec![
                ("ALLOC_BYTES", a + b),
                ("FREED_BYTES", a + b),
                ("ALLOC_BLOCKS", 2),
                ("FREED_BLOCKS", 2),
                (
                    if aligned {
                        "POSIX_MEMALIGN_CALLS"
                    } else {
                        "MALLOC_CALLS"
                    },
                    1,
                ),
                ("REALLOC_CALLS", 1),
                ("FREE_CALLS", 1),
                ("OVERHEAD_BYTES", first + 16),
                ("OVERHEAD_FREED_BYTES", first + 16),
            ],
        ));
    }
    assert!(v.i("b.r_grow_usable") > v.i("a.r_grow_usable"));
    let steps = v.i("loop.steps") as u64;
    let loop_bytes = (0..=steps).map(realloc_loop_size).sum::<u64>() as i64;
    let blocks = steps as i64 + 1;
    expectations.push((
        "r_loop",
        vec![
            ("ALLOC_BYTES", loop_bytes),
            ("FREED_BYTES", loop_bytes),
            ("ALLOC_BLOCKS", blocks),
            ("FREED_BLOCKS", blocks),
            ("MALLOC_CALLS", 1),
            ("REALLOC_CALLS", steps as i64),
            ("FREE_CALLS", 1),
            ("OVERHEAD_BYTES", 16 * blocks),
            ("OVERHEAD_FREED_BYTES", 16 * blocks),
        ],
    ));
    let small_guards = (1..=steps).filter(|k| k % 3 == 0).count() as i64;
    let guards = 3 + small_guards;
    assert_eq!(v.i("guards"), guards);
    let guard_bytes = 3 * 100 + 32 * small_guards;
    expectations.push((
        "r_guard",
        vec![
            ("ALLOC_BYTES", guard_bytes),
            ("FREED_BYTES", guard_bytes),
            ("ALLOC_BLOCKS", guards),
            ("FREED_BLOCKS", guards),
            ("MALLOC_CALLS", guards),
            ("FREE_CALLS", guards),
            ("OVERHEAD_BYTES", 16 * guards),
            ("OVERHEAD_FREED_BYTES", 16 * guards),
        ],
    ));
    let refs: Vec<(&str, Expect)> = expectations
        .iter()
        .map(|(s, e)| (*s, e.as_slice()))
        .collect();
    assert_scopes(&v, "d.", &refs);
    // Both paths must have been exercised for the test to mean anything.
    inplace += v.i("loop.inplace");
    moved += v.i("loop.moved");
    assert!(inplace > 0, "no realloc stayed in place");
    assert!(moved > 0, "no realloc moved");
    assert_eq!(
        v.i("inplace.r_grow_blocked"),
        0,
        "growth past a guard block should move"
    );
    assert_eq!(
        v.i("inplace.r_grow_usable"),
        1,
        "growth within malloc_usable_size should stay in place"
    );
}
