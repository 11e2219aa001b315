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
