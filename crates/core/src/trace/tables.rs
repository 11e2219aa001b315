//! Tracing's part of the segment: the header below, at the start of the trace memory, then
//! the pieces the tables grow into (`pool`): unique stacks as a trie (`stacks`), the live
//! traced blocks (`live`), and a ring of recent events for `skull-trace tail`.
//!
//! Writers never wait and never move anything; past the memory budget they drop and count.
//! Everything is an atomic or an offset from the header's own address, so a reader in
//! another process maps the same bytes and follows the same offsets.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::backing::{Backing, Bytes};
use super::live::LiveTable;
pub use super::live::{KeptSlot, LiveBlock};
use super::pending::{Flushed, PendingTable};
use super::pool::{Pool, CHUNK};
use super::stacks::StackTrie;
pub use super::stacks::{Stack, TrieNode, TriePath};

/// Events the ring keeps for `skull-trace tail`; older ones are overwritten.
pub const EVENT_CAPACITY: usize = 4096;
/// Bytes of trace memory reserved after the header: the most `SKULL_MEM_TRACE_MEMORY` may
/// give. Address space only: pages are backed as the tables take them.
pub const SPACE_BYTES: usize = 1 << 30;

/// One traced allocation or free, in the event ring.
#[repr(C)]
pub struct EventEntry {
    /// One more than the event's sequence number once written; 0 before.
    seq: AtomicU64,
    addr: AtomicU64,
    size: AtomicU64,
    time_ns: AtomicU64,
    /// `EVENT_ALLOC` or `EVENT_FREE`.
    kind: AtomicU32,
    scope: AtomicU32,
    stack: AtomicU32,
    thread: AtomicU32,
}

/// `Event::kind` of a traced allocation.
pub const EVENT_ALLOC: u32 = 1;
/// `Event::kind` of the free of a traced block.
pub const EVENT_FREE: u32 = 2;

/// A traced allocation or free, as a reader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Sequence number, from 0.
    pub seq: u64,
    /// `EVENT_ALLOC` or `EVENT_FREE`.
    pub kind: u32,
    /// User pointer.
    pub addr: u64,
    /// Requested size.
    pub size: u64,
    /// Monotonic ns.
    pub time_ns: u64,
    /// Scope the block is charged to.
    pub scope: u32,
    /// The block's stack (see `TraceTables::stack`).
    pub stack: u32,
    /// Kernel thread id of the thread that allocated or freed.
    pub thread: u32,
}

/// Until when (monotonic ns, `now_ns`) a reader follows the event ring; 0 when none does.
/// Events are written only while one does: `skull-trace tail` renews the lease as it polls.
/// It lives in the segment's header, the one part a reader may write (as it writes the control
/// word): the tables' own memory is mapped read-only by readers.
#[repr(C)]
pub struct TailLease {
    until_ns: AtomicU64,
}

impl TailLease {
    /// Whether a reader follows the event ring now; ends an expired lease.
    #[inline]
    pub fn events_wanted(&self) -> bool {
        let until = self.until_ns.load(Ordering::Relaxed);
        if until == 0 {
            return false;
        }
        if super::now_ns() < until {
            return true;
        }
        let _ = self
            .until_ns
            .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
        false
    }

    /// A reader follows the event ring until `until_ns` (monotonic, `now_ns`); a shorter
    /// lease does not cut a longer one.
    pub fn want_events_until(&self, until_ns: u64) {
        self.until_ns.fetch_max(until_ns, Ordering::Relaxed);
    }
}

/// Tracing's part of the segment.
#[repr(C)]
pub struct TraceTables {
    /// Events ever written to the ring (the next event's sequence number).
    pub events_written: AtomicU64,
    /// Bytes from the header's start that are backed: all a reader may read.
    committed: AtomicU64,
    /// The memory the tables grow into, and its budget.
    pool: Pool,
    stacks: StackTrie,
    live: LiveTable,
    /// Offset of the tracing threads' running totals, not yet on their stacks' nodes (a
    /// `PendingTable`); 0 until a thread first counts.
    pending: AtomicU64,
    events: [EventEntry; EVENT_CAPACITY],
    /// The memory the pool hands out, backed page by page as it is taken (a chunk more than
    /// the largest budget: the pool starts at a chunk boundary).
    space: [AtomicU64; (SPACE_BYTES + CHUNK as usize) / 8],
}

