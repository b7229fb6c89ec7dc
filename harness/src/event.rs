//! What a run's perturbation did, as typed events: the fault log of a [`Report`](crate::Report).

use std::fmt;
use std::time::Duration;

pub use green::hooks::{FdKind, IoFault, IoOp};

/// One perturbation applied during a run. Its `Display` is the log line (`fault Short(3) on Read
/// of fd#2 by #4`); tests assert on the fields.
///
/// ```
/// use green_harness::{FaultEvent, Perturbation};
/// let report = green_harness::Harness::new()
///     .tape(green_harness::Tape::new(vec![200; 8]))
///     .jitter(std::time::Duration::from_millis(4))
///     .run(|| green::spawn(|| green::sleep(std::time::Duration::from_millis(1))).join().unwrap());
/// let e: &FaultEvent = report.faults.iter().find(|e| matches!(e.what, Perturbation::Jitter { .. })).unwrap();
/// assert_eq!(e.greenthread, Some(1));
/// assert!(e.to_string().starts_with("jitter +"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultEvent {
    /// What was done.
    pub what: Perturbation,
    /// The greenthread it hit (0 is the root), when one did.
    pub greenthread: Option<u64>,
    /// The fd ordinal (as dumps show it, `fd#N`) and its kind, for I/O perturbations.
    pub fd: Option<(u64, FdKind)>,
    /// Hub time (virtual under the virtual clock) since the hub started.
    pub at: Duration,
}

/// The kinds of perturbation a run applies.
///
/// ```
/// use green_harness::{Harness, Perturbation};
/// // Jitter delays a timer by a tape-drawn amount, logged with the greenthread it hit.
/// let r = Harness::new().seed(1).density(1.0).jitter(std::time::Duration::from_millis(5)).run(|| {
///     green::sleep(std::time::Duration::from_millis(1));
/// });
/// assert!(r.faults.iter().any(|f| matches!(f.what, Perturbation::Jitter { .. })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Perturbation {
    /// A fault injected into a socket operation.
    Io {
        /// The operation.
        op: IoOp,
        /// The fault.
        fault: IoFault,
    },
    /// A waiter woken without readiness.
    SpuriousReadiness,
    /// Readiness delivered to a waiter one pass late.
    DelayedReadiness,
    /// A waiter saw its fd closed (simulated).
    CloseWhileWaiting,
    /// The timers of a greenthread delayed by this much.
    Jitter {
        /// The extra delay.
        extra: Duration,
    },
    /// The tie-break of a greenthread's timers among equal deadlines.
    TieBreak(u8),
    /// A greenthread marked killable was killed at a blocking green call.
    Kill,
    /// A socket operation took this much (virtual) time first: a slow peer.
    Latency {
        /// The operation.
        op: IoOp,
        /// The delay.
        delay: Duration,
    },
    /// PCT: the highest-priority ready greenthread dropped below every other at this
    /// scheduling step.
    PriorityChange {
        /// The step.
        step: u32,
    },
    /// Two independent ready entries swapped.
    Shuffle {
        /// The slot drawn for.
        slot: usize,
        /// The slot it was swapped with.
        with: usize,
    },
}

impl fmt::Display for FaultEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fd = self.fd.map_or(0, |x| x.0);
        let gt = self.greenthread.unwrap_or(0);
        match &self.what {
            Perturbation::Io { op, fault } => write!(f, "fault {fault:?} on {op:?} of fd#{fd} by #{gt}"),
            Perturbation::SpuriousReadiness => write!(f, "fault spurious readiness of fd#{fd} for #{gt}"),
            Perturbation::DelayedReadiness => write!(f, "fault delayed readiness of fd#{fd} for #{gt}"),
            Perturbation::CloseWhileWaiting => write!(f, "fault close-while-waiting on fd#{fd} by #{gt}"),
            Perturbation::Jitter { extra } => write!(f, "jitter +{}us on a timer of #{gt}", extra.as_micros()),
            Perturbation::TieBreak(b) => write!(f, "tie-break {b} for the timers of #{gt}"),
            Perturbation::Shuffle { slot, with } => write!(f, "shuffle: ready slot {slot} swapped with {with}"),
            Perturbation::Kill => write!(f, "fault kill of #{gt} at a blocking call"),
            Perturbation::Latency { op, delay } => {
                write!(f, "fault slow {op:?} of fd#{fd} by #{gt}: +{}ms", delay.as_millis())
            }
            Perturbation::PriorityChange { step } => {
                write!(f, "pct: #{gt} drops to the lowest priority at step {step}")
            }
        }
    }
}
