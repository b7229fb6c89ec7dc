//! The fault-injecting test harness for code built on the [`green`] runtime. See
//! `docs/ARCHITECTURE.md` in the repository for how the hub, the hooks and the harness fit
//! together.
//!
//! Downstream crates take this crate under `[dev-dependencies]`. [`Harness::run`] runs a test body
//! as the root greenlet of a fresh hub on the calling thread, under a seeded, replayable
//! perturbation, tears the hub down, and returns a [`Report`] (or fails the test with it):
//!
//! * a **virtual clock**: sleeping an hour takes milliseconds; time jumps when every greenthread is
//!   blocked (after a real-time grace for fds; a `tpool` job in flight holds it still);
//! * **timer jitter**: deadlines delayed by a tape-drawn amount drawn per timer (never earlier;
//!   clamped between its greenthread's pending timers, so one greenthread's own timers keep their
//!   order), and ties between timers of different greenthreads broken by the tape;
//! * **scheduling perturbation**: the ready batch reordered where no promise orders it (spawns,
//!   `sleep(0)` yields and fd wake-ups freely; wake-ups handed off by a semaphore, queue or event
//!   move against the others but keep their FIFO order among their kind), or one greenthread per
//!   step by priority under [`Strategy::Pct`]; ties between timers of different greenthreads broken
//!   by the tape;
//! * **listener faults** on real sockets: `EINTR`, spurious `WouldBlock`, short reads and writes,
//!   resets, broken pipes, refused connections, spurious, delayed and (with shuffling) reordered
//!   readiness, close-while-waiting (simulated), each logged with the greenthread and fd ordinal
//!   it hit;
//! * the **detectors**: blocking detection, leaks, unobserved panics, invariant violations, and
//!   stack overflow (always on: a greenthread that hits its guard page is named before the process
//!   ends, not a bare `SIGSEGV`).
//!
//! Every perturbation draws from one [`Tape`]: 0 means "none here"; a seed drives the whole run
//! and an explicit tape (what proptest and shrinking produce) reads as 0 after its end, so
//! shrinking gives fewer and smaller faults. Draws are made per operation the program performs
//! (a read, a write, a wait, a timer, a spawn), never per poll event, so they do not depend on
//! how the kernel batches readiness. A failing run prints one replay line.
//!
//! # Which fault reaches which file
//!
//! A fault is injected only where the kernel could return it ([`Fault::applies_to`]):
//!
//! | fault | TCP stream | Unix stream | pipe | TCP/Unix listener | UDP/Unix datagram | raw fd (`trampoline`) |
//! |---|---|---|---|---|---|---|
//! | `Eintr` | read, write | read, write | read, write | accept | send, recv | wait (returns `Interrupted`) |
//! | `WouldBlock` | read, write | read, write | read, write | accept | send, recv | — |
//! | `Short` | read, write | read, write | read, write | — | — | — |
//! | `Reset` (stays in force) | read, write | — | — | — | — | — |
//! | `BrokenPipe` (stays in force) | write | write | write | — | — | — |
//! | `Refused` | connect | connect | — | — | — | — |
//! | `Spurious`, `Delayed`, `Closed` | wait | wait | wait | wait | wait | wait |
//! | `Reorder` | the ready batch a poll's wake-ups join runs in a drawn order (as `shuffle(true)`) | | | | | |
//!
//! # Exactness
//!
//! Same tape, same run: the fault log, the switch trace and the dumps repeat exactly for a hub
//! under the virtual clock whose sockets talk to each other (TCP and Unix sockets: loopback TCP
//! traffic is settled before each poll and before each read). Traffic with other processes (or
//! other threads' hubs) and UDP datagrams arrive when the kernel delivers them, so such a run
//! replays its faults and decisions but not necessarily its interleaving; `Report::exact` says
//! which kind a run was.
//!
//! ```
//! use std::time::Duration;
//! let report = green_harness::Harness::new().run(|| {
//!     let gt = green::spawn(|| { green::sleep(Duration::from_secs(3600)); 7 }); // virtual hour
//!     assert_eq!(gt.wait().unwrap(), 7);
//! });
//! assert!(report.switches >= 1);
//! ```
//!
//! # Debugging a failing test
//!
//! 1. The failure ends with a line `replay: GREEN_SEED=<n> ... cargo test <name> -- --exact` (or
//!    `GREEN_TAPE=<hex>` for an explicit tape): run it to get the same run again (same tape, same
//!    virtual clock, same order, same faults). The environment wins over the test's builder
//!    calls, so this works for `Harness::new().seed(1)` tests too.
//! 2. The report lists the faults injected ([`FaultEvent`]s: `fault Short(3) on Read of fd#2 by
//!    #4`, ...), the blocking reports, leaks, unobserved panics and invariant violations; a
//!    failing run prints its captured panics and the first 40 perturbations before the replay
//!    line.
//! 3. Add `green::debug::format_greenthreads()`, `format_hub_timers()` and
//!    `format_hub_listeners()` dumps where the body waits (with `hub_timer_stacks(true)` for
//!    creation stacks); under the virtual clock they are deterministic.
//! 4. [`Harness::check_determinism`] runs a tape twice and shows the first switch where the runs
//!    differ, when code depends on something outside the tape (real time, thread scheduling).
//! 5. Knobs come from the environment: `GREEN_SEED`, `GREEN_TAPE`, `GREEN_TAPE_LEN`,
//!    `GREEN_DENSITY`, `GREEN_CLOCK`, `GREEN_GRACE_MS`, `GREEN_JITTER_MS`, `GREEN_SHUFFLE`,
//!    `GREEN_FAULTS`, `GREEN_BLOCKING_MS`, `GREEN_BUDGET_MS`, `GREEN_HANG_MS`, `GREEN_HANG_JUMPS`,
//!    `GREEN_PCT_STEPS`, and for searches `GREEN_EXPLORE`, `GREEN_STRATEGY`,
//!    `GREEN_EXPLORE_THREADS`, `GREEN_PARTITION`, `GREEN_SHRINK_MS`, `GREEN_REPLAY`, `GREEN_RUN` (see [`Config`];
//!    [`Config::hermetic`] ignores them).
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

mod config;
mod event;
mod explore;
mod perturb;
pub mod pool_model;
pub mod snapshot;
pub mod strategy;
mod tape;
mod timeline;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::config::{
    format_ms, parse_ms, EXPLORE_ENV, HANG_ENV, HANG_JUMPS_ENV, PARTITION_ENV, PCT_STEPS_ENV, REPLAY_ENV, RUN_ENV,
    SHRINK_ENV, STRATEGY_ENV, THREADS_ENV,
};
pub use crate::config::{
    Config, Fault, BLOCKING_ENV, BUDGET_ENV, CLOCK_ENV, DENSITY_ENV, FAULTS_ENV, GRACE_ENV, JITTER_ENV, SEED_ENV,
    SHUFFLE_ENV, TAPE_ENV, TAPE_LEN_ENV,
};
pub use crate::event::{FaultEvent, FdKind, IoFault, IoOp, Perturbation};
pub use crate::explore::{current_run, parse_partition, Exploration, Failure, Search, Strategy, LANES};
pub use crate::tape::Tape;
pub use green_detectors::BlockingReport;
/// What blocking detection does with a slice over its resolution ([`Harness::blocking_mode`]):
/// `green_detectors::Mode`, re-exported so a crate with only `green-harness` under
/// `[dev-dependencies]` can name it.
pub use green_detectors::Mode as BlockingMode;

pub use green::hub::wait_all_blocked;

