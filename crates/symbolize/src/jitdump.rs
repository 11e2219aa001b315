//! `jit-<pid>.dump`: the jitdump file `node --perf-prof` writes (V8's `perf-jit.cc`, the format
//! of Linux perf's `jitdump-specification.txt`): a header, then records of compiled code
//! (`JIT_CODE_LOAD`: address, size, name, index), its line table (`JIT_CODE_DEBUG_INFO`, written
//! just before the load it describes) and code moved by the GC (`JIT_CODE_MOVE`).
//!
//! Parsed by hand rather than with `linux-perf-data`: the format is five fixed structures, V8's
//! records need handling at the byte level that crate does not do (the `\xff` repeated-name
//! marker, line addresses shifted by an ELF header, broken records for baseline code), and a
//! reader of files other processes write must not size buffers by the sizes those files claim.
//!
//! Node 20 writes the file into its working directory (V8 11; newer V8 has `--perf-prof-path`)
//! and maps it executable, so that perf sees it: `/proc/<pid>/maps` names it wherever it is.

use crate::frame::{Frame, Jit};
use crate::js_extent::Source;
use crate::maps::Backing;
use crate::perf_map::{split_location, split_name};
use crate::process::Process;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// `JiTD` read as a u32 in the writer's byte order.
const MAGIC: u32 = 0x4a69_5444;
const RECORD_HEADER: usize = 16;
const CODE_LOAD: u32 = 0;
const CODE_MOVE: u32 = 1;
const CODE_DEBUG_INFO: u32 = 2;
/// V8 adds the size of an ELF header to every line-table address, because `perf inject` places
/// each function after one (`entry.address_ = code_start + code_offset + kElfHeaderSize`).
/// Observed with Node 20: the first entry of optimized code is at its start + 0x40.
const V8_ELF_HEADER: u64 = 0x40;

/// One line-table entry: the code from `offset` (from the code's start) to the next entry's
/// is from `line`:`column` of `files[file]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LineEntry {
    offset: u64,
    line: u32,
    column: u32,
    file: usize,
}

/// One piece of compiled code.
#[derive(Debug, Clone)]
struct Code {
    name: String,
    lines: Vec<LineEntry>,
}

/// Where a piece of code lies now: from the key of the range map to `end`, a part of the code
/// starting at `base`.
#[derive(Debug, Clone, Copy)]
struct Range {
    end: u64,
    base: u64,
    code: usize,
}

/// The compiled code of one process, as its jitdump says.
#[derive(Debug, Clone, Default)]
pub struct JitDump {
    module: String,
    files: Vec<String>,
    codes: Vec<Code>,
    /// Disjoint ranges by start; a later record over an address replaces an earlier one.
    ranges: BTreeMap<u64, Range>,
}

impl JitDump {
    /// The jitdump of `process`: the `jit-<pid>.dump` it maps, else the one in its working
    /// directory. `None` when it writes none, or it cannot be read: JIT frames are then named
    /// by the perf map, or not at all.
    pub fn find(process: &Process) -> Option<JitDump> {
        let mapped = process.maps().mappings().iter().find_map(|mapping| {
            let Backing::File { path, .. } = &mapping.backing else {
                return None;
            };
            is_jitdump_name(path.rsplit('/').next()?).then(|| process.file_candidates(mapping))
        });
        let in_cwd = process.pid().map(|pid| {
            let inner = crate::perf_map::namespace_pid(pid).unwrap_or(pid);
            PathBuf::from(format!("/proc/{pid}/cwd/jit-{inner}.dump"))
        });
        let mut dump = mapped
            .unwrap_or_default()
            .into_iter()
            .chain(in_cwd)
            .find_map(|path| Some(JitDump::parse(&path, &std::fs::read(&path).ok()?)))?;
        dump.confine_to_functions(&process.root());
        Some(dump)
    }

