//! `Queue`: FIFO, LIFO and priority queues, unbounded, bounded or zero-capacity (a channel).
//!
//! # Ground rules
//!
//! * Getters and putters are served FIFO; an item is handed directly to a waiting getter, so no
//!   newcomer can take it first.
//! * A putter blocked on a full queue parks its item in `overflow` (in arrival order). Room made by
//!   a getter moves the first overflow item into the queue and wakes its putter; with capacity 0 a
//!   getter takes the overflow item itself.
//! * Nothing is lost: a getter that unwinds after an item was handed to it gives the item back to
//!   the front of the queue (or to the next getter); a putter that times out gets its item back.
//! * `put` on a queue with room, and every `try_*`, never yield. A channel (`bounded(0)`) `put`
//!   always yields until a getter took the item.
//!
//! ```
//! let q = green::Queue::bounded(1);
//! let q2 = q.clone();
//! let producer = green::spawn(move || (0..3).for_each(|i| q2.put(i))); // waits while full
//! assert_eq!((0..3).map(|_| q.get()).collect::<Vec<_>>(), [0, 1, 2]);
//! producer.wait().unwrap();
//! ```

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::wait::WaitQueue;

/// Returned by `try_put` and `put_timeout` when the queue stayed full; holds the item back.
///
/// ```
/// let q = green::Queue::bounded(0);
/// assert_eq!(q.try_put('x'), Err(green::queue::Full('x')));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl<T: fmt::Debug> std::error::Error for Full<T> {}

/// Returned by `try_get` and `get_timeout` when no item came.
///
/// ```
/// let q: green::Queue<u8> = green::Queue::new();
/// assert_eq!(q.try_get(), Err(green::queue::Empty));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Empty;

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is empty")
    }
}

impl std::error::Error for Empty {}

/// Returned by [`Queue::task_done`] called more often than items were put.
///
/// ```
/// let q: green::Queue<u8> = green::Queue::new();
/// assert_eq!(q.task_done(), Err(green::queue::TaskDoneError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Queue::task_done called too many times: call it once per item taken with get")
    }
}

impl std::error::Error for TaskDoneError {}

/// Item storage of one ordering.
trait Store<T> {
    fn push(&mut self, item: T);
    /// Puts back an item a getter could not take (it goes out next).
    fn push_front(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
}

struct Fifo<T>(VecDeque<T>);
struct Lifo<T>(Vec<T>);
struct Priority<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item)
    }
    fn push_front(&mut self, item: T) {
        self.0.push_front(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item)
    }
    fn push_front(&mut self, item: T) {
        self.0.push(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Store<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item))
    }
    fn push_front(&mut self, item: T) {
        self.0.push(Reverse(item))
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|r| r.0)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A queue shared by greenthreads (eventlet's `Queue`, `LifoQueue`, `PriorityQueue`).
///
/// Handles are cheap clones of one queue and are `!Send`.
///
/// ```
/// let q = green::Queue::new();
/// let tx = q.clone();
/// green::spawn(move || for i in 0..3 { tx.put(i) });
/// assert_eq!((q.get(), q.get(), q.get()), (0, 1, 2));
/// ```
pub struct Queue<T> {
    inner: Rc<Inner<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { inner: self.inner.clone() }
    }
}

struct Inner<T> {
    store: RefCell<Box<dyn Store<T>>>,
    maxsize: Cell<Option<usize>>,
    /// Items of blocked putters, in arrival order, each with its putter's ticket.
    overflow: RefCell<VecDeque<(u64, T)>>,
    next_ticket: Cell<u64>,
    getters: WaitQueue<T>,
    putters: WaitQueue<()>,
    unfinished: Cell<usize>,
    joiners: WaitQueue<()>,
}

