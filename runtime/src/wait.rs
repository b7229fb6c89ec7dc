//! Wait queues: how primitives park greenthreads and hand off to them.
//!
//! # Ground rules
//!
//! * A waiter is registered for one green call (its `seq`); waking it pushes a zero-delay wake-up,
//!   so a waker never yields.
//! * Hand-off is direct: the waker puts the value (a permit, an item, a result) into the waiter's
//!   entry before waking it, so nobody can barge in between. Waiters are served FIFO.
//! * A waiter that unwinds (kill, timeout) after it was handed a value gives the value back through
//!   the primitive's `on_abandon`, so nothing is lost.
//! * A parked call may return spuriously (a suppressed throw); [`WaitQueue::wait`] loops until it
//!   was handed a value or its own timer fired.
//!
//! # Invariants
//!
//! * A wait allocates nothing: the queue's entry (greenthread, value slot) is the whole record
//!   of a parked call. A million greenthreads parked on one event cost the queue two words each.
//! * Every entry belongs to a call still inside [`WaitQueue::wait_at`]: the call removes its entry
//!   on every way out (hand-off, timeout, unwind). So a greenthread has at most one entry in all
//!   queues, and while it has one its current call (`GtCore::seq`) is the call that waits.
//! * Hand-offs go FIFO, so the entries already handed a value (and not yet collected by their
//!   waiter) are a prefix of the queue: the first `handed` entries hold a value, no other does.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use crate::greenthread::{begin_green_call_at, park, GtCore, State, WaitInfo};
use crate::hub::hub;
use crate::timer::{Action, TimerKey};

/// One parked green call: the current call of `gt` (see the module's invariants).
struct Parked<V> {
    gt: Rc<GtCore>,
    /// What was handed to it (see the module's invariants).
    slot: Option<V>,
}

impl<V> Parked<V> {
    fn is(&self, gt: &GtCore) -> bool {
        std::ptr::eq(&*self.gt, gt)
    }

    /// Its greenthread is alive: an entry of a dead one (dropped without unwinding its wait) is
    /// never served.
    fn live(&self) -> bool {
        self.gt.state.get() != State::Dead
    }
}

/// A FIFO of parked green calls.
pub(crate) struct WaitQueue<V> {
    q: RefCell<VecDeque<Parked<V>>>,
    /// How many entries at the front were handed a value their waiter has not collected yet.
    handed: Cell<usize>,
}

impl<V> Default for WaitQueue<V> {
    fn default() -> Self {
        WaitQueue { q: RefCell::new(VecDeque::new()), handed: Cell::new(0) }
    }
}

