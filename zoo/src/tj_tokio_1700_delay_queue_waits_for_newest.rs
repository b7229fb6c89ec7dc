//! tokio-rs/tokio#1700: inserting into a delay queue made it wait for the new item's deadline
//! though earlier items expired sooner: timers late, out of order. Ported as a user-level delay
//! queue whose consumer sleeps until the newest item's deadline. Codes: TJ.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::Kernel;

/// This kernel's entry in [`kernels`](crate::kernels).
pub const KERNEL: Kernel = Kernel {
    name: "tj_tokio_1700_delay_queue_waits_for_newest",
    source: "tokio-rs/tokio#1700",
    codes: &["TJ"],
    buggy,
    fixed,
    harness: || crate::base().jitter(Duration::from_millis(8)).shuffle(true),
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
    // (deadline, item), in insertion order.
    let queue: Rc<RefCell<Vec<(Duration, u32)>>> = Rc::new(RefCell::new(Vec::new()));
    let t0 = green::time::now();
    // Producers insert after a short delay each; in timer order the later-due items come first,
    // so at each step "the newest" is also "the earliest due".
    let producers: Vec<_> = [(1u64, 40u64), (2, 30), (3, 20)]
        .into_iter()
        .map(|(after, deadline)| {
            let q = queue.clone();
            green::spawn(move || {
                green::sleep(Duration::from_millis(after));
                q.borrow_mut().push((Duration::from_millis(deadline), after as u32));
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut delivered = Vec::new();
    while !queue.borrow().is_empty() {
        let next = {
            let q = queue.borrow();
            if fixed {
                *q.iter().min().unwrap()
            } else {
                *q.last().unwrap() // the bug: waits for the newest insert
            }
        };
        let elapsed = green::time::now() - t0;
        green::sleep(next.0.saturating_sub(elapsed));
        // Deliver everything due now, earliest first.
        let now = green::time::now() - t0;
        let mut q = queue.borrow_mut();
        q.sort();
        while q.first().is_some_and(|x| x.0 <= now) {
            let (deadline, item) = q.remove(0);
            assert!(
                now <= deadline + Duration::from_millis(12),
                "item {item} due at {deadline:?} delivered at {now:?}"
            );
            delivered.push(item);
        }
    }
    assert_eq!(delivered.len(), 3);
}
