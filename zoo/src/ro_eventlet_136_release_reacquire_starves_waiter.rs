//! eventlet/eventlet#136 (PR#163): a greenthread that released a semaphore and acquired it
//! again before the woken waiter ran took the permit back; the waiter woke, found it gone and
//! waited again, for ever under load. green's `Semaphore` hands a released permit straight to
//! its oldest waiter, so the mechanism is ported onto user code: a semaphore whose release only
//! marks the permit free and wakes a waiter, which must then win the race for it. Depth: the
//! releaser must run before the waiter at several consecutive hand-overs (priority scheduling
//! finds that in a few runs; independent shuffles need luck at each one). Codes: RO.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::{yields, Kernel};

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "ro_eventlet_136_release_reacquire_starves_waiter",
    source: "eventlet/eventlet#136, PR#163",
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

/// A one-permit semaphore; `hand_off` (the fix) gives a released permit to the oldest waiter.
struct Sem {
    free: Cell<bool>,
    waiters: RefCell<VecDeque<green::Event<()>>>,
    hand_off: bool,
}

impl Sem {
    fn acquire(&self) {
        if self.free.replace(false) {
            return;
        }
        loop {
            let ev = green::Event::new();
            self.waiters.borrow_mut().push_back(ev.clone());
            ev.wait();
            if self.hand_off || self.free.replace(false) {
                return;
            }
            // The bug: someone took the permit between the wake-up and now; wait again.
        }
    }

    fn release(&self) {
        let next = self.waiters.borrow_mut().pop_front();
        match next {
            Some(ev) => {
                if !self.hand_off {
                    self.free.set(true);
                }
                ev.send(()).unwrap();
            }
            None => self.free.set(true),
        }
    }
}

fn run(fixed: bool) {
    let sem = Rc::new(Sem { free: Cell::new(true), waiters: RefCell::new(VecDeque::new()), hand_off: fixed });
    let releases = Rc::new(Cell::new(0u32));
    let (s, r) = (sem.clone(), releases.clone());
    let busy = green::spawn(move || {
        for _ in 0..6 {
            s.acquire();
            yields(1); // the work, in two steps
            yields(1);
            s.release();
            r.set(r.get() + 1);
            yields(1); // other work between rounds
        }
    });
    let (s, r) = (sem.clone(), releases.clone());
    let waiter = green::spawn(move || {
        yields(1); // arrives while the busy greenthread holds the permit
        let seen = r.get();
        s.acquire();
        let waited = r.get() - seen;
        assert!(waited <= 2, "a waiter starved: {waited} releases went to the greenthread that released it");
        s.release();
    });
    busy.join().unwrap();
    waiter.join().unwrap();
}
