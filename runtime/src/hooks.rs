//! The `test-hooks` surface: what a test harness perturbs (feature `test-hooks`, zero cost when
//! off: every call site is compiled out).
//!
//! * A virtual clock ([`set_virtual_clock`]): `time::now()` and every timer follow it; when nothing
//!   can run, time jumps to the next timer instead of sleeping. Greenthreads waiting on fds get a
//!   real-time grace period first (an fd idle that long is taken as idle); a `tpool` job in flight
//!   holds virtual time still (the hub waits for it in real time; a job that waits for a
//!   greenthread's timer cannot finish, and is a hang after the horizon). A run that can only be
//!   woken by fds that stay silent is a hang ([`set_hang_horizon`]); so is a run whose clock keeps
//!   jumping with nothing but timers waking greenthreads, a livelock in virtual time
//!   ([`set_hang_jumps`]).
//! * A [`Perturb`] implementation ([`install`]) that delays timer deadlines (never earlier; drawn
//!   per timer, and one greenthread's own timers keep their order), reorders the ready batch where
//!   no promise orders it (spawns, `sleep(0)` yields and fd wake-ups freely; wake-ups handed off by
//!   primitives keep their FIFO order among their kind), can run one greenthread per scheduling
//!   step by priority (PCT, [`Perturb::one_at_a_time`]), and injects socket faults (and `EINTR`
//!   into `trampoline` waits).
//! * A switch trace ([`set_trace`], [`take_trace`]) for determinism checks.
//!
//! ```
//! // The switch trace a harness records to check that two runs of one tape agree.
//! green::hooks::set_trace(true);
//! let gt = green::spawn(|| ());
//! gt.wait().unwrap();
//! let trace = green::hooks::take_trace();
//! assert!(trace.head.contains(&gt.id().as_u64()));
//! green::hooks::set_trace(false);
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use crate::hub::hub;

/// A socket operation a fault can hit.
///
/// ```
/// use green::hooks::IoOp;
/// assert_ne!(IoOp::Read, IoOp::Write);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoOp {
    /// `read` / `recv`.
    Read,
    /// `write` / `send`.
    Write,
    /// `connect`.
    Connect,
    /// `accept` (only `EINTR` and spurious `WouldBlock` apply).
    Accept,
    /// A datagram `send`/`recv` (only `EINTR` and spurious `WouldBlock` apply).
    Datagram,
    /// A [`trampoline`](crate::trampoline) wait on a raw fd (only `EINTR` applies).
    Wait,
}

/// What kind of file an operation is on, so a perturbation injects only the faults the kernel
/// could return there (no reset on a pipe, no short read on a datagram socket).
///
/// ```
/// use green::hooks::FdKind;
/// assert!(FdKind::TcpStream.is_stream() && !FdKind::UdpSocket.is_stream());
/// assert_eq!(FdKind::of("pipe reader"), FdKind::Pipe);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FdKind {
    /// A connected TCP socket.
    TcpStream,
    /// A listening TCP socket.
    TcpListener,
    /// A UDP socket.
    UdpSocket,
    /// A connected Unix stream socket.
    UnixStream,
    /// A listening Unix socket.
    UnixListener,
    /// A Unix datagram socket.
    UnixDatagram,
    /// A pipe (either end).
    Pipe,
    /// An fd no green socket owns (a `trampoline` on a raw fd).
    Other,
}

impl FdKind {
    /// The kind of a source from the label dumps show (`"tcp stream"`, `"pipe writer"`, ...).
    ///
    /// ```
    /// use green::hooks::FdKind;
    /// assert_eq!(FdKind::of("pipe writer"), FdKind::Pipe);
    /// assert_eq!(FdKind::of("fd"), FdKind::Other);
    /// ```
    pub fn of(label: &str) -> FdKind {
        match label {
            "tcp stream" => FdKind::TcpStream,
            "tcp listener" => FdKind::TcpListener,
            "udp socket" => FdKind::UdpSocket,
            "unix stream" => FdKind::UnixStream,
            "unix listener" => FdKind::UnixListener,
            "unix datagram" => FdKind::UnixDatagram,
            "pipe reader" | "pipe writer" => FdKind::Pipe,
            _ => FdKind::Other,
        }
    }

    /// A byte stream (TCP, Unix stream, pipe): reads and writes may be short.
    ///
    /// ```
    /// use green::hooks::FdKind;
    /// assert!(FdKind::Pipe.is_stream() && !FdKind::UdpSocket.is_stream());
    /// ```
    pub fn is_stream(self) -> bool {
        matches!(self, FdKind::TcpStream | FdKind::UnixStream | FdKind::Pipe)
    }

