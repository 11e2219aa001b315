//! A small per-thread cache of freed blocks in front of the allocator being measured.
//!
//! Why: an interposer that forwards every call pays glibc's pair plus a call level of its
//! own (the `floor` of `benches/run.sh`: 1.13x–1.20x glibc before any counting). Keeping
//! the last freed small blocks of each size class per thread lets the common
//! malloc-after-free skip glibc altogether, as glibc's own tcache does one level down.
//!
//! What it changes and what not:
//! - The program's scopes count exactly as without it: a block put in the cache has been
//!   freed, credited to its owner, by `free`; one taken out is a new block of the current
//!   scope. Headers and traced blocks are handled as before (traced blocks never enter).
//! - The cache's blocks are skull-mem's own memory, held in its scope (`SCOPE_SELF`): each
//!   counts as one block of its class capacity (less the header, which the counters derive
//!   per block), until it is handed out again or the thread exits and gives it to libc.
//! - At most `SKULL_MEM_CACHE` bytes per thread (default `DEFAULT_BUDGET`; 0 turns the
//!   cache off), and only blocks of up to `CACHED_MAX` bytes.
//!
//! Every plain block of up to `CACHED_MAX` bytes is requested from libc at its class
//! capacity (`raw_size`), the very chunk glibc makes for `size + 16` anyway, so any block
//! of a class can serve any request of that class: no guess about libc's rounding.
//!
//! A cached block's link to the next one sits in its header word, in front of the pointer
//! the program had, so a write through a dangling pointer cannot corrupt the list; the
//! header's check word is cleared, so a second free of the block is not taken for ours.

use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::counters::{Counter, CounterSet, HEADER_BYTES};
use crate::header::{self, HEADER_SIZE};

/// The largest request the cache serves. Bigger blocks go straight to libc.
pub const CACHED_MAX: usize = 496;
/// Per-thread bytes the cache may hold unless `SKULL_MEM_CACHE` says otherwise.
pub const DEFAULT_BUDGET: u64 = 32 * 1024;
/// The most `SKULL_MEM_CACHE` may ask for per thread.
pub const MAX_BUDGET: u64 = 1 << 20;

/// Size classes: class `c` holds blocks of `16 * c - 8` raw bytes (header included),
/// glibc's chunk of `16 * c` bytes. Requests of 0..=`CACHED_MAX` bytes fall in 2..=33;
/// classes 0 and 1 are unused so that the class is the index, with no subtraction.
const CLASSES: usize = class_of(CACHED_MAX) + 1;

/// The class of a request of `size` bytes (`size <= CACHED_MAX`): glibc's chunk size for
/// `size + 16`, in 16-byte units.
#[inline(always)]
const fn class_of(size: usize) -> usize {
    (size + HEADER_SIZE + 8 + 15) >> 4
}

/// Raw bytes (header included) of a block of class `class`.
#[inline(always)]
const fn capacity(class: usize) -> usize {
    (class << 4) - 8
}

const _: () = assert!(capacity(class_of(0)) >= HEADER_SIZE);
const _: () = assert!(capacity(class_of(CACHED_MAX)) >= CACHED_MAX + HEADER_SIZE);

/// Bytes to ask libc for a plain block of `size` bytes: its class capacity when the cache
/// may hold it later, else the size and the header (wrapping for absurd sizes, which
/// `alloc` refuses after libc).
#[inline(always)]
pub fn raw_size(size: usize) -> usize {
    if size <= CACHED_MAX {
        capacity(class_of(size))
    } else {
        size.wrapping_add(HEADER_SIZE)
    }
}

/// Gives a raw block back to the allocator it came from.
pub(crate) type Release = unsafe fn(*mut u8);

/// What `ThreadCache::keep` did with a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The cache holds it now.
    Kept,
    /// No room: it goes to libc.
    Full,
    /// The cache is not armed yet: `arm` it, and the block goes to libc.
    Unarmed,
}

/// One thread's cache, part of its `thread::ThreadState`: all zero is an empty cache that
/// is not armed yet.
#[repr(C)]
pub(crate) struct ThreadCache {
    /// Free lists by class, linked through each block's first word (`header::retire`).
    heads: [Cell<*mut u8>; CLASSES],
    /// Bytes the cache may still take in; 0 until armed.
    room: Cell<u64>,
    /// How to give the blocks back at thread exit; `None` until armed.
    release: Cell<Option<Release>>,
}

/// Bytes of `ThreadCache`, for `tls::STATE_SIZE`.
pub(crate) const THREAD_CACHE_SIZE: usize = (CLASSES + 2) * 8;
const _: () = assert!(core::mem::size_of::<ThreadCache>() == THREAD_CACHE_SIZE);

impl ThreadCache {
    /// A block for a request of `size` bytes (`size <= CACHED_MAX`), or null when the
    /// class is empty.
    ///
    /// # Safety
    /// `own` must point to skull-mem's counter set in the thread's own block whenever the
    /// cache holds anything. It does for the thread's `sets`: `keep` only runs while the
    /// thread has its block, and `drain` empties the cache before the thread gives it up.
    #[inline(always)]
    pub(crate) unsafe fn take(&self, size: usize, own: *const CounterSet) -> *mut u8 {
        let class = class_of(size);
        let head = self.heads[class].get();
        if head.is_null() {
            return head;
        }
        // SAFETY: `head` is a block `keep` retired into this list: its first word links
        // the next one.
        self.heads[class].set(unsafe { header::retired_next(head) });
        self.room.set(self.room.get() + capacity(class) as u64);
        // SAFETY: the caller's contract: the cache was not empty, so `own` is valid.
        count_out(unsafe { &*own }, class);
        head
    }

