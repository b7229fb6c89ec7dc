//! Green TCP sockets.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::panic::Location;
use std::time::Duration;

use super::{deadline, each_addr, Socket};
use crate::Interest;

/// A green TCP listener: `accept` parks the calling greenthread until a connection arrives.
///
/// ```
/// use std::io::{Read, Write};
/// let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = green::spawn(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     let mut buf = [0u8; 4];
///     conn.read_exact(&mut buf).unwrap();
///     conn.write_all(&buf).unwrap();
/// });
/// let mut client = green::net::TcpStream::connect(addr).unwrap();
/// client.write_all(b"ping").unwrap();
/// let mut buf = [0u8; 4];
/// client.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"ping");
/// server.wait().unwrap();
/// ```
pub struct TcpListener {
    sock: Socket<mio::net::TcpListener>,
}

/// The iterator [`TcpListener::incoming`] returns: never `None`.
///
/// ```
/// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let _incoming: green::net::Incoming<'_> = l.incoming();
/// ```
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl TcpListener {
    /// Binds to `addr` (port 0: the OS picks one) and listens with a backlog of
    /// [`LISTEN_BACKLOG`].
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(l.local_addr().unwrap().port(), 0);
    /// ```
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let site = Location::caller();
        let l = each_addr(addr, listen)?;
        Ok(TcpListener { sock: Socket::new(l, "tcp listener", site)? })
    }

    /// Wraps a bound std listener (made non-blocking here).
    ///
    /// ```
    /// let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let l = green::net::TcpListener::from_std(std_l).unwrap();
    /// assert!(l.local_addr().is_ok());
    /// ```
    #[track_caller]
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        Ok(TcpListener { sock: Socket::new(mio::net::TcpListener::from_std(l), "tcp listener", Location::caller())? })
    }

    /// Waits for the next connection.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// green::spawn(move || green::net::TcpStream::connect(addr).unwrap());
    /// let (conn, peer) = l.accept().unwrap();
    /// assert_eq!(conn.peer_addr().unwrap(), peer);
    /// ```
    #[track_caller]
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, a) =
            self.sock.op(Interest::Read, None, ("TcpListener::accept", Location::caller()), |l, _| l.accept())?;
        #[cfg(feature = "test-hooks")]
        crate::settle::accepted(&self.sock.src);
        Ok((TcpStream { sock: Socket::new(s, "tcp stream", Location::caller())? }, a))
    }

    /// An endless iterator of accepted connections, as `std`'s: each `next` parks in
    /// [`accept`](TcpListener::accept).
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// green::spawn(move || (0..2).for_each(|_| drop(green::net::TcpStream::connect(addr).unwrap())));
    /// let conns: Vec<_> = l.incoming().take(2).map(Result::unwrap).collect();
    /// assert_eq!(conns.len(), 2);
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The bound address.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(l.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.with(|l| l.local_addr())
    }

    /// Closes the listener; greenthreads waiting in `accept` wake with the closed error.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// l.close();
    /// let err = l.accept().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
    /// ```
    pub fn close(&self) {
        self.sock.close();
    }

    /// True after [`close`](TcpListener::close). An accept loop tells "closed" (stop) from a
    /// transient error (retry) by this, or by the error itself: an `accept` on (or waiting on) a
    /// closed listener fails with `NotConnected` wrapping a [`green::Error`](crate::Error) with
    /// `is_closed()` (see [`Error::from_io`](crate::Error::from_io)).
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(!l.is_closed());
    /// l.close();
    /// assert!(l.is_closed());
    /// let err = l.accept().unwrap_err();
    /// assert!(green::Error::from_io(&err).is_some_and(|e| e.is_closed()));
    /// ```
    pub fn is_closed(&self) -> bool {
        self.sock.is_closed()
    }

    /// Allows several greenthreads to wait in `accept` at once.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// l.allow_multiple_waiters(true);
    /// ```
    pub fn allow_multiple_waiters(&self, allow: bool) {
        self.sock.src.allow_multiple.set(allow);
    }
}

/// Listen backlog: far above std's 128, so a burst of connections (a thousand clients connecting
/// at once) is not dropped before the accept loop runs; the kernel caps it at `somaxconn`.
///
/// ```
/// assert_eq!(green::net::LISTEN_BACKLOG, 4096);
/// ```
pub const LISTEN_BACKLOG: i32 = 4096;

fn listen(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(LISTEN_BACKLOG)?;
    Ok(mio::net::TcpListener::from_std(s.into()))
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.src.fd
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("fd", &format_args!("fd#{}", self.sock.src.ordinal)).finish()
    }
}

