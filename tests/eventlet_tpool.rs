//! Ports of eventlet's `tests/tpool_test.py` and `tests/env_test.py` (the thread-pool cases;
//! `tpool.Proxy` is Python's dynamic dispatch, so a proxied call is an `execute` of a closure).
//!
//! The pool is process-wide and shared by every test thread, so the tests only rely on what holds
//! whatever other tests run on it at the same time.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use green::tpool;
use green::{GreenPile, GreenPool};

use crate::util::*;

// eventlet: tests/tpool_test.py TestTpool.test_wrap_iterator2
// (eventlet's `Proxy(generator)` fetches each item with an `execute`; the generator sleeps 1 ms
// natively between items while a ticker greenthread yields 20000 times.)
#[test]
fn the_hub_keeps_running_greenthreads_while_execute_waits() {
    /// eventlet's `foo()`: `for x in range(2): yield x; time.sleep(0.001)`.
    struct Foo(u32);
    impl Iterator for Foo {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            if self.0 > 0 {
                std::thread::sleep(ms(1));
            }
            self.0 += 1;
            (self.0 <= 2).then_some(self.0 - 1)
        }
    }
    let items = Arc::new(Mutex::new(Foo(0)));
    let counter = Rc::new(Cell::new(0u32));
    let tick = {
        let counter = counter.clone();
        green::spawn(move || {
            for i in 1..=20000u32 {
                counter.set(i);
                // Every 20th tick sleeps 0.1 ms, the others yield.
                let every_20th = i / 20 * 20 == i;
                green::sleep(if every_20th { Duration::from_micros(100) } else { Duration::ZERO });
            }
        })
    };
    let mut previtem = 0;
    loop {
        let items = items.clone();
        let next = tpool::execute(move || items.lock().unwrap().next()).unwrap();
        let Some(item) = next else { break };
        assert!(item >= previtem);
        previtem = item;
    }
    // The ticker ran while the items were produced on a worker thread.
    assert!(counter.get() > 10, "the ticker advanced only {} times", counter.get());
    tick.kill();
}

// eventlet: tests/tpool_test.py TestTpool.test_contention
// (eventlet's three proxied reads of a module attribute are three executes reading a shared value.)
#[test]
fn a_green_pile_of_executes_returns_every_result() {
    let shared = Arc::new(String::from("contents of tpool_test"));
    let pile = GreenPile::new(3);
    for _ in 0..3 {
        let shared = shared.clone();
        pile.spawn(move || tpool::execute(move || shared.len()).unwrap());
    }
    let results: Vec<usize> = pile.map(Result::unwrap).collect();
    assert_eq!(results, [shared.len(); 3]);
}

// eventlet: tests/tpool_test.py TestTpool.test_timeout
// (eventlet's job is a native 0.3 s sleep; here it blocks natively until the test lets it go, so
// "the worker is still running when the timeout returns" holds without timing assumptions.)
#[test]
fn a_green_timeout_interrupts_the_wait_while_the_worker_keeps_running() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let timeout = ms(50);
    let (r, took) = timed(|| {
        green::with_timeout(timeout, || {
            tpool::execute(move || {
                release_rx.recv().unwrap(); // blocking.sleep(0.3)
                done_tx.send(()).unwrap();
            })
        })
    });
    assert!(r.expect_err("execute returned before the job could finish").is_timeout());
    assert!(took >= timeout, "timed out early, after {took:?}");
    // The worker still runs the job: it has not finished, and finishes once released.
    assert_eq!(done_rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    release_tx.send(()).unwrap();
    let finished = tpool::execute(move || done_rx.recv_timeout(Duration::from_secs(5))).unwrap();
    assert_eq!(finished, Ok(()), "the interrupted job never finished");
    // Its late result went nowhere; the hub is fine.
    green::sleep(ms(1));
    assert_eq!(tpool::execute(|| 7).unwrap(), 7);
}

// eventlet: tests/tpool_test.py TestTpool.test_eventlet_timeout
// (adapted: eventlet's job raises `Timeout()` and `execute` re-raises it; a Rust job panics and
// `execute` returns the panic as an error with `is_panic()` and its message.)
#[test]
fn a_panic_in_the_job_comes_back_as_a_panic_error() {
    let err = tpool::execute(|| -> u32 { panic!("raised in a tpool worker") }).unwrap_err();
    assert!(err.is_panic(), "{err}");
    assert_eq!(err.panic_message(), Some("raised in a tpool worker"));
    assert!(err.to_string().contains("raised in a tpool worker"), "{err}");
    // The worker survived: the pool still runs jobs.
    assert_eq!(tpool::execute(|| 3).unwrap(), 3);
}

