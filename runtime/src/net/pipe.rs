//! Green pipes: [`pipe`], [`PipeReader`], [`PipeWriter`] (also a child process's stdio, see
//! [`crate::process`]).

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::Location;

use super::Socket;

/// The reading end of a green pipe: `Read` on `T` and `&T`; a read with nothing to read parks
/// only the calling greenthread. End of file (every writer closed) reads as 0.
///
/// ```
/// use std::io::{Read, Write};
/// let (mut w, mut r) = green::net::pipe().unwrap();
/// let writer = green::spawn(move || w.write_all(b"through the pipe").unwrap()); // w dropped at the end
/// let mut s = String::new();
/// r.read_to_string(&mut s).unwrap();
/// assert_eq!(s, "through the pipe");
/// writer.wait().unwrap();
/// ```
pub struct PipeReader {
    sock: Socket<mio::unix::pipe::Receiver>,
}

/// The writing end of a green pipe: `Write` on `T` and `&T`; a write into a full pipe parks only
/// the calling greenthread. Dropping (or [`close`](PipeWriter::close)) it ends the reader's input.
///
/// ```
/// use std::io::Write;
/// let (mut w, _r) = green::net::pipe().unwrap();
/// w.write_all(b"x").unwrap();
/// w.close();
/// ```
pub struct PipeWriter {
    sock: Socket<mio::unix::pipe::Sender>,
}

/// A new pipe, both ends non-blocking and registered with this thread's hub.
///
/// ```
/// let (w, r) = green::net::pipe().unwrap();
/// # drop((w, r));
/// ```
#[track_caller]
pub fn pipe() -> io::Result<(PipeWriter, PipeReader)> {
    let site = Location::caller();
    let (tx, rx) = mio::unix::pipe::new()?;
    Ok((PipeWriter::new(tx, site)?, PipeReader::new(rx, site)?))
}

impl PipeReader {
    pub(crate) fn new(rx: mio::unix::pipe::Receiver, site: &'static Location<'static>) -> io::Result<Self> {
        rx.set_nonblocking(true)?;
        Ok(PipeReader { sock: Socket::new(rx, "pipe reader", site)? })
    }

    /// Closes it, waking greenthreads waiting on it with a closed error.
    ///
    /// ```
    /// use std::io::Read;
    /// let (_w, r) = green::net::pipe().unwrap();
    /// r.close();
    /// assert!((&r).read(&mut [0u8; 1]).is_err());
    /// ```
    pub fn close(&self) {
        self.sock.close();
    }
}

impl PipeWriter {
    pub(crate) fn new(tx: mio::unix::pipe::Sender, site: &'static Location<'static>) -> io::Result<Self> {
        tx.set_nonblocking(true)?;
        Ok(PipeWriter { sock: Socket::new(tx, "pipe writer", site)? })
    }

    /// Closes it: the reader sees the end of its input once it read what was written.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut w, mut r) = green::net::pipe().unwrap();
    /// w.write_all(b"last").unwrap();
    /// w.close();
    /// let mut s = String::new();
    /// r.read_to_string(&mut s).unwrap();
    /// assert_eq!(s, "last");
    /// ```
    pub fn close(&self) {
        self.sock.close();
    }
}

green_read!(PipeReader, "PipeReader::read");
green_write!(PipeWriter, "PipeWriter::write");

impl AsRawFd for PipeReader {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.src.fd
    }
}

impl AsRawFd for PipeWriter {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.src.fd
    }
}

impl fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeReader").field("fd", &format_args!("fd#{}", self.sock.src.ordinal)).finish()
    }
}

impl fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeWriter").field("fd", &format_args!("fd#{}", self.sock.src.ordinal)).finish()
    }
}
