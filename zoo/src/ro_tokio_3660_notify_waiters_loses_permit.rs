//! tokio-rs/tokio PR#3660: `notify_waiters` racing `notify_one` overwrote the stored NOTIFIED
//! permit with EMPTY, so a task that came to wait after the `notify_one` waited for ever. green's
//! `Event` keeps a sent value, so the mechanism is ported onto a user-level notifier with the
//! same states: a permit stored when nobody waits, waiters woken directly otherwise. Codes: RO.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::{yields, Kernel};

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "ro_tokio_3660_notify_waiters_loses_permit",
    source: "tokio-rs/tokio PR#3660",
    codes: &["RO"],
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
    permit: Cell<bool>,
    waiters: RefCell<Vec<green::Event<()>>>,
    fixed: bool,
}

impl Notify {
    fn notified(&self) {
        if self.permit.replace(false) {
            return;
        }
        let ev = green::Event::new();
        self.waiters.borrow_mut().push(ev.clone());
        ev.wait();
    }

    fn notify_one(&self) {
        let w = {
            let mut ws = self.waiters.borrow_mut();
            (!ws.is_empty()).then(|| ws.remove(0))
        };
        match w {
            Some(ev) => ev.send(()).unwrap(),
            None => self.permit.set(true),
        }
    }

    fn notify_waiters(&self) {
        for ev in self.waiters.take() {
            ev.send(()).unwrap();
        }
        if !self.fixed {
            self.permit.set(false); // the bug: the state goes to EMPTY, a stored permit is lost
        }
    }
}

fn run(fixed: bool) {
    let n = Rc::new(Notify { permit: Cell::new(false), waiters: RefCell::new(Vec::new()), fixed });
    let work = Rc::new(Cell::new(0u32));
    let (nc, wc) = (n.clone(), work.clone());
    // All three act in the same step; in spawn order the consumer waits first.
    let consumer = green::spawn(move || {
        yields(2);
        loop {
            nc.notified(); // "work is there" (or a broadcast: look again)
            if wc.get() == 1 {
                break;
            }
        }
    });
    let (np, wp) = (n.clone(), work.clone());
    let producer = green::spawn(move || {
        yields(2);
        wp.set(1);
        np.notify_one();
    });
    let nb = n.clone();
    let broadcaster = green::spawn(move || {
        yields(2);
        nb.notify_waiters(); // e.g. a configuration reload
    });
    producer.join().unwrap();
    broadcaster.join().unwrap();
    consumer.join().unwrap(); // with the permit lost: waits for ever (a deadlock report)
}
