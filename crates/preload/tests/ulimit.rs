//! Under `ulimit -v`, the library takes little of the address space: the fixed part of the
//! segment (156 KiB), one block group's reservation (2.75 MiB) and the library itself; the
//! trace area is reserved only when tracing first records. Before issue 11 the segment was a
//! 93 MiB mapping, and a program under a 512 MiB limit got about 90 MiB less heap.

mod common;

use common::*;
use std::process::Command;

/// The address-space limit the program runs under, KiB.
const LIMIT_KIB: u64 = 512 * 1024;

/// MiB of heap `exe` gets under the limit, with or without the library.
fn heap_mib(exe: &str, preload: bool) -> u64 {
    let dir = segment_dir();
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!("ulimit -v {LIMIT_KIB} && exec \"$0\""), exe])
        .env("SKULL_MEM_DIR", &dir)
        .env_remove("SKULL_MEM_TRACE");
    if preload {
        command.env("LD_PRELOAD", lib_path());
    } else {
        command.env_remove("LD_PRELOAD");
    }
    let output = command.output().expect("run under ulimit -v");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .trim()
        .strip_prefix("heap_mib=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure in {stdout:?}"))
}

#[test]
fn the_library_takes_little_of_ulimit_v() {
    let program = compile("heap_limit", Link::Dlsym);
    let exe = program.exe.to_str().unwrap();
    let plain = heap_mib(exe, false);
    let measured = heap_mib(exe, true);
    eprintln!("heap under ulimit -v {LIMIT_KIB} KiB: {plain} MiB plain, {measured} MiB preloaded");
    // Each 1 MiB block is a mapping of its own (above glibc's mmap threshold), so the heap is
    // what the limit leaves after the program's own mappings. The library adds its code and
    // data (about 1 MiB mapped), the segment's fixed part and one block group: under 5 MiB.
    assert!(plain > 400, "plain {plain} MiB");
    assert!(
        plain - measured <= 5,
        "the library took {} MiB of the address space",
        plain - measured
    );
}
