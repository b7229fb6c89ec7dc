//! The runtime's one error type.

use std::any::Any;
use std::fmt;
use std::panic::Location;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A runtime failure: a greenthread panicked, was killed, timed out, or waited on something that
/// was closed.
///
/// `Error` is opaque: ask it what it stands for with [`is_panic`](Error::is_panic),
/// [`is_killed`](Error::is_killed), [`is_timeout`](Error::is_timeout) and
/// [`is_closed`](Error::is_closed). It is cheap to clone (several greenthreads may wait on one
/// [`GreenThread`](crate::GreenThread) and each gets the same error), and it is `Send + Sync`, so
/// it can travel inside an [`std::io::Error`] (see [`Error::into_io`]).
///
/// Its `Display` names the greenthread and says what happened, including the panic message.
///
/// # Examples
///
/// ```
/// let gt = green::spawn(|| -> u32 { panic!("boom") });
/// let err = gt.wait().unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.panic_message(), Some("boom"));
/// assert!(err.to_string().contains("panicked: boom"));
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    /// Ordinal id and name of the greenthread the error is about, if any.
    who: Option<(u64, Option<String>)>,
    /// Where that greenthread was spawned, for a panic's unobserved-panic report.
    spawn_site: Option<&'static Location<'static>>,
}

enum Kind {
    Panic { message: String, payload: Mutex<Option<Box<dyn Any + Send>>> },
    Killed,
    Timeout { after: Option<Duration> },
    Closed { what: String },
}

impl Error {
    fn new(kind: Kind, who: Option<(u64, Option<String>)>) -> Self {
        Error { inner: Arc::new(Inner { kind, who, spawn_site: None }) }
    }

    /// A panic of the greenthread `who` spawned at `spawn_site` (both unknown for a panic caught
    /// outside a greenthread's function: `tpool`, a re-entrant pool spawn).
    pub(crate) fn panic(
        payload: Box<dyn Any + Send>,
        who: Option<(u64, Option<String>)>,
        spawn_site: Option<&'static Location<'static>>,
    ) -> Self {
        let message = panic_message(payload.as_ref());
        let kind = Kind::Panic { message, payload: Mutex::new(Some(payload)) };
        Error { inner: Arc::new(Inner { kind, who, spawn_site }) }
    }

    /// The label (`#3 "name"`, `#?` when unknown) and spawn site of the greenthread a panic is
    /// about, for the unobserved-panic report.
    pub(crate) fn panic_origin(&self) -> (String, Option<&'static Location<'static>>) {
        let label = match &self.inner.who {
            Some((id, name)) => crate::greenthread::label_of(*id, name.as_deref()),
            None => "#?".to_string(),
        };
        (label, self.inner.spawn_site)
    }

    pub(crate) fn killed(who: Option<(u64, Option<String>)>) -> Self {
        Error::new(Kind::Killed, who)
    }

    pub(crate) fn timeout(after: Option<Duration>, who: Option<(u64, Option<String>)>) -> Self {
        Error::new(Kind::Timeout { after }, who)
    }

    /// An error standing for a wait on something that was closed (`what` names it).
    pub(crate) fn closed(what: impl Into<String>) -> Self {
        Error::new(Kind::Closed { what: what.into() }, None)
    }

