//! gevent/gevent#1957 (urllib3#3289): a pool kept a reference to the unpatched `LifoQueue`, so
//! `get()` on an empty pool blocked natively, stalling the hub. Ported: a pool whose `get` waits
//! natively (a `std::thread::sleep` poll, the stand-in for the native wait) when it finds the
//! pool empty; the blocking detector fails the greenthread that holds the hub. Codes: BD.

use std::rc::Rc;
use std::time::Duration;

use green_detectors::Mode;

use crate::Kernel;

/// The blocking detector's resolution: far above a fixed variant's slices, so a loaded machine
/// that holds a hub's thread off its CPU for a few milliseconds (a busy CI host: 14 ms seen) is
/// no false alarm, and far below what the bug holds the hub for.
const BLOCKING_MS: u64 = 25;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "bd_gevent_1957_native_queue_blocks_the_hub",
    source: "gevent/gevent#1957; urllib3#3289",
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

fn run(fixed: bool) {
    let pool = Rc::new(green::Queue::new());
    pool.put(1u32);
    let users: Vec<_> = (0..2)
        .map(|i| {
            let pool = pool.clone();
            green::spawn(move || {
                // In spawn order the second user arrives after the first gave the item back.
                for _ in 0..i {
                    green::sleep(Duration::ZERO);
                }
                let item = if fixed {
                    pool.get() // a green wait: the hub runs the others
                } else {
                    loop {
                        if let Ok(x) = pool.try_get() {
                            break x;
                        }
                        std::thread::sleep(Duration::from_millis(2 * BLOCKING_MS + 10)); // the native wait
                        green::sleep(Duration::ZERO);
                    }
                };
                green::sleep(Duration::ZERO); // use it
                pool.put(item);
            })
        })
        .collect();
    for u in users {
        u.join().unwrap();
    }
}
