//! Detectors for code built on the [`green`] runtime.
//!
//! This crate grows into the SIGALRM blocking detector, the hang, overflow and invariant
//! detectors of the project's design. Today it holds the **leak detector**: at the end of a test
//! (or before a hub is torn down), [`check_leaks`] reports greenthreads still alive and timers
//! still pending on the calling thread's hub, each with its creation site.
//!
//! ```
//! let gt = green::spawn(|| green::sleep(std::time::Duration::from_secs(60)));
//! green::sleep(std::time::Duration::ZERO);
//! let leaks = green_detectors::check_leaks().unwrap_err();
//! assert_eq!(leaks.greenthreads, 1);
//! assert!(leaks.to_string().contains("blocked in sleep"));
//! gt.kill();
//! assert!(green_detectors::check_leaks().is_ok());
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

use std::fmt;

/// What was still alive on a hub when it should have been quiet.
///
/// ```
/// let r = green_detectors::LeakReport { greenthreads: 1, timers: 0, dump: String::new() };
/// assert!(r.to_string().starts_with("leak detector: 1 greenthread(s)"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakReport {
    /// Live greenthreads (the root not counted).
    pub greenthreads: usize,
    /// Live timers.
    pub timers: usize,
    /// The hub's greenthread and timer dumps at the time of the check.
    pub dump: String,
}

impl fmt::Display for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "leak detector: {} greenthread(s) still alive and {} timer(s) still pending at teardown",
            self.greenthreads, self.timers
        )?;
        f.write_str(&self.dump)
    }
}

impl std::error::Error for LeakReport {}

/// Checks that the calling thread's hub has no live greenthread and no pending timer.
///
/// ```
/// assert!(green_detectors::check_leaks().is_ok());
/// ```
pub fn check_leaks() -> Result<(), LeakReport> {
    let greenthreads = green::hub::greenthread_count();
    let timers = green::hub::timer_stats().live;
    if greenthreads == 0 && timers == 0 {
        return Ok(());
    }
    let dump = format!("{}\n{}", green::debug::format_greenthreads(), green::debug::format_hub_timers());
    Err(LeakReport { greenthreads, timers, dump })
}