    /// Makes each line-table entry of optimized code name a line of the function's own text:
    /// V8 writes the line of the innermost inlined function (under the outer function's
    /// script name), so an entry outside the function's text takes the position of the
    /// function's last entry before it (the call that was inlined). Scripts are read under
    /// `root`, each once; a function whose end is not found keeps V8's entries.
    pub fn confine_to_functions(&mut self, root: &Path) {
        let mut sources: HashMap<String, Option<Source>> = HashMap::new();
        for code in &mut self.codes {
            if code.lines.is_empty() {
                continue;
            }
            let Some((script, start)) = definition(&code.name) else {
                continue;
            };
            let source = sources
                .entry(script.clone())
                .or_insert_with(|| read_script(root, &script));
            let Some(end) = source.as_ref().and_then(|s| s.function_end(start)) else {
                continue;
            };
            let own = |e: &LineEntry| {
                e.line != 0
                    && self.files[e.file] == script
                    && (start..=end).contains(&(e.line, e.column))
            };
            let mut last_own: Option<LineEntry> = None;
            for entry in &mut code.lines {
                if own(entry) {
                    last_own = Some(*entry);
                    continue;
                }
                let offset = entry.offset;
                *entry = match last_own {
                    Some(own) => LineEntry { offset, ..own },
                    // Before any line of its own: nothing is known.
                    None => LineEntry {
                        offset,
                        line: 0,
                        column: 0,
                        file: entry.file,
                    },
                };
            }
        }
    }

    /// Parses the bytes of a jitdump file. A file still being written ends in a cut record,
    /// which is left out; so is everything after a record that does not parse.
    pub fn parse(path: &Path, bytes: &[u8]) -> JitDump {
        let module = path
            .file_name()
            .map_or_else(|| "jitdump".into(), |n| n.to_string_lossy().into_owned());
        let mut dump = JitDump {
            module,
            ..JitDump::default()
        };
        let Some(mut reader) = Reader::header(bytes) else {
            return dump;
        };
        let mut by_index: HashMap<u64, usize> = HashMap::new();
        let mut pending: Option<(u64, Vec<RawEntry>)> = None;
        while let Some((id, body)) = reader.record() {
            match id {
                CODE_LOAD => {
                    let Some(load) = Load::parse(&reader.with(body)) else {
                        break;
                    };
                    let lines = match pending.take() {
                        Some((address, entries)) if address == load.address => {
                            dump.lines(&load, entries)
                        }
                        _ => Vec::new(),
                    };
                    let code = dump.codes.len();
                    dump.codes.push(Code {
                        name: load.name,
                        lines,
                    });
                    by_index.insert(load.index, code);
                    dump.place(load.address, load.size, code);
                }
                CODE_MOVE => {
                    let Some((address, size, index)) = parse_move(&reader.with(body)) else {
                        break;
                    };
                    if let Some(&code) = by_index.get(&index) {
                        dump.place(address, size, code);
                    }
                }
                CODE_DEBUG_INFO => pending = parse_debug_info(&reader.with(body)),
                // Close, unwinding information and kinds added later name no code.
                _ => {}
            }
        }
        dump
    }

    /// Number of code ranges known (a moved or partly overwritten code object may have several).
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether no code is known.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The frame of the code containing `address`: with the line that executes there when V8
    /// wrote a line table for it, else with the line where its function is defined.
    pub fn lookup(&self, address: u64) -> Option<Frame> {
        let (_, range) = self.ranges.range(..=address).next_back()?;
        if address >= range.end {
            return None;
        }
        let code = &self.codes[range.code];
        let offset = address - range.base;
        let (function, script) = split_name(&code.name);
        let entry = code
            .lines
            .partition_point(|e| e.offset <= offset)
            .checked_sub(1)
            .map(|i| code.lines[i]);
        let (file, line, column, jit) = match entry.filter(|e| e.line != 0) {
            Some(e) => (
                Some(self.files[e.file].clone()),
                Some(e.line),
                (e.column != 0).then_some(e.column),
                Some(Jit::Line),
            ),
            None => {
                let (file, line, column) = script.map_or((None, None, None), split_location);
                let jit = line.map(|_| Jit::FunctionLine);
                (file, line, column, jit)
            }
        };
        Some(Frame {
            function: Some(function.to_string()),
            file,
            line,
            column,
            jit,
            ..Frame::unknown(&self.module, offset)
        })
    }

