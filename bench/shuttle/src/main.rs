//! The shuttle side of the zoo comparison in `bench/README.md`: the five pure-scheduling (RO)
//! kernels of `zoo/`, ported to the `shuttle` crate (see `hub.rs` for how green maps onto it),
//! searched with shuttle's own schedulers, measured as `zoo_bench` measures green's harness:
//!
//! 1. runs to the first failure of the buggy variant under `RandomScheduler` (`check_random`)
//!    and `PctScheduler` (`check_pct`) at depth 2 and 3, over seeds 1..=10, capped at 10,000
//!    iterations (a miss counts as the cap): median, worst, and how many seeds found it within
//!    200;
//! 2. false alarms of the fixed variant over 2,000 random iterations (must be 0);
//! 3. iterations per second of the random scheduler on the fixed `ro_gevent_1487` kernel, on one
//!    thread, for ~2 s.
//!
//! ```sh
//! cd bench && cargo run --release -p bench-shuttle    # or: bench/compare --only shuttle
//! ```
//!
//! Output: a table, then `shuttle <kernel> <strategy> median=<n> worst=<n>` lines and
//! `shuttle_iterations_per_s ratio=<x>` for scripts. The panic hook is a no-op while shuttle
//! runs, but shuttle still reports each failure it finds on stderr with `eprintln!` (`test
//! panicked in task ...`, and the random scheduler's `failing seed: ...`); `bench/compare` keeps
//! stderr out of the report.

mod hub;
mod ro_eventlet_136_release_reacquire_starves_waiter;
mod ro_eventlet_742_rlock_release_callback_reacquires;
mod ro_gevent_1487_newest_waiter_wins;
mod ro_tokio_3660_notify_waiters_loses_permit;
mod ro_tokio_5396_notify_waiters_wakes_later_waiter;

use std::panic;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shuttle::scheduler::{PctScheduler, RandomScheduler, Scheduler};
use shuttle::{Config, FailurePersistence, Runner};

const CAP: u64 = 10_000;
const SEEDS: u64 = 10;
const FIXED_RUNS: u64 = 2_000;

/// Iterations begun in the current search (the test closure counts itself).
static ITERATIONS: AtomicU64 = AtomicU64::new(0);

type Port = fn(bool);

/// `(name, port)` for each kernel, named as in `zoo/src/<name>.rs` and in the same order.
macro_rules! kernels {
    ($($k:ident),*) => { [$((stringify!($k), $k::$k as Port)),*] };
}

const KERNELS: [(&str, Port); 5] = kernels!(
    ro_gevent_1487_newest_waiter_wins,
    ro_eventlet_136_release_reacquire_starves_waiter,
    ro_eventlet_742_rlock_release_callback_reacquires,
    ro_tokio_3660_notify_waiters_loses_permit,
    ro_tokio_5396_notify_waiters_wakes_later_waiter
);

#[derive(Clone, Copy)]
enum Strategy {
    Random,
    Pct(usize),
}

impl Strategy {
    fn name(self) -> String {
        match self {
            Strategy::Random => "random".into(),
            Strategy::Pct(depth) => format!("pct:{depth}"),
        }
    }
}

fn config() -> Config {
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::None; // no schedule dumps
    config.silence_warnings = true;
    config
}

/// Runs `port(fixed)` under `scheduler` until it fails or the scheduler stops; returns the
/// iterations run and whether the last one failed.
fn search(scheduler: impl Scheduler + 'static, port: Port, fixed: bool) -> (u64, bool) {
    ITERATIONS.store(0, Ordering::Relaxed);
    let runner = Runner::new(scheduler, config());
    let failed = panic::catch_unwind(panic::AssertUnwindSafe(|| {
        runner.run(move || {
            ITERATIONS.fetch_add(1, Ordering::Relaxed);
            port(fixed);
        })
    }))
    .is_err();
    (ITERATIONS.load(Ordering::Relaxed), failed)
}