    /// True when the greenthread panicked; [`panic_message`](Error::panic_message) has the message.
    ///
    /// ```
    /// let gt = green::spawn(|| -> u8 { panic!("boom") });
    /// let err = gt.wait().unwrap_err();
    /// assert!(err.is_panic() && !err.is_killed() && !err.is_timeout() && !err.is_closed());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.inner.kind, Kind::Panic { .. })
    }

    /// True when the greenthread was killed ([`GreenThread::kill`](crate::GreenThread::kill)) or
    /// cancelled before it started.
    ///
    /// ```
    /// let gt = green::spawn(|| ());
    /// gt.kill();
    /// assert!(gt.wait().unwrap_err().is_killed());
    /// ```
    pub fn is_killed(&self) -> bool {
        matches!(self.inner.kind, Kind::Killed)
    }

    /// True when a [`Timeout`](crate::Timeout) expired.
    ///
    /// ```
    /// let r = green::with_timeout(std::time::Duration::ZERO, || green::sleep(std::time::Duration::from_secs(1)));
    /// assert!(r.unwrap_err().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Timeout { .. })
    }

    /// True when the thing waited on was closed while (or before) waiting.
    ///
    /// ```
    /// let gt = green::spawn(|| -> u8 { panic!("boom") });
    /// let err = gt.wait().unwrap_err();
    /// assert!(!err.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        matches!(self.inner.kind, Kind::Closed { .. })
    }

    /// The panic message (`&str` and `String` payloads; other payloads give a placeholder).
    ///
    /// ```
    /// let gt = green::spawn(|| -> u8 { panic!("boom") });
    /// let err = gt.wait().unwrap_err();
    /// assert_eq!(err.panic_message(), Some("boom"));
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Panic { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Takes the original panic payload, for `std::panic::resume_unwind`. Only the first call
    /// (across all clones) gets it.
    ///
    /// ```
    /// let gt = green::spawn(|| -> () { std::panic::panic_any(7u8) });
    /// let err = gt.join().unwrap_err();
    /// let payload = err.take_panic_payload().unwrap();
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&7));
    /// assert!(err.take_panic_payload().is_none());
    /// ```
    pub fn take_panic_payload(&self) -> Option<Box<dyn Any + Send>> {
        match &self.inner.kind {
            Kind::Panic { payload, .. } => payload.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take(),
            _ => None,
        }
    }

    /// The per-hub ordinal id of the greenthread this error is about, if any.
    ///
    /// ```
    /// let gt = green::spawn(|| -> u8 { panic!("boom") });
    /// let err = gt.wait().unwrap_err();
    /// assert_eq!(err.greenthread_id(), Some(gt.id().as_u64()));
    /// ```
    pub fn greenthread_id(&self) -> Option<u64> {
        self.inner.who.as_ref().map(|w| w.0)
    }

    /// The `green::Error` an [`std::io::Error`] stands for (one made by
    /// [`into_io`](Error::into_io), as green sockets return for a close, a timeout or a kill),
    /// if it stands for one.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// l.close();
    /// let err = l.accept().unwrap_err();
    /// assert!(green::Error::from_io(&err).is_some_and(|e| e.is_closed()));
    /// assert!(green::Error::from_io(&std::io::Error::from(std::io::ErrorKind::Interrupted)).is_none());
    /// ```
    pub fn from_io(e: &std::io::Error) -> Option<&Error> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }

    /// Wraps this error in an [`std::io::Error`] whose kind stands for it: `TimedOut` for a
    /// timeout, `NotConnected` for closed, `Interrupted` for killed, `Other` for a panic. The
    /// original is reachable with `get_ref()` and a downcast.
    ///
    /// ```
    /// # let err = green::with_timeout(std::time::Duration::ZERO, || green::sleep(std::time::Duration::from_secs(1))).unwrap_err();
    /// let io = err.into_io();
    /// assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    /// let back = io.get_ref().unwrap().downcast_ref::<green::Error>().unwrap();
    /// assert!(back.is_timeout());
    /// ```
    pub fn into_io(self) -> std::io::Error {
        let kind = match self.inner.kind {
            Kind::Timeout { .. } => std::io::ErrorKind::TimedOut,
            Kind::Closed { .. } => std::io::ErrorKind::NotConnected,
            Kind::Killed => std::io::ErrorKind::Interrupted,
            Kind::Panic { .. } => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}

/// Extracts a printable message from a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.who {
            Some((0, _)) => write!(f, "the root greenlet ")?,
            Some((id, Some(name))) => write!(f, "greenthread #{id} \"{name}\" ")?,
            Some((id, None)) => write!(f, "greenthread #{id} ")?,
            None => {}
        }
        match &self.inner.kind {
            Kind::Panic { message, .. } => write!(f, "panicked: {message}"),
            Kind::Killed => write!(f, "was killed"),
            Kind::Timeout { after: Some(d) } => write!(f, "timed out: its timeout of {d:?} expired"),
            Kind::Timeout { after: None } => write!(f, "timed out: its timeout expired"),
            Kind::Closed { what } => write!(f, "{what} was closed"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "green::Error({self})")
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        e.into_io()
    }
}
