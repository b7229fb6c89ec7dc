//! The harness's settings; every field's default comes from an environment variable.

use std::time::Duration;

use green::hooks::{FdKind, IoOp};

/// Environment variable: the run's seed (a number); expands to a tape.
///
/// ```
/// assert_eq!(green_harness::SEED_ENV, "GREEN_SEED");
/// ```
pub const SEED_ENV: &str = "GREEN_SEED";
/// Environment variable: the run's tape, as hex (wins over the seed).
///
/// ```
/// assert_eq!(green_harness::TAPE_ENV, "GREEN_TAPE");
/// ```
pub const TAPE_ENV: &str = "GREEN_TAPE";
/// Environment variable: `virtual` (default) or `real`.
///
/// ```
/// assert_eq!(green_harness::CLOCK_ENV, "GREEN_CLOCK");
/// ```
pub const CLOCK_ENV: &str = "GREEN_CLOCK";
/// Environment variable: maximum timer jitter in milliseconds (default 0: off).
///
/// ```
/// assert_eq!(green_harness::JITTER_ENV, "GREEN_JITTER_MS");
/// ```
pub const JITTER_ENV: &str = "GREEN_JITTER_MS";
/// Environment variable: `1` to shuffle independent greenthreads in ready batches (`0`: not).
///
/// ```
/// assert_eq!(green_harness::SHUFFLE_ENV, "GREEN_SHUFFLE");
/// ```
pub const SHUFFLE_ENV: &str = "GREEN_SHUFFLE";
/// Environment variable: comma-separated fault kinds
/// (`eintr,wouldblock,short,reset,pipe,refused,spurious,delayed,closed,kill,slow,reorder`), or
/// `none`.
///
/// ```
/// assert_eq!(green_harness::FAULTS_ENV, "GREEN_FAULTS");
/// ```
pub const FAULTS_ENV: &str = "GREEN_FAULTS";
/// Environment variable: blocking-detection resolution in milliseconds (default off).
///
/// ```
/// assert_eq!(green_harness::BLOCKING_ENV, "GREEN_BLOCKING_MS");
/// ```
pub const BLOCKING_ENV: &str = "GREEN_BLOCKING_MS";
/// Environment variable: the per-run wall-clock budget in milliseconds (default 60000).
///
/// ```
/// assert_eq!(green_harness::BUDGET_ENV, "GREEN_BUDGET_MS");
/// ```
pub const BUDGET_ENV: &str = "GREEN_BUDGET_MS";
/// Environment variable: the real-time grace for fds before virtual time jumps, in milliseconds
/// (default 5).
///
/// ```
/// assert_eq!(green_harness::GRACE_ENV, "GREEN_GRACE_MS");
/// ```
pub const GRACE_ENV: &str = "GREEN_GRACE_MS";
/// Environment variable: the probability that a draw of a seeded tape is non-zero (default 0.1).
///
/// ```
/// assert_eq!(green_harness::DENSITY_ENV, "GREEN_DENSITY");
/// ```
pub const DENSITY_ENV: &str = "GREEN_DENSITY";
/// Environment variable: a seeded tape reads as 0 after this many draws (default: never).
///
/// ```
/// assert_eq!(green_harness::TAPE_LEN_ENV, "GREEN_TAPE_LEN");
/// ```
pub const TAPE_LEN_ENV: &str = "GREEN_TAPE_LEN";
/// Environment variable: turns every harness test into a search (`1000` runs or `30s`).
///
/// ```
/// assert_eq!(green_harness::EXPLORE_ENV, "GREEN_EXPLORE");
/// ```
pub const EXPLORE_ENV: &str = "GREEN_EXPLORE";
/// Environment variable: the search strategy (`random`, `pct:<depth>`, `swarm`, `guided`,
/// `portfolio`; default `portfolio`). For a single run only `pct:<depth>` changes it.
///
/// ```
/// assert_eq!(green_harness::STRATEGY_ENV, "GREEN_STRATEGY");
/// ```
pub const STRATEGY_ENV: &str = "GREEN_STRATEGY";
/// Environment variable: the threads a search runs on (default: the core count).
///
/// ```
/// assert_eq!(green_harness::THREADS_ENV, "GREEN_EXPLORE_THREADS");
/// ```
pub const THREADS_ENV: &str = "GREEN_EXPLORE_THREADS";
/// Environment variable: `k/N`, the search takes run indices `k, k+N, k+2N, ...` of its space (below
/// `GREEN_EXPLORE`'s count of runs, so N jobs with the same count split one search).
///
/// ```
/// assert_eq!(green_harness::PARTITION_ENV, "GREEN_PARTITION");
/// ```
pub const PARTITION_ENV: &str = "GREEN_PARTITION";