/// Marks the running greenthread as one the harness may kill at its blocking calls when
/// [`Fault::Kill`] is on (a worker cancelled after it sent a request and before it read the
/// reply, say). Without the fault it does nothing.
///
/// ```
/// use green_harness::{Fault, Harness, Tape};
/// let (report, r) = Harness::new().tape(Tape::new(vec![1; 4])).faults(&[Fault::Kill]).try_run(|| {
///     let w = green::spawn(|| {
///         green_harness::killable();
///         green::sleep(std::time::Duration::from_millis(1));
///     });
///     w.join()
/// });
/// assert!(r.unwrap().unwrap_err().is_killed());
/// assert!(report.faults.iter().any(|f| f.what == green_harness::Perturbation::Kill));
/// ```
pub fn killable() {
    green::hooks::set_killable(true);
}
/// Runs a test function under a default [`Harness`]: `#[green_harness::test]` in place of
/// `#[test]`.
///
/// The body runs as the root greenlet of a fresh hub, with the virtual clock and the detectors, and
/// the test fails as [`Harness::run`] fails it (a panic, a leak, an unobserved panic, a hub-context
/// panic, an invariant violation), printing the replay line. The function may return a value
/// (`Result<(), E>` included); other attributes (`#[should_panic]`, `#[ignore]`) are kept.
///
/// Knobs, all optional: `seed = N`, `shuffle` (or `shuffle = bool`), `jitter_ms = N`,
/// `faults = [Short, Eintr, ...]` ([`Fault`] variants), `real_clock` (or `virtual_clock = bool`),
/// `blocking_ms = N` (blocking detection with that budget), `budget_ms = N`, `allow_leaks`
/// (greenthreads still parked when the body returns, a server's accept loop say, are unwound
/// without failing the test), `allow_blocking` (blocking reports are collected without failing
/// the test: [`Harness::fail_on_blocking`]). Knobs left out come
/// from the environment as for [`Harness::new`] ([`Config`]); `GREEN_TAPE` or `GREEN_SEED` in the
/// environment wins over `seed`, so a failure's replay line replays it.
///
/// ```
/// # use std::time::Duration;
/// #[green_harness::test(seed = 7, shuffle, jitter_ms = 2, faults = [Short])]
/// fn a_sleeping_hour_is_virtual() {
///     let gt = green::spawn(|| green::sleep(Duration::from_secs(3600)));
///     gt.wait().unwrap();
/// }
/// ```
///
/// An unknown knob is a compile error that lists the knobs:
///
/// ```compile_fail
/// #[green_harness::test(colour = 3)]
/// fn t() {}
/// ```
pub use green_harness_macros::test;
pub use insta;
pub use proptest;

/// What a run observed.
///
/// ```
/// let r = green_harness::Harness::new().seed(7).shuffle(true).run(|| {
///     let gts: Vec<_> = (0..3).map(|i| green::spawn(move || green::sleep(std::time::Duration::from_millis(i)))).collect();
///     gts.into_iter().for_each(|g| g.wait().unwrap());
/// });
/// assert_eq!(r.tape.seed(), Some(7));
/// assert!(r.exact && r.leaks.is_none() && r.blocking.is_empty());
/// assert!(r.switches >= 3 && r.timers_fired >= 2);
/// assert_eq!(r.trace.len, r.switches);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The tape the run used (a seeded tape keeps its seed and the bytes it drew).
    pub tape: Tape,
    /// Draws the run made from its tape.
    pub draws: usize,
    /// True when the run drew past the end of an explicit tape: the rest of the run was not
    /// perturbed (a longer tape, or a seed, perturbs it all).
    pub tape_exhausted: bool,
    /// True when the run replays exactly from its tape: its sockets talked only to each other
    /// and their loopback traffic settled before every poll. False when it talked to another
    /// process (or another thread's hub) or sent a UDP datagram: its faults and decisions
    /// replay, its interleaving may not ([`green::hooks::replay_exact`]).
    pub exact: bool,
    /// Perturbations applied, in order, each with the greenthread and fd it hit and the hub time.
    pub faults: Vec<FaultEvent>,
    /// Panics the hub caught in hub context, one line each.
    pub exceptions: Vec<String>,
    /// Blocking reports (when blocking detection was on).
    pub blocking: Vec<BlockingReport>,
    /// Leaks found when the body returned, if any.
    pub leaks: Option<green_detectors::LeakReport>,
    /// Greenthread panics nobody waited for, each with the greenthread's spawn site.
    pub unobserved_panics: Vec<String>,
    /// Invariant violations the runtime recorded.
    pub invariant_violations: Vec<String>,
    /// Context switches the run performed.
    pub switches: u64,
    /// Timers the run fired.
    pub timers_fired: u64,
    /// Scheduling steps a priority-scheduled (PCT) run took (0 under other strategies).
    pub steps: u32,
    /// Panics raised during the run (in greenthreads, hub callbacks or the body, expected or
    /// not, and in destructors run by the teardown that unwinds the greenthreads left), captured
    /// instead of printed: `panicked at file:line:col: message`, oldest first.
    /// Printed with the failure when the run fails ([`Harness::capture_panics`]).
    pub panics: Vec<String>,
    /// The greenthreads switched into, in order (for determinism checks): the first
    /// [`green::hooks::TRACE_HEAD`] ids, and the count and a hash of all of them.
    pub trace: green::hooks::Trace,
}

/// Runs test bodies on a fresh hub under a seeded, replayable perturbation.
///
/// ```
/// use std::time::Duration;
/// use green_harness::{Fault, Harness};
/// let report = Harness::new()
///     .seed(42)
///     .jitter(Duration::from_millis(2)) // timers fire up to 2 ms late
///     .shuffle(true) // independent greenthreads reordered
///     .faults(&[Fault::Short, Fault::Eintr])
///     .run(|| {
///         let q = green::Queue::new();
///         let q2 = q.clone();
///         let producer = green::spawn(move || (0..3).for_each(|i| q2.put(i)));
///         assert_eq!((0..3).map(|_| q.get()).collect::<Vec<_>>(), [0, 1, 2]); // FIFO holds
///         producer.wait().unwrap();
///     });
/// // The same seed replays the same run.
/// let again = Harness::new().seed(42).jitter(Duration::from_millis(2)).shuffle(true).faults(&[Fault::Short, Fault::Eintr]).run(|| {
///     let q = green::Queue::new();
///     let q2 = q.clone();
///     let producer = green::spawn(move || (0..3).for_each(|i| q2.put(i)));
///     assert_eq!((0..3).map(|_| q.get()).collect::<Vec<_>>(), [0, 1, 2]);
///     producer.wait().unwrap();
/// });
/// assert_eq!((report.trace, report.faults), (again.trace, again.faults));
/// ```
#[derive(Clone, Debug)]
pub struct Harness {
    config: Config,
    trace_path: Option<std::path::PathBuf>,
    blocking_mode: green_detectors::Mode,
    fail_on_exceptions: bool,
    fail_on_leaks: bool,
    fail_on_blocking: bool,
    keep_going: bool,
    /// Runs of a search: panics are not printed (the search reports what it found).
    quiet: bool,
    /// Panics during a run are captured into its report instead of printed (shown on failure).
    capture_panics: bool,
    /// Record the hub's behaviour signal (coverage-guided runs).
    coverage: bool,
    /// A search run's base: the knobs of the test that started the search, which a replay of
    /// the run starts from. Where the run's strategy changed one (a swarm run turning the test's
    /// faults, jitter or shuffling off), the replay line names it even at its default.
    base: Option<Box<Config>>,
    /// A search run's own strategy (its config says `Random` for every non-PCT run, whose knobs
    /// the strategy set): named in the replay line.
    run_strategy: Option<Strategy>,
}

