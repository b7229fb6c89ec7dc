//! Graceful shutdown on `SIGTERM`/`SIGINT`, for programs that opt in.
//!
//! [`GracefulShutdown::install`] registers handlers (through `signal-hook`) for the signals given.
//! When one arrives, the hub of the thread that installed it, at its next pass:
//!
//! 1. closes every listener handed to [`stop_accepting`](GracefulShutdown::stop_accepting), so
//!    accept loops end (their `accept` fails with a closed error) and no new connection is taken;
//! 2. wakes [`wait`](GracefulShutdown::wait), which returns the signal's number.
//!
//! The program then calls [`drain`](GracefulShutdown::drain): it lets the greenthreads still at
//! work finish, for at most a deadline, and kills (unwinds) those still alive after it.
//!
//! # Ground rules
//!
//! * Nothing runs in the signal handler but `signal-hook`'s self-pipe write; a helper thread posts
//!   the signal to the hub through a [`HubHandle`](crate::hub::HubHandle), so the stop happens on
//!   the hub's thread, between greenthreads.
//! * While installed, the hub does not report a root waiting for the signal as a deadlock (the
//!   handle is an outside waker).
//! * Dropping the `GracefulShutdown` stops the helper thread, and the signals take their default
//!   action again (for `SIGTERM`, `SIGINT` and the other terminating signals: the process ends),
//!   emulated by `signal-hook`'s conditional default handler.
//!
//! ```no_run
//! use std::rc::Rc;
//! use std::time::Duration;
//! use signal_hook::consts::{SIGINT, SIGTERM};
//!
//! let stop = green::graceful::GracefulShutdown::install(&[SIGTERM, SIGINT]).unwrap();
//! let listener = Rc::new(green::net::TcpListener::bind("127.0.0.1:0").unwrap());
//! stop.stop_accepting(&listener);
//! let l = listener.clone();
//! green::spawn(move || {
//!     while let Ok((conn, _)) = l.accept() {
//!         green::spawn_n(move || drop(conn)); // serve it
//!     }
//! });
//! let signal = stop.wait(); // the root waits here until SIGTERM or SIGINT
//! let report = stop.drain(Duration::from_secs(10));
//! eprintln!("stopped by signal {signal}: {report:?}");
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::net::TcpListener;

thread_local! {
    /// The shutdown installed on this thread's hub, reached by the posted signal.
    static INSTALLED: RefCell<Weak<Inner>> = const { RefCell::new(Weak::new()) };
}

struct Inner {
    signal: Event<i32>,
    received: Cell<Option<i32>>,
    listeners: RefCell<Vec<Weak<TcpListener>>>,
}

/// Opt-in graceful stop on signals for this thread's hub; see the [module docs](self).
pub struct GracefulShutdown {
    inner: Rc<Inner>,
    handle: signal_hook::iterator::Handle,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set on drop: from then on the signals take their default action again (terminate).
    restore_default: Arc<AtomicBool>,
}

/// What [`GracefulShutdown::drain`] did.
///
/// ```
/// let r = green::graceful::DrainReport::default();
/// assert_eq!((r.finished, r.killed), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Greenthreads that finished on their own during the drain.
    pub finished: usize,
    /// Greenthreads still alive at the deadline, killed (unwound) then.
    pub killed: usize,
    /// How long the drain took.
    pub took: Duration,
}

