//! benoitc/gunicorn#1840, #1955: CPU-bound request handling never yielded to the hub, so the
//! worker could not notify the arbiter and was killed for a timeout. Ported: a handler that,
//! finding the cache cold, computes for 50 ms without a green call (in spawn order a warmer fills
//! the cache first); the fix yields between 0.25 ms chunks. The blocking detector (25 ms, `Fail`)
//! fails the greenthread that holds the hub. Codes: BD (RO: the cache is cold only when the
//! handler runs first).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use green_detectors::Mode;

use crate::Kernel;

/// The blocking detector's resolution: far above a fixed variant's slices, so a loaded machine
/// that holds a hub's thread off its CPU for a few milliseconds (a busy CI host: 14 ms seen) is
/// no false alarm, and far below what the bug holds the hub for.
const BLOCKING_MS: u64 = 25;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "bd_gunicorn_1840_cpu_bound_never_yields",
    source: "benoitc/gunicorn#1840, #1955",
    codes: &["BD", "RO"],
    buggy,
    fixed,
    harness: || crate::base().shuffle(true).blocking(Duration::from_millis(BLOCKING_MS)).blocking_mode(Mode::Fail),
};

/// The bug's mechanism: panics on its symptom when [`KERNEL`]'s harness exposes it.
pub fn buggy() {
    run(false)
}

/// The same program with the bug's fix: never fails.
pub fn fixed() {
    run(true)
}

/// Spins the CPU for `d` (a computation with no green call).
fn compute(d: Duration) -> u64 {
    let t0 = Instant::now();
    let mut x = 1u64;
    while t0.elapsed() < d {
        for _ in 0..1000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
    }
    x
}

fn run(fixed: bool) {
    let cache: Rc<RefCell<Option<u64>>> = Rc::new(RefCell::new(None));
    let c = cache.clone();
    let warmer = green::spawn(move || {
        *c.borrow_mut() = Some(42);
    });
    let c = cache.clone();
    let handler = green::spawn(move || {
        if c.borrow().is_some() {
            return;
        }
        let mut x = 0;
        for _ in 0..200 {
            // Quarter-millisecond chunks: far below the 25 ms the detector allows a slice.
            x ^= compute(Duration::from_micros(250));
            if fixed {
                green::sleep(Duration::ZERO); // let the hub run between chunks
            }
        }
        *c.borrow_mut() = Some(x);
    });
    warmer.join().unwrap();
    handler.join().unwrap();
}
