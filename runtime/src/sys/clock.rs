//! The monotonic clock, read without `Instant`'s arithmetic.
//!
//! # Contract
//!
//! [`monotonic_ns`] reads `CLOCK_MONOTONIC`, the clock `std::time::Instant` reads on Linux, as
//! whole nanoseconds. The hub subtracts its epoch (read the same way) instead of converting an
//! `Instant` difference to a `Duration` and back on every timer.

/// Nanoseconds on `CLOCK_MONOTONIC`.
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    read_ns(libc::CLOCK_MONOTONIC)
}

#[inline(always)]
fn read_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable `timespec`; CLOCK_MONOTONIC exists on every kernel this
    // crate supports, so the call cannot fail (the result is checked in debug builds).
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime({clock}) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