    /// A listening socket (its operation is `accept`).
    ///
    /// ```
    /// use green::hooks::FdKind;
    /// assert!(FdKind::TcpListener.is_listener() && !FdKind::TcpStream.is_listener());
    /// ```
    pub fn is_listener(self) -> bool {
        matches!(self, FdKind::TcpListener | FdKind::UnixListener)
    }
}

/// A fault injected into a socket operation.
///
/// ```
/// use green::hooks::IoFault;
/// assert_eq!(IoFault::Short(3), IoFault::Short(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoFault {
    /// The call fails with `EINTR` (green sockets retry it).
    Interrupted,
    /// The call reports `WouldBlock` although the fd is ready: a spurious wake-up (retried).
    WouldBlock,
    /// A read or write moves at most this many bytes (at least 1).
    Short(usize),
    /// The peer reset the connection (`ECONNRESET`); it stays reset.
    Reset,
    /// The write side is broken (`EPIPE`); it stays broken.
    BrokenPipe,
    /// The connection is refused.
    Refused,
}

impl IoFault {
    /// The fault's kind as coverage records it.
    fn coverage_name(&self) -> &'static str {
        match self {
            IoFault::Interrupted => "fault eintr",
            IoFault::WouldBlock => "fault wouldblock",
            IoFault::Short(_) => "fault short",
            IoFault::Reset => "fault reset",
            IoFault::BrokenPipe => "fault pipe",
            IoFault::Refused => "fault refused",
        }
    }
}

/// Asks the installed perturbation for a fault on `op` (fd ordinal `fd` of `kind`), an
/// operation the current greenthread makes at `site`; when one comes and coverage is recorded,
/// notes the (spawn site, call site, fault kind) triple that coverage-guided searches keep tapes
/// for.
pub(crate) fn io_fault_at(
    op: IoOp,
    fd: u64,
    kind: FdKind,
    site: &'static std::panic::Location<'static>,
) -> Option<IoFault> {
    let h = hub();
    let cur = h.current();
    let gt = cur.as_ref().map_or(0, |c| c.id);
    let f = with(|p| p.io_fault(op, fd, kind, gt)).flatten()?;
    if h.hooks.covering.get() {
        let spawn = cur.map_or(site, |c| c.spawn_site);
        note_park(h, spawn, f.coverage_name(), site);
    }
    Some(f)
}

/// Scheduling steps of a run taken one greenthread at a time under
/// [`Perturb::one_at_a_time`]; later steps run whole batches.
///
/// ```
/// assert_eq!(green::hooks::ONE_AT_A_TIME_STEPS, 1024);
/// ```
pub const ONE_AT_A_TIME_STEPS: u32 = 1024;

