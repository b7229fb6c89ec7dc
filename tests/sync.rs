//! Green `Mutex`, `Condvar` and channels: locks held across switches, FIFO hand-off, nothing lost
//! when a holder or waiter is killed, disconnection, and timeouts.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use green::channel::{self, RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use green::{Condvar, Mutex};
use green_harness::Harness;

use crate::util::*;

// ===== Mutex =====

#[test]
fn a_mutex_holder_that_switches_keeps_the_lock_and_waiters_are_served_in_order() {
    let m = Rc::new(Mutex::new(Vec::new()));
    let log = Log::<String>::new();
    let gts: Vec<_> = (0..4)
        .map(|i| {
            let (m, log) = (m.clone(), log.clone());
            green::spawn(move || {
                let mut g = m.lock();
                log.push(format!("in {i}"));
                green::sleep(ms(2)); // a switch while holding: the others stay out
                g.push(i);
                log.push(format!("out {i}"));
            })
        })
        .collect();
    gts.into_iter().for_each(|g| g.wait().unwrap());
    assert_eq!(*m.lock(), [0, 1, 2, 3]);
    assert_eq!(log.get(), ["in 0", "out 0", "in 1", "out 1", "in 2", "out 2", "in 3", "out 3"]);
}

#[test]
fn an_unlock_hands_the_lock_to_the_first_waiter_so_the_unlocker_cannot_barge() {
    let m = Rc::new(Mutex::new(Vec::new()));
    let g = m.lock();
    let m2 = m.clone();
    let waiter = green::spawn(move || m2.lock().push("waiter"));
    yield_now(); // the waiter queues
    assert_eq!(m.waiting(), 1);
    drop(g);
    // Re-locking at once queues behind the waiter, which already owns the lock.
    assert!(m.try_lock().is_none());
    m.lock().push("root");
    waiter.wait().unwrap();
    assert_eq!(*m.lock(), ["waiter", "root"]);
}

#[test]
fn killing_a_holder_across_a_switch_releases_the_lock_to_the_next_waiter() {
    let m = Rc::new(Mutex::new(0));
    let m1 = m.clone();
    let holder = green::spawn(move || {
        let mut g = m1.lock();
        *g += 1;
        green::sleep(Duration::from_secs(3600)); // parked forever, holding the lock
        *g += 100;
    });
    yield_now();
    assert!(m.is_locked());
    let m2 = m.clone();
    let next = green::spawn(move || *m2.lock() += 10);
    yield_now();
    holder.kill();
    assert!(holder.wait().unwrap_err().is_killed());
    next.wait().unwrap();
    assert_eq!(*m.lock(), 11);
    assert!(!m.is_locked());
}

#[test]
fn a_waiter_handed_the_lock_that_is_killed_before_it_runs_passes_the_lock_on() {
    let m = Rc::new(Mutex::new(Vec::new()));
    let g = m.lock();
    let (a, b) = (m.clone(), m.clone());
    let first = green::spawn(move || a.lock().push("first"));
    let second = green::spawn(move || b.lock().push("second"));
    yield_now(); // both queue
    drop(g); // the lock is handed to `first`, which has not run yet
    assert!(m.is_locked());
    assert_eq!(m.waiting(), 1);
    first.kill();
    assert!(first.wait().unwrap_err().is_killed());
    second.wait().unwrap();
    assert_eq!(*m.lock(), ["second"]);
}

#[test]
fn a_killed_waiter_leaves_the_queue() {
    let m = Rc::new(Mutex::new(()));
    let g = m.lock();
    let m1 = m.clone();
    let w = green::spawn(move || drop(m1.lock()));
    yield_now();
    assert_eq!(m.waiting(), 1);
    w.kill();
    assert_eq!(m.waiting(), 0);
    drop(g);
    assert!(!m.is_locked());
    assert!(m.try_lock().is_some());
}

