//! Regression tests, each named after what it guards (found in review of the runtime core).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::util::*;

/// A greenthread parked in a destructor while unwinding must not stop kills of others.
#[test]
fn kill_is_delivered_while_another_greenthread_unwinds_in_a_destructor() {
    struct SlowDrop;
    impl Drop for SlowDrop {
        fn drop(&mut self) {
            green::sleep(ms(30));
        }
    }
    let a = green::spawn(|| {
        let _s = SlowDrop;
        green::sleep(Duration::from_secs(3600));
    });
    let b = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    yield_now();
    a.kill(); // `a` is now parked inside SlowDrop::drop, mid-unwind
    let (_, took) = timed(|| {
        b.kill();
        assert!(b.wait().unwrap_err().is_killed());
    });
    assert!(took < Duration::from_secs(60), "the kill of b was held back for {took:?}");
    assert!(a.wait().unwrap_err().is_killed());
}

/// A timer handle from before `hub::shutdown` must not name a timer created after it.
#[test]
fn timer_handles_from_before_shutdown_stay_stale() {
    on_fresh_thread(|| {
        let old = green::hub::schedule_call_global(Duration::from_secs(5), || {});
        let timeout = green::Timeout::new(Duration::from_secs(5));
        let _ = green::hub::shutdown();
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        let new = green::hub::schedule_call_global(Duration::ZERO, move || f.set(true));
        let gt = green::spawn(|| 1);
        old.cancel();
        drop(timeout);
        assert!(!old.is_pending());
        assert!(new.is_pending());
        assert_eq!(gt.wait().unwrap(), 1);
        assert!(fired.get());
    });
}

/// Links run after a kill may block (DESIGN: links are not hub context, a link may sleep).
#[test]
fn links_of_a_killed_greenthread_may_block() {
    green::debug::hub_exceptions(false);
    let log: Log<&str> = Log::new();
    let l = log.clone();
    let gt = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    gt.link(move |_| {
        green::sleep(ms(1));
        l.push("link slept");
    });
    yield_now();
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    green::sleep(ms(5));
    assert_eq!(log.get(), ["link slept"]);
}

/// A destructor that polls in a loop must not hang teardown.
#[test]
fn teardown_with_a_polling_destructor_terminates() {
    on_fresh_thread(|| {
        struct Poller(Rc<Cell<bool>>);
        impl Drop for Poller {
            fn drop(&mut self) {
                while !self.0.get() {
                    green::sleep(ms(1));
                }
            }
        }
        let flag = Rc::new(Cell::new(false));
        let p = Poller(flag.clone());
        green::spawn(move || {
            let _p = p;
            green::sleep(Duration::from_secs(3600));
        });
        yield_now();
        let report = green::hub::shutdown();
        assert_eq!(report.leaked, 1, "{report:?}");
        assert!(report.hub_context_panics.iter().any(|l| l.contains("is leaked")), "{report:?}");
    });
}

/// A skipped `spawn_after_local` finishes its greenthread as killed, on its own stack: waiters
/// wake, links run outside hub context.
#[test]
fn skipped_spawn_after_local_wakes_waiters_and_runs_links_outside_hub_context() {
    let log: Log<bool> = Log::new();
    let l = log.clone();
    let outer = green::spawn(move || {
        let inner = green::spawn_after_local(ms(1), || 5);
        inner.link(move |_| l.push(green::hub::in_hub_context()));
        inner
    });
    let inner = outer.join().unwrap();
    assert!(inner.wait().unwrap_err().is_killed());
    assert_eq!(log.get(), [false]);
}

/// Waiters of a greenthread leaked at teardown never take hand-offs afterwards.
#[test]
fn primitives_outliving_the_hub_skip_leaked_waiters() {
    on_fresh_thread(|| {
        let sem = green::Semaphore::new(0);
        let never: green::Event<()> = green::Event::new();
        struct WaitOnDrop(green::Event<()>, green::Semaphore);
        impl Drop for WaitOnDrop {
            fn drop(&mut self) {
                self.1.acquire(); // parks for ever during teardown
                self.0.wait();
            }
        }
        let w = WaitOnDrop(never.clone(), sem.clone());
        green::spawn(move || {
            let _w = w;
            green::sleep(Duration::from_secs(3600));
        });
        yield_now();
        let report = green::hub::shutdown();
        assert_eq!(report.leaked, 1);
        sem.release();
        assert_eq!(sem.count(), 1, "the permit went to the leaked waiter");
        assert!(sem.try_acquire());
    });
}

/// `Event::reset` drops the old value outside its borrow (the value's destructor may use the event).
#[test]
fn event_reset_drops_the_value_outside_its_borrow() {
    struct Peek(green::Event<Peek>);
    impl Clone for Peek {
        fn clone(&self) -> Self {
            Peek(self.0.clone())
        }
    }
    impl Drop for Peek {
        fn drop(&mut self) {
            let _ = self.0.ready();
        }
    }
    let ev: green::Event<Peek> = green::Event::new();
    ev.send(Peek(ev.clone())).unwrap_or_else(|_| panic!("fresh event"));
    ev.reset().unwrap();
    assert!(!ev.ready());
}

