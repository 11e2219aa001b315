//! The one line on stderr that says measurement is degraded: the segment could not be made
//! or grown, so the process runs on counting what fits. Said once per process (a forked
//! child that inherited the note does not repeat it; a new program after `exec` does).

use core::sync::atomic::{AtomicBool, Ordering};

static SAID: AtomicBool = AtomicBool::new(false);

/// Says on stderr, once, that measurement is degraded and why (`reason`, no newline).
/// Allocates nothing: it runs inside malloc.
pub(crate) fn degraded(reason: &[u8]) {
    if SAID.swap(true, Ordering::AcqRel) {
        return;
    }
    let errno = crate::sys::errno();
    // One write, so the line is not split by the program's own output.
    let mut line = [0u8; 256];
    let mut len = 0;
    for part in [
        &b"skull-mem: measurement degraded: "[..],
        reason,
        &b"; the program runs on\n"[..],
    ] {
        let take = part.len().min(line.len() - len);
        line[len..len + take].copy_from_slice(&part[..take]);
        len += take;
    }
    // SAFETY: writing our own bytes to stderr; a failed write changes nothing.
    unsafe { libc::write(2, line.as_ptr().cast(), len) };
    crate::sys::set_errno(errno);
}
