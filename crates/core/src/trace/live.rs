//! The live traced blocks: an open-addressing table keyed by address, in `Levels` that are
//! added as it fills, so it holds millions of blocks without ever moving one. A block goes
//! into the newest level (or, when that has no room near its key, an older level with a free
//! slot near it, and only then a new level). `insert` returns the level, which the block's
//! header keeps (`header::BlockInfo::level`), so a free goes straight to it.
//!
//! Entries are published by a final Release store of their address, so a reader that sees
//! an address sees the fields written before it.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::backing::{Backing, Bytes};
use super::levels::{probes, Levels};
use super::pool::{Pool, CHUNK};

const EMPTY: u64 = 0;
/// A slot whose block was freed: reusable, but probing goes on past it.
const TOMBSTONE: u64 = 1;
/// A slot being written.
const CLAIMED: u64 = 2;

/// One live traced block.
#[repr(C)]
struct Entry {
    /// The user pointer; `EMPTY`, `TOMBSTONE` or `CLAIMED` when it holds no block.
    addr: AtomicU64,
    size: AtomicU64,
    /// Monotonic clock, ns, at allocation.
    time_ns: AtomicU64,
    scope: AtomicU32,
    stack: AtomicU32,
}

const ENTRY_BYTES: u64 = core::mem::size_of::<Entry>() as u64;
/// Entries of the first level (64 KiB).
const FIRST_SLOTS: u64 = CHUNK / ENTRY_BYTES;

/// A live traced block, as a reader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveBlock {
    /// User pointer.
    pub addr: u64,
    /// Requested size.
    pub size: u64,
    /// Monotonic ns at allocation.
    pub time_ns: u64,
    /// Scope charged.
    pub scope: u32,
    /// Its stack's id.
    pub stack: u32,
}

impl Entry {
    /// The fields of the block at `addr` (whose key the caller loaded with Acquire).
    fn read(&self, addr: u64) -> LiveBlock {
        LiveBlock {
            addr,
            size: self.size.load(Ordering::Relaxed),
            time_ns: self.time_ns.load(Ordering::Relaxed),
            scope: self.scope.load(Ordering::Relaxed),
            stack: self.stack.load(Ordering::Relaxed),
        }
    }
}

