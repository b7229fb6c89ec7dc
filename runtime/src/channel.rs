//! Channels between greenthreads of one hub, with disconnection.
//!
//! [`unbounded`] and [`bounded`] return a [`Sender`] (clone it for more producers) and a
//! [`Receiver`] (meant for one consumer). Once every sender is gone, [`Receiver::recv`] returns
//! what is still buffered and then [`RecvError`]; once the receiver is gone, [`Sender::send`] gives the
//! value back in [`SendError`].
//!
//! # Ground rules
//!
//! * Order is FIFO, across senders in the order their sends happened. A send to a waiting
//!   receiver hands the value over directly; sends never yield unless a bounded channel is full.
//! * A bounded channel of capacity `n` holds at most `n` values; a sender finding it full waits
//!   (FIFO among senders) until the receiver takes one. Capacity 0 is refused: use capacity 1.
//! * Nothing is lost: a receiver handed a value that unwinds (kill, timeout) before it runs passes
//!   the value to the next waiting receiver, else back to the front of the buffer; a sender
//!   granted room that unwinds passes the room on. A value handed to a receiver that has not run
//!   yet still counts against a bounded channel's capacity, so a give-back never overfills it.
//! * Dropping the receiver drops what is buffered at once and fails every send from then on,
//!   including a sender that was granted room but had not run yet.
//! * Disconnection wakes everyone blocked: the receiver when the last sender drops (it then
//!   drains the buffer before seeing the error), the senders when the receiver drops.
//! * Blocking calls integrate with [`Timeout`](crate::Timeout) and `kill` like every green call.
//!
//! ```
//! let (tx, rx) = green::channel::unbounded();
//! for i in 0..3 {
//!     let tx = tx.clone();
//!     green::spawn(move || tx.send(i).unwrap());
//! }
//! drop(tx);
//! let mut got: Vec<i32> = rx.iter().collect(); // ends when every sender is gone
//! got.sort();
//! assert_eq!(got, [0, 1, 2]);
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use crate::wait::WaitQueue;

struct Chan<T> {
    items: RefCell<VecDeque<T>>,
    cap: Option<usize>,
    /// Room granted to woken senders that have not put their value yet.
    reserved: Cell<usize>,
    /// Values handed straight to a woken receiver that has not taken them yet (they count against
    /// the capacity: one given back goes into the buffer).
    handed: Cell<usize>,
    senders: Cell<usize>,
    receiver: Cell<bool>,
    /// The receiver, waiting: handed `Some(value)`, or `None` when the last sender left.
    getters: WaitQueue<Option<T>>,
    /// Senders waiting for room: handed `true` (room reserved) or `false` (receiver gone).
    putters: WaitQueue<bool>,
}

impl<T> Chan<T> {
    fn has_room(&self) -> bool {
        self.cap.is_none_or(|c| self.items.borrow().len() + self.reserved.get() + self.handed.get() < c)
    }

    /// A send may go straight in: room, and no sender queued or granted room before it (FIFO).
    fn can_send_now(&self) -> bool {
        self.has_room() && self.reserved.get() == 0 && self.putters.is_empty()
    }

    /// The receiver took a value (or gave back room): the first waiting sender gets the room.
    fn room_freed(&self) {
        if self.has_room() && self.putters.wake_one(true, "channel room").is_ok() {
            self.reserved.set(self.reserved.get() + 1);
        }
    }

    /// Delivers `v`: to a waiting receiver directly, else into the buffer.
    fn deliver(&self, v: T) {
        match self.getters.wake_one(Some(v), "channel send") {
            Ok(()) => self.handed.set(self.handed.get() + 1),
            Err(Some(v)) => self.items.borrow_mut().push_back(v),
            Err(None) => unreachable!("a send hands a value"),
        }
    }

    /// A receiver handed `v` unwound before taking it: `v` goes to the next waiting receiver (a
    /// shared `Receiver`), else back to the front of the buffer.
    fn give_back(&self, v: Option<T>) {
        if let Some(v) = v {
            self.handed.set(self.handed.get() - 1);
            self.deliver_front(v);
        }
    }

