//! Fuzzing `reader::read_file` with a seeded RNG: the segment of a real paused process,
//! mutated where it matters (header, scope table, slot words and high-water mark, the first
//! thread blocks), truncated and extended; and fully random small files. The reader must
//! never panic or hang, and must give either a reading within the table bounds or a clean
//! error with a one-line message. Set `SKULL_FUZZ_SEED` to replay a seed.

mod support;

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use skull_mem_core::region::{Region, ThreadBlock, MAX_SCOPES, MAX_THREADS};
use skull_mem_core::scopes::{ScopeTable, KIND_MAX, NAME_MAX};
use skull_mem_core::segment::{SegmentHeader, MAGIC};
use skull_mem_inspect::reader::{self, ReadError, Reading};
use support::*;

/// Time each fuzz test spends mutating and reading.
const BUDGET: Duration = Duration::from_secs(15);
/// A single read taking longer than this is a hang.
const HANG: Duration = Duration::from_secs(20);

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn seeded(salt: u64) -> Rng {
        let seed = std::env::var("SKULL_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5EED_5C11_u64 ^ salt);
        eprintln!("fuzz seed {seed} (replay with SKULL_FUZZ_SEED={seed})");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A value that tends to hit bounds checks.
    fn interesting(&mut self) -> u64 {
        const VALUES: [u64; 20] = [
            0,
            1,
            2,
            3,
            0x7f,
            0x80,
            0xff,
            511,
            512,
            513,
            1023,
            1024,
            1025,
            4096,
            u32::MAX as u64,
            u32::MAX as u64 - 1,
            1 << 31,
            u64::MAX,
            1 << 63,
            i64::MAX as u64,
        ];
        if self.chance(70) {
            VALUES[self.below(VALUES.len() as u64) as usize]
        } else {
            self.next()
        }
    }
}

/// Where the interesting words of a segment are.
struct Layout {
    header: std::ops::Range<usize>,
    scopes: std::ops::Range<usize>,
    scope_count: usize,
    slots: std::ops::Range<usize>,
    high_water: usize,
    blocks: std::ops::Range<usize>,
}

impl Layout {
    fn of(image: &Image) -> Layout {
        let scopes_offset = image.u64_at(offset_of!(SegmentHeader, scopes_offset)) as usize;
        let overflow_offset = image.u64_at(offset_of!(SegmentHeader, overflow_offset)) as usize;
        let blocks_offset = image.u64_at(offset_of!(SegmentHeader, blocks_offset)) as usize;
        assert_eq!(scopes_offset, offset_of!(Region, scopes));
        let scopes_end = scopes_offset + size_of::<ScopeTable>();
        let layout = Layout {
            header: 0..size_of::<SegmentHeader>(),
            scopes: scopes_offset..scopes_end,
            // `lock: u32`, then `count: u32`.
            scope_count: scopes_offset + 4,
            slots: scopes_end..overflow_offset,
            high_water: overflow_offset - 8,
            blocks: blocks_offset..blocks_offset + 2 * size_of::<ThreadBlock>(),
        };
        assert_eq!(
            layout.slots.len(),
            4 * MAX_THREADS + 8,
            "slots then high water"
        );
        layout
    }
}

/// Reads `path` on a helper thread: panics are caught and reported, hangs detected.
fn read_guarded(path: &Path) -> Result<Result<Reading, ReadError>, String> {
    let (send, recv) = mpsc::channel();
    let owned = path.to_owned();
    std::thread::spawn(move || {
        let result = catch_unwind(AssertUnwindSafe(|| reader::read_file(&owned)));
        let _ = send.send(result.map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_owned())
        }));
    });
    match recv.recv_timeout(HANG) {
        Ok(result) => result,
        Err(_) => Err(format!("read_file did not return within {HANG:?}")),
    }
}

