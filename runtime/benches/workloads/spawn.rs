//! The spawn workloads shared by the runtime's benches and `bench/compare` (each includes this
//! file with `#[path]`, so both measure exactly the same thing).

use std::hint::black_box;

/// Spawns a greenthread returning a trivial value and waits for it, `n` times one at a time.
pub fn spawn_join(n: u64) {
    for i in 0..n {
        black_box(green::spawn(move || black_box(i)).wait().unwrap());
    }
}

/// Spawns `n` greenthreads, each returning its index, then waits for all of them in spawn order.
pub fn spawn_all_then_join(n: u64) {
    let gts: Vec<_> = (0..n).map(|i| green::spawn(move || black_box(i))).collect();
    for gt in gts {
        black_box(gt.join().unwrap());
    }
}
