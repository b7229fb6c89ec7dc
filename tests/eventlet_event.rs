//! Ports of eventlet's `tests/event_test.py` and `tests/test__event.py`.
//!
//! eventlet's `send(exc=...)` is a send of `Err(...)` on an `Event<Result<T, E>>`, and its
//! `AssertionError` on a second send or a fresh reset is the `Err` of `send` and `reset`.

use std::rc::Rc;
use std::time::Duration;

use green::event::{AlreadySent, NotSent};
use green::{Event, Timeout};

use crate::util::*;

// eventlet: tests/event_test.py TestEvent.test_waiting_for_event
#[test]
fn wait_returns_the_value_sent_by_another_greenthread() {
    let evt = Event::new();
    let value = "some stuff";
    let e = evt.clone();
    green::spawn_n(move || e.send(value).unwrap());
    assert_eq!(evt.wait(), value);
}

/// eventlet's `_test_multiple_waiters(exception)`.
fn multiple_waiters(exception: bool) {
    let evt: Event<()> = Event::new();
    let results: Log<bool> = Log::new();
    let count = 5;
    let mut waiters = Vec::new();
    for _ in 0..count {
        let i_am_done: Event<()> = Event::new();
        waiters.push(i_am_done.clone());
        let (evt, results) = (evt.clone(), results.clone());
        green::spawn_n(move || {
            evt.wait();
            results.push(true);
            i_am_done.send(()).unwrap();
            if exception {
                panic!("waiter raises after signalling done");
            }
        });
    }
    green::sleep(Duration::ZERO); // allow the spawns to start executing
    evt.send(()).unwrap();
    for w in &waiters {
        w.wait();
    }
    assert_eq!(results.len(), count);
}

// eventlet: tests/event_test.py TestEvent.test_multiple_waiters
#[test]
fn every_waiter_resumes_after_one_send() {
    multiple_waiters(false);
}

// eventlet: tests/event_test.py TestEvent.test_multiple_waiters_with_exception
// (the waiters' exceptions are panics, which the hub only reports.)
#[test]
fn every_waiter_resumes_after_one_send_even_if_they_then_panic() {
    green::debug::hub_exceptions(false);
    multiple_waiters(true);
    let log = green::debug::hub_exception_log();
    assert_eq!(log.iter().filter(|l| l.contains("waiter raises after signalling done")).count(), 5, "{log:?}");
}

// eventlet: tests/event_test.py TestEvent.test_reset
#[test]
fn reset_makes_a_sent_event_sendable_again() {
    let evt = Event::new();
    // Calling reset before send is an error.
    assert_eq!(evt.reset(), Err(NotSent));

    let value = "some stuff";
    let e = evt.clone();
    green::spawn_n(move || e.send(value).unwrap());
    assert_eq!(evt.wait(), value);

    // Waiting again gives the same value, and sending again without a reset is an error.
    let value2 = "second stuff";
    assert_eq!(evt.send(value2), Err(AlreadySent(value2)));
    assert_eq!(evt.wait(), value);

    // After a reset everything works again.
    evt.reset().unwrap();
    let e = evt.clone();
    green::spawn_n(move || e.send(value2).unwrap());
    assert_eq!(evt.wait(), value2);
}

// eventlet: tests/event_test.py TestEvent.test_double_exception
// (eventlet arms `Timeout(0.001)` for the rest of the test; here `with_timeout` guards the wait.)
#[test]
fn after_reset_a_sent_error_is_gone() {
    let evt: Event<Result<(), String>> = Event::new();
    // Send an error through the event.
    evt.send(Err("from test_double_exception".into())).unwrap();
    assert_eq!(evt.wait(), Err("from test_double_exception".to_string()));
    evt.reset().unwrap();
    // The error is not seen again: the wait times out.
    let r = green::with_timeout(ms(1), || evt.wait());
    assert!(r.unwrap_err().is_timeout());
}

