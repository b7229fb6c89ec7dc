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
//!   emulated by `signal-hook`'s conditional default handler (registered once per signal; a later
//!   install takes the signal over again). A signal arriving after the hub is gone (after
//!   [`drain`](GracefulShutdown::drain) shut it down, or after the thread exited) takes the
//!   default action too.
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

/// Per signal, the process-wide "take the default action" flag of `signal-hook`'s conditional
/// default handler (registered once per signal, for the life of the process), and how many
/// installed `GracefulShutdown`s handle the signal now: the default action applies when none does.
type Defaults = Vec<(i32, Arc<AtomicBool>, usize)>;
static DEFAULTS: std::sync::Mutex<Defaults> = std::sync::Mutex::new(Vec::new());

/// Counts one more handler of each of `signals` (the default action stops applying).
fn take_over(signals: &[i32]) -> io::Result<()> {
    let mut d = DEFAULTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for (n, &sig) in signals.iter().enumerate() {
        match d.iter_mut().find(|e| e.0 == sig) {
            Some(e) => {
                e.2 += 1;
                e.1.store(false, Ordering::SeqCst);
            }
            None => {
                let flag = Arc::new(AtomicBool::new(false));
                if let Err(e) = signal_hook::flag::register_conditional_default(sig, flag.clone()) {
                    drop(d);
                    give_back(&signals[..n]);
                    return Err(e);
                }
                d.push((sig, flag, 1));
            }
        }
    }
    Ok(())
}

/// Counts one handler less of each of `signals`; the last one gives the default action back.
fn give_back(signals: &[i32]) {
    let mut d = DEFAULTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for &sig in signals {
        if let Some(e) = d.iter_mut().find(|e| e.0 == sig) {
            e.2 = e.2.saturating_sub(1);
            if e.2 == 0 {
                e.1.store(true, Ordering::SeqCst);
            }
        }
    }
}

struct Inner {
    signal: Event<i32>,
    received: Cell<Option<i32>>,
    listeners: RefCell<Vec<Weak<TcpListener>>>,
}

/// Opt-in graceful stop on signals for this thread's hub; see the [module docs](self).
///
/// ```
/// use std::time::Duration;
/// let stop = green::graceful::GracefulShutdown::install(&[]).unwrap(); // no signal: trigger only
/// let worker = green::spawn(|| green::sleep(Duration::from_millis(5)));
/// stop.trigger(signal_hook::consts::SIGTERM);
/// assert_eq!(stop.wait(), signal_hook::consts::SIGTERM);
/// assert_eq!(stop.drain(Duration::from_secs(5)).killed, 0); // the worker finished in time
/// # drop(worker);
/// ```
pub struct GracefulShutdown {
    inner: Rc<Inner>,
    handle: signal_hook::iterator::Handle,
    thread: Option<std::thread::JoinHandle<()>>,
    signals: Vec<i32>,
}

/// What [`GracefulShutdown::drain`] did.
///
/// ```
/// let r = green::graceful::DrainReport::default();
/// assert_eq!((r.finished, r.killed, r.leaked), (0, 0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Greenthreads alive when the drain began that were gone at its end (net of any spawned
    /// meanwhile).
    pub finished: usize,
    /// Greenthreads still alive at the deadline, killed (unwound) then.
    pub killed: usize,
    /// Of those, the ones that stayed parked while unwinding (leaked, see
    /// [`ShutdownReport`](crate::hub::ShutdownReport)).
    pub leaked: usize,
    /// How long the drain took.
    pub took: Duration,
}

impl GracefulShutdown {
    /// Registers handlers for `signals` (typically `SIGTERM` and `SIGINT`) that stop this thread's
    /// hub gracefully. Errors name a signal that cannot be handled (`SIGKILL`, ...) or a second
    /// install on the same thread; on error the signals keep their previous behaviour.
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
        if let Some(&bad) = signals.iter().find(|s| signal_hook::consts::FORBIDDEN.contains(s)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "green::graceful: signal {bad} cannot be handled (SIGKILL, SIGSTOP, SIGILL, SIGFPE and SIGSEGV are \
                     off limits); use SIGTERM or SIGINT"
                ),
            ));
        }
        take_over(signals)?;
        // From here on, a failure gives the signals' previous behaviour back.
        struct Undo<'a>(Option<&'a [i32]>);
        impl Drop for Undo<'_> {
            fn drop(&mut self) {
                if let Some(s) = self.0 {
                    give_back(s);
                }
            }
        }
        let mut undo = Undo(Some(signals));
        let mut iter = signal_hook::iterator::Signals::new(signals)?;
        let handle = iter.handle();
        let hub = crate::hub::handle();
        let thread = std::thread::Builder::new().name("green-graceful-signals".into()).spawn(move || {
            for sig in iter.forever() {
                if hub.post(move || deliver(sig)).is_err() {
                    // The hub is gone (shut down, thread exited): nothing can stop gracefully any
                    // more, so the signal does what it would have done without us.
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                    break;
                }
            }
        })?;
        undo.0 = None;
        let inner =
            Rc::new(Inner { signal: Event::new(), received: Cell::new(None), listeners: RefCell::new(Vec::new()) });
        INSTALLED.with(|i| *i.borrow_mut() = Rc::downgrade(&inner));
        Ok(GracefulShutdown { inner, signals: signals.to_vec(), handle, thread: Some(thread) })
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
        assert!(
            crate::current().is_root(),
            "green::graceful::GracefulShutdown::drain is called from a greenthread; call it from the root (the \
             thread's own code), which waits for the greenthreads and then shuts the hub down"
        );
        let t0 = Instant::now();
        let at_start = crate::hub::greenthread_count();
        // A deadline too long to add to the clock means no deadline.
        let end = crate::time::now().checked_add(deadline);
        while crate::hub::greenthread_count() > 0 && end.is_none_or(|e| crate::time::now() < e) {
            let left = end.map_or(Duration::MAX, |e| e.saturating_duration_since(crate::time::now()));
            crate::sleep(Duration::from_millis(5).min(left));
        }
        let left = crate::hub::greenthread_count();
        let (killed, leaked) = if left > 0 {
            let r = crate::hub::shutdown();
            (r.unwound, r.leaked)
        } else {
            (0, 0)
        };
        DrainReport { finished: at_start.saturating_sub(left), killed, leaked, took: t0.elapsed() }
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
        give_back(&self.signals);
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // During thread exit the thread-local may be gone already.
        let _ = INSTALLED.try_with(|i| {
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
