//! Green I/O: echo at scale, close wake-ups, EINTR, readiness never lost, generic Read + Write.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use green::net::{TcpListener, TcpStream, UdpSocket};

use crate::util::*;

fn echo_server(listener: TcpListener) -> green::GreenThread<()> {
    green::Builder::new().name("echo-server").spawn(move || loop {
        let Ok((mut conn, _)) = listener.accept() else { return };
        green::spawn_n(move || {
            let mut buf = [0u8; 8192];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    })
}

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 131 + seed * 17) % 253) as u8).collect()
}

#[test]
fn a_thousand_concurrent_connections_echo_64_kib_each_byte_for_byte() {
    on_fresh_thread(|| {
        const CLIENTS: usize = 1000;
        const BYTES: usize = 64 * 1024;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = echo_server(listener);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                green::spawn(move || -> std::io::Result<bool> {
                    let conn = TcpStream::connect(addr)?;
                    let data = pattern(c, BYTES);
                    let mut writer = conn.try_clone()?;
                    let out = data.clone();
                    let w = green::spawn(move || writer.write_all(&out));
                    let mut back = vec![0u8; BYTES];
                    (&conn).read_exact(&mut back)?;
                    w.join().unwrap()?;
                    Ok(back == data)
                })
            })
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            assert!(c.join().unwrap().unwrap(), "client {i} got different bytes back");
        }
        server.kill();
        green::hub::shutdown();
    });
}

#[test]
fn closing_a_shared_stream_wakes_its_reader_with_a_closed_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Rc::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
    let (_server_side, _) = listener.accept().unwrap();
    let c = client.clone();
    let reader = green::spawn(move || (&*c).read(&mut [0u8; 16]));
    yield_now();
    assert!(green::debug::format_hub_listeners().contains("waits in TcpStream::read"));
    client.close();
    let err = reader.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
    let inner = err.get_ref().unwrap().downcast_ref::<green::Error>().unwrap();
    assert!(inner.is_closed(), "{inner}");
    // Every later operation fails the same way; the hub has no listener left.
    assert_eq!((&*client).write(b"x").unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    assert_eq!(green::debug::format_hub_listeners(), "READERS:\nWRITERS:");
}

#[test]
fn closing_a_listener_wakes_its_accepter() {
    let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let l = listener.clone();
    let accepter = green::spawn(move || l.accept().map(|_| ()));
    yield_now();
    listener.close();
    assert_eq!(accepter.join().unwrap().unwrap_err().kind(), std::io::ErrorKind::NotConnected);
}

