//! Green sockets: `TcpListener`, `TcpStream`, `UdpSocket`, the Unix-domain `UnixListener`,
//! `UnixStream` and `UnixDatagram`, green pipes ([`pipe()`]), and [`lookup_host`].
//!
//! They look like their `std::net` namesakes and implement `std::io::Read`/`Write` (so sync
//! protocol code generic over `Read + Write` runs on them unchanged), but a call that would block
//! parks only the calling greenthread: the socket is non-blocking and registered with the hub's
//! poller. `EINTR` and spurious readiness (`WouldBlock` after a wake-up) are retried inside and
//! never reach the caller.
//!
//! # Closing
//!
//! [`TcpStream::close`] (and the other sockets' `close`) takes `&self`: a socket shared between
//! greenthreads (in an `Rc`) can be closed while others wait on it. They wake with an
//! `io::Error` of kind `NotConnected` wrapping a [`green::Error`](crate::Error) with
//! `is_closed()`; every later operation fails the same way. Dropping a socket closes it.
//!
//! # One reader, one writer
//!
//! A second greenthread waiting to read (or write) a socket while another already does gets an
//! error of kind `ResourceBusy` naming both greenthreads (eventlet's "Second simultaneous read"),
//! unless allowed with `allow_multiple_waiters(true)` on the socket or
//! [`debug::hub_prevent_multiple_readers(false)`](crate::debug::hub_prevent_multiple_readers).
//!
//! # Timeouts
//!
//! `set_read_timeout` / `set_write_timeout` bound each read or write call (the whole call,
//! retries included) as in `std`; when the time passes the call fails with kind `TimedOut`. They
//! run on the hub's clock (virtual under the harness: there, a socket waiting on a peer outside
//! the hub, such as another process, times out once every greenthread is blocked and the fd grace
//! has passed, because virtual time then jumps to the timeout).
//!
//! # Addresses
//!
//! Addresses are `impl ToSocketAddrs`, as in `std`; a host name given there is resolved by the
//! system's blocking resolver on the calling thread, which blocks the hub. Resolve names with
//! [`lookup_host`] instead (it runs the resolver on the [`tpool`](crate::tpool) threads) and pass
//! the addresses it returns.
//!
//! ```
//! use std::io::{Read, Write};
//! let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = green::spawn(move || {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     let mut buf = [0u8; 4];
//!     conn.read_exact(&mut buf).unwrap();
//!     conn.write_all(&buf).unwrap();
//! });
//! let mut client = green::net::TcpStream::connect(addr).unwrap();
//! client.write_all(b"ping").unwrap();
//! let mut back = [0u8; 4];
//! client.read_exact(&mut back).unwrap();
//! assert_eq!(&back, b"ping");
//! server.wait().unwrap();
//! ```

/// The read and write timeout methods, the same on every socket type; `$setup` is a doc-example
/// line that binds a socket of the type to `s`.
macro_rules! timeout_methods {
    ($setup:literal) => {
        /// Sets the timeout of each read or receive (`None`: wait as long as it takes); a call
        /// that waits longer fails with kind `TimedOut`. A zero duration is refused with
        /// `InvalidInput`, as in `std`; one too long to add to now means no timeout.
        ///
        /// ```
        /// use std::time::Duration;
        #[doc = $setup]
        /// s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        /// assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_millis(5)));
        /// assert!(s.set_read_timeout(Some(Duration::ZERO)).is_err());
        /// ```
        pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
            self.sock.set_timeout(crate::Interest::Read, timeout)
        }

        /// Sets the timeout of each write or send (see `set_read_timeout`).
        ///
        /// ```
        #[doc = $setup]
        /// s.set_write_timeout(Some(std::time::Duration::from_secs(1))).unwrap();
        /// assert_eq!(s.write_timeout().unwrap(), Some(std::time::Duration::from_secs(1)));
        /// ```
        pub fn set_write_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
            self.sock.set_timeout(crate::Interest::Write, timeout)
        }

        /// The read timeout.
        ///
        /// ```
        #[doc = $setup]
        /// assert_eq!(s.read_timeout().unwrap(), None);
        /// ```
        pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.sock.timeout(crate::Interest::Read))
        }

        /// The write timeout.
        ///
        /// ```
        #[doc = $setup]
        /// assert_eq!(s.write_timeout().unwrap(), None);
        /// ```
        pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.sock.timeout(crate::Interest::Write))
        }
    };
}

