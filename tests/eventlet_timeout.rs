//! Ports of eventlet's `tests/timeout_test.py` and `tests/timeout_with_statement_test.py`.
//!
//! eventlet's `with Timeout(t) as tm:` block is a `Timeout::new(t)` guard that lives for the
//! block, or `Timeout::new(t).call(|| block)`, which returns `Err` (`is_timeout()`) only when this
//! very timeout expired inside: that is eventlet's "the caught exception is tm". A silent
//! `Timeout(t, False)` is a `call` whose `Err` is ignored. A timeout with a custom exception is a
//! `call` whose `Err` the caller maps to its own error. `t.pending` is `is_pending()`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use green::Timeout;

use crate::util::*;

/// eventlet's `DELAY` in both files.
const DELAY: Duration = Duration::from_millis(10);

// eventlet: tests/timeout_test.py TestDirectRaise.test_repr
// (`repr`/`str` are `Debug` of the guard and `Display`/`Debug` of the error it produces. Rust has
// no `Timeout(None)`, a timeout that never fires; `Duration::MAX` stands for it.)
#[test]
fn formatting_timeouts_and_their_errors_does_not_fail() {
    let tm = Timeout::new(Duration::from_secs(1));
    green::sleep(Duration::ZERO);
    assert!(format!("{tm:?}").contains("Timeout"));
    tm.cancel();
    assert!(format!("{tm:?}").contains("Timeout"));
    let never = Timeout::new(Duration::MAX);
    assert!(format!("{never:?}").contains("Timeout"));
    let err = green::with_timeout(ms(1), || green::sleep(Duration::from_secs(1))).unwrap_err();
    assert!(err.to_string().contains("timed out: its timeout of 1ms expired"), "{err}");
    assert!(format!("{err:?}").contains("timed out"), "{err:?}");
}

// eventlet: tests/timeout_test.py TestWithTimeout.test_with_timeout
// (eventlet's `timeout_value=X` is `unwrap_or(X)` on the result. In the last case, where the
// function must win, eventlet's timeout is 10 × DELAY; here it is 1 s, so that a stall of the test
// thread cannot let it fire first; the function returns after DELAY either way.)
#[test]
fn with_timeout_errs_on_expiry_and_returns_the_value_otherwise() {
    let r = green::with_timeout(DELAY, || green::sleep(DELAY * 10));
    assert!(r.unwrap_err().is_timeout());
    let x = "X";
    let r = green::with_timeout(DELAY, || {
        green::sleep(DELAY * 10);
        "slept"
    })
    .unwrap_or(x);
    assert_eq!(r, x);
    let r = green::with_timeout(Duration::from_secs(1), || green::sleep(DELAY));
    assert_eq!(r.unwrap(), ());
}

// eventlet: tests/timeout_test.py TestWithTimeout.test_with_outer_timer
#[test]
fn an_inner_with_timeout_does_not_catch_the_outer_timeout() {
    let longer_timeout = || {
        // This must not catch the outer timeout.
        green::with_timeout(DELAY * 10, || {
            green::sleep(DELAY * 20);
            "slept"
        })
        .unwrap_or("b")
    };
    let r = green::with_timeout(DELAY, longer_timeout);
    assert!(r.unwrap_err().is_timeout());
}

// eventlet: tests/timeout_test.py test_is_timeout_attribute
// (eventlet's `is_timeout(obj)` is `Error::is_timeout()`; the io::Error form says `TimedOut`.)
#[test]
fn the_error_of_a_timeout_says_it_is_a_timeout() {
    let err = green::with_timeout(Duration::ZERO, || green::sleep(Duration::from_secs(1))).unwrap_err();
    assert!(err.is_timeout());
    assert!(!err.is_killed() && !err.is_panic() && !err.is_closed());
    assert_eq!(err.into_io().kind(), std::io::ErrorKind::TimedOut);
}

