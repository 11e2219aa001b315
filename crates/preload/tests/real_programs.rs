//! Real programs behave the same under the preload: same stdout, same exit code, no signal
//! (acceptance point 8).

mod common;

use common::*;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Output;
use std::sync::Mutex;

/// The programs run one at a time, so that outputs that depend on the machine's state (the
/// link count of /proc in `ls -la /`) do not change between the two runs of a comparison.
static SERIAL: Mutex<()> = Mutex::new(());

fn run_prog(argv: &[&str], preload: bool) -> Output {
    // A bare program name is looked up on PATH, as by a shell.
    run(Path::new(argv[0]), &argv[1..], preload)
}

/// Runs `argv` without and with the preload (retrying a few times when the output depends on
/// something that changed in between) and asserts equal stdout and exit status.
fn same_under_preload(argv: &[&str]) -> String {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut last = None;
    for _attempt in 0..5 {
        let plain = run_prog(argv, false);
        let pre = run_prog(argv, true);
        assert_eq!(
            pre.status.signal(),
            None,
            "{argv:?} was killed by a signal under the preload; stderr:\n{}",
            String::from_utf8_lossy(&pre.stderr)
        );
        assert_eq!(
            pre.status.code(),
            plain.status.code(),
            "{argv:?}: exit code differs under the preload; stderr:\n{}",
            String::from_utf8_lossy(&pre.stderr)
        );
        let stderr = String::from_utf8_lossy(&pre.stderr);
        assert!(
            !stderr.contains("cannot be preloaded"),
            "{argv:?}: the library was not preloaded:\n{stderr}"
        );
        if pre.stdout == plain.stdout {
            return String::from_utf8_lossy(&pre.stdout).into_owned();
        }
        last = Some((plain, pre));
    }
    let (plain, pre) = last.unwrap();
    panic!(
        "{argv:?}: stdout differs under the preload\n--- plain\n{}\n--- preloaded\n{}\n--- preloaded stderr\n{}",
        String::from_utf8_lossy(&plain.stdout),
        String::from_utf8_lossy(&pre.stdout),
        String::from_utf8_lossy(&pre.stderr)
    );
}

#[test]
fn python_dict_workload_is_unchanged() {
    let out = same_under_preload(&[
        "python3",
        "-c",
        "import hashlib\n\
         d = {i: str(i) * 3 for i in range(100000)}\n\
         s = ''.join(d[i] for i in range(0, 100000, 7))\n\
         print(len(d), sum(len(v) for v in d.values()), hashlib.sha256(s.encode()).hexdigest())",
    ]);
    assert!(out.starts_with("100000 "), "{out}");
}

#[test]
fn node_buffer_workload_is_unchanged() {
    let out = same_under_preload(&[
        "node",
        "-e",
        "let s = 0;\n\
         for (let i = 0; i < 20000; i++) {\n\
           const b = Buffer.alloc(100 + (i % 50) * 100, i & 255);\n\
           s = (s + b.length + b[b.length - 1]) % 1000003;\n\
         }\n\
         const big = Buffer.allocUnsafe(64 << 20).fill(7);\n\
         s = (s + big[big.length - 1]) % 1000003;\n\
         console.log(s, JSON.stringify(Array.from({length: 1000}, (_, i) => i)).length);",
    ]);
    assert!(!out.trim().is_empty());
}

#[test]
fn git_version_is_unchanged() {
    let out = same_under_preload(&["git", "--version"]);
    assert!(out.starts_with("git version"), "{out}");
}

#[test]
fn ls_of_root_is_unchanged() {
    let out = same_under_preload(&["ls", "-la", "/"]);
    assert!(out.contains("usr"), "{out}");
}

#[test]
fn gcc_version_is_unchanged() {
    let out = same_under_preload(&["gcc", "--version"]);
    assert!(out.contains("gcc"), "{out}");
}

#[test]
fn failing_program_keeps_its_exit_code() {
    same_under_preload(&["sh", "-c", "echo out; ls /nonexistent-skull-path; exit 3"]);
}

#[test]
fn python_threads_workload_is_unchanged() {
    let out = same_under_preload(&[
        "python3",
        "-c",
        "import threading, hashlib\n\
         out = [None] * 8\n\
         def work(k):\n\
         \x20   d = {}\n\
         \x20   for i in range(20000):\n\
         \x20       d[(k, i)] = bytes([i % 256]) * (i % 300)\n\
         \x20   out[k] = hashlib.md5(b''.join(d[(k, i)] for i in range(0, 20000, 3))).hexdigest()\n\
         ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]\n\
         [t.start() for t in ts]\n\
         [t.join() for t in ts]\n\
         print(out)",
    ]);
    assert!(out.starts_with("['"), "{out}");
}

#[test]
fn node_worker_threads_workload_is_unchanged() {
    let out = same_under_preload(&[
        "node",
        "-e",
        "const { Worker } = require('worker_threads');\n\
         let n = 0, left = 4;\n\
         for (let i = 0; i < 4; i++) {\n\
           const w = new Worker(\"const { parentPort } = require('worker_threads'); let s = 0;\
             for (let j = 0; j < 5000; j++) { s += Buffer.alloc(j % 1000 + 1, 1).length }\
             parentPort.postMessage(s)\", { eval: true });\n\
           w.on('message', (m) => { n += m; });\n\
           w.on('exit', () => { if (--left === 0) console.log(n); });\n\
         }",
    ]);
    assert_eq!(out.trim(), "10010000");
}

#[test]
fn shell_pipeline_of_preloaded_children_is_unchanged() {
    // sh forks and execs children that inherit LD_PRELOAD.
    let out = same_under_preload(&["sh", "-c", "seq 1 20000 | sort -rn | head -3"]);
    assert_eq!(out, "20000\n19999\n19998\n");
}

#[test]
fn the_library_is_active_in_a_preloaded_interpreter() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = run_prog(
        &[
            "python3",
            "-c",
            "import ctypes; print(ctypes.CDLL(None).skull_is_active())",
        ],
        true,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
}
