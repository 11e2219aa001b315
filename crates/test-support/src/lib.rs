//! What the integration tests of the skull-mem crates share: where the repository and the
//! built `libskull_mem.so` are, and a directory of its own for each test.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The running test binary's profile directory (`target/<profile>/`; the binary is in its
/// `deps/`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("profile dir")
        .to_path_buf()
}

/// `libskull_mem.so`: `$SKULL_MEM_LIB`, else the one in the test binary's profile directory,
/// else `target/release/`.
pub fn lib_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SKULL_MEM_LIB") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "SKULL_MEM_LIB={} is not a file", p.display());
        return p;
    }
    let profile_dir = profile_dir();
    let target_dir = profile_dir.parent().expect("target dir");
    let candidates = [
        profile_dir.join("libskull_mem.so"),
        target_dir.join("release").join("libskull_mem.so"),
    ];
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "libskull_mem.so not found (looked at {} and {}): build it first with \
         `cargo build --release --workspace` (or `cargo build --release -p skull-mem-preload`), \
         then run `cargo test --release`",
        candidates[0].display(),
        candidates[1].display()
    );
}

/// A fresh directory of its own for one test, under the target directory's `tmp/`, removed
/// when dropped. Traversable by other users (mode 0755), for the tests that read as uid 65534.
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = profile_dir().parent().expect("target dir").join("tmp");
        let dir = base.join(format!("skull-test-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create test dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod test dir");
        TestDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The lines of the memory table's RSS summary, whose figures are pages resident in the
/// process rather than counted by skull-mem.
const RESIDENT_LINES: [&str; 6] = [
    "Process RSS",
    "  glibc heap mappings",
    "    live blocks and headers",
    "    retained by malloc (at least)",
    "  other anonymous memory",
    "    of it live large blocks (about)",
];

/// How far a resident figure of a process's own report may be from the outside reading:
/// the report gives its last freed blocks back to glibc after its last `/proc` reading, and
/// glibc may touch a heap page doing so (measured: 4 KiB in 1 of 3 CI runs, else 0).
const RESIDENT_SLACK: u64 = 8192;

/// Asserts that a process's own memory table (`inside`) is the table read from outside:
/// every line byte for byte, except that the resident figures of the RSS summary may be up
/// to `RESIDENT_SLACK` apart (the rest of such a line still byte for byte).
pub fn assert_same_memory_table(inside: &str, outside: &str) {
    let (ins, outs): (Vec<&str>, Vec<&str>) = (inside.lines().collect(), outside.lines().collect());
    assert_eq!(
        ins.len(),
        outs.len(),
        "inside:\n{inside}\noutside:\n{outside}"
    );
    for (a, b) in ins.iter().zip(&outs) {
        let resident = RESIDENT_LINES.iter().any(|label| a.starts_with(label));
        if !resident || a == b {
            assert_eq!(a, b, "inside:\n{inside}\noutside:\n{outside}");
            continue;
        }
        let bytes = |line: &str| -> u64 {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words
                .iter()
                .position(|w| *w == "bytes")
                .expect("a figure in bytes");
            words[at - 1].parse().expect("a whole number of bytes")
        };
        assert!(
            bytes(a).abs_diff(bytes(b)) <= RESIDENT_SLACK,
            "{a:?} and {b:?} are more than {RESIDENT_SLACK} bytes apart\ninside:\n{inside}\noutside:\n{outside}"
        );
        let prefix = |line: &str| {
            line[..line.find(|c: char| c.is_ascii_digit()).unwrap_or(0)]
                .trim_end()
                .to_owned()
        };
        assert_eq!(
            prefix(a),
            prefix(b),
            "inside:\n{inside}\noutside:\n{outside}"
        );
    }
    assert_eq!(inside.ends_with('\n'), outside.ends_with('\n'));
}

/// Waits until process `pid` is stopped by a signal (state `T` in `/proc/<pid>/stat`), for
/// at most a minute.
pub fn wait_stopped(pid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("the program runs");
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim().chars().next());
        if state == Some('T') {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} never stopped"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