thread_local! {
    /// On a search's own threads: the name of the test thread that started the search (the
    /// test a replay line must name, where the thread's own name is `green-explore-<k>`).
    pub(crate) static SEARCH_TEST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// What a failing run prints before its verdict and replay line: the panics it captured and the
/// perturbations it made (the report's fault log, the first [`FAULT_LOG_LINES`]).
fn print_captured(report: &Report) {
    if !report.panics.is_empty() {
        eprintln!("green-harness: panics during the run (captured):\n  {}", report.panics.join("\n  "));
    }
    if let Some(log) = fault_log(report) {
        eprintln!("{log}");
    }
}

/// Fault log entries a failing run prints.
const FAULT_LOG_LINES: usize = 40;

/// The report's fault log as a failing run prints it, or `None` when nothing was perturbed.
fn fault_log(report: &Report) -> Option<String> {
    if report.faults.is_empty() {
        return None;
    }
    let mut s = format!("green-harness: perturbations of this run ({}):", report.faults.len());
    for e in report.faults.iter().take(FAULT_LOG_LINES) {
        s.push_str(&format!("\n  {e}"));
    }
    if report.faults.len() > FAULT_LOG_LINES {
        s.push_str(&format!(
            "\n  ... and {} more (Report::faults has them all)",
            report.faults.len() - FAULT_LOG_LINES
        ));
    }
    Some(s)
}

/// What a run left besides its report (for searches).
#[derive(Default)]
struct Extras {
    coverage: std::collections::HashSet<u64>,
    /// The last panic's message and location (quiet runs).
    panic: Option<(String, String)>,
}

impl Default for Harness {
    fn default() -> Self {
        Harness {
            config: Config::default(),
            trace_path: None,
            blocking_mode: green_detectors::Mode::Collect,
            fail_on_exceptions: true,
            fail_on_leaks: true,
            fail_on_blocking: true,
            keep_going: false,
            quiet: false,
            capture_panics: true,
            coverage: false,
            base: None,
            run_strategy: None,
        }
    }
}

impl Harness {
    /// A harness configured from the environment ([`Config::default`]).
    ///
    /// ```
    /// let _h = green_harness::Harness::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A harness with these settings.
    ///
    /// ```
    /// let h = green_harness::Harness::with_config(green_harness::Config::default());
    /// h.run(|| ());
    /// ```
    pub fn with_config(config: Config) -> Self {
        Harness { config, ..Self::default() }
    }

    /// Uses this seed (a [`Tape::seeded`] driving the whole run), unless the environment sets
    /// `GREEN_SEED` or `GREEN_TAPE`: the environment wins, so a replay line replays the test.
    ///
    /// ```
    /// let r = green_harness::Harness::with_config(green_harness::Config::hermetic()).seed(7).run(|| ());
    /// assert_eq!(r.tape.seed(), Some(7));
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        if !self.config.from_env.tape_or_seed {
            self.config.seed = seed;
            self.config.tape = None;
        }
        self
    }

    /// Uses this tape, unless the environment sets `GREEN_SEED` or `GREEN_TAPE` (which win).
    ///
    /// ```
    /// let h = green_harness::Harness::with_config(green_harness::Config::hermetic());
    /// let r = h.tape(green_harness::Tape::new(vec![1, 2])).run(|| ());
    /// assert_eq!(r.tape.bytes(), &[1, 2]);
    /// ```
    pub fn tape(mut self, tape: Tape) -> Self {
        if !self.config.from_env.tape_or_seed {
            // A seeded tape stays seeded (its bytes so far are only what it has drawn).
            match tape.seeded_params() {
                Some((seed, density, limit)) => {
                    self.config.tape = None;
                    self.config.seed = seed;
                    if !self.config.from_env.density {
                        self.config.density = density;
                    }
                    if !self.config.from_env.tape_len {
                        self.config.tape_len = limit;
                    }
                }
                None => self.config.tape = Some(tape.bytes().to_vec()),
            }
        }
        self
    }

    /// The real-time grace for fds before virtual time jumps (unless `GREEN_GRACE_MS` is set).
    ///
    /// ```
    /// green_harness::Harness::new().grace(std::time::Duration::from_millis(2)).run(|| ());
    /// ```
    pub fn grace(mut self, grace: std::time::Duration) -> Self {
        if !self.config.from_env.grace {
            self.config.grace = grace;
        }
        self
    }

    /// The probability that a draw of a seeded tape is non-zero (unless `GREEN_DENSITY` is set).
    ///
    /// ```
    /// let r = green_harness::Harness::with_config(green_harness::Config::hermetic()).density(1.0).shuffle(true).run(|| {
    ///     let a = green::spawn(|| ());
    ///     let b = green::spawn(|| ());
    ///     a.join().unwrap();
    ///     b.join().unwrap();
    /// });
    /// assert!(r.draws > 0 && r.tape.active() == r.draws);
    /// ```
    pub fn density(mut self, density: f64) -> Self {
        assert!(
            !density.is_nan(),
            "green-harness: Harness::density(NaN): the density is a probability, from 0 (no perturbation) to 1"
        );
        if !self.config.from_env.density {
            self.config.density = density.clamp(0.0, 1.0);
        }
        self
    }

    /// A seeded tape reads as 0 after this many draws (unless `GREEN_TAPE_LEN` is set).
    ///
    /// ```
    /// let r = green_harness::Harness::with_config(green_harness::Config::hermetic()).tape_len(0).run(|| ());
    /// assert_eq!(r.tape.active(), 0);
    /// ```
    pub fn tape_len(mut self, draws: usize) -> Self {
        if !self.config.from_env.tape_len {
            self.config.tape_len = Some(draws);
        }
        self
    }

    /// Virtual (true) or real clock.
    ///
    /// ```
    /// green_harness::Harness::new().virtual_clock(false).run(|| green::sleep(std::time::Duration::from_millis(1)));
    /// ```
    pub fn virtual_clock(mut self, on: bool) -> Self {
        if !self.config.from_env.clock {
            self.config.virtual_clock = on;
        }
        self
    }

    /// Maximum timer jitter (zero: off).
    ///
    /// ```
    /// let h = green_harness::Harness::new().jitter(std::time::Duration::from_millis(5));
    /// h.run(|| green::sleep(std::time::Duration::from_millis(1)));
    /// ```
    pub fn jitter(mut self, max: std::time::Duration) -> Self {
        if !self.config.from_env.jitter {
            self.config.jitter = max;
        }
        self
    }

    /// Shuffle independent greenthreads in ready batches.
    ///
    /// ```
    /// green_harness::Harness::new().shuffle(true).run(|| ());
    /// ```
    pub fn shuffle(mut self, on: bool) -> Self {
        if !self.config.from_env.shuffle {
            self.config.shuffle = on;
        }
        self
    }

    /// Listener faults to inject.
    ///
    /// ```
    /// green_harness::Harness::new().faults(&[green_harness::Fault::Short]).run(|| ());
    /// ```
    pub fn faults(mut self, kinds: &[Fault]) -> Self {
        if !self.config.from_env.faults {
            self.config.faults = kinds.to_vec();
        }
        self
    }

    /// Blocking detection with this resolution: in the default collect mode the reports go into
    /// the [`Report`], and any report fails the run (see
    /// [`fail_on_blocking`](Harness::fail_on_blocking)).
    ///
    /// ```
    /// green_harness::Harness::new().blocking(std::time::Duration::from_millis(200)).run(|| ());
    /// ```
    pub fn blocking(mut self, resolution: std::time::Duration) -> Self {
        if !self.config.from_env.blocking {
            self.config.blocking = Some(resolution);
        }
        self
    }

    /// What blocking detection does with an over-budget slice (default: collect into the report).
    ///
    /// ```
    /// use green_harness::BlockingMode;
    /// let r = green_harness::Harness::new().blocking(std::time::Duration::from_millis(100)).blocking_mode(BlockingMode::Fail).run(|| {
    ///     let gt = green::spawn(|| { std::thread::sleep(std::time::Duration::from_millis(400)); green::sleep(std::time::Duration::ZERO) });
    ///     assert!(gt.wait().is_err());
    /// });
    /// assert!(r.blocking.iter().any(|b| b.greenthread == 1));
    /// ```
    pub fn blocking_mode(mut self, mode: green_detectors::Mode) -> Self {
        self.blocking_mode = mode;
        self
    }

    /// Writes the run's timeline to `path` as Chrome trace-event JSON (open it in Perfetto or
    /// `chrome://tracing`): one track per greenthread with its slices (and what each parked in),
    /// timers fired, injected faults and blocking reports as instant events. `GREEN_TRACE=<path>`
    /// does the same for every run.
    ///
    /// ```
    /// let path = std::env::temp_dir().join("green-doc-trace.json");
    /// green_harness::Harness::new().trace_to(&path).run(|| green::spawn(|| ()).wait().unwrap());
    /// assert!(std::fs::read_to_string(&path).unwrap().starts_with("{\"traceEvents\":["));
    /// ```
    pub fn trace_to(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.trace_path = Some(path.into());
        self
    }

    /// The per-run wall-clock budget. Past it, a hub that still switches fails the run at its
    /// next pass (a `green: budget:` panic with every wait reason: the run's failure). A hub
    /// held by a busy loop or a blocking call cannot be stopped in-process: the watchdog prints
    /// who holds it, for how long, its stack (captured by the detector's signal, detection on or
    /// off), and the replay line, then aborts the process. A livelock in virtual time fails as a
    /// hang before that (see [`Config::hang_jumps`]).
    ///
    /// ```
    /// green_harness::Harness::new().budget(std::time::Duration::from_secs(5)).run(|| ());
    /// ```
    pub fn budget(mut self, budget: std::time::Duration) -> Self {
        assert!(
            !budget.is_zero(),
            "green-harness: Harness::budget(0) would abort every run at once; give a run a positive wall-clock budget"
        );
        if !self.config.from_env.budget {
            self.config.budget = budget;
        }
        self
    }

    /// Whether a panic caught in hub context or an unobserved greenthread panic fails the run
    /// (default: yes).
    ///
    /// ```
    /// let r = green_harness::Harness::new().fail_on_exceptions(false).run(|| {
    ///     green::debug::hub_exceptions(false);
    ///     green::hub::schedule_call_global(std::time::Duration::ZERO, || panic!("ignored"));
    ///     green::sleep(std::time::Duration::ZERO);
    /// });
    /// assert_eq!(r.exceptions.len(), 1);
    /// ```
    pub fn fail_on_exceptions(mut self, on: bool) -> Self {
        self.fail_on_exceptions = on;
        self
    }

    /// Whether greenthreads or timers left alive by the body fail the run (default: yes).
    ///
    /// ```
    /// let r = green_harness::Harness::new().fail_on_leaks(false).run(|| {
    ///     green::spawn(|| green::sleep(std::time::Duration::from_secs(60)));
    ///     green::sleep(std::time::Duration::ZERO);
    /// });
    /// assert_eq!(r.leaks.unwrap().greenthreads, 1);
    /// ```
    pub fn fail_on_leaks(mut self, on: bool) -> Self {
        self.fail_on_leaks = on;
        self
    }

    /// Whether a slice that blocked the hub past the blocking-detection resolution fails the run
    /// (default: yes), in collect mode (the default [`blocking_mode`](Harness::blocking_mode); in
    /// the other modes the detector itself fails the greenthread or panics). The failure names
    /// the greenthread and its spawn site, then shows every report with its stack. Off, the
    /// reports only go into [`Report::blocking`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let hog = || green::spawn(|| std::thread::sleep(Duration::from_millis(300))).wait().unwrap();
    /// let (report, r) = green_harness::Harness::new().blocking(Duration::from_millis(100)).try_run(hog);
    /// let verdict = r.unwrap_err().downcast::<String>().unwrap();
    /// assert!(verdict.contains("held the hub past"), "{verdict}");
    /// assert_eq!(report.blocking[0].greenthread, 1);
    ///
    /// let report = green_harness::Harness::new().blocking(Duration::from_millis(100)).fail_on_blocking(false).run(hog);
    /// assert_eq!(report.blocking[0].greenthread, 1);
    /// ```
    pub fn fail_on_blocking(mut self, on: bool) -> Self {
        self.fail_on_blocking = on;
        self
    }

    /// The strategy of searches (unless `GREEN_STRATEGY` is set). A single run uses only
    /// [`Strategy::Pct`] (priority scheduling); the others choose tapes and knobs across runs.
    ///
    /// ```
    /// use green_harness::{Harness, Strategy};
    /// let x = Harness::new().strategy(Strategy::Random).explore(20, || {
    ///     let a = green::spawn(|| 1);
    ///     assert_eq!(a.join().unwrap(), 1);
    /// });
    /// assert_eq!((x.runs, x.failures.len()), (20, 0));
    /// ```
    pub fn strategy(mut self, s: Strategy) -> Self {
        assert!(
            s != Strategy::Pct { depth: 0 },
            "green-harness: Strategy::Pct {{ depth: 0 }}: PCT's depth counts the orderings a bug needs, at least 1 \
             (GREEN_STRATEGY=pct:1)"
        );
        if !self.config.from_env.strategy {
            self.config.strategy = s;
        }
        self
    }

    /// The threads a search runs on (default the core count; `GREEN_EXPLORE_THREADS`).
    ///
    /// ```
    /// let x = green_harness::Harness::new().threads(1).explore(4, || ());
    /// assert_eq!(x.runs, 4);
    /// ```
    pub fn threads(mut self, n: usize) -> Self {
        if std::env::var_os(THREADS_ENV).is_none() {
            self.config.threads = n.max(1);
        }
        self
    }

    /// With `keep_going`, a search does not stop at its first failure: it collects every
    /// distinct one, by message and site: a panic's first line and site (an assertion failing
    /// with other operands at the same site is the same failure); for a verdict that lists what
    /// it found (panics the hub caught, leaks, invariant violations) the list too; for a hang or
    /// deadlock the places where greenthreads wait.
    ///
    /// ```
    /// let h = green_harness::Harness::new().keep_going(true);
    /// let x = h.try_explore(green_harness::Search::Runs(10), || ());
    /// assert!(x.failures.is_empty());
    /// ```
    pub fn keep_going(mut self, on: bool) -> Self {
        self.keep_going = on;
        self
    }

    /// Makes [`run`](Harness::run) a search (what `GREEN_EXPLORE` and the attribute's
    /// `explore = N` do), unless `GREEN_EXPLORE` is set.
    ///
    /// ```
    /// use green_harness::{Harness, Search};
    /// Harness::new().search(Search::Runs(5)).run(|| green::sleep(std::time::Duration::from_millis(1)));
    /// ```
    pub fn search(mut self, s: Search) -> Self {
        let s = s.refuse_empty();
        if !self.config.from_env.explore {
            self.config.explore = Some(s);
        }
        self
    }

    /// Searches `runs` runs of `body` (one fresh hub per run, one per OS thread on every core,
    /// each run's tape derived from the base seed and its index, chosen by the
    /// [`strategy`](Harness::strategy)) and stops at the first failure.
    ///
    /// # Panics
    ///
    /// On a failure: with the failure, the found and the shrunk replay lines. On `runs == 0`
    /// (a search that would pass without running the test), naming that misuse. With
    /// `GREEN_REPLAY=1` in the environment it makes the one run the environment describes.
    ///
    /// ```
    /// let x = green_harness::Harness::new().explore(50, || {
    ///     let q = green::Queue::new();
    ///     let q2 = q.clone();
    ///     let p = green::spawn(move || q2.put(1));
    ///     assert_eq!(q.get(), 1);
    ///     p.join().unwrap();
    /// });
    /// assert_eq!(x.runs, 50);
    /// ```
    pub fn explore<R>(&self, runs: u64, body: impl Fn() -> R + Sync) -> Exploration {
        self.explore_search(Search::Runs(runs), &|| {
            body();
        })
    }

    /// [`explore`](Harness::explore) for a wall-clock duration.
    ///
    /// ```
    /// let x = green_harness::Harness::new().explore_for(std::time::Duration::from_millis(200), || ());
    /// assert!(x.runs > 0);
    /// ```
    pub fn explore_for<R>(&self, d: std::time::Duration, body: impl Fn() -> R + Sync) -> Exploration {
        self.explore_search(Search::For(d), &|| {
            body();
        })
    }

    /// Searches like [`explore`](Harness::explore) but never panics: the failures are in the
    /// returned [`Exploration`]. Under `GREEN_REPLAY=1` (a replay line) it makes the one run the
    /// environment describes instead, and returns it as a one-run exploration (its failure, if
    /// it failed, with the replay line it was run from).
    ///
    /// ```
    /// use green_harness::{Harness, Search};
    /// let x = Harness::new().try_explore(Search::Runs(10), || panic!("always"));
    /// let f = x.first_failure().unwrap();
    /// assert_eq!((f.run, f.message.as_str()), (0, "always"));
    /// assert!(f.shrunk_line.contains("GREEN_REPLAY=1 "));
    /// ```
    pub fn try_explore<R>(&self, search: Search, body: impl Fn() -> R + Sync) -> Exploration {
        let body = || {
            body();
        };
        search.refuse_empty();
        if self.config.replay {
            return self.replay_one(&body);
        }
        self.search_parallel(search, &body).exploration
    }

    fn explore_search(&self, search: Search, body: &(dyn Fn() + Sync)) -> Exploration {
        search.refuse_empty();
        if self.config.replay {
            self.run(body);
            return Exploration {
                runs: 1,
                elapsed: std::time::Duration::ZERO,
                strategy: self.config.strategy,
                failures: Vec::new(),
            };
        }
        let found = self.search_parallel(search, body);
        self.fail_search(&found);
        found.exploration
    }

    /// The tape this harness will use.
    fn the_tape(&self) -> Tape {
        self.config.the_tape()
    }

    /// The replay line for a run of `tape`: the environment that reruns it (`GREEN_SEED` for a
    /// seeded tape, `GREEN_TAPE` without its trailing zeros for an explicit one, and every knob
    /// that changes a run and is not at its default) and the `cargo test` command.
    ///
    /// ```
    /// let h = green_harness::Harness::with_config(green_harness::Config::hermetic());
    /// let line = h.replay_line(&green_harness::Tape::new(vec![1, 0, 0]));
    /// assert!(line.starts_with("replay: GREEN_TAPE=01 cargo test"), "{line}");
    /// let line = h.clone().shuffle(true).replay_line(&green_harness::Tape::seeded(9, 0.1));
    /// assert!(line.starts_with("replay: GREEN_SEED=9 GREEN_SHUFFLE=1 cargo test"), "{line}");
    /// ```
    pub fn replay_line(&self, tape: &Tape) -> String {
        let c = &self.config;
        let name = SEARCH_TEST
            .with(|n| n.borrow().clone())
            .unwrap_or_else(|| std::thread::current().name().unwrap_or("").to_string());
        let test = if name.is_empty() || name == "main" { String::new() } else { format!(" {name} -- --exact") };
        // A knob is named when it is off its default, or off what the replay starts from (a
        // search run whose strategy changed the test's own setting).
        let base = self.base.as_deref();
        let moved = |f: &dyn Fn(&Config) -> bool| base.is_some_and(|b| !f(b));
        let mut env = match tape.seed() {
            Some(seed) => {
                let mut e = format!("GREEN_SEED={seed}");
                if c.density != 0.1 || moved(&|b| b.density == c.density) || c.from_env.density {
                    e.push_str(&format!(" GREEN_DENSITY={}", c.density));
                }
                if let Some(n) = c.tape_len {
                    e.push_str(&format!(" GREEN_TAPE_LEN={n}"));
                }
                e
            }
            None => format!("GREEN_TAPE={}", tape.explicit().to_hex()),
        };
        // A knob the environment set is named even at its default: the replay line alone (without
        // that environment) must not bring back the builder's value it overrode.
        let f = &c.from_env;
        if !c.virtual_clock {
            env.push_str(" GREEN_CLOCK=real");
        } else if f.clock {
            env.push_str(" GREEN_CLOCK=virtual");
        }
        if c.hang != config::DEFAULT_HANG || f.hang {
            env.push_str(&format!(" GREEN_HANG_MS={}", format_ms(c.hang)));
        }
        if c.hang_jumps != config::DEFAULT_HANG_JUMPS {
            env.push_str(&format!(" GREEN_HANG_JUMPS={}", c.hang_jumps));
        }
        if c.budget != config::DEFAULT_BUDGET || f.budget {
            // The budget decides whether a long run fails: a budget failure replays with it.
            env.push_str(&format!(" GREEN_BUDGET_MS={}", format_ms(c.budget)));
        }
        if c.grace != std::time::Duration::from_millis(5) || f.grace {
            env.push_str(&format!(" GREEN_GRACE_MS={}", format_ms(c.grace)));
        }
        if !c.jitter.is_zero() || moved(&|b| b.jitter == c.jitter) || f.jitter {
            env.push_str(&format!(" GREEN_JITTER_MS={}", format_ms(c.jitter)));
        }
        if c.shuffle {
            env.push_str(" GREEN_SHUFFLE=1");
        } else if moved(&|b| !b.shuffle) || f.shuffle {
            env.push_str(" GREEN_SHUFFLE=0");
        }
        if !c.faults.is_empty() {
            let names: Vec<&str> = c.faults.iter().map(|f| f.name()).collect();
            env.push_str(&format!(" GREEN_FAULTS={}", names.join(",")));
        } else if moved(&|b| b.faults.is_empty()) || f.faults {
            env.push_str(" GREEN_FAULTS=none");
        }
        if let Some(b) = c.blocking {
            env.push_str(&format!(" GREEN_BLOCKING_MS={}", format_ms(b)));
        }
        // A search run names the strategy that chose its knobs (a single run uses only PCT's,
        // so the name changes nothing on replay but says where the line came from).
        match self.run_strategy {
            Some(s) if !matches!(s, Strategy::Pct { .. }) => env.push_str(&format!(" GREEN_STRATEGY={s}")),
            _ if f.strategy && !matches!(c.strategy, Strategy::Pct { .. }) => {
                env.push_str(&format!(" GREEN_STRATEGY={}", c.strategy));
            }
            _ => {}
        }
        if let Strategy::Pct { depth } = c.strategy {
            env.push_str(&format!(" GREEN_STRATEGY=pct:{depth}"));
            if c.pct_steps != config::DEFAULT_PCT_STEPS || moved(&|b| b.pct_steps == c.pct_steps) {
                env.push_str(&format!(" GREEN_PCT_STEPS={}", c.pct_steps));
            }
        }
        if let Some(run) = c.run {
            env.push_str(&format!(" GREEN_RUN={run}"));
        }
        if c.replay {
            env.insert_str(0, "GREEN_REPLAY=1 ");
        }
        format!("replay: {env} cargo test{test}")
    }

    /// Runs `body` on a fresh hub under this harness's perturbation and checks what it left
    /// behind; panics (with the report and the replay line) when the run failed.
    ///
    /// # Panics
    ///
    /// When the body panics (with its message, then the replay line), when the hub caught a
    /// panic in hub context, when a greenthread panicked unobserved, when an invariant was
    /// violated, when blocking detection reported a slice, or on leaks (see the `fail_on_*`
    /// knobs), or past the budget while the hub still switches (a `green: budget:` report). Past
    /// the budget with the hub held (a busy loop, a blocking call) the process aborts after
    /// printing what it could (a livelock in virtual time fails as a hang first, see
    /// [`Config::hang_jumps`]).
    ///
    /// The body is `Fn`, not `FnOnce`: `GREEN_EXPLORE` turns any `run` into a search that calls
    /// it once per run. A body that must consume what it captured runs under
    /// [`try_run`](Harness::try_run), which takes `FnOnce` (and is never a search).
    ///
    /// ```
    /// let r = green_harness::Harness::new().run(|| green::spawn(|| 1).wait().unwrap());
    /// assert!(r.switches >= 1);
    /// ```
    pub fn run<R>(&self, body: impl Fn() -> R) -> Report {
        if let (Some(search), false) = (self.config.explore, self.config.replay) {
            // `GREEN_EXPLORE` (or `.search`): the test becomes a search, on this thread.
            let x = self.search_local(search, &|| {
                body();
            });
            self.fail_search(&x);
            return x.first_report.unwrap_or_default();
        }
        let (report, outcome) = self.run_inner(self.the_tape(), body, &mut Extras::default());
        if let Err(p) = outcome {
            print_captured(&report);
            let line = self.replay_line(&report.tape);
            eprintln!("{line}");
            // The message carries the line too (a test catching the panic sees it); a payload
            // that is not text goes on as it was.
            let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
            match msg {
                Some(m) => std::panic::resume_unwind(Box::new(format!("{m}\n{line}"))),
                None => std::panic::resume_unwind(p),
            }
        }
        if self.verdict(&report).is_some() {
            print_captured(&report);
        }
        self.judge(&report);
        report
    }

    /// Whether panics during a run are captured into [`Report::panics`] instead of printed
    /// (default: yes). A run that fails prints them first, as libtest shows a failing test's
    /// output; a passing run whose greenthreads panicked on purpose stays quiet.
    ///
    /// ```
    /// let r = green_harness::Harness::new().run(|| {
    ///     assert!(green::spawn(|| -> () { panic!("expected") }).join().unwrap_err().is_panic());
    /// });
    /// assert_eq!(r.panics.len(), 1);
    /// assert!(r.panics[0].contains("expected"), "{:?}", r.panics);
    /// ```
    pub fn capture_panics(mut self, on: bool) -> Self {
        self.capture_panics = on;
        self
    }

    /// Runs a test function: a search over every core when one is asked for (`GREEN_EXPLORE`,
    /// `explore = N`), one run otherwise. What `#[green_harness::test]` calls.
    #[doc(hidden)]
    pub fn __run_fn<R: TestOutcome + 'static>(&self, body: fn() -> R) -> R {
        if let (Some(search), false) = (self.config.explore, self.config.replay) {
            let x = self.search_parallel(search, &|| body().check());
            self.fail_search(&x);
            return R::passed();
        }
        // An `Err` fails the run inside it, so the failure prints the replay line as a panic does.
        self.run(|| body().check());
        R::passed()
    }

    /// Runs `body` like [`run`](Harness::run) but returns the failure as `Err` (with the report)
    /// instead of failing the test. For property tests. It judges the run as `run` does: a body
    /// that returned but left a leak, an unobserved greenthread panic, a panic the hub caught or
    /// an invariant violation gives `Err` with that verdict (a `String`); a body that panicked
    /// (a hang and a deadlock are panics of the runtime) gives its panic. Always one run:
    /// `GREEN_EXPLORE` does not turn it into a search (it returns one run's value and report;
    /// search with [`try_explore`](Harness::try_explore)).
    ///
    /// ```
    /// use green_harness::Harness;
    /// let (report, r) = Harness::new().try_run(|| -> u8 { panic!("bug") });
    /// assert!(r.is_err());
    /// assert!(report.leaks.is_none());
    ///
    /// // A greenthread that panicked and that nobody waited for fails the run.
    /// let (_, r) = Harness::new().try_run(|| {
    ///     green::spawn(|| panic!("lost"));
    ///     green::sleep(std::time::Duration::from_millis(1));
    /// });
    /// let verdict = r.unwrap_err().downcast::<String>().unwrap();
    /// assert!(verdict.contains("lost"), "{verdict}");
    /// ```
    pub fn try_run<R>(&self, body: impl FnOnce() -> R) -> (Report, Result<R, Box<dyn std::any::Any + Send>>) {
        let (report, r) = self.run_inner(self.the_tape(), body, &mut Extras::default());
        match r {
            Ok(v) => match self.verdict(&report) {
                Some(verdict) => (report, Err(Box::new(verdict))),
                None => (report, Ok(v)),
            },
            Err(p) => (report, Err(p)),
        }
    }

    fn judge(&self, report: &Report) {
        if let Some(v) = self.verdict(report) {
            panic!("{v}\n{}", self.replay_line(&report.tape));
        }
    }

    /// Why a run whose body returned failed (hub-context panics, blocking reports, leaks,
    /// invariant violations, unobserved panics), if it did.
    fn verdict(&self, report: &Report) -> Option<String> {
        if self.fail_on_exceptions && !report.exceptions.is_empty() {
            return Some(format!(
                "green-harness: the hub caught {} panic(s):\n{}",
                report.exceptions.len(),
                report.exceptions.join("\n")
            ));
        }
        if self.fail_on_blocking && self.blocking_mode == green_detectors::Mode::Collect {
            if let Some(first) = report.blocking.first() {
                // The first line names what blocked, and nothing that varies between runs (how
                // long it held the hub): searches tell failures apart by it.
                let who = match (&first.name, &first.spawned_at) {
                    (Some(n), Some(at)) => format!("greenthread #{} ({n}, spawned at {at})", first.greenthread),
                    (None, Some(at)) => format!("greenthread #{} (spawned at {at})", first.greenthread),
                    (Some(n), None) => format!("greenthread #{} ({n})", first.greenthread),
                    (None, None) if first.greenthread == 0 => "the test body".to_string(),
                    (None, None) => format!("greenthread #{}", first.greenthread),
                };
                let res = self.config.blocking.map_or_else(String::new, |d| format!(" of {}ms", format_ms(d)));
                let all: Vec<String> = report.blocking.iter().map(ToString::to_string).collect();
                return Some(format!(
                    "green-harness: {who} held the hub past the blocking-detection resolution{res} \
                     (a blocking call or a busy loop in green code; fail_on_blocking(false) or \
                     allow_blocking only collects the reports)\n{}",
                    all.join("\n")
                ));
            }
        }
        if self.fail_on_leaks {
            if let Some(l) = &report.leaks {
                return Some(format!("green-harness: {l}"));
            }
        }
        if !report.invariant_violations.is_empty() {
            return Some(format!("green-harness: invariant violations:\n{}", report.invariant_violations.join("\n")));
        }
        if self.fail_on_exceptions && !report.unobserved_panics.is_empty() {
            return Some(format!("green-harness: {}", report.unobserved_panics.join("\n")));
        }
        None
    }

    fn run_inner<R>(
        &self,
        tape: Tape,
        body: impl FnOnce() -> R,
        extras: &mut Extras,
    ) -> (Report, Result<R, Box<dyn std::any::Any + Send>>) {
        let _nested = NestedGuard::enter();
        let _ = green::hub::shutdown();
        green::debug::hide_frames_under(concat!(env!("CARGO_MANIFEST_DIR"), "/src/"));
        // A greenthread that overflows its stack is named before the process ends, instead of
        // a bare SIGSEGV (DESIGN §5, §8); once per process.
        green_detectors::install_overflow_detector();
        let c = &self.config;
        let state = Rc::new(RefCell::new(perturb::State { tape, log: Vec::new(), steps: 0 }));
        let pct = match c.strategy {
            Strategy::Pct { depth } => Some(perturb::Pct::new(depth, c.pct_steps)),
            _ => None,
        };
        green::hooks::install(Some(Box::new(perturb::TapePerturb {
            state: state.clone(),
            jitter: c.jitter,
            shuffle: c.shuffle || c.faults.contains(&Fault::Reorder),
            faults: c.faults.clone(),
            pct,
        })));
        if self.quiet || self.capture_panics {
            green::debug::hub_exceptions(false);
        }
        if self.coverage {
            green::hooks::set_coverage(true);
        }
        if c.virtual_clock {
            green::hooks::set_virtual_clock(true, c.grace);
            green::hooks::set_hang_horizon(Some(c.hang).filter(|h| !h.is_zero()));
            green::hooks::set_hang_jumps(Some(c.hang_jumps));
        }
        green::hooks::set_trace(true);
        let trace_path = self.trace_path.clone().or_else(|| std::env::var_os(TRACE_ENV).map(Into::into));
        if trace_path.is_some() {
            green::hooks::set_timeline(true);
        }
        if let Some(res) = c.blocking {
            green_detectors::enable(green_detectors::BlockingConfig { resolution: res, mode: self.blocking_mode })
                .unwrap_or_else(|e| panic!("{e}"));
        } else {
            // Past the budget the watchdog shows the holder's stack, detection on or off.
            green_detectors::blocking::arm_holder_capture();
        }
        let watchdog = Budget::start(c.budget, self.replay_line(&state.borrow().tape));
        // The search run this is, for `current_run()`: a search's runs, their shrinking and their
        // replays (`GREEN_RUN` in the line) all read the same index.
        let before = explore::set_current_run(c.run);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        explore::set_current_run(before);
        let leaks = green_detectors::check_leaks().err();
        let exact = green::hooks::replay_exact();
        if self.coverage {
            extras.coverage = green::hooks::take_coverage();
        }
        if self.quiet {
            extras.panic = green::debug::take_last_panic();
        }
        let mut quiet_panics = green::debug::take_quiet_panics();
        let switches = green::hub::switch_count();
        let timers_fired = green::hub::timers_fired();
        let invariant_violations = green::debug::take_invariant_violations();
        let trace = green::hooks::take_trace();
        let timeline = green::hooks::take_timeline();
        let blocking = if c.blocking.is_some() {
            let b = green_detectors::take_reports();
            #[cfg(feature = "tracing")]
            for r in &b {
                tracing::warn!(target: "green_harness::blocking", "{r}");
            }
            green_detectors::disable();
            b
        } else {
            Vec::new()
        };
        // Panics nobody waited for, recorded before the teardown (handles dropped by the body)
        // and during it.
        let mut unobserved_panics = green::debug::take_unobserved_panics();
        let shutdown = green::hub::shutdown();
        unobserved_panics.extend(shutdown.unobserved_panics);
        // Panics of the teardown too (a destructor panicking while its greenthread is unwound).
        quiet_panics.extend(shutdown.quiet_panics);
        let panics: Vec<String> = quiet_panics
            .into_iter()
            .map(|(msg, at)| if at.is_empty() { msg } else { format!("panicked at {at}: {msg}") })
            .collect();
        let exceptions = shutdown.hub_context_panics;
        watchdog.stop();
        let st = state.borrow();
        let tape = st.tape.clone();
        if let Some(path) = &trace_path {
            let log: Vec<String> = st.log.iter().map(ToString::to_string).collect();
            let times: Vec<u64> = st.log.iter().map(|e| e.at.as_nanos() as u64).collect();
            let blocking: Vec<String> = blocking.iter().map(ToString::to_string).collect();
            let json = timeline::chrome_json(&timeline, &log, &times, &blocking, timeline_origin(&timeline));
            if let Err(e) = std::fs::write(path, json) {
                eprintln!("green-harness: cannot write the timeline to {}: {e}", path.display());
            }
        }
        let report = Report {
            exact,
            draws: tape.used(),
            tape_exhausted: tape.exhausted(),
            tape,
            faults: st.log.clone(),
            exceptions,
            blocking,
            leaks,
            unobserved_panics,
            invariant_violations,
            switches,
            timers_fired,
            steps: st.steps,
            panics,
            trace,
        };
        (report, outcome)
    }

    /// Runs `body` twice with the same tape and compares the switch traces; `Err` names the first
    /// switch where they differ (code depending on something outside the tape). Always one
    /// tape, `GREEN_EXPLORE` or not.
    ///
    /// ```
    /// let h = green_harness::Harness::new().shuffle(true).seed(3);
    /// h.check_determinism(|| {
    ///     let gts: Vec<_> = (0..5).map(|i| green::spawn(move || green::sleep(std::time::Duration::from_millis(i)))).collect();
    ///     for g in gts { g.wait().unwrap() }
    /// })
    /// .unwrap();
    /// ```
    pub fn check_determinism(&self, body: impl Fn()) -> Result<(), String> {
        let (a, _) = self.run_inner(self.the_tape(), &body, &mut Extras::default());
        let (b, _) = self.run_inner(self.the_tape(), &body, &mut Extras::default());
        if a.trace == b.trace && a.faults == b.faults {
            return Ok(());
        }
        if a.trace == b.trace {
            // Same switches, different perturbations: name the first fault that differs.
            let i =
                a.faults.iter().zip(&b.faults).position(|(p, q)| p != q).unwrap_or(a.faults.len().min(b.faults.len()));
            let show =
                |f: Option<&FaultEvent>| f.map_or_else(|| "nothing".to_string(), |f| format!("{f} at {:?}", f.at));
            return Err(format!(
                "runs diverge at fault {i} of the log (the switches agree): first run logged {}, second {}\n{}",
                show(a.faults.get(i)),
                show(b.faults.get(i)),
                self.replay_line(&a.tape)
            ));
        }
        let (x, y) = (&a.trace.head, &b.trace.head);
        if x == y && a.trace.len.min(b.trace.len) > x.len() as u64 {
            return Err(format!(
                "runs diverge after the first {} switches (only those are kept one by one; the runs made {} and {})\n{}",
                x.len(),
                a.trace.len,
                b.trace.len,
                self.replay_line(&a.tape)
            ));
        }
        let i = x.iter().zip(y).position(|(p, q)| p != q).unwrap_or(x.len().min(y.len()));
        Err(format!(
            "runs diverge at switch {i}: first run switched into {:?}, second into {:?}\n{}",
            x.get(i),
            y.get(i),
            self.replay_line(&a.tape)
        ))
    }
}

