//! Greenthreads: stackful coroutines pinned to their hub's thread.
//!
//! # Lifecycle
//!
//! `NotStarted` (spawned; its start timer is queued) → `Running` (the hub switched into it) ⇄
//! `Blocked` (parked in a green call) / `Ready` (woken; its wake-up is queued) → `Dead`.
//! Only the running greenthread is `Running`; the root greenlet follows the same states.
//!
//! # Green calls, kills and timeouts
//!
//! Every blocking green call starts with [`begin_green_call_at`], which numbers the call (`seq`)
//! and delivers a pending kill or expired timeout by unwinding with a private payload
//! (`resume_unwind`, so no panic hook runs). A kill stays pending until the greenthread dies, a
//! timeout until its guard is dropped: a payload swallowed by `catch_unwind` is delivered again at
//! the next green call. Nothing is thrown into a greenthread that is unwinding already (`Drop`
//! code making green calls during a kill or a panic runs normally; a second unwind out of a
//! destructor would abort the process): the throw stays pending and is delivered at the first
//! green call after the unwinding ended (a `catch_unwind` caught it).
//!
//! # Unwinding is tracked per greenthread
//!
//! `std::thread::panicking()` is per OS thread: while greenthread Y is parked in a blocking `Drop`
//! during its unwind, it is true on every greenthread of the thread. So the runtime never asks it
//! about one greenthread alone. Each greenthread carries its own flag ([`GtCore::unwinding`]),
//! and the hub counts the flagged ones:
//!
//! * set exactly when the runtime starts an unwind (a kill, a timeout, a blocking verdict) and
//!   when the runtime's chained panic hook sees a panic start on it;
//! * cleared exactly where the runtime catches (the greenthread's root, [`Timeout::call`],
//!   links, greenthread-local destructors) and when a runtime payload swallowed by a user's
//!   `catch_unwind` is dropped on the greenthread it was thrown at;
//! * checked against `thread::panicking()` at each throw point ([`is_unwinding`]): when no
//!   *other* greenthread of the hub is flagged, `panicking()` speaks for this one alone, so an
//!   unwind started without any hook (`resume_unwind`, or a user hook that replaced the
//!   runtime's) is seen, and a user panic the user caught is forgotten. While another greenthread
//!   is parked mid-unwind the flag is trusted as it stands.
//!
//! The thread's panic count itself is std's and cannot be split per greenthread on stable Rust:
//! a `std::sync::Mutex` guard held *across a green switch* while another greenthread parks
//! mid-unwind sees `panicking()` change under it and may poison the mutex (use [`crate::Mutex`],
//! which has no poisoning, for locks held across switches). A std guard taken and dropped within
//! one slice is never affected: nothing else runs in between.
//!
//! [`Timeout::call`]: crate::Timeout::call

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::time::Duration;

use corosensei::Coroutine;

use crate::error::Error;
use crate::hub::{hub, misuse_hub_context, Hub};
use crate::sys::stack::{self, PooledStack};
use crate::sys::switch::{GreenYielder, Resume, YielderPtr};
use crate::timer::{Action, NewTimer, TimerKey};
use crate::wait::WaitQueue;

/// Default usable stack size of a greenthread: 256 KiB (plus a guard page). Untouched pages cost
/// no memory, so a greenthread that stays shallow uses a few KiB of RAM. Change it per greenthread
/// with [`Builder::stack_size`].
///
/// ```
/// assert_eq!(green::DEFAULT_STACK_SIZE, 256 * 1024);
/// ```
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

pub(crate) type Coro = Coroutine<Resume, (), (), PooledStack>;

/// A greenthread's function with its result's record, boxed until its first resume creates
/// the coroutine (or a kill finishes it unstarted).
pub(crate) trait Start {
    /// Runs the function on the greenthread's own coroutine.
    fn run(self: Box<Self>, y: &GreenYielder, first: Resume);
    /// Finishes the greenthread without running it (killed before it started), in the caller:
    /// the function is dropped, the result set, the links run.
    fn fail(self: Box<Self>, core: &Rc<GtCore>, err: Error);
}

/// What a greenthread runs: one field for the function and the coroutine, since it never has
/// both. Two variants, so the tag hides in a niche of the coroutine (five words, not six, in a
/// record a million parked greenthreads hold each); "nothing to run" is [`Run::idle`].
pub(crate) enum Run {
    /// Not started: its function. The hub creates its coroutine, on a stack reserved at the
    /// spawn ([`stack::reserve`]), when it first resumes it. `None`: nothing to run (finished,
    /// killed before it started, or the root, which runs on the thread's own stack).
    Start(Option<Box<dyn Start>>),
    /// Started: its coroutine, on its own stack.
    Coro(Coro),
}

impl Run {
    /// Nothing to run.
    pub(crate) fn idle() -> Run {
        Run::Start(None)
    }

    /// A function waiting for its first resume.
    pub(crate) fn is_start(&self) -> bool {
        matches!(self, Run::Start(Some(_)))
    }

    /// Takes the function out of a greenthread not started yet (`None` otherwise, or when the
    /// record is borrowed: it is being resumed).
    pub(crate) fn take_start(cell: &RefCell<Run>) -> Option<Box<dyn Start>> {
        match &mut *cell.try_borrow_mut().ok()? {
            Run::Start(s) => s.take(),
            Run::Coro(_) => None,
        }
    }
}

/// A greenthread's label from its id and name: `#3 "name"` or `#3`.
pub(crate) fn label_of(id: u64, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("#{id} \"{n}\""),
        None => format!("#{id}"),
    }
}

/// Where a greenthread is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    NotStarted,
    Ready,
    Running,
    Blocked,
    Dead,
}

/// What a parked green call waits for, for dumps and deadlock reports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitInfo {
    pub(crate) what: &'static str,
    pub(crate) site: &'static Location<'static>,
}

/// Runs `f` on the calling greenthread's stack, catching its panic as an [`Error`] (a GreenPool
/// spawn run inline, a `tpool` job with no pool), but letting a kill or timeout of the caller
/// unwind on: those are the caller's to receive, not `f`'s result.
pub(crate) fn call_inline<R>(f: impl FnOnce() -> R) -> Result<R, Error> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(p) if p.is::<KillUnwind>() || p.is::<TimeoutUnwind>() => resume_unwind(p),
        Err(p) => Err(Error::panic(p, None, None)),
    }
}

/// Payload of a kill's unwinding, thrown at greenthread `gt`.
pub(crate) struct KillUnwind {
    pub(crate) gt: u64,
}

/// Payload of a timeout's unwinding, thrown at greenthread `gt`; `outer` is the mark of the
/// unwind it was thrown into (a destructor's own timeout), if any.
pub(crate) struct TimeoutUnwind {
    pub(crate) id: u64,
    pub(crate) after: Duration,
    pub(crate) gt: u64,
    pub(crate) outer: Option<u64>,
}

/// A runtime payload is dropped where its unwind was caught: if that is on the greenthread it
/// was thrown at (a user's `catch_unwind` swallowed it, or [`Timeout::call`](crate::Timeout::call)
/// caught its own), that unwind is over and the greenthread is back to the state it was thrown
/// from: not unwinding, or still in the outer unwind whose destructor is running.
fn payload_dropped(gt: u64, outer: Option<u64>) {
    if let Some(h) = crate::hub::try_hub() {
        if let Some(c) = h.current.get().filter(|c| c.id == gt) {
            c.set_unwinding(h, outer.is_some());
            if let Some(mark) = outer {
                c.cold().unwind_mark.set(mark);
            }
        }
    }
}

impl Drop for KillUnwind {
    fn drop(&mut self) {
        payload_dropped(self.gt, None);
    }
}

impl Drop for TimeoutUnwind {
    fn drop(&mut self) {
        payload_dropped(self.gt, self.outer);
    }
}