impl GracefulShutdown {
    /// Registers handlers for `signals` (typically `SIGTERM` and `SIGINT`) that stop this thread's
    /// hub gracefully. Errors are `signal-hook`'s (a forbidden signal such as `SIGKILL`), or one
    /// naming a second install on the same thread.
    ///
    /// ```
    /// use signal_hook::consts::SIGUSR2;
    /// let stop = green::graceful::GracefulShutdown::install(&[SIGUSR2]).unwrap();
    /// assert_eq!(stop.signalled(), None);
    /// assert!(green::graceful::GracefulShutdown::install(&[SIGUSR2]).is_err()); // one per hub
    /// drop(stop);
    /// ```
    pub fn install(signals: &[i32]) -> io::Result<GracefulShutdown> {
        if INSTALLED.with(|i| i.borrow().strong_count() > 0) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "green::graceful: a GracefulShutdown is already installed on this thread's hub; keep the first one \
                 (clone nothing: hand `&GracefulShutdown` around) or drop it before installing another",
            ));
        }
        let restore_default = Arc::new(AtomicBool::new(false));
        for &sig in signals {
            signal_hook::flag::register_conditional_default(sig, restore_default.clone())?;
        }
        let mut iter = signal_hook::iterator::Signals::new(signals)?;
        let handle = iter.handle();
        let hub = crate::hub::handle();
        let inner =
            Rc::new(Inner { signal: Event::new(), received: Cell::new(None), listeners: RefCell::new(Vec::new()) });
        INSTALLED.with(|i| *i.borrow_mut() = Rc::downgrade(&inner));
        let thread = std::thread::Builder::new().name("green-graceful-signals".into()).spawn(move || {
            for sig in iter.forever() {
                // The hub may be gone (thread exited): then there is nothing to stop.
                let _ = hub.post(move || deliver(sig));
            }
        })?;
        Ok(GracefulShutdown { inner, handle, thread: Some(thread), restore_default })
    }

    /// Closes `listener` when the signal arrives (its accept loop ends); held weakly, so dropping
    /// the listener earlier is fine.
    ///
    /// ```
    /// use signal_hook::consts::SIGUSR2;
    /// let stop = green::graceful::GracefulShutdown::install(&[SIGUSR2]).unwrap();
    /// let l = std::rc::Rc::new(green::net::TcpListener::bind("127.0.0.1:0").unwrap());
    /// stop.stop_accepting(&l);
    /// stop.trigger(SIGUSR2); // as if the signal arrived
    /// assert!(l.accept().is_err());
    /// ```
    pub fn stop_accepting(&self, listener: &Rc<TcpListener>) {
        if self.inner.received.get().is_some() {
            listener.close();
            return;
        }
        self.inner.listeners.borrow_mut().push(Rc::downgrade(listener));
    }

    /// Waits (a green call) until a signal arrives; returns its number.
    ///
    /// ```
    /// use signal_hook::consts::SIGUSR2;
    /// let stop = green::graceful::GracefulShutdown::install(&[SIGUSR2]).unwrap();
    /// signal_hook::low_level::raise(SIGUSR2).unwrap();
    /// assert_eq!(stop.wait(), SIGUSR2);
    /// ```
    #[track_caller]
    pub fn wait(&self) -> i32 {
        self.inner.signal.wait()
    }

    /// The signal received, if one arrived (never yields).
    ///
    /// ```
    /// use signal_hook::consts::SIGUSR2;
    /// let stop = green::graceful::GracefulShutdown::install(&[SIGUSR2]).unwrap();
    /// assert_eq!(stop.signalled(), None);
    /// ```
    pub fn signalled(&self) -> Option<i32> {
        self.inner.received.get()
    }

    /// Stops as if `signal` had arrived (tests, or a stop requested by the program itself).
    ///
    /// ```
    /// use signal_hook::consts::SIGTERM;
    /// let stop = green::graceful::GracefulShutdown::install(&[]).unwrap();
    /// stop.trigger(SIGTERM);
    /// assert_eq!(stop.signalled(), Some(SIGTERM));
    /// ```
    pub fn trigger(&self, signal: i32) {
        stop(&self.inner, signal);
    }

    /// Lets the other greenthreads finish for at most `deadline`, then kills those still alive
    /// (the hub is torn down and starts fresh, as with [`hub::shutdown`](crate::hub::shutdown)).
    /// Call it from the root, typically after [`wait`](GracefulShutdown::wait).
    ///
    /// ```
    /// use std::time::Duration;
    /// let stop = green::graceful::GracefulShutdown::install(&[]).unwrap();
    /// green::spawn(|| green::sleep(Duration::from_millis(5))); // finishes in time
    /// green::spawn(|| green::sleep(Duration::from_secs(3600))); // does not
    /// let r = stop.drain(Duration::from_millis(200));
    /// assert_eq!((r.finished, r.killed), (1, 1));
    /// ```
    #[track_caller]
    pub fn drain(&self, deadline: Duration) -> DrainReport {
        let t0 = Instant::now();
        let at_start = crate::hub::greenthread_count();
        let end = crate::time::now() + deadline;
        while crate::hub::greenthread_count() > 0 && crate::time::now() < end {
            crate::sleep(Duration::from_millis(5).min(end.saturating_duration_since(crate::time::now())));
        }
        let left = crate::hub::greenthread_count();
        let killed = if left > 0 { crate::hub::shutdown().unwound } else { 0 };
        DrainReport { finished: at_start.saturating_sub(left), killed, took: t0.elapsed() }
    }
}

/// Runs on the hub's thread when a signal was posted.
fn deliver(sig: i32) {
    if let Some(inner) = INSTALLED.with(|i| i.borrow().upgrade()) {
        stop(&inner, sig);
    }
}

fn stop(inner: &Inner, sig: i32) {
    if inner.received.get().is_some() {
        return; // the first signal decides; a second one changes nothing
    }
    inner.received.set(Some(sig));
    for l in inner.listeners.borrow_mut().drain(..) {
        if let Some(l) = l.upgrade() {
            l.close();
        }
    }
    let _ = inner.signal.send(sig);
}

impl Drop for GracefulShutdown {
    fn drop(&mut self) {
        self.restore_default.store(true, Ordering::SeqCst);
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        INSTALLED.with(|i| {
            if let Ok(mut i) = i.try_borrow_mut() {
                *i = Weak::new();
            }
        });
    }
}

impl fmt::Debug for GracefulShutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GracefulShutdown").field("signalled", &self.signalled()).finish()
    }
}
