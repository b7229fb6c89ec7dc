//! Ports of eventlet's `tests/greenpool_test.py`.
//!
//! eventlet's `passthru(arg)` sleeps a random number of times (coin flips on a `random.Random(0)`,
//! each sleep under 1 ms) and returns `arg`; here the generator is [`SharedRng`], seeded the same
//! way on every run. eventlet's `assert_pool_has_free(pool, n)` is [`assert_pool_has_free`].

use std::rc::Rc;
use std::time::Duration;

use green::{Event, GreenPile, GreenPool, Queue};

use crate::util::*;

/// eventlet's `passthru(arg)`.
fn passthru<T>(r: &SharedRng, arg: T) -> T {
    while r.random() < 0.5 {
        green::sleep(Duration::from_secs_f64(r.random() * 0.001));
    }
    arg
}

/// eventlet's `passthru2(a, b)`.
fn passthru2(a: i32, b: i32) -> (i32, i32) {
    green::sleep(ms(10));
    (a, b)
}

/// eventlet's `assert_pool_has_free(pool, num_free)`: `free()` is `n`; `n` spawns of a greenthread
/// waiting on an Event do not block (within 1 s); one more spawn must block, which a zero timeout
/// proves (eventlet's `Timeout(0, RuntimeError)`); then the Event is sent and the waiters finish.
#[track_caller]
fn assert_pool_has_free(pool: &GreenPool, num_free: usize) {
    assert_eq!(pool.free(), num_free as isize);
    let evt: Event<()> = Event::new();
    let wait_long_time = |e: &Event<()>| {
        let e = e.clone();
        move || e.wait()
    };
    let r = green::with_timeout(Duration::from_secs(1), || {
        for _ in 0..num_free {
            // If the pool has fewer free slots than expected, this times out.
            pool.spawn(wait_long_time(&evt));
        }
    });
    assert!(r.is_ok(), "the pool had fewer than {num_free} free slots");
    // If this does not time out, the pool had unexpected free slots.
    let r = green::with_timeout(Duration::ZERO, || {
        pool.spawn(wait_long_time(&evt));
    });
    assert!(r.expect_err("the pool had more than {num_free} free slots").is_timeout());
    // Clean up: every wait_long_time returns.
    evt.send(()).unwrap();
    green::sleep(Duration::ZERO);
    green::sleep(Duration::ZERO);
}

// eventlet: tests/greenpool_test.py GreenPool.test_spawn
#[test]
fn pool_spawn_returns_handles_with_the_results() {
    let r = SharedRng::new(0);
    let p = GreenPool::new(4);
    let waiters: Vec<_> = (0..10)
        .map(|i| {
            let r = r.clone();
            p.spawn(move || passthru(&r, i))
        })
        .collect();
    let results: Vec<i32> = waiters.iter().map(|w| w.wait().unwrap()).collect();
    assert_eq!(results, (0..10).collect::<Vec<_>>());
}

// eventlet: tests/greenpool_test.py GreenPool.test_spawn_n
#[test]
fn waitall_waits_for_every_spawned_function() {
    let p = GreenPool::new(4);
    let results_closure: Log<i32> = Log::new();
    for i in 0..10 {
        let r = results_closure.clone();
        p.spawn(move || {
            green::sleep(ms(10));
            r.push(i);
        });
    }
    p.waitall();
    assert_eq!(results_closure.get(), (0..10).collect::<Vec<_>>());
}

// eventlet: tests/greenpool_test.py GreenPool.test_waiting
#[test]
fn waiting_counts_spawners_blocked_on_a_full_pool() {
    let pool = GreenPool::new(1);
    let done: Event<()> = Event::new();
    let waiter = || {
        let (pool, done) = (pool.clone(), done.clone());
        green::spawn(move || {
            let gt = pool.spawn(move || done.wait());
            gt.wait().unwrap();
        })
    };
    let mut waiters = Vec::new();
    assert_eq!(pool.running(), 0);
    waiters.push(waiter());
    green::sleep(Duration::ZERO);
    assert_eq!(pool.waiting(), 0);
    waiters.push(waiter());
    green::sleep(Duration::ZERO);
    assert_eq!(pool.waiting(), 1);
    waiters.push(waiter());
    green::sleep(Duration::ZERO);
    assert_eq!(pool.waiting(), 2);
    assert_eq!(pool.running(), 1);
    done.send(()).unwrap();
    for w in &waiters {
        w.wait().unwrap();
    }
    assert_eq!(pool.waiting(), 0);
    assert_eq!(pool.running(), 0);
}

