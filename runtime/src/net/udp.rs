//! Green UDP sockets.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::panic::Location;

use super::{each_addr, Socket};
use crate::Interest;

/// A green UDP socket: receiving parks the calling greenthread until a datagram arrives.
///
/// ```
/// let a = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b_addr = b.local_addr().unwrap();
/// let rx = green::spawn(move || {
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).unwrap();
///     (buf[..n].to_vec(), from)
/// });
/// a.send_to(b"datagram", b_addr).unwrap();
/// let (data, from) = rx.wait().unwrap();
/// assert_eq!(data, b"datagram");
/// assert_eq!(from, a.local_addr().unwrap());
/// ```
pub struct UdpSocket {
    sock: Socket<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr`.
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(s.local_addr().unwrap().port(), 0);
    /// ```
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let s = each_addr(addr, mio::net::UdpSocket::bind)?;
        Ok(UdpSocket { sock: Socket::new(s, "udp socket", Location::caller())? })
    }

    /// Wraps a bound std socket (made non-blocking here).
    ///
    /// ```
    /// let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(green::net::UdpSocket::from_std(s).is_ok());
    /// ```
    #[track_caller]
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        s.set_nonblocking(true)?;
        Ok(UdpSocket { sock: Socket::new(mio::net::UdpSocket::from_std(s), "udp socket", Location::caller())? })
    }

    timeout_methods!("let s = green::net::UdpSocket::bind(\"127.0.0.1:0\").unwrap();");

    /// Sends a datagram to `addr` (the first address it resolves to, as `std`'s does).
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(s.send_to(b"x", s.local_addr().unwrap()).unwrap(), 1);
    /// let port = s.local_addr().unwrap().port();
    /// assert_eq!(s.send_to(b"yz", format!("127.0.0.1:{port}")).unwrap(), 2);
    /// ```
    #[track_caller]
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = first_addr(addr)?;
        self.sock.op(Interest::Write, None, ("UdpSocket::send_to", Location::caller()), |s, _| s.send_to(buf, addr))
    }

    /// Waits for a datagram; returns its length and sender.
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.send_to(b"self", s.local_addr().unwrap()).unwrap();
    /// let mut buf = [0u8; 8];
    /// assert_eq!(s.recv_from(&mut buf).unwrap().0, 4);
    /// ```
    #[track_caller]
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.sock.op(Interest::Read, None, ("UdpSocket::recv_from", Location::caller()), |s, _| s.recv_from(buf))
    }

    /// Sets the default peer for `send` and `recv`.
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.connect(s.local_addr().unwrap()).unwrap();
    /// s.send(b"me").unwrap();
    /// let mut buf = [0u8; 2];
    /// assert_eq!(s.recv(&mut buf).unwrap(), 2);
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| self.sock.with(|s| s.connect(a)))
    }

    /// Sends to the connected peer.
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.connect(s.local_addr().unwrap()).unwrap();
    /// assert_eq!(s.send(b"abc").unwrap(), 3);
    /// ```
    #[track_caller]
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.op(Interest::Write, None, ("UdpSocket::send", Location::caller()), |s, _| s.send(buf))
    }

    /// Waits for a datagram from the connected peer.
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.connect(s.local_addr().unwrap()).unwrap();
    /// s.send(b"z").unwrap();
    /// assert_eq!(s.recv(&mut [0u8; 1]).unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.op(Interest::Read, None, ("UdpSocket::recv", Location::caller()), |s, _| s.recv(buf))
    }

    /// The bound address.
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.local_addr().unwrap().ip().is_loopback());
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.with(|s| s.local_addr())
    }

    /// The connected peer's address.
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(s.peer_addr().is_err());
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.with(|s| s.peer_addr())
    }

    /// Closes the socket, waking waiters with the closed error.
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.close();
    /// assert!(s.recv(&mut [0u8; 1]).is_err());
    /// ```
    pub fn close(&self) {
        self.sock.close();
    }

    /// Allows several greenthreads to receive (or send) at once.
    ///
    /// ```
    /// let s = green::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// s.allow_multiple_waiters(true);
    /// ```
    pub fn allow_multiple_waiters(&self, allow: bool) {
        self.sock.src.allow_multiple.set(allow);
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.src.fd
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("fd", &format_args!("fd#{}", self.sock.src.ordinal)).finish()
    }
}

/// The first address `addr` resolves to (`std::net::UdpSocket::send_to`'s rule).
fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))
}
