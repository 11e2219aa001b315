//! The pseudo-scope a thread that native code started charges by default: `thread:<name>`.
//!
//! Threads that a library starts on its own (libvips' workers inside sharp, gRPC's pollers,
//! V8's platform workers) never enter a scope, and before this their memory was counted as
//! `core`, which says "the program itself". Instead, a thread that is not the process's main
//! thread and has no scope of its own charges a pseudo-scope named after the thread as the
//! kernel knows it (its `comm`, 15 bytes at most), kind `thread`. Threads of one name share
//! the row: a pool of eight `libvips worker` threads is one `thread:libvips worker`.
//!
//! Bounds: a number in the name becomes one `*` (`worker-17` and `worker-18` are both
//! `thread:worker-*`); digits that continue a word stay (`V8 DefaultWorke`, `python3`), so
//! names keep their meaning. At most `MAX_THREAD_SCOPES` distinct pseudo-scopes are
//! registered; later names share `thread:*`. A program starting 100,000 uniquely named
//! threads therefore takes at most `MAX_THREAD_SCOPES + 1` of the table's 512 ids. A full
//! table leaves the thread in the default scope (`core`, or `init` before `main`).
//!
//! Runs inside malloc's slow path (a thread's first allocation): no allocation, only the
//! `gettid`, `getpid` and `prctl(PR_GET_NAME)` system calls, and the scope table's
//! registration, which takes a spin lock but neither allocates nor calls out while holding
//! it, so a thread waiting on it only waits for another thread's copy of at most 48 bytes.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::scopes::NAME_MAX;

/// The kind of every `thread:<name>` pseudo-scope.
pub const THREAD_KIND: &str = "thread";
/// How a pseudo-scope's name starts.
pub const THREAD_PREFIX: &str = "thread:";
/// Distinct `thread:<name>` rows at most; later names share `thread:*` (`OVERFLOW_NAME`).
pub const MAX_THREAD_SCOPES: u32 = 64;
/// The row threads share once `MAX_THREAD_SCOPES` names have their own.
pub const OVERFLOW_NAME: &str = "thread:*";

/// Pseudo-scopes this process registered (an upper bound: two threads racing to register
/// one new name both count it).
static REGISTERED: AtomicU32 = AtomicU32::new(0);

/// The kernel's limit on a thread name, including the NUL.
const COMM_MAX: usize = 16;

/// Whether the calling thread is the process's main thread (its id is the process id; in a
/// child after `fork`, the thread that forked).
pub(crate) fn is_main_thread() -> bool {
    // SAFETY: gettid and getpid take no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) == libc::c_long::from(libc::getpid()) }
}

/// The calling thread's name as the kernel knows it, into `buf`; the bytes before the NUL.
fn comm(buf: &mut [u8; COMM_MAX]) -> &[u8] {
    // A raw system call rather than libc's `prctl`, which the preload interposes to follow
    // renames (`thread::renamed`).
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included, to a 16-byte buffer.
    let rc = unsafe { libc::syscall(libc::SYS_prctl, libc::PR_GET_NAME, buf.as_mut_ptr()) };
    if rc != 0 {
        return &[];
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(COMM_MAX);
    &buf[..len]
}

/// Writes `thread:` and `name` into `out`, every number (a run of ASCII digits that does
/// not continue a word: not right after a letter, or digits after one) made one `*`;
/// returns the text. Bytes that are not UTF-8 (a name cut inside a character, or set to
/// arbitrary bytes) end the name there, since scope names are text.
fn pseudo_name<'a>(name: &[u8], out: &'a mut [u8; NAME_MAX]) -> &'a str {
    let mut len = THREAD_PREFIX.len();
    out[..len].copy_from_slice(THREAD_PREFIX.as_bytes());
    let text = match core::str::from_utf8(name) {
        Ok(text) => text,
        // The first `valid_up_to` bytes are valid UTF-8 by definition.
        Err(error) => core::str::from_utf8(&name[..error.valid_up_to()]).unwrap_or(""),
    };
    // What the previous byte was: a letter (a digit after it is part of a word), a number
    // being collapsed, or anything else.
    #[derive(PartialEq)]
    enum After {
        Letter,
        Number,
        Other,
    }
    let mut after = After::Other;
    for &byte in text.as_bytes() {
        let digit = byte.is_ascii_digit();
        let collapse = digit && after != After::Letter;
        if collapse && after == After::Number {
            continue;
        }
        after = if collapse {
            After::Number
        } else if byte.is_ascii_alphabetic() || (digit && after == After::Letter) {
            After::Letter
        } else {
            After::Other
        };
        // 7 + 15 bytes at most: always room.
        out[len] = if collapse { b'*' } else { byte };
        len += 1;
    }
    // Only whole UTF-8 characters were copied, and `*` replaced ASCII digits one for one.
    core::str::from_utf8(&out[..len]).unwrap_or(OVERFLOW_NAME)
}

/// The pseudo-scope of the calling thread, registered if new; `None` for the main thread,
/// when the segment is not mapped, or when the table is full.
pub(crate) fn calling_thread_scope() -> Option<u32> {
    if is_main_thread() {
        return None;
    }
    let table = &crate::region::get_or_map()?.scopes;
    let mut comm_buf = [0; COMM_MAX];
    let mut name_buf = [0; NAME_MAX];
    let name = pseudo_name(comm(&mut comm_buf), &mut name_buf);
    if let Some(id) = table.find(name, THREAD_KIND) {
        return Some(id);
    }
    let name = if REGISTERED.fetch_add(1, Ordering::Relaxed) < MAX_THREAD_SCOPES {
        name
    } else {
        OVERFLOW_NAME
    };
    // The only possible error is a full table: the name is valid by construction.
    table.register(name, THREAD_KIND).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(comm: &[u8]) -> String {
        let mut out = [0; NAME_MAX];
        pseudo_name(comm, &mut out).to_owned()
    }

    #[test]
    fn numbers_collapse_to_one_star_and_digits_in_words_stay() {
        assert_eq!(named(b"worker-17"), "thread:worker-*");
        assert_eq!(named(b"pool-2-x99y 7"), "thread:pool-*-x99y *");
        assert_eq!(named(b"GC Thread#12"), "thread:GC Thread#*");
        assert_eq!(named(b"123abc"), "thread:*abc");
        assert_eq!(named(b"libvips worker"), "thread:libvips worker");
        assert_eq!(named(b"V8 DefaultWorke"), "thread:V8 DefaultWorke");
        assert_eq!(named(b"python3.11"), "thread:python3.*");
        assert_eq!(named(b""), "thread:");
    }

    #[test]
    fn a_name_cut_inside_a_character_keeps_the_whole_characters() {
        // "работа" is 12 bytes; cut after 5 bytes, the third character is incomplete.
        let cut = &"работа".as_bytes()[..5];
        assert_eq!(named(cut), "thread:ра");
        assert_eq!(named(b"ab\xffcd"), "thread:ab");
    }
}
