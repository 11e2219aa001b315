//! A segment directory that others may write to must have the sticky bit (issue 11): in a
//! 0777 directory another user could replace or remove a process's file. A real process
//! given one runs on unmeasured, says so once on stderr and creates nothing there; with
//! 01777 (as /dev/shm and /tmp have) the same process makes its segment.
//!
//! Whether a file was made is seen with a process that kills itself with SIGKILL (`sh -c
//! 'echo $$; kill -9 $$'`): nothing runs at its exit, so a segment it made stays in the directory.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};

/// The one line the library writes when it refuses the directory.
const REFUSED: &str = "skull-mem: measurement degraded: the segment directory is writable by others and not sticky; refused; the program runs on\n";

/// Runs `argv` with the library preloaded and `SKULL_MEM_DIR=dir` (or plain).
fn run_in(dir: Option<&Path>, argv: &[&str]) -> Output {
    let mut command = Command::new(argv[0]);
    command.args(&argv[1..]).env_remove("SKULL_MEM_DIR");
    match dir {
        Some(dir) => command
            .env("LD_PRELOAD", lib_path())
            .env("SKULL_MEM_DIR", dir),
        None => command.env_remove("LD_PRELOAD"),
    };
    command.output().expect("run the program")
}

/// A fresh directory of mode `mode`.
fn directory(mode: u32) -> TestDir {
    let dir = TestDir::new("sticky");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(mode)).expect("chmod");
    dir
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list the directory")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn a_directory_writable_by_all_without_the_sticky_bit_is_refused_and_the_program_runs_on() {
    let dir = directory(0o777);
    let plain = run_in(None, &["ls", "-1", "/"]);
    let refused = run_in(Some(dir.path()), &["ls", "-1", "/"]);
    assert_eq!(refused.status.code(), plain.status.code());
    assert_eq!(refused.stdout, plain.stdout);
    assert_eq!(String::from_utf8_lossy(&refused.stderr), REFUSED);

    let killed = run_in(Some(dir.path()), &["sh", "-c", "echo $$; kill -9 $$"]);
    assert_eq!(killed.status.signal(), Some(libc::SIGKILL));
    assert_eq!(String::from_utf8_lossy(&killed.stderr), REFUSED);
    assert_eq!(files(dir.path()), Vec::<String>::new());
}

#[test]
fn a_sticky_directory_writable_by_all_is_accepted() {
    let dir = directory(0o1777);
    let accepted = run_in(Some(dir.path()), &["ls", "-1", "/"]);
    assert_eq!(accepted.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&accepted.stderr), "");

    let killed = run_in(Some(dir.path()), &["sh", "-c", "echo $$; kill -9 $$"]);
    assert_eq!(killed.status.signal(), Some(libc::SIGKILL));
    assert_eq!(String::from_utf8_lossy(&killed.stderr), "");
    // The killed shell's segment, left over, named by its uid and the pid it printed.
    let pid = String::from_utf8_lossy(&killed.stdout).trim().to_owned();
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    assert_eq!(files(dir.path()), vec![format!("skull-mem-{uid}-{pid}")]);
}
