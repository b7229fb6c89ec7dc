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

/// The cache lines of `[lo, hi)`, by their first address: from the line holding `lo` to the
/// one holding `hi - 1` (none when `hi <= lo`).
#[inline(always)]
pub(crate) fn lines(lo: usize, hi: usize) -> impl Iterator<Item = usize> {
    let first = if hi > lo { lo & !63 } else { hi };
    (first..hi).step_by(64)
}

/// [`prefetch`] for every cache line of `[lo, hi)` (see [`lines`]).
#[inline(always)]
pub(crate) fn prefetch_lines(lo: usize, hi: usize) {
    lines(lo, hi).for_each(prefetch);
}

#[cfg(test)]
mod tests {
    use super::lines;

    #[test]
    fn lines_name_each_cache_line_of_a_range_once() {
        assert_eq!(lines(0x1000, 0x1100).collect::<Vec<_>>(), [0x1000, 0x1040, 0x1080, 0x10c0]);
        // Unaligned ends: the lines holding the first and the last byte.
        assert_eq!(lines(0x1010, 0x1081).collect::<Vec<_>>(), [0x1000, 0x1040, 0x1080]);
        assert_eq!(lines(0x1010, 0x1011).collect::<Vec<_>>(), [0x1000]);
        // Empty ranges, aligned or not.
        assert_eq!(lines(0x1040, 0x1040).count(), 0);
        assert_eq!(lines(0x1050, 0x1048).count(), 0);
    }
}
