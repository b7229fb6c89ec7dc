//! Harness trust: every failure's replay line replays it, and every fault means what it says
//! (only where the kernel could produce it, logged as typed events).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use green_harness::{Config, Fault, FdKind, Harness, IoFault, Perturbation, Tape};

use crate::util::*;

/// A child run with `GREEN_SEED=9` in its environment: the builder's `.seed(1)` (and `.tape`)
/// must not override it, nor must the builder's knobs override the environment's.
#[test]
fn builder_seed_does_not_override_the_environments_seed_or_tape() {
    let (status, out, err) = run_child_with(
        "harness_trust::env_wins_child",
        &[("GREEN_SEED", "9"), ("GREEN_SHUFFLE", "1"), ("GREEN_GRACE_MS", "7"), ("GREEN_JITTER_MS", "4")],
    );
    assert!(status.success(), "child failed ({status}): {out}\n{err}");
    assert!(out.contains("env wins ok"), "{out}");
}

#[test]
#[ignore = "run as a child process by builder_seed_does_not_override_the_environments_seed_or_tape"]
fn env_wins_child() {
    if !is_child("harness_trust::env_wins_child") {
        return;
    }
    let h = Harness::new().seed(1).shuffle(false).grace(ms(1)).jitter(ms(1));
    let r = h.run(|| ());
    assert_eq!(r.tape.seed(), Some(9));
    let line = h.replay_line(&r.tape);
    assert!(line.contains("GREEN_SEED=9 ") && line.contains("GREEN_SHUFFLE=1"), "{line}");
    assert!(line.contains("GREEN_GRACE_MS=7") && line.contains("GREEN_JITTER_MS=4"), "{line}");
    let r = Harness::new().tape(Tape::new(vec![5])).run(|| ());
    assert_eq!(r.tape.seed(), Some(9), "the environment's seed wins over the builder's tape too");
    // Config::hermetic ignores the environment.
    let r = Harness::with_config(Config::hermetic()).seed(1).run(|| ());
    assert_eq!(r.tape.seed(), Some(1));
    println!("env wins ok");
}

/// Every knob that changes a run is in the replay line, and the line's environment rebuilds the
/// same configuration.
#[test]
fn every_knob_that_changes_a_run_is_in_the_replay_line() {
    let h = Harness::with_config(Config::hermetic())
        .seed(3)
        .density(0.5)
        .tape_len(100)
        .grace(ms(9))
        .jitter(ms(2))
        .shuffle(true)
        .faults(&[Fault::Short, Fault::Eintr])
        .virtual_clock(false)
        .blocking(ms(300));
    let line = h.replay_line(&Tape::seeded(3, 0.5));
    for knob in [
        "GREEN_SEED=3",
        "GREEN_DENSITY=0.5",
        "GREEN_TAPE_LEN=100",
        "GREEN_GRACE_MS=9",
        "GREEN_JITTER_MS=2",
        "GREEN_SHUFFLE=1",
        "GREEN_FAULTS=short,eintr",
        "GREEN_CLOCK=real",
        "GREEN_BLOCKING_MS=300",
    ] {
        assert!(line.contains(knob), "{knob} missing from {line}");
    }
}

/// A seed drives the whole run: draw i is a pure function of (seed, i), with no length, so an
/// I/O-heavy test gets faults to its end; an explicit tape ends, and the report says so.
#[test]
fn a_seed_drives_the_whole_run_and_an_explicit_tape_reports_running_out() {
    let body = || {
        let (a, b) = green::net::UnixStream::pair().unwrap();
        let writer = green::spawn(move || {
            let mut a = a;
            for _ in 0..4_000 {
                a.write_all(&[7; 8]).unwrap();
            }
        });
        let mut b = b;
        let mut buf = [0u8; 8];
        for _ in 0..4_000 {
            b.read_exact(&mut buf).unwrap();
        }
        writer.join().unwrap();
    };
    let seeded = Harness::with_config(Config::hermetic()).seed(5).faults(&[Fault::Short]).run(body);
    assert!(seeded.draws > 2 * 4096, "{} draws (a seed once expanded to 4,096)", seeded.draws);
    assert!(!seeded.tape_exhausted);
    let last_fault = seeded.faults.iter().rposition(|f| matches!(f.what, Perturbation::Io { .. })).unwrap();
    assert!(last_fault * 10 > seeded.faults.len() * 9, "faults reach the end of the run");
    let explicit =
        Harness::with_config(Config::hermetic()).tape(Tape::new(vec![1; 16])).faults(&[Fault::Short]).run(body);
    assert!(explicit.tape_exhausted);
    assert!(explicit.draws > 16);
    // Replay lines stay short: a seed, not the drawn bytes; an explicit tape without its
    // trailing zeros.
    let line = Harness::with_config(Config::hermetic()).replay_line(&seeded.tape);
    assert!(line.len() < 200, "{line}");
    let line = Harness::with_config(Config::hermetic()).replay_line(&Tape::new([vec![3], vec![0; 100_000]].concat()));
    assert!(line.starts_with("replay: GREEN_TAPE=03 cargo test"), "{line}");
}

