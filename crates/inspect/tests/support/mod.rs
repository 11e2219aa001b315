//! Shared helpers of the reader tests: find `libskull_mem.so`, compile the C programs of
//! `tests/c/` with gcc, run them under `LD_PRELOAD` with a segment directory of their own,
//! pause and resume them line by line, and make segment files from a real one.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Mutex;
use std::time::Duration;

use skull_mem_core::counters::{Counter, COUNTER_COUNT};
use skull_mem_core::snapshot::ScopeStats;
use skull_mem_inspect::reader::{self, ReadError, Reading};

/// How long a paused program may take to print its next line.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(60);

pub use skull_mem_test_support::{lib_path, repo_root, TestDir};

/// Compiles `tests/c/<name>.c` (linked with -lskull_mem) once per test binary.
pub fn program(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<(TestDir, HashMap<String, PathBuf>)>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, map) = built.get_or_insert_with(|| (TestDir::new("bin"), HashMap::new()));
    if let Some(exe) = map.get(name) {
        return exe.clone();
    }
    let lib = lib_path();
    let lib_dir = lib.parent().unwrap();
    let root = repo_root();
    let src = root
        .join("crates/inspect/tests/c")
        .join(format!("{name}.c"));
    let exe = dir.path().join(name);
    let out = Command::new("gcc")
        .args([
            "-std=gnu11",
            "-O1",
            "-g",
            "-fno-builtin",
            "-Wall",
            "-Werror",
            "-pthread",
        ])
        .arg("-I")
        .arg(root.join("include"))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-lskull_mem")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc failed for {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    map.insert(name.to_owned(), exe.clone());
    exe
}

/// A preloaded C program that pauses at known points. Killed and reaped when dropped.
pub struct Measured {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub name: String,
}

impl Measured {
    /// Starts `tests/c/<name>.c` with `args` under the preload, its segments in `dir`.
    pub fn start(name: &str, args: &[&str], dir: &Path) -> Measured {
        let exe = program(name);
        let mut cmd = Command::new(&exe);
        cmd.args(args);
        Self::spawn(name, cmd, dir)
    }

    /// Starts `cmd` under the preload with its segments in `dir`.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Measured {
        cmd.env("LD_PRELOAD", lib_path())
            .env("SKULL_MEM_DIR", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Measured {
            child,
            stdin,
            lines,
            name: name.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the program prints; panics after `LINE_TIMEOUT` or at end of output.
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(LINE_TIMEOUT) {
            Ok(line) => line,
            Err(error) => {
                let status = self.child.try_wait();
                panic!(
                    "{}: no output line ({error}); process status: {status:?}",
                    self.name
                )
            }
        }
    }

    /// Waits for the exact line `want`.
    pub fn expect(&mut self, want: &str) {
        let line = self.next_line();
        assert_eq!(line, want, "{}: unexpected output line", self.name);
    }

    /// Sends one line on stdin (resumes a program waiting for it).
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the program's stdin");
        stdin.flush().unwrap();
    }

    /// Waits for the program to exit and asserts it exited with status 0.
    pub fn wait_success(&mut self) {
        self.stdin.take();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "{} exited with {status:?}", self.name);
    }
}

impl Drop for Measured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process that is not measured (no preload), killed and reaped when dropped.
pub struct Plain(pub Child);

impl Plain {
    pub fn sleep() -> Plain {
        Plain::spawn(Command::new("sleep").arg("600"))
    }

    pub fn spawn(cmd: &mut Command) -> Plain {
        let child = cmd
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn a plain process");
        // Let the exec finish, so /proc shows the new image and its command line.
        let pid = child.id();
        let me = std::env::current_exe().ok();
        for _ in 0..1000 {
            // The new image's arguments are set up after its executable.
            let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
            let args = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if exe.is_some() && exe != me && !args.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Plain(child)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One scope of a reading, by name; panics with the scope list when missing.
pub fn scope<'a>(reading: &'a Reading, name: &str) -> &'a ScopeStats {
    reading
        .snapshot
        .scopes
        .iter()
        .find(|scope| scope.name == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = reading
                .snapshot
                .scopes
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            panic!("no scope {name:?}; scopes: {names:?}")
        })
}

/// The full counter array from the listed values; every other counter is zero.
pub fn counters(values: &[(Counter, u64)]) -> [u64; COUNTER_COUNT] {
    let mut all = [0u64; COUNTER_COUNT];
    for &(counter, value) in values {
        all[counter as usize] += value;
    }
    all
}

/// Asserts every counter of `scope`, naming each mismatch.
pub fn assert_counters(scope: &ScopeStats, want: &[u64; COUNTER_COUNT]) {
    let bad: Vec<String> = Counter::ALL
        .iter()
        .filter(|&&c| scope.get(c) != want[c as usize])
        .map(|&c| {
            format!(
                "{}.{}: expected {}, got {}",
                scope.name,
                c.name(),
                want[c as usize],
                scope.get(c)
            )
        })
        .collect();
    assert!(bad.is_empty(), "counter mismatches:\n{}", bad.join("\n"));
}

/// The segment path of a live process of ours.
pub fn segment_of(dir: &Path, pid: u32) -> PathBuf {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    reader::segment_path(dir, uid, pid)
}

/// A copy of a segment: every byte up to the last page that is not zero, and the full size.
/// Sparse: the rest of the file is zero, as in the original.
pub struct Image {
    pub bytes: Vec<u8>,
    pub size: u64,
}

impl Image {
    pub fn of(path: &Path) -> Image {
        let all = fs::read(path).expect("read segment");
        let size = all.len() as u64;
        let last = all.iter().rposition(|&b| b != 0).unwrap_or(0);
        let end = ((last + 4096) & !4095).min(all.len());
        Image {
            bytes: all[..end].to_vec(),
            size,
        }
    }

    /// Writes `bytes` then extends to `size` (sparse), mode 0600 unless told.
    pub fn write_as(bytes: &[u8], size: u64, path: &Path, mode: u32) {
        let _ = fs::remove_file(path);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        let len = (bytes.len() as u64).min(size) as usize;
        file.write_all(&bytes[..len]).expect("write image");
        file.set_len(size).expect("set image length");
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod image");
    }

    pub fn write(&self, path: &Path) {
        Image::write_as(&self.bytes, self.size, path, 0o600);
    }

    pub fn put_u32(&mut self, offset: usize, value: u32) {
        self.bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }

    pub fn put_u64(&mut self, offset: usize, value: u64) {
        self.bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    }

    pub fn u64_at(&self, offset: usize) -> u64 {
        u64::from_le_bytes(self.bytes[offset..offset + 8].try_into().unwrap())
    }
}

/// Asserts the error's code, that its message is one line, and that it contains `words`.
pub fn assert_error(result: Result<Reading, ReadError>, code: &str, words: &[&str]) -> String {
    let error = match result {
        Ok(reading) => panic!(
            "expected {code}, got a reading of pid {} ({} scopes)",
            reading.info.pid,
            reading.snapshot.scopes.len()
        ),
        Err(error) => error,
    };
    let message = error.to_string();
    assert_eq!(error.code(), code, "wrong error: {message}");
    assert!(
        !message.contains('\n') && !message.contains('\r') && !message.is_empty(),
        "the message must be one line: {message:?}"
    );
    for word in words {
        assert!(
            message.contains(word),
            "the message should contain {word:?}: {message}"
        );
    }
    message
}
