//! The blocking detector: a greenthread that holds its hub too long is reported with its stack.
//!
//! # How it works
//!
//! * The runtime keeps a [switch probe](green::probe) per hub (a counter and the running
//!   greenthread, stored at every switch: no system call). A watchdog thread, one per process,
//!   looks at every watched hub a few times per resolution. When a hub's counter has not moved
//!   for longer than its resolution while the hub is not waiting in its poller, the slice running
//!   now (from a switch into a greenthread, or the root, until it switches back) is over budget.
//! * The watchdog then sends `SIGALRM` to that hub's OS thread only (`pthread_sigqueue`), once per
//!   slice. Nothing periodic interrupts a healthy hub. The handler copies the raw return
//!   addresses of the interrupted stack into a preallocated buffer (the `sys` module).
//! * When the slice ends (the greenthread's next green call, its end, or the root's next blocking
//!   call) the runtime calls the detector on the hub's thread, in normal context: it symbolises
//!   the stack, measures the slice (held: wall time from switch-in to switch-out; cpu: the
//!   thread's CPU time over the slice) and acts on the [`Mode`].
//!
//! Time the thread spent waiting for a CPU does not count against the budget: the watchdog takes
//! the kernel's run delay (`/proc/thread-self/schedstat`) over the slice off its wall time, and a
//! runnable thread that has not run since the last look is not alarmed until it runs again. On a
//! loaded machine (parallel `cargo test` on two cores) a 250 µs slice can take 11 ms of wall time
//! in a run queue; the greenthread did not hold the hub, the machine did. Time a virtual machine's
//! host takes from the guest (steal) is not seen per thread and still counts.
//!
//! The budget is per slice, not per hub pass: ten greenthreads each running 30 ms in one pass
//! under a 200 ms resolution are never blamed (eventlet's false positive). The watchdog sees a
//! slice's switch-in between two of its looks; the budget counts from the later one (a slice is
//! never alarmed before it has held the hub for the whole budget), the report's held and CPU
//! times from the earlier one, so they are never short of the slice: long by at most one look
//! (a quarter of the resolution, at most 20 ms, unless the watchdog thread was itself held up).
//!
//! ```
//! use std::time::Duration;
//! let cfg = green_detectors::BlockingConfig { resolution: Duration::from_millis(50), ..Default::default() };
//! green_detectors::enable(cfg).unwrap();
//! green::spawn(|| std::thread::sleep(Duration::from_millis(200))).wait().unwrap(); // blocks the hub
//! assert!(!green_detectors::take_reports().is_empty());
//! green_detectors::disable();
//! ```

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use green::probe::{Probe, SliceEnd, SliceVerdict};

use crate::sys::{self, Thread};

/// What to do with a slice that went over budget.
///
/// ```
/// use green_detectors::{BlockingConfig, Mode};
/// assert_eq!(Mode::default(), Mode::Collect);
/// green_detectors::enable(BlockingConfig { resolution: std::time::Duration::from_millis(500), mode: Mode::Collect }).unwrap();
/// green::spawn(|| green::sleep(std::time::Duration::ZERO)).wait().unwrap(); // nothing holds the hub
/// assert!(green_detectors::take_reports().is_empty());
/// green_detectors::disable();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Keep the report (see [`reports`]); the greenthread goes on.
    #[default]
    Collect,
    /// Keep the report and fail the greenthread at its next switch: its current green call
    /// unwinds, so its `wait()` returns an error (`is_panic()`) whose message is the report, as
    /// eventlet's `test_block_detect` expects.
    Fail,
    /// Like `Fail`, and the hub's thread panics with the report: the root's current green
    /// call (or its next one) panics with it, even if nobody waits on the greenthread that
    /// blocked (a blocking slice of the root panics at once). A blocking hub callback, which
    /// `Fail` cannot fail, panics the root too.
    Panic,
}

/// Settings of the blocking detector for one hub.
///
/// ```
/// let c = green_detectors::BlockingConfig::default();
/// assert_eq!(c.resolution, std::time::Duration::from_secs(1));
/// assert_eq!(c.mode, green_detectors::Mode::Collect);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BlockingConfig {
    /// Budget of one slice. Must not be zero.
    pub resolution: Duration,
    /// What to do with an over-budget slice.
    pub mode: Mode,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        BlockingConfig { resolution: Duration::from_secs(1), mode: Mode::Collect }
    }
}

