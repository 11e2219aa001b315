//! Where a process's resident memory is, from `/proc/<pid>/status` and `smaps`: what the
//! counters cannot see by themselves. The memory table puts these beside the live malloc
//! bytes to explain the RSS.
//!
//! `smaps` is read line by line through one small buffer, so that a process reading its own
//! figures (the in-process report) allocates little while it measures itself.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// glibc's arena heaps are `HEAP_MAX_SIZE` (64 MiB on 64-bit) reservations, aligned to it.
const ARENA_HEAP_SIZE: u64 = 64 * 1024 * 1024;

/// Resident figures of a process, as `/proc` gives them, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessMemory {
    /// VmRSS.
    pub rss_bytes: u64,
    /// RssAnon: heap, arenas, stacks, JIT and V8 heaps, anonymous mmaps.
    pub anon_bytes: u64,
    /// RssFile: code and mapped files.
    pub file_bytes: u64,
    /// RssShmem: shared memory, including skull-mem's own segment.
    pub shmem_bytes: u64,
    /// Resident in glibc's heap mappings: the brk heap and the per-thread arena heaps.
    pub malloc_heap_bytes: u64,
    /// Resident part of this process's skull-mem segment.
    pub segment_bytes: u64,
}

/// The resident figures with what malloc explains of them (field names stable in `--json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessFigures {
    /// VmRSS.
    pub rss_bytes: u64,
    /// RssAnon.
    pub anon_bytes: u64,
    /// RssFile.
    pub file_bytes: u64,
    /// RssShmem.
    pub shmem_bytes: u64,
    /// Resident in glibc's heap mappings.
    pub malloc_heap_bytes: u64,
    /// Resident part of the skull-mem segment.
    pub segment_bytes: u64,
    /// Resident in glibc's heap mappings beyond live blocks and their headers: memory the
    /// allocator keeps after frees, and fragmentation (a lower bound: large blocks live in
    /// mappings of their own).
    pub malloc_retained_bytes: u64,
    /// Anonymous memory outside glibc's heap mappings: V8/JS heaps, thread stacks, blocks
    /// malloc mapped on their own.
    pub other_anon_bytes: u64,
}

impl ProcessFigures {
    /// `memory` explained by `live_and_headers`, the live bytes and header overhead the
    /// counters report.
    pub fn new(memory: ProcessMemory, live_and_headers: u64) -> ProcessFigures {
        let in_heap = live_and_headers.min(memory.malloc_heap_bytes);
        ProcessFigures {
            rss_bytes: memory.rss_bytes,
            anon_bytes: memory.anon_bytes,
            file_bytes: memory.file_bytes,
            shmem_bytes: memory.shmem_bytes,
            malloc_heap_bytes: memory.malloc_heap_bytes,
            segment_bytes: memory.segment_bytes,
            malloc_retained_bytes: memory.malloc_heap_bytes - in_heap,
            other_anon_bytes: memory.anon_bytes.saturating_sub(memory.malloc_heap_bytes),
        }
    }
}

/// The first `<digits> kB` in `text`, in bytes; 0 when there is none.
fn kib(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let end = start
            + bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        if text[end..].trim_start().starts_with("kB") {
            return text[start..end].parse::<u64>().map_or(0, |kib| kib * 1024);
        }
        start = end;
    }
    0
}

/// One `/proc/<pid>/smaps` mapping with its resident size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// `rw-p` and the like.
    pub perms: String,
    /// The file, `[heap]`, `[stack]`, ... or empty for anonymous memory.
    pub path: String,
    /// Resident bytes.
    pub rss: u64,
}

/// A mapping header line (`start-end perms offset dev inode [path]`), or `None`.
fn mapping_header(line: &str) -> Option<Mapping> {
    let (range, rest) = line.split_once(' ')?;
    let (start, end) = range.split_once('-')?;
    let hex = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| u64::from_str_radix(s, 16).ok())
            .flatten()
    };
    let (start, end) = (hex(start)?, hex(end)?);
    let (perms, rest) = rest.split_once(' ')?;
    if perms.chars().count() != 4 || perms.contains(char::is_whitespace) {
        return None;
    }
    // offset, device and inode: three words, each followed by one space; the path after
    // any further whitespace.
    let mut rest = rest;
    for _ in 0..2 {
        let (word, after) = rest.split_once(' ')?;
        if word.is_empty() {
            return None;
        }
        rest = after;
    }
    let inode_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if inode_len == 0 {
        return None;
    }
    Some(Mapping {
        start,
        end,
        perms: perms.to_owned(),
        path: rest[inode_len..].trim_start().to_owned(),
        rss: 0,
    })
}

/// Parses `smaps` text from `lines` into mappings with their resident size.
pub fn parse_smaps(mut lines: impl BufRead) -> io::Result<Vec<Mapping>> {
    let mut mappings: Vec<Mapping> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(mappings);
        }
        let text = line.strip_suffix('\n').unwrap_or(&line);
        if let Some(mapping) = mapping_header(text) {
            mappings.push(mapping);
        } else if text.starts_with("Rss:") {
            if let Some(last) = mappings.last_mut() {
                last.rss = kib(text);
            }
        }
    }
}

