//! On-demand tracing: while the segment's control word says so, allocations (all, or a
//! Poisson sample by bytes) get their stack recorded, and stay in a table of live traced
//! blocks until freed; `skull-trace leaks` reads the tables and symbolizes the stacks.
//!
//! Off, it costs every allocation one relaxed load of the control word (`word`); everything
//! else is outlined here and runs only for allocations being traced.

pub mod capture;
pub mod control;
pub mod tables;

use core::cell::Cell;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::header::{self, BlockInfo};
use control::{TraceConfig, MAX_DEPTH};
use tables::{LiveBlock, TraceTables};

/// Read by allocations before the region exists: tracing off.
static OFF: AtomicU64 = AtomicU64::new(0);
/// The control word allocations read: the segment header's once the region is mapped.
static CONTROL: AtomicPtr<AtomicU64> = AtomicPtr::new(&OFF as *const AtomicU64 as *mut AtomicU64);

/// Points allocations at the segment's control word (when the region is mapped).
pub(crate) fn watch(control: &'static AtomicU64) {
    CONTROL.store(
        control as *const AtomicU64 as *mut AtomicU64,
        Ordering::Release,
    );
}

/// The control word: 0 when tracing is off. One relaxed load (plus the pointer's).
#[inline(always)]
pub fn word() -> u64 {
    // SAFETY: `CONTROL` always points to a live `AtomicU64`: `OFF`, or the mapped region's
    // header, which is never unmapped (a fork moves another mapping onto the same address).
    unsafe { (*CONTROL.load(Ordering::Relaxed)).load(Ordering::Relaxed) }
}

/// Per-thread tracing state; const-initialised and without a destructor, so a thread-local
/// access never allocates.
struct ThreadTrace {
    /// Set while this thread records an allocation: allocations made meanwhile are not traced.
    busy: Cell<bool>,
    /// Bytes left before the next sample; negative until first drawn.
    bytes_left: Cell<i64>,
    /// The sample mean the draw was made for.
    mean: Cell<u64>,
    /// xorshift state.
    rng: Cell<u64>,
}

thread_local! {
    static THREAD: ThreadTrace = const {
        ThreadTrace {
            busy: Cell::new(false),
            bytes_left: Cell::new(-1),
            mean: Cell::new(0),
            rng: Cell::new(0),
        }
    };
}

impl ThreadTrace {
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

    /// Whether an allocation of `size` bytes is sampled with mean `mean` bytes.
    fn sampled(&self, size: usize, mean: u64) -> bool {
        if mean == 0 {
            return true;
        }
        if self.mean.get() != mean || self.bytes_left.get() < 0 {
            self.mean.set(mean);
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

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; CLOCK_MONOTONIC is served by the vDSO, without a syscall.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn tables() -> Option<&'static TraceTables> {
    crate::region::get().map(|region| &region.trace)
}

/// Records the new block at `user` when tracing (`word` non-zero) selects it: captures the
/// stack, adds the block to the live table and marks its header as traced.
///
/// # Safety
/// `user` is a block of ours just allocated, with a valid header, not yet seen by the caller.
#[cold]
#[inline(never)]
pub(crate) unsafe fn on_alloc(user: *mut u8, word: u64) -> *mut u8 {
    let Some(config) = TraceConfig::decode(word) else {
        return user;
    };
    if user.is_null() {
        return user;
    }
    // `try_with` fails only while the thread is being torn down: then nothing is traced.
    let _ = THREAD.try_with(|thread| {
        if thread.busy.get() {
            return;
        }
        // SAFETY: guaranteed by the caller.
        let Some(info) = (unsafe { header::read(user) }) else {
            return;
        };
        if !thread.sampled(info.size, config.sample_bytes) {
            return;
        }
        thread.busy.set(true);
        // SAFETY: as above.
        unsafe { record(user, info, config) };
        thread.busy.set(false);
    });
    user
}

unsafe fn record(user: *mut u8, info: BlockInfo, config: TraceConfig) {
    let Some(tables) = tables() else { return };
    let mut frames = [0u64; MAX_DEPTH];
    let depth = capture::capture(&mut frames[..config.depth]);
    let Some(stack) = tables.intern(&frames[..depth]) else {
        return;
    };
    let block = LiveBlock {
        addr: user as u64,
        size: info.size as u64,
        time_ns: now_ns(),
        scope: info.scope,
        stack,
    };
    if tables.insert(block) {
        // SAFETY: the caller's block; only the traced bit changes.
        unsafe {
            header::write(
                user,
                BlockInfo {
                    traced: true,
                    ..info
                },
            )
        };
    }
}

/// A traced block is being freed (or moved by realloc): drops it from the live table.
#[cold]
#[inline(never)]
pub(crate) fn on_free(user: *mut u8) {
    if let Some(tables) = tables() {
        tables.remove(user as u64);
    }
}