/// What a harness plugs into the hub; every method is called on the hub's thread.
///
/// Every decision is asked for per operation the program performs (a read, a write, a wait, a
/// timer, a spawn), never per poll event, so it does not depend on how the kernel batches
/// readiness: a perturbation that draws from a tape replays exactly.
///
/// ```
/// use std::time::Duration;
/// use green::hooks::{FdKind, IoFault, IoOp, Perturb};
///
/// /// Delays every timer by 1 ms and changes nothing else.
/// struct LateTimers;
/// impl Perturb for LateTimers {
///     fn timer_delay(&mut self, _creator: u64, _delay: Duration) -> Duration { Duration::from_millis(1) }
///     fn shuffles(&self) -> bool { false }
///     fn pick(&mut self, n: usize) -> usize { n - 1 }
///     fn io_fault(&mut self, _op: IoOp, _fd: u64, _kind: FdKind, _gt: u64) -> Option<IoFault> { None }
/// }
///
/// green::hooks::install(Some(Box::new(LateTimers)));
/// let t0 = std::time::Instant::now();
/// green::sleep(Duration::from_millis(1));
/// assert!(t0.elapsed() >= Duration::from_millis(2)); // 1 ms asked, 1 ms added
/// green::hooks::install(None);
/// ```
pub trait Perturb {
    /// Extra delay (≥ 0) for a timer of `delay` that greenthread `creator` (0 = root) creates;
    /// asked for every timer with a non-zero delay. The hub clamps the jittered deadline between
    /// the creator's pending timers, so the timers one greenthread created keep their order among
    /// themselves; no timer fires earlier than asked.
    fn timer_delay(&mut self, creator: u64, delay: Duration) -> Duration;
    /// Whether ready batches are shuffled at all (when false, [`pick`](Perturb::pick) is never
    /// called and a pass costs nothing extra). Read once, when the perturbation is installed.
    fn shuffles(&self) -> bool {
        true
    }
    /// An index in `0..n` (for shuffling independent ready greenthreads).
    fn pick(&mut self, n: usize) -> usize;
    /// The order in which to run the independent ready greenthreads `gts` (ids, in queue order)
    /// at this scheduling step: a permutation of `0..gts.len()` (`order[k]` is the index of the
    /// entry that goes to place `k`), or `None` to shuffle with [`pick`](Perturb::pick). What
    /// priority-based strategies (PCT) use. Called only when [`shuffles`](Perturb::shuffles).
    fn order(&mut self, _gts: &[u64]) -> Option<Vec<usize>> {
        None
    }
    /// Whether each scheduling step runs only the first greenthread of [`order`](Perturb::order)
    /// (the highest priority, as PCT's scheduler does), the other movable ready greenthreads
    /// waiting for a later step, so a low-priority greenthread can be held back for many steps.
    /// Bounded: after [`ONE_AT_A_TIME_STEPS`] steps of a run, whole batches run again (a program
    /// that spins on `sleep(0)` until another greenthread acts still ends). Read once, when
    /// installed.
    fn one_at_a_time(&self) -> bool {
        false
    }
    /// A fault for socket operation `op` on fd ordinal `fd` (of kind `kind`) by greenthread `gt`,
    /// if any.
    fn io_fault(&mut self, op: IoOp, fd: u64, kind: FdKind, gt: u64) -> Option<IoFault>;
    /// Whether greenthread `gt`, about to wait on fd ordinal `fd`, is woken spuriously instead
    /// (it returns from the wait at the next pass as if the fd were ready, and retries).
    fn spurious_wakeup(&mut self, _fd: u64, _kind: FdKind, _gt: u64) -> bool {
        false
    }
    /// Whether greenthread `gt`, woken by readiness of fd ordinal `fd`, sees it one pass late.
    fn delay_readiness(&mut self, _fd: u64, _kind: FdKind, _gt: u64) -> bool {
        false
    }
    /// Whether the [`trampoline`](crate::trampoline) wait greenthread `gt` is starting on fd
    /// ordinal `fd` is interrupted by a signal instead: it returns `ErrorKind::Interrupted` (as
    /// `poll(2)` does), and code that waits on raw fds must retry it. Green sockets never see it.
    fn interrupt_wait(&mut self, _fd: u64, _kind: FdKind, _gt: u64) -> bool {
        false
    }
    /// Whether greenthread `gt` about to wait on fd ordinal `fd` sees it closed (simulated: the
    /// wait fails with the closed error; the fd stays open).
    fn close_while_waiting(&mut self, _fd: u64, _kind: FdKind, _gt: u64) -> bool {
        false
    }
    /// The tie-break of greenthread `creator`'s timers among equal deadlines of different
    /// greenthreads (asked once per creator; 0 for every creator keeps creation order).
    fn timer_tie(&mut self, _creator: u64) -> u8 {
        0
    }
    /// Whether it kills greenthreads at blocking points at all (when false,
    /// [`kill_at`](Perturb::kill_at) is never called). Read once, when installed.
    fn kills(&self) -> bool {
        false
    }
    /// Whether greenthread `gt` (marked with [`set_killable`]) is killed at the blocking green
    /// call it is starting: it unwinds from there as from a `kill`.
    fn kill_at(&mut self, _gt: u64) -> bool {
        false
    }
    /// Extra virtual time (a slow peer) a socket operation `op` on fd ordinal `fd` by `gt` takes
    /// before it is attempted; zero for none.
    fn io_latency(&mut self, _op: IoOp, _fd: u64, _kind: FdKind, _gt: u64) -> Duration {
        Duration::ZERO
    }
}

/// Marks the running greenthread as one a harness may kill at its blocking calls (a kill
/// injected where a real program could be killed: a worker cancelled after it sent a request and
/// before it read the reply). The root is never killed.
///
/// ```
/// green::spawn(|| green::hooks::set_killable(true)).join().unwrap();
/// ```
pub fn set_killable(on: bool) {
    if let Some(c) = hub().current() {
        if !c.is_root {
            c.killable.set(on);
        }
    }
}

/// Asks the perturbation whether to kill `gt` at the green call it starts.
#[cold]
pub(crate) fn maybe_kill(gt: &crate::greenthread::GtCore) {
    if with(|p| p.kill_at(gt.id)).unwrap_or(false) {
        gt.kill.set(true);
    }
}

