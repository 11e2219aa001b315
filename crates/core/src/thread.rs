//! The calling thread's state and the counting fast path.
//!
//! Fast path budget (`count_plain_alloc`, `count_plain_free`): the thread state's address
//! (two instructions), one compare against it that also covers the size check and "has a
//! block of its own", and two single-writer adds to the current scope's counter set (see
//! `CounterSet` for why two are enough). Everything rare (first call on a thread, thread
//! exit, more than `MAX_THREADS` threads, a failed mapping, a block freed outside its
//! scope) goes through `record`, and the thread's first call through `record_slow`.
//!
//! The thread's block `cache` lives here too (`take_cached`, `keep_cached`): it counts
//! what it holds in skull-mem's own scope, so it needs the thread's block as well, and it
//! is drained in `detach` before the block is given up.

use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::cache::{Keep, Release, ThreadCache};
use crate::counters::{Api, Counter, CounterSet, Slot, HEADER_BYTES};
use crate::header::{BlockInfo, MAX_SIZE, SCOPE_SHIFT};
use crate::region::{self, Region, MAX_SCOPES};
use crate::scopes::{SCOPE_CORE, SCOPE_INIT, SCOPE_INVALID, SCOPE_SELF};

const STATUS_NEW: u8 = 0;
const STATUS_ATTACHING: u8 = 1;
const STATUS_ACTIVE: u8 = 2;
/// No block of its own (all taken, or the thread is exiting): counts go to the overflow set.
const STATUS_SHARED: u8 = 3;

/// `ThreadState::home` before it is first needed (the initial value).
const HOME_UNKNOWN: u32 = SCOPE_INVALID;
/// `ThreadState::home` of the main thread, and of a thread that could get no pseudo-scope:
/// the default scope, `init` before `main`, then `core`.
const HOME_DEFAULT: u32 = SCOPE_INVALID - 1;

/// `ThreadState::fast_below` of a thread with a block of its own: every size a header can
/// hold. A thread without one has 0, so that no size takes the fast paths.
const FAST_BELOW: u64 = MAX_SIZE as u64 + 1;
const _: () = assert!(MAX_SCOPES <= 1 << (64 - SCOPE_SHIFT));

/// What the allocator keeps per thread, in `tls` storage: statically initialised and
/// without `Drop`, so no lazy-init check and no destructor registration.
///
/// The first three fields are all the counting fast paths read; they are derived from
/// `sets` and `scope` whenever either changes (`sync_current`), or else `fast_below` is 0,
/// which sends every call to a slow path that derives them again (`resync`): that is how a
/// store through `switch_words` switches the scope without a call. The cache's fast paths
/// read `cache` and `sets`.
#[repr(C)]
struct ThreadState {
    /// The current scope's `CounterSet` in the thread's own block; null without one.
    current: Cell<*const CounterSet>,
    /// The current scope shifted to its place in a header's first word (0 without a block).
    scope_bits: Cell<u64>,
    /// Requested sizes below this take the fast paths: `FAST_BELOW` when `current` is
    /// set, else 0. One compare checks both the size and that there is a block.
    fast_below: Cell<u64>,
    /// The current scope, or `SCOPE_INVALID` until set or attached. Right after
    /// `fast_below`: with its high half, the two switch words (`switch_words`).
    scope: Cell<u32>,
    /// The thread's slot in the region, when `STATUS_ACTIVE`.
    slot: Cell<u32>,
    /// The thread's `CounterSet`s, indexed by scope; null until attached.
    sets: Cell<*const CounterSet>,
    status: Cell<u8>,
    /// The scope the thread charges when it has not entered one (`home_scope`):
    /// `HOME_UNKNOWN` until first needed, `HOME_DEFAULT` for the main thread, else the
    /// thread's `thread:<name>` pseudo-scope.
    home: Cell<u32>,
    /// Tracing's per-thread state (sampling countdown), all zero at first.
    trace: crate::trace::ThreadTrace,
    /// Freed blocks kept for the next allocations of their size, all zero (empty) at first.
    cache: ThreadCache,
}