#[test]
fn lock_timeout_gives_up_and_a_green_timeout_interrupts_a_lock() {
    let m = Rc::new(Mutex::new(()));
    let m1 = m.clone();
    let holder = green::spawn(move || {
        let _g = m1.lock();
        green::sleep(ms(200));
    });
    yield_now();
    let (got, took) = timed(|| m.lock_timeout(ms(20)).is_some());
    assert!(!got);
    assert!(took >= ms(20), "{took:?}");
    let r = green::with_timeout(ms(20), || drop(m.lock()));
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(m.waiting(), 0);
    holder.wait().unwrap();
    assert!(m.lock_timeout(ms(20)).is_some());
}

#[test]
fn locking_a_mutex_twice_from_one_greenthread_panics_instead_of_deadlocking() {
    let m = Mutex::new(());
    let _g = m.lock();
    let msg = panic_message_of(|| drop(m.lock()));
    assert!(msg.contains("locks a green::Mutex it already holds"), "{msg}");
    assert!(msg.contains("drop the first guard"), "{msg}");
}

#[test]
fn two_greenthreads_locking_two_mutexes_in_opposite_order_is_reported_as_a_deadlock() {
    let msg = on_fresh_thread(|| {
        panic_message_of(|| {
            let (a, b) = (Rc::new(Mutex::new(())), Rc::new(Mutex::new(())));
            let (a1, b1) = (a.clone(), b.clone());
            let t = green::Builder::new().name("ab").spawn(move || {
                let _x = a1.lock();
                green::sleep(ms(1));
                let _y = b1.lock();
            });
            let _y = b.lock();
            green::sleep(ms(1));
            let _x = a.lock();
            drop(t);
        })
    });
    assert!(msg.contains("green: deadlock"), "{msg}");
    assert!(msg.contains("the root greenlet waits in Mutex::lock at tests/sync.rs:"), "{msg}");
    assert!(msg.contains("\"ab\": blocked in Mutex::lock at tests/sync.rs:"), "{msg}");
}

#[test]
fn locking_a_mutex_in_hub_context_panics_naming_the_misuse() {
    green::debug::hub_exceptions(false);
    let before = green::debug::hub_exception_log().len();
    let m = Rc::new(Mutex::new(()));
    let m1 = m.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || drop(m1.lock()));
    green::sleep(ms(1));
    let log = green::debug::hub_exception_log();
    assert_eq!(log.len(), before + 1, "{log:?}");
    assert!(log[before].contains("Mutex::lock called from hub context"), "{log:?}");
    // try_lock never blocks, so a hub callback may use it.
    let m2 = m.clone();
    let got = Rc::new(Cell::new(false));
    let g2 = got.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || g2.set(m2.try_lock().is_some()));
    green::sleep(ms(1));
    assert!(got.get());
    assert!(!m.is_locked());
}

#[test]
fn debug_of_a_locked_mutex_never_blocks_and_counts_waiters() {
    let m = Rc::new(Mutex::new(1));
    let g = m.lock();
    let m1 = m.clone();
    let w = green::spawn(move || *m1.lock() += 1);
    yield_now();
    assert_eq!(format!("{m:?}"), "Mutex { data: <locked>, locked: true, waiting: 1 }");
    drop(g);
    w.wait().unwrap();
    assert_eq!(format!("{m:?}"), "Mutex { data: 2, locked: false, waiting: 0 }");
}

// ===== Condvar =====

#[test]
fn notify_one_wakes_waiters_in_order_and_notify_all_wakes_the_rest() {
    let state = Rc::new((Mutex::new(0u32), Condvar::new()));
    let log = Log::<u32>::new();
    let gts: Vec<_> = (0..3u32)
        .map(|i| {
            let (state, log) = (state.clone(), log.clone());
            green::spawn(move || {
                let g = state.0.lock();
                let g = state.1.wait(g);
                log.push(i);
                drop(g);
            })
        })
        .collect();
    yield_now();
    assert_eq!(state.1.waiting(), 3);
    state.1.notify_one();
    yield_now();
    assert_eq!(log.get(), [0]);
    state.1.notify_all();
    gts.into_iter().for_each(|g| g.wait().unwrap());
    assert_eq!(log.get(), [0, 1, 2]);
}

