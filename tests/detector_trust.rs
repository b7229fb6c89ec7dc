//! Issue 12, the detectors' part: regression tests named after what they guard, and the stress
//! tests (a storm of foreign SIGALRMs; sixteen hubs blocking at once). Tests whose subject is
//! process-wide (signal dispositions, fork, thread exit) run the test binary itself as a child.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use green_detectors::calls::{self, CallsConfig};
use green_detectors::{BlockingConfig, Mode};

use crate::util::*;

/// The few system calls these tests make themselves.
mod sys {
    use std::os::fd::{FromRawFd, OwnedFd};

    /// A pipe: (read end, write end), both blocking.
    pub fn pipe() -> (std::fs::File, std::fs::File) {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid out-array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: pipe(2) succeeded: both descriptors are open and owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]).into(), OwnedFd::from_raw_fd(fds[1]).into()) }
    }

    pub fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    pub fn set_errno(v: i32) {
        // SAFETY: __errno_location returns this thread's errno, always valid.
        unsafe { *libc::__errno_location() = v };
    }

    /// A native `poll(2)` for input on `fd`: its result and errno.
    pub fn poll_in(fd: &impl std::os::fd::AsRawFd, timeout_ms: i32) -> (i32, i32) {
        let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd on this frame.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        (r, if r < 0 { errno() } else { 0 })
    }

    /// `FUTEX_WAIT_PRIVATE` on a word that does not hold the expected value (returns at once
    /// with `EAGAIN`), the operation passed with a dirty upper half, as a C caller of the
    /// variadic `syscall(2)` may leave it: the kernel reads the operation as an `int`.
    pub fn futex_wait_dirty_op(word: &std::sync::atomic::AtomicU32) -> (i64, i32) {
        let op: i64 = (0x5a5a_5a5a_i64 << 32) | 128; // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
                                                     // SAFETY: a futex wait on a valid, aligned u32 with a null timeout; the value differs from
                                                     // the expected one (`!current`), so it returns at once.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                op,
                !word.load(std::sync::atomic::Ordering::SeqCst) as i64,
                std::ptr::null::<libc::timespec>(),
            )
        };
        (r, if r < 0 { errno() } else { 0 })
    }

    /// `clock_nanosleep` on an invalid clock: (its result, errno afterwards).
    pub fn clock_nanosleep_invalid_clock() -> (i32, i32) {
        let ts = libc::timespec { tv_sec: 0, tv_nsec: 1000 };
        // SAFETY: a valid timespec; a null remainder is allowed.
        let r = unsafe { libc::clock_nanosleep(0x7777, 0, &ts, std::ptr::null_mut()) };
        (r, errno())
    }

    pub fn ignore_sigalrm() {
        // SAFETY: setting SIG_IGN has no preconditions.
        unsafe { libc::signal(libc::SIGALRM, libc::SIG_IGN) };
    }

    /// Installs a `SIGALRM` handler with `sigaction` that counts into `COUNT_AFTER` and then
    /// calls the action it replaced, as a well-behaved library handler does.
    pub fn install_chaining_counter() {
        // SAFETY: zeroed sigaction structs are valid; the query and the install only read and
        // write them; the saved previous action is published before the handler can run.
        unsafe {
            let mut prev: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGALRM, std::ptr::null(), &mut prev);
            if prev.sa_sigaction == counting_handler as *const () as usize {
                return; // already on top: a handler never chains to itself
            }
            PREV_HANDLER.store(prev.sa_sigaction, std::sync::atomic::Ordering::SeqCst);
            PREV_SIGINFO.store(prev.sa_flags & libc::SA_SIGINFO != 0, std::sync::atomic::Ordering::SeqCst);
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = counting_handler as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGALRM, &act, std::ptr::null_mut()), 0);
        }
    }

    pub static COUNT_AFTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static PREV_HANDLER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static PREV_SIGINFO: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    extern "C" fn counting_handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        COUNT_AFTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let prev = PREV_HANDLER.load(std::sync::atomic::Ordering::SeqCst);
        if prev == libc::SIG_DFL || prev == libc::SIG_IGN {
            return;
        }
        if PREV_SIGINFO.load(std::sync::atomic::Ordering::SeqCst) {
            // SAFETY: the previous action was installed with SA_SIGINFO: a three-argument handler.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(prev) };
            f(sig, info, ctx);
        } else {
            // SAFETY: without SA_SIGINFO the previous action is a one-argument handler.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(prev) };
            f(sig);
        }
    }

    /// Waits up to `limit` for child `pid`; kills it and returns `None` if it did not end.
    pub fn wait_child(pid: u32, limit: std::time::Duration) -> Option<i32> {
        let t0 = std::time::Instant::now();
        loop {
            let mut status = 0;
            // SAFETY: waits for our own child without blocking; `status` is a valid out-pointer.
            let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
            if r == pid as libc::pid_t {
                return Some(status);
            }
            if t0.elapsed() > limit {
                // SAFETY: our own child, not yet reaped.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                    libc::waitpid(pid as libc::pid_t, &mut status, 0);
                }
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Ends a forked child at once (no exit handlers or thread-local destructors of the parent's).
    pub fn exit_now(code: i32) -> ! {
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(code) }
    }
}

/// Runs `test` (an ignored child half) in a child process with `env` set (see
/// `util::run_child_with`): (status, stdout, stderr).
fn run_child(test: &str, env: &str) -> (std::process::ExitStatus, String, String) {
    crate::util::run_child_with(test, &[(env, "1")])
}

fn assert_child_ok((status, stdout, stderr): &(std::process::ExitStatus, String, String), marker: &str) {
    assert!(status.success() && stdout.contains(marker), "child {status:?}:\n{stdout}\n{stderr}");
}

fn detect(resolution_ms: u64) {
    green_detectors::enable(BlockingConfig { resolution: ms(resolution_ms), mode: Mode::Collect }).unwrap();
}

#[inline(never)]
fn sleep_natively(n: u64) {
    std::thread::sleep(ms(n));
}

/// True for frames of the detectors' or the runtime's own machinery.
fn machinery(frame: &str) -> bool {
    frame.contains("green_detectors::")
        || frame.contains("detectors/src/")
        || frame.contains("runtime/src/")
        || frame.starts_with("green::")
        || frame.contains("backtrace::")
}

// ---- 5. The interposing detector --------------------------------------------------------------

#[test]
fn interposed_calls_never_symbolise_inside_backtraces_lock() {
    // A hub thread with call detection captures stacks (timer stacks on) while another thread
    // symbolises: its futex waits for backtrace's lock are reported without re-entering
    // backtrace (before: an unlocked trace and symbolisation, racing with the other thread).
    let stop = Arc::new(AtomicBool::new(false));
    let symboliser = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            green::debug::hub_timer_stacks(true);
            let timers: Vec<_> =
                (0..20).map(|i| green::hub::schedule_call_global(Duration::from_secs(600 + i), || {})).collect();
            while !stop.load(Ordering::SeqCst) {
                let _ = green::debug::format_hub_timers(); // symbolises every timer's stack
            }
            for t in timers {
                t.cancel();
            }
        })
    };
    let (reports, futex_waits) = on_fresh_thread(|| {
        calls::enable(CallsConfig::default()).unwrap();
        green::debug::hub_timer_stacks(true);
        let t0 = Instant::now();
        let mut n = 0;
        while t0.elapsed() < ms(1500) {
            let t = green::hub::schedule_call_global(Duration::from_secs(600), || {}); // captures a stack
            t.cancel();
            n += 1;
        }
        calls::disable();
        let r = calls::take_reports();
        let futex = r.iter().filter(|r| r.call == "futex").count();
        assert!(n > 0);
        (r, futex)
    });
    stop.store(true, Ordering::SeqCst);
    symboliser.join().unwrap();
    for r in &reports {
        assert_eq!(r.call, "futex", "{r}");
        assert!(r.frames.iter().all(|f| !machinery(f)), "{r}");
    }
    let _ = futex_waits; // contention is likely, not certain: reports are checked when made
}

