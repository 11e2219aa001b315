//! A hash table that grows without moving anything: levels of doubling size, each a piece of
//! the pool, added when the newest is three quarters full. A writer inserts into the newest
//! level; a lookup searches every level. Nothing is rehashed, so an entry stays where it was
//! written for the life of the process and a reader in another process can walk the levels
//! while writers add them.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::backing::{Backing, Bytes};
use super::pool::Pool;

/// Levels a table has at most: the last holds `first << (LEVELS - 1)` slots, more than
/// any budget fills.
pub const LEVELS: usize = 28;

/// A level's offset while one thread takes its memory.
const CREATING: u64 = 1;

/// Slots a lookup inspects in a level before going on (a full level is not searched whole).
pub const PROBES: usize = 32;

/// Where the levels are and how full.
#[repr(C)]
pub struct Levels {
    /// Levels published (their memory taken, offsets set).
    count: AtomicU32,
    _pad: u32,
    /// Offset of each level in the backing; 0 while absent, `CREATING` while being taken.
    offsets: [AtomicU64; LEVELS],
    /// Slots of each level ever claimed (an emptied slot stays counted: probing goes past it).
    used: [AtomicU64; LEVELS],
}

impl Levels {
    /// Levels readable now, bounded so a corrupt segment cannot index past the table.
    pub fn count(&self) -> usize {
        (self.count.load(Ordering::Acquire) as usize).min(LEVELS)
    }

    /// The offset of level `level` and its slot count, when published (`first` slots in
    /// level 0, doubling).
    pub fn level(&self, level: usize, first: u64) -> Option<(u64, u64)> {
        let offset = self.offsets.get(level)?.load(Ordering::Acquire);
        (offset > CREATING).then_some((offset, first << level))
    }

    /// Counts a slot of `level` claimed for the first time; true when the level is now three
    /// quarters full and a next one should be added.
    pub fn claimed(&self, level: usize, first: u64) -> bool {
        let used = self.used[level].fetch_add(1, Ordering::Relaxed) + 1;
        used * 4 >= (first << level) * 3 && level + 1 == self.count()
    }

    /// Adds level `level` (of `first << level` slots of `slot_bytes`) unless another thread
    /// does or did; false when there is no memory for it. Never waits: a thread that finds
    /// it being added goes on with the levels there are.
    pub fn add(
        &self,
        level: usize,
        first: u64,
        slot_bytes: u64,
        pool: &Pool,
        backing: &impl Backing,
    ) -> bool {
        if level >= LEVELS || self.count() != level {
            return self.count() > level;
        }
        if self.offsets[level]
            .compare_exchange(0, CREATING, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        match pool.take(backing, (first << level) * slot_bytes) {
            Some(offset) => {
                self.offsets[level].store(offset, Ordering::Release);
                self.count.store(level as u32 + 1, Ordering::Release);
                true
            }
            None => {
                // Another thread may try again later (the budget may have been raised).
                self.offsets[level].store(0, Ordering::Relaxed);
                false
            }
        }
    }

    /// The slot `index` of a level at `offset`, as `T` (slots of `size_of::<T>()` bytes).
    pub fn slot<T>(bytes: &Bytes, offset: u64, index: u64) -> Option<&T> {
        bytes.get(offset + index * core::mem::size_of::<T>() as u64)
    }
}

/// The slots to probe in a level of `slots` slots (a power of two) for `hash`.
pub fn probes(hash: u64, slots: u64) -> impl Iterator<Item = u64> {
    let mask = slots - 1;
    let first = hash >> 20;
    (0..PROBES as u64).map(move |probe| (first + probe) & mask)
}
