//! The per-scope counter list and the counter set each thread writes.
//!
//! One list feeds Rust, the C header (`include/skull_mem.h`, checked by a layout test) and
//! the JSON report, so a counter has the same index and name everywhere.

use core::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($variant:ident = $index:literal => $name:literal, $c_name:literal, $doc:literal;)*) => {
        /// One monotonic per-scope counter. Values match `enum skull_counter` in C.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u32)]
        pub enum Counter {
            $(#[doc = $doc] $variant = $index,)*
        }

        impl Counter {
            /// Every counter, in index order.
            pub const ALL: [Counter; COUNTER_COUNT] = [$(Counter::$variant),*];

            /// The stable snake_case name used in JSON.
            pub const fn name(self) -> &'static str {
                match self { $(Counter::$variant => $name,)* }
            }

            /// The C enumerator name, as in `include/skull_mem.h`.
            pub const fn c_name(self) -> &'static str {
                match self { $(Counter::$variant => $c_name,)* }
            }
        }
    };
}

/// Number of counters per scope (`SKULL_COUNTER_COUNT`).
pub const COUNTER_COUNT: usize = 20;

counters! {
    AllocBytes = 0 => "alloc_bytes", "SKULL_ALLOC_BYTES", "Bytes requested by blocks this scope allocated.";
    FreedBytes = 1 => "freed_bytes", "SKULL_FREED_BYTES", "Bytes of this scope's blocks freed, by any scope.";
    AllocBlocks = 2 => "alloc_blocks", "SKULL_ALLOC_BLOCKS", "Blocks allocated.";
    FreedBlocks = 3 => "freed_blocks", "SKULL_FREED_BLOCKS", "Blocks of this scope freed, by any scope.";
    MallocCalls = 4 => "malloc_calls", "SKULL_MALLOC_CALLS", "malloc calls.";
    CallocCalls = 5 => "calloc_calls", "SKULL_CALLOC_CALLS", "calloc calls.";
    ReallocCalls = 6 => "realloc_calls", "SKULL_REALLOC_CALLS", "realloc calls.";
    ReallocarrayCalls = 7 => "reallocarray_calls", "SKULL_REALLOCARRAY_CALLS", "reallocarray calls.";
    FreeCalls = 8 => "free_calls", "SKULL_FREE_CALLS", "free calls made while this scope was current.";
    PosixMemalignCalls = 9 => "posix_memalign_calls", "SKULL_POSIX_MEMALIGN_CALLS", "posix_memalign calls.";
    AlignedAllocCalls = 10 => "aligned_alloc_calls", "SKULL_ALIGNED_ALLOC_CALLS", "aligned_alloc calls.";
    MemalignCalls = 11 => "memalign_calls", "SKULL_MEMALIGN_CALLS", "memalign calls.";
    VallocCalls = 12 => "valloc_calls", "SKULL_VALLOC_CALLS", "valloc calls.";
    PvallocCalls = 13 => "pvalloc_calls", "SKULL_PVALLOC_CALLS", "pvalloc calls.";
    FailedAllocs = 14 => "failed_allocs", "SKULL_FAILED_ALLOCS", "Allocation calls that returned NULL.";
    CrossFreedBlocks = 15 => "cross_freed_blocks", "SKULL_CROSS_FREED_BLOCKS", "This scope's blocks freed while another scope was current.";
    CrossFreedBytes = 16 => "cross_freed_bytes", "SKULL_CROSS_FREED_BYTES", "Bytes of those blocks.";
    OverheadBytes = 17 => "overhead_bytes", "SKULL_OVERHEAD_BYTES", "Header and alignment bytes added to this scope's blocks.";
    OverheadFreedBytes = 18 => "overhead_freed_bytes", "SKULL_OVERHEAD_FREED_BYTES", "Header and alignment bytes of this scope's freed blocks.";
    ForeignFrees = 19 => "foreign_frees", "SKULL_FOREIGN_FREES", "Frees of pointers skull-mem did not allocate (passed to libc).";
}