/// Child half of `a_blocking_call_in_a_destructor_at_thread_exit_does_not_abort`.
#[test]
#[ignore = "run as a child process by a_blocking_call_in_a_destructor_at_thread_exit_does_not_abort"]
fn thread_exit_child() {
    if std::env::var_os("GREEN_THREAD_EXIT_CHILD").is_none() {
        return;
    }
    struct NapsOnDrop;
    impl Drop for NapsOnDrop {
        fn drop(&mut self) {
            std::thread::sleep(ms(1)); // a blocking libc call from a destructor
        }
    }
    std::thread::spawn(|| {
        calls::enable(CallsConfig::default()).unwrap();
        let _parked = green::spawn(|| {
            let _guard = NapsOnDrop;
            green::sleep(Duration::from_secs(3600));
        });
        yield_now();
        // The thread ends with the greenthread parked: its teardown unwinds it, after the
        // detector's thread-locals may be gone.
    })
    .join()
    .unwrap();
    println!("thread exit child ok");
}

#[test]
fn a_blocking_call_in_a_destructor_at_thread_exit_does_not_abort() {
    let out = run_child("detector_trust::thread_exit_child", "GREEN_THREAD_EXIT_CHILD");
    assert_child_ok(&out, "thread exit child ok");
}

#[test]
fn a_futex_wait_whose_op_register_has_a_dirty_upper_half_is_reported() {
    let (reports, result) = on_fresh_thread(|| {
        calls::enable(CallsConfig::default()).unwrap();
        let result = green::spawn(|| sys::futex_wait_dirty_op(&AtomicU32::new(1))).wait().unwrap();
        calls::disable();
        (calls::take_reports(), result)
    });
    assert_eq!(result, (-1, libc::EAGAIN), "the kernel saw FUTEX_WAIT_PRIVATE");
    assert_eq!(reports.iter().map(|r| r.call).collect::<Vec<_>>(), ["futex"], "{reports:?}");
}

