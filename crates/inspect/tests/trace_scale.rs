//! The trace tables at scale, on real preloaded processes traced from start-up
//! (`SKULL_MEM_TRACE=all`): every allocation recorded under the default memory budget, none
//! dropped, and the live traced bytes equal to the bytes the program's scopes count.

mod support;

use std::collections::HashSet;
use std::process::Command;

use skull_mem_core::trace::tables::{LiveBlock, MemoryUsage, Stack};
use skull_mem_inspect::reader::{self, Reading};
use skull_mem_test_support::wait_stopped;
use support::*;

/// What a test reads of a traced process: its live traced blocks, the stacks they have,
/// and the trace memory's figures.
struct Traced {
    reading: Reading,
    blocks: Vec<LiveBlock>,
    stacks: Vec<Stack>,
    usage: MemoryUsage,
    /// Allocations recorded since tracing started.
    allocs: u64,
}

fn read_traced(dir: &std::path::Path, pid: u32) -> Traced {
    let (reading, (blocks, stacks, usage, allocs)) = reader::read_pid_with(dir, pid, |view| {
        let tables = view.trace;
        let blocks = tables.live_blocks();
        let ids: HashSet<u32> = blocks.iter().map(|block| block.stack).collect();
        let stacks = ids.into_iter().map(|id| tables.stack(id)).collect();
        (blocks, stacks, tables.usage(), tables.traced_allocs())
    })
    .expect("read the paused process");
    Traced {
        reading,
        blocks,
        stacks,
        usage,
        allocs,
    }
}

/// Live bytes per scope of the program, as its counters say and as its live traced blocks
/// add up: all scopes but skull-mem's own, and `init` (before `main`), part of which was
/// allocated before the library's constructor readied tracing. Each pair must be equal.
fn scope_bytes(found: &Traced) -> Vec<(String, u64, u64)> {
    found
        .reading
        .snapshot
        .scopes
        .iter()
        .filter(|scope| scope.name != "skull-mem" && scope.name != "init")
        .map(|scope| {
            let traced = found
                .blocks
                .iter()
                .filter(|block| block.scope == scope.id)
                .map(|block| block.size)
                .sum();
            (scope.name.clone(), scope.used_bytes(), traced)
        })
        .collect()
}

/// Asserts that every scope of the program counts the bytes its live traced blocks add up to,
/// and says what of `init` was not traced (allocated before the library's constructor).
fn assert_scopes_traced_whole(found: &Traced, what: &str) {
    if let Some(init) = found
        .reading
        .snapshot
        .scopes
        .iter()
        .find(|s| s.name == "init")
    {
        let traced: Vec<&LiveBlock> = found.blocks.iter().filter(|b| b.scope == init.id).collect();
        eprintln!(
            "{what}: init (before main) has {} live bytes in {} blocks; {} bytes in {} blocks \
             of them traced, the rest allocated before tracing was ready",
            init.used_bytes(),
            init.live_blocks(),
            traced.iter().map(|b| b.size).sum::<u64>(),
            traced.len()
        );
    }
    for (scope, counted, traced) in scope_bytes(found) {
        assert_eq!(counted, traced, "{what}: scope {scope}");
    }
}

#[test]
fn two_hundred_thousand_stacks_and_two_million_live_blocks_are_recorded_exactly() {
    let dir = TestDir::new("trace-scale");
    let mut cmd = Command::new(program("trace_scale"));
    cmd.env("SKULL_MEM_TRACE", "all");
    let mut traced = Measured::spawn("trace_scale", cmd, dir.path());
    traced.expect("ready");
    let found = read_traced(dir.path(), traced.pid());

    // 2,000,000 blocks of 1 + (j % 100) bytes for j = 0..2,000,000 (20,000 full cycles of
    // 1..=100: 20,000 x 5,050), and the array keeping them: 2,000,000 pointers.
    let kept_bytes = 20_000 * 5_050;
    let array_bytes = 2_000_000 * 8;
    assert_eq!(found.usage.stacks.dropped, 0);
    assert_eq!(found.usage.live.dropped, 0);
    assert_eq!(found.blocks.len(), 2_000_001);
    let traced_bytes: u64 = found.blocks.iter().map(|block| block.size).sum();
    assert_eq!(traced_bytes, kept_bytes + array_bytes);
    assert_scopes_traced_whole(&found, "trace_scale");
    // One stack per path, and the array's: all distinct (one thread interns each once), none
    // cut (23 frames, under the default depth of 32).
    assert_eq!(found.stacks.len(), 200_001);
    let distinct: HashSet<&Vec<u64>> = found.stacks.iter().map(|stack| &stack.frames).collect();
    assert_eq!(distinct.len(), 200_001);
    assert!(found.stacks.iter().all(|stack| !stack.truncated));
    assert!(found.usage.used <= skull_mem_core::options::DEFAULT_TRACE_MEMORY);
    // The trace memory is skull-mem's own, counted in its scope (with its other own blocks).
    let own = found
        .reading
        .snapshot
        .scopes
        .iter()
        .find(|s| s.name == "skull-mem")
        .unwrap();
    assert!(
        own.used_bytes() >= found.usage.used,
        "{} < {}",
        own.used_bytes(),
        found.usage.used
    );
    eprintln!(
        "trace memory for 200,001 stacks and 2,000,001 live blocks: {} bytes used ({} for \
         stacks, {} nodes; {} for live blocks)",
        found.usage.used,
        found.usage.stacks.bytes,
        found.usage.stacks.entries,
        found.usage.live.bytes
    );
    traced.send("end");
    traced.wait_success();
}