// eventlet: tests/event_test.py test_wait_timeout_ok
#[test]
fn wait_timeout_returns_the_value_sent_in_time() {
    let evt = Event::new();
    let delay = ms(100);
    let e = evt.clone();
    green::spawn_after(delay, move || e.send(true).unwrap());
    let t1 = green::time::now();
    // eventlet's `with Timeout(delay * 3, False)`: a silent timeout.
    let _ = Timeout::new(delay * 3).call(|| {
        let result = evt.wait_timeout(delay * 2);
        let td = green::time::now() - t1;
        assert_eq!(result, Some(true));
        assert!(td >= delay, "{td:?}");
    });
}

// eventlet: tests/event_test.py test_wait_timeout_exceed
// (eventlet's silent `Timeout(delay, False)` has the same delay as the wait and is armed first, so
// it fires first and skips the asserts; here it is armed with 10 × delay so the asserts run, and
// the call must have returned normally. The late sender comes after 10 × delay instead of 2 ×, so
// that a stall of the test thread cannot let it come first; it is killed at the end.)
#[test]
fn wait_timeout_returns_none_when_nothing_was_sent_in_time() {
    let evt = Event::new();
    let delay = ms(100);
    let e = evt.clone();
    let sender = green::spawn_after(delay * 10, move || e.send(true).unwrap());
    let t1 = green::time::now();
    let r = Timeout::new(delay * 10).call(|| {
        let result = evt.wait_timeout(delay);
        let td = green::time::now() - t1;
        assert_eq!(result, None);
        assert!(td >= delay, "{td:?}");
    });
    assert!(r.is_ok(), "the wait timed out by raising instead of returning None");
    sender.kill();
}

/// eventlet's `Exception()` object sent through the event: compared by identity.
#[derive(Debug)]
struct Exception;

// eventlet: tests/test__event.py TestEvent.test_send_exc
#[test]
fn a_sent_error_reaches_the_waiter_as_the_same_object() {
    let log: Log<(&'static str, Rc<Exception>)> = Log::new();
    let e: Event<Result<&'static str, Rc<Exception>>> = Event::new();
    let (ev, l) = (e.clone(), log.clone());
    green::spawn(move || match ev.wait() {
        Ok(_) => l.push(("received", Rc::new(Exception))),
        Err(ex) => l.push(("catched", ex)),
    });
    green::sleep(Duration::ZERO); // let the waiter block on e.wait()
    let obj = Rc::new(Exception);
    e.send(Err(obj.clone())).unwrap();
    green::sleep(Duration::ZERO);
    green::sleep(Duration::ZERO);
    let got = log.get();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "catched");
    assert!(Rc::ptr_eq(&got[0].1, &obj), "a different object was delivered");
}

// eventlet: tests/test__event.py TestEvent.test_send
// (eventlet's `Timeout(0, ValueError('interrupted'))` armed before `event1.wait()` is
// `with_timeout(Duration::ZERO, || event1.wait())`: the send lands in the same pass as the zero
// timeout, and its wake-up comes after the timeout, so the wait is interrupted. eventlet's
// `with_timeout(DELAY, event2.wait, timeout_value=X)` is `with_timeout(..).unwrap_or(X)`.)
#[test]
fn a_zero_timeout_armed_before_the_wait_beats_a_send_from_a_greenthread() {
    let event1 = Event::new();
    let event2: Event<&'static str> = Event::new();
    let e1 = event1.clone();
    green::spawn(move || e1.send("hello event1").unwrap());
    let r = green::with_timeout(Duration::ZERO, || event1.wait());
    let err = r.expect_err("the wait was not interrupted by the zero timeout");
    assert!(err.is_timeout(), "{err}");
    let x = "X";
    let result = green::with_timeout(ms(10), || event2.wait()).unwrap_or(x);
    assert_eq!(result, x, "nobody sent anything to event2 yet it received {result:?}");
}