/// What a `#[green_harness::test]` function may return: `()` or `Result<(), E>` (an `Err`
/// fails the run, as it fails a plain test).
#[doc(hidden)]
pub trait TestOutcome {
    /// The outcome of a search that found nothing.
    fn passed() -> Self;
    /// Panics when the outcome is a failure.
    fn check(self);
}

impl TestOutcome for () {
    fn passed() {}
    fn check(self) {}
}

impl<E: std::fmt::Debug> TestOutcome for Result<(), E> {
    fn passed() -> Self {
        Ok(())
    }
    fn check(self) {
        if let Err(e) = self {
            panic!("the test returned Err({e:?})");
        }
    }
}

/// Environment variable: write every run's timeline to this path (see [`Harness::trace_to`]).
///
/// ```
/// assert_eq!(green_harness::TRACE_ENV, "GREEN_TRACE");
/// ```
pub const TRACE_ENV: &str = "GREEN_TRACE";

/// The earliest time in a timeline (its origin for display).
fn timeline_origin(t: &[green::hooks::TimelineEvent]) -> u64 {
    t.iter()
        .map(|e| match e {
            green::hooks::TimelineEvent::Slice { start, .. } => *start,
            green::hooks::TimelineEvent::Timer { at, .. } => *at,
            _ => u64::MAX,
        })
        .min()
        .unwrap_or(0)
}

