//! A timeout racing a response (the urllib3/requests pattern behind gevent/gevent#1875 and
//! many client libraries): a request times out while the server is slow, the client keeps the
//! connection, and the late response is read as the reply to the next request. Codes: TR.

use std::io::{Read, Write};
use std::time::Duration;

use green_harness::Fault;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "tr_urllib3_timed_out_connection_reused",
    source: "gevent/gevent#1875; urllib3#805 (timeouts racing responses)",
    codes: &["TR"],
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