/// A greenthread that panicked with nobody waiting fails the run, naming its spawn site.
#[test]
fn an_unobserved_panic_fails_the_harness_run_with_its_spawn_site() {
    let msg = panic_message_of(|| {
        Harness::with_config(Config::hermetic()).run(|| {
            green::debug::hub_exceptions(false);
            let gt = green::Builder::new().name("lost").spawn(|| -> u8 { panic!("nobody looks") });
            green::sleep(Duration::ZERO);
            drop(gt);
        });
    });
    assert!(msg.contains("unobserved panic: greenthread #1 \"lost\""), "{msg}");
    assert!(msg.contains("tests/harness_trust.rs:"), "{msg}");
    assert!(msg.contains("nobody looks"), "{msg}");
    assert!(msg.contains("replay: GREEN_SEED=0"), "{msg}");
}

/// Resets reach only connected TCP sockets, broken pipes only pipes and stream sockets: a green
/// pipe under every fault kind never sees a reset, a datagram socket never a short read.
#[test]
fn resets_never_reach_pipes_and_short_io_never_reaches_datagrams() {
    for seed in 0..20 {
        let (report, r) =
            Harness::with_config(Config::hermetic()).seed(seed).density(0.5).faults(&Fault::ALL).try_run(|| {
                let (mut tx, mut rx) = green::net::pipe().unwrap();
                let w = green::spawn(move || {
                    let _ = tx.write_all(&[1; 4096]);
                });
                let mut buf = Vec::new();
                let r = rx.read_to_end(&mut buf).map(|_| buf.len());
                let _ = w.join();
                let a = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                let b = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                b.send_to(&[9; 32], a.local_addr().unwrap()).unwrap();
                let mut d = [0u8; 64];
                let n = a.recv_from(&mut d).map(|x| x.0);
                (r, n)
            });
        let (pipe, udp) = r.unwrap();
        if let Err(e) = &pipe {
            assert_ne!(e.kind(), std::io::ErrorKind::ConnectionReset, "seed {seed}: {e}");
        }
        if let Ok(n) = udp {
            assert_eq!(n, 32, "seed {seed}: a datagram is never cut short");
        }
        for f in &report.faults {
            if let (Perturbation::Io { fault, .. }, Some((_, kind))) = (&f.what, f.fd) {
                match fault {
                    IoFault::Reset => assert_eq!(kind, FdKind::TcpStream, "{f}"),
                    IoFault::Short(_) => assert!(kind.is_stream(), "{f}"),
                    IoFault::BrokenPipe => assert!(kind.is_stream(), "{f}"),
                    _ => {}
                }
            }
        }
    }
}