const _: () = assert!(core::mem::size_of::<ThreadState>() == crate::tls::STATE_SIZE);
// `switch_words`: `scope` is the word right after `fast_below`'s high half, and
// `FAST_BELOW`'s low half is 0, so zeroing the high half zeroes `fast_below`.
const _: () = assert!(
    core::mem::offset_of!(ThreadState, scope) == core::mem::offset_of!(ThreadState, fast_below) + 8
);
const _: () = assert!(FAST_BELOW as u32 == 0 && cfg!(target_endian = "little"));

/// The calling thread's tracing state: in the same initial-exec TLS block as the rest, so
/// the sampling countdown costs no `__tls_get_addr` call.
#[inline(always)]
pub(crate) fn trace_state() -> &'static crate::trace::ThreadTrace {
    &thread().trace
}

/// The calling thread's state.
#[inline(always)]
fn thread() -> &'static ThreadState {
    // SAFETY: `tls` storage is `STATE_SIZE` bytes, 8-aligned, initialised to the
    // `ThreadState` of a new thread (null, 0, 0, SCOPE_INVALID, 0, null, STATUS_NEW,
    // HOME_UNKNOWN), and
    // used only by its own thread (`ThreadState` is not `Sync`, and the reference never
    // leaves the thread).
    unsafe { &*(crate::tls::state_addr() as *const ThreadState) }
}

impl ThreadState {
    /// Re-derives the fast-path fields from `sets` and `scope`. The order keeps
    /// "`fast_below` is not 0 => `current` is non-null" true at every point.
    fn sync_current(&self) {
        let sets = self.sets.get();
        let scope = self.scope.get();
        if sets.is_null() || scope as usize >= MAX_SCOPES {
            self.fast_below.set(0);
            self.current.set(ptr::null());
            self.scope_bits.set(0);
        } else {
            // `scope` is registered, hence below MAX_SCOPES: inside the block of `sets`.
            self.current.set(sets.wrapping_add(scope as usize));
            self.scope_bits.set(u64::from(scope) << SCOPE_SHIFT);
            self.fast_below.set(FAST_BELOW);
        }
    }

    fn set_scope(&self, scope: u32) {
        self.scope.set(scope);
        self.sync_current();
    }

    /// Derives the fast-path fields again after a store through `switch_words` (which
    /// leaves `fast_below` 0). Slow paths only: also true of a thread whose scope is not
    /// registered yet, for which it changes nothing.
    #[inline(always)]
    fn resync(&self) {
        if self.fast_below.get() == 0 {
            self.sync_current();
        }
    }

    /// The scope the thread charges outside any scope it entered: the default scope for
    /// the main thread, else its `thread:<name>` pseudo-scope, found (and registered) the
    /// first time it is needed. Slow path only: the first time costs three system calls.
    fn home_scope(&self) -> u32 {
        let mut home = self.home.get();
        if home == HOME_UNKNOWN {
            home = crate::thread_name::calling_thread_scope().unwrap_or(HOME_DEFAULT);
            self.home.set(home);
        }
        if home == HOME_DEFAULT {
            DEFAULT_SCOPE.load(Ordering::Relaxed)
        } else {
            home
        }
    }

    /// The scope that `scope` charges: the home scope when the thread has none of its own.
    fn resolved(&self, scope: u32) -> u32 {
        if scope == SCOPE_INVALID {
            self.home_scope()
        } else {
            scope
        }
    }

    /// Forgets the home scope, so that it is found again from the thread's name and process
    /// when next needed; a thread that was charging its home scope charges the new one now.
    fn rehome(&self) {
        if self.home.get() == HOME_UNKNOWN {
            return;
        }
        let was_home = self.scope.get() == self.home_scope();
        self.home.set(HOME_UNKNOWN);
        if was_home {
            self.set_scope(self.home_scope());
        }
    }
}