/// Cancelling a timer whose slot was reused after a stale ready key keeps the stats consistent.
#[test]
fn timer_stats_stay_consistent_after_slot_reuse() {
    on_fresh_thread(|| {
        let t = green::hub::schedule_call_global(Duration::ZERO, || {});
        t.cancel();
        let u = green::hub::schedule_call_global(Duration::from_secs(60), || {});
        yield_now();
        u.cancel();
        yield_now();
        let s = green::hub::timer_stats();
        assert!(s.queued >= s.cancelled, "{s:?}");
    });
}

/// The hub's own slice ends (and its slice-end hook runs) before `current` names the greenthread
/// about to be resumed: a hook that symbolises "on the parent stack" must never run on the stale
/// parent stack pointer of a greenthread that is not running yet (it would overwrite live frames).
#[test]
fn hub_slice_end_hook_never_symbolises_on_a_stale_parent_stack() {
    on_fresh_thread(|| {
        let probe = green::probe::probe();
        let raises = Rc::new(Cell::new(0));
        let hub_ends = Rc::new(Cell::new(0));
        let (r, e, p) = (raises.clone(), hub_ends.clone(), probe.clone());
        green::probe::set_slice_end_hook(Some(Box::new(move |end| {
            if end.greenthread != green::probe::HUB {
                // Keep the alarm going: the greenthread's slice (at its green call), the same
                // slice seen from the hub once it suspended, then the hub's own slice.
                if r.get() < 2 {
                    r.set(r.get() + 1);
                    p.raise_alarm(p.switches());
                }
            } else {
                let canary = std::hint::black_box([0x5a5a_5a5a_5a5a_5a5au64; 64]);
                let frames = green::debug::symbolize_frames(&[
                    hub_slice_end_hook_never_symbolises_on_a_stale_parent_stack as *const () as usize,
                ]);
                std::hint::black_box(&frames);
                let canary = std::hint::black_box(canary);
                assert!(canary.iter().all(|&w| w == 0x5a5a_5a5a_5a5a_5a5a), "the hook's frame was overwritten");
                e.set(e.get() + 1);
            }
            green::probe::SliceVerdict::Continue
        })));
        // `b` has run and parked before: its saved parent stack pointer is from then.
        let b = green::spawn(|| {
            for _ in 0..20 {
                green::sleep(Duration::ZERO);
            }
        });
        yield_now();
        let p = probe.clone();
        let a = green::spawn(move || {
            p.raise_alarm(p.switches());
            green::sleep(Duration::ZERO);
        });
        a.wait().unwrap();
        b.wait().unwrap();
        green::probe::set_slice_end_hook(None);
        assert_eq!(raises.get(), 2);
        assert_eq!(hub_ends.get(), 1, "the hub's own slice was reported once");
    });
}

/// eventlet's `test_block_detect`: a greenthread that blocks the hub and then returns (no green
/// call after the block) still fails in `Mode::Fail`: the end of its function ends its slice,
/// and the verdict applies to its result.
#[test]
fn fail_mode_fails_a_greenthread_that_blocks_and_then_returns() {
    use green_detectors::{BlockingConfig, Mode};
    green_detectors::enable(BlockingConfig { resolution: ms(80), mode: Mode::Fail }).unwrap();
    let offender = green::Builder::new().name("blocks-then-returns").spawn(|| {
        std::thread::sleep(ms(400));
        "returned"
    });
    let err = offender.wait().unwrap_err();
    green_detectors::disable();
    assert!(err.is_panic(), "{err}");
    let msg = err.panic_message().unwrap();
    assert!(msg.starts_with("BLOCKING greenthread="), "{msg}");
    assert!(msg.contains("name=blocks-then-returns"), "{msg}");
    // Good code next to it is not failed.
    green_detectors::enable(BlockingConfig { resolution: ms(80), mode: Mode::Fail }).unwrap();
    let good = green::spawn(|| "fine");
    assert_eq!(good.wait().unwrap(), "fine");
    green_detectors::disable();
}

/// A non-blocking pipe outside the runtime, as raw fds a trampoline can wait on: (read end, write end).
fn pipe() -> (std::os::fd::OwnedFd, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) }, 0);
    unsafe { (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
}

/// A trampoline holds fd N (a pipe's read end) when N is closed behind the runtime's back and
/// reused for another pipe: a new trampoline on N waits on the new file (it wakes when data
/// arrives there), and the old waiter wakes with the closed error.
#[test]
fn trampoline_on_a_reused_fd_number_waits_on_the_new_file() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let (old_read, _old_write) = pipe();
    let n = old_read.as_raw_fd();
    let old = green::spawn(move || green::trampoline(&n, green::Interest::Read, Some(Duration::from_secs(30))));
    yield_now();
    // Close N behind the runtime's back and put another pipe's read end at the same number, in
    // one step (dup2), so no other thread of the test process can take N in between.
    let (new_read, mut new_write) = pipe();
    assert_eq!(unsafe { libc::dup2(new_read.as_raw_fd(), n) }, n);
    drop(new_read);
    let reused = old_read; // now owns N, the new file
    let new = green::spawn(move || {
        let r = green::trampoline(&n, green::Interest::Read, Some(Duration::from_secs(30)));
        (r, reused)
    });
    yield_now();
    new_write.write_all(b"x").unwrap();
    let ((r, _reused), took) = timed(|| new.join().unwrap());
    r.expect("the new waiter waits on the new file and wakes on its data");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let err = old.join().unwrap().expect_err("the old file is gone");
    assert_eq!(err.kind(), std::io::ErrorKind::NotConnected, "{err}");
}

