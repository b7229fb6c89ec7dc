//! Timing-independent blocking detection (`green_detectors::calls`): a blocking entry point called
//! on a hub's thread is reported at once, however short; green code, other threads and the
//! allow-list stay quiet.

use std::io::{Read, Write};
use std::time::Duration;

use green_detectors::calls::{self, CallsConfig};

use crate::util::*;

/// Runs `f` with timing-independent detection on, returning its reports (on a fresh thread, so
/// the reports are this test's only).
fn reports_of(allow: &[&str], f: impl FnOnce() + Send + 'static) -> Vec<calls::BlockingCall> {
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    on_fresh_thread(move || {
        calls::enable(CallsConfig { allow }).unwrap();
        f();
        calls::disable();
        calls::take_reports()
    })
}

fn naps_a_millisecond() {
    std::thread::sleep(Duration::from_millis(1));
}

#[test]
fn a_one_millisecond_sleep_is_reported_by_the_call_detector_and_not_by_the_sampling_detector() {
    let (calls_seen, sampled) = on_fresh_thread(|| {
        calls::enable(CallsConfig::default()).unwrap();
        green_detectors::hub_blocking_detection(true, Duration::from_millis(50)).unwrap();
        green::Builder::new().name("napper").spawn(naps_a_millisecond).wait().unwrap();
        green_detectors::hub_blocking_detection(false, Duration::from_millis(50)).unwrap();
        calls::disable();
        let sampled: Vec<_> =
            green_detectors::take_reports().into_iter().filter(|r| r.name.as_deref() == Some("napper")).collect();
        (calls::take_reports(), sampled)
    });
    assert!(sampled.is_empty(), "the 50 ms sampler cannot see a 1 ms sleep: {sampled:?}");
    assert_eq!(calls_seen.len(), 1, "{calls_seen:?}");
    let r = &calls_seen[0];
    assert_eq!(r.call, "clock_nanosleep");
    assert_eq!(r.name.as_deref(), Some("napper"));
    assert!(r.frames.iter().any(|f| f.contains("naps_a_millisecond")), "{r}");
}

#[test]
fn a_blocking_socket_read_in_a_greenthread_is_reported_but_green_socket_reads_are_not() {
    let reports = reports_of(&[], || {
        // Blocking std sockets, set up on another OS thread (connect and accept block too).
        let (mut blocking, _peer) = std::thread::spawn(|| {
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut peer = std::net::TcpStream::connect(std_listener.local_addr().unwrap()).unwrap();
            let (blocking, _) = std_listener.accept().unwrap();
            peer.write_all(b"x").unwrap();
            (blocking, peer)
        })
        .join()
        .unwrap();
        green::spawn(move || {
            let mut b = [0u8; 1];
            blocking.read_exact(&mut b).unwrap(); // a blocking fd: data is there, but it could wait
        })
        .wait()
        .unwrap();
        // Green sockets are non-blocking: never reported.
        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        green::spawn(move || (&c).write_all(b"hi").unwrap()).wait().unwrap();
        let mut buf = [0u8; 2];
        (&s).read_exact(&mut buf).unwrap();
    });
    assert_eq!(reports.iter().map(|r| r.call).collect::<Vec<_>>(), ["recv"], "{reports:?}");
    assert_eq!(reports[0].greenthread, 1);
}

fn allowed_startup_sleep() {
    std::thread::sleep(Duration::from_micros(10));
}

#[test]
fn an_allow_listed_blocking_call_is_not_reported() {
    let reports = reports_of(&["allowed_startup_sleep"], || {
        green::spawn(allowed_startup_sleep).wait().unwrap();
        green::spawn(naps_a_millisecond).wait().unwrap();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].frames.iter().any(|f| f.contains("naps_a_millisecond")), "{}", reports[0]);
}

#[test]
fn green_code_other_threads_and_the_hubs_own_poller_stay_quiet() {
    let reports = reports_of(&[], || {
        // Green sleeps and waits, an idle hub blocking in its poller, tpool work on other threads.
        green::sleep(Duration::from_millis(5));
        let gt = green::spawn(|| green::sleep(Duration::from_millis(2)));
        gt.wait().unwrap();
        let v = green::tpool::execute(|| {
            std::thread::sleep(Duration::from_millis(1)); // a worker thread may block
            7
        })
        .unwrap();
        assert_eq!(v, 7);
        // Joining an OS thread would wait on a futex: joined from a tpool thread instead.
        let t = std::thread::spawn(|| std::thread::sleep(Duration::from_millis(1)));
        green::tpool::execute(move || t.join().unwrap()).unwrap();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn blocking_calls_of_the_root_are_reported_too() {
    let reports = reports_of(&[], || {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    });
    assert_eq!(reports.iter().map(|r| (r.call, r.greenthread)).collect::<Vec<_>>(), [("connect", 0)], "{reports:?}");
    assert_eq!(reports[0].name.as_deref(), Some("root"));
}

#[test]
fn a_std_mutex_held_by_another_thread_is_a_reported_futex_wait() {
    use std::sync::{Arc, Mutex};
    let lock = Arc::new(Mutex::new(0));
    let held = lock.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let _g = held.lock().unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    });
    locked_rx.recv().unwrap();
    let reports = reports_of(&[], move || {
        fn takes_a_contended_std_lock(lock: Arc<Mutex<i32>>) {
            *lock.lock().unwrap() += 1;
        }
        green::spawn(move || takes_a_contended_std_lock(lock)).wait().unwrap();
    });
    holder.join().unwrap();
    assert!(
        reports.iter().any(|r| r.call == "futex" && r.frames.iter().any(|f| f.contains("takes_a_contended_std_lock"))),
        "{reports:?}"
    );
}

#[test]
fn disabled_detection_reports_nothing() {
    let reports = on_fresh_thread(|| {
        calls::enable(CallsConfig::default()).unwrap();
        calls::disable();
        green::spawn(naps_a_millisecond).wait().unwrap();
        calls::take_reports()
    });
    assert!(reports.is_empty(), "{reports:?}");
}
