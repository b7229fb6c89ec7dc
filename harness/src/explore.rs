//! Exploration: many runs, searched (DESIGN §6.1).
//!
//! [`Harness::explore`](crate::Harness::explore) runs a body over many runs, each a fresh hub
//! with its own tape derived from (base seed, run index), chosen by a [`Strategy`]. Every decision
//! of a run is drawn from its tape or written in its replay line, so any run of any strategy
//! replays from that line alone.
//!
//! Ground rules:
//!
//! * Run indices are split into [`LANES`] lanes (position `p` of the search goes to lane
//!   `p % LANES`); a lane runs its positions in order and keeps its own state (the `Guided`
//!   corpus). Threads take whole lanes, so what a lane does never depends on the thread count,
//!   and the reported failure is the one at the lowest position: the same base seed gives the
//!   same outcome on 1 thread and on 16. A time-bounded search gives each wave of lanes (as
//!   many as threads) its share of the time, so every lane searches, whatever the thread count
//!   (its outcome depends on the machine's speed anyway).
//! * `GREEN_PARTITION=k/N` keeps the run indices `k, k+N, k+2N, ...`: N CI jobs search disjoint
//!   parts of one space.
//! * A failing tape is shrunk on the spot (zeroing, truncating, lowering bytes) while the failure
//!   keeps its message and site, within a time bound.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::Fault;
use crate::Tape;

/// Lanes of a search (see the module docs).
///
/// ```
/// // Run indices are split into this many lanes, whatever the thread count.
/// assert_eq!(green_harness::LANES, 16);
/// ```
pub const LANES: u64 = 16;

/// How a search chooses each run's perturbation (`GREEN_STRATEGY`: `random`, `pct:<depth>`,
/// `swarm`, `guided`, `portfolio`).
///
/// ```
/// use green_harness::Strategy;
/// assert_eq!(Strategy::parse("pct:3"), Some(Strategy::Pct { depth: 3 }));
/// assert_eq!(Strategy::Portfolio.to_string(), "portfolio");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Strategy {
    /// A fresh seeded tape per run: per-decision draws, scheduling shuffled, the configured
    /// faults and jitter.
    Random,
    /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): random distinct
    /// priorities for greenthreads (a tape-drawn non-zero byte each, skipping zero draws, so
    /// they are spread whatever the tape's density; a rare tie is broken by queue order, so they
    /// always order the greenthreads totally), exactly `depth - 1` priority-change points at
    /// random scheduling steps; the hub runs the highest-priority ready greenthread. Bounds to
    /// know: priorities are bytes (1–255), so past 255 greenthreads some share one (queue order
    /// breaks the tie), and one-at-a-time stepping holds for the first
    /// [`green::hooks::ONE_AT_A_TIME_STEPS`] (1024) steps of a run, whole batches after; PCT's
    /// bound of 1/(n·k^(d−1)) per run holds for bugs within those steps.
    Pct {
        /// The bug depth searched for (≥ 1).
        depth: u8,
    },
    /// Swarm testing (Groce et al., ISSTA 2012): per run a random subset of the configured
    /// fault kinds, jitter and shuffling is on, at a random density.
    Swarm,
    /// Coverage-guided: keeps the tapes that reached new behaviour (new (spawn site, green call,
    /// wait site) transitions, new (spawn site, call site, fault kind) triples, either taken in a
    /// new power-of-two bucket of counts, as AFL counts edges; new fault kinds per fd) and
    /// mutates them.
    Guided,
    /// The default: interleaves the others run by run (Random, PCT at depth 2, Swarm, Guided,
    /// PCT at depth 3). Its Random runs are dense: each at a density of 0.3, 0.5 or 0.7 drawn
    /// from the run's seed (at least the configured one), where Random alone keeps the
    /// configured density.
    #[default]
    Portfolio,
}

