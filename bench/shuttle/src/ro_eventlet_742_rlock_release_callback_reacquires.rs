use std::collections::VecDeque;

use shuttle::thread::{self, ThreadId};

use crate::hub::{yields, Ev, Events, Held, Hub};

/// A user-level re-entrant lock whose release calls a contention hook that logs through the
/// same lock.
struct RLock {
    owner: Option<ThreadId>,
    count: u32,
    locked: bool,
    waiters: VecDeque<Ev>,
    events: Events<()>,
    in_hook: bool,
    fixed: bool,
    log: Vec<String>,
}

fn me() -> ThreadId {
    thread::current().id()
}

impl Hub<RLock> {
    fn acquire<'a>(&'a self, mut l: Held<'a, RLock>) -> Held<'a, RLock> {
        if l.owner == Some(me()) {
            l.count += 1;
            return l;
        }
        while l.locked {
            let ev = l.events.add();
            l.waiters.push_back(ev);
            l = self.wait(l, |l| l.events.sent(ev)).0;
        }
        l.locked = true;
        l.owner = Some(me());
        l.count = 1;
        l
    }

    fn release<'a>(&'a self, mut l: Held<'a, RLock>) -> Held<'a, RLock> {
        l.count -= 1;
        if l.count > 0 {
            return l;
        }
        l.owner = None;
        let contended = !l.waiters.is_empty();
        if contended && !l.fixed {
            l = self.on_contention(l); // the bug: owner cleared, lock still held
        }
        l.locked = false;
        if let Some(ev) = l.waiters.pop_front() {
            self.send(&mut l.events, ev, ());
        }
        if contended && l.fixed {
            l = self.on_contention(l);
        }
        l
    }

    /// A statistics hook that logs under the same lock.
    fn on_contention<'a>(&'a self, mut l: Held<'a, RLock>) -> Held<'a, RLock> {
        if std::mem::replace(&mut l.in_hook, true) {
            return l;
        }
        let mut l = self.acquire(l);
        l.log.push("contended".into());
        let mut l = self.release(l);
        l.in_hook = false;
        l
    }
}

/// The shuttle port of `zoo/src/ro_eventlet_742_rlock_release_callback_reacquires.rs`: two
/// staggered users of a re-entrant lock whose release runs a hook that takes the same lock;
/// with the hook run while the lock is still held by "nobody", the releaser waits on itself
/// (shuttle's deadlock failure).
pub fn ro_eventlet_742_rlock_release_callback_reacquires(fixed: bool) {
    let lock = Hub::new(RLock {
        owner: None,
        count: 0,
        locked: false,
        waiters: VecDeque::new(),
        events: Events::default(),
        in_hook: false,
        fixed,
        log: Vec::new(),
    });
    let users: Vec<_> = (0..2)
        .map(|i| {
            let lock = lock.clone();
            thread::spawn(move || {
                // Staggered: in spawn order the second arrives after the first released.
                yields(i);
                drop(lock.acquire(lock.lock()));
                yields(1); // the critical section
                drop(lock.release(lock.lock()));
            })
        })
        .collect();
    for u in users {
        u.join().unwrap(); // self-deadlocked: a deadlock report
    }
}
