//! Ports of eventlet's `tests/semaphore_test.py`.
//!
//! eventlet's `acquire(blocking=False)` is `try_acquire()` and `acquire(timeout=t)` is
//! `acquire_timeout(t)`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use green::Semaphore;

use crate::util::*;

// eventlet: tests/semaphore_test.py TestSemaphore.test_non_blocking
#[test]
fn a_non_blocking_acquire_of_an_empty_semaphore_fails() {
    let sem = Semaphore::new(0);
    assert!(!sem.try_acquire());
}

// eventlet: tests/semaphore_test.py TestSemaphore.test_timeout
#[test]
fn a_timed_acquire_of_an_empty_semaphore_fails_after_the_timeout() {
    let sem = Semaphore::new(0);
    let start = Instant::now();
    assert!(!sem.acquire_timeout(ms(100)));
    assert!(start.elapsed() >= ms(100), "{:?}", start.elapsed());
}

// eventlet: tests/semaphore_test.py test_semaphore_contention
// (eventlet's `main` sleeps 0.5 s, by which time both workers have normally reached 200, and then
// kills them. Here `main` waits for both workers to finish their loops, within a generous 10 s
// budget, and then kills them as eventlet does (a no-op once they finished): the assertion is
// then independent of the machine's speed. It takes about 0.4 s.)
#[test]
fn two_contending_workers_take_turns_fairly() {
    let g_mutex = Semaphore::new(1);
    let counts = Rc::new([Cell::new(0usize), Cell::new(0usize)]);
    let worker = |no: usize| {
        let (m, c) = (g_mutex.clone(), counts.clone());
        green::spawn(move || {
            while c[0].get().min(c[1].get()) < 200 {
                let _guard = m.guard();
                c[no - 1].set(c[no - 1].get() + 1);
                green::sleep(ms(1));
            }
        })
    };
    let t1 = worker(1);
    let t2 = worker(2);
    let finished = green::with_timeout(Duration::from_secs(10), || {
        t1.wait().unwrap();
        t2.wait().unwrap();
    });
    t1.kill();
    t2.kill();
    assert!(finished.is_ok(), "the workers did not finish within 10 s");
    let (a, b) = (counts[0].get(), counts[1].get());
    assert!(a.abs_diff(b) < a.min(b) / 10, "counts {a} and {b}");
}

// eventlet: tests/semaphore_test.py test_semaphore_type_check
// (adapted: the count is a `usize`, so eventlet's TypeError ('foo') and ValueError (-1) cases
// cannot be written; the accepted values are.)
#[test]
fn semaphores_accept_any_non_negative_count() {
    assert_eq!(Semaphore::new(0).count(), 0);
    assert_eq!(Semaphore::new(1).count(), 1);
    assert_eq!(Semaphore::new(100).count(), 100);
}

/// DESIGN §3: a release hands the permit to the first waiter (and does not yield), so neither the
/// releaser nor a newcomer can take it back before the waiter runs; waiters are served FIFO.
#[test]
fn a_release_hands_the_permit_to_the_first_waiter_and_newcomers_cannot_barge() {
    let sem = Semaphore::new(1);
    sem.acquire();
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (s, o) = (sem.clone(), order.clone());
            green::spawn(move || {
                s.acquire();
                o.borrow_mut().push(i);
                green::sleep(Duration::ZERO);
                s.release();
            })
        })
        .collect();
    yield_now(); // all three park, in order
    assert_eq!(sem.waiting(), 3);
    sem.release();
    assert!(!sem.try_acquire(), "the releaser cannot take back the permit it handed off");
    let newcomer = {
        let (s, o) = (sem.clone(), order.clone());
        green::spawn(move || {
            s.acquire();
            o.borrow_mut().push(99);
            s.release();
        })
    };
    for w in waiters {
        w.wait().unwrap();
    }
    newcomer.wait().unwrap();
    assert_eq!(*order.borrow(), vec![0, 1, 2, 99]);
    assert_eq!(sem.count(), 1);
}

// eventlet: tests/semaphore_test.py TestSemaphore.test_bounded (CappedSemaphore)
#[test]
fn a_capped_semaphore_waits_to_acquire_at_zero_and_to_release_at_its_limit() {
    let sem = green::CappedSemaphore::new(2, 3);
    sem.acquire();
    sem.acquire();
    let s = sem.clone();
    let gt1 = green::spawn(move || s.release());
    sem.acquire(); // waits for gt1's release
    assert_eq!(sem.balance(), -3);
    sem.release();
    sem.release();
    sem.release();
    assert!(sem.at_limit());
    let s = sem.clone();
    let gt2 = green::spawn(move || s.acquire());
    sem.release(); // at the limit: waits until gt2 acquires
    assert_eq!(sem.balance(), 3);
    gt1.wait().unwrap();
    gt2.wait().unwrap();
}

// eventlet: tests/semaphore_test.py TestSemaphore.test_bounded_with_zero_limit (adapted: a limit
// of 0 holds no permit, so green refuses it with the way out instead of making each release a
// hand-over to a waiting acquire, which a kill could leave half done)
#[test]
fn a_capped_semaphore_with_a_zero_limit_is_refused_with_the_way_out() {
    let msg = panic_message_of(|| {
        green::CappedSemaphore::new(0, 0);
    });
    assert!(msg.contains("a limit of 0 holds no permit") && msg.contains("use a limit of at least 1"), "{msg}");
}

/// A release killed while it waits at the limit (and an acquire killed while it waits at zero)
/// leaves the count as it was: each side waits before it changes anything.
#[test]
fn a_capped_semaphore_wait_cut_short_by_a_kill_changes_nothing() {
    let sem = green::CappedSemaphore::new(1, 1);
    let s = sem.clone();
    let releaser = green::spawn(move || s.release());
    yield_now();
    releaser.kill();
    assert!(releaser.wait().unwrap_err().is_killed());
    assert_eq!((sem.count(), sem.balance()), (1, 1));
    sem.acquire();
    let s = sem.clone();
    let acquirer = green::spawn(move || s.acquire());
    yield_now();
    acquirer.kill();
    assert!(acquirer.wait().unwrap_err().is_killed());
    assert_eq!((sem.count(), sem.balance()), (0, -1));
    assert!(sem.try_release());
    assert!(!sem.try_release());
}