impl<V> WaitQueue<V> {
    /// The entries still waiting for a hand-off (past the handed prefix).
    fn waiting<R>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &Parked<V>>) -> R) -> Option<R> {
        let q = self.q.try_borrow().ok()?;
        let mut it = q.iter().skip(self.handed.get()).filter(|p| p.live());
        Some(f(&mut it))
    }

    /// Waiters still waiting for a hand-off.
    pub(crate) fn len(&self) -> usize {
        self.waiting(|it| it.count()).unwrap_or(0)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiting(|it| it.next().is_none()).unwrap_or(true)
    }

    /// Greenthreads (or the root) waiting, in order.
    pub(crate) fn waiting_greenthreads(&self) -> Vec<Rc<GtCore>> {
        self.waiting(|it| it.map(|p| p.gt.clone()).collect()).unwrap_or_default()
    }

    /// Hands `f(its greenthread)` to the first waiter and wakes it at the next pass; returns
    /// whether anyone waited (`f` is not called otherwise). `f` and the wake-up run while the
    /// queue is borrowed, so `f` must not touch this queue: callers pass the runtime's own
    /// closures (a constant, an `Rc` clone, a counter, the mutex's owner); queueing a wake-up
    /// never does.
    #[track_caller]
    pub(crate) fn wake_one_with(&self, f: impl FnOnce(&GtCore) -> V, why: &'static str) -> bool {
        let mut q = self.q.borrow_mut();
        let i = self.handed.get();
        // Entries of dead greenthreads are dropped as they come to the front.
        while q.get(i).is_some_and(|p| !p.live()) {
            q.remove(i);
        }
        let Some(p) = q.get_mut(i) else { return false };
        debug_assert!(p.slot.is_none(), "green: internal error: a waiter past the handed prefix holds a value");
        p.slot = Some(f(&p.gt));
        self.handed.set(i + 1);
        hub().wake(&p.gt, p.gt.seq.get(), why, self as *const Self as usize);
        true
    }

    /// Hands `v` to the first waiter; gives it back when nobody waits.
    #[track_caller]
    pub(crate) fn wake_one(&self, v: V, why: &'static str) -> Result<(), V> {
        let mut v = Some(v);
        if self.wake_one_with(|_| v.take().expect("called once"), why) {
            Ok(())
        } else {
            Err(v.take().expect("not handed"))
        }
    }

    /// Wakes every waiter, each with a value from `f`.
    #[track_caller]
    pub(crate) fn wake_all(&self, mut f: impl FnMut() -> V, why: &'static str) {
        while self.wake_one_with(|_| f(), why) {}
    }

    /// Removes the entry of `gt`'s waiting call, returning what it was handed; `handed_only`
    /// looks only in the handed prefix (where a woken waiter's entry is, usually first).
    fn remove(&self, gt: &GtCore, handed_only: bool) -> Option<V> {
        let Ok(mut q) = self.q.try_borrow_mut() else {
            debug_assert!(false, "green: internal error: a wait queue borrowed while a waiter leaves it");
            return None;
        };
        let handed = self.handed.get();
        let end = if handed_only { handed } else { q.len() };
        let i = q.range(..end).position(|p| p.is(gt))?;
        let p = q.remove(i).expect("position is in range");
        if i < handed {
            self.handed.set(handed - 1);
        }
        debug_assert_eq!(p.slot.is_some(), i < handed, "green: internal error: the handed prefix is broken");
        p.slot
    }

    /// Parks the current greenthread (or root) in this queue until a value is handed to it, or
    /// until `timeout` passes (then `None`). If the wait unwinds after a hand-off, the value goes
    /// to `on_abandon`. While the hub tears down, a timed wait returns `None` at once.
    #[track_caller]
    pub(crate) fn wait(&self, what: &'static str, timeout: Option<Duration>, on_abandon: impl FnOnce(V)) -> Option<V> {
        self.wait_at(what, Location::caller(), timeout, on_abandon)
    }

    /// [`wait`](WaitQueue::wait) with an explicit call site.
    pub(crate) fn wait_at(
        &self,
        what: &'static str,
        site: &'static Location<'static>,
        timeout: Option<Duration>,
        on_abandon: impl FnOnce(V),
    ) -> Option<V> {
        let t = begin_green_call_at(what, site);
        if t.fast_forward && timeout.is_some() {
            return None;
        }
        let h = hub();
        debug_assert_eq!(t.gt.seq.get(), t.seq, "green: internal error: a wait that is not the current call");
        self.q.borrow_mut().push_back(Parked { gt: t.gt.clone(), slot: None });
        // The guard exists from the push on: whatever happens next, the entry leaves the queue.
        let mut guard = Guard { queue: self, gt: &t.gt, timer: None, on_abandon: Some(on_abandon) };
        let timer = timeout.map(|d| h.add_timer(d, Action::Wake { gt: t.gt.clone(), seq: t.seq }, what, site));
        guard.timer = timer;
        loop {
            park(&t, WaitInfo { what, site });
            debug_assert_eq!(t.gt.seq.get(), t.seq, "green: internal error: a green call made while parked");
            if self.handed.get() > 0 {
                if let Some(v) = self.remove(&t.gt, true) {
                    guard.done(false);
                    return Some(v);
                }
            }
            if timer.is_some_and(|k| !h.timer_is_live(k)) {
                guard.done(true);
                return None;
            }
        }
    }
}

/// Cleans up a wait: cancels its timer, leaves the queue, and on unwind returns a handed value.
struct Guard<'a, V, A: FnOnce(V)> {
    queue: &'a WaitQueue<V>,
    gt: &'a GtCore,
    timer: Option<TimerKey>,
    on_abandon: Option<A>,
}

impl<V, A: FnOnce(V)> Guard<'_, V, A> {
    /// The wait is over without unwinding; its entry is still queued unless it collected a value.
    fn done(&mut self, queued: bool) {
        self.on_abandon = None;
        if let Some(k) = self.timer.take() {
            hub().cancel_timer(k);
        }
        if queued {
            let handed = self.queue.remove(self.gt, false);
            debug_assert!(handed.is_none(), "green: internal error: a timed-out waiter was handed a value");
        }
    }
}

impl<V, A: FnOnce(V)> Drop for Guard<'_, V, A> {
    fn drop(&mut self) {
        if let Some(abandon) = self.on_abandon.take() {
            if let Some(k) = self.timer.take() {
                hub().cancel_timer(k);
            }
            if let Some(v) = self.queue.remove(self.gt, false) {
                abandon(v);
            }
        }
    }
}

/// A one-waiter parking place: the fast path of a primitive that usually has a single waiter (a
/// socket's reader, its writer). Parking puts the greenthread in the slot; waking takes it out and
/// queues its wake-up: no queue entry, no search, no allocation. A primitive pairing it with a
/// [`WaitQueue`] keeps FIFO order by parking here only while the slot is free and the queue is
/// empty (a later waiter queues behind the one here) and by waking here first.
///
/// Invariant, as for the queue: the slot holds a greenthread only while that greenthread's
/// current call is inside [`SoleWaiter::wait_at`], which clears it on every way out (woken, timed
/// out, unwound). Being taken out of the slot is this slot's hand-off.
#[derive(Default)]
pub(crate) struct SoleWaiter {
    gt: Cell<Option<Rc<GtCore>>>,
}

