//! A green mutual-exclusion lock.
//!
//! # Ground rules
//!
//! * The lock belongs to a greenthread, not to a stretch of code between two switches: a holder
//!   that sleeps, waits or does I/O keeps it, and everyone else who locks waits.
//! * Waiters are served FIFO and an unlock hands the lock directly to the first of them, so a
//!   greenthread that unlocks and locks again at once queues behind them (no barging).
//! * A holder that is killed (or whose [`Timeout`](crate::Timeout) expires) unwinds, its guard is
//!   dropped on the way and the lock goes to the next waiter: nothing stays locked by the dead.
//!   There is no poisoning.
//! * A waiter woken with the lock that unwinds before it runs passes the lock on.
//! * Locking twice from the same greenthread would wait for itself forever: it panics instead.

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::time::Duration;

use crate::hub::hub;
use crate::wait::WaitQueue;

/// A lock for data shared by greenthreads of one hub, held across switches.
///
/// Share it as `Rc<Mutex<T>>`. Unlike `std::sync::Mutex`, a holder that blocks (sleeps, waits,
/// does green I/O) lets the hub run other greenthreads, which queue on the lock; waiters are served
/// in order. Locking from hub context (a hub callback) panics, as every blocking call does there.
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let m = Rc::new(green::Mutex::new(Vec::new()));
/// let gts: Vec<_> = (0..3)
///     .map(|i| {
///         let m = m.clone();
///         green::spawn(move || {
///             let mut v = m.lock();
///             v.push(i);
///             green::sleep(Duration::from_millis(1)); // still held: the others wait
///             v.push(i);
///         })
///     })
///     .collect();
/// gts.into_iter().for_each(|g| g.wait().unwrap());
/// assert_eq!(*m.lock(), [0, 0, 1, 1, 2, 2]);
/// ```
pub struct Mutex<T: ?Sized> {
    /// The holder's greenthread id (0 is the root), while locked.
    owner: Cell<Option<u64>>,
    waiters: WaitQueue<()>,
    /// Borrowed mutably by the one guard alive; the lock makes sure there is at most one.
    value: RefCell<T>,
}

/// Proof of holding a [`Mutex`]: derefs to the data and unlocks when dropped.
///
/// ```
/// let m = green::Mutex::new(1);
/// {
///     let mut g = m.lock();
///     *g += 1;
///     assert!(m.is_locked());
/// }
/// assert!(!m.is_locked());
/// assert_eq!(*m.lock(), 2);
/// ```
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    value: Option<RefMut<'a, T>>,
}

