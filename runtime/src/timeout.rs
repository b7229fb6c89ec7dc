//! `Timeout`: a guard that interrupts the greenthread that armed it.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::time::Duration;

use crate::error::Error;
use crate::greenthread::{GtCore, TimeoutUnwind};
use crate::hub::{hub, misuse_hub_context};
use crate::timer::{Action, TimerKey};

/// A timeout armed on the current greenthread (or root) for as long as the guard lives
/// (eventlet's `Timeout`).
///
/// When it expires, the greenthread unwinds from its current blocking green call, or from its
/// next one if it was runnable. [`call`](Timeout::call) and [`with_timeout`] catch this timeout's
/// own unwinding and turn it into an [`Error`] with [`is_timeout`](Error::is_timeout); any other
/// unwinding (another timeout, a kill, a panic) passes through, so nested timeouts keep their
/// identity. An expiry that escapes the greenthread's function makes its `wait()` return the
/// timeout error. Dropping the guard cancels it; `sleep` and the other blocking calls keep their
/// infallible signatures.
///
/// ```
/// use std::time::Duration;
/// let t = green::Timeout::new(Duration::from_millis(1));
/// let r = t.call(|| green::sleep(Duration::from_secs(10)));
/// assert!(r.unwrap_err().is_timeout());
/// ```
pub struct Timeout {
    id: u64,
    after: Duration,
    key: Cell<Option<TimerKey>>,
    gt: Rc<GtCore>,
    _not_send: PhantomData<*const ()>,
}

impl Timeout {
    /// Arms a timeout of `after` on the calling greenthread (or root). A zero duration expires at
    /// the next hub pass, after greenthreads spawned before it have run.
    ///
    /// # Panics
    ///
    /// In hub context, which has no greenthread to interrupt.
    ///
    /// ```
    /// let t = green::Timeout::new(std::time::Duration::from_secs(5));
    /// assert!(t.is_pending());
    /// ```
    #[track_caller]
    pub fn new(after: Duration) -> Timeout {
        let h = hub();
        let Some(gt) = h.current() else { misuse_hub_context("green::Timeout::new") };
        let id = h.next_timeout_id.get();
        h.next_timeout_id.set(id + 1);
        let key = h.add_timer(after, Action::Expire { gt: gt.clone(), id, after }, "timeout", Location::caller());
        Timeout { id, after, key: Cell::new(Some(key)), gt, _not_send: PhantomData }
    }

    /// Cancels the timeout: it will not fire, and an expiry not yet delivered is withdrawn.
    ///
    /// ```
    /// let t = green::Timeout::new(std::time::Duration::ZERO);
    /// t.cancel();
    /// green::sleep(std::time::Duration::from_millis(1)); // not interrupted
    /// assert!(!t.is_pending());
    /// ```
    pub fn cancel(&self) {
        if let Some(k) = self.key.take() {
            hub().cancel_timer(k);
        }
        if let Some(c) = self.gt.cold_if_used() {
            c.expired.borrow_mut().retain(|x| x.0 != self.id);
        }
    }

    /// True while armed: neither expired nor cancelled.
    ///
    /// ```
    /// let t = green::Timeout::new(std::time::Duration::from_secs(1));
    /// assert!(t.is_pending());
    /// t.cancel();
    /// assert!(!t.is_pending());
    /// ```
    pub fn is_pending(&self) -> bool {
        self.key.get().is_some_and(|k| hub().timer_is_live(k))
    }

    /// True once it expired (whether or not the unwinding has been delivered yet).
    ///
    /// ```
    /// let t = green::Timeout::new(std::time::Duration::ZERO);
    /// let _ = t.call(|| green::sleep(std::time::Duration::from_millis(5)));
    /// ```
    pub fn has_expired(&self) -> bool {
        self.key.get().is_some() && !self.is_pending()
    }

    /// The duration it was armed with.
    ///
    /// ```
    /// let t = green::Timeout::new(std::time::Duration::from_millis(7));
    /// assert_eq!(t.duration(), std::time::Duration::from_millis(7));
    /// ```
    pub fn duration(&self) -> Duration {
        self.after
    }

    /// Runs `f` under this timeout: `Ok` with its value, or `Err` (`is_timeout()`) if this
    /// timeout expired inside it. Other unwinding passes through. The timeout is cancelled when
    /// `call` returns.
    ///
    /// ```
    /// use std::time::Duration;
    /// let r = green::Timeout::new(Duration::from_secs(1)).call(|| 5);
    /// assert_eq!(r.unwrap(), 5);
    /// ```
    pub fn call<R>(self, f: impl FnOnce() -> R) -> Result<R, Error> {
        // Registered for the runtime: this call catches its own timeout, so the timeout may be
        // thrown inside it even while the greenthread unwinds (a destructor's own timeout).
        struct Entered<'a>(&'a GtCore);
        impl Drop for Entered<'_> {
            fn drop(&mut self) {
                self.0.cold().calls.borrow_mut().pop();
            }
        }
        self.gt.cold().calls.borrow_mut().push((self.id, self.gt.mark()));
        let entered = Entered(&self.gt);
        let r = catch_unwind(AssertUnwindSafe(f));
        drop(entered);
        match r {
            Ok(v) => Ok(v),
            Err(p) => match p.downcast::<TimeoutUnwind>() {
                Ok(t) if t.id == self.id => Err(Error::timeout(Some(self.after), self.gt.who())),
                Ok(t) => resume_unwind(t),
                Err(p) => resume_unwind(p),
            },
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").field("id", &self.id).field("after", &self.after).finish()
    }
}

/// Runs `f` with a timeout of `after` (eventlet's `with_timeout`): `Err` with
/// [`is_timeout`](Error::is_timeout) when this timeout expired inside `f`; an outer timeout
/// expiring inside passes through untouched.
///
/// ```
/// use std::time::Duration;
/// let inner = || green::with_timeout(Duration::from_secs(1), || green::sleep(Duration::from_secs(2)));
/// // The outer timeout fires first and is not converted by the inner with_timeout.
/// let r = green::with_timeout(Duration::from_millis(1), inner);
/// assert!(r.unwrap_err().is_timeout());
/// ```
#[track_caller]
pub fn with_timeout<R>(after: Duration, f: impl FnOnce() -> R) -> Result<R, Error> {
    Timeout::new(after).call(f)
}