#[test]
fn clock_nanosleep_returns_its_error_number_and_leaves_errno_alone() {
    // glibc's clock_nanosleep returns the error and does not set errno; the interposer is libc's.
    sys::set_errno(0);
    let (r, errno) = sys::clock_nanosleep_invalid_clock();
    assert_eq!((r, errno), (libc::EINVAL, 0));
    // The same with call detection on (the report path must not disturb errno either).
    let (r, errno) = on_fresh_thread(|| {
        calls::enable(CallsConfig::default()).unwrap();
        let out = green::spawn(|| {
            sys::set_errno(0);
            sys::clock_nanosleep_invalid_clock()
        })
        .wait()
        .unwrap();
        calls::disable();
        out
    });
    assert_eq!((r, errno), (libc::EINVAL, 0));
}

// ---- 6 and 7. What the reports show -----------------------------------------------------------

#[test]
fn sampled_and_interposed_reports_both_show_the_libc_call_and_std_frames_not_the_detectors() {
    let (sampled, interposed) = on_fresh_thread(|| {
        calls::enable(CallsConfig::default()).unwrap();
        detect(50);
        green::Builder::new().name("napper").spawn(|| sleep_natively(250)).wait().unwrap();
        green_detectors::disable();
        calls::disable();
        let sampled: Vec<_> =
            green_detectors::take_reports().into_iter().filter(|r| r.name.as_deref() == Some("napper")).collect();
        (sampled, calls::take_reports())
    });
    assert_eq!(sampled.len(), 1, "{sampled:#?}");
    let s = &sampled[0];
    let i = interposed.iter().find(|r| r.name.as_deref() == Some("napper")).expect("the call is reported");
    for frames in [&s.frames, &i.frames] {
        assert!(frames[0].ends_with("(libc.so.6)") && frames[0].contains("sleep"), "{frames:#?}");
        // `std::thread::sleep` (`std::thread::functions::sleep` in newer toolchains).
        assert!(frames.iter().any(|f| f.starts_with("std::thread::") && f.contains("sleep (")), "{frames:#?}");
        assert!(frames.iter().any(|f| f.contains("sleep_natively")), "{frames:#?}");
        assert!(frames.iter().all(|f| !machinery(f)), "{frames:#?}");
    }
    assert_eq!(s.frames[0], i.frames[0], "both name the same libc function");
    assert_eq!(s.frames[0].split(' ').next(), Some(i.call));
}