// eventlet: tests/tpool_test.py TpoolLongTests.test_a_buncha_stuff
// (eventlet sleeps `random() / 200` s, up to 5 ms, before, during and after each call, about 0.75 s
// per greenthread; the sleeps here are ten times shorter to keep the test fast. The random numbers
// come from a seeded generator, drawn in the greenthreads and moved into the jobs.)
#[test]
fn ten_greenthreads_each_making_a_hundred_executes_get_their_own_results() {
    let r = SharedRng::new(0);
    let scale = 1.0 / 2000.0;
    let sender_loop = move |loopnum: usize, r: SharedRng| {
        let count = 100;
        for n in 0..count {
            green::sleep(Duration::from_secs_f64(r.random() * scale));
            let token = loopnum * count + n;
            let native_sleep = Duration::from_secs_f64(r.random() * scale);
            let rv = tpool::execute(move || {
                std::thread::sleep(native_sleep);
                token
            })
            .unwrap();
            assert_eq!(rv, token);
            green::sleep(Duration::from_secs_f64(r.random() * scale));
        }
        loopnum
    };
    let cnt = 10;
    let pile = GreenPile::new(cnt);
    for i in 0..cnt {
        let r = r.clone();
        pile.spawn(move || sender_loop(i, r));
    }
    let results: Vec<usize> = pile.map(Result::unwrap).collect();
    assert_eq!(results, (0..cnt).collect::<Vec<_>>());
}

// eventlet: tests/env_test.py test_tpool_size
// (adapted: eventlet sets EVENTLET_THREADPOOL_SIZE=40 and runs 80 jobs; the pool here is
// process-wide and already started by other tests, so it keeps its size (default 20) and 40 jobs of
// 10 ms must overlap on more than half of it.)
#[test]
fn jobs_run_on_many_workers_at_once() {
    if std::env::var_os(tpool::SIZE_ENV).is_none() {
        assert_eq!(tpool::size(), tpool::DEFAULT_SIZE);
    }
    let normal = tpool::size() / 2;
    let current = Arc::new(AtomicUsize::new(0));
    let highwater = Arc::new(AtomicUsize::new(0));
    let p = GreenPool::new(1000);
    for _ in 0..normal * 4 {
        let (current, highwater) = (current.clone(), highwater.clone());
        p.spawn(move || {
            tpool::execute(move || {
                let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                highwater.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(ms(10));
                highwater.fetch_max(current.load(Ordering::SeqCst), Ordering::SeqCst);
                current.fetch_sub(1, Ordering::SeqCst);
            })
            .unwrap()
        });
    }
    p.waitall();
    let highwater = highwater.load(Ordering::SeqCst);
    assert!(highwater > normal, "high-water mark {highwater} <= {normal}");
}

// No eventlet counterpart: execute from hub context is a misuse that panics with a clear message
// (eventlet's `do not call blocking functions from the mainloop`), caught and recorded by the hub.
#[test]
fn execute_from_hub_context_panics_with_a_clear_message() {
    green::debug::hub_exceptions(false);
    let ran = Arc::new(AtomicUsize::new(0));
    let before = green::debug::hub_context_panics().len();
    let job_ran = ran.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || {
        let _ = tpool::execute(move || job_ran.fetch_add(1, Ordering::SeqCst));
    });
    yield_now();
    let panics = green::debug::hub_context_panics();
    assert_eq!(panics.len(), before + 1, "{panics:?}");
    let msg = panics.last().unwrap();
    assert!(msg.contains("green::tpool::execute called from hub context"), "{msg}");
    assert!(msg.contains("green::spawn"), "the message says what to do instead: {msg}");
    // The job was never handed to a worker, and the hub keeps running.
    assert_eq!(tpool::execute(|| 1).unwrap(), 1);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

// eventlet: tests/isolated/tpool_isolate_socket_default_timeout.py (test_isolate_from_socket_default_timeout):
// hubs are per thread: a job that makes green calls on its worker thread gets that thread's own
// hub, apart from the caller's.
#[test]
fn a_job_making_green_calls_uses_its_worker_threads_own_hub() {
    // A greenthread parked on the caller's hub, by name.
    let parked = green::Builder::new().name("caller-side").spawn(|| green::sleep(Duration::from_secs(3600)));
    yield_now();
    let caller_thread = std::thread::current().id();
    let (other_thread, dump) = tpool::execute(move || {
        green::sleep(Duration::from_millis(2));
        let gt = green::Builder::new().name("worker-side").spawn(|| green::sleep(Duration::from_secs(3600)));
        green::sleep(Duration::ZERO);
        let dump = green::debug::format_greenthreads();
        gt.kill();
        (std::thread::current().id() != caller_thread, dump)
    })
    .unwrap();
    assert!(other_thread);
    // The worker's hub holds its own greenthreads, not the caller's.
    assert!(dump.contains("worker-side") && !dump.contains("caller-side"), "{dump}");
    assert!(green::debug::format_greenthreads().contains("caller-side"));
    parked.kill();
}

