//! Objects the program unloaded with `dlclose`, recorded just before they go (path, build id,
//! load bias, mapped ranges), so that a later leak report still names the frames of blocks
//! they allocated: their addresses are in no mapping of the process any more.
//!
//! Written outside malloc (by the `dlclose` wrapper), read from outside the process. Every
//! field is an atomic, so the table is valid for any content; a writer claims an entry with
//! one atomic add, fills it, and publishes it with a final Release store. When all entries
//! are used, further unloads are counted and not recorded.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Unloaded objects recorded at most.
pub const UNLOADED_CAPACITY: usize = 64;
/// Bytes of a recorded path (longer paths are cut).
pub const PATH_BYTES: usize = 256;
/// Mapped ranges recorded per object (its `PT_LOAD` segments; a shared object has 4).
pub const RANGES: usize = 4;
/// Bytes of a recorded build id (GNU build ids are 20).
pub const BUILD_ID_BYTES: usize = 24;

/// One mapped range of an unloaded object: `[start, end)` in the process, from `offset` of
/// the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MappedRange {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the file of `start`.
    pub offset: u64,
}

/// An unloaded object, as recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnloadedModule {
    /// Its path as the loader knew it.
    pub path: Vec<u8>,
    /// The load bias (`l_addr`): link-time addresses plus this are run-time addresses.
    pub bias: u64,
    /// Its GNU build id; empty when it had none.
    pub build_id: Vec<u8>,
    /// Where it was mapped.
    pub ranges: Vec<MappedRange>,
}

impl UnloadedModule {
    /// The range holding `address`, if any.
    pub fn range_of(&self, address: u64) -> Option<&MappedRange> {
        self.ranges
            .iter()
            .find(|range| (range.start..range.end).contains(&address))
    }
}

#[repr(C)]
struct RangeEntry {
    start: AtomicU64,
    end: AtomicU64,
    offset: AtomicU64,
}

#[repr(C)]
struct Entry {
    /// 1 once the entry is written; 0 before.
    ready: AtomicU32,
    ranges_len: AtomicU32,
    bias: AtomicU64,
    path_len: AtomicU32,
    build_id_len: AtomicU32,
    path: [AtomicU64; PATH_BYTES / 8],
    build_id: [AtomicU64; BUILD_ID_BYTES / 8],
    ranges: [RangeEntry; RANGES],
}

/// The unloaded objects of a process: one field of the segment's region.
#[repr(C)]
pub struct UnloadedModules {
    /// Entries claimed so far (may exceed the capacity: those were dropped).
    claimed: AtomicU32,
    _pad: u32,
    /// Unloads not recorded because the table was full.
    pub dropped: AtomicU64,
    entries: [Entry; UNLOADED_CAPACITY],
}

/// Stores `bytes` into `words`, 8 bytes a word, cut to their size; returns how many bytes.
fn store_bytes(words: &[AtomicU64], bytes: &[u8]) -> u32 {
    let bytes = &bytes[..bytes.len().min(words.len() * 8)];
    for (word, chunk) in words.iter().zip(bytes.chunks(8)) {
        let mut buffer = [0u8; 8];
        buffer[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_le_bytes(buffer), Ordering::Relaxed);
    }
    bytes.len() as u32
}

/// The first `len` bytes stored in `words` (bounded by their size).
fn load_bytes(words: &[AtomicU64], len: u32) -> Vec<u8> {
    let mut out: Vec<u8> = words
        .iter()
        .flat_map(|word| word.load(Ordering::Relaxed).to_le_bytes())
        .collect();
    out.truncate(len as usize);
    out
}

impl UnloadedModules {
    /// Records an object about to be unloaded. Never blocks and never allocates.
    pub fn record(&self, path: &[u8], bias: u64, build_id: &[u8], ranges: &[MappedRange]) {
        let index = self.claimed.fetch_add(1, Ordering::Relaxed) as usize;
        let Some(entry) = self.entries.get(index) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        entry.bias.store(bias, Ordering::Relaxed);
        let path_len = store_bytes(&entry.path, path);
        entry.path_len.store(path_len, Ordering::Relaxed);
        let id_len = store_bytes(&entry.build_id, build_id);
        entry.build_id_len.store(id_len, Ordering::Relaxed);
        let ranges = &ranges[..ranges.len().min(RANGES)];
        for (slot, range) in entry.ranges.iter().zip(ranges) {
            slot.start.store(range.start, Ordering::Relaxed);
            slot.end.store(range.end, Ordering::Relaxed);
            slot.offset.store(range.offset, Ordering::Relaxed);
        }
        entry
            .ranges_len
            .store(ranges.len() as u32, Ordering::Relaxed);
        entry.ready.store(1, Ordering::Release);
    }

    /// Every object recorded, oldest first (one being written now may be missing).
    pub fn modules(&self) -> Vec<UnloadedModule> {
        let claimed = (self.claimed.load(Ordering::Acquire) as usize).min(UNLOADED_CAPACITY);
        self.entries[..claimed]
            .iter()
            .filter(|entry| entry.ready.load(Ordering::Acquire) == 1)
            .map(|entry| {
                let ranges = (entry.ranges_len.load(Ordering::Relaxed) as usize).min(RANGES);
                UnloadedModule {
                    path: load_bytes(&entry.path, entry.path_len.load(Ordering::Relaxed)),
                    bias: entry.bias.load(Ordering::Relaxed),
                    build_id: load_bytes(
                        &entry.build_id,
                        entry.build_id_len.load(Ordering::Relaxed),
                    ),
                    ranges: entry.ranges[..ranges]
                        .iter()
                        .map(|range| MappedRange {
                            start: range.start.load(Ordering::Relaxed),
                            end: range.end.load(Ordering::Relaxed),
                            offset: range.offset.load(Ordering::Relaxed),
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_a_full_table_counts_drops() {
        // SAFETY: the table is atomics only, for which all-zero bytes are a valid empty table.
        let table: Box<UnloadedModules> = unsafe { Box::new(core::mem::zeroed()) };
        let range = MappedRange {
            start: 0x7f00_0000_1000,
            end: 0x7f00_0000_2000,
            offset: 0x1000,
        };
        table.record(
            b"/tmp/libplugin.so",
            0x7f00_0000_0000,
            &[0xab; 20],
            &[range],
        );
        let read = table.modules();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].path, b"/tmp/libplugin.so");
        assert_eq!(read[0].build_id, [0xab; 20]);
        assert_eq!(read[0].range_of(0x7f00_0000_1fff), Some(&range));
        assert_eq!(read[0].range_of(0x7f00_0000_2000), None);
        for _ in 0..UNLOADED_CAPACITY {
            table.record(&[b'x'; 300], 0, &[], &[]);
        }
        assert_eq!(table.modules().len(), UNLOADED_CAPACITY);
        assert_eq!(table.modules()[1].path.len(), PATH_BYTES);
        assert_eq!(table.dropped.load(Ordering::Relaxed), 1);
    }
}