    fn deliver_front(&self, v: T) {
        match self.getters.wake_one(Some(v), "channel send") {
            Ok(()) => self.handed.set(self.handed.get() + 1),
            Err(Some(v)) => self.items.borrow_mut().push_front(v),
            Err(None) => unreachable!("a give-back hands a value"),
        }
    }

    fn take(&self) -> Option<T> {
        let v = self.items.borrow_mut().pop_front();
        if v.is_some() {
            self.room_freed();
        }
        v
    }
}

/// The sending half; clone it for more producers. See the [module docs](self).
///
/// ```
/// let (tx, rx) = green::channel::unbounded();
/// let tx2 = tx.clone(); // a second producer
/// tx.send(1).unwrap();
/// tx2.send(2).unwrap();
/// assert_eq!((rx.recv(), rx.recv()), (Ok(1), Ok(2)));
/// ```
pub struct Sender<T> {
    chan: Rc<Chan<T>>,
}

/// The receiving half. See the [module docs](self). It is meant for one consumer; shared
/// through an `Rc`, its waiting greenthreads are served FIFO.
///
/// ```
/// let (tx, rx) = green::channel::bounded(4);
/// tx.send('a').unwrap();
/// drop(tx);
/// assert_eq!(rx.recv(), Ok('a'));
/// assert!(rx.recv().is_err()); // drained, and every sender is gone
/// ```
pub struct Receiver<T> {
    chan: Rc<Chan<T>>,
}

/// The receiver is gone; the value that could not be sent is inside.
///
/// ```
/// let (tx, rx) = green::channel::unbounded();
/// drop(rx);
/// assert_eq!(tx.send(5), Err(green::channel::SendError(5)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Every sender is gone and nothing is buffered.
///
/// ```
/// let (tx, rx) = green::channel::unbounded::<u8>();
/// drop(tx);
/// assert_eq!(rx.recv(), Err(green::channel::RecvError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

/// Why [`Receiver::try_recv`] returned nothing.
///
/// ```
/// let (tx, rx) = green::channel::unbounded::<u8>();
/// assert_eq!(rx.try_recv(), Err(green::channel::TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(green::channel::TryRecvError::Disconnected));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is buffered now, but a sender is alive.
    Empty,
    /// Nothing is buffered and every sender is gone.
    Disconnected,
}

/// Why [`Receiver::recv_timeout`] returned nothing.
///
/// ```
/// let (_tx, rx) = green::channel::unbounded::<u8>();
/// let e = rx.recv_timeout(std::time::Duration::from_millis(1));
/// assert_eq!(e, Err(green::channel::RecvTimeoutError::Timeout));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// The timeout passed first.
    Timeout,
    /// Every sender is gone and nothing is buffered.
    Disconnected,
}

/// Why [`Sender::try_send`] (or [`Sender::send_timeout`]) did not send; the value is inside.
///
/// ```
/// let (tx, _rx) = green::channel::bounded(1);
/// tx.try_send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(green::channel::TrySendError::Full(2)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// A bounded channel is full (for `send_timeout`: it stayed full until the timeout).
    Full(T),
    /// The receiver is gone.
    Disconnected(T),
}

/// A channel that never fills: `send` never waits.
///
/// ```
/// let (tx, rx) = green::channel::unbounded();
/// tx.send("a").unwrap();
/// assert_eq!(rx.recv(), Ok("a"));
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new(None)
}

/// A channel holding at most `capacity` values; senders wait while it is full.
///
/// # Panics
///
/// When `capacity` is 0 (a rendezvous channel is not provided: use 1).
///
/// ```
/// let (tx, rx) = green::channel::bounded(2);
/// let producer = green::spawn(move || {
///     for i in 0..5 {
///         tx.send(i).unwrap(); // waits while 2 are buffered
///     }
/// });
/// assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
/// producer.wait().unwrap();
/// ```
#[track_caller]
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "green::channel::bounded(0): a zero-capacity (rendezvous) channel is not provided; use bounded(1) or \
         unbounded()"
    );
    new(Some(capacity))
}

