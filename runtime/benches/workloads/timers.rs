//! The timer workload shared by the runtime's benches and `bench/compare`: `threads`
//! greenthreads, each sleeping 10 pseudo-random lengths of 0–10 ms. The generator is the same
//! 64-bit LCG, seeded with the greenthread's index, in the Python peers (`bench/peers/peers.py`).

use std::time::Duration;

/// Sleeps per greenthread.
pub const SLEEPS: u64 = 10;

/// A 64-bit linear congruential generator (Knuth's MMIX constants) drawing sleep lengths.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next sleep length in milliseconds, 0 to 10.
    pub fn next_ms(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % 11
    }
}

/// Spawns `threads` greenthreads that each sleep [`SLEEPS`] random lengths, and waits for all.
pub fn sleepers(threads: u64) {
    let gts: Vec<_> = (0..threads)
        .map(|i| {
            green::spawn(move || {
                let mut rng = Lcg(i);
                for _ in 0..SLEEPS {
                    green::sleep(Duration::from_millis(rng.next_ms()));
                }
            })
        })
        .collect();
    for gt in gts {
        gt.join().unwrap();
    }
}
