use shuttle::thread;

use crate::hub::{yields, Ev, Events, Held, Hub};

/// A user-level notifier with tokio's states: a permit stored when nobody waits, waiters woken
/// directly otherwise.
struct Notify {
    permit: bool,
    waiters: Vec<Ev>,
    events: Events<()>,
    fixed: bool,
    /// The work the consumer waits for.
    work: u32,
}

impl Hub<Notify> {
    fn notified<'a>(&'a self, mut n: Held<'a, Notify>) -> Held<'a, Notify> {
        if std::mem::replace(&mut n.permit, false) {
            return n;
        }
        let ev = n.events.add();
        n.waiters.push(ev);
        self.wait(n, |n| n.events.sent(ev)).0
    }

    fn notify_one(&self, n: &mut Held<'_, Notify>) {
        if n.waiters.is_empty() {
            n.permit = true;
        } else {
            let ev = n.waiters.remove(0);
            self.send(&mut n.events, ev, ());
        }
    }

    fn notify_waiters(&self, n: &mut Held<'_, Notify>) {
        for ev in std::mem::take(&mut n.waiters) {
            self.send(&mut n.events, ev, ());
        }
        if !n.fixed {
            n.permit = false; // the bug: the state goes to EMPTY, a stored permit is lost
        }
    }
}

/// The shuttle port of `zoo/src/ro_tokio_3660_notify_waiters_loses_permit.rs`: a consumer waits
/// for work, a producer stores it and calls `notify_one`, a broadcaster calls `notify_waiters`;
/// with the permit lost the consumer waits for ever (shuttle's deadlock failure).
pub fn ro_tokio_3660_notify_waiters_loses_permit(fixed: bool) {
    let n = Hub::new(Notify { permit: false, waiters: Vec::new(), events: Events::default(), fixed, work: 0 });
    // All three act in the same step; in spawn order the consumer waits first.
    let nc = n.clone();
    let consumer = thread::spawn(move || {
        yields(2);
        let mut held = nc.lock();
        loop {
            held = nc.notified(held); // "work is there" (or a broadcast: look again)
            if held.work == 1 {
                break;
            }
        }
    });
    let np = n.clone();
    let producer = thread::spawn(move || {
        yields(2);
        let mut held = np.lock();
        held.work = 1;
        np.notify_one(&mut held);
    });
    let nb = n.clone();
    let broadcaster = thread::spawn(move || {
        yields(2);
        nb.notify_waiters(&mut nb.lock()); // e.g. a configuration reload
    });
    producer.join().unwrap();
    broadcaster.join().unwrap();
    consumer.join().unwrap(); // with the permit lost: waits for ever (a deadlock report)
}