// eventlet: tests/greenpool_test.py GreenPool.test_multiple_coros
#[test]
fn a_consumer_and_a_producer_in_one_pool_interleave() {
    let evt: Event<()> = Event::new();
    let results: Log<&str> = Log::new();
    let pool = GreenPool::new(2);
    let (e, r) = (evt.clone(), results.clone());
    let done = pool.spawn(move || {
        r.push("cons1");
        e.wait();
        r.push("cons2");
    });
    let (e, r) = (evt.clone(), results.clone());
    pool.spawn_n(move || {
        r.push("prod");
        e.send(()).unwrap();
    });
    done.wait().unwrap();
    assert_eq!(results.get(), ["cons1", "prod", "cons2"]);
}

// eventlet: tests/greenpool_test.py GreenPool.test_timer_cancel
#[test]
fn a_local_timer_of_a_finished_pool_greenthread_never_fires() {
    let timer_fired: Log<bool> = Log::new();
    let pool = GreenPool::new(2);
    let t = timer_fired.clone();
    let worker = pool.spawn(move || {
        green::hub::schedule_call_local(Duration::ZERO, move || t.push(true));
    });
    worker.wait().unwrap();
    green::sleep(Duration::ZERO);
    green::sleep(Duration::ZERO);
    assert_eq!(timer_fired.get(), []);
}

// eventlet: tests/greenpool_test.py GreenPool.test_reentrant
#[test]
fn spawning_into_a_full_pool_from_inside_it_runs_inline() {
    let pool = GreenPool::new(1);
    let p = pool.clone();
    let outer_waiter = pool.spawn(move || {
        let waiter = p.spawn(|| "reenter");
        assert_eq!(waiter.wait().unwrap(), "reenter");
    });
    outer_waiter.wait().unwrap();

    let evt = Event::new();
    let (p, e) = (pool.clone(), evt.clone());
    pool.spawn_n(move || {
        p.spawn_n(|| {
            let _ = "reenter";
        });
        e.send("done").unwrap();
    });
    assert_eq!(evt.wait(), "done");
}

// eventlet: tests/greenpool_test.py GreenPool.test_resize
#[test]
fn resize_changes_the_number_of_free_slots() {
    let pool = GreenPool::new(2);
    let evt: Event<()> = Event::new();
    for _ in 0..2 {
        let e = evt.clone();
        pool.spawn(move || e.wait());
    }
    assert_eq!(pool.free(), 0);
    assert_eq!(pool.running(), 2);
    assert_pool_has_free(&pool, 0);

    // The pool discards the slots over its new size: while both still run, one is owed, and
    // `free()` says so (signed, as in eventlet).
    pool.resize(1);
    assert_eq!(pool.running(), 2);
    assert_eq!(pool.free(), -1);

    // The wait_long_time functions return and give their slots back.
    evt.send(()).unwrap();
    green::sleep(Duration::ZERO);
    green::sleep(Duration::ZERO);

    assert_eq!(pool.free(), 1);
    assert_eq!(pool.running(), 0);
    assert_pool_has_free(&pool, 1);

    // Resized larger, the pool has more free slots.
    pool.resize(2);
    assert_eq!(pool.free(), 2);
    assert_eq!(pool.running(), 0);
    assert_pool_has_free(&pool, 2);
}

// eventlet: tests/greenpool_test.py GreenPool.test_pool_smash
// (adapted: eventlet's `pools.TokenPool(max_size=1)`, emptied, is an empty `Queue` of tokens.)
#[test]
fn a_pool_greenthread_that_timed_out_on_a_token_pool_disturbs_neither_pool() {
    let pool = GreenPool::new(1);
    let tp: Queue<&'static str> = Queue::new();

    // The spawn makes the token pool expect this greenthread, which then immediately cuts bait.
    let t = tp.clone();
    let e1 = pool.spawn(move || match green::with_timeout(Duration::ZERO, || t.get()) {
        Ok(_) => panic!("shouldn't have received anything from the pool"),
        Err(e) => {
            assert!(e.is_timeout(), "{e}");
            "timed out"
        }
    });
    assert_eq!(e1.wait().unwrap(), "timed out");

    // The token pool can get some random item back.
    let t = tp.clone();
    let gt = green::spawn(move || t.put("wakeup"));

    // Running something else in the pool is not affected by that put.
    let e2 = pool.spawn(|| "resumed");
    assert_eq!(e2.wait().unwrap(), "resumed");

    // And the item put can be got out again.
    assert_eq!(tp.get(), "wakeup");
    gt.wait().unwrap();
}

