//! The stack walk of `capture`: from the registers of the capturing function, frame by frame,
//! with each frame's step read from the unwind tables once per code address and then cached.
//!
//! Chosen by measurement (benches/README.md, "Stack capture"): libgcc's `_Unwind_Backtrace`
//! reads the tables anew for every frame of every capture, about 125 ns a frame; a cached
//! step costs a few. A frame-pointer walk would cost about 1 ns a frame, but C and C++ built
//! with default flags have no frame pointers (`-O2` omits them); the tables are there in
//! every default build, so they are the primary source and frame pointers the fallback where
//! there are none (V8's builtins and JIT code in node keep them). Measured per traced stack
//! of 32 frames (benches/capture_depth.c): libgcc 3.4–3.9 µs, cached steps 232–250 ns, and
//! 37–43 ns for a stack the thread walked recently from the same place (`memo`), recognised
//! without a walk.
//!
//! Every read is checked first to lie between the stack pointer the walk started from and the
//! top of the thread's stack, and each frame's CFA must lie above the last one: a wrong frame
//! pointer ends the walk instead of faulting. The top comes without a lock or an allocation
//! (`pthread_getattr_np` takes the thread's lock, which its caller may hold while it
//! allocates): glibc puts a thread's descriptor, `pthread_self()`, just above its stack, and
//! the main thread's top is `__libc_stack_end`. On a stack with no known top (a signal stack,
//! a coroutine) only steps from the tables are taken, as libgcc would.

mod cache;
mod memo;
pub mod rules;

use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering};

use cache::PackedStep;
pub use memo::WalkMemo;

extern "C" {
    /// Set by glibc at start-up: the stack pointer `_start` was entered with, above every
    /// frame of the main thread.
    static __libc_stack_end: *mut core::ffi::c_void;
}

/// The thread (descriptor) that ran `prime`: the main thread, for a preloaded library.
static MAIN_THREAD: AtomicUsize = AtomicUsize::new(0);

/// Farthest a stack pointer may be below its stack's top for that top to be trusted.
const MAX_STACK: usize = 64 << 20;

/// Most frames a walk steps through, recorded or not (skull-mem's own frames are not).
const MAX_STEPS: usize = 256;

/// Records the main thread and finds glibc's object lookup. Call once, outside malloc.
pub fn prime() {
    // SAFETY: pthread_self has no preconditions.
    MAIN_THREAD.store(unsafe { libc::pthread_self() } as usize, Ordering::Relaxed);
    rules::prime();
}

/// Forgets the cached steps: call after code is unloaded (dlclose).
pub fn forget_unloaded_code() {
    cache::clear();
    memo::void_all();
}

/// Voids the remembered walks and the stack ids every thread keeps (the trace tables were
/// emptied); the cached steps stay right.
pub fn forget_stacks() {
    memo::void_all();
}

/// Changes whenever the stack ids threads keep become void (`forget_stacks`, or code
/// unloaded).
pub fn stacks_generation() -> u32 {
    memo::generation()
}

/// The registers a walk starts from: an address in the calling function, its stack pointer
/// and its `rbp`.
pub struct Start {
    pub pc: usize,
    pub sp: usize,
    pub bp: usize,
}

/// Reads the registers of the function this is inlined into.
#[inline(always)]
pub fn here() -> Start {
    let (pc, sp, bp): (usize, usize, usize);
    // SAFETY: reads three registers; touches no memory and no flags.
    unsafe {
        core::arch::asm!(
            "lea {pc}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            pc = out(reg) pc,
            sp = out(reg) sp,
            bp = out(reg) bp,
            options(nomem, nostack, preserves_flags),
        )
    };
    Start { pc, sp, bp }
}

/// The part of the calling thread's stack above `sp` that is known to be mapped, or an empty
/// range when `sp` is not on the thread's own stack.
fn stack_above(sp: usize) -> Range<usize> {
    // SAFETY: pthread_self has no preconditions; `__libc_stack_end` is written once, before
    // any constructor runs.
    let (this, main_top) = unsafe { (libc::pthread_self() as usize, __libc_stack_end as usize) };
    let top = if this == MAIN_THREAD.load(Ordering::Relaxed) {
        main_top
    } else {
        this
    };
    if sp < top && top - sp <= MAX_STACK {
        sp..top
    } else {
        0..0
    }
}