/// Environment variable: the scheduling steps over which a PCT run spreads its priority-change
/// points (its k; default 64). A search sets it from the steps earlier runs took, and prints it
/// in a PCT run's replay line.
///
/// ```
/// assert_eq!(green_harness::PCT_STEPS_ENV, "GREEN_PCT_STEPS");
/// ```
pub const PCT_STEPS_ENV: &str = "GREEN_PCT_STEPS";

/// Environment variable: under the virtual clock, how long (ms of real time) a run whose
/// greenthreads all wait on fds, with no timer pending, may hear nothing before it fails as a
/// hang (default 10000; 0 turns the horizon off: such a run waits until the budget). Where every
/// waited fd's peer is in the hub, the hang is reported at once.
///
/// ```
/// assert_eq!(green_harness::HANG_ENV, "GREEN_HANG_MS");
/// ```
pub const HANG_ENV: &str = "GREEN_HANG_MS";
/// Environment variable: under the virtual clock, how many times in a row the clock may jump
/// with nothing but timers waking greenthreads (no hand-off, no fd readiness, no spawn, no
/// greenthread ending) before the run fails as a hang: a livelock in virtual time (default
/// 100000; 0 turns it off).
///
/// ```
/// assert_eq!(green_harness::HANG_JUMPS_ENV, "GREEN_HANG_JUMPS");
/// ```
pub const HANG_JUMPS_ENV: &str = "GREEN_HANG_JUMPS";
/// Environment variable: `1` replays one run from the environment's tape or seed instead of
/// searching (what a search's replay lines set).
///
/// ```
/// assert_eq!(green_harness::REPLAY_ENV, "GREEN_REPLAY");
/// ```
pub const REPLAY_ENV: &str = "GREEN_REPLAY";
/// Environment variable: the index of the search run a replayed run stands for, what
/// [`current_run`](crate::current_run) returns inside it (what a search's replay lines set, so a
/// body that reads its run index replays too).
///
/// ```
/// assert_eq!(green_harness::RUN_ENV, "GREEN_RUN");
/// ```
pub const RUN_ENV: &str = "GREEN_RUN";
/// Environment variable: how long a search may spend shrinking a failure, in milliseconds
/// (default 10000).
///
/// ```
/// assert_eq!(green_harness::SHRINK_ENV, "GREEN_SHRINK_MS");
/// ```
pub const SHRINK_ENV: &str = "GREEN_SHRINK_MS";

/// Parses a duration in milliseconds, whole or with up to six decimals (`5`, `0.5`, `0.001`):
/// what the replay lines print for sub-millisecond knobs.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(green_harness::parse_ms("5"), Some(Duration::from_millis(5)));
/// assert_eq!(green_harness::parse_ms("0.25"), Some(Duration::from_micros(250)));
/// assert_eq!(green_harness::parse_ms("-1"), None);
/// ```
pub fn parse_ms(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    // Six decimals of a millisecond are nanoseconds.
    let nanos: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().ok()? };
    Duration::from_millis(whole).checked_add(Duration::from_nanos(nanos))
}

