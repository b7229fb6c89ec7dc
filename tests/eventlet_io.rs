//! Ports of eventlet's listener, trampoline and closed-fd cases: `tests/api_test.py`,
//! `tests/hub_test.py` (`TestMultipleListenersCleanup`), `tests/green_select_test.py`,
//! `tests/greenio_test.py` and `tests/debug_test.py` (`test_hub_exceptions` on real sockets).
//!
//! Every socket is on 127.0.0.1 with a port the OS picks. eventlet's `check_hub()` (two
//! `sleep(0)`s, then no reader and no writer registered) is [`check_hub`]. A wait that would hang
//! if the runtime lost a wake-up runs under [`within`], a generous green timeout, so a bug fails
//! the test instead of hanging it.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use green::net::{TcpListener, TcpStream, UdpSocket};
use green::Interest;

use crate::util::*;

/// Guard against hangs: far above anything these tests need.
const HANG_GUARD: Duration = Duration::from_secs(5);

/// eventlet's `check_hub()`: after two `sleep(0)`s nobody waits on an fd any more.
#[track_caller]
fn check_hub() {
    yield_now();
    yield_now();
    let dump = green::debug::format_hub_listeners();
    assert_eq!(dump, "READERS:\nWRITERS:", "the hub still has listeners");
}

/// Runs `f` under a green timeout of [`HANG_GUARD`]; fails the test (instead of hanging it) if
/// the runtime never wakes it.
#[track_caller]
fn within<R>(what: &str, f: impl FnOnce() -> R) -> R {
    match green::with_timeout(HANG_GUARD, f) {
        Ok(v) => v,
        Err(e) => panic!("{what} did not finish within {HANG_GUARD:?}: {e}"),
    }
}

/// The `green::Error` an `io::Error` of the runtime wraps.
#[track_caller]
fn green_error(e: &io::Error) -> &green::Error {
    e.get_ref().and_then(|inner| inner.downcast_ref::<green::Error>()).unwrap_or_else(|| {
        panic!("expected an io::Error wrapping a green::Error, got {e:?}");
    })
}

/// hub_test's reader: `os.read` on a non-blocking fd, `trampoline(r, read=True)` on EAGAIN.
fn read_with_trampoline(r: &UnixStream) -> Vec<u8> {
    let mut buf = [0u8; 16];
    loop {
        match (&*r).read(&mut buf) {
            Ok(n) => return buf[..n].to_vec(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                green::trampoline(r, Interest::Read, None).expect("trampoline");
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

// eventlet: tests/hub_test.py TestMultipleListenersCleanup.test_cleanup
// (a UnixStream pair stands for eventlet's pipe; the second reader is killed from a zero-delay
// hub timer, as eventlet throws a `Timeout(None)` into it from one.)
#[test]
fn killing_a_second_trampoline_waiter_leaves_the_first_intact() {
    green::debug::hub_prevent_multiple_readers(false);
    green::debug::hub_exceptions(false);
    let (mut w, r) = UnixStream::pair().unwrap();
    r.set_nonblocking(true).unwrap();
    let r = Rc::new(r);
    let first_listener = {
        let r = r.clone();
        green::spawn(move || read_with_trampoline(&r))
    };
    let second_listener = {
        let r = r.clone();
        green::spawn(move || read_with_trampoline(&r))
    };
    yield_now(); // both park in trampoline
    let victim = second_listener.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || victim.kill());
    yield_now();
    assert!(second_listener.wait().unwrap_err().is_killed());
    w.write_all(b".").unwrap();
    assert_eq!(within("the first listener", || first_listener.wait()).unwrap(), b".");
    check_hub();
}

// eventlet: tests/hub_test.py TestMultipleListenersCleanup.test_cleanup
// (mirror image: the *first* waiter, the one whose trampoline registered the fd, is killed; as
// with eventlet's promotion of the oldest secondary listener, the second still gets the byte.)
#[test]
fn killing_the_first_trampoline_waiter_leaves_the_second_intact() {
    green::debug::hub_prevent_multiple_readers(false);
    green::debug::hub_exceptions(false);
    let (mut w, r) = UnixStream::pair().unwrap();
    r.set_nonblocking(true).unwrap();
    let r = Rc::new(r);
    let first_listener = {
        let r = r.clone();
        green::spawn(move || read_with_trampoline(&r))
    };
    let second_listener = {
        let r = r.clone();
        green::spawn(move || read_with_trampoline(&r))
    };
    yield_now();
    let victim = first_listener.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || victim.kill());
    yield_now();
    assert!(first_listener.wait().unwrap_err().is_killed());
    w.write_all(b".").unwrap();
    assert_eq!(within("the second listener", || second_listener.wait()).unwrap(), b".");
    check_hub();
}

// eventlet: tests/hub_test.py TestMultipleListenersCleanup.test_cleanup
// (a waiter whose trampoline returns does not end the wait of another on the same fd: both
// readers wake and one reads the first byte; the other stays parked for the second byte.)
#[test]
fn a_trampoline_waiter_that_returns_leaves_the_other_waiting() {
    green::debug::hub_prevent_multiple_readers(false);
    let (mut w, r) = UnixStream::pair().unwrap();
    r.set_nonblocking(true).unwrap();
    let r = Rc::new(r);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let r = r.clone();
            green::spawn(move || read_with_trampoline(&r))
        })
        .collect();
    yield_now();
    w.write_all(b"1").unwrap();
    let first = within("the first byte", || loop {
        if let Some(gt) = readers.iter().find(|g| g.is_finished()) {
            break gt.wait().unwrap();
        }
        green::sleep(ms(1));
    });
    assert_eq!(first, b"1");
    let other = readers.iter().find(|g| !g.is_finished()).expect("one reader is still waiting").clone();
    w.write_all(b"2").unwrap();
    assert_eq!(within("the second byte", || other.wait()).unwrap(), b"2");
    check_hub();
}

