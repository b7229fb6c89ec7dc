//! tokio-rs/tokio#5396 (PR#5458): `notify_waiters` woke its waiters in batches, releasing the
//! lock between batches, and a waiter that registered between two batches was woken too: one
//! notification ended a wait that began after it. green's own primitives cannot do this:
//! `Event::send` and `Condvar::notify_all` hand off to every waiter queued at the call in one go,
//! without yielding, so a later waiter joins the next notification. The mechanism is ported onto
//! a user-level notifier that yields between batches (tokio's lock release); the fix takes the
//! waiter list once, at the call. Codes: RO (SP: a wake-up for an event that came before the
//! wait).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use crate::{yields, Kernel};

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "ro_tokio_5396_notify_waiters_wakes_later_waiter",
    source: "tokio-rs/tokio#5396, PR#5458",
    codes: &["RO", "SP"],
    buggy,
    fixed,
    harness: || crate::base().shuffle(true),
};

/// The bug's mechanism: panics on its symptom when [`KERNEL`]'s harness exposes it.
pub fn buggy() {
    run(false)
}

/// The same program with the bug's fix: never fails.
pub fn fixed() {
    run(true)
}

struct Notify {
    /// Calls of `notify_waiters` begun so far.
    calls: Cell<u32>,
    waiters: RefCell<Vec<green::Event<u32>>>,
    fixed: bool,
}

impl Notify {
    /// Waits for the next `notify_waiters`; returns the number of the call that woke it.
    fn notified(&self) -> (u32, u32) {
        let ev = green::Event::new();
        self.waiters.borrow_mut().push(ev.clone());
        (self.calls.get(), ev.wait())
    }

    fn notify_waiters(&self) {
        let call = self.calls.get() + 1;
        self.calls.set(call);
        let snapshot = if self.fixed { self.waiters.take() } else { Vec::new() };
        let mut snapshot = snapshot.into_iter();
        loop {
            // Batches of two; the lock is released (a switch) between batches.
            let batch: Vec<_> = if self.fixed {
                snapshot.by_ref().take(2).collect()
            } else {
                let mut w = self.waiters.borrow_mut();
                let n = w.len().min(2);
                w.drain(..n).collect()
            };
            if batch.is_empty() {
                return;
            }
            for ev in batch {
                ev.send(call).unwrap();
            }
            green::sleep(Duration::ZERO);
        }
    }
}

fn run(fixed: bool) {
    let n = Rc::new(Notify { calls: Cell::new(0), waiters: RefCell::new(Vec::new()), fixed });
    let mut waiters: Vec<_> = (0..4)
        .map(|_| {
            let n = n.clone();
            green::spawn(move || n.notified())
        })
        .collect();
    let nn = n.clone();
    let notifier = green::spawn(move || {
        yields(1);
        nn.notify_waiters();
        green::sleep(Duration::from_millis(1));
        nn.notify_waiters(); // for the late waiter
    });
    let nl = n.clone();
    // A late waiter: in spawn order it registers just after the first call's last batch.
    waiters.push(green::spawn(move || {
        yields(3);
        nl.notified()
    }));
    notifier.join().unwrap();
    for w in waiters {
        let (before, by) = w.join().unwrap();
        assert!(by > before, "a wait that began after call {before} was ended by that call");
    }
}
