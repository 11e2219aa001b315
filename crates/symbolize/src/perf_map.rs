//! `/tmp/perf-<pid>.map`: the names of JIT-compiled code, as written by
//! `node --perf-basic-prof` (V8), one `START SIZE name` line (hex, no `0x`) per code object.
//!
//! Node 20 writes names like `JS:*hotLeak /srv/app.js:1:17`: a tag (`JS`, `Builtin`, ...), a
//! tier marker (`~` interpreted, `^` baseline, `+` Maglev, `*` optimized), the function name,
//! then the script and the line:column where the function is defined.

use crate::error::Error;
use crate::frame::{Frame, Jit};
use std::path::{Path, PathBuf};

/// One code object.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    start: u64,
    size: u64,
    name: String,
}

/// The JIT code objects of one process.
#[derive(Debug, Clone, Default)]
pub struct PerfMap {
    path: PathBuf,
    entries: Vec<Entry>,
}

impl PerfMap {
    /// Reads the perf map of `pid`; `Ok(None)` when the process writes none. A process in a
    /// container writes it to its own `/tmp` under its pid in its namespace, so that file,
    /// reached through `/proc/<pid>/root`, is tried before `/tmp/perf-<pid>.map`.
    pub fn read(pid: u32) -> Result<Option<PerfMap>, Error> {
        let inner = namespace_pid(pid).unwrap_or(pid);
        let inside = PathBuf::from(format!("/proc/{pid}/root/tmp/perf-{inner}.map"));
        if let Ok(text) = std::fs::read_to_string(&inside) {
            return Ok(Some(PerfMap::parse(&inside, &text)));
        }
        let path = PathBuf::from(format!("/tmp/perf-{pid}.map"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(PerfMap::parse(&path, &text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io {
                path,
                message: e.to_string(),
            }),
        }
    }

    /// Parses perf map text. Lines that do not parse are skipped: the file is appended to while
    /// the process runs, so its last line may be cut short.
    pub fn parse(path: &Path, text: &str) -> PerfMap {
        let mut entries: Vec<Entry> = text.lines().filter_map(parse_line).collect();
        // V8 reuses freed code space; a later line for the same start describes the live code,
        // so keep the last one written (the stable sort keeps file order among equal starts).
        entries.sort_by_key(|e| e.start);
        let mut live: Vec<Entry> = Vec::with_capacity(entries.len());
        for entry in entries {
            match live.last_mut() {
                Some(last) if last.start == entry.start => *last = entry,
                _ => live.push(entry),
            }
        }
        PerfMap {
            path: path.to_path_buf(),
            entries: live,
        }
    }

    /// Number of code objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The frame of the code object containing `address`.
    pub fn lookup(&self, address: u64) -> Option<Frame> {
        let after = self.entries.partition_point(|e| e.start <= address);
        let entry = self.entries[..after].last()?;
        if address - entry.start >= entry.size {
            return None;
        }
        let module = self
            .path
            .file_name()
            .map_or_else(|| "perf map".into(), |n| n.to_string_lossy().into_owned());
        let (function, script) = split_name(&entry.name);
        let (file, line, column) = script.map_or((None, None, None), split_location);
        Some(Frame {
            function: Some(function.to_string()),
            file,
            line,
            column,
            // A perf map knows only where a function is defined.
            jit: line.map(|_| Jit::FunctionLine),
            ..Frame::unknown(&module, address - entry.start)
        })
    }
}

/// The pid of `pid` in its own (innermost) pid namespace: the last `NSpid:` field.
pub(crate) fn namespace_pid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn parse_line(line: &str) -> Option<Entry> {
    let (start, rest) = line.split_once(' ')?;
    let (size, name) = rest.split_once(' ')?;
    Some(Entry {
        start: u64::from_str_radix(start, 16).ok()?,
        size: u64::from_str_radix(size, 16).ok()?,
        name: name.trim_end().to_string(),
    })
}

/// `JS:*leak /app.js:1:17` → (`JS:*leak`, `/app.js:1:17`). V8 puts one space between the name
/// and the script; script paths may themselves contain spaces, function names do not.
pub(crate) fn split_name(name: &str) -> (&str, Option<&str>) {
    match name.split_once(' ') {
        Some((function, script)) if !script.is_empty() => (function, Some(script)),
        _ => (name, None),
    }
}

/// `/app.js:12:3` → (`/app.js`, 12, 3); a script without a position stays whole.
pub(crate) fn split_location(script: &str) -> (Option<String>, Option<u32>, Option<u32>) {
    let parts = script.rsplit_once(':').and_then(|(head, column)| {
        let (file, line) = head.rsplit_once(':')?;
        Some((file, line.parse().ok()?, column.parse().ok()?))
    });
    match parts {
        Some((file, line, column)) => (Some(file.to_string()), Some(line), Some(column)),
        None => (Some(script.to_string()), None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "\
18c4000 300 Builtin:DeoptimizationEntry_Eager
7f978b7c5b80 1cc JS:*hotLeak /srv/my app/app.js:1:17
7f978b7c67c0 11c JS:^hotLeak file:///srv/app.mjs:4:2
7f978b7c67c0 20 JS:~replaced /srv/app.js:9:1
7f978b7c7000 10 JS:~ /srv/app.js:20:5
7f978b7c8000 zz cut sho";

    #[test]
    fn names_jit_code_with_script_line_and_column() {
        let map = PerfMap::parse(Path::new("/tmp/perf-42.map"), MAP);
        assert_eq!(map.len(), 4);
        let frame = map.lookup(0x7f978b7c5b81).unwrap();
        assert_eq!(frame.function.as_deref(), Some("JS:*hotLeak"));
        assert_eq!(frame.file.as_deref(), Some("/srv/my app/app.js"));
        assert_eq!((frame.line, frame.column), (Some(1), Some(17)));
        assert_eq!(frame.module, "perf-42.map");
        assert_eq!(
            frame.to_string(),
            "JS:*hotLeak at /srv/my app/app.js:1 (perf-42.map)"
        );
        let builtin = map.lookup(0x18c4010).unwrap();
        assert_eq!(
            builtin.function.as_deref(),
            Some("Builtin:DeoptimizationEntry_Eager")
        );
        assert_eq!(builtin.file, None);
        let anonymous = map.lookup(0x7f978b7c7000).unwrap();
        assert_eq!(anonymous.function.as_deref(), Some("JS:~"));
        assert_eq!(anonymous.line, Some(20));
    }

    #[test]
    fn the_last_entry_written_for_reused_code_space_wins() {
        let map = PerfMap::parse(Path::new("/tmp/perf-42.map"), MAP);
        let frame = map.lookup(0x7f978b7c67c0).unwrap();
        assert_eq!(frame.function.as_deref(), Some("JS:~replaced"));
        assert!(map.lookup(0x7f978b7c67c0 + 0x20).is_none());
    }

    #[test]
    fn addresses_outside_every_entry_find_nothing() {
        let map = PerfMap::parse(Path::new("/tmp/perf-42.map"), MAP);
        assert!(map.lookup(0).is_none());
        assert!(map.lookup(0x18c4300).is_none());
        assert!(map.lookup(u64::MAX).is_none());
    }
}
