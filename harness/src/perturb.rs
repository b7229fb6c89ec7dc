//! The tape-driven perturbation plugged into the runtime's `test-hooks`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use green::hooks::{FdKind, IoFault, IoOp, Perturb};

use crate::event::{FaultEvent, Perturbation};

use crate::config::Fault;
use crate::tape::Tape;

/// Shared between the hub (which calls the hooks) and the harness (which reads the log).
pub(crate) struct State {
    pub(crate) tape: Tape,
    pub(crate) log: Vec<FaultEvent>,
}

pub(crate) struct TapePerturb {
    pub(crate) state: Rc<RefCell<State>>,
    pub(crate) jitter: Duration,
    pub(crate) shuffle: bool,
    pub(crate) faults: Vec<Fault>,
}

impl TapePerturb {
    fn draw(&self) -> u8 {
        self.state.borrow_mut().tape.draw()
    }

    fn log(&self, what: Perturbation, greenthread: Option<u64>, fd: Option<(u64, FdKind)>) {
        let e = FaultEvent { what, greenthread, fd, at: Duration::from_nanos(green::hooks::now_ns()) };
        #[cfg(feature = "tracing")]
        tracing::info!(target: "green_harness::fault", "{e}");
        self.state.borrow_mut().log.push(e);
    }

    /// Draws for an optional fault kind that applies to `kind` fds: true (and logged) when
    /// enabled, applicable and the byte is non-zero.
    fn maybe(&self, fault: Fault, what: Perturbation, fd: u64, kind: FdKind, gt: u64) -> bool {
        if !self.faults.contains(&fault) || !fault.applies_to(kind) {
            return false;
        }
        let hit = self.draw() != 0;
        if hit {
            self.log(what, Some(gt), Some((fd, kind)));
        }
        hit
    }
}

impl Perturb for TapePerturb {
    fn delay_readiness(&mut self, fd: u64, kind: FdKind, gt: u64) -> bool {
        self.maybe(Fault::Delayed, Perturbation::DelayedReadiness, fd, kind, gt)
    }

    fn spurious_wakeup(&mut self, fd: u64, kind: FdKind, gt: u64) -> bool {
        self.maybe(Fault::Spurious, Perturbation::SpuriousReadiness, fd, kind, gt)
    }

    fn close_while_waiting(&mut self, fd: u64, kind: FdKind, gt: u64) -> bool {
        self.maybe(Fault::Closed, Perturbation::CloseWhileWaiting, fd, kind, gt)
    }

    fn timer_tie(&mut self, creator: u64) -> u8 {
        let b = self.draw();
        if b != 0 {
            self.log(Perturbation::TieBreak(b), Some(creator), None);
        }
        b
    }

    fn timer_delay(&mut self, creator: u64, _delay: Duration) -> Duration {
        if self.jitter.is_zero() {
            return Duration::ZERO;
        }
        let b = self.draw();
        if b == 0 {
            return Duration::ZERO;
        }
        let extra = self.jitter.mul_f64(f64::from(b) / 255.0);
        self.log(Perturbation::Jitter { extra }, Some(creator), None);
        extra
    }

    fn shuffles(&self) -> bool {
        self.shuffle
    }

    fn pick(&mut self, n: usize) -> usize {
        if !self.shuffle {
            return n - 1;
        }
        let b = self.draw();
        if b == 0 {
            return n - 1; // no swap
        }
        let j = (b as usize - 1) % n;
        if j != n - 1 {
            self.log(Perturbation::Shuffle { slot: n - 1, with: j }, None, None);
        }
        j
    }

    fn io_fault(&mut self, op: IoOp, fd: u64, kind: FdKind, gt: u64) -> Option<IoFault> {
        let kinds: Vec<Fault> =
            self.faults.iter().copied().filter(|f| f.applies_to(kind) && f.applies_to_op(op)).collect();
        if kinds.is_empty() {
            return None;
        }
        let b = self.draw();
        if b == 0 {
            return None;
        }
        let pick = kinds[(b as usize - 1) % kinds.len()];
        let fault = match pick {
            Fault::Eintr => IoFault::Interrupted,
            Fault::WouldBlock => IoFault::WouldBlock,
            Fault::Short => IoFault::Short(1 + (b as usize / kinds.len()) % 7),
            Fault::Reset => IoFault::Reset,
            Fault::BrokenPipe => IoFault::BrokenPipe,
            Fault::Refused => IoFault::Refused,
            Fault::Spurious | Fault::Delayed | Fault::Closed => return None,
        };
        self.log(Perturbation::Io { op, fault }, Some(gt), Some((fd, kind)));
        Some(fault)
    }
}