// eventlet: tests/timeout_with_statement_test.py Test.test_cancellation
// (eventlet's timeout is 2 × DELAY around a DELAY sleep; here it is 20 × DELAY, so that a stall of
// the test thread between arming it and starting the sleep cannot let it fire first. The block
// ends with the sleep, so the test is not slower.)
#[test]
fn a_timeout_whose_block_finishes_first_is_cancelled_and_never_fires() {
    let t = Timeout::new(DELAY * 20);
    green::sleep(Duration::ZERO); // make it pending
    assert!(t.is_pending());
    // `with t:`
    assert!(t.is_pending());
    green::sleep(DELAY);
    t.cancel(); // leaving the block
                // Check that the timer was actually cancelled.
    assert!(!t.is_pending());
    green::sleep(DELAY * 2);
    assert!(!t.has_expired());

    // The same block as a `call`, which cancels the timeout when the block returns.
    let t = Timeout::new(DELAY * 20);
    green::sleep(Duration::ZERO);
    assert!(t.is_pending());
    assert!(t.call(|| green::sleep(DELAY)).is_ok());
    green::sleep(DELAY * 2); // nothing fires late
}

// eventlet: tests/timeout_with_statement_test.py Test.test_raising_self
#[test]
fn the_error_caught_is_the_timeout_itself() {
    let r = Timeout::new(DELAY).call(|| green::sleep(DELAY * 2));
    let err = r.expect_err("must time out");
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains(&format!("{DELAY:?}")), "{err}");
}

// eventlet: tests/timeout_with_statement_test.py Test.test_raising_self_true
// (eventlet's `Timeout(DELAY, True)` raises the timeout itself, like the default.)
#[test]
fn the_error_caught_is_the_timeout_itself_when_asked_explicitly() {
    let t = Timeout::new(DELAY);
    let r = t.call(|| green::sleep(DELAY * 2));
    assert!(r.expect_err("must time out").is_timeout());
}

// eventlet: tests/timeout_with_statement_test.py Test.test_raising_custom_exception
// (adapted: the custom exception is the caller's own error, made from the timeout's `Err`.)
#[test]
fn a_timeout_can_surface_as_a_custom_error() {
    let r: Result<(), std::io::Error> = Timeout::new(DELAY)
        .call(|| green::sleep(DELAY * 2))
        .map_err(|_| std::io::Error::other("Operation takes way too long"));
    assert_eq!(r.unwrap_err().to_string(), "Operation takes way too long");
}

/// eventlet's `ValueError` and `ZeroDivisionError` exception classes.
#[derive(Debug, PartialEq)]
enum PyError {
    ValueError,
    ZeroDivisionError,
}

// eventlet: tests/timeout_with_statement_test.py Test.test_raising_exception_class
// (adapted as above, with an error "class".)
#[test]
fn a_timeout_can_surface_as_a_custom_error_kind() {
    let r = Timeout::new(DELAY).call(|| green::sleep(DELAY * 2)).map_err(|_| PyError::ValueError);
    assert_eq!(r, Err(PyError::ValueError));
}

// eventlet: tests/timeout_with_statement_test.py Test.test_raising_exc_tuple
// (adapted: eventlet arms the timeout, while handling a ZeroDivisionError, with that error's
// class; here the block runs while handling a caught panic, and the timeout surfaces as the
// handled error's kind.)
#[test]
fn a_timeout_can_surface_as_the_error_being_handled() {
    let zero = std::hint::black_box(0u32);
    let handled = catch_unwind(|| 1 / zero).map_err(|_| PyError::ZeroDivisionError);
    let Err(kind) = handled else { panic!("should not get there") };
    let r = Timeout::new(DELAY).call(|| {
        green::sleep(DELAY * 2);
        panic!("should not get there");
    });
    assert_eq!(r.map_err(|_| kind), Err(PyError::ZeroDivisionError));
}

// eventlet: tests/timeout_with_statement_test.py Test.test_cancel_timer_inside_block
#[test]
fn a_timeout_cancelled_inside_its_block_does_not_fire() {
    let timer = Timeout::new(DELAY);
    timer.cancel();
    let r = catch_unwind(AssertUnwindSafe(|| green::sleep(DELAY * 2)));
    assert!(r.is_ok());
    drop(timer);
}