/// The type-erased record of a greenthread (or of the root greenlet).
///
/// Kept small: a million greenthreads parked at once (`bench`'s `park1m`) hold a million of
/// these, so what few greenthreads use lives in [`Cold`] and sizes are packed (`u32` slot and
/// stack size, one word for the guard page and for the start timer).
pub(crate) struct GtCore {
    pub(crate) id: u64,
    pub(crate) spawn_site: &'static Location<'static>,
    pub(crate) is_root: bool,
    pub(crate) state: Cell<State>,
    /// Number of the current (or last) green call.
    pub(crate) seq: Cell<u64>,
    pub(crate) kill: Cell<bool>,
    pub(crate) wait: Cell<Option<WaitInfo>>,
    /// What dumps show of its latest bare wake-up (see [`crate::timer::WakeNote`]).
    pub(crate) wake_note: Cell<crate::timer::WakeNote>,
    /// Its function until it starts, then its coroutine.
    pub(crate) run: RefCell<Run>,
    /// What few greenthreads use, allocated on first use ([`GtCore::cold`]): a plain
    /// greenthread's record stays small (a million of them are parked at once in `bench`'s
    /// `park1m`).
    cold: std::cell::OnceCell<Box<Cold>>,
    pub(crate) yielder: YielderPtr,
    /// Index in the hub's live registry (`u32::MAX`: not registered).
    pub(crate) slot: Cell<u32>,
    /// Its stack's usable size in KiB (whole pages, at most `MAX_STACK_SIZE`); see
    /// [`GtCore::stack_size`].
    stack_kib: u32,
    /// The timer that starts it, until it starts ([`TimerKey::NONE`] then).
    pub(crate) start_timer: Cell<TimerKey>,
    /// The end of its stack's guard page, which is the page below (0: no stack yet); see
    /// [`GtCore::guard_range`], read by stack-overflow reports.
    pub(crate) guard_end: Cell<usize>,
    /// How far below its stack's top its latest `park` sat, in 16-byte units (0: unknown):
    /// where the stack lines it resumes on are, for the hub to prefetch ([`GtCore::park_frame`]).
    /// Two bytes, in the padding after the flags, so the record stays 184 bytes.
    park_depth: Cell<u16>,
    /// Its links (`GreenThread::link`) are running now (kept here, where a byte is free, rather
    /// than in its result's record).
    pub(crate) links_running: Cell<bool>,
    /// Set while this greenthread unwinds (see the module docs, "Unwinding is tracked per
    /// greenthread"); change it with [`GtCore::set_unwinding`], which keeps the hub's count.
    pub(crate) unwinding: Cell<bool>,
    /// A harness may kill it at a blocking green call (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub(crate) killable: Cell<bool>,
}

/// The rarely used part of a greenthread's record (see `GtCore::cold`).
#[derive(Default)]
pub(crate) struct Cold {
    /// The name given with [`Builder::name`] (most greenthreads have none).
    name: Option<Box<str>>,
    /// Expired timeouts not yet cleared by their guard: `(id, duration)`.
    pub(crate) expired: RefCell<Vec<(u64, Duration)>>,
    /// Its greenthread-local values (`green_local!`), dropped when its function is over.
    pub(crate) locals: RefCell<crate::local::Locals>,
    /// A counter of this greenthread's unwind starts and [`Timeout::call`](crate::Timeout::call)
    /// entries, to order them.
    pub(crate) marks: Cell<u64>,
    /// The mark taken when `unwinding` was last set.
    pub(crate) unwind_mark: Cell<u64>,
    /// The [`Timeout::call`](crate::Timeout::call)s running now, innermost last: `(timeout id,
    /// mark at entry)`. A timeout whose call began after the current unwind started is caught
    /// inside the destructor that is running, so it may be thrown even while unwinding.
    pub(crate) calls: RefCell<Vec<(u64, u64)>>,
    /// The root only: a blocking report of `Mode::Panic` (`SliceVerdict::Panic`) its current or
    /// next green call panics with (see [`panic_root`]); the root's `kill` flag is set with it.
    pub(crate) panic_with: RefCell<Option<String>>,
}

impl GtCore {
    /// Its rarely used part, allocated now if it was not yet.
    pub(crate) fn cold(&self) -> &Cold {
        self.cold.get_or_init(Box::default)
    }

    /// Its rarely used part if it was ever used (never allocates).
    pub(crate) fn cold_if_used(&self) -> Option<&Cold> {
        self.cold.get().map(|c| &**c)
    }

    pub(crate) fn new_root() -> Rc<GtCore> {
        Rc::new(GtCore::new(0, Some("root".into()), Location::caller(), 0, true))
    }

    fn new(
        id: u64,
        name: Option<String>,
        site: &'static Location<'static>,
        stack_size: usize,
        is_root: bool,
    ) -> GtCore {
        let cold = std::cell::OnceCell::new();
        if let Some(name) = name {
            let _ = cold.set(Box::new(Cold { name: Some(name.into_boxed_str()), ..Cold::default() }));
        }
        GtCore {
            id,
            spawn_site: site,
            is_root,
            state: Cell::new(if is_root { State::Running } else { State::NotStarted }),
            seq: Cell::new(0),
            kill: Cell::new(false),
            wait: Cell::new(None),
            wake_note: Cell::new(crate::timer::WakeNote::NONE),
            run: RefCell::new(Run::idle()),
            cold,
            yielder: YielderPtr::null(),
            slot: Cell::new(u32::MAX),
            stack_kib: u32::try_from(stack_size / 1024).expect("stack sizes are bounded by MAX_STACK_SIZE"),
            start_timer: Cell::new(TimerKey::NONE),
            guard_end: Cell::new(0),
            park_depth: Cell::new(0),
            unwinding: Cell::new(false),
            links_running: Cell::new(false),
            #[cfg(feature = "test-hooks")]
            killable: Cell::new(false),
        }
    }