#[test]
fn a_blocking_file_read_report_shows_std_fs_file_read_and_libc_read() {
    let (r, w) = sys::pipe();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(ms(250));
        std::io::Write::write_all(&mut &w, b"x").unwrap();
    });
    let reports = on_fresh_thread(move || {
        detect(50);
        #[inline(never)]
        fn reads_a_pipe(mut f: std::fs::File) -> usize {
            f.read(&mut [0u8; 1]).unwrap()
        }
        let n = green::Builder::new().name("reader").spawn(move || reads_a_pipe(r)).wait().unwrap();
        assert_eq!(n, 1);
        green_detectors::disable();
        green_detectors::take_reports().into_iter().filter(|r| r.name.as_deref() == Some("reader")).collect::<Vec<_>>()
    });
    writer.join().unwrap();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let f = &reports[0].frames;
    assert_eq!(f[0], "read (libc.so.6)", "{f:#?}");
    assert!(f.iter().any(|x| x.contains("std::fs::File as std::io::Read>::read")), "{f:#?}");
    assert!(f.iter().any(|x| x.contains("reads_a_pipe")), "{f:#?}");
    assert!(f.iter().all(|x| !machinery(x)), "{f:#?}");
}

// ---- 9. fork ------------------------------------------------------------------------------------

/// Child half of `detection_works_in_a_forked_child_even_if_the_watchdog_held_a_lock`.
#[test]
#[ignore = "run as a child process by detection_works_in_a_forked_child_even_if_the_watchdog_held_a_lock"]
fn fork_detection_child() {
    use green::process::Fork;
    if std::env::var_os("GREEN_FORK_DETECTION_CHILD").is_none() {
        return;
    }
    // The parent's watchdog ticks every 500 µs, taking the registry's and its watch's locks.
    detect(2);
    // Many forks: some land while the watchdog holds a lock; each child enables detection.
    for _ in 0..40 {
        match green::process::fork().unwrap() {
            Fork::Child => {
                detect(50);
                green_detectors::disable();
                sys::exit_now(0);
            }
            Fork::Parent(pid) => {
                let status = sys::wait_child(pid, Duration::from_secs(20)).expect("a forked child hung in enable");
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status:#x}");
            }
        }
    }
    // Detection in the child: its own watchdog, its own report.
    match green::process::fork().unwrap() {
        Fork::Child => {
            let ok = std::panic::catch_unwind(|| {
                detect(50);
                green::Builder::new().name("forked-blocker").spawn(|| sleep_natively(250)).wait().unwrap();
                let r: Vec<_> = green_detectors::take_reports()
                    .into_iter()
                    .filter(|r| r.name.as_deref() == Some("forked-blocker"))
                    .collect();
                assert_eq!(r.len(), 1, "{r:#?}");
                assert!(r[0].frames.iter().any(|f| f.contains("sleep_natively")), "{}", r[0]);
            })
            .is_ok();
            sys::exit_now(if ok { 0 } else { 3 });
        }
        Fork::Parent(pid) => {
            let status = sys::wait_child(pid, Duration::from_secs(30)).expect("the forked child hung");
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "status {status:#x}");
        }
    }
    green_detectors::disable();
    println!("fork detection child ok");
}

#[test]
fn detection_works_in_a_forked_child_even_if_the_watchdog_held_a_lock() {
    let out = run_child("detector_trust::fork_detection_child", "GREEN_FORK_DETECTION_CHILD");
    assert_child_ok(&out, "fork detection child ok");
}