/// `Read` on `T` and `&T` for a green stream type (its `sock` field), named `$name` in waits.
macro_rules! green_read {
    ($t:ty, $name:literal) => {
        impl std::io::Read for &$t {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let site = std::panic::Location::caller();
                self.sock.op(crate::Interest::Read, None, ($name, site), |mut s, lim| {
                    let want = buf.len().min(lim);
                    let n = std::io::Read::read(&mut s, &mut buf[..want])?;
                    self.sock.read_returned(n, want);
                    Ok(n)
                })
            }

            /// As `std`'s, with the caller's site in dumps (not `std`'s) and a teardown's
            /// `Interrupted` (the kill it is part of) returned instead of retried for ever.
            #[track_caller]
            fn read_exact(&mut self, mut buf: &mut [u8]) -> std::io::Result<()> {
                let site = std::panic::Location::caller();
                while !buf.is_empty() {
                    let n = self.sock.op(crate::Interest::Read, None, ($name, site), |mut s, lim| {
                        let want = buf.len().min(lim);
                        let n = std::io::Read::read(&mut s, &mut buf[..want])?;
                        self.sock.read_returned(n, want);
                        Ok(n)
                    })?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "failed to fill whole buffer",
                        ));
                    }
                    buf = &mut buf[n..];
                }
                Ok(())
            }
        }

        impl std::io::Read for $t {
            #[track_caller]
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }

            #[track_caller]
            fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
                std::io::Read::read_exact(&mut &*self, buf)
            }
        }
    };
}

