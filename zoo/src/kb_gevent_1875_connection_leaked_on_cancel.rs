//! gevent/gevent#1875 (urllib3#805): a worker cancelled (a `Timeout`, a kill) while it held a
//! pooled connection, before its `put` back, leaked the connection; the pool ran dry and later
//! requests waited for ever. Codes: KB (and TR).

use std::rc::Rc;
use std::time::Duration;

use green_harness::Fault;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "kb_gevent_1875_connection_leaked_on_cancel",
    source: "gevent/gevent#1875; urllib3#805",
    codes: &["KB", "TR"],
    buggy,
    fixed,
    harness: || crate::base().faults(&[Fault::Kill]).shuffle(true),
};

/// The bug's mechanism: panics on its symptom when [`KERNEL`]'s harness exposes it.
pub fn buggy() {
    run(false)
}

/// The same program with the bug's fix: never fails.
pub fn fixed() {
    run(true)
}

/// Gives a connection back to its pool when dropped (the fix: also on unwinding).
struct Lease(Rc<green::Queue<u32>>, Option<u32>);

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(c) = self.1.take() {
            self.0.put(c);
        }
    }
}

fn run(fixed: bool) {
    let pool = Rc::new(green::Queue::new());
    for c in 0..2 {
        pool.put(c);
    }
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            green::spawn(move || {
                green_harness::killable();
                let conn = pool.get();
                if fixed {
                    let _lease = Lease(pool.clone(), Some(conn));
                    green::sleep(Duration::from_millis(1)); // the request
                } else {
                    green::sleep(Duration::from_millis(1)); // the request
                    pool.put(conn); // skipped when the request is cancelled
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join(); // killed workers are expected
    }
    assert_eq!(pool.len(), 2, "a pooled connection leaked: the pool runs dry");
}