#[test]
fn signals_interrupting_the_poller_never_reach_users() {
    // EINTR from epoll_wait (and any green call) is retried: a thread showers the hub's thread
    // with signals while it serves an echo workload.
    let got = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR2, got.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let hub_thread = std::thread::spawn({
        let stop = stop.clone();
        move || {
            tx.send(signal::current_thread()).unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = echo_server(listener);
            let clients: Vec<_> = (0..20)
                .map(|c| {
                    green::spawn(move || {
                        let mut s = TcpStream::connect(addr).unwrap();
                        for round in 0..200 {
                            let msg = pattern(c + round, 64);
                            s.write_all(&msg).unwrap();
                            let mut back = [0u8; 64];
                            s.read_exact(&mut back).unwrap();
                            assert_eq!(&back[..], &msg[..]);
                            if round % 20 == 0 {
                                green::sleep(Duration::from_millis(1)); // park in epoll_wait too
                            }
                        }
                    })
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
            server.kill();
            stop.store(true, Ordering::SeqCst);
        }
    });
    let target = rx.recv().unwrap();
    let mut sent = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if signal::send(target, signal_hook::consts::SIGUSR2) {
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    hub_thread.join().expect("an EINTR reached user code");
    assert!(sent > 0 && got.load(Ordering::SeqCst), "no signal was delivered");
}

/// eventlet's `test_suspend_doesnt_crash`: signals interrupting the poller while a greenthread
/// waits long on an fd neither end a timeout early nor lose it: the hub reads the clock again
/// after every `EINTR` and the timeout fires once its time has passed.
#[test]
fn a_timeout_over_a_long_wait_fires_on_time_while_signals_interrupt_the_poller() {
    let got = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR2, got.clone()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let hub_thread = std::thread::spawn({
        let stop = stop.clone();
        move || {
            tx.send(signal::current_thread()).unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            // Nobody connects: the accept waits in epoll_wait until the timeout.
            let (r, took) = timed(|| green::with_timeout(ms(500), || listener.accept()));
            stop.store(true, Ordering::SeqCst);
            (r.map(|_| ()).map_err(|e| e.is_timeout()), took)
        }
    });
    let target = rx.recv().unwrap();
    let mut sent = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if signal::send(target, signal_hook::consts::SIGUSR2) {
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (r, took) = hub_thread.join().expect("an EINTR reached user code");
    assert_eq!(r, Err(true), "the timeout, and nothing else, ends the accept");
    assert!(took >= ms(500), "the timeout fired early: {took:?}");
    assert!(took < Duration::from_secs(10), "the timeout was lost: {took:?}");
    assert!(sent > 0 && got.load(Ordering::SeqCst), "no signal was delivered");
}

#[test]
fn readiness_reported_before_the_wait_is_not_lost() {
    // Data arrives while nobody waits; the edge is remembered, so the later read does not hang.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut b, _) = listener.accept().unwrap();
    a.write_all(b"early").unwrap();
    green::sleep(ms(5)); // the hub polls (and sees b readable) with nobody waiting on b
    let mut buf = [0u8; 5];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"early");
}

#[test]
fn trampoline_on_an_fd_that_is_already_ready_returns_at_the_next_pass() {
    use std::os::unix::net::UnixStream;
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(b"ready").unwrap();
    let (r, took) = timed(|| green::trampoline(&b, green::Interest::Read, Some(Duration::from_secs(5))));
    r.unwrap();
    assert!(took < Duration::from_secs(5));
    // The temporary registration is gone.
    assert_eq!(green::debug::format_hub_listeners(), "READERS:\nWRITERS:");
}

#[test]
fn trampoline_times_out_with_a_timed_out_error() {
    use std::os::unix::net::UnixStream;
    let (_a, b) = UnixStream::pair().unwrap();
    let (r, took) = timed(|| green::trampoline(&b, green::Interest::Read, Some(ms(5))));
    let err = r.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(err.get_ref().unwrap().downcast_ref::<green::Error>().unwrap().is_timeout());
    assert!(took >= ms(5), "fired early: {took:?}");
}

/// A sync line protocol, generic over `Read + Write`, written with no knowledge of green.
fn greet<S: Read + Write>(stream: S) -> std::io::Result<String> {
    let mut reader = BufReader::new(stream);
    reader.get_mut().write_all(b"HELLO green\n")?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    Ok(line)
}

#[test]
fn a_sync_protocol_generic_over_read_and_write_runs_unchanged() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = green::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(&conn);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        (&conn).write_all(format!("WELCOME {}", &line[6..]).as_bytes()).unwrap();
    });
    let answer = greet(TcpStream::connect(addr).unwrap()).unwrap();
    assert_eq!(answer, "WELCOME green\n");
    server.wait().unwrap();
}

#[test]
fn udp_datagrams_round_trip_between_greenthreads() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let echo = green::spawn(move || {
        let mut buf = [0u8; 1500];
        for _ in 0..10 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.connect(addr).unwrap();
    for i in 0..10u8 {
        client.send(&[i; 100]).unwrap();
        let mut buf = [0u8; 1500];
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[i; 100][..]);
    }
    echo.wait().unwrap();
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn an_idle_socket_does_not_hide_a_deadlock() {
    let msg = on_fresh_thread(|| {
        panic_message_of(|| {
            let _idle = UdpSocket::bind("127.0.0.1:0").unwrap();
            let ev: green::Event<()> = green::Event::new();
            ev.wait();
        })
    });
    assert!(msg.contains("green: deadlock"), "{msg}");
}

#[test]
fn a_parked_reader_is_not_a_deadlock_and_a_hub_handle_wakes_the_hub() {
    // The root waits for an event that only another OS thread can cause (through a HubHandle):
    // a live handle means work may still arrive, so this is no deadlock.
    let ev: green::Event<u32> = green::Event::new();
    let handle = green::hub::handle();
    let e = ev.clone();
    let pending: Rc<std::cell::RefCell<Option<green::Event<u32>>>> = Rc::new(std::cell::RefCell::new(Some(e)));
    thread_local! {
        static SLOT: std::cell::RefCell<Option<green::Event<u32>>> = const { std::cell::RefCell::new(None) };
    }
    SLOT.with(|s| *s.borrow_mut() = pending.borrow_mut().take());
    let worker = std::thread::spawn(move || {
        std::thread::sleep(ms(10));
        handle
            .post(|| {
                SLOT.with(|s| s.borrow_mut().take().unwrap().send(99).unwrap());
            })
            .unwrap();
    });
    assert_eq!(ev.wait(), 99);
    worker.join().unwrap();
}

// ===== socket timeouts and name resolution =====

#[test]
fn a_read_timeout_bounds_each_read_and_a_later_read_still_gets_the_data() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut server, _) = l.accept().unwrap();
    c.set_read_timeout(Some(ms(20))).unwrap();
    let (r, took) = timed(|| c.read(&mut [0u8; 4]));
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert!(took >= ms(20), "{took:?}");
    server.write_all(b"late").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    c.set_read_timeout(None).unwrap();
    assert_eq!(c.read_timeout().unwrap(), None);
}