/// One event of a run's timeline (see [`set_timeline`]); times are hub nanoseconds (virtual under
/// a virtual clock).
///
/// ```
/// green::hooks::set_timeline(true);
/// green::spawn(|| ()).wait().unwrap();
/// let t = green::hooks::take_timeline();
/// assert!(t.iter().any(|e| matches!(e, green::hooks::TimelineEvent::Slice { .. })));
/// green::hooks::set_timeline(false);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimelineEvent {
    /// Greenthread `gt` (its label in `name`) ran from `start` to `end`.
    Slice {
        /// Ordinal id.
        gt: u64,
        /// `#3 "name"`-style label.
        name: String,
        /// Switch-in time.
        start: u64,
        /// Switch-out time.
        end: u64,
        /// What it parked in at the end (`None` when it finished).
        parked_in: Option<&'static str>,
    },
    /// Timer `t<seq>` fired at `at`, doing `what`.
    Timer {
        /// Ordinal.
        seq: u64,
        /// Fire time.
        at: u64,
        /// What it did (`sleep`, `timeout`, `spawn`, ...).
        what: &'static str,
    },
}

/// A pending jittered timer: (deadline before jitter, deadline after, its key), in nanoseconds.
pub(crate) type JitteredTimer = (u64, u64, crate::timer::TimerKey);

/// Per-hub hook state.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) perturb: RefCell<Option<Box<dyn Perturb>>>,
    /// The installed perturbation's [`Perturb::shuffles`], read once at install (checked every pass).
    pub(crate) shuffles: Cell<bool>,
    /// The installed perturbation's [`Perturb::one_at_a_time`], read once at install.
    pub(crate) one_at_a_time: Cell<bool>,
    /// Scheduling steps taken one at a time so far in this run.
    pub(crate) steps: Cell<u32>,
    /// Virtual now in hub nanoseconds, when the virtual clock is on.
    pub(crate) virtual_ns: Cell<Option<u64>>,
    /// Real-time grace for fds before virtual time jumps.
    pub(crate) grace: Cell<Duration>,
    /// Under the virtual clock: how long greenthreads may all wait on fds, with no timer pending
    /// and nothing in flight, before the run is a hang (`None`: wait for ever).
    pub(crate) hang_horizon: Cell<Option<Duration>>,
    /// Under the virtual clock: clock jumps in a row without progress after which the run is a
    /// livelock hang (`None`: never); see [`set_hang_jumps`].
    pub(crate) hang_jumps: Cell<Option<u64>>,
    /// Clock jumps since the last progress: a wake-up by anything but a timer (a hand-off from a
    /// primitive or another greenthread, fd readiness), a spawn, a greenthread's end.
    pub(crate) quiet_jumps: Cell<u64>,
    /// Since when (real time) virtual time has been held still for a `tpool` job in flight with
    /// nothing running, and the hub's switch count then (any switch starts it over).
    pub(crate) held: Cell<Option<(std::time::Instant, u64)>>,
    /// The switch trace (see [`set_trace`]): recording a switch is a flag test and one store
    /// into [`TraceChunk`], a fixed buffer; the chunk is folded into the trace when full or
    /// taken (the harness records every switch of every run, so the switch path keeps no count
    /// or hash of its own).
    pub(crate) tracing: Cell<bool>,
    /// Ids recorded since the last fold.
    pub(crate) trace_chunk: TraceChunk,
    /// The trace up to the last fold.
    pub(crate) trace: RefCell<Trace>,
    /// The timeline, when recording; `timeline_on` mirrors its `is_some()` for the switch path.
    pub(crate) timeline: RefCell<Option<Vec<TimelineEvent>>>,
    pub(crate) timeline_on: Cell<bool>,
    /// When the slice running now began, while the timeline records (see `Hub::resume`).
    pub(crate) slice_start: Cell<Option<u64>>,
    /// Per creator: its pending jittered timers, as (deadline before jitter, deadline after,
    /// key), the bounds that keep its timers in their order (see `Hub::jitter`).
    pub(crate) jitter_pending: RefCell<HashMap<u64, Vec<JitteredTimer>>>,
    /// Per creator: its timers' tie-break.
    pub(crate) ties: RefCell<HashMap<u64, u8>>,
    /// The installed perturbation's [`Perturb::kills`], read once at install.
    pub(crate) kills: Cell<bool>,
    /// Behaviour seen so far (see [`set_coverage`]), when recording: how many times each
    /// transition's hash was seen.
    pub(crate) coverage: RefCell<Option<HashMap<u64, u32>>>,
    pub(crate) covering: Cell<bool>,
}

