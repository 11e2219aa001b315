//! Unwind steps by code address, shared by every thread: reading `.eh_frame` costs about a
//! microsecond a frame, a hit here a few nanoseconds, and a traced program returns to the
//! same few thousand call sites again and again.
//!
//! Hand-written rather than a map from a crate because it runs inside malloc: a fixed,
//! direct-mapped table in static memory (128 KiB), indexed by the address's low bits, where
//! each slot is one atomic word holding the rest of the address and its step together, so a
//! reader never sees one without the other and no lock is needed. Two addresses that share a
//! slot evict each other; a miss only costs the slow path.
//!
//! Only steps read from tables are kept: an address without tables may be JIT code that a
//! library loaded later replaces. `clear` forgets everything when code is unloaded.

use core::sync::atomic::{AtomicU64, Ordering};

use super::rules::Step;

const SLOT_BITS: u32 = 14;
/// User-space addresses lie below 2^47: above the slot's bits, 33 bits tell them apart.
const ADDRESS_LIMIT: usize = 1 << 47;
const TAG_BITS: u32 = 47 - SLOT_BITS;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;

static SLOTS: [AtomicU64; 1 << SLOT_BITS] = [const { AtomicU64::new(0) }; 1 << SLOT_BITS];

fn slot(pc: usize) -> &'static AtomicU64 {
    &SLOTS[pc & ((1 << SLOT_BITS) - 1)]
}

fn tag(pc: usize) -> u64 {
    (pc >> SLOT_BITS) as u64
}

/// The cached step for `pc`, if any.
#[inline]
pub fn get(pc: usize) -> Option<Step> {
    let entry = slot(pc).load(Ordering::Relaxed);
    if entry & TAG_MASK != tag(pc) || entry == 0 {
        return None;
    }
    Some(decode((entry >> TAG_BITS) as u32))
}

/// Remembers `step` for `pc` when it fits a slot (frames under 8 MiB, `rbp` saved in their
/// top 2 KiB: all that compilers make).
pub fn put(pc: usize, step: Step) {
    if pc >= ADDRESS_LIMIT {
        return;
    }
    if let Some(code) = encode(step) {
        slot(pc).store(tag(pc) | (code as u64) << TAG_BITS, Ordering::Relaxed);
    }
}

/// Forgets every step: code was unloaded, and another object may be loaded at its addresses.
pub fn clear() {
    for slot in &SLOTS {
        slot.store(0, Ordering::Relaxed);
    }
}

/// 31 bits, never 0: `1` for the outermost frame; for a table step, bit 1 set, bit 2
/// `from_rbp`, bits 3–22 the CFA offset in words, bits 23–30 where `rbp` was saved, in words.
const OUTERMOST: u32 = 1;
const TABLES: u32 = 1 << 1;
const CFA_WORDS_BITS: u32 = 20;
const RBP_WORDS_BITS: u32 = 8;

fn encode(step: Step) -> Option<u32> {
    match step {
        Step::Outermost => Some(OUTERMOST),
        Step::Tables {
            from_rbp,
            cfa_offset,
            rbp_saved_below,
        } => {
            let (cfa_words, rbp_words) = (cfa_offset / 8, rbp_saved_below / 8);
            let fits = cfa_offset % 8 == 0
                && rbp_saved_below % 8 == 0
                && cfa_words < 1 << CFA_WORDS_BITS
                && rbp_words < 1 << RBP_WORDS_BITS;
            fits.then_some(
                TABLES
                    | (from_rbp as u32) << 2
                    | cfa_words << 3
                    | rbp_words << (3 + CFA_WORDS_BITS),
            )
        }
        Step::FramePointer => None,
    }
}

fn decode(code: u32) -> Step {
    if code == OUTERMOST {
        return Step::Outermost;
    }
    Step::Tables {
        from_rbp: code & 1 << 2 != 0,
        cfa_offset: (code >> 3 & ((1 << CFA_WORDS_BITS) - 1)) * 8,
        rbp_saved_below: (code >> (3 + CFA_WORDS_BITS) & ((1 << RBP_WORDS_BITS) - 1)) * 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_come_back_as_they_were_put_and_only_for_their_address() {
        let step = Step::Tables {
            from_rbp: true,
            cfa_offset: 16,
            rbp_saved_below: 16,
        };
        put(0x5555_0000_1234, step);
        assert_eq!(get(0x5555_0000_1234), Some(step));
        assert_eq!(get(0x5555_0000_1235), None);
        let wide = Step::Tables {
            from_rbp: false,
            cfa_offset: (8 << 20) - 8,
            rbp_saved_below: 2040,
        };
        put(0x7f00_0000_0010, wide);
        assert_eq!(get(0x7f00_0000_0010), Some(wide));
        put(0x7f00_0000_0020, Step::Outermost);
        assert_eq!(get(0x7f00_0000_0020), Some(Step::Outermost));
    }

    #[test]
    fn steps_that_do_not_fit_and_frame_pointer_steps_are_not_kept() {
        for step in [
            Step::FramePointer,
            Step::Tables {
                from_rbp: false,
                cfa_offset: 8 << 20,
                rbp_saved_below: 0,
            },
            Step::Tables {
                from_rbp: false,
                cfa_offset: 12,
                rbp_saved_below: 0,
            },
            Step::Tables {
                from_rbp: false,
                cfa_offset: 16,
                rbp_saved_below: 2048,
            },
        ] {
            put(0x6000_0000_0040, step);
            assert_eq!(get(0x6000_0000_0040), None, "{step:?}");
        }
        put(1 << 47, Step::Outermost);
        assert_eq!(get(1 << 47), None);
    }
}
