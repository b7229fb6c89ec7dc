//! The leak, unobserved-panic, stack-overflow and deadlock detectors: each fires on bad code and
//! stays quiet on good code.

use std::time::Duration;

use crate::util::*;

#[test]
fn leak_detector_names_what_is_left_with_creation_sites() {
    on_fresh_thread(|| {
        let _sleeper = green::Builder::new().name("forgotten").spawn(|| green::sleep(Duration::from_secs(60)));
        yield_now();
        let leaks = green_detectors::check_leaks().unwrap_err();
        assert_eq!((leaks.greenthreads, leaks.timers), (1, 1));
        let text = leaks.to_string();
        assert!(text.contains("\"forgotten\": blocked in sleep at tests/detectors.rs:"), "{text}");
        assert!(text.contains("spawned at tests/detectors.rs:"), "{text}");
        assert!(
            text.contains("wake #1 \"forgotten\" (sleep), created by #1 \"forgotten\" at tests/detectors.rs:"),
            "{text}"
        );
        let _ = green::hub::shutdown();
    });
}

/// A greenthread left waiting on an fd is a leaked greenthread and a registered listener, named
/// with the site that registered it.
#[test]
fn leak_detector_counts_registered_listeners() {
    on_fresh_thread(|| {
        let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let _waiter = green::spawn(move || green::trampoline(&b, green::Interest::Read, None));
        yield_now();
        let leaks = green_detectors::check_leaks().unwrap_err();
        assert_eq!((leaks.greenthreads, leaks.listeners, leaks.timers), (1, 1, 0));
        let text = leaks.to_string();
        assert!(
            text.starts_with("leak detector: 1 greenthread(s) still alive, 1 listener(s) still registered"),
            "{text}"
        );
        assert!(text.contains("READERS:") && text.contains("tests/detectors.rs:"), "{text}");
        let _ = green::hub::shutdown();
    });
}

#[test]
fn leak_detector_is_quiet_when_everything_finished() {
    on_fresh_thread(|| {
        let gts: Vec<_> = (0..10).map(|i| green::spawn(move || green::sleep(ms(i % 3)))).collect();
        for gt in gts {
            gt.wait().unwrap();
        }
        assert_eq!(green_detectors::check_leaks(), Ok(()));
    });
}

#[test]
fn unobserved_panic_detector_reports_a_panic_nobody_waited_for() {
    green::debug::hub_exceptions(false);
    let _ = green_detectors::check_unobserved_panics();
    let lost = green::Builder::new().name("lonely").spawn(|| -> u8 { panic!("into the void") });
    yield_now();
    drop(lost);
    let report = green_detectors::check_unobserved_panics().unwrap_err();
    assert_eq!(report.0.len(), 1, "{report}");
    assert!(report.0[0].contains("#") && report.0[0].contains("\"lonely\""), "{report}");
    assert!(report.0[0].contains("spawned at tests/detectors.rs:"), "{report}");
    assert!(report.0[0].contains("into the void"), "{report}");
}

#[test]
fn unobserved_panic_detector_is_quiet_when_panics_are_waited_for() {
    green::debug::hub_exceptions(false);
    let _ = green_detectors::check_unobserved_panics();
    let a = green::spawn(|| -> u8 { panic!("seen by wait") });
    let b = green::spawn(|| -> u8 { panic!("seen by join") });
    assert!(a.wait().is_err());
    assert!(b.join().is_err());
    drop(a);
    let fine = green::spawn(|| 3);
    yield_now();
    drop(fine);
    assert_eq!(green_detectors::check_unobserved_panics(), Ok(()));
}

/// Recurses until the stack overflows (2 KiB a frame).
#[allow(unconditional_recursion)]
fn deep(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 256]);
    deep(pad[0] + 1) + pad[1]
}

/// Child half of `overflow_detector_names_the_greenthread`.
#[test]
#[ignore = "run as a child process by overflow_detector_names_the_greenthread"]
fn overflow_detector_child() {
    if std::env::var_os("GREEN_OVERFLOW_DETECTOR_CHILD").is_none() {
        return;
    }
    green_detectors::install_overflow_detector();
    let gt = green::Builder::new().name("deep-diver").stack_size(32 * 1024).spawn(|| deep(0));
    let _ = gt.wait();
}

#[test]
fn overflow_detector_names_the_greenthread() {
    use std::os::unix::process::ExitStatusExt;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "detectors::overflow_detector_child", "--test-threads=1"])
        .env("GREEN_OVERFLOW_DETECTOR_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.signal().is_some(), "the child must die of the overflow: {:?}", out.status);
    assert!(
        stderr.contains("green: stack overflow in greenthread #1 \"deep-diver\" (spawned at tests/detectors.rs:"),
        "{stderr}"
    );
    assert!(stderr.contains("stack 32 KiB"), "{stderr}");
    assert!(stderr.contains("Give it a bigger stack with green::Builder::stack_size"), "the way out: {stderr}");
}