// eventlet: tests/greenpool_test.py GreenPool.test_spawn_n_2
#[test]
fn spawn_n_does_not_yield_until_the_pool_is_full() {
    let p = GreenPool::new(2);
    assert_eq!(p.free(), 2);
    let r: Log<i32> = Log::new();
    let foo = |a: i32| {
        let r = r.clone();
        move || r.push(a)
    };
    let gt = p.spawn(foo(1));
    assert_eq!(p.free(), 1);
    gt.wait().unwrap();
    assert_eq!(r.get(), [1]);
    green::sleep(Duration::ZERO);
    assert_eq!(p.free(), 2);

    // Once the pool is exhausted, spawning forces a yield.
    p.spawn_n(foo(2));
    assert_eq!(p.free(), 1);
    assert_eq!(r.get(), [1]);

    p.spawn_n(foo(3));
    assert_eq!(p.free(), 0);
    assert_eq!(r.get(), [1]);

    p.spawn_n(foo(4));
    let mut got = r.get();
    got.sort();
    assert_eq!(got, [1, 2, 3]);
    green::sleep(Duration::ZERO);
    let mut got = r.get();
    got.sort();
    assert_eq!(got, [1, 2, 3, 4]);
}

// eventlet: tests/greenpool_test.py GreenPool.test_exceptions
// (adapted: eventlet's `raiser(RuntimeError())` is a panic; its `raiser(GreenletExit)` is a
// greenthread that ends without a panic by being killed: with `spawn` it kills itself through its
// own handle; `spawn_n` gives no handle, so it unwinds with a custom payload (`resume_unwind`,
// which, like GreenletExit, prints nothing).)
#[test]
fn failing_pool_greenthreads_give_their_slots_back() {
    green::debug::hub_exceptions(false);
    struct GreenletExit;
    let p = GreenPool::new(2);

    // p.spawn
    assert_pool_has_free(&p, 2);
    p.spawn(|| -> () { panic!("RuntimeError") });
    assert_pool_has_free(&p, 1);
    p.waitall();
    assert_pool_has_free(&p, 2);
    let me: Rc<std::cell::RefCell<Option<green::GreenThread<()>>>> = Rc::default();
    let m = me.clone();
    let gt = p.spawn(move || {
        let handle = m.borrow_mut().take().expect("own handle");
        handle.kill();
    });
    *me.borrow_mut() = Some(gt.clone());
    assert_pool_has_free(&p, 1);
    p.waitall();
    assert_pool_has_free(&p, 2);
    assert!(gt.wait().unwrap_err().is_killed());

    // p.spawn_n
    assert_pool_has_free(&p, 2);
    p.spawn_n(|| panic!("RuntimeError"));
    assert_pool_has_free(&p, 1);
    p.waitall();
    assert_pool_has_free(&p, 2);
    p.spawn_n(|| std::panic::resume_unwind(Box::new(GreenletExit)));
    assert_pool_has_free(&p, 1);
    p.waitall();
    assert_pool_has_free(&p, 2);
}

// eventlet: tests/greenpool_test.py GreenPool.test_imap
#[test]
fn imap_yields_results_in_input_order() {
    let r = SharedRng::new(0);
    let p = GreenPool::new(4);
    let result_list: Vec<i32> = p.imap(move |x| passthru(&r, x), 0..10).map(Result::unwrap).collect();
    assert_eq!(result_list, (0..10).collect::<Vec<_>>());
}

// eventlet: tests/greenpool_test.py GreenPool.test_empty_imap
#[test]
fn imap_over_nothing_ends_at_once() {
    let r = SharedRng::new(0);
    let p = GreenPool::new(4);
    let mut result_iter = p.imap(move |x: i32| passthru(&r, x), Vec::new());
    assert!(result_iter.next().is_none());
}

