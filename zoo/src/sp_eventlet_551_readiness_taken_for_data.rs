//! eventlet/eventlet#551 (PR#552): a select on read and write of one fd queued two callbacks;
//! the second later switched into the greenthread, so a wait returned without the event it
//! waited for. The user code took "woken" for "data is there". green's sockets retry a
//! spurious wake-up; the mechanism is ported onto user code that waits with `trampoline` and
//! then reads a raw non-blocking socket once. Codes: SP.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

use green_harness::Fault;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "sp_eventlet_551_readiness_taken_for_data",
    source: "eventlet/eventlet#551, PR#552",
    codes: &["SP"],
    buggy,
    fixed,
    harness: || crate::base().faults(&[Fault::Spurious]),
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
    let (mut a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let reader = green::spawn(move || {
        let mut b = b;
        let mut buf = [0u8; 5];
        loop {
            green::trampoline(&b, green::Interest::Read, None).unwrap();
            match b.read(&mut buf) {
                Ok(n) => return buf[..n].to_vec(),
                Err(e) if fixed && e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => panic!("woken without data: {e}"),
            }
        }
    });
    green::sleep(std::time::Duration::from_millis(1));
    a.write_all(b"hello").unwrap();
    assert_eq!(reader.join().unwrap(), b"hello");
}
