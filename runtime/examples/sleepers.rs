//! Memory of many sleeping greenthreads: spawns N (default 100,000) greenthreads that all sleep at
//! once, then prints the process's peak RSS and its number of memory mappings (stacks come from
//! slabs with in-mapping guard pages, so the count stays far below `vm.max_map_count`).
//!
//! Run with `cargo run --release -p green --example sleepers [N]`.

use std::time::{Duration, Instant};

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let t0 = Instant::now();
    let sleepers: Vec<_> = (0..n).map(|_| green::spawn(|| green::sleep(Duration::from_millis(300)))).collect();
    green::sleep(Duration::from_millis(100)); // every one of them is parked in its sleep now
    let maps = std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().count()).unwrap_or(0);
    println!("{n} greenthreads sleeping at once (spawned in {:?})", t0.elapsed());
    println!("peak RSS: {} MiB", status("VmHWM:").parse::<u64>().map_or("?".into(), |kb| (kb / 1024).to_string()));
    println!("memory mappings: {maps} (guard pages by {})", green::stack_guard_mode());
    for gt in sleepers {
        gt.join().unwrap();
    }
}
