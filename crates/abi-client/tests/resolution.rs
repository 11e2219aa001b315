//! The client finds the C ABI only where `libskull_mem.so` is preloaded, and then drives it:
//! the child half of each test runs in this same test binary, re-executed under LD_PRELOAD.

use std::process::Command;

use skull_mem_abi_client::{c_text, library_active, Abi, AbiError, SCOPE_INVALID, SCOPE_SELF};
use skull_mem_test_support::lib_path;

/// Set in the re-executed child, which then runs the checks that need the library.
const CHILD: &str = "SKULL_ABI_CLIENT_TEST_CHILD";

#[test]
fn without_the_library_nothing_resolves() {
    assert!(Abi::get().is_none());
    assert_eq!(Abi::checked().err(), Some(AbiError::Missing));
    assert!(!library_active());
}

#[test]
fn under_the_preloaded_library_the_client_drives_its_scopes() {
    if std::env::var_os(CHILD).is_none() {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "under_the_preloaded_library_the_client_drives_its_scopes",
                "--nocapture",
            ])
            .env("LD_PRELOAD", lib_path())
            .env(CHILD, "1")
            .output()
            .expect("the test binary runs again");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    assert!(library_active());
    let abi = Abi::checked().expect("the preloaded library speaks this ABI");
    let before = abi.scopes();
    let names: Vec<(u32, String, String)> = before
        .iter()
        .take(3)
        .map(|s| (s.id, c_text(&s.name), c_text(&s.kind)))
        .collect();
    assert_eq!(names[2], (SCOPE_SELF, "skull-mem".into(), "tool".into()));

    // SAFETY: both strings are NUL-terminated and outlive the call.
    let id = unsafe { (abi.scope_register)(c"abi-client".as_ptr(), c"module".as_ptr()) };
    assert_eq!(id as usize, before.len());
    // SAFETY: `skull_scope_enter` accepts any id and only switches this thread's scope.
    let previous = unsafe { (abi.scope_enter)(id) };
    assert_ne!(previous, SCOPE_INVALID);
    // black_box: an allocation never read could be optimised away.
    let block = std::hint::black_box(vec![0u8; 1000]);
    // SAFETY: `previous` came from the matching enter on this thread.
    unsafe { (abi.scope_leave)(previous) };
    // SAFETY: takes no arguments and only reads a thread-local.
    assert_eq!(unsafe { (abi.scope_current)() }, previous);

    let after = abi.scopes();
    let mine = &after[id as usize];
    assert_eq!(c_text(&mine.name), "abi-client");
    assert_eq!(mine.used_bytes, 1000);
    assert_eq!(mine.live_blocks, 1);
    drop(block);
}
