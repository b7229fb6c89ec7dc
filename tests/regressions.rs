//! Regression tests, each named after what it guards (found in review of the runtime core).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::util::*;

/// A greenthread parked in a destructor while unwinding must not stop kills of others.
#[test]
fn kill_is_delivered_while_another_greenthread_unwinds_in_a_destructor() {
    struct SlowDrop;
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            green::sleep(ms(30));
        }
    }
    let a = green::spawn(|| {
        let _s = SlowDrop;
        green::sleep(Duration::from_secs(3600));
    });
    let b = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    yield_now();
    a.kill(); // `a` is now parked inside SlowDrop::drop, mid-unwind
    let (_, took) = timed(|| {
        b.kill();
        assert!(b.wait().unwrap_err().is_killed());
    });
    assert!(took < Duration::from_secs(60), "the kill of b was held back for {took:?}");
    assert!(a.wait().unwrap_err().is_killed());
}

/// A timer handle from before `hub::shutdown` must not name a timer created after it.
#[test]
fn timer_handles_from_before_shutdown_stay_stale() {
    on_fresh_thread(|| {
        let old = green::hub::schedule_call_global(Duration::from_secs(5), || {});
        let timeout = green::Timeout::new(Duration::from_secs(5));
        let _ = green::hub::shutdown();
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        let new = green::hub::schedule_call_global(Duration::ZERO, move || f.set(true));
        let gt = green::spawn(|| 1);
        old.cancel();
        drop(timeout);
        assert!(!old.is_pending());
        assert!(new.is_pending());
        assert_eq!(gt.wait().unwrap(), 1);
        assert!(fired.get());
    });
}

/// Links run after a kill may block (DESIGN: links are not hub context, a link may sleep).
#[test]
fn links_of_a_killed_greenthread_may_block() {
    green::debug::hub_exceptions(false);
    let log: Log<&str> = Log::new();
    let l = log.clone();
    let gt = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    gt.link(move |_| {
        green::sleep(ms(1));
        l.push("link slept");
    });
    yield_now();
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    green::sleep(ms(5));
    assert_eq!(log.get(), ["link slept"]);
}

/// A destructor that polls in a loop must not hang teardown.
#[test]
fn teardown_with_a_polling_destructor_terminates() {
    on_fresh_thread(|| {
        struct Poller(Rc<Cell<bool>>);
        impl Drop for Poller {
            fn drop(&mut self) {
                while !self.0.get() {
                    green::sleep(ms(1));
                }
            }
        }
        let flag = Rc::new(Cell::new(false));
        let p = Poller(flag.clone());
        green::spawn(move || {
            let _p = p;
            green::sleep(Duration::from_secs(3600));
        });
        yield_now();
        let report = green::hub::shutdown();
        assert_eq!(report.leaked, 1, "{report:?}");
        assert!(report.hub_context_panics.iter().any(|l| l.contains("is leaked")), "{report:?}");
    });
}

/// A skipped `spawn_after_local` finishes its greenthread as killed, on its own stack: waiters
/// wake, links run outside hub context.
#[test]
fn skipped_spawn_after_local_wakes_waiters_and_runs_links_outside_hub_context() {
    let log: Log<bool> = Log::new();
    let l = log.clone();
    let outer = green::spawn(move || {
        let inner = green::spawn_after_local(ms(1), || 5);
        inner.link(move |_| l.push(green::hub::in_hub_context()));
        inner
    });
    let inner = outer.join().unwrap();
    assert!(inner.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), [false]);
}

/// Waiters of a greenthread leaked at teardown never take hand-offs afterwards.
#[test]
fn primitives_outliving_the_hub_skip_leaked_waiters() {
    on_fresh_thread(|| {
        let sem = green::Semaphore::new(0);
        let never: green::Event<()> = green::Event::new();
        struct WaitOnDrop(green::Event<()>, green::Semaphore);
        impl Drop for WaitOnDrop {
            fn drop(&mut self) {
                self.1.acquire(); // parks for ever during teardown
                self.0.wait();
            }
        }
        let w = WaitOnDrop(never.clone(), sem.clone());
        green::spawn(move || {
            let _w = w;
            green::sleep(Duration::from_secs(3600));
        });
        yield_now();
        let report = green::hub::shutdown();
        assert_eq!(report.leaked, 1);
        sem.release();
        assert_eq!(sem.count(), 1, "the permit went to the leaked waiter");
        assert!(sem.try_acquire());
    });
}

/// `Event::reset` drops the old value outside its borrow (the value's destructor may use the event).
#[test]
fn event_reset_drops_the_value_outside_its_borrow() {
    struct Peek(green::Event<Peek>);
    impl Clone for Peek {
        fn clone(&self) -> Self {
            Peek(self.0.clone())
        }
    }
    impl Drop for Peek {
        fn drop(&mut self) {
            let _ = self.0.ready();
        }
    }
    let ev: green::Event<Peek> = green::Event::new();
    ev.send(Peek(ev.clone())).unwrap_or_else(|_| panic!("fresh event"));
    ev.reset().unwrap();
    assert!(!ev.ready());
}

/// Cancelling a timer whose slot was reused after a stale ready key keeps the stats consistent.
#[test]
fn timer_stats_stay_consistent_after_slot_reuse() {
    on_fresh_thread(|| {
        let t = green::hub::schedule_call_global(Duration::ZERO, || {});
        t.cancel();
        let u = green::hub::schedule_call_global(Duration::from_secs(60), || {});
        yield_now();
        u.cancel();
        yield_now();
        let s = green::hub::timer_stats();
        assert!(s.queued >= s.cancelled, "{s:?}");
    });
}