/// A blocking slice: who held the hub, how long, and what it was doing.
///
/// Its `Display` starts with exactly
/// `BLOCKING greenthread=#<id> name=<name> spawned_at=<file>:<line> held_ms=<n> cpu_ms=<n>`
/// (`-` for a missing name or spawn site) followed by one line per frame,
/// `  at <function> (<file>:<line>)`, runtime frames trimmed.
///
/// ```
/// use std::time::Duration;
/// let cfg = green_detectors::BlockingConfig { resolution: Duration::from_millis(50), ..Default::default() };
/// green_detectors::enable(cfg).unwrap();
/// green::Builder::new().name("hog").spawn(|| std::thread::sleep(Duration::from_millis(200))).wait().unwrap();
/// let reports = green_detectors::take_reports();
/// let r = reports.iter().find(|r| r.name.as_deref() == Some("hog")).unwrap();
/// assert!(r.held >= Duration::from_millis(200), "{r}");
/// assert!(r.to_string().starts_with(&format!("BLOCKING greenthread=#{} name=hog spawned_at=", r.greenthread)));
/// green_detectors::disable();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockingReport {
    /// Ordinal id of the greenthread (0 for the root, `u64::MAX` for a hub callback).
    pub greenthread: u64,
    /// Its name.
    pub name: Option<String>,
    /// `file:line` of its spawn call.
    pub spawned_at: Option<String>,
    /// Wall time it held the hub, from the watchdog's look just before the switch-in (the
    /// switch stores no time stamp, so the hot path reads no clock) to the switch-out: never
    /// short of the real hold, longer by at most one watchdog tick (a quarter of the
    /// resolution, at most 20 ms) unless the watchdog itself was held up.
    pub held: Duration,
    /// CPU time its thread used meanwhile: about `held` for a busy loop, far less for a blocking
    /// system call.
    pub cpu: Duration,
    /// The blocking code's stack at alarm time, innermost first: `function (file:line)`.
    pub frames: Vec<String>,
}

impl fmt::Display for BlockingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BLOCKING greenthread=#{} name={} spawned_at={} held_ms={} cpu_ms={}",
            self.greenthread,
            self.name.as_deref().unwrap_or("-"),
            self.spawned_at.as_deref().unwrap_or("-"),
            self.held.as_millis(),
            self.cpu.as_millis()
        )?;
        for fr in &self.frames {
            write!(f, "\n  at {fr}")?;
        }
        Ok(())
    }
}

/// Misuse of the detector's settings.
///
/// ```
/// let cfg = green_detectors::BlockingConfig { resolution: std::time::Duration::ZERO, ..Default::default() };
/// let err = green_detectors::enable(cfg).unwrap_err();
/// assert!(err.to_string().contains("zero blocking-detection resolution"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// One watched hub, shared by its thread and the watchdog.
pub(crate) struct Watch {
    pub(crate) probe: Arc<Probe>,
    pub(crate) capture: Arc<sys::Capture>,
    pub(crate) hub: green::hub::WeakHubHandle,
    pub(crate) thread_name: String,
    pub(crate) thread: Thread,
    /// What the kernel says about the thread (run delay, state), where `/proc` has it.
    sched: Option<sys::SchedView>,
    resolution: Duration,
    active: AtomicBool,
    /// The detector's own work runs on the hub's thread (symbolising a report): nobody's slice.
    exempt: AtomicBool,
    /// Alarms the watchdog sent this hub's thread (see [`alarms_sent`]).
    alarms: std::sync::atomic::AtomicU64,
    pub(crate) state: Mutex<WatchState>,
}

#[derive(Default)]
pub(crate) struct WatchState {
    pub(crate) last_switches: u64,
    pub(crate) first_seen: Option<Instant>,
    cpu_at_first_seen: Duration,
    /// The thread's run delay at first sight (`None` without a [`sys::SchedView`]).
    delay_at_first_seen: Option<Duration>,
    /// When the watchdog last looked at the slice, and the thread's CPU time then.
    last_look: Option<(Instant, Duration)>,
    alarmed_for: Option<u64>,
    /// Switch count, start (wall, cpu) of the slice the last alarm was raised for.
    alarmed_slice: Option<(u64, Instant, Duration)>,
    /// The look before the slice was first seen (wall, cpu): its switch-in came after it.
    floor: Option<(Instant, Duration)>,
}