impl Hooks {
    /// Turns switch tracing on or off, with an empty trace.
    pub(crate) fn set_tracing(&self, on: bool) {
        self.tracing.set(on);
        self.restart_trace();
    }

    /// Turns timeline recording on or off, with an empty timeline.
    pub(crate) fn set_timeline(&self, on: bool) {
        *self.timeline.borrow_mut() = if on { Some(Vec::new()) } else { None };
        self.timeline_on.set(on);
        // The slice running now began unrecorded (or in an earlier recording): it is left out.
        self.slice_start.set(None);
    }

    /// Empties the switch trace.
    fn restart_trace(&self) {
        self.trace_chunk.at.set(0);
        *self.trace.borrow_mut() = Trace::default();
    }

    /// Records a switch into greenthread `id` when tracing: one store while the chunk has room.
    #[inline(always)]
    pub(crate) fn trace_switch(&self, id: u64) {
        if !self.tracing.get() {
            return;
        }
        let at = self.trace_chunk.at.get();
        match self.trace_chunk.ids.get(at) {
            Some(slot) => {
                slot.set(id);
                self.trace_chunk.at.set(at + 1);
            }
            None => self.trace_chunk_full(id),
        }
    }

    /// The chunk is full: folds it into the trace, then records `id` as the next one's first.
    #[cold]
    #[inline(never)]
    fn trace_chunk_full(&self, id: u64) {
        self.fold_trace();
        self.trace_chunk.ids[0].set(id);
        self.trace_chunk.at.set(1);
    }

    /// Moves the chunk's ids into the trace (what [`Trace::push`] does for each, as one copy
    /// and one hashing loop), leaving the chunk empty.
    fn fold_trace(&self) {
        let ids = &self.trace_chunk.ids[..self.trace_chunk.at.replace(0)];
        let Ok(mut t) = self.trace.try_borrow_mut() else {
            debug_assert!(false, "the trace is never borrowed across a switch");
            return;
        };
        let room = TRACE_HEAD.saturating_sub(t.head.len()).min(ids.len());
        t.head.extend(ids[..room].iter().map(Cell::get));
        t.len += ids.len() as u64;
        t.hash = ids.iter().fold(t.hash, |h, id| fnv_step(h, id.get()));
    }
}

/// One step of FNV-1a over whole 64-bit words (the trace's hash).
#[inline(always)]
fn fnv_step(hash: u64, word: u64) -> u64 {
    (hash ^ word).wrapping_mul(FNV_PRIME)
}

/// Ids per trace chunk: 4 KiB of buffer per hub; a fold per this many switches.
const TRACE_CHUNK: usize = 512;

/// The switch path's side of the trace: the ids recorded since the last fold, in a buffer of
/// fixed size (so that recording is an index check and a store, with no borrow flag, length
/// or capacity to check).
pub(crate) struct TraceChunk {
    ids: Box<[Cell<u64>; TRACE_CHUNK]>,
    at: Cell<usize>,
}

impl Default for TraceChunk {
    fn default() -> Self {
        TraceChunk { ids: Box::new(std::array::from_fn(|_| Cell::new(0))), at: Cell::new(0) }
    }
}

/// Records (or stops recording) this hub's behaviour signal: per distinct (spawn site of a
/// greenthread, site and kind of the green call it parks in) transition, how many times it was
/// taken, cheap enough to count at every park. Coverage-guided searches keep the tapes that reach
/// new ones (see [`take_coverage`]).
///
/// ```
/// green::hooks::set_coverage(true);
/// green::spawn(|| green::sleep(std::time::Duration::from_millis(1))).wait().unwrap();
/// assert!(!green::hooks::take_coverage().is_empty());
/// green::hooks::set_coverage(false);
/// ```
pub fn set_coverage(on: bool) {
    let h = hub();
    h.hooks.covering.set(on);
    *h.hooks.coverage.borrow_mut() = on.then(HashMap::new);
}

