//! `reader::read_pid` on real preloaded processes, paused at known points: exact per-scope
//! figures, their growth, 64 threads x 200 scopes, and the segment file's own properties.

mod support;

use std::mem::size_of;
use std::os::unix::fs::MetadataExt;

use skull_mem_core::counters::Counter::*;
use skull_mem_core::region::ThreadBlock;
use skull_mem_core::segment::{FIXED_FILE_BYTES, GROUP_BYTES};
use skull_mem_inspect::reader::{self, process_start_time};
use support::*;

const PAGE: u64 = 4096;

#[test]
fn read_pid_gives_exact_figures_per_scope_and_their_growth() {
    let dir = TestDir::new("exact");
    let mut program = Measured::start("reader_pattern", &[], dir.path());
    program.expect("ready");
    let pid = program.pid();

    let first = reader::read_pid(dir.path(), pid).expect("read the paused process");
    assert_eq!(first.snapshot.pid, pid);
    let names: Vec<(&str, &str)> = first
        .snapshot
        .scopes
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("core", "core"),
            ("init", "init"),
            ("skull-mem", "tool"),
            ("alpha", "module"),
            ("beta", "service"),
            ("gamma", "route"),
        ]
    );
    for (id, s) in first.snapshot.scopes.iter().enumerate() {
        assert_eq!(s.id as usize, id);
    }

    // alpha: 10 x 100, 4 x calloc(5, 20), 50 -> 200 (realloc), 2 x posix_memalign(64, 300),
    // aligned_alloc(128, 256), memalign(32, 40), valloc(100), pvalloc(100) = one page; gamma
    // freed 2 x 100, one calloc block (100) and, by realloc, the 200-byte block.
    let alpha_phase1 = counters(&[
        (
            AllocBytes,
            1000 + 400 + 50 + 200 + 600 + 256 + 40 + 100 + PAGE,
        ),
        (AllocBlocks, 10 + 4 + 1 + 1 + 2 + 1 + 1 + 1 + 1),
        (FreedBytes, 50 + 200 + 100 + 200),
        (FreedBlocks, 1 + 2 + 1 + 1),
        (MallocCalls, 11),
        (CallocCalls, 4),
        (ReallocCalls, 1),
        (PosixMemalignCalls, 2),
        (AlignedAllocCalls, 1),
        (MemalignCalls, 1),
        (VallocCalls, 1),
        (PvallocCalls, 1),
        (CrossFreedBlocks, 4),
        (CrossFreedBytes, 200 + 100 + 200),
        (OverheadBytes, 16 * 16 + 2 * 64 + 128 + 32 + PAGE + PAGE),
        (OverheadFreedBytes, 5 * 16),
    ]);
    let alpha = scope(&first, "alpha");
    assert_counters(alpha, &alpha_phase1);
    assert_eq!(alpha.used_bytes(), 6742 - 550);
    assert_eq!(alpha.live_blocks(), 17);
    assert_eq!(alpha.overhead_bytes(), 8736 - 80);
    assert_eq!(alpha.peak_used_bytes, 6192);

    let beta = scope(&first, "beta");
    assert_counters(
        beta,
        &counters(&[
            (AllocBytes, 3000 + 320 + 120),
            (AllocBlocks, 9),
            (FreedBytes, 320),
            (FreedBlocks, 5),
            (MallocCalls, 8),
            (ReallocarrayCalls, 1),
            (FreeCalls, 5),
            (OverheadBytes, 9 * 16),
            (OverheadFreedBytes, 5 * 16),
        ]),
    );
    assert_eq!((beta.used_bytes(), beta.live_blocks()), (3120, 4));

    let gamma_phase1 = counters(&[
        (AllocBytes, 154 + 300),
        (AllocBlocks, 3),
        (MallocCalls, 2),
        (ReallocCalls, 1),
        (FreeCalls, 4),
        (OverheadBytes, 48),
    ]);
    let gamma = scope(&first, "gamma");
    assert_counters(gamma, &gamma_phase1);
    assert_eq!((gamma.used_bytes(), gamma.live_blocks()), (454, 3));

    // Second pause: alpha grew by 7 pages' worth of bytes, beta freed its three blocks, and a
    // scope registered meanwhile shows up.
    program.send("");
    program.expect("ready2");
    let second = reader::read_pid(dir.path(), pid).expect("read again");
    assert_eq!(second.snapshot.scopes.len(), 7);
    let mut alpha_phase2 = alpha_phase1;
    alpha_phase2[AllocBytes as usize] += 7 * 4096;
    alpha_phase2[AllocBlocks as usize] += 7;
    alpha_phase2[MallocCalls as usize] += 7;
    alpha_phase2[OverheadBytes as usize] += 7 * 16;
    assert_counters(scope(&second, "alpha"), &alpha_phase2);
    assert_eq!(scope(&second, "alpha").used_bytes(), 6192 + 7 * 4096);
    assert_counters(
        scope(&second, "beta"),
        &counters(&[
            (AllocBytes, 3440),
            (AllocBlocks, 9),
            (FreedBytes, 3320),
            (FreedBlocks, 8),
            (MallocCalls, 8),
            (ReallocarrayCalls, 1),
            (FreeCalls, 8),
            (OverheadBytes, 144),
            (OverheadFreedBytes, 8 * 16),
        ]),
    );
    assert_eq!(scope(&second, "beta").used_bytes(), 120);
    assert_counters(scope(&second, "gamma"), &gamma_phase1);
    let delta = scope(&second, "delta");
    assert_eq!((delta.id, delta.kind.as_str()), (6, "tool"));
    assert_counters(
        delta,
        &counters(&[
            (AllocBytes, 300),
            (AllocBlocks, 3),
            (CallocCalls, 3),
            (OverheadBytes, 48),
        ]),
    );

    // A normal exit removes the segment; the pid is then no process at all.
    let path = segment_of(dir.path(), pid);
    assert!(path.exists());
    program.send("");
    program.wait_success();
    assert!(!path.exists(), "{} survived a normal exit", path.display());
    assert_error(
        reader::read_pid(dir.path(), pid),
        "NO_PROCESS",
        &[&pid.to_string()],
    );
}

