//! On-demand tracing: while the segment's control word says so, allocations (all, or a
//! Poisson sample by bytes) get their stack recorded, and stay in a table of live traced
//! blocks until freed; `skull-trace leaks` reads the tables and symbolizes the stacks.
//!
//! Off, it costs every allocation one relaxed load of the control word (`word`); everything
//! else is outlined here and runs only for allocations being traced.

pub mod backing;
pub mod capture;
pub mod control;
mod control_page;
mod levels;
mod live;
pub mod modules;
mod pending;
mod pool;
mod stack_cache;
mod stacks;
pub mod tables;
mod unwind;

use core::cell::Cell;
use core::sync::atomic::Ordering;

use crate::header::{self, BlockInfo};
use control::TraceConfig;
use tables::{Event, LiveBlock, TraceTables, EVENT_ALLOC, EVENT_FREE};

pub(crate) use control_page::mirror_control;

/// The memory budget `SKULL_MEM_TRACE_MEMORY` says, read when the region is mapped (so a
/// refused value is said at start-up, like every other setting); 0 until then.
static START_BUDGET: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Reads the trace memory budget once, at start-up.
pub(crate) fn configure_budget() {
    use crate::options::{number_or_default, TRACE_MEMORY};
    START_BUDGET.store(number_or_default(&TRACE_MEMORY), Ordering::Relaxed);
}

/// Gives the trace tables the budget read at start-up (`configure_budget`).
pub(crate) fn limit_tables(tables: &TraceTables) {
    tables.set_budget(START_BUDGET.load(Ordering::Relaxed));
}

/// The trace memory of this process as the tables grow it: the segment's trace area
/// (`region::TRACE_AREA`), reserved in the file chunk by chunk before it is mapped. What the
/// tables take is skull-mem's own memory, counted in its scope (`SCOPE_SELF`) as one block
/// per piece committed.
struct OwnMemory;

impl backing::Backing for OwnMemory {
    fn base(&self) -> *mut u8 {
        crate::region::TRACE_AREA.base()
    }

    fn commit(&self, end: usize) -> bool {
        let (Some(region), Some(tables)) = (crate::region::get(), tables()) else {
            return false;
        };
        if end > core::mem::size_of::<TraceTables>() || !crate::region::TRACE_AREA.commit(end) {
            return false;
        }
        let before = tables.committed_to(end as u64);
        if end as u64 > before {
            use crate::counters::Counter;
            let own = &region.overflow[crate::scopes::SCOPE_SELF as usize];
            own.add_shared(Counter::AllocBytes, end as u64 - before);
            own.add_shared(Counter::AllocBlocks, 1);
        }
        true
    }

    fn committed(&self) -> usize {
        tables().map_or(0, |tables| tables.committed())
    }
}

/// The control word: 0 when tracing is off. One relaxed load, from a fixed address.
#[inline(always)]
pub fn word() -> u64 {
    control_page::word()
}

/// Per-thread tracing state, kept in the allocator's thread state (`thread::trace_state`):
/// all zero for a new thread.
#[repr(C)]
pub(crate) struct ThreadTrace {
    /// Bytes left before the next sample.
    bytes_left: Cell<i64>,
    /// The control word `bytes_left` was drawn for (sampling only); 0 until the first draw.
    armed: Cell<u64>,
    /// xorshift state; 0 until first used.
    rng: Cell<u64>,
    /// The walks this thread remembers (see `capture`): allocated on its first capture, in
    /// skull-mem's own scope, and freed when the thread exits.
    recent: Cell<*mut capture::RecentStacks>,
    /// Set while this thread records an allocation: allocations made meanwhile (by the
    /// unwinder, say) are not traced.
    busy: Cell<bool>,
    /// The kernel's id of this thread, for events; 0 until first needed.
    tid: Cell<u32>,
}