/// A fingerprint of the tables' layout as readers rely on it: the sizes and field offsets of
/// the header and of each table's entries and slots. The segment header records it
/// (`SegmentHeader::trace_layout`), and a reader built from other sources refuses a segment
/// whose fingerprint differs: a layout change made without bumping `LAYOUT_VERSION` (bumped
/// by hand) would otherwise be misread, as a stale CLI once read a live table as holding no
/// block.
pub const TRACE_LAYOUT: u32 = {
    use core::mem::{offset_of, size_of};
    let own = [
        size_of::<TraceTables>(),
        offset_of!(TraceTables, events_written),
        offset_of!(TraceTables, committed),
        offset_of!(TraceTables, pool),
        offset_of!(TraceTables, stacks),
        offset_of!(TraceTables, live),
        offset_of!(TraceTables, pending),
        offset_of!(TraceTables, events),
        offset_of!(TraceTables, space),
        size_of::<Pool>(),
        size_of::<EventEntry>(),
        offset_of!(EventEntry, seq),
        offset_of!(EventEntry, addr),
        offset_of!(EventEntry, size),
        offset_of!(EventEntry, time_ns),
        offset_of!(EventEntry, kind),
        offset_of!(EventEntry, scope),
        offset_of!(EventEntry, stack),
        offset_of!(EventEntry, thread),
        CHUNK as usize,
    ];
    let hash = fnv(0xcbf2_9ce4_8422_2325, &own);
    let hash = fnv(hash, &super::stacks::LAYOUT);
    let hash = fnv(hash, &super::live::LAYOUT);
    let hash = fnv(hash, &super::pending::LAYOUT);
    (hash ^ hash >> 32) as u32
};

/// FNV-1a over `values`, from `hash`.
const fn fnv(mut hash: u64, values: &[usize]) -> u64 {
    let mut at = 0;
    while at < values.len() {
        hash = (hash ^ values[at] as u64).wrapping_mul(0x100_0000_01b3);
        at += 1;
    }
    hash
}

/// What one table holds and takes (`skull-trace status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableUsage {
    /// Entries: unique stacks (trie nodes), or live blocks.
    pub entries: u64,
    /// Bytes the table has taken from the trace memory.
    pub bytes: u64,
    /// Entries dropped for want of memory.
    pub dropped: u64,
}

/// The trace memory as a whole (`skull-trace status`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Bytes the tables have taken.
    pub used: u64,
    /// Bytes backed (header included).
    pub committed: u64,
    /// The budget (`SKULL_MEM_TRACE_MEMORY`).
    pub budget: u64,
    /// The stack trie: nodes, and node chunks plus index.
    pub stacks: TableUsage,
    /// The live-block table.
    pub live: TableUsage,
    /// The threads' running totals (`pending`): one chunk, once a thread has counted.
    pub totals_bytes: u64,
}

impl TraceTables {
    /// Bytes before the memory the tables grow into: what must be backed before the tables
    /// are first used (the rest is committed as the pool hands it out).
    pub const HEADER_BYTES: usize = core::mem::offset_of!(TraceTables, space);

    /// The bytes a reader may read, from the header's own address.
    pub fn bytes(&self) -> Bytes {
        let len =
            (self.committed.load(Ordering::Acquire) as usize).min(core::mem::size_of::<Self>());
        // SAFETY: the header and the committed bytes after it lie in the same mapping as
        // `self`, which outlives the returned view's use by the caller (it borrows `self`
        // in every method here), and are only changed through atomics.
        unsafe { Bytes::new(self as *const Self as *const u8, len) }
    }

