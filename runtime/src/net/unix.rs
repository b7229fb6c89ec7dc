//! Green Unix-domain sockets: `UnixListener`, `UnixStream`, `UnixDatagram`.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::panic::Location;
use std::path::Path;

use super::Socket;
use crate::Interest;

/// A green Unix-domain listening socket; `accept` parks only the calling greenthread.
///
/// ```
/// use std::io::{Read, Write};
/// let dir = std::env::temp_dir().join(format!("green-doc-unix-{}", std::process::id()));
/// let _ = std::fs::remove_file(&dir);
/// let l = green::net::UnixListener::bind(&dir).unwrap();
/// let p = dir.clone();
/// let client = green::spawn(move || {
///     let mut s = green::net::UnixStream::connect(&p).unwrap();
///     s.write_all(b"ping").unwrap();
/// });
/// let (mut conn, _) = l.accept().unwrap();
/// let mut buf = [0u8; 4];
/// conn.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"ping");
/// client.wait().unwrap();
/// std::fs::remove_file(&dir).unwrap();
/// ```
pub struct UnixListener {
    sock: Socket<mio::net::UnixListener>,
}

/// A green Unix-domain stream socket: `Read`/`Write` on `T` and `&T`, as [`TcpStream`] is.
///
/// [`TcpStream`]: super::TcpStream
///
/// ```
/// use std::io::{Read, Write};
/// let (mut a, mut b) = green::net::UnixStream::pair().unwrap();
/// a.write_all(b"hi").unwrap();
/// let mut buf = [0u8; 2];
/// b.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"hi");
/// ```
pub struct UnixStream {
    sock: Socket<mio::net::UnixStream>,
}

/// A green Unix-domain datagram socket.
///
/// ```
/// let (a, b) = green::net::UnixDatagram::pair().unwrap();
/// a.send(b"one").unwrap();
/// let mut buf = [0u8; 8];
/// assert_eq!(b.recv(&mut buf).unwrap(), 3);
/// ```
pub struct UnixDatagram {
    sock: Socket<mio::net::UnixDatagram>,
}

impl UnixListener {
    /// Binds a listening socket at `path` (which must not exist yet).
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-bind-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let l = green::net::UnixListener::bind(&p).unwrap();
    /// assert_eq!(l.local_addr().unwrap().as_pathname(), Some(p.as_path()));
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Ok(UnixListener {
            sock: Socket::new(mio::net::UnixListener::bind(path)?, "unix listener", Location::caller())?,
        })
    }

    /// Wraps a std listener (made non-blocking here).
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-lstd-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let l = green::net::UnixListener::from_std(std::os::unix::net::UnixListener::bind(&p).unwrap()).unwrap();
    /// assert!(l.local_addr().is_ok());
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    #[track_caller]
    pub fn from_std(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        l.set_nonblocking(true)?;
        Ok(UnixListener {
            sock: Socket::new(mio::net::UnixListener::from_std(l), "unix listener", Location::caller())?,
        })
    }

    /// Waits for a connection.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-accept-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let l = green::net::UnixListener::bind(&p).unwrap();
    /// let _c = std::os::unix::net::UnixStream::connect(&p).unwrap();
    /// assert!(l.accept().is_ok());
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    #[track_caller]
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let site = Location::caller();
        let (s, a) = self.sock.op(Interest::Read, None, ("UnixListener::accept", site), |l, _| l.accept())?;
        Ok((UnixStream { sock: Socket::new(s, "unix stream", site)? }, a))
    }

    /// The address it is bound to.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-laddr-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let l = green::net::UnixListener::bind(&p).unwrap();
    /// assert!(l.local_addr().unwrap().as_pathname().is_some());
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.with(|l| l.local_addr())
    }

    /// Closes it, waking a waiting `accept` with a closed error (see [the module docs](super)).
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-lclose-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let l = green::net::UnixListener::bind(&p).unwrap();
    /// l.close();
    /// assert!(l.accept().is_err());
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn close(&self) {
        self.sock.close();
    }

    /// True after [`close`](UnixListener::close); an `accept` on a closed listener fails with
    /// `NotConnected` wrapping a [`green::Error`](crate::Error) with `is_closed()`.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-lisclosed-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let l = green::net::UnixListener::bind(&p).unwrap();
    /// l.close();
    /// assert!(l.is_closed());
    /// assert!(green::Error::from_io(&l.accept().unwrap_err()).is_some_and(|e| e.is_closed()));
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn is_closed(&self) -> bool {
        self.sock.is_closed()
    }
}