#[test]
fn a_live_segment_is_0600_one_region_long_and_describes_its_process() {
    let dir = TestDir::new("info");
    let mut measured = Measured::start("reader_pattern", &[], dir.path());
    measured.expect("ready");
    let pid = measured.pid();
    let path = segment_of(dir.path(), pid);
    let meta = std::fs::symlink_metadata(&path).expect("the segment exists");
    assert!(meta.file_type().is_file());
    assert_eq!(meta.mode() & 0o7777, 0o600, "segment mode");
    // SAFETY: getuid cannot fail.
    assert_eq!(meta.uid(), unsafe { libc::getuid() });
    // The fixed part and the one thread's block, every byte reserved (no hole that a store
    // could find the filesystem full at): 159,744 (of which 24,576 keep the objects unloaded
    // with dlclose) + 90,112 bytes.
    let one_thread = (FIXED_FILE_BYTES + size_of::<ThreadBlock>()) as u64;
    assert_eq!((meta.len(), one_thread), (249_856, 249_856));
    assert!(meta.blocks() * 512 >= one_thread, "all allocated");

    let reading = reader::read_pid(dir.path(), pid).unwrap();
    let info = &reading.info;
    assert_eq!(info.path, path);
    assert_eq!(info.pid, pid);
    // SAFETY: getuid cannot fail.
    assert_eq!(info.uid, unsafe { libc::getuid() });
    assert_eq!(Some(info.start_time), process_start_time(pid));
    assert_eq!(info.library_version, skull_mem_core::VERSION);
    let exe = program("reader_pattern");
    assert_eq!(info.executable, exe.to_str().unwrap());
    assert_eq!(info.command_line, exe.to_str().unwrap());
    assert_eq!(info.control, 0);
    // The same file read by path gives the same figures.
    let by_path = reader::read_file(&path).unwrap();
    assert_eq!(by_path.snapshot, reading.snapshot);
    // Address space: the fixed part and one block group's reservation (32 blocks).
    assert_eq!(
        reading.snapshot.region_bytes,
        Some(FIXED_FILE_BYTES + GROUP_BYTES)
    );
}

fn thread_step(t: u64, k: u64, scopes: u64) -> (usize, u64) {
    (((t * 37 + k * 11) % scopes) as usize, 8 * (t + 1) + k)
}