fn new<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(Chan {
        items: RefCell::new(VecDeque::new()),
        cap,
        reserved: Cell::new(0),
        handed: Cell::new(0),
        senders: Cell::new(1),
        receiver: Cell::new(true),
        getters: WaitQueue::default(),
        putters: WaitQueue::default(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Sender<T> {
    /// Sends `v`, waiting while a bounded channel is full; gives `v` back when the receiver is
    /// gone (also when it goes while this send waits).
    ///
    /// ```
    /// let (tx, rx) = green::channel::bounded(1);
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    #[track_caller]
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        match self.send_inner(v, None, "Sender::send") {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(v) | TrySendError::Full(v)) => Err(SendError(v)),
        }
    }

    /// Sends `v` if there is room now; never yields.
    ///
    /// ```
    /// let (tx, rx) = green::channel::bounded(1);
    /// assert!(tx.try_send(1).is_ok());
    /// assert!(matches!(tx.try_send(2), Err(green::channel::TrySendError::Full(2))));
    /// drop(rx);
    /// assert!(matches!(tx.try_send(3), Err(green::channel::TrySendError::Disconnected(3))));
    /// ```
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let c = &self.chan;
        if !c.receiver.get() {
            return Err(TrySendError::Disconnected(v));
        }
        if !c.can_send_now() {
            return Err(TrySendError::Full(v));
        }
        c.deliver(v);
        Ok(())
    }

    /// Sends `v`, waiting at most `timeout` for room.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, _rx) = green::channel::bounded(1);
    /// tx.send(1).unwrap();
    /// let e = tx.send_timeout(2, Duration::from_millis(1));
    /// assert!(matches!(e, Err(green::channel::TrySendError::Full(2))));
    /// ```
    #[track_caller]
    pub fn send_timeout(&self, v: T, timeout: Duration) -> Result<(), TrySendError<T>> {
        self.send_inner(v, Some(timeout), "Sender::send_timeout")
    }

    #[track_caller]
    fn send_inner(&self, v: T, timeout: Option<Duration>, what: &'static str) -> Result<(), TrySendError<T>> {
        let c = &self.chan;
        if !c.receiver.get() {
            return Err(TrySendError::Disconnected(v));
        }
        if c.can_send_now() {
            c.deliver(v);
            return Ok(());
        }
        // Full: wait for room. The receiver reserves it for us before waking us; unwinding after
        // that gives the room to the next sender.
        let on_abandon = |granted: bool| {
            if granted {
                c.reserved.set(c.reserved.get() - 1);
                c.room_freed();
            }
        };
        match c.putters.wait_at(what, Location::caller(), timeout, on_abandon) {
            Some(true) => {
                c.reserved.set(c.reserved.get() - 1);
                if !c.receiver.get() {
                    // Granted room, but the receiver went before this sender ran.
                    return Err(TrySendError::Disconnected(v));
                }
                c.deliver(v);
                // Room left over (the receiver kept taking) goes to the next queued sender.
                c.room_freed();
                Ok(())
            }
            Some(false) => Err(TrySendError::Disconnected(v)),
            None => Err(TrySendError::Full(v)),
        }
    }

    /// True when the receiver is gone (sends will fail).
    ///
    /// ```
    /// let (tx, rx) = green::channel::unbounded::<()>();
    /// assert!(!tx.is_disconnected());
    /// drop(rx);
    /// assert!(tx.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        !self.chan.receiver.get()
    }

    /// Values buffered now.
    ///
    /// ```
    /// let (tx, _rx) = green::channel::unbounded();
    /// tx.send(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.items.borrow().len()
    }

    /// True when nothing is buffered.
    ///
    /// ```
    /// let (tx, _rx) = green::channel::unbounded::<()>();
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.set(self.chan.senders.get() + 1);
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let c = &self.chan;
        c.senders.set(c.senders.get() - 1);
        if c.senders.get() == 0 {
            // The receiver, if it waits, finds nothing buffered (else it would not wait).
            c.getters.wake_all(|| None, "channel disconnected");
        }
    }
}

