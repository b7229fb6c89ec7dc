//! gevent/gevent#26, #34 (and eventlet/eventlet#94): a greenlet blocked in `recv()` was not woken
//! when another greenlet closed the socket; it hung, and the fd number, reused, later surprised
//! its next owner. green's sockets wake their waiters when closed, so the mechanism is ported onto
//! user code that shares a raw fd between a reader (waiting with `green::trampoline`) and a closer
//! that closes it behind the hub's back; the fix only shuts the socket down, which wakes the
//! reader with end-of-file, and leaves the close to the socket's owner. Codes: CW (TJ: the close lands while the reader waits).

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "cw_gevent_26_close_without_waking_reader",
    source: "gevent/gevent#26, #34; eventlet/eventlet#94",
    codes: &["CW", "TJ"],
    buggy,
    fixed,
    harness: || crate::base().jitter(Duration::from_millis(8)),
};

/// The bug's mechanism: panics on its symptom when [`KERNEL`]'s harness exposes it.
pub fn buggy() {
    run(false)
}

/// The same program with the bug's fix: never fails.
pub fn fixed() {
    run(true)
}

/// A raw fd number, as a Python socket's `fileno()`.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

fn run(fixed: bool) {
    let (mut peer, conn) = UnixStream::pair().unwrap();
    conn.set_nonblocking(true).unwrap();
    let fd = Fd(conn.as_raw_fd());
    let conn = Rc::new(RefCell::new(Some(conn)));
    let c = conn.clone();
    let reader = green::spawn(move || {
        let mut buf = [0u8; 16];
        loop {
            if green::trampoline(&fd, green::Interest::Read, None).is_err() {
                return Vec::new(); // closed
            }
            let Some(s) = &*c.borrow() else { return Vec::new() };
            match (&*s).read(&mut buf) {
                Ok(n) => return buf[..n].to_vec(), // one message, or end-of-file
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return Vec::new(),
            }
        }
    });
    let c = conn.clone();
    let closer = green::spawn(move || {
        green::sleep(Duration::from_millis(2)); // the connection's idle timeout
        if fixed {
            // The fix: shut the socket down (the reader wakes with end-of-file); its owner
            // closes it once nobody waits on it.
            if let Some(s) = &*c.borrow() {
                let _ = s.shutdown(Shutdown::Both);
            }
        } else {
            drop(c.borrow_mut().take()); // close(2) under the reader's feet
        }
    });
    green::sleep(Duration::from_millis(1));
    let _ = peer.write_all(b"bye"); // fails when the connection is already closed
    closer.join().unwrap();
    let got = reader.join().unwrap(); // never woken: a hang report
    assert!(got.is_empty() || got == b"bye", "read {got:?}");
}
