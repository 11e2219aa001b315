//! Prints its own report (`skull_mem::report`, the second of two calls: the first touches
//! the pages the second needs) and stops itself, so that `tests/report.rs` reads the
//! paused process from outside and compares the two texts. Written with write(2), so that
//! nothing is allocated between the report and the stop but the report's copy, freed first.

use skull_mem::{Format, Scope, SkullAlloc};

#[global_allocator]
static ALLOC: SkullAlloc = SkullAlloc;

fn main() {
    let cache = Scope::new("session-cache", "service").unwrap();
    let kept: Vec<Vec<u8>> = cache.in_scope(|| (0..10).map(|i| vec![1u8; 600 + i]).collect());
    drop(skull_mem::report(Format::Text));
    let text = skull_mem::report(Format::Text).expect("counting runs");
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        // SAFETY: writes from a live buffer of `rest.len()` bytes.
        let n = unsafe { libc::write(1, rest.as_ptr().cast(), rest.len()) };
        assert!(n > 0, "cannot write the report");
        rest = &rest[n as usize..];
    }
    drop(text);
    // SAFETY: stops this process until the test continues or kills it.
    unsafe { libc::raise(libc::SIGSTOP) };
    drop(kept);
}
