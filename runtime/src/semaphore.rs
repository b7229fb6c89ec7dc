//! Counting semaphores with FIFO hand-off.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::wait::WaitQueue;

/// A counting semaphore (eventlet's `Semaphore`).
///
/// Waiters are served FIFO and a release hands the permit directly to the first waiter, so a
/// greenthread that releases and re-acquires at once cannot barge ahead of it. `release` never
/// yields. Handles are cheap clones of one semaphore.
///
/// ```
/// let sem = green::Semaphore::new(1);
/// sem.acquire();
/// assert!(!sem.try_acquire());
/// sem.release();
/// assert!(sem.try_acquire());
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<Inner>,
}

struct Inner {
    count: Cell<usize>,
    waiters: WaitQueue<()>,
}

#[track_caller]
fn release(inner: &Rc<Inner>) {
    if inner.waiters.wake_one((), "Semaphore::release").is_err() {
        inner.count.set(inner.count.get() + 1);
    }
}

impl Semaphore {
    /// A semaphore with `value` permits.
    ///
    /// ```
    /// assert_eq!(green::Semaphore::new(3).count(), 3);
    /// ```
    pub fn new(value: usize) -> Self {
        Semaphore { inner: Rc::new(Inner { count: Cell::new(value), waiters: WaitQueue::default() }) }
    }

    /// Takes a permit, waiting (FIFO) while none is free.
    ///
    /// ```
    /// let sem = green::Semaphore::new(0);
    /// let s = sem.clone();
    /// green::spawn(move || s.release());
    /// sem.acquire(); // woken by the release
    /// ```
    #[track_caller]
    pub fn acquire(&self) {
        if self.try_acquire() {
            return;
        }
        let inner = self.inner.clone();
        self.inner.waiters.wait("Semaphore::acquire", None, move |()| release(&inner));
    }

    /// Takes a permit if one is free now and nobody is queued for one.
    ///
    /// ```
    /// assert!(!green::Semaphore::new(0).try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        let c = self.inner.count.get();
        if c > 0 && self.inner.waiters.is_empty() {
            self.inner.count.set(c - 1);
            true
        } else {
            false
        }
    }

    /// Waits at most `timeout` for a permit; false when it passed first.
    ///
    /// ```
    /// let sem = green::Semaphore::new(0);
    /// assert!(!sem.acquire_timeout(std::time::Duration::from_millis(1)));
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        if self.try_acquire() {
            return true;
        }
        let inner = self.inner.clone();
        self.inner.waiters.wait("Semaphore::acquire_timeout", Some(timeout), move |()| release(&inner)).is_some()
    }

    /// Acquires and returns a guard that releases when dropped (also when the holder is killed).
    ///
    /// ```
    /// let sem = green::Semaphore::new(1);
    /// {
    ///     let _g = sem.guard();
    ///     assert!(sem.locked());
    /// }
    /// assert!(!sem.locked());
    /// ```
    #[track_caller]
    pub fn guard(&self) -> SemaphoreGuard {
        self.acquire();
        SemaphoreGuard { sem: self.clone() }
    }

    /// Returns a permit: the first waiter gets it directly, else the count grows. Never yields.
    ///
    /// ```
    /// let sem = green::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.count(), 1);
    /// ```
    #[track_caller]
    pub fn release(&self) {
        release(&self.inner);
    }

    /// Free permits.
    ///
    /// ```
    /// assert_eq!(green::Semaphore::new(2).count(), 2);
    /// ```
    pub fn count(&self) -> usize {
        self.inner.count.get()
    }

    /// True when no permit is free.
    ///
    /// ```
    /// assert!(green::Semaphore::new(0).locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.inner.count.get() == 0
    }

    /// Greenthreads waiting for a permit.
    ///
    /// ```
    /// assert_eq!(green::Semaphore::new(1).waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.inner.waiters.len()
    }

    /// Free permits minus waiters (eventlet's `balance`; negative when greenthreads wait).
    ///
    /// ```
    /// assert_eq!(green::Semaphore::new(2).balance(), 2);
    /// ```
    pub fn balance(&self) -> isize {
        self.inner.count.get() as isize - self.inner.waiters.len() as isize
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").field("count", &self.count()).field("waiting", &self.waiting()).finish()
    }
}

