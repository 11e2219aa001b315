//! Times `reader::read_pid` on a live process: `segment_read DIR PID [READS]`.
//!
//! Prints one line: the number of reads, scopes and threads seen, and the median, minimum
//! and maximum time of one complete read (open, checks, map, sum of every thread block).
//! Used by `benches/segment_read.sh`.

use std::path::Path;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: segment_read DIR PID [READS]");
        std::process::exit(2);
    }
    let dir = Path::new(&args[1]);
    let pid: u32 = args[2].parse().expect("PID");
    let reads: usize = args.get(3).map_or(50, |n| n.parse().expect("READS"));
    let mut times = Vec::with_capacity(reads);
    let mut last = None;
    for _ in 0..reads.max(1) {
        let start = Instant::now();
        let reading = skull_mem_inspect::reader::read_pid(dir, pid).unwrap_or_else(|error| {
            eprintln!("segment_read: {error}");
            std::process::exit(1)
        });
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        last = Some(reading);
    }
    times.sort_by(f64::total_cmp);
    let reading = last.unwrap();
    println!(
        "reads={} scopes={} threads={} median_ms={:.3} min_ms={:.3} max_ms={:.3}",
        times.len(),
        reading.snapshot.scopes.len(),
        reading.snapshot.threads.unwrap_or(0),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