// ---- 10. Signal plumbing ------------------------------------------------------------------------

/// Child half of `an_ignored_sigalrm_stays_ignored_while_detection_installs_its_handler`.
#[test]
#[ignore = "run as a child process by an_ignored_sigalrm_stays_ignored_while_detection_installs_its_handler"]
fn ignored_sigalrm_child() {
    if std::env::var_os("GREEN_IGNORED_SIGALRM_CHILD").is_none() {
        return;
    }
    sys::ignore_sigalrm();
    let me = crate::util::signal::current_thread();
    let stop = Arc::new(AtomicBool::new(false));
    let stormer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                crate::util::signal::send(me, libc::SIGALRM);
                // Paced, so that handling them (once the detector's handler is in place) does
                // not starve the thread.
                let t0 = Instant::now();
                while t0.elapsed() < Duration::from_micros(50) {
                    std::hint::spin_loop();
                }
            }
        })
    };
    std::thread::sleep(ms(5));
    detect(50); // installs the handler while SIGALRMs keep arriving
    std::thread::sleep(ms(5));
    stop.store(true, Ordering::SeqCst);
    stormer.join().unwrap();
    green_detectors::disable();
    println!("ignored sigalrm child ok");
}

#[test]
fn an_ignored_sigalrm_stays_ignored_while_detection_installs_its_handler() {
    // Before: the handler went live before the previous action (SIG_IGN) was published, so a
    // SIGALRM in between took the default action and killed the process. One install per
    // process: several children.
    for _ in 0..8 {
        let out = run_child("detector_trust::ignored_sigalrm_child", "GREEN_IGNORED_SIGALRM_CHILD");
        assert_child_ok(&out, "ignored sigalrm child ok");
    }
}

// ---- 11. EINTR ----------------------------------------------------------------------------------

#[test]
fn a_native_poll_with_a_timeout_sees_no_eintr_from_the_detector() {
    let (r, _w) = sys::pipe();
    let (result, elapsed, reports) = on_fresh_thread(move || {
        detect(50);
        #[inline(never)]
        fn polls_natively(r: &std::fs::File) -> (i32, i32) {
            sys::poll_in(r, 300)
        }
        let t0 = Instant::now();
        let result = green::Builder::new().name("poller").spawn(move || polls_natively(&r)).wait().unwrap();
        let elapsed = t0.elapsed();
        green_detectors::disable();
        let reports: Vec<_> =
            green_detectors::take_reports().into_iter().filter(|r| r.name.as_deref() == Some("poller")).collect();
        (result, elapsed, reports)
    });
    assert_eq!(result, (0, 0), "poll timed out without an error (EINTR = {})", libc::EINTR);
    assert!(elapsed >= ms(300), "{elapsed:?}");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].frames[0], "poll (libc.so.6)", "{}", reports[0]);
    assert!(reports[0].frames.iter().any(|f| f.contains("polls_natively")), "{}", reports[0]);
}

#[test]
fn a_native_poll_of_the_root_sees_no_eintr_either() {
    // The root holds the hub in a native poll: its slice is reported, its poll still times out.
    let (r, _w) = sys::pipe();
    let result = on_fresh_thread(move || {
        detect(40);
        let result = sys::poll_in(&r, 200); // the root blocks
        green::sleep(Duration::ZERO); // its slice ends
        green_detectors::disable();
        let n = green_detectors::take_reports().into_iter().filter(|r| r.greenthread == 0).count();
        (result, n)
    });
    assert_eq!(result, ((0, 0), 1));
}

// ---- 12. SIGQUIT --------------------------------------------------------------------------------

