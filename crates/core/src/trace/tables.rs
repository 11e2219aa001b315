//! The bounded tables tracing fills inside malloc, in the segment so `skull-trace` reads them
//! from outside: unique stacks, interned once, and the live traced blocks.
//!
//! Both are open-addressing hash tables of fixed capacity written with compare-and-swap
//! only: a writer never waits and never grows a table. When a probe sequence finds no room
//! the event is dropped and counted. Entries are published by a final Release store of
//! their key, so a reader that sees a key sees the fields written before it.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::control::MAX_DEPTH;

/// Unique stacks the table holds at most (`SKULL_MEM_TRACE_STACKS` lowers it).
pub const STACK_CAPACITY: usize = 8192;
/// Live traced blocks the table holds at most (`SKULL_MEM_TRACE_LIVE` lowers it).
pub const LIVE_CAPACITY: usize = 65536;
/// Events the ring keeps for `skull-trace tail`; older ones are overwritten.
pub const EVENT_CAPACITY: usize = 4096;
/// Slots a lookup inspects before giving up (a full table drops instead of searching it all).
const PROBES: usize = 64;
/// Copies of the per-stack totals: a thread adds to the copy its id selects, so threads that
/// allocate from the same stack do not fight over one cache line (measured: with one shared
/// copy, two threads tracing everything ran 3x slower than one).
const COUNT_SHARDS: usize = 8;

const EMPTY: u64 = 0;
/// A live slot whose block was freed: reusable, but probing goes on past it.
const TOMBSTONE: u64 = 1;
/// A slot being written.
const CLAIMED: u64 = 2;

/// One interned stack: return addresses, innermost first.
#[repr(C)]
pub struct StackEntry {
    /// Hash of the frames (never 0..=2); 0 while empty, `CLAIMED` while being written.
    hash: AtomicU64,
    depth: AtomicU32,
    _pad: u32,
    frames: [AtomicU64; MAX_DEPTH],
}

/// One thread group's traced allocations with one stack, and their bytes.
#[repr(C)]
struct StackCount {
    allocs: AtomicU64,
    bytes: AtomicU64,
}

/// One live traced block.
#[repr(C)]
pub struct LiveEntry {
    /// The user pointer; `EMPTY`, `TOMBSTONE` or `CLAIMED` when it holds no block.
    addr: AtomicU64,
    size: AtomicU64,
    /// Monotonic clock, ns, at allocation.
    time_ns: AtomicU64,
    scope: AtomicU32,
    stack: AtomicU32,
}

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

impl LiveEntry {
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

/// Tracing's part of the segment.
#[repr(C)]
pub struct TraceTables {
    /// Until when (monotonic ns, `now_ns`) a reader follows the event ring; 0 when none does.
    /// Events are written only while one does: `skull-trace tail` renews this as it polls.
    tail_until_ns: AtomicU64,
    /// Stacks not interned because the stack table was full (their blocks are not traced).
    pub dropped_stacks: AtomicU64,
    /// Blocks not recorded because the live table was full.
    pub dropped_blocks: AtomicU64,
    /// Events ever written to the ring (the next event's sequence number).
    pub events_written: AtomicU64,
    /// Slots of each table in use, set once at start-up; 0 means all. Only that many
    /// entries are ever touched, which bounds the memory tracing can take.
    stack_slots: AtomicU32,
    live_slots: AtomicU32,
    stacks: [StackEntry; STACK_CAPACITY],
    counts: [[StackCount; STACK_CAPACITY]; COUNT_SHARDS],
    live: [LiveEntry; LIVE_CAPACITY],
    events: [EventEntry; EVENT_CAPACITY],
}

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
    /// Index of its stack (see `stack`).
    pub stack: u32,
}

fn stack_hash(frames: &[u64]) -> u64 {
    // FNV-1a over the addresses, then kept clear of the reserved values.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &frame in frames {
        hash = (hash ^ frame).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash.max(CLAIMED + 1)
}