impl ThreadTrace {
    /// This thread's id: one system call per thread, the first time tracing records on it.
    fn tid(&self) -> u32 {
        if self.tid.get() == 0 {
            // The system call, not glibc's gettid(), which only glibc 2.30 and later have.
            // SAFETY: SYS_gettid takes no arguments and cannot fail.
            self.tid
                .set(unsafe { libc::syscall(libc::SYS_gettid) } as u32);
        }
        self.tid.get()
    }

    fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        if x == 0 {
            x = (self as *const ThreadTrace as u64) ^ now_ns() ^ 0x9e37_79b9_7f4a_7c15;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    /// Bytes to the next sample: exponential with mean `mean`, so every byte has the same
    /// chance of being sampled and a large block is sampled with probability ~ size / mean.
    fn draw(&self, mean: u64) -> i64 {
        let uniform = ((self.next_random() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        (-uniform.ln() * mean as f64).min(i64::MAX as f64) as i64
    }

    /// Whether an allocation of `size` bytes is sampled under control word `word` (sample
    /// mean `mean` bytes, or every allocation when 0).
    fn sampled(&self, size: usize, word: u64, mean: u64) -> bool {
        if mean == 0 {
            return true;
        }
        if self.armed.get() != word {
            self.armed.set(word);
            self.bytes_left.set(self.draw(mean));
        }
        let left = self.bytes_left.get() - size as i64;
        if left > 0 {
            self.bytes_left.set(left);
            return false;
        }
        self.bytes_left.set(self.draw(mean));
        true
    }
}

/// The clock tracing stamps blocks and events with, and readers age them against:
/// `CLOCK_MONOTONIC_COARSE`, the monotonic clock as of the last timer tick (1–4 ms old). The
/// vDSO serves it from memory, without reading the hardware clock: measured here, it is what
/// made a precise stamp cost a third of a traced allocation (two clock reads of ~25 ns per
/// malloc+free), and ages are shown in seconds.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; the coarse clock is served by the vDSO, without a syscall.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn scope_selected(region: &crate::region::Region, scope: u32) -> bool {
    let bits = &region.header.trace_scopes;
    bits.get(scope as usize / 64)
        .is_some_and(|word| word.load(Ordering::Acquire) & (1 << (scope % 64)) != 0)
}

/// Tracing's tables: in the trace area, committed when tracing first records (so a process
/// that never traces has no memory, file or address space for them).
fn tables() -> Option<&'static TraceTables> {
    crate::region::trace_tables()
}

/// Called for every new block while tracing is on (`word` non-zero). Sampling's countdown is
/// inline: an allocation that is not sampled costs a thread-local subtraction and compare;
/// the rest (drawing the next sample, recording) is outlined in `on_alloc`.
///
/// # Safety
/// `user` is null or a block of ours of `size` bytes just allocated, with a valid header,
/// not yet seen by the caller.
#[inline(always)]
pub(crate) unsafe fn on_new_block(user: *mut u8, size: usize, word: u64) -> *mut u8 {
    let thread = crate::thread::trace_state();
    let left = thread.bytes_left.get().wrapping_sub(size as i64);
    if thread.armed.get() == word && left > 0 {
        thread.bytes_left.set(left);
        return user;
    }
    // SAFETY: passed on from the caller.
    unsafe { on_alloc(user, size, word) }
}

/// Records the new block at `user` when tracing (`word` non-zero) selects it: captures the
/// stack, adds the block to the live table and marks its header as traced.
///
/// # Safety
/// As `on_new_block`.
#[cold]
#[inline(never)]
unsafe fn on_alloc(user: *mut u8, size: usize, word: u64) -> *mut u8 {
    let Some(config) = TraceConfig::decode(word) else {
        return user;
    };
    if user.is_null() {
        return user;
    }
    let thread = crate::thread::trace_state();
    if thread.busy.get() || !thread.sampled(size, word, config.sample_bytes) {
        return user;
    }
    // SAFETY: guaranteed by the caller.
    let Some(info) = (unsafe { header::read(user) }) else {
        return user;
    };
    thread.busy.set(true);
    // SAFETY: as above.
    unsafe { record(user, info, config) };
    thread.busy.set(false);
    user
}

unsafe fn record(user: *mut u8, info: BlockInfo, config: TraceConfig) {
    let Some(region) = crate::region::get().filter(|_| capture::primed()) else {
        return;
    };
    if config.scoped && !scope_selected(region, info.scope) {
        return;
    }
    let Some(tables) = tables() else {
        return;
    };
    let budget = region.header.trace_budget.load(Ordering::Relaxed);
    if budget != 0 && budget != tables.budget() {
        tables.set_budget(budget);
    }
    let memory = OwnMemory;
    let recent = &crate::thread::trace_state().recent;
    let Some(stack) = capture::capture_interned(recent, config.depth, |frames, truncated, path| {
        tables.intern(&memory, frames, truncated, path)
    }) else {
        return;
    };
    let block = LiveBlock {
        addr: user as u64,
        size: info.size as u64,
        time_ns: now_ns(),
        scope: info.scope,
        stack,
    };
    let pending = capture::pending_slot(recent, || tables.claim_pending(&memory));
    tables.count_allocation(&memory, stack, info.size as u64, pending);
    let kept = capture::take_kept(recent, block.addr);
    if let Some(level) = tables.insert_keeping(&memory, block, kept) {
        if region.header.tail.events_wanted() {
            tables.push_event(event(EVENT_ALLOC, &block));
        }
        // SAFETY: the caller's block; only the traced bit and the level hint change.
        unsafe {
            header::write(
                user,
                BlockInfo {
                    traced: true,
                    level,
                    ..info
                },
            )
        };
    }
}

/// The calling thread is exiting: its running totals go to their stack, the live-table slots
/// it kept are released, and it frees the walks it remembered.
pub(crate) fn thread_exiting() {
    let recent = &crate::thread::trace_state().recent;
    // Only a thread that counted has slots (of running totals, or kept in the live table),
    // and so tables: a thread of a process that never traces must not set them up here.
    if let Some(slot) = capture::give_up_pending_slot(recent) {
        if let Some(tables) = tables() {
            tables.release_pending(&OwnMemory, slot);
        }
    }
    for kept in capture::take_all_kept(recent).into_iter().flatten() {
        if let Some(tables) = tables() {
            tables.release_kept(&OwnMemory, kept);
        }
    }
    capture::release_recent(recent);
}

/// A traced block is being freed (or moved by realloc): drops it from the live table,
/// looking first in `level`, the live-table level its header names.
#[cold]
#[inline(never)]
pub(crate) fn on_free(user: *mut u8, level: u8) {
    let Some(tables) = tables() else {
        return;
    };
    let thread = crate::thread::trace_state();
    // The block's slot is kept for a next traced block at its address (`tables::KeptSlot`) by
    // a thread that traces, and not while it records (a free made by the recording itself),
    // so that its kept slots are never used by two at once.
    let freed = |block: LiveBlock| {
        if crate::region::get().is_some_and(|region| region.header.tail.events_wanted()) {
            let free = LiveBlock {
                time_ns: now_ns(),
                ..block
            };
            tables.push_event(event(EVENT_FREE, &free));
        }
    };
    if thread.busy.get() || !capture::can_keep(&thread.recent) {
        if let Some(block) = tables.take(&OwnMemory, user as u64, level) {
            freed(block);
        }
        return;
    }
    thread.busy.set(true);
    if let Some(slot) = tables.take_keeping(&OwnMemory, user as u64, level, freed) {
        if let Some(other) = capture::keep(&thread.recent, slot) {
            tables.release_kept(&OwnMemory, other);
        }
    }
    thread.busy.set(false);
}

fn event(kind: u32, block: &LiveBlock) -> Event {
    Event {
        seq: 0,
        kind,
        addr: block.addr,
        size: block.size,
        time_ns: block.time_ns,
        scope: block.scope,
        stack: block.stack,
        thread: crate::thread::trace_state().tid(),
    }
}