impl UnixStream {
    /// Connects to the listener at `path`, parking the caller until the connection is made.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-conn-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let _l = green::net::UnixListener::bind(&p).unwrap();
    /// assert!(green::net::UnixStream::connect(&p).is_ok());
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    #[track_caller]
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let site = Location::caller();
        #[cfg(feature = "test-hooks")]
        {
            let f = crate::hooks::io_fault_at(crate::hooks::IoOp::Connect, 0, crate::hooks::FdKind::UnixStream, site);
            if f == Some(crate::hooks::IoFault::Refused) {
                return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
            }
        }
        let s = UnixStream { sock: Socket::new(mio::net::UnixStream::connect(path)?, "unix stream", site)? };
        s.sock.await_connected(None, ("UnixStream::connect", site))?;
        Ok(s)
    }

    /// A connected pair.
    ///
    /// ```
    /// let (a, b) = green::net::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().is_ok() && b.local_addr().is_ok());
    /// ```
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let site = Location::caller();
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((
            UnixStream { sock: Socket::new(a, "unix stream", site)? },
            UnixStream { sock: Socket::new(b, "unix stream", site)? },
        ))
    }

    /// Wraps a connected std stream (made non-blocking here).
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// assert!(green::net::UnixStream::from_std(a).is_ok());
    /// ```
    #[track_caller]
    pub fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        s.set_nonblocking(true)?;
        Ok(UnixStream { sock: Socket::new(mio::net::UnixStream::from_std(s), "unix stream", Location::caller())? })
    }

    /// Its own address.
    ///
    /// ```
    /// let (a, _b) = green::net::UnixStream::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.with(|s| s.local_addr())
    }

    /// The peer's address.
    ///
    /// ```
    /// let (a, _b) = green::net::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().is_ok());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.with(|s| s.peer_addr())
    }

    timeout_methods!("let (s, _peer) = green::net::UnixStream::pair().unwrap();");

    /// Shuts down the read, write or both halves.
    ///
    /// ```
    /// use std::io::Read;
    /// let (a, mut b) = green::net::UnixStream::pair().unwrap();
    /// a.shutdown(std::net::Shutdown::Write).unwrap();
    /// assert_eq!(b.read(&mut [0u8; 4]).unwrap(), 0); // end of stream
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.with(|s| s.shutdown(how))
    }

    /// Closes it, waking greenthreads waiting on it with a closed error.
    ///
    /// ```
    /// use std::io::Read;
    /// let (a, _b) = green::net::UnixStream::pair().unwrap();
    /// a.close();
    /// assert!((&a).read(&mut [0u8; 1]).is_err());
    /// ```
    pub fn close(&self) {
        self.sock.close();
    }
}

green_read!(UnixStream, "UnixStream::read");
green_write!(UnixStream, "UnixStream::write");

