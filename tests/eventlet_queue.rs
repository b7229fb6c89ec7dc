//! Ports of eventlet's `tests/queue_test.py`.
//!
//! eventlet's `Queue(0)` is `Queue::bounded(0)` (a channel), `put_nowait`/`get_nowait` are
//! `try_put`/`try_get`, `put(x, timeout=t)` is `put_timeout(x, t)`, `empty()`/`full()` are
//! `is_empty()`/`is_full()`, and `resize(None)` is `resize(None)`.

use std::rc::Rc;
use std::time::Duration;

use green::queue::{Empty, Full};
use green::{Event, Queue};

use crate::util::*;

/// eventlet's `do_bail(q)`: arms `Timeout(0, RuntimeError())`, then `q.get()`; returns the item,
/// or `'timed out'` when the zero timeout interrupted the get.
fn do_bail(q: &Queue<&'static str>) -> &'static str {
    match green::with_timeout(Duration::ZERO, || q.get()) {
        Ok(v) => v,
        Err(e) => {
            assert!(e.is_timeout(), "{e}");
            "timed out"
        }
    }
}

// eventlet: tests/queue_test.py TestQueue.test_send_first
#[test]
fn an_item_put_first_is_got() {
    let q = Queue::new();
    q.put("hi");
    assert_eq!(q.get(), "hi");
}

// eventlet: tests/queue_test.py TestQueue.test_send_last
#[test]
fn a_waiting_getter_receives_a_later_put() {
    let q = Queue::new();
    let rx = q.clone();
    let gt = green::spawn(move || green::with_timeout(ms(100), || assert_eq!(rx.get(), "hi2")));
    green::sleep(Duration::ZERO);
    green::sleep(Duration::ZERO);
    q.put("hi2");
    gt.wait().unwrap().unwrap();
}

// eventlet: tests/queue_test.py TestQueue.test_max_size
#[test]
fn a_put_on_a_full_queue_waits_until_a_get_makes_room() {
    let q = Queue::bounded(2);
    let results: Log<&str> = Log::new();
    let (tx, r) = (q.clone(), results.clone());
    let gt = green::spawn(move || {
        tx.put("a");
        r.push("a");
        tx.put("b");
        r.push("b");
        tx.put("c");
        r.push("c");
    });
    green::sleep(Duration::ZERO);
    assert_eq!(results.get(), ["a", "b"]);
    assert_eq!(q.get(), "a");
    green::sleep(Duration::ZERO);
    assert_eq!(results.get(), ["a", "b", "c"]);
    assert_eq!(q.get(), "b");
    assert_eq!(q.get(), "c");
    gt.wait().unwrap();
}

/// eventlet's `sender(evt, q)`: puts `'hi'`, then sends `'done'`.
fn sender(evt: &Event<&'static str>, q: &Queue<&'static str>) -> green::GreenThread<()> {
    let (evt, q) = (evt.clone(), q.clone());
    green::spawn(move || {
        q.put("hi");
        evt.send("done").unwrap();
    })
}

// eventlet: tests/queue_test.py TestQueue.test_zero_max_size
#[test]
fn a_channel_put_waits_for_a_getter() {
    let q = Queue::bounded(0);
    let evt = Event::new();
    let gt = sender(&evt, &q);
    green::sleep(Duration::ZERO);
    assert!(!evt.ready());
    let rx = q.clone();
    let gt2 = green::spawn(move || rx.get());
    assert_eq!(gt2.wait().unwrap(), "hi");
    assert_eq!(evt.wait(), "done");
    gt.wait().unwrap();
}

// eventlet: tests/queue_test.py TestQueue.test_resize_up
#[test]
fn growing_a_channel_lets_a_blocked_sender_in() {
    let q = Queue::bounded(0);
    let evt = Event::new();
    let gt = sender(&evt, &q);
    green::sleep(Duration::ZERO);
    assert!(!evt.ready());
    q.resize(Some(1));
    green::sleep(Duration::ZERO);
    assert!(evt.ready());
    gt.wait().unwrap();
}

// eventlet: tests/queue_test.py TestQueue.test_resize_down
// (adapted: eventlet inspects `q.queue`; here the length is checked and the items are taken out
// in order.)
#[test]
fn shrinking_a_queue_drops_nothing() {
    let q = Queue::bounded(5);
    for i in 0..5 {
        q.put(i);
    }
    assert_eq!(q.len(), 5);
    q.resize(Some(1));
    green::sleep(Duration::ZERO);
    assert_eq!(q.len(), 5);
    let items: Vec<i32> = (0..5).map(|_| q.try_get().unwrap()).collect();
    assert_eq!(items, [0, 1, 2, 3, 4]);
}

// eventlet: tests/queue_test.py TestQueue.test_resize_to_Unlimited
#[test]
fn making_a_channel_unbounded_lets_a_blocked_sender_in() {
    let q = Queue::bounded(0);
    let evt = Event::new();
    let gt = sender(&evt, &q);
    green::sleep(Duration::ZERO);
    assert!(!evt.ready());
    q.resize(None);
    green::sleep(Duration::ZERO);
    assert!(evt.ready());
    gt.wait().unwrap();
}

// eventlet: tests/queue_test.py TestQueue.test_multiple_waiters
#[test]
fn every_waiting_getter_gets_one_item() {
    let q = Queue::new();
    let sendings = ["1", "2", "3", "4"];
    let gts: Vec<_> = sendings
        .iter()
        .map(|_| {
            let rx = q.clone();
            green::spawn(move || rx.get())
        })
        .collect();
    green::sleep(ms(10)); // get them all waiting
    for s in sendings {
        q.put(s);
    }
    let mut results: Vec<&str> = gts.iter().map(|gt| gt.wait().unwrap()).collect();
    results.sort();
    assert_eq!(results, sendings);
}

// eventlet: tests/queue_test.py TestQueue.test_waiters_that_cancel
#[test]
fn a_getter_that_timed_out_leaves_the_queue_working() {
    let q = Queue::new();
    let rx = q.clone();
    let gt = green::spawn(move || do_bail(&rx));
    assert_eq!(gt.wait().unwrap(), "timed out");
    q.put("hi");
    assert_eq!(q.get(), "hi");
}

// eventlet: tests/queue_test.py TestQueue.test_getting_before_sending
#[test]
fn get_waits_for_a_put_from_a_greenthread() {
    let q = Queue::new();
    let tx = q.clone();
    let gt = green::spawn(move || tx.put("sent"));
    assert_eq!(q.get(), "sent");
    gt.wait().unwrap();
}

// eventlet: tests/queue_test.py TestQueue.test_two_waiters_one_dies
#[test]
fn an_item_goes_past_a_getter_that_timed_out_to_the_next_getter() {
    let q = Queue::new();
    let rx = q.clone();
    let dying = green::spawn(move || do_bail(&rx));
    let rx = q.clone();
    let waiting = green::spawn(move || rx.get());
    green::sleep(Duration::ZERO);
    q.put("hi");
    assert_eq!(dying.wait().unwrap(), "timed out");
    assert_eq!(waiting.wait().unwrap(), "hi");
}

// eventlet: tests/queue_test.py TestQueue.test_two_bogus_waiters
#[test]
fn an_item_is_not_lost_when_every_getter_timed_out() {
    let q = Queue::new();
    let rx = q.clone();
    let gt1 = green::spawn(move || do_bail(&rx));
    let rx = q.clone();
    let gt2 = green::spawn(move || do_bail(&rx));
    green::sleep(Duration::ZERO);
    q.put("sent");
    assert_eq!(gt1.wait().unwrap(), "timed out");
    assert_eq!(gt2.wait().unwrap(), "timed out");
    assert_eq!(q.get(), "sent");
}

// eventlet: tests/queue_test.py TestQueue.test_waiting
#[test]
fn getting_counts_blocked_getters() {
    let q = Queue::new();
    let rx = q.clone();
    let gt1 = green::spawn(move || rx.get());
    green::sleep(Duration::ZERO);
    assert_eq!(q.getting(), 1);
    q.put("hi");
    green::sleep(Duration::ZERO);
    assert_eq!(q.getting(), 0);
    assert_eq!(gt1.wait().unwrap(), "hi");
    assert_eq!(q.getting(), 0);
}

// eventlet: tests/queue_test.py TestQueue.test_channel_send
#[test]
fn channel_puts_hand_off_to_the_getter_in_order() {
    let channel = Queue::bounded(0);
    let events: Log<&str> = Log::new();
    let (rx, ev) = (channel.clone(), events.clone());
    green::spawn(move || {
        ev.push(rx.get());
        ev.push(rx.get());
    });
    events.push("sending");
    channel.put("hello");
    events.push("sent hello");
    channel.put("world");
    events.push("sent world");
    assert_eq!(events.get(), ["sending", "hello", "sent hello", "world", "sent world"]);
}

// eventlet: tests/queue_test.py TestQueue.test_channel_wait
#[test]
fn channel_gets_hand_off_from_the_putter_in_order() {
    let channel = Queue::bounded(0);
    let events: Log<&str> = Log::new();
    let (tx, ev) = (channel.clone(), events.clone());
    green::spawn(move || {
        ev.push("sending hello");
        tx.put("hello");
        ev.push("sending world");
        tx.put("world");
        ev.push("sent world");
    });
    events.push("waiting");
    events.push(channel.get());
    events.push(channel.get());
    assert_eq!(events.get(), ["waiting", "sending hello", "hello", "sending world", "world"]);
    green::sleep(Duration::ZERO);
    assert_eq!(events.get(), ["waiting", "sending hello", "hello", "sending world", "world", "sent world"]);
}

// eventlet: tests/queue_test.py TestQueue.test_channel_waiters
#[test]
fn several_channel_getters_each_get_one_put() {
    let c = Queue::bounded(0);
    let getter = || {
        let rx = c.clone();
        green::spawn(move || rx.get())
    };
    let (w1, w2, w3) = (getter(), getter(), getter());
    green::sleep(Duration::ZERO);
    assert_eq!(c.getting(), 3);
    let putter = |x: i32| {
        let tx = c.clone();
        green::spawn(move || tx.put(x))
    };
    let (s1, s2, s3) = (putter(1), putter(2), putter(3));
    s1.wait().unwrap();
    s2.wait().unwrap();
    s3.wait().unwrap();
    assert_eq!(c.getting(), 0);
    // Waiters are not guaranteed to be served in order.
    let mut results = [w1.wait().unwrap(), w2.wait().unwrap(), w3.wait().unwrap()];
    results.sort();
    assert_eq!(results, [1, 2, 3]);
}

// eventlet: tests/queue_test.py TestQueue.test_channel_sender_timing_out
#[test]
fn a_timed_channel_put_without_a_getter_gives_the_item_back() {
    let c = Queue::bounded(0);
    assert_eq!(c.put_timeout("hi", ms(1)), Err(Full("hi")));
    assert_eq!(c.try_get(), Err(Empty));
}

// eventlet: tests/queue_test.py TestQueue.test_task_done
#[test]
fn task_done_counts_down_unfinished_tasks() {
    let channel = Queue::bounded(0);
    let x = Rc::new("X");
    let (tx, item) = (channel.clone(), x.clone());
    let gt = green::spawn(move || tx.put(item));
    let result = channel.get();
    assert!(Rc::ptr_eq(&result, &x), "a different object was received");
    assert_eq!(channel.unfinished_tasks(), 1);
    channel.task_done().unwrap();
    assert_eq!(channel.unfinished_tasks(), 0);
    gt.wait().unwrap();
}

// eventlet: tests/queue_test.py TestQueue.test_join_doesnt_block_when_queue_is_already_empty
#[test]
fn join_returns_at_once_on_an_empty_queue() {
    let queue: Queue<()> = Queue::new();
    queue.join();
}

// eventlet: tests/queue_test.py TestQueue.test_zero_length_queue_nonblocking_put
// (eventlet throws `Exception('kaboom')` into each bad getter from a zero-delay hub timer; here
// the timer kills it, which unwinds it at once from hub context.)
#[test]
fn channel_getters_killed_from_the_hub_do_not_swallow_items() {
    let queue = Queue::bounded(0);
    let got: Log<i32> = Log::new();
    let fetch_item = || {
        let (q, g) = (queue.clone(), got.clone());
        green::spawn(move || g.push(q.get()))
    };
    for _ in 0..10 {
        let _good_getter = fetch_item();
        let bad_getter = fetch_item();
        green::hub::schedule_call_global(Duration::ZERO, move || bad_getter.kill());
    }
    green::sleep(Duration::ZERO);
    for i in 0..10 {
        queue.put(i);
    }
    assert_eq!(got.get(), (0..10).collect::<Vec<_>>());
}

/// eventlet's `store_result(result, func, *args)`: the call's value or its exception.
type Stored<T> = Log<Result<Option<T>, &'static str>>;

// eventlet: tests/queue_test.py TestNoWait.test_put_nowait_simple
// (adapted: the `put_nowait` calls run in hub context, from zero-delay `schedule_call_global`
// callbacks, as in eventlet; `None` is `Ok(None)` and `queue.Full` is `Err("Full")`.)
#[test]
fn try_put_from_hub_context_fills_then_reports_full() {
    let result: Stored<()> = Log::new();
    let q = Queue::bounded(1);
    for item in [2, 3] {
        let (q, r) = (q.clone(), result.clone());
        green::hub::schedule_call_global(Duration::ZERO, move || {
            r.push(q.try_put(item).map(|()| None).map_err(|Full(_)| "Full"));
        });
    }
    green::sleep(Duration::ZERO);
    green::sleep(Duration::ZERO);
    assert_eq!(result.get(), [Ok(None), Err("Full")]);
}

// eventlet: tests/queue_test.py TestNoWait.test_get_nowait_simple
#[test]
fn try_get_from_hub_context_takes_the_item_then_reports_empty() {
    let result: Stored<i32> = Log::new();
    let q = Queue::bounded(1);
    q.put(4);
    for _ in 0..2 {
        let (q, r) = (q.clone(), result.clone());
        green::hub::schedule_call_global(Duration::ZERO, move || {
            r.push(q.try_get().map(Some).map_err(|Empty| "Empty"));
        });
    }
    green::sleep(Duration::ZERO);
    assert_eq!(result.get(), [Ok(Some(4)), Err("Empty")]);
}

// eventlet: tests/queue_test.py TestNoWait.test_get_nowait_unlock
// (adapted: eventlet's `get_nowait` in the hub switches into the blocked putter, which finishes
// before the callback returns, so the putter is dead after one `sleep(0)`. Hub context never
// switches here: the putter is woken and finishes at the next pass, so one more `sleep(0)` comes
// before checking that it is dead.)
#[test]
fn try_get_from_hub_context_takes_the_item_of_a_blocked_channel_putter() {
    let result: Stored<i32> = Log::new();
    let q = Queue::bounded(0);
    let tx = q.clone();
    let p = green::spawn(move || tx.put(5));
    assert!(q.is_empty());
    assert!(q.is_full());
    green::sleep(Duration::ZERO);
    assert!(q.is_empty());
    assert!(q.is_full());
    let (qq, r) = (q.clone(), result.clone());
    green::hub::schedule_call_global(Duration::ZERO, move || {
        r.push(qq.try_get().map(Some).map_err(|Empty| "Empty"));
    });
    green::sleep(Duration::ZERO);
    assert!(q.is_empty());
    assert!(q.is_full());
    assert_eq!(result.get(), [Ok(Some(5))]);
    green::sleep(Duration::ZERO);
    assert!(p.is_finished());
    p.wait().unwrap();
    assert!(q.is_empty());
}

// eventlet: tests/queue_test.py TestNoWait.test_put_nowait_unlock
#[test]
fn try_put_from_hub_context_hands_the_item_to_a_blocked_channel_getter() {
    let result: Stored<()> = Log::new();
    let q = Queue::bounded(0);
    let rx = q.clone();
    let getter = green::spawn(move || rx.get());
    assert!(q.is_empty());
    assert!(q.is_full());
    green::sleep(Duration::ZERO);
    assert!(q.is_empty());
    assert!(q.is_full());
    let (qq, r) = (q.clone(), result.clone());
    green::hub::schedule_call_global(Duration::ZERO, move || {
        r.push(qq.try_put(10).map(|()| None).map_err(|Full(_)| "Full"));
    });
    green::sleep(Duration::ZERO);
    assert_eq!(result.get(), [Ok(None)]);
    assert!(q.is_full());
    assert!(q.is_empty());
    assert_eq!(getter.wait().unwrap(), 10);
}

/// eventlet's `KeyboardInterrupt`, raised by the getter as a panic payload.
#[derive(Debug)]
struct KeyboardInterrupt;

// eventlet: tests/queue_test.py TestNoWait.test_wait_except
// (adapted: eventlet's KeyboardInterrupt escapes the hub into `main`'s `sleep()`. Here a panic in
// a greenthread is caught at its root; what reaches `main` is the original payload, taken from
// the error `wait()` returns, ready to be re-raised with `resume_unwind`, plus the hub's record of
// the panic.)
#[test]
fn a_fatal_error_of_a_getter_reaches_the_owner() {
    green::debug::hub_exceptions(false);
    let q = Queue::new();
    let rx = q.clone();
    let gt = green::spawn(move || {
        rx.get();
        std::panic::resume_unwind(Box::new(KeyboardInterrupt));
    });
    green::sleep(Duration::ZERO);
    q.put(());
    green::sleep(Duration::ZERO);
    assert!(gt.is_finished(), "the getter did not run after the put");
    let err = gt.wait().unwrap_err();
    assert!(err.is_panic(), "{err}");
    let payload = err.take_panic_payload().expect("the original payload");
    assert!(payload.is::<KeyboardInterrupt>());
    assert_eq!(green::debug::hub_exception_log().len(), 1);
}
