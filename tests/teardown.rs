//! Hub teardown: thread exit and explicit shutdown unwind every live greenthread.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::*;

struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn thread_exit_unwinds_parked_and_unstarted_greenthreads() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    std::thread::spawn(move || {
        for i in 0..10 {
            let token = CountOnDrop(d.clone());
            green::spawn(move || {
                let _t = token;
                green::sleep(Duration::from_secs(3600 + i));
            });
        }
        yield_now(); // all ten are parked in sleep now
        let unstarted = CountOnDrop(d.clone());
        green::spawn(move || drop(unstarted));
        // The thread returns with eleven live greenthreads.
    })
    .join()
    .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 11);
}

#[test]
fn shutdown_unwinds_and_leaves_a_fresh_hub() {
    on_fresh_thread(|| {
        let drops = DropCounter::new();
        for _ in 0..3 {
            let t = drops.token();
            green::spawn(move || {
                let _t = t;
                green::sleep(Duration::from_secs(3600));
            });
        }
        green::hub::schedule_call_global(Duration::from_secs(3600), || {});
        yield_now();
        green::hub::shutdown();
        assert_eq!(drops.dropped(), 3);
        let stats = green::hub::timer_stats();
        assert_eq!(stats.live, 0);
        // Ids restart: this is a fresh hub.
        let gt = green::spawn(|| ());
        assert_eq!(gt.id().as_u64(), 1);
        gt.wait().unwrap();
    });
}

#[test]
fn destructors_sleeping_during_teardown_return_at_once() {
    let t0 = Instant::now();
    let slept = Arc::new(AtomicUsize::new(0));
    let s = slept.clone();
    std::thread::spawn(move || {
        struct SleepOnDrop(Arc<AtomicUsize>);
        impl Drop for SleepOnDrop {
            fn drop(&mut self) {
                green::sleep(Duration::from_secs(3600));
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let guard = SleepOnDrop(s);
        green::spawn(move || {
            let _g = guard;
            green::sleep(Duration::from_secs(3600));
        });
        yield_now();
    })
    .join()
    .unwrap();
    assert_eq!(slept.load(Ordering::SeqCst), 1);
    assert!(t0.elapsed() < Duration::from_secs(600));
}

/// DESIGN §3: green calls made while the hub tears down return at once. A destructor that reads
/// a socket with nothing to read (a "goodbye" it waits for) gets an `Interrupted` error wrapping
/// the kill instead of parking until the teardown gives up and leaks its greenthread.
#[test]
fn destructors_waiting_on_a_socket_during_teardown_return_at_once() {
    on_fresh_thread(|| {
        let seen: Rc<RefCell<Option<(std::io::ErrorKind, bool)>>> = Rc::default();
        struct ReadOnDrop(green::net::UnixStream, Rc<RefCell<Option<(std::io::ErrorKind, bool)>>>);
        impl Drop for ReadOnDrop {
            fn drop(&mut self) {
                let mut buf = [0u8; 8];
                let err = std::io::Read::read(&mut self.0, &mut buf).unwrap_err();
                let killed =
                    err.get_ref().and_then(|e| e.downcast_ref::<green::Error>()).is_some_and(|e| e.is_killed());
                *self.1.borrow_mut() = Some((err.kind(), killed));
            }
        }
        let (a, _peer) = green::net::UnixStream::pair().unwrap();
        let guard = ReadOnDrop(a, seen.clone());
        green::spawn(move || {
            let _g = guard;
            green::sleep(Duration::from_secs(3600));
        });
        yield_now();
        let report = green::hub::shutdown();
        assert_eq!((report.unwound, report.leaked), (1, 0), "{report:?}");
        assert_eq!(*seen.borrow(), Some((std::io::ErrorKind::Interrupted, true)));
    });
}

/// The same with `read_exact` and `write_all`, which loop: they return the teardown's kill
/// instead of retrying its `Interrupted` error. Before, they were `std`'s, which retry
/// `Interrupted` for ever: the destructor spun and the teardown never ended.
#[test]
fn destructors_in_read_exact_or_write_all_during_teardown_return_at_once() {
    on_fresh_thread(|| {
        let seen: Rc<RefCell<Vec<std::io::ErrorKind>>> = Rc::default();
        struct IoOnDrop(green::net::UnixStream, Rc<RefCell<Vec<std::io::ErrorKind>>>);
        impl Drop for IoOnDrop {
            fn drop(&mut self) {
                let mut buf = [0u8; 8];
                let read = std::io::Read::read_exact(&mut self.0, &mut buf).unwrap_err();
                // More than the socket buffers hold: the write waits for room that never comes.
                let write = std::io::Write::write_all(&mut self.0, &vec![7u8; 64 << 20]).unwrap_err();
                self.1.borrow_mut().extend([read.kind(), write.kind()]);
            }
        }
        let (a, _peer) = green::net::UnixStream::pair().unwrap();
        let guard = IoOnDrop(a, seen.clone());
        green::spawn(move || {
            let _g = guard;
            green::sleep(Duration::from_secs(3600));
        });
        yield_now();
        let report = green::hub::shutdown();
        assert_eq!((report.unwound, report.leaked), (1, 0), "{report:?}");
        assert_eq!(*seen.borrow(), [std::io::ErrorKind::Interrupted; 2]);
    });
}

#[test]
fn greenthreads_spawned_by_destructors_during_teardown_are_unwound_too() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    std::thread::spawn(move || {
        struct SpawnOnDrop(Arc<AtomicUsize>);
        impl Drop for SpawnOnDrop {
            fn drop(&mut self) {
                let token = CountOnDrop(self.0.clone());
                green::spawn(move || {
                    let _t = token;
                    green::sleep(Duration::from_secs(3600));
                });
            }
        }
        let g = SpawnOnDrop(d);
        green::spawn(move || {
            let _g = g;
            green::sleep(Duration::from_secs(3600));
        });
        yield_now();
    })
    .join()
    .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn shutdown_from_a_greenthread_panics_with_the_way_out() {
    green::debug::hub_exceptions(false);
    let err = green::spawn(green::hub::shutdown).wait().unwrap_err();
    assert!(err.panic_message().unwrap().contains("must be called from the root greenlet"), "{err}");
}
