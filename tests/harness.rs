//! The harness: every knob perturbs (code that is wrong fails with it, passes without it), the
//! same tape gives the same run, and failures print a replay line.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use green_harness::{Fault, FaultEvent, FdKind, Harness, IoFault, IoOp, Perturbation, Tape};

use crate::util::*;

#[test]
fn an_hour_of_virtual_sleep_takes_milliseconds_and_now_follows_it() {
    let t0 = Instant::now();
    Harness::new().run(|| {
        let v0 = green::time::now();
        let sleepers: Vec<_> =
            (1..=4).map(|h| green::spawn(move || green::sleep(Duration::from_secs(900 * h)))).collect();
        for s in sleepers {
            s.wait().unwrap();
        }
        assert!(green::time::now() - v0 >= Duration::from_secs(3600));
    });
    assert!(t0.elapsed() < Duration::from_secs(10), "took {:?}", t0.elapsed());
}

#[test]
fn a_tpool_job_holds_virtual_time_still() {
    Harness::new().run(|| {
        let v0 = green::time::now();
        let ticker = green::spawn(|| {
            let mut n = 0u32;
            for _ in 0..1000 {
                green::sleep(Duration::from_secs(1));
                n += 1;
            }
            n
        });
        green::tpool::execute(|| std::thread::sleep(ms(30))).unwrap();
        // While the job ran for 30 ms of real time, virtual time did not move at all: not a
        // thousand jumps, not the 30 ms either.
        assert_eq!(green::time::now(), v0);
        ticker.kill();
    });
}

/// Jobs that finish are progress: a root that runs one short job after another while a timer is
/// pending (so time holds still throughout) is not a hang, however long the jobs take together.
#[test]
fn a_root_running_short_tpool_jobs_back_to_back_is_no_hang() {
    let mut c = green_harness::Config::hermetic();
    c.hang = ms(200);
    Harness::with_config(c).run(|| {
        let ticker = green::spawn(|| green::sleep(Duration::from_secs(5)));
        let v0 = green::time::now();
        for _ in 0..20 {
            green::tpool::execute(|| std::thread::sleep(ms(20))).unwrap();
        }
        assert_eq!(green::time::now(), v0, "time held still through 400 ms of jobs");
        ticker.kill();
    });
}

/// A job that waits for a greenthread's timer can never finish while it holds virtual time
/// still: after the hang horizon the run fails as a hang that says so, instead of waiting for ever.
#[test]
fn a_tpool_job_waiting_for_a_greenthreads_timer_is_a_hang_after_the_horizon() {
    let mut c = green_harness::Config::hermetic();
    c.hang = ms(200);
    let (_, r) = Harness::with_config(c).try_run(|| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let _sender = green::spawn(move || {
            green::sleep(Duration::from_secs(1));
            let _ = tx.send(());
        });
        // The job waits for the sender, whose sleep needs virtual time to move. (At teardown the
        // sender is unwound, its `tx` dropped, and the job ends.)
        green::tpool::execute(move || rx.recv()).unwrap()
    });
    let p = r.expect_err("the run is a hang");
    let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.starts_with("green: hang: a tpool job"), "{msg}");
    assert!(msg.contains("GREEN_HANG_MS") && msg.contains("blocked in sleep"), "{msg}");
}

/// Code that wrongly relies on which of two near timers of different greenthreads fires first.
fn relies_on_timer_order() -> Vec<&'static str> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (a, b) = (log.clone(), log.clone());
    let x = green::spawn(move || {
        green::sleep(ms(10));
        a.borrow_mut().push("a");
    });
    let y = green::spawn(move || {
        green::sleep(ms(11));
        b.borrow_mut().push("b");
    });
    x.wait().unwrap();
    y.wait().unwrap();
    let v = log.borrow().clone();
    v
}

#[test]
fn jitter_perturbs_timer_order_and_the_same_tape_gives_the_same_run() {
    // Without jitter the order never changes.
    for seed in 0..20 {
        let (_, r) = Harness::new().seed(seed).try_run(relies_on_timer_order);
        assert_eq!(r.unwrap(), ["a", "b"]);
    }
    // With jitter some seed flips it, and that seed flips it every time.
    let flipping = (0..200u64)
        .find(|&seed| {
            let (_, r) = Harness::new().seed(seed).jitter(ms(20)).try_run(relies_on_timer_order);
            r.unwrap() == ["b", "a"]
        })
        .expect("no seed flipped the order");
    for _ in 0..3 {
        let (report, r) = Harness::new().seed(flipping).jitter(ms(20)).try_run(relies_on_timer_order);
        assert_eq!(r.unwrap(), ["b", "a"]);
        assert!(report.faults.iter().any(|f| matches!(f.what, Perturbation::Jitter { .. })), "{:?}", report.faults);
    }
}

#[test]
fn jitter_never_reorders_one_greenthreads_own_timers() {
    for seed in 0..50 {
        let (_, r) = Harness::new().seed(seed).jitter(ms(20)).try_run(|| {
            let fired = Rc::new(RefCell::new(Vec::new()));
            for i in 0..5u32 {
                let f = fired.clone();
                green::hub::schedule_call_global(ms(u64::from(i)), move || f.borrow_mut().push(i));
            }
            green::sleep(ms(100));
            let v = fired.borrow().clone();
            v
        });
        assert_eq!(r.unwrap(), [0, 1, 2, 3, 4], "seed {seed}");
    }
}

/// Code that wrongly relies on spawn order.
pub(crate) fn relies_on_spawn_order() -> Vec<u32> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let gts: Vec<_> = (0..3)
        .map(|i| {
            let l = log.clone();
            green::spawn(move || l.borrow_mut().push(i))
        })
        .collect();
    for g in gts {
        g.wait().unwrap();
    }
    let v = log.borrow().clone();
    v
}

#[test]
fn shuffling_perturbs_the_order_of_independent_greenthreads() {
    for seed in 0..20 {
        let (_, r) = Harness::new().seed(seed).try_run(relies_on_spawn_order);
        assert_eq!(r.unwrap(), [0, 1, 2]);
    }
    let found = (0..200u64).any(|seed| {
        let (_, r) = Harness::new().seed(seed).shuffle(true).try_run(relies_on_spawn_order);
        r.unwrap() != [0, 1, 2]
    });
    assert!(found, "no seed reordered the spawns");
}