// eventlet: tests/greenpool_test.py GreenPool.test_imap_nonefunc
// (adapted: eventlet's `imap(None, it)` yields 1-tuples; the Rust function is `|x| (x,)`.)
#[test]
fn imap_with_a_tuple_function_yields_tuples() {
    let p = GreenPool::new(4);
    let result_list: Vec<(i32,)> = p.imap(|x| (x,), 0..10).map(Result::unwrap).collect();
    assert_eq!(result_list, (0..10).map(|x| (x,)).collect::<Vec<_>>());
}

// eventlet: tests/greenpool_test.py GreenPool.test_imap_multi_args
// (adapted: several input iterables are zipped into one of tuples.)
#[test]
fn imap_over_zipped_inputs_yields_pairs() {
    let p = GreenPool::new(4);
    let result_list: Vec<(i32, i32)> =
        p.imap(|(a, b)| passthru2(a, b), (0..10).zip(10..20)).map(Result::unwrap).collect();
    assert_eq!(result_list, (0..10).zip(10..20).collect::<Vec<_>>());
}

// eventlet: tests/greenpool_test.py GreenPool.test_imap_raises
#[test]
fn imap_yields_an_error_for_a_panicking_item_and_goes_on() {
    green::debug::hub_exceptions(false);
    let p = GreenPool::new(4);
    let raiser = |item: i32| {
        if item == 1 || item == 7 {
            panic!("intentional error");
        }
        item
    };
    let results: Vec<String> = p
        .imap(raiser, 0..10)
        .map(|r| match r {
            Ok(v) => v.to_string(),
            Err(e) => {
                assert!(e.is_panic(), "{e}");
                "r".to_string()
            }
        })
        .collect();
    assert_eq!(results, ["0", "r", "2", "3", "4", "5", "6", "r", "8", "9"]);
}

// eventlet: tests/greenpool_test.py GreenPool.test_starmap
// (adapted: `starmap(f, [(x,), ...])` is `imap` of a function taking the tuple apart.)
#[test]
fn imap_over_argument_tuples_works_as_starmap() {
    let r = SharedRng::new(0);
    let p = GreenPool::new(4);
    let result_list: Vec<i32> =
        p.imap(move |(x,)| passthru(&r, x), (0..10).map(|x| (x,))).map(Result::unwrap).collect();
    assert_eq!(result_list, (0..10).collect::<Vec<_>>());
}

// eventlet: tests/greenpool_test.py GreenPool.test_waitall_on_nothing
// (eventlet's default size is 1000.)
#[test]
fn waitall_on_an_unused_pool_returns_at_once() {
    let p = GreenPool::new(1000);
    p.waitall();
}

// eventlet: tests/greenpool_test.py GreenPool.test_recursive_waitall
// (eventlet's AssertionError is the misuse panic, seen as `is_panic()` from `wait()`.)
#[test]
fn waitall_from_inside_the_pool_fails() {
    green::debug::hub_exceptions(false);
    let p = GreenPool::new(1000);
    let pp = p.clone();
    let gt = p.spawn(move || pp.waitall());
    let err = gt.wait().unwrap_err();
    assert!(err.is_panic(), "{err}");
    assert!(err.to_string().contains("waitall"), "{err}");
}

/// Drains a pile through `&self` (the pile is shared with the greenthreads filling it).
fn drain<T: 'static>(pile: &GreenPile<T>) -> Vec<T> {
    std::iter::from_fn(|| pile.next_result()).map(Result::unwrap).collect()
}

// eventlet: tests/greenpool_test.py GreenPile.test_pile
#[test]
fn a_pile_yields_results_in_spawn_order() {
    let r = SharedRng::new(0);
    let p = GreenPile::new(4);
    for i in 0..10 {
        let r = r.clone();
        p.spawn(move || passthru(&r, i));
    }
    let result_list: Vec<i32> = p.map(Result::unwrap).collect();
    assert_eq!(result_list, (0..10).collect::<Vec<_>>());
}

// eventlet: tests/greenpool_test.py GreenPile.test_pile_spawn_times_out
// (eventlet's `Timeout(0)` armed before the fifth spawn is `with_timeout(Duration::ZERO, ..)`
// around it; the "time out" item is -1 here.)
#[test]
fn a_pile_spawn_that_timed_out_leaves_no_hole() {
    let r = SharedRng::new(0);
    let p = GreenPile::new(4);
    for i in 0..4 {
        let r = r.clone();
        p.spawn(move || passthru(&r, i));
    }
    // Now the pool is full and this times out.
    let rr = r.clone();
    let t = green::with_timeout(Duration::ZERO, || p.spawn(move || passthru(&rr, -1)));
    assert!(t.expect_err("the fifth spawn did not block").is_timeout());
    // The failed spawn did not break the sequence, which ends properly.
    for i in 4..10 {
        let r = r.clone();
        p.spawn(move || passthru(&r, i));
    }
    let result_list: Vec<i32> = p.map(Result::unwrap).collect();
    assert_eq!(result_list, (0..10).collect::<Vec<_>>());
}