/// A trampoline holds fd N when N is closed behind the runtime's back and stays closed: a new
/// trampoline on N fails with `EBADF`, and that failure must still retire the old registration.
/// Before, the failed registration returned early: the old waiter was never woken (it waited
/// out its timeout), and when its wait then ended it deregistered fd N from the poller, which by
/// then named another file whose waiter lost its wake-up. Also eventlet's
/// `test_repeated_select_bad_fd`: a bad fd leaves nothing behind in the hub.
#[test]
fn a_failed_registration_of_a_closed_fd_still_wakes_its_old_waiter_and_spares_the_fd() {
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let no_listeners = || {
        yield_now();
        assert_eq!(green::debug::format_hub_listeners(), "READERS:\nWRITERS:", "the hub still has listeners");
    };
    for _ in 0..2 {
        let e = green::trampoline(&-1, green::Interest::Read, None).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
    }
    no_listeners();
    // A number near the top of the fd limit, free and out of the way: fds are handed out lowest
    // first, so no other test thread takes it while it is closed below.
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let top = lim.rlim_cur.min(1 << 16) as i32 - 64;
    let n = (top / 2..top).rev().find(|&n| unsafe { libc::fcntl(n, libc::F_GETFD) } == -1).expect("a free fd number");
    let (old_read, _old_write) = pipe();
    assert_eq!(unsafe { libc::dup2(old_read.as_raw_fd(), n) }, n);
    drop(old_read);
    let old = green::spawn(move || green::trampoline(&n, green::Interest::Read, Some(Duration::from_secs(30))));
    yield_now();
    // Close N behind the runtime's back; it stays closed for the next trampoline.
    let (spare_read, mut spare_write) = pipe();
    assert_eq!(unsafe { libc::close(n) }, 0);
    let e = green::trampoline(&n, green::Interest::Read, None).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
    // The old waiter wakes now with the closed error, not after its 30 s.
    let (r, took) = timed(|| old.join().unwrap());
    let err = r.expect_err("the old file is gone");
    assert_eq!(err.kind(), std::io::ErrorKind::NotConnected, "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    no_listeners();
    // N names another file again: a waiter there gets its data.
    assert_eq!(unsafe { libc::dup2(spare_read.as_raw_fd(), n) }, n);
    let reused = unsafe { OwnedFd::from_raw_fd(n) };
    let new = green::spawn(move || {
        let r = green::trampoline(&n, green::Interest::Read, Some(Duration::from_secs(30)));
        (r, reused)
    });
    yield_now();
    spare_write.write_all(b"x").unwrap();
    let ((r, _reused), took) = timed(|| new.join().unwrap());
    r.expect("the waiter on the reused number wakes on its data");
    assert!(took < Duration::from_secs(10), "{took:?}");
    no_listeners();
}

/// A `tpool` job whose caller was killed (or timed out) is abandoned: it no longer holds the
/// virtual clock still, nor hides a deadlock, while its OS thread works on.
#[test]
fn an_abandoned_tpool_job_neither_freezes_virtual_time_nor_hides_a_deadlock() {
    let report = green_harness::Harness::new().try_run(|| {
        // (Under the virtual clock time does not jump while a job is in flight, so a virtual
        // timeout around it would wait in real time: kill its caller instead.)
        let caller = green::spawn(|| green::tpool::execute(|| std::thread::sleep(Duration::from_secs(3))));
        yield_now();
        caller.kill();
        assert!(caller.join().unwrap_err().is_killed());
        // An hour of virtual time passes at once, without waiting for the job's 3 s.
        let (_, took) = timed(|| green::sleep(Duration::from_secs(3600)));
        assert!(took < Duration::from_secs(2), "virtual time stood still for the abandoned job: {took:?}");
        // And a real deadlock is seen at once.
        let (msg, took) = timed(|| panic_message_of(|| green::Event::<()>::new().wait()));
        assert!(msg.contains("green: deadlock"), "{msg}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    });
    let (_, r) = report;
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

/// `trampoline` with `Some(Duration::MAX)` waits without a deadline (as socket timeouts do)
/// instead of panicking on `Instant` overflow.
#[test]
fn trampoline_with_duration_max_means_no_timeout() {
    let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let waiter = green::spawn(move || green::trampoline(&b, green::Interest::Read, Some(Duration::MAX)));
    yield_now();
    std::io::Write::write_all(&mut a, b"x").unwrap();
    waiter.join().unwrap().unwrap();
}

/// Work posted to a hub racing with its shutdown is either taken by the hub (run, or dropped by
/// it at close) or refused: `post` never says `Ok` for work left stranded in a closed queue.
#[test]
fn hub_handle_post_never_says_ok_for_work_the_hub_never_takes() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    /// Dropped with its closure: on the poster's thread only if the hub never took it.
    struct Taken(std::thread::ThreadId, Arc<AtomicUsize>);
    impl Drop for Taken {
        fn drop(&mut self) {
            if std::thread::current().id() == self.0 {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let on_poster = Arc::new(AtomicUsize::new(0));
    let mut refused = 0;
    for _ in 0..100 {
        let (tx, rx) = std::sync::mpsc::channel();
        let hub_thread = std::thread::spawn(move || {
            tx.send(green::hub::handle()).unwrap();
            green::sleep(Duration::from_micros(200));
        });
        let h = rx.recv().unwrap();
        let me = std::thread::current().id();
        for _ in 0..1_000_000 {
            let t = Taken(me, on_poster.clone());
            if h.post(move || drop(t)).is_err() {
                refused += 1; // dropped here, by `post`
                break;
            }
        }
        hub_thread.join().unwrap();
        drop(h); // frees the queue: anything still in it was stranded
    }
    let stranded = on_poster.load(Ordering::SeqCst) - refused;
    assert_eq!(stranded, 0, "post said Ok for work the hub never took");
}

/// A stack size too large to round (near `usize::MAX`) is refused with a message naming the
/// limit, instead of wrapping to a zero-sized stack.
#[test]
fn a_stack_size_near_usize_max_is_refused_with_a_clear_error() {
    let msg = panic_message_of(|| {
        green::Builder::new().stack_size(usize::MAX - 10).spawn(|| ());
    });
    assert!(msg.contains("green::Builder::stack_size") && msg.contains("4 GiB"), "{msg}");
    // Sizes within the limit still work.
    assert_eq!(green::Builder::new().stack_size(1).spawn(|| 5).join().unwrap(), 5);
}

/// When the ready queue fills while the batch has drained and has the bigger buffer (a burst of
/// wake-ups after a burst of starts), the ready queue takes that buffer over: what it held stays
/// first, in order, and the burst keeps its FIFO order.
#[test]
fn the_ready_queue_taking_over_the_batch_buffer_keeps_every_entry_in_order() {
    on_fresh_thread(|| {
        const N: usize = 3000;
        let log: Log<usize> = Log::new();
        let go = Rc::new(green::Event::<()>::new());
        let parked: Vec<_> = (0..N)
            .map(|i| {
                let (log, go) = (log.clone(), go.clone());
                green::spawn(move || {
                    if i == 0 {
                        // Queued in the ready queue's own (small) buffer while the batch runs.
                        green::sleep(Duration::ZERO);
                    }
                    go.wait();
                    log.push(i);
                })
            })
            .collect();
        // One pass: N starts; the root's wake-up ends the batch, which has drained when it runs.
        green::sleep(Duration::ZERO);
        assert_eq!(go.waiting(), N - 1);
        // More starts fill the small buffer; then the release's wake-ups follow them.
        let extra: Vec<_> = (N..N + 8)
            .map(|i| {
                let log = log.clone();
                green::spawn(move || log.push(i))
            })
            .collect();
        go.send(()).unwrap();
        for gt in parked.into_iter().chain(extra) {
            gt.join().unwrap();
        }
        let want: Vec<usize> = std::iter::once(0).chain(N..N + 8).chain(1..N).collect();
        assert_eq!(log.get(), want);
    });
}

/// After a link panics, the links queued then are skipped; a link that one of their destructors
/// adds is neither lost nor skipped: it runs.
#[test]
fn a_link_added_while_skipped_links_are_dropped_still_runs() {
    green::debug::hub_exceptions(false);
    let log: Log<&str> = Log::new();
    let gt = green::spawn(|| ());
    struct LinksOnDrop(green::GreenThread<()>, Log<&'static str>);
    impl Drop for LinksOnDrop {
        fn drop(&mut self) {
            let l = self.1.clone();
            self.0.link(move |_| l.push("added by a destructor"));
        }
    }
    gt.link(|_| panic!("the first link panics"));
    let guard = LinksOnDrop(gt.clone(), log.clone());
    let l = log.clone();
    gt.link(move |_| {
        let _g = &guard;
        l.push("skipped");
    });
    gt.wait().unwrap();
    assert_eq!(log.get(), ["added by a destructor"]);
}

/// `sleep` forgets its timer's guard once the timer fired (no cancel on that path): the guard
/// must still cancel the timer when the sleep is cut short by a kill or an expired timeout.
#[test]
fn a_sleep_cut_short_by_a_kill_or_a_timeout_leaves_no_live_timer() {
    let base = green::hub::timer_stats().live;
    let sleeper = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    yield_now();
    assert_eq!(green::hub::timer_stats().live, base + 1, "the sleep's timer is pending");
    sleeper.kill();
    assert!(sleeper.wait().unwrap_err().is_killed());
    assert_eq!(green::hub::timer_stats().live, base, "the killed sleep's timer was cancelled");

    let cut = green::Timeout::new(ms(5)).call(|| green::sleep(Duration::from_secs(3600)));
    assert!(cut.unwrap_err().is_timeout(), "the timeout ended the sleep");
    assert_eq!(green::hub::timer_stats().live, base, "the timed-out sleep's timer was cancelled");

    green::sleep(ms(1));
    assert_eq!(green::hub::timer_stats().live, base, "a finished sleep leaves nothing behind");
}

/// Timers on both sides of the timer wheel's horizon (its two levels cover 268 ms; later timers
/// wait in a heap beside them) and on its tick boundaries (65.536 µs) fire in deadline order, in
/// creation order on equal deadlines, and each exactly at its deadline under the virtual clock
/// (which jumps to the least deadline the wheel reports: an early or late jump shows here).
#[test]
fn timers_across_the_wheels_horizon_and_tick_boundaries_fire_in_order_at_their_deadlines() {
    const DELAYS_NS: [u64; 14] = [
        1,
        65_535,
        65_536,
        65_537,
        1_000_000,
        4_194_304,
        4_200_000,
        268_435_455,
        268_435_456,
        268_500_000,
        300_000_000,
        10_000_000_000,
        3_600_000_000_000,
        2_000_000,
    ];
    let fired: Log<(Duration, u64, usize)> = Log::new();
    let log = fired.clone();
    // The order in which the timers were created (one hub thread: the count is taken right
    // before each sleep creates its timer).
    let made = Rc::new(Cell::new(0u64));
    green_harness::Harness::new().virtual_clock(true).jitter(Duration::ZERO).shuffle(false).run(move || {
        let t0 = green::time::now();
        let sleepers: Vec<_> = (0..12usize)
            .map(|g| {
                let (log, made) = (log.clone(), made.clone());
                green::spawn(move || {
                    let mut state = g as u64 + 1;
                    for k in 0..8 {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        let delay = Duration::from_nanos(DELAYS_NS[(state >> 33) as usize % DELAYS_NS.len()]);
                        let deadline = green::time::now() + delay;
                        let seq = made.get();
                        made.set(seq + 1);
                        green::sleep(delay);
                        assert_eq!(green::time::now(), deadline, "greenthread {g}, sleep {k} woke off its deadline");
                        log.push((deadline - t0, seq, g));
                    }
                })
            })
            .collect();
        for s in sleepers {
            s.join().unwrap();
        }
    });
    let order = fired.get();
    assert_eq!(order.len(), 12 * 8);
    for w in order.windows(2) {
        assert!(
            (w[0].0, w[0].1) < (w[1].0, w[1].1),
            "fired out of (deadline, creation) order: {:?} before {:?}",
            w[0],
            w[1]
        );
    }
}

/// A pending `Timeout` shows in the timer dump by its id; ids are per hub (they were per thread
/// and never reset), so a second run on the same thread dumps the same text and snapshots of it
/// hold under a search or a replay.
#[test]
fn timeout_ids_in_dumps_repeat_run_after_run() {
    let dump = || {
        let (_, d) = green_harness::Harness::with_config(green_harness::Config::hermetic()).try_run(|| {
            let t = green::Timeout::new(Duration::from_secs(5));
            let d = green::debug::format_hub_timers();
            t.cancel();
            d
        });
        d.unwrap_or_else(|_| panic!("the run failed"))
    };
    let (a, b) = (dump(), dump());
    assert!(a.contains("expire timeout 1 "), "{a}");
    assert_eq!(a, b);
}

/// A greenthread iterating a `GreenPile` or an `imap` waits at its own `for` loop, in the dump,
/// not inside the runtime's `pool.rs` (a path that, in a downstream crate, is an absolute path
/// into the cargo registry and differs between machines).
#[test]
fn pile_and_imap_waits_are_recorded_at_the_callers_loop() {
    let pile = green::GreenPile::new(2);
    pile.spawn(|| green::sleep(Duration::from_secs(60)));
    let reader = green::spawn(move || for _ in pile {});
    let pool = green::GreenPool::new(1);
    let mapper = green::spawn(move || for _ in pool.imap(|x: u64| green::sleep(Duration::from_secs(x)), [60]) {});
    yield_now();
    yield_now();
    let dump = green::debug::format_greenthreads();
    let lines: Vec<&str> = dump.lines().filter(|l| l.contains("blocked in GreenThread::")).collect();
    assert_eq!(lines.len(), 2, "{dump}");
    for l in lines {
        assert!(l.contains(" at tests/regressions.rs:"), "{l}\n{dump}");
    }
    reader.kill();
    mapper.kill();
}

/// A greenthread in `tpool::execute` shows as that call at its caller's line (not as the event
/// `execute` waits on inside the runtime), and a semaphore's hand-off wake-up is created at the
/// user's `release` (DESIGN §4: every entry carries the user call's location), for both kinds of
/// semaphore.
#[test]
fn tpool_waits_and_semaphore_hand_offs_are_recorded_at_the_users_call() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let job = green::spawn(move || green::tpool::execute(move || rx.recv()).unwrap());
    yield_now();
    let dump = green::debug::format_greenthreads();
    let line = dump.lines().find(|l| l.contains("blocked in tpool::execute")).unwrap_or_else(|| panic!("{dump}"));
    assert!(line.contains(" at tests/regressions.rs:"), "{line}");
    tx.send(()).unwrap();
    job.join().unwrap().unwrap();

    let sem = green::Semaphore::new(0);
    let bounded = green::BoundedSemaphore::new(1);
    bounded.acquire();
    let (s, b) = (sem.clone(), bounded.clone());
    let a = green::spawn(move || s.acquire());
    let c = green::spawn(move || b.acquire());
    yield_now();
    sem.release();
    bounded.release().unwrap();
    let dump = green::debug::format_hub_timers();
    let wakes: Vec<&str> = dump.lines().filter(|l| l.contains("next pass wake")).collect();
    assert_eq!(wakes.len(), 2, "{dump}");
    for w in wakes {
        assert!(w.contains(" at tests/regressions.rs:"), "{w}\n{dump}");
    }
    a.join().unwrap();
    c.join().unwrap();
}

/// A GreenPool spawn run inline (the pool is full and the caller is its member, eventlet's
/// re-entrant spawn) lets a timeout of the caller unwind on, as any green call does: it used to
/// be caught as the spawned function's "panic", so `with_timeout` returned `Ok` and the timeout
/// was lost.
#[test]
fn a_timeout_inside_an_inline_pool_spawn_reaches_the_callers_with_timeout() {
    let pool = green::GreenPool::new(1);
    let p2 = pool.clone();
    let outer = pool.spawn(move || {
        green::with_timeout(Duration::from_millis(10), || {
            p2.spawn(|| green::sleep(Duration::from_secs(3600))).wait().map(|_| ())
        })
    });
    let r = outer.wait().unwrap();
    assert!(r.is_err_and(|e| e.is_timeout()), "the caller's timeout came through");
}

/// DESIGN §3: no poll syscall when no listener is registered. An open socket nobody waits on
/// costs no poll per pass (it used to cost a zero-timeout `epoll_wait` on every pass); a
/// greenthread waiting on it does, and still hears its connection.
#[test]
fn an_open_socket_nobody_waits_on_costs_no_poll_but_a_waiter_gets_its_readiness() {
    on_fresh_thread(|| {
        let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let before = green::hub::poll_count();
        for _ in 0..100 {
            yield_now();
        }
        assert_eq!(green::hub::poll_count(), before, "idle socket, busy hub: no poll");
        let acceptor = green::spawn(move || listener.accept().map(|(_, peer)| peer));
        for _ in 0..10 {
            yield_now();
        }
        assert!(green::hub::poll_count() > before, "a waiter: the hub polls");
        let client = green::net::TcpStream::connect(addr).unwrap();
        assert_eq!(acceptor.join().unwrap().unwrap(), client.local_addr().unwrap());
    });
}

/// `Event::send`, `Semaphore::release` and a `put` on a queue with room never yield (DESIGN §3),
/// even when each wakes a waiter: the caller keeps running and the waiters run at the next pass.
#[test]
fn send_release_and_a_put_with_room_never_yield() {
    let ev: green::Event<u8> = green::Event::new();
    let sem = green::Semaphore::new(0);
    let q: green::Queue<u8> = green::Queue::bounded(4);
    let waiters = {
        let (ev, sem, q) = (ev.clone(), sem.clone(), q.clone());
        let a = green::spawn(move || ev.wait());
        let b = green::spawn(move || {
            sem.acquire();
            0
        });
        let c = green::spawn(move || q.get());
        [a, b, c]
    };
    yield_now(); // all three park
    let before = green::hub::switch_count();
    ev.send(1).unwrap();
    sem.release();
    q.put(3);
    q.put(4); // room left, nobody waiting
    assert_eq!(green::hub::switch_count(), before, "no switch");
    let got: Vec<u8> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(got, [1, 0, 3]);
}

/// A timer that fell due while a slice ran long fires before the yields queued after it, as in
/// eventlet, where a zero-delay timer's deadline is the time it was made (the ready queue used to
/// go first whatever the deadlines).
#[test]
fn a_timer_due_before_a_yield_was_queued_fires_before_the_yielder_resumes() {
    on_fresh_thread(|| {
        let fired = Rc::new(Cell::new(false));
        let f = fired.clone();
        green::hub::schedule_call_global(ms(5), move || f.set(true));
        std::thread::sleep(ms(60)); // the slice runs long: the timer falls due meanwhile
        green::sleep(Duration::ZERO); // queued after the timer's deadline
        assert!(fired.get(), "the overdue timer fired first");
    });
}

/// Stays as it was where the order is not known: a yield queued before the timer fell due
/// still runs first (the ready queue goes before wheel timers due after its first entry).
#[test]
fn a_yield_queued_before_a_timer_fell_due_still_resumes_first() {
    on_fresh_thread(|| {
        let log = Log::<String>::new();
        let l = log.clone();
        green::hub::schedule_call_global(ms(200), move || l.push("timer"));
        let l = log.clone();
        let yielder = green::spawn(move || {
            green::sleep(Duration::ZERO); // queued at once, long before the timer is due
            l.push("yielder");
        });
        let l = log.clone();
        green::spawn(move || l.push("spawned")).join().unwrap();
        std::thread::sleep(ms(300)); // the timer falls due while the yield waits in the queue
        yielder.join().unwrap();
        green::sleep(ms(5));
        assert_eq!(log.get()[..2], ["spawned", "yielder"], "{:?}", log.get());
    });
}

/// `sleep(0)` is a fair yield (DESIGN §3): three greenthreads yielding in a loop take strict
/// turns, each round in spawn order, and a zero-delay timer made during a pass waits for the
/// next one.
#[test]
fn sleep_zero_is_a_fair_yield_and_zero_delay_timers_wait_for_the_next_pass() {
    let log = Log::<String>::new();
    let gts: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let log = log.clone();
            green::spawn(move || {
                for i in 0..4 {
                    log.push(format!("{name}{i}"));
                    if name == "a" && i == 1 {
                        // Made while "b" and "c" still wait in this pass: runs after them, first in
                        // the next pass (queued before "a"'s own yield).
                        let l = log.clone();
                        let _ = green::hub::schedule_call_global(Duration::ZERO, move || l.push("timer"));
                    }
                    green::sleep(Duration::ZERO);
                }
            })
        })
        .collect();
    for gt in gts {
        gt.join().unwrap();
    }
    assert_eq!(
        log.get(),
        ["a0", "b0", "c0", "a1", "b1", "c1", "timer", "a2", "b2", "c2", "a3", "b3", "c3"].map(String::from).to_vec(),
        "{:?}",
        log.get()
    );
}

/// Work that arrived while the hub was held up beats a `Timeout` that fell due meanwhile: what a
/// poll brings (fd readiness, work posted from another thread) happened while the hub waited, as
/// eventlet runs fd callbacks inside its wait, so the waiter runs with the value and cancels its
/// timeout before the timeout fires (stamping those wake-ups with the time after the poll timed
/// the waiter out).
#[test]
fn an_event_sent_by_posted_work_wins_over_a_timeout_that_fell_due_meanwhile() {
    thread_local! {
        static EV: std::cell::RefCell<Option<green::Event<u8>>> = const { std::cell::RefCell::new(None) };
    }
    on_fresh_thread(|| {
        let ev: green::Event<u8> = green::Event::new();
        EV.with(|e| *e.borrow_mut() = Some(ev.clone()));
        let waiter = green::spawn(move || {
            let t = green::Timeout::new(ms(100));
            let v = ev.wait();
            t.cancel();
            Some(v)
        });
        yield_now(); // the waiter parks, its timeout 100 ms out
        let handle = green::hub::handle();
        let poster = std::thread::spawn(move || {
            std::thread::sleep(ms(20));
            // Runs on the hub's thread, where `EV` is the event.
            handle
                .post(|| {
                    EV.with(|e| e.borrow().as_ref().map(|e| e.send(7).unwrap()));
                })
                .unwrap();
        });
        std::thread::sleep(ms(300)); // the hub is held up: the work lands, the timeout falls due
        poster.join().unwrap();
        assert_eq!(waiter.join().unwrap(), Some(7), "the posted send won");
        EV.with(|e| e.borrow_mut().take());
    });
}

/// A zero-delay timer's deadline is its creation time (DESIGN §3): a wheel timer that fell due
/// before it fires first, also in a hub's first kernel tick. The ready queue's stamp came from
/// the coarse clock, which lags by up to a tick and read as 0 in the hub's first tick, so the
/// later zero-delay entry fired first.
#[test]
fn a_wheel_timer_due_before_a_zero_delay_timer_fires_first_even_in_the_hubs_first_tick() {
    for _ in 0..5 {
        let order = on_fresh_thread(|| {
            let log = Rc::new(std::cell::RefCell::new(Vec::new()));
            let l = log.clone();
            green::hub::schedule_call_global(Duration::from_millis(1), move || l.borrow_mut().push("A"));
            std::thread::sleep(Duration::from_millis(2));
            let l = log.clone();
            green::hub::schedule_call_global(Duration::ZERO, move || l.borrow_mut().push("B"));
            green::sleep(Duration::from_millis(10));
            let v = log.borrow().clone();
            v
        });
        assert_eq!(order, ["A", "B"]);
    }
}

/// DESIGN §3: queues hand off to parked getters FIFO, and a newcomer cannot take an item handed
/// to a waiter.
#[test]
fn queue_getters_are_served_in_the_order_they_parked_and_newcomers_cannot_barge() {
    let q: green::Queue<u32> = green::Queue::new();
    let order = Log::<(u32, u32)>::new();
    let gts: Vec<_> = (0..4u32)
        .map(|i| {
            let (q, order) = (q.clone(), order.clone());
            let gt = green::spawn(move || order.push((i, q.get())));
            green::sleep(Duration::ZERO); // getter i parks before getter i + 1
            gt
        })
        .collect();
    q.put(10);
    assert!(q.try_get().is_err(), "a newcomer took the item handed to the first getter");
    for v in 11..14 {
        q.put(v);
    }
    gts.into_iter().for_each(|g| g.wait().unwrap());
    assert_eq!(order.get(), [(0, 10), (1, 11), (2, 12), (3, 13)]);
}

/// DESIGN §3: putters blocked on a full bounded queue get their turn FIFO.
#[test]
fn blocked_putters_of_a_full_queue_go_in_the_order_they_parked() {
    let q: green::Queue<u32> = green::Queue::bounded(1);
    q.put(0);
    let gts: Vec<_> = (1..4u32)
        .map(|i| {
            let q = q.clone();
            let gt = green::spawn(move || q.put(i));
            green::sleep(Duration::ZERO); // putter i parks before putter i + 1
            gt
        })
        .collect();
    let got: Vec<u32> = (0..4).map(|_| q.get()).collect();
    gts.into_iter().for_each(|g| g.wait().unwrap());
    assert_eq!(got, [0, 1, 2, 3]);
}

/// DESIGN §3: links run FIFO, in the dying greenthread.
#[test]
fn links_run_in_the_order_they_were_added_inside_the_dying_greenthread() {
    let ev: green::Event<()> = green::Event::new();
    let e = ev.clone();
    let gt = green::spawn(move || e.wait());
    let id = gt.id();
    let ran = Log::<(u32, bool)>::new();
    for i in 0..3u32 {
        let ran = ran.clone();
        gt.link(move |_| ran.push((i, green::current().id() == id)));
    }
    ev.send(()).unwrap();
    gt.wait().unwrap();
    assert_eq!(ran.get(), [(0, true), (1, true), (2, true)]);
}

/// DESIGN §3: an `io::Error` standing for a kill or a panic has the documented kind and wraps
/// the `green::Error`.
#[test]
fn io_errors_for_kills_and_panics_have_their_kinds_and_wrap_the_green_error() {
    let killed = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    green::sleep(Duration::ZERO);
    killed.kill();
    let io = killed.wait().unwrap_err().into_io();
    assert_eq!(io.kind(), std::io::ErrorKind::Interrupted);
    assert!(io.get_ref().unwrap().downcast_ref::<green::Error>().unwrap().is_killed());
    assert!(io.to_string().contains("was killed"), "{io}");
    let panicked = green::spawn(|| panic!("boom"));
    let io = panicked.wait().unwrap_err().into_io();
    assert_eq!(io.kind(), std::io::ErrorKind::Other);
    assert!(io.get_ref().unwrap().downcast_ref::<green::Error>().unwrap().is_panic());
}

/// DESIGN §3: a second simultaneous writer gets the same clear error as a second reader.
#[test]
fn a_second_simultaneous_writer_gets_an_error() {
    use std::io::Write;
    green::debug::hub_prevent_multiple_readers(true);
    let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = green::spawn(move || listener.accept().map(|(c, _)| c));
    let s = std::rc::Rc::new(green::net::TcpStream::connect(addr).unwrap());
    let peer = server.join().unwrap().unwrap();
    // Fill the send buffer so a writer parks.
    let big = vec![0u8; 1 << 16];
    let writer = {
        let s = s.clone();
        green::spawn(move || loop {
            if (&*s).write(&big).is_err() {
                break;
            }
        })
    };
    for _ in 0..100 {
        green::sleep(Duration::ZERO);
    }
    let err = (&*s).write(b"x").expect_err("a second simultaneous writer was let through");
    assert_eq!(err.kind(), std::io::ErrorKind::ResourceBusy);
    assert!(err.to_string().contains("Second simultaneous write"), "{err}");
    writer.kill();
    drop(peer);
}

/// DESIGN §3: a deadline is computed from a fresh clock read at the call, not from a time cached
/// at the start of the pass: a sleep made after 60 ms of work in one slice still lasts its full
/// 10 ms from the call (a cached pass time would end it at once).
#[test]
fn a_sleep_after_a_long_slice_lasts_its_full_delay_from_the_call() {
    let gt = green::spawn(|| {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < ms(60) {
            std::hint::spin_loop();
        }
        let called = std::time::Instant::now();
        green::sleep(ms(10));
        called.elapsed()
    });
    let slept = gt.wait().unwrap();
    assert!(slept >= ms(10), "the sleep ended {slept:?} after the call, early");
}
