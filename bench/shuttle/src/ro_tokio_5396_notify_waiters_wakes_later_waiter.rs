use shuttle::thread;

use crate::hub::{yields, Ev, Events, Hub};

struct Notify {
    /// Calls of `notify_waiters` begun so far.
    calls: u32,
    waiters: Vec<Ev>,
    events: Events<u32>,
    fixed: bool,
    /// Waits begun so far (stands in for the green kernel's 1 ms timer; see below).
    registered: u32,
}

impl Hub<Notify> {
    /// Waits for the next `notify_waiters`; returns the number of calls begun before the wait
    /// and the number of the call that woke it.
    fn notified(&self) -> (u32, u32) {
        let mut n = self.lock();
        let ev = n.events.add();
        n.waiters.push(ev);
        n.registered += 1;
        let before = n.calls;
        (before, self.wait(n, |n| n.events.sent(ev)).1)
    }

    fn notify_waiters(&self) {
        let mut n = self.lock();
        n.calls += 1;
        let call = n.calls;
        let snapshot = if n.fixed { std::mem::take(&mut n.waiters) } else { Vec::new() };
        let mut snapshot = snapshot.into_iter();
        loop {
            // Batches of two; the lock is released (a switch) between batches.
            let batch: Vec<_> = if n.fixed {
                snapshot.by_ref().take(2).collect()
            } else {
                let k = n.waiters.len().min(2);
                n.waiters.drain(..k).collect()
            };
            if batch.is_empty() {
                return;
            }
            for ev in batch {
                self.send(&mut n.events, ev, call);
            }
            drop(n);
            yields(1);
            n = self.lock();
        }
    }
}

/// The shuttle port of `zoo/src/ro_tokio_5396_notify_waiters_wakes_later_waiter.rs`: four
/// waiters and a late one, and a notifier calling `notify_waiters` twice, waking in batches of
/// two; panics when a wait was ended by a call that began before it.
pub fn ro_tokio_5396_notify_waiters_wakes_later_waiter(fixed: bool) {
    let n = Hub::new(Notify { calls: 0, waiters: Vec::new(), events: Events::default(), fixed, registered: 0 });
    let mut waiters: Vec<_> = (0..4)
        .map(|_| {
            let n = n.clone();
            thread::spawn(move || n.notified())
        })
        .collect();
    let nn = n.clone();
    let notifier = thread::spawn(move || {
        yields(1);
        nn.notify_waiters();
        // green sleeps 1 ms here, by which time every waiter has parked; shuttle has no time,
        // so the notifier yields until all five waits have begun.
        while nn.lock().registered < 5 {
            yields(1);
        }
        nn.notify_waiters(); // for the late waiter
    });
    let nl = n.clone();
    // A late waiter: in spawn order it registers just after the first call's last batch.
    waiters.push(thread::spawn(move || {
        yields(3);
        nl.notified()
    }));
    notifier.join().unwrap();
    for w in waiters {
        let (before, by) = w.join().unwrap();
        assert!(by > before, "a wait that began after call {before} was ended by that call");
    }
}