impl<T> Receiver<T> {
    /// The next value, waiting while none is buffered; [`RecvError`] once every sender is gone
    /// and the buffer is drained.
    ///
    /// ```
    /// let (tx, rx) = green::channel::unbounded();
    /// green::spawn(move || tx.send(42).unwrap());
    /// assert_eq!(rx.recv(), Ok(42));
    /// assert_eq!(rx.recv(), Err(green::channel::RecvError)); // the sender finished
    /// ```
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_inner(None, "Receiver::recv").map_err(|_| RecvError)
    }

    /// The next value if one is buffered now; never yields.
    ///
    /// ```
    /// let (tx, rx) = green::channel::unbounded();
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.chan.take() {
            Some(v) => Ok(v),
            None if self.chan.senders.get() == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// [`recv`](Receiver::recv), waiting at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, rx) = green::channel::unbounded();
    /// green::spawn_after(Duration::from_millis(1), move || tx.send(1).unwrap());
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(1));
    /// ```
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_inner(Some(timeout), "Receiver::recv_timeout")
    }

    #[track_caller]
    fn recv_inner(&self, timeout: Option<Duration>, what: &'static str) -> Result<T, RecvTimeoutError> {
        let c = &self.chan;
        if let Some(v) = c.take() {
            return Ok(v);
        }
        if c.senders.get() == 0 {
            return Err(RecvTimeoutError::Disconnected);
        }
        match c.getters.wait_at(what, Location::caller(), timeout, |v| c.give_back(v)) {
            Some(Some(v)) => {
                // Handed over directly: it no longer counts against the capacity.
                c.handed.set(c.handed.get() - 1);
                c.room_freed();
                Ok(v)
            }
            Some(None) => Err(RecvTimeoutError::Disconnected),
            None => Err(RecvTimeoutError::Timeout),
        }
    }

    /// Iterates over received values until every sender is gone.
    ///
    /// ```
    /// let (tx, rx) = green::channel::unbounded();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().sum::<i32>(), 3);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// True when every sender is gone (what is buffered can still be received).
    ///
    /// ```
    /// let (tx, rx) = green::channel::unbounded::<()>();
    /// drop(tx);
    /// assert!(rx.is_disconnected());
    /// ```
    pub fn is_disconnected(&self) -> bool {
        self.chan.senders.get() == 0
    }

    /// Values buffered now.
    ///
    /// ```
    /// let (tx, rx) = green::channel::unbounded();
    /// tx.send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.items.borrow().len()
    }

    /// True when nothing is buffered.
    ///
    /// ```
    /// let (_tx, rx) = green::channel::unbounded::<()>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let c = &self.chan;
        c.receiver.set(false);
        c.putters.wake_all(|| false, "channel receiver dropped");
        // Nobody will receive what is buffered: drop it now, not when the last sender goes.
        let buffered = std::mem::take(&mut *c.items.borrow_mut());
        drop(buffered);
    }
}

/// Iterator over a [`Receiver`]'s values; see [`Receiver::iter`].
///
/// ```
/// let (tx, rx) = green::channel::unbounded();
/// (0..3).for_each(|i| tx.send(i).unwrap());
/// drop(tx);
/// let it: green::channel::Iter<'_, i32> = rx.iter();
/// assert_eq!(it.collect::<Vec<_>>(), [0, 1, 2]);
/// ```
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("rx", self.rx).finish()
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("buffered", &self.len()).field("disconnected", &self.is_disconnected()).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("buffered", &self.len())
            .field("disconnected", &self.is_disconnected())
            .finish()
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a channel whose receiver is gone")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Disconnected(_) => f.write_str("Disconnected(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("sending on a full channel"),
            TrySendError::Disconnected(_) => f.write_str("sending on a channel whose receiver is gone"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on a channel whose senders are all gone")
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receiving on an empty channel"),
            TryRecvError::Disconnected => f.write_str("receiving on a channel whose senders are all gone"),
        }
    }
}

impl std::error::Error for TryRecvError {}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting on a channel"),
            RecvTimeoutError::Disconnected => f.write_str("receiving on a channel whose senders are all gone"),
        }
    }
}

impl std::error::Error for RecvTimeoutError {}
