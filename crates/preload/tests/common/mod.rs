//! Shared helpers of the integration tests: find `libskull_mem.so`, compile the C programs of
//! `test/c/` with gcc, run them under `LD_PRELOAD`, parse their `key=value` lines and compare
//! the counter deltas with exact expectations.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The counter names of `enum skull_counter`, in order, as the C programs print them.
pub const COUNTERS: [&str; 20] = [
    "ALLOC_BYTES",
    "FREED_BYTES",
    "ALLOC_BLOCKS",
    "FREED_BLOCKS",
    "MALLOC_CALLS",
    "CALLOC_CALLS",
    "REALLOC_CALLS",
    "REALLOCARRAY_CALLS",
    "FREE_CALLS",
    "POSIX_MEMALIGN_CALLS",
    "ALIGNED_ALLOC_CALLS",
    "MEMALIGN_CALLS",
    "VALLOC_CALLS",
    "PVALLOC_CALLS",
    "FAILED_ALLOCS",
    "CROSS_FREED_BLOCKS",
    "CROSS_FREED_BYTES",
    "OVERHEAD_BYTES",
    "OVERHEAD_FREED_BYTES",
    "FOREIGN_FREES",
];

/// `SKULL_SCOPE_INVALID`.
pub const INVALID: i64 = u32::MAX as i64;

/// The header every plain block carries.
pub const HEADER: u64 = 16;

/// Overhead of a block allocated with alignment `align`: the 16-byte header up to 16, else
/// the effective alignment, max(32, next power of two).
pub fn overhead(align: u64) -> u64 {
    if align <= 16 {
        HEADER
    } else {
        align.next_power_of_two().max(32)
    }
}

pub use skull_mem_test_support::{lib_path, repo_root, TestDir};

/// How a C program is linked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `-lskull_mem` with an rpath to the library's directory.
    Skull,
    /// Not linked: the program resolves `skull_*` with dlsym (`SKT_DLSYM`).
    Dlsym,
}

/// A compiled C test program in its own directory.
pub struct Program {
    pub exe: PathBuf,
    _dir: TestDir,
}

/// Compiles `test/c/<name>.c` into a fresh directory.
pub fn compile(name: &str, link: Link) -> Program {
    let lib = lib_path();
    let lib_dir = lib.parent().unwrap().to_path_buf();
    let root = repo_root();
    let dir = TestDir::new(name);
    let exe = dir.path().join(name);
    let src = root.join("test/c").join(format!("{name}.c"));
    let mut cmd = Command::new("gcc");
    cmd.args([
        "-std=gnu11",
        "-O1",
        "-g",
        "-fno-builtin",
        "-Wall",
        "-Wno-alloc-size-larger-than",
        "-pthread",
    ])
    .arg("-I")
    .arg(root.join("include"))
    .arg("-I")
    .arg(root.join("test/c"))
    .arg(&src)
    .arg("-o")
    .arg(&exe);
    if link == Link::Skull {
        cmd.arg(format!("-L{}", lib_dir.display()))
            .arg("-lskull_mem")
            .arg(format!("-Wl,-rpath,{}", lib_dir.display()));
    }
    cmd.arg("-ldl");
    let out = cmd.output().expect("run gcc");
    assert!(
        out.status.success(),
        "gcc failed for {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Program { exe, _dir: dir }
}

/// Where preloaded test processes put their segments: a directory of the test build, so
/// that children ended with `_exit` (which leave theirs) do not litter /dev/shm.
pub fn segment_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("segments");
    std::fs::create_dir_all(&dir).expect("cannot create the segment directory");
    dir
}

/// Runs `exe args` with or without `LD_PRELOAD=libskull_mem.so`.
pub fn run(exe: &Path, args: &[&str], preload: bool) -> Output {
    run_with_env(exe, args, preload, &[])
}

