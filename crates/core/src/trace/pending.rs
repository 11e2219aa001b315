//! Each tracing thread's running totals for the stack it counted last, added to that stack's
//! trie node only when the thread counts another stack (or exits). A loop that allocates
//! from one call site then counts with two plain stores instead of two atomic adds on a node
//! that every thread allocating there shares: on 2 threads a traced malloc+free spent most
//! of its time passing that node's cache line back and forth. The totals sit in one chunk of
//! the trace memory, taken when a thread first counts (a process that never traces pays
//! nothing for them), so a reader adds them to the nodes' and sees every allocation counted.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Threads that keep running totals at once (one chunk of them); a thread past them counts
/// on the nodes.
pub const PENDING_SLOTS: usize = 1024;

/// One thread's running totals, a cache line apart from the next thread's (the padding):
/// two threads whose totals shared a line passed it back and forth as the node did.
#[repr(C)]
pub struct Pending {
    /// 1 while a thread owns the slot, 0 when it is free.
    owned: AtomicU32,
    /// The stack the totals are of (0: none).
    stack: AtomicU32,
    /// Allocations counted here and not yet on the stack's node.
    allocs: AtomicU64,
    /// Their bytes.
    bytes: AtomicU64,
    _pad: [u64; 5],
}

/// The slots: one chunk of the trace memory (64 KiB).
#[repr(C)]
pub struct PendingTable {
    slots: [Pending; PENDING_SLOTS],
}

const _: () = assert!(core::mem::size_of::<PendingTable>() as u64 == super::pool::CHUNK);

/// What readers rely on here, for `tables::TRACE_LAYOUT`: a slot's size and fields.
pub(super) const LAYOUT: [usize; 5] = {
    use core::mem::{offset_of, size_of};
    [
        size_of::<Pending>(),
        offset_of!(Pending, owned),
        offset_of!(Pending, stack),
        offset_of!(Pending, allocs),
        offset_of!(Pending, bytes),
    ]
};

/// What `count` leaves for the stack's node: totals moved out of a slot.
pub type Flushed = Option<(u32, u64, u64)>;

impl PendingTable {
    /// Takes a free slot for the calling thread; `None` when all are owned.
    pub fn claim(&self) -> Option<u32> {
        self.slots
            .iter()
            .position(|slot| {
                slot.owned
                    .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
            .map(|index| index as u32)
    }

    /// Counts an allocation of `size` bytes with `stack` in the caller's slot `index`.
    /// Returns the totals of the stack the slot held before when it held another one: the
    /// caller adds them to that stack's node. Only the slot's owner calls this, so plain
    /// loads and stores suffice; they are atomics for the reader in another process.
    pub fn count(&self, index: u32, stack: u32, size: u64) -> Flushed {
        let slot = self.slots.get(index as usize)?;
        let held = slot.stack.load(Ordering::Relaxed);
        if held == stack {
            let allocs = slot.allocs.load(Ordering::Relaxed);
            let bytes = slot.bytes.load(Ordering::Relaxed);
            slot.allocs.store(allocs + 1, Ordering::Relaxed);
            slot.bytes.store(bytes + size, Ordering::Relaxed);
            return None;
        }
        let flushed = self.take(slot);
        slot.allocs.store(1, Ordering::Relaxed);
        slot.bytes.store(size, Ordering::Relaxed);
        slot.stack.store(stack, Ordering::Release);
        flushed
    }

    /// Empties the caller's slot `index` and frees it (the thread exits); returns its totals
    /// for the stack's node.
    pub fn release(&self, index: u32) -> Flushed {
        let slot = self.slots.get(index as usize)?;
        let flushed = self.take(slot);
        slot.owned.store(0, Ordering::Release);
        flushed
    }

    /// Empties `slot`, returning what it held. A reader between this and the caller's add to
    /// the node misses those allocations for that moment, as any reading of a running process
    /// is a moment's; a stopped or exited thread's totals are exact.
    fn take(&self, slot: &Pending) -> Flushed {
        // Loads and stores, not swaps: only the owner writes the slot, and a swap is a
        // locked instruction, what this module is here to avoid.
        let stack = slot.stack.load(Ordering::Relaxed);
        let allocs = slot.allocs.load(Ordering::Relaxed);
        let bytes = slot.bytes.load(Ordering::Relaxed);
        slot.stack.store(0, Ordering::Relaxed);
        slot.allocs.store(0, Ordering::Relaxed);
        slot.bytes.store(0, Ordering::Relaxed);
        (stack != 0 && allocs != 0).then_some((stack, allocs, bytes))
    }

    /// Every slot's totals now, as (stack, allocations, bytes), for a reader.
    pub fn totals(&self) -> impl Iterator<Item = (u32, u64, u64)> + '_ {
        self.slots.iter().filter_map(|slot| {
            let stack = slot.stack.load(Ordering::Acquire);
            let allocs = slot.allocs.load(Ordering::Relaxed);
            (stack != 0 && allocs != 0).then(|| (stack, allocs, slot.bytes.load(Ordering::Relaxed)))
        })
    }
}