/// The fast path of a plain allocation of `size` bytes by `api`: counts it in the current
/// scope and returns that scope shifted into header position; `None` (nothing counted)
/// when `size` is above `MAX_SIZE` or the thread has no block of its own.
#[inline(always)]
pub(crate) fn count_plain_alloc(api: Api, size: usize) -> Option<u64> {
    let thread = thread();
    if size as u64 >= thread.fast_below.get() {
        return None;
    }
    // SAFETY: `fast_below` is not 0, so `current` is the current scope's set in this
    // thread's own block (`sync_current`); only this thread writes it.
    let set = unsafe { &*thread.current.get() };
    add_alloc_calls(api, |slot| set.add(slot, 1));
    set.add(Counter::AllocBytes, size as u64);
    Some(thread.scope_bits.get())
}

/// The fast path of `free` for a plain block whose header's first word is `word0`: counts
/// it and returns its size when the block belongs to the current scope; `None` (nothing
/// counted) when it was allocated in another scope or the thread has no block of its own.
#[inline(always)]
pub(crate) fn count_plain_free(word0: u64) -> Option<usize> {
    let thread = thread();
    // Same scope: the xor clears the scope field and leaves the size. Another scope
    // leaves bits above the size, and without a block `fast_below` is 0.
    let size = word0 ^ thread.scope_bits.get();
    if size >= thread.fast_below.get() {
        return None;
    }
    // SAFETY: as in `count_plain_alloc`.
    let set = unsafe { &*thread.current.get() };
    // As `Free::apply` for a free call and a block of the current scope.
    set.add(Slot::OWN_FREES, 1);
    set.add(Counter::FreedBytes, size);
    Some(size as usize)
}

/// skull-mem's own counter set in the thread's block of `sets` (null without a block).
#[inline(always)]
fn own_set(thread: &ThreadState) -> *const CounterSet {
    thread.sets.get().wrapping_add(SCOPE_SELF as usize)
}

/// A cached raw block for a plain request of `size` bytes (at most `cache::CACHED_MAX`),
/// or null.
#[inline(always)]
pub(crate) fn take_cached(size: usize) -> *mut u8 {
    let thread = thread();
    // SAFETY: the cache holds blocks only between a `keep` (the thread has its block, so
    // `sets` is set) and the `drain` in `detach` (before `sets` is cleared).
    unsafe { thread.cache.take(size, own_set(thread)) }
}

/// Keeps the raw block of a plain block of `size` bytes (at most `cache::CACHED_MAX`) that
/// `count_plain_free` just counted, if the cache has room for it.
#[inline(always)]
pub(crate) fn keep_cached(raw: *mut u8, size: usize) -> Keep {
    let thread = thread();
    // SAFETY: `count_plain_free` counted the block, so the thread has a block of its own
    // (`fast_below` is not 0) and `sets` points into it.
    let own = unsafe { &*own_set(thread) };
    thread.cache.keep(raw, size, own)
}

/// Arms the calling thread's cache (see `ThreadCache::arm`), if the thread has a block of
/// its own to count the cache in.
pub(crate) fn arm_cache(release: Release) {
    let thread = thread();
    if thread.status.get() == STATUS_ACTIVE {
        thread.cache.arm(release, crate::cache::budget());
    }
}

/// Scope of threads that have not entered one: `init` until `main` starts, then `core`.
static DEFAULT_SCOPE: AtomicU32 = AtomicU32::new(SCOPE_INIT);

/// Where an event's counts go.
pub(crate) trait Sink: Copy {
    fn add(&self, scope: u32, slot: impl Into<Slot>, n: u64);
}

/// The thread's own block: single-writer adds.
#[derive(Clone, Copy)]
struct OwnBlock(*const CounterSet);

impl Sink for OwnBlock {
    #[inline(always)]
    fn add(&self, scope: u32, slot: impl Into<Slot>, n: u64) {
        // SAFETY: the pointer is the attached thread's block of `MAX_SCOPES` sets and
        // `scope` is a registered id (< MAX_SCOPES); only this thread writes the block.
        unsafe { (*self.0.add(scope as usize)).add(slot, n) }
    }
}

