//! The switch workload shared by the benches of the runtime, the detectors and the harness (each
//! includes this file with `#[path]`, so the three measure exactly the same thing).

use std::time::{Duration, Instant};

/// Two greenthreads ping-ponging `sleep(0)`, `iters` sleeps in all; returns the time taken.
pub fn ping_pong(iters: u64) -> Duration {
    let half = iters.div_ceil(2);
    let t0 = Instant::now();
    let a = green::spawn(move || {
        for _ in 0..half {
            green::sleep(Duration::ZERO)
        }
    });
    let b = green::spawn(move || {
        for _ in 0..half {
            green::sleep(Duration::ZERO)
        }
    });
    a.wait().unwrap();
    b.wait().unwrap();
    t0.elapsed()
}