/// The allocation entry points, each with the counter of its calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `malloc`, and Rust's `GlobalAlloc::alloc`.
    Malloc,
    /// `calloc`, and `GlobalAlloc::alloc_zeroed`.
    Calloc,
    /// `realloc`, and `GlobalAlloc::realloc`.
    Realloc,
    /// `reallocarray`.
    ReallocArray,
    /// `posix_memalign`.
    PosixMemalign,
    /// `aligned_alloc`, and over-aligned `GlobalAlloc::alloc`.
    AlignedAlloc,
    /// `memalign`.
    Memalign,
    /// `valloc`.
    Valloc,
    /// `pvalloc`.
    Pvalloc,
}

impl Api {
    /// The counter of this entry point's calls.
    #[inline(always)]
    pub const fn calls(self) -> Counter {
        match self {
            Api::Malloc => Counter::MallocCalls,
            Api::Calloc => Counter::CallocCalls,
            Api::Realloc => Counter::ReallocCalls,
            Api::ReallocArray => Counter::ReallocarrayCalls,
            Api::PosixMemalign => Counter::PosixMemalignCalls,
            Api::AlignedAlloc => Counter::AlignedAllocCalls,
            Api::Memalign => Counter::MemalignCalls,
            Api::Valloc => Counter::VallocCalls,
            Api::Pvalloc => Counter::PvallocCalls,
        }
    }
}

/// A place in a `CounterSet`'s storage: each counter's own slot, and two slots for the
/// fast paths' events, each of which stands for two counters at once (see `CounterSet`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

impl Slot {
    /// Successful `malloc` calls: each is a malloc call and an allocated block.
    pub const MALLOCS: Slot = Slot(COUNTER_COUNT);
    /// `free` calls that freed a block of the scope current at the time: each is a free
    /// call and a freed block of that scope.
    pub const OWN_FREES: Slot = Slot(COUNTER_COUNT + 1);
}

impl From<Counter> for Slot {
    #[inline(always)]
    fn from(counter: Counter) -> Slot {
        Slot(counter as usize)
    }
}

/// Slots in a `CounterSet`.
const SLOT_COUNT: usize = COUNTER_COUNT + 2;

/// One scope's counters as written by one thread.
///
/// Single writer: only the owning thread stores, with a relaxed load and a relaxed store
/// (a plain `mov`/`add`/`mov` on x86-64, no `lock` prefix); readers sum many sets with
/// relaxed loads. Monotonic values make a set reusable by a later thread without loss.
///
/// Stored is not always read, so that `malloc` and `free` each write two slots, not four:
/// - `MallocCalls` and `AllocBlocks` are read as their slot plus `Slot::MALLOCS`; their
///   slots hold malloc calls that allocated no block, and blocks of the other entry points.
/// - `FreeCalls` and `FreedBlocks` are read as their slot plus `Slot::OWN_FREES`; their
///   slots hold the other free calls (NULL, foreign, a block of another scope), and blocks
///   freed otherwise (by realloc, or while another scope was current).
/// - `OverheadBytes` and `OverheadFreedBytes` are read as their slot plus `HEADER_BYTES`
///   per allocated / freed block; their slots hold the alignment padding beyond the header.
///
/// Every counter is read as a sum of monotonic slots with positive weights, so it stays
/// exact and monotonic, and a reader racing a `malloc` sees its call and its block at once.
#[repr(C)]
pub struct CounterSet {
    values: [AtomicU64; SLOT_COUNT],
}