pub(crate) static REGISTRY: Mutex<Vec<Arc<Watch>>> = Mutex::new(Vec::new());
/// The watchdog thread runs (in this process: a forked child starts its own).
static WATCHDOG: AtomicBool = AtomicBool::new(false);

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// This thread's detector state.
struct Local {
    watch: Arc<Watch>,
    mode: Mode,
    reports: Vec<BlockingReport>,
}

impl Drop for Local {
    fn drop(&mut self) {
        unregister(&self.watch);
        sys::set_targets(None);
        // Thread exit (or a newer `enable`): the hub outlives this state; its hook must not call
        // into it. A newer `enable` installs its own hook after dropping this state.
        green::probe::set_slice_end_hook(None);
    }
}

impl Watch {
    /// Signals the hub's thread if it is still registered (under the lock `unregister` takes).
    pub(crate) fn send_alarm_if_active(&self) {
        let _st = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.active.load(Ordering::SeqCst) {
            self.capture.note_blocked_syscall(&self.thread);
            sys::send_alarm(&self.thread);
        }
    }
}

fn unregister(w: &Arc<Watch>) {
    {
        let _st = w.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        w.active.store(false, Ordering::SeqCst);
    }
    w.probe.clear_alarm();
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|x| !Arc::ptr_eq(x, w));
}

fn start_watchdog() {
    if WATCHDOG.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        std::thread::Builder::new()
            .name("green-blocking-watchdog".into())
            .spawn(watchdog)
            .expect("green-detectors: cannot start the watchdog thread");
    }
}

/// Runs `f`, the detectors' own work on this hub's thread (symbolising a report), as nobody's
/// slice: the watchdog does not count it against the greenthread that happens to run.
pub(crate) fn exempt<R>(f: impl FnOnce() -> R) -> R {
    struct Leave(Option<Arc<Watch>>);
    impl Drop for Leave {
        fn drop(&mut self) {
            if let Some(w) = &self.0 {
                w.exempt.store(false, Ordering::SeqCst);
            }
        }
    }
    let w = LOCAL.try_with(|l| l.try_borrow().ok().and_then(|l| l.as_ref().map(|x| x.watch.clone()))).ok().flatten();
    let already = w.as_ref().is_some_and(|w| w.exempt.swap(true, Ordering::SeqCst));
    let _leave = Leave(if already { None } else { w });
    f()
}

thread_local! {
    /// The detectors' locks, held by the forking thread across `fork`.
    #[allow(clippy::type_complexity)]
    static FORK_GUARDS: RefCell<Option<(
        MutexGuard<'static, Vec<Arc<Watch>>>,
        MutexGuard<'static, Vec<crate::sigquit::Dumped>>,
        MutexGuard<'static, ()>,
        MutexGuard<'static, Vec<Arc<Armed>>>,
    )>> = const { RefCell::new(None) };
}

/// `pthread_atfork` prepare handler: no other thread holds a detector lock while the process is
/// copied.
pub(crate) fn before_fork() {
    let registry = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dumped = crate::sigquit::dumped_lock();
    let installing = sys::installing_lock();
    let armed = ARMED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = FORK_GUARDS.try_with(|g| *g.borrow_mut() = Some((registry, dumped, installing, armed)));
}

/// `pthread_atfork` parent handler: releases the locks.
pub(crate) fn after_fork_in_parent() {
    let _ = FORK_GUARDS.try_with(|g| g.borrow_mut().take());
}

/// `pthread_atfork` child handler: the child has only the forking thread. The parent's watched
/// hubs, its watchdog and its SIGQUIT thread are not in it, and the runtime gives the child a
/// fresh hub: everything the detectors knew is forgotten (leaked, never dropped: it may refer to
/// threads that do not exist here), so detection is off in the child until `enable` is called
/// there, which starts a watchdog of the child's own.
pub(crate) fn after_fork_in_child() {
    let guards = FORK_GUARDS.try_with(|g| g.borrow_mut().take()).ok().flatten();
    if let Some((mut registry, mut dumped, installing, mut armed)) = guards {
        std::mem::forget(std::mem::take(&mut *registry));
        std::mem::forget(std::mem::take(&mut *dumped));
        std::mem::forget(std::mem::take(&mut *armed));
        drop(armed);
        drop(installing);
        drop(dumped);
        drop(registry);
    }
    let _ = ARMED_HERE.try_with(|a| {
        if let Ok(mut a) = a.try_borrow_mut() {
            std::mem::forget(a.take());
        }
    });
    WATCHDOG.store(false, Ordering::SeqCst);
    let _ = LOCAL.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            std::mem::forget(l.take());
        }
    });
    sys::set_targets(None);
    crate::calls::after_fork_in_child();
    crate::sigquit::after_fork_in_child();
}