impl Strategy {
    /// Parses `GREEN_STRATEGY`'s syntax.
    ///
    /// ```
    /// use green_harness::Strategy;
    /// assert_eq!(Strategy::parse("pct:3"), Some(Strategy::Pct { depth: 3 }));
    /// assert_eq!(Strategy::parse("swarm"), Some(Strategy::Swarm));
    /// assert_eq!(Strategy::parse("fuzzy"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s.trim() {
            "random" => Strategy::Random,
            "swarm" => Strategy::Swarm,
            "guided" => Strategy::Guided,
            "portfolio" => Strategy::Portfolio,
            "pct" => Strategy::Pct { depth: 2 },
            p => Strategy::Pct { depth: p.strip_prefix("pct:")?.parse().ok().filter(|d| *d >= 1)? },
        })
    }

    /// The concrete strategy of run index `p` (a portfolio interleaves the others).
    pub(crate) fn at(self, p: u64) -> Strategy {
        match self {
            Strategy::Portfolio => {
                const CYCLE: [Strategy; 5] = [
                    Strategy::Random,
                    Strategy::Pct { depth: 2 },
                    Strategy::Swarm,
                    Strategy::Guided,
                    Strategy::Pct { depth: 3 },
                ];
                CYCLE[(p % CYCLE.len() as u64) as usize]
            }
            s => s,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Random => f.write_str("random"),
            Strategy::Pct { depth } => write!(f, "pct:{depth}"),
            Strategy::Swarm => f.write_str("swarm"),
            Strategy::Guided => f.write_str("guided"),
            Strategy::Portfolio => f.write_str("portfolio"),
        }
    }
}

/// How long a search goes on (`GREEN_EXPLORE`: `1000` runs or `30s`).
///
/// ```
/// use green_harness::Search;
/// assert_eq!(Search::parse("1000"), Some(Search::Runs(1000)));
/// assert_eq!(Search::parse("30s"), Some(Search::For(std::time::Duration::from_secs(30))));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// This many runs.
    Runs(u64),
    /// Runs until this much time passed.
    For(Duration),
}

impl Search {
    /// The search itself, or a panic naming the misuse when it would make no run at all (a test
    /// that passes without running its body).
    pub(crate) fn refuse_empty(self) -> Search {
        match self {
            Search::Runs(0) => panic!(
                "green-harness: a search of 0 runs (explore(0), Search::Runs(0), #[green_harness::test(explore = 0)]) \
                 would pass without running the test; ask for at least one run, or leave the search out to run once"
            ),
            Search::For(d) if d.is_zero() => panic!(
                "green-harness: a search for no time (explore_for(0), Search::For(Duration::ZERO)) would pass \
                 without running the test; give it a positive duration"
            ),
            s => s,
        }
    }

    /// Parses `GREEN_EXPLORE`'s syntax: a number of runs, or a duration in `s` or `ms`.
    ///
    /// ```
    /// use green_harness::Search;
    /// use std::time::Duration;
    /// assert_eq!(Search::parse("1000"), Some(Search::Runs(1000)));
    /// assert_eq!(Search::parse("30s"), Some(Search::For(Duration::from_secs(30))));
    /// assert_eq!(Search::parse("500ms"), Some(Search::For(Duration::from_millis(500))));
    /// assert_eq!(Search::parse("soon"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Search> {
        let s = s.trim();
        if let Some(ms) = s.strip_suffix("ms") {
            return ms.trim().parse().ok().map(|n| Search::For(Duration::from_millis(n)));
        }
        if let Some(secs) = s.strip_suffix('s') {
            return secs.trim().parse().ok().map(|n| Search::For(Duration::from_secs(n)));
        }
        s.parse().ok().map(Search::Runs)
    }
}

/// One failure a search found.
///
/// ```
/// use green_harness::{Config, Harness, Search};
/// // A body that fails in one run of ten (its index says which).
/// let x = Harness::with_config(Config::hermetic()).try_explore(Search::Runs(10), || {
///     assert_ne!(green_harness::current_run(), Some(4), "run 4 fails");
/// });
/// let f = x.first_failure().unwrap();
/// assert_eq!(f.run, 4);
/// assert!(f.message.contains("run 4 fails"));
/// assert!(f.found_line.starts_with("replay: GREEN_REPLAY=1 ") && f.found_line.contains(" GREEN_RUN=4 "));
/// assert!(f.shrunk.bytes().is_empty(), "it needs no perturbation: {f}");
/// ```
#[derive(Clone, Debug)]
pub struct Failure {
    /// The run index it was found at.
    pub run: u64,
    /// The strategy of that run.
    pub strategy: Strategy,
    /// The failure's message (a panic's message, or the harness's verdict).
    pub message: String,
    /// Where it panicked (`file:line:column`), when it was a panic.
    pub site: Option<String>,
    /// The tape of the run that found it.
    pub found: Tape,
    /// The tape after shrinking (it fails with the same message and site).
    pub shrunk: Tape,
    /// Bytes active (non-zero) in the found tape's drawn part and in the shrunk tape.
    pub active: (usize, usize),
    /// The replay line of the run that found it.
    pub found_line: String,
    /// The replay line of the shrunk tape.
    pub shrunk_line: String,
    /// Wall time from the start of the search until this failing run ended (shrinking not
    /// included; searches in parallel lanes, so a later index can be found sooner).
    pub found_after: Duration,
    /// Wall time spent shrinking it.
    pub shrink_time: Duration,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "run {} ({}, found after {:.1?}, shrunk in {:.1?}) failed: {}",
            self.run, self.strategy, self.found_after, self.shrink_time, self.message
        )?;
        if let Some(site) = &self.site {
            writeln!(f, "  at {site}")?;
        }
        writeln!(f, "found:  {}", self.found_line)?;
        write!(f, "shrunk: {} (active bytes {} -> {})", self.shrunk_line, self.active.0, self.active.1)
    }
}

