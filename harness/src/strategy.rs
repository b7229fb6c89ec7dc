//! proptest strategies: fault tapes, jitter settings and `GreenPool` operation sequences.
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! let mut runner = proptest::test_runner::TestRunner::deterministic();
//! let tape = green_harness::strategy::tapes(16).new_tree(&mut runner).unwrap().current();
//! assert!(tape.bytes().len() <= 16);
//! ```

use std::time::Duration;

use proptest::prelude::*;

use crate::Tape;

/// Tapes of up to `max_len` bytes, mostly zeros (no perturbation). Shrinking shortens the tape
/// and makes its bytes smaller: fewer and smaller faults.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let tape = green_harness::strategy::tapes(32).new_tree(&mut runner).unwrap().current();
/// assert!(tape.len() <= 32);
/// ```
pub fn tapes(max_len: usize) -> impl Strategy<Value = Tape> {
    proptest::collection::vec(prop_oneof![4 => Just(0u8), 1 => any::<u8>()], 0..=max_len).prop_map(Tape::new)
}

/// Maximum timer jitter settings: zero (off) to 20 ms.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let j = green_harness::strategy::jitter_settings().new_tree(&mut runner).unwrap().current();
/// assert!(j <= std::time::Duration::from_millis(20));
/// ```
pub fn jitter_settings() -> impl Strategy<Value = Duration> {
    (0u64..=20).prop_map(Duration::from_millis)
}

/// One operation on a `GreenPool` (see [`pool_ops`]).
///
/// ```
/// use green_harness::strategy::PoolOp;
/// use green_harness::pool_model::{run_pool_ops, PoolModel};
/// let ops = [PoolOp::Spawn(2), PoolOp::Sleep(1), PoolOp::Kill(0), PoolOp::Imap(3), PoolOp::Waitall];
/// green_harness::Harness::with_config(green_harness::Config::hermetic()).run(|| {
///     assert_eq!(run_pool_ops(1, &ops), PoolModel::predict(1, &ops));
/// });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolOp {
    /// Spawn a task that sleeps this many (virtual) milliseconds, then finishes.
    Spawn(u8),
    /// Resize the pool (1..=8).
    Resize(u8),
    /// Kill the task spawned at this position (modulo the number spawned so far), if any.
    Kill(u8),
    /// `waitall()`.
    Waitall,
    /// `imap` over this many items, each sleeping a little; results must come in order.
    Imap(u8),
    /// Let the hub run for this many (virtual) milliseconds.
    Sleep(u8),
}

/// Sequences of pool operations; [`pool_model`](crate::pool_model) holds their reference model
/// and a runner for a real pool.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// let mut runner = proptest::test_runner::TestRunner::deterministic();
/// let ops = green_harness::strategy::pool_ops(10).new_tree(&mut runner).unwrap().current();
/// assert!(ops.len() <= 10);
/// ```
pub fn pool_ops(max_len: usize) -> impl Strategy<Value = Vec<PoolOp>> {
    let op = prop_oneof![
        4 => (0u8..20).prop_map(PoolOp::Spawn),
        1 => (1u8..=8).prop_map(PoolOp::Resize),
        1 => any::<u8>().prop_map(PoolOp::Kill),
        1 => Just(PoolOp::Waitall),
        1 => (0u8..12).prop_map(PoolOp::Imap),
        2 => (0u8..10).prop_map(PoolOp::Sleep),
    ];
    proptest::collection::vec(op, 0..=max_len)
}