    /// Makes `address..address + size` the code `code`, cutting what earlier records said
    /// was there: V8 reuses the memory of collected code.
    fn place(&mut self, address: u64, size: u64, code: usize) {
        let end = address.saturating_add(size);
        if size == 0 {
            return;
        }
        let overlapping: Vec<u64> = self
            .ranges
            .range(..end)
            .rev()
            .take_while(|(_, r)| r.end > address)
            .map(|(&start, _)| start)
            .collect();
        for start in overlapping {
            let Some(old) = self.ranges.remove(&start) else {
                continue;
            };
            if start < address {
                self.ranges.insert(
                    start,
                    Range {
                        end: address,
                        ..old
                    },
                );
            }
            if old.end > end {
                self.ranges.insert(end, old);
            }
        }
        self.ranges.insert(
            address,
            Range {
                end,
                base: address,
                code,
            },
        );
    }

    /// The line table of the code `load` from the entries of its debug record, or none when
    /// V8's table cannot be trusted.
    fn lines(&mut self, load: &Load, entries: Vec<RawEntry>) -> Vec<LineEntry> {
        let v8 = load.name.starts_with("JS:");
        // For baseline (Sparkplug, tier `^`) code V8 writes the bytecode's source positions,
        // whose offsets are bytecode offsets, and Node 20 writes garbage file names there.
        if v8 && load.name.starts_with("JS:^") {
            return Vec::new();
        }
        let shift = if v8 { V8_ELF_HEADER } else { 0 };
        let mut lines = Vec::with_capacity(entries.len());
        let mut previous: Option<usize> = None;
        for entry in entries {
            let file = match entry.file {
                // V8 writes `\xff` for "the same file as the entry before".
                RawFile::Repeated => previous,
                RawFile::Name(name) => Some(self.file(name)),
                RawFile::Invalid => None,
            };
            let (Some(file), Some(offset)) = (
                file,
                entry
                    .address
                    .checked_sub(load.address)
                    .and_then(|o| o.checked_sub(shift)),
            ) else {
                return Vec::new();
            };
            previous = Some(file);
            lines.push(LineEntry {
                offset,
                line: entry.line,
                column: entry.column,
                file,
            });
        }
        lines.sort_by_key(|e| e.offset);
        lines
    }

    /// The index of file name `name`, added on first use.
    fn file(&mut self, name: String) -> usize {
        match self.files.iter().position(|f| *f == name) {
            Some(index) => index,
            None => {
                self.files.push(name);
                self.files.len() - 1
            }
        }
    }
}

/// The script and the position where the function named `name` is defined
/// (`JS:*leak /srv/app.js:3:21` → `/srv/app.js`, (3, 21)).
fn definition(name: &str) -> Option<(String, (u32, u32))> {
    let (_, script) = split_name(name);
    match split_location(script?) {
        (Some(file), Some(line), Some(column)) => Some((file, (line, column))),
        _ => None,
    }
}

/// The text of the script at `path` (a path, or a `file://` URL of an ES module) as the
/// process sees it.
fn read_script(root: &Path, path: &str) -> Option<Source> {
    let path = path.strip_prefix("file://").unwrap_or(path);
    if !path.starts_with('/') {
        return None;
    }
    let inside = root.join(path.trim_start_matches('/'));
    let text = std::fs::read_to_string(inside)
        .or_else(|_| std::fs::read_to_string(path))
        .ok()?;
    Some(Source::new(&text))
}

