//! The live traced blocks: an open-addressing table keyed by address, in `Levels` that are
//! added as it fills, so it holds millions of blocks without ever moving one. A block goes
//! into the newest level (or, when that has no room near its key, an older level with a free
//! slot near it, and only then a new level). `insert` returns the level, which the block's
//! header keeps (`header::BlockInfo::level`), so a free goes straight to it.
//!
//! Entries are published by a final Release store of their address, so a reader that sees
//! an address sees the fields written before it.

use core::num::NonZeroU64;
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

/// What readers rely on here, for `tables::TRACE_LAYOUT`: an entry's size and fields, the
/// header's, and the levels'.
pub(super) const LAYOUT: [usize; 12] = {
    use core::mem::{offset_of, size_of};
    [
        size_of::<Entry>(),
        offset_of!(Entry, addr),
        offset_of!(Entry, size),
        offset_of!(Entry, time_ns),
        offset_of!(Entry, scope),
        offset_of!(Entry, stack),
        size_of::<LiveTable>(),
        offset_of!(LiveTable, levels),
        offset_of!(LiveTable, dropped),
        size_of::<Levels>(),
        super::levels::LEVELS,
        FIRST_SLOTS as usize,
    ]
};

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
    /// Writes `block` into this slot, which the caller has claimed, and publishes it.
    fn fill(&self, block: &LiveBlock) {
        self.size.store(block.size, Ordering::Relaxed);
        self.time_ns.store(block.time_ns, Ordering::Relaxed);
        self.scope.store(block.scope, Ordering::Relaxed);
        self.stack.store(block.stack, Ordering::Relaxed);
        self.addr.store(block.addr, Ordering::Release);
    }

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

/// A slot a thread freed a block from and left claimed, for its next traced block if that
/// is at the same address: malloc's per-thread caches hand the block freed last out again
/// first, and such a block then takes the slot with plain stores, without the claim's
/// compare-exchange (a locked instruction, most of an insert's time when the slot's line is
/// already the thread's). Not a block to readers (a claimed slot holds none), and probing goes
/// on past it, as past a freed slot. It is the keeping thread's alone: only `fill_kept` and
/// `release_kept` change it.
///
/// Two words, so that an `Option` of it goes in registers (a copy through memory of the
/// fields' narrower stores stalled the free that kept it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeptSlot {
    /// The freed block's address (never 0: a block's).
    addr: NonZeroU64,
    /// The slot: its level in the top byte, its index in the level below.
    at: u64,
}

impl KeptSlot {
    const LEVEL_SHIFT: u32 = 56;

    fn new(addr: u64, level: usize, index: u64) -> Option<KeptSlot> {
        Some(KeptSlot {
            addr: NonZeroU64::new(addr)?,
            at: (level as u64) << Self::LEVEL_SHIFT | index,
        })
    }

    /// The address of the block that was freed from the slot.
    pub fn addr(self) -> u64 {
        self.addr.get()
    }

    fn level(self) -> usize {
        (self.at >> Self::LEVEL_SHIFT) as usize
    }