    /// Its stack's usable size in bytes (0 for the root and for records that never run).
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_kib as usize * 1024
    }

    /// Notes `here`, an address in the frame of the `park` it is about to suspend in, on its
    /// own stack. A depth past what two bytes say (1 MiB) is noted as unknown, as is any depth
    /// of the root, which has no stack of its own (its top computes as 0, below `here`). The
    /// note only steers prefetches, which never fault: it costs no checks beyond that.
    #[inline(always)]
    fn note_park_frame(&self, here: usize) {
        let top = self.guard_end.get() + self.stack_size();
        debug_assert!(top == 0 || (self.guard_end.get()..top).contains(&here), "park on a foreign stack");
        self.park_depth.set(u16::try_from(top.wrapping_sub(here) / 16).unwrap_or(0));
    }

    /// An address in the frame of its latest `park`, if known: the stack lines a resume lands
    /// on and returns through lie around it ([`park_lines`](GtCore::park_lines)).
    #[inline(always)]
    pub(crate) fn park_frame(&self) -> Option<usize> {
        let (lo, depth) = (self.guard_end.get(), self.park_depth.get());
        (lo != 0 && depth != 0).then(|| lo + self.stack_size() - usize::from(depth) * 16)
    }

    /// The stack lines a resume of its latest `park` touches, as a line-aligned address range
    /// `[lo, hi)` to prefetch a line at a time, if its park frame is known: from the line
    /// [`PARK_LINES_BELOW`] lines under the frame's (the rest of `park`'s frame, the suspend
    /// path's and the switch's saved registers) up to the top of the stack, where the frames the
    /// greenthread returns into and loops in sit, at most [`PARK_LINES`] lines in all.
    #[inline(always)]
    pub(crate) fn park_lines(&self) -> Option<(usize, usize)> {
        let frame = self.park_frame()?;
        let lo = frame.wrapping_sub(PARK_LINES_BELOW * 64) & !63;
        let top = self.guard_end.get() + self.stack_size();
        Some((lo, top.min(lo + PARK_LINES * 64)))
    }

    /// The address range `[lo, hi)` of its stack's guard page; `(0, 0)` before it has a stack.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        match self.guard_end.get() {
            0 => (0, 0),
            hi => (hi - stack::page_size(), hi),
        }
    }

    /// The name given with [`Builder::name`]; reading it never allocates (the overflow report
    /// reads it in a signal handler).
    pub(crate) fn name(&self) -> Option<&str> {
        self.cold_if_used().and_then(|c| c.name.as_deref())
    }

    /// `#3 "name"` or `#3`; the root is `#0 root`.
    pub(crate) fn label(&self) -> String {
        if self.is_root {
            return "#0 root".to_string();
        }
        label_of(self.id, self.name())
    }

    pub(crate) fn who(&self) -> Option<(u64, Option<String>)> {
        Some((self.id, self.name().map(String::from)))
    }

    /// Records that timeout `id` expired.
    pub(crate) fn expire(&self, id: u64, after: Duration) {
        let mut e = self.cold().expired.borrow_mut();
        if !e.iter().any(|x| x.0 == id) {
            e.push((id, after));
        }
    }

    /// Describes this greenthread's slice for the slice-end hook.
    pub(crate) fn slice_end(&self, slice: u64) -> crate::probe::SliceEnd {
        crate::probe::SliceEnd {
            slice,
            greenthread: self.id,
            name: self.name().map(String::from),
            spawn_site: if self.is_root { None } else { Some(self.spawn_site) },
            stack_size: self.stack_size(),
        }
    }

    /// An unwind starts on this greenthread now (a runtime throw, or a panic seen by the hook),
    /// nested in another one or not.
    pub(crate) fn start_unwinding(&self, h: &Hub) {
        self.set_unwinding(h, true);
        self.cold().unwind_mark.set(self.mark());
    }

    /// Flags (or unflags) this greenthread as unwinding and keeps the hub's count of flagged ones.
    pub(crate) fn set_unwinding(&self, h: &Hub, on: bool) {
        if self.unwinding.replace(on) != on {
            if on {
                self.cold().unwind_mark.set(self.mark());
            }
            let n = h.unwinding.get();
            debug_assert!(on || n > 0, "green: internal error: unwinding count underflow");
            h.unwinding.set(if on { n + 1 } else { n.saturating_sub(1) });
        }
    }

    /// The next mark (see [`Cold::marks`]).
    pub(crate) fn mark(&self) -> u64 {
        let c = self.cold();
        let m = c.marks.get() + 1;
        c.marks.set(m);
        m
    }

    fn has_pending_throw(&self) -> bool {
        self.kill.get() || self.cold_if_used().is_some_and(|c| !c.expired.borrow().is_empty())
    }

    /// Takes a `Mode::Panic` report left for the root (clearing the kill flag that carries it).
    fn take_root_panic(&self) -> Option<String> {
        let report = self.cold_if_used()?.panic_with.take()?;
        self.kill.set(false);
        Some(report)
    }
}

/// Stack lines under a park frame that a resume touches (see [`GtCore::park_lines`]).
pub(crate) const PARK_LINES_BELOW: usize = 3;

/// Stack lines a resume's prefetch covers at most, from [`PARK_LINES_BELOW`] under the park
/// frame up. A greenthread that sleeps in a loop at the top of its function (the `timers`
/// benchmark's) parks 673 bytes under the top of its stack: the 14 lines from three under that
/// frame to the top are what it touches from one park to the next.
pub(crate) const PARK_LINES: usize = 16;

/// A numbered green call in progress.
pub(crate) struct Ticket {
    pub(crate) gt: Rc<GtCore>,
    pub(crate) seq: u64,
    /// The hub is tearing down: timed waits return at once.
    pub(crate) fast_forward: bool,
}

/// Starts a blocking green call: rejects hub context, delivers pending throws, numbers the call.
#[track_caller]
pub(crate) fn begin_green_call_at(what: &'static str, _site: &'static Location<'static>) -> Ticket {
    let h = hub();
    let Some(cur) = h.current() else { misuse_hub_context(what) };
    begin_green_call(h, cur)
}

#[inline(always)]
pub(crate) fn begin_green_call(h: &Hub, cur: Rc<GtCore>) -> Ticket {
    #[cfg(feature = "test-hooks")]
    if h.hooks.kills.get() && cur.killable.get() && !cur.kill.get() {
        crate::hooks::maybe_kill(&cur);
    }
    if cur.has_pending_throw() {
        deliver_throw(&cur);
    }
    let seq = cur.seq.get() + 1;
    cur.seq.set(seq);
    Ticket { gt: cur, seq, fast_forward: h.tearing_down.get() }
}

/// Parks the call until something wakes it; unwinds if woken to deliver a throw. May return
/// spuriously: callers loop on their condition.
pub(crate) fn park(t: &Ticket, info: WaitInfo) {
    park_in(hub(), t, info)
}

/// [`park`] on this thread's hub `h`.
#[inline(always)]
pub(crate) fn park_in(h: &Hub, t: &Ticket, info: WaitInfo) {
    let gt = &t.gt;
    debug_assert_eq!(gt.seq.get(), t.seq, "park outside its green call");
    if h.probe.take_alarm() {
        // This green call ends a slice a blocking detector found over budget.
        let end = gt.slice_end(h.probe.switches());
        if let Some(report) = crate::probe::slice_ended(end).report() {
            if !is_unwinding(h, gt) {
                gt.start_unwinding(h);
                if gt.is_root {
                    // Its own report is raised here; one left for it before is dropped.
                    let _ = gt.take_root_panic();
                    // Through the panic hook: the root's panic is the test's (or the thread's),
                    // and a panic resumed without the hook fails a test with no message at all.
                    // A greenthread's is printed by the hub where it ends.
                    std::panic::panic_any(report);
                }
                resume_unwind(Box::new(report));
            }
        }
    }
    if gt.unwinding.get() || std::thread::panicking() {
        // Park with an accurate flag: other greenthreads read the hub's count while this one
        // is parked (a parked unwind keeps the thread's panic count up).
        is_unwinding(h, gt);
    }
    #[cfg(feature = "test-hooks")]
    crate::hooks::note_park(h, gt.spawn_site, info.what, info.site);
    gt.state.set(State::Blocked);
    gt.wait.set(Some(info));
    let here = 0u8;
    gt.note_park_frame(std::ptr::addr_of!(here) as usize);
    let r = if gt.is_root { h.run_loop(gt, false) } else { gt.yielder.suspend() };
    gt.wait.set(None);
    // A kill or timeout that arrived after this call was woken but before it resumed (its wake-up
    // was still queued) interrupts this call too: the call is still blocking until it resumes, as
    // in eventlet, where the throw switches into the parked greenlet before the wake-up does.
    // Primitives give back whatever was handed to the call (`WaitQueue::wait`'s `on_abandon`).
    if r == Resume::Throw || gt.has_pending_throw() {
        deliver_throw(gt);
    }
}

/// Ends the running greenthread's slice if a blocking detector found it over budget: runs the
/// slice-end hook and returns the report of a `Fail` verdict.
#[cold]
#[inline(never)]
fn slice_end_verdict(h: &Hub, gt: &GtCore) -> Option<String> {
    if !h.probe.take_alarm() {
        return None;
    }
    crate::probe::slice_ended(gt.slice_end(h.probe.switches())).report()
}

/// Leaves `report` (a `Mode::Panic` blocking report) for the root: its current green call, or
/// its next one, panics with it, so the hub's thread panics even if nobody waits on the
/// greenthread that blocked. The first report wins until it is raised.
#[track_caller]
pub(crate) fn panic_root(h: &Hub, report: String) {
    let root = h.root();
    {
        let mut slot = root.cold().panic_with.borrow_mut();
        if slot.is_some() {
            return;
        }
        *slot = Some(report);
    }
    // The kill flag carries it to the root's next green call (no check of its own on the
    // green-call path); `deliver_throw` raises the report instead of a kill.
    root.kill.set(true);
    if root.state.get() == State::Blocked {
        // Wake it with a throw, as a kill does; a Ready root meets the report when it resumes.
        h.add_timer(Duration::ZERO, Action::Kill { gt: root }, "blocking report (Mode::Panic)", Location::caller());
    }
}