/// Child half of `the_pool_size_comes_from_the_environment`.
#[test]
#[ignore = "run as a child process by the_pool_size_comes_from_the_environment"]
fn tpool_size_child() {
    if std::env::var_os("GREEN_TPOOL_CHILD").is_none() {
        return;
    }
    let caller = std::thread::current().id();
    let ran_on = tpool::execute(move || std::thread::current().id() == caller).unwrap();
    tpool::execute(|| ()).unwrap();
    println!("size={} inline={ran_on}", tpool::size());
}

// eventlet: tests/env_test.py test_tpool_zero and test_tpool_negative (adapted: size 0 runs
// every job inline; an invalid size is refused with a message naming the variable).
#[test]
fn the_pool_size_comes_from_the_environment() {
    let run = |size: &str| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "eventlet_tpool::tpool_size_child", "--test-threads=1", "--nocapture"])
            .env("GREEN_TPOOL_CHILD", "1")
            .env("GREEN_THREADPOOL_SIZE", size)
            .output()
            .unwrap()
    };
    let zero = run("0");
    assert!(String::from_utf8_lossy(&zero.stdout).contains("size=0 inline=true"), "{zero:?}");
    // One warning for two jobs, naming the variable (eventlet's "Zero threads in tpool").
    let err = String::from_utf8_lossy(&zero.stderr);
    assert_eq!(err.matches("zero threads in tpool").count(), 1, "{err}");
    assert!(err.contains("GREEN_THREADPOOL_SIZE=0"), "{err}");
    let three = run("3");
    assert!(String::from_utf8_lossy(&three.stdout).contains("size=3 inline=false"), "{three:?}");
    assert!(!String::from_utf8_lossy(&three.stderr).contains("zero threads"), "{three:?}");
    let bad = run("-1");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid value for GREEN_THREADPOOL_SIZE"), "{bad:?}");
}

/// Child half of `killall_stops_the_pool_after_its_jobs_and_the_next_job_starts_a_new_one`: the
/// pool is process-wide, so this runs alone in a child process.
#[test]
#[ignore = "run as a child process by killall_stops_the_pool_after_its_jobs_and_the_next_job_starts_a_new_one"]
fn killall_child() {
    if !is_child("eventlet_tpool::killall_child") {
        return;
    }
    // test_killall: torn down and rebuilt, twice over.
    assert_eq!(tpool::execute(|| 1).unwrap(), 1);
    tpool::killall();
    tpool::killall();
    assert_eq!(tpool::execute(|| 2).unwrap(), 2);
    // test_killall_remaining_results: a job in flight when the pool stops delivers its result.
    let started = green::Event::new();
    let s = started.clone();
    let caller = green::spawn(move || {
        s.send(()).unwrap();
        tpool::execute(|| {
            std::thread::sleep(Duration::from_millis(300));
            "late"
        })
    });
    started.wait();
    green::sleep(Duration::from_millis(20)); // the job is on a worker now
    let (_, took) = timed(tpool::killall);
    assert!(took >= Duration::from_millis(200), "killall did not wait for the job: {took:?}");
    assert_eq!(caller.wait().unwrap().unwrap(), "late");
    // test_tpool_set_num_threads: the next pool has the new size.
    assert_eq!(tpool::execute(|| 3).unwrap(), 3); // a new pool, of the default size
    tpool::set_num_threads(5);
    assert_eq!(tpool::size(), 20, "a running pool keeps its size");
    tpool::killall();
    assert_eq!(tpool::size(), 5);
    let threads: std::collections::HashSet<_> = (0..40)
        .map(|_| green::spawn(|| tpool::execute(|| std::thread::current().name().map(str::to_string)).unwrap()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|g| g.wait().unwrap().unwrap())
        .collect();
    assert!(threads.len() <= 5 && threads.iter().all(|n| n.starts_with("green-tpool-")), "{threads:?}");
    // A job that stops the pool does not wait for its own thread.
    assert_eq!(
        tpool::execute(|| {
            tpool::killall();
            "stopped from a job"
        })
        .unwrap(),
        "stopped from a job"
    );
    assert_eq!(tpool::execute(|| 9).unwrap(), 9);
    println!("killall child done");
}

// eventlet: tests/tpool_test.py test_killall, test_killall_remaining_results and
// test_tpool_set_num_threads
#[test]
fn killall_stops_the_pool_after_its_jobs_and_the_next_job_starts_a_new_one() {
    let (status, out, err) = run_child("eventlet_tpool::killall_child");
    assert!(status.success() && out.contains("killall child done"), "{out}\n{err}");
}