    /// Lets the tables take up to `budget` bytes. Called when the region is mapped, and by
    /// `skull-trace on --memory` (a budget below what is taken stops further growth).
    pub fn set_budget(&self, budget: u64) {
        let start = core::mem::offset_of!(TraceTables, space) as u64;
        if self.committed.load(Ordering::Relaxed) == 0 {
            self.pool.configure(start, budget);
            self.committed.store(start, Ordering::Release);
        } else {
            self.pool.set_budget(budget);
        }
    }

    /// The memory budget.
    pub fn budget(&self) -> u64 {
        self.pool.budget()
    }

    /// Interns `frames` (innermost first; `truncated` when cut at the depth limit) and
    /// returns the stack's id, or `None` without memory for it. `path` is the calling
    /// thread's last interned stack (see `TriePath`).
    pub fn intern(
        &self,
        backing: &impl Backing,
        frames: &[u64],
        truncated: bool,
        path: &mut TriePath,
    ) -> Option<u32> {
        self.stacks
            .intern(frames, truncated, &self.pool, backing, path)
    }

    /// Counts a traced allocation of `size` bytes with stack `id`: in the calling thread's slot of
    /// running totals `pending` when it has one (see `pending`), else on the stack's node.
    pub fn count_allocation(
        &self,
        backing: &impl Backing,
        id: u32,
        size: u64,
        pending: Option<u32>,
    ) {
        let bytes = Bytes::of(backing);
        let table = pending.and_then(|slot| Some((self.pending_table(&bytes)?, slot)));
        let flushed = match table {
            Some((table, slot)) => table.count(slot, id, size),
            None => Some((id, 1, size)),
        };
        self.add_to_node(&bytes, flushed);
    }

    /// Adds totals moved out of a slot of running totals (or counted without one) to their
    /// stack's node.
    fn add_to_node(&self, bytes: &Bytes, flushed: Flushed) {
        if let Some((stack, allocs, total)) = flushed {
            self.stacks.count(bytes, stack, allocs, total);
        }
    }

    /// A slot of running totals for the calling thread; `None` when every slot is owned or
    /// there is no memory for the slots. The first call takes their chunk; two threads may
    /// both take one, and the loser's stays unused (64 KiB, once).
    pub fn claim_pending(&self, backing: &impl Backing) -> Option<u32> {
        if self.pending.load(Ordering::Acquire) == 0 {
            let taken = self.pool.take(backing, CHUNK)?;
            let _ = self
                .pending
                .compare_exchange(0, taken, Ordering::AcqRel, Ordering::Acquire);
        }
        self.pending_table(&Bytes::of(backing))?.claim()
    }

