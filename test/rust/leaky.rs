// A Rust program that leaks at a known place, for the tracing tests (built with rustc -g -O):
// prints "ready <pid>", then for each line on stdin keeps 100 buffers of 1000 bytes made by
// leak_here and prints "done <round>".
use std::io::{BufRead, Write};

#[inline(never)]
fn leak_here(kept: &mut Vec<Vec<u8>>) {
    let buffer = vec![7u8; 1000]; // RUST_LEAK_LINE
    kept.push(std::hint::black_box(buffer));
}

fn main() {
    let mut kept = Vec::with_capacity(1000);
    println!("ready {}", std::process::id());
    std::io::stdout().flush().unwrap();
    for (round, line) in std::io::stdin().lock().lines().enumerate() {
        if line.is_err() {
            break;
        }
        for _ in 0..100 {
            leak_here(&mut kept);
        }
        println!("done {}", round + 1);
        std::io::stdout().flush().unwrap();
    }
}
