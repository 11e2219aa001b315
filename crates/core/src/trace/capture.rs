//! Stack capture inside malloc: the return addresses of the program's frames, from its call
//! into skull-mem outwards. The walk itself is in `unwind` (cached steps read from the unwind
//! tables, frame pointers where there are none).

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use super::control::MAX_DEPTH;
use super::stack_cache::StackCache;
use super::tables::{KeptSlot, TriePath};
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

/// The trace tables were emptied (in a forked child): the stack ids every thread remembers
/// (walks, stack cache, trie path) name nothing now, and are dropped at each thread's next
/// capture.
pub fn forget_stacks() {
    unwind::forget_stacks();
    TABLES_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// Changes when the trace tables are emptied (`forget_stacks`): a thread's slot of running
/// totals (`RecentStacks::pending`) and its kept live-table slots (`RecentStacks::kept`) are
/// the tables' before.
static TABLES_EPOCH: AtomicU32 = AtomicU32::new(0);

/// `RecentStacks::pending` of a thread that found every slot owned.
const NO_SLOT: u32 = u32::MAX;

/// Live-table slots a thread keeps. Measured: the share of allocations at the address of
/// one of the thread's last K frees (malloc's caches hand recently freed blocks out first),
/// K = 1, 2, 4, 8: python3 26, 34, 34, 34 %; tsc in node 35, 39, 45, 51 %; cc1 6, 9, 14,
/// 20 %.
const KEPT: usize = 4;

/// A walk of this thread and the stack it was interned as.
struct Remembered {
    walk: unwind::WalkMemo,
    stack: u32,
}

/// Walks remembered per thread, told apart by their starting stack pointer: a loop usually
/// allocates from a few call sites in turn (node makes 4 blocks per Buffer), each at its own
/// stack depth.
const REMEMBERED: usize = 8;

/// A thread's remembered walks (about 8 KiB) and interned stacks (64 KiB): allocated on the
/// thread's first capture rather than kept in thread-local storage, so that threads never
/// traced do not pay for them.
pub(crate) struct RecentStacks {
    /// The starting stack pointer of each remembered walk (0: none).
    sps: [usize; REMEMBERED],
    /// The entry to replace next (round robin).
    next: usize,
    walks: [Remembered; REMEMBERED],
    /// Stacks this thread interned, by their frames: a walk that is not recognised (another
    /// stack pointer, or other words on the stack) mostly still finds a known stack.
    interned: StackCache,
    /// The trie path of the stack this thread interned last (all zeros: none).
    path: TriePath,
    /// `unwind::stacks_generation` when `interned` and `path` were filled (0: not yet).
    generation: u32,
    /// The thread's slot of running totals in the tables (`tables::TraceTables::
    /// claim_pending`) plus one; 0 before it asked for one, `NO_SLOT` when none was free.
    pending: u32,
    /// The live-table slots of the last traced blocks this thread freed, kept for its next
    /// traced blocks at the same addresses (`tables::KeptSlot`).
    kept: [Option<KeptSlot>; KEPT],
    /// The entry of `kept` to replace next (round robin).
    kept_next: usize,
    /// `TABLES_EPOCH` when `pending` and `kept` were taken.
    epoch: u32,
}

impl RecentStacks {
    /// Readies a `RecentStacks` in zeroed memory (the empty `StackCache` and `TriePath` are
    /// all zeros, so the cache's 64 KiB are never built on the stack of a thread that may
    /// have a small one).
    ///
    /// # Safety
    /// `at` is valid for writes of a `RecentStacks`, aligned, and all zero.
    unsafe fn init(at: *mut RecentStacks) {
        // SAFETY: the caller's contract; each field is written whole.
        unsafe {
            core::ptr::addr_of_mut!((*at).sps).write([0; REMEMBERED]);
            core::ptr::addr_of_mut!((*at).next).write(0);
            core::ptr::addr_of_mut!((*at).kept).write([None; KEPT]);
            core::ptr::addr_of_mut!((*at).kept_next).write(0);
            core::ptr::addr_of_mut!((*at).walks).write(
                [const {
                    Remembered {
                        walk: unwind::WalkMemo::new(),
                        stack: 0,
                    }
                }; REMEMBERED],
            );
        }
    }

    /// The index of the walk from `sp`: the one remembered from there, or the next to replace.
    fn entry(&mut self, sp: usize) -> usize {
        match self.sps.iter().position(|&remembered| remembered == sp) {
            Some(index) => index,
            None => {
                let index = self.next;
                self.next = (index + 1) % REMEMBERED;
                self.sps[index] = sp;
                self.walks[index].walk.forget();
                index
            }
        }
    }
}

/// `ThreadTrace::recent` of a thread that has exited (its walks were freed): later captures
/// on it, by other exit handlers, remember nothing.
const EXITED: *mut RecentStacks = core::ptr::dangling_mut();

/// The thread's remembered walks, allocated on first use; `None` after it exited or when
/// there is no memory for them.
fn recent_stacks(recent: &Cell<*mut RecentStacks>) -> Option<*mut RecentStacks> {
    let mut stacks = recent.get();
    if stacks.is_null() {
        // The only allocations recording makes (this, and what registering the thread's exit
        // may allocate) are the tool's: charged to its own scope, not to the scope being
        // traced, and not traced (the caller is recording). Through the process's malloc,
        // which is skull-mem's when preloaded.
        let previous = crate::thread::enter_own_scope();
        // SAFETY: a plain zeroed allocation of the struct's size (malloc's alignment suffices).
        stacks =
            unsafe { libc::calloc(1, core::mem::size_of::<RecentStacks>()) } as *mut RecentStacks;
        if !stacks.is_null() {
            // SAFETY: `stacks` is a fresh zeroed allocation of the right size and alignment.
            unsafe { RecentStacks::init(stacks) };
            recent.set(stacks);
            crate::thread_exit::watch();
        }
        crate::thread::leave_own_scope(previous);
        if stacks.is_null() {
            return None;
        }
    }
    if stacks == EXITED {
        return None;
    }
    Some(stacks)
}

/// Whether `stacks` (a thread's `ThreadTrace::recent`) points at its remembered walks: not
/// before its first capture, nor after it exited.
fn exists(stacks: *mut RecentStacks) -> bool {
    !stacks.is_null() && stacks != EXITED
}

/// The calling thread's remembered walks when it has them (`exists`).
///
/// # Safety
/// `stacks` is the calling thread's own `ThreadTrace::recent`, and no other reference to
/// its `RecentStacks` lives while the returned one does.
unsafe fn existing_recent<'a>(stacks: *mut RecentStacks) -> Option<&'a mut RecentStacks> {
    if !exists(stacks) {
        return None;
    }
    // SAFETY: allocated for this thread, which alone uses it; the caller holds no other
    // reference to it.
    Some(unsafe { &mut *stacks })
}

impl RecentStacks {
    /// These stacks with `pending` and `kept` as they stand for the tables now: forgotten
    /// when the tables were emptied since they were taken (a forked child), being the old
    /// tables' slots.
    fn current(&mut self) -> &mut Self {
        let epoch = TABLES_EPOCH.load(Ordering::Relaxed);
        if self.epoch != epoch {
            self.pending = 0;
            self.kept = [None; KEPT];
            self.epoch = epoch;
        }
        self
    }
}

/// The calling thread's slot of running totals, asking `claim` for one the first time;
/// `None` when it has none (no memory for its `RecentStacks`, or every slot owned).
pub(crate) fn pending_slot(
    recent: &Cell<*mut RecentStacks>,
    claim: impl FnOnce() -> Option<u32>,
) -> Option<u32> {
    // SAFETY: the thread's own walks, not re-entrantly: the caller is recording, with the
    // thread's busy flag set, and `capture_interned`'s reference has ended.
    let pending = &mut unsafe { existing_recent(recent.get()) }?.current().pending;
    if *pending == 0 {
        *pending = claim().map_or(NO_SLOT, |slot| slot + 1);
    }
    (*pending != NO_SLOT).then(|| *pending - 1)
}

/// The calling thread's slot of running totals, given up (the thread is exiting); `None`
/// when it has none.
pub(crate) fn give_up_pending_slot(recent: &Cell<*mut RecentStacks>) -> Option<u32> {
    // SAFETY: the thread's own walks; it is exiting and records nothing meanwhile.
    let slot = core::mem::take(&mut unsafe { existing_recent(recent.get()) }?.current().pending);
    (slot != 0 && slot != NO_SLOT).then(|| slot - 1)
}

/// The live-table slot the calling thread kept for a block at `addr`, handed to the caller
/// to fill; `None` when it keeps none for that address.
pub(crate) fn take_kept(recent: &Cell<*mut RecentStacks>, addr: u64) -> Option<KeptSlot> {
    // SAFETY: the thread's own walks, not re-entrantly: the caller has set the thread's busy
    // flag, and no reference from `capture_interned` lives.
    let kept = &mut unsafe { existing_recent(recent.get()) }?.current().kept;
    kept.iter_mut()
        .find(|slot| slot.is_some_and(|slot| slot.addr() == addr))?
        .take()
}

/// Every live-table slot the calling thread keeps, handed to the caller to release (the
/// thread is exiting).
pub(crate) fn take_all_kept(recent: &Cell<*mut RecentStacks>) -> [Option<KeptSlot>; KEPT] {
    // SAFETY: as in `take_kept`.
    unsafe { existing_recent(recent.get()) }.map_or([None; KEPT], |stacks| {
        core::mem::take(&mut stacks.current().kept)
    })
}

/// Whether the calling thread can keep a live-table slot: it has remembered walks (it
/// traced, and has not exited).
pub(crate) fn can_keep(recent: &Cell<*mut RecentStacks>) -> bool {
    exists(recent.get())
}

/// Keeps `slot` for the calling thread's next traced block at its address; returns a slot
/// the caller must release: the oldest kept one, when all were in use, or `slot` itself when
/// the thread cannot keep it (`can_keep`).
pub(crate) fn keep(recent: &Cell<*mut RecentStacks>, slot: KeptSlot) -> Option<KeptSlot> {
    // SAFETY: as in `take_kept`.
    let Some(stacks) = (unsafe { existing_recent(recent.get()) }) else {
        return Some(slot);
    };
    let stacks = stacks.current();
    let at = match stacks.kept.iter().position(Option::is_none) {
        Some(free) => free,
        None => {
            let next = stacks.kept_next;
            stacks.kept_next = (next + 1) % KEPT;
            next
        }
    };
    stacks.kept[at].replace(slot)
}

/// Frees the thread's remembered walks; the thread is exiting.
pub(crate) fn release_recent(recent: &Cell<*mut RecentStacks>) {
    let stacks = recent.replace(EXITED);
    if exists(stacks) {
        // SAFETY: allocated with malloc by `recent_stacks`, and no longer reachable.
        unsafe { libc::free(stacks as *mut libc::c_void) };
    }
}

/// The calling stack, up to `depth` frames, innermost first from the program's call into
/// skull-mem, as `intern` numbers it (told whether the stack went on past `depth`); `None` when `intern` has no room for it. When the stack
/// is one this thread captured recently from the same stack pointer, its number is reused
/// without walking or interning again (see `unwind::memo`).
#[inline(never)]
pub(crate) fn capture_interned(
    recent: &Cell<*mut RecentStacks>,
    depth: usize,
    intern: impl FnOnce(&[u64], bool, &mut TriePath) -> Option<u32>,
) -> Option<u32> {
    // One frame more than kept: whether it is found says whether the stack was cut.
    let mut frames = [0u64; MAX_DEPTH + 1];
    let max = depth.min(MAX_DEPTH) + 1;
    let cut = |len: usize| (len.min(max - 1), len == max);
    let own = OWN_START.load(Ordering::Relaxed)..OWN_END.load(Ordering::Acquire);
    let start = unwind::here();
    let Some(recent) = recent_stacks(recent) else {
        let len = unwind::walk(
            start,
            &own,
            &mut frames[..max],
            &mut unwind::WalkMemo::new(),
        );
        let (len, truncated) = cut(len.unwrap_or(0));
        return intern(&frames[..len], truncated, &mut TriePath::new());
    };
    // SAFETY: allocated for this thread, which alone uses it, and not re-entrantly:
    // recording sets the thread's busy flag, so nothing it calls records again.
    let recent = unsafe { &mut *recent };
    let generation = unwind::stacks_generation();
    if recent.generation != generation {
        recent.interned.clear();
        recent.path = TriePath::new();
        recent.generation = generation;
    }
    let last = &mut recent.walks[recent.entry(start.sp)];
    let Some(len) = unwind::walk(start, &own, &mut frames[..max], &mut last.walk) else {
        return Some(last.stack);
    };
    let (len, truncated) = cut(len);
    let path = &mut recent.path;
    match recent
        .interned
        .intern(&frames[..len], truncated, |frames, truncated| {
            intern(frames, truncated, path)
        }) {
        Some(stack) => {
            last.stack = stack;
            Some(stack)
        }
        None => {
            last.walk.forget();
            None
        }
    }
}
