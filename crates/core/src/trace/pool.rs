//! The budget tracing's tables share: pieces of the backing taken from its start upwards,
//! never given back while the process lives (a stack id and a table level stay where they
//! are), up to `SKULL_MEM_TRACE_MEMORY` bytes.

use core::sync::atomic::{AtomicU64, Ordering};

use super::backing::Backing;

/// Bytes tables take at a time, at least: the smallest piece worth committing.
pub const CHUNK: u64 = 64 * 1024;

/// The pieces taken so far and the budget.
#[repr(C)]
pub struct Pool {
    /// Offset of the first byte not taken yet; 0 until `configure`.
    next: AtomicU64,
    /// Where the pieces start (after whatever the backing holds before them).
    start: AtomicU64,
    /// Bytes the pieces may take in all.
    budget: AtomicU64,
    /// Pieces refused: past the budget, or the backing could not commit them.
    pub refused: AtomicU64,
}

impl Pool {
    /// Pieces start at `start` (rounded up to a chunk, and never at 0, which tables use to
    /// mean "absent") and take at most `budget` bytes. Called before anything is taken.
    pub fn configure(&self, start: u64, budget: u64) {
        let start = start.max(1).div_ceil(CHUNK) * CHUNK;
        self.start.store(start, Ordering::Relaxed);
        self.budget.store(budget, Ordering::Relaxed);
        self.next.store(start, Ordering::Release);
    }

    /// Changes the budget (`skull-trace on --memory`): pieces already taken stay.
    pub fn set_budget(&self, budget: u64) {
        self.budget.store(budget, Ordering::Relaxed);
    }

    /// Takes `bytes` (a multiple of `CHUNK`) and commits them; their offset, or `None` past
    /// the budget or when the backing refuses (the caller drops and counts). Lock-free: a
    /// compare-and-swap on the high-water mark.
    pub fn take(&self, backing: &impl Backing, bytes: u64) -> Option<u64> {
        let mut next = self.next.load(Ordering::Relaxed);
        loop {
            let start = self.start.load(Ordering::Relaxed);
            let end = next.checked_add(bytes)?;
            if next < start || end - start > self.budget.load(Ordering::Relaxed) {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match self
                .next
                .compare_exchange_weak(next, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => next = now,
            }
        }
        // The piece stays taken when the commit fails: the backing could not grow, so
        // nothing later can be committed past it either.
        if backing.commit((next + bytes) as usize) {
            Some(next)
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Bytes taken so far.
    pub fn used(&self) -> u64 {
        self.next
            .load(Ordering::Relaxed)
            .saturating_sub(self.start.load(Ordering::Relaxed))
    }

    /// The budget.
    pub fn budget(&self) -> u64 {
        self.budget.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::backing::anon::AnonBacking;
    use crate::trace::backing::Backing;

    #[test]
    fn pieces_follow_each_other_and_stop_at_the_budget() {
        let backing = AnonBacking::new(1 << 24);
        let pool = Pool {
            next: AtomicU64::new(0),
            start: AtomicU64::new(0),
            budget: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        };
        pool.configure(100, 3 * CHUNK);
        assert_eq!(pool.take(&backing, CHUNK), Some(CHUNK), "never at 0");
        assert_eq!(pool.take(&backing, 2 * CHUNK), Some(2 * CHUNK));
        assert_eq!(pool.take(&backing, CHUNK), None, "past the budget");
        assert_eq!(pool.used(), 3 * CHUNK);
        assert_eq!(pool.refused.load(Ordering::Relaxed), 1);
        assert_eq!(backing.committed(), 4 * CHUNK as usize);
    }
}
