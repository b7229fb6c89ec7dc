//! Several OS threads, each with its own hub and greenthreads, at once.

use std::sync::{Arc, Barrier};
use std::time::Duration;

#[test]
fn two_os_threads_run_their_own_hubs_at_the_same_time() {
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2u64)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                // Each hub numbers its own greenthreads from 1.
                let first = green::spawn(|| ());
                assert_eq!(first.id().as_u64(), 1);
                first.wait().unwrap();
                let pool = green::GreenPool::new(8);
                let sum: u64 = pool
                    .imap(
                        move |x: u64| {
                            green::sleep(Duration::from_micros(x % 3));
                            x * (t + 1)
                        },
                        0..200,
                    )
                    .map(Result::unwrap)
                    .sum();
                // Ping-pong through a channel while the other thread does the same.
                let q = green::Queue::bounded(0);
                let q2 = q.clone();
                let echo = green::spawn(move || {
                    let mut n = 0;
                    for _ in 0..100 {
                        n += q2.get();
                    }
                    n
                });
                for i in 0..100 {
                    q.put(i);
                }
                (sum, echo.wait().unwrap())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results, [(19_900, 4_950), (39_800, 4_950)]);
}

#[test]
fn a_greenthread_panicking_in_one_thread_does_not_disturb_another() {
    let a = std::thread::spawn(|| {
        green::debug::hub_exceptions(false);
        green::spawn(|| -> u8 { panic!("thread a") }).wait().unwrap_err().is_panic()
    });
    let b = std::thread::spawn(|| {
        let gts: Vec<_> = (0..50).map(|i| green::spawn(move || i)).collect();
        gts.into_iter().map(|g| g.join().unwrap()).sum::<i32>()
    });
    assert!(a.join().unwrap());
    assert_eq!(b.join().unwrap(), 1225);
}

/// Resident set size of this process in KiB (`/proc/self/statm`).
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// One short-lived hub thread: it creates a hub, spawns greenthreads that block on each other and
/// on timers, and exits (its hub is torn down and freed).
fn one_short_hub_thread(i: u64) {
    std::thread::spawn(move || {
        let ev = green::Event::new();
        let e = ev.clone();
        let waiter = green::spawn(move || e.wait());
        let sleeper = green::spawn(move || green::sleep(Duration::from_micros(i % 5)));
        green::sleep(Duration::ZERO);
        ev.send(i).unwrap();
        assert_eq!(waiter.join().unwrap(), i);
        sleeper.join().unwrap();
        // A parked greenthread left behind: thread exit kills and unwinds it.
        green::spawn(|| green::sleep(Duration::from_secs(3600)));
        green::sleep(Duration::ZERO);
    })
    .join()
    .unwrap();
}

/// Thread churn: 10,000 threads each creating a hub, spawning, blocking and exiting. A non-main
/// thread's hub is freed at its exit, so RSS stays flat: within 10% after the first 1,000.
#[test]
fn thread_churn_keeps_rss_flat() {
    let (status, out, err) = crate::util::run_child("threads::thread_churn_child");
    assert!(status.success(), "child failed ({status}): {out}\n{err}");
    assert!(out.contains("thread churn ok"), "{out}");
}

#[test]
#[ignore = "run as a child process by thread_churn_keeps_rss_flat (RSS of a quiet process)"]
fn thread_churn_child() {
    if !crate::util::is_child("threads::thread_churn_child") {
        return;
    }
    for i in 0..1_000 {
        one_short_hub_thread(i);
    }
    let after_1k = rss_kib();
    for i in 1_000..10_000 {
        one_short_hub_thread(i);
    }
    let after_10k = rss_kib();
    println!("rss after 1,000 threads: {after_1k} KiB; after 10,000: {after_10k} KiB");
    assert!(
        after_10k * 10 <= after_1k * 11,
        "RSS grew by more than 10% over 9,000 more threads: {after_1k} KiB -> {after_10k} KiB"
    );
    println!("thread churn ok");
}
