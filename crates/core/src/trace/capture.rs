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

/// A walk of this thread and the stack it was interned as.
struct Remembered {
    walk: unwind::WalkMemo,
    stack: u32,
}

/// Walks remembered per thread, told apart by their starting stack pointer: a loop usually
/// allocates from a few call sites in turn (node makes 4 blocks per Buffer), each at its own
/// stack depth.
const REMEMBERED: usize = 8;

struct RecentStacks {
    /// The starting stack pointer of each remembered walk (0: none).
    sps: [usize; REMEMBERED],
    /// The entry to replace next (round robin).
    next: usize,
    walks: [Remembered; REMEMBERED],
}

impl RecentStacks {
    /// The entry for walks from `sp`: the one remembered from there, or the next to replace.
    fn entry(&mut self, sp: usize) -> &mut Remembered {
        let index = match self.sps.iter().position(|&remembered| remembered == sp) {
            Some(index) => index,
            None => {
                let index = self.next;
                self.next = (index + 1) % REMEMBERED;
                self.sps[index] = sp;
                self.walks[index].walk.forget();
                index
            }
        };
        &mut self.walks[index]
    }
}

thread_local! {
    // Const-initialised and without a destructor: no allocation and no registration, so
    // it may be used inside malloc. About 8 KiB a thread.
    static RECENT_STACKS: core::cell::UnsafeCell<RecentStacks> = const {
        core::cell::UnsafeCell::new(RecentStacks {
            sps: [0; REMEMBERED],
            next: 0,
            walks: [const {
                Remembered {
                    walk: unwind::WalkMemo::new(),
                    stack: 0,
                }
            }; REMEMBERED],
        })
    };
}

/// The calling stack, up to `depth` frames, innermost first from the program's call into
/// skull-mem, as `intern` numbers it; `None` when `intern` has no room for it. When the stack
/// is one this thread captured recently from the same stack pointer, its number is reused
/// without walking or interning again (see `unwind::memo`).
#[inline(never)]
pub fn capture_interned(depth: usize, intern: impl FnOnce(&[u64]) -> Option<u32>) -> Option<u32> {
    let mut frames = [0u64; MAX_DEPTH];
    let max = depth.min(MAX_DEPTH);
    let own = OWN_START.load(Ordering::Relaxed)..OWN_END.load(Ordering::Acquire);
    let start = unwind::here();
    RECENT_STACKS.with(|recent| {
        // SAFETY: only this thread touches its own `RECENT_STACKS`, and not re-entrantly:
        // recording sets the thread's busy flag, so nothing it calls records again.
        let last = unsafe { &mut *recent.get() }.entry(start.sp);
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