/// Releases its permit when dropped; from [`Semaphore::guard`].
///
/// ```
/// let sem = green::Semaphore::new(1);
/// let g = sem.guard();
/// assert_eq!(sem.count(), 0);
/// drop(g);
/// assert_eq!(sem.count(), 1);
/// ```
#[derive(Debug)]
pub struct SemaphoreGuard {
    sem: Semaphore,
}

impl Drop for SemaphoreGuard {
    fn drop(&mut self) {
        self.sem.release();
    }
}

/// A semaphore that refuses to be released above its initial value (eventlet's
/// `BoundedSemaphore`).
///
/// ```
/// let sem = green::BoundedSemaphore::new(1);
/// assert!(sem.release().is_err()); // already at its bound
/// sem.acquire();
/// assert!(sem.release().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct BoundedSemaphore {
    sem: Semaphore,
    bound: usize,
}

/// Returned by [`BoundedSemaphore::release`] past the bound.
///
/// ```
/// let err = green::BoundedSemaphore::new(2).release().unwrap_err();
/// assert_eq!(err, green::ReleaseError { bound: 2 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleaseError {
    /// The semaphore's bound (its initial value).
    pub bound: usize,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BoundedSemaphore released too many times: it already holds its bound of {} permits; \
             release only permits you acquired",
            self.bound
        )
    }
}

impl std::error::Error for ReleaseError {}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, which is also its bound.
    ///
    /// ```
    /// assert_eq!(green::BoundedSemaphore::new(2).count(), 2);
    /// ```
    pub fn new(value: usize) -> Self {
        BoundedSemaphore { sem: Semaphore::new(value), bound: value }
    }

    /// See [`Semaphore::acquire`].
    ///
    /// ```
    /// green::BoundedSemaphore::new(1).acquire();
    /// ```
    #[track_caller]
    pub fn acquire(&self) {
        self.sem.acquire();
    }

    /// See [`Semaphore::try_acquire`].
    ///
    /// ```
    /// assert!(green::BoundedSemaphore::new(1).try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        self.sem.try_acquire()
    }

    /// See [`Semaphore::acquire_timeout`].
    ///
    /// ```
    /// assert!(green::BoundedSemaphore::new(1).acquire_timeout(std::time::Duration::ZERO));
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        self.sem.acquire_timeout(timeout)
    }

    /// Returns a permit; an error if the semaphore already holds its bound.
    ///
    /// ```
    /// let s = green::BoundedSemaphore::new(1);
    /// assert_eq!(s.release().unwrap_err().bound, 1);
    /// ```
    #[track_caller]
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.sem.count() >= self.bound {
            return Err(ReleaseError { bound: self.bound });
        }
        self.sem.release();
        Ok(())
    }

    /// Free permits.
    ///
    /// ```
    /// assert_eq!(green::BoundedSemaphore::new(1).count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        self.sem.count()
    }

    /// True when no permit is free.
    ///
    /// ```
    /// assert!(!green::BoundedSemaphore::new(1).locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }

    /// Greenthreads waiting.
    ///
    /// ```
    /// assert_eq!(green::BoundedSemaphore::new(1).waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.sem.waiting()
    }
}

/// A semaphore with a floor and a ceiling (eventlet's `CappedSemaphore`): `acquire` waits while
/// the count is 0, and `release` waits while the count is at its limit, until someone acquires.
///
/// Both waits are FIFO, as in [`Semaphore`]. Each side waits first and then hands off without
/// yielding, so a greenthread killed (or timed out) while it waits leaves the count as it was.
/// Handles are cheap clones of one semaphore.
///
/// ```
/// let sem = green::CappedSemaphore::new(1, 1);
/// let s = sem.clone();
/// let releaser = green::spawn(move || s.release()); // at the limit: waits for an acquire
/// green::sleep(std::time::Duration::ZERO);
/// assert!(!releaser.is_finished());
/// sem.acquire();
/// releaser.wait().unwrap();
/// assert_eq!(sem.count(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct CappedSemaphore {
    /// Permits to acquire: the count.
    lower: Semaphore,
    /// Room to release into: the limit minus the count.
    upper: Semaphore,
    limit: usize,
}

