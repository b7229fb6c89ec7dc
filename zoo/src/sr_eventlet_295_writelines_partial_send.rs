//! eventlet/eventlet#295: `writelines()` sent each line with one `send` and did not retry a
//! partial send; the peer waited for ever for the missing bytes. Codes: SR.

use std::io::{Read, Write};
use std::time::Duration;

use green_harness::Fault;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "sr_eventlet_295_writelines_partial_send",
    source: "eventlet/eventlet#295",
    codes: &["SR"],
    buggy,
    fixed,
    harness: || crate::base().faults(&[Fault::Short]),
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
    let (mut tx, mut rx) = crate::net::tcp_pair();
    let lines: [&[u8]; 3] = [b"HELO green\r\n", b"MAIL FROM:<a@b>\r\n", b"DATA\r\n"];
    let writer = green::spawn(move || {
        for line in lines {
            if fixed {
                tx.write_all(line).unwrap();
            } else {
                // The bug: one send per line, its count ignored.
                let _ = tx.write(line).unwrap();
            }
        }
        tx
    });
    let want: usize = lines.iter().map(|l| l.len()).sum();
    let mut got = vec![0u8; want];
    let r = green::with_timeout(Duration::from_secs(5), || rx.read_exact(&mut got));
    let _tx = writer.join().unwrap();
    assert!(matches!(r, Ok(Ok(()))), "the peer waits for ever for the missing bytes");
    assert_eq!(got, lines.concat());
}