#[track_caller]
fn current_id(what: &str) -> u64 {
    match hub().current() {
        Some(c) => c.id,
        None => crate::hub::misuse_hub_context(what),
    }
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    ///
    /// ```
    /// let m = green::Mutex::new("data");
    /// assert!(!m.is_locked());
    /// ```
    pub fn new(value: T) -> Self {
        Mutex { owner: Cell::new(None), waiters: WaitQueue::default(), value: RefCell::new(value) }
    }

    /// Consumes the mutex and returns its data.
    ///
    /// ```
    /// assert_eq!(green::Mutex::new(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks, waiting (FIFO) while another greenthread holds the lock.
    ///
    /// # Panics
    ///
    /// When the calling greenthread holds this lock already (it would wait for itself forever),
    /// and in hub context.
    ///
    /// ```
    /// let m = green::Mutex::new(0);
    /// *m.lock() += 1;
    /// assert_eq!(*m.lock(), 1);
    /// ```
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.lock_inner(None, "Mutex::lock") {
            Some(g) => g,
            None => unreachable!("an untimed lock returns only with the lock"),
        }
    }

    /// Locks, waiting at most `timeout`; `None` when it passed first.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = std::rc::Rc::new(green::Mutex::new(()));
    /// let m2 = m.clone();
    /// let holder = green::spawn(move || {
    ///     let _g = m2.lock();
    ///     green::sleep(Duration::from_millis(50));
    /// });
    /// green::sleep(Duration::ZERO); // the holder locks
    /// assert!(m.lock_timeout(Duration::from_millis(1)).is_none());
    /// holder.wait().unwrap();
    /// assert!(m.lock_timeout(Duration::from_millis(1)).is_some());
    /// ```
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.lock_inner(Some(timeout), "Mutex::lock_timeout")
    }

    /// Locks if the lock is free now and nobody waits for it; never yields (so it works in hub
    /// context too).
    ///
    /// ```
    /// let m = green::Mutex::new(());
    /// let g = m.try_lock();
    /// assert!(g.is_some());
    /// assert!(m.try_lock().is_none());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        // Never blocks, so hub context may use it too (the hub then holds the lock).
        let me = hub().current().map_or(crate::probe::HUB, |c| c.id);
        if self.owner.get().is_some() || !self.waiters.is_empty() {
            return None;
        }
        self.owner.set(Some(me));
        Some(self.guard())
    }

    /// True while some greenthread holds the lock.
    ///
    /// ```
    /// assert!(!green::Mutex::new(()).is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.owner.get().is_some()
    }

    /// Greenthreads waiting for the lock.
    ///
    /// ```
    /// assert_eq!(green::Mutex::new(()).waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// The data, through a unique borrow: no lock needed.
    ///
    /// ```
    /// let mut m = green::Mutex::new(1);
    /// *m.get_mut() = 2;
    /// assert_eq!(*m.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    #[track_caller]
    fn lock_inner(&self, timeout: Option<Duration>, what: &'static str) -> Option<MutexGuard<'_, T>> {
        let me = current_id(what);
        if self.owner.get() == Some(me) {
            panic!(
                "green::{what}: greenthread #{me} locks a green::Mutex it already holds, so it would wait for itself \
                 forever; drop the first guard before locking again"
            );
        }
        if self.owner.get().is_none() && self.waiters.is_empty() {
            self.owner.set(Some(me));
            return Some(self.guard());
        }
        // The unlocker hands the lock over (sets the owner) before waking us; a waiter that
        // unwinds after that passes it on.
        self.waiters.wait_at(what, Location::caller(), timeout, |()| self.unlock())?;
        debug_assert_eq!(self.owner.get(), Some(me), "a mutex handed to another greenthread");
        Some(self.guard())
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        let value = self.value.try_borrow_mut().expect("green::Mutex: internal error: two guards at once");
        MutexGuard { mutex: self, value: Some(value) }
    }

    /// Hands the lock to the first waiter, or frees it.
    fn unlock(&self) {
        let handed = self.waiters.wake_one_with(|gt| self.owner.set(Some(gt.id)), "Mutex unlock");
        if !handed {
            self.owner.set(None);
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // Release the data first: the next holder borrows it when it runs.
        drop(self.value.take());
        self.mutex.unlock();
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_deref().expect("guard holds the data until dropped")
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_deref_mut().expect("guard holds the data until dropped")
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard holds (for [`Condvar`](crate::Condvar)).
    pub(crate) fn mutex(this: &Self) -> &'a Mutex<T> {
        this.mutex
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    /// Never blocks: a locked mutex shows `<locked>`.
    ///
    /// ```
    /// let m = green::Mutex::new(3);
    /// assert_eq!(format!("{m:?}"), "Mutex { data: 3, locked: false, waiting: 0 }");
    /// let _g = m.lock();
    /// assert_eq!(format!("{m:?}"), "Mutex { data: <locked>, locked: true, waiting: 0 }");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.value.try_borrow() {
            Ok(v) if self.owner.get().is_none() => d.field("data", &&*v),
            _ => d.field("data", &format_args!("<locked>")),
        };
        d.field("locked", &self.is_locked()).field("waiting", &self.waiting()).finish()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
