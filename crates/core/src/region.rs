//! The region: one mapping that holds every scope's name and every thread's counters.
//!
//! It is mapped once, on the first allocation of the process, with `mmap` (never through
//! the allocator it measures), as the process's shared-memory segment (`segment`) so the
//! CLI can read it from outside. Pages are touched only as threads and scopes use them, so
//! its virtual size (about 80 MiB) costs little memory; the report states what it maps.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::counters::{CounterSet, COUNTER_COUNT};
use crate::scopes::ScopeTable;
use crate::segment::{self, SegmentHeader};
use crate::trace::tables::TraceTables;

/// Most scopes a process can register.
pub const MAX_SCOPES: usize = 512;

/// Most threads that get a counter block of their own at once; more share one block with
/// atomic adds (exact, only slower).
pub const MAX_THREADS: usize = 1024;

const SLOT_FREE: u32 = 0;
const SLOT_USED: u32 = 1;

/// One thread's counters: a set per scope.
#[repr(C, align(4096))]
pub struct ThreadBlock {
    /// Indexed by scope id.
    pub sets: [CounterSet; MAX_SCOPES],
}

/// Everything the measurement keeps, in one mapping.
///
/// Only integers, atomics and bytes, so that a reader mapping a segment of another process
/// can view any content as a `Region` once the header's layout fields match.
#[repr(C)]
pub struct Region {
    /// What the segment is and whose (read by the CLI).
    pub header: SegmentHeader,
    /// Registered scopes.
    pub scopes: ScopeTable,
    /// `SLOT_USED` while a live thread owns the block of the same index.
    slots: [AtomicU32; MAX_THREADS],
    /// One past the highest slot ever used; readers sum blocks below it.
    slots_high_water: AtomicU64,
    /// Counters of threads without a block of their own, written with atomic adds.
    pub overflow: [CounterSet; MAX_SCOPES],
    /// Per-thread counter blocks, indexed like `slots`.
    pub blocks: [ThreadBlock; MAX_THREADS],
    /// Tracing's stack and live-block tables (untouched until tracing is switched on).
    pub trace: TraceTables,
}

const STATE_UNMAPPED: u8 = 0;
const STATE_MAPPING: u8 = 1;
const STATE_READY: u8 = 2;
const STATE_FAILED: u8 = 3;

static REGION: AtomicPtr<Region> = AtomicPtr::new(ptr::null_mut());
static STATE: AtomicU8 = AtomicU8::new(STATE_UNMAPPED);

/// The region if it is mapped.
#[inline]
pub fn get() -> Option<&'static Region> {
    let region = REGION.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was published after the mapping was initialised, and the
    // mapping is never unmapped.
    unsafe { region.as_ref() }
}

/// The region, mapping it on first use; `None` if the mapping failed (then nothing is
/// counted but allocation still works).
#[cold]
pub fn get_or_map() -> Option<&'static Region> {
    loop {
        match STATE.compare_exchange(
            STATE_UNMAPPED,
            STATE_MAPPING,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => return map(),
            Err(STATE_READY) => return get(),
            Err(STATE_FAILED) => return None,
            // Another thread is mapping; this happens at most once, at process start.
            Err(_) => core::hint::spin_loop(),
        }
    }
}

/// Whether the region is the segment file (and so must be copied after `fork`).
static FILE_BACKED: AtomicBool = AtomicBool::new(false);