/// The per-run wall-clock budget, watched from another thread: one watchdog per OS thread that
/// runs harness runs, armed and disarmed per run (a search makes thousands of runs a second).
struct Budget {
    watch: Arc<Watch>,
}

/// What the watchdog of one thread watches.
struct Watch {
    /// Arming count: odd while a run is armed (a new run never inherits an old deadline).
    generation: std::sync::atomic::AtomicU64,
    armed: std::sync::Mutex<Option<Armed>>,
    /// The thread went away: the watchdog ends.
    gone: AtomicBool,
}

struct Armed {
    generation: u64,
    start: Instant,
    budget: Duration,
    /// Whether the watchdog asked the hub to fail the run ([`green::probe::Probe::stop_run`]).
    stop: StopState,
    replay: String,
    probe: Arc<green::probe::Probe>,
    name: String,
}

/// The watchdog's stop request to an armed run's hub.
#[derive(Clone, Copy)]
enum StopState {
    /// Not asked.
    Idle,
    /// Asked at this moment; the hub acts at its next pass.
    Asked(Instant),
    /// The hub acted: the run failed with the budget report and is tearing down.
    Acted,
}

thread_local! {
    static WATCH: std::cell::OnceCell<WatchOwner> = const { std::cell::OnceCell::new() };
}

