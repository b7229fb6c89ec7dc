//! Ports of eventlet's `tests/greenthread_test.py`.
//!
//! eventlet's `passthru(*args, **kw)` records its call in a global list and returns
//! `(args, kw)`; here it takes a tuple of "positional" and "keyword" arguments and records them
//! in a [`Log`]. eventlet's `assert_dead(gt)` (`wait()` raises GreenletExit, `gt.dead`,
//! `not gt`) is `wait()` returning an error with `is_killed()` and `is_finished()`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use green::{GreenThread, GreenThreadId};

use crate::util::*;

/// `((args,), {kwargs})` of eventlet's passthru: positional ints and `name=value` pairs.
type Call = (Vec<i32>, Vec<(&'static str, i32)>);

fn passthru(results: &Log<Call>, args: Vec<i32>, kw: Vec<(&'static str, i32)>) -> Call {
    results.push((args.clone(), kw.clone()));
    (args, kw)
}

/// What eventlet's `link_func(g, *a, **kw)` appends: `[g, a, kw]`.
type Linked = (GreenThreadId, (i32,), (&'static str, i32));

fn link_func<T: 'static>(results: &Log<Linked>, g: &GreenThread<T>, a: (i32,), kw: (&'static str, i32)) {
    results.push((g.id(), a, kw));
}

fn waiter(a: i32) -> i32 {
    green::sleep(ms(100));
    a
}

fn assert_dead<T: Clone + std::fmt::Debug + 'static>(gt: &GreenThread<T>) {
    let err = gt.wait().unwrap_err();
    assert!(err.is_killed(), "{err}");
    assert!(gt.is_finished());
}

/// `spawn_after(0, f)`: eventlet's `SpawnAfter` class re-runs every `Spawn` test; the inherited
/// tests call `spawn`, so here they are re-run with a zero-delay `spawn_after` instead, which must
/// behave the same.
#[track_caller]
fn spawn_after_zero<T: 'static>(f: impl FnOnce() -> T + 'static) -> GreenThread<T> {
    green::spawn_after(Duration::ZERO, f)
}

/// The `Spawn` tests, instantiated for `green::spawn` and for a zero-delay `spawn_after`
/// (`test_kill_n` is not ported: `spawn_n` returns no handle to kill).
macro_rules! spawn_cases {
    ($class:literal, $spawn:path) => {
        use super::*;

        // eventlet: tests/greenthread_test.py Spawn.test_simple (and SpawnAfter's inherited copy)
        #[test]
        fn wait_returns_the_result_and_the_function_ran_once() {
            let results: Log<Call> = Log::new();
            let r = results.clone();
            let gt = $spawn(move || passthru(&r, vec![1], vec![("b", 2)]));
            assert_eq!(gt.wait().unwrap(), (vec![1], vec![("b", 2)]), "{}", $class);
            assert_eq!(results.get(), [(vec![1], vec![("b", 2)])]);
        }

        // eventlet: tests/greenthread_test.py Spawn.test_n (and SpawnAfter's inherited copy)
        // (adapted: `spawn_n` returns no handle, so "not dead before sleep(0), dead after" is
        // checked through the call record: the function has not run before the yield and has
        // run after it.)
        #[test]
        fn spawn_n_runs_at_the_next_hub_pass() {
            let results: Log<Call> = Log::new();
            let r = results.clone();
            green::spawn_n(move || {
                passthru(&r, vec![2], vec![("b", 3)]);
            });
            assert_eq!(results.len(), 0);
            green::sleep(Duration::ZERO);
            assert_eq!(results.get(), [(vec![2], vec![("b", 3)])]);
        }

        // eventlet: tests/greenthread_test.py Spawn.test_kill (and SpawnAfter's inherited copy)
        // (eventlet's `greenthread.kill(gt)` function and the method are the same here.)
        #[test]
        fn killing_before_it_starts_means_the_function_never_runs() {
            let results: Log<Call> = Log::new();
            let r = results.clone();
            let gt = $spawn(move || passthru(&r, vec![6], vec![]));
            gt.kill();
            assert_dead(&gt);
            green::sleep(ms(1));
            assert_eq!(results.len(), 0);
            gt.kill();
            assert_dead(&gt);
        }

        // eventlet: tests/greenthread_test.py Spawn.test_kill_meth (and SpawnAfter's inherited copy)
        #[test]
        fn killing_with_the_method_before_it_starts_means_the_function_never_runs() {
            let results: Log<Call> = Log::new();
            let r = results.clone();
            let gt = $spawn(move || passthru(&r, vec![6], vec![]));
            GreenThread::kill(&gt);
            assert_dead(&gt);
            green::sleep(ms(1));
            assert_eq!(results.len(), 0);
            GreenThread::kill(&gt);
            assert_dead(&gt);
        }

        // eventlet: tests/greenthread_test.py Spawn.test_link (and SpawnAfter's inherited copy)
        #[test]
        fn a_link_gets_the_greenthread_and_its_own_arguments() {
            let results: Log<Call> = Log::new();
            let r = results.clone();
            let linked: Log<Linked> = Log::new();
            let gt = $spawn(move || passthru(&r, vec![5], vec![]));
            let l = linked.clone();
            gt.link(move |g| link_func(&l, g, (4,), ("b", 5)));
            assert_eq!(gt.wait().unwrap(), (vec![5], vec![]));
            assert_eq!(linked.get(), [(gt.id(), (4,), ("b", 5))]);
        }

        // eventlet: tests/greenthread_test.py Spawn.test_link_after_exited (and SpawnAfter's copy)
        #[test]
        fn a_link_added_after_exit_runs_at_once() {
            let results: Log<Call> = Log::new();
            let r = results.clone();
            let linked: Log<Linked> = Log::new();
            let gt = $spawn(move || passthru(&r, vec![5], vec![]));
            assert_eq!(gt.wait().unwrap(), (vec![5], vec![]));
            let l = linked.clone();
            gt.link(move |g| link_func(&l, g, (4,), ("b", 5)));
            assert_eq!(linked.get(), [(gt.id(), (4,), ("b", 5))]);
        }

        // eventlet: tests/greenthread_test.py Spawn.test_link_relinks (and SpawnAfter's copy)
        #[test]
        fn a_link_that_links_again_does_not_recurse() {
            let results: Log<Call> = Log::new();
            let r = results.clone();
            let called: Log<bool> = Log::new();
            let c = called.clone();
            let gt = $spawn(move || passthru(&r, vec![], vec![]));
            gt.link(move |g| g.link(move |_| c.push(true)));
            gt.wait().unwrap();
            assert_eq!(called.get(), [true]);
        }
    };
}

mod spawn {
    spawn_cases!("Spawn", green::spawn);
}

mod spawn_after {
    spawn_cases!("SpawnAfter", spawn_after_zero);

    // eventlet: tests/greenthread_test.py SpawnAfter.test_basic
    #[test]
    fn spawn_after_runs_the_function_after_the_delay() {
        let results: Log<Call> = Log::new();
        let r = results.clone();
        let gt = green::spawn_after(ms(100), move || passthru(&r, vec![20], vec![]));
        assert_eq!(gt.wait().unwrap(), (vec![20], vec![]));
    }

    // eventlet: tests/greenthread_test.py SpawnAfter.test_cancel
    #[test]
    fn cancel_before_the_start_kills_it() {
        let results: Log<Call> = Log::new();
        let r = results.clone();
        let gt = green::spawn_after(ms(100), move || passthru(&r, vec![21], vec![]));
        assert!(gt.cancel());
        assert_dead(&gt);
        assert_eq!(results.len(), 0);
    }

    // eventlet: tests/greenthread_test.py SpawnAfter.test_cancel_already_started
    #[test]
    fn cancel_does_not_affect_a_greenthread_that_has_started() {
        let gt = green::spawn_after(Duration::ZERO, || waiter(22));
        green::sleep(Duration::ZERO);
        assert!(!gt.cancel());
        assert_eq!(gt.wait().unwrap(), 22);
    }

    // eventlet: tests/greenthread_test.py SpawnAfter.test_kill_already_started
    #[test]
    fn kill_stops_a_greenthread_that_has_started() {
        let gt = green::spawn_after(Duration::ZERO, || waiter(22));
        green::sleep(Duration::ZERO);
        gt.kill();
        assert_dead(&gt);
    }
}

mod spawn_after_local {
    use super::*;

    fn lst() -> Rc<RefCell<Vec<i32>>> {
        Rc::new(RefCell::new(vec![1]))
    }

    // eventlet: tests/greenthread_test.py SpawnAfterLocal.test_timer_fired
    #[test]
    fn a_local_spawn_fires_while_its_spawner_lives() {
        let lst = lst();
        let l = lst.clone();
        green::spawn(move || {
            green::spawn_after_local(ms(100), move || l.borrow_mut().pop());
            green::sleep(ms(200));
        });
        assert_eq!(*lst.borrow(), [1]);
        green::sleep(ms(300));
        assert_eq!(*lst.borrow(), Vec::<i32>::new());
    }

    // eventlet: tests/greenthread_test.py SpawnAfterLocal.test_timer_cancelled_upon_greenlet_exit
    // (the skipped start also finishes the local greenthread as killed.)
    #[test]
    fn a_local_spawn_is_cancelled_when_its_spawner_exits() {
        let lst = lst();
        let l = lst.clone();
        let spawner = green::spawn(move || green::spawn_after_local(ms(100), move || l.borrow_mut().pop()));
        assert_eq!(*lst.borrow(), [1]);
        green::sleep(ms(200));
        assert_eq!(*lst.borrow(), [1]);
        let local = spawner.join().unwrap();
        assert!(local.join().unwrap_err().is_killed());
    }

    // eventlet: tests/greenthread_test.py SpawnAfterLocal.test_spawn_is_not_cancelled
    #[test]
    fn a_plain_spawn_outlives_its_spawner() {
        let lst = lst();
        let l = lst.clone();
        green::spawn(move || {
            green::spawn(move || l.borrow_mut().pop());
            // exits at once, but the pop must still run
        });
        green::sleep(ms(100));
        assert_eq!(*lst.borrow(), Vec::<i32>::new());
    }
}