/// `jit-<digits>.dump`.
fn is_jitdump_name(name: &str) -> bool {
    name.strip_prefix("jit-")
        .and_then(|rest| rest.strip_suffix(".dump"))
        .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// A `JIT_CODE_LOAD` record.
struct Load {
    address: u64,
    size: u64,
    index: u64,
    name: String,
}

impl Load {
    fn parse(r: &Reader) -> Option<Load> {
        let mut at = 8; // pid, tid
        let _vma = r.u64(&mut at)?;
        let address = r.u64(&mut at)?;
        let size = r.u64(&mut at)?;
        let index = r.u64(&mut at)?;
        let name = r.string(&mut at)?;
        Some(Load {
            address,
            size,
            index,
            name: String::from_utf8_lossy(name).into_owned(),
        })
    }
}

/// A `JIT_CODE_MOVE` record: the new address, the size and the index of the code.
fn parse_move(r: &Reader) -> Option<(u64, u64, u64)> {
    let mut at = 8; // pid, tid
    let _vma = r.u64(&mut at)?;
    let _old = r.u64(&mut at)?;
    let new = r.u64(&mut at)?;
    let size = r.u64(&mut at)?;
    let index = r.u64(&mut at)?;
    Some((new, size, index))
}

/// The file of a line-table entry as written.
enum RawFile {
    Name(String),
    Repeated,
    Invalid,
}

/// A line-table entry as written.
struct RawEntry {
    address: u64,
    line: u32,
    column: u32,
    file: RawFile,
}

/// A `JIT_CODE_DEBUG_INFO` record: the code address it describes and its entries; `None`
/// when it does not parse (it then describes no code).
fn parse_debug_info(r: &Reader) -> Option<(u64, Vec<RawEntry>)> {
    let mut at = 0;
    let address = r.u64(&mut at)?;
    let count = r.u64(&mut at)?;
    // Each entry takes at least 17 bytes: no count the record cannot hold is believed.
    if count > (r.bytes.len() / 17) as u64 {
        return None;
    }
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let entry_address = r.u64(&mut at)?;
        let line = r.u32(&mut at)?;
        let column = r.u32(&mut at)?;
        let name = r.string(&mut at)?;
        let file = match name {
            [0xff] => RawFile::Repeated,
            _ => match std::str::from_utf8(name) {
                Ok(name) if !name.is_empty() => RawFile::Name(name.to_string()),
                _ => RawFile::Invalid,
            },
        };
        entries.push(RawEntry {
            address: entry_address,
            line,
            column,
            file,
        });
    }
    Some((address, entries))
}

/// Reads numbers in the byte order of the file's writer.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    little: bool,
}

