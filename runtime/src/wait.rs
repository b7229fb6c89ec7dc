//! Wait queues: how primitives park greenthreads and hand off to them.
//!
//! # Ground rules
//!
//! * A waiter is registered for one green call (its `seq`); waking it pushes a zero-delay wake-up,
//!   so a waker never yields.
//! * Hand-off is direct: the waker puts the value (a permit, an item, a result) into the waiter's
//!   slot before waking it, so nobody can barge in between. Waiters are served FIFO.
//! * A waiter that unwinds (kill, timeout) after it was handed a value gives the value back through
//!   the primitive's `on_abandon`, so nothing is lost.
//! * A parked call may return spuriously (a suppressed throw); [`WaitQueue::wait`] loops until its
//!   slot is filled or its own timer fired.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use crate::greenthread::{begin_green_call_at, park, GtCore, WaitInfo};
use crate::hub::hub;
use crate::timer::{Action, TimerKey};

/// One parked green call.
pub(crate) struct Waiter<V> {
    pub(crate) gt: Rc<GtCore>,
    pub(crate) seq: u64,
    pub(crate) slot: RefCell<Option<V>>,
    /// Set once the waiter stopped waiting (served, timed out or unwound).
    gone: Cell<bool>,
}

impl<V> Waiter<V> {
    fn live(&self) -> bool {
        !self.gone.get() && self.slot.borrow().is_none() && self.gt.state.get() != crate::greenthread::State::Dead
    }
}

/// A FIFO of parked green calls.
pub(crate) struct WaitQueue<V> {
    q: RefCell<VecDeque<Rc<Waiter<V>>>>,
    /// The last finished waiter's allocation, reused by the next wait (a socket's queue sees one
    /// wait per read that would block).
    spare: Cell<Option<Rc<Waiter<V>>>>,
}

impl<V> Default for WaitQueue<V> {
    fn default() -> Self {
        WaitQueue { q: RefCell::new(VecDeque::new()), spare: Cell::new(None) }
    }
}

impl<V> WaitQueue<V> {
    /// Waiters still waiting for a hand-off.
    pub(crate) fn len(&self) -> usize {
        self.q.borrow().iter().filter(|w| w.live()).count()
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.q.borrow().iter().any(|w| w.live())
    }

    /// Greenthreads (or the root) waiting, in order.
    pub(crate) fn waiting_greenthreads(&self) -> Vec<Rc<GtCore>> {
        match self.q.try_borrow() {
            Ok(q) => q.iter().filter(|w| w.live()).map(|w| w.gt.clone()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Removes and returns the first waiter still waiting.
    pub(crate) fn pop(&self) -> Option<Rc<Waiter<V>>> {
        let mut q = self.q.borrow_mut();
        while let Some(w) = q.pop_front() {
            if w.live() {
                return Some(w);
            }
        }
        None
    }

    /// Hands `v` to waiter `w` and wakes it at the next pass.
    #[track_caller]
    pub(crate) fn grant(&self, w: &Waiter<V>, v: V, why: &'static str) {
        *w.slot.borrow_mut() = Some(v);
        hub().wake(&w.gt, w.seq, why, self as *const Self as usize);
    }

    /// Hands `v` to the first waiter; gives it back when nobody waits.
    #[track_caller]
    pub(crate) fn wake_one(&self, v: V, why: &'static str) -> Result<(), V> {
        match self.pop() {
            Some(w) => {
                self.grant(&w, v, why);
                Ok(())
            }
            None => Err(v),
        }
    }

    /// Wakes every waiter, each with a value from `f`.
    #[track_caller]
    pub(crate) fn wake_all(&self, mut f: impl FnMut() -> V, why: &'static str) {
        while let Some(w) = self.pop() {
            self.grant(&w, f(), why);
        }
    }

    fn forget(&self, w: &Rc<Waiter<V>>) {
        if let Ok(mut q) = self.q.try_borrow_mut() {
            q.retain(|x| !Rc::ptr_eq(x, w));
        }
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
        let fresh = Waiter { gt: t.gt.clone(), seq: t.seq, slot: RefCell::new(None), gone: Cell::new(false) };
        let w = match self.spare.take() {
            Some(mut spare) => match Rc::get_mut(&mut spare) {
                Some(w) => {
                    *w = fresh;
                    spare
                }
                None => Rc::new(fresh),
            },
            None => Rc::new(fresh),
        };
        self.q.borrow_mut().push_back(w.clone());
        let timer = timeout.map(|d| h.add_timer(d, Action::Wake { gt: t.gt.clone(), seq: t.seq }, what, site));
        let mut guard = Guard { queue: self, w: &w, timer, on_abandon: Some(on_abandon) };
        loop {
            park(&t, WaitInfo { what, site });
            let got = w.slot.borrow_mut().take();
            if let Some(v) = got {
                guard.finish();
                drop(guard);
                self.keep_spare(w);
                return Some(v);
            }
            if timer.is_some_and(|k| !h.timer_is_live(k)) {
                guard.finish();
                drop(guard);
                self.keep_spare(w);
                return None;
            }
        }
    }

    /// Keeps a finished waiter's allocation for the next wait, if nothing else holds it. It lets
    /// go of its greenthread (pointing at the root instead), so a spare never keeps a finished
    /// greenthread's record alive.
    fn keep_spare(&self, mut w: Rc<Waiter<V>>) {
        if let Some(x) = Rc::get_mut(&mut w) {
            x.gt = hub().root();
            self.spare.set(Some(w));
        }
    }
}

/// Cleans up a wait: cancels its timer, leaves the queue, and on unwind returns a handed value.
struct Guard<'a, V, A: FnOnce(V)> {
    queue: &'a WaitQueue<V>,
    w: &'a Rc<Waiter<V>>,
    timer: Option<TimerKey>,
    on_abandon: Option<A>,
}

impl<V, A: FnOnce(V)> Guard<'_, V, A> {
    fn finish(&mut self) {
        self.on_abandon = None;
        self.cleanup();
    }

    fn cleanup(&mut self) {
        self.w.gone.set(true);
        if let Some(k) = self.timer.take() {
            hub().cancel_timer(k);
        }
        self.queue.forget(self.w);
    }
}

impl<V, A: FnOnce(V)> Drop for Guard<'_, V, A> {
    fn drop(&mut self) {
        if let Some(abandon) = self.on_abandon.take() {
            self.cleanup();
            let handed = self.w.slot.borrow_mut().take();
            if let Some(v) = handed {
                abandon(v);
            }
        }
    }
}