#[test]
fn shuffling_keeps_fifo_hand_off_inside_primitives() {
    for seed in 0..50 {
        let (_, r) = Harness::new().seed(seed).shuffle(true).jitter(ms(5)).try_run(|| {
            let sem = green::Semaphore::new(0);
            let order = Rc::new(RefCell::new(Vec::new()));
            let waiters: Vec<_> = (0..5)
                .map(|i| {
                    let (s, o) = (sem.clone(), order.clone());
                    let w = green::spawn(move || {
                        s.acquire();
                        o.borrow_mut().push(i);
                    });
                    green_harness::wait_all_blocked(); // waiter i is queued before i + 1 starts
                    w
                })
                .collect();
            for _ in 0..5 {
                sem.release();
            }
            for w in waiters {
                w.wait().unwrap();
            }
            let v = order.borrow().clone();
            v
        });
        assert_eq!(r.unwrap(), [0, 1, 2, 3, 4], "seed {seed}");
    }
}

/// An echo round trip over real loopback sockets; `naive` reads once and expects the whole reply.
fn echo_round_trip(naive: bool) -> std::io::Result<Vec<u8>> {
    let listener = green::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = green::spawn(move || -> std::io::Result<()> {
        let (mut c, _) = listener.accept()?;
        let mut buf = [0u8; 64];
        c.read_exact(&mut buf)?;
        c.write_all(&buf)?;
        Ok(())
    });
    let mut s = green::net::TcpStream::connect(addr)?;
    let msg: Vec<u8> = (0..64u8).collect();
    s.write_all(&msg)?;
    let mut back = vec![0u8; 64];
    if naive {
        let n = s.read(&mut back)?;
        back.truncate(n);
    } else {
        s.read_exact(&mut back)?;
    }
    server.join().map_err(std::io::Error::other)??;
    Ok(back)
}

#[test]
fn short_reads_break_naive_code_and_are_absorbed_by_read_exact() {
    let absorbable = [Fault::Eintr, Fault::WouldBlock, Fault::Short, Fault::Spurious];
    let mut naive_broke = false;
    for seed in 0..40 {
        let h = Harness::new().seed(seed).faults(&absorbable);
        let (report, r) = h.try_run(|| echo_round_trip(false));
        assert_eq!(r.unwrap().unwrap(), (0..64u8).collect::<Vec<_>>(), "seed {seed}: {:?}", report.faults);
        let (_, r) = h.try_run(|| echo_round_trip(true));
        if r.unwrap().map(|v| v.len() < 64).unwrap_or(true) {
            naive_broke = true;
        }
    }
    assert!(naive_broke, "no tape broke the naive reader");
    // Without faults the naive reader gets away with it.
    let (_, r) = Harness::new().try_run(|| echo_round_trip(true));
    assert_eq!(r.unwrap().unwrap().len(), 64);
}

#[test]
fn an_injected_reset_reaches_user_code_and_stays() {
    let reset_seen = (0..100u64).any(|seed| {
        let (report, r) = Harness::new().seed(seed).faults(&[Fault::Reset]).fail_on_leaks(false).try_run(|| {
            let first = echo_round_trip(false);
            first.map_err(|e| e.kind())
        });
        matches!(r, Ok(Err(std::io::ErrorKind::ConnectionReset)))
            && report.faults.iter().any(|f| matches!(f.what, Perturbation::Io { fault: IoFault::Reset, .. }))
    });
    assert!(reset_seen);
}

/// An injected refusal reaches `connect` as `ConnectionRefused` (a real listener is there).
#[test]
fn an_injected_refusal_reaches_connect() {
    let (report, r) = Harness::with_config(green_harness::Config::hermetic())
        .tape(Tape::new(vec![1]))
        .faults(&[Fault::Refused])
        .try_run(|| {
            let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            green::net::TcpStream::connect(addr).map(|_| ()).map_err(|e| e.kind())
        });
    assert_eq!(r.unwrap(), Err(std::io::ErrorKind::ConnectionRefused));
    assert!(report.faults.iter().any(|f| matches!(f.what, Perturbation::Io { fault: IoFault::Refused, .. })));
}

