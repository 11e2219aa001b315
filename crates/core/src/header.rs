//! The 16-byte header in front of every block skull-mem hands out.
//!
//! ```text
//!   raw (from libc)                       header (16 B)          user pointer
//!   |<-- padding for aligned blocks -->|  size:48 scope:16 | check:56 traced:1 shift:6 |  data...
//! ```
//! `raw = user - (1 << shift)`: plain blocks have shift 4 (just the header); aligned blocks
//! with alignment `A > 16` are allocated with `A` extra bytes from libc's memalign and the
//! user pointer is `raw + A`, so the shift is `log2(A)` and no offset needs storing.
//! The check value mixes the header's address and contents; a pointer whose check does
//! not match was not allocated by us (a foreign pointer) and goes to libc untouched. A
//! random foreign pointer matches with probability 2^-56.

/// Size of the header in bytes; also the smallest distance from `raw` to the user pointer.
pub const HEADER_SIZE: usize = 16;

/// The shift of a plain (unaligned) block: `1 << 4 == HEADER_SIZE`.
pub const PLAIN_SHIFT: u32 = 4;

/// Largest requested size a header can record (2^48 - 1, more than x86-64 can map).
pub const MAX_SIZE: usize = (1 << 48) - 1;

const SCOPE_SHIFT: u32 = 48;
const SIZE_MASK: u64 = (1 << SCOPE_SHIFT) - 1;
const SHIFT_MASK: u64 = 0x3f;
const TRACED_BIT: u64 = 0x40;
const META_BITS: u32 = 8;

/// What a valid header says about its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// Size the caller asked for.
    pub size: usize,
    /// Scope charged with the block.
    pub scope: u32,
    /// `log2` of the distance from the libc block to the user pointer.
    pub shift: u32,
    /// Whether the block was recorded by tracing.
    pub traced: bool,
}

impl BlockInfo {
    /// Bytes this block costs beyond what the caller asked for (header and alignment).
    #[inline(always)]
    pub fn overhead(&self) -> usize {
        1 << self.shift
    }
}

#[inline(always)]
fn check_value(header_addr: usize, word0: u64, meta: u64) -> u64 {
    // Multiplying by an odd constant is a bijection, so for a foreign pointer (whose second
    // word is unrelated to the first) the top 56 bits match with probability 2^-56; the
    // address makes a header copied elsewhere fail.
    let mixed = (header_addr as u64 ^ word0 ^ meta ^ 0x9e37_79b9_7f4a_7c15)
        .wrapping_mul(0xd6e8_feb8_6659_fd93);
    mixed & !((1 << META_BITS) - 1)
}

/// Writes the header for a block whose user data starts at `user`.
///
/// # Safety
/// `user - 16 .. user` must be writable memory owned by the block.
#[inline(always)]
pub unsafe fn write(user: *mut u8, info: BlockInfo) {
    let at = user.sub(HEADER_SIZE) as *mut u64;
    let word0 = (info.size as u64 & SIZE_MASK) | (u64::from(info.scope) << SCOPE_SHIFT);
    let meta = u64::from(info.shift) | if info.traced { TRACED_BIT } else { 0 };
    // SAFETY: the caller guarantees the 16 bytes before `user` belong to the block; `user`
    // is at least 16-aligned, so both words are aligned.
    unsafe {
        at.write(word0);
        at.add(1)
            .write(check_value(at as usize, word0, meta) | meta);
    }
}

/// Reads the header in front of `user`, or `None` when the check value does not match.
///
/// # Safety
/// The 16 bytes before `user` must be readable. That holds for every pointer returned by
/// a malloc-family function, ours or libc's (libc keeps its chunk header there).
#[inline(always)]
pub unsafe fn read(user: *const u8) -> Option<BlockInfo> {
    let at = user.wrapping_sub(HEADER_SIZE) as *const u64;
    // SAFETY: readable by the caller's guarantee; aligned because malloc pointers are.
    let (word0, word1) = unsafe { (at.read(), at.add(1).read()) };
    let meta = word1 & ((1 << META_BITS) - 1);
    if word1 & !((1 << META_BITS) - 1) != check_value(at as usize, word0, meta) {
        return None;
    }
    Some(BlockInfo {
        size: (word0 & SIZE_MASK) as usize,
        scope: (word0 >> SCOPE_SHIFT) as u32,
        shift: (meta & SHIFT_MASK) as u32,
        traced: meta & TRACED_BIT != 0,
    })
}

/// Invalidates the header in front of `user`, so the block no longer reads as ours.
///
/// # Safety
/// The 16 bytes before `user` must be writable memory of a live block of ours.
#[inline]
pub unsafe fn clear(user: *mut u8) {
    // SAFETY: guaranteed by the caller; the check word is the second word of the header.
    unsafe { (user.sub(HEADER_SIZE) as *mut u64).add(1).write(0) }
}

/// The libc pointer behind a block of ours.
#[inline(always)]
pub fn raw_of(user: *mut u8, info: &BlockInfo) -> *mut u8 {
    user.wrapping_sub(info.overhead())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_header_reads_back() {
        let mut buf = [0u64; 4];
        let user = buf.as_mut_ptr().wrapping_add(2) as *mut u8;
        let info = BlockInfo {
            size: 123_456_789_012,
            scope: 65_535,
            shift: 21,
            traced: true,
        };
        // SAFETY: `buf` holds the 16 bytes before `user`.
        unsafe {
            write(user, info);
            assert_eq!(read(user), Some(info));
        }
    }

    #[test]
    fn a_changed_size_or_address_fails_the_check() {
        let mut buf = [0u64; 6];
        let base = buf.as_mut_ptr();
        let user = base.wrapping_add(2) as *mut u8;
        let moved = base.wrapping_add(4) as *mut u8;
        let info = BlockInfo {
            size: 64,
            scope: 3,
            shift: PLAIN_SHIFT,
            traced: false,
        };
        // SAFETY: `buf` holds the header bytes of both pointers; all access goes through `base`.
        unsafe {
            write(user, info);
            // The same header copied in front of another address must not pass.
            base.add(2).write(base.read());
            base.add(3).write(base.add(1).read());
            assert_eq!(read(moved), None);
            // A changed size must not pass either.
            base.write(base.read() + 1);
            assert_eq!(read(user), None);
        }
    }
}
