//! `Event`: a one-shot value that any number of greenthreads can wait for.
//!
//! ```
//! let ev = green::Event::new();
//! let e = ev.clone();
//! let waiter = green::spawn(move || e.wait());
//! ev.send(7).unwrap(); // never yields
//! assert_eq!(waiter.wait().unwrap(), 7);
//! ```

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::wait::WaitQueue;

/// A value sent once and received by every waiter (eventlet's `Event`).
///
/// [`send`](Event::send) never yields: waiters are woken at the next hub pass, FIFO. A second send
/// before [`reset`](Event::reset) is an error. Errors travel as `Event<Result<T, E>>`.
/// Handles are cheap clones of one event and are `!Send`.
///
/// ```
/// let ev = green::Event::new();
/// let tx = ev.clone();
/// green::spawn(move || tx.send("hello").unwrap());
/// assert_eq!(ev.wait(), "hello");
/// ```
pub struct Event<T> {
    inner: Rc<Inner<T>>,
}

struct Inner<T> {
    value: RefCell<Option<Rc<T>>>,
    waiters: WaitQueue<Rc<T>>,
}

impl<T> Clone for Event<T> {
    fn clone(&self) -> Self {
        Event { inner: self.inner.clone() }
    }
}

impl<T> Default for Event<T> {
    fn default() -> Self {
        Event { inner: Rc::new(Inner { value: RefCell::new(None), waiters: WaitQueue::default() }) }
    }
}

/// Returned by [`Event::send`] on an event already sent; holds the value back.
///
/// ```
/// let ev = green::Event::new();
/// ev.send(1).unwrap();
/// let green::event::AlreadySent(v) = ev.send(2).unwrap_err();
/// assert_eq!(v, 2);
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct AlreadySent<T>(pub T);

impl<T> fmt::Display for AlreadySent<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Event::send on an event that was already sent; call reset() before sending again")
    }
}

impl<T: fmt::Debug> std::error::Error for AlreadySent<T> {}

/// Returned by [`Event::reset`] on an event that was never sent.
///
/// ```
/// let ev: green::Event<()> = green::Event::new();
/// assert_eq!(ev.reset(), Err(green::event::NotSent));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct NotSent;

impl fmt::Display for NotSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Event::reset on a fresh event that was never sent; reset only after send")
    }
}

impl std::error::Error for NotSent {}

impl<T: 'static> Event<T> {
    /// A fresh, unsent event.
    ///
    /// ```
    /// let ev: green::Event<u8> = green::Event::new();
    /// assert!(!ev.ready());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `value`, waking every waiter at the next pass. Never yields.
    ///
    /// ```
    /// let ev = green::Event::new();
    /// ev.send(1).unwrap();
    /// assert_eq!(ev.send(2), Err(green::event::AlreadySent(2)));
    /// ```
    #[track_caller]
    pub fn send(&self, value: T) -> Result<(), AlreadySent<T>> {
        if self.inner.value.borrow().is_some() {
            return Err(AlreadySent(value));
        }
        let v = Rc::new(value);
        *self.inner.value.borrow_mut() = Some(v.clone());
        self.inner.waiters.wake_all(|| v.clone(), "Event::send");
        Ok(())
    }

    /// True once sent (and not reset).
    ///
    /// ```
    /// let ev = green::Event::new();
    /// ev.send(()).unwrap();
    /// assert!(ev.ready());
    /// ```
    pub fn ready(&self) -> bool {
        self.inner.value.borrow().is_some()
    }

    /// Makes a sent event fresh again, so it can be sent anew. Waiters already woken still get the
    /// value they were woken with.
    ///
    /// ```
    /// let ev = green::Event::new();
    /// assert_eq!(ev.reset(), Err(green::event::NotSent));
    /// ev.send(1).unwrap();
    /// ev.reset().unwrap();
    /// ev.send(2).unwrap();
    /// assert_eq!(ev.wait(), 2);
    /// ```
    pub fn reset(&self) -> Result<(), NotSent> {
        // Take the value out first: dropping it may run user code that uses this event.
        let old = self.inner.value.borrow_mut().take();
        match old {
            Some(v) => {
                drop(v);
                Ok(())
            }
            None => Err(NotSent),
        }
    }

    /// Number of greenthreads waiting.
    ///
    /// ```
    /// let ev: green::Event<()> = green::Event::new();
    /// let e = ev.clone();
    /// green::spawn(move || e.wait());
    /// green::sleep(std::time::Duration::ZERO);
    /// assert_eq!(ev.waiting(), 1);
    /// ev.send(()).unwrap();
    /// ```
    pub fn waiting(&self) -> usize {
        self.inner.waiters.len()
    }
}

impl<T: Clone + 'static> Event<T> {
    /// Waits for the value and returns a clone of it; returns at once (without yielding) if the
    /// event was already sent.
    ///
    /// ```
    /// let ev = green::Event::new();
    /// ev.send(5).unwrap();
    /// assert_eq!(ev.wait(), 5);
    /// ```
    #[track_caller]
    pub fn wait(&self) -> T {
        self.wait_as("Event::wait", std::panic::Location::caller())
    }

    /// [`wait`](Event::wait) recorded as the green call `what` at `site` (a runtime call that
    /// waits on an event inside, such as `tpool::execute`, shows as itself at its caller).
    pub(crate) fn wait_as(&self, what: &'static str, site: &'static std::panic::Location<'static>) -> T {
        loop {
            if let Some(v) = self.poll() {
                return v;
            }
            if let Some(v) = self.inner.waiters.wait_at(what, site, None, |_| {}) {
                return (*v).clone();
            }
        }
    }

    /// Waits at most `timeout`; `None` when it passed first (no error is raised).
    ///
    /// ```
    /// let ev: green::Event<u8> = green::Event::new();
    /// assert_eq!(ev.wait_timeout(std::time::Duration::from_millis(1)), None);
    /// ```
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> Option<T> {
        if let Some(v) = self.poll() {
            return Some(v);
        }
        self.inner.waiters.wait("Event::wait_timeout", Some(timeout), |_| {}).map(|v| (*v).clone())
    }

    /// The value if sent, without waiting.
    ///
    /// ```
    /// let ev = green::Event::new();
    /// assert_eq!(ev.poll(), None);
    /// ev.send('x').unwrap();
    /// assert_eq!(ev.poll(), Some('x'));
    /// ```
    pub fn poll(&self) -> Option<T> {
        self.inner.value.borrow().as_ref().map(|v| (**v).clone())
    }
}

impl<T> fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ready = self.inner.value.try_borrow().map(|v| v.is_some()).ok();
        f.debug_struct("Event").field("ready", &ready).field("waiting", &self.inner.waiters.len()).finish()
    }
}