impl SoleWaiter {
    fn peek<R>(&self, f: impl FnOnce(Option<&Rc<GtCore>>) -> R) -> R {
        let gt = self.gt.take();
        let r = f(gt.as_ref());
        self.gt.set(gt);
        r
    }

    /// The greenthread (or root) waiting here, if it is alive (see [`Parked::live`]).
    pub(crate) fn waiting(&self) -> Option<Rc<GtCore>> {
        self.peek(|g| g.filter(|g| g.state.get() != State::Dead).cloned())
    }

    /// Nobody alive waits here.
    pub(crate) fn is_free(&self) -> bool {
        self.peek(|g| g.is_none_or(|g| g.state.get() == State::Dead))
    }

    fn holds(&self, gt: &GtCore) -> bool {
        self.peek(|g| g.is_some_and(|g| std::ptr::eq(&**g, gt)))
    }

    /// Takes the waiter out and wakes it at the next pass; returns whether anyone waited.
    /// `group` is the paired queue's address (see [`Hub::wake`](crate::hub::Hub::wake)).
    #[track_caller]
    pub(crate) fn wake(&self, why: &'static str, group: usize) -> bool {
        let Some(gt) = self.gt.take() else { return false };
        // A dead greenthread's entry (dropped without unwinding its wait) is dropped unserved.
        if gt.state.get() == State::Dead {
            return false;
        }
        hub().wake(&gt, gt.seq.get(), why, group);
        true
    }

    /// Parks the current greenthread (or root) here until [`wake`](SoleWaiter::wake) takes it
    /// out, or until `timeout` passes (then `None`). If the wait unwinds after it was taken out,
    /// `on_abandon` runs. While the hub tears down, a timed wait returns `None` at once. The
    /// slot must be free.
    pub(crate) fn wait_at(
        &self,
        what: &'static str,
        site: &'static Location<'static>,
        timeout: Option<Duration>,
        on_abandon: impl FnOnce(),
    ) -> Option<()> {
        let t = begin_green_call_at(what, site);
        if t.fast_forward && timeout.is_some() {
            return None;
        }
        let h = hub();
        debug_assert!(self.is_free(), "green: internal error: a second waiter parked in a sole-waiter slot");
        self.gt.set(Some(t.gt.clone()));
        let mut guard = SoleGuard { slot: self, gt: &t.gt, timer: None, on_abandon: Some(on_abandon) };
        let timer = timeout.map(|d| h.add_timer(d, Action::Wake { gt: t.gt.clone(), seq: t.seq }, what, site));
        guard.timer = timer;
        loop {
            park(&t, WaitInfo { what, site });
            debug_assert_eq!(t.gt.seq.get(), t.seq, "green: internal error: a green call made while parked");
            if !self.holds(&t.gt) {
                guard.done(false);
                return Some(());
            }
            if timer.is_some_and(|k| !h.timer_is_live(k)) {
                guard.done(true);
                return None;
            }
        }
    }
}

/// Cleans up a [`SoleWaiter`] wait: cancels its timer, frees the slot, and on unwind after a
/// wake-up runs `on_abandon`.
struct SoleGuard<'a, A: FnOnce()> {
    slot: &'a SoleWaiter,
    gt: &'a GtCore,
    timer: Option<TimerKey>,
    on_abandon: Option<A>,
}

impl<A: FnOnce()> SoleGuard<'_, A> {
    /// The wait is over without unwinding; `parked`: it is still in the slot (timed out).
    fn done(&mut self, parked: bool) {
        self.on_abandon = None;
        if let Some(k) = self.timer.take() {
            hub().cancel_timer(k);
        }
        if parked {
            drop(self.slot.gt.take());
        }
    }
}

impl<A: FnOnce()> Drop for SoleGuard<'_, A> {
    fn drop(&mut self) {
        if let Some(abandon) = self.on_abandon.take() {
            if let Some(k) = self.timer.take() {
                hub().cancel_timer(k);
            }
            if self.slot.holds(self.gt) {
                drop(self.slot.gt.take());
            } else {
                abandon();
            }
        }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    /// A million greenthreads parked on one event cost its queue one entry each (`bench`'s
    /// `rss1m`): two words, no allocation.
    #[test]
    fn a_parked_call_is_two_words() {
        assert_eq!(std::mem::size_of::<super::Parked<()>>(), 16);
    }

    /// A socket's sole waiter costs its source one word (the greenthread's `Rc`), no allocation.
    #[test]
    fn a_sole_waiter_slot_is_one_word() {
        assert_eq!(std::mem::size_of::<super::SoleWaiter>(), 8);
    }
}