    /// Takes the raw block `raw` of a freed request of `size` bytes (`size <=
    /// CACHED_MAX`), if there is room for it.
    #[inline(always)]
    pub(crate) fn keep(&self, raw: *mut u8, size: usize, own: &CounterSet) -> Keep {
        let class = class_of(size);
        let bytes = capacity(class) as u64;
        let room = self.room.get();
        if room < bytes {
            return if self.release.get().is_some() {
                Keep::Full
            } else {
                Keep::Unarmed
            };
        }
        self.room.set(room - bytes);
        // SAFETY: `raw` is a dead libc block of at least `capacity(class)` bytes (every
        // plain block of this size was asked for at `raw_size`).
        unsafe { header::retire(raw, self.heads[class].get()) };
        self.heads[class].set(raw);
        own.add(Counter::AllocBytes, bytes - HEADER_BYTES);
        own.add(Counter::AllocBlocks, 1);
        Keep::Kept
    }

    /// Arms the cache on the first free that could use it: from then on it takes blocks
    /// while it has room (none when `budget` is 0), and `drain` gives them back through
    /// `release`.
    pub(crate) fn arm(&self, release: Release, budget: u64) {
        if self.release.get().is_none() {
            self.release.set(Some(release));
            self.room.set(budget);
        }
    }

    /// Gives every block back to libc and disarms the cache (the thread is exiting).
    pub(crate) fn drain(&self, own: &CounterSet) {
        let Some(release) = self.release.take() else {
            return;
        };
        self.room.set(0);
        for (class, head) in self.heads.iter().enumerate() {
            let mut block = head.replace(core::ptr::null_mut());
            while !block.is_null() {
                // SAFETY: as in `take`.
                let next = unsafe { header::retired_next(block) };
                count_out(own, class);
                // SAFETY: `release` is the allocator the block came from (`arm`).
                unsafe { release(block) };
                block = next;
            }
        }
    }
}

/// Counts a block of `class` leaving the cache, in skull-mem's own scope.
#[inline(always)]
fn count_out(own: &CounterSet, class: usize) {
    own.add(Counter::FreedBytes, capacity(class) as u64 - HEADER_BYTES);
    own.add(Counter::FreedBlocks, 1);
}

/// `BUDGET` before `configure`.
const UNCONFIGURED: u64 = u64::MAX;
static BUDGET: AtomicU64 = AtomicU64::new(UNCONFIGURED);

/// Per-thread bytes a cache may hold (0: off).
pub(crate) fn budget() -> u64 {
    match BUDGET.load(Ordering::Relaxed) {
        UNCONFIGURED => DEFAULT_BUDGET,
        budget => budget,
    }
}

/// Reads `SKULL_MEM_CACHE` (bytes per thread, at most `MAX_BUDGET`; 0 turns the cache
/// off; a refused value keeps the default). Read once, when the region is mapped.
pub(crate) fn configure() {
    let budget = crate::options::number_or_default(&crate::options::CACHE);
    BUDGET.store(budget, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_is_the_chunk_glibc_makes_for_the_size_and_header() {
        // glibc: chunk = (request + 8 + 15) & !15, at least 32.
        let chunk = |request: usize| ((request + 8 + 15) & !15).max(32);
        for size in 0..=CACHED_MAX {
            let raw = raw_size(size);
            assert!(raw >= size + HEADER_SIZE, "size {size}");
            assert_eq!(chunk(raw), chunk(size + HEADER_SIZE), "size {size}");
        }
        assert_eq!(raw_size(64), 88);
        assert_eq!(raw_size(CACHED_MAX + 1), CACHED_MAX + 1 + HEADER_SIZE);
    }

    #[test]
    fn blocks_come_back_last_in_first_out_within_the_budget() {
        let own = CounterSet::ZERO;
        // SAFETY: all zero is a valid `ThreadCache`: null heads, no room, no release.
        let cache: ThreadCache = unsafe { core::mem::zeroed() };
        let mut blocks = [[0u64; 12]; 3];
        let [a, b, c] = blocks.each_mut().map(|b| b.as_mut_ptr() as *mut u8);
        assert_eq!(cache.keep(a, 64, &own), Keep::Unarmed);
        cache.arm(|_| {}, 2 * 88);
        assert_eq!(cache.keep(a, 64, &own), Keep::Kept);
        assert_eq!(cache.keep(b, 70, &own), Keep::Kept, "same class");
        assert_eq!(cache.keep(c, 64, &own), Keep::Full, "over budget");
        assert_eq!(own.get(Counter::AllocBytes), 2 * (88 - 16));
        assert_eq!(own.get(Counter::OverheadBytes), 2 * 16);
        // SAFETY: `own` is a live counter set.
        unsafe {
            assert_eq!(cache.take(60, &own), b);
            assert_eq!(cache.take(64, &own), a);
            assert!(cache.take(64, &own).is_null());
        }
        assert_eq!(own.get(Counter::FreedBlocks), 2);
        assert_eq!(own.get(Counter::FreedBytes), 2 * (88 - 16));
    }
}