/// The shared overflow block: atomic adds.
#[derive(Clone, Copy)]
struct Overflow(&'static Region);

impl Sink for Overflow {
    fn add(&self, scope: u32, slot: impl Into<Slot>, n: u64) {
        self.0.overflow[scope as usize].add_shared(slot, n);
    }
}

/// Nowhere: the region could not be mapped, so nothing is counted.
#[derive(Clone, Copy)]
struct Nowhere;

impl Sink for Nowhere {
    fn add(&self, _: u32, _: impl Into<Slot>, _: u64) {}
}

/// Something that happened to memory, to be counted.
pub(crate) trait Event: Copy {
    /// Adds the event's counts to `sink`, `scope` being the current scope; returns the
    /// scope a new block is charged to.
    #[doc(hidden)]
    fn apply<S: Sink>(self, sink: &S, scope: u32) -> u32;
}

/// A block of `size` bytes was allocated by `api` with `overhead` bytes of our own.
#[derive(Clone, Copy)]
pub(crate) struct Alloc {
    /// The entry point.
    pub api: Api,
    /// Requested bytes.
    pub size: usize,
    /// Header and alignment bytes.
    pub overhead: usize,
}

/// A block of ours was freed by `calls` (free, or realloc to zero bytes).
#[derive(Clone, Copy)]
pub(crate) struct Free {
    /// The call counter of the entry point.
    pub calls: Counter,
    /// The freed block's header.
    pub block: BlockInfo,
}

/// A block of ours was resized: the old block is freed, a new one allocated.
#[derive(Clone, Copy)]
pub(crate) struct Resize {
    /// The entry point (realloc or reallocarray).
    pub api: Api,
    /// The old block's header.
    pub old: BlockInfo,
    /// Bytes requested now.
    pub size: usize,
}

/// A call that touched no block of ours: `free(NULL)`, or a failed allocation when
/// `failed` is set.
#[derive(Clone, Copy)]
pub(crate) struct Call {
    /// The call counter of the entry point.
    pub calls: Counter,
    /// Whether it returned NULL for lack of memory or invalid arguments.
    pub failed: bool,
}

/// A pointer we did not allocate was handed to libc by `calls`.
#[derive(Clone, Copy)]
pub(crate) struct Foreign {
    /// The call counter of the entry point.
    pub calls: Counter,
}

/// Adds one to the slots counting an allocation by `api`: a malloc is one slot, standing
/// for the call and the block; others are their call counter and `AllocBlocks`.
#[inline(always)]
fn add_alloc_calls(api: Api, mut add_one: impl FnMut(Slot)) {
    if api == Api::Malloc {
        add_one(Slot::MALLOCS);
    } else {
        add_one(api.calls().into());
        add_one(Counter::AllocBlocks.into());
    }
}

/// Counts the bytes of a freed block, credited to its owner; the block itself is counted
/// by the caller.
#[inline(always)]
fn add_freed_bytes<S: Sink>(sink: &S, scope: u32, block: &BlockInfo) {
    let owner = block.scope;
    sink.add(owner, Counter::FreedBytes, block.size as u64);
    add_padding(sink, owner, Counter::OverheadFreedBytes, block.overhead());
    if owner != scope {
        add_cross_free(*sink, owner, block.size as u64);
    }
}

/// Counts the overhead of a block beyond its header (the header is derived per block).
#[inline(always)]
fn add_padding<S: Sink>(sink: &S, scope: u32, counter: Counter, overhead: usize) {
    let padding = overhead as u64 - HEADER_BYTES;
    if padding != 0 {
        sink.add(scope, counter, padding);
    }
}

// Outlined and taking scalars, so the common same-scope free keeps everything in registers.
#[inline(never)]
fn add_cross_free<S: Sink>(sink: S, owner: u32, size: u64) {
    sink.add(owner, Counter::CrossFreedBlocks, 1);
    sink.add(owner, Counter::CrossFreedBytes, size);
}

impl Event for Alloc {
    #[inline(always)]
    fn apply<S: Sink>(self, sink: &S, scope: u32) -> u32 {
        add_alloc_calls(self.api, |slot| sink.add(scope, slot, 1));
        sink.add(scope, Counter::AllocBytes, self.size as u64);
        add_padding(sink, scope, Counter::OverheadBytes, self.overhead);
        scope
    }
}

impl Event for Free {
    #[inline(always)]
    fn apply<S: Sink>(self, sink: &S, scope: u32) -> u32 {
        let owner = self.block.scope;
        if self.calls == Counter::FreeCalls && owner == scope {
            // A free call and a freed block of this scope: one slot (see `CounterSet`).
            sink.add(scope, Slot::OWN_FREES, 1);
        } else {
            sink.add(scope, self.calls, 1);
            sink.add(owner, Counter::FreedBlocks, 1);
        }
        add_freed_bytes(sink, scope, &self.block);
        scope
    }
}

impl Event for Resize {
    #[inline(always)]
    fn apply<S: Sink>(self, sink: &S, scope: u32) -> u32 {
        sink.add(self.old.scope, Counter::FreedBlocks, 1);
        add_freed_bytes(sink, scope, &self.old);
        Alloc {
            api: self.api,
            size: self.size,
            overhead: crate::header::HEADER_SIZE,
        }
        .apply(sink, scope)
    }
}

impl Event for Call {
    fn apply<S: Sink>(self, sink: &S, scope: u32) -> u32 {
        sink.add(scope, self.calls, 1);
        if self.failed {
            sink.add(scope, Counter::FailedAllocs, 1);
        }
        scope
    }
}

impl Event for Foreign {
    fn apply<S: Sink>(self, sink: &S, scope: u32) -> u32 {
        sink.add(scope, self.calls, 1);
        sink.add(scope, Counter::ForeignFrees, 1);
        scope
    }
}

/// The calling thread's own block and current scope, for `record`. `None` on a thread's
/// first call, and for threads that count into the overflow set.
#[inline(always)]
fn own_block() -> Option<(OwnBlock, u32)> {
    let thread = thread();
    let sets = thread.sets.get();
    if sets.is_null() {
        return None;
    }
    thread.resync();
    Some((OwnBlock(sets), thread.scope.get()))
}

/// Counts `event` for the calling thread; returns the scope a new block is charged to.
#[inline(always)]
pub(crate) fn record<E: Event>(event: E) -> u32 {
    match own_block() {
        Some((sink, scope)) => event.apply(&sink, scope),
        None => record_slow(event),
    }
}

/// Counts `event` when the thread has no block yet (attaching it), or has none at all:
/// re-entered while attaching (pthread_setspecific may calloc), all blocks taken, or the
/// thread is exiting; those count into the overflow set.
#[cold]
#[inline(never)]
pub(crate) fn record_slow<E: Event>(event: E) -> u32 {
    let thread = thread();
    if thread.status.get() == STATUS_NEW {
        attach(thread);
    }
    let sets = thread.sets.get();
    if !sets.is_null() {
        thread.resync();
        return event.apply(&OwnBlock(sets), thread.scope.get());
    }
    let scope = thread.resolved(thread.scope.get());
    match region::get_or_map() {
        Some(region) => event.apply(&Overflow(region), scope),
        None => event.apply(&Nowhere, scope),
    }
}

fn attach(thread: &ThreadState) {
    thread.status.set(STATUS_ATTACHING);
    thread.set_scope(thread.resolved(thread.scope.get()));
    let Some(region) = region::get_or_map() else {
        thread.status.set(STATUS_SHARED);
        return;
    };
    let Some(slot) = region.acquire_slot() else {
        thread.status.set(STATUS_SHARED);
        return;
    };
    let Some(block) = region::thread_block(slot) else {
        region.release_slot(slot);
        thread.status.set(STATUS_SHARED);
        return;
    };
    crate::thread_exit::watch();
    thread.slot.set(slot as u32);
    thread.sets.set(block.sets.as_ptr());
    thread.sync_current();
    thread.status.set(STATUS_ACTIVE);
}

/// Called when the calling thread exits: gives its block back for reuse. Later calls on
/// this thread (other exit handlers) count into the overflow set.
pub(crate) fn detach() {
    // First, while the thread still counts into its own block: tracing's per-thread memory,
    // then the cache (which those frees may have filled).
    crate::trace::thread_exiting();
    let thread = thread();
    let was_active = thread.status.get() == STATUS_ACTIVE;
    if was_active {
        // SAFETY: an active thread's `sets` is its own block.
        thread.cache.drain(unsafe { &*own_set(thread) });
    }
    // Stop writing the block before another thread may take it.
    thread.sets.set(ptr::null());
    thread.sync_current();
    thread.status.set(STATUS_SHARED);
    if was_active {
        if let Some(region) = region::get() {
            region.release_slot(thread.slot.get() as usize);
        }
    }
}

/// Gives the calling thread's cached blocks back to libc; the cache arms again on the next
/// free. The in-process report calls it before it reads the counters and after it has freed
/// what it allocated, so that the blocks its own frees leave in the cache (counted in
/// skull-mem's scope) are gone when it returns, as they were when it read.
pub fn drain_cache() {
    let thread = thread();
    if thread.status.get() == STATUS_ACTIVE {
        // SAFETY: an active thread's `sets` is its own block.
        thread.cache.drain(unsafe { &*own_set(thread) });
    }
}

/// The calling thread's current scope.
pub fn current_scope() -> u32 {
    let thread = thread();
    thread.resolved(thread.scope.get())
}

/// Makes `scope` current and returns the previous scope; `SCOPE_INVALID` (and no change)
/// when `scope` is not registered.
pub fn enter(scope: u32) -> u32 {
    let registered = region::get_or_map().is_some_and(|region| region.scopes.contains(scope));
    if !registered {
        return SCOPE_INVALID;
    }
    let thread = thread();
    let previous = thread.resolved(thread.scope.get());
    thread.set_scope(scope);
    previous
}

/// The calling thread's two switch words, for a runtime that switches scopes without a
/// call (Node's context hooks, through a typed array): storing a registered scope id in
/// word 1 and then 0 in word 0 makes it the thread's scope, exactly as `enter` would
/// (without the check: the caller stores only ids the library gave it). Word 1 is `scope`;
/// word 0 is the high half of `fast_below` (`FAST_BELOW` is 2^48, its low half 0), so the
/// store sends the thread's next call to a slow path, which derives the fast-path fields
/// from the new scope (`resync`): the fast paths read nothing more. Valid while the
/// thread runs; only the thread itself may store, between calls into the library.
pub fn switch_words() -> *mut u32 {
    let thread = thread();
    thread.fast_below.as_ptr().cast::<u32>().wrapping_add(1)
}

/// Restores the scope `enter` returned; an unregistered id is ignored.
pub fn leave(previous: u32) {
    enter(previous);
}

/// Makes skull-mem's own scope current for what the tool allocates itself, and returns the
/// scope to give back to `leave_own_scope`. Unlike `enter`, no check: both scopes are known
/// to be registered, and tracing calls this for every recorded block.
pub(crate) fn enter_own_scope() -> u32 {
    let thread = thread();
    let previous = thread.scope.get();
    thread.set_scope(crate::scopes::SCOPE_SELF);
    previous
}

/// Gives back the scope `enter_own_scope` returned.
pub(crate) fn leave_own_scope(previous: u32) {
    thread().set_scope(previous);
}

/// The calling thread's name changed (`pthread_setname_np`, `prctl(PR_SET_NAME)`): a thread
/// charging its `thread:<name>` pseudo-scope charges the one of its new name from now on.
/// Blocks it allocated before stay charged to the old name, as blocks always stay with
/// the scope that allocated them. A scope entered before the rename and left after it
/// gives back the old pseudo-scope (the id `enter` returned).
pub fn renamed() {
    thread().rehome();
}

/// `main` has started: threads without a scope of their own now count as `core`.
pub fn main_started() {
    DEFAULT_SCOPE.store(SCOPE_CORE, Ordering::Relaxed);
    let thread = thread();
    if matches!(thread.scope.get(), SCOPE_INIT | SCOPE_INVALID) {
        thread.set_scope(SCOPE_CORE);
    }
}

/// In a child after `fork`: only the calling thread exists, so every other block is free.
pub fn after_fork_in_child() {
    let Some(region) = region::get() else { return };
    let thread = thread();
    let keep = (thread.status.get() == STATUS_ACTIVE).then(|| thread.slot.get() as usize);
    region.release_all_slots_but(keep);
    // The thread that forked is the child's main thread: if it charged its pseudo-scope,
    // it charges the default scope now, as a main thread does.
    thread.rehome();
}