#[inline(always)]
fn cached_step(lookup: usize) -> PackedStep {
    match cache::get(lookup) {
        Some(step) => step,
        None => slow_step(lookup),
    }
}

/// Kept out of line: the table reader's stack frame (a few KiB of rules) is only paid for on
/// a miss.
#[cold]
#[inline(never)]
fn slow_step(lookup: usize) -> PackedStep {
    let step = PackedStep::pack(rules::step_for(lookup));
    cache::put(lookup, step);
    step
}

/// Where the walk's current `bp` came from, for the memo.
enum BpOrigin {
    /// The starting rbp.
    Start,
    /// Read from the stack at this address, with this value.
    Stack(usize, usize),
    /// Already in the memo.
    Noted,
}

impl BpOrigin {
    /// A step uses `bp`: the walk depends on it, so the memo must check it next time.
    fn note_use(&mut self, bp: usize, memo: &mut WalkMemo) {
        match *self {
            BpOrigin::Start => memo.used_bp(bp),
            BpOrigin::Stack(addr, value) => memo.read(addr, value),
            BpOrigin::Noted => {}
        }
        *self = BpOrigin::Noted;
    }
}

/// Walks up from `start`, writing the return addresses of the frames above it into `frames`,
/// innermost first, after skipping those inside `own` (the capturing library's code); returns
/// how many were written, or `None` when `memo` (this thread's last walk) shows the walk would
/// give the same frames as last time, which are then not written again.
pub fn walk(
    start: Start,
    own: &Range<usize>,
    frames: &mut [u64],
    memo: &mut WalkMemo,
) -> Option<usize> {
    // First, before finding the stack's bounds: a walk is only remembered on a known stack,
    // and the thread and stack pointer are the same.
    // SAFETY: on this thread, from its current stack pointer.
    if unsafe { memo.unchanged(start.pc, start.sp, start.bp, frames.len()) } {
        return None;
    }
    let stack = stack_above(start.sp);
    let known = !stack.is_empty();
    memo.start(start.pc, start.sp, frames.len());
    if !known {
        memo.forget();
    }
    // Whether the 8 bytes at `addr` may be read: on the known stack above where the walk
    // started.
    let on_stack = |addr: usize| addr >= stack.start && addr.saturating_add(8) <= stack.end;
    // SAFETY (for callers): `addr` was checked to lie on the stack when its bounds are known,
    // or was given by the tables.
    let load = |addr: usize| unsafe { (addr as *const usize).read() };
    let Start {
        mut pc,
        mut sp,
        mut bp,
    } = start;
    // Where `bp` came from. The memo only needs a value of rbp if a step uses it: functions
    // save whatever the register holds (often a loop counter of the program), and a saved
    // value that no step reads does not change the frames.
    let mut bp_origin = BpOrigin::Start;
    let mut len = 0;
    let mut lookup = pc;
    for _ in 0..MAX_STEPS {
        if len == frames.len() {
            break;
        }
        let step = cached_step(lookup);
        if step.is_outermost() {
            break;
        }
        if !step.is_tables() || step.cfa_from_rbp() {
            bp_origin.note_use(bp, memo);
        }
        let (cfa, next_bp) = if step.is_tables() {
            let cfa = if step.cfa_from_rbp() { bp } else { sp }.wrapping_add(step.cfa_offset());
            if cfa <= sp || (known && !on_stack(cfa - 8)) {
                break;
            }
            let below = step.rbp_saved_below();
            if below == 0 {
                (cfa, bp)
            } else if !known || on_stack(cfa - below) {
                // The tables say the caller's rbp was saved there, in this frame.
                let saved = load(cfa - below);
                bp_origin = BpOrigin::Stack(cfa - below, saved);
                (cfa, saved)
            } else {
                break;
            }
        } else {
            if !known || !bp.is_multiple_of(8) || bp < sp || !on_stack(bp + 8) {
                break;
            }
            let saved = load(bp);
            bp_origin = BpOrigin::Stack(bp, saved);
            (bp + 16, saved)
        };
        let return_address = load(cfa - 8);
        memo.read(cfa - 8, return_address);
        if return_address == 0 {
            break;
        }
        (pc, sp, bp) = (return_address, cfa, next_bp);
        // A return address follows its call: the call itself, one byte before, is what the
        // tables must describe (it matters after calls that never return).
        lookup = pc - 1;
        if len == 0 && own.contains(&pc) {
            continue;
        }
        frames[len] = pc as u64;
        len += 1;
    }
    Some(len)
}
