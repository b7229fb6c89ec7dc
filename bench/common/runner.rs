//! What every Rust runner of `bench/compare` shares with the others and with the Python peers
//! (`bench/peers/peers.py`): the command line, the measurement rule and the output line.
//!
//! A runner is invoked as `<runner> <workload> [--min-seconds S]` (S defaults to 0.5), runs one
//! workload once in a fresh process and prints exactly one line, `value=<float>`. Rates follow one
//! rule: one warm-up batch, then batches until the measured wall time reaches S; the value is the
//! operations done over the time they took (wall time, or process CPU time where asked). Ratios
//! of two configurations of green in one runner are measured in one process as interleaved
//! pairs ([`paired`]).

// Each runner uses a part of this module.
#![allow(dead_code)]

use std::time::Instant;

/// The parsed command line.
pub struct Args {
    /// The workload's name.
    pub workload: String,
    /// The least wall time to measure, in seconds.
    pub min_seconds: f64,
}

/// Reads `<workload> [--min-seconds S]`, exiting with a usage message on anything else.
pub fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let usage = |why: &str| -> ! {
        eprintln!("{}: {why}\nusage: {} <workload> [--min-seconds S]", argv[0], argv[0]);
        std::process::exit(2)
    };
    let Some(workload) = argv.get(1).cloned() else { usage("no workload named") };
    let min_seconds = match argv.get(2).map(String::as_str) {
        None => 0.5,
        Some("--min-seconds") => match argv.get(3).and_then(|s| s.parse::<f64>().ok()) {
            Some(s) if s > 0.0 => s,
            _ => usage("--min-seconds takes a positive number of seconds"),
        },
        Some(other) => usage(&format!("unexpected argument {other:?}")),
    };
    Args { workload, min_seconds }
}

/// Which clock a rate divides by.
#[derive(Clone, Copy)]
pub enum Clock {
    /// Wall time.
    Wall,
    /// The process's user + system CPU time.
    Cpu,
}

/// Runs `batch` (which returns the operations it did) once to warm up, then until `min_seconds`
/// of wall time have passed; returns operations per second of `clock`.
pub fn rate(min_seconds: f64, clock: Clock, mut batch: impl FnMut() -> u64) -> f64 {
    batch();
    let (wall0, cpu0) = (Instant::now(), cpu_seconds());
    let mut ops = 0;
    loop {
        ops += batch();
        if wall0.elapsed().as_secs_f64() >= min_seconds {
            break;
        }
    }
    let took = match clock {
        Clock::Wall => wall0.elapsed().as_secs_f64(),
        Clock::Cpu => cpu_seconds() - cpu0,
    };
    ops as f64 / took
}

/// Runs `f` (which returns the operations it did) and returns its rate: operations per second
/// of wall time. For the sides of [`paired`], around whatever setup a side needs untimed.
pub fn timed(f: impl FnOnce() -> u64) -> f64 {
    let t = Instant::now();
    let ops = f();
    ops as f64 / t.elapsed().as_secs_f64()
}

/// Measures the ratio of two configurations of one system in one process, as interleaved pairs:
/// `a` and `b` each run one batch and return its rate (see [`timed`]); after one warm-up batch
/// of each, pairs of batches (the order alternating) run until `min_seconds` of wall time have
/// passed. Returns the median of the pairs' `b / a`. The machine's drift (this project's
/// benchmark VM moves ±30% within a second) falls on both sides of a pair alike, where separate
/// processes measured seconds apart catch different states of it.
pub fn paired(min_seconds: f64, mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> f64 {
    a();
    b();
    let t0 = Instant::now();
    let mut ratios = Vec::new();
    while ratios.is_empty() || t0.elapsed().as_secs_f64() < min_seconds {
        let (ra, rb) = if ratios.len() % 2 == 0 {
            let ra = a();
            (ra, b())
        } else {
            let rb = b();
            (a(), rb)
        };
        ratios.push(rb / ra);
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

fn rusage() -> libc::rusage {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_SELF is always a valid target.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage failed: {}", std::io::Error::last_os_error());
    // SAFETY: getrusage succeeded, so it filled the struct (and it was zeroed before).
    unsafe { usage.assume_init() }
}

/// The process's user + system CPU time so far, in seconds.
pub fn cpu_seconds() -> f64 {
    let u = rusage();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// The process's peak resident set size so far, in MiB.
pub fn peak_rss_mib() -> f64 {
    rusage().ru_maxrss as f64 / 1024.0 // KiB on Linux
}

/// Prints the one result line.
pub fn report(value: f64) {
    println!("value={value}");
}

/// Exits naming the unknown workload and the ones this runner has.
pub fn unknown(workload: &str, known: &[&str]) -> ! {
    eprintln!("unknown workload {workload:?}; this runner has: {}", known.join(", "));
    std::process::exit(2)
}