#[test]
fn a_write_timeout_fails_a_write_the_peer_never_drains() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (_server, _) = l.accept().unwrap(); // never reads
    c.set_write_timeout(Some(ms(50))).unwrap();
    let chunk = vec![7u8; 1 << 16];
    let err = loop {
        if let Err(e) = (&c).write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn a_udp_receive_timeout_fails_with_timed_out() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(ms(10))).unwrap();
    assert_eq!(s.recv_from(&mut [0u8; 8]).unwrap_err().kind(), std::io::ErrorKind::TimedOut);
}

#[test]
fn an_hour_long_read_timeout_passes_in_virtual_time_under_the_harness() {
    let kind = Rc::new(std::cell::Cell::new(None));
    let k = kind.clone();
    let (_, took) = timed(|| {
        green_harness::Harness::new().seed(1).run(move || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let _server = l.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_secs(3600))).unwrap();
            k.set(Some(c.read(&mut [0u8; 1]).unwrap_err().kind()));
        })
    });
    assert_eq!(kind.get(), Some(std::io::ErrorKind::TimedOut));
    assert!(took < Duration::from_secs(30), "an hour of virtual time took {took:?}");
}

#[test]
fn lookup_host_resolves_names_off_the_hub_for_connect() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let addrs = green::net::lookup_host(&format!("localhost:{port}")).unwrap();
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == port), "{addrs:?}");
    let v4: Vec<_> = addrs.into_iter().filter(|a| a.is_ipv4()).collect();
    let c = TcpStream::connect(&v4[..]).unwrap();
    assert_eq!(c.peer_addr().unwrap().port(), port);
    let e = green::net::lookup_host("localhost").unwrap_err(); // no port
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
}

#[test]
fn a_timeout_too_long_to_add_to_now_means_no_deadline() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut server, _) = l.accept().unwrap();
    c.set_read_timeout(Some(Duration::MAX)).unwrap();
    green::spawn(move || {
        green::sleep(ms(5));
        server.write_all(b"ok").unwrap();
    });
    let mut buf = [0u8; 2];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
}

// ===== Unix-domain sockets =====

/// A fresh socket path under the temp dir, removed first.
fn socket_path(tag: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("green-test-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn fifty_unix_clients_echo_through_a_green_unix_server_byte_for_byte() {
    let path = socket_path("echo");
    let listener = green::net::UnixListener::bind(&path).unwrap();
    let server = green::spawn(move || {
        while let Ok((mut conn, _)) = listener.accept() {
            green::spawn_n(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => conn.write_all(&buf[..n]).unwrap(),
                    }
                }
            });
        }
    });
    let clients: Vec<_> = (0..50u8)
        .map(|i| {
            let p = path.clone();
            green::spawn(move || {
                let mut s = green::net::UnixStream::connect(&p).unwrap();
                let msg = vec![i; 10_000];
                s.write_all(&msg).unwrap();
                let mut back = vec![0u8; msg.len()];
                s.read_exact(&mut back).unwrap();
                assert_eq!(back, msg);
            })
        })
        .collect();
    clients.into_iter().for_each(|c| c.wait().unwrap());
    server.kill();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn closing_a_unix_stream_wakes_its_reader_and_datagrams_flow_between_greenthreads() {
    let (a, _b) = green::net::UnixStream::pair().unwrap();
    let a = Rc::new(a);
    let a2 = a.clone();
    let reader = green::spawn(move || (&*a2).read(&mut [0u8; 8]).map_err(|e| e.kind()));
    yield_now();
    a.close();
    assert_eq!(reader.wait().unwrap(), Err(std::io::ErrorKind::NotConnected));

    let (x, y) = green::net::UnixDatagram::pair().unwrap();
    let pong = green::spawn(move || {
        let mut buf = [0u8; 16];
        let n = y.recv(&mut buf).unwrap();
        y.send(&buf[..n]).unwrap();
    });
    x.send(b"ping").unwrap();
    let mut buf = [0u8; 16];
    let n = x.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    pong.wait().unwrap();
}

