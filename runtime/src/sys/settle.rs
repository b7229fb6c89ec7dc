//! What the kernel says about a TCP socket's traffic (feature `test-hooks`): its `TCP_INFO`
//! state, bytes sent and received, bytes not sent yet, and its addresses; for settling loopback
//! traffic before the hub decides anything that depends on readiness.
//!
//! Contract: every function takes an fd the caller keeps open for the call, never blocks and
//! returns `None` when the kernel has no answer (not a TCP socket, closed, not connected).

use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

/// `TCP_SYN_SENT`: a connect in progress.
pub(crate) const SYN_SENT: u8 = 2;
/// `TCP_ESTABLISHED`.
pub(crate) const ESTABLISHED: u8 = 1;
/// `TCP_LISTEN`.
pub(crate) const LISTEN: u8 = 10;

/// A socket's traffic as `TCP_INFO` reports it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpInfo {
    /// `TCP_ESTABLISHED`, `TCP_SYN_SENT`, ...
    pub(crate) state: u8,
    /// Segments sent and not acknowledged yet; for a listening socket, its accept queue length.
    pub(crate) unacked: u32,
    /// Bytes written and not sent yet (the peer's window is full).
    pub(crate) notsent: u32,
    /// Bytes sent, retransmissions not counted.
    pub(crate) sent: u64,
    /// Bytes received in order (what reached the receive queue).
    pub(crate) received: u64,
    /// The receive window it advertises now (0: its receive buffer is full; also 0 on kernels
    /// older than 6.2, which do not report it).
    pub(crate) rcv_wnd: u32,
}

/// `TCP_INFO` of `fd`.
pub(crate) fn tcp_info(fd: RawFd) -> Option<TcpInfo> {
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is valid for writes of `len` bytes (a zeroed `tcp_info`, so fields the
    // kernel does not fill stay 0) and `len` points to its size; getsockopt writes at most that.
    let r = unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, info.as_mut_ptr().cast(), &mut len) };
    if r != 0 {
        return None;
    }
    // SAFETY: zero-initialised above and (partly) filled by the kernel: every bit pattern is a
    // valid `tcp_info` (plain integers).
    let info = unsafe { info.assume_init() };
    Some(TcpInfo {
        state: info.tcpi_state,
        unacked: info.tcpi_unacked,
        notsent: info.tcpi_notsent_bytes,
        sent: info.tcpi_bytes_sent.saturating_sub(info.tcpi_bytes_retrans),
        received: info.tcpi_bytes_received,
        rcv_wnd: info.tcpi_rcv_wnd,
    })
}

/// The socket's own address.
pub(crate) fn local_addr(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: the caller keeps `fd` open for this call (module contract); the borrow ends here.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    socket2::SockRef::from(&fd).local_addr().ok()?.as_socket()
}

/// The peer's address.
pub(crate) fn peer_addr(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: as for `local_addr`.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    socket2::SockRef::from(&fd).peer_addr().ok()?.as_socket()
}

/// Turns Nagle's algorithm off (`TCP_NODELAY`), so small writes are not held back waiting for
/// an acknowledgement that loopback delays.
pub(crate) fn set_nodelay(fd: RawFd) {
    // SAFETY: as for `local_addr`.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = socket2::SockRef::from(&fd).set_tcp_nodelay(true);
}

/// What [`fix_buffers`] sets `SO_RCVBUF` and `SO_SNDBUF` to; the kernel doubles it (for its
/// bookkeeping), so each buffer holds 128 KiB, the receive buffer's usual initial size.
pub(crate) const FIXED_BUFFER: usize = 64 * 1024;

/// Fixes the socket's receive and send buffer sizes ([`FIXED_BUFFER`]), which the kernel would
/// otherwise tune as traffic flows: the receive buffer grows with the bytes read per round trip
/// measured in real time, the send buffer with the congestion window. How much a write accepts
/// and how far a read opens the window would then depend on timing.
pub(crate) fn fix_buffers(fd: RawFd) {
    // SAFETY: as for `local_addr`.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&fd);
    let _ = sock.set_recv_buffer_size(FIXED_BUFFER);
    let _ = sock.set_send_buffer_size(FIXED_BUFFER);
}
