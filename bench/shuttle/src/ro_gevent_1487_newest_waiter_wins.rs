use shuttle::thread;

use crate::hub::{yields, Ev, Events, Hub};

struct Sem {
    free: bool,
    /// Arrival tickets: lower is older.
    tickets: u32,
    waiters: Vec<(u32, Ev)>,
    events: Events<()>,
    fifo: bool,
}

impl Hub<Sem> {
    fn acquire(&self) {
        let mut s = self.lock();
        if std::mem::replace(&mut s.free, false) {
            return;
        }
        let ticket = s.tickets;
        s.tickets += 1;
        let ev = s.events.add();
        s.waiters.push((ticket, ev));
        self.wait(s, |s| s.events.sent(ev));
    }

    /// Hands the permit to a waiter (FIFO when fixed, the newest when buggy); returns the ticket
    /// it went to and the tickets still waiting.
    fn release(&self) -> Option<(u32, Vec<u32>)> {
        let mut s = self.lock();
        if s.waiters.is_empty() {
            s.free = true;
            return None;
        }
        let (t, ev) = if s.fifo { s.waiters.remove(0) } else { s.waiters.pop().unwrap() };
        self.send(&mut s.events, ev, ());
        Some((t, s.waiters.iter().map(|x| x.0).collect()))
    }
}

/// The shuttle port of `zoo/src/ro_gevent_1487_newest_waiter_wins.rs`: three staggered workers
/// pass a one-permit semaphore around; panics when a waiter is served before an older one.
pub fn ro_gevent_1487_newest_waiter_wins(fixed: bool) {
    let sem = Hub::new(Sem { free: true, tickets: 0, waiters: Vec::new(), events: Events::default(), fifo: fixed });
    let workers: Vec<_> = (0..3)
        .map(|i| {
            let sem = sem.clone();
            thread::spawn(move || {
                // Staggered arrivals: in spawn order at most one worker waits at a time.
                yields(i);
                sem.acquire();
                // The critical section.
                yields(2);
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