/// `Write` on `T` and `&T` for a green stream type (its `sock` field), named `$name` in waits.
macro_rules! green_write {
    ($t:ty, $name:literal) => {
        impl std::io::Write for &$t {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let site = std::panic::Location::caller();
                self.sock.op(crate::Interest::Write, None, ($name, site), |mut s, lim| {
                    std::io::Write::write(&mut s, &buf[..buf.len().min(lim)])
                })
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }

            /// As `std`'s, with the caller's site in dumps (not `std`'s) and a teardown's
            /// `Interrupted` (the kill it is part of) returned instead of retried for ever.
            #[track_caller]
            fn write_all(&mut self, mut buf: &[u8]) -> std::io::Result<()> {
                let site = std::panic::Location::caller();
                while !buf.is_empty() {
                    let n = self.sock.op(crate::Interest::Write, None, ($name, site), |mut s, lim| {
                        std::io::Write::write(&mut s, &buf[..buf.len().min(lim)])
                    })?;
                    if n == 0 {
                        return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "failed to write whole buffer"));
                    }
                    buf = &buf[n..];
                }
                Ok(())
            }
        }

        impl std::io::Write for $t {
            #[track_caller]
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            #[track_caller]
            fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
                std::io::Write::write_all(&mut &*self, buf)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

mod lookup;
mod pipe;
mod tcp;
mod udp;
mod unix;

use std::cell::RefCell;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub use self::lookup::lookup_host;
pub use self::pipe::{pipe, PipeReader, PipeWriter};
pub use self::tcp::{Incoming, TcpListener, TcpStream, LISTEN_BACKLOG};
pub use self::udp::UdpSocket;
pub use self::unix::{UnixDatagram, UnixListener, UnixStream};

use crate::listener::{closed_error, deregister, IoSource};
use crate::Interest;

/// A mio socket and its registration with the hub.
struct Socket<S> {
    io: RefCell<Option<S>>,
    src: Rc<IoSource>,
    /// Read and write timeouts (`set_read_timeout`, `set_write_timeout`), by [`Interest`].
    timeouts: [std::cell::Cell<Option<Duration>>; 2],
}

impl<S: std::os::fd::AsRawFd> Socket<S> {
    fn new(io: S, kind: &'static str, site: &'static Location<'static>) -> io::Result<Self> {
        let fd = io.as_raw_fd();
        let src = crate::listener::register(fd, kind, site)?;
        Ok(Socket { io: RefCell::new(Some(io)), src, timeouts: Default::default() })
    }

    /// Sets the read or write timeout; a zero duration is refused, as in `std`.
    fn set_timeout(&self, i: Interest, t: Option<Duration>) -> io::Result<()> {
        if t == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "green::net: a zero timeout would fail every operation at once; pass None for no timeout",
            ));
        }
        self.timeouts[i as usize].set(t);
        Ok(())
    }

    fn timeout(&self, i: Interest) -> Option<Duration> {
        self.timeouts[i as usize].get()
    }

    /// A stream read of `want` bytes returned `n`. On a source whose short reads prove it drained
    /// (a TCP stream or a pipe; see `IoSource::short_reads_drain`) a short read (some bytes,
    /// fewer than asked) took all there was, so the next read waits for the next readiness event
    /// instead of making a system call that would find nothing: the poller reports every arrival
    /// after the last poll. End of stream stays readable: a read returning 0, or any read once
    /// the poller reported the peer's end (its last bytes and the end come in one event).
    #[inline]
    pub(crate) fn read_returned(&self, n: usize, want: usize) {
        if n > 0 && n < want && self.src.short_reads_drain.get() {
            self.src.clear(Interest::Read);
        }
    }

    /// Runs a non-blocking operation, waiting for readiness while it would block. `deadline`
    /// bounds the total wait (by default the socket's timeout for `i`, from the call's start).
    /// `f` gets the socket and the most bytes it may move (`usize::MAX` unless a short read or
    /// write is injected).
    fn op<R>(
        &self,
        i: Interest,
        deadline: Option<Instant>,
        (what, site): (&'static str, &'static Location<'static>),
        mut f: impl FnMut(&S, usize) -> io::Result<R>,
    ) -> io::Result<R> {
        let deadline = deadline.or_else(|| self::deadline(self.timeout(i)));
        loop {
            #[allow(unused_mut)]
            let mut limit = usize::MAX;
            #[cfg(feature = "test-hooks")]
            match self.injected(i, site) {
                Some(Injected::Retry) => continue,
                Some(Injected::Spurious) => {
                    crate::greenthread::yield_now_at(what, site);
                    continue;
                }
                Some(Injected::Fail(e)) => return Err(e),
                Some(Injected::Limit(n)) => limit = n,
                None => {}
            }
            if !self.src.is_ready(i) {
                // The last operation hit `WouldBlock` or drained the stream, and no readiness
                // event came since: wait for one first, as if this one would block too.
                let left = deadline.map(|d| d.saturating_duration_since(crate::hub::hub().now()));
                self.src.wait(i, left, what, site)?;
                continue;
            }
            #[cfg(feature = "test-hooks")]
            if i == Interest::Read {
                crate::settle::before_read(crate::hub::hub(), &self.src);
            }
            let r = {
                let io = self.io.borrow();
                match io.as_ref() {
                    Some(s) => f(s, limit),
                    None => return Err(closed_error(&self.src)),
                }
            };
            match r {
                Ok(v) => {
                    #[cfg(feature = "test-hooks")]
                    if i == Interest::Write {
                        crate::settle::wrote(crate::hub::hub(), &self.src);
                        crate::settle::datagram_sent(crate::hub::hub(), &self.src);
                    }
                    return Ok(v);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.src.clear(i);
                    let left = deadline.map(|d| d.saturating_duration_since(crate::hub::hub().now()));
                    self.src.wait(i, left, what, site)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Asks the harness for a fault on this operation (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    fn injected(&self, i: Interest, site: &'static Location<'static>) -> Option<Injected> {
        use crate::hooks::{IoFault, IoOp};
        if let Some(kind) = self.src.broken.get() {
            if kind == io::ErrorKind::ConnectionReset || i == Interest::Write {
                return Some(Injected::Fail(io::Error::from(kind)));
            }
        }
        let kind = crate::hooks::FdKind::of(self.src.kind);
        let op = match (kind, i) {
            (crate::hooks::FdKind::TcpListener | crate::hooks::FdKind::UnixListener, _) => IoOp::Accept,
            (crate::hooks::FdKind::UdpSocket | crate::hooks::FdKind::UnixDatagram, _) => IoOp::Datagram,
            (_, Interest::Read) => IoOp::Read,
            (_, Interest::Write) => IoOp::Write,
        };
        let gt = crate::hub::hub().current().map_or(0, |c| c.id);
        let slow = crate::hooks::with(|p| p.io_latency(op, self.src.ordinal, kind, gt)).unwrap_or_default();
        if !slow.is_zero() {
            // A slow peer: the operation takes this much (virtual) time.
            crate::time::sleep(slow);
        }
        match crate::hooks::io_fault_at(op, self.src.ordinal, kind, site)? {
            IoFault::Interrupted => Some(Injected::Retry),
            IoFault::WouldBlock => Some(Injected::Spurious),
            IoFault::Short(n) => Some(Injected::Limit(n.max(1))),
            IoFault::Reset => {
                self.src.broken.set(Some(io::ErrorKind::ConnectionReset));
                Some(Injected::Fail(io::Error::from(io::ErrorKind::ConnectionReset)))
            }
            IoFault::BrokenPipe if i == Interest::Write => {
                self.src.broken.set(Some(io::ErrorKind::BrokenPipe));
                Some(Injected::Fail(io::Error::from(io::ErrorKind::BrokenPipe)))
            }
            IoFault::BrokenPipe | IoFault::Refused => None,
        }
    }

    /// Waits until a non-blocking connect has finished: `Ok` once connected, the connect's error
    /// if it failed, `TimedOut` at `deadline`. Wake-ups before the end are spurious and waited out.
    fn await_connected(
        &self,
        deadline: Option<Instant>,
        (what, site): (&'static str, &'static Location<'static>),
    ) -> io::Result<()>
    where
        S: Connecting,
    {
        loop {
            // A fresh registration reports the socket writable once the connect is over.
            self.src.clear(Interest::Write);
            let left = deadline.map(|d| d.saturating_duration_since(crate::hub::hub().now()));
            self.src.wait(Interest::Write, left, what, site)?;
            if let Some(e) = self.with(Connecting::take_error)? {
                return Err(e);
            }
            match self.with(Connecting::peer_connected) {
                Ok(()) => return Ok(()),
                // Not connected yet: a spurious wake-up.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn with<R>(&self, f: impl FnOnce(&S) -> io::Result<R>) -> io::Result<R> {
        match self.io.borrow().as_ref() {
            Some(s) => f(s),
            None => Err(closed_error(&self.src)),
        }
    }

    fn close(&self) {
        if self.io.borrow().is_none() {
            return;
        }
        // Deregister (and wake every waiter with the closed error) before the fd is closed, so the
        // fd number cannot be reused while still registered.
        deregister(&self.src);
        let io = self.io.borrow_mut().take();
        drop(io);
    }

    fn is_closed(&self) -> bool {
        self.io.borrow().is_none()
    }
}

impl<S> Drop for Socket<S> {
    fn drop(&mut self) {
        if self.io.get_mut().is_some() {
            deregister(&self.src);
        }
    }
}

/// What an injected fault does to one attempt of an operation.
#[cfg(feature = "test-hooks")]
enum Injected {
    /// `EINTR`: try again at once.
    Retry,
    /// `WouldBlock` on a ready fd: yield, then try again.
    Spurious,
    /// Fail with this error.
    Fail(io::Error),
    /// Move at most this many bytes.
    Limit(usize),
}

/// A deadline on the hub's clock (virtual under a harness).
fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    // A timeout too long to add to now (`Duration::MAX`) is no deadline at all.
    timeout.and_then(|t| crate::hub::hub().now().checked_add(t))
}

/// A stream socket whose non-blocking connect can be waited out ([`Socket::await_connected`]).
trait Connecting {
    /// The pending socket error (`SO_ERROR`), taken.
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// `Ok` once connected, `NotConnected` while the connect is in progress.
    fn peer_connected(&self) -> io::Result<()>;
}

impl Connecting for mio::net::TcpStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        mio::net::TcpStream::take_error(self)
    }
    fn peer_connected(&self) -> io::Result<()> {
        self.peer_addr().map(drop)
    }
}

impl Connecting for mio::net::UnixStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        mio::net::UnixStream::take_error(self)
    }
    fn peer_connected(&self) -> io::Result<()> {
        self.peer_addr().map(drop)
    }
}

/// Tries `f` on each address `addr` resolves to, returning the first success or the last error.
fn each_addr<R>(
    addr: impl std::net::ToSocketAddrs,
    mut f: impl FnMut(std::net::SocketAddr) -> io::Result<R>,
) -> io::Result<R> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")))
}