// eventlet: tests/api_test.py TestApi.test_tcp_listener
// (bound to 127.0.0.1 rather than 0.0.0.0, per this suite's loopback-only rule: the bound address
// is the one asked for.)
#[test]
fn a_tcp_listener_binds_the_address_asked_for_and_closes_cleanly() {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);
    socket.close();
    let err = socket.accept().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    assert!(green_error(&err).is_closed());
    check_hub();
}

// eventlet: tests/api_test.py TestApi.test_connect_tcp
#[test]
fn a_client_reads_what_the_server_wrote_then_end_of_file() {
    fn accept_once(listenfd: TcpListener) {
        let (mut conn, _) = listenfd.accept().unwrap();
        conn.write_all(b"hello\n").unwrap();
        conn.close();
        listenfd.close();
    }
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let acceptor = green::spawn(move || accept_once(server));
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut line = [0u8; 6];
    client.read_exact(&mut line).unwrap();
    assert_eq!(&line, b"hello\n");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "expected end of file, got {rest:?}");
    client.close();
    acceptor.wait().unwrap();
    check_hub();
}

// eventlet: tests/api_test.py TestApi.test_001_trampoline_timeout
#[test]
fn trampoline_on_a_silent_socket_times_out() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let desc = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let (r, took) = timed(|| green::trampoline(&desc, Interest::Read, Some(ms(1))));
    let err = r.expect_err("trampoline on a connected but silent socket returned without a timeout");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(green_error(&err).is_timeout());
    assert!(took >= ms(1), "timed out early, after {took:?}");
    check_hub();
    assert_eq!(green::hub::timer_stats().live, 0, "{}", green::debug::format_hub_timers());
}

// eventlet: tests/api_test.py TestApi.test_001_trampoline_timeout
// (interrupted by a green Timeout rather than by trampoline's own timeout: the unwinding leaves
// nothing registered, so once the fd is closed and its number reused by a plain fd, a trampoline on
// the new fd is woken by the new fd's readiness. Another test thread may grab the freed number
// first; the scenario is then retried.)
#[test]
fn a_trampoline_unwound_by_a_timeout_leaves_its_fd_unregistered() {
    for _attempt in 0..20 {
        let (_keep, old) = UnixStream::pair().unwrap();
        old.set_nonblocking(true).unwrap();
        let fd = old.as_raw_fd();
        let r = green::with_timeout(ms(1), || green::trampoline(&old, Interest::Read, None));
        assert!(r.expect_err("nothing made the fd readable").is_timeout());
        drop(old);
        // socket(2) hands out the lowest free number: keep the lower ones until `fd` comes back.
        let mut lower = Vec::new();
        let reused = loop {
            let (x, y) = UnixStream::pair().unwrap();
            if x.as_raw_fd() == fd {
                break Some((x, y));
            }
            if y.as_raw_fd() == fd {
                break Some((y, x));
            }
            if x.as_raw_fd() > fd || lower.len() >= 1000 {
                break None;
            }
            lower.push((x, y));
        };
        let Some((new, mut peer)) = reused else { continue };
        new.set_nonblocking(true).unwrap();
        let waiter = green::spawn(move || green::trampoline(&new, Interest::Read, None));
        yield_now();
        peer.write_all(b"x").unwrap();
        within("a trampoline on the reused fd number", || waiter.join()).unwrap().unwrap();
        drop(lower);
        check_hub();
        return;
    }
    panic!("the freed fd number was taken by another thread 20 times in a row");
}