/// Formats a duration as [`parse_ms`] reads it back: whole milliseconds, or with the decimals
/// needed, down to nanoseconds.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(green_harness::format_ms(Duration::from_millis(5)), "5");
/// assert_eq!(green_harness::format_ms(Duration::from_micros(500)), "0.5");
/// assert_eq!(green_harness::parse_ms(&green_harness::format_ms(Duration::from_micros(1234))), Some(Duration::from_micros(1234)));
/// assert_eq!(green_harness::format_ms(Duration::from_nanos(500)), "0.0005");
/// ```
pub fn format_ms(d: Duration) -> String {
    let ms = d.as_millis();
    let nanos = d.subsec_nanos() % 1_000_000;
    if nanos == 0 {
        return ms.to_string();
    }
    let frac = format!("{nanos:06}");
    format!("{ms}.{}", frac.trim_end_matches('0'))
}

fn flag(name: &str, v: &str) -> bool {
    match v.trim() {
        "1" | "true" => true,
        "0" | "false" => false,
        _ => invalid(name, v, "1 or 0 (true or false)"),
    }
}

/// [`Config::hang`]'s default.
pub(crate) const DEFAULT_HANG: Duration = Duration::from_secs(10);

/// [`Config::hang_jumps`]'s default: a heartbeat ticking alone for a day of one-second beats is
/// no livelock; a retry loop spinning in virtual time gets there in about a second.
pub(crate) const DEFAULT_HANG_JUMPS: u64 = 100_000;

/// [`Config::budget`]'s default.
pub(crate) const DEFAULT_BUDGET: Duration = Duration::from_secs(60);

/// [`Config::pct_steps`]'s default.
pub(crate) const DEFAULT_PCT_STEPS: u32 = 64;

/// A listener fault the harness may inject (DESIGN §6).
///
/// ```
/// use green_harness::{Fault, Harness};
/// // Every read of a pair of green sockets may come back short; `read_exact` absorbs it.
/// let r = Harness::new().seed(3).density(1.0).faults(&[Fault::Short]).run(|| {
///     use std::io::{Read, Write};
///     let (a, b) = green::net::UnixStream::pair().unwrap();
///     (&a).write_all(b"hello").unwrap();
///     let mut buf = [0u8; 5];
///     (&b).read_exact(&mut buf).unwrap();
///     assert_eq!(&buf, b"hello");
/// });
/// assert!(!r.faults.is_empty());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `EINTR` from a socket call (retried by green sockets), and from a
    /// [`green::trampoline`] wait on a raw fd (returned: as `poll(2)`, code that waits on raw fds
    /// must retry it).
    Eintr,
    /// `WouldBlock` from a ready socket (a spurious wake-up; retried).
    WouldBlock,
    /// Short reads and writes.
    Short,
    /// `ECONNRESET`; the connection stays reset.
    Reset,
    /// `EPIPE` on writes; the write side stays broken.
    BrokenPipe,
    /// Connections refused.
    Refused,
    /// Spurious readiness: a waiter returns from its wait without readiness and retries.
    Spurious,
    /// Readiness reaching its waiter one pass late.
    Delayed,
    /// Close-while-waiting: a waiter sees its fd closed (simulated; the fd stays open).
    Closed,
    /// A greenthread marked with [`killable`](crate::killable) is killed at a blocking green call
    /// (drawn per call).
    Kill,
    /// A slow peer: a socket operation first takes a tape-drawn virtual delay (up to 255 ms), so
    /// timeouts can land mid-operation.
    Slow,
    /// Reordered readiness within a poll batch: the ready batch the poll's wake-ups join runs in
    /// a tape-drawn order (the same draws as [`Harness::shuffle`](crate::Harness::shuffle), which
    /// this turns on).
    Reorder,
}

impl Fault {
    /// Every kind.
    ///
    /// ```
    /// let names: Vec<&str> = green_harness::Fault::ALL.iter().map(|f| f.name()).collect();
    /// assert!(names.contains(&"eintr") && names.contains(&"reorder"));
    /// ```
    pub const ALL: [Fault; 12] = [
        Fault::Eintr,
        Fault::WouldBlock,
        Fault::Short,
        Fault::Reset,
        Fault::BrokenPipe,
        Fault::Refused,
        Fault::Spurious,
        Fault::Delayed,
        Fault::Closed,
        Fault::Kill,
        Fault::Slow,
        Fault::Reorder,
    ];

