//! The leak check's Rust case: a HashMap of Strings and Vecs, a boxed slice and a caught
//! panic (with its message), all dropped by the end of main (0 lost blocks expected).
use std::collections::HashMap;

fn main() {
    let mut table: HashMap<String, Vec<u64>> = HashMap::new();
    for i in 0..1000u64 {
        table.insert(format!("key {i}"), (0..i % 50).collect());
    }
    let boxed: Box<[u8]> = vec![1u8; 100_000].into_boxed_slice();
    let joined = table.keys().take(10).cloned().collect::<Vec<_>>().join(",");
    std::panic::set_hook(Box::new(|_| {}));
    let caught = std::panic::catch_unwind(|| {
        if !joined.is_empty() {
            panic!("a message of {} bytes", joined.len())
        }
    });
    println!("{} {} {}", table.len(), boxed.len(), caught.is_err());
}
