//! The page every allocation reads the control word from, at an address fixed when the
//! library is loaded, so that reading the word is one load. Zero (tracing off) until the
//! region is mapped; then, for a segment file, the file's first page itself, mapped here a
//! second time (`mirror_control`), so that a word the CLI writes to the file is the
//! word allocations read.
//!
//! Like the thread state (`crate::tls`), the page is defined in assembly on x86-64 Linux:
//! a Rust static of a shared library is reached through the GOT, a second load on every
//! allocation; a hidden symbol is reached relative to the instruction pointer.

use core::sync::atomic::{AtomicU64, Ordering};

/// x86-64 Linux's base page size: what `mremap` maps and the page is aligned to.
const PAGE_SIZE: usize = 4096;
/// Where the control word lies in the segment's first page.
const CONTROL_OFFSET: usize = core::mem::offset_of!(crate::segment::SegmentHeader, control);
const _: () = assert!(CONTROL_OFFSET + 8 <= PAGE_SIZE && CONTROL_OFFSET.is_multiple_of(8));

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use super::CONTROL_OFFSET;

    core::arch::global_asm!(
        ".pushsection .bss.skull_mem_control_page,\"aw\",@nobits",
        ".p2align 12",
        // Global so inlined accesses from other crates link, hidden so it is never
        // exported or interposed: each linked copy of the core has its own page.
        ".globl skull_mem_control_page",
        ".hidden skull_mem_control_page",
        ".type skull_mem_control_page,@object",
        ".size skull_mem_control_page, 4096",
        "skull_mem_control_page:",
        ".zero 4096",
        ".popsection",
    );

    /// The control word: one load relative to the instruction pointer. An aligned 8-byte
    /// load is atomic on x86-64, so this is a relaxed atomic load.
    #[inline(always)]
    pub fn word() -> u64 {
        let word: u64;
        // SAFETY: reads 8 aligned bytes inside the page, which is always mapped.
        unsafe {
            core::arch::asm!(
                "mov {word}, qword ptr [rip + skull_mem_control_page + {offset}]",
                word = out(reg) word,
                offset = const CONTROL_OFFSET,
                options(nostack, readonly, preserves_flags),
            );
        }
        word
    }

    /// The page's address.
    pub fn page() -> *mut u8 {
        let page: *mut u8;
        // SAFETY: computes an address; reads nothing.
        unsafe {
            core::arch::asm!(
                "lea {page}, [rip + skull_mem_control_page]",
                page = out(reg) page,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        page
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    use super::{CONTROL_OFFSET, PAGE_SIZE};
    use core::sync::atomic::{AtomicU64, Ordering};

    #[repr(C, align(4096))]
    struct Page(core::cell::UnsafeCell<[u64; PAGE_SIZE / 8]>);

    // SAFETY: only accessed through atomic operations.
    unsafe impl Sync for Page {}

    static PAGE: Page = Page(core::cell::UnsafeCell::new([0; PAGE_SIZE / 8]));

    pub fn page() -> *mut u8 {
        PAGE.0.get().cast()
    }

    pub fn word() -> u64 {
        // SAFETY: the aligned control word inside the page, only accessed atomically.
        unsafe { (*(page().add(CONTROL_OFFSET) as *const AtomicU64)).load(Ordering::Relaxed) }
    }
}

pub(crate) use imp::{page, word};

/// Makes the control word allocations read the one in `region`'s header. A file-backed
/// region's first page is mapped a second time over this page (`mremap` of a shared mapping
/// with an old size of 0 duplicates it), so writes to the file through any mapping are seen;
/// called again in a forked child once its region is its own. An anonymous region cannot be
/// written from outside: its initial word is copied.
///
/// # Safety
/// `region` is the mapped region; `file_backed` says whether it is a shared file mapping.
pub(crate) unsafe fn mirror_control(region: *const crate::region::Region, file_backed: bool) {
    // SAFETY: guaranteed by the caller.
    let header_word = unsafe { &(*region).header.control };
    if file_backed {
        let page = page().cast::<libc::c_void>();
        // SAFETY: duplicates the region's first page onto the page-aligned, page-sized
        // page, which nothing references but through atomics.
        let moved = unsafe {
            libc::mremap(
                region as *mut libc::c_void,
                0,
                PAGE_SIZE,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                page,
            )
        };
        if moved == page {
            return;
        }
    }
    // SAFETY: the aligned control word inside the page, which lives as long as the library;
    // it is only accessed atomically.
    let control = unsafe { &*(page().add(CONTROL_OFFSET) as *const AtomicU64) };
    control.store(header_word.load(Ordering::Relaxed), Ordering::Relaxed);
}