/// `run` with extra environment variables.
pub fn run_with_env(exe: &Path, args: &[&str], preload: bool, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(exe);
    cmd.args(args).envs(env.iter().copied());
    if preload {
        cmd.env("LD_PRELOAD", lib_path())
            .env("SKULL_MEM_DIR", segment_dir());
    } else {
        cmd.env_remove("LD_PRELOAD");
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
}

/// Panics unless the program exited with status 0.
pub fn check_success(what: &str, out: &Output) {
    if !out.status.success() {
        panic!(
            "{what} failed: status {:?} (signal {:?})\n--- stdout (tail)\n{}\n--- stderr\n{}",
            out.status.code(),
            out.status.signal(),
            tail(&String::from_utf8_lossy(&out.stdout), 3000),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        s
    } else {
        let mut start = s.len() - n;
        while !s.is_char_boundary(start) {
            start += 1;
        }
        &s[start..]
    }
}

/// Compiles (linked with -lskull_mem) and runs a program under the preload; returns its
/// parsed output.
pub fn run_c(name: &str, args: &[&str]) -> Vals {
    run_c_with_env(name, args, &[])
}

/// `run_c` with extra environment variables.
pub fn run_c_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Vals {
    let prog = compile(name, Link::Skull);
    let out = run_with_env(&prog.exe, args, true, env);
    check_success(&format!("{name} {args:?}"), &out);
    Vals::parse(&String::from_utf8_lossy(&out.stdout))
}

/// The `key=value` lines of a program's output.
pub struct Vals {
    pub map: BTreeMap<String, String>,
    pub raw: String,
}

impl Vals {
    pub fn parse(s: &str) -> Vals {
        let mut map = BTreeMap::new();
        for line in s.lines() {
            if let Some((k, v)) = line.split_once('=') {
                if !k.is_empty() && !k.contains(' ') {
                    map.insert(k.to_string(), v.to_string());
                }
            }
        }
        Vals {
            map,
            raw: s.to_string(),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn str(&self, key: &str) -> &str {
        match self.map.get(key) {
            Some(v) => v,
            None => panic!(
                "no line `{key}=...` in the program's output; output (tail):\n{}",
                tail(&self.raw, 4000)
            ),
        }
    }

    pub fn i(&self, key: &str) -> i64 {
        let v = self.str(key);
        v.parse()
            .unwrap_or_else(|_| panic!("`{key}={v}` is not an integer"))
    }

    /// Lines whose key starts with `prefix`.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.map
            .iter()
            .filter(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Expected counter values of one scope; counters not listed are expected to be 0.
pub type Expect<'a> = &'a [(&'a str, i64)];

/// Checks every counter of `scope` (lines `PREFIXscope.COUNTER=`) against `expect`, plus
/// USED = ALLOC_BYTES - FREED_BYTES and LIVE = ALLOC_BLOCKS - FREED_BLOCKS. Reports all
/// mismatches at once.
pub fn check_scope(v: &Vals, prefix: &str, scope: &str, expect: Expect) -> Result<(), String> {
    for (name, _) in expect {
        assert!(
            COUNTERS.contains(name),
            "test bug: unknown counter {name} in expectations"
        );
    }
    let want = |c: &str| -> i64 {
        expect
            .iter()
            .find(|(n, _)| *n == c)
            .map(|(_, x)| *x)
            .unwrap_or(0)
    };
    let mut bad = Vec::new();
    for c in COUNTERS {
        let key = format!("{prefix}{scope}.{c}");
        let got = v.i(&key);
        if got != want(c) {
            bad.push(format!("{key}: expected {}, got {got}", want(c)));
        }
    }
    let checks = [
        ("USED", want("ALLOC_BYTES") - want("FREED_BYTES")),
        ("LIVE", want("ALLOC_BLOCKS") - want("FREED_BLOCKS")),
    ];
    for (name, x) in checks {
        let key = format!("{prefix}{scope}.{name}");
        let got = v.i(&key);
        if got != x {
            bad.push(format!("{key}: expected {x}, got {got}"));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}

/// Like [`check_scope`] for several scopes; panics with every mismatch.
pub fn assert_scopes(v: &Vals, prefix: &str, scopes: &[(&str, Expect)]) {
    let errors: Vec<String> = scopes
        .iter()
        .filter_map(|(s, e)| check_scope(v, prefix, s, e).err())
        .collect();
    assert!(
        errors.is_empty(),
        "counter mismatches:\n{}",
        errors.join("\n")
    );
}

/// Asserts that every counter line with `prefix` is 0, except those of the scopes in
/// `except`.
pub fn assert_all_zero_except(v: &Vals, prefix: &str, except: &[&str]) {
    let mut bad = Vec::new();
    for (k, val) in v.with_prefix(prefix) {
        let rest = &k[prefix.len()..];
        let Some((scope, counter)) = rest.rsplit_once('.') else {
            continue;
        };
        if except.contains(&scope) {
            continue;
        }
        if (COUNTERS.contains(&counter) || counter == "USED" || counter == "LIVE") && val != "0" {
            bad.push(format!("{k}: expected 0, got {val}"));
        }
    }
    assert!(
        bad.is_empty(),
        "unexpected counter changes:\n{}",
        bad.join("\n")
    );
}

/// Sum of `f(i)` for i in 0..n.
pub fn sum(n: u64, f: impl Fn(u64) -> u64) -> i64 {
    (0..n).map(f).sum::<u64>() as i64
}
