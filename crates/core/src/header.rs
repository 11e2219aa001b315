//! The 16-byte header in front of every block skull-mem hands out.
//!
//! ```text
//!   raw (from libc)                       header (16 B)          user pointer
//!   |<-- padding for aligned blocks -->|  size:48 scope:16 | hash + meta:12 |  data...
//! ```
//! `raw = user - (1 << shift)`: plain blocks have shift 4 (just the header); aligned blocks
//! with alignment `A > 16` are allocated with `A` extra bytes from libc's memalign and the
//! user pointer is `raw + A`, so the shift is `log2(A)` and no offset needs storing.
//! The second word is a keyed hash of the header's address and first word, plus the meta
//! bits (shift, traced bit, and for a traced block the live-table level that holds its
//! entry). A pointer whose second word is not within 4095 above the hash was not allocated by
//! us (a foreign pointer) and goes to libc untouched; a random foreign pointer matches with
//! probability 2^-52. For a plain, untraced block the whole
//! second word is known in advance, so `free`'s fast path checks it with one compare.

/// Size of the header in bytes; also the smallest distance from `raw` to the user pointer.
pub const HEADER_SIZE: usize = 16;

/// The shift of a plain (unaligned) block: `1 << 4 == HEADER_SIZE`.
pub const PLAIN_SHIFT: u32 = 4;

/// Largest requested size a header can record (2^48 - 1, more than x86-64 can map).
pub const MAX_SIZE: usize = (1 << 48) - 1;

/// Where the scope sits in the first word, above the size.
pub const SCOPE_SHIFT: u32 = 48;
const SIZE_MASK: u64 = (1 << SCOPE_SHIFT) - 1;
const SHIFT_MASK: u64 = 0x3f;
const TRACED_BIT: u64 = 0x40;
/// Where a traced block's live-table level sits in the meta bits: tracing's free goes to
/// that level instead of searching every level (see `trace::live`).
const LEVEL_SHIFT: u32 = 7;
/// Levels the meta bits can name: 0 to 31 (the live table has at most 28).
const LEVEL_MASK: u64 = 0x1f;
const META_BITS: u32 = 12;
const META_MASK: u64 = (1 << META_BITS) - 1;
/// The meta bits of a plain, untraced block.
const PLAIN_META: u64 = PLAIN_SHIFT as u64;
/// `0x85eb_ca6b` (xxHash's second 32-bit prime) sign-extended: an immediate operand.
const KEY: u64 = 0xffff_ffff_85eb_ca6b;

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
    /// For a traced block, the level of tracing's live table that holds its entry (a hint:
    /// a free looks there first); 0 otherwise.
    pub level: u8,
}

impl BlockInfo {
    /// Bytes this block costs beyond what the caller asked for (header and alignment).
    #[inline(always)]
    pub fn overhead(&self) -> usize {
        1 << self.shift
    }
}

/// `0x9e37_79b1` (xxHash's first 32-bit prime) sign-extended: odd, and encodable as an
/// immediate, so the multiply is one instruction.
const MULTIPLIER: u64 = 0xffff_ffff_9e37_79b1;

#[inline(always)]
fn mix(header: *const u64, word0: u64) -> u64 {
    // Multiplying by an odd constant is a bijection, so for a foreign pointer (whose second
    // word is unrelated to the first) the top 52 bits match with probability 2^-52; the
    // header's address makes a header copied elsewhere fail. Address plus first word is
    // one `lea`. The key keeps a zero product (a first word equal to minus the address)
    // from matching a zero second word; it is added after the multiply, as the meta bits
    // are, so a plain block's whole word is one immediate away from the product.
    (header as u64)
        .wrapping_add(word0)
        .wrapping_mul(MULTIPLIER)
        .wrapping_add(KEY)
}

/// The first header word of a block of `size` bytes (at most `MAX_SIZE`) whose scope, shifted
/// by `SCOPE_SHIFT`, is `scope_bits`.
#[inline(always)]
pub fn first_word(size: usize, scope_bits: u64) -> u64 {
    size as u64 | scope_bits
}

/// Writes the header of a plain, untraced block whose libc block is `raw`; returns the user
/// pointer. `word0` is `first_word(size, scope << SCOPE_SHIFT)`.
///
/// # Safety
/// `raw .. raw + 16` must be writable memory of the block, `raw` 16-aligned.
#[inline(always)]
pub unsafe fn write_plain(raw: *mut u8, word0: u64) -> *mut u8 {
    let at = raw as *mut u64;
    // SAFETY: the caller guarantees the 16 bytes at `raw` belong to the block and are aligned.
    unsafe {
        at.write(word0);
        at.add(1).write(mix(at, word0).wrapping_add(PLAIN_META));
        raw.add(HEADER_SIZE)
    }
}

