//! A zero-timeout `poll(2)` of one fd: its readiness level right now.
//!
//! Contract: never blocks; errors and hang-ups count as ready (the caller's next operation
//! reports them), and so does a failing `poll` other than `EINTR`, which is retried.

use std::io;
use std::os::fd::RawFd;

/// Whether `fd` is readable (or writable, with `write`) now.
pub(crate) fn ready_now(fd: RawFd, write: bool) -> bool {
    let events = if write { libc::POLLOUT } else { libc::POLLIN };
    let mut p = libc::pollfd { fd, events, revents: 0 };
    loop {
        // SAFETY: `p` is one valid, exclusively borrowed pollfd, the count passed is 1, and a
        // zero timeout never blocks.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n >= 0 {
            return n > 0;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return true;
        }
    }
}
