//! eventlet/eventlet PR#1092 (#943): a peer that closed with data buffered made the server's
//! read fail with an errno its accept loop did not expect, and the server terminated instead of
//! serving the next client. Codes: RST.

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use green_harness::Fault;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "rst_eventlet_1092_reset_not_an_accepted_errno",
    source: "eventlet/eventlet PR#1092 (#943)",
    codes: &["RST"],
    buggy,
    fixed,
    harness: || crate::base().faults(&[Fault::Reset]),
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
    let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = green::spawn(move || {
        let mut served = 0;
        while served < 3 {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4];
            match s.read_exact(&mut buf) {
                Ok(()) => {
                    let _ = s.write_all(&buf);
                }
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {}
                // The fix: a reset connection is a client gone, not a server error.
                Err(e) if fixed && e.kind() == ErrorKind::ConnectionReset => {}
                Err(e) => panic!("the server terminated on {e}"),
            }
            served += 1;
        }
    });
    for i in 0..3u8 {
        let mut c = green::net::TcpStream::connect(addr).unwrap();
        let _ = c.write_all(&[i; 4]);
        let mut back = [0u8; 4];
        let _ = green::with_timeout(Duration::from_secs(1), || c.read_exact(&mut back));
    }
    server.join().unwrap();
}