/// Where probing for the block at `addr` starts in a level, as `levels::probes` takes it
/// (the slot index in the bits from 20 up): first near its neighbours in memory, and when
/// there is no room there, at two random places in turn.
///
/// The first is not a random hash: blocks in the same 64 KiB of addresses keep their order
/// and spacing in a run of 4096 slots (one slot per 16 bytes, so two live blocks of one
/// 64 KiB never want the same slot), and only the runs are scattered. Inside its run a
/// block's place is also xored with bits of the run's hash: a bijection that keeps blocks of
/// one page (and one cache line) of entries together, so that in a level smaller than a run
/// (the first, of 2048 slots) blocks at the same place of different 64 KiB do not all want
/// one slot. (They did: two threads each allocating and freeing one block, at the same
/// offset of their own malloc arenas, shared one slot's cache line, and a traced malloc+free
/// cost 19x glibc's on 2 threads. Starting each run at a random slot instead cost python3's
/// traced run a tenth more time in the table: its runs then straddled pages.) Blocks made one after
/// another mostly lie side by side (malloc cuts them from the same free memory), so their
/// entries share pages and cache lines: measured on python3, a random slot per block made
/// every insert and free a TLB and cache miss, four tenths of a traced run. But runs of
/// different 64 KiB meet where their places do, and a dense heap fills them: the random
/// places take the rest. A single random place was not enough there: its probes could fall
/// in a run filled whole, and 7 of the 2,000,000 blocks of `trace_scale.c` found no room
/// in the levels the budget allows; with two, none is dropped, as with a random hash alone.
fn homes(addr: u64) -> [u64; HOMES] {
    let within = (addr >> 4) & 0xfff;
    let mixed = (addr >> 16).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let run = mixed ^ (mixed >> 29);
    let random = (addr >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let other = (addr >> 4).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    [
        ((within ^ (run & 0xfff)) | run << 12) << 20,
        random ^ (random >> 31),
        other ^ (other >> 29),
    ]
}

/// Places a block may be put in a level (see `homes`).
const HOMES: usize = 3;

/// The live table's part of the tables header.
#[repr(C)]
pub struct LiveTable {
    levels: Levels,
    /// Blocks not recorded for want of memory.
    pub dropped: AtomicU64,
}

impl LiveTable {
    /// Records a live block and returns the level that holds it (the hint `take` is given
    /// back); `None` when there was no room for it (counted in `dropped`).
    pub fn insert(&self, block: LiveBlock, pool: &Pool, backing: &impl Backing) -> Option<u8> {
        if self.levels.count() == 0 {
            self.levels.add(0, FIRST_SLOTS, ENTRY_BYTES, pool, backing);
        }
        let homes = homes(block.addr);
        let newest = self.levels.count();
        if newest > 0 {
            let level = newest - 1;
            if let Some(full) = self.insert_in(level, homes, block, backing) {
                if full {
                    self.levels
                        .add(level + 1, FIRST_SLOTS, ENTRY_BYTES, pool, backing);
                }
                return Some(level as u8);
            }
            // No room near the key: the freed and empty slots of older levels, and only
            // then a next level (a level twice the size for one crowded key would waste).
            if let Some(older) = (0..level)
                .rev()
                .find(|&older| self.insert_in(older, homes, block, backing).is_some())
            {
                return Some(older as u8);
            }
            if self
                .levels
                .add(level + 1, FIRST_SLOTS, ENTRY_BYTES, pool, backing)
                && self.insert_in(level + 1, homes, block, backing).is_some()
            {
                return Some(level as u8 + 1);
            }
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Records `block` in `level`: `None` when the level has no room near its key, else
    /// whether the level is now full enough for the next to be added.
    fn insert_in(
        &self,
        level: usize,
        homes: [u64; HOMES],
        block: LiveBlock,
        backing: &impl Backing,
    ) -> Option<bool> {
        let bytes = Bytes::of(backing);
        let (offset, slots) = self.levels.level(level, FIRST_SLOTS)?;
        for index in homes.into_iter().flat_map(|home| probes(home, slots)) {
            let entry = Levels::slot::<Entry>(&bytes, offset, index)?;
            let seen = entry.addr.load(Ordering::Relaxed);
            if (seen == EMPTY || seen == TOMBSTONE)
                && entry
                    .addr
                    .compare_exchange(seen, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                entry.size.store(block.size, Ordering::Relaxed);
                entry.time_ns.store(block.time_ns, Ordering::Relaxed);
                entry.scope.store(block.scope, Ordering::Relaxed);
                entry.stack.store(block.stack, Ordering::Relaxed);
                entry.addr.store(block.addr, Ordering::Release);
                return Some(seen == EMPTY && self.levels.claimed(level, FIRST_SLOTS));
            }
        }
        None
    }

    /// Removes the live block at `addr` and returns it; `None` when it is not in the table.
    /// `hint` is the level `insert` returned: the search starts there, so a free costs one
    /// level's probes, not a probe of every level newer than the block's.
    pub fn take(&self, bytes: &Bytes, addr: u64, hint: u8) -> Option<LiveBlock> {
        let homes = homes(addr);
        let hint = usize::from(hint);
        let count = self.levels.count();
        // The hinted level, then (a wrong hint: a header written without one) the others.
        let order = (hint < count)
            .then_some(hint)
            .into_iter()
            .chain((0..count).rev().filter(move |&level| level != hint));
        for level in order {
            if let Some(block) = self.take_in(bytes, level, homes, addr) {
                return Some(block);
            }
        }
        None
    }

    /// Removes the block at `addr` from `level` when it is there. A slot never becomes empty
    /// again, so an empty slot where `insert_in` would have looked ends the search: the
    /// block would be there or before it. Only when a place has no empty slot may the block
    /// be at the next.
    fn take_in(
        &self,
        bytes: &Bytes,
        level: usize,
        homes: [u64; HOMES],
        addr: u64,
    ) -> Option<LiveBlock> {
        let (offset, slots) = self.levels.level(level, FIRST_SLOTS)?;
        for home in homes {
            for index in probes(home, slots) {
                let entry = Levels::slot::<Entry>(bytes, offset, index)?;
                let seen = entry.addr.load(Ordering::Acquire);
                if seen == addr {
                    let block = entry.read(addr);
                    return entry
                        .addr
                        .compare_exchange(addr, TOMBSTONE, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                        .then_some(block);
                }
                if seen == EMPTY {
                    return None;
                }
            }
        }
        None
    }

    /// Every live traced block now. A block freed or allocated during the walk may or may
    /// not be in it; an entry changed while read is skipped.
    pub fn blocks(&self, bytes: &Bytes) -> Vec<LiveBlock> {
        let mut blocks = Vec::new();
        for level in 0..self.levels.count() {
            let Some((offset, slots)) = self.levels.level(level, FIRST_SLOTS) else {
                continue;
            };
            for index in 0..slots {
                let Some(entry) = Levels::slot::<Entry>(bytes, offset, index) else {
                    break;
                };
                let addr = entry.addr.load(Ordering::Acquire);
                if addr <= CLAIMED {
                    continue;
                }
                let block = entry.read(addr);
                if entry.addr.load(Ordering::Acquire) == addr {
                    blocks.push(block);
                }
            }
        }
        blocks
    }

    /// Bytes of the levels taken.
    pub fn bytes(&self) -> u64 {
        (0..self.levels.count())
            .filter_map(|level| self.levels.level(level, FIRST_SLOTS))
            .map(|(_, slots)| slots * ENTRY_BYTES)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::backing::anon::{zeroed, AnonBacking};

    fn block(addr: u64) -> LiveBlock {
        LiveBlock {
            addr,
            size: addr / 16 % 1000,
            time_ns: addr * 3,
            scope: (addr % 7) as u32,
            stack: (addr % 1013) as u32,
        }
    }

    #[test]
    fn two_million_blocks_are_all_kept_found_and_taken() {
        let backing = AnonBacking::new(1 << 30);
        let pool = zeroed::<Pool>();
        pool.configure(0, 512 << 20);
        let table = zeroed::<LiveTable>();
        let addrs = (0..2_000_000u64).map(|i| 0x7f00_0000_0000 + i * 48);
        let levels: Vec<u8> = addrs
            .clone()
            .map(|addr| table.insert(block(addr), &pool, &backing).unwrap())
            .collect();
        assert_eq!(table.dropped.load(Ordering::Relaxed), 0);
        let bytes = Bytes::of(&backing);
        let mut seen = table.blocks(&bytes);
        seen.sort_by_key(|b| b.addr);
        assert_eq!(seen, addrs.clone().map(block).collect::<Vec<_>>());
        // Levels of 2048, 4096, ... entries of 32 bytes, each added at three quarters full:
        // 2,000,000 blocks fill levels up to 2048 << 10 (2,097,152 entries), 128 MiB in all.
        assert!(
            table.bytes() <= 2048 * 32 * ((1 << 11) - 1),
            "{}",
            table.bytes()
        );
        for (i, addr) in addrs.clone().enumerate().step_by(2) {
            // Every other block with the level it was put in; the others with a wrong hint
            // (level 0), which the search goes past.
            let hint = if i % 4 == 0 { levels[i] } else { 0 };
            assert_eq!(table.take(&bytes, addr, hint), Some(block(addr)));
            assert_eq!(table.take(&bytes, addr, levels[i]), None);
        }
        assert_eq!(table.blocks(&bytes).len(), 1_000_000);
        // Freed slots are used again: the same blocks again take no more memory.
        let before = table.bytes();
        for addr in addrs.step_by(2) {
            assert!(table.insert(block(addr), &pool, &backing).is_some());
        }
        assert_eq!(table.bytes(), before);
        assert_eq!(table.blocks(&bytes).len(), 2_000_000);
    }

    #[test]
    fn past_the_budget_blocks_are_dropped_and_counted_and_freed_slots_still_serve() {
        let backing = AnonBacking::new(1 << 30);
        let pool = zeroed::<Pool>();
        pool.configure(0, 3 * CHUNK);
        let table = zeroed::<LiveTable>();
        let mut kept = Vec::new();
        for i in 0..20_000u64 {
            let addr = 0x10_0000 + i * 16;
            if let Some(level) = table.insert(block(addr), &pool, &backing) {
                kept.push((addr, level));
            }
        }
        let dropped = table.dropped.load(Ordering::Relaxed);
        // Levels of 2048 and 4096 entries fit in 3 chunks; the next would not.
        assert_eq!(table.bytes(), 3 * CHUNK);
        assert_eq!(kept.len() as u64 + dropped, 20_000);
        assert!(kept.len() > 4000 && kept.len() <= 6144, "{}", kept.len());
        let bytes = Bytes::of(&backing);
        for &(addr, level) in &kept {
            assert!(table.take(&bytes, addr, level).is_some());
        }
        for i in 0..1000u64 {
            assert!(table
                .insert(block(0x900_0000 + i * 16), &pool, &backing)
                .is_some());
        }
    }
}