/// Iterations up to and including the first failure of the buggy variant (`CAP` if none).
fn runs_to_first_failure(strategy: Strategy, seed: u64, port: Port) -> u64 {
    let cap = CAP as usize;
    let (runs, failed) = match strategy {
        Strategy::Random => search(RandomScheduler::new_from_seed(seed, cap), port, false),
        Strategy::Pct(depth) => search(PctScheduler::new_from_seed(seed, depth, cap), port, false),
    };
    if failed {
        runs
    } else {
        CAP
    }
}

/// Failing iterations of the fixed variant in `FIXED_RUNS` random ones (a search stops at a
/// failure, so the rest go on with the next seed).
fn false_alarms(port: Port) -> u64 {
    let (mut done, mut alarms, mut seed) = (0, 0, 1);
    while done < FIXED_RUNS {
        let (runs, failed) = search(RandomScheduler::new_from_seed(seed, (FIXED_RUNS - done) as usize), port, true);
        done += runs;
        alarms += u64::from(failed);
        seed += 1;
    }
    alarms
}

/// Iterations per second of the random scheduler on the fixed `ro_gevent_1487` port, in batches
/// of 10,000 (one seed each) for at least 2 s.
fn iterations_per_s() -> (f64, u64, Duration) {
    let (mut n, mut seed, t0) = (0, 1, Instant::now());
    while t0.elapsed() < Duration::from_secs(2) {
        let port = ro_gevent_1487_newest_waiter_wins::ro_gevent_1487_newest_waiter_wins;
        let (runs, failed) = search(RandomScheduler::new_from_seed(seed, 10_000), port, true);
        assert!(!failed, "the fixed ro_gevent_1487 port failed");
        n += runs;
        seed += 1;
    }
    let t = t0.elapsed();
    (n as f64 / t.as_secs_f64(), n, t)
}

fn main() {
    if std::env::var_os("SHUTTLE_RANDOM_SEED").is_some() {
        eprintln!("bench-shuttle: SHUTTLE_RANDOM_SEED would override every seed; unset it");
        std::process::exit(2);
    }
    let strategies = [Strategy::Random, Strategy::Pct(2), Strategy::Pct(3)];
    let mut summary = Vec::new();
    // Failing iterations panic, and shuttle unwinds what their threads left; all expected: quiet.
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    println!("kernel                                             strategy    median  worst  found<=200");
    for (name, port) in KERNELS {
        for s in strategies {
            let mut runs: Vec<u64> = (1..=SEEDS).map(|seed| runs_to_first_failure(s, seed, port)).collect();
            runs.sort_unstable();
            let (med, worst) = (runs[runs.len() / 2], runs[runs.len() - 1]);
            let within_200 = runs.iter().filter(|&&r| r <= 200).count();
            println!("{name:<50} {:<11} {med:>6} {worst:>6} {within_200:>5}/{SEEDS}", s.name());
            summary.push(format!("shuttle {name} {} median={med} worst={worst}", s.name()));
        }
        println!("{name:<50} fixed: {FIXED_RUNS} runs, {} false alarm(s)", false_alarms(port));
    }
    let (rate, n, t) = iterations_per_s();
    panic::set_hook(hook);
    println!(
        "search rate on ro_gevent_1487_newest_waiter_wins: {rate:.0} iterations/s ({n} iterations in {:.2}s)",
        t.as_secs_f64()
    );
    for line in summary {
        println!("{line}");
    }
    println!("shuttle_iterations_per_s ratio={rate:.0}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Honest ports: every buggy one can fail, no fixed one ever does (random and PCT).
    #[test]
    fn buggy_fails_and_fixed_never_does() {
        for (name, port) in KERNELS {
            assert!(
                search(RandomScheduler::new_from_seed(1, CAP as usize), port, false).1,
                "{name}: buggy never failed"
            );
            for seed in 1..=3 {
                assert!(!search(RandomScheduler::new_from_seed(seed, 2_000), port, true).1, "{name}: fixed failed");
                assert!(!search(PctScheduler::new_from_seed(seed, 3, 2_000), port, true).1, "{name}: fixed failed");
            }
        }
    }
}
