//! green's hub as shuttle sees it: what the five ports share.
//!
//! * A greenthread is a `shuttle::thread::spawn`ed thread; `join` is `JoinHandle::join`.
//! * `green::sleep(Duration::ZERO)` is `shuttle::thread::yield_now()` ([`yields`]).
//! * green runs one greenthread at a time and switches only where one yields, so a kernel's
//!   shared state (the green kernel's `Cell`s and `RefCell`s) sits behind one
//!   `shuttle::sync::Mutex` ([`Hub`]), held over each stretch of code that green runs between two
//!   yields. shuttle switches where the lock is taken and let go (and in `notify_all`), but no
//!   other thread touches the state inside a stretch, so it runs as atomically as in green.
//! * A `green::Event` is a one-shot slot in that state ([`Events`]). Waiting for it parks on one
//!   `shuttle::sync::Condvar`, letting the lock go as `Event::wait` yields; a send wakes the
//!   parked threads and each looks at its own slot again. A thread parked for ever is a deadlock,
//!   which shuttle reports as a failure, as green's harness does.

use shuttle::sync::{Arc, Condvar, Mutex, MutexGuard};

/// A kernel's shared state and the condvar its event waiters park on.
pub struct Hub<S> {
    state: Mutex<S>,
    parked: Condvar,
}

/// The state, held: a stretch of code that green runs without switching.
pub type Held<'a, S> = MutexGuard<'a, S>;

impl<S> Hub<S> {
    pub fn new(state: S) -> Arc<Self> {
        Arc::new(Hub { state: Mutex::new(state), parked: Condvar::new() })
    }

    /// Starts a stretch (after a yield, a spawn or a wake-up).
    pub fn lock(&self) -> Held<'_, S> {
        self.state.lock().unwrap()
    }

    /// `Event::wait`: parks, the state let go, until `sent` finds the event's value; the stretch
    /// after the wake-up goes on with the state held again.
    pub fn wait<'a, T>(&'a self, mut held: Held<'a, S>, sent: impl Fn(&S) -> Option<T>) -> (Held<'a, S>, T) {
        loop {
            if let Some(value) = sent(&held) {
                return (held, value);
            }
            held = self.parked.wait(held).unwrap();
        }
    }

    /// `Event::send`: fills the event's slot (once, as green's `send(..).unwrap()`) and wakes
    /// the parked threads.
    pub fn send<T>(&self, events: &mut Events<T>, ev: Ev, value: T) {
        assert!(events.0[ev].replace(value).is_none(), "event sent twice");
        self.parked.notify_all();
    }
}

/// An event, named by its index in [`Events`].
pub type Ev = usize;

/// A kernel's `green::Event`s, kept in its state.
pub struct Events<T>(Vec<Option<T>>);

impl<T> Default for Events<T> {
    fn default() -> Self {
        Events(Vec::new())
    }
}

impl<T: Clone> Events<T> {
    /// `Event::new`.
    pub fn add(&mut self) -> Ev {
        self.0.push(None);
        self.0.len() - 1
    }

    /// The value sent, if any.
    pub fn sent(&self, ev: Ev) -> Option<T> {
        self.0[ev].clone()
    }
}

/// `n` times `green::sleep(Duration::ZERO)`.
pub fn yields(n: usize) {
    for _ in 0..n {
        shuttle::thread::yield_now();
    }
}
