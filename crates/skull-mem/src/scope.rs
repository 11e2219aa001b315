//! Scopes with a guard, modelled on `tracing`'s spans: restoring the outer scope is
//! never the caller's job.

use core::marker::PhantomData;

use crate::backend::backend;
use skull_mem_abi_client::SCOPE_INVALID;

pub use skull_mem_abi_client::AbiError;
pub use skull_mem_core::scopes::RegisterError;

/// Why a scope could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeError {
    /// The scope table refused the name or kind, or is full.
    Register(RegisterError),
    /// The preloaded `libskull_mem.so` speaks another C ABI than this crate, so its scopes
    /// cannot be driven (its counting still runs: nothing is counted twice).
    Abi(AbiError),
}

impl From<RegisterError> for ScopeError {
    fn from(error: RegisterError) -> Self {
        ScopeError::Register(error)
    }
}

impl core::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ScopeError::Register(error) => error.fmt(f),
            ScopeError::Abi(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ScopeError {}

/// A named component that allocations are charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    id: u32,
}

impl Scope {
    /// Registers `name` of `kind` (`module`, `service`, `route`, or any word under 16
    /// bytes), or finds the scope already registered with both.
    pub fn new(name: &str, kind: &str) -> Result<Scope, ScopeError> {
        backend().register(name, kind).map(|id| Scope { id })
    }

    /// The scope's id, as in reports and the C ABI.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Makes this scope current on this thread until the guard drops.
    pub fn enter(&self) -> ScopeGuard {
        ScopeGuard {
            previous: backend().enter(self.id),
            _not_send: PhantomData,
        }
    }

    /// Runs `f` in this scope and returns what it returns.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }
}

/// Restores the previous scope when dropped. Not `Send`: the scope belongs to the thread
/// that entered it.
#[must_use = "the scope is left as soon as the guard is dropped"]
pub struct ScopeGuard {
    previous: u32,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        if self.previous != SCOPE_INVALID {
            backend().leave(self.previous);
        }
    }
}