#[test]
fn a_notified_waiter_killed_before_it_runs_passes_the_notification_on() {
    let state = Rc::new((Mutex::new(()), Condvar::new()));
    let woke = Rc::new(Cell::new(0));
    let spawn_waiter = |state: Rc<(Mutex<()>, Condvar)>, woke: Rc<Cell<u32>>| {
        green::spawn(move || {
            let g = state.1.wait(state.0.lock());
            woke.set(woke.get() + 1);
            drop(g);
        })
    };
    let first = spawn_waiter(state.clone(), woke.clone());
    let second = spawn_waiter(state.clone(), woke.clone());
    yield_now();
    state.1.notify_one(); // goes to `first`...
    assert_eq!(state.1.waiting(), 1);
    first.kill(); // ...which dies before running: `second` gets it
    second.wait().unwrap();
    assert_eq!(woke.get(), 1);
    assert_eq!(state.1.waiting(), 0);
}

#[test]
fn a_notified_waiter_killed_while_it_relocks_passes_the_notification_on() {
    let state = Rc::new((Mutex::new(()), Condvar::new()));
    let woke = Rc::new(Cell::new(0));
    let waiter = |state: Rc<(Mutex<()>, Condvar)>, woke: Rc<Cell<u32>>| {
        green::spawn(move || {
            let g = state.1.wait(state.0.lock());
            woke.set(woke.get() + 1);
            drop(g);
        })
    };
    let first = waiter(state.clone(), woke.clone());
    let second = waiter(state.clone(), woke.clone());
    yield_now();
    let held = state.0.lock(); // the root holds the mutex: a woken waiter blocks re-locking
    state.1.notify_one();
    yield_now(); // `first` wakes and waits for the mutex
    assert_eq!(state.1.waiting(), 1);
    first.kill(); // dies while re-locking: the notification goes to `second`
    assert!(first.wait().unwrap_err().is_killed());
    drop(held);
    second.wait().unwrap();
    assert_eq!(woke.get(), 1);
}

#[test]
fn a_notify_all_waiter_killed_before_it_runs_wakes_nobody_newer() {
    let state = Rc::new((Mutex::new(()), Condvar::new()));
    let woke = Log::<&'static str>::new();
    let waiter = |name: &'static str, state: Rc<(Mutex<()>, Condvar)>, woke: Log<&'static str>| {
        green::spawn(move || {
            let g = state.1.wait(state.0.lock());
            woke.push(name);
            drop(g);
        })
    };
    let a = waiter("a", state.clone(), woke.clone());
    let b = waiter("b", state.clone(), woke.clone());
    yield_now();
    state.1.notify_all(); // wakes a and b
    let late = waiter("late", state.clone(), woke.clone()); // waits after the notification
    a.kill();
    b.wait().unwrap();
    yield_now();
    assert_eq!(woke.get(), ["b"]);
    assert_eq!(state.1.waiting(), 1, "the late waiter was not woken in a's place");
    state.1.notify_one();
    late.wait().unwrap();
}

#[test]
fn condvar_wait_timeout_reports_a_timeout_and_relocks() {
    let (m, c) = (Mutex::new(5), Condvar::new());
    let (g, timed_out) = c.wait_timeout(m.lock(), ms(5));
    assert!(timed_out);
    assert_eq!(*g, 5);
    assert!(m.is_locked());
}

