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

/// Fills `frames` with the return addresses of the calling stack, innermost first, from the
/// program's call into skull-mem; returns how many were written.
#[inline(never)]
pub fn capture(frames: &mut [u64]) -> usize {
    let max = frames.len().min(MAX_DEPTH);
    let own = OWN_START.load(Ordering::Relaxed)..OWN_END.load(Ordering::Acquire);
    unwind::walk(unwind::here(), &own, &mut frames[..max])
}
