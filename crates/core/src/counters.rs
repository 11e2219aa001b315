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

/// One scope's counters as written by one thread.
///
/// Single writer: only the owning thread stores, with a relaxed load and a relaxed store
/// (a plain `mov`/`add`/`mov` on x86-64, no `lock` prefix); readers sum many sets with
/// relaxed loads. Monotonic values make a set reusable by a later thread without loss.
///
/// Stored is not always read: the 16-byte header every block carries is not written to
/// `OverheadBytes` / `OverheadFreedBytes` per call; those slots hold only the alignment
/// padding beyond it, and `get` and `add_into` add `HEADER_BYTES` per allocated / freed
/// block. That saves a store on every malloc and free; both terms are monotonic, so the
/// derived values are too.
#[repr(C)]
pub struct CounterSet {
    values: [AtomicU64; COUNTER_COUNT],
}

impl CounterSet {
    /// A set of zeros.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const ZERO: CounterSet = {
        const Z: AtomicU64 = AtomicU64::new(0);
        CounterSet {
            values: [Z; COUNTER_COUNT],
        }
    };

    /// Reads every counter as stored, before the derivation.
    #[inline]
    fn load(&self) -> [u64; COUNTER_COUNT] {
        core::array::from_fn(|index| self.values[index].load(Ordering::Relaxed))
    }

    /// Adds `n` to `counter`; only the set's single writer may call this.
    #[inline(always)]
    pub fn add(&self, counter: Counter, n: u64) {
        let slot = &self.values[counter as usize];
        slot.store(
            slot.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Adds `n` to `counter` when several threads may write this set (the overflow set).
    #[inline]
    pub fn add_shared(&self, counter: Counter, n: u64) {
        self.values[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Reads one counter.
    #[inline]
    pub fn get(&self, counter: Counter) -> u64 {
        derived(self.load())[counter as usize]
    }

    /// Adds every counter of this set into `sum`.
    pub fn add_into(&self, sum: &mut [u64; COUNTER_COUNT]) {
        for (total, value) in sum.iter_mut().zip(derived(self.load())) {
            *total = total.wrapping_add(value);
        }
    }
}

/// Header bytes of every block, counted per block rather than stored (see `CounterSet`).
pub const HEADER_BYTES: u64 = crate::header::HEADER_SIZE as u64;

/// The counters as read from the counters as stored.
#[inline]
fn derived(mut values: [u64; COUNTER_COUNT]) -> [u64; COUNTER_COUNT] {
    for (overhead, blocks) in [
        (Counter::OverheadBytes, Counter::AllocBlocks),
        (Counter::OverheadFreedBytes, Counter::FreedBlocks),
    ] {
        let headers = values[blocks as usize].wrapping_mul(HEADER_BYTES);
        values[overhead as usize] = values[overhead as usize].wrapping_add(headers);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_overhead_is_derived_from_block_counts() {
        let set = CounterSet::ZERO;
        set.add(Counter::AllocBlocks, 3);
        set.add(Counter::OverheadBytes, 48);
        set.add(Counter::FreedBlocks, 2);
        assert_eq!(set.get(Counter::OverheadBytes), 3 * 16 + 48);
        assert_eq!(set.get(Counter::OverheadFreedBytes), 2 * 16);
        let mut sum = [1; COUNTER_COUNT];
        set.add_into(&mut sum);
        assert_eq!(sum[Counter::OverheadBytes as usize], 1 + 3 * 16 + 48);
        assert_eq!(sum[Counter::OverheadFreedBytes as usize], 1 + 2 * 16);
        assert_eq!(sum[Counter::AllocBlocks as usize], 1 + 3);
    }

    #[test]
    fn counters_are_listed_in_index_order() {
        for (index, counter) in Counter::ALL.iter().enumerate() {
            assert_eq!(*counter as usize, index);
        }
    }
}