fn map() -> Option<&'static Region> {
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() } as u32;
    let Some((region, file_backed)) = segment::map_fresh(pid) else {
        STATE.store(STATE_FAILED, Ordering::Release);
        return None;
    };
    // SAFETY: a fresh zeroed mapping nothing else sees yet; zero is a valid empty `Region`
    // (all atomics zero).
    unsafe { segment::write_header(region, pid) };
    // SAFETY: as above; the header is written, the rest is a valid empty region.
    let region: &'static Region = unsafe { &*region };
    region.scopes.register_builtins();
    FILE_BACKED.store(file_backed, Ordering::Relaxed);
    region
        .header
        .control
        .store(crate::options::trace_word(), Ordering::Relaxed);
    crate::trace::limit_tables(&region.trace);
    crate::cache::configure();
    // SAFETY: `region` is mapped, shared with its file when `file_backed`.
    unsafe { crate::trace::mirror_control(region, file_backed) };
    REGION.store(region as *const Region as *mut Region, Ordering::Release);
    STATE.store(STATE_READY, Ordering::Release);
    // Registered once the region is ready: `pthread_atfork` may allocate.
    // SAFETY: registering plain extern fns as the fork handlers.
    unsafe {
        libc::pthread_atfork(
            Some(before_fork),
            Some(segment::after_fork_in_parent),
            Some(after_fork_in_child),
        )
    };
    Some(region)
}

/// In the parent just before `fork`: copies the counters the child will start from.
extern "C" fn before_fork() {
    let region = REGION.load(Ordering::Acquire);
    if region.is_null() {
        return;
    }
    // SAFETY: `region` is the published region; `FILE_BACKED` says how it was mapped.
    unsafe { segment::before_fork(region, FILE_BACKED.load(Ordering::Relaxed)) };
}

/// In a child after `fork`: gives the child a segment of its own, then frees the thread
/// blocks of the threads that did not survive the fork.
extern "C" fn after_fork_in_child() {
    let region = REGION.load(Ordering::Acquire);
    if region.is_null() {
        return;
    }
    // SAFETY: the region is mapped (still the parent's segment).
    let trace_budget = unsafe { &*region }.trace.budget();
    // SAFETY: the child has one thread, and this runs before it counts anything else.
    let file_backed =
        unsafe { segment::move_to_own_segment(region, FILE_BACKED.load(Ordering::Relaxed)) };
    FILE_BACKED.store(file_backed, Ordering::Relaxed);
    // A segment of its own starts with empty trace tables: they get the parent's budget.
    // SAFETY: the region, now the child's own (or still the parent's when it could not move).
    unsafe { &*region }.trace.set_budget(trace_budget);
    // SAFETY: the region, now the child's own (or still the parent's when it could not move).
    unsafe { crate::trace::mirror_control(region, file_backed) };
    crate::thread::after_fork_in_child();
}

impl Region {
    /// Bytes of address space the region maps.
    pub const fn mapped_bytes() -> usize {
        core::mem::size_of::<Region>()
    }

    /// Claims a free thread slot, or `None` when all are in use.
    pub fn acquire_slot(&self) -> Option<usize> {
        let index = self.slots.iter().position(|slot| {
            slot.compare_exchange(SLOT_FREE, SLOT_USED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })?;
        self.slots_high_water
            .fetch_max(index as u64 + 1, Ordering::Release);
        Some(index)
    }

    /// Gives a slot back; its counters stay and a later thread adds to them.
    pub fn release_slot(&self, index: usize) {
        self.slots[index].store(SLOT_FREE, Ordering::Release);
    }

    /// Frees every slot except `keep`: after `fork`, only the forking thread exists.
    pub fn release_all_slots_but(&self, keep: Option<usize>) {
        for (index, slot) in self.slots.iter().enumerate() {
            if Some(index) != keep {
                slot.store(SLOT_FREE, Ordering::Release);
            }
        }
    }

    /// Number of slots owned by live threads.
    pub fn threads_attached(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.load(Ordering::Relaxed) == SLOT_USED)
            .count()
    }

    /// Thread blocks ever used: the ones readers sum. Bounded, so that a corrupt segment
    /// read from outside cannot index past the table.
    pub fn blocks_in_use(&self) -> usize {
        (self.slots_high_water.load(Ordering::Acquire) as usize).min(MAX_THREADS)
    }

    /// Sums one scope's counters over every thread block and the overflow set.
    pub fn sum_scope(&self, scope: usize) -> [u64; COUNTER_COUNT] {
        let mut sum = [0u64; COUNTER_COUNT];
        for block in &self.blocks[..self.blocks_in_use()] {
            block.sets[scope].add_into(&mut sum);
        }
        self.overflow[scope].add_into(&mut sum);
        sum
    }
}