/// Spurious wake-ups are not progress: with a tape of all ones, twenty virtual 1 ms sleeps next
/// to a parked fd waiter cost no real-time grace per spurious wake-up.
#[test]
fn spurious_readiness_does_not_freeze_the_virtual_clock() {
    let body = || {
        let (_a, b) = green::net::UnixStream::pair().unwrap();
        let reader = green::spawn(move || {
            let mut b = b;
            let mut buf = [0u8; 1];
            let _ = green::with_timeout(Duration::from_secs(3600), || b.read(&mut buf));
        });
        for _ in 0..20 {
            green::sleep(ms(1));
        }
        reader.kill();
    };
    let t0 = Instant::now();
    let report = Harness::with_config(Config::hermetic())
        .tape(Tape::new(vec![1; 100_000]))
        .faults(&[Fault::Spurious])
        .fail_on_leaks(false)
        .run(body);
    let took = t0.elapsed();
    assert!(report.faults.iter().any(|f| f.what == Perturbation::SpuriousReadiness), "{:?}", report.faults);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// An accept loop tells "closed" (stop) from a transient error (retry), also for an injected
/// close-while-waiting.
#[test]
fn an_accept_loop_tells_a_closed_listener_from_a_transient_error() {
    let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let l = std::rc::Rc::new(l);
    let l2 = l.clone();
    let acceptor = green::spawn(move || loop {
        match l2.accept() {
            Ok(_) => continue,
            Err(e) if green::Error::from_io(&e).is_some_and(|g| g.is_closed()) => return "closed",
            Err(_) => continue,
        }
    });
    yield_now();
    l.close();
    assert!(l.is_closed());
    assert_eq!(acceptor.join().unwrap(), "closed");
    let (report, r) = Harness::with_config(Config::hermetic())
        .tape(Tape::new(vec![1; 8]))
        .faults(&[Fault::Closed])
        .fail_on_leaks(false)
        .try_run(|| {
            let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let e = l.accept().unwrap_err();
            green::Error::from_io(&e).is_some_and(|g| g.is_closed())
        });
    assert!(r.unwrap(), "{:?}", report.faults);
}

/// The budget abort names the hub's own slice plainly.
#[test]
fn the_budget_abort_names_the_hubs_own_slice_plainly() {
    let (status, _out, err) = run_child("harness_trust::hub_budget_child");
    assert!(!status.success());
    assert!(err.contains("the hub itself (timers, callbacks) was running"), "{err}");
    assert!(!err.contains("18446744073709551615"), "{err}");
}

#[test]
#[ignore = "run as a child process by the_budget_abort_names_the_hubs_own_slice_plainly"]
fn hub_budget_child() {
    if !is_child("harness_trust::hub_budget_child") {
        return;
    }
    Harness::with_config(Config::hermetic()).budget(ms(200)).run(|| {
        green::hub::schedule_call_global(Duration::ZERO, || {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(30) {
                std::hint::spin_loop();
            }
        });
        green::sleep(ms(1));
    });
}

/// Busy processes that load every core (twice over) while a test runs; killed on drop.
struct Load(Vec<std::process::Child>);

impl Load {
    fn start(n: usize) -> Load {
        Load(
            (0..n)
                .map(|_| std::process::Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap())
                .collect(),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Clients of [`tcp_echo_scenario`].
const CLIENTS: usize = 8;

/// A TCP echo over loopback in one hub: a server greenthread per connection, clients writing
/// and reading back messages, a dump taken mid-run.
fn tcp_echo_scenario() -> String {
    let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = green::spawn(move || {
        let mut conns = Vec::new();
        for _ in 0..CLIENTS {
            let (s, _) = l.accept().unwrap();
            conns.push(green::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 64];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => s.write_all(&buf[..n]).unwrap(),
                    }
                }
            }));
        }
        for c in conns {
            c.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..CLIENTS as u8)
        .map(|c| {
            green::spawn(move || {
                let mut s = green::net::TcpStream::connect(addr).unwrap();
                for i in 0..50u8 {
                    let msg = [c, i, c ^ i, 7, 8, 9, 10, 11];
                    s.write_all(&msg).unwrap();
                    let mut back = [0u8; 8];
                    s.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg);
                }
            })
        })
        .collect();
    green::sleep(ms(1));
    let dump = green::debug::format_greenthreads();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
    dump
}

