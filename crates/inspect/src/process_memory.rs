//! Where a process's resident memory is, from `/proc/<pid>/status` and `smaps`: what the
//! counters cannot see by themselves. The memory table puts these beside the live malloc
//! bytes to explain the RSS.
//!
//! Both are read through fixed buffers on the stack, so that a process reading its own
//! figures (the in-process report) does not move them by reading.

use std::fs::File;
use std::io::{self, Read};
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
fn kib(text: &[u8]) -> u64 {
    let mut start = 0;
    while start < text.len() {
        if !text[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let digits = text[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = start + digits;
        if text[end..].trim_ascii_start().starts_with(b"kB") {
            return text[start..end]
                .iter()
                .try_fold(0u64, |n, &d| {
                    n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                })
                .map_or(0, |kib| kib.saturating_mul(1024));
        }
        start = end;
    }
    0
}

/// What decides where a `smaps` mapping's resident bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mapping {
    start: u64,
    end: u64,
    /// Anonymous (no path).
    anonymous: bool,
    /// `rw-p`.
    private_rw: bool,
    /// `---p`.
    reserved: bool,
    /// `[heap]`.
    brk_heap: bool,
    /// The skull-mem segment.
    segment: bool,
    rss: u64,
}

/// A mapping header line (`start-end perms offset dev inode [path]`), or `None`.
fn mapping_header(line: &[u8], segment: &[u8]) -> Option<Mapping> {
    let hex = |s: &[u8]| -> Option<u64> {
        if s.is_empty() || !s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        u64::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok()
    };
    let word_end = |s: &[u8]| s.iter().position(|&b| b == b' ');
    let range_end = word_end(line)?;
    let (range, rest) = (&line[..range_end], &line[range_end + 1..]);
    let dash = range.iter().position(|&b| b == b'-')?;
    let (start, end) = (hex(&range[..dash])?, hex(&range[dash + 1..])?);
    let perms = rest.get(..4)?;
    if perms.iter().any(u8::is_ascii_whitespace) || rest.get(4) != Some(&b' ') {
        return None;
    }
    // Offset and device, each followed by one space; then the inode, then the path after
    // any further whitespace.
    let mut rest = &rest[5..];
    for _ in 0..2 {
        let end = word_end(rest).filter(|&end| end > 0)?;
        rest = &rest[end + 1..];
    }
    let inode_len = rest
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(rest.len());
    if inode_len == 0 {
        return None;
    }
    let path = rest[inode_len..].trim_ascii_start();
    Some(Mapping {
        start,
        end,
        anonymous: path.is_empty(),
        private_rw: perms == b"rw-p",
        reserved: perms == b"---p",
        brk_heap: path == b"[heap]",
        segment: path == segment,
        rss: 0,
    })
}

/// Whether `mapping` looks like a glibc arena heap: anonymous, read-write, 64 MiB-aligned,
/// and either the whole reservation or followed by its inaccessible rest.
fn is_arena_heap(mapping: &Mapping, next: Option<&Mapping>) -> bool {
    if !mapping.anonymous || !mapping.private_rw || !mapping.start.is_multiple_of(ARENA_HEAP_SIZE) {
        return false;
    }
    let size = mapping.end.wrapping_sub(mapping.start);
    if size == ARENA_HEAP_SIZE {
        return true;
    }
    size < ARENA_HEAP_SIZE
        && next.is_some_and(|next| {
            next.start == mapping.end
                && next.reserved
                && next.anonymous
                && next.end.wrapping_sub(mapping.start) <= ARENA_HEAP_SIZE
        })
}

/// Sums `smaps` line by line, deciding each mapping once the next one is known (an arena
/// heap is recognised by the reservation that follows it).
struct SmapsSums<'a> {
    segment: &'a [u8],
    pending: Option<Mapping>,
    heap: u64,
    segment_bytes: u64,
}

impl SmapsSums<'_> {
    fn settle(&mut self, next: Option<&Mapping>) {
        if let Some(mapping) = self.pending.take() {
            if mapping.brk_heap || is_arena_heap(&mapping, next) {
                self.heap += mapping.rss;
            } else if mapping.segment {
                self.segment_bytes += mapping.rss;
            }
        }
    }

    fn line(&mut self, line: &[u8]) {
        if let Some(mapping) = mapping_header(line, self.segment) {
            self.settle(Some(&mapping));
            self.pending = Some(mapping);
        } else if line.starts_with(b"Rss:") {
            if let Some(mapping) = self.pending.as_mut() {
                mapping.rss = kib(line);
            }
        }
    }
}

/// The fields of `/proc/<pid>/status` the figures take, each from its first line.
#[derive(Default)]
struct StatusFields {
    rss: Option<u64>,
    anon: Option<u64>,
    file: Option<u64>,
    shmem: Option<u64>,
}

