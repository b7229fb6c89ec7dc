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
    /// Scheduling steps a PCT run took.
    pub(crate) steps: u32,
}

pub(crate) struct TapePerturb {
    pub(crate) state: Rc<RefCell<State>>,
    pub(crate) jitter: Duration,
    pub(crate) shuffle: bool,
    pub(crate) faults: Vec<Fault>,
    /// Priority scheduling (PCT) instead of shuffling, when set.
    pub(crate) pct: Option<Pct>,
}

/// Probabilistic concurrency testing's state: a priority per greenthread (drawn from the tape
/// when first seen; 0 keeps queue order) and `depth - 1` change points, scheduling steps at which
/// the highest-priority ready greenthread drops below every other.
pub(crate) struct Pct {
    pub(crate) depth: u8,
    priorities: std::collections::HashMap<u64, i32>,
    change_points: Option<Vec<u32>>,
    step: u32,
    /// The steps over which change points are spread (k).
    steps: u32,
}

impl Pct {
    pub(crate) fn new(depth: u8, steps: u32) -> Pct {
        Pct { depth: depth.max(1), priorities: Default::default(), change_points: None, step: 0, steps: steps.max(1) }
    }
}

/// Draws a PCT value may take before it settles for 0 (see [`TapePerturb::draw_nonzero`]).
const NONZERO_TRIES: usize = 16;

impl TapePerturb {
    fn draw(&self) -> u8 {
        self.state.borrow_mut().tape.draw()
    }

    /// The first non-zero of up to [`NONZERO_TRIES`] draws, or 0 when all were zero: a value
    /// spread evenly over 1–255 whatever the tape's density (a sparse tape's draws are mostly 0),
    /// and 0 on the zero tape.
    fn draw_nonzero(&self) -> u8 {
        let mut t = self.state.borrow_mut();
        (0..NONZERO_TRIES).map(|_| t.tape.draw()).find(|&b| b != 0).unwrap_or(0)
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

    fn interrupt_wait(&mut self, fd: u64, kind: FdKind, gt: u64) -> bool {
        let op = green::hooks::IoOp::Wait;
        if !self.faults.contains(&Fault::Eintr) || !Fault::Eintr.applies_to(kind) || !Fault::Eintr.applies_to_op(op) {
            return false;
        }
        let hit = self.draw() != 0;
        if hit {
            let what = Perturbation::Io { op, fault: IoFault::Interrupted };
            self.log(what, Some(gt), Some((fd, kind)));
        }
        hit
    }

    fn close_while_waiting(&mut self, fd: u64, kind: FdKind, gt: u64) -> bool {
        self.maybe(Fault::Closed, Perturbation::CloseWhileWaiting, fd, kind, gt)
    }

    fn timer_tie(&mut self, creator: u64) -> u8 {
        // Ties move under jitter (DESIGN §6: jitter "breaks ties between timers of different
        // greenthreads") and under scheduling perturbation; otherwise creation order holds.
        if self.jitter.is_zero() && !self.shuffles() {
            return 0;
        }
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
        self.shuffle || self.pct.is_some()
    }

    fn one_at_a_time(&self) -> bool {
        self.pct.is_some()
    }

    fn kills(&self) -> bool {
        self.faults.contains(&Fault::Kill)
    }

    fn kill_at(&mut self, gt: u64) -> bool {
        let hit = self.draw() != 0;
        if hit {
            self.log(Perturbation::Kill, Some(gt), None);
        }
        hit
    }

    fn io_latency(&mut self, op: IoOp, fd: u64, kind: FdKind, gt: u64) -> Duration {
        if !self.faults.contains(&Fault::Slow) {
            return Duration::ZERO;
        }
        let b = self.draw();
        if b == 0 {
            return Duration::ZERO;
        }
        let delay = Duration::from_millis(u64::from(b));
        self.log(Perturbation::Latency { op, delay }, Some(gt), Some((fd, kind)));
        delay
    }

    fn order(&mut self, gts: &[u64]) -> Option<Vec<usize>> {
        let mut pct = self.pct.take()?;
        if pct.change_points.is_none() {
            // d - 1 change points in 1..=k, but none where every draw was zero: 0 means "no
            // perturbation here", so the zero tape (and an exhausted one) keeps queue order.
            let points = (1..pct.depth)
                .filter_map(|_| {
                    // Both bytes count whatever k is (`hi << 8` alone would vanish modulo a
                    // power of two up to 256).
                    let hi = u32::from(self.draw_nonzero());
                    let lo = u32::from(self.draw_nonzero());
                    (hi | lo != 0).then(|| 1 + (hi * 251 + lo) % pct.steps)
                })
                .collect();
            pct.change_points = Some(points);
        }
        pct.step += 1;
        self.state.borrow_mut().steps = pct.step;
        for &g in gts {
            if let std::collections::hash_map::Entry::Vacant(e) = pct.priorities.entry(g) {
                // Random and distinct but for a 1-in-255 tie (broken by queue order below, so the
                // priorities always order the greenthreads totally): whatever the tape's density,
                // a priority is non-zero unless every one of its draws was zero (the zero tape
                // keeps queue order). With one draw, a tape of density 0.5 left half the
                // priorities 0, and two greenthreads ran in their queue's reverse order in about
                // 37% of runs instead of PCT's 1/2. (Two bytes per priority, tried, found the
                // zoo's bugs later: Random over the portfolio 2.39 against 2.88 with one.)
                e.insert(i32::from(self.draw_nonzero()));
            }
        }
        let hits = pct.change_points.as_ref().map_or(0, |c| c.iter().filter(|&&s| s == pct.step).count());
        for _ in 0..hits {
            // The greenthread that would run first drops below every other.
            let top = gts.iter().copied().max_by_key(|g| (pct.priorities[g], std::cmp::Reverse(*g)));
            if let Some(top) = top {
                let low = pct.priorities.values().copied().min().unwrap_or(0).min(0) - 1;
                pct.priorities.insert(top, low);
                self.log(Perturbation::PriorityChange { step: pct.step }, Some(top), None);
            }
        }
        let mut order: Vec<usize> = (0..gts.len()).collect();
        // Highest priority first; equal priorities keep their queue order.
        order.sort_by_key(|&i| std::cmp::Reverse(pct.priorities[&gts[i]]));
        self.pct = Some(pct);
        Some(order)
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
        let kinds: Vec<Fault> = self
            .faults
            .iter()
            .copied()
            .filter(|f| *f != Fault::Slow && f.applies_to(kind) && f.applies_to_op(op))
            .collect();
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
            Fault::Spurious | Fault::Delayed | Fault::Closed | Fault::Kill | Fault::Slow | Fault::Reorder => {
                return None
            }
        };
        self.log(Perturbation::Io { op, fault }, Some(gt), Some((fd, kind)));
        Some(fault)
    }
}