/// Unwinds the current greenthread with its pending kill or oldest expired timeout, unless it may
/// be unwinding already (then the throw stays pending for its next green call).
pub(crate) fn deliver_throw(gt: &Rc<GtCore>) {
    let h = hub();
    if is_unwinding(h, gt) {
        // Only a timeout whose `Timeout::call` began after the unwind started may go: that call
        // catches it inside the destructor running now.
        let since = gt.cold().unwind_mark.get();
        let safe = {
            let calls = gt.cold().calls.borrow();
            let expired = gt.cold().expired.borrow();
            calls.iter().find(|(id, m)| *m > since && expired.iter().any(|e| e.0 == *id)).map(|c| c.0)
        };
        if let Some(id) = safe {
            gt.start_unwinding(h);
            let after = gt.cold().expired.borrow().iter().find(|e| e.0 == id).map_or(Duration::ZERO, |e| e.1);
            resume_unwind(Box::new(TimeoutUnwind { id, after, gt: gt.id, outer: Some(since) }));
        }
        return;
    }
    if gt.kill.get() {
        if let Some(report) = gt.take_root_panic() {
            // Through the panic hook, as a root's own blocking failure: it is the test's panic.
            gt.start_unwinding(h);
            std::panic::panic_any(report);
        }
        gt.start_unwinding(h);
        resume_unwind(Box::new(KillUnwind { gt: gt.id }));
    }
    let first = gt.cold().expired.borrow().iter().min_by_key(|x| x.0).copied();
    if let Some((id, after)) = first {
        gt.start_unwinding(h);
        resume_unwind(Box::new(TimeoutUnwind { id, after, gt: gt.id, outer: None }));
    }
}

/// Whether the running greenthread `gt` is unwinding now (so a throw would abort). Exact when no
/// other greenthread of the hub is flagged: then the thread's panic count is `gt`'s alone, and
/// the flag is brought in line with it (an unwind started with no hook, a panic the user caught).
pub(crate) fn is_unwinding(h: &Hub, gt: &GtCore) -> bool {
    if !std::thread::panicking() {
        // Nobody on this thread is unwinding, `gt` included.
        gt.set_unwinding(h, false);
        return false;
    }
    let others = h.unwinding.get() - usize::from(gt.unwinding.get());
    if others == 0 {
        gt.set_unwinding(h, true);
        return true;
    }
    gt.unwinding.get()
}

/// Marks the running greenthread as unwinding when a panic starts on it (see
/// [`GtCore::unwinding`]); installed once per process, chaining to the previous hook.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            crate::hub::mark_current_unwinding();
            if crate::hub::panic_is_quiet(info) {
                return;
            }
            prev(info);
        }));
    });
}

/// Yields the current context until the next pass (`sleep(0)`): every greenthread already
/// runnable runs first.
#[track_caller]
pub(crate) fn yield_now(what: &'static str) {
    yield_now_at(what, Location::caller());
}

pub(crate) fn yield_now_at(what: &'static str, site: &'static Location<'static>) {
    let h = hub();
    let Some(cur) = h.current() else { misuse_hub_context(what) };
    yield_now_in(h, cur, what, site);
}

/// `sleep(0)` in a greenthread, nothing in hub context (eventlet's rule). It is inlined into
/// its caller, down to the switch, so that a greenthread suspends in the frame it is later
/// resumed in: the code it runs in between then makes as many calls as returns, and the CPU's
/// return predictor stays right. Suspending in a function called by the loop instead costs two
/// mispredicted returns per round trip (the suspend's `ret` into the hub, and the return out of
/// that function after the resume), a bare corosensei round trip 2.8 ns inline against 17 ns
/// through one call on this project's benchmark machine.
#[inline(always)]
pub(crate) fn yield_inline(what: &'static str, site: &'static Location<'static>) {
    let h = hub();
    if let Some(cur) = h.current() {
        yield_now_in(h, cur, what, site);
    }
}

/// Yields the running greenthread `cur` (the fast path of `sleep(0)`).
#[inline(always)]
pub(crate) fn yield_now_in(h: &Hub, cur: Rc<GtCore>, what: &'static str, site: &'static Location<'static>) {
    let t = begin_green_call(h, cur);
    h.push_wake_by(&t.gt, t.seq, what, site, t.gt.id, 0);
    // A spurious return (a throw that could not be delivered) only shortens the yield.
    park_in(h, &t, WaitInfo { what, site });
}

/// Cancels a timer when dropped (a sleep interrupted by a kill leaves no stray wake-up).
pub(crate) struct CancelTimer(pub(crate) TimerKey);

impl Drop for CancelTimer {
    fn drop(&mut self) {
        hub().cancel_timer(self.0);
    }
}

/// Kills a greenthread that never started: it finishes as killed in the caller's context.
pub(crate) fn kill_unstarted(h: &Hub, gt: &Rc<GtCore>) {
    gt.state.set(State::Dead);
    gt.kill.set(true);
    cancel_start_timer(h, gt);
    let start = Run::take_start(&gt.run);
    if start.is_some() {
        stack::unreserve(gt.stack_size());
    }
    h.unregister(gt);
    // The unstarted function is dropped here, in the killer's context, then the links run.
    if let Some(s) = start {
        s.fail(gt, Error::killed(gt.who()));
    }
}

fn cancel_start_timer(h: &Hub, gt: &GtCore) {
    let k = gt.start_timer.replace(TimerKey::NONE);
    if k != TimerKey::NONE {
        h.cancel_timer(k);
    }
}

/// Starts an unstarted greenthread with its kill pending: its function never runs, and its
/// closure's destructors and its links run on its own stack, not in the caller (hub context).
pub(crate) fn start_killed(h: &Hub, gt: &Rc<GtCore>) {
    cancel_start_timer(h, gt);
    gt.kill.set(true);
    h.resume(gt, Resume::Wake);
}

/// Kills `victim` as `GreenThread::kill` does; see there.
#[track_caller]
pub(crate) fn kill_core(victim: &Rc<GtCore>) {
    let h = hub();
    match victim.state.get() {
        State::Dead => return,
        State::NotStarted if h.in_hub_context() => {
            start_killed(h, victim);
            return;
        }
        State::NotStarted => kill_unstarted(h, victim),
        State::Running => {
            // Only the running greenthread is Running: a self-kill unwinds at once.
            victim.kill.set(true);
            deliver_throw(victim);
            return;
        }
        State::Blocked => {
            victim.kill.set(true);
            if h.in_hub_context() {
                h.resume(victim, Resume::Throw);
                return;
            }
            let mut batch = h.batch.borrow_mut();
            let stack = None;
            let creator = h.current().map_or(0, |c| c.id);
            h.timers.borrow_mut().add_front(
                NewTimer {
                    deadline: None,
                    tie: 0,
                    action: Action::Kill { gt: victim.clone() },
                    why: "kill",
                    creator,
                    site: Location::caller(),
                    stack,
                },
                &mut batch,
            );
        }
        State::Ready => {
            victim.kill.set(true);
            if h.in_hub_context() {
                // Woken but not yet run: unwind it now too (its queued wake-up goes stale, and a
                // wait that was handed something gives it back as it unwinds).
                h.resume(victim, Resume::Throw);
                return;
            }
        }
    }
    if !h.in_hub_context() {
        yield_now("GreenThread::kill");
    }
}

/// Teardown's kill: no yielding, the caller runs the loop afterwards.
pub(crate) fn kill_for_teardown(h: &Hub, gt: &Rc<GtCore>) {
    match gt.state.get() {
        State::NotStarted => start_killed(h, gt),
        State::Blocked => {
            gt.kill.set(true);
            h.resume(gt, Resume::Throw);
        }
        State::Ready | State::Running => gt.kill.set(true),
        State::Dead => {}
    }
}