/// An injected refusal reaches a Unix stream's `connect` too ([`Fault::applies_to`] says it
/// can; the connect never drew a fault before).
#[test]
fn an_injected_refusal_reaches_a_unix_connect() {
    let dir = std::env::temp_dir().join(format!("green-refused-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let _ = std::fs::remove_file(&path);
    let (report, r) = Harness::with_config(green_harness::Config::hermetic())
        .tape(Tape::new(vec![1]))
        .faults(&[Fault::Refused])
        .try_run(|| {
            let _listener = green::net::UnixListener::bind(&path).unwrap();
            green::net::UnixStream::connect(&path).map(|_| ()).map_err(|e| e.kind())
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.unwrap(), Err(std::io::ErrorKind::ConnectionRefused));
    assert!(report.faults.iter().any(|f| matches!(f.what, Perturbation::Io { fault: IoFault::Refused, .. })));
}

/// `Fault::Kill` kills a greenthread that called `killable()` at a blocking green call, and
/// leaves the others alone, whatever the tape says.
#[test]
fn an_injected_kill_hits_only_greenthreads_marked_killable() {
    let (report, r) = Harness::with_config(green_harness::Config::hermetic())
        .tape(Tape::new(vec![1; 64]))
        .faults(&[Fault::Kill])
        .try_run(|| {
            let victim = green::spawn(|| {
                green_harness::killable();
                green::sleep(Duration::from_millis(5));
                "finished"
            });
            let bystander = green::spawn(|| {
                green::sleep(Duration::from_millis(5));
                "finished"
            });
            (victim.id().as_u64(), victim.join(), bystander.join())
        });
    let (victim, v, b) = r.unwrap();
    assert!(v.unwrap_err().is_killed());
    assert_eq!(b.unwrap(), "finished");
    let kills: Vec<_> = report.faults.iter().filter(|f| f.what == Perturbation::Kill).collect();
    assert_eq!(kills.len(), 1, "{:?}", report.faults);
    assert_eq!(kills[0].greenthread, Some(victim));
}

/// `Fault::Slow` makes socket operations take tape-drawn virtual time (a slow peer): a byte of
/// 40 is 40 ms, logged, and a timeout shorter than that lands in the middle of the operation.
#[test]
fn a_slow_peer_takes_tape_drawn_virtual_time_and_a_timeout_can_land_mid_operation() {
    let (report, r) = Harness::with_config(green_harness::Config::hermetic())
        .tape(Tape::new(vec![40; 64]))
        .faults(&[Fault::Slow])
        .try_run(|| {
            let (mut a, mut b) = green::net::UnixStream::pair().unwrap();
            let t0 = green::hooks::now_ns();
            std::io::Write::write_all(&mut a, b"ping").unwrap();
            let took = green::hooks::now_ns() - t0;
            let cut = green::with_timeout(Duration::from_millis(10), || {
                let mut buf = [0u8; 4];
                std::io::Read::read_exact(&mut b, &mut buf).map(|()| buf)
            });
            (took, cut.map(|r| r.map_err(|e| e.kind())))
        });
    let (took, cut) = r.unwrap();
    assert_eq!(took, 40_000_000, "the write took the 40 ms the tape drew");
    assert!(cut.unwrap_err().is_timeout(), "the 10 ms timeout expired inside the 40 ms read");
    let slow: Vec<_> = report.faults.iter().filter(|f| matches!(f.what, Perturbation::Latency { .. })).collect();
    assert!(slow.len() >= 2, "{:?}", report.faults);
    assert!(slow.iter().all(|f| f.what == Perturbation::Latency { op: slow_op(f), delay: Duration::from_millis(40) }));
}

/// `Fault::Reorder` (DESIGN §6: reordered readiness within a poll batch): three readers woken by
/// one poll run in a tape-drawn order; without it, every seed gives the same order.
#[test]
fn reordered_readiness_draws_the_order_of_readers_woken_by_one_poll() {
    let orders = |faults: &[Fault]| {
        (0..24u64)
            .map(|seed| {
                let (_, r) =
                    Harness::with_config(green_harness::Config::hermetic()).seed(seed).faults(faults).try_run(|| {
                        let woke = Rc::new(RefCell::new(Vec::new()));
                        let mut writers = Vec::new();
                        for i in 0..3 {
                            let (a, mut b) = green::net::UnixStream::pair().unwrap();
                            writers.push(a);
                            let w = woke.clone();
                            green::spawn(move || {
                                let mut buf = [0u8; 1];
                                b.read_exact(&mut buf).unwrap();
                                w.borrow_mut().push(i);
                            });
                        }
                        green::hub::wait_all_blocked();
                        for a in &mut writers {
                            a.write_all(b"x").unwrap();
                        }
                        green::sleep(Duration::from_millis(1));
                        let order = woke.borrow().clone();
                        order
                    });
                r.unwrap()
            })
            .collect::<std::collections::HashSet<Vec<i32>>>()
    };
    assert_eq!(orders(&[]).len(), 1, "unperturbed, one order");
    assert!(orders(&[Fault::Reorder]).len() >= 2, "reordered, several orders");
}

fn slow_op(f: &FaultEvent) -> IoOp {
    match f.what {
        Perturbation::Latency { op, .. } => op,
        _ => unreachable!(),
    }
}

/// An injected broken pipe reaches a write as `BrokenPipe` and stays: later writes fail too,
/// though the tape draws no further fault.
#[test]
fn an_injected_broken_pipe_reaches_writes_and_stays() {
    let (report, r) = Harness::with_config(green_harness::Config::hermetic())
        .tape(Tape::new(vec![1]))
        .faults(&[Fault::BrokenPipe])
        .fail_on_leaks(false)
        .try_run(|| {
            let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = green::spawn(move || listener.accept().map(|(c, _)| c));
            let mut s = green::net::TcpStream::connect(addr).unwrap();
            let _peer = server.join().unwrap().unwrap();
            let first = s.write(b"x").map_err(|e| e.kind());
            let second = s.write(b"y").map_err(|e| e.kind());
            (first, second)
        });
    let (first, second) = r.unwrap();
    assert_eq!(first, Err(std::io::ErrorKind::BrokenPipe));
    assert_eq!(second, Err(std::io::ErrorKind::BrokenPipe), "the write side stays broken");
    let n =
        report.faults.iter().filter(|f| matches!(f.what, Perturbation::Io { fault: IoFault::BrokenPipe, .. })).count();
    assert_eq!(n, 1, "one fault drawn: {:?}", report.faults);
}

#[test]
fn faults_are_logged_with_the_greenthread_and_fd_they_hit() {
    let (report, _) =
        Harness::new().tape(Tape::new(vec![1; 64])).faults(&[Fault::Short]).try_run(|| echo_round_trip(false));
    let f = report
        .faults
        .iter()
        .find(|f| matches!(f.what, Perturbation::Io { fault: IoFault::Short(_), .. }))
        .expect("a short read or write was injected");
    let (_, kind) = f.fd.expect("an I/O fault names its fd");
    assert_eq!(kind, FdKind::TcpStream);
    assert!(f.greenthread.is_some_and(|g| g > 0), "{f}");
    assert!(f.to_string().starts_with("fault Short(") && f.to_string().contains(" by #"), "{f}");
}

#[test]
fn check_determinism_passes_on_tape_driven_code_and_names_a_divergence() {
    let h = Harness::new().seed(11).shuffle(true).jitter(ms(3));
    h.check_determinism(|| {
        let _ = relies_on_spawn_order();
        let _ = relies_on_timer_order();
    })
    .unwrap();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let err = h
        .check_determinism(|| {
            // Depends on something outside the tape: how many times it ran before.
            let n = RUNS.fetch_add(1, Ordering::SeqCst) + 1;
            for _ in 0..n {
                green::spawn(|| ()).wait().unwrap();
            }
        })
        .unwrap_err();
    assert!(err.starts_with("runs diverge at switch 1"), "{err}");
    assert!(err.contains("replay: GREEN_SEED=11 "), "{err}");
}

#[test]
fn check_determinism_finds_a_divergence_past_the_switches_kept_one_by_one() {
    // Regression: the trace grew by 8 bytes a switch without bound; it now keeps the first
    // TRACE_HEAD ids, and a count and hash of all, which still tell two runs apart.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let err = Harness::new()
        .seed(3)
        .check_determinism(|| {
            let extra = RUNS.fetch_add(1, Ordering::SeqCst);
            green::spawn(move || {
                for _ in 0..green::hooks::TRACE_HEAD + extra {
                    green::sleep(Duration::ZERO);
                }
            })
            .wait()
            .unwrap();
        })
        .unwrap_err();
    assert!(err.starts_with(&format!("runs diverge after the first {} switches", green::hooks::TRACE_HEAD)), "{err}");
}

/// The switch path records ids into a fixed buffer, folded into the trace when it fills and
/// when the trace is taken: every switch is in the trace once, in order, across the folds.
#[test]
fn the_switch_trace_keeps_every_switch_in_order_across_its_buffer_folds() {
    on_fresh_thread(|| {
        green::hooks::set_trace(true);
        let gts: Vec<_> = (0..3)
            .map(|_| {
                green::spawn(|| {
                    for _ in 0..700 {
                        green::sleep(Duration::ZERO);
                    }
                })
            })
            .collect();
        let ids: Vec<u64> = gts.iter().map(|g| g.id().as_u64()).collect();
        for g in gts {
            g.wait().unwrap();
        }
        let t = green::hooks::take_trace();
        // Each greenthread starts and then resumes once per sleep(0), round robin.
        let expect: Vec<u64> = (0..701).flat_map(|_| ids.iter().copied()).collect();
        assert_eq!(t.head, expect);
        let mut pushed = green::hooks::Trace::default();
        expect.iter().for_each(|&id| pushed.push(id));
        assert_eq!(t, pushed, "the count and hash are those of the ids pushed one by one");
        // Taking the trace empties it; recording goes on from there.
        green::spawn(|| ()).wait().unwrap();
        assert_eq!(green::hooks::take_trace().len, 1);
        green::hooks::set_trace(false);
    });
}

/// Regression: virtual time started at the real time the hub had run before the harness turned
/// the virtual clock on (a few microseconds, different every run), so the fault log's times,
/// and whatever the body read from `green::time::now()`, differed between two runs of one tape.
#[test]
fn virtual_time_starts_at_zero_so_one_tape_logs_the_same_times() {
    let run = || {
        Harness::with_config(green_harness::Config::hermetic())
            .tape(Tape::new(vec![1; 64]))
            .faults(&[Fault::Short])
            .try_run(|| {
                let (mut a, mut b) = green::net::UnixStream::pair().unwrap();
                std::io::Write::write_all(&mut a, &[7; 64]).unwrap();
                green::sleep(Duration::from_millis(3));
                let mut buf = [0; 8];
                std::io::Read::read(&mut b, &mut buf).unwrap();
                green::hooks::now_ns()
            })
    };
    let ((first, t1), (second, t2)) = (run(), run());
    assert_eq!(t1.unwrap(), 3_000_000);
    assert_eq!(t2.unwrap(), 3_000_000);
    assert!(first.faults.len() >= 2, "{:?}", first.faults);
    assert_eq!(first.faults, second.faults);
    assert_eq!(first.faults[0].at, Duration::ZERO);
}

#[test]
fn check_determinism_names_the_first_fault_when_only_the_faults_differ() {
    // The switches agree (a read of data already there never parks), but the second run reads
    // once more, so it draws one more fault: the message names that fault, not an empty switch.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let err = Harness::with_config(green_harness::Config::hermetic())
        .tape(Tape::new(vec![1; 64]))
        .faults(&[Fault::Short])
        .check_determinism(|| {
            let reads = RUNS.fetch_add(1, Ordering::SeqCst) + 1;
            let (mut a, mut b) = green::net::UnixStream::pair().unwrap();
            std::io::Write::write_all(&mut a, &[7; 64]).unwrap();
            for _ in 0..reads {
                let mut buf = [0; 8];
                assert!(std::io::Read::read(&mut b, &mut buf).unwrap() > 0);
            }
        })
        .unwrap_err();
    assert!(err.starts_with("runs diverge at fault "), "{err}");
    assert!(err.contains("first run logged nothing, second fault Short("), "{err}");
}

#[test]
fn a_failing_run_prints_a_replay_line_that_replays_it() {
    let tape = Tape::new(vec![0, 3, 1, 0, 9]);
    let line = Harness::new().tape(tape.clone()).replay_line(&tape);
    assert_eq!(
        line,
        "replay: GREEN_TAPE=0003010009 cargo test harness::a_failing_run_prints_a_replay_line_that_replays_it -- --exact"
    );
    let parsed = Tape::from_hex(line.split("GREEN_TAPE=").nth(1).unwrap().split(' ').next().unwrap()).unwrap();
    assert_eq!(parsed, tape);
}

#[test]
fn the_harness_fails_a_run_on_a_hub_context_panic() {
    let msg = panic_message_of(|| {
        Harness::new().run(|| {
            green::debug::hub_exceptions(false);
            green::hub::schedule_call_global(Duration::ZERO, || green::sleep(ms(1)));
            green::sleep(Duration::ZERO);
        });
    });
    assert!(msg.contains("green-harness: the hub caught 1 panic"), "{msg}");
    assert!(msg.contains("replay: GREEN_SEED="), "{msg}");
}

/// Child half of `a_busy_loop_past_the_budget_aborts_with_the_replay_line`.
#[test]
#[ignore = "run as a child process by a_busy_loop_past_the_budget_aborts_with_the_replay_line"]
fn budget_child() {
    if std::env::var_os("GREEN_BUDGET_CHILD").is_none() {
        return;
    }
    Harness::new().budget(ms(200)).run(spin_without_yielding_for_30s);
}

#[test]
fn a_busy_loop_past_the_budget_aborts_with_the_replay_line() {
    use std::os::unix::process::ExitStatusExt;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "harness::budget_child", "--test-threads=1"])
        .env("GREEN_BUDGET_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(6), "expected SIGABRT: {:?}\n{stderr}", out.status);
    assert!(stderr.contains("exceeded its budget of 200ms: the root greenlet (the test body) was running"), "{stderr}");
    assert!(stderr.contains("and has held the hub for"), "{stderr}");
    // Blocking detection is off, and the stack is shown all the same (DESIGN §6).
    assert!(stderr.contains("captured by the blocking detector's signal"), "{stderr}");
    assert!(stderr.contains("spin_without_yielding_for_30s"), "{stderr}");
    assert!(stderr.contains("GREEN_BUDGET_MS raises the budget"), "{stderr}");
    assert!(stderr.contains("replay: GREEN_SEED="), "{stderr}");
}

/// Spins without switching (what `budget_stack_child` is caught in).
#[inline(never)]
fn spin_without_yielding_for_30s() {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        std::hint::spin_loop();
    }
}

/// Child half of `a_busy_loop_past_the_budget_shows_its_stack_when_blocking_detection_is_on`.
#[test]
#[ignore = "run as a child process by a_busy_loop_past_the_budget_shows_its_stack_when_blocking_detection_is_on"]
fn budget_stack_child() {
    if !is_child("harness::budget_stack_child") {
        return;
    }
    Harness::new().budget(ms(300)).blocking(ms(50)).run(|| {
        let gt = green::spawn(spin_without_yielding_for_30s);
        gt.join().unwrap();
    });
}

/// With blocking detection on, the watchdog's last words include the stack of the busy loop
/// that holds the hub, captured by the detector's signal.
#[test]
fn a_busy_loop_past_the_budget_shows_its_stack_when_blocking_detection_is_on() {
    use std::os::unix::process::ExitStatusExt;
    let (status, _, stderr) = run_child("harness::budget_stack_child");
    assert_eq!(status.signal(), Some(6), "expected SIGABRT: {status:?}\n{stderr}");
    assert!(stderr.contains("greenthread #1 was running and has held the hub for"), "{stderr}");
    assert!(stderr.contains("captured by the blocking detector's signal"), "{stderr}");
    assert!(stderr.contains("spin_without_yielding_for_30s"), "{stderr}");
}

mod properties {
    //! Property tests under random tapes (proptest shrinks failing tapes and op sequences). They
    //! use the suite's own proptest, as a downstream crate does, with the harness's strategies.

    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use green_harness::pool_model::{run_pool_ops, PoolModel};
    use green_harness::strategy::{pool_ops, tapes};
    use green_harness::{Harness, Tape};
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;

    /// 48 cases; a failing case is saved next to this file (`tests/harness.proptest-regressions`,
    /// committed) and tried first on every later run.
    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 48,
            failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        /// Unperturbed (the zero tape, the virtual clock), the real pool does exactly what the
        /// reference model predicts: the virtual time, `running()` and `free()` after every
        /// operation, and how every task ended.
        #[test]
        fn green_pool_matches_its_reference_model(size in 1usize..=4, ops in pool_ops(24)) {
            let h = Harness::with_config(green_harness::Config::hermetic());
            let (report, r) = h.try_run(|| run_pool_ops(size, &ops));
            let run = r.map_err(|_| TestCaseError::fail("the body panicked"))?;
            prop_assert_eq!(run, PoolModel::predict(size, &ops), "{}", h.replay_line(&report.tape));
        }

        /// Perturbed (random tapes, timer jitter, shuffled wake-ups), timing moves, and what the
        /// model says holds regardless still holds.
        #[test]
        fn green_pool_keeps_its_invariants_under_random_tapes(tape in tapes(64), ops in pool_ops(24)) {
            let h = Harness::new().tape(tape).jitter(Duration::from_millis(3)).shuffle(true);
            let (report, r) = h.try_run(|| run_pool_ops(3, &ops));
            let run = r.map_err(|_| TestCaseError::fail("the body panicked"))?;
            let checked = run.check_invariants(&ops);
            prop_assert!(checked.is_ok(), "{}\n{}", checked.unwrap_err(), h.replay_line(&report.tape));
            prop_assert!(report.invariant_violations.is_empty(), "{:?}", report.invariant_violations);
        }
    }

    /// Where a `sleep` is called from.
    #[derive(Clone, Copy, Debug)]
    enum From {
        Greenthread,
        Root,
        Link,
        Callback,
    }

    fn calls() -> impl Strategy<Value = Vec<(u8, bool)>> {
        proptest::collection::vec((0u8..4, any::<bool>()), 0..12)
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn only_greenthreads_and_the_root_may_sleep(tape in tapes(32), program in calls()) {
            let illegal = program.iter().filter(|(w, nonzero)| *w == 3 && *nonzero).count();
            // The illegal calls' hub-context panics are expected: counted, not judged.
            let h = Harness::new().tape(tape).fail_on_exceptions(false);
            let done = Rc::new(Cell::new(0usize));
            let (report, r) = h.try_run(|| {
                green::debug::hub_exceptions(false);
                let done = done.clone();
                for (w, nonzero) in &program {
                    let d = if *nonzero { Duration::from_millis(1) } else { Duration::ZERO };
                    let from = [From::Greenthread, From::Root, From::Link, From::Callback][usize::from(*w)];
                    let done = done.clone();
                    match from {
                        From::Greenthread => green::spawn(move || { green::sleep(d); done.set(done.get() + 1) }).wait().unwrap(),
                        From::Root => { green::sleep(d); done.set(done.get() + 1) }
                        From::Link => {
                            let gt = green::spawn(|| ());
                            gt.link(move |_| { green::sleep(d); done.set(done.get() + 1) });
                            gt.wait().unwrap();
                            green::sleep(Duration::from_millis(2));
                        }
                        From::Callback => {
                            green::hub::schedule_call_global(Duration::ZERO, move || { green::sleep(d); done.set(done.get() + 1) });
                            green::sleep(Duration::from_millis(2));
                        }
                    }
                }
                done.get()
            });
            // A hub-context call is an invariant violation: the run is judged failed with it.
            let done = match r {
                Ok(done) => done,
                Err(e) => {
                    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
                    prop_assert!(illegal > 0 && msg.contains("hub-context switching"), "{}", msg);
                    done.get()
                }
            };
            prop_assert_eq!(done, program.len() - illegal, "legal calls all complete");
            prop_assert_eq!(report.exceptions.len(), illegal);
            for e in &report.exceptions {
                prop_assert!(e.contains("green::sleep called from hub context"), "{}", e);
            }
            let _ = Tape::default();
        }
    }
}

