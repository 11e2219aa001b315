//! The mark phase of the leak check: every aligned word of the roots that points into a live
//! block (at its start or inside it, as LeakSanitizer counts) reaches it, and the words of a
//! reached block reach further, until nothing new is reached.

use std::ops::Range;

use super::memory::{read_own, read_own_many, MAX_RANGES};

/// Bytes read from memory at a time.
const CHUNK: usize = 1 << 20;

/// The live blocks, sorted by address, as the scan looks them up.
pub(crate) struct BlockIndex {
    /// First byte of each block, ascending.
    pub starts: Vec<u64>,
    /// One past the last byte of each block.
    pub ends: Vec<u64>,
}

impl BlockIndex {
    /// The block `word` points into.
    #[inline]
    fn find(&self, word: u64) -> Option<usize> {
        let (Some(&first), Some(&last_end)) = (self.starts.first(), self.ends.last()) else {
            return None;
        };
        // Most words are no heap address at all: one compare each.
        if word < first || word >= last_end {
            return None;
        }
        let index = self.starts.partition_point(|&start| start <= word) - 1;
        (word < self.ends[index]).then_some(index)
    }
}

/// What the mark phase needs, allocated before the roots are read so that the scan's own
/// buffers can be left out of them (`buffers`).
pub(crate) struct Marker {
    index: BlockIndex,
    reached: Vec<bool>,
    pending: Vec<u32>,
    buffer: Vec<u8>,
}

impl Marker {
    /// A marker over `index`, with every buffer it will use allocated up front.
    pub fn new(index: BlockIndex) -> Marker {
        let count = index.starts.len();
        Marker {
            index,
            reached: vec![false; count],
            pending: Vec::with_capacity(count),
            buffer: vec![0; CHUNK],
        }
    }

    /// Where the marker's own memory lies: it holds every block's address, so it must not
    /// be read as a root.
    pub fn buffers(&self) -> Vec<Range<u64>> {
        fn span<T>(vec: &Vec<T>) -> Range<u64> {
            let start = vec.as_ptr() as u64;
            start..start + (vec.capacity() * std::mem::size_of::<T>()) as u64
        }
        vec![
            span(&self.index.starts),
            span(&self.index.ends),
            span(&self.reached),
            span(&self.pending),
            span(&self.buffer),
        ]
    }

    fn reach_words(&mut self, bytes: usize) {
        self.reach_words_in(0..bytes);
    }

    fn reach_words_in(&mut self, bytes: Range<usize>) {
        for word in self.buffer[bytes].chunks_exact(8) {
            let value = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
            if let Some(block) = self.index.find(value) {
                if !self.reached[block] {
                    self.reached[block] = true;
                    self.pending.push(block as u32);
                }
            }
        }
    }

    fn scan_range(&mut self, range: Range<u64>) {
        let mut address = range.start.next_multiple_of(8);
        while address + 8 <= range.end {
            let want = ((range.end - address) as usize).min(CHUNK) & !7;
            let read = read_own(address, &mut self.buffer[..want]);
            if read == 0 {
                // Unmapped meanwhile (another thread still runs): skip the page.
                address = (address | 4095) + 1;
                continue;
            }
            self.reach_words(read & !7);
            address += read as u64;
        }
    }

    /// Marks what `roots` reach, directly or through other blocks.
    pub fn mark(&mut self, roots: &[Range<u64>], registers: &[u64]) {
        for &value in registers {
            if let Some(block) = self.index.find(value) {
                if !self.reached[block] {
                    self.reached[block] = true;
                    self.pending.push(block as u32);
                }
            }
        }
        for range in roots {
            self.scan_range(range.clone());
        }
        // Small blocks are read up to `MAX_RANGES` at a time, one system call for them all.
        let mut batch: Vec<(u64, usize)> = Vec::with_capacity(MAX_RANGES);
        while !self.pending.is_empty() {
            batch.clear();
            let mut bytes = 0;
            while let Some(&block) = self.pending.last() {
                let block = block as usize;
                let length = ((self.index.ends[block] - self.index.starts[block]) as usize) & !7;
                if batch.len() == MAX_RANGES || bytes + length > CHUNK {
                    break;
                }
                self.pending.pop();
                if length == 0 {
                    continue;
                }
                batch.push((self.index.starts[block], length));
                bytes += length;
            }
            if batch.is_empty() {
                // One block larger than the buffer: read in chunks.
                let block = self.pending.pop().unwrap_or_default() as usize;
                self.scan_range(self.index.starts[block]..self.index.ends[block]);
            } else if read_own_many(&batch, &mut self.buffer) {
                self.reach_words_in(0..bytes);
            } else {
                for &(address, length) in &batch {
                    self.scan_range(address..address + length as u64);
                }
            }
        }
    }

    /// Whether each block (in index order) was reached.
    pub fn into_reached(self) -> Vec<bool> {
        self.reached
    }
}
