//! eventlet/eventlet PR#498: two greenthreads waited on one fd; when the secondary's wait timed
//! out, removing its listener removed the primary's too, and the primary was never woken though
//! the fd became readable. green's listeners are per waiter, so the mechanism is ported onto a
//! user-level dispatcher that keeps its waiters by key and, when a wait times out, removes by key
//! (the fix: by waiter). Codes: TR, RO (TJ: the timeout races the event).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "tr_eventlet_498_timed_out_waiter_removes_primary",
    source: "eventlet/eventlet PR#498",
    codes: &["TR", "RO", "TJ"],
    buggy,
    fixed,
    harness: || crate::base().jitter(Duration::from_millis(8)).shuffle(true),
};

/// The bug's mechanism: panics on its symptom when [`KERNEL`]'s harness exposes it.
pub fn buggy() {
    run(false)
}

/// The same program with the bug's fix: never fails.
pub fn fixed() {
    run(true)
}

/// Waiters by key (an fd number): (key, waiter id, its event).
struct Dispatcher {
    waiters: RefCell<Vec<(u32, u64, green::Event<()>)>>,
    ids: Cell<u64>,
    fixed: bool,
}

impl Dispatcher {
    /// Waits for `key` to fire, at most `timeout`; false on timeout.
    fn wait(&self, key: u32, timeout: Option<Duration>) -> bool {
        let id = self.ids.get();
        self.ids.set(id + 1);
        let ev = green::Event::new();
        self.waiters.borrow_mut().push((key, id, ev.clone()));
        let Some(t) = timeout else {
            ev.wait();
            return true;
        };
        if ev.wait_timeout(t).is_some() {
            return true;
        }
        if self.fixed {
            self.waiters.borrow_mut().retain(|w| w.1 != id);
        } else {
            self.waiters.borrow_mut().retain(|w| w.0 != key); // the bug: every waiter on the key
        }
        false
    }

    fn fire(&self, key: u32) {
        let woken: Vec<_> = {
            let mut ws = self.waiters.borrow_mut();
            let (hit, keep) = ws.drain(..).partition(|w| w.0 == key);
            *ws = keep;
            hit
        };
        for (_, _, ev) in woken {
            ev.send(()).unwrap();
        }
    }
}

fn run(fixed: bool) {
    let d = Rc::new(Dispatcher { waiters: RefCell::new(Vec::new()), ids: Cell::new(0), fixed });
    let dp = d.clone();
    let primary = green::spawn(move || dp.wait(7, None)); // reads the reply
    let ds = d.clone();
    // A keep-alive probe on the same fd, giving up after 5 ms.
    let secondary = green::spawn(move || ds.wait(7, Some(Duration::from_millis(5))));
    let dw = d.clone();
    let peer = green::spawn(move || {
        green::sleep(Duration::from_millis(3)); // the reply arrives
        dw.fire(7);
    });
    peer.join().unwrap();
    let _ = secondary.join().unwrap();
    assert!(primary.join().unwrap(), "the primary waiter saw its reply"); // never woken: a deadlock report
}