/// What a search did.
///
/// ```
/// use green_harness::{Config, Harness, Search};
/// let x = Harness::with_config(Config::hermetic()).try_explore(Search::Runs(20), || {
///     green::spawn(|| ()).wait().unwrap();
/// });
/// assert_eq!(x.runs, 20);
/// assert!(x.failures.is_empty() && x.first_failure().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct Exploration {
    /// Runs up to the first failure (its index + 1 within the partition), or all runs made.
    pub runs: u64,
    /// Wall time of the search (shrinking included).
    pub elapsed: Duration,
    /// The strategy searched with.
    pub strategy: Strategy,
    /// The failures found: the first one (lowest run index), or with `keep_going` every distinct
    /// one (by message and site), in run order.
    pub failures: Vec<Failure>,
}

impl Exploration {
    /// The first failure, if any.
    ///
    /// ```
    /// use green_harness::{Config, Harness, Search};
    /// let x = Harness::with_config(Config::hermetic()).try_explore(Search::Runs(3), || panic!("always"));
    /// assert_eq!(x.first_failure().unwrap().run, 0);
    /// ```
    pub fn first_failure(&self) -> Option<&Failure> {
        self.failures.first()
    }
}

thread_local! {
    static CURRENT_RUN: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The index of the search run the calling thread is making (`None` outside a search): what a
/// body can log to tell runs apart, and what partitions split. A failure's shrinking runs and its
/// replay lines (`GREEN_RUN`) keep the index of the run that found it, so a body that reads it
/// replays too.
///
/// ```
/// use std::sync::Mutex;
/// static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// green_harness::Harness::new().explore(8, || SEEN.lock().unwrap().push(green_harness::current_run().unwrap()));
/// let mut seen = SEEN.lock().unwrap().clone();
/// seen.sort();
/// assert_eq!(seen, (0..8).collect::<Vec<_>>());
/// assert_eq!(green_harness::current_run(), None);
/// ```
pub fn current_run() -> Option<u64> {
    CURRENT_RUN.with(std::cell::Cell::get)
}

/// Sets what [`current_run`] returns on this thread; returns what it returned before.
pub(crate) fn set_current_run(run: Option<u64>) -> Option<u64> {
    CURRENT_RUN.with(|c| c.replace(run))
}

/// splitmix64: the run seeds and every decision of the search itself.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of run `index` of a search with base seed `base`.
pub(crate) fn run_seed(base: u64, index: u64) -> u64 {
    mix(base ^ mix(index.wrapping_add(0x5851_F42D_4C95_7F2D)))
}

/// A small deterministic generator for the search's own choices (never a thread RNG).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The density of a portfolio's Random run: one of 0.3, 0.5 and 0.7, drawn from the run's seed.
///
/// A search's runs are cheap and the bugs it hunts need several perturbations in one run (two
/// short writes in a row, one greenthread winning three hand-overs), which the configured
/// density (0.1 by default, chosen so that a single perturbed run stays close to the plain one)
/// rarely gives; the portfolio's sparse runs come from Swarm and Guided. Measured on the zoo
/// (10 explorer seeds, summed median runs-to-first-failure of Random alone): 558 at 0.1, 140 at
/// 0.3, 102 at 0.5, 63 at 0.7.
pub(crate) fn portfolio_density(seed: u64) -> f64 {
    [0.3, 0.5, 0.7][Rng::new(seed ^ 0x504f_5254_0000_0000).below(3) as usize]
}

/// A swarm run's knobs: a subset of the configured fault kinds, jitter and shuffling, a density.
pub(crate) fn swarm_knobs(seed: u64, faults: &[Fault], jitter: Duration) -> (Vec<Fault>, Duration, bool, f64) {
    let mut r = Rng::new(seed ^ 0x5357_4152_4d00_0000);
    let kinds: Vec<Fault> = faults.iter().copied().filter(|_| r.below(2) == 1).collect();
    let jitter = if r.below(2) == 1 { jitter } else { Duration::ZERO };
    let shuffle = r.below(4) != 0;
    let density = [0.05, 0.1, 0.3, 0.5, 0.7][r.below(5) as usize];
    (kinds, jitter, shuffle, density)
}

/// Mutates a corpus tape (coverage-guided search).
pub(crate) fn mutate(base: &[u8], r: &mut Rng) -> Vec<u8> {
    let mut t = base.to_vec();
    if t.is_empty() {
        t.push(0);
    }
    for _ in 0..1 + r.below(4) {
        let i = r.below(t.len() as u64) as usize;
        match r.below(7) {
            0 => t[i] = 0,
            1 => t[i] = 1 + r.below(255) as u8,
            2 => t[i] = t[i].wrapping_add(1),
            3 => t.insert(i, 1 + r.below(255) as u8),
            4 if t.len() > 1 => {
                t.remove(i);
            }
            5 => {
                // Extend with a few random draws past the end.
                for _ in 0..1 + r.below(16) {
                    t.push(if r.below(4) == 0 { 1 + r.below(255) as u8 } else { 0 });
                }
            }
            _ => {
                // Havoc: redraw a region at a random density (dense regions reorder and fault
                // many decisions in a row, which sparse single-byte edits rarely reach).
                let density = [4u64, 8, 16, 32][r.below(4) as usize];
                let end = (i + 1 + r.below(32) as usize).min(t.len());
                for b in &mut t[i..end] {
                    *b = if r.below(32) < density { 1 + r.below(255) as u8 } else { 0 };
                }
            }
        }
    }
    t
}

/// State shared by the lanes of one search.
pub(crate) struct Shared {
    /// The lowest failing position found so far (`u64::MAX`: none).
    pub(crate) stop_at: AtomicU64,
    /// Runs made so far.
    pub(crate) made: AtomicU64,
    pub(crate) next_lane: AtomicUsize,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared { stop_at: AtomicU64::new(u64::MAX), made: AtomicU64::new(0), next_lane: AtomicUsize::new(0) }
    }

    pub(crate) fn found(&self, p: u64) {
        self.stop_at.fetch_min(p, Ordering::SeqCst);
    }
}