/// Threads that free blocks whose live-table slots are then kept for the next block at their
/// address, free blocks other threads made, and shrink blocks with realloc
/// (`tests/c/trace_churn.c`): every traced block kept at the end is in the table, none of
/// the churned ones is left there, and the live traced bytes are the bytes the scopes count.
#[test]
fn kept_slots_cross_thread_frees_and_reallocs_leave_the_live_table_exact() {
    const THREADS: usize = 4;
    const ROUNDS: u64 = 20_000;
    const KEEP: usize = 100;
    let dir = TestDir::new("trace-churn");
    let mut cmd = Command::new(program("trace_churn"));
    cmd.env("SKULL_MEM_TRACE", "all");
    let mut traced = Measured::spawn("trace_churn", cmd, dir.path());
    traced.expect("ready");
    let found = read_traced(dir.path(), traced.pid());
    assert_eq!(
        (found.usage.stacks.dropped, found.usage.live.dropped),
        (0, 0)
    );
    // Per thread and round, 12 mallocs and a realloc (its block is a new one to tracing); then
    // KEEP blocks. glibc's own (a thread's TLS vector) come on top.
    let churn_allocs = THREADS as u64 * (ROUNDS * 13 + KEEP as u64);
    assert!(
        (churn_allocs..churn_allocs + 100).contains(&found.allocs),
        "{}",
        found.allocs
    );
    let sized = |sizes: &[u64]| {
        found
            .blocks
            .iter()
            .filter(|block| sizes.contains(&block.size))
            .count()
    };
    assert_eq!(sized(&[1000]), THREADS * KEEP);
    assert_eq!(sized(&[16, 40, 64, 88, 112, 136, 160, 184]), 0);
    assert_scopes_traced_whole(&found, "trace_churn");
    traced.send("end");
    traced.wait_success();
}

/// The stop-at-exit shim (`tests/c/stop_at_exit.c`), built once.
fn stop_shim() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<(TestDir, std::path::PathBuf)> = std::sync::OnceLock::new();
    let (_, shim) = BUILT.get_or_init(|| {
        let dir = TestDir::new("shim");
        let shim = dir.path().join("stop_at_exit.so");
        let src = repo_root().join("crates/inspect/tests/c/stop_at_exit.c");
        let out = Command::new("gcc")
            .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o"])
            .arg(&shim)
            .arg(&src)
            .output()
            .expect("run gcc");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, shim)
    });
    shim.clone()
}

/// The final trace tables of one process of a traced run, read as it exited.
struct Exited {
    executable: String,
    traced: Traced,
}

/// Lets a process stopped at its exit go on when dropped, even when the test fails.
struct GoOn(u32);