// eventlet: tests/api_test.py TestApi.test_timeout_cancel
#[test]
fn readiness_wins_over_the_trampoline_timeout_and_cancels_it() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let server = Rc::new(server);
    let client_closer = {
        let server = server.clone();
        green::spawn(move || loop {
            match server.accept() {
                Ok((conn, _)) => conn.close(),
                Err(e) => return e,
            }
        })
    };
    let go = {
        let server = server.clone();
        green::spawn(move || {
            let desc = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let timers_before = green::hub::timer_stats().live;
            // The peer closes the connection: readable (end of file) before the timeout.
            green::trampoline(&desc, Interest::Read, Some(Duration::from_millis(100)))
                .expect("timed out although the peer closed the connection");
            assert_eq!(green::hub::timer_stats().live, timers_before, "the trampoline's timer was not cancelled");
            assert_eq!((&desc).read(&mut [0u8; 8]).unwrap(), 0, "the trampoline woke for end of file");
            server.close();
            desc.close();
        })
    };
    within("go", || go.wait()).unwrap();
    let err = within("the acceptor", || client_closer.join()).unwrap();
    assert!(green_error(&err).is_closed(), "{err}");
    check_hub();
}

// eventlet: tests/green_select_test.py test_select_mark_file_as_reopened
// (adapted: eventlet's green `select` waits on a socket and `hub.mark_as_reopened(fd)` declares
// the fd reused. Here a greenthread trampolines on a raw fd; the test closes that fd behind the
// runtime's back and opens green sockets until one gets the same fd number. The old waiter must
// wake with the closed error, never be woken by the new socket's data, which the new socket still
// receives. Another test thread may grab the freed number first; the scenario is then retried.)
#[test]
fn an_fd_closed_behind_the_runtimes_back_and_reused_wakes_its_old_waiter_with_closed() {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _attempt in 0..20 {
        let (keep, old) = UnixStream::pair().unwrap();
        let fd: RawFd = old.as_raw_fd();
        let waiter = green::spawn(move || green::trampoline(&fd, Interest::Read, None));
        yield_now(); // it parks on the fd
        assert!(!waiter.is_finished());
        drop(old); // closed behind the runtime's back: no green socket owned it
                   // socket(2) hands out the lowest free number: keep the lower ones until `fd` comes back.
        let mut lower = Vec::new();
        let reused = loop {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            match s.as_raw_fd().cmp(&fd) {
                std::cmp::Ordering::Less if lower.len() < 1000 => lower.push(s),
                std::cmp::Ordering::Equal => break Some(s),
                _ => break None,
            }
        };
        let Some(reused) = reused else {
            // Another thread took the number: nothing was reused under the waiter.
            waiter.kill();
            drop((keep, lower));
            continue;
        };
        // The new file gets data at once; the old waiter must not take it for its own.
        sender.send_to(b"new file", reused.local_addr().unwrap()).unwrap();
        let err = within("the old waiter", || waiter.join())
            .unwrap()
            .expect_err("the old waiter woke as if its (closed) fd were readable");
        assert_eq!(err.kind(), io::ErrorKind::NotConnected);
        assert!(green_error(&err).is_closed(), "{err}");
        let mut buf = [0u8; 16];
        let (n, from) = within("the new socket", || reused.recv_from(&mut buf)).unwrap();
        assert_eq!(&buf[..n], b"new file");
        assert_eq!(from, sender.local_addr().unwrap());
        drop((keep, lower));
        check_hub();
        return;
    }
    panic!("the freed fd number was taken by another thread 20 times in a row");
}

// eventlet: tests/greenio_test.py TestGreenSocket.test_raised_multiple_readers
#[test]
fn a_second_simultaneous_reader_gets_an_error_and_the_first_still_reads() {
    green::debug::hub_prevent_multiple_readers(true);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = green::spawn(move || {
        // eventlet's `handle`: read one byte, send one back.
        let (mut sock, _) = listener.accept().unwrap();
        let mut b = [0u8; 1];
        sock.read_exact(&mut b).unwrap();
        sock.write_all(b"a").unwrap();
    });
    let s = Rc::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let a = {
        let s = s.clone();
        green::spawn(move || (&*s).read(&mut [0u8; 1]))
    };
    yield_now(); // a parks in recv(1)
    let err = (&*s).read(&mut [0u8; 1]).expect_err("a second simultaneous reader was let through");
    assert_eq!(err.kind(), io::ErrorKind::ResourceBusy);
    let msg = err.to_string();
    // eventlet's words, with the fd's number, then green's ordinal of it.
    assert!(msg.contains(&format!("Second simultaneous read on fileno {} (", s.as_raw_fd())), "{msg}");
    assert!(msg.contains("hub_prevent_multiple_readers(false)"), "{msg}");
    (&*s).write_all(b"b").unwrap();
    assert_eq!(within("reader a", || a.join()).unwrap().unwrap(), 1);
    server.wait().unwrap();
    check_hub();
}