// ===== GreenThread =====

/// A handle to a greenthread: wait for its result, kill it, link callbacks to its end.
///
/// Handles are cheap to clone and `!Send`: a greenthread is pinned to the OS thread whose hub runs
/// it.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(green::spawn(|| 1));
/// ```
///
/// ```
/// let gt = green::spawn(|| 6 * 7);
/// assert_eq!(gt.wait().unwrap(), 42);
/// assert!(gt.is_finished());
/// ```
pub struct GreenThread<T> {
    core: Rc<GtCore>,
    shared: Rc<Shared<T>>,
}

impl<T> Clone for GreenThread<T> {
    fn clone(&self) -> Self {
        GreenThread { core: self.core.clone(), shared: self.shared.clone() }
    }
}

type Link<T> = Box<dyn FnOnce(&GreenThread<T>)>;

/// A greenthread's result, as its handles see it.
enum Outcome<T> {
    /// Not finished yet.
    Pending,
    /// Finished; `observed` once someone waited for it after it was set.
    Done { result: Result<T, Error>, observed: bool },
    /// Taken out by [`GreenThread::join`].
    Taken,
}

/// The record a greenthread's handles share: five words (a million parked greenthreads hold
/// one each), so what few use is boxed when first used.
struct Shared<T> {
    outcome: RefCell<Outcome<T>>,
    /// Greenthreads waiting for it to finish; boxed at the first wait that parks (most
    /// greenthreads finish before anyone waits: one word instead of six in every record).
    waiters: std::cell::OnceCell<Box<WaitQueue<()>>>,
    /// Its links (`GreenThread::link`), FIFO; boxed at the first link (most have none). A
    /// `Cell`, taken and put back around each use: one word in every greenthread's record.
    #[allow(clippy::box_collection, reason = "one word in every greenthread's record instead of four")]
    links: Cell<Option<Box<VecDeque<Link<T>>>>>,
}

/// Stores the result, wakes every waiter, then runs the links FIFO (in the caller: the dying
/// greenthread, or the killer of an unstarted one).
fn finish<T: 'static>(core: &Rc<GtCore>, sh: &Rc<Shared<T>>, r: Result<T, Error>) {
    *sh.outcome.borrow_mut() = Outcome::Done { result: r, observed: false };
    if let Some(waiters) = sh.waiters.get() {
        waiters.wake_all(|| (), "greenthread finished");
    }
    run_links(core, sh);
}

fn run_links<T: 'static>(core: &Rc<GtCore>, sh: &Rc<Shared<T>>) {
    if core.links_running.replace(true) {
        return;
    }
    let gt = GreenThread { core: core.clone(), shared: sh.clone() };
    loop {
        let next = sh.with_links(VecDeque::pop_front);
        let Some(link) = next else { break };
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| link(&gt))) {
            core.set_unwinding(hub(), false);
            if p.is::<KillUnwind>() || p.is::<TimeoutUnwind>() {
                // Killed (or timed out) while running its links: the rest are skipped.
                core.kill.set(false);
                if let Some(c) = core.cold_if_used() {
                    c.expired.borrow_mut().clear();
                }
                sh.with_links(VecDeque::clear);
                break;
            }
            let msg = crate::error::panic_message(p.as_ref());
            hub().record_exception(
                false,
                format!("green: a link of {} panicked: {msg}; remaining links skipped", core.label()),
            );
            // The links queued now are skipped; one that a skipped link's destructor links runs.
            sh.with_links(VecDeque::clear);
        }
    }
    core.links_running.set(false);
}

impl<T: 'static> GreenThread<T> {
    /// Waits until the greenthread finishes and returns a clone of its result: its return value,
    /// or an [`Error`] if it panicked (`is_panic`), was killed (`is_killed`) or let a timeout
    /// escape (`is_timeout`). Any number of greenthreads may wait on one (eventlet's semantics),
    /// so the result must be `Clone`; [`join`](GreenThread::join) takes a result that is not (an
    /// `io::Result`, a socket) out of one handle.
    ///
    /// # Panics
    ///
    /// When a greenthread waits on itself (it would never finish), when called from hub context
    /// before the greenthread finished, and when [`join`](GreenThread::join) already took the
    /// result.
    ///
    /// ```
    /// let gt = green::spawn(|| String::from("done"));
    /// let gt2 = gt.clone();
    /// let waiter = green::spawn(move || gt2.wait().unwrap());
    /// assert_eq!(gt.wait().unwrap(), "done");
    /// assert_eq!(waiter.wait().unwrap(), "done");
    /// ```
    #[track_caller]
    pub fn wait(&self) -> Result<T, Error>
    where
        T: Clone,
    {
        self.wait_finished();
        match &*self.shared.outcome.borrow() {
            Outcome::Done { result, .. } => result.clone(),
            Outcome::Pending | Outcome::Taken => self.taken_misuse(),
        }
    }

    /// Waits like [`wait`](GreenThread::wait) and takes the result out, so `T` need not be `Clone`.
    /// Other handles can no longer [`wait`](GreenThread::wait) for it afterwards.
    ///
    /// ```
    /// let gt = green::spawn(|| vec![1, 2, 3]);
    /// assert_eq!(gt.join().unwrap(), [1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn join(self) -> Result<T, Error> {
        self.wait_finished();
        let outcome = std::mem::replace(&mut *self.shared.outcome.borrow_mut(), Outcome::Taken);
        match outcome {
            Outcome::Done { result, .. } => result,
            Outcome::Pending | Outcome::Taken => self.taken_misuse(),
        }
    }

    #[track_caller]
    fn taken_misuse(&self) -> ! {
        panic!(
            "green: the result of greenthread {} was already taken by GreenThread::join on another \
             handle; when several handles need the result, use wait() (T: Clone) on each",
            self.core.label()
        )
    }

    #[track_caller]
    fn wait_finished(&self) {
        if self.is_finished() {
            self.shared.observe();
            return;
        }
        let h = hub();
        if let Some(cur) = h.current() {
            if Rc::ptr_eq(&cur, &self.core) {
                panic!(
                    "green: greenthread {} waits on itself: it would never finish. Wait on it from \
                     another greenthread or from the root",
                    self.core.label()
                );
            }
        }
        while !self.is_finished() {
            self.shared.waiters.get_or_init(Box::default).wait("GreenThread::wait", None, |()| {});
        }
        self.shared.observe();
    }

    /// Kills the greenthread. If it has not started, it never runs: it finishes as killed at once
    /// and its links run in the caller. If it is parked in a green call (even one already woken
    /// whose wake-up is still queued), it runs before the caller resumes and unwinds from that call:
    /// destructors run and may make green calls, and whatever the call was handed (an item, a
    /// permit) goes back to its primitive. If it is running (a self-kill), it unwinds at once. Then
    /// the caller yields (unless in hub context, where the victim unwinds synchronously). Killing a finished greenthread
    /// does nothing; a greenthread killing itself unwinds at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// let gt = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    /// green::sleep(Duration::ZERO); // let it start and park
    /// gt.kill();
    /// assert!(gt.wait().unwrap_err().is_killed());
    /// ```
    #[track_caller]
    pub fn kill(&self) {
        kill_core(&self.core);
    }

    /// Kills the greenthread only if it has not started yet (eventlet's `cancel`); returns whether
    /// it did.
    ///
    /// ```
    /// let gt = green::spawn_after(std::time::Duration::from_secs(1), || 1);
    /// assert!(gt.cancel());
    /// assert!(gt.wait().unwrap_err().is_killed());
    /// ```
    #[track_caller]
    pub fn cancel(&self) -> bool {
        if self.core.state.get() == State::NotStarted {
            kill_core(&self.core);
            true
        } else {
            false
        }
    }

    /// Runs `f(&handle)` when the greenthread finishes, in the dying greenthread after its
    /// function returned (so `f` may block), FIFO with other links. If it has already finished, `f`
    /// runs now in the caller. A link that panics is reported and the remaining links are skipped.
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let seen = Rc::new(RefCell::new(None));
    /// let s = seen.clone();
    /// let gt = green::spawn(|| 5);
    /// gt.link(move |g| *s.borrow_mut() = Some(g.wait().unwrap()));
    /// gt.wait().unwrap();
    /// assert_eq!(*seen.borrow(), Some(5));
    /// ```
    pub fn link(&self, f: impl FnOnce(&GreenThread<T>) + 'static) {
        let mut links = self.shared.links.take().unwrap_or_default();
        links.push_back(Box::new(f));
        self.shared.links.set(Some(links));
        if self.is_finished() && !self.core.links_running.get() && self.core.state.get() == State::Dead {
            run_links(&self.core, &self.shared);
        }
    }

    /// The greenthread's per-hub ordinal id (the root is 0; ids start at 1 and never repeat
    /// within a hub's life).
    ///
    /// ```
    /// let a = green::spawn(|| ());
    /// let b = green::spawn(|| ());
    /// assert!(b.id() > a.id());
    /// ```
    pub fn id(&self) -> GreenThreadId {
        GreenThreadId(self.core.id)
    }

    /// The name given with [`Builder::name`].
    ///
    /// ```
    /// let gt = green::Builder::new().name("worker").spawn(|| ());
    /// assert_eq!(gt.name(), Some("worker"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.core.name()
    }

    /// True once the greenthread's function returned, panicked or was killed (links may still be
    /// running).
    ///
    /// ```
    /// let gt = green::spawn(|| ());
    /// assert!(!gt.is_finished());
    /// gt.wait().unwrap();
    /// assert!(gt.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        !matches!(*self.shared.outcome.borrow(), Outcome::Pending)
    }

    /// True once the hub has switched into the greenthread (or it finished).
    ///
    /// ```
    /// let gt = green::spawn(|| ());
    /// assert!(!gt.is_started());
    /// green::sleep(std::time::Duration::ZERO);
    /// assert!(gt.is_started());
    /// ```
    pub fn is_started(&self) -> bool {
        self.core.state.get() != State::NotStarted
    }

    /// A finished handle that never ran a coroutine (GreenPool's re-entrant spawn).
    pub(crate) fn finished(result: Result<T, Error>, site: &'static Location<'static>) -> Self {
        let h = hub();
        let core = Rc::new(GtCore::new(h.alloc_id(), None, site, 0, false));
        core.state.set(State::Dead);
        let shared = Rc::new(Shared::new());
        *shared.outcome.borrow_mut() = Outcome::Done { result, observed: false };
        GreenThread { core, shared }
    }
}