#[test]
fn sixty_four_threads_in_two_hundred_scopes_are_summed_exactly() {
    const THREADS: u64 = 64;
    const SCOPES: u64 = 200;
    const STEPS: u64 = 6;
    let dir = TestDir::new("threads");
    let mut program = Measured::start(
        "reader_threads",
        &[&THREADS.to_string(), &SCOPES.to_string()],
        dir.path(),
    );
    program.expect("ready");
    let reading = reader::read_pid(dir.path(), program.pid()).unwrap();
    // The built-ins, the program's scopes, and last `thread:reader_threads`: the workers are
    // not the main thread, so their malloc/free pair outside any user scope is charged to the
    // pseudo-scope of their name (the process's), registered at the first one's first malloc.
    assert_eq!(reading.snapshot.scopes.len(), 3 + SCOPES as usize + 1);
    let workers = &reading.snapshot.scopes[3 + SCOPES as usize];
    assert_eq!(
        (workers.name.as_str(), workers.kind.as_str()),
        ("thread:reader_threads", "thread")
    );
    assert_eq!(workers.get(MallocCalls), THREADS);
    assert_eq!(workers.used_bytes(), 0);
    // Every worker and the main thread hold a block while paused.
    assert_eq!(reading.snapshot.threads, Some(THREADS as usize + 1));

    let mut want = vec![[0u64; skull_mem_core::counters::COUNTER_COUNT]; SCOPES as usize];
    for t in 0..THREADS {
        for k in 0..STEPS {
            let (s, size) = thread_step(t, k, SCOPES);
            let w = &mut want[s];
            w[MallocCalls as usize] += k + 1;
            w[AllocBlocks as usize] += k + 1;
            w[AllocBytes as usize] += (k + 1) * size;
            w[OverheadBytes as usize] += 16 * (k + 1);
            if k > 0 {
                w[FreeCalls as usize] += 1;
                let (owner, owner_size) = thread_step(t, k - 1, SCOPES);
                let o = &mut want[owner];
                o[FreedBlocks as usize] += 1;
                o[FreedBytes as usize] += owner_size;
                o[CrossFreedBlocks as usize] += 1;
                o[CrossFreedBytes as usize] += owner_size;
                o[OverheadFreedBytes as usize] += 16;
            }
        }
    }
    let mut total_bytes = 0;
    for (s, want) in want.iter().enumerate() {
        let stats = &reading.snapshot.scopes[3 + s];
        assert_eq!(stats.name, format!("s{s:03}"));
        assert_counters(stats, want);
        total_bytes += stats.used_bytes();
    }
    let expected_total: u64 = (0..THREADS)
        .flat_map(|t| (0..STEPS).map(move |k| (t, k)))
        .map(|(t, k)| {
            let size = thread_step(t, k, SCOPES).1;
            if k + 1 < STEPS {
                k * size
            } else {
                (k + 1) * size
            }
        })
        .sum();
    assert_eq!(total_bytes, expected_total);

    // After the threads exit, their blocks are free again but their counts stay.
    program.send("");
    program.expect("done");
    let after = reader::read_pid(dir.path(), program.pid()).unwrap();
    assert_eq!(after.snapshot.threads, Some(1));
    for (s, want) in want.iter().enumerate() {
        assert_counters(&after.snapshot.scopes[3 + s], want);
    }
    program.send("");
    program.wait_success();
}

#[test]
fn a_process_that_changed_its_user_id_is_still_found() {
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test runs as root");
    let dir = TestDir::new("setuid");
    let mut measured = Measured::start("reader_setuid", &[], dir.path());
    measured.expect("ready");
    let pid = measured.pid();
    // The segment keeps the name and owner it was made with.
    let path = reader::segment_path(dir.path(), 0, pid);
    assert!(path.exists());
    let reading = reader::read_pid(dir.path(), pid).expect("read a process now running as 65534");
    assert_eq!(reading.info.path, path);
    assert_eq!(reading.info.uid, 0);
    assert_counters(
        scope(&reading, "dropped"),
        &counters(&[
            (AllocBytes, 3000),
            (AllocBlocks, 6),
            (MallocCalls, 6),
            (OverheadBytes, 96),
        ]),
    );
    let scan = reader::scan(dir.path(), true).unwrap();
    assert_eq!(scan.live.len(), 1);
    assert!(scan.removed.is_empty() && scan.unreadable.is_empty());
}
