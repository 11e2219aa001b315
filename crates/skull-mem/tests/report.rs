//! `skull_mem::report` of a program counting with `SkullAlloc` prints the table an outside
//! reader (`skull-mem memory <pid>`) renders of the paused program.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use skull_mem_inspect::process;
use skull_mem_inspect::render::memory::{memory_table, TableOptions};

fn release_dir() -> PathBuf {
    // Test binaries live in target/<profile>/deps.
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

#[test]
fn the_rust_report_is_the_table_read_from_outside() {
    let dir = skull_mem_test_support::TestDir::new("rust-report");
    let example = release_dir().join("examples/report_self");
    assert!(
        example.exists(),
        "{} is missing: run `cargo build --release -p skull-mem --examples` first",
        example.display()
    );
    let mut child = Command::new(example)
        .env_remove("LD_PRELOAD")
        .env("SKULL_MEM_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example runs");
    let pid = child.id();
    skull_mem_test_support::wait_stopped(pid);
    let outside = memory_table(
        &process::take(dir.path(), pid).expect("read the paused program"),
        &TableOptions::default(),
    );
    child.kill().unwrap();
    let mut inside = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut inside)
        .unwrap();
    child.wait().unwrap();
    skull_mem_test_support::assert_same_memory_table(&inside, &outside);
    assert!(inside.contains(" session-cache "), "{inside}");
}