fn addr_hash(addr: u64) -> u64 {
    // Blocks are 16-aligned: drop the zero bits, then mix.
    (addr >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The first slot to probe for `hash` among `slots`: the high 32 bits of the hash scaled to
/// the table, a multiplication where `%` would divide (the slot counts are set at start-up,
/// not constants the compiler could turn into masks).
fn first_slot(hash: u64, slots: usize) -> usize {
    (((hash >> 32) * slots as u64) >> 32) as usize
}

/// The slots a lookup probes: `PROBES` of them from `first`, wrapping at `slots`.
fn probe_sequence(first: usize, slots: usize) -> impl Iterator<Item = usize> {
    (0..PROBES.min(slots)).map(move |probe| {
        let index = first + probe;
        if index >= slots {
            index - slots
        } else {
            index
        }
    })
}

impl TraceTables {
    /// Limits the tables to `stacks` and `live` entries (at least 1, at most the capacities).
    /// Called once, before tracing can record anything.
    pub fn limit(&self, stacks: usize, live: usize) {
        self.stack_slots
            .store(stacks.clamp(1, STACK_CAPACITY) as u32, Ordering::Relaxed);
        self.live_slots
            .store(live.clamp(1, LIVE_CAPACITY) as u32, Ordering::Relaxed);
    }

    /// Stack table entries in use (bounded, so a corrupt segment read from outside cannot
    /// index past the table).
    pub fn stack_slots(&self) -> usize {
        match self.stack_slots.load(Ordering::Relaxed) as usize {
            0 => STACK_CAPACITY,
            n => n.min(STACK_CAPACITY),
        }
    }

    /// Live table entries in use (bounded like `stack_slots`).
    pub fn live_slots(&self) -> usize {
        match self.live_slots.load(Ordering::Relaxed) as usize {
            0 => LIVE_CAPACITY,
            n => n.min(LIVE_CAPACITY),
        }
    }

    /// Interns `frames` and returns its index, or `None` when the table is full.
    pub fn intern(&self, frames: &[u64]) -> Option<u32> {
        let frames = &frames[..frames.len().min(MAX_DEPTH)];
        let hash = stack_hash(frames);
        let slots = self.stack_slots();
        for index in probe_sequence(first_slot(hash, slots), slots) {
            let entry = &self.stacks[index];
            let mut seen = entry.hash.load(Ordering::Acquire);
            if seen == EMPTY {
                match entry.hash.compare_exchange(
                    EMPTY,
                    CLAIMED,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        for (slot, &frame) in entry.frames.iter().zip(frames) {
                            slot.store(frame, Ordering::Relaxed);
                        }
                        entry.depth.store(frames.len() as u32, Ordering::Relaxed);
                        entry.hash.store(hash, Ordering::Release);
                        return Some(index as u32);
                    }
                    Err(now) => seen = now,
                }
            }
            // A stack being written by another thread may be this one: it is interned
            // twice at worst, and readers merge equal stacks.
            if seen == hash && self.stack_equals(entry, frames) {
                return Some(index as u32);
            }
        }
        self.dropped_stacks.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn stack_equals(&self, entry: &StackEntry, frames: &[u64]) -> bool {
        entry.depth.load(Ordering::Relaxed) as usize == frames.len()
            && entry
                .frames
                .iter()
                .zip(frames)
                .all(|(slot, &frame)| slot.load(Ordering::Relaxed) == frame)
    }

    /// Counts a traced allocation of `bytes` with stack `index`, made by thread `thread`.
    pub fn count_allocation(&self, index: u32, bytes: u64, thread: u32) {
        let shard = &self.counts[thread as usize % COUNT_SHARDS];
        if let Some(count) = shard.get(index as usize) {
            count.allocs.fetch_add(1, Ordering::Relaxed);
            count.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Traced allocations with stack `index`, and their bytes, summed over the shards.
    fn stack_totals(&self, index: usize) -> (u64, u64) {
        self.counts.iter().fold((0, 0), |(allocs, bytes), shard| {
            (
                allocs + shard[index].allocs.load(Ordering::Relaxed),
                bytes + shard[index].bytes.load(Ordering::Relaxed),
            )
        })
    }

    /// Every interned stack with its traced allocations: `(frames, allocations, bytes)`.
    pub fn stacks(&self) -> Vec<(Vec<u64>, u64, u64)> {
        (0..self.stack_slots() as u32)
            .filter_map(|index| {
                let frames = self.stack(index);
                (!frames.is_empty()).then(|| {
                    let (allocs, bytes) = self.stack_totals(index as usize);
                    (frames, allocs, bytes)
                })
            })
            .collect()
    }

    /// Allocations recorded in the live table so far: every allocation counted with its
    /// stack was then recorded, or dropped for want of room. Derived, not counted, so that
    /// recording does one atomic add fewer.
    pub fn traced_allocs(&self) -> u64 {
        let counted: u64 = (0..self.stack_slots())
            .map(|index| self.stack_totals(index).0)
            .sum();
        counted.saturating_sub(self.dropped_blocks.load(Ordering::Relaxed))
    }

    /// Whether a reader follows the event ring now; when its lease has run out, ends it, so
    /// that later calls do not read the clock.
    pub fn events_wanted(&self) -> bool {
        let until = self.tail_until_ns.load(Ordering::Relaxed);
        if until == 0 {
            return false;
        }
        if super::now_ns() < until {
            return true;
        }
        let _ = self
            .tail_until_ns
            .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
        false
    }

    /// A reader follows the event ring until `until_ns` (monotonic, `now_ns`).
    pub fn want_events_until(&self, until_ns: u64) {
        self.tail_until_ns.fetch_max(until_ns, Ordering::Relaxed);
    }

    /// The live-table slots where the block at `addr` may be, in probing order.
    fn live_probes(&self, addr: u64) -> impl Iterator<Item = usize> {
        let slots = self.live_slots();
        probe_sequence(first_slot(addr_hash(addr), slots), slots)
    }

    /// Records a live block; false when the table had no room (the block stays untraced).
    pub fn insert(&self, block: LiveBlock) -> bool {
        for index in self.live_probes(block.addr) {
            let entry = &self.live[index];
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
                return true;
            }
        }
        self.dropped_blocks.fetch_add(1, Ordering::Relaxed);
        false
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

    /// Removes the live block at `addr` and returns it; `None` when it is not in the table.
    pub fn take(&self, addr: u64) -> Option<LiveBlock> {
        for index in self.live_probes(addr) {
            let entry = &self.live[index];
            let seen = entry.addr.load(Ordering::Acquire);
            if seen == addr {
                let block = entry.read(addr);
                if entry
                    .addr
                    .compare_exchange(addr, TOMBSTONE, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(block);
                }
                return None;
            }
            if seen == EMPTY {
                return None;
            }
        }
        None
    }

    /// Removes the live block at `addr`; false when it is not in the table.
    pub fn remove(&self, addr: u64) -> bool {
        self.take(addr).is_some()
    }

    /// Every live traced block now. A block freed or allocated during the walk may or may
    /// not be in it; an entry changed while read is skipped.
    pub fn live_blocks(&self) -> Vec<LiveBlock> {
        let mut blocks = Vec::new();
        for entry in &self.live[..self.live_slots()] {
            let addr = entry.addr.load(Ordering::Acquire);
            if addr <= CLAIMED {
                continue;
            }
            let block = entry.read(addr);
            if entry.addr.load(Ordering::Acquire) == addr {
                blocks.push(block);
            }
        }
        blocks
    }

    /// The frames of stack `index`, innermost first; empty when there is no such stack.
    pub fn stack(&self, index: u32) -> Vec<u64> {
        let Some(entry) = self.stacks.get(index as usize) else {
            return Vec::new();
        };
        if entry.hash.load(Ordering::Acquire) <= CLAIMED {
            return Vec::new();
        }
        let depth = (entry.depth.load(Ordering::Relaxed) as usize).min(MAX_DEPTH);
        entry.frames[..depth]
            .iter()
            .map(|frame| frame.load(Ordering::Relaxed))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> Box<TraceTables> {
        // SAFETY: all-zero is a valid empty `TraceTables` (atomics only); allocated zeroed
        // on the heap because it is several MiB.
        unsafe {
            let layout = std::alloc::Layout::new::<TraceTables>();
            Box::from_raw(std::alloc::alloc_zeroed(layout) as *mut TraceTables)
        }
    }

    #[test]
    fn stacks_are_interned_once_and_blocks_come_and_go() {
        let t = tables();
        let a = t.intern(&[1, 2, 3]).unwrap();
        assert_eq!(t.intern(&[1, 2, 3]), Some(a));
        let b = t.intern(&[1, 2]).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.stack(a), vec![1, 2, 3]);
        let block = LiveBlock {
            addr: 0x1000,
            size: 64,
            time_ns: 5,
            scope: 3,
            stack: a,
        };
        assert!(t.insert(block));
        assert_eq!(t.live_blocks(), vec![block]);
        assert!(t.remove(0x1000));
        assert!(!t.remove(0x1000));
        assert!(t.live_blocks().is_empty());
    }

    #[test]
    fn stack_totals_add_up_over_threads_and_traced_allocations_leave_out_drops() {
        let t = tables();
        t.limit(8, 2);
        let stack = t.intern(&[7, 8]).unwrap();
        for (thread, bytes) in [(1, 10), (2, 20), (9, 30)] {
            t.count_allocation(stack, bytes, thread);
        }
        assert_eq!(t.stacks(), vec![(vec![7, 8], 3, 60)]);
        let mut recorded = 0;
        for addr in [0x100, 0x200, 0x300] {
            let block = LiveBlock {
                addr,
                size: 1,
                time_ns: 0,
                scope: 0,
                stack,
            };
            recorded += u64::from(t.insert(block));
        }
        assert_eq!(recorded, 2);
        assert_eq!(t.dropped_blocks.load(Ordering::Relaxed), 1);
        assert_eq!(t.traced_allocs(), 2);
    }

    #[test]
    fn events_are_wanted_only_while_a_reader_holds_a_lease() {
        let t = tables();
        assert!(!t.events_wanted());
        let now = crate::trace::now_ns();
        t.want_events_until(now + 60_000_000_000);
        assert!(t.events_wanted());
        t.want_events_until(now - 1);
        assert!(
            t.events_wanted(),
            "a shorter lease does not cut a longer one"
        );
        let t = tables();
        t.want_events_until(1);
        assert!(!t.events_wanted());
        assert_eq!(
            t.tail_until_ns.load(Ordering::Relaxed),
            0,
            "an expired lease is ended"
        );
    }

    #[test]
    fn a_full_table_drops_and_counts() {
        let t = tables();
        let mut inserted = 0;
        for i in 0..(LIVE_CAPACITY as u64 + 1000) {
            let block = LiveBlock {
                addr: 0x10_0000 + i * 16,
                size: 1,
                time_ns: 0,
                scope: 0,
                stack: 0,
            };
            inserted += u64::from(t.insert(block));
        }
        let dropped = t.dropped_blocks.load(Ordering::Relaxed);
        assert_eq!(inserted + dropped, LIVE_CAPACITY as u64 + 1000);
        assert!(dropped >= 1000);
        assert_eq!(t.live_blocks().len() as u64, inserted);
    }
}