/// An overflow that is not a greenthread's (an OS thread's own stack) goes on to the handler
/// the standard library installed: its "has overflowed its stack" message, not a bare SIGSEGV
/// and not a greenthread report (DESIGN §5: chaining to std's handler).
#[test]
fn an_os_thread_overflow_is_chained_to_the_standard_librarys_report() {
    use std::os::unix::process::ExitStatusExt;
    let (status, out, err) = run_child("detectors::os_thread_overflow_child");
    assert!(status.signal().is_some(), "the child must die of the overflow: {status:?}\n{out}\n{err}");
    assert!(err.contains("thread 'deep-os-thread'") && err.contains("has overflowed its stack"), "{err}");
    assert!(!err.contains("green: stack overflow in greenthread"), "{err}");
}

#[test]
#[ignore = "run as a child process by an_os_thread_overflow_is_chained_to_the_standard_librarys_report"]
fn os_thread_overflow_child() {
    if !is_child("detectors::os_thread_overflow_child") {
        return;
    }
    green_detectors::install_overflow_detector();
    let t = std::thread::Builder::new().name("deep-os-thread".into()).stack_size(256 * 1024).spawn(|| deep(0));
    let _ = t.unwrap().join();
}

/// Under the harness the overflow detector is on without being asked for: the overflow names
/// the greenthread.
#[test]
fn a_harness_run_names_a_greenthread_that_overflows_its_stack() {
    use std::os::unix::process::ExitStatusExt;
    let (status, _out, err) = run_child_with("detectors::harness_overflow_child", &[]);
    assert!(status.signal().is_some(), "the child must die of the overflow: {status:?}\n{err}");
    assert!(err.contains("green: stack overflow in greenthread #1 \"deep-diver\""), "{err}");
}

#[test]
#[ignore = "run as a child process by a_harness_run_names_a_greenthread_that_overflows_its_stack"]
fn harness_overflow_child() {
    if !is_child("detectors::harness_overflow_child") {
        return;
    }
    green_harness::Harness::new().run(|| {
        let gt = green::Builder::new().name("deep-diver").stack_size(32 * 1024).spawn(|| deep(0));
        let _ = gt.wait();
    });
}

/// A thread without an alternate signal stack (made by C code, say: simulated here by turning
/// std's off) still gets the overflow named: installing the detector gives the thread one. The
/// handler runs `SA_ONSTACK`; without a stack to switch to it ran on the full one and the
/// process died of a bare `SIGSEGV`.
#[test]
fn an_overflow_on_a_thread_without_an_alternate_signal_stack_is_still_named() {
    use std::os::unix::process::ExitStatusExt;
    let (status, _out, err) = run_child_with("detectors::no_alt_stack_overflow_child", &[]);
    assert!(status.signal().is_some(), "the child must die of the overflow: {status:?}\n{err}");
    assert!(err.contains("green: stack overflow in greenthread #1 \"no-alt-stack\""), "{err}");
}

#[test]
#[ignore = "run as a child process by an_overflow_on_a_thread_without_an_alternate_signal_stack_is_still_named"]
fn no_alt_stack_overflow_child() {
    if !is_child("detectors::no_alt_stack_overflow_child") {
        return;
    }
    std::thread::spawn(|| {
        let off = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
        // SAFETY: disabling the calling thread's alternate signal stack; std's mapping stays
        // (it is freed when the thread exits), only unused.
        assert_eq!(unsafe { libc::sigaltstack(&off, std::ptr::null_mut()) }, 0);
        green_detectors::install_overflow_detector();
        let gt = green::Builder::new().name("no-alt-stack").stack_size(32 * 1024).spawn(|| deep(0));
        let _ = gt.wait();
    })
    .join()
    .unwrap();
}

/// A hub armed for holder captures stays armed after blocking detection was turned on and off
/// on it: another thread still gets the stack of whatever holds the hub.
#[test]
fn holder_capture_survives_blocking_detection_turned_on_and_off() {
    on_fresh_thread(|| {
        green_detectors::blocking::arm_holder_capture();
        green_detectors::hub_blocking_detection(true, ms(50)).unwrap();
        green_detectors::hub_blocking_detection(false, ms(50)).unwrap();
        let probe = green::probe::probe();
        let looker = std::thread::spawn(move || green_detectors::blocking::holder_stack(&probe));
        let t0 = std::time::Instant::now();
        while t0.elapsed() < ms(400) {
            std::hint::spin_loop();
        }
        let (_, frames) = looker.join().unwrap().expect("the holder's stack");
        assert!(!frames.is_empty());
    });
}

#[test]
fn overflow_detector_is_quiet_on_deep_but_fitting_recursion() {
    green_detectors::install_overflow_detector();
    fn depth(n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            1 + depth(std::hint::black_box(n - 1))
        }
    }
    let gt = green::Builder::new().stack_size(1 << 20).spawn(|| depth(1000));
    assert_eq!(gt.wait().unwrap(), 1000);
}

