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
//! Steps for addresses no loaded object holds (JIT code) are not kept: a library loaded later
//! may take their place. Everything else holds until its object is unloaded, when `clear`
//! forgets everything.

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
#[inline(always)]
pub fn get(pc: usize) -> Option<PackedStep> {
    let entry = slot(pc).load(Ordering::Relaxed);
    if entry & TAG_MASK != tag(pc) || entry == 0 {
        return None;
    }
    Some(PackedStep((entry >> TAG_BITS) as u32))
}

/// Remembers `step` for `pc` (steps for generated code are not kept, see above).
pub fn put(pc: usize, step: PackedStep) {
    if pc >= ADDRESS_LIMIT || step == PackedStep::UNCACHED {
        return;
    }
    slot(pc).store(tag(pc) | (step.0 as u64) << TAG_BITS, Ordering::Relaxed);
}

/// Forgets every step: code was unloaded, and another object may be loaded at its addresses.
pub fn clear() {
    for slot in &SLOTS {
        slot.store(0, Ordering::Relaxed);
    }
}

/// A step in the 31 bits a slot has for it, as the walk reads it (decoding is a few shifts,
/// and nothing goes through memory): `1` for the outermost frame; for a table step, bit 1
/// set, bit 2 `from_rbp`, bits 3–22 the CFA offset in words, bits 23–30 where `rbp` was
/// saved, in words; else the frame pointer: `4` when that may be cached, 0 when not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedStep(u32);

const OUTERMOST: u32 = 1;
const TABLES: u32 = 1 << 1;
const FROM_RBP: u32 = 1 << 2;
const FRAME_POINTER: u32 = FROM_RBP;
const CFA_SHIFT: u32 = 3;
const CFA_WORDS_BITS: u32 = 20;
const RBP_SHIFT: u32 = CFA_SHIFT + CFA_WORDS_BITS;
const RBP_WORDS_BITS: u32 = 8;

impl PackedStep {
    /// A frame-pointer step that is not to be cached.
    const UNCACHED: Self = Self(0);

    /// Packs `step`. A table step for a frame of 8 MiB or more, or with `rbp` saved 2 KiB or
    /// more below its CFA (no compiler makes either), becomes an uncached frame-pointer step.
    pub fn pack(step: Step) -> Self {
        match step {
            Step::Outermost => Self(OUTERMOST),
            Step::FramePointer => Self(FRAME_POINTER),
            Step::Generated => Self::UNCACHED,
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
                if !fits {
                    return Self::UNCACHED;
                }
                let from_rbp = if from_rbp { FROM_RBP } else { 0 };
                Self(TABLES | from_rbp | cfa_words << CFA_SHIFT | rbp_words << RBP_SHIFT)
            }
        }
    }

    #[inline(always)]
    pub fn is_outermost(self) -> bool {
        self.0 == OUTERMOST
    }

    /// A table step (else, unless outermost, a frame-pointer step).
    #[inline(always)]
    pub fn is_tables(self) -> bool {
        self.0 & TABLES != 0
    }

    /// For a table step: whether the CFA is reckoned from `rbp` (else from `rsp`).
    #[inline(always)]
    pub fn cfa_from_rbp(self) -> bool {
        self.0 & FROM_RBP != 0
    }

    /// For a table step: the CFA's offset from its register, in bytes.
    #[inline(always)]
    pub fn cfa_offset(self) -> usize {
        ((self.0 >> CFA_SHIFT) & ((1 << CFA_WORDS_BITS) - 1)) as usize * 8
    }

    /// For a table step: how far below the CFA the caller's `rbp` was saved, in bytes; 0
    /// when `rbp` still holds it.
    #[inline(always)]
    pub fn rbp_saved_below(self) -> usize {
        (self.0 >> RBP_SHIFT) as usize * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(from_rbp: bool, cfa_offset: u32, rbp_saved_below: u32) -> Step {
        Step::Tables {
            from_rbp,
            cfa_offset,
            rbp_saved_below,
        }
    }

    #[test]
    fn packed_steps_read_back_as_they_were_packed() {
        for (from_rbp, cfa, rbp) in [(true, 16, 16), (false, 8, 0), (false, (8 << 20) - 8, 2040)] {
            let packed = PackedStep::pack(tables(from_rbp, cfa, rbp));
            assert!(packed.is_tables() && !packed.is_outermost());
            assert_eq!(
                (
                    packed.cfa_from_rbp(),
                    packed.cfa_offset(),
                    packed.rbp_saved_below()
                ),
                (from_rbp, cfa as usize, rbp as usize)
            );
        }
        assert!(PackedStep::pack(Step::Outermost).is_outermost());
        for step in [
            Step::FramePointer,
            Step::Generated,
            tables(false, 8 << 20, 0),
            tables(false, 12, 0),
            tables(false, 16, 2048),
        ] {
            let packed = PackedStep::pack(step);
            assert!(!packed.is_tables() && !packed.is_outermost(), "{step:?}");
        }
    }

    #[test]
    fn steps_come_back_only_for_their_address_and_those_of_generated_code_are_not_kept() {
        let step = PackedStep::pack(tables(true, 16, 16));
        put(0x5555_0000_1234, step);
        assert_eq!(get(0x5555_0000_1234), Some(step));
        assert_eq!(get(0x5555_0000_1235), None);
        assert_eq!(get(0x5556_0000_1234), None, "same slot, another address");
        put(0x7f00_0000_0020, PackedStep::pack(Step::Outermost));
        assert_eq!(
            get(0x7f00_0000_0020),
            Some(PackedStep::pack(Step::Outermost))
        );
        put(0x6000_0000_0040, PackedStep::pack(Step::Generated));
        assert_eq!(get(0x6000_0000_0040), None);
        let frame_pointer = PackedStep::pack(Step::FramePointer);
        put(0x6000_0000_0080, frame_pointer);
        assert_eq!(get(0x6000_0000_0080), Some(frame_pointer));
        put(1 << 47, PackedStep::pack(Step::Outermost));
        assert_eq!(get(1 << 47), None);
    }
}
