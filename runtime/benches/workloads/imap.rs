//! The `GreenPool::imap` workload shared by the runtime's benches and `bench/compare`.

/// Maps `x + 1` over `0..n` through `pool.imap` and sums the results in order.
pub fn imap_sum(pool: &green::GreenPool, n: u64) -> u64 {
    pool.imap(|x: u64| x + 1, 0..n).map(Result::unwrap).sum()
}