impl UnixDatagram {
    /// Binds a datagram socket at `path`.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-dbind-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let d = green::net::UnixDatagram::bind(&p).unwrap();
    /// assert!(d.local_addr().unwrap().as_pathname().is_some());
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: Socket::new(mio::net::UnixDatagram::bind(path)?, "unix datagram", Location::caller())?,
        })
    }

    /// A socket bound to no address (it can send, and receive replies when connected).
    ///
    /// ```
    /// assert!(green::net::UnixDatagram::unbound().is_ok());
    /// ```
    #[track_caller]
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { sock: Socket::new(mio::net::UnixDatagram::unbound()?, "unix datagram", Location::caller())? })
    }

    /// A connected pair.
    ///
    /// ```
    /// let (a, b) = green::net::UnixDatagram::pair().unwrap();
    /// b.send(b"x").unwrap();
    /// assert_eq!(a.recv(&mut [0u8; 4]).unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let site = Location::caller();
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((
            UnixDatagram { sock: Socket::new(a, "unix datagram", site)? },
            UnixDatagram { sock: Socket::new(b, "unix datagram", site)? },
        ))
    }

    /// Wraps a std socket (made non-blocking here).
    ///
    /// ```
    /// let d = std::os::unix::net::UnixDatagram::unbound().unwrap();
    /// assert!(green::net::UnixDatagram::from_std(d).is_ok());
    /// ```
    #[track_caller]
    pub fn from_std(d: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        d.set_nonblocking(true)?;
        Ok(UnixDatagram {
            sock: Socket::new(mio::net::UnixDatagram::from_std(d), "unix datagram", Location::caller())?,
        })
    }

    /// Connects it to the socket at `path` (for `send` and `recv`).
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-dconn-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let server = green::net::UnixDatagram::bind(&p).unwrap();
    /// let client = green::net::UnixDatagram::unbound().unwrap();
    /// client.connect(&p).unwrap();
    /// client.send(b"hello").unwrap();
    /// assert_eq!(server.recv(&mut [0u8; 8]).unwrap(), 5);
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.sock.with(|d| d.connect(path))
    }

    /// Sends a datagram to the connected peer.
    ///
    /// ```
    /// let (a, b) = green::net::UnixDatagram::pair().unwrap();
    /// assert_eq!(a.send(b"abc").unwrap(), 3);
    /// # drop(b);
    /// ```
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.op(Interest::Write, None, ("UnixDatagram::send", Location::caller()), |d, _| d.send(buf))
    }

    /// Receives a datagram from the connected peer, waiting for one.
    ///
    /// ```
    /// let (a, b) = green::net::UnixDatagram::pair().unwrap();
    /// green::spawn(move || b.send(b"late").unwrap());
    /// let mut buf = [0u8; 8];
    /// assert_eq!(a.recv(&mut buf).unwrap(), 4); // parked until it arrived
    /// ```
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.op(Interest::Read, None, ("UnixDatagram::recv", Location::caller()), |d, _| d.recv(buf))
    }

    /// Sends a datagram to the socket at `path`.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("green-doc-dsend-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// let server = green::net::UnixDatagram::bind(&p).unwrap();
    /// green::net::UnixDatagram::unbound().unwrap().send_to(b"hey", &p).unwrap();
    /// let (n, _from) = server.recv_from(&mut [0u8; 8]).unwrap();
    /// assert_eq!(n, 3);
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    #[track_caller]
    pub fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.sock.op(Interest::Write, None, ("UnixDatagram::send_to", Location::caller()), |d, _| d.send_to(buf, path))
    }

    /// Receives a datagram and its sender's address, waiting for one.
    ///
    /// ```
    /// let (a, b) = green::net::UnixDatagram::pair().unwrap();
    /// b.send(b"z").unwrap();
    /// let (n, _from) = a.recv_from(&mut [0u8; 2]).unwrap();
    /// assert_eq!(n, 1);
    /// ```
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock.op(Interest::Read, None, ("UnixDatagram::recv_from", Location::caller()), |d, _| d.recv_from(buf))
    }

    timeout_methods!("let (s, _peer) = green::net::UnixDatagram::pair().unwrap();");

    /// Its own address.
    ///
    /// ```
    /// assert!(green::net::UnixDatagram::unbound().unwrap().local_addr().unwrap().is_unnamed());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.with(|d| d.local_addr())
    }

    /// Closes it, waking greenthreads waiting on it with a closed error.
    ///
    /// ```
    /// let (a, _b) = green::net::UnixDatagram::pair().unwrap();
    /// a.close();
    /// assert!(a.recv(&mut [0u8; 1]).is_err());
    /// ```
    pub fn close(&self) {
        self.sock.close();
    }
}

macro_rules! fd_and_debug {
    ($($t:ident),*) => {$(
        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.sock.src.fd
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t)).field("fd", &format_args!("fd#{}", self.sock.src.ordinal)).finish()
            }
        }
    )*};
}

fd_and_debug!(UnixListener, UnixStream, UnixDatagram);
