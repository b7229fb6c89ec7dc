//! The tape-driven perturbation plugged into the runtime's `test-hooks`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use green::hooks::{IoFault, IoOp, Perturb};

use crate::config::Fault;
use crate::tape::Tape;

/// Shared between the hub (which calls the hooks) and the harness (which reads the log).
pub(crate) struct State {
    pub(crate) tape: Tape,
    pub(crate) log: Vec<String>,
    /// Hub time (`green::hooks::now_ns`) of each log entry.
    pub(crate) log_times: Vec<u64>,
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

    fn log(&self, line: String) {
        #[cfg(feature = "tracing")]
        tracing::info!(target: "green_harness::fault", "{line}");
        let at = green::hooks::now_ns();
        let mut st = self.state.borrow_mut();
        st.log.push(line);
        st.log_times.push(at);
    }
}

impl TapePerturb {
    /// Draws for an optional fault kind: true (and logged) when enabled and the byte is non-zero.
    fn maybe(&self, kind: Fault, what: String) -> bool {
        if !self.faults.contains(&kind) {
            return false;
        }
        let hit = self.draw() != 0;
        if hit {
            self.log(what);
        }
        hit
    }
}

impl Perturb for TapePerturb {
    fn delay_readiness(&mut self, fd: u64) -> bool {
        self.maybe(Fault::Delayed, format!("fault delayed readiness of fd#{fd}"))
    }

    fn close_while_waiting(&mut self, fd: u64, gt: u64) -> bool {
        self.maybe(Fault::Closed, format!("fault close-while-waiting on fd#{fd} by #{gt}"))
    }

    fn timer_tie(&mut self, creator: u64) -> u8 {
        let b = self.draw();
        if b != 0 {
            self.log(format!("tie-break {b} for the timers of #{creator}"));
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
        self.log(format!("jitter +{}us on a timer of #{creator}", extra.as_micros()));
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
            self.log(format!("shuffle: ready slot {} swapped with {j}", n - 1));
        }
        j
    }

    fn io_fault(&mut self, op: IoOp, fd: u64, gt: u64) -> Option<IoFault> {
        let kinds: Vec<Fault> = self
            .faults
            .iter()
            .copied()
            .filter(|f| match op {
                IoOp::Connect => *f == Fault::Refused,
                IoOp::Accept | IoOp::Datagram => matches!(f, Fault::Eintr | Fault::WouldBlock),
                IoOp::Read => matches!(f, Fault::Eintr | Fault::WouldBlock | Fault::Short | Fault::Reset),
                IoOp::Write => {
                    matches!(f, Fault::Eintr | Fault::WouldBlock | Fault::Short | Fault::Reset | Fault::BrokenPipe)
                }
            })
            .collect();
        if kinds.is_empty() {
            return None;
        }
        let b = self.draw();
        if b == 0 {
            return None;
        }
        let kind = kinds[(b as usize - 1) % kinds.len()];
        let fault = match kind {
            Fault::Eintr => IoFault::Interrupted,
            Fault::WouldBlock => IoFault::WouldBlock,
            Fault::Short => IoFault::Short(1 + (b as usize / kinds.len()) % 7),
            Fault::Reset => IoFault::Reset,
            Fault::BrokenPipe => IoFault::BrokenPipe,
            Fault::Refused => IoFault::Refused,
            Fault::Spurious | Fault::Delayed | Fault::Closed => return None,
        };
        self.log(format!("fault {fault:?} on {op:?} of fd#{fd} by #{gt}"));
        Some(fault)
    }

    fn spurious_wakeup(&mut self, fd: u64) -> bool {
        if !self.faults.contains(&Fault::Spurious) {
            return false;
        }
        let b = self.draw();
        if b != 0 {
            self.log(format!("fault spurious readiness of fd#{fd}"));
        }
        b != 0
    }
}