/// Ends the thread's watchdog when the thread exits.
struct WatchOwner(Arc<Watch>);

impl Drop for WatchOwner {
    fn drop(&mut self) {
        self.0.gone.store(true, Ordering::SeqCst);
    }
}

impl Budget {
    fn start(budget: Duration, replay: String) -> Budget {
        let watch = WATCH.with(|w| {
            w.get_or_init(|| {
                let watch = Arc::new(Watch {
                    generation: std::sync::atomic::AtomicU64::new(0),
                    armed: std::sync::Mutex::new(None),
                    gone: AtomicBool::new(false),
                });
                let wd = watch.clone();
                std::thread::Builder::new()
                    .name("green-harness-budget".into())
                    .spawn(move || watchdog(&wd))
                    .expect("green-harness: cannot start the budget watchdog");
                WatchOwner(watch)
            })
            .0
            .clone()
        });
        let generation = watch.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let probe = green::probe::probe();
        let mut armed = watch.armed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        probe.cancel_stop();
        let replay = match SHRINKING.with(|s| s.borrow().clone()) {
            Some(found) => format!(
                "{replay}\n(that is a candidate tape tried while shrinking; the failure found first replays with:\n{found})"
            ),
            None => replay,
        };
        *armed = Some(Armed {
            generation,
            start: Instant::now(),
            budget,
            stop: StopState::Idle,
            replay,
            probe,
            name: std::thread::current().name().unwrap_or("<unnamed>").to_string(),
        });
        drop(armed);
        Budget { watch }
    }

