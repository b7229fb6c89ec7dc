//! A reference model of `GreenPool`, for property tests over [`PoolOp`] sequences (DESIGN §6).
//!
//! [`PoolModel::predict`] says what a pool does with a sequence of operations in virtual time,
//! from the pool's documented rules alone: a spawn takes a slot at once while fewer than
//! `size()` run, and otherwise waits until one frees; a task that sleeps `d` finishes `d` after
//! it got its slot; a kill ends a running task at once and frees its slot (a finished one is not
//! touched); `resize` changes the bound only (running tasks finish, none is stopped); `waitall`
//! returns when the last running task finishes; `imap` keeps at most `size()` items in flight,
//! spawning the next while it waits for the oldest, and ends when the last item is taken.
//! [`run_pool_ops`] does the same operations on a real `GreenPool` and records the same
//! observations, plus the invariants it checked on the way. Under the harness's virtual clock
//! with no perturbation the two agree exactly; under any perturbation (jitter delays, shuffled
//! wake-ups) the timing moves, and [`PoolRun::check_invariants`] checks what holds regardless.
//!
//! An observation is taken after each operation once the hub has settled
//! ([`green::hub::wait_all_blocked`]): everything that can run at that instant has run, so the
//! order of wake-ups inside one instant, which the model does not fix, does not show.
//!
//! ```
//! use green_harness::pool_model::{run_pool_ops, PoolModel};
//! use green_harness::strategy::PoolOp;
//! let ops = [PoolOp::Spawn(2), PoolOp::Spawn(2), PoolOp::Resize(1), PoolOp::Spawn(1)];
//! green_harness::Harness::with_config(green_harness::Config::hermetic()).run(|| {
//!     assert_eq!(run_pool_ops(2, &ops), PoolModel::predict(2, &ops));
//! });
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use crate::strategy::PoolOp;

/// What the pool looked like after one operation, once the hub settled.
///
/// ```
/// use green_harness::pool_model::PoolModel;
/// use green_harness::strategy::PoolOp;
/// // A pool of 1: the second spawn waits for the first task's 3 ms.
/// let run = PoolModel::predict(1, &[PoolOp::Spawn(3), PoolOp::Spawn(2)]);
/// assert_eq!((run.after_each[0].running, run.after_each[0].free), (1, 0));
/// assert!(run.after_each[1].at >= std::time::Duration::from_millis(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolObservation {
    /// Virtual time since the run started.
    pub at: Duration,
    /// `running()`.
    pub running: usize,
    /// `free()`.
    pub free: isize,
}

/// How a task spawned by [`PoolOp::Spawn`] ended.
///
/// ```
/// use green_harness::pool_model::{PoolModel, TaskOutcome};
/// use green_harness::strategy::PoolOp;
/// let run = PoolModel::predict(2, &[PoolOp::Spawn(5), PoolOp::Spawn(5), PoolOp::Kill(0)]);
/// assert_eq!(run.tasks, [TaskOutcome::Killed, TaskOutcome::Finished]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// It slept its time and returned.
    Finished,
    /// A [`PoolOp::Kill`] ended it first (`wait()` said `is_killed()`).
    Killed,
}

/// The record of one sequence of operations on a pool: predicted by [`PoolModel::predict`] or
/// observed by [`run_pool_ops`].
///
/// ```
/// use green_harness::pool_model::{PoolModel, TaskOutcome};
/// use green_harness::strategy::PoolOp;
/// let run = PoolModel::predict(2, &[PoolOp::Spawn(1), PoolOp::Waitall]);
/// assert_eq!(run.after_each.len(), 3); // one per op, and one after the final waitall
/// assert_eq!(run.tasks, [TaskOutcome::Finished]);
/// assert!(run.violations.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolRun {
    /// One observation after each operation, and a last one after the final `resize(size)` and
    /// `waitall()`.
    pub after_each: Vec<PoolObservation>,
    /// How each task of a [`PoolOp::Spawn`] ended, in spawn order.
    pub tasks: Vec<TaskOutcome>,
    /// Invariants the real pool broke while the operations ran (the model breaks none): a spawn
    /// that returned with more running than the size, `waitall` returning with tasks running,
    /// `imap` results out of order or failed, `free() != size() - running()`, a task that
    /// neither finished once nor was killed.
    pub violations: Vec<String>,
}