impl StatusFields {
    fn line(&mut self, line: &[u8]) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return;
        };
        let field = match &line[..colon] {
            b"VmRSS" => &mut self.rss,
            b"RssAnon" => &mut self.anon,
            b"RssFile" => &mut self.file,
            b"RssShmem" => &mut self.shmem,
            _ => return,
        };
        field.get_or_insert_with(|| kib(&line[colon + 1..]));
    }
}

/// The resident figures from `status` text and `smaps` text; `segment` is the process's
/// skull-mem segment file as `smaps` names it.
pub fn process_memory(status: &[u8], smaps: &[u8], segment: &Path) -> ProcessMemory {
    let mut fields = StatusFields::default();
    status
        .split(|&b| b == b'\n')
        .for_each(|line| fields.line(line));
    let mut sums = sums(segment);
    smaps
        .split(|&b| b == b'\n')
        .for_each(|line| sums.line(line));
    figures(fields, sums)
}

fn sums(segment: &Path) -> SmapsSums<'_> {
    SmapsSums {
        segment: segment.as_os_str().as_encoded_bytes(),
        pending: None,
        heap: 0,
        segment_bytes: 0,
    }
}

fn figures(status: StatusFields, mut sums: SmapsSums) -> ProcessMemory {
    sums.settle(None);
    ProcessMemory {
        rss_bytes: status.rss.unwrap_or(0),
        anon_bytes: status.anon.unwrap_or(0),
        file_bytes: status.file.unwrap_or(0),
        shmem_bytes: status.shmem.unwrap_or(0),
        malloc_heap_bytes: sums.heap,
        segment_bytes: sums.segment_bytes,
    }
}

/// Calls `line` with every line of `file`, read through `buf` (a line longer than `buf`
/// comes in pieces; no `smaps` or `status` line is that long).
fn for_each_line(mut file: File, buf: &mut [u8], mut line: impl FnMut(&[u8])) -> io::Result<()> {
    let mut filled = 0;
    loop {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            if filled > 0 {
                line(&buf[..filled]);
            }
            return Ok(());
        }
        filled += n;
        let mut start = 0;
        while let Some(end) = buf[start..filled].iter().position(|&b| b == b'\n') {
            line(&buf[start..start + end]);
            start += end + 1;
        }
        if start == 0 && filled == buf.len() {
            line(&buf[..filled]);
            filled = 0;
        } else {
            buf.copy_within(start..filled, 0);
            filled -= start;
        }
    }
}

/// Reads the resident figures of `pid`; `segment` is its skull-mem segment file. Allocates
/// nothing but the paths: the lines go through buffers on the stack, so that a process
/// reading its own figures does not change them by reading.
pub fn read_process_memory(pid: u32, segment: &Path) -> io::Result<ProcessMemory> {
    let mut buf = [0u8; 8192];
    let mut status = StatusFields::default();
    for_each_line(
        File::open(format!("/proc/{pid}/status"))?,
        &mut buf,
        |line| status.line(line),
    )?;
    let mut sums = sums(segment);
    for_each_line(
        File::open(format!("/proc/{pid}/smaps"))?,
        &mut buf,
        |line| sums.line(line),
    )?;
    Ok(figures(status, sums))
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
    fn heap_counts_brk_and_arena_heaps_and_the_segment_apart() {
        let status = "Name:\tx\nVmRSS:\t    5000 kB\nRssAnon:\t    4300 kB\nRssFile:\t 600 kB\nRssShmem:\t 100 kB\n";
        let memory = process_memory(
            status.as_bytes(),
            SMAPS.as_bytes(),
            Path::new("/dev/shm/skull-mem-1-2"),
        );
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
    fn lines_read_through_a_small_buffer_sum_the_same() {
        let path = std::env::temp_dir().join(format!("skull-smaps-{}", std::process::id()));
        std::fs::write(&path, SMAPS).unwrap();
        let segment = Path::new("/dev/shm/skull-mem-1-2");
        let mut sums = sums(segment);
        let mut buf = [0u8; 100];
        for_each_line(File::open(&path).unwrap(), &mut buf, |line| sums.line(line)).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            figures(StatusFields::default(), sums),
            process_memory(b"", SMAPS.as_bytes(), segment)
        );
    }

    #[test]
    fn a_missing_field_reads_as_zero() {
        let memory = process_memory(b"VmRSS:\tnone\nVmRSS:\t8 kB\n", b"", Path::new(""));
        // The first line of a field counts, as the TypeScript's first match did.
        assert_eq!((memory.rss_bytes, memory.anon_bytes), (0, 0));
        assert_eq!(kib(b"Rss:  12 kB"), 12 * 1024);
    }
}