/// Whether `mapping` looks like a glibc arena heap: anonymous, read-write, 64 MiB-aligned,
/// and either the whole reservation or followed by its inaccessible rest.
fn is_arena_heap(mapping: &Mapping, next: Option<&Mapping>) -> bool {
    if !mapping.path.is_empty()
        || mapping.perms != "rw-p"
        || !mapping.start.is_multiple_of(ARENA_HEAP_SIZE)
    {
        return false;
    }
    let size = mapping.end.wrapping_sub(mapping.start);
    if size == ARENA_HEAP_SIZE {
        return true;
    }
    size < ARENA_HEAP_SIZE
        && next.is_some_and(|next| {
            next.start == mapping.end
                && next.perms == "---p"
                && next.path.is_empty()
                && next.end.wrapping_sub(mapping.start) <= ARENA_HEAP_SIZE
        })
}

/// The value of field `name` (`VmRSS`, ...) of `/proc/<pid>/status` text, in bytes.
fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map_or(0, kib)
}

/// The resident figures from `status` text and the `smaps` mappings; `segment` is the
/// process's skull-mem segment file as `smaps` names it.
pub fn process_memory(status: &str, mappings: &[Mapping], segment: &Path) -> ProcessMemory {
    let mut heap = 0;
    let mut segment_bytes = 0;
    for (index, mapping) in mappings.iter().enumerate() {
        if mapping.path == "[heap]" || is_arena_heap(mapping, mappings.get(index + 1)) {
            heap += mapping.rss;
        } else if Path::new(&mapping.path) == segment {
            segment_bytes += mapping.rss;
        }
    }
    ProcessMemory {
        rss_bytes: status_field(status, "VmRSS"),
        anon_bytes: status_field(status, "RssAnon"),
        file_bytes: status_field(status, "RssFile"),
        shmem_bytes: status_field(status, "RssShmem"),
        malloc_heap_bytes: heap,
        segment_bytes,
    }
}

/// Reads the resident figures of `pid`; `segment` is its skull-mem segment file.
pub fn read_process_memory(pid: u32, segment: &Path) -> io::Result<ProcessMemory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let smaps = File::open(format!("/proc/{pid}/smaps"))?;
    let mappings = parse_smaps(BufReader::new(smaps))?;
    Ok(process_memory(&status, &mappings, segment))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0                          [heap]
Rss:                 132 kB
7f0000000000-7f0000400000 rw-p 00000000 00:00 0 
Rss:                4096 kB
7f0000400000-7f0004000000 ---p 00000000 00:00 0 
Rss:                   0 kB
7f1000000000-7f1000100000 rw-p 00000000 00:00 0 
Rss:                  64 kB
7f2000000000-7f2000001000 rw-s 00000000 00:1a 77                         /dev/shm/skull-mem-1-2
Rss:                   8 kB
7f3000000000-7f3000001000 r-xp 00000000 08:01 99                         /usr/lib/with space (deleted)
Rss:                   4 kB
";

    #[test]
    fn smaps_headers_and_resident_sizes_parse() {
        let mappings = parse_smaps(SMAPS.as_bytes()).unwrap();
        assert_eq!(mappings.len(), 6);
        assert_eq!(mappings[0].path, "[heap]");
        assert_eq!(mappings[0].rss, 132 * 1024);
        assert_eq!(mappings[1].path, "");
        assert_eq!(mappings[5].path, "/usr/lib/with space (deleted)");
        assert_eq!(mappings[5].perms, "r-xp");
    }

    #[test]
    fn heap_counts_brk_and_arena_heaps_and_the_segment_apart() {
        let status = "Name:\tx\nVmRSS:\t    5000 kB\nRssAnon:\t    4300 kB\nRssFile:\t 600 kB\nRssShmem:\t 100 kB\n";
        let mappings = parse_smaps(SMAPS.as_bytes()).unwrap();
        let memory = process_memory(status, &mappings, Path::new("/dev/shm/skull-mem-1-2"));
        assert_eq!(
            memory,
            ProcessMemory {
                rss_bytes: 5000 * 1024,
                anon_bytes: 4300 * 1024,
                file_bytes: 600 * 1024,
                shmem_bytes: 100 * 1024,
                // [heap] and the arena heap with its reserved rest; not the unaligned-size map.
                malloc_heap_bytes: (132 + 4096) * 1024,
                segment_bytes: 8 * 1024,
            }
        );
        let figures = ProcessFigures::new(memory, 1000 * 1024);
        assert_eq!(figures.malloc_retained_bytes, (132 + 4096 - 1000) * 1024);
        assert_eq!(figures.other_anon_bytes, (4300 - 132 - 4096) * 1024);
    }

    #[test]
    fn a_missing_field_reads_as_zero() {
        assert_eq!(status_field("VmRSS:\tnone\n", "VmRSS"), 0);
        assert_eq!(status_field("", "RssAnon"), 0);
        assert_eq!(kib("Rss:  12 kB"), 12 * 1024);
    }
}