#[test]
fn delayed_and_reordered_readiness_are_absorbed_by_green_sockets() {
    for seed in 0..30 {
        let h = Harness::new().seed(seed).shuffle(true).faults(&[Fault::Delayed, Fault::Spurious]);
        let (report, r) = h.try_run(|| echo_round_trip(false));
        assert_eq!(r.unwrap().unwrap(), (0..64u8).collect::<Vec<_>>(), "seed {seed}: {:?}", report.faults);
    }
    let (report, _) =
        Harness::new().tape(Tape::new(vec![1; 64])).faults(&[Fault::Delayed]).try_run(|| echo_round_trip(false));
    assert!(
        report.faults.iter().any(|f| f.what == Perturbation::DelayedReadiness && f.fd.is_some()),
        "{:?}",
        report.faults
    );
}

#[test]
fn close_while_waiting_reaches_user_code_as_a_closed_error() {
    let (report, r) = Harness::new()
        .tape(Tape::new(vec![1; 64]))
        .faults(&[Fault::Closed])
        .fail_on_leaks(false)
        .try_run(|| echo_round_trip(false).map_err(|e| e.kind()));
    assert_eq!(r.unwrap(), Err(std::io::ErrorKind::NotConnected));
    assert!(
        report.faults.iter().any(|f| f.what == Perturbation::CloseWhileWaiting && f.fd.is_some()),
        "{:?}",
        report.faults
    );
}