// eventlet: tests/greenpool_test.py GreenPile.test_empty_pile
#[test]
fn an_empty_pile_yields_nothing_without_hanging() {
    let p: GreenPile<i32> = GreenPile::new(4);
    assert_eq!(p.map(Result::unwrap).collect::<Vec<_>>(), []);
}

// eventlet: tests/greenpool_test.py GreenPile.test_constructing_from_pool
#[test]
fn two_piles_sharing_a_pool_each_get_their_own_results() {
    let r = SharedRng::new(0);
    let pool = GreenPool::new(2);
    let pile1 = Rc::new(GreenPile::with_pool(pool.clone()));
    let pile2 = Rc::new(GreenPile::with_pool(pool.clone()));
    let bunch_of_work = |pile: &Rc<GreenPile<i32>>, unique: i32| {
        let (pile, r) = (pile.clone(), r.clone());
        green::spawn(move || {
            for i in 0..10 {
                let r = r.clone();
                pile.spawn(move || passthru(&r, i + unique));
            }
        })
    };
    bunch_of_work(&pile1, 0);
    bunch_of_work(&pile2, 100);
    green::sleep(Duration::ZERO);
    assert_eq!(drain(&pile2), (100..110).collect::<Vec<_>>());
    assert_eq!(drain(&pile1), (0..10).collect::<Vec<_>>());
}

// eventlet: tests/greenpool_test.py test_greenpool_type_check
// (adapted: the size is a `usize`, so eventlet's TypeError ('foo') and ValueError (-1) cases
// cannot be written; the accepted sizes are.)
#[test]
fn pools_accept_any_non_negative_size() {
    assert_eq!(GreenPool::new(0).size(), 0);
    assert_eq!(GreenPool::new(1).size(), 1);
    assert_eq!(GreenPool::new(1000).size(), 1000);
}

/// eventlet's `StressException(arg)`: the panic payload of a failing `pressure` task.
struct StressException((i32, i32));

/// eventlet's `pressure(arg)`: random sleeps, then returns `arg` or (20%) raises it.
fn pressure(r: &SharedRng, arg: (i32, i32)) -> (i32, i32) {
    while r.random() < 0.5 {
        green::sleep(Duration::from_secs_f64(r.random() * 0.001));
    }
    if r.random() < 0.8 {
        arg
    } else {
        std::panic::resume_unwind(Box::new(StressException(arg)))
    }
}

/// eventlet's `Stress.spawn_order_check(concurrency)`: three producers spawn `iters` tasks each
/// into one pile while `main` consumes it; per producer, results come in strictly increasing
/// order, and every producer's last item is `iters - 1`.
fn spawn_order_check(concurrency: usize, iters: i32) {
    green::debug::hub_exceptions(false);
    let r = SharedRng::new(0);
    let p: Rc<GreenPile<(i32, i32)>> = Rc::new(GreenPile::new(concurrency));
    let makework = |count: i32, unique: i32| {
        let (p, r) = (p.clone(), r.clone());
        green::spawn(move || {
            for i in 0..count {
                let token = (unique, i);
                let r = r.clone();
                p.spawn(move || pressure(&r, token));
            }
        })
    };
    makework(iters, 1);
    makework(iters, 2);
    makework(iters, 3);
    let rr = r.clone();
    p.spawn(move || pressure(&rr, (0, 0)));
    let mut latest = [-1; 4];
    let mut received = 0;
    while let Some(res) = p.next_result() {
        let (unique, order) = match res {
            Ok(i) => i,
            Err(e) => {
                let payload = e.take_panic_payload().expect("a StressException");
                payload.downcast::<StressException>().unwrap_or_else(|_| panic!("{e}")).0
            }
        };
        received += 1;
        if received % 5 == 0 {
            green::sleep(Duration::from_micros(100));
        }
        assert!(latest[unique as usize] < order, "{unique}: {order} after {}", latest[unique as usize]);
        latest[unique as usize] = order;
    }
    for l in &latest[1..] {
        assert_eq!(*l, iters - 1);
    }
}