    fn stop(self) {
        drop(self);
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        // Also when the run unwinds: the watchdog never judges a run that ended.
        self.watch.generation.fetch_add(1, Ordering::SeqCst);
        let mut armed = self.watch.armed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(a) = armed.take() {
            a.probe.cancel_stop();
        }
    }
}

/// How long the watchdog watches a run past its budget before it judges it: long enough to see
/// whether the hub still switches.
const LAST_LOOK: Duration = Duration::from_millis(50);

/// Watches one thread's runs. Past a run's budget it first asks the hub to fail the run at its
/// next pass ([`green::probe::Probe::stop_run`]); if the hub does not act within [`LAST_LOOK`]
/// (a busy loop or a blocking call never returns control), or the failing run's teardown overruns
/// a budget of its own, it prints what can be read safely from another thread (the probe: who
/// runs, for how long it has held the hub; the detector's capture of its stack, detection on or
/// off) and the replay line, then aborts the process.
fn watchdog(w: &Watch) {
    // The armed run's slice as the watchdog last saw it: (generation, switch count, first seen),
    // to tell how long whatever runs now has held the hub.
    let mut slice: Option<(u64, u64, Instant)> = None;
    loop {
        if w.gone.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
        let over = {
            let mut a = w.armed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(a) = a.as_ref() {
                let sw = a.probe.switches();
                if slice.is_none_or(|(g, s, _)| g != a.generation || s != sw) {
                    slice = Some((a.generation, sw, Instant::now()));
                }
            }
            let mut over = a
                .as_ref()
                .filter(|a| a.start.elapsed() >= a.budget)
                .map(|a| (a.generation, a.budget, a.replay.clone(), a.probe.clone(), a.name.clone()));
            if let Some(a) = a.as_mut().filter(|_| over.is_some()) {
                // First ask the hub to fail the run at its next pass (the run's failure, so a
                // search goes on); under the lock, so the request can only reach this run.
                match a.stop {
                    StopState::Idle => {
                        a.probe.stop_run(a.budget);
                        a.stop = StopState::Asked(Instant::now());
                        over = None;
                    }
                    StopState::Asked(_) if !a.probe.stop_pending() => {
                        // The hub acted: the run is failing. Its teardown gets a budget of its
                        // own; past that, judged below.
                        a.stop = StopState::Acted;
                        a.start = Instant::now();
                        over = None;
                    }
                    StopState::Asked(at) if at.elapsed() < LAST_LOOK => over = None,
                    // The hub never reached a pass (held by a busy loop or a blocking call), or
                    // the failing run's teardown overran too.
                    StopState::Asked(_) | StopState::Acted => {}
                }
            }
            over
        };
        let Some((generation, budget, replay, probe, name)) = over else { continue };
        let still = || w.generation.load(Ordering::SeqCst) == generation;
        std::thread::sleep(LAST_LOOK);
        if !still() {
            continue; // the run ended meanwhile
        }
        let (cur, sw, idle) = (probe.current(), probe.switches(), probe.in_poll());
        let held = match slice {
            Some((g, s, since)) if g == generation && s == sw && !idle => {
                format!(" and has held the hub for {:.1?} without switching", since.elapsed())
            }
            _ if !idle => " (the hub keeps switching: greenthreads that never finish, a livelock)".to_string(),
            _ => String::new(),
        };
        let who = if idle {
            "the hub was idle in its poller (every greenthread waits on something that never comes)".to_string()
        } else if cur == green::probe::HUB {
            format!("the hub itself (timers, callbacks) was running{held}")
        } else if cur == 0 {
            format!("the root greenlet (the test body) was running{held}")
        } else {
            format!("greenthread #{cur} was running{held}")
        };
        let stack = if idle {
            String::new()
        } else {
            match green_detectors::blocking::holder_stack(&probe) {
                Some((holder, frames)) if !frames.is_empty() => {
                    let mut s = format!("\n{holder} is here (captured by the blocking detector's signal):");
                    for f in frames {
                        s.push_str("\n  at ");
                        s.push_str(&f);
                    }
                    s
                }
                Some(_) => "\n(no stack: the signal that captures it was not answered within a second)".to_string(),
                None if probe.switches() != sw || probe.in_poll() => String::new(), // no single holder
                None => "\n(no stack: this hub is not armed for captures)".to_string(),
            }
        };
        let msg = format!(
            "green-harness: the run on thread {name} exceeded its budget of {budget:?}: {who}{stack}\n\
             A hub that no longer switches cannot be stopped in-process, so the process aborts ({BUDGET_ENV} \
             raises the budget if the run needs longer).\n{replay}\n"
        );
        // Straight to fd 2: the test harness's output capture would die with the process.
        let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
        std::process::abort();
    }
}

thread_local! {
    /// While a failure's tape is shrunk on this thread: the found run's replay line, added to a
    /// budget abort's message (a candidate that never returns must not lose the failure).
    pub(crate) static SHRINKING: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// Whether this thread is inside a harness run (its hub belongs to that run).
    static IN_RUN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as inside a harness run for its lifetime; refuses a run inside a run.
struct NestedGuard;

impl NestedGuard {
    fn enter() -> NestedGuard {
        if IN_RUN.with(|r| r.replace(true)) {
            panic!(
                "green-harness: a harness run was started inside another harness run on the same thread (a \
                 Harness::run, explore or check_determinism in a test body); a run owns the thread's hub, so the \
                 inner one would tear the outer one down. Run the inner body directly, or from a separate test"
            );
        }
        NestedGuard
    }
}

impl Drop for NestedGuard {
    fn drop(&mut self) {
        IN_RUN.with(|r| r.set(false));
    }
}
