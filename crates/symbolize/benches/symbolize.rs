//! How long does symbolizing a report take? 10,000 unique return addresses, half spread over
//! libc's code and half over this benchmark's own executable (Rust, line tables from the
//! release profile's `debug = 1`), symbolized from this process's own maps.
//!
//! - cold: a fresh `Symbolizer`: each module found, mapped and its DWARF indexed, then every
//!   address looked up for the first time;
//! - new: 10,000 other addresses (half a step further) on that symbolizer: modules loaded and
//!   the units around them parsed, the addresses not seen before;
//! - repeat: the first addresses again, as in the next report of the same stacks.
//!
//! Baseline from the same run: GNU `addr2line -f -i -C` on the libc half, one process for all
//! 5,000 addresses (so its start-up and debug-file loading are shared, as in our cold run).
//!
//! Run: `cargo bench -p skull-mem-symbolize`. `ROUNDS` (default 5) sets the rounds; the
//! median is printed.

use skull_mem_symbolize::{Backing, Lookup, Mapping, Process, Symbolizer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const PER_MODULE: u64 = 5_000;

/// `count` distinct addresses evenly spread over an executable mapping, starting `shift`
/// steps (a fraction) in.
fn spread(mapping: &Mapping, count: u64, shift: f64) -> Vec<u64> {
    let step = (mapping.end - mapping.start) / count;
    let first = mapping.start + 1 + (step as f64 * shift) as u64;
    (0..count).map(|i| first + i * step).collect()
}

fn code_mapping<'a>(process: &'a Process, wanted: &dyn Fn(&str) -> bool) -> &'a Mapping {
    process
        .maps()
        .executable()
        .filter(|m| matches!(&m.backing, Backing::File { path, .. } if wanted(path)))
        .max_by_key(|m| m.end - m.start)
        .expect("the mapping is present")
}

fn path_of(mapping: &Mapping) -> PathBuf {
    match &mapping.backing {
        Backing::File { path, .. } => PathBuf::from(path),
        _ => unreachable!("code_mapping returns file mappings"),
    }
}

/// ns per address for the cold, new and repeat passes (see the module doc).
fn time(process: &Process, addresses: &[u64], others: &[u64]) -> [f64; 3] {
    let mut symbolizer = Symbolizer::new();
    let mut pass = |addresses: &[u64]| {
        let start = Instant::now();
        let frames: usize = addresses
            .iter()
            .map(|&a| {
                symbolizer
                    .symbolize(process, a, Lookup::ReturnAddress)
                    .len()
            })
            .sum();
        assert!(frames >= addresses.len());
        start.elapsed().as_nanos() as f64 / addresses.len() as f64
    };
    [pass(addresses), pass(others), pass(addresses)]
}

/// ns per address for GNU addr2line on the file-relative addresses of `addresses`.
fn binutils(process: &Process, mapping: &Mapping, addresses: &[u64]) -> f64 {
    let mut symbolizer = Symbolizer::new();
    let module = symbolizer.module(process, mapping).expect("libc loads");
    let svmas: Vec<String> = addresses
        .iter()
        .map(|a| {
            format!(
                "{:#x}",
                module.svma(a - 1 - mapping.start + mapping.offset).unwrap()
            )
        })
        .collect();
    let start = Instant::now();
    let out = Command::new("addr2line")
        .args(["-f", "-i", "-C", "-e"])
        .arg(path_of(mapping))
        .args(&svmas)
        .output()
        .expect("addr2line runs");
    let elapsed = start.elapsed().as_nanos() as f64;
    assert!(out.status.success());
    elapsed / addresses.len() as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let process = Process::attach(std::process::id()).expect("own maps are readable");
    let exe = std::env::current_exe().unwrap();
    let libc = code_mapping(&process, &|p| {
        p.rsplit('/').next().unwrap().starts_with("libc.so")
    });
    let own = code_mapping(&process, &|p| exe == Path::new(p));
    let libc_addresses = spread(libc, PER_MODULE, 0.0);
    let own_addresses = spread(own, PER_MODULE, 0.0);
    let libc_others = spread(libc, PER_MODULE, 0.5);
    let own_others = spread(own, PER_MODULE, 0.5);
    let all: Vec<u64> = libc_addresses
        .iter()
        .chain(&own_addresses)
        .copied()
        .collect();
    let all_others: Vec<u64> = libc_others.iter().chain(&own_others).copied().collect();

    let sets = [
        (
            format!("{} ({PER_MODULE})", libc.name()),
            &libc_addresses,
            &libc_others,
        ),
        (
            format!("{} ({PER_MODULE})", own.name()),
            &own_addresses,
            &own_others,
        ),
        (format!("both ({})", all.len()), &all, &all_others),
    ];
    let mut samples: Vec<Vec<[f64; 3]>> = vec![Vec::new(); sets.len()];
    let mut baseline = Vec::new();
    for _ in 0..rounds {
        for (set, samples) in sets.iter().zip(&mut samples) {
            samples.push(time(&process, set.1, set.2));
        }
        baseline.push(binutils(&process, libc, &libc_addresses));
    }
    let baseline = median(baseline);
    println!("symbolize: ns per frame, median of {rounds} rounds (ReturnAddress lookups)");
    println!(
        "{:<34} {:>8} {:>8} {:>8} {:>14}",
        "addresses", "cold", "new", "repeat", "cold/binutils"
    );
    for ((name, ..), samples) in sets.iter().zip(&samples) {
        let column = |i: usize| median(samples.iter().map(|s| s[i]).collect());
        let ratio = if name.starts_with("libc") {
            format!("{:.2}x", column(0) / baseline)
        } else {
            "-".to_string()
        };
        let (cold, new, repeat) = (column(0), column(1), column(2));
        println!("{name:<34} {cold:>8.0} {new:>8.0} {repeat:>8.0} {ratio:>14}");
    }
    let name = format!("binutils addr2line, {} ({PER_MODULE})", libc.name());
    println!(
        "{name:<34} {baseline:>8.0} {:>8} {:>8} {:>14}",
        "-", "-", "1.00x"
    );
}
