//! psycopg/psycopg#527: the driver waited for the server's reply in a C wait function that green
//! patching could not reach; the wait blocked the hub and queries serialised. Ported: a client
//! that, when the reply is not there yet, waits natively (a blocking read with a timeout, the
//! stand-in for the C wait); in spawn order the server answered first and the wait never
//! happened. The fix waits green (`trampoline`). The blocking detector (25 ms, `Fail`) fails the
//! greenthread that holds the hub. Codes: BD (RO).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use green_detectors::Mode;

use crate::Kernel;

/// The blocking detector's resolution: far above a fixed variant's slices, so a loaded machine
/// that holds a hub's thread off its CPU for a few milliseconds (a busy CI host: 14 ms seen) is
/// no false alarm, and far below what the bug holds the hub for.
const BLOCKING_MS: u64 = 25;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "bd_psycopg_527_native_wait_blocks_hub",
    source: "psycopg/psycopg#527",
    codes: &["BD", "RO"],
    buggy,
    fixed,
    harness: || crate::base().shuffle(true).blocking(Duration::from_millis(BLOCKING_MS)).blocking_mode(Mode::Fail),
};

/// The bug's mechanism: panics on its symptom when [`KERNEL`]'s harness exposes it.
pub fn buggy() {
    run(false)
}

/// The same program with the bug's fix: never fails.
pub fn fixed() {
    run(true)
}

fn run(fixed: bool) {
    let (mut server, client) = UnixStream::pair().unwrap();
    let srv = green::spawn(move || {
        server.write_all(b"ROW 1").unwrap();
        server
    });
    let cli = green::spawn(move || {
        let mut buf = [0u8; 5];
        let mut got = 0;
        while got < buf.len() {
            if fixed {
                client.set_nonblocking(true).unwrap();
                green::trampoline(&client, green::Interest::Read, None).unwrap();
            } else {
                // The driver's own wait: blocks the whole thread until data or its timeout.
                client.set_nonblocking(false).unwrap();
                client.set_read_timeout(Some(Duration::from_millis(2 * BLOCKING_MS + 10))).unwrap();
            }
            match (&client).read(&mut buf[got..]) {
                Ok(n) => got += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    green::sleep(Duration::ZERO);
                }
                Err(e) => panic!("{e}"),
            }
        }
        buf
    });
    assert_eq!(&cli.join().unwrap(), b"ROW 1");
    drop(srv.join().unwrap());
}
