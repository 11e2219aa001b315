//! The leak check at exit (`SKULL_MEM_LEAK_CHECK`, `skull-mem run --leak-check`): an entry of
//! this library's `.fini_array`, so glibc's `_dl_fini` runs it after every `atexit` and
//! `__cxa_atexit` handler (C++ static destructors included) and after the executable's own
//! destructors: the program has freed all it frees by then. It runs on `exit` and on a return
//! from `main`; a process ended by a signal or by `_exit` (a forked child's usual end, or
//! `std::process::abort`) is not checked.
//!
//! The report goes to stderr (and, with `SKULL_MEM_LEAK_JSON`, as one JSON line appended to
//! that file); when more bytes are lost than `SKULL_MEM_LEAK_FAIL_ABOVE`, the process ends
//! here with `SKULL_MEM_LEAK_EXIT_CODE`, after flushing stdio and removing its segment, as
//! the rest of `exit` would have.

use std::ffi::OsString;
use std::io::Write;

use skull_mem_core::options::{
    self, number_or_default, LEAK_CHECK, LEAK_EXIT_CODE, LEAK_FAIL_ABOVE, LEAK_JSON,
    LEAK_SUPPRESSIONS,
};
use skull_mem_core::scopes::SCOPE_SELF;
use skull_mem_core::thread;
use skull_mem_inspect::leak_check::{self, render::check_text, CheckOptions, Suppressions};

fn variable(setting: &options::Setting) -> Option<OsString> {
    std::env::var_os(setting.env_name()?).filter(|value| !value.is_empty())
}

fn say(line: &str) {
    let _ = std::io::stderr().write_all(format!("skull-mem: {line}\n").as_bytes());
}

/// The suppressions file's patterns; none (said on stderr) when it cannot be used.
fn suppressions() -> Suppressions {
    let Some(path) = variable(&LEAK_SUPPRESSIONS) else {
        return Suppressions::default();
    };
    let shown = path.to_string_lossy().into_owned();
    let parsed = std::fs::read_to_string(&path)
        .map_err(|error| error.to_string())
        .and_then(|text| Suppressions::parse(&text).map_err(|error| error.to_string()));
    parsed.unwrap_or_else(|error| {
        say(&format!(
            "SKULL_MEM_LEAK_SUPPRESSIONS refused: {shown}: {error}; checking without suppressions"
        ));
        Suppressions::default()
    })
}

fn check() {
    let Some(mode) = variable(&LEAK_CHECK) else {
        return;
    };
    let mode = match options::parse_choice(&LEAK_CHECK, mode.as_encoded_bytes()) {
        Ok(mode) => mode,
        Err(error) => {
            say(&format!(
                "SKULL_MEM_LEAK_CHECK refused: {error}; no leak check"
            ));
            return;
        }
    };
    if mode == "off" || !crate::start::interposing() || skull_mem_core::region::get().is_none() {
        return;
    }
    let options = CheckOptions {
        full: mode == "full",
        suppressions: suppressions(),
    };
    let Some(check) = leak_check::check_self(&options) else {
        say("no leak check: this process cannot read its own memory (process_vm_readv refused)");
        return;
    };
    let _ = std::io::stderr().write_all(check_text(&check).as_bytes());
    if let Some(path) = variable(&LEAK_JSON) {
        let line = serde_json::to_string(&check).unwrap_or_default() + "\n";
        // One write to a file opened for appending: the lines of a process tree stay whole.
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(error) = written {
            say(&format!(
                "cannot write the leak report to {}: {error}",
                path.to_string_lossy()
            ));
        }
    }
    if check.lost.bytes > number_or_default(&LEAK_FAIL_ABOVE) {
        let code = number_or_default(&LEAK_EXIT_CODE) as i32;
        skull_mem_core::segment::remove_at_exit();
        // SAFETY: flushing every stdio stream, as `exit` would after this handler, then
        // ending the process with the leak check's status.
        unsafe {
            libc::fflush(core::ptr::null_mut());
            libc::_exit(code)
        }
    }
}

extern "C" fn leak_check_at_exit() {
    // Whatever the check allocates (reading its settings included) is skull-mem's own.
    let previous = thread::enter(SCOPE_SELF);
    // A panic must not unwind into glibc's exit: the check is then skipped.
    let _ = std::panic::catch_unwind(check);
    thread::leave(previous);
}

#[used]
#[link_section = ".fini_array"]
static LEAK_CHECK_AT_EXIT: extern "C" fn() = leak_check_at_exit;
