//! gevent/gevent#964: `send`/`sendall` did not retry a call interrupted by a signal (`EINTR`);
//! the send failed, or went out partly. green's sockets retry `EINTR`, so the mechanism is ported
//! onto user code that sends over a raw non-blocking socket, waiting with `green::trampoline`
//! (whose wait a signal can interrupt, as `poll(2)`'s can): it gives up on `Interrupted`; the fix
//! retries it. Codes: EI.

use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

use green_harness::Fault;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "ei_gevent_964_send_not_retried_after_eintr",
    source: "gevent/gevent#964",
    codes: &["EI"],
    buggy,
    fixed,
    harness: || crate::base().faults(&[Fault::Eintr]),
};

/// The bug's mechanism: panics on its symptom when [`KERNEL`]'s harness exposes it.
pub fn buggy() {
    run(false)
}

/// The same program with the bug's fix: never fails.
pub fn fixed() {
    run(true)
}

/// Sends all of `buf` on a non-blocking socket, waiting green for room.
fn sendall(s: &UnixStream, mut buf: &[u8], fixed: bool) -> io::Result<()> {
    while !buf.is_empty() {
        match green::trampoline(s, green::Interest::Write, None) {
            Ok(()) => {}
            Err(e) if fixed && e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e), // the bug: EINTR ends the send
        }
        match (&*s).write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) if fixed && e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn run(fixed: bool) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let sender = green::spawn(move || {
        for msg in [&b"HELO "[..], b"DATA ", b"QUIT "] {
            if let Err(e) = sendall(&a, msg, fixed) {
                return Err(e.to_string()); // the connection is dropped
            }
        }
        Ok(())
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        green::trampoline(&b, green::Interest::Read, None)
            .or_else(|e| match e.kind() {
                ErrorKind::Interrupted => Ok(()),
                _ => Err(e),
            })
            .unwrap();
        match (&b).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let sent = sender.join().unwrap();
    assert_eq!(String::from_utf8_lossy(&got), "HELO DATA QUIT ", "the peer lost data ({sent:?})");
}
