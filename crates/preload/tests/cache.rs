//! The per-thread cache of small freed blocks: the program's scopes count exactly as
//! without it, the blocks it holds are counted in skull-mem's own scope, it stays within
//! its budget (`SKULL_MEM_CACHE`), and a thread's cache goes back to libc when it exits.
//! See `test/c/cache.c` for the phases.

mod common;

use common::*;

/// Raw bytes of the class of a 64-byte request: glibc's 96-byte chunk less its 8-byte
/// size field; of which 16 are the header, counted per block.
const CLASS_64: u64 = 88;
/// The same for a 200-byte request (a 224-byte chunk).
const CLASS_200: u64 = 216;
const DEFAULT_BUDGET: u64 = 32 * 1024;

/// What skull-mem's scope must show for `n` blocks and a budget of `budget` bytes.
struct Held {
    /// Blocks the cache keeps in phase "keep", and hands back in phase "take".
    kept: u64,
    /// Blocks it keeps over the thread's life: those, the N + 1 64-byte blocks freed at the
    /// end as far as they fit, and the 200-byte one if it still fits.
    blocks: u64,
    bytes: u64,
}

fn held(n: u64, budget: u64) -> Held {
    let fit = budget / CLASS_64;
    let kept = n.min(fit);
    let last = (n + 1).min(fit);
    let other = u64::from(budget - last * CLASS_64 >= CLASS_200);
    Held {
        kept,
        blocks: kept + last + other,
        bytes: (kept + last) * (CLASS_64 - HEADER) + other * (CLASS_200 - HEADER),
    }
}

fn check(n: u64, budget: u64, env: &[(&str, &str)]) {
    let v = run_c_with_env("cache", &[&n.to_string()], env);
    let held = held(n, budget);
    let k = held.kept as i64;
    let n = n as i64;
    let h = HEADER as i64;
    let own = (CLASS_64 - HEADER) as i64;

    // The program's scope, exactly as without a cache.
    let user_keep = [
        ("MALLOC_CALLS", n),
        ("ALLOC_BYTES", 64 * n),
        ("ALLOC_BLOCKS", n),
        ("OVERHEAD_BYTES", h * n),
        ("FREE_CALLS", n),
        ("FREED_BYTES", 64 * n),
        ("FREED_BLOCKS", n),
        ("OVERHEAD_FREED_BYTES", h * n),
    ];
    let self_keep = [
        ("ALLOC_BYTES", own * k),
        ("ALLOC_BLOCKS", k),
        ("OVERHEAD_BYTES", h * k),
    ];
    assert_scopes(
        &v,
        "keep.",
        &[("c_user", &user_keep), ("skull-mem", &self_keep)],
    );
    assert_all_zero_except(&v, "keep.", &["c_user", "skull-mem"]);

    let user_take = [
        ("MALLOC_CALLS", n + 1),
        ("CALLOC_CALLS", 1),
        ("ALLOC_BYTES", 64 * n + 64 + 200),
        ("ALLOC_BLOCKS", n + 2),
        ("OVERHEAD_BYTES", h * (n + 2)),
    ];
    let self_take = [
        ("FREED_BYTES", own * k),
        ("FREED_BLOCKS", k),
        ("OVERHEAD_FREED_BYTES", h * k),
    ];
    assert_scopes(
        &v,
        "take.",
        &[("c_user", &user_take), ("skull-mem", &self_take)],
    );
    assert_all_zero_except(&v, "take.", &["c_user", "skull-mem"]);
    assert_eq!(
        v.i("zero"),
        1,
        "calloc returned a cached block that is not zeroed"
    );
    if k > 0 {
        assert_eq!(
            (v.i("again0"), v.i("lifo")),
            (k - 1, k),
            "the cache should hand the kept blocks back, last in first out"
        );
    }

    let blocks = held.blocks as i64;
    let bytes = held.bytes as i64;
    let self_exit = [
        ("ALLOC_BYTES", bytes),
        ("ALLOC_BLOCKS", blocks),
        ("OVERHEAD_BYTES", h * blocks),
        ("FREED_BYTES", bytes),
        ("FREED_BLOCKS", blocks),
        ("OVERHEAD_FREED_BYTES", h * blocks),
    ];
    assert_scopes(&v, "exit.", &[("skull-mem", &self_exit)]);
}

#[test]
fn the_cache_keeps_freed_blocks_in_skull_mems_scope_and_hands_them_back() {
    check(100, DEFAULT_BUDGET, &[]);
}

#[test]
fn the_cache_keeps_no_more_than_its_default_budget() {
    // 400 blocks of 88 bytes are more than 32 KiB: 372 are kept, 28 go to libc.
    assert_eq!(held(400, DEFAULT_BUDGET).kept, 372);
    check(400, DEFAULT_BUDGET, &[]);
}

#[test]
fn skull_mem_cache_sets_the_budget_per_thread() {
    check(10, 2 * CLASS_64, &[("SKULL_MEM_CACHE", "176")]);
}

#[test]
fn skull_mem_cache_0_turns_the_cache_off() {
    check(100, 0, &[("SKULL_MEM_CACHE", "0")]);
}