    /// The running totals' slots, once taken.
    fn pending_table<'a>(&self, bytes: &'a Bytes) -> Option<&'a PendingTable> {
        match self.pending.load(Ordering::Acquire) {
            0 => None,
            offset => bytes.get(offset),
        }
    }

    /// The calling thread exits: its running totals go to their stack's node and its slot is
    /// freed.
    pub fn release_pending(&self, backing: &impl Backing, slot: u32) {
        let bytes = Bytes::of(backing);
        let flushed = self
            .pending_table(&bytes)
            .and_then(|table| table.release(slot));
        self.add_to_node(&bytes, flushed);
    }

    /// Every stack something was counted against, as (id, traced allocations, their bytes)
    /// in id order: the nodes' totals and the threads' running totals together. For a reader
    /// that reads many stacks at once (`stack_nodes`) rather than one by one as `stacks` does.
    pub fn counted_stacks(&self) -> Vec<(u32, u64, u64)> {
        let bytes = self.bytes();
        let nodes = self.stacks.nodes();
        let mut pending: Vec<(u32, u64, u64)> = self
            .pending_table(&bytes)
            .into_iter()
            .flat_map(PendingTable::totals)
            .filter(|&(id, _, _)| id < nodes)
            .collect();
        pending.sort_unstable_by_key(|&(id, _, _)| id);
        let mut totals: Vec<(u32, u64, u64)> = self
            .stacks
            .counted(&bytes)
            .map(|id| {
                let (allocs, total) = self.stacks.totals(&bytes, id);
                (id, allocs, total)
            })
            .collect();
        // Each pending total joins its node's, or stands alone when the node has none yet.
        for (id, allocs, total) in pending {
            match totals.binary_search_by_key(&id, |&(node, _, _)| node) {
                Ok(at) => {
                    totals[at].1 += allocs;
                    totals[at].2 += total;
                }
                Err(at) => totals.insert(at, (id, allocs, total)),
            }
        }
        totals
    }

    /// Records a live block and returns the level of the live table that holds it (for
    /// `take`); `None` when there was no memory for it (the block stays untraced).
    pub fn insert(&self, backing: &impl Backing, block: LiveBlock) -> Option<u8> {
        self.live.insert(block, &self.pool, backing)
    }

    /// As `insert`, but into the slot `kept` when it was kept for a block at this address
    /// (see `KeptSlot`); a slot kept for another address is released.
    pub fn insert_keeping(
        &self,
        backing: &impl Backing,
        block: LiveBlock,
        kept: Option<KeptSlot>,
    ) -> Option<u8> {
        if let Some(kept) = kept {
            if let Some(level) = self.live.fill_kept(&Bytes::of(backing), kept, &block) {
                return Some(level);
            }
        }
        self.insert(backing, block)
    }

    /// Removes the live block at `addr` and returns it; `None` when it is not in the table.
    /// `level` is what `insert` returned for it (searched first).
    pub fn take(&self, backing: &impl Backing, addr: u64, level: u8) -> Option<LiveBlock> {
        self.live.take(&Bytes::of(backing), addr, level)
    }

    /// As `take`, but the block goes to `seen`, and its slot is kept for the calling thread's
    /// next traced block at its address (see `KeptSlot`): the slot must go to
    /// `insert_keeping` or `release_kept`.
    pub fn take_keeping(
        &self,
        backing: &impl Backing,
        addr: u64,
        level: u8,
        seen: impl FnOnce(LiveBlock),
    ) -> Option<KeptSlot> {
        self.live
            .take_keeping(&Bytes::of(backing), addr, level, seen)
    }

    /// Gives up a slot `take_keeping` kept.
    pub fn release_kept(&self, backing: &impl Backing, kept: KeptSlot) {
        self.live.release_kept(&Bytes::of(backing), kept);
    }

    /// The first `end` bytes from the header's start are backed now: readers may read them.
    /// Returns how many were before.
    pub fn committed_to(&self, end: u64) -> u64 {
        self.committed.fetch_max(end, Ordering::Release)
    }

    /// Stacks not recorded for want of memory (their blocks are not traced).
    pub fn dropped_stacks(&self) -> u64 {
        self.stacks.dropped.load(Ordering::Relaxed)
    }

    /// Blocks not recorded for want of memory.
    pub fn dropped_blocks(&self) -> u64 {
        self.live.dropped.load(Ordering::Relaxed)
    }

    /// Every stack something was counted against: the stack, its traced allocations and
    /// their bytes.
    pub fn stacks(&self) -> Vec<(Stack, u64, u64)> {
        let bytes = self.bytes();
        self.counted_stacks()
            .into_iter()
            .filter_map(|(id, allocs, total)| Some((self.stacks.stack(&bytes, id)?, allocs, total)))
            .collect()
    }

    /// The stack with id `id`; empty and not truncated when there is none.
    pub fn stack(&self, id: u32) -> Stack {
        self.stacks.stack(&self.bytes(), id).unwrap_or(Stack {
            frames: Vec::new(),
            truncated: false,
        })
    }

    /// Allocations recorded in the live table so far: every allocation counted with its
    /// stack was then recorded, or dropped for want of room. Derived, not counted, so that
    /// recording does one atomic add fewer.
    pub fn traced_allocs(&self) -> u64 {
        let counted: u64 = self
            .counted_stacks()
            .iter()
            .map(|&(_, allocs, _)| allocs)
            .sum();
        counted.saturating_sub(self.dropped_blocks())
    }

    /// The stack trie's nodes `0..end` in id order, each after its parent (see
    /// `StackTrie::nodes_in_order`): how a report reads many stacks at once.
    pub fn stack_nodes(&self, end: u32) -> impl Iterator<Item = Option<TrieNode>> + '_ {
        self.stacks.nodes_in_order(&self.bytes(), end)
    }

    /// Every live traced block now. A block freed or allocated during the walk may or may
    /// not be in it; an entry changed while read is skipped.
    pub fn live_blocks(&self) -> Vec<LiveBlock> {
        self.live.blocks(&self.bytes())
    }

    /// What the trace memory holds, per table.
    pub fn usage(&self) -> MemoryUsage {
        self.usage_with_live(self.live_blocks().len() as u64)
    }

    /// What the trace memory holds, `live` blocks being live: for a caller that has just
    /// walked the live table, so that it is not walked again.
    pub fn usage_with_live(&self, live: u64) -> MemoryUsage {
        MemoryUsage {
            used: self.pool.used(),
            committed: self.committed.load(Ordering::Relaxed),
            budget: self.pool.budget(),
            stacks: TableUsage {
                entries: u64::from(self.stacks.nodes()),
                bytes: self.stacks.node_bytes() + self.stacks.index_bytes(),
                dropped: self.dropped_stacks(),
            },
            live: TableUsage {
                entries: live,
                bytes: self.live.bytes(),
                dropped: self.dropped_blocks(),
            },
            totals_bytes: match self.pending.load(Ordering::Relaxed) {
                0 => 0,
                _ => CHUNK,
            },
        }
    }

    /// Appends an event to the ring, overwriting the oldest.
    pub fn push_event(&self, event: Event) {
        let seq = self.events_written.fetch_add(1, Ordering::Relaxed);
        let entry = &self.events[(seq % EVENT_CAPACITY as u64) as usize];
        // Unpublished while written: a reader skips it rather than see a mix.
        entry.seq.store(0, Ordering::Release);
        entry.addr.store(event.addr, Ordering::Relaxed);
        entry.size.store(event.size, Ordering::Relaxed);
        entry.time_ns.store(event.time_ns, Ordering::Relaxed);
        entry.kind.store(event.kind, Ordering::Relaxed);
        entry.scope.store(event.scope, Ordering::Relaxed);
        entry.stack.store(event.stack, Ordering::Relaxed);
        entry.thread.store(event.thread, Ordering::Relaxed);
        entry.seq.store(seq + 1, Ordering::Release);
    }

    /// Events with a sequence number from `from` on, oldest first, and how many of those
    /// were already overwritten (lost to this reader).
    pub fn events_since(&self, from: u64) -> (Vec<Event>, u64) {
        let written = self.events_written.load(Ordering::Acquire);
        let oldest = written.saturating_sub(EVENT_CAPACITY as u64);
        let start = from.max(oldest);
        // Asked for events already overwritten: those are lost.
        let mut lost = start.min(written).saturating_sub(from);
        let mut events = Vec::new();
        for seq in start..written {
            let entry = &self.events[(seq % EVENT_CAPACITY as u64) as usize];
            if entry.seq.load(Ordering::Acquire) != seq + 1 {
                lost += 1;
                continue;
            }
            let event = Event {
                seq,
                kind: entry.kind.load(Ordering::Relaxed),
                addr: entry.addr.load(Ordering::Relaxed),
                size: entry.size.load(Ordering::Relaxed),
                time_ns: entry.time_ns.load(Ordering::Relaxed),
                scope: entry.scope.load(Ordering::Relaxed),
                stack: entry.stack.load(Ordering::Relaxed),
                thread: entry.thread.load(Ordering::Relaxed),
            };
            if entry.seq.load(Ordering::Acquire) == seq + 1 {
                events.push(event);
            } else {
                lost += 1;
            }
        }
        (events, lost)
    }
}