#[test]
fn short_reads_and_eintr_on_unix_streams_are_absorbed_under_the_harness() {
    let report = green_harness::Harness::new()
        .seed(4)
        .faults(&[green_harness::Fault::Short, green_harness::Fault::Eintr])
        .run(|| {
            let (mut a, mut b) = green::net::UnixStream::pair().unwrap();
            let msg: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
            let m = msg.clone();
            let writer = green::spawn(move || {
                for chunk in m.chunks(50) {
                    a.write_all(chunk).unwrap();
                    green::sleep(Duration::ZERO);
                }
            });
            let mut back = vec![0u8; msg.len()];
            b.read_exact(&mut back).unwrap();
            writer.wait().unwrap();
            assert_eq!(back, msg);
        });
    assert!(!report.faults.is_empty(), "the tape injected faults into the unix stream");
}

#[test]
fn unix_stream_and_datagram_read_timeouts_fail_with_timed_out() {
    let (s, _peer) = green::net::UnixStream::pair().unwrap();
    s.set_read_timeout(Some(ms(10))).unwrap();
    let (r, took) = timed(|| (&s).read(&mut [0u8; 4]));
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert!(took >= ms(10), "{took:?}");
    let (d, _peer) = green::net::UnixDatagram::pair().unwrap();
    d.set_read_timeout(Some(ms(10))).unwrap();
    assert_eq!(d.recv(&mut [0u8; 4]).unwrap_err().kind(), std::io::ErrorKind::TimedOut);
}

/// Runs `f`, counting the read system calls this thread made meanwhile (`syscr` in
/// `/proc/thread-self/io`, less the reads of the counting itself).
fn reads_during<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let count = || {
        let text = std::fs::read_to_string("/proc/thread-self/io").unwrap();
        text.lines().find_map(|l| l.strip_prefix("syscr: ")).unwrap().trim().parse::<u64>().unwrap()
    };
    let own = {
        let a = count();
        count() - a
    };
    let before = count();
    let r = f();
    (r, count() - before - own)
}