/// Same seed, same run, over loopback TCP on a loaded machine: 20 runs of one seed of a TCP
/// echo with short reads, spurious readiness and shuffling, with four busy processes (twice the
/// cores) running meanwhile, give identical fault logs, switch traces and dumps.
#[test]
fn replay_over_loopback_tcp_is_exact_on_a_loaded_machine() {
    let _load = Load::start(4);
    let h = Harness::with_config(Config::hermetic()).seed(17).density(0.3).shuffle(true).faults(&[
        Fault::Short,
        Fault::Spurious,
        Fault::Delayed,
        Fault::Eintr,
    ]);
    let mut first = None;
    for run in 0..20 {
        let (report, dump) = h.try_run(tcp_echo_scenario);
        let dump = dump.unwrap_or_else(|p| std::panic::resume_unwind(p));
        assert!(report.exact, "a run whose sockets all talk to each other is exact");
        let this = (report.faults.iter().map(ToString::to_string).collect::<Vec<_>>(), report.trace.clone(), dump);
        match &first {
            None => first = Some(this),
            Some(f) => {
                if f.0 != this.0 {
                    let i = f.0.iter().zip(&this.0).position(|(a, b)| a != b).unwrap_or(f.0.len().min(this.0.len()));
                    panic!(
                        "run {run}: the fault logs differ at entry {i} of {}/{}: {:?} vs {:?}",
                        f.0.len(),
                        this.0.len(),
                        &f.0[i.saturating_sub(3)..(i + 3).min(f.0.len())],
                        &this.0[i.saturating_sub(3)..(i + 3).min(this.0.len())]
                    );
                }
                assert_eq!(f.1, this.1, "run {run}: the switch traces differ");
                assert_eq!(f.2, this.2, "run {run}: the dumps differ");
            }
        }
    }
}