/// Takes the behaviour recorded so far (see [`set_coverage`]): one 64-bit hash per transition
/// and power-of-two bucket of the times it was taken (1, 2, 3, 4–7, 8–15, 16–31, 32–127, 128 or
/// more, as AFL buckets its edge counts). A run that waits at a site one more time than any run
/// before it (a retry loop going round again, a second short write) shows new behaviour, so a
/// search keeps its tape and mutates it further, climbing towards the bug's count.
///
/// ```
/// use std::time::Duration;
/// let waits = |n: usize| {
///     green::hooks::set_coverage(true);
///     green::spawn(move || (0..n).for_each(|_| green::sleep(Duration::from_millis(1)))).wait().unwrap();
///     let seen = green::hooks::take_coverage();
///     green::hooks::set_coverage(false);
///     seen
/// };
/// assert_ne!(waits(1), waits(2)); // one more wait at the same site: a new bucket
/// assert_eq!(waits(5), waits(6)); // the same bucket (4-7)
/// ```
pub fn take_coverage() -> std::collections::HashSet<u64> {
    let counts = hub().hooks.coverage.borrow_mut().as_mut().map(std::mem::take).unwrap_or_default();
    counts.into_iter().map(|(x, n)| (x ^ u64::from(count_bucket(n))).wrapping_mul(FNV_PRIME)).collect()
}

/// AFL's hit-count bucket of a transition taken `n` (≥ 1) times.
fn count_bucket(n: u32) -> u8 {
    match n {
        0..=3 => n as u8,
        4..=7 => 4,
        8..=15 => 5,
        16..=31 => 6,
        32..=127 => 7,
        _ => 8,
    }
}

/// Records a park of a greenthread spawned at `spawn` in a green call `what` at `wait`, when
/// coverage is recorded. The check is inlined into every park; the hashing is not.
#[inline(always)]
pub(crate) fn note_park(
    h: &crate::hub::Hub,
    spawn: &'static std::panic::Location<'static>,
    what: &'static str,
    wait: &'static std::panic::Location<'static>,
) {
    if h.hooks.covering.get() {
        count_park(h, spawn, what, wait);
    }
}

