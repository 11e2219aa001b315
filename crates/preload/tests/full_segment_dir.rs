//! A segment directory with no room (a 1 MiB tmpfs, a full 64 MiB tmpfs, as in Docker's
//! default /dev/shm) never changes what a program does: python3, node and a multi-threaded C
//! program, with and without tracing from start-up, give the same stdout and exit code as
//! without the library, are never killed by a signal (before issue 11: SIGBUS, exit 135),
//! and stderr says once, and only once, that measurement is degraded.
//!
//! Each run happens in a private mount namespace (`unshare -m`, root) where a fresh tmpfs is
//! mounted over a test directory, so nothing outside the test is touched.

mod common;

use common::*;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

/// One test at a time: both compile the same C program into a directory of that name.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The line the library writes once when the segment cannot be made or grown.
const NOTE: &str = "skull-mem: measurement degraded: ";

/// How the segment directory is prepared.
#[derive(Clone, Copy, Debug)]
enum Room {
    /// A 1 MiB tmpfs: the fixed part (156 KiB) and a few thread blocks (88 KiB each) fit,
    /// tracing's tables (committed in 1 MiB chunks) do not.
    OneMiB,
    /// A 64 MiB tmpfs filled to the last page before the program starts: no segment at all.
    Full64MiB,
}

/// Runs `argv` with the library preloaded, in a private mount namespace whose segment
/// directory is a fresh tmpfs prepared as `room`; `trace` sets `SKULL_MEM_TRACE`.
fn run_in(room: Room, trace: Option<&str>, argv: &[&str]) -> Output {
    let dir = TestDir::new("full-segment-dir");
    let (size, fill) = match room {
        Room::OneMiB => ("1m", "0"),
        Room::Full64MiB => ("64m", "1"),
    };
    // Only the program is preloaded (the prefix assignment of `exec`), not sh or mount.
    let script = r#"
        mount --make-rprivate / &&
        mount -t tmpfs -o "size=$SIZE,mode=1777" none "$DIR" || exit 97
        if [ "$FILL" = 1 ]; then
            dd if=/dev/zero of="$DIR/fill" bs=64k 2>/dev/null
            dd if=/dev/zero of="$DIR/fill-pages" bs=4k 2>/dev/null
            [ "$(df --output=avail "$DIR" | tail -1 | tr -d ' ')" = 0 ] || exit 98
        fi
        export SKULL_MEM_DIR="$DIR"
        if [ -n "$TRACE" ]; then export SKULL_MEM_TRACE="$TRACE"; fi
        LD_PRELOAD="$LIB" exec "$@"
    "#;
    let output = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .args(argv)
        .env("SIZE", size)
        .env("FILL", fill)
        .env("DIR", dir.path())
        .env("LIB", lib_path())
        .env("TRACE", trace.unwrap_or(""))
        .env_remove("LD_PRELOAD")
        .env_remove("SKULL_MEM_DIR")
        .env_remove("SKULL_MEM_TRACE")
        .output()
        .expect("run unshare");
    assert!(
        !matches!(output.status.code(), Some(97 | 98)),
        "could not prepare the tmpfs: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn run_plain(argv: &[&str]) -> Output {
    Command::new(argv[0])
        .args(&argv[1..])
        .env_remove("LD_PRELOAD")
        .env_remove("SKULL_MEM_TRACE")
        .output()
        .expect("run the program")
}

/// Asserts the program behaves under `room` as without the library, and returns how many
/// times stderr says measurement is degraded (the rest of stderr must be the program's).
fn notes_under(room: Room, trace: Option<&str>, argv: &[&str]) -> usize {
    let plain = run_plain(argv);
    let measured = run_in(room, trace, argv);
    let stderr = String::from_utf8_lossy(&measured.stderr);
    let what = format!("{argv:?} on {room:?} with trace {trace:?}");
    assert_eq!(
        measured.status.signal(),
        None,
        "{what}: killed by a signal; stderr:\n{stderr}"
    );
    assert_eq!(
        measured.status.code(),
        plain.status.code(),
        "{what}: exit code; stderr:\n{stderr}"
    );
    assert!(
        measured.stdout == plain.stdout,
        "{what}: stdout differs\n--- plain\n{}\n--- measured\n{}",
        String::from_utf8_lossy(&plain.stdout),
        String::from_utf8_lossy(&measured.stdout)
    );
    let notes = stderr.lines().filter(|line| line.starts_with(NOTE)).count();
    let rest: String = stderr
        .lines()
        .filter(|line| !line.starts_with(NOTE))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        rest,
        String::from_utf8_lossy(&plain.stderr),
        "{what}: stderr"
    );
    notes
}