/// The tables' own memory as a `Backing`: the space after the header, up to the budget. A
/// segment's trace area replaces it once the tables live in one.
impl Backing for TraceTables {
    fn base(&self) -> *mut u8 {
        self as *const Self as *mut u8
    }

    fn commit(&self, end: usize) -> bool {
        if end > core::mem::size_of::<Self>() {
            return false;
        }
        self.committed_to(end as u64);
        true
    }

    fn committed(&self) -> usize {
        self.committed.load(Ordering::Acquire) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::backing::anon::zeroed;
    use std::sync::atomic::AtomicBool;

    fn tables(budget: u64) -> Box<TraceTables> {
        let t = zeroed::<TraceTables>();
        t.set_budget(budget);
        t
    }

    fn block(addr: u64, stack: u32) -> LiveBlock {
        LiveBlock {
            addr,
            size: addr % 4096,
            time_ns: 5,
            scope: 3,
            stack,
        }
    }

    #[test]
    fn stacks_are_interned_once_and_blocks_come_and_go() {
        let t = tables(64 << 20);
        let a = t
            .intern(&*t, &[1, 2, 3], false, &mut TriePath::new())
            .unwrap();
        assert_eq!(
            t.intern(&*t, &[1, 2, 3], false, &mut TriePath::new()),
            Some(a)
        );
        let b = t.intern(&*t, &[2, 3], true, &mut TriePath::new()).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.stack(a).frames, vec![1, 2, 3]);
        assert!(t.stack(b).truncated);
        let one = block(0x1000, a);
        assert_eq!(t.insert(&*t, one), Some(0), "the first level");
        assert_eq!(t.live_blocks(), vec![one]);
        assert_eq!(t.take(&*t, 0x1000, 0), Some(one));
        assert_eq!(t.take(&*t, 0x1000, 0), None);
        assert!(t.live_blocks().is_empty());
        t.count_allocation(&*t, a, 10, None);
        t.count_allocation(&*t, a, 20, None);
        t.count_allocation(&*t, b, 30, None);
        assert_eq!(
            t.stacks(),
            vec![(t.stack(a), 2, 30), (t.stack(b), 1, 30)],
            "in id order"
        );
        assert_eq!(t.traced_allocs(), 3);
        let usage = t.usage();
        assert_eq!(usage.budget, 64 << 20);
        // The root's node chunk, one index level, one live level: 64 KiB each.
        assert_eq!(usage.used, 3 * 64 * 1024);
        assert_eq!(
            usage.stacks.entries, 5,
            "the root, 3, 2 and 1 (outermost first), and the cut mark after 2"
        );
        assert_eq!(usage.live.bytes, 64 * 1024);
    }