impl<T> Shared<T> {
    /// Runs `f` on its links, if it has any.
    fn with_links<R: Default>(&self, f: impl FnOnce(&mut VecDeque<Link<T>>) -> R) -> R {
        let mut links = self.links.take();
        let r = links.as_deref_mut().map(f).unwrap_or_default();
        // A link dropped by `f` may have linked another meanwhile (into the emptied cell): it is
        // kept, after the others, not overwritten.
        if let Some(added) = self.links.take() {
            links.get_or_insert_with(Box::default).extend(*added);
        }
        self.links.set(links);
        r
    }

    fn new() -> Self {
        Shared { outcome: RefCell::new(Outcome::Pending), waiters: std::cell::OnceCell::new(), links: Cell::new(None) }
    }

    /// Someone waited for the result after it was set.
    fn observe(&self) {
        if let Outcome::Done { observed, .. } = &mut *self.outcome.borrow_mut() {
            *observed = true;
        }
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // The last reference to a greenthread's result is gone: a panic nobody waited for is
        // reported to the hub (the unobserved-panic detector reads it).
        if let Outcome::Done { result: Err(e), observed: false } = self.outcome.get_mut() {
            if e.is_panic() {
                let (label, site) = e.panic_origin();
                let site = site.unwrap_or(Location::caller());
                crate::hub::record_unobserved_panic(format!(
                    "unobserved panic: greenthread {label} (spawned at {}:{}) panicked and nobody waited for it: {}",
                    site.file(),
                    site.line(),
                    e.panic_message().unwrap_or("")
                ));
            }
        }
    }
}

impl<T> fmt::Debug for GreenThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenThread")
            .field("id", &self.core.id)
            .field("name", &self.core.name())
            .field("state", &self.core.state.get())
            .finish()
    }
}

/// A greenthread's per-hub ordinal id; displays as `#3`.
///
/// ```
/// let gt = green::spawn(|| ());
/// assert_eq!(gt.id().to_string(), format!("#{}", gt.id().as_u64()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GreenThreadId(u64);

impl GreenThreadId {
    /// The id as a number (0 is the root greenlet).
    ///
    /// ```
    /// assert_eq!(green::current().id().as_u64(), 0);
    /// ```
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for GreenThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

// ===== Builder and spawning =====

/// Configures a greenthread before spawning it: its name and stack size.
///
/// ```
/// let gt = green::Builder::new().name("big").stack_size(4 << 20).spawn(|| {
///     let buf = [1u8; 512 * 1024]; // needs a big stack
///     buf.iter().map(|&b| b as usize).sum::<usize>()
/// });
/// assert_eq!(gt.wait().unwrap(), 512 * 1024);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the [`DEFAULT_STACK_SIZE`].
    ///
    /// ```
    /// let gt = green::Builder::new().spawn(|| 1);
    /// assert_eq!(gt.join().unwrap(), 1);
    /// ```
    pub fn new() -> Self {
        Builder::default()
    }

    /// Names the greenthread (shown in dumps, errors and reports).
    ///
    /// ```
    /// let gt = green::Builder::new().name("fetcher").spawn(|| green::current().name().map(String::from));
    /// assert_eq!(gt.join().unwrap().as_deref(), Some("fetcher"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages, at least 16 KiB, at most
    /// 4 GiB: spawning with more panics with a message naming the limit). Stacks of each size
    /// are pooled separately.
    ///
    /// ```
    /// let gt = green::Builder::new().stack_size(64 * 1024).spawn(|| 3);
    /// assert_eq!(gt.join().unwrap(), 3);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns `f` as a greenthread that first runs at the next hub pass.
    ///
    /// # Panics
    ///
    /// When no stack can be mapped (memory or mapping limit reached); the message names the limit.
    ///
    /// ```
    /// let gt = green::Builder::new().name("w").spawn(|| "ok");
    /// assert_eq!(gt.wait().unwrap(), "ok");
    /// ```
    #[track_caller]
    pub fn spawn<T: 'static>(self, f: impl FnOnce() -> T + 'static) -> GreenThread<T> {
        spawn_inner(self, Duration::ZERO, None, f, Location::caller(), "spawn")
    }

    /// Spawns at an explicit site (for wrappers such as `GreenPool::spawn`).
    pub(crate) fn spawn_at<T: 'static>(
        self,
        f: impl FnOnce() -> T + 'static,
        site: &'static Location<'static>,
    ) -> GreenThread<T> {
        spawn_inner(self, Duration::ZERO, None, f, site, "spawn")
    }

    /// Spawns `f` with no handle; a panic is printed by the hub (if
    /// [`hub_exceptions`](crate::debug::hub_exceptions) is on) and recorded.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let ran = Rc::new(Cell::new(false));
    /// let r = ran.clone();
    /// green::Builder::new().name("bg").spawn_n(move || r.set(true));
    /// green::sleep(std::time::Duration::ZERO);
    /// assert!(ran.get());
    /// ```
    #[track_caller]
    pub fn spawn_n(self, f: impl FnOnce() + 'static) {
        drop(spawn_inner(self, Duration::ZERO, None, f, Location::caller(), "spawn_n"));
    }

    /// Spawns `f` to start after `delay`.
    ///
    /// ```
    /// let gt = green::Builder::new().spawn_after(std::time::Duration::from_millis(1), || 2);
    /// assert_eq!(gt.wait().unwrap(), 2);
    /// ```
    #[track_caller]
    pub fn spawn_after<T: 'static>(self, delay: Duration, f: impl FnOnce() -> T + 'static) -> GreenThread<T> {
        spawn_inner(self, delay, None, f, Location::caller(), "spawn_after")
    }

    /// Spawns `f` to start after `delay`, unless the spawning greenthread has finished by then; it
    /// then never runs and finishes as killed.
    ///
    /// ```
    /// let gt = green::Builder::new().spawn_after_local(std::time::Duration::from_millis(1), || 2);
    /// assert_eq!(gt.wait().unwrap(), 2); // the root never finishes
    /// ```
    #[track_caller]
    pub fn spawn_after_local<T: 'static>(self, delay: Duration, f: impl FnOnce() -> T + 'static) -> GreenThread<T> {
        let owner = hub().current().filter(|c| !c.is_root);
        spawn_inner(self, delay, owner, f, Location::caller(), "spawn_after_local")
    }
}