#[test]
fn a_read_after_a_short_read_waits_for_readiness_without_a_read_system_call() {
    // A short read took everything the stream had: the next read parks until the poller reports
    // an arrival, instead of first making a read that finds nothing (one read system call per
    // message in an echo loop instead of two). Nothing is lost: data written later is read, and
    // end of stream still reads as 0.
    on_fresh_thread(|| {
        let (mut w, r) = green::net::pipe().unwrap();
        w.write_all(b"abc").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!((&r).read(&mut buf).unwrap(), 3);
        let writer = green::spawn(move || {
            green::sleep(ms(5));
            w.write_all(b"defg").unwrap();
            w
        });
        let (n, reads) = reads_during(|| (&r).read(&mut buf).unwrap());
        assert_eq!(&buf[..n], b"defg");
        assert_eq!(reads, 1, "the read after a short read tried the pipe before it was readable");
        drop(writer.join().unwrap());
        assert_eq!((&r).read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn a_read_that_filled_its_buffer_reads_again_at_once() {
    // A read that filled its buffer may have left bytes behind: the next read makes its call at
    // once, without parking (a greenthread spawned meanwhile does not get to run).
    on_fresh_thread(|| {
        let (mut w, r) = green::net::pipe().unwrap();
        w.write_all(b"01234567").unwrap();
        let mut buf = [0u8; 4];
        assert_eq!((&r).read(&mut buf).unwrap(), 4);
        let ran = Rc::new(std::cell::Cell::new(false));
        let other = {
            let ran = ran.clone();
            green::spawn(move || ran.set(true))
        };
        let (n, reads) = reads_during(|| (&r).read(&mut buf).unwrap());
        assert_eq!((n, &buf[..n]), (4, &b"4567"[..]));
        assert_eq!(reads, 1);
        assert!(!ran.get(), "the read after a full read parked before making its call");
        other.wait().unwrap();
    });
}

#[test]
fn the_last_bytes_and_the_end_of_stream_in_one_event_still_read_to_the_end() {
    // Regression guard: the peer's last bytes and its end of stream arrive in one readiness event.
    // The short read of those bytes must not make the next read wait for another event: none
    // will come, and the end of stream is there to read.
    on_fresh_thread(|| {
        let (mut w, mut r) = green::net::UnixStream::pair().unwrap();
        r.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let writer = green::spawn(move || {
            w.write_all(b"last").unwrap();
            // `w` dropped here: both arrive before the reader runs again.
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).expect("the end of stream was not read");
        writer.wait().unwrap();
        assert_eq!(got, b"last");
    });
}

/// Reads `want` bytes from `conn` in a greenthread that parks before `send` runs, so the poller
/// reports everything `send` sent in one event before the first read that returns data.
fn read_what_arrives_in_one_event<S>(conn: S, want: usize, send: impl FnOnce()) -> Vec<u8>
where
    S: 'static,
    for<'a> &'a S: Read,
{
    let reader = green::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < want {
            let n = (&conn).read(&mut buf).expect("data behind a short read was not read");
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    yield_now(); // the reader finds nothing and parks
    send();
    std::thread::sleep(Duration::from_millis(20)); // it all lands before the hub polls
    reader.join().unwrap()
}

#[test]
fn data_behind_tcp_urgent_data_is_read_after_the_short_read_that_stops_at_the_mark() {
    // Regression guard: a TCP read stops at the urgent mark with data behind it, and no event
    // repeats that data. The urgent data comes with a priority event, after which a short read
    // proves nothing.
    on_fresh_thread(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let got = read_what_arrives_in_one_event(conn, 6, || {
            peer.write_all(b"abc").unwrap();
            // SAFETY: a valid socket and a one-byte buffer that outlives the call.
            let sent = unsafe { libc::send(peer.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
            assert_eq!(sent, 1);
            peer.write_all(b"def").unwrap();
        });
        assert_eq!(got, b"abcdef"); // the urgent byte is out of band
    });
}

#[test]
fn data_behind_passed_descriptors_on_a_unix_stream_is_read_after_the_short_read() {
    // Regression guard: a Unix stream read stops after bytes that carried file descriptors, with
    // data behind it and no further event: on a Unix stream a short read proves nothing.
    on_fresh_thread(|| {
        let (peer, conn) = green::net::UnixStream::pair().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let passed = std::fs::File::open("/dev/null").unwrap();
        let got = read_what_arrives_in_one_event(conn, 7, || {
            send_with_fd(peer.as_raw_fd(), b"hdr", passed.as_raw_fd());
            // SAFETY: a valid socket and a buffer that outlives the call.
            let sent = unsafe { libc::send(peer.as_raw_fd(), b"body".as_ptr().cast(), 4, 0) };
            assert_eq!(sent, 4);
        });
        assert_eq!(got, b"hdrbody");
    });
}

/// Sends `data` on the Unix socket `fd` with `pass` attached (`SCM_RIGHTS`).
fn send_with_fd(fd: std::os::fd::RawFd, data: &[u8], pass: std::os::fd::RawFd) {
    // SAFETY: every pointer handed to sendmsg refers to a live local buffer of the stated length;
    // the control buffer is sized with CMSG_SPACE for one descriptor and aligned as cmsghdr.
    unsafe {
        let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
        let mut control = [0u64; 8];
        let space = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
        assert!(space <= std::mem::size_of_val(&control));
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), pass);
        assert_eq!(libc::sendmsg(fd, &msg, 0), data.len() as isize, "{}", std::io::Error::last_os_error());
    }
}

#[test]
fn two_allowed_readers_are_served_in_arrival_order_and_a_killed_first_leaves_the_next_served() {
    // The first reader parks in the socket's sole-waiter slot, later ones queue behind it: one
    // byte goes to the first; killing the reader in the slot leaves the next one served.
    on_fresh_thread(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (conn, _) = listener.accept().unwrap();
        conn.allow_multiple_waiters(true);
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap(); // a wrong order fails, not hangs
        let conn = Rc::new(conn);
        let reader = |name: &'static str| {
            let conn = conn.clone();
            green::Builder::new().name(name).spawn(move || {
                let mut b = [0u8; 1];
                (&*conn).read_exact(&mut b).expect("no byte for this reader");
                b[0]
            })
        };
        let (r1, r2) = (reader("r1"), reader("r2"));
        yield_now();
        let dump = green::debug::format_hub_listeners();
        let (p1, p2) = (dump.find("r1").expect(&dump), dump.find("r2").expect(&dump));
        assert!(p1 < p2, "{dump}");
        peer.write_all(b"x").unwrap();
        assert_eq!(r1.wait().unwrap(), b'x');
        yield_now();
        assert!(!r2.is_finished(), "the second reader took a byte that was not there");
        let r3 = reader("r3");
        yield_now();
        r2.kill();
        peer.write_all(b"y").unwrap();
        assert_eq!(r3.wait().unwrap(), b'y');
        assert!(r2.wait().is_err());
    });
}