#[test]
fn a_condvar_producer_consumer_under_harness_perturbation_loses_nothing() {
    for seed in 1..=8 {
        Harness::new().seed(seed).shuffle(true).jitter(ms(3)).run(|| {
            let q = Rc::new((Mutex::new(Vec::new()), Condvar::new()));
            let producers: Vec<_> = (0..3u32)
                .map(|p| {
                    let q = q.clone();
                    green::spawn(move || {
                        for i in 0..10 {
                            green::sleep(ms(u64::from(i % 3)));
                            q.0.lock().push(p * 100 + i);
                            q.1.notify_one();
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            while got.len() < 30 {
                let mut g = q.1.wait_while(q.0.lock(), |v| v.is_empty());
                got.append(&mut g);
            }
            producers.into_iter().for_each(|g| g.wait().unwrap());
            got.sort();
            let want: Vec<u32> = (0..3).flat_map(|p| (0..10).map(move |i| p * 100 + i)).collect();
            assert_eq!(got, want);
        });
    }
}

// ===== channels =====

#[test]
fn recv_drains_the_buffer_then_errors_once_every_sender_is_gone() {
    let (tx, rx) = channel::unbounded();
    let tx2 = tx.clone();
    tx.send(1).unwrap();
    tx2.send(2).unwrap();
    drop(tx);
    assert!(!rx.is_disconnected());
    drop(tx2);
    assert!(rx.is_disconnected());
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.recv(), Err(RecvError));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn a_receiver_blocked_on_an_empty_channel_is_woken_by_disconnection() {
    let (tx, rx) = channel::unbounded::<u8>();
    let receiver = green::spawn(move || rx.recv());
    yield_now();
    drop(tx);
    assert_eq!(receiver.wait().unwrap(), Err(RecvError));
}

#[test]
fn a_sender_blocked_on_a_full_channel_gets_its_value_back_when_the_receiver_goes() {
    let (tx, rx) = channel::bounded(1);
    tx.send(1).unwrap();
    let sender = green::spawn(move || tx.send(2));
    yield_now();
    drop(rx);
    assert_eq!(sender.wait().unwrap(), Err(SendError(2)));
}

#[test]
fn senders_waiting_on_a_full_channel_are_served_in_the_order_they_came() {
    let (tx, rx) = channel::bounded(1);
    tx.send(0).unwrap();
    let senders: Vec<_> = (1..=3u32)
        .map(|i| {
            let tx = tx.clone();
            let s = green::spawn(move || tx.send(i).unwrap());
            yield_now(); // queue them one by one, in order
            s
        })
        .collect();
    drop(tx);
    assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
    senders.into_iter().for_each(|g| g.wait().unwrap());
}

#[test]
fn a_send_cannot_overtake_a_sender_granted_room() {
    let (tx, rx) = channel::bounded(2);
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    let t1 = tx.clone();
    let queued = green::spawn(move || t1.send(2).unwrap());
    yield_now(); // waits for room
    assert_eq!(rx.recv(), Ok(0)); // room granted to `queued`, which has not run yet
    assert_eq!(rx.recv(), Ok(1));
    // Room for one more now, but the granted sender comes first.
    assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
    queued.wait().unwrap();
    tx.send(3).unwrap();
    assert_eq!((rx.recv(), rx.recv()), (Ok(2), Ok(3)));
}

#[test]
fn a_value_handed_to_a_receiver_counts_so_a_give_back_never_overfills_the_channel() {
    let (tx, rx) = channel::bounded(1);
    let rx = Rc::new(rx);
    let r1 = rx.clone();
    let receiver = green::spawn(move || r1.recv());
    yield_now();
    tx.send("a").unwrap(); // handed to the waiting receiver
    assert!(matches!(tx.try_send("b"), Err(TrySendError::Full("b"))), "the handed value holds the one slot");
    receiver.kill(); // gives "a" back
    assert_eq!(rx.len(), 1);
    assert_eq!(rx.try_recv(), Ok("a"));
    tx.try_send("b").unwrap();
}

#[test]
fn a_given_back_value_goes_to_the_next_waiting_receiver() {
    let (tx, rx) = channel::unbounded();
    let rx = Rc::new(rx);
    let (r1, r2) = (rx.clone(), rx.clone());
    let first = green::spawn(move || r1.recv());
    let second = green::spawn(move || r2.recv());
    yield_now(); // both wait
    tx.send(7).unwrap(); // handed to `first`
    first.kill(); // ...which passes it to `second`
    drop(tx);
    assert_eq!(second.wait().unwrap(), Ok(7));
}

#[test]
fn a_sender_granted_room_fails_if_the_receiver_goes_before_it_runs() {
    let (tx, rx) = channel::bounded(1);
    tx.send(1).unwrap();
    let t1 = tx.clone();
    let sender = green::spawn(move || t1.send(2));
    yield_now();
    assert_eq!(rx.recv(), Ok(1)); // room granted to `sender`, not run yet
    drop(rx);
    assert_eq!(sender.wait().unwrap(), Err(SendError(2)));
}

#[test]
fn dropping_the_receiver_drops_the_buffered_values_at_once() {
    let drops = DropCounter::new();
    let (tx, rx) = channel::unbounded();
    tx.send(drops.token()).unwrap();
    tx.send(drops.token()).unwrap();
    drop(rx);
    assert_eq!(drops.dropped(), 2);
    assert!(tx.is_disconnected());
}

#[test]
fn a_receiver_handed_a_value_that_is_killed_before_it_runs_puts_the_value_back() {
    let (tx, rx) = channel::unbounded();
    let rx = Rc::new(rx);
    let r1 = rx.clone();
    let receiver = green::spawn(move || r1.recv());
    yield_now(); // it waits
    tx.send("kept").unwrap(); // handed to the waiting receiver, which has not run yet
    receiver.kill();
    assert!(receiver.wait().unwrap_err().is_killed());
    assert_eq!(rx.try_recv(), Ok("kept"));
}

#[test]
fn a_sender_granted_room_that_is_killed_passes_the_room_to_the_next_sender() {
    let (tx, rx) = channel::bounded(1);
    tx.send(0).unwrap();
    let (t1, t2) = (tx.clone(), tx.clone());
    let first = green::spawn(move || t1.send(1));
    let second = green::spawn(move || t2.send(2));
    yield_now(); // both wait for room
    assert_eq!(rx.recv(), Ok(0)); // room granted to `first`, which has not run yet
    first.kill();
    assert!(first.wait().unwrap_err().is_killed());
    second.wait().unwrap().unwrap();
    assert_eq!(rx.recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn channel_timeouts_and_green_timeouts() {
    let (tx, rx) = channel::bounded(1);
    assert_eq!(rx.recv_timeout(ms(5)), Err(RecvTimeoutError::Timeout));
    tx.send(1).unwrap();
    assert!(matches!(tx.send_timeout(2, ms(5)), Err(TrySendError::Full(2))));
    assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
    assert_eq!(rx.recv(), Ok(1));
    let r = green::with_timeout(ms(5), || rx.recv());
    assert!(r.unwrap_err().is_timeout());
    // The interrupted receive left nothing behind: a later send is received normally.
    tx.send(4).unwrap();
    assert_eq!(rx.recv_timeout(ms(5)), Ok(4));
    drop(tx);
    assert_eq!(rx.recv_timeout(ms(5)), Err(RecvTimeoutError::Disconnected));
}

#[test]
fn a_zero_capacity_channel_is_refused_with_the_way_out() {
    let msg = panic_message_of(|| drop(channel::bounded::<u8>(0)));
    assert!(msg.contains("bounded(0)") && msg.contains("use bounded(1)"), "{msg}");
}

#[test]
fn a_channel_pipeline_under_harness_perturbation_delivers_everything_once() {
    for seed in 1..=8 {
        Harness::new().seed(seed).shuffle(true).jitter(ms(2)).run(|| {
            let (tx, rx) = channel::bounded(3);
            let (out_tx, out_rx) = channel::unbounded();
            let stage = green::spawn(move || {
                for v in &rx {
                    green::sleep(ms(v % 2));
                    out_tx.send(v * 2).unwrap();
                }
            });
            let producers: Vec<_> = (0..4u64)
                .map(|p| {
                    let tx = tx.clone();
                    green::spawn(move || (0..25).for_each(|i| tx.send(p * 1000 + i).unwrap()))
                })
                .collect();
            drop(tx);
            let mut got: Vec<u64> = out_rx.iter().collect();
            producers.into_iter().for_each(|g| g.wait().unwrap());
            stage.wait().unwrap();
            got.sort();
            let mut want: Vec<u64> = (0..4).flat_map(|p| (0..25).map(move |i| (p * 1000 + i) * 2)).collect();
            want.sort();
            assert_eq!(got, want);
        });
    }
}