    #[test]
    fn running_totals_are_read_with_the_nodes_and_go_to_them_when_given_up() {
        let t = tables(64 << 20);
        let mut path = TriePath::new();
        let a = t.intern(&*t, &[1, 2], false, &mut path).unwrap();
        let b = t.intern(&*t, &[3, 2], false, &mut path).unwrap();
        let slot = t.claim_pending(&*t);
        // a, a, b through the slot: a's two go to its node when b comes, b's stay running.
        t.count_allocation(&*t, a, 10, slot);
        t.count_allocation(&*t, a, 20, slot);
        assert_eq!(t.counted_stacks(), vec![(a, 2, 30)], "running totals alone");
        t.count_allocation(&*t, b, 5, slot);
        // And one allocation of b on its node, by a thread without a slot.
        t.count_allocation(&*t, b, 7, None);
        assert_eq!(t.counted_stacks(), vec![(a, 2, 30), (b, 2, 12)]);
        assert_eq!(t.traced_allocs(), 4);
        t.release_pending(&*t, slot.unwrap());
        assert_eq!(
            t.counted_stacks(),
            vec![(a, 2, 30), (b, 2, 12)],
            "all on the nodes now"
        );
        // The freed slot is the next thread's; once every slot is owned, there is none.
        assert_eq!(t.claim_pending(&*t), slot);
        for _ in 1..super::super::pending::PENDING_SLOTS {
            assert!(t.claim_pending(&*t).is_some());
        }
        assert_eq!(t.claim_pending(&*t), None);
    }