/// Two races the kernel decides unless the hub settles them: a read right after a peer's write
/// in the same pass (the bytes cross loopback in a softirq a loaded machine defers), and a bulk
/// writer parked on a full send buffer while timers run (the acknowledgements that free its
/// room also cross loopback). The log records how ticks of a 1 ms ticker interleave with the
/// writer's chunks and what each same-pass read found.
fn tcp_races_scenario() -> Vec<String> {
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut a = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut b, _) = l.accept().unwrap();
    // Same pass: the read comes right after the write, with no poll between them.
    for i in 0..20u8 {
        a.write_all(&[i; 3]).unwrap();
        let mut buf = [0u8; 8];
        let n = b.read(&mut buf).unwrap();
        log.borrow_mut().push(format!("read {n}"));
    }
    let ticking = std::rc::Rc::new(std::cell::Cell::new(true));
    let (lg, t) = (log.clone(), ticking.clone());
    let ticker = green::spawn(move || {
        let mut ticks = 0;
        while t.get() {
            green::sleep(ms(1));
            ticks += 1;
            lg.borrow_mut().push(format!("tick {ticks}"));
        }
    });
    let lg = log.clone();
    let writer = green::spawn(move || {
        let chunk = vec![7u8; 256 * 1024];
        for i in 0..16 {
            a.write_all(&chunk).unwrap();
            lg.borrow_mut().push(format!("wrote {i}"));
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = 16 * 256 * 1024;
    while left > 0 {
        let n = b.read(&mut buf).unwrap();
        left -= n;
        green::sleep(ms(1));
    }
    writer.join().unwrap();
    ticking.set(false);
    ticker.join().unwrap();
    let out = log.borrow().clone();
    out
}

/// Same tape, same run, for the two races of [`tcp_races_scenario`], on a loaded machine.
#[test]
fn replay_is_exact_for_same_pass_reads_and_writers_parked_on_a_full_buffer_on_a_loaded_machine() {
    let _load = Load::start(4);
    let h = Harness::with_config(Config::hermetic()).seed(5).shuffle(true);
    let mut first = None;
    for run in 0..10 {
        let (report, log) = h.try_run(tcp_races_scenario);
        let log = log.unwrap_or_else(|p| std::panic::resume_unwind(p));
        assert!(report.exact, "every socket talks to one of this hub");
        let faults = report.faults.iter().map(ToString::to_string).collect::<Vec<_>>();
        match &first {
            None => first = Some((log, faults, report.trace)),
            Some((l, f, t)) => {
                assert_eq!(l, &log, "run {run}: the interleaving differs");
                assert_eq!(f, &faults, "run {run}: the fault logs differ");
                assert_eq!(t, &report.trace, "run {run}: the switch traces differ");
            }
        }
    }
}

/// Regression: the kernel tuned loopback buffers by timing (receive autotuning measures bytes
/// per round trip in real time), so a bulk writer's first write accepted more or less on a
/// loaded machine and the replay above diverged. Under a harness both buffers of both ends keep
/// one size through a bulk transfer.
#[test]
fn loopback_streams_keep_fixed_buffer_sizes_under_a_harness() {
    fn buffers(s: &impl std::os::fd::AsRawFd) -> (libc::c_int, libc::c_int) {
        let get = |opt| {
            let mut v: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: `v` and `len` are valid for writes of an int and its size.
            let r = unsafe {
                libc::getsockopt(s.as_raw_fd(), libc::SOL_SOCKET, opt, (&mut v as *mut libc::c_int).cast(), &mut len)
            };
            assert_eq!(r, 0, "getsockopt");
            v
        };
        (get(libc::SO_RCVBUF), get(libc::SO_SNDBUF))
    }
    Harness::with_config(Config::hermetic()).run(|| {
        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        // 128 KiB each: the kernel reports twice the 64 KiB set.
        let fixed = (128 * 1024, 128 * 1024);
        assert_eq!((buffers(&a), buffers(&b)), (fixed, fixed), "at the start");
        let writer = green::spawn(move || {
            a.write_all(&vec![1u8; 1 << 20]).unwrap();
            a
        });
        let mut buf = vec![0u8; 256 * 1024];
        let mut left = 1 << 20;
        while left > 0 {
            left -= b.read(&mut buf).unwrap();
        }
        let a = writer.join().unwrap();
        assert_eq!((buffers(&a), buffers(&b)), (fixed, fixed), "after 1 MiB");
    });
}

/// DESIGN §6.1: draws are per operation, never per poll event. Readiness of sockets nobody waits
/// on (here two idle pairs that get a byte each) used to draw one reorder pick per extra event
/// in a poll, shifting every later draw: the same program then ran in another order.
#[test]
fn readiness_nobody_waits_for_draws_nothing_from_the_tape() {
    let body = |poke: bool| {
        move || {
            // Two pairs whose reading ends are registered with the poller (a read waited on
            // each once) and then left without a reader.
            let idle: Vec<_> = (0..2)
                .map(|_| {
                    let (mut a, b) = green::net::UnixStream::pair().unwrap();
                    let reader = green::spawn(move || {
                        let mut b = b;
                        b.read_exact(&mut [0u8; 1]).unwrap();
                        b
                    });
                    green::sleep(Duration::ZERO);
                    a.write_all(b"x").unwrap();
                    (a, reader.join().unwrap())
                })
                .collect();
            green::sleep(Duration::ZERO);
            // A reader parked all along, so every pass polls.
            let (mut c, d) = green::net::UnixStream::pair().unwrap();
            let parked = green::spawn(move || {
                let mut d = d;
                d.read_exact(&mut [0u8; 1]).unwrap();
            });
            let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let gts: Vec<_> = (0..4)
                .map(|i| {
                    let o = order.clone();
                    green::spawn(move || {
                        for step in 0..4 {
                            o.borrow_mut().push((i, step));
                            green::sleep(Duration::ZERO);
                        }
                    })
                })
                .collect();
            if poke {
                for (a, _) in &idle {
                    (&*a).write_all(b"x").unwrap();
                }
            }
            for g in gts {
                g.join().unwrap();
            }
            c.write_all(b"x").unwrap();
            parked.join().unwrap();
            let out = order.borrow().clone();
            out
        }
    };
    for seed in 0..16 {
        let h = Harness::with_config(Config::hermetic()).seed(seed).density(0.5).shuffle(true);
        let (_, quiet) = h.try_run(body(false));
        let (_, poked) = h.try_run(body(true));
        assert_eq!(quiet.unwrap(), poked.unwrap(), "seed {seed}: idle readiness changed the schedule");
    }
}

/// Loopback UDP is not settled: a run that sent a datagram is reported inexact (its faults and
/// decisions replay, its interleaving may not), where the same exchange over TCP is exact.
#[test]
fn a_run_that_sends_udp_is_reported_inexact() {
    let h = Harness::with_config(Config::hermetic());
    let report = h.run(|| {
        let a = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        a.send_to(b"ping", b.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.recv_from(&mut buf).unwrap().0, 4);
    });
    assert!(!report.exact);
    let report = h.run(|| {
        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
    });
    assert!(report.exact);
}

/// When every fd waiter's peer is a socket of the same hub, nothing can arrive from outside: the
/// virtual clock jumps without a real-time grace (a thousand virtual sleeps next to a parked
/// loopback reader take far less than the thousand 5 ms graces they used to).
#[test]
fn the_virtual_clock_jumps_without_grace_when_every_peer_is_in_the_hub() {
    let t0 = Instant::now();
    let report = Harness::with_config(Config::hermetic()).run(|| {
        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        drop(l);
        let reader = green::spawn(move || {
            let mut s = s;
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            b[0]
        });
        for _ in 0..1_000 {
            green::sleep(ms(1));
        }
        let mut c = c;
        c.write_all(&[42]).unwrap();
        assert_eq!(reader.join().unwrap(), 42);
    });
    assert!(report.exact);
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(2_500), "{took:?} (with a 5 ms grace per jump: over 5 s)");
}

/// A harness run captures panics instead of printing them: a passing run whose greenthread
/// panicked on purpose prints nothing of it (the panic is in `Report::panics`); a failing run
/// prints every captured panic, with its location, before failing.
#[test]
fn expected_panics_stay_quiet_and_a_failing_run_shows_what_it_captured() {
    let (status, _, stderr) = run_child("harness_trust::capture_child");
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("an expected boom"), "a passing run printed an expected panic:\n{stderr}");
    let (status, _, stderr) = run_child_with("harness_trust::capture_child", &[("CAPTURE_FAIL", "1")]);
    assert!(!status.success());
    assert!(stderr.contains("panics during the run (captured)"), "{stderr}");
    assert!(stderr.contains("an expected boom") && stderr.contains("the real failure"), "{stderr}");
    assert!(stderr.contains("tests/harness_trust.rs:"), "the captured panics carry their locations:\n{stderr}");
}

