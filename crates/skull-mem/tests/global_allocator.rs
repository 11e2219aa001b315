//! `SkullAlloc` counts exactly per scope, and passes through to the preloaded library
//! without counting twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

fn release_dir() -> PathBuf {
    // Test binaries live in target/<profile>/deps.
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn run_example(preload: bool) -> HashMap<String, u64> {
    let dir = release_dir();
    let mut command = Command::new(dir.join("examples/scoped"));
    if preload {
        let library = dir.join("libskull_mem.so");
        assert!(
            library.exists(),
            "{} is missing: run `cargo build --release -p skull-mem-preload` first",
            library.display()
        );
        command.env("LD_PRELOAD", library);
    }
    let output = command.output().expect("the example runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn assert_pattern_counts(counts: &HashMap<String, u64>) {
    let get = |name: &str| counts[name];
    // parser: Vec of 1000, vec! of 300 (calloc-free: filled with 7, so malloc), 128 B at 64.
    assert_eq!(get("parser.malloc_calls"), 2);
    assert_eq!(get("parser.posix_memalign_calls"), 1);
    assert_eq!(get("parser.alloc_blocks"), 3);
    assert_eq!(get("parser.alloc_bytes"), 1000 + 300 + 128);
    assert_eq!(get("parser.overhead_bytes"), 16 + 16 + 64);
    // writer freed two parser blocks: credited back to parser, as cross-scope frees.
    assert_eq!(get("parser.freed_blocks"), 2);
    assert_eq!(get("parser.freed_bytes"), 300 + 128);
    assert_eq!(get("parser.cross_freed_blocks"), 2);
    assert_eq!(get("parser.cross_freed_bytes"), 300 + 128);
    assert_eq!(get("parser.free_calls"), 0);
    assert_eq!(get("writer.free_calls"), 2);
    // writer grew a core block from 100 to 400 bytes: the old block is core's, the new
    // one writer's.
    assert_eq!(get("writer.realloc_calls"), 1);
    assert_eq!(get("writer.alloc_bytes"), 400);
    assert_eq!(get("writer.alloc_blocks"), 1);
    assert_eq!(get("writer.freed_bytes"), 0);
    assert_eq!(get("writer.failed_allocs"), 0);
}

#[test]
fn the_global_allocator_counts_each_scope_exactly() {
    assert_pattern_counts(&run_example(false));
}

#[test]
fn under_the_preloaded_library_nothing_is_counted_twice() {
    let local = run_example(false);
    let preloaded = run_example(true);
    assert_pattern_counts(&preloaded);
    assert_eq!(local, preloaded);
}
