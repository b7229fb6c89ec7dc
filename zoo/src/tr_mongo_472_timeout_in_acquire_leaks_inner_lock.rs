//! mongodb/mongo-python-driver PR#472: a `Timeout` raised inside `Lock.acquire` (within a
//! `Condition`/`Semaphore`) left the inner lock held, so every later checkout deadlocked.
//! green's `Semaphore` and `Mutex` clean up a cancelled wait, so the mechanism is ported onto a
//! user-level FIFO hand-off lock without that cleanup: a waiter cancelled while parked stays
//! queued, the next `unlock` hands the lock to it, and nobody unlocks it again. The fix leaves
//! the queue on cancellation (or passes on a lock already handed over). Codes: TR (KB too).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "tr_mongo_472_timeout_in_acquire_leaks_inner_lock",
    source: "mongodb/mongo-python-driver PR#472",
    codes: &["TR", "KB"],
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

#[derive(Default)]
struct Lock {
    held: Cell<bool>,
    waiters: RefCell<VecDeque<(u64, green::Event<()>)>>,
    tickets: Cell<u64>,
    fixed: bool,
}

/// The fix: a parked waiter that unwinds (its timeout fired) leaves the queue, or passes on a
/// lock that was handed to it in the meantime.
struct Parked<'a>(&'a Lock, u64, green::Event<()>);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        if self.2.ready() {
            self.0.unlock();
        } else {
            self.0.waiters.borrow_mut().retain(|(t, _)| *t != self.1);
        }
    }
}

impl Lock {
    fn lock(&self) {
        if !self.held.replace(true) {
            return;
        }
        let ev = green::Event::new();
        let ticket = self.tickets.get();
        self.tickets.set(ticket + 1);
        self.waiters.borrow_mut().push_back((ticket, ev.clone()));
        if self.fixed {
            let parked = Parked(self, ticket, ev.clone());
            ev.wait();
            std::mem::forget(parked);
        } else {
            ev.wait(); // a timeout here leaves `ev` queued: the bug
        }
    }

    /// Hands the lock to the oldest waiter, or frees it.
    fn unlock(&self) {
        let next = self.waiters.borrow_mut().pop_front();
        match next {
            Some((_, ev)) => ev.send(()).unwrap(),
            None => self.held.set(false),
        }
    }
}

/// Unlocks when the holder is done or unwinds (both variants guard the critical section).
struct Held<'a>(&'a Lock);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

fn run(fixed: bool) {
    let lock = Rc::new(Lock { fixed, ..Lock::default() });
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let lock = lock.clone();
            green::spawn(move || {
                // A checkout with a 5 ms timeout; each holds the lock for 1 ms.
                let _ = green::Timeout::new(Duration::from_millis(5)).call(|| {
                    lock.lock();
                    let _held = Held(&lock);
                    green::sleep(Duration::from_millis(1));
                });
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert!(!lock.held.get(), "the lock is held by nobody: a cancelled acquire leaked it");
}