impl Drop for GoOn {
    fn drop(&mut self) {
        // SAFETY: signalling a process this test started, stopped at its exit.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

/// Runs `cmd` and every process it starts traced from start-up (`SKULL_MEM_TRACE=all`, the
/// default budget), reading each one's tables as it exits; returns them once `cmd` ended
/// with success.
fn run_traced(tag: &str, mut cmd: Command) -> Vec<Exited> {
    let dir = TestDir::new(tag);
    let stops = dir.path().join("stops");
    let segments = dir.path().join("segments");
    std::fs::create_dir_all(&stops).unwrap();
    std::fs::create_dir_all(&segments).unwrap();
    // The shim first: its destructor, which stops the process, runs before the library's
    // segment is removed.
    let preload = format!("{}:{}", stop_shim().display(), lib_path().display());
    let mut child = cmd
        .env("LD_PRELOAD", preload)
        .env("SKULL_MEM_DIR", &segments)
        .env("SKULL_MEM_TRACE", "all")
        .env("SKULL_TEST_STOP_DIR", &stops)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the traced command");
    let mut exited = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let done = child.try_wait().expect("wait").is_some();
        for entry in std::fs::read_dir(&stops).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !seen.insert(name.clone()) {
                continue;
            }
            let pid: u32 = name.parse().unwrap();
            wait_stopped(pid);
            let _go_on = GoOn(pid);
            let traced = read_traced(&segments, pid);
            let executable = traced.reading.info.executable.clone();
            exited.push(Exited { executable, traced });
        }
        if done {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success(), "{tag} failed");
    exited
}

/// The one process of a run whose executable's file name starts with `name` (`python3`
/// matches `python3.11`), checked: nothing dropped,
/// and its live traced bytes are the bytes its scopes count.
fn check_exited<'a>(exited: &'a [Exited], name: &str) -> &'a Traced {
    let found: Vec<&Exited> = exited
        .iter()
        .filter(|process| {
            let file = process.executable.rsplit('/').next().unwrap_or_default();
            file.starts_with(name)
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{name} among {:?}",
        exited.iter().map(|p| &p.executable).collect::<Vec<_>>()
    );
    let traced = &found[0].traced;
    let live_bytes: u64 = traced.blocks.iter().map(|block| block.size).sum();
    eprintln!(
        "{name}: {} allocations traced; at exit {} live traced blocks of {live_bytes} bytes \
         from {} stacks; trace memory {} bytes used (stack trie: {} nodes in {} bytes; live \
         table: {} bytes)",
        traced.allocs,
        traced.blocks.len(),
        traced.stacks.len(),
        traced.usage.used,
        traced.usage.stacks.entries,
        traced.usage.stacks.bytes,
        traced.usage.live.bytes
    );
    assert_eq!(
        (traced.usage.stacks.dropped, traced.usage.live.dropped),
        (0, 0),
        "{name}"
    );
    assert_scopes_traced_whole(traced, name);
    traced
}

/// A C file of `functions` functions, each with a few locals, a loop and a call: enough for
/// cc1 to build and keep many trees.
fn big_c_file(path: &std::path::Path, functions: usize) {
    let mut text = String::from("int sink(int);\n");
    for f in 0..functions {
        text.push_str(&format!(
            "int f{f}(int a, int b) {{ int s = a * {f}; for (int i = 0; i < b; i++) {{ \
             s += sink(i ^ {f}) * (a + i); if (s > {f}) s -= b; }} return s + f{prev}(b, a); }}\n",
            prev = f.saturating_sub(1)
        ));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn gcc_s_cc1_compiling_a_large_file_is_traced_whole() {
    let dir = TestDir::new("cc1-src");
    let source = dir.path().join("big.c");
    big_c_file(&source, 10_000);
    let mut cmd = Command::new("gcc");
    cmd.args(["-O0", "-c", "-o"])
        .arg(dir.path().join("big.o"))
        .arg(&source);
    let exited = run_traced("cc1", cmd);
    check_exited(&exited, "cc1");
}

#[test]
fn python_running_an_allocation_heavy_script_is_traced_whole() {
    let script = "d = {}\n\
                  for i in range(300000):\n    d[str(i)] = [i, str(i) * 3, (i, i + 1)]\n\
                  kept = [bytes(i % 500) for i in range(200000)]\n\
                  for i in range(0, 300000, 2):\n    del d[str(i)]\n";
    let mut cmd = Command::new("/usr/bin/python3");
    // Every object through malloc, not Python's own small-object arenas: millions of calls.
    cmd.args(["-c", script]).env("PYTHONMALLOC", "malloc");
    let exited = run_traced("python", cmd);
    check_exited(&exited, "python3");
}

#[test]
fn the_typescript_compiler_checking_this_repository_is_traced_whole() {
    let root = repo_root();
    let mut cmd = Command::new("node");
    cmd.arg(root.join("node_modules/typescript/bin/tsc"))
        .args(["--noEmit", "-p", "."])
        .current_dir(&root);
    let exited = run_traced("tsc", cmd);
    check_exited(&exited, "node");
}