impl PoolRun {
    /// What holds under any perturbation: no violation, one outcome per spawn, a task killed
    /// only if a [`PoolOp::Kill`] aimed at it, and the pool empty at the end.
    ///
    /// ```
    /// use green_harness::pool_model::PoolModel;
    /// use green_harness::strategy::PoolOp;
    /// let ops = [PoolOp::Spawn(5), PoolOp::Kill(0), PoolOp::Spawn(1)];
    /// PoolModel::predict(2, &ops).check_invariants(&ops).unwrap();
    /// ```
    pub fn check_invariants(&self, ops: &[PoolOp]) -> Result<(), String> {
        if let Some(v) = self.violations.first() {
            return Err(v.clone());
        }
        let spawned = ops.iter().filter(|op| matches!(op, PoolOp::Spawn(_))).count();
        if self.tasks.len() != spawned {
            return Err(format!("{} outcomes for {spawned} spawns", self.tasks.len()));
        }
        let mut aimed = vec![false; spawned];
        let mut so_far = 0;
        for op in ops {
            match op {
                PoolOp::Spawn(_) => so_far += 1,
                PoolOp::Kill(i) if so_far > 0 => aimed[usize::from(*i) % so_far] = true,
                _ => {}
            }
        }
        if let Some(i) = (0..spawned).find(|&i| self.tasks[i] == TaskOutcome::Killed && !aimed[i]) {
            return Err(format!("task {i} was killed, but no kill aimed at it"));
        }
        match self.after_each.last() {
            Some(last) if last.running != 0 => Err(format!("{} still running at the end", last.running)),
            _ => Ok(()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    Finished,
    Killed,
}

#[derive(Clone, Copy, Debug)]
struct Task {
    start: u64,
    sleep: u64,
    state: State,
}

impl Task {
    fn end(&self) -> u64 {
        self.start + self.sleep
    }
}

/// The reference model: a pool in virtual milliseconds (see the module docs for its rules).
///
/// ```
/// use green_harness::pool_model::{PoolModel, TaskOutcome};
/// use green_harness::strategy::PoolOp;
/// // Two slots, three 10 ms tasks: the third waits for a slot, so the spawn returns at 10 ms.
/// let run = PoolModel::predict(2, &[PoolOp::Spawn(10), PoolOp::Spawn(10), PoolOp::Spawn(10)]);
/// assert_eq!(run.after_each[2].at, std::time::Duration::from_millis(10));
/// assert_eq!(run.after_each[2].running, 1);
/// assert_eq!(run.after_each[3].at, std::time::Duration::from_millis(20)); // after waitall
/// assert_eq!(run.tasks, vec![TaskOutcome::Finished; 3]);
/// ```
#[derive(Clone, Debug)]
pub struct PoolModel {
    size: usize,
    now: u64,
    /// Tasks of `Spawn` operations, in spawn order.
    tasks: Vec<Task>,
    /// `imap` items of the operation in progress.
    items: Vec<Task>,
}

impl PoolModel {
    /// What a pool of `size` does with `ops`, then with `resize(size)` and `waitall()`.
    ///
    /// # Panics
    ///
    /// When `size` is 0 (the pool could never run anything).
    ///
    /// ```
    /// use green_harness::pool_model::PoolModel;
    /// use green_harness::strategy::PoolOp;
    /// let run = PoolModel::predict(2, &[PoolOp::Spawn(4), PoolOp::Spawn(4), PoolOp::Spawn(4)]);
    /// // The third spawn waited for a slot: 4 ms in, when both first tasks ended; it runs alone.
    /// let third = run.after_each[2];
    /// assert_eq!((third.at, third.running, third.free), (std::time::Duration::from_millis(4), 1, 1));
    /// assert_eq!(run.after_each.last().unwrap().running, 0);
    /// ```
    pub fn predict(size: usize, ops: &[PoolOp]) -> PoolRun {
        assert!(size > 0, "green-harness: a pool model of size 0 runs nothing; give it a size of 1 or more");
        let mut m = PoolModel { size, now: 0, tasks: Vec::new(), items: Vec::new() };
        let mut after_each = Vec::with_capacity(ops.len() + 1);
        for op in ops {
            m.apply(op);
            after_each.push(m.observe());
        }
        m.size = size;
        m.waitall();
        after_each.push(m.observe());
        let tasks = m
            .tasks
            .iter()
            .map(|t| if t.state == State::Killed { TaskOutcome::Killed } else { TaskOutcome::Finished })
            .collect();
        PoolRun { after_each, tasks, violations: Vec::new() }
    }

    fn apply(&mut self, op: &PoolOp) {
        match *op {
            PoolOp::Spawn(ms) => {
                let t = self.admit(u64::from(ms));
                self.tasks.push(t);
            }
            PoolOp::Resize(n) => self.size = usize::from(n),
            PoolOp::Kill(i) => {
                if !self.tasks.is_empty() {
                    let n = self.tasks.len();
                    let t = &mut self.tasks[usize::from(i) % n];
                    if t.state == State::Running {
                        t.state = State::Killed;
                    }
                }
            }
            PoolOp::Waitall => self.waitall(),
            PoolOp::Imap(n) => self.imap(u64::from(n)),
            PoolOp::Sleep(ms) => {
                self.now += u64::from(ms);
                self.settle();
            }
        }
    }

    fn running(&self) -> usize {
        self.tasks.iter().chain(&self.items).filter(|t| t.state == State::Running).count()
    }

    /// Everything due by now has finished.
    fn settle(&mut self) {
        let now = self.now;
        for t in self.tasks.iter_mut().chain(&mut self.items) {
            if t.state == State::Running && t.end() <= now {
                t.state = State::Finished;
            }
        }
    }

    /// Waits for the next running task to finish.
    fn advance(&mut self) {
        let next = self.tasks.iter().chain(&self.items).filter(|t| t.state == State::Running).map(Task::end).min();
        self.now = self.now.max(next.expect("a full pool runs something"));
        self.settle();
    }

    /// A spawn: waits until fewer than `size` run, then takes a slot now.
    fn admit(&mut self, sleep: u64) -> Task {
        self.settle();
        while self.running() >= self.size {
            self.advance();
        }
        Task { start: self.now, sleep, state: State::Running }
    }

    fn waitall(&mut self) {
        self.settle();
        while self.running() > 0 {
            self.advance();
        }
    }

    /// `imap` over `0..n`, item `x` sleeping `x % 3` ms, consumed to the end.
    fn imap(&mut self, n: u64) {
        let mut inflight = VecDeque::new();
        let mut next = 0;
        loop {
            while inflight.len() < self.size.max(1) && next < n {
                let t = self.admit(next % 3);
                self.items.push(t);
                inflight.push_back(self.items.len() - 1);
                next += 1;
            }
            let Some(front) = inflight.pop_front() else { break };
            self.now = self.now.max(self.items[front].end());
            self.settle();
        }
        self.items.clear();
    }

    fn observe(&mut self) -> PoolObservation {
        self.settle();
        let running = self.running();
        PoolObservation { at: Duration::from_millis(self.now), running, free: self.size as isize - running as isize }
    }
}

/// Does `ops` on a real `GreenPool` of `size` (then `resize(size)` and `waitall()`) and records
/// what [`PoolModel::predict`] predicts, settling the hub before each observation. Call it on a
/// hub under the virtual clock (a [`Harness`](crate::Harness) body): tasks sleep for real
/// milliseconds otherwise.
///
/// ```
/// use green_harness::pool_model::{run_pool_ops, PoolModel};
/// use green_harness::strategy::PoolOp;
/// let ops = [PoolOp::Spawn(3), PoolOp::Imap(4), PoolOp::Resize(1), PoolOp::Spawn(2)];
/// green_harness::Harness::with_config(green_harness::Config::hermetic()).run(|| {
///     assert_eq!(run_pool_ops(2, &ops), PoolModel::predict(2, &ops));
/// });
/// ```
pub fn run_pool_ops(size: usize, ops: &[PoolOp]) -> PoolRun {
    use std::cell::Cell;
    use std::rc::Rc;
    let pool = green::GreenPool::new(size);
    let t0 = green::time::now();
    let mut violations = Vec::new();
    let mut tasks: Vec<(green::GreenThread<()>, Rc<Cell<u32>>)> = Vec::new();
    let mut after_each = Vec::with_capacity(ops.len() + 1);
    let observe = |pool: &green::GreenPool, violations: &mut Vec<String>| {
        green::hub::wait_all_blocked();
        let (running, free) = (pool.running(), pool.free());
        if free != pool.size() as isize - running as isize {
            violations.push(format!("free {free} != size {} - running {running}", pool.size()));
        }
        PoolObservation { at: green::time::now() - t0, running, free }
    };
    for op in ops {
        match *op {
            PoolOp::Spawn(ms) => {
                let done = Rc::new(Cell::new(0));
                let d = done.clone();
                let gt = pool.spawn(move || {
                    green::sleep(Duration::from_millis(u64::from(ms)));
                    d.set(d.get() + 1);
                });
                if pool.running() > pool.size() {
                    violations.push(format!(
                        "task {} admitted with running {} > size {}",
                        tasks.len(),
                        pool.running(),
                        pool.size()
                    ));
                }
                tasks.push((gt, done));
            }
            PoolOp::Resize(n) => pool.resize(usize::from(n)),
            PoolOp::Kill(i) => {
                if !tasks.is_empty() {
                    let n = tasks.len();
                    tasks[usize::from(i) % n].0.kill();
                }
            }
            PoolOp::Waitall => {
                pool.waitall();
                if pool.running() != 0 {
                    violations.push(format!("waitall returned with {} running", pool.running()));
                }
            }
            PoolOp::Imap(n) => {
                let out: Vec<Result<u8, String>> = pool
                    .imap(
                        |x: u8| {
                            green::sleep(Duration::from_millis(u64::from(x % 3)));
                            x
                        },
                        0..n,
                    )
                    .map(|r| r.map_err(|e| e.to_string()))
                    .collect();
                if out != (0..n).map(Ok).collect::<Vec<_>>() {
                    violations.push(format!("imap over 0..{n} gave {out:?}"));
                }
            }
            PoolOp::Sleep(ms) => green::sleep(Duration::from_millis(u64::from(ms))),
        }
        after_each.push(observe(&pool, &mut violations));
    }
    pool.resize(size);
    pool.waitall();
    after_each.push(observe(&pool, &mut violations));
    let outcomes = tasks
        .iter()
        .enumerate()
        .map(|(i, (gt, done))| match (gt.wait(), done.get()) {
            (Ok(()), 1) => TaskOutcome::Finished,
            (Err(e), 0) if e.is_killed() => TaskOutcome::Killed,
            (other, n) => {
                violations.push(format!("task {i}: {other:?} after finishing {n} times"));
                TaskOutcome::Finished
            }
        })
        .collect();
    PoolRun { after_each, tasks: outcomes, violations }
}
