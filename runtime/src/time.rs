//! Time on the hub's clock, and sleeping.
//!
//! ```
//! let t0 = green::time::now();
//! green::sleep(std::time::Duration::from_millis(5));
//! assert!(green::time::now() - t0 >= std::time::Duration::from_millis(5)); // never early
//! ```

use std::panic::Location;
use std::time::{Duration, Instant};

use crate::greenthread::{park, CancelTimer, WaitInfo};
use crate::hub::{hub, misuse_hub_context};
use crate::timer::Action;

/// The hub's current time. It follows the hub's clock, so code under a virtual clock sees virtual
/// time; with the real clock it is `Instant::now()`.
///
/// ```
/// let a = green::time::now();
/// green::sleep(std::time::Duration::from_millis(2));
/// assert!(green::time::now() - a >= std::time::Duration::from_millis(2));
/// ```
pub fn now() -> Instant {
    hub().now()
}

/// Suspends the calling greenthread (or the root, which runs the hub meanwhile) for at least `d`.
///
/// `sleep(Duration::ZERO)` is a fair yield: every greenthread that is ready runs before the caller
/// resumes. A timer never fires early; it fires once the hub's clock reached its deadline.
///
/// # Panics
///
/// A non-zero sleep in hub context (a timer callback) panics with a message naming the misuse;
/// `sleep(Duration::ZERO)` there does nothing (eventlet's rule).
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// green::sleep(Duration::from_millis(3));
/// assert!(t0.elapsed() >= Duration::from_millis(3));
/// ```
#[track_caller]
#[inline]
pub fn sleep(d: Duration) {
    let site = Location::caller();
    if d.is_zero() {
        // Inlined into the caller down to the switch (see `yield_inline`).
        return crate::greenthread::yield_inline("sleep", site);
    }
    sleep_for(d, site);
}

/// A non-zero [`sleep`] (`track_caller`: a misuse panic names the caller's line).
#[track_caller]
#[inline(never)]
fn sleep_for(d: Duration, site: &'static Location<'static>) {
    let h = hub();
    let Some(cur) = h.current() else {
        misuse_hub_context("green::sleep");
    };
    let t = crate::greenthread::begin_green_call(h, cur);
    if t.fast_forward {
        // Teardown fast-forwards time: the sleep is over, but it still yields, so a destructor
        // polling in a loop lets the others run.
        drop(t);
        return crate::greenthread::yield_now_at("sleep", site);
    }
    let key = h.add_timer(d, Action::Wake { gt: t.gt.clone(), seq: t.seq }, "sleep", site);
    // Cancels the timer if the sleep unwinds (a kill, an expired timeout) while it is pending.
    let cancel = CancelTimer(key);
    while h.timer_is_live(key) {
        park(&t, WaitInfo { what: "sleep", site });
    }
    // The timer fired: nothing left to cancel.
    std::mem::forget(cancel);
}
