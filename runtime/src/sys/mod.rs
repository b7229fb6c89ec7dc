//! Platform code and every `unsafe` block of the runtime live here.
//!
//! # Contract
//!
//! The rest of the crate is safe Rust. It relies on this module for exactly these things:
//!
//! * [`stack`]: memory for greenthread stacks. [`stack::PooledStack`] implements corosensei's
//!   `Stack` trait: every stack has a guard page directly below its lowest usable address, so an
//!   overflow faults instead of corrupting a neighbour. Stacks come from per-thread slabs (one
//!   mapping holding many stacks, guard pages installed with `MADV_GUARD_INSTALL` where the kernel
//!   has it, `mprotect` otherwise) and are reused after their greenthread ends.
//! * [`switch`]: suspending the running greenthread from anywhere in its call stack. corosensei
//!   hands a `&Yielder` to the coroutine's entry closure only; the runtime stores a raw pointer to
//!   it so that `sleep` deep in user code can suspend. [`switch::YielderPtr`] is the one place that
//!   pointer is dereferenced.
//! * [`current`]: the running greenthread's record, in a cell that owns a count of it and that
//!   signal handlers may read while the hub switches.
//! * [`clock`]: the monotonic clock as whole nanoseconds (what the hub's timers run on).
//! * [`fork`]: `fork(2)` (the rules are [`crate::process::fork`]'s).
//! * [`poll`]: an fd's readiness level right now (a zero-timeout `poll(2)`) and the identity of
//!   the file it refers to (`fstat(2)`), for `trampoline`.
//! * [`prefetch`]: a cache prefetch hint (never faults, changes no result), with which the hub
//!   loads what the next greenthreads of a batch will touch while it runs the current one.
//! * `settle` (feature `test-hooks`): a TCP socket's `TCP_INFO` and addresses, to settle
//!   loopback traffic before the hub decides anything that depends on readiness.
//! * [`thread`]: whether the calling thread is the process's main thread, and freeing its hub at
//!   its exit.
//! * [`wait`]: waiting for a child's exit without reaping it (`waitid` with `WNOWAIT`).
//!
//! Ground rules: nothing here allocates on a hot path, nothing here is reachable from another OS
//! thread (every type is `!Send`), and each `unsafe` block states its reasoning in a `SAFETY:`
//! comment.

pub(crate) mod clock;
pub(crate) mod current;
pub(crate) mod fork;
pub(crate) mod poll;
pub(crate) mod prefetch;
#[cfg(feature = "test-hooks")]
pub(crate) mod settle;
pub(crate) mod stack;
pub(crate) mod switch;
pub(crate) mod thread;
pub(crate) mod wait;