impl<'a> Reader<'a> {
    /// A reader at the first record of `bytes`; `None` if it is no jitdump.
    fn header(bytes: &'a [u8]) -> Option<Reader<'a>> {
        let magic: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        let little = if u32::from_le_bytes(magic) == MAGIC {
            true
        } else if u32::from_be_bytes(magic) == MAGIC {
            false
        } else {
            return None;
        };
        let mut reader = Reader {
            bytes,
            at: 0,
            little,
        };
        reader.at = reader.u32(&mut 8)? as usize;
        Some(reader)
    }

    /// The same byte order over other bytes.
    fn with(&self, bytes: &'a [u8]) -> Reader<'a> {
        Reader {
            bytes,
            at: 0,
            little: self.little,
        }
    }

    /// The next whole record: its kind and its body.
    fn record(&mut self) -> Option<(u32, &'a [u8])> {
        let mut at = self.at;
        let id = self.u32(&mut at)?;
        let size = self.u32(&mut at)? as usize;
        let end = self.at.checked_add(size)?;
        if size < RECORD_HEADER || end > self.bytes.len() {
            return None;
        }
        let body = &self.bytes[self.at + RECORD_HEADER..end];
        self.at = end;
        Some((id, body))
    }

    fn u32(&self, at: &mut usize) -> Option<u32> {
        let raw: [u8; 4] = self.bytes.get(*at..at.checked_add(4)?)?.try_into().ok()?;
        *at += 4;
        Some(if self.little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    }

    fn u64(&self, at: &mut usize) -> Option<u64> {
        let raw: [u8; 8] = self.bytes.get(*at..at.checked_add(8)?)?.try_into().ok()?;
        *at += 8;
        Some(if self.little {
            u64::from_le_bytes(raw)
        } else {
            u64::from_be_bytes(raw)
        })
    }

    /// A NUL-terminated string, without its NUL.
    fn string(&self, at: &mut usize) -> Option<&'a [u8]> {
        let rest = self.bytes.get(*at..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        *at += len + 1;
        Some(&rest[..len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes jitdump records as V8 does (little-endian, x86-64).
    struct Writer(Vec<u8>);

    impl Writer {
        fn new() -> Writer {
            let mut header = Vec::new();
            for word in [MAGIC, 1, 40, 62, 0, 42] {
                header.extend(word.to_le_bytes());
            }
            header.extend([0; 16]); // timestamp, flags
            Writer(header)
        }

        fn record(&mut self, id: u32, body: &[u8]) {
            self.0.extend(id.to_le_bytes());
            self.0
                .extend(((RECORD_HEADER + body.len()) as u32).to_le_bytes());
            self.0.extend(0u64.to_le_bytes());
            self.0.extend(body);
        }

        fn load(&mut self, address: u64, size: u64, index: u64, name: &str) {
            let mut body = vec![0; 8];
            for word in [address, address, size, index] {
                body.extend(word.to_le_bytes());
            }
            body.extend(name.as_bytes());
            body.push(0);
            body.extend(vec![0xcc; size as usize]);
            self.record(CODE_LOAD, &body);
        }

        fn moved(&mut self, old: u64, new: u64, size: u64, index: u64) {
            let mut body = vec![0; 8];
            for word in [new, old, new, size, index] {
                body.extend(word.to_le_bytes());
            }
            self.record(CODE_MOVE, &body);
        }

        /// Entries at V8's addresses: code offset + 0x40.
        fn debug(&mut self, address: u64, entries: &[(u64, u32, u32, &[u8])]) {
            let mut body = Vec::new();
            body.extend(address.to_le_bytes());
            body.extend((entries.len() as u64).to_le_bytes());
            for &(offset, line, column, file) in entries {
                body.extend((address + V8_ELF_HEADER + offset).to_le_bytes());
                body.extend(line.to_le_bytes());
                body.extend(column.to_le_bytes());
                body.extend(file);
                body.push(0);
            }
            self.record(CODE_DEBUG_INFO, &body);
        }
    }

    fn at(dump: &JitDump, address: u64) -> (String, Option<String>, Option<u32>, Option<Jit>) {
        let frame = dump.lookup(address).unwrap();
        (frame.function.unwrap(), frame.file, frame.line, frame.jit)
    }

    const APP: &[u8] = b"/srv/app.js";

    #[test]
    fn names_the_line_executing_from_the_line_table_and_the_function_line_without_one() {
        let mut w = Writer::new();
        w.load(0x1000, 0x100, 1, "JS:~leak /srv/app.js:3:21");
        w.debug(
            0x2000,
            &[(0, 3, 21, APP), (0x10, 7, 5, b"\xff"), (0x40, 9, 3, APP)],
        );
        w.load(0x2000, 0x100, 2, "JS:*leak /srv/app.js:3:21");
        // Baseline code: V8 writes bytecode offsets and (Node 20) garbage names.
        w.debug(0x3000, &[(0, 4, 15, b"\x5a\xdd")]);
        w.load(0x3000, 0x100, 3, "JS:^leak /srv/app.js:3:21");
        let dump = JitDump::parse(Path::new("/srv/jit-42.dump"), &w.0);
        assert_eq!(dump.len(), 3);
        let line = |l| (Some("/srv/app.js".to_string()), Some(l));
        let (function, file, l, jit) = at(&dump, 0x2000 + 0x20);
        assert_eq!(
            (function.as_str(), (file, l), jit),
            ("JS:*leak", line(7), Some(Jit::Line))
        );
        assert_eq!(at(&dump, 0x2000 + 0x0f).2, Some(3));
        assert_eq!(at(&dump, 0x2000 + 0xff).2, Some(9));
        for interpreted_or_baseline in [0x1080, 0x3010] {
            let (_, file, l, jit) = at(&dump, interpreted_or_baseline);
            assert_eq!(((file, l), jit), (line(3), Some(Jit::FunctionLine)));
        }
        assert_eq!(dump.lookup(0x2000).unwrap().module, "jit-42.dump");
        assert!(dump.lookup(0x2100).is_none());
        assert!(dump.lookup(0xfff).is_none());
    }

    #[test]
    fn the_newest_code_over_an_address_wins_and_moved_code_keeps_its_lines() {
        let mut w = Writer::new();
        w.debug(0x1000, &[(0, 5, 1, APP)]);
        w.load(0x1000, 0x300, 1, "JS:*old /srv/app.js:4:9");
        // Collected, and its middle reused by a smaller function.
        w.load(0x1100, 0x80, 2, "JS:*new /srv/app.js:20:9");
        w.debug(0x5000, &[(0, 30, 1, APP), (0x20, 31, 1, APP)]);
        w.load(0x5000, 0x40, 3, "JS:*moving /srv/app.js:29:9");
        w.moved(0x5000, 0x9000, 0x40, 3);
        let dump = JitDump::parse(Path::new("jit-42.dump"), &w.0);
        assert_eq!(at(&dump, 0x1050).0, "JS:*old");
        assert_eq!(at(&dump, 0x1100).0, "JS:*new");
        assert_eq!(at(&dump, 0x117f).0, "JS:*new");
        assert_eq!(at(&dump, 0x1180).0, "JS:*old");
        assert_eq!(at(&dump, 0x12ff).2, Some(5));
        assert_eq!(at(&dump, 0x9021).2, Some(31));
        assert_eq!(at(&dump, 0x9001).2, Some(30));
    }

    #[test]
    fn a_record_still_being_written_and_foreign_bytes_are_left_out() {
        let mut w = Writer::new();
        w.load(0x1000, 0x10, 1, "JS:*done /srv/app.js:1:1");
        w.load(0x2000, 0x10, 2, "JS:*cut /srv/app.js:9:1");
        let cut = w.0.len() - 5;
        let dump = JitDump::parse(Path::new("jit-42.dump"), &w.0[..cut]);
        assert_eq!(dump.len(), 1);
        assert_eq!(at(&dump, 0x1000).0, "JS:*done");
        assert!(JitDump::parse(Path::new("x"), b"not a jitdump at all").is_empty());
        assert!(JitDump::parse(Path::new("x"), &w.0[..20]).is_empty());
        // A debug record claiming more entries than it holds describes nothing.
        let mut lying = Writer::new();
        let mut body = 0x1000u64.to_le_bytes().to_vec();
        body.extend(u64::MAX.to_le_bytes());
        lying.record(CODE_DEBUG_INFO, &body);
        lying.load(0x1000, 0x10, 1, "JS:*f /srv/app.js:1:1");
        let dump = JitDump::parse(Path::new("x"), &lying.0);
        assert_eq!(at(&dump, 0x1001).3, Some(Jit::FunctionLine));
    }

    #[test]
    fn lines_of_inlined_functions_become_the_inlining_call_when_the_script_is_readable() {
        let dir = std::env::temp_dir().join(format!("skull-jitdump-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("app.js");
        std::fs::write(&script, "\nfunction f(n) {\n  return g(n);\n}\n").unwrap();
        let path = script.to_str().unwrap();
        let mut w = Writer::new();
        // g's line 9 is outside f (lines 2 to 4): V8 wrote the inlined function's line.
        let file = path.as_bytes();
        w.debug(
            0x1000,
            &[(0, 2, 11, file), (0x10, 3, 10, file), (0x20, 9, 3, file)],
        );
        w.load(0x1000, 0x40, 1, &format!("JS:*f {path}:2:11"));
        let mut dump = JitDump::parse(Path::new("jit-42.dump"), &w.0);
        assert_eq!(at(&dump, 0x1021).2, Some(9));
        dump.confine_to_functions(Path::new("/"));
        assert_eq!(at(&dump, 0x1021).2, Some(3));
        assert_eq!(at(&dump, 0x1001).2, Some(2));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_jit_dump_names_are_taken_from_the_maps() {
        assert!(is_jitdump_name("jit-1234.dump"));
        assert!(!is_jitdump_name("jit-.dump"));
        assert!(!is_jitdump_name("jit-12a.dump"));
        assert!(!is_jitdump_name("perf-1234.map"));
    }
}
