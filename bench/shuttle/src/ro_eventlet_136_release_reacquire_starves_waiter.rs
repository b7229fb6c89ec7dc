use std::collections::VecDeque;

use shuttle::thread;

use crate::hub::{yields, Ev, Events, Held, Hub};

/// A one-permit semaphore; `hand_off` (the fix) gives a released permit to the oldest waiter.
struct Sem {
    free: bool,
    waiters: VecDeque<Ev>,
    events: Events<()>,
    hand_off: bool,
    /// Releases by the busy greenthread so far.
    releases: u32,
}

impl Hub<Sem> {
    fn acquire<'a>(&'a self, mut s: Held<'a, Sem>) -> Held<'a, Sem> {
        if std::mem::replace(&mut s.free, false) {
            return s;
        }
        loop {
            let ev = s.events.add();
            s.waiters.push_back(ev);
            s = self.wait(s, |s| s.events.sent(ev)).0;
            if s.hand_off || std::mem::replace(&mut s.free, false) {
                return s;
            }
            // The bug: someone took the permit between the wake-up and now; wait again.
        }
    }

    fn release(&self, s: &mut Held<'_, Sem>) {
        match s.waiters.pop_front() {
            Some(ev) => {
                if !s.hand_off {
                    s.free = true;
                }
                self.send(&mut s.events, ev, ());
            }
            None => s.free = true,
        }
    }
}

/// The shuttle port of `zoo/src/ro_eventlet_136_release_reacquire_starves_waiter.rs`: a busy
/// thread takes and releases a semaphore six times while a waiter comes for it; panics when
/// the waiter waited through more than two releases (the releaser took the permit back).
pub fn ro_eventlet_136_release_reacquire_starves_waiter(fixed: bool) {
    let sem =
        Hub::new(Sem { free: true, waiters: VecDeque::new(), events: Events::default(), hand_off: fixed, releases: 0 });
    let s = sem.clone();
    let busy = thread::spawn(move || {
        for _ in 0..6 {
            drop(s.acquire(s.lock()));
            yields(2); // the work, in two steps
            let mut held = s.lock();
            s.release(&mut held);
            held.releases += 1;
            drop(held);
            yields(1); // other work between rounds
        }
    });
    let s = sem.clone();
    let waiter = thread::spawn(move || {
        yields(1); // arrives while the busy thread holds the permit
        let held = s.lock();
        let seen = held.releases;
        let mut held = s.acquire(held);
        let waited = held.releases - seen;
        assert!(waited <= 2, "a waiter starved: {waited} releases went to the greenthread that released it");
        s.release(&mut held);
    });
    busy.join().unwrap();
    waiter.join().unwrap();
}