/// Spawns `n` greenthreads that each sleep 10 ms (one virtual deadline) and returns the order
/// they woke in.
fn equal_sleepers_finish_order(n: u32) -> Vec<u32> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let gts: Vec<_> = (0..n)
        .map(|i| {
            let l = log.clone();
            green::spawn(move || {
                green::sleep(ms(10));
                l.borrow_mut().push(i);
            })
        })
        .collect();
    gts.into_iter().for_each(|g| g.wait().unwrap());
    let v = log.borrow().clone();
    v
}

#[test]
fn ties_between_timers_of_different_greenthreads_are_broken_by_the_tape() {
    // Same virtual deadline: FIFO by creation without the tape, reordered by some tape with it.
    let race = || equal_sleepers_finish_order(3);
    for seed in 0..20 {
        assert_eq!(Harness::new().seed(seed).try_run(race).1.unwrap(), [0, 1, 2]);
    }
    let reordered =
        (0..200u64).any(|seed| Harness::new().seed(seed).shuffle(true).try_run(race).1.unwrap() != [0, 1, 2]);
    assert!(reordered, "no tape broke a tie");
}

/// Blocking detection on (collect mode, the default) fails the run that blocked the hub,
/// naming the greenthread on the first line and showing the reports; before, the reports were
/// only collected, so `run`, the attribute's `blocking_ms` and `GREEN_BLOCKING_MS` never failed a
/// test that blocked.
#[test]
fn blocking_detection_in_the_harness_fails_a_run_that_blocks_the_hub() {
    let hog = || green::Builder::new().name("hog").spawn(|| std::thread::sleep(ms(200))).wait().unwrap();
    let (report, r) = Harness::new().blocking(ms(50)).try_run(hog);
    assert!(report.blocking.iter().any(|b| b.name.as_deref() == Some("hog")), "{:?}", report.blocking);
    let verdict = *r.unwrap_err().downcast::<String>().unwrap();
    let first = verdict.lines().next().unwrap();
    assert!(first.contains("greenthread #1 (hog, spawned at tests/harness.rs:"), "{verdict}");
    assert!(first.contains("held the hub past the blocking-detection resolution of 50ms"), "{verdict}");
    assert!(verdict.contains("BLOCKING greenthread=#1 name=hog"), "{verdict}");
    // `run` panics with it and the replay line.
    let msg = panic_message_of(|| {
        Harness::new().blocking(ms(50)).run(hog);
    });
    assert!(msg.contains("held the hub past") && msg.contains("replay: "), "{msg}");
    // Collected only, on request.
    let report = Harness::new().blocking(ms(50)).fail_on_blocking(false).run(hog);
    assert!(report.blocking.iter().any(|b| b.name.as_deref() == Some("hog")), "{:?}", report.blocking);
}