/// A green TCP connection; implements `Read` and `Write` (also on `&TcpStream`).
///
/// ```
/// # use std::io::{Read, Write};
/// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = l.local_addr().unwrap();
/// let echo = green::spawn(move || {
///     let (mut c, _) = l.accept().unwrap();
///     let mut v = Vec::new();
///     c.read_to_end(&mut v).unwrap();
///     v
/// });
/// let mut s = green::net::TcpStream::connect(addr).unwrap();
/// s.write_all(b"abc").unwrap();
/// s.shutdown(std::net::Shutdown::Write).unwrap();
/// assert_eq!(echo.wait().unwrap(), b"abc");
/// ```
pub struct TcpStream {
    sock: Socket<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, parking the caller until the connection is established or refused.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
    /// ```
    #[track_caller]
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let site = Location::caller();
        each_addr(addr, |a| Self::connect_one(a, None, site))
    }

    /// Connects with a timeout (an error of kind `TimedOut` when it passes).
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect_timeout(&l.local_addr().unwrap(), std::time::Duration::from_secs(5));
    /// assert!(s.is_ok());
    /// ```
    #[track_caller]
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        Self::connect_one(*addr, Some(timeout), Location::caller())
    }

    fn connect_one(
        addr: SocketAddr,
        timeout: Option<Duration>,
        site: &'static Location<'static>,
    ) -> io::Result<TcpStream> {
        #[cfg(feature = "test-hooks")]
        {
            let f = crate::hooks::io_fault_at(crate::hooks::IoOp::Connect, 0, crate::hooks::FdKind::TcpStream, site);
            if f == Some(crate::hooks::IoFault::Refused) {
                return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
            }
        }
        let s = TcpStream { sock: Socket::new(mio::net::TcpStream::connect(addr)?, "tcp stream", site)? };
        #[cfg(feature = "test-hooks")]
        crate::settle::connecting(crate::hub::hub(), &s.sock.src, &addr);
        let r = s.sock.await_connected(deadline(timeout), ("TcpStream::connect", site));
        #[cfg(feature = "test-hooks")]
        if r.is_err() {
            crate::settle::connect_failed(crate::hub::hub(), &addr);
        }
        r?;
        Ok(s)
    }

    /// Wraps a connected std stream (made non-blocking here).
    ///
    /// ```
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let g = green::net::TcpStream::from_std(s).unwrap();
    /// assert!(g.peer_addr().is_ok());
    /// ```
    #[track_caller]
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        Ok(TcpStream { sock: Socket::new(mio::net::TcpStream::from_std(s), "tcp stream", Location::caller())? })
    }

    /// The remote address.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert_eq!(s.peer_addr().unwrap().port(), l.local_addr().unwrap().port());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.with(|s| s.peer_addr())
    }

    /// The local address.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// assert!(s.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.with(|s| s.local_addr())
    }

    /// Shuts down the read half, the write half or both (the peer sees end of file).
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.shutdown(std::net::Shutdown::Both).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        #[cfg(feature = "test-hooks")]
        if how != Shutdown::Read {
            crate::settle::closing(crate::hub::hub(), &self.sock.src, false);
        }
        self.sock.with(|s| s.shutdown(how))
    }

    timeout_methods!("let l = green::net::TcpListener::bind(\"127.0.0.1:0\").unwrap(); let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();");

    /// Sets `TCP_NODELAY`.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.set_nodelay(true).unwrap();
    /// assert!(s.nodelay().unwrap());
    /// ```
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.sock.with(|s| s.set_nodelay(on))
    }

    /// Reads `TCP_NODELAY`.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let _ = s.nodelay().unwrap();
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.sock.with(|s| s.nodelay())
    }

    /// A second handle on the same connection (a duplicated fd with its own registration), for
    /// example one greenthread reading while another writes.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let s2 = s.try_clone().unwrap();
    /// assert_eq!(s.peer_addr().unwrap(), s2.peer_addr().unwrap());
    /// ```
    #[track_caller]
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let owned = self.sock.with(|s| s.as_fd().try_clone_to_owned())?;
        let std_stream = std::net::TcpStream::from(owned);
        TcpStream::from_std(std_stream)
    }

    /// Closes the connection now, waking greenthreads waiting on it with the closed error.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::rc::Rc;
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = Rc::new(green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap());
    /// let reader = { let s = s.clone(); green::spawn(move || (&*s).read(&mut [0u8; 8]).unwrap_err()) };
    /// green::sleep(std::time::Duration::ZERO); // the reader parks
    /// s.close();
    /// let err = reader.join().unwrap();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
    /// assert!(err.get_ref().unwrap().downcast_ref::<green::Error>().unwrap().is_closed());
    /// ```
    pub fn close(&self) {
        self.sock.close();
    }

    /// True after [`close`](TcpStream::close).
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.close();
    /// assert!(s.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.sock.is_closed()
    }

    /// Allows several greenthreads to read (or write) this stream at once.
    ///
    /// ```
    /// let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let s = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// s.allow_multiple_waiters(true);
    /// ```
    pub fn allow_multiple_waiters(&self, allow: bool) {
        self.sock.src.allow_multiple.set(allow);
    }
}

green_read!(TcpStream, "TcpStream::read");
green_write!(TcpStream, "TcpStream::write");

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.src.fd
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream").field("fd", &format_args!("fd#{}", self.sock.src.ordinal)).finish()
    }
}