/// Checks one outcome; returns its code ("OK" for a reading).
fn check(outcome: Result<Result<Reading, ReadError>, String>, what: &str) -> &'static str {
    match outcome {
        Err(problem) => panic!("{what}: {problem}"),
        Ok(Ok(reading)) => {
            let scopes = &reading.snapshot.scopes;
            assert!(
                scopes.len() <= MAX_SCOPES,
                "{what}: {} scopes",
                scopes.len()
            );
            for (id, scope) in scopes.iter().enumerate() {
                assert_eq!(scope.id as usize, id, "{what}");
                assert!(scope.name.len() < NAME_MAX, "{what}: name {:?}", scope.name);
                assert!(scope.kind.len() < KIND_MAX, "{what}: kind {:?}", scope.kind);
            }
            let threads = reading.snapshot.threads.unwrap();
            assert!(threads <= MAX_THREADS, "{what}: {threads} threads");
            "OK"
        }
        Ok(Err(error)) => {
            let message = error.to_string();
            assert!(
                !message.is_empty() && !message.contains('\n') && !message.contains('\r'),
                "{what}: message not one line: {message:?}"
            );
            let code = error.code();
            assert!(
                matches!(
                    code,
                    "TRUNCATED" | "NOT_A_SEGMENT" | "VERSION_MISMATCH" | "CORRUPT"
                ),
                "{what}: unexpected {code}: {message}"
            );
            code
        }
    }
}

/// A paused process with several thread blocks and scopes in use, and its segment image.
fn source(dir: &Path) -> (Measured, Image) {
    let mut measured = Measured::start("reader_threads", &["6", "40"], dir);
    measured.expect("ready");
    let image = Image::of(&segment_of(dir, measured.pid()));
    (measured, image)
}

/// The header's integer fields: offset and width.
const HEADER_FIELDS: [(usize, usize); 16] = [
    (offset_of!(SegmentHeader, magic), 8),
    (offset_of!(SegmentHeader, layout_version), 4),
    (offset_of!(SegmentHeader, header_size), 4),
    (offset_of!(SegmentHeader, segment_size), 8),
    (offset_of!(SegmentHeader, max_scopes), 4),
    (offset_of!(SegmentHeader, max_threads), 4),
    (offset_of!(SegmentHeader, counter_count), 4),
    (offset_of!(SegmentHeader, counter_set_size), 4),
    (offset_of!(SegmentHeader, scopes_offset), 8),
    (offset_of!(SegmentHeader, overflow_offset), 8),
    (offset_of!(SegmentHeader, blocks_offset), 8),
    (offset_of!(SegmentHeader, pid), 4),
    (offset_of!(SegmentHeader, uid), 4),
    (offset_of!(SegmentHeader, start_time), 8),
    (offset_of!(SegmentHeader, control), 8),
    (offset_of!(SegmentHeader, trace_layout), 8),
];

fn pick(rng: &mut Rng, range: &std::ops::Range<usize>, width: usize) -> usize {
    range.start + rng.below((range.len() - width) as u64) as usize
}

