//! Detectors for code built on the [`green`] runtime.
//!
//! * **Blocking detector** ([`hub_blocking_detection`], [`enable`]): a greenthread that holds its
//!   hub longer than a budget (a `std::thread::sleep`, a blocking syscall, a busy loop) is reported
//!   with its stack, its spawn site, how long it held the hub and how much CPU it used. It works
//!   per hub thread (parallel `cargo test` threads each get their own detection), with `SIGALRM`
//!   sent to the blocked thread only; see [`blocking`].
//! * **Blocking calls** ([`calls`], cargo feature `blocking-calls`): timing-independent detection;
//!   a greenthread calling a known blocking entry point (`nanosleep`, a blocking `read`, `poll`
//!   with a timeout, ...) is reported at once with its stack, however short the call.
//! * **Leak detector** ([`check_leaks`]): greenthreads and timers still alive when a hub should be
//!   quiet, each with its creation site.
//! * **Unobserved panics** ([`check_unobserved_panics`]): a greenthread that panicked and that
//!   nobody waited for.
//! * **Stack overflow** ([`install_overflow_detector`]): a greenthread that hits its guard page is
//!   named (id, name, spawn site, stack size) before the process ends.
//! * **Invariant checks** ([`check_invariants`]): hub-context switching, multiple readers, timers
//!   never early and in order, pool bounds.
//! * **SIGQUIT dump** ([`enable_sigquit_dump`]): every hub prints its greenthreads, timers and
//!   listeners; a hub blocked right now prints who blocks it and where.
//!
//! ```
//! use std::time::Duration;
//! use green_detectors::{BlockingConfig, Mode};
//! green_detectors::enable(BlockingConfig { resolution: Duration::from_millis(50), mode: Mode::Collect }).unwrap();
//! fn offender() { std::thread::sleep(Duration::from_millis(200)) }
//! green::Builder::new().name("offender").spawn(offender).wait().unwrap(); // collect: it finishes
//! let report = green_detectors::take_reports()
//!     .into_iter()
//!     .find(|r| r.name.as_deref() == Some("offender"))
//!     .unwrap();
//! assert_eq!(report.name.as_deref(), Some("offender"));
//! assert!(report.held >= Duration::from_millis(150));
//! assert!(report.cpu < report.held / 2, "a sleep uses no CPU");
//! green_detectors::disable();
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod blocking;
pub mod calls;
#[cfg(all(feature = "blocking-calls", target_arch = "x86_64", target_os = "linux"))]
mod interpose;
mod invariants;
mod leak;
mod overflow;
mod panics;
pub mod sigquit;
mod symbols;
mod sys;

pub use crate::blocking::{
    disable, enable, hub_blocking_detection, reports, take_reports, BlockingConfig, BlockingReport, ConfigError, Mode,
};
pub use crate::invariants::{check_invariants, InvariantViolations};
pub use crate::leak::{check_leaks, LeakReport};
pub use crate::overflow::install_overflow_detector;
pub use crate::panics::{check_unobserved_panics, UnobservedPanics};
pub use crate::sigquit::enable_sigquit_dump;