    /// The name used in `GREEN_FAULTS`.
    ///
    /// ```
    /// assert_eq!(green_harness::Fault::Short.name(), "short");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Fault::Eintr => "eintr",
            Fault::WouldBlock => "wouldblock",
            Fault::Short => "short",
            Fault::Reset => "reset",
            Fault::BrokenPipe => "pipe",
            Fault::Refused => "refused",
            Fault::Spurious => "spurious",
            Fault::Delayed => "delayed",
            Fault::Closed => "closed",
            Fault::Kill => "kill",
            Fault::Slow => "slow",
            Fault::Reorder => "reorder",
        }
    }

    /// Whether the kernel could produce this fault on a file of `kind` (the table in the crate
    /// docs): a reset only on a connected TCP socket, a broken pipe only on pipes and stream
    /// sockets, short I/O only on byte streams, a refusal only on connects.
    ///
    /// ```
    /// use green_harness::{Fault, FdKind};
    /// assert!(Fault::Reset.applies_to(FdKind::TcpStream));
    /// assert!(!Fault::Reset.applies_to(FdKind::Pipe));
    /// assert!(Fault::BrokenPipe.applies_to(FdKind::Pipe));
    /// assert!(!Fault::Short.applies_to(FdKind::UdpSocket));
    /// ```
    pub fn applies_to(self, kind: FdKind) -> bool {
        match self {
            Fault::Eintr
            | Fault::WouldBlock
            | Fault::Spurious
            | Fault::Delayed
            | Fault::Closed
            | Fault::Slow
            | Fault::Reorder => true,
            Fault::Kill => false,
            Fault::Short => kind.is_stream(),
            Fault::Reset => kind == FdKind::TcpStream,
            Fault::BrokenPipe => kind.is_stream(),
            Fault::Refused => matches!(kind, FdKind::TcpStream | FdKind::UnixStream),
        }
    }

    /// Whether this fault applies to operation `op` (on a file it applies to).
    pub(crate) fn applies_to_op(self, op: IoOp) -> bool {
        if self == Fault::Slow {
            return true;
        }
        match op {
            IoOp::Connect => self == Fault::Refused,
            IoOp::Wait => self == Fault::Eintr,
            IoOp::Accept | IoOp::Datagram => matches!(self, Fault::Eintr | Fault::WouldBlock),
            IoOp::Read => matches!(self, Fault::Eintr | Fault::WouldBlock | Fault::Short | Fault::Reset),
            IoOp::Write => {
                matches!(self, Fault::Eintr | Fault::WouldBlock | Fault::Short | Fault::Reset | Fault::BrokenPipe)
            }
        }
    }

    fn parse(s: &str) -> Option<Fault> {
        Some(match s.trim() {
            "eintr" => Fault::Eintr,
            "wouldblock" => Fault::WouldBlock,
            "short" => Fault::Short,
            "reset" => Fault::Reset,
            "pipe" => Fault::BrokenPipe,
            "refused" => Fault::Refused,
            "spurious" => Fault::Spurious,
            "delayed" => Fault::Delayed,
            "closed" => Fault::Closed,
            "kill" => Fault::Kill,
            "slow" => Fault::Slow,
            "reorder" => Fault::Reorder,
            _ => return None,
        })
    }
}

