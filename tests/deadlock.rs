//! Exact deadlock detection: the root waits and nothing can wake anything.

use std::time::Duration;

use crate::util::*;

#[test]
fn root_waiting_on_an_event_nobody_sends_panics_with_wait_reasons() {
    let msg = on_fresh_thread(|| {
        panic_message_of(|| {
            let ev: green::Event<()> = green::Event::new();
            let e = ev.clone();
            let _worker = green::Builder::new().name("stuck-worker").spawn(move || e.wait());
            ev.wait();
        })
    });
    assert!(msg.contains("green: deadlock"), "{msg}");
    assert!(msg.contains("the root greenlet waits in Event::wait at tests/deadlock.rs:"), "{msg}");
    assert!(msg.contains("\"stuck-worker\": blocked in Event::wait at tests/deadlock.rs:"), "{msg}");
    assert!(msg.contains("Make sure something will set, put or release what it waits for"), "the way out: {msg}");
}

#[test]
fn waiting_on_a_greenthread_blocked_for_ever_is_a_deadlock() {
    let msg = on_fresh_thread(|| {
        panic_message_of(|| {
            let q: green::Queue<u8> = green::Queue::new();
            let gt = green::spawn(move || q.get());
            let _ = gt.wait();
        })
    });
    assert!(msg.contains("GreenThread::wait"), "{msg}");
    assert!(msg.contains("blocked in Queue::get"), "{msg}");
}

#[test]
fn a_pending_timer_is_not_a_deadlock() {
    // Something can still happen: the timer wakes the sleeper, which sends the event.
    let ev = green::Event::new();
    let e = ev.clone();
    green::spawn(move || {
        green::sleep(ms(2));
        e.send(1).unwrap();
    });
    assert_eq!(ev.wait(), 1);
}

#[test]
fn the_hub_stays_usable_after_a_deadlock_panic() {
    on_fresh_thread(|| {
        let _ = panic_message_of(|| {
            let ev: green::Event<()> = green::Event::new();
            ev.wait();
        });
        let gt = green::spawn(|| 5);
        assert_eq!(gt.wait().unwrap(), 5);
        green::sleep(Duration::from_millis(1));
    });
}