/// A coverage-guided lane's corpus.
#[derive(Default)]
pub(crate) struct Corpus {
    pub(crate) tapes: Vec<Vec<u8>>,
    pub(crate) seen: HashSet<u64>,
}

/// Parses `GREEN_PARTITION=k/N`.
///
/// ```
/// assert_eq!(green_harness::parse_partition("1/4"), Some((1, 4)));
/// assert_eq!(green_harness::parse_partition("4/4"), None);
/// ```
pub fn parse_partition(s: &str) -> Option<(u64, u64)> {
    let (k, n) = s.trim().split_once('/')?;
    let (k, n): (u64, u64) = (k.trim().parse().ok()?, n.trim().parse().ok()?);
    (n > 0 && k < n).then_some((k, n))
}

/// The time shrinking may take (`GREEN_SHRINK_MS`, default 10 s; a bad value is refused when the
/// harness reads its environment).
pub(crate) fn shrink_budget() -> Duration {
    std::env::var(crate::config::SHRINK_ENV)
        .ok()
        .and_then(|v| crate::config::parse_ms(&v))
        .unwrap_or(Duration::from_secs(10))
}

/// What makes two failures the same (with their site), for deduplication and for shrinking. A
/// panic's first line (its site tells it apart from others; values in later lines, such as an
/// assertion's operands, vary between runs of one bug). A verdict that lists what it found (the
/// hub's caught panics, leaks, invariant violations: a first line ending in `:`) adds its list.
/// A hang or deadlock, whose first line says only that nothing can progress, adds where each
/// greenthread waits (the `blocked in ... at ...` of its wait reasons, without ids).
pub(crate) fn failure_key(message: &str) -> String {
    let (head, reasons) = match message.split_once("Wait reasons:") {
        Some((h, r)) => (h, Some(r)),
        None => (message, None),
    };
    let mut lines = head.lines();
    let mut key = lines.next().unwrap_or("").to_string();
    if key.trim_end().ends_with(':') {
        for l in lines.take(16) {
            key.push('\n');
            key.push_str(l.trim());
        }
    }
    if let Some(r) = reasons {
        let mut waits: Vec<&str> = r
            .lines()
            .filter_map(|l| l.find("blocked in ").map(|i| &l[i..]))
            .map(|w| w.split(", spawned at").next().unwrap_or(w))
            .collect();
        waits.sort_unstable();
        waits.dedup();
        for w in waits {
            key.push('\n');
            key.push_str(w);
        }
    }
    key
}

