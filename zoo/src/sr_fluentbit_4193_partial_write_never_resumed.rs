//! fluent/fluent-bit PR#4193: after a partial write the output coroutine parked to finish later,
//! but its resumption was tied to the next record arriving, not to the socket; after the last
//! record's partial write it was never resumed and the tail of the data never left. Ported onto
//! a green writer that parks on a "more work" event after a short write; the fix finishes the
//! write (loops until every byte is out). A reset ends the run early in both variants, so the
//! bug needs the short write alone: a run with every fault kind on rarely shows it, a run with a
//! subset often (swarm testing). Codes: SR (RST masks it).

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;

use green_harness::Fault;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "sr_fluentbit_4193_partial_write_never_resumed",
    source: "fluent/fluent-bit PR#4193",
    codes: &["SR", "RST"],
    buggy,
    fixed,
    harness: || crate::base().faults(&[Fault::Short, Fault::Reset, Fault::BrokenPipe]),
};

/// The bug's mechanism: panics on its symptom when [`KERNEL`]'s harness exposes it.
pub fn buggy() {
    run(false)
}

/// The same program with the bug's fix: never fails.
pub fn fixed() {
    run(true)
}

/// Records waiting to go out, and the event that resumes the output coroutine.
struct Output {
    pending: RefCell<Vec<u8>>,
    more: RefCell<green::Event<()>>,
    closed: std::cell::Cell<bool>,
}

fn run(fixed: bool) {
    let (mut tx, mut rx) = crate::net::tcp_pair();
    let out = Rc::new(Output {
        pending: RefCell::new(Vec::new()),
        more: RefCell::new(green::Event::new()),
        closed: std::cell::Cell::new(false),
    });
    let o = out.clone();
    let flusher = green::spawn(move || -> Result<(), String> {
        loop {
            let chunk = std::mem::take(&mut *o.pending.borrow_mut());
            if chunk.is_empty() {
                if o.closed.get() {
                    return Ok(());
                }
                let ev = o.more.borrow().clone();
                ev.wait(); // resumed by the next record (or the close)
                let _ = o.more.borrow().reset();
                continue;
            }
            let n = tx.write(&chunk).map_err(|e| e.to_string())?;
            if n < chunk.len() {
                // Partial write: keep the rest for later.
                o.pending.borrow_mut().splice(0..0, chunk[n..].iter().copied());
                if fixed {
                    continue; // the fix: finish it now
                }
                let ev = o.more.borrow().clone();
                ev.wait(); // the bug: waits for a record that may never come
                let _ = o.more.borrow().reset();
            }
        }
    });
    let records: Vec<Vec<u8>> = (0..3).map(|i| format!("record {i};").into_bytes()).collect();
    let expected: Vec<u8> = records.concat();
    let o = out.clone();
    let input = green::spawn(move || {
        for r in records {
            o.pending.borrow_mut().extend_from_slice(&r);
            let _ = o.more.borrow().send(());
            green::sleep(std::time::Duration::ZERO);
        }
        o.closed.set(true);
        let _ = o.more.borrow().send(());
    });
    input.join().unwrap();
    let flushed = flusher.join().unwrap(); // never resumed: a deadlock report
    drop(out);
    let mut got = Vec::new();
    // A reset (of either end) ends the exchange early: nothing to check then.
    if flushed.is_ok() && rx.read_to_end(&mut got).is_ok() {
        assert_eq!(got, expected, "the peer is missing the tail of the data");
    }
}
