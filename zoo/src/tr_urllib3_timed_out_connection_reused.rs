//! eventlet/eventlet#50: under load a request's timeout fires though its response is on its way
//! (the hub runs due timers before it looks at ready fds). What makes that spurious timeout a
//! data bug is the client that keeps the connection after it (urllib3/requests-style pooling): the
//! late response is read as the reply to the next request. Ported with a slow peer (tape-drawn
//! I/O latency) making the timeout race the reply; the fix discards a timed-out connection.
//! Codes: TR, and TJ as the corpus files it (timer vs I/O order).
use std::io::{Read, Write};
use std::time::Duration;

use green_harness::Fault;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "tr_urllib3_timed_out_connection_reused",
    source: "eventlet/eventlet#50 (a timeout racing its response), and the connection kept after it",
    codes: &["TR", "TJ"],
    buggy,
    fixed,
    harness: || crate::base().faults(&[Fault::Slow]),
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
    let handlers = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let hs = handlers.clone();
    let server = green::spawn(move || {
        // An echo server, a greenthread per connection.
        loop {
            let Ok((mut s, _)) = l.accept() else { return };
            hs.borrow_mut().push(green::spawn(move || {
                let mut q = [0u8; 1];
                while s.read_exact(&mut q).is_ok() {
                    if s.write_all(&q).is_err() {
                        return;
                    }
                }
            }));
        }
    });
    let mut conn = Some(green::net::TcpStream::connect(addr).unwrap());
    for i in 0..3u8 {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => conn.insert(green::net::TcpStream::connect(addr).unwrap()),
        };
        c.write_all(&[i]).unwrap();
        let mut a = [0u8; 1];
        match green::with_timeout(Duration::from_millis(100), || c.read_exact(&mut a)) {
            Ok(r) => {
                r.unwrap();
                assert_eq!(a[0], i, "request {i} got the reply to request {}", a[0]);
            }
            Err(_) if fixed => conn = None, // the fix: a timed-out connection is discarded
            Err(_) => {}                    // the bug: kept, with the late reply still coming
        }
    }
    drop(conn);
    server.kill();
    // Every client connection is closed: each handler sees EOF and ends.
    for h in handlers.take() {
        h.join().unwrap();
    }
}
