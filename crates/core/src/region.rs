//! The region: every scope's name and every thread's counters.
//!
//! Its fixed part (`Region`: header, scope table, thread slots, overflow sets) is mapped
//! once, on the first allocation of the process, with `mmap` (never through the allocator it
//! measures), as the start of the process's shared-memory segment (`segment`) so the CLI can
//! read it from outside, reserved in the file up front. The per-thread counter blocks and
//! tracing's tables are areas (`segment::area`) of the same segment that grow as they are
//! used: a block group's area as threads attach (`BLOCK_GROUPS`), the trace area when
//! tracing is first switched on (`trace_tables`). The header records every area, so a
//! reader maps only what is committed.

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::counters::{CounterSet, COUNTER_COUNT};
use crate::scopes::ScopeTable;
use crate::segment::area::Area;
use crate::segment::{self, SegmentHeader};
use crate::trace::tables::TraceTables;

/// Most scopes a process can register.
pub const MAX_SCOPES: usize = 512;

/// Most threads that get a counter block of their own at once; more share one block with
/// atomic adds (exact, only slower).
pub const MAX_THREADS: usize = 1024;

/// Threads whose blocks share one area: a group's address space is reserved when its first
/// thread attaches, so a process with few threads reserves one group (2.75 MiB of address
/// space, `ulimit -v`), not blocks for `MAX_THREADS`.
pub const THREADS_PER_GROUP: usize = 32;

/// Areas of thread blocks: block `slot` is block `slot % THREADS_PER_GROUP` of group
/// `slot / THREADS_PER_GROUP`.
pub const BLOCK_GROUPS: usize = MAX_THREADS / THREADS_PER_GROUP;

/// The block groups, each committed one block at a time as threads attach.
pub static BLOCK_AREAS: [Area; BLOCK_GROUPS] = [const {
    Area::new(
        THREADS_PER_GROUP * core::mem::size_of::<ThreadBlock>(),
        core::mem::size_of::<ThreadBlock>(),
    )
}; BLOCK_GROUPS];

/// Tracing's tables, reserved and committed when tracing first records something.
pub static TRACE_AREA: Area = Area::new(core::mem::size_of::<TraceTables>(), 1 << 20);

const SLOT_FREE: u32 = 0;
const SLOT_USED: u32 = 1;

/// One thread's counters: a set per scope.
#[repr(C, align(4096))]
pub struct ThreadBlock {
    /// Indexed by scope id.
    pub sets: [CounterSet; MAX_SCOPES],
}

/// The fixed part of the segment: everything but the thread blocks and tracing's tables.
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
    /// Objects unloaded with `dlclose`, so their frames are still named in leak reports.
    pub unloaded: crate::trace::modules::UnloadedModules,
}

/// The thread blocks a reader may sum: of each group, the blocks that are committed.
pub struct Blocks<'a> {
    groups: [&'a [ThreadBlock]; BLOCK_GROUPS],
}

impl<'a> Blocks<'a> {
    /// The blocks of `groups`, group by group.
    pub fn of_groups(groups: [&'a [ThreadBlock]; BLOCK_GROUPS]) -> Blocks<'a> {
        Blocks { groups }
    }

    /// The block of thread slot `index`, if it is committed.
    pub fn get(&self, index: usize) -> Option<&'a ThreadBlock> {
        self.groups
            .get(index / THREADS_PER_GROUP)?
            .get(index % THREADS_PER_GROUP)
    }
}

impl Blocks<'static> {
    /// This process's committed blocks.
    pub fn own() -> Blocks<'static> {
        Blocks {
            groups: core::array::from_fn(|group| {
                let area = &BLOCK_AREAS[group];
                let count = area.committed() / core::mem::size_of::<ThreadBlock>();
                if count == 0 {
                    return &[][..];
                }
                // SAFETY: the area's committed bytes are mapped for the life of the process
                // and hold `count` whole blocks, valid for any content (atomics).
                unsafe { core::slice::from_raw_parts(area.base() as *const ThreadBlock, count) }
            }),
        }
    }
}

/// The counter block of thread slot `slot`, committed now if need be; `None` when the
/// segment cannot grow (the thread then counts into the overflow sets).
pub fn thread_block(slot: usize) -> Option<&'static ThreadBlock> {
    let area = BLOCK_AREAS.get(slot / THREADS_PER_GROUP)?;
    let index = slot % THREADS_PER_GROUP;
    let size = core::mem::size_of::<ThreadBlock>();
    if !area.commit((index + 1) * size) {
        segment::degraded(b"a thread's counters go to the shared overflow sets");
        return None;
    }
    // SAFETY: block `index` of the area is committed, mapped for the life of the process;
    // a block is atomics, valid zeroed.
    Some(unsafe { &*(area.base().add(index * size) as *const ThreadBlock) })
}