    #[test]
    fn events_are_wanted_only_while_a_reader_holds_a_lease() {
        let lease = TailLease {
            until_ns: AtomicU64::new(0),
        };
        assert!(!lease.events_wanted());
        let now = crate::trace::now_ns();
        lease.want_events_until(now + 60_000_000_000);
        assert!(lease.events_wanted());
        lease.want_events_until(now - 1);
        assert!(
            lease.events_wanted(),
            "a shorter lease does not cut a longer one"
        );
        let lease = TailLease {
            until_ns: AtomicU64::new(0),
        };
        lease.want_events_until(1);
        assert!(!lease.events_wanted());
        assert_eq!(
            lease.until_ns.load(Ordering::Relaxed),
            0,
            "an expired lease is ended"
        );
    }

    /// Four writers grow both tables (new index and live levels, new node chunks) while a
    /// reader walks them again and again: every block it sees is whole (its fields agree
    /// with its address) and its stack reads back as written; at the end, every block and
    /// stack is there.
    #[test]
    fn readers_stay_correct_while_writers_on_several_threads_grow_the_tables() {
        const WRITERS: u64 = 4;
        const PER_WRITER: u64 = 100_000;
        let t = tables(512 << 20);
        let frames = |i: u64| [0x5000 + i % 5000, 0x400 + i % 40, 0x300, 0x200 + i % 3];
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let t = &*t;
            let done = &done;
            let writers: Vec<_> = (0..WRITERS)
                .map(|w| {
                    scope.spawn(move || {
                        let mut path = TriePath::new();
                        // Writers count through their own slot of running totals, as
                        // threads do; the first two give it up at the end, as an exiting
                        // thread does, and the others keep theirs: both are counted.
                        let slot = t.claim_pending(t);
                        assert!(slot.is_some());
                        for i in 0..PER_WRITER {
                            let n = w * PER_WRITER + i;
                            let stack = t.intern(t, &frames(n), false, &mut path).unwrap();
                            t.count_allocation(t, stack, 1, slot);
                            let addr = 0x7000_0000 + n * 16;
                            let level = t.insert(t, block(addr, stack)).unwrap();
                            // Every fourth block is freed again: tombstones as well as growth.
                            if n.is_multiple_of(4) {
                                assert!(t.take(t, addr, level).is_some());
                            }
                        }
                        if w < 2 {
                            t.release_pending(t, slot.unwrap());
                        }
                    })
                })
                .collect();
            scope.spawn(move || {
                let mut walks = 0;
                while !done.load(Ordering::Acquire) || walks == 0 {
                    let blocks = t.live_blocks();
                    // The nodes in id order up to the newest stack seen, read while writers
                    // add more: every block's stack reads back from them too.
                    let end = blocks.iter().map(|b| b.stack + 1).max().unwrap_or(0);
                    let nodes: Vec<_> = t.stack_nodes(end).collect();
                    for live in blocks {
                        let n = (live.addr - 0x7000_0000) / 16;
                        assert_eq!(live, block(live.addr, live.stack));
                        assert_eq!(t.stack(live.stack).frames, frames(n));
                        let mut read = Vec::new();
                        let mut node = live.stack;
                        while node != 0 {
                            let entry = nodes[node as usize].unwrap();
                            assert!(entry.parent < node);
                            read.push(entry.ret);
                            node = entry.parent;
                        }
                        assert_eq!(read, frames(n));
                    }
                    walks += 1;
                }
                assert!(walks > 1);
            });
            for writer in writers {
                writer.join().unwrap();
            }
            done.store(true, Ordering::Release);
        });
        let all = WRITERS * PER_WRITER;
        assert_eq!(t.dropped_blocks() + t.dropped_stacks(), 0);
        assert_eq!(t.live_blocks().len() as u64, all - all / 4);
        assert_eq!(t.traced_allocs(), all);
        // i % 5000, i % 40 and i % 3 of the same i give lcm(5000, 40, 3) = 15,000 distinct stacks; racing threads may add one twice.
        let distinct: std::collections::HashSet<Vec<u64>> =
            t.stacks().into_iter().map(|(s, _, _)| s.frames).collect();
        assert_eq!(distinct.len(), 15_000);
    }
}
