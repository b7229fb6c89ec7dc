//! The fault-injecting test harness for code built on the [`green`] runtime.
//!
//! Downstream crates take this crate under `[dev-dependencies]`. [`Harness::run`] runs a test body
//! as the root greenlet of a fresh hub on the calling thread, tears the hub down at the end, and
//! fails the test when the hub caught a panic in hub context (where nobody else can see it), or when greenthreads or timers leaked. Seeded perturbation (virtual clock, timer jitter,
//! scheduling-order perturbation, listener faults) and blocking detection are the next layers of
//! the project's design.
//!
//! ```
//! use std::time::Duration;
//! let report = green_harness::Harness::new().run(|| {
//!     let gt = green::spawn(|| { green::sleep(Duration::from_millis(1)); 7 });
//!     assert_eq!(gt.wait().unwrap(), 7);
//! });
//! assert!(report.exceptions.is_empty());
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

/// What a run observed.
///
/// ```
/// let report = green_harness::Harness::new().run(|| ());
/// assert!(report.leaks.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Panics the hub caught in hub context (timer callbacks), one line each.
    pub exceptions: Vec<String>,
    /// Leaks found when the body returned, if any.
    pub leaks: Option<green_detectors::LeakReport>,
    /// Greenthread panics nobody waited for.
    pub unobserved_panics: Vec<String>,
    /// Invariant violations the runtime recorded.
    pub invariant_violations: Vec<String>,
    /// Context switches the run performed.
    pub switches: u64,
}

/// Runs test bodies on a fresh hub and checks what they leave behind.
///
/// ```
/// green_harness::Harness::new().run(|| green::sleep(std::time::Duration::ZERO));
/// ```
#[derive(Clone, Debug)]
pub struct Harness {
    fail_on_exceptions: bool,
    fail_on_leaks: bool,
}

impl Default for Harness {
    fn default() -> Self {
        Harness { fail_on_exceptions: true, fail_on_leaks: true }
    }
}

impl Harness {
    /// A harness that fails runs on caught panics and on leaks.
    ///
    /// ```
    /// let _h = green_harness::Harness::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a panic caught by the hub fails the run (default: yes).
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

    /// Runs `body` as the root greenlet of a fresh hub on this thread, then tears the hub down
    /// (unwinding every greenthread still alive) and returns what was observed.
    ///
    /// # Panics
    ///
    /// When the run failed (see [`fail_on_exceptions`](Harness::fail_on_exceptions) and
    /// [`fail_on_leaks`](Harness::fail_on_leaks)), with the report in the message. A panic of the
    /// body propagates after the hub was torn down.
    ///
    /// ```
    /// let r = green_harness::Harness::new().run(|| green::spawn(|| 1).wait().unwrap());
    /// assert!(r.switches >= 1);
    /// ```
    pub fn run<R>(&self, body: impl FnOnce() -> R) -> Report {
        green::hub::shutdown();
        green::debug::hide_frames_under(concat!(env!("CARGO_MANIFEST_DIR"), "/src/"));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        let leaks = green_detectors::check_leaks().err();
        let switches = green::hub::switch_count();
        let invariant_violations = green::debug::take_invariant_violations();
        // Teardown unwinds what is left; panics it records (destructors) count too.
        let exceptions = green::hub::shutdown().hub_context_panics;
        // Results dropped by teardown are reported now.
        let unobserved_panics = green::debug::take_unobserved_panics();
        let report = Report { exceptions, leaks, unobserved_panics, invariant_violations, switches };
        if let Err(p) = result {
            std::panic::resume_unwind(p);
        }
        if self.fail_on_exceptions && !report.exceptions.is_empty() {
            panic!(
                "green-harness: the hub caught {} panic(s):\n{}",
                report.exceptions.len(),
                report.exceptions.join("\n")
            );
        }
        if self.fail_on_leaks {
            if let Some(l) = &report.leaks {
                panic!("green-harness: {l}");
            }
        }
        if !report.invariant_violations.is_empty() {
            panic!("green-harness: invariant violations:\n{}", report.invariant_violations.join("\n"));
        }
        if self.fail_on_exceptions && !report.unobserved_panics.is_empty() {
            panic!("green-harness: {}", report.unobserved_panics.join("\n"));
        }
        report
    }
}
