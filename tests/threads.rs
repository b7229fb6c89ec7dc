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