/// ... and stays quiet on a body that never holds the hub near the resolution.
#[test]
fn blocking_detection_in_the_harness_passes_a_run_that_yields() {
    let report = Harness::new().blocking(ms(300)).run(|| {
        let gts: Vec<_> = (0..4)
            .map(|_| {
                green::spawn(|| {
                    for _ in 0..100 {
                        green::sleep(ms(1));
                    }
                })
            })
            .collect();
        gts.into_iter().for_each(|g| g.wait().unwrap());
    });
    assert!(report.blocking.is_empty(), "{:?}", report.blocking);
}

/// The attribute's `blocking_ms` fails a test that blocks the hub.
#[green_harness::test(blocking_ms = 50)]
#[should_panic(expected = "held the hub past the blocking-detection resolution of 50ms")]
fn the_attribute_s_blocking_ms_fails_a_test_that_blocks() {
    green::spawn(|| std::thread::sleep(ms(150))).wait().unwrap();
}

/// The attribute's `allow_blocking` collects blocking reports without failing the test.
#[green_harness::test(blocking_ms = 50, allow_blocking)]
fn the_attribute_s_allow_blocking_collects_without_failing() {
    green::spawn(|| std::thread::sleep(ms(150))).wait().unwrap();
}

/// Child half of `the_replay_line_s_environment_drives_the_run`.
#[test]
#[ignore = "run as a child process by the_replay_line_s_environment_drives_the_run"]
fn replay_child() {
    if std::env::var_os("GREEN_REPLAY_CHILD").is_none() {
        return;
    }
    let (report, r) = Harness::new().try_run(relies_on_spawn_order);
    println!("tape={} order={:?} faults={}", report.tape.to_hex(), r.unwrap(), report.faults.len());
}

