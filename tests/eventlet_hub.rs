//! Ports of eventlet's `tests/hub_test.py` and `tests/timer_test.py` (the cases that need no fds,
//! listeners, blocking detection, subprocesses or fork).
//!
//! eventlet's `hub.get_timers_count()` and `hub.timers_canceled` are `green::hub::timer_stats()`'s
//! `queued` and `cancelled`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::hub::{schedule_call_global, schedule_call_local, timer_stats, TimerHandle};

use crate::util::*;

/// eventlet's `DELAY` in hub_test.py.
const DELAY: Duration = Duration::from_millis(1);
const SIXTY_SECONDS: Duration = Duration::from_secs(60);

fn noop() {}

// eventlet: tests/hub_test.py TestTimerCleanup.test_cancel_immediate
#[test]
fn cancelling_timers_immediately_keeps_the_queues_compact() {
    let start = timer_stats();
    for _ in 0..2000 {
        let t = schedule_call_global(SIXTY_SECONDS, noop);
        t.cancel();
        let s = timer_stats();
        assert!(s.cancelled <= s.queued + 1, "{s:?}");
    }
    // Fewer than 1000 new queued entries and cancelled ones: compaction bounds memory.
    let s = timer_stats();
    assert!(s.queued <= 1000 + start.queued, "{s:?}");
    assert!(s.cancelled <= 1000, "{s:?}");
}

// eventlet: tests/hub_test.py TestTimerCleanup.test_cancel_accumulated
// (eventlet's `sleep()` lets the timer reach the heap; here a 60 s timer is in the heap at once,
// and the `sleep(0)` runs a hub pass between scheduling and cancelling, as in eventlet.)
#[test]
fn cancelling_timers_after_a_hub_pass_keeps_the_queues_compact() {
    let start = timer_stats();
    for _ in 0..2000 {
        let t = schedule_call_global(SIXTY_SECONDS, noop);
        yield_now();
        let s = timer_stats();
        assert!(s.cancelled <= s.queued + 1, "{s:?}");
        t.cancel();
        let s = timer_stats();
        assert!(s.cancelled <= s.queued + 1, "{s:?}");
    }
    let s = timer_stats();
    assert!(s.queued <= 1000 + start.queued, "{s:?}");
    assert!(s.cancelled <= 1000, "{s:?}");
}

// eventlet: tests/hub_test.py TestTimerCleanup.test_cancel_proportion
#[test]
fn fewer_than_half_cancelled_timers_are_not_purged() {
    let start = timer_stats();
    let mut uncancelled: Vec<TimerHandle> = Vec::new();
    for _ in 0..1000 {
        // Two thirds of the new timers stay live.
        let t = schedule_call_global(SIXTY_SECONDS, noop);
        let t2 = schedule_call_global(SIXTY_SECONDS, noop);
        let t3 = schedule_call_global(SIXTY_SECONDS, noop);
        yield_now();
        let s = timer_stats();
        assert!(s.cancelled <= s.queued + 1, "{s:?}");
        t.cancel();
        let s = timer_stats();
        assert!(s.cancelled <= s.queued + 1, "{s:?}");
        uncancelled.push(t2);
        uncancelled.push(t3);
    }
    // 3000 new timers, plus a few extras.
    let s = timer_stats();
    assert!(start.queued + 3000 <= start.queued + s.queued, "{s:?}");
    assert_eq!(s.cancelled, 1000, "{s:?}");
    for t in &uncancelled {
        t.cancel();
        let s = timer_stats();
        assert!(s.cancelled <= s.queued, "{s:?}");
    }
    yield_now();
}

// eventlet: tests/hub_test.py TestScheduleCall.test_local
#[test]
fn a_local_timer_is_skipped_when_its_creator_has_exited() {
    let lst = Rc::new(RefCell::new(vec![1]));
    let l = lst.clone();
    green::spawn(move || {
        schedule_call_local(DELAY, move || {
            l.borrow_mut().pop();
        });
    });
    green::sleep(Duration::ZERO);
    green::sleep(DELAY * 2);
    assert_eq!(*lst.borrow(), [1]);
}