/// The harness's settings. Each field's default is read from the environment variable its doc
/// names, so a failing run can be replayed from the command line; [`Config::hermetic`] ignores
/// the environment.
///
/// The environment wins over the [`Harness`](crate::Harness) builder for every knob a replay
/// line carries: a knob set in the environment is kept when the builder sets it too, so the
/// replay line of a builder-configured test replays it (`.seed(1)` in the code, `GREEN_SEED=9`
/// in the shell: seed 9 runs).
///
/// ```
/// let c = green_harness::Config::default();
/// assert!(c.virtual_clock);
/// assert_eq!(c.jitter, std::time::Duration::ZERO);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Seed of the run's tape when no tape is given (`GREEN_SEED`; default 0). A seeded tape
    /// drives the whole run ([`Tape::seeded`](crate::Tape::seeded)).
    pub seed: u64,
    /// The tape itself (`GREEN_TAPE`, hex); wins over `seed`.
    pub tape: Option<Vec<u8>>,
    /// A seeded tape reads as 0 after this many draws (`GREEN_TAPE_LEN`; default `None`: never).
    pub tape_len: Option<usize>,
    /// Probability that a draw of a seeded tape is non-zero (`GREEN_DENSITY`; default 0.1).
    pub density: f64,
    /// Virtual clock (`GREEN_CLOCK=virtual`, the default) or real (`real`).
    pub virtual_clock: bool,
    /// Real-time grace for fds whose peer is outside the process before virtual time jumps
    /// (`GREEN_GRACE_MS`; default 5 ms).
    pub grace: Duration,
    /// Maximum extra delay of a timer (`GREEN_JITTER_MS`; default 0, off).
    pub jitter: Duration,
    /// Shuffle independent greenthreads in ready batches (`GREEN_SHUFFLE=1`; default off).
    pub shuffle: bool,
    /// Listener faults to inject (`GREEN_FAULTS`; default none).
    pub faults: Vec<Fault>,
    /// Blocking-detection resolution (`GREEN_BLOCKING_MS`; default off).
    pub blocking: Option<Duration>,
    /// Under the virtual clock: real time a run whose greenthreads all wait on fds (no timer
    /// pending) may hear nothing before it fails as a hang (`GREEN_HANG_MS`; default 10 s; zero
    /// turns the horizon off).
    pub hang: Duration,
    /// Under the virtual clock: clock jumps in a row with only timers waking greenthreads before
    /// the run fails as a livelock hang (`GREEN_HANG_JUMPS`; default 100000; zero turns it off).
    /// A search that meets one reports it as that run's failure and goes on, where the wall-clock
    /// budget would have had to abort the process.
    pub hang_jumps: u64,
    /// Wall-clock budget of one run, watched from outside the hub (`GREEN_BUDGET_MS`; default
    /// 60 s). Past it the process aborts after printing who holds the hub and the replay line.
    pub budget: Duration,
    /// The search strategy (`GREEN_STRATEGY`; default [`Strategy::Portfolio`](crate::Strategy)).
    pub strategy: crate::Strategy,
    /// The scheduling steps over which a PCT run places its priority-change points
    /// (`GREEN_PCT_STEPS`; default 64; a search adapts it to the steps its runs take).
    pub pct_steps: u32,
    /// Makes `Harness::run` a search (`GREEN_EXPLORE`; default `None`: one run).
    pub explore: Option<crate::Search>,
    /// Threads a search runs on (`GREEN_EXPLORE_THREADS`; default the core count).
    pub threads: usize,
    /// `(k, N)`: the search takes run indices `k, k+N, ...` below its count of runs
    /// (`GREEN_PARTITION`; default `(0, 1)`).
    pub partition: (u64, u64),
    /// Replay one run instead of searching (`GREEN_REPLAY=1`).
    pub replay: bool,
    /// The index of the search run this run is (`GREEN_RUN`; default `None`): what
    /// [`current_run`](crate::current_run) returns while it runs. A search sets it for each of
    /// its runs and their shrinking, and their replay lines carry it.
    pub run: Option<u64>,
    /// Which knobs the environment set (they win over the builder's).
    pub(crate) from_env: FromEnv,
}

/// The knobs the environment set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FromEnv {
    pub(crate) tape_or_seed: bool,
    pub(crate) tape_len: bool,
    pub(crate) density: bool,
    pub(crate) clock: bool,
    pub(crate) grace: bool,
    pub(crate) jitter: bool,
    pub(crate) shuffle: bool,
    pub(crate) faults: bool,
    pub(crate) blocking: bool,
    pub(crate) budget: bool,
    pub(crate) strategy: bool,
    pub(crate) pct_steps: bool,
    pub(crate) explore: bool,
    pub(crate) hang: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn invalid(name: &str, v: &str, want: &str) -> ! {
    panic!("green-harness: invalid value for {name}: {v:?}; expected {want}")
}

