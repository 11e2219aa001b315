//! V8 JIT frames: code that `node --perf-basic-prof` compiled lives in anonymous executable
//! memory, and only `/tmp/perf-<pid>.map` names it.

mod common;

use common::{build_dir, mark_line, source};
use skull_mem_symbolize::{Backing, Lookup, Process, Symbolizer};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills node and removes its perf map however the test ends.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(format!("/tmp/perf-{}.map", self.0.id()));
    }
}

/// Start address of machine code V8 compiled for `hotLeak` (any compiled tier: `^` baseline,
/// `+` Maglev, `*` TurboFan; `~` is the interpreter's bytecode, not code of its own).
fn compiled_entry(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/tmp/perf-{pid}.map")).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ' ');
        let (start, _size, name) = (fields.next()?, fields.next()?, fields.next()?);
        let compiled = ["JS:*hotLeak ", "JS:^hotLeak ", "JS:+hotLeak "];
        compiled
            .iter()
            .any(|prefix| name.starts_with(prefix))
            .then(|| u64::from_str_radix(start, 16).ok())?
    })
}

#[test]
fn jit_compiled_js_function_is_named_with_its_script_from_the_perf_map() {
    let script = source("hot.js");
    let node = Node(
        Command::new("node")
            // --perf-basic-prof also makes V8 write an isolate-*.log into the working directory.
            .current_dir(build_dir("node_jit"))
            .arg("--perf-basic-prof")
            .arg(&script)
            .stdout(Stdio::null())
            .spawn()
            .expect("node runs"),
    );
    let pid = node.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    let entry = loop {
        if let Some(entry) = compiled_entry(pid) {
            break entry;
        }
        assert!(Instant::now() < deadline, "V8 compiled no hotLeak in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    let process = Process::attach(pid).unwrap();
    let mapping = process.maps().find(entry).expect("JIT code is mapped");
    assert_eq!(mapping.backing, Backing::Anonymous);
    assert!(mapping.execute);

    let frames = Symbolizer::new().symbolize(&process, entry + 1, Lookup::ReturnAddress);
    assert_eq!(frames.len(), 1);
    let frame = &frames[0];
    let function = frame.function.as_deref().unwrap();
    assert!(
        function.starts_with("JS:") && function.ends_with("hotLeak"),
        "{function}"
    );
    assert_eq!(frame.file.as_deref(), Some(script.to_str().unwrap()));
    assert_eq!(frame.line, Some(mark_line("hot.js", "hotLeak")));
    assert_eq!(frame.module, format!("perf-{pid}.map"));
    assert_eq!(frame.module_offset, 0);
    let line = mark_line("hot.js", "hotLeak");
    let shown = format!("{function} at {}:{line} (perf-{pid}.map)", script.display());
    assert_eq!(frame.to_string(), shown);
}
