//! gevent/gevent#1487 (PR#1488): semaphore waiters were woken in hash order, so a newer waiter
//! could always win and an older one starve. green's `Semaphore` hands off FIFO (newcomers
//! cannot barge), so the mechanism is ported onto user code: a hand-rolled semaphore that wakes
//! its newest waiter. Codes: RO.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "ro_gevent_1487_newest_waiter_wins",
    source: "gevent/gevent#1487, PR#1488",
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

/// A one-permit semaphore whose waiters park on events; `fifo` picks who is woken.
struct Sem {
    free: Cell<bool>,
    /// Arrival tickets: lower is older.
    tickets: Cell<u32>,
    waiters: RefCell<Vec<(u32, green::Event<()>)>>,
    fifo: bool,
}

impl Sem {
    fn acquire(&self) {
        if self.free.replace(false) {
            return;
        }
        let ticket = self.tickets.get();
        self.tickets.set(ticket + 1);
        let ev = green::Event::new();
        self.waiters.borrow_mut().push((ticket, ev.clone()));
        ev.wait();
    }

    /// Hands the permit to a waiter (FIFO when fixed, the newest when buggy); returns the ticket
    /// it went to and the tickets still waiting.
    fn release(&self) -> Option<(u32, Vec<u32>)> {
        let mut w = self.waiters.borrow_mut();
        if w.is_empty() {
            self.free.set(true);
            return None;
        }
        let (t, ev) = if self.fifo { w.remove(0) } else { w.pop().unwrap() };
        ev.send(()).unwrap();
        Some((t, w.iter().map(|x| x.0).collect()))
    }
}

fn run(fixed: bool) {
    let sem =
        Rc::new(Sem { free: Cell::new(true), tickets: Cell::new(0), waiters: RefCell::new(Vec::new()), fifo: fixed });
    let workers: Vec<_> = (0..3u32)
        .map(|i| {
            let sem = sem.clone();
            green::spawn(move || {
                // Staggered arrivals: in spawn order at most one worker waits at a time.
                for _ in 0..i {
                    green::sleep(Duration::ZERO);
                }
                sem.acquire();
                // The critical section.
                green::sleep(Duration::ZERO);
                green::sleep(Duration::ZERO);
                if let Some((to, still)) = sem.release() {
                    assert!(still.iter().all(|&t| t > to), "waiter {to} served before older waiters {still:?}");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}
