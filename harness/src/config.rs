//! The harness's settings; every field's default comes from an environment variable.

use std::time::Duration;

/// Environment variable: the run's seed (a number); expands to a tape.
pub const SEED_ENV: &str = "GREEN_SEED";
/// Environment variable: the run's tape, as hex (wins over the seed).
pub const TAPE_ENV: &str = "GREEN_TAPE";
/// Environment variable: `virtual` (default) or `real`.
pub const CLOCK_ENV: &str = "GREEN_CLOCK";
/// Environment variable: maximum timer jitter in milliseconds (default 0: off).
pub const JITTER_ENV: &str = "GREEN_JITTER_MS";
/// Environment variable: `1` to shuffle independent greenthreads in ready batches.
pub const SHUFFLE_ENV: &str = "GREEN_SHUFFLE";
/// Environment variable: comma-separated fault kinds
/// (`eintr,wouldblock,short,reset,pipe,refused,spurious,delayed,closed`).
pub const FAULTS_ENV: &str = "GREEN_FAULTS";
/// Environment variable: blocking-detection resolution in milliseconds (default off).
pub const BLOCKING_ENV: &str = "GREEN_BLOCKING_MS";
/// Environment variable: the per-run wall-clock budget in milliseconds (default 60000).
pub const BUDGET_ENV: &str = "GREEN_BUDGET_MS";

/// A listener fault the harness may inject (DESIGN §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `EINTR` from a socket call (retried by green sockets).
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
    /// Spurious readiness of parked waiters after a poll.
    Spurious,
    /// Readiness held back to the next pass.
    Delayed,
    /// Close-while-waiting: a waiter sees its fd closed (simulated; the fd stays open).
    Closed,
}

impl Fault {
    /// Every kind.
    pub const ALL: [Fault; 9] = [
        Fault::Eintr,
        Fault::WouldBlock,
        Fault::Short,
        Fault::Reset,
        Fault::BrokenPipe,
        Fault::Refused,
        Fault::Spurious,
        Fault::Delayed,
        Fault::Closed,
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
            _ => return None,
        })
    }
}

/// The harness's settings. Each field's default is read from the environment variable its doc
/// names, so a failing run can be replayed from the command line.
///
/// ```
/// let c = green_harness::Config::default();
/// assert!(c.virtual_clock);
/// assert_eq!(c.jitter, std::time::Duration::ZERO);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Seed expanded to the tape when no tape is given (`GREEN_SEED`; default 0).
    pub seed: u64,
    /// The tape itself (`GREEN_TAPE`, hex); wins over `seed`.
    pub tape: Option<Vec<u8>>,
    /// Length of a tape expanded from a seed (default 4096).
    pub tape_len: usize,
    /// Probability that a byte of a seed-expanded tape is non-zero (default 0.1).
    pub density: f64,
    /// Virtual clock (`GREEN_CLOCK=virtual`, the default) or real (`real`).
    pub virtual_clock: bool,
    /// Real-time grace for fds before virtual time jumps (default 5 ms).
    pub grace: Duration,
    /// Maximum extra delay of a timer (`GREEN_JITTER_MS`; default 0, off).
    pub jitter: Duration,
    /// Shuffle independent greenthreads in ready batches (`GREEN_SHUFFLE=1`; default off).
    pub shuffle: bool,
    /// Listener faults to inject (`GREEN_FAULTS`; default none).
    pub faults: Vec<Fault>,
    /// Blocking-detection resolution (`GREEN_BLOCKING_MS`; default off).
    pub blocking: Option<Duration>,
    /// Wall-clock budget of one run, watched from outside the hub (`GREEN_BUDGET_MS`; default 60 s).
    pub budget: Duration,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn invalid(name: &str, v: &str, want: &str) -> ! {
    panic!("green-harness: invalid value for {name}: {v:?}; expected {want}")
}

impl Default for Config {
    fn default() -> Self {
        let seed = env(SEED_ENV).map_or(0, |v| v.trim().parse().unwrap_or_else(|_| invalid(SEED_ENV, &v, "a number")));
        let tape = env(TAPE_ENV)
            .map(|v| crate::Tape::from_hex(&v).unwrap_or_else(|| invalid(TAPE_ENV, &v, "hex bytes")).bytes().to_vec());
        let virtual_clock = match env(CLOCK_ENV).as_deref() {
            None | Some("virtual") => true,
            Some("real") => false,
            Some(v) => invalid(CLOCK_ENV, v, "virtual or real"),
        };
        let ms = |name: &str| {
            env(name)
                .map(|v| Duration::from_millis(v.trim().parse().unwrap_or_else(|_| invalid(name, &v, "milliseconds"))))
        };
        let faults = env(FAULTS_ENV)
            .map(|v| {
                v.split(',')
                    .map(|f| {
                        Fault::parse(f).unwrap_or_else(|| {
                            invalid(FAULTS_ENV, &v, "eintr,wouldblock,short,reset,pipe,refused,spurious,delayed,closed")
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Config {
            seed,
            tape,
            tape_len: 4096,
            density: 0.1,
            virtual_clock,
            grace: Duration::from_millis(5),
            jitter: ms(JITTER_ENV).unwrap_or(Duration::ZERO),
            shuffle: env(SHUFFLE_ENV).is_some_and(|v| v == "1" || v == "true"),
            faults,
            blocking: ms(BLOCKING_ENV),
            budget: ms(BUDGET_ENV).unwrap_or(Duration::from_secs(60)),
        }
    }
}
