//! green's runner for `bench/compare`: `bench-green <workload> [--min-seconds S]` prints
//! `value=<float>` (see `bench/common/runner.rs`). The green workloads are the files the runtime's
//! criterion benches use (`runtime/benches/workloads/`), so both measure the same code.
//!
//! Workloads: `switch`, `switch_detect` (blocking detection on at 50 ms), `spawn_join`,
//! `spawn100k`, `timers` (timers per CPU second), `imap`, `echo`, `rss100k` (peak RSS in MiB),
//! `park100k` and `park1m` (seconds to spawn that many greenthreads that each park in a timed
//! wait, then release and join them all), `rss1m` (peak RSS per greenthread of `park1m`, in KiB)
//! and the ceilings `raw_switch`, `raw_create` (corosensei) and `mio_echo`. Two workloads print a
//! ratio measured as interleaved pairs in one process (`runner::paired`): `detect_paired`, the
//! switch rate with blocking detection on over off, and `echo_paired`, green's echo rate over the
//! plain mio loop's.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[path = "../../../runtime/benches/workloads/ceilings.rs"]
mod ceilings;
#[path = "../../../runtime/benches/workloads/echo.rs"]
mod echo;
#[path = "../../../runtime/benches/workloads/imap.rs"]
mod imap;
#[path = "../../../runtime/benches/workloads/ping_pong.rs"]
mod ping_pong;
#[path = "../../common/runner.rs"]
mod runner;
#[path = "../../../runtime/benches/workloads/spawn.rs"]
mod spawn;
#[path = "../../../runtime/benches/workloads/timers.rs"]
mod timers;

use runner::{paired, rate, timed, Clock};

const WORKLOADS: &[&str] = &[
    "switch",
    "switch_detect",
    "spawn_join",
    "spawn100k",
    "timers",
    "imap",
    "echo",
    "rss100k",
    "park100k",
    "park1m",
    "rss1m",
    "raw_switch",
    "raw_create",
    "mio_echo",
    "detect_paired",
    "echo_paired",
];

/// Sleeps per switch batch, split between the two greenthreads.
const SWITCH_BATCH: u64 = 200_000;
/// Round trips per client per echo batch.
const ECHO_PER: u64 = 100;
/// Round trips per client per batch of `echo_paired` (a batch of ~25 ms on the benchmark VM).
const ECHO_PAIRED_PER: u64 = 20;
/// Greenthreads parked at once in `rss100k`.
const RSS_THREADS: usize = 100_000;

fn main() {
    let args = runner::args();
    let min = args.min_seconds;
    let value = match args.workload.as_str() {
        "switch" => rate(min, Clock::Wall, || {
            ping_pong::ping_pong(SWITCH_BATCH);
            SWITCH_BATCH
        }),
        "switch_detect" => {
            green_detectors::enable(detect_config()).unwrap();
            let r = rate(min, Clock::Wall, || {
                ping_pong::ping_pong(SWITCH_BATCH);
                SWITCH_BATCH
            });
            green_detectors::disable();
            r
        }
        "spawn_join" => rate(min, Clock::Wall, || {
            spawn::spawn_join(20_000);
            20_000
        }),
        "spawn100k" => rate(min, Clock::Wall, || {
            spawn::spawn_all_then_join(100_000);
            100_000
        }),
        "timers" => rate(min, Clock::Cpu, || {
            timers::sleepers(10_000);
            10_000 * timers::SLEEPS
        }),
        "imap" => {
            let pool = green::GreenPool::new(200);
            rate(min, Clock::Wall, || {
                std::hint::black_box(imap::imap_sum(&pool, 100_000));
                100_000
            })
        }
        "echo" => {
            let e = echo::GreenEcho::new();
            rate(min, Clock::Wall, || {
                e.run(ECHO_PER);
                ECHO_PER * echo::CONNS as u64
            })
        }
        // 100k greenthreads parked at once, each in a timed wait (a stack and a timer, as a
        // sleeper has), released by one event once all have started (as in peers.py).
        "rss100k" => park(RSS_THREADS).1 * RSS_THREADS as f64 / 1024.0,
        "park100k" => park(100_000).0,
        "park1m" => park(1_000_000).0,
        "rss1m" => park(1_000_000).1,
        "raw_switch" => {
            let mut co = ceilings::RawSwitch::new();
            rate(min, Clock::Wall, || {
                for _ in 0..SWITCH_BATCH {
                    co.step();
                }
                SWITCH_BATCH
            })
        }
        "raw_create" => {
            let mut co = ceilings::RawCreate::new();
            rate(min, Clock::Wall, || {
                for _ in 0..20_000 {
                    co.step();
                }
                20_000
            })
        }
        "mio_echo" => {
            let mut m = echo::MioEcho::new();
            rate(min, Clock::Wall, || {
                m.run(ECHO_PER);
                ECHO_PER * echo::CONNS as u64
            })
        }
        // Batches of five switch batches (~30 ms: two or three of the watchdog's 12.5 ms looks
        // fall in each), detection off and on; enabling and disabling are outside the timing.
        "detect_paired" => paired(
            min,
            || timed(|| switch_batch(5)),
            || {
                green_detectors::enable(detect_config()).unwrap();
                let r = timed(|| switch_batch(5));
                green_detectors::disable();
                r
            },
        ),
        "echo_paired" => {
            let e = echo::GreenEcho::new();
            let mut m = echo::MioEcho::new();
            let per = ECHO_PAIRED_PER * echo::CONNS as u64;
            paired(
                min,
                || {
                    timed(|| {
                        m.run(ECHO_PAIRED_PER);
                        per
                    })
                },
                || {
                    timed(|| {
                        e.run(ECHO_PAIRED_PER);
                        per
                    })
                },
            )
        }
        other => runner::unknown(other, WORKLOADS),
    };
    runner::report(value);
}

/// Blocking detection as `switch_detect` turns it on: 50 ms, collect mode (a host stall over
/// 50 ms must not fail the benchmark, as fail mode would).
fn detect_config() -> green_detectors::BlockingConfig {
    green_detectors::BlockingConfig { resolution: Duration::from_millis(50), mode: green_detectors::Mode::Collect }
}

/// `n` switch batches of the ping-pong; returns the sleeps made.
fn switch_batch(n: u64) -> u64 {
    ping_pong::ping_pong(n * SWITCH_BATCH);
    n * SWITCH_BATCH
}

/// Spawns `n` greenthreads that each park in a timed wait (a stack and a timer each), waits until
/// all have started, then releases and joins them all. Returns the seconds it took and the peak
/// RSS per greenthread in KiB (the process's whole peak over `n`).
fn park(n: usize) -> (f64, f64) {
    let t0 = std::time::Instant::now();
    let started = Rc::new(Cell::new(0usize));
    let release = Rc::new(green::Event::<()>::new());
    let parked: Vec<_> = (0..n)
        .map(|_| {
            let (started, release) = (started.clone(), release.clone());
            green::spawn(move || {
                started.set(started.get() + 1);
                release.wait_timeout(Duration::from_secs(3600));
            })
        })
        .collect();
    while started.get() < n {
        green::sleep(Duration::ZERO);
    }
    release.send(()).unwrap();
    for gt in parked {
        gt.join().unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    (secs, runner::peak_rss_mib() * 1024.0 / n as f64)
}