fn spawn_inner<T: 'static>(
    b: Builder,
    delay: Duration,
    owner: Option<Rc<GtCore>>,
    f: impl FnOnce() -> T + 'static,
    site: &'static Location<'static>,
    why: &'static str,
) -> GreenThread<T> {
    let h = hub();
    let size = stack::round_stack_size(b.stack_size.unwrap_or(DEFAULT_STACK_SIZE)).unwrap_or_else(|e| panic!("{e}"));
    stack::reserve(size).unwrap_or_else(|e| panic!("{e}"));
    let core = Rc::new(GtCore::new(h.alloc_id(), b.name, site, size, false));
    let shared: Rc<Shared<T>> = Rc::new(Shared::new());
    *core.run.borrow_mut() = Run::Start(Some(Box::new(Spawned { f, shared: shared.clone() })));
    h.register(&core);
    #[cfg(feature = "test-hooks")]
    h.progress();
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "green", greenthread = core.id, name = core.name(), site = %site, how = why, "spawn");
    let key = h.add_timer(delay, Action::Start { gt: core.clone(), owner }, why, site);
    core.start_timer.set(key);
    GreenThread { core, shared }
}

/// What a spawn leaves for the first resume: the function and the record of its result (boxed
/// until then, so kept to what the greenthread's record does not hold already).
struct Spawned<T, F> {
    f: F,
    shared: Rc<Shared<T>>,
}

impl<T: 'static, F: FnOnce() -> T + 'static> Start for Spawned<T, F> {
    fn run(self: Box<Self>, y: &GreenYielder, _first: Resume) {
        let Spawned { f, shared: sh } = *self;
        let h = hub();
        let core = h.current().expect("green: internal error: a starting greenthread is current");
        core.yielder.set(y);
        let r = if core.kill.get() {
            // Killed before it started, from hub context: `f` never runs; it is dropped here, on
            // the greenthread's own stack, and the links run here too.
            drop(f);
            Err(Error::killed(core.who()))
        } else {
            catch_unwind(AssertUnwindSafe(f)).map_err(|p| classify(h, &core, p))
        };
        // The end of the function ends its slice: a blocking detector's verdict on that slice
        // applies to its result (eventlet's `test_block_detect`: block, then return).
        let r = match r {
            Ok(v) if h.probe.alarmed_slice().is_some() => match slice_end_verdict(h, &core) {
                Some(report) => Err(classify(h, &core, Box::new(report))),
                None => Ok(v),
            },
            r => r,
        };
        // The function is over: what was thrown at it is spent, and links may block.
        core.kill.set(false);
        if let Some(c) = core.cold_if_used() {
            c.expired.borrow_mut().clear();
        }
        core.set_unwinding(h, false);
        drop_locals(&core);
        finish(&core, &sh, r);
        // Links (run by `finish`) may have created values too.
        drop_locals(&core);
    }

    fn fail(self: Box<Self>, core: &Rc<GtCore>, err: Error) {
        let Spawned { f, shared } = *self;
        drop(f);
        finish(core, &shared, Err(err));
    }
}

impl Drop for GtCore {
    fn drop(&mut self) {
        // Spawned but never started nor killed (a hub reset dropped it): its stack reservation
        // goes back to the pool.
        if self.run.get_mut().is_start() {
            stack::unreserve(self.stack_size());
        }
    }
}

/// Drops a greenthread's (or the root's) `green_local!` values, and any their destructors create,
/// on its own stack. A destructor that panics is recorded and the others still run; one that is
/// killed or times out while blocking just ends early.
pub(crate) fn drop_locals(core: &GtCore) {
    for _round in 0..64 {
        let Some(cold) = core.cold_if_used() else { return };
        let values = std::mem::take(&mut *cold.locals.borrow_mut());
        if values.is_empty() {
            return;
        }
        for v in values {
            if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(v))) {
                core.kill.set(false);
                if let Some(c) = core.cold_if_used() {
                    c.expired.borrow_mut().clear();
                }
                core.set_unwinding(hub(), false);
                if !(p.is::<KillUnwind>() || p.is::<TimeoutUnwind>()) {
                    let msg = crate::error::panic_message(p.as_ref());
                    hub().record_exception(
                        false,
                        format!("green: a greenthread-local value of {} panicked when dropped: {msg}", core.label()),
                    );
                }
            }
        }
    }
}

/// Turns what escaped a greenthread's function into its error; reports real panics.
fn classify(h: &Hub, core: &GtCore, p: Box<dyn Any + Send>) -> Error {
    if p.is::<KillUnwind>() {
        return Error::killed(core.who());
    }
    if let Some(t) = p.downcast_ref::<TimeoutUnwind>() {
        return Error::timeout(Some(t.after), core.who());
    }
    let e = Error::panic(p, core.who(), (!core.is_root).then_some(core.spawn_site));
    h.record_exception(
        false,
        format!(
            "green: greenthread {} (spawned at {}:{}) panicked: {}",
            core.label(),
            core.spawn_site.file(),
            core.spawn_site.line(),
            e.panic_message().unwrap_or("")
        ),
    );
    e
}

/// Spawns `f` as a greenthread; it first runs at the next hub pass (nothing runs until the caller
/// blocks or yields).
///
/// ```
/// let gt = green::spawn(|| 1 + 1);
/// assert_eq!(gt.wait().unwrap(), 2);
/// ```
#[track_caller]
pub fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> GreenThread<T> {
    spawn_inner(Builder::default(), Duration::ZERO, None, f, Location::caller(), "spawn")
}

/// Spawns `f` without a handle (eventlet's `spawn_n`): cheaper to forget, nothing to wait on.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let n = Rc::new(Cell::new(0));
/// let m = n.clone();
/// green::spawn_n(move || m.set(1));
/// assert_eq!(n.get(), 0); // not yet
/// green::sleep(std::time::Duration::ZERO);
/// assert_eq!(n.get(), 1);
/// ```
#[track_caller]
pub fn spawn_n(f: impl FnOnce() + 'static) {
    drop(spawn_inner(Builder::default(), Duration::ZERO, None, f, Location::caller(), "spawn_n"));
}

/// Spawns `f` to start after `delay`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// let gt = green::spawn_after(Duration::from_millis(2), Instant::now);
/// assert!(gt.wait().unwrap() - t0 >= Duration::from_millis(2));
/// ```
#[track_caller]
pub fn spawn_after<T: 'static>(delay: Duration, f: impl FnOnce() -> T + 'static) -> GreenThread<T> {
    spawn_inner(Builder::default(), delay, None, f, Location::caller(), "spawn_after")
}

