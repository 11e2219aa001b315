//! Settings read from the environment at start-up, inside the first malloc: no allocation, no
//! lock, no panic. A value the table refuses is said once on stderr and not used: the
//! default is kept, and tracing stays off. In a secure-mode process every variable is
//! ignored (`ignored_in_secure_mode`).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use super::{parse_number, parse_trace, Setting, SettingError, TRACE};

/// The value of the number setting `setting` for this process: its variable's value, or the
/// default when unset or refused.
pub fn number_or_default(setting: &'static Setting) -> u64 {
    let default = setting.value.default_number().unwrap_or(0);
    let Some(text) = setting.env.and_then(crate::sys::env_bytes) else {
        return default;
    };
    parse_number(setting, text).unwrap_or_else(|error| {
        refuse(setting, &error, format_args!("keeping {default}"));
        default
    })
}

/// The tracing control word this process starts with: from `SKULL_MEM_TRACE`, or 0 (off)
/// when unset or refused.
pub(crate) fn trace_word() -> u64 {
    let Some(text) = TRACE.env.and_then(crate::sys::env_bytes) else {
        return 0;
    };
    match parse_trace(text) {
        Ok(config) => config.encode(),
        Err(error) => {
            refuse(&TRACE, &error, format_args!("tracing stays off"));
            0
        }
    }
}

/// Writes `skull-mem: <VARIABLE> refused: <why>; <outcome>` to stderr, in one write.
fn refuse(setting: &Setting, error: &SettingError<'_>, outcome: fmt::Arguments<'_>) {
    let mut line = Line {
        bytes: [0; Line::CAPACITY],
        len: 0,
    };
    let variable = setting.env_name().unwrap_or(setting.name);
    // A line too long for the buffer is cut short (`Line` never fails), not lost.
    let _ = write!(line, "skull-mem: {variable} refused: {error}; {outcome}");
    line.bytes[line.len] = b'\n';
    // SAFETY: the first `len + 1` bytes of `line.bytes` are initialised and stay alive for
    // the call; a failed write to stderr is not worth reporting anywhere else.
    unsafe {
        libc::write(
            libc::STDERR_FILENO,
            line.bytes.as_ptr().cast(),
            line.len + 1,
        )
    };
}

/// A line of text on the stack; what does not fit is dropped.
struct Line {
    bytes: [u8; Line::CAPACITY],
    len: usize,
}

impl Line {
    const CAPACITY: usize = 512;
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // One byte stays free for the newline.
        let room = Self::CAPACITY - 1 - self.len;
        let take = s.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// Set once the secure-mode line has been written.
static SECURE_MODE_SAID: AtomicBool = AtomicBool::new(false);

/// Whether the `SKULL_MEM_*` variables must be ignored: in a secure-mode process (set-user-ID,
/// set-group-ID, or gaining file capabilities: the kernel's `AT_SECURE`, which is also when
/// glibc ignores `LD_LIBRARY_PATH`) the environment is the caller's, and must not choose
/// where a privileged process creates files or what it records. The first call that returns
/// true writes one line on stderr; glibc makes sure fds 0 to 2 are open in such a process,
/// so fd 2 is the caller's stderr, and the line tells the caller nothing it does not know.
pub(crate) fn ignored_in_secure_mode() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector the kernel passed at exec; it neither
    // allocates nor fails (0 for a missing entry).
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    if secure && !SECURE_MODE_SAID.swap(true, Ordering::Relaxed) {
        const LINE: &[u8] = b"skull-mem: SKULL_MEM_* settings ignored: this program runs \
set-user-ID, set-group-ID or with added capabilities (AT_SECURE); the defaults apply\n";
        // SAFETY: LINE is a static byte string; a failed write to stderr is not worth
        // reporting anywhere else.
        unsafe { libc::write(libc::STDERR_FILENO, LINE.as_ptr().cast(), LINE.len()) };
    }
    secure
}