#[cold]
#[inline(never)]
fn count_park(
    h: &crate::hub::Hub,
    spawn: &'static std::panic::Location<'static>,
    what: &'static str,
    wait: &'static std::panic::Location<'static>,
) {
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [spawn.file(), what, wait.file()] {
        for b in part.bytes() {
            x = (x ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }
    for n in [spawn.line(), spawn.column(), wait.line(), wait.column()] {
        x = (x ^ u64::from(n)).wrapping_mul(FNV_PRIME);
    }
    if let Ok(mut c) = h.hooks.coverage.try_borrow_mut() {
        if let Some(c) = c.as_mut() {
            *c.entry(x).or_insert(0) += 1;
        }
    }
}

/// Installs (or with `None` removes) this hub's perturbation; returns the previous one.
///
/// ```
/// assert!(green::hooks::install(None).is_none());
/// ```
pub fn install(p: Option<Box<dyn Perturb>>) -> Option<Box<dyn Perturb>> {
    let h = hub();
    h.hooks.jitter_pending.borrow_mut().clear();
    h.hooks.ties.borrow_mut().clear();
    h.hooks.shuffles.set(p.as_ref().is_some_and(|p| p.shuffles()));
    h.hooks.one_at_a_time.set(p.as_ref().is_some_and(|p| p.shuffles() && p.one_at_a_time()));
    h.hooks.steps.set(0);
    h.hooks.kills.set(p.as_ref().is_some_and(|p| p.kills()));
    std::mem::replace(&mut *h.hooks.perturb.borrow_mut(), p)
}

/// Turns this hub's virtual clock on or off; `grace` is how long greenthreads waiting on fds may
/// stay idle in real time before virtual time jumps.
///
/// On a hub with no timer pending and no greenthread alive (a fresh hub, as the harness starts
/// every run with), virtual time starts at zero, so every run reads the same times: the hub's
/// clock is rebased to the real now, which `time::now()` keeps monotonic. On a busy hub it
/// starts from the hub's current time, so deadlines already set keep their meaning. Turned off,
/// the hub's clock carries on from the virtual time it reached.
///
/// ```
/// use std::time::{Duration, Instant};
/// green::hub::shutdown(); // a fresh hub: virtual time starts at zero
/// green::hooks::set_virtual_clock(true, Duration::from_millis(5));
/// assert_eq!(green::hooks::now_ns(), 0);
/// let t0 = Instant::now();
/// green::sleep(Duration::from_secs(3600));
/// assert!(t0.elapsed() < Duration::from_secs(5));
/// assert_eq!(green::hooks::now_ns(), 3_600_000_000_000);
/// green::hooks::set_virtual_clock(false, Duration::ZERO);
/// assert!(green::hooks::now_ns() >= 3_600_000_000_000); // carries on from there
/// ```
pub fn set_virtual_clock(on: bool, grace: Duration) {
    let h = hub();
    if on {
        let now = if h.hooks.virtual_ns.get().is_none() && h.is_idle_for_rebase() {
            h.rebase_clock();
            0
        } else {
            h.now_ns()
        };
        h.hooks.virtual_ns.set(Some(now));
        h.hooks.grace.set(grace);
    } else if let Some(v) = h.hooks.virtual_ns.take() {
        // Carry on from virtual time: deadlines already set stay meaningful.
        h.shift_clock_to(v);
    }
}

/// Under the virtual clock, makes a run whose greenthreads all wait on fds (no timer pending,
/// no `tpool` job or [`HubHandle`](crate::hub::HubHandle) that could wake one) fail as a hang
/// once nothing arrived for `horizon` of real time, instead of waiting for ever; `None` turns it
/// off (the default). Where every waited fd's peer is a socket of this hub, or the fd was closed
/// behind the runtime's back and no duplicate keeps its file open (the poller dropped it),
/// nothing can arrive and the hang is reported at once.
///
/// ```
/// use std::time::Duration;
/// green::hooks::set_virtual_clock(true, Duration::from_millis(1));
/// green::hooks::set_hang_horizon(Some(Duration::from_millis(20)));
/// let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let r = std::panic::catch_unwind(|| green::trampoline(&b, green::Interest::Read, None));
/// let msg = r.unwrap_err().downcast::<String>().unwrap();
/// assert!(msg.starts_with("green: hang"), "{msg}");
/// green::hooks::set_hang_horizon(None);
/// green::hooks::set_virtual_clock(false, Duration::ZERO);
/// ```
pub fn set_hang_horizon(horizon: Option<Duration>) {
    hub().hooks.hang_horizon.set(horizon);
}

/// Under the virtual clock, makes a run whose clock jumps `limit` times in a row with nothing but
/// timers waking greenthreads in between fail as a hang (a livelock in virtual time: a retry loop
/// whose condition never comes, a timeout that keeps expiring), instead of spinning until its
/// wall-clock budget; `None` turns it off (the default). Progress, which starts the count over,
/// is what the hub sees cheaply: a wake-up by anything but a timer (a primitive handing over, fd
/// readiness), a spawn, a greenthread's end. Time that moves in one long sleep is one jump, so
/// a test that sleeps a virtual day is no livelock; a heartbeat ticking alone for `limit` beats
/// is.
///
/// ```
/// use std::time::Duration;
/// green::hooks::set_virtual_clock(true, Duration::from_millis(1));
/// green::hooks::set_hang_jumps(Some(100));
/// let r = std::panic::catch_unwind(|| loop {
///     green::sleep(Duration::from_secs(1)); // polls a condition that never comes
/// });
/// let msg = r.unwrap_err().downcast::<String>().unwrap();
/// assert!(msg.starts_with("green: hang") && msg.contains("100 times"), "{msg}");
/// green::sleep(Duration::from_secs(3600)); // one jump: no livelock
/// green::hooks::set_hang_jumps(None);
/// green::hooks::set_virtual_clock(false, Duration::ZERO);
/// ```
pub fn set_hang_jumps(limit: Option<u64>) {
    let h = hub();
    h.hooks.hang_jumps.set(limit.filter(|&n| n > 0));
    h.hooks.quiet_jumps.set(0);
}

/// Records (or stops recording) the id of every greenthread switched into.
///
/// ```
/// green::hooks::set_trace(true);
/// green::spawn(|| ()).wait().unwrap();
/// assert_eq!(green::hooks::take_trace().head.len(), 1);
/// green::hooks::set_trace(false);
/// ```
pub fn set_trace(on: bool) {
    hub().hooks.set_tracing(on);
}

/// Switches a trace keeps one by one (512 KiB of ids); beyond them it only counts and hashes. A
/// long test would otherwise grow its trace by 8 bytes a switch, tens of megabytes a second, and
/// every run the harness makes records one: with 2^20 ids kept, the 8 MiB of fresh pages a busy
/// run wrote (2,000 page faults) cost its switch loop a tenth of its speed. A divergence past the
/// head is still found (by the count and hash); only its switch is not named.
///
/// ```
/// let mut t = green::hooks::Trace::default();
/// (0..green::hooks::TRACE_HEAD as u64 + 3).for_each(|i| t.push(i));
/// assert_eq!(t.head.len(), green::hooks::TRACE_HEAD);
/// assert_eq!(t.len, green::hooks::TRACE_HEAD as u64 + 3);
/// ```
pub const TRACE_HEAD: usize = 1 << 16;

/// FNV-1a's 64-bit prime (the trace's and the coverage's hashes).
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// The greenthreads switched into, in order: the first [`TRACE_HEAD`] ids, and the count and a
/// hash (FNV-1a over whole ids) of all of them.
///
/// ```
/// let mut a = green::hooks::Trace::default();
/// let mut b = green::hooks::Trace::default();
/// a.push(1);
/// b.push(2);
/// assert_eq!((a.len, a.head.clone()), (1, vec![1]));
/// assert_ne!(a.hash, b.hash);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The first [`TRACE_HEAD`] greenthread ids switched into.
    pub head: Vec<u64>,
    /// Switches recorded in all.
    pub len: u64,
    /// Hash of every id recorded, in order.
    pub hash: u64,
}

impl Default for Trace {
    fn default() -> Self {
        Trace { head: Vec::new(), len: 0, hash: 0xcbf2_9ce4_8422_2325 }
    }
}

impl Trace {
    /// Records a switch into greenthread `id`.
    ///
    /// ```
    /// let mut t = green::hooks::Trace::default();
    /// t.push(7);
    /// assert_eq!((t.len, t.head.as_slice()), (1, &[7][..]));
    /// ```
    #[inline]
    pub fn push(&mut self, id: u64) {
        if self.head.len() < TRACE_HEAD {
            self.head.push(id);
        }
        self.len += 1;
        self.hash = fnv_step(self.hash, id);
    }
}

/// Records (or stops recording) the run's timeline: every slice of every greenthread and every
/// timer fired, with hub times.
///
/// ```
/// green::hooks::set_timeline(true);
/// green::spawn(|| green::sleep(std::time::Duration::from_millis(1))).wait().unwrap();
/// let t = green::hooks::take_timeline();
/// assert!(t.iter().any(|e| matches!(e, green::hooks::TimelineEvent::Slice { parked_in: Some("sleep"), .. })));
/// green::hooks::set_timeline(false);
/// ```
pub fn set_timeline(on: bool) {
    hub().hooks.set_timeline(on);
}

/// Takes the timeline recorded so far.
///
/// ```
/// assert!(green::hooks::take_timeline().is_empty());
/// ```
pub fn take_timeline() -> Vec<TimelineEvent> {
    hub().hooks.timeline.borrow_mut().as_mut().map(std::mem::take).unwrap_or_default()
}

/// Takes the switch trace recorded so far (empty when tracing is off).
///
/// ```
/// assert_eq!(green::hooks::take_trace().len, 0);
/// ```
pub fn take_trace() -> Trace {
    let h = hub();
    if !h.hooks.tracing.get() {
        return Trace::default();
    }
    h.hooks.fold_trace();
    h.hooks.trace.take()
}

/// The hub's clock in nanoseconds since the hub started (the time base of [`TimelineEvent`]).
///
/// ```
/// let a = green::hooks::now_ns();
/// green::sleep(std::time::Duration::from_millis(1));
/// assert!(green::hooks::now_ns() >= a + 1_000_000);
/// ```
pub fn now_ns() -> u64 {
    hub().now_ns()
}

/// Whether this hub's run so far can replay exactly: false once one of its TCP sockets talked
/// to something outside the hub (another process, another thread's hub), its loopback traffic
/// did not settle in time (see the crate's `settle` module docs: before each poll the hub waits
/// until the traffic its own sockets started has landed), it sent a UDP datagram (loopback UDP
/// is not settled), or the hub waited for a `tpool` job in flight (when its result lands is real
/// time's call). Reset with the hub.
///
/// ```
/// green::hooks::set_virtual_clock(true, std::time::Duration::from_millis(5));
/// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let _c = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
/// let _s = l.accept().unwrap();
/// assert!(green::hooks::replay_exact());
/// green::hooks::set_virtual_clock(false, std::time::Duration::ZERO);
/// ```
pub fn replay_exact() -> bool {
    let h = hub();
    !h.settle.outside.get() && !h.settle.unsettled.get()
}

/// Records a timeline event when the timeline is on.
pub(crate) fn record(e: impl FnOnce() -> TimelineEvent) {
    let h = hub();
    if !h.hooks.timeline_on.get() {
        return;
    }
    if let Ok(mut t) = h.hooks.timeline.try_borrow_mut() {
        if let Some(t) = t.as_mut() {
            t.push(e());
        }
    }
}

/// Runs `f` with the perturbation, if one is installed.
pub(crate) fn with<R>(f: impl FnOnce(&mut dyn Perturb) -> R) -> Option<R> {
    let h = hub();
    let mut p = h.hooks.perturb.try_borrow_mut().ok()?;
    p.as_mut().map(|p| f(p.as_mut()))
}
