//! nova LP#1825584 (oslo.messaging 22f240b): the heartbeat greenthread resumed only when the hub
//! got round to it; a late wake-up pushed a beat past the peer's timeout and the peer dropped the
//! connection. Ported: a heartbeat sent every 10 ms to a peer that gives up after 12 ms of
//! silence (no slack for a late timer); the fix beats every 3 ms (a quarter of the timeout, under
//! the largest delay the timers see). Codes: TJ.

use std::rc::Rc;
use std::time::Duration;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "tj_nova_1825584_heartbeat_late_peer_drops",
    source: "nova LP#1825584; oslo.messaging 22f240b",
    codes: &["TJ"],
    buggy,
    fixed,
    harness: || crate::base().jitter(Duration::from_millis(8)),
};

/// The bug's mechanism: panics on its symptom when [`KERNEL`]'s harness exposes it.
pub fn buggy() {
    run(false)
}

/// The same program with the bug's fix: never fails.
pub fn fixed() {
    run(true)
}

const BEATS: u32 = 5;

fn run(fixed: bool) {
    let interval = Duration::from_millis(if fixed { 3 } else { 10 });
    let link = Rc::new(green::Queue::new());
    let l = link.clone();
    let heart = green::spawn(move || {
        for beat in 0..BEATS {
            l.put(beat);
            green::sleep(interval);
        }
    });
    for expect in 0..BEATS {
        match link.get_timeout(Duration::from_millis(12)) {
            Ok(beat) => assert_eq!(beat, expect),
            Err(_) => panic!("the peer dropped the connection: no heartbeat for 12 ms (after beat {expect})"),
        }
    }
    heart.join().unwrap();
}
