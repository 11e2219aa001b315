//! Times the leak engine on a live traced process: `leak_report DIR PID [ROUNDS]`.
//!
//! Prints, for `leaks` (grouped by line, top 10) and `report` (top 10), the time of the first
//! call on a fresh symbolizer (cold) and of the later calls on the same one (warm), as the
//! Node binding keeps one. Used by `benches/trace_report.sh` to time the engine without
//! node's start-up and the binding's conversion.

use std::path::Path;
use std::time::Instant;

use skull_mem_inspect::trace::leaks::{leaks, stacks, LeakOptions};
use skull_mem_symbolize::Symbolizer;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: leak_report DIR PID [ROUNDS]");
        std::process::exit(2);
    }
    let dir = Path::new(&args[1]);
    let pid: u32 = args[2].parse().expect("PID");
    let rounds: usize = args.get(3).map_or(3, |n| n.parse().expect("ROUNDS"));
    let fail = |error: skull_mem_inspect::trace::TraceError| -> ! {
        eprintln!("leak_report: {error}");
        std::process::exit(1)
    };
    let options = LeakOptions {
        top: 10,
        ..LeakOptions::default()
    };
    let mut symbolizer = Symbolizer::new();
    let mut times = Vec::new();
    for _ in 0..rounds.max(2) {
        let start = Instant::now();
        let report = leaks(dir, pid, &options, &mut symbolizer).unwrap_or_else(|e| fail(e));
        times.push(start.elapsed().as_secs_f64());
        std::hint::black_box(report);
    }
    println!("leaks  in process (engine only): {}", seconds(&times));
    let mut symbolizer = Symbolizer::new();
    let mut times = Vec::new();
    for _ in 0..rounds.max(2) {
        let start = Instant::now();
        let report = stacks(dir, pid, 10, false, &mut symbolizer).unwrap_or_else(|e| fail(e));
        times.push(start.elapsed().as_secs_f64());
        std::hint::black_box(report);
    }
    println!("report in process (engine only): {}", seconds(&times));
}

/// `cold 0.123 s, warm 0.045 s, 0.044 s`.
fn seconds(times: &[f64]) -> String {
    let warm: Vec<String> = times[1..].iter().map(|t| format!("{t:.3} s")).collect();
    format!("cold {:.3} s, warm {}", times[0], warm.join(", "))
}
