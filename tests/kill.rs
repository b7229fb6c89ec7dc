//! Kill and timeout unwinding: destructors run (and may block), swallowed kills come back,
//! hub-context kills are synchronous.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::util::*;

#[test]
fn kill_runs_destructors_of_the_victim() {
    let drops = DropCounter::new();
    let (a, b) = (drops.token(), drops.token());
    let gt = green::spawn(move || {
        let _a = a;
        let _b = b;
        green::sleep(Duration::from_secs(3600));
    });
    yield_now();
    assert_eq!(drops.dropped(), 0);
    gt.kill();
    assert_eq!(drops.dropped(), 2, "kill unwinds the victim before the killer resumes");
    let err = gt.wait().unwrap_err();
    assert!(err.is_killed());
    // DESIGN §3: the error's Display names the kill it stands for.
    assert!(err.to_string().ends_with("was killed"), "{err}");
}

#[test]
fn destructors_of_a_killed_greenthread_may_sleep() {
    struct SleepOnDrop(Log<&'static str>);
    impl Drop for SleepOnDrop {
        fn drop(&mut self) {
            self.0.push("drop start");
            green::sleep(ms(2));
            self.0.push("drop end");
        }
    }
    let log = Log::new();
    let guard = SleepOnDrop(log.clone());
    let gt = green::spawn(move || {
        let _g = guard;
        green::sleep(Duration::from_secs(3600));
    });
    yield_now();
    gt.kill();
    assert_eq!(log.get(), ["drop start"], "the destructor is parked in its sleep");
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), ["drop start", "drop end"]);
}

#[test]
fn a_kill_swallowed_by_catch_unwind_is_delivered_again_at_the_next_green_call() {
    let log: Log<&str> = Log::new();
    let l = log.clone();
    let gt = green::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(|| green::sleep(Duration::from_secs(3600))));
        l.push(if r.is_err() { "caught" } else { "slept" });
        // The kill is still in force: the next green call unwinds again.
        green::sleep(Duration::ZERO);
        l.push("unreachable");
    });
    yield_now();
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), ["caught"]);
}

#[test]
fn killing_a_woken_greenthread_unwinds_its_current_call_and_loses_nothing() {
    let q = green::Queue::new();
    let log: Log = Log::new();
    let (rx, l) = (q.clone(), log.clone());
    let gt = green::spawn(move || {
        let v: u32 = rx.get();
        l.push(format!("got {v}"));
    });
    yield_now();
    q.put(7); // handed to the parked getter, which is now woken (its wake-up is queued) ...
    gt.kill(); // ... and killed before it resumes: its get unwinds and gives the item back
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), Vec::<String>::new());
    assert_eq!(q.try_get(), Ok(7), "the item went back to the queue");
}

#[test]
fn self_kill_unwinds_at_once() {
    let log: Log = Log::new();
    let l = log.clone();
    let slot: std::rc::Rc<std::cell::RefCell<Option<green::GreenThread<()>>>> = Default::default();
    let s = slot.clone();
    let gt = green::spawn(move || {
        let me = s.borrow().clone().unwrap();
        l.push("before");
        me.kill();
        l.push("after");
    });
    *slot.borrow_mut() = Some(gt.clone());
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), ["before"]);
    slot.borrow_mut().take();
}

#[test]
fn kill_from_hub_context_unwinds_the_victim_synchronously() {
    let log = Log::new();
    let l = log.clone();
    let gt = green::spawn(move || {
        struct Mark(Log);
        impl Drop for Mark {
            fn drop(&mut self) {
                self.0.push("unwound");
            }
        }
        let _m = Mark(l);
        green::sleep(Duration::from_secs(3600));
    });
    yield_now();
    let (g, l2) = (gt.clone(), log.clone());
    green::hub::schedule_call_global(Duration::ZERO, move || {
        g.kill();
        l2.push("callback after kill");
    });
    yield_now();
    assert_eq!(log.get(), ["unwound", "callback after kill"]);
    assert!(gt.wait().unwrap_err().is_killed());
}