/// A panic raised while the harness tears the hub down (here: a timer callback's capture whose
/// destructor panics when the teardown drops it) fails the run as a hub-caught panic and is in
/// `Report::panics` (printed with the failure) with its location, not lost with the hub's state.
#[test]
fn panics_during_the_teardown_are_reported_with_the_run() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("a teardown boom");
        }
    }
    let h = Harness::with_config(Config::hermetic()).fail_on_leaks(false);
    let (r, out) = h.try_run(|| {
        let bomb = Bomb;
        let _pending = green::hub::schedule_call_global(Duration::from_secs(3600), move || drop(bomb));
    });
    let verdict = out.unwrap_err().downcast::<String>().unwrap();
    assert!(verdict.contains("hub teardown: a teardown boom"), "{verdict}");
    assert!(
        r.panics.iter().any(|p| p.contains("a teardown boom") && p.contains("harness_trust.rs:")),
        "{:?}",
        r.panics
    );
}

#[test]
#[ignore = "run as a child process by expected_panics_stay_quiet_and_a_failing_run_shows_what_it_captured"]
fn capture_child() {
    if !is_child("harness_trust::capture_child") {
        return;
    }
    let r = Harness::with_config(Config::hermetic()).run(|| {
        let e = green::spawn(|| -> () { panic!("an expected boom") }).join().unwrap_err();
        assert!(e.is_panic());
        if std::env::var_os("CAPTURE_FAIL").is_some() {
            panic!("the real failure");
        }
    });
    assert_eq!(r.panics.len(), 1, "{:?}", r.panics);
    assert!(r.panics[0].contains("an expected boom") && r.panics[0].contains("harness_trust.rs:"), "{:?}", r.panics);
}

/// The text of a caught panic.
fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// A body that panics fails the run with its own message and the replay line in the panic
/// itself (a test that catches it sees the line), not only on stderr.
#[test]
fn a_panicking_body_carries_the_replay_line_in_its_panic() {
    let p = std::panic::catch_unwind(|| Harness::with_config(Config::hermetic()).seed(5).run(|| panic!("boom")))
        .unwrap_err();
    let text = panic_text(p);
    assert!(text.starts_with("boom\n"), "{text}");
    assert!(text.contains("replay: GREEN_SEED=5"), "{text}");
}