impl Config {
    /// The defaults, ignoring the environment: for tests that must not be perturbed by a
    /// developer's shell. One exception: with `GREEN_REPLAY=1` (a replay line being followed) it
    /// reads the environment as [`Config::default`] does, so the replay lines of hermetic tests
    /// (the zoo's kernels, say) replay too.
    ///
    /// ```
    /// let c = green_harness::Config::hermetic();
    /// assert_eq!((c.seed, c.tape.clone(), c.shuffle), (0, None, false));
    /// ```
    pub fn hermetic() -> Config {
        if env(REPLAY_ENV).is_some_and(|v| flag(REPLAY_ENV, &v)) {
            return Config::default();
        }
        Config::defaults()
    }

    /// The defaults, whatever the environment says.
    fn defaults() -> Config {
        Config {
            seed: 0,
            tape: None,
            tape_len: None,
            density: 0.1,
            virtual_clock: true,
            grace: Duration::from_millis(5),
            jitter: Duration::ZERO,
            shuffle: false,
            faults: Vec::new(),
            blocking: None,
            hang: DEFAULT_HANG,
            hang_jumps: DEFAULT_HANG_JUMPS,
            budget: DEFAULT_BUDGET,
            strategy: crate::Strategy::Portfolio,
            pct_steps: DEFAULT_PCT_STEPS,
            explore: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            partition: (0, 1),
            replay: false,
            run: None,
            from_env: FromEnv::default(),
        }
    }