/// A victim that was woken (its wake-up queued, not yet run) unwinds at once too, and what its
/// wait was handed goes to the next waiter.
#[test]
fn kill_from_hub_context_unwinds_a_woken_victim_synchronously() {
    let log = Log::new();
    let q = green::Queue::new();
    let (l, q2) = (log.clone(), q.clone());
    let victim = green::spawn(move || {
        struct Mark(Log);
        impl Drop for Mark {
            fn drop(&mut self) {
                self.0.push("unwound");
            }
        }
        let _m = Mark(l.clone());
        let v: u32 = q2.get();
        l.push(format!("victim got {v}"));
    });
    let q3 = q.clone();
    let other = green::spawn(move || q3.get());
    yield_now();
    // The callback is queued before the victim's wake-up: it runs while the victim is Ready.
    let (g, l2) = (victim.clone(), log.clone());
    green::hub::schedule_call_global(Duration::ZERO, move || {
        g.kill();
        l2.push(format!("callback after kill: finished {}", g.is_finished()));
    });
    q.put(7);
    assert!(victim.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), ["unwound", "callback after kill: finished true"]);
    assert_eq!(other.wait().unwrap(), 7, "the handed item went to the next waiter");
}

#[test]
fn killing_a_finished_greenthread_does_nothing_and_does_not_yield() {
    let gt = green::spawn(|| 3);
    assert_eq!(gt.wait().unwrap(), 3);
    let before = green::hub::switch_count();
    gt.kill();
    assert_eq!(green::hub::switch_count(), before);
    assert_eq!(gt.wait().unwrap(), 3);
}

#[test]
fn timeout_unwinding_runs_destructors_and_is_reported_by_wait() {
    let drops = DropCounter::new();
    let token = drops.token();
    let gt = green::spawn(move || {
        let _t = green::Timeout::new(ms(1));
        let _token = token;
        green::sleep(Duration::from_secs(3600));
    });
    let err = gt.wait().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn nested_with_timeout_keeps_identity_of_the_inner_timeout() {
    // The inner timeout expires first: the inner with_timeout converts it, the outer does not see it.
    let r = green::with_timeout(Duration::from_secs(5), || {
        green::with_timeout(ms(1), || green::sleep(Duration::from_secs(5)))
    });
    let inner = r.expect("the outer timeout did not fire");
    assert!(inner.unwrap_err().is_timeout());
}

#[test]
fn timeout_of_a_runnable_greenthread_fires_at_its_next_green_call() {
    let log: Log<&str> = Log::new();
    let l = log.clone();
    let gt = green::spawn(move || {
        green::with_timeout(Duration::ZERO, || {
            // Busy without green calls: the expiry waits for the next one.
            let t0 = std::time::Instant::now();
            while t0.elapsed() < ms(2) {}
            l.push("still running");
            green::sleep(Duration::ZERO);
            l.push("unreachable");
        })
    });
    assert!(gt.wait().unwrap().unwrap_err().is_timeout());
    assert_eq!(log.get(), ["still running"]);
}

#[test]
fn a_cancelled_timeout_never_interrupts() {
    let t = green::Timeout::new(Duration::ZERO);
    t.cancel();
    green::sleep(ms(1));
    assert!(!t.is_pending());
    assert!(!t.has_expired());
}

#[test]
fn a_semaphore_permit_granted_to_a_killed_waiter_is_not_lost() {
    let sem = green::Semaphore::new(0);
    let (s1, s2) = (sem.clone(), sem.clone());
    let a = green::spawn(move || {
        let _permit = s1.guard();
        green::sleep(Duration::from_secs(3600));
    });
    let b = green::spawn(move || {
        s2.acquire();
        "b got it"
    });
    yield_now();
    sem.release(); // handed to `a`, first in line, which is woken ...
    a.kill(); // ... and killed before it resumes: its acquire unwinds and passes the permit on
    assert_eq!(b.wait().unwrap(), "b got it");
    assert!(a.wait().unwrap_err().is_killed());
}

/// DESIGN §3: a timeout's unwind swallowed by a user's `catch_unwind` (its guard still alive) is
/// delivered again at the next green call, as a kill's is.
#[test]
fn a_timeout_swallowed_by_catch_unwind_is_delivered_again_at_the_next_green_call() {
    let log: Log<&str> = Log::new();
    let l = log.clone();
    let r = green::with_timeout(ms(5), move || {
        let r = catch_unwind(AssertUnwindSafe(|| green::sleep(Duration::from_secs(3600))));
        l.push(if r.is_err() { "caught" } else { "slept" });
        green::sleep(Duration::ZERO);
        l.push("unreachable");
    });
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(log.get(), ["caught"]);
}
