//! Stack capture inside malloc: the return addresses of the program's frames, from its call
//! into skull-mem outwards. The walk itself is in `unwind` (cached steps read from the unwind
//! tables, frame pointers where there are none).

use core::sync::atomic::{AtomicUsize, Ordering};

use super::control::MAX_DEPTH;
use super::unwind;

/// The address range of the code that calls `capture` (the interposer): frames in it are
/// skipped, so a stack starts at the program's call of malloc.
static OWN_START: AtomicUsize = AtomicUsize::new(0);
static OWN_END: AtomicUsize = AtomicUsize::new(0);

/// Sets the range of skull-mem's own code and readies the unwinder (it looks up glibc
/// symbols). Call once, outside malloc.
pub fn prime(own_code: core::ops::Range<usize>) {
    unwind::prime();
    OWN_START.store(own_code.start, Ordering::Relaxed);
    OWN_END.store(own_code.end, Ordering::Release);
}

/// Whether `prime` has run: before it (allocations made while libraries load) nothing is
/// traced, since skull-mem's own frames are not known yet.
#[inline]
pub fn primed() -> bool {
    OWN_END.load(Ordering::Relaxed) != 0
}

/// Code was unloaded (the program called dlclose): what the unwinder learned about addresses
/// is forgotten, since another object may be loaded at them.
pub fn forget_unloaded_code() {
    unwind::forget_unloaded_code();
}

/// This thread's last walk and the stack it was interned as.
struct LastStack {
    walk: unwind::WalkMemo,
    stack: u32,
}

thread_local! {
    // Const-initialised and without a destructor: no allocation and no registration, so
    // it may be used inside malloc.
    static LAST_STACK: core::cell::UnsafeCell<LastStack> = const {
        core::cell::UnsafeCell::new(LastStack {
            walk: unwind::WalkMemo::new(),
            stack: 0,
        })
    };
}

/// The calling stack, up to `depth` frames, innermost first from the program's call into
/// skull-mem, as `intern` numbers it; `None` when `intern` has no room for it. When the stack
/// is the one this thread captured last, its number is reused without walking or interning
/// again (see `unwind::memo`).
#[inline(never)]
pub fn capture_interned(depth: usize, intern: impl FnOnce(&[u64]) -> Option<u32>) -> Option<u32> {
    let mut frames = [0u64; MAX_DEPTH];
    let max = depth.min(MAX_DEPTH);
    let own = OWN_START.load(Ordering::Relaxed)..OWN_END.load(Ordering::Acquire);
    let start = unwind::here();
    LAST_STACK.with(|last| {
        // SAFETY: only this thread touches its own `LAST_STACK`, and not re-entrantly:
        // recording sets the thread's busy flag, so nothing it calls records again.
        let last = unsafe { &mut *last.get() };
        let Some(len) = unwind::walk(start, &own, &mut frames[..max], &mut last.walk) else {
            return Some(last.stack);
        };
        match intern(&frames[..len]) {
            Some(stack) => {
                last.stack = stack;
                Some(stack)
            }
            None => {
                last.walk.forget();
                None
            }
        }
    })
}