// eventlet: tests/timeout_with_statement_test.py Test.test_silent_block
// (eventlet asserts the block took less than its 0.2 s sleep. Upper bounds that tight are not
// asserted here: the sleep is 10 s and the bound 5 s, and the timeout is 50 ms, so the test stays
// fast; the lower bound says it did not fire early.)
#[test]
fn a_silent_timeout_ends_its_block_without_an_error() {
    let xdelay = ms(50);
    let start = Instant::now();
    let _ = Timeout::new(xdelay).call(|| green::sleep(Duration::from_secs(10)));
    let delta = start.elapsed();
    assert!(delta >= xdelay, "{delta:?}");
    assert!(delta < Duration::from_secs(5), "{delta:?}");
}

// eventlet: tests/timeout_with_statement_test.py Test.test_dummy_timer
// (eventlet's `Timeout(None)` never fires; `Duration::MAX` stands for it.)
#[test]
fn a_timeout_that_never_fires_does_not_interrupt() {
    let r = Timeout::new(Duration::MAX).call(|| green::sleep(DELAY));
    assert!(r.is_ok());
    green::sleep(DELAY);
}

// eventlet: tests/timeout_with_statement_test.py Test.test_nested_timeout
// (parts (b) and (c) catch the expiry inside the inner block with `catch_unwind`, as eventlet's
// `except Timeout as ex` does; "ex is t1" is "t1 has expired" and "t2 has not". The swallowed
// expiry stays pending on the greenthread until its guard is gone, so no green call is made until
// the guards are dropped. In (c) the outer timeout is 20 × DELAY instead of 2 × DELAY, so that a
// stall between arming t1 and t2 cannot let t1 fire first; it is cancelled, so this costs nothing.)
#[test]
fn nested_timeouts_keep_their_identity() {
    // (a) Nested silent timeouts: nothing escapes the outer block.
    let r = Timeout::new(DELAY).call(|| {
        let _ = Timeout::new(DELAY * 2).call(|| green::sleep(DELAY * 3));
        panic!("should not get there");
    });
    assert!(r.unwrap_err().is_timeout());

    // (b) The outer timeout is the shorter one: the caught expiry is t1's.
    {
        let t1 = Timeout::new(DELAY);
        {
            let t2 = Timeout::new(DELAY * 2);
            let ex = catch_unwind(AssertUnwindSafe(|| green::sleep(DELAY * 3)));
            assert!(ex.is_err(), "the sleep was not interrupted");
            assert!(t1.has_expired(), "the caught timeout is not t1");
            assert!(!t2.has_expired());
            assert!(!t1.is_pending());
            assert!(t2.is_pending());
            t2.cancel(); // leaving the inner block
            assert!(!t2.is_pending());
        }
        drop(t1);
    }
    green::sleep(Duration::ZERO); // nothing left to deliver

    // (c) The inner timeout is the shorter one: the caught expiry is t2's.
    {
        let t1 = Timeout::new(DELAY * 20);
        {
            let t2 = Timeout::new(DELAY);
            let ex = catch_unwind(AssertUnwindSafe(|| green::sleep(DELAY * 3)));
            assert!(ex.is_err(), "the sleep was not interrupted");
            assert!(t2.has_expired(), "the caught timeout is not t2");
            assert!(!t1.has_expired());
            assert!(t1.is_pending());
            assert!(!t2.is_pending());
        }
        t1.cancel(); // leaving the outer block
        assert!(!t1.is_pending());
    }
    green::sleep(Duration::ZERO);
}

// eventlet: tests/api_test.py test_nested_with_timeout — with_timeout(0.1, f) where f is
// with_timeout(0.2, sleep 2, timeout_value=1): the outer timeout is raised (the inner one's
// fallback value is not used for the outer expiry).
#[test]
fn an_outer_with_timeout_fires_through_an_inner_one_with_a_fallback() {
    let r = green::with_timeout(ms(10), || {
        green::with_timeout(ms(20), || green::sleep(Duration::from_secs(2))).unwrap_or_default()
    });
    assert!(r.unwrap_err().is_timeout());
}
