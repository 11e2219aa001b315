//! A program using `SkullAlloc` and scopes; prints each scope's counter changes over a
//! known pattern as `scope.counter=value` lines. The tests run it with and without the
//! preloaded library and expect the same exact figures both ways.

use std::alloc::{alloc, dealloc, Layout};
use std::collections::HashMap;

use skull_mem::{Counter, Scope, SkullAlloc};

#[global_allocator]
static ALLOC: SkullAlloc = SkullAlloc;

fn counters() -> HashMap<String, [u64; 20]> {
    skull_mem::snapshot()
        .expect("counting runs")
        .scopes
        .into_iter()
        .map(|scope| (scope.name, scope.counters))
        .collect()
}

fn main() {
    let parser = Scope::new("parser", "module").unwrap();
    let writer = Scope::new("writer", "service").unwrap();
    let before = counters();

    let kept: Vec<u8> = parser.in_scope(|| Vec::with_capacity(1000));
    let handed_over: Vec<u8> = parser.in_scope(|| vec![7u8; 300]);
    let aligned = Layout::from_size_align(128, 64).unwrap();
    let block = parser.in_scope(|| {
        // SAFETY: a valid non-zero layout.
        unsafe { alloc(aligned) }
    });
    let mut grown: Vec<u8> = Vec::with_capacity(100);
    {
        let _guard = writer.enter();
        drop(handed_over);
        grown.reserve_exact(400);
        // SAFETY: allocated above with the same layout.
        unsafe { dealloc(block, aligned) };
    }

    let after = counters();
    for name in ["parser", "writer"] {
        for counter in Counter::ALL {
            let delta = after[name][counter as usize] - before[name][counter as usize];
            println!("{name}.{}={delta}", counter.name());
        }
    }
    assert_eq!(kept.capacity(), 1000);
    assert!(grown.capacity() >= 400);
}
