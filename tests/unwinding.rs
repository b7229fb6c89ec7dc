//! Unwinding is tracked per greenthread: a kill or timeout is never deferred because *another*
//! greenthread is parked mid-unwind, and never thrown into a destructor that is already
//! unwinding, however that unwind started (a runtime throw, a panic through the runtime's hook,
//! `resume_unwind` with no hook, a user hook that replaced the runtime's).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use crate::util::*;

/// A guard whose destructor waits on an event: a greenthread killed while holding it stays
/// parked mid-unwind until the event is sent.
struct WaitOnDrop(Rc<green::Event<()>>);

impl Drop for WaitOnDrop {
    fn drop(&mut self) {
        self.0.wait();
    }
}

/// Spawns a greenthread that is killed and stays parked in a destructor, mid-unwind, until the
/// returned event is sent.
fn park_one_mid_unwind() -> (green::GreenThread<()>, Rc<green::Event<()>>) {
    let release = Rc::new(green::Event::new());
    let guard = WaitOnDrop(release.clone());
    let y = green::Builder::new().name("unwinding").spawn(move || {
        let _g = guard;
        green::sleep(Duration::from_secs(3600));
    });
    yield_now();
    y.kill();
    assert!(!y.is_finished(), "the victim is parked in its destructor");
    assert!(std::thread::panicking(), "the parked unwind keeps the thread's panic count up");
    (y, release)
}

#[test]
fn a_timeout_is_not_deferred_while_another_greenthread_is_parked_mid_unwind() {
    let (y, release) = park_one_mid_unwind();
    let x = green::spawn(|| {
        // A timeout caught earlier and a panic caught earlier leave nothing behind.
        assert!(green::with_timeout(ms(1), || green::sleep(Duration::from_secs(5))).unwrap_err().is_timeout());
        assert!(catch_unwind(|| panic!("caught by the user")).is_err());
        timed(|| green::with_timeout(ms(10), || green::sleep(Duration::from_secs(2))))
    });
    let (r, took) = x.join().unwrap();
    assert!(r.unwrap_err().is_timeout(), "the timeout was delivered");
    assert!(took < Duration::from_secs(1), "delivered when due, not after the 2 s sleep: {took:?}");
    release.send(()).unwrap();
    assert!(y.wait().unwrap_err().is_killed());
    assert!(!std::thread::panicking());
}

#[test]
fn a_kill_is_not_deferred_while_another_greenthread_is_parked_mid_unwind() {
    let (y, release) = park_one_mid_unwind();
    let log: Log<&str> = Log::new();
    let l = log.clone();
    let x = green::spawn(move || {
        // A timeout swallowed by the user's catch_unwind leaves nothing behind.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _t = green::Timeout::new(ms(1));
            green::sleep(Duration::from_secs(5));
        }));
        l.push("sleeping");
        green::sleep(Duration::from_secs(3600));
        l.push("unreachable");
    });
    while log.len() == 0 {
        green::sleep(ms(1));
    }
    assert_eq!(log.get(), ["sleeping"]);
    x.kill();
    assert!(x.is_finished(), "the kill unwound x at once");
    assert!(x.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), ["sleeping"]);
    release.send(()).unwrap();
    assert!(y.wait().unwrap_err().is_killed());
}

/// The one case the runtime cannot decide (module docs of `greenthread.rs`): a greenthread that
/// caught its own panic while another greenthread was parked mid-unwind. The thread's panic
/// count cannot tell the two apart, so a kill waits (never aborts) until the other unwind ends,
/// then comes at the next green call.
#[test]
fn a_kill_after_a_user_caught_panic_during_another_unwind_waits_for_that_unwind_to_end() {
    let (y, release) = park_one_mid_unwind();
    let log: Log<&str> = Log::new();
    let l = log.clone();
    let x = green::spawn(move || {
        let _ = catch_unwind(|| panic!("caught by the user"));
        l.push("looping");
        loop {
            green::sleep(ms(1));
        }
    });
    green::sleep(ms(3));
    x.kill();
    release.send(()).unwrap();
    assert!(y.wait().unwrap_err().is_killed());
    let (r, took) = timed(|| x.wait());
    assert!(r.unwrap_err().is_killed());
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(log.get(), ["looping"]);
}

#[test]
fn a_kill_swallowed_while_another_greenthread_unwinds_is_delivered_at_the_next_green_call() {
    let (y, release) = park_one_mid_unwind();
    let log: Log<&str> = Log::new();
    let l = log.clone();
    let x = green::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(|| green::sleep(Duration::from_secs(3600))));
        l.push(if r.is_err() { "caught" } else { "slept" });
        drop(r);
        green::sleep(Duration::ZERO);
        l.push("unreachable");
    });
    yield_now();
    x.kill();
    assert!(x.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), ["caught"]);
    release.send(()).unwrap();
    assert!(y.wait().unwrap_err().is_killed());
}

