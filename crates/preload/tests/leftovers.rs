//! Processes that end without their exit handlers (`_exit`, a signal, SIGKILL) cannot remove
//! their segment files; every new preloaded process removes those of its user whose process
//! is gone (`segment::stale`). So after 1,000 shell pipelines, 1,000 children ended with
//! `_exit` and 50 SIGKILLed processes, once one more preloaded process has started, the
//! segment directory holds no file of a process that is gone (before issue 11: some 2,000).

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

fn preloaded(program: &str, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env("LD_PRELOAD", lib_path())
        .env("SKULL_MEM_DIR", dir)
        .env_remove("SKULL_MEM_TRACE");
    command
}

/// The segment files in `dir` whose process is gone.
fn files_of_gone_processes(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| {
            let pid: i32 = name.rsplit('-').next().unwrap().parse().unwrap();
            // SAFETY: signal 0 only checks that the process exists.
            unsafe { libc::kill(pid, 0) != 0 }
        })
        .collect()
}

#[test]
fn processes_that_end_without_cleanup_leave_nothing_behind() {
    let dir = TestDir::new("leftovers");
    // A preloaded shell runs 1,000 pipelines: each forks subshells that end with `_exit`.
    let pipelines = preloaded("sh", dir.path())
        .args([
            "-c",
            "i=0; while [ $i -lt 1000 ]; do echo x | sort | head -c1 >/dev/null; i=$((i+1)); done",
        ])
        .status()
        .unwrap();
    assert!(pipelines.success());
    // A preloaded python forks 1,000 children that end with `_exit` at once.
    let children = preloaded("python3", dir.path())
        .args([
            "-c",
            "import os\n\
             for _ in range(1000):\n\
             \x20   pid = os.fork()\n\
             \x20   if pid == 0:\n\
             \x20       os._exit(0)\n\
             \x20   os.waitpid(pid, 0)",
        ])
        .status()
        .unwrap();
    assert!(children.success());
    // 50 preloaded processes killed with SIGKILL once their segment exists.
    for _ in 0..50 {
        let mut sleeper = preloaded("sleep", dir.path())
            .arg("30")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let file = dir.path().join(format!(
            "skull-mem-{}-{}",
            // SAFETY: getuid cannot fail.
            unsafe { libc::getuid() },
            sleeper.id()
        ));
        let start = std::time::Instant::now();
        while !file.exists() {
            assert!(
                start.elapsed().as_secs() < 10,
                "{} never appeared",
                file.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
    }
    // The last sleeper's file is left until the next preloaded process starts.
    assert!(!files_of_gone_processes(dir.path()).is_empty());
    assert!(preloaded("true", dir.path()).status().unwrap().success());
    assert_eq!(files_of_gone_processes(dir.path()), Vec::<String>::new());
}
