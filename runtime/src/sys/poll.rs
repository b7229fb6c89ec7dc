//! A zero-timeout `poll(2)` of one fd (its readiness level right now), `fstat(2)` for the
//! identity of the file behind an fd number, and whether an epoll instance still watches a file
//! (from `/proc/self/fdinfo`).
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

/// Whether the epoll instance `epfd` still holds the registration made for fd number `fd` on the
/// file with inode `ino`. A registration belongs to the open file, not to the number: closing the
/// number while a duplicate keeps the file open leaves it in place (events still come), closing
/// the file's last fd removes it. Read from `/proc/self/fdinfo/<epfd>` (`tfd:` and `ino:` of each
/// registration); `None` when that cannot be read. (The harness's closed-world check.)
#[cfg(feature = "test-hooks")]
pub(crate) fn epoll_watches(epfd: RawFd, fd: RawFd, ino: u64) -> Option<bool> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{epfd}")).ok()?;
    let found = info.lines().filter(|l| l.starts_with("tfd:")).any(|l| {
        let mut words = l.split_whitespace();
        let tfd = words.nth(1).and_then(|w| w.parse::<RawFd>().ok());
        let target = words.find_map(|w| w.strip_prefix("ino:")).and_then(|h| u64::from_str_radix(h, 16).ok());
        tfd == Some(fd) && target == Some(ino)
    });
    Some(found)
}

/// The identity of the open file `fd` refers to now: `(device, inode)` from `fstat(2)`, or
/// `None` if `fd` is not open. Two fds with the same identity refer to the same file; an fd
/// number closed and handed out again for another file changes identity.
pub(crate) fn file_identity(fd: RawFd) -> Option<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of one `stat`, which `fstat` fills in on success; on
    // failure nothing is read from it.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: `fstat` returned 0, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    Some((st.st_dev, st.st_ino))
}