    /// The tape a run of this configuration uses.
    ///
    /// ```
    /// let mut c = green_harness::Config::hermetic();
    /// c.seed = 5;
    /// assert_eq!(c.the_tape().seed(), Some(5));
    /// ```
    pub fn the_tape(&self) -> crate::Tape {
        match (&self.tape, self.tape_len) {
            (Some(t), _) => crate::Tape::new(t.clone()),
            (None, Some(n)) => crate::Tape::seeded_with_limit(self.seed, self.density, n),
            (None, None) => crate::Tape::seeded(self.seed, self.density),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config::defaults();
        let mut f = FromEnv::default();
        if let Some(v) = env(SEED_ENV) {
            c.seed = v.trim().parse().unwrap_or_else(|_| invalid(SEED_ENV, &v, "a number"));
            f.tape_or_seed = true;
        }
        // Set but empty is the zero tape (a replay line's `GREEN_TAPE=`), not unset.
        if let Ok(v) = std::env::var(TAPE_ENV) {
            let t = crate::Tape::from_hex(&v).unwrap_or_else(|| invalid(TAPE_ENV, &v, "hex bytes"));
            c.tape = Some(t.bytes().to_vec());
            f.tape_or_seed = true;
        }
        if let Some(v) = env(TAPE_LEN_ENV) {
            c.tape_len = Some(v.trim().parse().unwrap_or_else(|_| invalid(TAPE_LEN_ENV, &v, "a number of draws")));
            f.tape_len = true;
        }
        if let Some(v) = env(DENSITY_ENV) {
            let d: f64 = v.trim().parse().unwrap_or_else(|_| invalid(DENSITY_ENV, &v, "a probability (0 to 1)"));
            if !(0.0..=1.0).contains(&d) {
                invalid(DENSITY_ENV, &v, "a probability (0 to 1)");
            }
            c.density = d;
            f.density = true;
        }
        match env(CLOCK_ENV).as_deref() {
            None => {}
            Some("virtual") => (c.virtual_clock, f.clock) = (true, true),
            Some("real") => (c.virtual_clock, f.clock) = (false, true),
            Some(v) => invalid(CLOCK_ENV, v, "virtual or real"),
        }
        let ms = |name: &str| {
            env(name).map(|v| parse_ms(&v).unwrap_or_else(|| invalid(name, &v, "milliseconds, such as 5 or 0.5")))
        };
        if let Some(g) = ms(GRACE_ENV) {
            (c.grace, f.grace) = (g, true);
        }
        if let Some(j) = ms(JITTER_ENV) {
            (c.jitter, f.jitter) = (j, true);
        }
        if let Some(v) = env(SHUFFLE_ENV) {
            (c.shuffle, f.shuffle) = (flag(SHUFFLE_ENV, &v), true);
        }
        match env(FAULTS_ENV) {
            None => {}
            // What a search run's replay line says when its strategy turned the test's faults off.
            Some(v) if v.trim() == "none" => (c.faults, f.faults) = (Vec::new(), true),
            Some(v) => {
                c.faults = v
                    .split(',')
                    .map(|x| {
                        Fault::parse(x).unwrap_or_else(|| {
                            invalid(
                                FAULTS_ENV,
                                &v,
                                "none, or some of eintr,wouldblock,short,reset,pipe,refused,spurious,delayed,closed,kill,slow,reorder",
                            )
                        })
                    })
                    .collect();
                f.faults = true;
            }
        }
        if let Some(b) = ms(BLOCKING_ENV) {
            if b.is_zero() {
                invalid(BLOCKING_ENV, "0", "a resolution of 1 ms or more, such as 50 (unset it to turn detection off)");
            }
            (c.blocking, f.blocking) = (Some(b), true);
        }
        if let Some(h) = ms(HANG_ENV) {
            (c.hang, f.hang) = (h, true);
        }
        if let Some(v) = env(HANG_JUMPS_ENV) {
            c.hang_jumps = v
                .trim()
                .parse()
                .unwrap_or_else(|_| invalid(HANG_JUMPS_ENV, &v, "a number of clock jumps (0 turns the check off)"));
        }
        if let Some(b) = ms(BUDGET_ENV) {
            if b.is_zero() {
                invalid(BUDGET_ENV, "0", "a budget of 1 ms or more, such as 60000 (unset it for the default 60 s)");
            }
            (c.budget, f.budget) = (b, true);
        }
        if let Some(v) = env(STRATEGY_ENV) {
            c.strategy = crate::Strategy::parse(&v)
                .unwrap_or_else(|| invalid(STRATEGY_ENV, &v, "random, pct:<depth>, swarm, guided or portfolio"));
            f.strategy = true;
        }
        if let Some(v) = env(PCT_STEPS_ENV) {
            c.pct_steps = v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or_else(|| invalid(PCT_STEPS_ENV, &v, "a number of steps (1 or more)"));
            f.pct_steps = true;
        }
        if let Some(v) = env(EXPLORE_ENV) {
            c.explore = Some(
                crate::Search::parse(&v)
                    .filter(|s| !matches!(s, crate::Search::Runs(0)) && s != &crate::Search::For(Duration::ZERO))
                    .unwrap_or_else(|| {
                        invalid(
                            EXPLORE_ENV,
                            &v,
                            "a number of runs (1 or more), or 30s / 500ms (unset it for a single run)",
                        )
                    }),
            );
            f.explore = true;
        }
        if let Some(v) = env(THREADS_ENV) {
            c.threads = v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or_else(|| invalid(THREADS_ENV, &v, "a number of threads (1 or more)"));
        }
        if let Some(v) = env(PARTITION_ENV) {
            c.partition =
                crate::explore::parse_partition(&v).unwrap_or_else(|| invalid(PARTITION_ENV, &v, "k/N with k < N"));
        }
        c.replay = env(REPLAY_ENV).is_some_and(|v| flag(REPLAY_ENV, &v));
        if let Some(v) = env(RUN_ENV) {
            c.run = Some(v.trim().parse().unwrap_or_else(|_| invalid(RUN_ENV, &v, "a search run index, such as 7")));
        }
        if let Some(v) = env(SHRINK_ENV) {
            // Read where a search shrinks; checked here so that a bad value fails at once.
            parse_ms(&v).unwrap_or_else(|| invalid(SHRINK_ENV, &v, "milliseconds, such as 10000"));
        }
        c.from_env = f;
        c
    }
}