#[test]
fn the_replay_line_s_environment_drives_the_run() {
    // Find a tape that reorders the spawns, then replay it through the environment, as the
    // replay line says, in a fresh process.
    let tape = (0..200u64)
        .map(|s| Harness::new().seed(s).shuffle(true).try_run(relies_on_spawn_order))
        .find(|(_, r)| r.as_ref().map(|o| o != &[0, 1, 2]).unwrap_or(false))
        .map(|(report, _)| report.tape)
        .expect("a reordering tape");
    let (_, expected) = Harness::new().tape(tape.clone()).shuffle(true).try_run(relies_on_spawn_order);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "harness::replay_child", "--test-threads=1", "--nocapture"])
        .env("GREEN_REPLAY_CHILD", "1")
        .env("GREEN_TAPE", tape.to_hex())
        .env("GREEN_SHUFFLE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = format!("tape={} order={:?}", tape.to_hex(), expected.unwrap());
    assert!(stdout.contains(&want), "{stdout}\nwanted {want}");
}

/// Regression (review): readiness held back for the next pass must not stop the hub from polling
/// once the last socket is gone (the hub busy-looped and virtual time froze).
#[test]
fn delayed_readiness_of_a_dropped_socket_does_not_freeze_the_hub() {
    Harness::new().tape(Tape::new(vec![1; 256])).faults(&[Fault::Delayed]).budget(Duration::from_secs(20)).run(|| {
        {
            let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let _client = green::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let _ = listener.accept().unwrap();
        }
        green::sleep(ms(10));
    });
}

/// Regression (review): an injected reset belongs to a connection, never to a listener.
#[test]
fn listeners_never_get_a_sticky_injected_reset() {
    let (report, r) =
        Harness::new().tape(Tape::new(vec![1; 256])).faults(&[Fault::Reset]).fail_on_leaks(false).try_run(
            || -> std::io::Result<()> {
                let listener = green::net::TcpListener::bind("127.0.0.1:0")?;
                let addr = listener.local_addr()?;
                for _ in 0..3 {
                    let c = green::spawn(move || green::net::TcpStream::connect(addr).map(drop));
                    listener.accept()?;
                    let _ = c.join();
                }
                Ok(())
            },
        );
    r.unwrap().unwrap();
    assert!(
        report.faults.iter().all(|f| !matches!(f.what, Perturbation::Io { op: IoOp::Accept, .. })),
        "{:?}",
        report.faults
    );
}

/// Jitter alone (no scheduling perturbation) breaks ties between timers of different
/// greenthreads (DESIGN §6); the tie used to be drawn only when the harness also shuffled.
#[test]
fn jitter_alone_breaks_ties_between_greenthreads() {
    let order = |tape: Vec<u8>| {
        let (_, r) = Harness::with_config(green_harness::Config::hermetic())
            .jitter(ms(5))
            .tape(Tape::new(tape))
            .try_run(|| equal_sleepers_finish_order(2));
        r.unwrap()
    };
    // Per timer: its jitter draw, then (once per greenthread) its tie.
    assert_eq!(order(vec![]), [0, 1], "the zero tape keeps creation order");
    assert_eq!(order(vec![0, 200, 0, 1]), [1, 0], "no delay drawn, B's tie first");
}

/// Regression (review): jitter must keep one greenthread's own timers in order, also when a later
/// timer has an earlier deadline (a sleep inside a longer timeout).
#[test]
fn jitter_never_lets_a_greenthreads_longer_timeout_beat_its_shorter_sleep() {
    for seed in 0..60 {
        let (_, r) = Harness::new()
            .seed(seed)
            .jitter(ms(20))
            .try_run(|| green::with_timeout(ms(15), || green::sleep(ms(10))).is_ok());
        assert!(r.unwrap(), "seed {seed}: the 15 ms timeout beat the 10 ms sleep");
    }
}

/// A slice is recorded only if the timeline was on when it began: the slice that turns the
/// timeline on (or off and on again) is left out rather than given a start it never had.
#[test]
fn the_timeline_leaves_out_the_slice_that_turned_it_on() {
    on_fresh_thread(|| {
        let g = green::spawn(|| {
            green::hooks::set_timeline(true);
            green::sleep(ms(1));
            green::hooks::set_timeline(false);
            green::hooks::set_timeline(true);
            green::sleep(ms(1));
        });
        g.wait().unwrap();
        let slices: Vec<_> = green::hooks::take_timeline()
            .into_iter()
            .filter_map(|e| match e {
                green::hooks::TimelineEvent::Slice { start, end, parked_in, .. } => Some((start, end, parked_in)),
                _ => None,
            })
            .collect();
        green::hooks::set_timeline(false);
        assert_eq!(slices.len(), 1, "only the last slice began while recording: {slices:?}");
        let (start, end, parked_in) = slices[0];
        assert!(start >= 2_000_000 && start <= end, "{slices:?}");
        assert_eq!(parked_in, None, "it finished");
    });
}

