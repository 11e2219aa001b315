//! The scope table: names and kinds of the components allocations are charged to.
//!
//! Registration is rare and takes a short spin lock; the allocation path never touches the
//! table, it only uses the scope id kept in the thread state. The exception is a thread's
//! first allocation, which may register its `thread:<name>` pseudo-scope (`thread_name`):
//! registration neither allocates nor calls out while it holds the lock, so that is safe
//! inside malloc.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::region::MAX_SCOPES;
use crate::segment::nul_terminated;

/// `core`: everything outside a user scope, once `main` has started.
pub const SCOPE_CORE: u32 = 0;
/// `init`: allocations made before `main`.
pub const SCOPE_INIT: u32 = 1;
/// `skull-mem`: the tool's own allocations (reports, bindings).
pub const SCOPE_SELF: u32 = 2;
/// Returned where a scope id is not valid.
pub const SCOPE_INVALID: u32 = u32::MAX;

/// Bytes for a name, including the NUL.
pub const NAME_MAX: usize = 48;
/// Bytes for a kind, including the NUL.
pub const KIND_MAX: usize = 16;

/// Why a scope could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The name or kind is empty.
    Empty,
    /// The name is 48 bytes or longer, or the kind 16 or longer.
    TooLong,
    /// The name or kind contains a NUL byte.
    Nul,
    /// All `MAX_SCOPES` ids are taken.
    TableFull,
}

impl core::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RegisterError::Empty => "a scope name and kind must not be empty",
            RegisterError::TooLong => "a scope name must be under 48 bytes and a kind under 16",
            RegisterError::Nul => "a scope name or kind must not contain a NUL byte",
            RegisterError::TableFull => "the scope table is full (512 scopes)",
        })
    }
}

/// One registered scope.
#[repr(C)]
pub struct ScopeEntry {
    name: UnsafeCell<[u8; NAME_MAX]>,
    kind: UnsafeCell<[u8; KIND_MAX]>,
    /// Highest used bytes any snapshot has seen.
    pub peak_used: AtomicU64,
}

/// All scopes, ids dense from 0.
#[repr(C)]
pub struct ScopeTable {
    /// 1 while a registration runs (an integer, not a bool: any value read from a foreign
    /// segment must be valid).
    lock: AtomicU32,
    count: AtomicU32,
    entries: [ScopeEntry; MAX_SCOPES],
}

// SAFETY: an entry's name and kind are written once, under the lock, before `count`
// publishes it with Release; afterwards they are only read.
unsafe impl Sync for ScopeTable {}

fn validate(text: &str, max: usize) -> Result<(), RegisterError> {
    if text.is_empty() {
        Err(RegisterError::Empty)
    } else if text.len() >= max {
        Err(RegisterError::TooLong)
    } else if text.as_bytes().contains(&0) {
        Err(RegisterError::Nul)
    } else {
        Ok(())
    }
}

impl ScopeTable {
    /// Number of registered scopes.
    #[inline]
    pub fn len(&self) -> u32 {
        // Bounded, so that a corrupt segment read from outside cannot index past the table.
        self.count.load(Ordering::Acquire).min(MAX_SCOPES as u32)
    }

    /// Whether no scope is registered (only before the built-ins exist).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` names a registered scope.
    #[inline]
    pub fn contains(&self, id: u32) -> bool {
        id < self.len()
    }

    /// The name of a registered scope.
    pub fn name(&self, id: u32) -> &str {
        // SAFETY: ids below `len()` were published with Release after their name was
        // written, and names are never written again.
        nul_terminated(unsafe { &*self.entries[id as usize].name.get() })
    }

    /// The kind of a registered scope.
    pub fn kind(&self, id: u32) -> &str {
        // SAFETY: as in `name`.
        nul_terminated(unsafe { &*self.entries[id as usize].kind.get() })
    }

    /// The entry of a registered scope.
    pub fn entry(&self, id: u32) -> &ScopeEntry {
        &self.entries[id as usize]
    }

    /// Registers `name` of `kind`, or returns the id it already has. Never allocates.
    pub fn register(&self, name: &str, kind: &str) -> Result<u32, RegisterError> {
        validate(name, NAME_MAX)?;
        validate(kind, KIND_MAX)?;
        while self
            .lock
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let result = self.register_locked(name, kind);
        self.lock.store(0, Ordering::Release);
        result
    }

    /// The id of the registered scope `name` of `kind`, without taking the lock: published
    /// entries never change.
    pub fn find(&self, name: &str, kind: &str) -> Option<u32> {
        (0..self.len()).find(|&id| self.name(id) == name && self.kind(id) == kind)
    }

    fn register_locked(&self, name: &str, kind: &str) -> Result<u32, RegisterError> {
        if let Some(id) = self.find(name, kind) {
            return Ok(id);
        }
        let count = self.count.load(Ordering::Relaxed);
        if count as usize >= MAX_SCOPES {
            return Err(RegisterError::TableFull);
        }
        let entry = &self.entries[count as usize];
        // SAFETY: the entry at `count` is not yet published, and the lock keeps other
        // registrations out, so nothing else reads or writes it.
        unsafe {
            let dest = &mut *entry.name.get();
            dest[..name.len()].copy_from_slice(name.as_bytes());
            let dest = &mut *entry.kind.get();
            dest[..kind.len()].copy_from_slice(kind.as_bytes());
        }
        self.count.store(count + 1, Ordering::Release);
        Ok(count)
    }

    /// Registers `core`, `init` and `skull-mem` as ids 0, 1 and 2.
    pub(crate) fn register_builtins(&self) {
        for (expected, name, kind) in [
            (SCOPE_CORE, "core", "core"),
            (SCOPE_INIT, "init", "init"),
            (SCOPE_SELF, "skull-mem", "tool"),
        ] {
            let id = self.register(name, kind);
            debug_assert_eq!(id, Ok(expected));
        }
    }
}