/// Spawns `f` to start after `delay` unless the calling greenthread has finished by then (eventlet's
/// `spawn_after_local`); a start that is skipped finishes the greenthread as killed.
///
/// ```
/// use std::time::Duration;
/// let outer = green::spawn(|| green::spawn_after_local(Duration::from_millis(1), || 1));
/// let inner = outer.join().unwrap(); // `outer` is finished now
/// assert!(inner.wait().unwrap_err().is_killed());
/// ```
#[track_caller]
pub fn spawn_after_local<T: 'static>(delay: Duration, f: impl FnOnce() -> T + 'static) -> GreenThread<T> {
    Builder::default().spawn_after_local(delay, f)
}

/// The greenthread (or root greenlet) that is running. In hub context (hub callbacks run on the
/// root's OS stack) this is the root; [`hub::in_hub_context`](crate::hub::in_hub_context) tells
/// them apart.
///
/// ```
/// assert!(green::current().is_root());
/// let gt = green::Builder::new().name("me").spawn(|| (green::current().id(), green::current().name().map(String::from)));
/// let (id, name) = gt.wait().unwrap();
/// assert_eq!(id, gt.id());
/// assert_eq!(name.as_deref(), Some("me"));
/// ```
pub fn current() -> Current {
    let h = hub();
    Current { core: h.current().unwrap_or_else(|| h.root()), _not_send: PhantomData }
}

/// The running greenthread or root greenlet, as returned by [`current`].
///
/// ```
/// let me = green::current();
/// assert!(me.is_root());
/// ```
#[derive(Clone)]
pub struct Current {
    core: Rc<GtCore>,
    _not_send: PhantomData<*const ()>,
}

impl Current {
    /// Its per-hub ordinal id (`#0` for the root).
    ///
    /// ```
    /// assert_eq!(green::current().id().as_u64(), 0);
    /// ```
    pub fn id(&self) -> GreenThreadId {
        GreenThreadId(self.core.id)
    }

    /// Its name (`"root"` for the root greenlet).
    ///
    /// ```
    /// assert_eq!(green::current().name(), Some("root"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.core.name()
    }

    /// True for the root greenlet (the thread's own stack).
    ///
    /// ```
    /// assert!(!green::spawn(|| green::current().is_root()).wait().unwrap());
    /// ```
    pub fn is_root(&self) -> bool {
        self.core.is_root
    }

    /// Where it was spawned (`#[track_caller]` location of the spawn call).
    ///
    /// ```
    /// let gt = green::spawn(|| green::current().spawn_site().line());
    /// assert_eq!(gt.wait().unwrap(), line!() - 1);
    /// ```
    pub fn spawn_site(&self) -> &'static Location<'static> {
        self.core.spawn_site
    }
}

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Current({})", self.core.label())
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use std::mem::size_of;

    /// What a parked greenthread costs (`bench`'s `rss1m`, DESIGN §7's 4.5 KiB) rests on these
    /// sizes: a field added to one of these records shows up there, so it must be a choice.
    #[test]
    fn per_greenthread_records_stay_within_the_memory_budget() {
        let record = if cfg!(feature = "test-hooks") { 192 } else { 184 };
        assert!(size_of::<super::GtCore>() <= record, "GtCore: {} bytes", size_of::<super::GtCore>());
        assert!(size_of::<super::Run>() <= 40, "Run: {} bytes", size_of::<super::Run>());
        assert!(size_of::<super::Shared<()>>() <= 40, "Shared<()>: {} bytes", size_of::<super::Shared<()>>());
        assert!(size_of::<crate::timer::Entry>() <= 88, "timer Entry: {} bytes", size_of::<crate::timer::Entry>());
        assert!(size_of::<crate::timer::Ready>() <= 16, "Ready: {} bytes", size_of::<crate::timer::Ready>());
    }

    /// A resume's prefetch runs from the lines under the park frame up to the top of the stack,
    /// and stops at the cap when the park is deep: never past the top, into the next mapping.
    #[test]
    fn park_lines_run_from_under_the_frame_to_the_stack_top_within_the_cap() {
        let core = super::GtCore::new(1, None, std::panic::Location::caller(), 64 * 1024, false);
        // Addresses only: nothing here is read. (Depths are kept in 16-byte units.)
        let guard_end = 0x7f00_0000_0000;
        let top = guard_end + 64 * 1024;
        core.guard_end.set(guard_end);
        let below = super::PARK_LINES_BELOW * 64;
        // 304 bytes under the top: the frame's line starts 320 under it.
        core.note_park_frame(top - 304);
        assert_eq!(core.park_lines(), Some((top - 320 - below, top)), "a shallow park: up to the top");
        // 10,000 bytes under the top: the frame's line starts 10,048 under it.
        core.note_park_frame(top - 10_000);
        let lo = top - 10_048 - below;
        assert_eq!(core.park_lines(), Some((lo, lo + super::PARK_LINES * 64)), "a deep park: the cap");
        let lines = crate::sys::prefetch::lines(lo, lo + super::PARK_LINES * 64).count();
        assert_eq!(lines, super::PARK_LINES, "the cap counts lines");
    }

    /// The hub prefetches the stack lines a resume lands on from the frame a greenthread parked
    /// in: that frame must be on the greenthread's own stack, and unknown where it cannot be said.
    #[test]
    fn a_parked_greenthread_notes_its_park_frame_on_its_own_stack() {
        use std::time::Duration;
        let on_stack = |core: &super::GtCore| {
            let (_, lo) = core.guard_range();
            let top = lo + core.stack_size();
            let frame = core.park_frame().expect("a parked greenthread's frame is known");
            assert!((lo..top).contains(&frame), "frame {frame:#x} off the stack [{lo:#x}, {top:#x})");
            // What a resume's prefetch covers: the lines under the frame and up from it, on
            // this stack only (never the next mapping's first page), within the cap.
            let (first, end) = core.park_lines().expect("a known frame has lines");
            let lines: Vec<usize> = crate::sys::prefetch::lines(first, end).collect();
            assert_eq!(lines[0], (frame & !63) - super::PARK_LINES_BELOW * 64, "the lines under the frame");
            assert!(lines.contains(&(frame & !63)), "the frame's own line");
            assert!(lines.iter().all(|&l| l + 64 <= top), "lines [{first:#x}, {end:#x}) pass the top {top:#x}");
            assert!(lines.len() <= super::PARK_LINES, "{} lines, more than {}", lines.len(), super::PARK_LINES);
            top - frame
        };
        let shallow = crate::spawn(|| crate::sleep(Duration::from_millis(5)));
        crate::sleep(Duration::ZERO);
        let depth = on_stack(&shallow.core);
        assert!(depth < 16 * 1024, "a park called near the top sits near the top: {depth} bytes down");
        // Deeper than two bytes of 16-byte units say (1 MiB): unknown, not wrong.
        fn deep(n: usize) {
            let pad = std::hint::black_box([0u8; 64 * 1024]);
            if n == 0 {
                crate::sleep(Duration::from_millis(5));
            } else {
                deep(n - 1);
            }
            std::hint::black_box(pad);
        }
        let deeper = crate::Builder::new().stack_size(16 << 20).spawn(|| deep(20));
        let beside = crate::Builder::new().stack_size(16 << 20).spawn(|| deep(2));
        crate::sleep(Duration::ZERO);
        assert_eq!(deeper.core.park_frame(), None, "a park 1.3 MiB down is past what is noted");
        assert!(on_stack(&beside.core) > 128 * 1024, "a park under three 64 KiB frames sits below them");
        let (first, end) = beside.core.park_lines().unwrap();
        assert_eq!(end - first, super::PARK_LINES * 64, "a deep park's lines stop at the cap, far under the top");
        // The root parks on its thread's own stack: nothing to note.
        crate::sleep(Duration::from_millis(1));
        assert_eq!(crate::hub::hub().root().park_frame(), None);
        for gt in [shallow, deeper, beside] {
            gt.join().unwrap();
        }
    }
}
