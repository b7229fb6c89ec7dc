//! Cache prefetch hints.
//!
//! # Contract
//!
//! [`prefetch`] asks the CPU to start loading the cache line holding `addr`. It is a hint: it
//! never reads memory architecturally, never faults (an unmapped or bogus address is ignored),
//! and has no effect on what the program computes, only on when memory arrives. The hub uses it
//! to overlap the cache misses of the greenthreads it will switch to next (their records and the
//! stack lines their suspended frames sit on) with the work it does now. On targets without a
//! stable prefetch instruction it does nothing.

/// Starts loading the cache line that holds `addr` into every cache level.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only needs SSE, part of every x86_64 CPU's baseline; prefetch is a
    // hint that neither dereferences nor faults on its address (see the module contract), so any
    // value is fine.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// [`prefetch`] for every cache line from the one holding `lo` to the one holding `hi - 1` (none
/// when `hi <= lo`).
#[inline(always)]
pub(crate) fn prefetch_lines(lo: usize, hi: usize) {
    let mut line = lo & !63;
    while line < hi {
        prefetch(line);
        line += 64;
    }
}