/// The first word of the header at `raw` (16 bytes in front of a user pointer) if it is a
/// valid plain, untraced header (the only kind `free`'s fast path handles); `None` for any
/// other header or a foreign pointer.
///
/// # Safety
/// The 16 bytes at `raw` must be readable, as in `read`.
#[inline(always)]
pub unsafe fn read_plain(raw: *const u8) -> Option<u64> {
    let at = raw as *const u64;
    // SAFETY: readable by the caller's guarantee; aligned because malloc pointers are.
    let (word0, word1) = unsafe { (at.read(), at.add(1).read()) };
    (word1 == mix(at, word0).wrapping_add(PLAIN_META)).then_some(word0)
}

/// What a first word `word0` says about a block whose meta bits are `meta`.
#[inline(always)]
fn info_of(word0: u64, meta: u64) -> BlockInfo {
    BlockInfo {
        size: (word0 & SIZE_MASK) as usize,
        scope: (word0 >> SCOPE_SHIFT) as u32,
        shift: (meta & SHIFT_MASK) as u32,
        traced: meta & TRACED_BIT != 0,
        level: ((meta >> LEVEL_SHIFT) & LEVEL_MASK) as u8,
    }
}

/// What a plain, untraced header with first word `word0` says.
#[inline(always)]
pub fn plain_info(word0: u64) -> BlockInfo {
    info_of(word0, PLAIN_META)
}

/// Writes the header for a block whose user data starts at `user`.
///
/// # Safety
/// `user - 16 .. user` must be writable memory owned by the block.
#[inline(always)]
pub unsafe fn write(user: *mut u8, info: BlockInfo) {
    let at = user.sub(HEADER_SIZE) as *mut u64;
    let word0 = (info.size as u64 & SIZE_MASK) | (u64::from(info.scope) << SCOPE_SHIFT);
    let meta = u64::from(info.shift)
        | if info.traced { TRACED_BIT } else { 0 }
        | (u64::from(info.level) & LEVEL_MASK) << LEVEL_SHIFT;
    // SAFETY: the caller guarantees the 16 bytes before `user` belong to the block; `user`
    // is at least 16-aligned, so both words are aligned.
    unsafe {
        at.write(word0);
        at.add(1).write(mix(at, word0).wrapping_add(meta));
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
    let meta = word1.wrapping_sub(mix(at, word0));
    if meta > META_MASK {
        return None;
    }
    Some(info_of(word0, meta))
}

/// Retires a freed plain block into a cache list: its first word links `next`, and its
/// check word is cleared so that the block no longer reads as ours (a second free of it is
/// passed to libc as foreign, as a double free is without the cache).
///
/// # Safety
/// `raw` must be the writable, 16-aligned start of a dead raw block of at least 16 bytes.
#[inline(always)]
pub unsafe fn retire(raw: *mut u8, next: *mut u8) {
    let at = raw as *mut u64;
    // SAFETY: the caller's contract.
    unsafe {
        (at as *mut *mut u8).write(next);
        at.add(1).write(0);
    }
}

/// The next block after `raw` in a cache list (see `retire`).
///
/// # Safety
/// `raw` must be a block `retire` wrote and nothing has written since.
#[inline(always)]
pub unsafe fn retired_next(raw: *mut u8) -> *mut u8 {
    // SAFETY: the caller's contract.
    unsafe { (raw as *const *mut u8).read() }
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
            level: 27,
        };
        // SAFETY: `buf` holds the 16 bytes before `user`.
        unsafe {
            write(user, info);
            assert_eq!(read(user), Some(info));
        }
    }

    #[test]
    fn only_plain_untraced_headers_take_the_fast_read() {
        let mut buf = [0u64; 4];
        let base = buf.as_mut_ptr();
        let user = base.wrapping_add(2) as *mut u8;
        // SAFETY: `buf` holds the 16 bytes before `user`; all access goes through `base`.
        unsafe {
            let word0 = first_word(64, 7 << SCOPE_SHIFT);
            assert_eq!(write_plain(base as *mut u8, word0), user);
            assert_eq!(read_plain(base as *const u8), Some(word0));
            assert_eq!(read(user), Some(plain_info(word0)));
            assert_eq!(plain_info(word0).scope, 7);
            for (shift, traced) in [(PLAIN_SHIFT, true), (5, false)] {
                let info = BlockInfo {
                    size: 64,
                    scope: 7,
                    shift,
                    traced,
                    level: u8::from(traced) * 31,
                };
                write(user, info);
                assert_eq!(read_plain(base as *const u8), None);
                assert_eq!(read(user), Some(info));
            }
            clear(user);
            assert_eq!(read(user), None);
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
            level: 0,
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
