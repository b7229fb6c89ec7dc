//! eventlet/eventlet#742 (PR#743): `RLock.release()` cleared the owner, then ran a callback, then
//! freed the lock; a callback that took the same lock (a logging handler) found it held by
//! "nobody" and waited on itself: a self-deadlock, only when the callback ran, under contention.
//! green's locks have no such callback, so the mechanism is ported onto a user-level re-entrant
//! lock whose release notifies a contention hook (which logs through the same lock); the fix
//! runs the hook after the lock is free. Codes: RO.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "ro_eventlet_742_rlock_release_callback_reacquires",
    source: "eventlet/eventlet#742, PR#743",
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

#[derive(Default)]
struct RLock {
    owner: Cell<Option<u64>>,
    count: Cell<u32>,
    locked: Cell<bool>,
    waiters: RefCell<VecDeque<green::Event<()>>>,
    in_hook: Cell<bool>,
    fixed: bool,
    log: RefCell<Vec<String>>,
}

fn me() -> u64 {
    green::current().id().as_u64()
}

impl RLock {
    fn acquire(&self) {
        if self.owner.get() == Some(me()) {
            self.count.set(self.count.get() + 1);
            return;
        }
        while self.locked.get() {
            let ev = green::Event::new();
            self.waiters.borrow_mut().push_back(ev.clone());
            ev.wait();
        }
        self.locked.set(true);
        self.owner.set(Some(me()));
        self.count.set(1);
    }

    fn release(&self) {
        self.count.set(self.count.get() - 1);
        if self.count.get() > 0 {
            return;
        }
        self.owner.set(None);
        let contended = !self.waiters.borrow().is_empty();
        if contended && !self.fixed {
            self.on_contention(); // the bug: owner cleared, lock still held
        }
        self.locked.set(false);
        let next = self.waiters.borrow_mut().pop_front();
        if let Some(ev) = next {
            ev.send(()).unwrap();
        }
        if contended && self.fixed {
            self.on_contention();
        }
    }

    /// A statistics hook that logs under the same lock.
    fn on_contention(&self) {
        if self.in_hook.replace(true) {
            return;
        }
        self.acquire();
        self.log.borrow_mut().push("contended".into());
        self.release();
        self.in_hook.set(false);
    }
}

fn run(fixed: bool) {
    let lock = Rc::new(RLock { fixed, ..RLock::default() });
    let users: Vec<_> = (0..2)
        .map(|i| {
            let lock = lock.clone();
            green::spawn(move || {
                // Staggered: in spawn order the second arrives after the first released.
                for _ in 0..i {
                    green::sleep(Duration::ZERO);
                }
                lock.acquire();
                green::sleep(Duration::ZERO); // the critical section
                lock.release();
            })
        })
        .collect();
    for u in users {
        u.join().unwrap(); // self-deadlocked: a deadlock report
    }
}