const TRACE_UNSET: u8 = 0;
const TRACE_SETTING: u8 = 1;
const TRACE_SET: u8 = 2;
/// Whether the trace tables in `TRACE_AREA` have their limits (`trace::limit_tables`).
static TRACE_STATE: AtomicU8 = AtomicU8::new(TRACE_UNSET);

/// Tracing's tables, committed and limited on first use; `None` while another thread sets
/// them up, or when the segment cannot grow (what tracing would record is then dropped and
/// counted in the header's `trace_unbacked`).
pub fn trace_tables() -> Option<&'static TraceTables> {
    let size = TraceTables::HEADER_BYTES;
    if TRACE_STATE.load(Ordering::Acquire) != TRACE_SET {
        return set_up_trace_tables();
    }
    // SAFETY: set up below: committed, mapped for the life of the process; the tables are
    // atomics, valid zeroed.
    TRACE_AREA
        .commit(size)
        .then(|| unsafe { &*(TRACE_AREA.base() as *const TraceTables) })
}

#[cold]
#[inline(never)]
fn set_up_trace_tables() -> Option<&'static TraceTables> {
    let region = get()?;
    if !TRACE_AREA.commit(TraceTables::HEADER_BYTES) {
        region.header.trace_unbacked.fetch_add(1, Ordering::Relaxed);
        segment::degraded(b"tracing has no memory for its tables and records nothing");
        return None;
    }
    // SAFETY: committed just above; see `trace_tables`.
    let tables = unsafe { &*(TRACE_AREA.base() as *const TraceTables) };
    if TRACE_STATE
        .compare_exchange(
            TRACE_UNSET,
            TRACE_SETTING,
            Ordering::Acquire,
            Ordering::Acquire,
        )
        .is_ok()
    {
        crate::trace::limit_tables(tables);
        TRACE_STATE.store(TRACE_SET, Ordering::Release);
    }
    (TRACE_STATE.load(Ordering::Acquire) == TRACE_SET).then_some(tables)
}

/// In a forked child: the trace tables start empty and get their limits again.
pub(crate) fn reset_trace_tables() {
    TRACE_STATE.store(TRACE_UNSET, Ordering::Release);
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
    // (all atomics zero). The areas are bound before the header is published.
    unsafe {
        segment::bind_areas(region);
        segment::write_header(region, pid);
    }
    // SAFETY: as above; the header is written, the rest is a valid empty region.
    let region: &'static Region = unsafe { &*region };
    region.scopes.register_builtins();
    FILE_BACKED.store(file_backed, Ordering::Relaxed);
    region
        .header
        .control
        .store(crate::options::trace_word(), Ordering::Relaxed);
    crate::trace::configure_budget();
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
    // SAFETY: the child has one thread, and this runs before it counts anything else.
    let file_backed =
        unsafe { segment::move_to_own_segment(region, FILE_BACKED.load(Ordering::Relaxed)) };
    FILE_BACKED.store(file_backed, Ordering::Relaxed);
    if file_backed {
        // The child's own segment starts with empty trace tables (`segment::fork`), tracing
        // as start-up says (`SKULL_MEM_TRACE`): a child of a traced run is traced, and its
        // leak check sees what it allocates itself.
        // SAFETY: `region` is mapped; the child has one thread.
        let own = unsafe { &*region };
        own.header
            .control
            .store(crate::options::trace_word(), Ordering::Relaxed);
    }
    // SAFETY: the region, now the child's own (or still the parent's when it could not move).
    unsafe { crate::trace::mirror_control(region, file_backed) };
    crate::thread::after_fork_in_child();
}

impl Region {
    /// Bytes of the fixed part, reserved in the segment file at creation.
    pub const fn fixed_bytes() -> usize {
        core::mem::size_of::<Region>()
    }

    /// Bytes of address space the counters map in this process: the fixed part and the
    /// block groups' reservations (the trace area is tracing's, not the counters').
    pub fn mapped_bytes() -> usize {
        Region::fixed_bytes()
            + BLOCK_AREAS
                .iter()
                .filter(|area| !area.base().is_null())
                .map(Area::reserved)
                .sum::<usize>()
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

    /// Sums one scope's counters over every thread block in use and the overflow set.
    pub fn sum_scope(&self, blocks: &Blocks, scope: usize) -> [u64; COUNTER_COUNT] {
        let mut sum = [0u64; COUNTER_COUNT];
        for block in (0..self.blocks_in_use()).filter_map(|index| blocks.get(index)) {
            block.sets[scope].add_into(&mut sum);
        }
        self.overflow[scope].add_into(&mut sum);
        sum
    }
}