impl<T: 'static> Default for Queue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> Queue<T> {
    fn with_store(store: Box<dyn Store<T>>, maxsize: Option<usize>) -> Self {
        Queue {
            inner: Rc::new(Inner {
                store: RefCell::new(store),
                maxsize: Cell::new(maxsize),
                overflow: RefCell::new(VecDeque::new()),
                next_ticket: Cell::new(0),
                getters: WaitQueue::default(),
                putters: WaitQueue::default(),
                unfinished: Cell::new(0),
                joiners: WaitQueue::default(),
            }),
        }
    }

    /// An unbounded FIFO queue.
    ///
    /// ```
    /// let q: green::Queue<u8> = green::Queue::new();
    /// assert_eq!(q.maxsize(), None);
    /// ```
    pub fn new() -> Self {
        Self::with_store(Box::new(Fifo(VecDeque::new())), None)
    }

    /// An unbounded FIFO queue: the same as [`Queue::new`], named for symmetry with
    /// [`Queue::bounded`].
    ///
    /// ```
    /// let q = green::Queue::unbounded();
    /// for i in 0..1000 { q.put(i) } // never waits
    /// assert_eq!((q.maxsize(), q.len(), q.get()), (None, 1000, 0));
    /// ```
    pub fn unbounded() -> Self {
        Self::new()
    }

    /// A FIFO queue holding at most `maxsize` items; `bounded(0)` is a channel whose `put` waits
    /// for a getter to take the item.
    ///
    /// ```
    /// let q = green::Queue::bounded(1);
    /// q.put(1);
    /// assert_eq!(q.try_put(2), Err(green::queue::Full(2)));
    /// ```
    pub fn bounded(maxsize: usize) -> Self {
        Self::with_store(Box::new(Fifo(VecDeque::new())), Some(maxsize))
    }

    /// A LIFO queue (last in, first out), bounded when `maxsize` is given.
    ///
    /// ```
    /// let q = green::Queue::lifo(None);
    /// q.put(1);
    /// q.put(2);
    /// assert_eq!(q.get(), 2);
    /// ```
    pub fn lifo(maxsize: Option<usize>) -> Self {
        Self::with_store(Box::new(Lifo(Vec::new())), maxsize)
    }

    /// A priority queue: `get` returns the smallest item first.
    ///
    /// ```
    /// let q = green::Queue::priority(None);
    /// for x in [3, 1, 2] { q.put(x) }
    /// assert_eq!((q.get(), q.get(), q.get()), (1, 2, 3));
    /// ```
    pub fn priority(maxsize: Option<usize>) -> Self
    where
        T: Ord,
    {
        Self::with_store(Box::new(Priority(BinaryHeap::new())), maxsize)
    }

    fn has_room(&self) -> bool {
        match self.inner.maxsize.get() {
            None => true,
            Some(m) => self.inner.store.borrow().len() < m,
        }
    }

    fn accepted(&self) {
        self.inner.unfinished.set(self.inner.unfinished.get() + 1);
    }

    /// Moves blocked putters' items into the queue while there is room.
    #[track_caller]
    fn refill(&self) {
        while self.has_room() {
            let next = self.inner.overflow.borrow_mut().pop_front();
            let Some((_, item)) = next else { break };
            self.inner.store.borrow_mut().push(item);
            self.accepted();
            let _ = self.inner.putters.wake_one((), "Queue::get made room");
        }
    }

    /// Hands `item` to the first waiting getter, or gives it back.
    #[track_caller]
    fn hand_to_getter(&self, item: T) -> Result<(), T> {
        self.inner.getters.wake_one(item, "Queue::put")
    }

    /// Gives back an item a getter could not take: to the next getter, else to the queue's front.
    fn requeue(inner: &Rc<Inner<T>>, item: T) {
        if let Err(item) = inner.getters.wake_one(item, "Queue requeue") {
            inner.store.borrow_mut().push_front(item);
        }
    }

    /// Puts `item`, waiting while the queue is full. On a queue with room it never yields; on a
    /// channel (`bounded(0)`) it yields until a getter took the item.
    ///
    /// ```
    /// let q = green::Queue::bounded(0);
    /// let rx = q.clone();
    /// let getter = green::spawn(move || rx.get());
    /// q.put("hi");
    /// assert_eq!(getter.wait().unwrap(), "hi");
    /// ```
    #[track_caller]
    pub fn put(&self, item: T) {
        if let Err(Full(item)) = self.put_inner(item, None) {
            // Only a timed put can give the item back.
            drop(item);
            unreachable!("green: an untimed Queue::put returned its item");
        }
    }

    /// Puts `item`, waiting at most `timeout` for room; gives the item back in `Full` when the
    /// queue stayed full.
    ///
    /// ```
    /// let q = green::Queue::bounded(0);
    /// assert_eq!(q.put_timeout(1, std::time::Duration::from_millis(1)), Err(green::queue::Full(1)));
    /// ```
    #[track_caller]
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), Full<T>> {
        self.put_inner(item, Some(timeout))
    }

    #[track_caller]
    fn put_inner(&self, item: T, timeout: Option<Duration>) -> Result<(), Full<T>> {
        let item = match self.hand_to_getter(item) {
            Ok(()) => {
                self.accepted();
                if self.inner.maxsize.get() == Some(0) {
                    // Rendezvous: let the getter run before the putter goes on.
                    crate::greenthread::yield_now("Queue::put");
                }
                return Ok(());
            }
            Err(item) => item,
        };
        if self.has_room() && self.inner.overflow.borrow().is_empty() {
            self.inner.store.borrow_mut().push(item);
            self.accepted();
            return Ok(());
        }
        let ticket = self.inner.next_ticket.get();
        self.inner.next_ticket.set(ticket + 1);
        self.inner.overflow.borrow_mut().push_back((ticket, item));
        let reclaim = Reclaim { inner: &self.inner, ticket };
        let got = self.inner.putters.wait("Queue::put", timeout, |()| {});
        match got {
            Some(()) => {
                std::mem::forget(reclaim);
                Ok(())
            }
            None => match reclaim.take() {
                Some(item) => Err(Full(item)),
                // Taken at the last moment: the put succeeded after all.
                None => Ok(()),
            },
        }
    }

    /// Puts `item` only if that needs no waiting: hands it to a waiting getter or stores it if
    /// there is room. Never yields; allowed in hub context.
    ///
    /// ```
    /// let q = green::Queue::bounded(1);
    /// assert!(q.try_put(1).is_ok());
    /// assert!(q.try_put(2).is_err());
    /// ```
    #[track_caller]
    pub fn try_put(&self, item: T) -> Result<(), Full<T>> {
        let item = match self.hand_to_getter(item) {
            Ok(()) => {
                self.accepted();
                return Ok(());
            }
            Err(item) => item,
        };
        if self.has_room() && self.inner.overflow.borrow().is_empty() {
            self.inner.store.borrow_mut().push(item);
            self.accepted();
            Ok(())
        } else {
            Err(Full(item))
        }
    }

    /// Takes the next item, waiting while there is none.
    ///
    /// ```
    /// let q = green::Queue::new();
    /// q.put('a');
    /// assert_eq!(q.get(), 'a');
    /// ```
    #[track_caller]
    pub fn get(&self) -> T {
        loop {
            if let Ok(v) = self.try_get() {
                return v;
            }
            let inner = self.inner.clone();
            if let Some(v) = self.inner.getters.wait("Queue::get", None, move |item| Self::requeue(&inner, item)) {
                return v;
            }
        }
    }

    /// Takes the next item, waiting at most `timeout`.
    ///
    /// ```
    /// let q: green::Queue<u8> = green::Queue::new();
    /// assert_eq!(q.get_timeout(std::time::Duration::from_millis(1)), Err(green::queue::Empty));
    /// ```
    #[track_caller]
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        if let Ok(v) = self.try_get() {
            return Ok(v);
        }
        let inner = self.inner.clone();
        self.inner
            .getters
            .wait("Queue::get_timeout", Some(timeout), move |item| Self::requeue(&inner, item))
            .ok_or(Empty)
    }

    /// Takes an item only if one is there now (or a blocked putter offers one). Never yields;
    /// allowed in hub context.
    ///
    /// ```
    /// let q = green::Queue::new();
    /// assert!(q.try_get().is_err());
    /// q.put(1);
    /// assert_eq!(q.try_get(), Ok(1));
    /// ```
    #[track_caller]
    pub fn try_get(&self) -> Result<T, Empty> {
        let popped = self.inner.store.borrow_mut().pop();
        if let Some(v) = popped {
            self.refill();
            return Ok(v);
        }
        let offered = self.inner.overflow.borrow_mut().pop_front();
        if let Some((_, v)) = offered {
            self.accepted();
            let _ = self.inner.putters.wake_one((), "Queue::get took the item");
            return Ok(v);
        }
        Err(Empty)
    }

    /// Items in the queue (not counting items of blocked putters).
    ///
    /// ```
    /// let q = green::Queue::new();
    /// q.put(1);
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.store.borrow().len()
    }

    /// True when no item is in the queue (a channel is always empty).
    ///
    /// ```
    /// assert!(green::Queue::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a `put` would wait (a channel is always full).
    ///
    /// ```
    /// assert!(green::Queue::<u8>::bounded(0).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        !self.has_room()
    }

    /// The capacity (`None`: unbounded).
    ///
    /// ```
    /// assert_eq!(green::Queue::<u8>::bounded(3).maxsize(), Some(3));
    /// ```
    pub fn maxsize(&self) -> Option<usize> {
        self.inner.maxsize.get()
    }

    /// Changes the capacity. Growing lets blocked putters in at once; shrinking drops nothing.
    ///
    /// ```
    /// let q = green::Queue::bounded(1);
    /// q.put(1);
    /// q.resize(Some(2));
    /// assert!(q.try_put(2).is_ok());
    /// ```
    #[track_caller]
    pub fn resize(&self, maxsize: Option<usize>) {
        self.inner.maxsize.set(maxsize);
        self.refill();
    }

    /// Greenthreads blocked in `get`.
    ///
    /// ```
    /// assert_eq!(green::Queue::<u8>::new().getting(), 0);
    /// ```
    pub fn getting(&self) -> usize {
        self.inner.getters.len()
    }

    /// Greenthreads blocked in `put`.
    ///
    /// ```
    /// assert_eq!(green::Queue::<u8>::new().putting(), 0);
    /// ```
    pub fn putting(&self) -> usize {
        self.inner.putters.len()
    }

    /// Items put and not yet marked done with [`task_done`](Queue::task_done).
    ///
    /// ```
    /// let q = green::Queue::new();
    /// q.put(1);
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.inner.unfinished.get()
    }

    /// Marks one item taken with `get` as processed; [`join`](Queue::join) returns when every
    /// item is.
    ///
    /// ```
    /// let q = green::Queue::new();
    /// q.put(1);
    /// q.get();
    /// q.task_done().unwrap();
    /// assert!(q.task_done().is_err());
    /// ```
    #[track_caller]
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let n = self.inner.unfinished.get();
        if n == 0 {
            return Err(TaskDoneError);
        }
        self.inner.unfinished.set(n - 1);
        if n == 1 {
            self.inner.joiners.wake_all(|| (), "Queue::task_done");
        }
        Ok(())
    }

    /// Waits until every item put was marked done.
    ///
    /// ```
    /// let q: green::Queue<u8> = green::Queue::new();
    /// q.join(); // nothing pending: returns at once
    /// ```
    #[track_caller]
    pub fn join(&self) {
        while self.inner.unfinished.get() > 0 {
            self.inner.joiners.wait("Queue::join", None, |()| {});
        }
    }
}

/// Takes a blocked putter's item back out of the overflow if it is still there.
struct Reclaim<'a, T> {
    inner: &'a Rc<Inner<T>>,
    ticket: u64,
}

impl<T> Reclaim<'_, T> {
    fn take(self) -> Option<T> {
        let mut o = self.inner.overflow.borrow_mut();
        let pos = o.iter().position(|(t, _)| *t == self.ticket);
        let item = pos.and_then(|p| o.remove(p)).map(|(_, v)| v);
        drop(o);
        std::mem::forget(self);
        item
    }
}

impl<T> Drop for Reclaim<'_, T> {
    fn drop(&mut self) {
        // The putter unwound: its item, if not taken yet, is dropped with it.
        let item = {
            let mut o = self.inner.overflow.borrow_mut();
            o.iter().position(|(t, _)| *t == self.ticket).and_then(|p| o.remove(p))
        };
        drop(item);
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.inner.store.try_borrow().map(|s| s.len()).ok();
        f.debug_struct("Queue")
            .field("len", &len)
            .field("maxsize", &self.inner.maxsize.get())
            .field("getting", &self.inner.getters.len())
            .field("putting", &self.inner.putters.len())
            .finish()
    }
}
