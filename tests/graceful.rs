//! Graceful shutdown on SIGTERM: stop accepting, let in-flight work finish, kill stragglers at the
//! deadline; after the handler is dropped the signal terminates again. Signals are process-wide,
//! so each scenario runs in a child process.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::Duration;

use green::graceful::GracefulShutdown;
use green::net::{TcpListener, TcpStream};
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::util::*;

fn run_child(test: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", test, "--test-threads=1", "--nocapture"])
        .env("GREEN_GRACEFUL_CHILD", "1")
        .output()
        .unwrap()
}

#[test]
fn sigterm_stops_accepting_lets_in_flight_work_finish_and_kills_stragglers() {
    let out = run_child("graceful::stop_child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("graceful child ok"), "{stdout}");
}

/// Child half of `sigterm_stops_accepting_lets_in_flight_work_finish_and_kills_stragglers`.
#[test]
#[ignore = "run as a child process by sigterm_stops_accepting_lets_in_flight_work_finish_and_kills_stragglers"]
fn stop_child() {
    if std::env::var_os("GREEN_GRACEFUL_CHILD").is_none() {
        return;
    }
    let stop = GracefulShutdown::install(&[SIGTERM, SIGINT]).unwrap();
    let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    stop.stop_accepting(&listener);
    let l = listener.clone();
    let served = Log::<String>::new();
    let s = served.clone();
    let acceptor = green::spawn(move || {
        while let Ok((mut conn, _)) = l.accept() {
            let s = s.clone();
            green::spawn_n(move || {
                let mut req = [0u8; 5];
                conn.read_exact(&mut req).unwrap();
                green::sleep(ms(100)); // in flight when the signal arrives
                conn.write_all(b"done!").unwrap();
                s.push(String::from_utf8_lossy(&req).into_owned());
            });
        }
    });
    let client = green::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"hello").unwrap();
        let mut resp = [0u8; 5];
        c.read_exact(&mut resp).unwrap();
        resp
    });
    let straggler = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    green::sleep(ms(20)); // the request is being served
    signal_hook::low_level::raise(SIGTERM).unwrap();
    assert_eq!(stop.wait(), SIGTERM);
    assert_eq!(stop.signalled(), Some(SIGTERM));
    // No longer accepting: the accept loop ended and the port is closed.
    assert!(acceptor.wait().is_ok());
    assert!(TcpStream::connect(addr).is_err());
    // The in-flight request completes; the straggler is killed at the deadline.
    let report = stop.drain(Duration::from_millis(500));
    assert_eq!(report.killed, 1, "{report:?}");
    assert!(report.finished >= 2, "{report:?}");
    assert!(report.took >= ms(500) && report.took < Duration::from_secs(30), "{report:?}");
    assert_eq!(&client.wait().unwrap(), b"done!");
    assert_eq!(served.get(), ["hello"]);
    assert!(straggler.wait().unwrap_err().is_killed());
    println!("graceful child ok");
}

#[test]
fn after_the_handler_is_dropped_sigterm_terminates_again() {
    let out = run_child("graceful::dropped_child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stopped once"), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("survived"), "{stdout}");
    assert_eq!(out.status.signal(), Some(SIGTERM), "{:?}", out.status);
}

/// Child half of `after_the_handler_is_dropped_sigterm_terminates_again`.
#[test]
#[ignore = "run as a child process by after_the_handler_is_dropped_sigterm_terminates_again"]
fn dropped_child() {
    if std::env::var_os("GREEN_GRACEFUL_CHILD").is_none() {
        return;
    }
    let stop = GracefulShutdown::install(&[SIGTERM]).unwrap();
    signal_hook::low_level::raise(SIGTERM).unwrap();
    assert_eq!(stop.wait(), SIGTERM);
    drop(stop);
    // Installed again, it takes the signal over again (the first install's default-action
    // handler stays registered but stands aside).
    let again = GracefulShutdown::install(&[SIGTERM]).unwrap();
    signal_hook::low_level::raise(SIGTERM).unwrap();
    assert_eq!(again.wait(), SIGTERM);
    drop(again);
    println!("stopped once");
    signal_hook::low_level::raise(SIGTERM).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    println!("survived");
}

#[test]
fn a_signal_that_cannot_be_handled_is_refused() {
    let e = GracefulShutdown::install(&[signal_hook::consts::SIGKILL]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("use SIGTERM or SIGINT"), "{e}");
}

#[test]
fn drain_from_a_greenthread_is_refused_with_the_way_out() {
    green::debug::hub_exceptions(false);
    let stop = Rc::new(GracefulShutdown::install(&[]).unwrap());
    let s = stop.clone();
    let err = green::spawn(move || {
        let _ = s.drain(ms(1));
    })
    .wait()
    .unwrap_err();
    assert!(err.panic_message().unwrap_or("").contains("call it from the root"), "{err}");
}

#[test]
fn a_second_install_on_one_hub_is_refused_with_the_way_out() {
    let stop = GracefulShutdown::install(&[]).unwrap();
    let e = GracefulShutdown::install(&[]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(e.to_string().contains("already installed"), "{e}");
    drop(stop);
    drop(GracefulShutdown::install(&[]).unwrap());
}

#[test]
fn a_root_waiting_for_a_signal_from_outside_is_not_a_deadlock() {
    // SIGWINCH: no other test uses it, and its default action (after the drop) is to ignore it.
    use signal_hook::consts::SIGWINCH;
    // No greenthread, no timer, no fd: only the signal can wake the root. The handler's thread
    // holds a hub handle, so the hub waits for it instead of reporting a deadlock.
    let stop = GracefulShutdown::install(&[SIGWINCH]).unwrap();
    let sender = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(50));
        signal_hook::low_level::raise(SIGWINCH).unwrap();
    });
    assert_eq!(stop.wait(), SIGWINCH);
    sender.join().unwrap();
}
