//! Stack capture inside malloc.
//!
//! The unwinder is libgcc's `_Unwind_Backtrace`, which follows `.eh_frame` unwind tables.
//! Chosen by measurement (benches/README.md, "Stack capture") over a frame-pointer walk: the
//! walk costs about 1 ns a frame against about 125 ns for libgcc, but C and C++ built with
//! default flags have no frame pointers (`-O2` omits them), and such a walk stops or goes
//! wrong at the first of their frames; the tables are there in every default build. With
//! glibc 2.35 or later libgcc finds tables through `_dl_find_object`, without the loader
//! lock and without allocating. The first call loads libgcc_s and allocates, so `prime` is
//! called at load time, outside malloc.
//!
//! Where the tables end (code generated at run time, such as V8's builtins and JIT code in
//! node, has none), the walk goes on by frame pointers from that frame's `rbp`, as that code
//! keeps them. Every frame pointer is checked before it is read to lie above the last one and
//! below the top of the thread's stack, so a frame without one ends the walk instead of
//! faulting: everything from the stack pointer up to that top is mapped. The top comes
//! without a lock or an allocation (`pthread_getattr_np` takes the thread's lock, which its
//! caller may hold while it allocates): glibc puts a thread's descriptor, `pthread_self()`,
//! just above its stack, and the main thread's top is `__libc_stack_end`. A walk that starts
//! on another stack (a signal stack, a coroutine) has no known top and stops where the
//! tables do.
//!
//! A faster unwinder (cached unwind rules per address, as the framehop crate does) is the
//! next step for `--all` tracing.

use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicUsize, Ordering};

use super::control::MAX_DEPTH;

#[repr(C)]
struct UnwindContext {
    _private: [u8; 0],
}

type Trace = extern "C" fn(*mut UnwindContext, *mut c_void) -> c_int;

extern "C" {
    fn _Unwind_Backtrace(trace: Trace, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIP(context: *mut UnwindContext) -> usize;
    fn _Unwind_GetGR(context: *mut UnwindContext, index: c_int) -> usize;
    fn _Unwind_GetCFA(context: *mut UnwindContext) -> usize;
}

/// DWARF register number of `rbp` on x86-64.
const DWARF_RBP: c_int = 6;

extern "C" {
    /// Set by glibc at start-up: the stack pointer `_start` was entered with, above every
    /// frame of the main thread.
    static __libc_stack_end: *mut c_void;
}

/// The thread (descriptor) that ran `prime`: the main thread, for a preloaded library.
static MAIN_THREAD: AtomicUsize = AtomicUsize::new(0);

/// Farthest a stack pointer may be below its stack's top for the frame-pointer walk to run.
const MAX_STACK: usize = 64 << 20;

const URC_NO_REASON: c_int = 0;
const URC_END_OF_STACK: c_int = 5;

/// The address range of the code that calls `capture` (the interposer): frames in it are
/// skipped, so a stack starts at the program's call of malloc.
static OWN_START: AtomicUsize = AtomicUsize::new(0);
static OWN_END: AtomicUsize = AtomicUsize::new(0);

/// Sets the range of skull-mem's own code and loads the unwinder (it allocates the first
/// time). Call once, outside malloc.
pub fn prime(own_code: core::ops::Range<usize>) {
    // SAFETY: pthread_self has no preconditions.
    MAIN_THREAD.store(unsafe { libc::pthread_self() } as usize, Ordering::Relaxed);
    let mut frames = [0u64; 4];
    capture(&mut frames);
    OWN_START.store(own_code.start, Ordering::Relaxed);
    OWN_END.store(own_code.end, Ordering::Release);
}

/// Whether `prime` has run: before it (allocations made while libraries load) nothing is
/// traced, since the unwinder may not be ready and skull-mem's own frames are not known.
#[inline]
pub fn primed() -> bool {
    OWN_END.load(Ordering::Relaxed) != 0
}

struct Walk<'a> {
    frames: &'a mut [u64],
    len: usize,
    own: core::ops::Range<usize>,
    left_own_code: bool,
    /// `rbp` and the stack pointer (the callee's CFA) of the last frame recorded.
    last_rbp: usize,
    last_sp: usize,
}

extern "C" fn step(context: *mut UnwindContext, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Walk` that `capture` passed, alive for the whole unwind.
    let walk = unsafe { &mut *(arg as *mut Walk) };
    // SAFETY: `context` is the unwinder's context for this frame.
    let ip = unsafe { _Unwind_GetIP(context) };
    if ip == 0 {
        return URC_END_OF_STACK;
    }
    if !walk.left_own_code {
        if walk.own.contains(&ip) {
            return URC_NO_REASON;
        }
        walk.left_own_code = true;
    }
    walk.frames[walk.len] = ip as u64;
    walk.len += 1;
    // SAFETY: as above; reading registers of the frame's context.
    unsafe {
        walk.last_rbp = _Unwind_GetGR(context, DWARF_RBP);
        walk.last_sp = _Unwind_GetCFA(context);
    }
    if walk.len == walk.frames.len() {
        URC_END_OF_STACK
    } else {
        URC_NO_REASON
    }
}

/// The part of the calling thread's stack above `sp` that is known to be mapped, or an empty
/// range when `sp` is not on the thread's own stack.
fn stack_above(sp: usize) -> core::ops::Range<usize> {
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

/// Goes on from the last frame libgcc could unwind by following frame pointers, each checked
/// to lie in `stack` above the previous one before it is read.
fn follow_frame_pointers(walk: &mut Walk, stack: &core::ops::Range<usize>) {
    let mut lowest = walk.last_sp;
    let mut rbp = walk.last_rbp;
    while walk.len < walk.frames.len() {
        if !rbp.is_multiple_of(8)
            || rbp < lowest
            || rbp < stack.start
            || rbp.saturating_add(16) > stack.end
        {
            return;
        }
        // SAFETY: `rbp .. rbp + 16` lies inside this thread's stack, which is mapped.
        let (next, ret) = unsafe { (*(rbp as *const usize), *((rbp + 8) as *const usize)) };
        if ret == 0 {
            return;
        }
        walk.frames[walk.len] = ret as u64;
        walk.len += 1;
        lowest = rbp + 16;
        rbp = next;
    }
}

/// Fills `frames` with the return addresses of the calling stack, innermost first, from the
/// program's call into skull-mem; returns how many were written.
#[inline(never)]
pub fn capture(frames: &mut [u64]) -> usize {
    let max = frames.len().min(MAX_DEPTH);
    let mut walk = Walk {
        frames: &mut frames[..max],
        len: 0,
        own: OWN_START.load(Ordering::Relaxed)..OWN_END.load(Ordering::Relaxed),
        left_own_code: false,
        last_rbp: 0,
        last_sp: 0,
    };
    if max == 0 {
        return 0;
    }
    // SAFETY: `step` only writes inside `walk.frames`, bounded by its length.
    unsafe { _Unwind_Backtrace(step, &mut walk as *mut Walk as *mut c_void) };
    if walk.len > 0 && walk.len < max {
        let here = 0u8;
        let stack = stack_above(&here as *const u8 as usize);
        follow_frame_pointers(&mut walk, &stack);
    }
    walk.len
}