#[test]
fn deadlock_report_names_wait_and_creation_sites() {
    let msg = on_fresh_thread(|| {
        panic_message_of(|| {
            let q: green::Queue<u8> = green::Queue::bounded(0);
            let q2 = q.clone();
            let _stuck = green::Builder::new().name("stuck").spawn(move || q2.get());
            let ev: green::Event<()> = green::Event::new();
            ev.wait();
        })
    });
    assert!(msg.contains("green: deadlock"), "{msg}");
    assert!(msg.contains("\"stuck\": blocked in Queue::get at tests/detectors.rs:"), "{msg}");
    assert!(msg.contains("spawned at tests/detectors.rs:"), "{msg}");
}

#[test]
fn deadlock_detection_is_quiet_while_work_can_still_arrive() {
    // A timer and a tpool job in flight both keep the hub alive.
    let v = green::tpool::execute(|| {
        std::thread::sleep(ms(20));
        7
    })
    .unwrap();
    assert_eq!(v, 7);
    let ev = green::Event::new();
    let e = ev.clone();
    green::spawn_after(ms(5), move || e.send(1).unwrap());
    assert_eq!(ev.wait(), 1);
}

/// Child half of `sigquit_dumps_idle_hubs_and_names_the_blocker_of_a_blocked_one`.
#[test]
#[ignore = "run as a child process by sigquit_dumps_idle_hubs_and_names_the_blocker_of_a_blocked_one"]
fn sigquit_child() {
    use signal_hook::consts::SIGQUIT;
    if std::env::var_os("GREEN_SIGQUIT_CHILD").is_none() {
        return;
    }
    green_detectors::hub_blocking_detection(true, Duration::from_secs(10)).unwrap();
    green_detectors::enable_sigquit_dump().unwrap();
    // Warm the symbol cache up (symbolising a debug test binary the first time takes long).
    green::debug::hub_timer_stacks(true);
    let warm = green::hub::schedule_call_global(Duration::from_secs(60), || {});
    let _ = green::debug::format_hub_timers();
    warm.cancel();
    green::debug::hub_timer_stacks(false);
    let _napper = green::Builder::new().name("napper").spawn(|| green::sleep(Duration::from_secs(60)));
    // Idle hub: it prints its own dump.
    std::thread::spawn(|| {
        std::thread::sleep(ms(50));
        signal_hook::low_level::raise(SIGQUIT).unwrap();
    });
    green::sleep(ms(300));
    // Blocked hub: the dump thread names the blocker.
    std::thread::spawn(|| {
        std::thread::sleep(ms(50));
        signal_hook::low_level::raise(SIGQUIT).unwrap();
    });
    #[inline(never)]
    fn hog() {
        std::thread::sleep(ms(600));
    }
    green::Builder::new().name("hog").spawn(hog).wait().unwrap();
    green::sleep(ms(300));
    println!("sigquit child done");
}

#[test]
fn sigquit_dumps_idle_hubs_and_names_the_blocker_of_a_blocked_one() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "detectors::sigquit_child", "--test-threads=1", "--nocapture"])
        .env("GREEN_SIGQUIT_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("sigquit child done"), "{stdout}\n{stderr}");
    assert!(stderr.contains("green: SIGQUIT: hub of thread detectors::sigquit_child\nGREENTHREADS:"), "{stderr}");
    assert!(stderr.contains("\"napper\": blocked in sleep"), "{stderr}");
    assert!(stderr.contains("BLOCKED by greenthread #2 \"hog\" for "), "{stderr}");
    assert!(stderr.contains("hog"), "{stderr}");
}

#[test]
fn invariant_checks_fire_on_hub_context_switching_and_multiple_readers() {
    green::debug::hub_exceptions(false);
    let _ = green_detectors::check_invariants();
    green::hub::schedule_call_global(Duration::ZERO, || green::sleep(ms(1)));
    yield_now();
    let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = std::rc::Rc::new(green::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap());
    let s = stream.clone();
    let first = green::spawn(move || std::io::Read::read(&mut &*s, &mut [0u8; 1]));
    yield_now();
    let second = std::io::Read::read(&mut &*stream, &mut [0u8; 1]);
    assert_eq!(second.unwrap_err().kind(), std::io::ErrorKind::ResourceBusy);
    stream.close();
    let _ = first.join();
    let v = green_detectors::check_invariants().unwrap_err();
    assert_eq!(v.0.len(), 2, "{v}");
    assert!(v.0[0].starts_with("hub-context switching: green::sleep called from hub context"), "{v}");
    // The report names the caller's line, not one inside the runtime (sleep's out-of-line part
    // is `track_caller` too).
    assert!(v.0[0].contains(&format!("at {}:", file!())), "{v}");
    assert!(v.0[1].starts_with("multiple readers: Second simultaneous read"), "{v}");
}

#[test]
fn invariant_checks_are_quiet_on_good_code() {
    let _ = green_detectors::check_invariants();
    let pool = green::GreenPool::new(3);
    let out: Vec<_> = pool
        .imap(
            |i: u64| {
                green::sleep(Duration::from_micros(i % 4 * 200));
                i
            },
            0..50,
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(out.len(), 50);
    for d in [3, 1, 2, 1, 0] {
        green::hub::schedule_call_global(ms(d), || {});
    }
    green::sleep(ms(5));
    pool.resize(1);
    pool.waitall();
    assert_eq!(green_detectors::check_invariants(), Ok(()));
}
