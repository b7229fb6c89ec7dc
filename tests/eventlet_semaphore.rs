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