impl CounterSet {
    /// A set of zeros.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const ZERO: CounterSet = {
        const Z: AtomicU64 = AtomicU64::new(0);
        CounterSet {
            values: [Z; SLOT_COUNT],
        }
    };

    /// Adds `n` to `slot`; only the set's single writer may call this.
    #[inline(always)]
    pub fn add(&self, slot: impl Into<Slot>, n: u64) {
        let slot = &self.values[slot.into().0];
        slot.store(
            slot.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Adds `n` to `slot` when several threads may write this set (the overflow set).
    #[inline]
    pub fn add_shared(&self, slot: impl Into<Slot>, n: u64) {
        self.values[slot.into().0].fetch_add(n, Ordering::Relaxed);
    }

    /// Reads every counter.
    #[inline]
    pub fn counters(&self) -> [u64; COUNTER_COUNT] {
        derived(&core::array::from_fn(|index| {
            self.values[index].load(Ordering::Relaxed)
        }))
    }

    /// Reads one counter.
    #[inline]
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters()[counter as usize]
    }

    /// Adds every counter of this set into `sum`.
    pub fn add_into(&self, sum: &mut [u64; COUNTER_COUNT]) {
        for (total, value) in sum.iter_mut().zip(self.counters()) {
            *total = total.wrapping_add(value);
        }
    }
}

/// Header bytes of every block, counted per block rather than stored (see `CounterSet`).
pub const HEADER_BYTES: u64 = crate::header::HEADER_SIZE as u64;

/// The counters as read, from the slots as stored (see `CounterSet`).
#[inline]
fn derived(slots: &[u64; SLOT_COUNT]) -> [u64; COUNTER_COUNT] {
    let mut counters: [u64; COUNTER_COUNT] = core::array::from_fn(|index| slots[index]);
    let mut add = |counter: Counter, n: u64| {
        counters[counter as usize] = counters[counter as usize].wrapping_add(n);
    };
    let mallocs = slots[Slot::MALLOCS.0];
    let own_frees = slots[Slot::OWN_FREES.0];
    add(Counter::MallocCalls, mallocs);
    add(Counter::AllocBlocks, mallocs);
    add(Counter::FreeCalls, own_frees);
    add(Counter::FreedBlocks, own_frees);
    let blocks = |counter: Counter, part: u64| slots[counter as usize].wrapping_add(part);
    add(
        Counter::OverheadBytes,
        blocks(Counter::AllocBlocks, mallocs).wrapping_mul(HEADER_BYTES),
    );
    add(
        Counter::OverheadFreedBytes,
        blocks(Counter::FreedBlocks, own_frees).wrapping_mul(HEADER_BYTES),
    );
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_as_sums_of_slots() {
        let set = CounterSet::ZERO;
        set.add(Slot::MALLOCS, 5);
        set.add(Counter::MallocCalls, 1);
        set.add(Counter::CallocCalls, 2);
        set.add(Counter::AllocBlocks, 2);
        set.add(Counter::OverheadBytes, 48);
        set.add(Slot::OWN_FREES, 4);
        set.add(Counter::FreeCalls, 3);
        set.add(Counter::FreedBlocks, 1);
        assert_eq!(set.get(Counter::MallocCalls), 6);
        assert_eq!(set.get(Counter::CallocCalls), 2);
        assert_eq!(set.get(Counter::AllocBlocks), 7);
        assert_eq!(set.get(Counter::OverheadBytes), 7 * 16 + 48);
        assert_eq!(set.get(Counter::FreeCalls), 7);
        assert_eq!(set.get(Counter::FreedBlocks), 5);
        assert_eq!(set.get(Counter::OverheadFreedBytes), 5 * 16);
        let mut sum = [1; COUNTER_COUNT];
        set.add_into(&mut sum);
        assert_eq!(sum[Counter::AllocBlocks as usize], 1 + 7);
        assert_eq!(sum[Counter::OverheadBytes as usize], 1 + 7 * 16 + 48);
        assert_eq!(sum[Counter::ForeignFrees as usize], 1);
    }

    #[test]
    fn counters_are_listed_in_index_order() {
        for (index, counter) in Counter::ALL.iter().enumerate() {
            assert_eq!(*counter as usize, index);
        }
    }
}