    fn index(self) -> u64 {
        self.at & ((1 << Self::LEVEL_SHIFT) - 1)
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
        let newest = self.levels.count();
        if newest > 0 {
            let level = newest - 1;
            if let Some(full) = self.insert_in(level, &block, backing) {
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
                .find(|&older| self.insert_in(older, &block, backing).is_some())
            {
                return Some(older as u8);
            }
            if self
                .levels
                .add(level + 1, FIRST_SLOTS, ENTRY_BYTES, pool, backing)
                && self.insert_in(level + 1, &block, backing).is_some()
            {
                return Some(level as u8 + 1);
            }
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Records `block` in `level`: `None` when the level has no room near its key, else
    /// whether the level is now full enough for the next to be added. (The block's homes are
    /// worked out here, not passed in: an array made by the caller was copied into the
    /// probing iterator with 16-byte loads of its 8-byte stores, a store-forwarding stall on
    /// every traced allocation.)
    fn insert_in(&self, level: usize, block: &LiveBlock, backing: &impl Backing) -> Option<bool> {
        let bytes = Bytes::of(backing);
        let (offset, slots) = self.levels.level(level, FIRST_SLOTS)?;
        for index in homes(block.addr)
            .into_iter()
            .flat_map(|home| probes(home, slots))
        {
            let entry = Levels::slot::<Entry>(&bytes, offset, index)?;
            let seen = entry.addr.load(Ordering::Relaxed);
            if (seen == EMPTY || seen == TOMBSTONE)
                && entry
                    .addr
                    .compare_exchange(seen, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                entry.fill(block);
                return Some(seen == EMPTY && self.levels.claimed(level, FIRST_SLOTS));
            }
        }
        None
    }

    /// Records `block` in the slot `kept` and returns its level, when the slot was kept for a
    /// block at this address; else releases the slot and returns `None` (the caller then
    /// inserts the block as any other).
    pub fn fill_kept(&self, bytes: &Bytes, kept: KeptSlot, block: &LiveBlock) -> Option<u8> {
        let entry = self.kept_entry(bytes, kept)?;
        if kept.addr.get() != block.addr {
            entry.addr.store(TOMBSTONE, Ordering::Release);
            return None;
        }
        entry.fill(block);
        Some(kept.level() as u8)
    }

    /// Gives the slot `kept` up: it becomes a freed slot, for any block.
    pub fn release_kept(&self, bytes: &Bytes, kept: KeptSlot) {
        if let Some(entry) = self.kept_entry(bytes, kept) {
            entry.addr.store(TOMBSTONE, Ordering::Release);
        }
    }

    fn kept_entry<'a>(&self, bytes: &'a Bytes, kept: KeptSlot) -> Option<&'a Entry> {
        let (offset, _) = self.levels.level(kept.level(), FIRST_SLOTS)?;
        Levels::slot::<Entry>(bytes, offset, kept.index())
    }

    /// Removes the live block at `addr` and returns it; `None` when it is not in the table.
    /// `hint` is the level `insert` returned: the search starts there, so a free costs one
    /// level's probes, not a probe of every level newer than the block's.
    pub fn take(&self, bytes: &Bytes, addr: u64, hint: u8) -> Option<LiveBlock> {
        let mut taken = None;
        self.remove(bytes, addr, hint, TOMBSTONE, |block| taken = Some(block));
        taken
    }

    /// As `take`, but the block goes to `seen` and its slot is left claimed for the calling
    /// thread (see `KeptSlot`), which must fill or release it.
    pub fn take_keeping(
        &self,
        bytes: &Bytes,
        addr: u64,
        hint: u8,
        seen: impl FnOnce(LiveBlock),
    ) -> Option<KeptSlot> {
        self.remove(bytes, addr, hint, CLAIMED, seen)
    }

    /// Removes the block at `addr`, gives it to `seen` and leaves `leave` (`TOMBSTONE` or
    /// `CLAIMED`) in its slot; returns the slot.
    fn remove(
        &self,
        bytes: &Bytes,
        addr: u64,
        hint: u8,
        leave: u64,
        seen: impl FnOnce(LiveBlock),
    ) -> Option<KeptSlot> {
        let homes = homes(addr);
        let hint = usize::from(hint);
        let count = self.levels.count();
        // The hinted level, then (a wrong hint: a header written without one) the others.
        let order = (hint < count)
            .then_some(hint)
            .into_iter()
            .chain((0..count).rev().filter(move |&level| level != hint));
        for level in order {
            if let Some((block, index)) = self.take_in(bytes, level, homes, addr, leave) {
                seen(block);
                return KeptSlot::new(addr, level, index);
            }
        }
        None
    }

    /// Removes the block at `addr` from `level` when it is there, leaving `leave` in its slot,
    /// and returns it with the slot's index. A slot never becomes empty again, so an empty
    /// slot where `insert_in` would have looked ends the search: the block would be there or
    /// before it. Only when a place has no empty slot may the block be at the next.
    fn take_in(
        &self,
        bytes: &Bytes,
        level: usize,
        homes: [u64; HOMES],
        addr: u64,
        leave: u64,
    ) -> Option<(LiveBlock, u64)> {
        let (offset, slots) = self.levels.level(level, FIRST_SLOTS)?;
        for home in homes {
            for index in probes(home, slots) {
                let entry = Levels::slot::<Entry>(bytes, offset, index)?;
                let seen = entry.addr.load(Ordering::Acquire);
                if seen == addr {
                    let block = entry.read(addr);
                    // A plain store, not a compare-exchange (a locked instruction, half of a
                    // free's time in the table): a slot holding a live block's address is
                    // changed by nobody but the one freeing that block (`insert_in` claims
                    // only empty and freed slots), and a block is freed once.
                    entry.addr.store(leave, Ordering::Release);
                    return Some((block, index));
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
    fn a_kept_slot_holds_no_block_serves_its_address_again_and_is_released_for_another() {
        let backing = AnonBacking::new(1 << 30);
        let pool = zeroed::<Pool>();
        pool.configure(0, 64 << 20);
        let table = zeroed::<LiveTable>();
        // Neighbours on both sides, so that the kept slot lies inside a run of used slots.
        let addrs: Vec<u64> = (0..64u64).map(|i| 0x55_0000 + i * 16).collect();
        let levels: Vec<u8> = addrs
            .iter()
            .map(|&addr| table.insert(block(addr), &pool, &backing).unwrap())
            .collect();
        let bytes = Bytes::of(&backing); // all the levels there will be: 64 blocks fit in one
        let (freed, level) = (addrs[20], levels[20]);
        let mut seen = None;
        let kept = table
            .take_keeping(&bytes, freed, level, |b| seen = Some(b))
            .unwrap();
        assert_eq!(seen, Some(block(freed)));
        // Claimed: no block to readers and to frees, and not free for other blocks either.
        assert_eq!(table.blocks(&bytes).len(), 63);
        assert_eq!(table.take(&bytes, freed, level), None);
        for &addr in &addrs[21..] {
            assert_eq!(
                table.take(&bytes, addr, 0),
                Some(block(addr)),
                "probing goes past it"
            );
            assert!(table.insert(block(addr), &pool, &backing).is_some());
        }
        // The same address again: the kept slot, in its level, with the new block's fields.
        let again = LiveBlock {
            size: 7,
            stack: 9,
            ..block(freed)
        };
        assert_eq!(table.fill_kept(&bytes, kept, &again), Some(level));
        assert_eq!(table.blocks(&bytes).len(), 64);
        assert_eq!(table.take(&bytes, freed, level), Some(again));
        // Kept again, then another address: the slot is released, and the block goes elsewhere.
        let kept = table
            .take_keeping(&bytes, addrs[5], levels[5], |_| ())
            .unwrap();
        assert_eq!(table.fill_kept(&bytes, kept, &block(0x99_0000)), None);
        assert!(table.insert(block(0x99_0000), &pool, &backing).is_some());
        let kept = table
            .take_keeping(&bytes, addrs[6], levels[6], |_| ())
            .unwrap();
        table.release_kept(&bytes, kept);
        let mut left: Vec<u64> = table.blocks(&bytes).iter().map(|b| b.addr).collect();
        left.sort_unstable();
        let mut expected: Vec<u64> = addrs
            .iter()
            .copied()
            .filter(|&a| a != addrs[5] && a != addrs[6] && a != freed)
            .collect();
        expected.push(0x99_0000);
        expected.sort_unstable();
        assert_eq!(left, expected);
        // Released slots serve other blocks: as many inserts as were freed use no new level.
        let before = table.bytes();
        for addr in [addrs[5], addrs[6], freed] {
            assert!(table.insert(block(addr), &pool, &backing).is_some());
        }
        assert_eq!(table.bytes(), before);
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
