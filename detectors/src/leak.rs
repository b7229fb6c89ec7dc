//! The leak detector: what is still alive on a hub when it should be quiet.

use std::fmt;

/// What was still alive on a hub when it should have been quiet.
///
/// ```
/// let r = green_detectors::LeakReport { greenthreads: 1, listeners: 0, timers: 0, dump: String::new() };
/// assert!(r.to_string().starts_with("leak detector: 1 greenthread(s)"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeakReport {
    /// Live greenthreads (the root not counted).
    pub greenthreads: usize,
    /// Registered listeners: green calls waiting for an fd's readiness.
    pub listeners: usize,
    /// Live timers.
    pub timers: usize,
    /// The hub's greenthread, timer and listener dumps at the time of the check (each entry with
    /// its creation site).
    pub dump: String,
}

impl fmt::Display for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "leak detector: {} greenthread(s) still alive, {} listener(s) still registered and {} timer(s) \
             still pending at teardown",
            self.greenthreads, self.listeners, self.timers
        )?;
        f.write_str(&self.dump)
    }
}

impl std::error::Error for LeakReport {}

/// Checks that the calling thread's hub has no live greenthread, no registered listener and no
/// pending timer.
///
/// ```
/// assert!(green_detectors::check_leaks().is_ok());
/// ```
pub fn check_leaks() -> Result<(), LeakReport> {
    let greenthreads = green::hub::greenthread_count();
    let timers = green::hub::timer_stats().live;
    let listeners = green::hub::listener_count();
    if greenthreads == 0 && timers == 0 && listeners == 0 {
        return Ok(());
    }
    let dump = format!(
        "{}\n{}\n{}",
        green::debug::format_greenthreads(),
        green::debug::format_hub_timers(),
        green::debug::format_hub_listeners()
    );
    Err(LeakReport { greenthreads, listeners, timers, dump })
}