/// greenio_test's `reader(sock, results)`: reads chunks until end of file.
fn collect_chunks(sock: &TcpStream, recvsize: usize) -> Vec<usize> {
    let mut results = Vec::new();
    let mut buf = vec![0u8; recvsize];
    loop {
        match (&*sock).read(&mut buf) {
            Ok(0) => return results,
            Ok(n) => results.push(n),
            Err(e) => panic!("reader failed: {e}"),
        }
    }
}

/// greenio_test's `TestGreenIoLong.test_multiple_readers` body, `allow` setting up the opt-out.
fn two_readers_both_get_data(allow: impl FnOnce(&TcpStream) + 'static) {
    // eventlet: recvsize = 2 * min_buf_size(), sendsize = 10 * recvsize, 20 chunks.
    let recvsize = 2 * 4608;
    let sendsize = 10 * recvsize;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = green::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        allow(&sock);
        let sock = Rc::new(sock);
        let c1 = {
            let sock = sock.clone();
            green::spawn(move || collect_chunks(&sock, recvsize))
        };
        let c2 = {
            let sock = sock.clone();
            green::spawn(move || collect_chunks(&sock, recvsize))
        };
        let r1 = c1.wait().unwrap();
        let r2 = c2.wait().unwrap();
        sock.close();
        (r1, r2)
    });
    let mut client = TcpStream::connect(addr).unwrap();
    let chunk = vec![b'*'; sendsize / 20];
    for _ in 0..20 {
        // A little wait each time, so both readers are parked when the data comes.
        green::sleep(ms(1));
        client.write_all(&chunk).unwrap();
    }
    client.close();
    let (results1, results2) = within("the server", || server.wait()).unwrap();
    let total: usize = results1.iter().chain(&results2).sum();
    assert_eq!(total, sendsize);
    assert!(!results1.is_empty(), "the first reader got nothing; the second got {} chunks", results2.len());
    assert!(!results2.is_empty(), "the second reader got nothing; the first got {} chunks", results1.len());
    check_hub();
}

// eventlet: tests/greenio_test.py TestGreenIoLong.test_multiple_readers
#[test]
fn two_readers_of_one_socket_both_get_data_when_the_hub_allows_it() {
    green::debug::hub_prevent_multiple_readers(false);
    two_readers_both_get_data(|_| {});
}

// eventlet: tests/greenio_test.py TestGreenIoLong.test_multiple_readers
// (with green's per-socket opt-out instead of the hub-wide one.)
#[test]
fn two_readers_of_one_socket_both_get_data_when_the_socket_allows_it() {
    green::debug::hub_prevent_multiple_readers(true);
    two_readers_both_get_data(|s| s.allow_multiple_waiters(true));
}

// eventlet: tests/debug_test.py TestDebug.test_hub_exceptions
// (on real loopback sockets, as in eventlet; eventlet's `{}[1]` KeyError is a panic with the
// message `KeyError: 1`, and what eventlet finds in the captured stderr is found in the hub's
// exception log, which records exactly what the hub prints while `hub_exceptions` is on.)
#[test]
fn a_panic_after_a_socket_read_is_reported_by_wait_and_printed_by_the_hub() {
    green::debug::hub_exceptions(true);
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let (client_2, _) = server.accept().unwrap();
    let hurl = move |s: TcpStream| {
        (&s).read_exact(&mut [0u8; 1]).unwrap(); // s.recv(1)
        panic!("KeyError: 1");
    };
    let gt = green::spawn(move || hurl(client_2));
    green::sleep(ms(1));
    client.write_all(b" ").unwrap();
    green::sleep(ms(1));
    green::sleep(ms(1)); // the extra switch eventlet's test needs
    let err = within("hurl", || gt.wait()).unwrap_err();
    assert!(err.is_panic(), "{err}");
    assert_eq!(err.panic_message(), Some("KeyError: 1"));
    let printed = green::debug::hub_exception_log();
    assert!(printed.iter().any(|l| l.contains("KeyError: 1")), "not printed by the hub: {printed:?}");
    green::debug::hub_exceptions(false);
    check_hub();
}