/// Child half of `sigquit_dumps_a_hub_without_blocking_detection`.
#[test]
#[ignore = "run as a child process by sigquit_dumps_a_hub_without_blocking_detection"]
fn sigquit_without_detection_child() {
    use signal_hook::consts::SIGQUIT;
    if std::env::var_os("GREEN_SIGQUIT_NO_DETECTION_CHILD").is_none() {
        return;
    }
    green_detectors::enable_sigquit_dump().unwrap();
    let _napper = green::Builder::new().name("napper").spawn(|| green::sleep(Duration::from_secs(60)));
    // Another thread's hub that never enabled anything: dumped too (every hub of the process).
    std::thread::Builder::new()
        .name("quiet-thread".into())
        .spawn(|| {
            let _other = green::Builder::new().name("other-napper").spawn(|| green::sleep(Duration::from_secs(60)));
            green::sleep(ms(600));
        })
        .unwrap();
    std::thread::spawn(|| {
        std::thread::sleep(ms(50));
        signal_hook::low_level::raise(SIGQUIT).unwrap();
    });
    green::sleep(ms(400));
    println!("sigquit without detection child done");
}

#[test]
fn sigquit_dumps_a_hub_without_blocking_detection() {
    let out = run_child("detector_trust::sigquit_without_detection_child", "GREEN_SIGQUIT_NO_DETECTION_CHILD");
    assert_child_ok(&out, "sigquit without detection child done");
    let stderr = &out.2;
    assert!(
        stderr.contains("green: SIGQUIT: hub of thread detector_trust::sigquit_without_detection_child\nGREENTHREADS:"),
        "{stderr}"
    );
    assert!(stderr.contains("\"napper\": blocked in sleep"), "{stderr}");
    assert!(stderr.contains("green: SIGQUIT: hub of thread quiet-thread\nGREENTHREADS:"), "{stderr}");
    assert!(stderr.contains("\"other-napper\": blocked in sleep"), "{stderr}");
}

// ---- Stress -------------------------------------------------------------------------------------

/// Child half of `a_storm_of_foreign_sigalrms_is_counted_by_both_user_handlers_and_breaks_nothing`.
#[test]
#[ignore = "run as a child process by a_storm_of_foreign_sigalrms_is_counted_by_both_user_handlers_and_breaks_nothing"]
fn foreign_storm_child() {
    use signal_hook::consts::SIGALRM;
    if std::env::var_os("GREEN_FOREIGN_STORM_CHILD").is_none() {
        return;
    }
    // A handler installed before detection (signal-hook) and one after (raw sigaction, chaining
    // to the action it replaced).
    let before = Arc::new(AtomicUsize::new(0));
    let b = before.clone();
    // SAFETY: the action only does an atomic add, which is async-signal-safe.
    unsafe {
        signal_hook::low_level::register(SIGALRM, move || {
            b.fetch_add(1, Ordering::SeqCst);
        })
    }
    .unwrap();
    detect(200);
    sys::install_chaining_counter();
    let hub_thread = crate::util::signal::current_thread();
    let done = Arc::new(AtomicBool::new(false));
    const SIGNALS: usize = 10_000;
    let stormer = {
        let (before, done) = (before.clone(), done.clone());
        let after = &sys::COUNT_AFTER;
        std::thread::spawn(move || {
            let mut missed = 0;
            for i in 0..SIGNALS {
                assert!(crate::util::signal::send(hub_thread, libc::SIGALRM));
                // Wait until both handlers saw this one (signals of one kind coalesce while
                // pending, so each is sent alone).
                let t0 = Instant::now();
                while before.load(Ordering::SeqCst) <= i || after.load(Ordering::SeqCst) <= i {
                    if t0.elapsed() > Duration::from_secs(5) {
                        missed += 1;
                        break;
                    }
                    std::thread::yield_now();
                }
                if i % 97 == 0 {
                    // The later handler installed again over the detector's, which puts its own
                    // back on top before its next alarm (here, one sent to this thread).
                    sys::install_chaining_counter();
                    green_detectors::blocking::AlarmTarget::current().send();
                }
            }
            done.store(true, Ordering::SeqCst);
            missed
        })
    };
    green::debug::hub_exceptions(false);
    let mut rounds = 0u64;
    while !done.load(Ordering::SeqCst) {
        rounds += 1;
        let allocator = green::spawn(move || (0..200u64).map(|i| vec![i; (i % 64) as usize].len()).sum::<usize>());
        let panicker = green::spawn(move || -> () {
            green::sleep(Duration::ZERO);
            panic!("storm round {rounds}")
        });
        let victim = green::spawn(|| green::sleep(Duration::from_secs(60)));
        let timed = green::spawn(|| green::with_timeout(ms(1), || green::sleep(Duration::from_secs(60))));
        yield_now();
        victim.kill();
        assert!(allocator.wait().unwrap() > 0);
        assert!(panicker.wait().unwrap_err().is_panic());
        assert!(victim.wait().is_err());
        assert!(timed.wait().unwrap().is_err(), "the timeout fired");
    }
    let missed = stormer.join().unwrap();
    let reports = green_detectors::take_reports();
    green_detectors::disable();
    assert_eq!(missed, 0, "signals the handlers never saw");
    assert_eq!(before.load(Ordering::SeqCst), SIGNALS, "the earlier handler counts every signal");
    assert_eq!(sys::COUNT_AFTER.load(Ordering::SeqCst), SIGNALS, "the later handler counts every signal");
    assert!(reports.is_empty(), "no false blocking report: {reports:#?}");
    assert!(rounds > 0);
    println!("foreign storm child ok");
}