/// A harness run inside another's body would tear the outer run's hub down: refused with a
/// message naming it, and the outer run goes on unharmed.
#[test]
fn a_harness_run_inside_a_harness_run_is_refused() {
    let r = Harness::with_config(Config::hermetic()).run(|| {
        let outer = green::spawn(|| {
            green::sleep(Duration::from_millis(5));
            7
        });
        let nested = std::panic::catch_unwind(|| Harness::with_config(Config::hermetic()).run(|| ())).unwrap_err();
        let text = panic_text(nested);
        assert!(text.contains("inside another harness run"), "{text}");
        assert_eq!(outer.wait().unwrap(), 7, "the outer run's greenthread survives");
    });
    assert!(r.switches >= 1);
    // And after the outer run ends, a new run starts normally.
    Harness::with_config(Config::hermetic()).run(|| ());
}

/// Builder values that cannot mean a run are refused, naming the knob and what it takes.
#[test]
fn builder_values_that_mean_no_run_are_refused() {
    let h = || Harness::with_config(Config::hermetic());
    type Case = (&'static str, Box<dyn Fn()>);
    let cases: [Case; 3] = [
        ("Harness::budget(0)", Box::new(move || drop(h().budget(Duration::ZERO)))),
        ("Harness::density(NaN)", Box::new(move || drop(h().density(f64::NAN)))),
        ("Pct { depth: 0 }", Box::new(move || drop(h().strategy(green_harness::Strategy::Pct { depth: 0 })))),
    ];
    for (what, f) in cases {
        let text = panic_text(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err());
        assert!(text.contains(what), "{what}: {text}");
    }
    assert_eq!(Tape::from_hex("aé0"), None, "non-ASCII hex is refused, not a panic");
}

/// A run that keeps yielding past its budget (greenthreads handing the hub to each other for
/// ever) fails as that run, with every wait reason, instead of ending the process; a search goes
/// on past it. Children: a regression aborts the child, not this binary.
#[test]
fn a_run_that_keeps_yielding_past_its_budget_fails_as_that_run() {
    let (status, out, err) =
        run_child_with("harness_trust::yielding_past_budget_child", &[("GREEN_SHRINK_MS", "2000")]);
    assert!(status.success(), "child failed ({status}): {out}\n{err}");
    assert!(out.contains("yielding past budget ok"), "{out}\n{err}");
}

#[test]
#[ignore = "run as a child process by a_run_that_keeps_yielding_past_its_budget_fails_as_that_run"]
fn yielding_past_budget_child() {
    if !is_child("harness_trust::yielding_past_budget_child") {
        return;
    }
    let h = Harness::with_config(Config::hermetic()).budget(ms(300));
    let spin = || {
        let _peer = green::Builder::new().name("spinner").spawn(|| loop {
            green::sleep(Duration::ZERO);
        });
        loop {
            green::sleep(Duration::ZERO);
        }
    };
    // One run: it fails with the budget report, the process lives on.
    let (_, r) = h.try_run(spin);
    let p = r.expect_err("the run fails");
    let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.starts_with("green: budget: the run passed its budget of 300ms while the hub kept switching"), "{msg}");
    assert!(msg.contains("GREEN_BUDGET_MS raises"), "the way out: {msg}");
    assert!(msg.contains("\"spinner\""), "names what ran: {msg}");
    // The next run on this thread is not stopped by a request meant for the last one.
    let (_, ok) = h.try_run(|| {
        for _ in 0..1000 {
            green::sleep(Duration::ZERO);
        }
        7
    });
    assert_eq!(ok.unwrap(), 7);
    // A search: run 2 of 4 keeps yielding for ever; the search reports it as that run's failure.
    let x = h.try_explore(green_harness::Search::Runs(4), || {
        if green_harness::current_run() == Some(2) {
            loop {
                green::sleep(Duration::ZERO);
            }
        }
    });
    assert_eq!(x.failures.len(), 1, "{x:?}");
    assert_eq!(x.failures[0].run, 2);
    assert!(x.failures[0].message.starts_with("green: budget:"), "{}", x.failures[0].message);
    // The budget decided that failure: its replay lines carry it.
    assert!(x.failures[0].found_line.contains(" GREEN_BUDGET_MS=300 "), "{}", x.failures[0].found_line);
    assert!(x.failures[0].shrunk_line.contains(" GREEN_BUDGET_MS=300 "), "{}", x.failures[0].shrunk_line);
    println!("yielding past budget ok");
}
