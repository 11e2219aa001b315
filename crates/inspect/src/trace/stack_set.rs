//! The recorded stacks of one report, read once: every distinct return address gets a small
//! id, and the stacks are lists of those ids back to back in one array. A report of 100,000
//! stacks of 22 frames then makes a few allocations rather than 100,000, symbolizes each
//! distinct address once, and looks frames up by index rather than by hashing addresses.

use std::num::NonZeroUsize;
use std::thread;

use rustc_hash::FxHashMap;
use skull_mem_core::trace::tables::TraceTables;

use super::progress::{thousands, Progress};

/// Stacks read by one thread at least: below this, another thread costs more than it saves.
const STACKS_PER_THREAD: usize = 20_000;
/// Threads that read stacks at most: reading the trie is bound by memory, not cores.
const MAX_THREADS: usize = 4;
/// Stacks read between two looks at the clock for the progress line.
const STACKS_PER_BATCH: usize = STACKS_PER_THREAD * MAX_THREADS;

/// The frames of the stacks `ids`, in that order, on up to `cores` threads.
fn walk(tables: &TraceTables, ids: &[u32], cores: usize) -> Vec<Vec<Vec<u64>>> {
    let threads = cores
        .min(MAX_THREADS)
        .min(ids.len() / STACKS_PER_THREAD)
        .max(1);
    let walk = |part: &[u32]| -> Vec<Vec<u64>> {
        part.iter().map(|&id| tables.stack(id).frames).collect()
    };
    if threads == 1 {
        return vec![walk(ids)];
    }
    thread::scope(|scope| {
        let walkers: Vec<_> = ids
            .chunks(ids.len().div_ceil(threads))
            .map(|part| scope.spawn(move || walk(part)))
            .collect();
        walkers
            .into_iter()
            .map(|walker| {
                walker
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
            .collect()
    })
}

/// Stacks as address ids, and the distinct addresses.
#[derive(Default)]
pub struct StackSet {
    addresses: Vec<u64>,
    ids: FxHashMap<u64, u32>,
    frames: Vec<u32>,
    spans: Vec<(usize, usize)>,
}

impl StackSet {
    /// An empty set.
    pub fn new() -> StackSet {
        StackSet::default()
    }

    /// The stacks with ids `ids` of `tables`, in that order. Walking the trie from each
    /// stack's innermost node is most of a large report's time: threads share the walks,
    /// a batch at a time, and with `progress` a terminal is told how far they are.
    pub fn read(tables: &TraceTables, ids: &[u32], progress: bool) -> StackSet {
        let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let what = format!("skull-trace: reading {} stacks", thousands(ids.len()));
        let mut progress = Progress::new(progress, what, ids.len());
        let mut set = StackSet::new();
        set.spans.reserve(ids.len());
        for (batch, part) in ids.chunks(STACKS_PER_BATCH).enumerate() {
            for stack in walk(tables, part, cores).iter().flatten() {
                set.push(stack);
            }
            progress.update(batch * STACKS_PER_BATCH + part.len());
        }
        set
    }

    /// Adds a stack of return addresses (innermost first); its index in the set.
    pub fn push(&mut self, stack: &[u64]) -> usize {
        let start = self.frames.len();
        for &address in stack {
            let next = self.addresses.len() as u32;
            let id = *self.ids.entry(address).or_insert(next);
            if id == next {
                self.addresses.push(address);
            }
            self.frames.push(id);
        }
        self.spans.push((start, stack.len()));
        self.spans.len() - 1
    }

    /// How many stacks.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The address ids of stack `index`, innermost first.
    pub fn ids(&self, index: usize) -> &[u32] {
        let (start, len) = self.spans[index];
        &self.frames[start..start + len]
    }

    /// The address with id `id`.
    pub fn address(&self, id: u32) -> u64 {
        self.addresses[id as usize]
    }

    /// How many distinct addresses (ids run from 0 to this).
    pub fn distinct(&self) -> usize {
        self.addresses.len()
    }

    /// The return addresses of stack `index`, innermost first.
    pub fn addresses(&self, index: usize) -> Vec<u64> {
        self.ids(index).iter().map(|&id| self.address(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::StackSet;

    #[test]
    fn shared_addresses_get_one_id() {
        let mut set = StackSet::new();
        assert_eq!(set.push(&[0x30, 0x20, 0x10]), 0);
        assert_eq!(set.push(&[0x40, 0x20, 0x10]), 1);
        assert_eq!(set.push(&[]), 2);
        assert_eq!(set.len(), 3);
        assert_eq!(set.distinct(), 4);
        assert_eq!(set.ids(0), &[0, 1, 2]);
        assert_eq!(set.ids(1), &[3, 1, 2]);
        assert_eq!(set.addresses(1), vec![0x40, 0x20, 0x10]);
        assert!(set.ids(2).is_empty());
    }
}