/// How often the watchdog looks at a hub with budget `resolution`.
fn look_every(resolution: Duration) -> Duration {
    (resolution / 4).clamp(Duration::from_micros(500), Duration::from_millis(20))
}

fn watchdog() {
    // Foreign process-wide SIGALRMs must not land on this thread (it rewrites the handler chain).
    sys::block_sigalrm_here();
    loop {
        let watches: Vec<Arc<Watch>> = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let tick = watches.iter().map(|w| look_every(w.resolution)).min().unwrap_or(Duration::from_millis(20));
        for w in &watches {
            check(w);
        }
        std::thread::sleep(tick);
    }
}

fn check(w: &Watch) {
    if !w.active.load(Ordering::SeqCst) {
        return;
    }
    let now = Instant::now();
    let sw = w.probe.switches();
    let mut st = w.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if w.probe.in_poll() || w.exempt.load(Ordering::SeqCst) || sw != st.last_switches || st.first_seen.is_none() {
        st.last_switches = sw;
        st.first_seen = Some(now);
        st.cpu_at_first_seen = w.thread.cpu_time();
        // The slice began after the previous look (one tick ago, or more if the watchdog itself
        // was held up by a loaded machine).
        st.floor = st.last_look.or(Some((now, st.cpu_at_first_seen)));
        st.last_look = Some((now, st.cpu_at_first_seen));
        st.delay_at_first_seen = w.sched.as_ref().and_then(sys::SchedView::run_delay);
        return;
    }
    let since = st.first_seen.expect("set above");
    let cpu = w.thread.cpu_time();
    let last_look = st.last_look.replace((now, cpu));
    if now.duration_since(since) >= w.resolution
        && st.alarmed_for != Some(sw)
        && own_time(w, &st, now, cpu, last_look).is_some_and(|own| own >= w.resolution)
    {
        st.alarmed_for = Some(sw);
        st.alarmed_slice = Some(match st.floor {
            Some((t, cpu)) => (sw, t, cpu),
            None => (sw, since, st.cpu_at_first_seen),
        });
        // Still under the lock: `unregister` takes it to clear `active`, so a thread that has
        // unregistered (and may have exited) is never signalled.
        if w.active.load(Ordering::SeqCst) {
            w.probe.raise_alarm(sw);
            w.capture.note_blocked_syscall(&w.thread);
            sys::send_alarm(&w.thread);
            w.alarms.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How much of the slice seen since `st.first_seen` was the thread's own (on a CPU, or asleep in
/// a system call) rather than spent waiting for a CPU; `None` when that cannot be told yet.
///
/// Completed waits are in the kernel's run delay. A wait in progress is not (the kernel adds it
/// when the thread next runs), so for a runnable thread it is bounded by the time since the last
/// look that the thread was not on a CPU; a runnable thread that has not run at all since the
/// last look may be waiting all along, and is looked at again on the next tick. Without `/proc`
/// the whole wall time counts.
fn own_time(
    w: &Watch,
    st: &WatchState,
    now: Instant,
    cpu: Duration,
    last_look: Option<(Instant, Duration)>,
) -> Option<Duration> {
    let wall = now.duration_since(st.first_seen?);
    let (Some(view), Some(delay0)) = (&w.sched, st.delay_at_first_seen) else { return Some(wall) };
    let Some(sample) = view.sample() else { return Some(wall) };
    let own = wall.saturating_sub(sample.run_delay.saturating_sub(delay0));
    if !sample.runnable {
        return Some(own);
    }
    let (looked_at, cpu_then) = last_look?;
    let ran = cpu.saturating_sub(cpu_then);
    if ran.is_zero() {
        return None;
    }
    Some(own.saturating_sub(now.duration_since(looked_at).saturating_sub(ran)))
}

/// Turns blocking detection on (or off) for this thread's hub as eventlet's
/// `debug.hub_blocking_detection(state, resolution)` does: in [`Mode::Fail`], so the offender's
/// `wait()` returns an error carrying the report (eventlet's `test_block_detect`: the blocking
/// greenlet raises), and the report is kept for [`take_reports`] too. Sub-10 ms resolutions work.
/// For reports alone, [`enable`] with [`Mode::Collect`].
///
/// # Errors
///
/// A zero `resolution` is refused (it would flag every slice).
///
/// ```
/// use std::time::Duration;
/// assert!(green_detectors::hub_blocking_detection(true, Duration::ZERO).is_err());
/// green_detectors::hub_blocking_detection(true, Duration::from_millis(50)).unwrap();
/// let gt = green::spawn(|| std::thread::sleep(Duration::from_millis(200))); // blocks the hub
/// let err = gt.wait().unwrap_err(); // as eventlet's test_block_detect expects
/// assert!(err.panic_message().unwrap().starts_with("BLOCKING greenthread="));
/// let reports: Vec<_> = green_detectors::take_reports()
///     .into_iter()
///     .filter(|r| r.greenthread == gt.id().as_u64())
///     .collect();
/// assert_eq!(reports.len(), 1);
/// assert!(reports[0].to_string().starts_with(&format!("BLOCKING greenthread=#{} ", gt.id().as_u64())));
/// green_detectors::hub_blocking_detection(false, Duration::from_millis(50)).unwrap();
/// ```
pub fn hub_blocking_detection(on: bool, resolution: Duration) -> Result<(), ConfigError> {
    if on {
        enable(BlockingConfig { resolution, mode: Mode::Fail })
    } else {
        disable();
        Ok(())
    }
}

/// Turns blocking detection on for this thread's hub with `config` (replacing earlier settings).
///
/// # Errors
///
/// A zero resolution.
///
/// ```
/// use green_detectors::{BlockingConfig, Mode};
/// // A wide budget: in fail mode any slice over it fails (the OS may deschedule a busy machine).
/// let cfg = BlockingConfig { resolution: std::time::Duration::from_millis(100), mode: Mode::Fail };
/// green_detectors::enable(cfg).unwrap();
/// let gt = green::spawn(|| { std::thread::sleep(std::time::Duration::from_millis(400)); green::sleep(std::time::Duration::ZERO) });
/// let err = gt.wait().unwrap_err();
/// assert!(err.panic_message().unwrap().starts_with("BLOCKING greenthread="));
/// green_detectors::disable();
/// ```
pub fn enable(config: BlockingConfig) -> Result<(), ConfigError> {
    if config.resolution.is_zero() {
        return Err(ConfigError(
            "green-detectors: a zero blocking-detection resolution would flag every slice; pass a positive budget \
             such as Duration::from_millis(50)"
                .into(),
        ));
    }
    disable();
    // Drop the previous state (if any) before the new one is installed.
    let old = LOCAL.with(|l| l.borrow_mut().take());
    drop(old);
    sys::install();
    sys::register_fork_handlers();
    green::debug::hide_frames_under(concat!(env!("CARGO_MANIFEST_DIR"), "/src/"));
    let thread = Thread::current();
    // The first slice the watchdog sees began after this (or is the one running now, of which
    // only the part from here on is watched): its floor.
    let state = WatchState { last_look: Some((Instant::now(), thread.cpu_time())), ..WatchState::default() };
    let watch = Arc::new(Watch {
        probe: green::probe::probe(),
        capture: Arc::new(sys::Capture::new()),
        hub: green::hub::handle().downgrade(),
        thread_name: std::thread::current().name().unwrap_or("<unnamed>").to_string(),
        thread,
        sched: sys::SchedView::of_current_thread(),
        resolution: config.resolution,
        active: AtomicBool::new(true),
        exempt: AtomicBool::new(false),
        alarms: std::sync::atomic::AtomicU64::new(0),
        state: Mutex::new(state),
    });
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(watch.clone());
    sys::set_targets(Some((&watch.probe, &watch.capture)));
    watch.probe.clear_alarm();
    LOCAL.with(|l| *l.borrow_mut() = Some(Local { watch, mode: config.mode, reports: Vec::new() }));
    green::probe::set_slice_end_hook(Some(Box::new(on_slice_end)));
    start_watchdog();
    Ok(())
}

/// Turns blocking detection off for this thread's hub (collected reports stay readable).
///
/// ```
/// green_detectors::disable();
/// ```
pub fn disable() {
    let old = LOCAL.with(|l| l.borrow_mut().as_mut().map(|x| x.watch.clone()));
    if let Some(w) = old {
        unregister(&w);
        sys::set_targets(None);
        green::probe::set_slice_end_hook(None);
        // A hub armed for holder captures (a harness run) stays armed.
        let _ = ARMED_HERE.try_with(|a| {
            if let Some(a) = a.borrow().as_ref().filter(|a| Arc::ptr_eq(&a.0.probe, &w.probe)) {
                sys::set_targets(Some((&a.0.probe, &a.0.capture)));
            }
        });
    }
}

/// Test support: a thread that can be stormed with the detector's own alarms.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct AlarmTarget(Thread);

impl AlarmTarget {
    /// The calling thread.
    pub fn current() -> AlarmTarget {
        sys::install();
        AlarmTarget(sys::current_thread())
    }

    /// Sends one of the detector's alarms to the thread.
    pub fn send(&self) -> bool {
        sys::send_alarm(&self.0)
    }
}

/// The reports collected on this thread so far.
///
/// ```
/// assert!(green_detectors::reports().is_empty());
/// ```
pub fn reports() -> Vec<BlockingReport> {
    LOCAL.with(|l| l.borrow().as_ref().map(|x| x.reports.clone()).unwrap_or_default())
}

/// How many `SIGALRM`s the watchdog has sent this thread's hub since detection was enabled (0
/// when it is off): at most one per over-budget slice, none while the hub is healthy, so user
/// system calls that `SA_RESTART` does not restart are not disturbed on good code.
///
/// ```
/// use std::time::Duration;
/// green_detectors::enable(green_detectors::BlockingConfig {
///     resolution: Duration::from_millis(50),
///     mode: green_detectors::Mode::Collect,
/// })
/// .unwrap();
/// green::sleep(Duration::from_millis(100)); // idle in the poller: nobody's slice
/// assert_eq!(green_detectors::blocking::alarms_sent(), 0);
/// green_detectors::disable();
/// ```
pub fn alarms_sent() -> u64 {
    LOCAL.with(|l| l.borrow().as_ref().map_or(0, |x| x.watch.alarms.load(Ordering::Relaxed)))
}

/// Takes the reports collected on this thread so far.
///
/// ```
/// assert!(green_detectors::take_reports().is_empty());
/// ```
pub fn take_reports() -> Vec<BlockingReport> {
    LOCAL.with(|l| l.borrow_mut().as_mut().map(|x| std::mem::take(&mut x.reports)).unwrap_or_default())
}

/// A hub whose holder's stack [`holder_stack`] can capture while blocking detection is off
/// (see [`arm_holder_capture`]).
struct Armed {
    probe: Arc<Probe>,
    capture: Arc<sys::Capture>,
    thread: Thread,
    /// False once the thread is exiting: it is never signalled after that (checked under the lock).
    active: Mutex<bool>,
}

static ARMED: Mutex<Vec<Arc<Armed>>> = Mutex::new(Vec::new());

/// This thread's [`Armed`] entry; its drop (thread exit, or a hub with another probe) withdraws it.
struct ArmedHere(Arc<Armed>);

impl Drop for ArmedHere {
    fn drop(&mut self) {
        sys::clear_targets_if(&self.0.capture);
        *self.0.active.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = false;
        ARMED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|a| !Arc::ptr_eq(a, &self.0));
    }
}

thread_local! {
    static ARMED_HERE: RefCell<Option<ArmedHere>> = const { RefCell::new(None) };
}

/// Lets [`holder_stack`] capture this thread's hub's stack with the detector's signal even while
/// blocking detection is off: nothing periodic runs and nothing is judged; only an explicit
/// `holder_stack` sends a signal. What a harness arms for every run, so that a run past its
/// wall-clock budget shows where it is stuck. Cheap after the first call on a thread (a
/// thread-local check); with detection on it does nothing (the detector captures already).
///
/// ```
/// use std::time::{Duration, Instant};
/// green_detectors::blocking::arm_holder_capture(); // detection stays off
/// let probe = green::probe::probe();
/// let looker = std::thread::spawn(move || green_detectors::blocking::holder_stack(&probe));
/// let t0 = Instant::now();
/// while t0.elapsed() < Duration::from_millis(300) {} // holds the hub while the other thread looks
/// let (_who, frames) = looker.join().unwrap().expect("the holder's stack");
/// assert!(!frames.is_empty());
/// ```
pub fn arm_holder_capture() {
    if LOCAL.with(|l| l.borrow().as_ref().is_some_and(|x| x.watch.active.load(Ordering::SeqCst))) {
        return;
    }
    sys::register_fork_handlers();
    let probe = green::probe::probe();
    ARMED_HERE.with(|here| {
        let mut here = here.borrow_mut();
        match here.as_ref() {
            Some(a) if Arc::ptr_eq(&a.0.probe, &probe) => sys::set_targets(Some((&a.0.probe, &a.0.capture))),
            _ => {
                sys::install();
                let armed = Arc::new(Armed {
                    probe,
                    capture: Arc::new(sys::Capture::new()),
                    thread: Thread::current(),
                    active: Mutex::new(true),
                });
                ARMED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(armed.clone());
                // Point the handler at the new entry before the old one (if any) is dropped.
                sys::set_targets(Some((&armed.probe, &armed.capture)));
                *here = Some(ArmedHere(armed));
            }
        }
    });
}

/// What holds the hub of `probe` now, read from another thread: the holder's label and the
/// symbolised stack the detector's signal captured from it. `None` when neither blocking
/// detection nor [`arm_holder_capture`] is on for that hub (the signal handler that captures
/// stacks is the detector's) or when the hub switched or idled meanwhile (nothing holds it).
/// Takes 10 ms or more: the alarm is sent and the capture waited for (at most a second). What a harness's budget
/// watchdog prints before it aborts a run that a busy loop holds.
///
/// ```
/// let probe = green::probe::probe();
/// // Detection is off on this hub, and this thread is not stuck: nothing to show.
/// assert!(green_detectors::blocking::holder_stack(&probe).is_none());
/// ```
pub fn holder_stack(probe: &Arc<Probe>) -> Option<(String, Vec<String>)> {
    let watch = REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .find(|w| Arc::ptr_eq(&w.probe, probe))
        .cloned();
    let armed = match watch {
        Some(_) => None,
        None => Some(
            ARMED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .find(|a| Arc::ptr_eq(&a.probe, probe))
                .cloned()?,
        ),
    };
    let before = probe.switches();
    if probe.in_poll() {
        return None;
    }
    let capture = match (&watch, &armed) {
        (Some(w), _) => {
            w.send_alarm_if_active();
            w.capture.clone()
        }
        (None, Some(a)) => {
            let active = a.active.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !*active {
                return None;
            }
            a.capture.note_blocked_syscall(&a.thread);
            sys::send_alarm(&a.thread);
            a.capture.clone()
        }
        (None, None) => return None,
    };
    // The handler runs when the thread next gets a CPU: on a loaded machine that can take a while.
    let t0 = Instant::now();
    let ips = loop {
        std::thread::sleep(Duration::from_millis(10));
        if probe.switches() != before || probe.in_poll() {
            return None;
        }
        let ips = capture.peek(before);
        if !ips.is_empty() || t0.elapsed() >= Duration::from_secs(1) {
            break ips;
        }
    };
    let frames = crate::symbols::symbolize(&ips);
    let who = capture.label(before).unwrap_or_else(|| format!("#{}", probe.current()));
    Some((who, frames))
}

/// Called by the runtime on the hub's thread when an alarmed slice ends.
fn on_slice_end(end: &SliceEnd) -> SliceVerdict {
    let now = Instant::now();
    let local = LOCAL.try_with(|l| l.borrow().as_ref().map(|x| (x.watch.clone(), x.mode))).ok().flatten();
    let Some((watch, mode)) = local else { return SliceVerdict::Continue };
    let slice = watch.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).alarmed_slice.take();
    // Only the slice the alarm was raised for is reported.
    let Some((sw, start, cpu0)) = slice.filter(|s| s.0 == end.slice) else { return SliceVerdict::Continue };
    let ips = watch.capture.take(sw);
    let cpu = watch.thread.cpu_time().saturating_sub(cpu0);
    let frames = exempt(|| crate::symbols::symbolize(&ips));
    let report = BlockingReport {
        greenthread: end.greenthread,
        name: end.name.clone(),
        spawned_at: end.spawn_site.map(|s| format!("{}:{}", s.file(), s.line())),
        held: now.duration_since(start),
        cpu,
        frames,
    };
    let text = report.to_string();
    let _ = LOCAL.try_with(|l| {
        if let Some(x) = l.borrow_mut().as_mut() {
            x.reports.push(report);
        }
    });
    match mode {
        Mode::Collect => SliceVerdict::Continue,
        Mode::Fail => SliceVerdict::Fail(text),
        Mode::Panic => SliceVerdict::Panic(text),
    }
}