// eventlet: tests/greenpool_test.py Stress.test_ordering_5
// (300 tasks per producer instead of 1000, to stay well under a second: the consumer's 0.1 ms
// sleep every fifth result, like any sub-millisecond sleep, costs about a millisecond, the
// poller's resolution.)
#[test]
fn a_shared_pile_keeps_each_producers_order_at_concurrency_5() {
    spawn_order_check(5, 300);
}

// eventlet: tests/greenpool_test.py Stress.test_ordering_50
// (300 tasks per producer instead of 1000, as above.)
#[test]
fn a_shared_pile_keeps_each_producers_order_at_concurrency_50() {
    spawn_order_check(50, 300);
}

/// Live greenthreads on this hub (not counting the root), from the greenthread dump.
fn live_greenthreads() -> usize {
    green::debug::format_greenthreads().lines().count() - 2
}

/// eventlet's `Stress.imap_memory_check(concurrency)`: imap over 1000 items is strictly ordered and
/// runs in constant memory. eventlet counts the objects the garbage collector tracks (fewer than
/// 25 × concurrency created); here the memory that grows with imap's work is greenthreads and
/// their stacks: at most `concurrency` greenthreads are alive at once, and the stacks mapped for
/// them (live ones plus the pool's free ones) stay within `concurrency + 1`.
fn imap_memory_check(concurrency: usize) {
    let r = SharedRng::new(0);
    let p = GreenPool::new(concurrency);
    let count = 1000;
    let it = p.imap(move |x| passthru(&r, x), 0..count);
    let mut latest = -1;
    let mut initial_stacks = None;
    for i in it {
        let i = i.unwrap();
        if latest == -1 {
            initial_stacks = Some(green::stack_pool_stats().free + live_greenthreads());
        }
        assert!(i > latest);
        latest = i;
        if latest % 5 == 0 {
            green::sleep(ms(1));
        }
        if latest % 10 == 0 {
            let live = live_greenthreads();
            let stacks = green::stack_pool_stats().free + live;
            assert!(live <= concurrency, "{live} live greenthreads");
            assert!(
                stacks <= initial_stacks.unwrap().max(concurrency + 1),
                "{stacks} stacks mapped, {initial_stacks:?} at the start"
            );
        }
    }
    // We got to the end.
    assert_eq!(latest, count - 1);
}

// eventlet: tests/greenpool_test.py Stress.test_imap_50
#[test]
fn imap_runs_in_constant_memory_at_concurrency_50() {
    imap_memory_check(50);
}

// eventlet: tests/greenpool_test.py Stress.test_imap_500
#[test]
fn imap_runs_in_constant_memory_at_concurrency_500() {
    imap_memory_check(500);
}

// eventlet: tests/greenpool_test.py Stress.test_with_intpool
// (adapted: eventlet's `pools.Pool` of integers, created on demand up to `max_size`, is
// [`IntPool`]: a queue of tokens plus a creation counter.)
#[test]
fn pool_workers_sharing_a_bounded_resource_pool_do_not_deadlock() {
    struct IntPool {
        free: Queue<usize>,
        created: std::cell::Cell<usize>,
        max_size: usize,
    }
    impl IntPool {
        fn get(&self) -> usize {
            if let Ok(t) = self.free.try_get() {
                return t;
            }
            if self.created.get() < self.max_size {
                self.created.set(self.created.get() + 1);
                return self.created.get();
            }
            self.free.get()
        }
        fn put(&self, token: usize) {
            self.free.put(token);
        }
    }
    let subtest = |intpool_size: usize, pool_size: usize, num_executes: usize| {
        let int_pool =
            Rc::new(IntPool { free: Queue::new(), created: std::cell::Cell::new(0), max_size: intpool_size });
        let pool = GreenPool::new(pool_size);
        for _ in 0..num_executes {
            let ip = int_pool.clone();
            pool.spawn(move || {
                let token = ip.get();
                green::sleep(Duration::from_micros(100));
                ip.put(token);
                token
            });
        }
        pool.waitall();
        assert!(int_pool.created.get() <= intpool_size);
    };
    subtest(4, 7, 7);
    subtest(50, 75, 100);
    for isize in [10, 20, 30, 40, 50] {
        for psize in [5, 25, 35, 50] {
            subtest(isize, psize, psize);
        }
    }
}