#[test]
fn mutated_segments_of_a_real_process_never_break_the_reader() {
    let dir = TestDir::new("fuzz");
    let (measured, image) = source(dir.path());
    let layout = Layout::of(&image);
    let scope_count = u32::from_le_bytes(
        image.bytes[layout.scope_count..layout.scope_count + 4]
            .try_into()
            .unwrap(),
    );
    // The built-ins, the program's 40, and `thread:reader_threads`, which its workers charge
    // outside their scopes (they are not the main thread).
    assert_eq!(scope_count, 3 + 40 + 1, "the scope count word");
    assert!(
        (7..=64).contains(&image.u64_at(layout.high_water)),
        "the high-water word: {}",
        image.u64_at(layout.high_water)
    );
    assert!(layout.blocks.end <= image.bytes.len() + size_of::<ThreadBlock>());
    // Named like the real segment, so the name's pid is checked against the header's.
    let path: PathBuf = dir
        .path()
        .join(format!("fuzz/skull-mem-0-{}", measured.pid()));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    assert_eq!(
        check(
            read_guarded(&segment_of(dir.path(), measured.pid())),
            "original"
        ),
        "OK"
    );

    let mut rng = Rng::seeded(1);
    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    let start = Instant::now();
    let mut iteration = 0u64;
    while start.elapsed() < BUDGET || iteration < 200 {
        iteration += 1;
        let mut bytes = image.bytes.clone();
        bytes.resize(bytes.len().max(layout.blocks.end), 0);
        let mut size = image.size;
        let mut header_touched = false;
        let keep_header = rng.chance(60);
        for _ in 0..1 + rng.below(8) {
            let region = rng.below(100);
            let (range, word) = match region {
                0..=14 if !keep_header => {
                    let (at, width) = HEADER_FIELDS[rng.below(HEADER_FIELDS.len() as u64) as usize];
                    (at..at + width, width)
                }
                15..=29 if !keep_header => (layout.header.clone(), 0),
                0..=9 => (layout.scope_count..layout.scope_count + 4, 4),
                10..=39 => (layout.scopes.clone(), 0),
                40..=49 => (layout.high_water..layout.high_water + 8, 8),
                50..=64 => (layout.slots.clone(), 0),
                65..=89 => (layout.blocks.clone(), 0),
                _ => (0..bytes.len(), 0),
            };
            let width = match word {
                0 => [1, 1, 4, 8][rng.below(4) as usize],
                w => w,
            };
            let at = if word != 0 {
                range.start
            } else {
                pick(&mut rng, &range, width)
            };
            let value = if width == 1 {
                rng.next()
            } else {
                rng.interesting()
            };
            bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
            header_touched |= at < layout.header.end;
        }
        let resized = rng.chance(15);
        if resized {
            size = match rng.below(4) {
                0 => rng.below(size_of::<SegmentHeader>() as u64 + 64),
                1 => rng.below(size),
                2 => size - 1 - rng.below(4096),
                _ => size + 1 + rng.below(65536),
            };
        }
        Image::write_as(&bytes, size, &path, 0o600);
        let what = format!("iteration {iteration} (size {size})");
        let code = check(read_guarded(&path), &what);
        if !header_touched && !resized {
            assert_eq!(code, "OK", "{what}: only counters and tables changed");
        }
        *outcomes.entry(code).or_default() += 1;
    }
    eprintln!(
        "{iteration} mutated segments in {:?}: {outcomes:?}",
        start.elapsed()
    );
    for code in [
        "OK",
        "TRUNCATED",
        "NOT_A_SEGMENT",
        "VERSION_MISMATCH",
        "CORRUPT",
    ] {
        assert!(
            outcomes.get(code).copied().unwrap_or(0) > 0,
            "the fuzz never reached {code}: {outcomes:?}"
        );
    }
}

#[test]
fn random_small_files_are_refused_cleanly() {
    let dir = TestDir::new("fuzzsmall");
    let (measured, image) = source(dir.path());
    let path = dir
        .path()
        .join(format!("small/skull-mem-0-{}", measured.pid()));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let header = size_of::<SegmentHeader>();
    let mut rng = Rng::seeded(2);
    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    let start = Instant::now();
    let mut iteration = 0u64;
    while start.elapsed() < BUDGET / 3 || iteration < 200 {
        iteration += 1;
        let len = rng.below(16384) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        match rng.below(3) {
            0 => {}
            1 if len >= 8 => bytes[..8].copy_from_slice(&MAGIC.to_le_bytes()),
            _ => {
                let n = len.min(header);
                bytes[..n].copy_from_slice(&image.bytes[..n]);
            }
        }
        Image::write_as(&bytes, len as u64, &path, 0o600);
        let code = check(
            read_guarded(&path),
            &format!("small file {iteration} ({len} bytes)"),
        );
        assert_ne!(code, "OK", "a {len}-byte file is no segment");
        *outcomes.entry(code).or_default() += 1;
    }
    eprintln!(
        "{iteration} small files in {:?}: {outcomes:?}",
        start.elapsed()
    );
    assert!(outcomes.contains_key("TRUNCATED") && outcomes.contains_key("NOT_A_SEGMENT"));
}