/// Shrinks `bytes` while `still_fails` holds: truncation, zeroed chunks, lowered bytes.
pub(crate) fn shrink(bytes: Vec<u8>, budget: Duration, mut still_fails: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let start = Instant::now();
    let mut best = bytes;
    while best.last() == Some(&0) {
        best.pop();
    }
    let mut improved = true;
    while improved && start.elapsed() < budget {
        improved = false;
        // Truncate: keep a prefix.
        let mut keep = best.len() / 2;
        while keep < best.len() && start.elapsed() < budget {
            let cand = best[..keep].to_vec();
            if still_fails(&cand) {
                best = cand;
                improved = true;
                keep = best.len() / 2;
            } else {
                keep += (best.len() - keep).div_ceil(2).max(1);
            }
        }
        // Zero chunks, large to small.
        let mut chunk = best.len().div_ceil(2).max(1);
        loop {
            let mut i = 0;
            while i < best.len() && start.elapsed() < budget {
                if best[i..(i + chunk).min(best.len())].iter().any(|&b| b != 0) {
                    let mut cand = best.clone();
                    cand[i..(i + chunk).min(best.len())].iter_mut().for_each(|b| *b = 0);
                    if still_fails(&cand) {
                        best = cand;
                        improved = true;
                    }
                }
                i += chunk;
            }
            if chunk == 1 || start.elapsed() >= budget {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
        // Lower the remaining bytes.
        for i in 0..best.len() {
            if start.elapsed() >= budget {
                break;
            }
            for lower in [1u8, best[i] / 2] {
                if best[i] > lower && lower > 0 {
                    let mut cand = best.clone();
                    cand[i] = lower;
                    if still_fails(&cand) {
                        best = cand;
                        improved = true;
                        break;
                    }
                }
            }
        }
        while best.last() == Some(&0) {
            best.pop();
        }
    }
    best
}

/// A search's outcome with the report of its first run (what `Harness::run` returns when it
/// searched).
pub(crate) struct Found {
    pub(crate) exploration: Exploration,
    pub(crate) first_report: Option<crate::Report>,
}

/// Why a run failed: its message and, for a panic, where.
type RunFailure = (String, Option<String>);

/// A failing run before shrinking.
struct Raw {
    pos: u64,
    index: u64,
    strategy: Strategy,
    harness: crate::Harness,
    message: String,
    site: Option<String>,
    tape: Tape,
    /// Since the search started.
    at: Duration,
}

/// What a lane found and made.
struct LaneResult {
    failures: Vec<Raw>,
    first_report: Option<crate::Report>,
}

impl crate::Harness {
    /// The harness of one run of a search: the strategy's knobs, quiet panics, replayable alone.
    fn for_run(&self, strategy: Strategy, seed: u64, tape: Option<Vec<u8>>) -> crate::Harness {
        let mut h = self.clone();
        h.base = Some(Box::new(self.config.clone()));
        h.run_strategy = Some(strategy);
        h.quiet = true;
        h.coverage = strategy == Strategy::Guided;
        let c = &mut h.config;
        c.explore = None;
        c.replay = true;
        c.seed = seed;
        c.tape = tape;
        c.strategy = Strategy::Random;
        match strategy {
            Strategy::Random if self.config.strategy == Strategy::Portfolio => {
                c.shuffle = true;
                c.density = c.density.max(portfolio_density(seed));
            }
            Strategy::Random | Strategy::Guided => c.shuffle = true,
            Strategy::Pct { depth } => {
                c.strategy = Strategy::Pct { depth };
                c.shuffle = false;
                // PCT's own draws (priorities, change points) skip zero bytes, so they are
                // spread whatever the density; the run's other draws (configured faults,
                // jitter) are at least this dense (measured on the zoo with it). It is in the
                // run's replay line.
                c.density = c.density.max(0.5);
            }
            Strategy::Swarm => {
                let (faults, jitter, shuffle, density) = swarm_knobs(seed, &self.config.faults, self.config.jitter);
                c.faults = faults;
                c.jitter = jitter;
                c.shuffle = shuffle;
                c.density = density;
            }
            Strategy::Portfolio => unreachable!("a portfolio run has a concrete strategy"),
        }
        h
    }

    /// One run: `Some` failure (message, site) or `None`, with its report and coverage.
    fn judge_run(&self, body: &dyn Fn()) -> (crate::Report, Option<RunFailure>, HashSet<u64>) {
        let mut extras = crate::Extras::default();
        let (report, outcome) = self.run_inner(self.the_tape(), body, &mut extras);
        let failure = match outcome {
            Err(p) => {
                let msg = if let Some(s) = p.downcast_ref::<&str>() {
                    (*s).to_string()
                } else if let Some(s) = p.downcast_ref::<String>() {
                    s.clone()
                } else {
                    "a panic with a non-string payload".to_string()
                };
                let site = extras.panic.filter(|(m, _)| *m == msg).map(|(_, at)| at);
                Some((msg, site))
            }
            Ok(()) => self.verdict(&report).map(|v| (v, None)),
        };
        (report, failure, extras.coverage)
    }

    /// Refuses a partition that holds no run of the search (`GREEN_PARTITION=k/N` with `k` at or
    /// past the number of runs): that job would pass without running the test.
    fn refuse_empty_partition(&self, search: Search) {
        let (k, n) = self.config.partition;
        if let Search::Runs(runs) = search {
            if k >= runs {
                panic!(
                    "green-harness: GREEN_PARTITION={k}/{n} takes run indices {k}, {}, ... of a search of {runs} \
                     runs: none, so this job would pass without running the test; search at least {n} runs \
                     (GREEN_EXPLORE={n}) or split it into at most {runs} partitions",
                    k + n
                );
            }
        }
    }

    /// Runs lane `lane` of a search on this thread (one of `threads` running the lanes).
    ///
    /// A time-bounded search gives each lane a share of the time: lanes run in waves of
    /// `threads`, and lane `l` stops at the end of its wave's share, so every lane's run indices
    /// are searched (not only the first wave's for the whole duration).
    fn run_lane(
        &self,
        lane: u64,
        threads: u64,
        search: Search,
        start: Instant,
        shared: &Shared,
        body: &dyn Fn(),
    ) -> LaneResult {
        let lane_end = match search {
            Search::For(d) => {
                let waves = LANES.div_ceil(threads.max(1));
                d.mul_f64((lane / threads.max(1) + 1) as f64 / waves as f64)
            }
            Search::Runs(_) => Duration::MAX,
        };
        let (k, n) = self.config.partition;
        let base = self.config.seed;
        let mut corpus = Corpus::default();
        let mut out = LaneResult { failures: Vec::new(), first_report: None };
        let mut pos = lane;
        let mut pct_steps = 0u32;
        loop {
            match search {
                // A partition takes its share of the one space of `runs` indices.
                Search::Runs(runs) if k + pos * n >= runs => break,
                // Lane 0's first run is always made: a time-bounded search runs the body at
                // least once, however short its time (or slow the threads' start).
                Search::For(_) if start.elapsed() >= lane_end && (lane, pos) != (0, 0) => break,
                _ => {}
            }
            if !self.keep_going && pos > shared.stop_at.load(Ordering::SeqCst) {
                break;
            }
            let index = k + pos * n;
            let seed = run_seed(base, index);
            // By run index, not position: run i of a partitioned search is run i of the whole one.
            let strategy = self.config.strategy.at(index);
            let tape = (strategy == Strategy::Guided).then(|| {
                let mut r = Rng::new(seed);
                if corpus.tapes.is_empty() || r.below(3) == 0 {
                    // A fresh tape, at a density of its own (as a swarm run picks one).
                    let density = [self.config.density, 0.3, 0.5, 0.7][r.below(4) as usize];
                    Tape::from_seed(seed, 64 + r.below(512) as usize, density).bytes().to_vec()
                } else {
                    let pick = r.below(corpus.tapes.len() as u64) as usize;
                    mutate(&corpus.tapes[pick], &mut r)
                }
            });
            let mut h = self.for_run(strategy, seed, tape);
            if let Strategy::Pct { .. } = strategy {
                // PCT's k: the most steps an earlier PCT run of this lane took (within the steps
                // taken one at a time), unless the environment fixed it.
                if pct_steps > 0 && !self.config.from_env.pct_steps {
                    h.config.pct_steps = pct_steps.min(green::hooks::ONE_AT_A_TIME_STEPS);
                }
            }
            h.config.run = Some(index);
            let (report, failure, coverage) = h.judge_run(body);
            pct_steps = pct_steps.max(report.steps);
            shared.made.fetch_add(1, Ordering::Relaxed);
            if strategy == Strategy::Guided {
                let before = corpus.seen.len();
                corpus.seen.extend(coverage);
                corpus.seen.extend(report.faults.iter().map(|f| {
                    let d = std::mem::discriminant(&f.what);
                    let mut x = 0xcbf2_9ce4_8422_2325u64;
                    for b in format!("{d:?}{:?}", f.fd.map(|x| x.1)).bytes() {
                        x = (x ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                    }
                    x
                }));
                if corpus.seen.len() > before {
                    corpus.tapes.push(report.tape.explicit().bytes().to_vec());
                }
            }
            if let Some((message, site)) = failure {
                shared.found(pos);
                let at = start.elapsed();
                out.failures.push(Raw {
                    pos,
                    index,
                    strategy,
                    harness: h,
                    message,
                    site,
                    tape: report.tape.clone(),
                    at,
                });
                if !self.keep_going {
                    break;
                }
            }
            if pos == 0 {
                out.first_report = Some(report);
            }
            pos += LANES;
        }
        out
    }

    /// Runs every lane on this thread (a body that is not `Sync`: `Harness::run` searching).
    pub(crate) fn search_local(&self, search: Search, body: &dyn Fn()) -> Found {
        self.refuse_empty_partition(search);
        let start = Instant::now();
        let shared = Shared::new();
        let lanes: Vec<LaneResult> = (0..LANES).map(|l| self.run_lane(l, 1, search, start, &shared, body)).collect();
        self.finish_search(search, start, &shared, lanes, body)
    }

    /// Runs the lanes on `GREEN_EXPLORE_THREADS` threads, one fresh hub each.
    pub(crate) fn search_parallel(&self, search: Search, body: &(dyn Fn() + Sync)) -> Found {
        self.refuse_empty_partition(search);
        let threads = self.config.threads.clamp(1, LANES as usize);
        if threads == 1 {
            return self.search_local(search, body);
        }
        let start = Instant::now();
        let shared = Shared::new();
        // The test's name (cargo test names its threads after tests), for the replay lines the
        // search threads print.
        let test = std::thread::current().name().map(str::to_string);
        let mut lanes: Vec<(u64, LaneResult)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (shared, test) = (&shared, test.clone());
                    std::thread::Builder::new()
                        .name(format!("green-explore-{t}"))
                        .spawn_scoped(s, move || {
                            crate::SEARCH_TEST.with(|n| *n.borrow_mut() = test);
                            let mut done = Vec::new();
                            loop {
                                let l = shared.next_lane.fetch_add(1, Ordering::SeqCst) as u64;
                                if l >= LANES {
                                    return done;
                                }
                                done.push((l, self.run_lane(l, threads as u64, search, start, shared, body)));
                            }
                        })
                        .expect("green-harness: cannot start a search thread")
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        });
        lanes.sort_by_key(|(l, _)| *l);
        self.finish_search(search, start, &shared, lanes.into_iter().map(|x| x.1).collect(), body)
    }

    /// Merges the lanes deterministically (lowest run position first) and shrinks what is
    /// reported.
    fn finish_search(
        &self,
        search: Search,
        start: Instant,
        shared: &Shared,
        lanes: Vec<LaneResult>,
        body: &dyn Fn(),
    ) -> Found {
        let mut first_report = None;
        let mut raws = Vec::new();
        for l in lanes {
            if l.first_report.is_some() {
                first_report = l.first_report;
            }
            raws.extend(l.failures);
        }
        raws.sort_by_key(|r| r.pos);
        let mut keys = HashSet::new();
        raws.retain(|r| keys.insert((failure_key(&r.message), r.site.clone())));
        if !self.keep_going {
            raws.truncate(1);
        }
        let runs = match (raws.first(), search) {
            (Some(r), _) if !self.keep_going => r.pos + 1,
            _ => shared.made.load(Ordering::Relaxed),
        };
        let failures = raws.into_iter().map(|r| self.shrink_failure(r, body)).collect();
        Found {
            exploration: Exploration { runs, elapsed: start.elapsed(), strategy: self.config.strategy, failures },
            first_report,
        }
    }

    /// Shrinks a failure's tape on the spot while it keeps its message and site.
    fn shrink_failure(&self, r: Raw, body: &dyn Fn()) -> Failure {
        let began = Instant::now();
        let mut h = r.harness.clone();
        h.coverage = false;
        let same = |cand: &[u8]| {
            let mut hc = h.clone();
            hc.config.tape = Some(cand.to_vec());
            let (_, f, _) = hc.judge_run(body);
            f.is_some_and(|(m, s)| failure_key(&m) == failure_key(&r.message) && s == r.site)
        };
        let found_bytes = r.tape.explicit().bytes().to_vec();
        let found_line = h.replay_line(&r.tape);
        struct Shrinking;
        impl Drop for Shrinking {
            fn drop(&mut self) {
                crate::SHRINKING.with(|s| s.borrow_mut().take());
            }
        }
        crate::SHRINKING.with(|s| *s.borrow_mut() = Some(found_line.clone()));
        let guard = Shrinking;
        let shrunk = Tape::new(shrink(found_bytes, shrink_budget(), same));
        drop(guard);
        let mut hs = h.clone();
        hs.config.tape = Some(shrunk.bytes().to_vec());
        let shrunk_line = hs.replay_line(&shrunk);
        Failure {
            run: r.index,
            strategy: r.strategy,
            message: r.message,
            site: r.site,
            active: (r.tape.explicit().active(), shrunk.active()),
            found: r.tape,
            shrunk,
            found_line,
            shrunk_line,
            found_after: r.at,
            shrink_time: began.elapsed(),
        }
    }

    /// The one run a replay line describes, as a one-run exploration (`try_explore` under
    /// `GREEN_REPLAY=1`). Not shrunk: the line is what to replay.
    pub(crate) fn replay_one(&self, body: &dyn Fn()) -> Exploration {
        let start = Instant::now();
        let mut h = self.clone();
        h.quiet = true;
        let (report, failure, _) = h.judge_run(body);
        let strategy = match self.config.strategy {
            s @ Strategy::Pct { .. } => s,
            _ => Strategy::Random,
        };
        let failures = failure
            .map(|(message, site)| {
                let line = self.replay_line(&report.tape);
                let tape = report.tape.clone();
                Failure {
                    run: 0,
                    strategy,
                    message,
                    site,
                    active: (tape.explicit().active(), tape.explicit().active()),
                    shrunk: tape.explicit(),
                    found: tape,
                    found_line: line.clone(),
                    shrunk_line: line,
                    found_after: start.elapsed(),
                    shrink_time: Duration::ZERO,
                }
            })
            .into_iter()
            .collect();
        Exploration { runs: 1, elapsed: start.elapsed(), strategy: self.config.strategy, failures }
    }

    /// Panics with a search's failures, if it found any.
    pub(crate) fn fail_search(&self, found: &Found) {
        let x = &found.exploration;
        if x.failures.is_empty() {
            return;
        }
        let list: Vec<String> = x.failures.iter().map(ToString::to_string).collect();
        panic!(
            "green-harness: the search ({}, {} runs, {:.1?}) found {} failure(s):\n{}",
            x.strategy,
            x.runs,
            x.elapsed,
            x.failures.len(),
            list.join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shrinking truncates, zeroes and lowers: a failure that needs byte 1 to be at least 10
    /// shrinks to `[0, v]` with `v` lowered from 200 toward 10 (halving), the rest gone.
    #[test]
    fn shrinking_truncates_zeroes_and_lowers_values() {
        let fails = |t: &[u8]| t.get(1).is_some_and(|&b| b >= 10);
        let out = shrink(vec![9, 200, 0, 77, 5], Duration::from_secs(10), fails);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], 0, "{out:?}");
        assert!((10..=24).contains(&out[1]), "lowered by halving from 200: {out:?}");
        // A value that must stay exactly as found is kept.
        let exact = |t: &[u8]| t.first() == Some(&200);
        assert_eq!(shrink(vec![200, 3], Duration::from_secs(10), exact), [200]);
    }
}
