//! A thread's cache from a walked stack's return addresses to its id in the trie, in front of
//! `StackTrie::intern`: interning looks up every frame in the trie's index (a stack of 32
//! frames is 32 hash lookups and node reads in tables far larger than the caches), where a
//! program allocates from the same few thousand stacks again and again. Measured on python3
//! (benches/trace_real.sh), the trie's lookups were an eighth of a traced run's time.
//!
//! An entry is keyed by two independent hashes of the frames, their count and whether the
//! stack was cut (64 and 32 bits); both must match, so two different stacks share an entry
//! with probability about 2^-96 per lookup. A stack's id never changes (the trie never moves or
//! forgets a node), so an entry stays right for the life of the process, across dlclose too:
//! the id stands for the addresses, whatever code is at them.

/// Entries per thread (direct-mapped by the first hash): 16 bytes each, 64 KiB in all.
const ENTRIES: usize = 4096;

#[derive(Clone, Copy)]
struct Entry {
    first: u64,
    second: u32,
    /// The stack's id; an entry with both hashes 0 is empty (no stack hashes to that).
    stack: u32,
}

/// A thread's cache of interned stacks.
pub(crate) struct StackCache {
    entries: [Entry; ENTRIES],
}

/// The two hashes of a stack: multiply-xor chains with different odd constants and
/// rotations, each step a bijection of the running value for a given frame, so stacks that
/// differ in one frame always differ in both.
fn hashes(frames: &[u64], truncated: bool) -> (u64, u32) {
    let seed = frames.len() as u64 * 2 + u64::from(truncated) + 1;
    let mut first = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut second = seed.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    for &frame in frames {
        first = (first.rotate_left(23) ^ frame).wrapping_mul(0xff51_afd7_ed55_8ccd);
        second = (second.rotate_left(31) ^ frame).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    }
    (first ^ (first >> 33), (second >> 32) as u32)
}

impl StackCache {
    /// An empty cache (threads get theirs zeroed instead: see `capture::RecentStacks::init`).
    #[cfg(test)]
    fn new() -> Self {
        StackCache {
            entries: [Entry {
                first: 0,
                second: 0,
                stack: 0,
            }; ENTRIES],
        }
    }

    /// Forgets every stack (the ids it kept name nothing now).
    pub(crate) fn clear(&mut self) {
        self.entries.fill(Entry {
            first: 0,
            second: 0,
            stack: 0,
        });
    }

    /// The id of the stack `frames` (innermost first, `truncated` when cut): from the cache,
    /// or from `intern`, whose answer is then kept. `None` when `intern` has no room.
    pub(crate) fn intern(
        &mut self,
        frames: &[u64],
        truncated: bool,
        intern: impl FnOnce(&[u64], bool) -> Option<u32>,
    ) -> Option<u32> {
        let (first, second) = hashes(frames, truncated);
        let entry = &mut self.entries[first as usize % ENTRIES];
        if entry.first == first && entry.second == second && (first | u64::from(second)) != 0 {
            return Some(entry.stack);
        }
        let stack = intern(frames, truncated)?;
        *entry = Entry {
            first,
            second,
            stack,
        };
        Some(stack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_is_interned_once_and_different_stacks_keep_their_ids() {
        let mut cache = Box::new(StackCache::new());
        // Each call of the trie's intern gives the next id: 1, 2, ...
        let calls = std::cell::Cell::new(0u32);
        let intern = |_: &[u64], _: bool| {
            calls.set(calls.get() + 1);
            Some(calls.get())
        };
        let a = cache.intern(&[1, 2, 3], false, intern);
        assert_eq!(cache.intern(&[1, 2, 3], false, intern), a);
        // The same frames cut at the limit, in another order, or one frame fewer: other stacks.
        let b = cache.intern(&[1, 2, 3], true, intern);
        let c = cache.intern(&[3, 2, 1], false, intern);
        let d = cache.intern(&[1, 2], false, intern);
        assert_eq!(calls.get(), 4, "a, b, c and d interned once each");
        let ids = [a, b, c, d].map(Option::unwrap);
        assert_eq!(ids, [1, 2, 3, 4]);
        assert_eq!(cache.intern(&[1, 2, 3], false, intern), a);
        assert_eq!(cache.intern(&[3, 2, 1], false, intern), c);
        // No room in the trie: nothing is kept, and the next try interns again.
        let full = |_: &[u64], _: bool| None;
        assert_eq!(cache.intern(&[9], false, full), None);
        assert_eq!(cache.intern(&[9], false, intern), Some(5));
    }

    #[test]
    fn ten_thousand_stacks_hash_apart() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u64 {
            assert!(seen.insert(hashes(&[0x40_1000 + i % 100, 0x40_2000 + i / 100], false)));
        }
    }
}