#[test]
fn trace_to_writes_a_chrome_timeline_of_the_run() {
    let path = std::env::temp_dir().join(format!("green-timeline-{}.json", std::process::id()));
    Harness::new().tape(Tape::new(vec![1; 64])).faults(&[Fault::Short]).trace_to(&path).run(|| {
        let a = green::Builder::new().name("alpha").spawn(|| green::sleep(ms(5)));
        let _ = echo_round_trip(false);
        a.wait().unwrap();
    });
    let json = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        json.starts_with("{\"traceEvents\":[\n") && json.trim_end().ends_with("],\"displayTimeUnit\":\"ms\"}"),
        "{json}"
    );
    // One track per greenthread, named; slices with what they parked in; timers; faults.
    assert!(json.contains(r##""ph":"M","pid":1,"tid":1,"args":{"name":"#1 \"alpha\""}"##), "{json}");
    assert!(json.contains(r#""ph":"X","pid":1,"tid":1,"#) && json.contains(r#""then":"parked in sleep""#), "{json}");
    assert!(json.contains(r#""cat":"timer""#), "{json}");
    assert!(json.contains(r#""name":"fault Short("#) && json.contains(r#""cat":"fault""#), "{json}");
    // Every event is one object per line with balanced braces and quotes.
    for line in json.lines().skip(1).take_while(|l| !l.starts_with(']')) {
        let l = line.trim_end_matches(',');
        assert!(l.starts_with('{') && l.ends_with('}'), "{l}");
        assert_eq!(l.matches('{').count(), l.matches('}').count(), "{l}");
        assert_eq!(l.replace("\\\"", "").matches('"').count() % 2, 0, "{l}");
    }
}

/// Child half of `a_zero_blocking_resolution_in_the_environment_is_refused_with_the_way_out` and
/// `bad_environment_values_are_refused_naming_the_variable_and_what_it_takes`.
#[test]
#[ignore = "run as a child process by the environment-refusal tests"]
fn blocking_env_child() {
    if !is_child("harness::blocking_env_child") {
        return;
    }
    Harness::new().run(|| ());
}

/// `GREEN_BLOCKING_MS=0` is refused when the environment is read, naming the variable and what
/// it takes (it used to reach the detector, whose message named a Rust expression instead).
#[test]
fn a_zero_blocking_resolution_in_the_environment_is_refused_with_the_way_out() {
    let (status, out, err) = run_child_with("harness::blocking_env_child", &[("GREEN_BLOCKING_MS", "0")]);
    assert!(!status.success(), "{out}\n{err}");
    assert!(
        err.contains("invalid value for GREEN_BLOCKING_MS: \"0\"") && err.contains("unset it to turn detection off"),
        "{err}"
    );
}

/// Every knob read from the environment refuses a value it cannot use, naming the variable and
/// what it takes (DESIGN §8), instead of quietly meaning something else (`GREEN_SHUFFLE=yes` was
/// off, `GREEN_EXPLORE=0` a search that ran nothing and passed, `GREEN_BUDGET_MS=0` an abort).
#[test]
fn bad_environment_values_are_refused_naming_the_variable_and_what_it_takes() {
    let cases = [
        ("GREEN_SHUFFLE", "yes", "1 or 0"),
        ("GREEN_REPLAY", "yes", "1 or 0"),
        ("GREEN_SHRINK_MS", "soon", "milliseconds"),
        ("GREEN_EXPLORE", "0", "unset it for a single run"),
        ("GREEN_EXPLORE", "0s", "unset it for a single run"),
        ("GREEN_BUDGET_MS", "0", "unset it for the default"),
        ("GREEN_JITTER_MS", "-1", "milliseconds"),
        ("GREEN_DENSITY", "2", "a probability"),
        ("GREEN_STRATEGY", "bogus", "random, pct:<depth>, swarm, guided or portfolio"),
        ("GREEN_PARTITION", "4/4", "k/N with k < N"),
    ];
    for (var, value, want) in cases {
        let (status, out, err) = run_child_with("harness::blocking_env_child", &[(var, value)]);
        assert!(!status.success(), "{var}={value} was accepted:\n{out}\n{err}");
        assert!(
            err.contains(&format!("invalid value for {var}: {value:?}")) && err.contains(want),
            "{var}={value}:\n{err}"
        );
    }
    // Fractions of a millisecond are accepted (what replay lines print for sub-ms knobs).
    let (status, out, err) = run_child_with("harness::blocking_env_child", &[("GREEN_JITTER_MS", "0.5")]);
    assert!(status.success(), "{out}\n{err}");
}

/// A replay line names sub-millisecond knobs exactly, and names a knob the environment set even
/// at its default, so that the line alone does not bring back the builder's value it overrode.
#[test]
fn replay_lines_keep_sub_millisecond_knobs_and_environment_overrides() {
    let h = Harness::with_config(green_harness::Config::hermetic()).jitter(Duration::from_micros(500));
    let line = h.replay_line(&green_harness::Tape::seeded(1, 0.1));
    assert!(line.contains(" GREEN_JITTER_MS=0.5 "), "{line}");
    let env = [
        ("GREEN_JITTER_MS", "0"),
        ("GREEN_SHUFFLE", "0"),
        ("GREEN_FAULTS", "none"),
        ("GREEN_DENSITY", "0.1"),
        ("GREEN_STRATEGY", "random"),
    ];
    let (status, out, err) = run_child_with("harness::replay_line_child", &env);
    assert!(status.success(), "{out}\n{err}");
    for (k, v) in env {
        assert!(out.contains(&format!(" {k}={v} ")), "{k}={v} missing:\n{out}");
    }
}

#[test]
#[ignore = "run as a child process by replay_lines_keep_sub_millisecond_knobs_and_environment_overrides"]
fn replay_line_child() {
    if !is_child("harness::replay_line_child") {
        return;
    }
    let h = Harness::new()
        .jitter(ms(5))
        .shuffle(true)
        .faults(&[green_harness::Fault::Short])
        .density(0.5)
        .strategy(green_harness::Strategy::Pct { depth: 2 });
    println!("{}", h.replay_line(&green_harness::Tape::seeded(1, 0.1)));
}

/// A failing run prints its fault log (DESIGN §6: every fault is logged; the log is part of the
/// report) before the replay line, so the failure says what the run was perturbed with.
#[test]
fn a_failing_run_prints_its_perturbations_before_the_replay_line() {
    let (status, out, err) = run_child_with("harness::perturbed_failure_child", &[]);
    assert!(!status.success(), "{out}\n{err}");
    let log = err.find("green-harness: perturbations of this run (").unwrap_or_else(|| panic!("{err}"));
    let replay = err.find("replay: GREEN_SEED=").unwrap_or_else(|| panic!("{err}"));
    assert!(log < replay, "{err}");
    assert!(err.contains("\n  shuffle: ready slot "), "{err}");
}

#[test]
#[ignore = "run as a child process by a_failing_run_prints_its_perturbations_before_the_replay_line"]
fn perturbed_failure_child() {
    if !is_child("harness::perturbed_failure_child") {
        return;
    }
    Harness::new().seed(3).shuffle(true).density(1.0).run(|| {
        let gts: Vec<_> = (0..4).map(|i| green::spawn(move || i)).collect();
        for gt in gts {
            gt.join().unwrap();
        }
        panic!("the body fails after a shuffled start");
    });
}