#[test]
fn a_storm_of_foreign_sigalrms_is_counted_by_both_user_handlers_and_breaks_nothing() {
    let out = run_child("detector_trust::foreign_storm_child", "GREEN_FOREIGN_STORM_CHILD");
    assert_child_ok(&out, "foreign storm child ok");
}

/// Sixteen threads, each its own hub with one blocking greenthread of a distinct name, at once:
/// one report each, on its own hub, none misattributed.
fn sixteen_hubs_blocking_at_once(with_calls: bool) {
    const N: usize = 16;
    let barrier = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                if with_calls {
                    calls::enable(CallsConfig::default()).unwrap();
                }
                detect(60);
                for _ in 0..i {
                    green::spawn(|| ()).wait().unwrap(); // ids differ between hubs
                }
                barrier.wait();
                let name = format!("blocker-{i}");
                let gt = green::Builder::new().name(name.clone()).spawn(|| sleep_natively(400));
                gt.wait().unwrap();
                green_detectors::disable();
                calls::disable();
                let sampled = green_detectors::take_reports();
                let interposed = calls::take_reports();
                (name, gt.id().as_u64(), sampled, interposed)
            })
        })
        .collect();
    for t in threads {
        let (name, id, sampled, interposed) = t.join().unwrap();
        let named: Vec<_> = sampled.iter().filter(|r| r.name.is_some() && r.greenthread != 0).collect();
        assert_eq!(named.len(), 1, "{name}: {sampled:#?}");
        assert_eq!(named[0].name.as_deref(), Some(name.as_str()));
        assert_eq!(named[0].greenthread, id);
        assert!(named[0].frames.iter().any(|f| f.contains("sleep_natively")), "{}", named[0]);
        if with_calls {
            // The barrier's futex wait on the hub thread is a blocking call too: only the
            // named greenthread's calls are checked here.
            let interposed: Vec<_> = interposed.into_iter().filter(|r| r.greenthread != 0).collect();
            assert_eq!(interposed.len(), 1, "{name}: {interposed:#?}");
            assert_eq!(interposed[0].name.as_deref(), Some(name.as_str()));
            assert_eq!(interposed[0].greenthread, id);
        } else {
            assert!(interposed.is_empty());
        }
    }
}

#[test]
fn sixteen_hubs_blocking_at_once_each_get_their_own_report() {
    sixteen_hubs_blocking_at_once(false);
}

#[test]
fn sixteen_hubs_blocking_at_once_each_get_their_own_report_with_blocking_calls() {
    sixteen_hubs_blocking_at_once(true);
}