// eventlet: tests/hub_test.py TestScheduleCall.test_global
#[test]
fn a_global_timer_fires_after_its_creator_has_exited() {
    let lst = Rc::new(RefCell::new(vec![1]));
    let l = lst.clone();
    green::spawn(move || {
        schedule_call_global(DELAY, move || {
            l.borrow_mut().pop();
        });
    });
    green::sleep(Duration::ZERO);
    green::sleep(DELAY * 2);
    assert_eq!(*lst.borrow(), Vec::<i32>::new());
}

// eventlet: tests/hub_test.py TestScheduleCall.test_ordering
// (eventlet uses 2 ms for the late timer; 30 ms here, so that a scheduler stall between the calls
// cannot reorder the deadlines. The two equal delays fire in creation order.)
#[test]
fn timers_fire_in_deadline_order_and_fifo_for_equal_delays() {
    let lst: Log<i32> = Log::new();
    let (l1, l2, l3) = (lst.clone(), lst.clone(), lst.clone());
    schedule_call_global(ms(30), move || l3.push(3));
    schedule_call_global(DELAY, move || l1.push(1));
    schedule_call_global(DELAY, move || l2.push(2));
    while lst.len() < 3 {
        green::sleep(DELAY);
    }
    assert_eq!(lst.get(), [1, 2, 3]);
}

// eventlet: tests/hub_test.py TestDebug.test_debug_listeners
// (`hub.set_debug_listeners` is `green::debug::hub_listener_stacks`.)
#[test]
fn toggling_listener_debugging_does_not_fail() {
    green::debug::hub_listener_stacks(true);
    green::debug::hub_listener_stacks(false);
}

// eventlet: tests/hub_test.py TestDebug.test_timer_exceptions
// (`hub.set_timer_exceptions` is `green::debug::hub_exceptions`: whether exceptions in timer
// callbacks are printed.)
#[test]
fn toggling_timer_exception_printing_does_not_fail() {
    green::debug::hub_exceptions(true);
    green::debug::hub_exceptions(false);
}

// eventlet: tests/hub_test.py TestExceptionInMainloop.test_sleep
// (eventlet allows 0.9 × DELAY; timers never fire early here, so the bound is DELAY itself.
// `1 // 0` becomes a panicking callback; the hub records it and keeps running.)
#[test]
fn the_hub_keeps_working_after_a_timer_callback_panicked() {
    let start = Instant::now();
    green::sleep(DELAY);
    let delay = start.elapsed();
    assert!(delay >= DELAY, "sleep returned after {delay:?} (was scheduled for {DELAY:?})");

    let zero = Rc::new(Cell::new(0u32));
    schedule_call_global(Duration::ZERO, move || {
        let _ = 1 / zero.get();
    });

    let start = Instant::now();
    green::sleep(DELAY);
    let delay = start.elapsed();
    assert!(delay >= DELAY, "sleep returned after {delay:?} (was scheduled for {DELAY:?})");
    let log = green::debug::hub_exception_log();
    assert!(log.iter().any(|l| l.contains("divide by zero")), "{log:?}");
}

// eventlet: tests/timer_test.py TestTimer.test_schedule
// (adapted: eventlet's callback calls `hub.abort()` and the test switches to the hub; here the
// root runs the hub with `green::hub::run()`, which returns once no timer or greenthread is left.
// After it, control is back in the caller and not in hub context: eventlet's `not hub.running`.)
#[test]
fn a_zero_delay_global_timer_runs_when_the_root_runs_the_hub_and_control_returns() {
    let called: Log<bool> = Log::new();
    let c = called.clone();
    // Records whether it ran in hub context (an assert there would be caught by the hub).
    schedule_call_global(Duration::ZERO, move || c.push(green::hub::in_hub_context()));
    green::hub::run();
    assert_eq!(called.get(), [true]);
    assert!(!green::hub::in_hub_context());
}
