//! Helpers shared by the integration tests: build the test programs with the system compilers,
//! run them, and read the addresses they print.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use skull_mem_symbolize::{Frame, Lookup, Process, Symbolizer};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Absolute path of a source in `tests/programs` (absolute, so DWARF records it as is).
pub fn source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(name)
}

/// Where built programs go; one directory per test binary, so parallel builds do not collide.
pub fn build_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("symbolize")
        .join(test);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `sources` with `compiler` (`gcc` or `g++`) and `flags` into `output`.
pub fn compile(compiler: &str, sources: &[&str], output: &Path, flags: &[&str]) -> PathBuf {
    let status = Command::new(compiler)
        .args(flags)
        .args(sources.iter().map(|s| source(s)))
        .arg("-o")
        .arg(output)
        .arg("-ldl")
        .status()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(status.success(), "{compiler} {flags:?} {sources:?} failed");
    output.to_path_buf()
}

/// The line of `source` carrying `/* MARK:<mark> */` or `// MARK:<mark>`.
pub fn mark_line(source_name: &str, mark: &str) -> u32 {
    let text = std::fs::read_to_string(source(source_name)).unwrap();
    let needle = format!("MARK:{mark} ");
    let alt = format!("MARK:{mark}");
    let index = text
        .lines()
        .position(|l| l.contains(&needle) || l.trim_end().ends_with(&alt))
        .unwrap_or_else(|| panic!("no MARK:{mark} in {source_name}"));
    index as u32 + 1
}

/// A running test program that printed its addresses and now waits on stdin.
pub struct Target {
    child: Child,
    addresses: HashMap<String, u64>,
}

impl Target {
    /// Starts `program` and reads `name 0xaddress` lines until `ready`.
    pub fn spawn(program: &Path, args: &[&Path]) -> Target {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let mut addresses = HashMap::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if line == "ready" {
                return Target { child, addresses };
            }
            let (name, value) = line.split_once(' ').unwrap();
            let value = u64::from_str_radix(value.trim_start_matches("0x"), 16).unwrap();
            addresses.insert(name.to_string(), value);
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("{} exited before printing ready", program.display());
    }

    /// The address printed under `name`.
    pub fn address(&self, name: &str) -> u64 {
        self.addresses[name]
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process as the symbolizer sees it.
    pub fn process(&self) -> Process {
        Process::attach(self.pid()).unwrap()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A frame expected at a marked line.
pub fn expect(
    function: &str,
    source_name: &str,
    mark: &str,
    inlined: bool,
) -> (String, String, u32, bool) {
    (
        function.to_string(),
        source(source_name).display().to_string(),
        mark_line(source_name, mark),
        inlined,
    )
}

/// The (function, file, line, inlined) of frames, for comparison with `expect`.
pub fn summary(frames: &[Frame]) -> Vec<(String, String, u32, bool)> {
    frames
        .iter()
        .map(|f| {
            (
                f.function.clone().unwrap_or_else(|| "??".into()),
                f.file.clone().unwrap_or_else(|| "??".into()),
                f.line.unwrap_or(0),
                f.inlined,
            )
        })
        .collect()
}

/// Symbolizes one address of `target` with a fresh symbolizer.
pub fn frames_of(target: &Target, name: &str, lookup: Lookup) -> Vec<Frame> {
    Symbolizer::new().symbolize(&target.process(), target.address(name), lookup)
}
