//! The roots of the leak check: the memory a program reaches its blocks from without going
//! through another block.
//!
//! Every readable and writable mapping is a root (the writable data and BSS of every loaded
//! object, thread stacks with their TLS, memory mapped by the program or its runtime: the V8
//! heap, an interpreter's arenas), except:
//! - the malloc heap (`[heap]` and glibc's arena heaps): it holds the blocks themselves, which
//!   count only when reached, and freed chunks whose stale pointers would keep lost blocks
//!   reachable;
//! - device mappings (`/dev/*` other than `/dev/shm` and `/dev/zero`), which reading could
//!   disturb;
//! - the caller's exclusions (the live blocks themselves where malloc mapped them on their
//!   own, skull-mem's segment, the scan's own buffers).
//!
//! The calling thread's stack counts from its stack pointer up only: below lie dead frames,
//! among them malloc's own, which still hold the pointers they returned.

use std::ops::Range;

use skull_mem_symbolize::{Backing, Mapping, ProcessMaps};

use super::memory::read_own;

/// glibc's arena heaps are `HEAP_MAX_SIZE` (64 MiB on 64-bit) long and aligned to it.
const ARENA_HEAP_ALIGN: u64 = 64 << 20;

/// Whether `mapping` is one of glibc's non-main arena heaps: aligned to 64 MiB and starting
/// with a `heap_info` whose arena pointer points into this heap family (right after the
/// `heap_info` of its first heap: 32 bytes on, or 48 with glibc 2.35's `pagesize` field) and
/// whose size fits the heap.
fn is_arena_heap(mapping: &Mapping) -> bool {
    if !mapping.start.is_multiple_of(ARENA_HEAP_ALIGN)
        || !matches!(mapping.backing, Backing::Anonymous)
    {
        return false;
    }
    let mut header = [0u8; 32];
    if read_own(mapping.start, &mut header) != header.len() {
        return false;
    }
    let word = |index: usize| {
        u64::from_ne_bytes(
            header[index * 8..index * 8 + 8]
                .try_into()
                .unwrap_or([0; 8]),
        )
    };
    let (arena, size, protected) = (word(0), word(2), word(3));
    matches!(arena % ARENA_HEAP_ALIGN, 32 | 48)
        && size != 0
        && size <= ARENA_HEAP_ALIGN
        && size.is_multiple_of(4096)
        && protected >= size
}

fn is_device(mapping: &Mapping) -> bool {
    match &mapping.backing {
        Backing::File { path, .. } => {
            path.starts_with("/dev/") && !path.starts_with("/dev/shm/") && path != "/dev/zero"
        }
        _ => false,
    }
}

/// Where the roots are: the address ranges to scan, sorted, before exclusions. `stack_pointer`
/// is the calling thread's: its stack mapping counts from there up.
pub(crate) fn root_ranges(maps: &ProcessMaps, stack_pointer: u64) -> Vec<Range<u64>> {
    maps.mappings()
        .iter()
        .filter(|mapping| mapping.read && mapping.write)
        .filter(|mapping| !matches!(&mapping.backing, Backing::Special(name) if name == "[heap]"))
        .filter(|mapping| !is_device(mapping) && !is_arena_heap(mapping))
        .map(|mapping| {
            if mapping.contains(stack_pointer) {
                stack_pointer & !7..mapping.end
            } else {
                mapping.start..mapping.end
            }
        })
        .collect()
}

/// Appends `ranges` minus `exclusions` (sorted by start, not overlapping) to `pieces`: the
/// pieces to scan. The caller reserves `pieces` (at most one more piece per exclusion than
/// ranges), so that it stays where it was when it was left out of the roots.
pub(crate) fn subtract_into(
    ranges: &[Range<u64>],
    exclusions: &[Range<u64>],
    pieces: &mut Vec<Range<u64>>,
) {
    for range in ranges {
        let mut start = range.start;
        let first = exclusions.partition_point(|excluded| excluded.end <= start);
        for excluded in &exclusions[first..] {
            if excluded.start >= range.end {
                break;
            }
            if excluded.start > start {
                pieces.push(start..excluded.start);
            }
            start = start.max(excluded.end);
        }
        if start < range.end {
            pieces.push(start..range.end);
        }
    }
}

/// Sorts `ranges` and merges those that overlap or touch, in place (allocating nothing, so
/// that the buffers already left out of the roots stay all there are).
pub(crate) fn merge_in_place(ranges: &mut Vec<Range<u64>>) {
    ranges.sort_unstable_by_key(|range| range.start);
    let mut kept = 0;
    for index in 0..ranges.len() {
        let range = ranges[index].clone();
        if kept > 0 && range.start <= ranges[kept - 1].end {
            ranges[kept - 1].end = ranges[kept - 1].end.max(range.end);
        } else {
            ranges[kept] = range;
            kept += 1;
        }
    }
    ranges.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_cut_ranges_into_the_pieces_between_them() {
        let mut exclusions = vec![30..40, 10..20, 15..25, 90..200];
        merge_in_place(&mut exclusions);
        assert_eq!(exclusions, vec![10..25, 30..40, 90..200]);
        let mut pieces = Vec::new();
        subtract_into(&[0..100, 300..310], &exclusions, &mut pieces);
        assert_eq!(pieces, vec![0..10, 25..30, 40..90, 300..310]);
    }
}