impl CappedSemaphore {
    /// A semaphore with `count` permits that never holds more than `limit`.
    ///
    /// # Panics
    ///
    /// When `count` is more than `limit`, and for a limit of 0 (a semaphore that can never hold
    /// a permit, where every acquire and every release would wait for ever; eventlet lets a
    /// release there hand over to a waiting acquire, which breaks the guarantee that a killed
    /// waiter changes nothing).
    ///
    /// ```
    /// let sem = green::CappedSemaphore::new(2, 3);
    /// assert_eq!((sem.count(), sem.limit()), (2, 3));
    /// let err = std::panic::catch_unwind(|| green::CappedSemaphore::new(4, 3)).unwrap_err();
    /// assert!(err.downcast_ref::<String>().unwrap().contains("count 4 is more than its limit 3"));
    /// ```
    pub fn new(count: usize, limit: usize) -> Self {
        assert!(
            count <= limit,
            "green::CappedSemaphore::new: count {count} is more than its limit {limit}; start at or below the limit"
        );
        assert!(
            limit > 0,
            "green::CappedSemaphore::new: a limit of 0 holds no permit, so every acquire and release would wait \
             for ever; use a limit of at least 1 (or a Queue of capacity 1 to hand values over)"
        );
        CappedSemaphore { lower: Semaphore::new(count), upper: Semaphore::new(limit - count), limit }
    }

    /// Takes a permit, waiting (FIFO) while the count is 0; makes room for one waiting release.
    ///
    /// ```
    /// let sem = green::CappedSemaphore::new(1, 2);
    /// sem.acquire();
    /// assert_eq!(sem.count(), 0);
    /// ```
    #[track_caller]
    pub fn acquire(&self) {
        self.lower.acquire();
        self.upper.release();
    }

    /// Takes a permit if one is free now and nobody is queued for one.
    ///
    /// ```
    /// assert!(!green::CappedSemaphore::new(0, 1).try_acquire());
    /// ```
    pub fn try_acquire(&self) -> bool {
        let took = self.lower.try_acquire();
        if took {
            self.upper.release();
        }
        took
    }

    /// Waits at most `timeout` for a permit; false when it passed first.
    ///
    /// ```
    /// let sem = green::CappedSemaphore::new(0, 1);
    /// assert!(!sem.acquire_timeout(std::time::Duration::from_millis(1)));
    /// ```
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> bool {
        let took = self.lower.acquire_timeout(timeout);
        if took {
            self.upper.release();
        }
        took
    }

    /// Returns a permit, waiting (FIFO) while the count is at its limit; hands the permit to the
    /// first waiting acquirer, if any.
    ///
    /// ```
    /// let sem = green::CappedSemaphore::new(0, 1);
    /// sem.release();
    /// assert_eq!(sem.count(), 1);
    /// ```
    #[track_caller]
    pub fn release(&self) {
        self.upper.acquire();
        self.lower.release();
    }

    /// Returns a permit if the count is below its limit and no other release waits; false
    /// otherwise (nothing changes).
    ///
    /// ```
    /// let sem = green::CappedSemaphore::new(1, 1);
    /// assert!(!sem.try_release());
    /// sem.acquire();
    /// assert!(sem.try_release());
    /// ```
    pub fn try_release(&self) -> bool {
        let room = self.upper.try_acquire();
        if room {
            self.lower.release();
        }
        room
    }

    /// Free permits.
    ///
    /// ```
    /// assert_eq!(green::CappedSemaphore::new(1, 2).count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        self.lower.count()
    }

    /// The most permits it holds.
    ///
    /// ```
    /// assert_eq!(green::CappedSemaphore::new(1, 2).limit(), 2);
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// True when no permit is free (an acquire would wait).
    ///
    /// ```
    /// assert!(green::CappedSemaphore::new(0, 1).locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.lower.locked()
    }

    /// True when the count is at its limit (a release would wait); eventlet's `bounded()`.
    ///
    /// ```
    /// assert!(green::CappedSemaphore::new(1, 1).at_limit());
    /// ```
    pub fn at_limit(&self) -> bool {
        self.upper.locked()
    }

    /// eventlet's `balance`: free permits minus waiting acquirers, minus the room left below the
    /// limit plus waiting releases (negative while acquirers wait, positive while releases do).
    ///
    /// ```
    /// let sem = green::CappedSemaphore::new(2, 3);
    /// assert_eq!(sem.balance(), 1); // 2 permits, room for 1 more
    /// ```
    pub fn balance(&self) -> isize {
        self.lower.balance() - self.upper.balance()
    }
}