/// The real executable behind a command (python3 and node may be version-manager shims:
/// shell scripts whose every subshell would be a measured process of its own).
fn real_executable(command: &str, ask: &[&str]) -> String {
    let output = Command::new(command)
        .args(ask)
        .output()
        .expect("run the command");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn python() -> Vec<String> {
    let exe = real_executable("python3", &["-c", "import sys; print(sys.executable)"]);
    [exe.as_str()]
        .iter()
        .chain(PYTHON)
        .map(|s| s.to_string())
        .collect()
}

fn node() -> Vec<String> {
    let exe = real_executable("node", &["-p", "process.execPath"]);
    [exe.as_str()]
        .iter()
        .chain(NODE)
        .map(|s| s.to_string())
        .collect()
}

const PYTHON: &[&str] = &[
    "-c",
    "import json, sys\n\
     rows = [list(range(i)) for i in range(300)]\n\
     print(json.dumps(rows)[-200:])\n\
     sys.exit(3)",
];

const NODE: &[&str] = &[
    "-e",
    "const rows = Array.from({length: 300}, (_, i) => Array.from({length: i}, (_, j) => j));\n\
     console.log(JSON.stringify(rows).slice(-200));\n\
     process.exitCode = 4;",
];

#[test]
fn a_full_64_mib_segment_directory_changes_nothing_and_says_so_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let threads = compile("busy_threads", Link::Dlsym);
    let exe = threads.exe.to_str().unwrap();
    let (python, node) = (python(), node());
    let (python, node): (Vec<&str>, Vec<&str>) = (
        python.iter().map(String::as_str).collect(),
        node.iter().map(String::as_str).collect(),
    );
    for trace in [None, Some("all")] {
        for argv in [&python[..], &node[..], &[exe][..]] {
            // No segment can be made: the one note, from the first allocation.
            assert_eq!(
                notes_under(Room::Full64MiB, trace, argv),
                1,
                "{argv:?} {trace:?}"
            );
        }
    }
}

#[test]
fn a_1_mib_segment_directory_changes_nothing_and_says_so_at_most_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let threads = compile("busy_threads", Link::Dlsym);
    let exe = threads.exe.to_str().unwrap();
    let (python, node) = (python(), node());
    let (python, node): (Vec<&str>, Vec<&str>) = (
        python.iter().map(String::as_str).collect(),
        node.iter().map(String::as_str).collect(),
    );
    // Without tracing: python3 (one thread: 132 + 88 KiB) and the C program (nine threads:
    // 132 + 9 x 88 = 924 KiB) fit in 1 MiB; node's thread count depends on its version.
    assert_eq!(notes_under(Room::OneMiB, None, &python), 0);
    assert_eq!(notes_under(Room::OneMiB, None, &[exe]), 0);
    assert!(notes_under(Room::OneMiB, None, &node) <= 1);
    // Tracing from start-up: its tables (about 6 MiB) cannot fit; tracing records nothing,
    // counting goes on, one note.
    for argv in [&python[..], &node[..], &[exe][..]] {
        assert_eq!(notes_under(Room::OneMiB, Some("all"), argv), 1, "{argv:?}");
    }
}
