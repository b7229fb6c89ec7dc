//! Condition variables for [`Mutex`](crate::Mutex).
//!
//! # Ground rules
//!
//! * [`Condvar::wait`] unlocks the mutex and parks in one step (no switch in between, so no
//!   notification can fall in a gap), then locks it again before returning.
//! * Waiters are woken FIFO. A notification is never lost: a waiter woken by `notify_one` that
//!   unwinds (kill, timeout) before it runs, or while it locks the mutex again, passes the
//!   notification on to the next waiter. A waiter woken by `notify_all` that unwinds wakes nobody
//!   in its place.
//! * Spurious wake-ups do not happen, but as with every condition variable, callers re-check their
//!   condition in a loop ([`Condvar::wait_while`] does it for them): another greenthread may have
//!   changed the data between the notification and the re-lock.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use crate::mutex::MutexGuard;
use crate::wait::WaitQueue;

/// A condition variable: greenthreads wait on it, holding a [`Mutex`](crate::Mutex), until
/// another notifies them.
///
/// ```
/// use std::rc::Rc;
///
/// let pair = Rc::new((green::Mutex::new(false), green::Condvar::new()));
/// let p = pair.clone();
/// green::spawn(move || {
///     *p.0.lock() = true;
///     p.1.notify_one();
/// });
/// let (lock, cvar) = &*pair;
/// let ready = cvar.wait_while(lock.lock(), |ready| !*ready);
/// assert!(*ready);
/// ```
#[derive(Default)]
pub struct Condvar {
    /// Handed `true` by `notify_one` (a notification to pass on if unused), `false` by
    /// `notify_all`.
    waiters: WaitQueue<bool>,
}

/// Passes a `notify_one` notification on if its waiter unwinds (kill, timeout) while it locks
/// the mutex again, before the caller could see it. Forgotten once the lock is taken, so it is
/// dropped only by that unwinding: it never asks `thread::panicking()`, which another
/// greenthread parked mid-unwind would make true.
struct Relock<'a> {
    cv: &'a Condvar,
    one: bool,
}

impl Drop for Relock<'_> {
    fn drop(&mut self) {
        if self.one {
            self.cv.notify_one();
        }
    }
}

impl Condvar {
    /// A condition variable nobody waits on.
    ///
    /// ```
    /// assert_eq!(green::Condvar::new().waiting(), 0);
    /// ```
    pub fn new() -> Self {
        Condvar { waiters: WaitQueue::default() }
    }

    /// Unlocks `guard`'s mutex, waits for a notification, locks the mutex again and returns the
    /// new guard. A kill or an expiring [`Timeout`](crate::Timeout) unwinds out of the wait (or
    /// out of the re-lock) without the lock.
    ///
    /// ```
    /// use std::rc::Rc;
    /// let state = Rc::new((green::Mutex::new(0), green::Condvar::new()));
    /// let s = state.clone();
    /// green::spawn(move || {
    ///     *s.0.lock() = 7;
    ///     s.1.notify_all();
    /// });
    /// let mut g = state.0.lock();
    /// while *g == 0 {
    ///     g = state.1.wait(g);
    /// }
    /// assert_eq!(*g, 7);
    /// ```
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = MutexGuard::mutex(&guard);
        drop(guard);
        let one = self.waiters.wait_at("Condvar::wait", Location::caller(), None, |one| self.pass_on(one));
        let relock = Relock { cv: self, one: one.unwrap_or(false) };
        let g = mutex.lock();
        std::mem::forget(relock);
        g
    }

    /// A woken waiter unwound before it ran: a `notify_one` goes to the next waiter; a
    /// `notify_all` woke everyone anyway, so nobody newer is woken in its place.
    fn pass_on(&self, one: bool) {
        if one {
            self.notify_one();
        }
    }

    /// [`wait`](Condvar::wait) until `condition` is false, checking it first and after every
    /// notification.
    ///
    /// ```
    /// use std::rc::Rc;
    /// let q = Rc::new((green::Mutex::new(Vec::new()), green::Condvar::new()));
    /// let q2 = q.clone();
    /// green::spawn(move || {
    ///     for i in 0..3 {
    ///         q2.0.lock().push(i);
    ///         q2.1.notify_one();
    ///     }
    /// });
    /// let items = q.1.wait_while(q.0.lock(), |v| v.len() < 3);
    /// assert_eq!(*items, [0, 1, 2]);
    /// ```
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// [`wait`](Condvar::wait) for at most `timeout`; the flag is true when it passed without a
    /// notification. The mutex is locked again either way.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (m, c) = (green::Mutex::new(()), green::Condvar::new());
    /// let (_g, timed_out) = c.wait_timeout(m.lock(), Duration::from_millis(1));
    /// assert!(timed_out);
    /// ```
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let mutex = MutexGuard::mutex(&guard);
        drop(guard);
        let woken =
            self.waiters.wait_at("Condvar::wait_timeout", Location::caller(), Some(timeout), |one| self.pass_on(one));
        let relock = Relock { cv: self, one: woken.unwrap_or(false) };
        let g = mutex.lock();
        std::mem::forget(relock);
        (g, woken.is_none())
    }

    /// Wakes the first waiter, if any. Never yields.
    ///
    /// ```
    /// green::Condvar::new().notify_one(); // nobody waits: nothing happens
    /// ```
    #[track_caller]
    pub fn notify_one(&self) {
        let _ = self.waiters.wake_one(true, "Condvar::notify_one");
    }

    /// Wakes every waiter. Never yields.
    ///
    /// ```
    /// green::Condvar::new().notify_all();
    /// ```
    #[track_caller]
    pub fn notify_all(&self) {
        self.waiters.wake_all(|| false, "Condvar::notify_all");
    }

    /// Greenthreads waiting for a notification.
    ///
    /// ```
    /// assert_eq!(green::Condvar::new().waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").field("waiting", &self.waiting()).finish()
    }
}