#[test]
fn condvar_notify_one_wakes_exactly_one_waiter_while_another_greenthread_unwinds() {
    let (y, release) = park_one_mid_unwind();
    let state = Rc::new((green::Mutex::new(0u32), green::Condvar::new()));
    let woken = Rc::new(std::cell::Cell::new(0));
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let (s, w) = (state.clone(), woken.clone());
            green::spawn(move || {
                let g = s.0.lock();
                let _g = s.1.wait(g);
                w.set(w.get() + 1);
            })
        })
        .collect();
    yield_now();
    state.1.notify_one();
    green::sleep(ms(5));
    assert_eq!(woken.get(), 1, "one notification, one waiter");
    assert_eq!(state.1.waiting(), 1);
    state.1.notify_one();
    for w in waiters {
        w.join().unwrap();
    }
    release.send(()).unwrap();
    assert!(y.wait().unwrap_err().is_killed());
}

#[test]
fn a_std_mutex_used_within_a_slice_is_not_poisoned_while_another_greenthread_unwinds() {
    let m = std::sync::Arc::new(std::sync::Mutex::new(0));
    let (y, release) = park_one_mid_unwind();
    let m2 = m.clone();
    green::spawn(move || {
        *m2.lock().unwrap() += 1;
        green::sleep(ms(1));
        *m2.lock().unwrap() += 1;
    })
    .join()
    .unwrap();
    release.send(()).unwrap();
    assert!(y.wait().unwrap_err().is_killed());
    assert!(!m.is_poisoned());
    assert_eq!(*m.lock().unwrap(), 2);
}

/// A guard whose destructor sleeps (a timed green call made while unwinding).
struct SleepOnDrop(Log<&'static str>);

impl Drop for SleepOnDrop {
    fn drop(&mut self) {
        self.0.push("drop start");
        green::sleep(ms(20));
        self.0.push("drop end");
    }
}

/// Kills a greenthread while its destructor sleeps during an unwind started by `start`; the
/// kill must wait for the destructor and come back at the next green call after the catch.
fn kill_during_an_unwinding_destructor(start: fn()) {
    let log: Log<&'static str> = Log::new();
    let l = log.clone();
    let gt = green::spawn(move || {
        let guard = SleepOnDrop(l.clone());
        let r = catch_unwind(AssertUnwindSafe(move || {
            let _g = guard;
            start();
        }));
        l.push(if r.is_err() { "caught" } else { "returned" });
        green::sleep(Duration::ZERO);
        l.push("unreachable");
    });
    yield_now();
    assert_eq!(log.get(), ["drop start"]);
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), ["drop start", "drop end", "caught"]);
}

fn start_with_resume_unwind() {
    resume_unwind(Box::new("no hook runs"));
}

fn start_with_a_replaced_hook() {
    // A user hook that replaces rather than chains the runtime's (process-wide: child only).
    std::panic::set_hook(Box::new(|_| {}));
    panic!("the runtime's hook does not see this");
}

#[test]
fn a_kill_during_a_destructor_unwinding_from_resume_unwind_does_not_abort() {
    let (status, out, err) = run_child("unwinding::kill_resume_unwind_child");
    assert!(status.success(), "child failed ({status}): {out}\n{err}");
    assert!(out.contains("kill_resume_unwind_child ok"), "{out}");
}

#[test]
#[ignore = "run as a child process by a_kill_during_a_destructor_unwinding_from_resume_unwind_does_not_abort"]
fn kill_resume_unwind_child() {
    if !is_child("unwinding::kill_resume_unwind_child") {
        return;
    }
    kill_during_an_unwinding_destructor(start_with_resume_unwind);
    // And at thread exit: the teardown kill reaches a greenthread parked in such a destructor.
    let seen = std::thread::spawn(|| {
        let log: Log<&'static str> = Log::new();
        let l = log.clone();
        green::spawn(move || {
            let _g = SleepOnDrop(l);
            resume_unwind(Box::new(1));
        });
        yield_now();
        // The thread ends with the greenthread parked in its destructor's sleep.
        log.get()
    })
    .join()
    .unwrap();
    assert_eq!(seen, ["drop start"]);
    println!("kill_resume_unwind_child ok");
}

#[test]
fn a_kill_during_a_destructor_unwinding_under_a_replaced_panic_hook_does_not_abort() {
    let (status, out, err) = run_child("unwinding::kill_replaced_hook_child");
    assert!(status.success(), "child failed ({status}): {out}\n{err}");
    assert!(out.contains("kill_replaced_hook_child ok"), "{out}");
}

#[test]
#[ignore = "run as a child process by a_kill_during_a_destructor_unwinding_under_a_replaced_panic_hook_does_not_abort"]
fn kill_replaced_hook_child() {
    if !is_child("unwinding::kill_replaced_hook_child") {
        return;
    }
    kill_during_an_unwinding_destructor(start_with_a_replaced_hook);
    println!("kill_replaced_hook_child ok");
}
