//! A green-thread runtime in eventlet's model.
//!
//! Each OS thread gets a **hub**, created lazily on first use: an event loop on [`mio`] that runs
//! **greenthreads** (stackful [`corosensei`] coroutines on pooled, guard-paged stacks) and fires
//! **timers**. The thread's own stack is the **root greenlet**: when it blocks, it runs the hub
//! until its wake-up is due. Greenthreads switch only at green calls ([`sleep`],
//! [`GreenThread::wait`], [`Event::wait`], [`Queue::get`], ...), so code between two green calls
//! runs without interruption. See `docs/ARCHITECTURE.md` in the repository for how the hub, the
//! hooks and the harness fit together.
//!
//! ```
//! use std::time::Duration;
//!
//! let pool = green::GreenPool::new(100);
//! let total: u64 = pool
//!     .imap(|n: u64| { green::sleep(Duration::from_millis(n % 3)); n * 2 }, 0..1000)
//!     .map(Result::unwrap)
//!     .sum();
//! assert_eq!(total, 999_000);
//!
//! // A greenthread's result: `join()` takes it (any type); `wait()` hands a clone to every
//! // waiter (eventlet's many waiters, so the result must be `Clone`).
//! let read = green::spawn(|| std::fs::read_to_string("/nonexistent"));
//! assert!(read.join().unwrap().is_err());
//! let n = green::spawn(|| 7);
//! assert_eq!(n.wait().unwrap(), n.clone().wait().unwrap());
//! ```
//!
//! # Scheduling rules
//!
//! * A spawned greenthread first runs at the next hub pass; nothing runs until the caller blocks
//!   or yields. Its stack is reserved at the spawn (running out of memory or mappings panics
//!   there) but picked when it starts, the most recently used free stack first, so short
//!   greenthreads spawned in a burst run on a few warm stacks.
//! * Timers fire in `(deadline, creation)` order, never early. A zero-delay timer created during a
//!   pass runs at the next pass, so `sleep(Duration::ZERO)` is a fair yield.
//! * [`Event::send`], [`Semaphore::release`], a [`Queue::put`] with room, a [`Mutex`] unlock,
//!   [`Condvar`] notifications and a [`channel`] send with room never yield. Semaphores, queues,
//!   mutexes and channels hand off to waiters FIFO: newcomers cannot barge. A [`Mutex`] belongs to
//!   the greenthread that locked it, across its switches.
//! * [`green_local!`] values belong to one greenthread each and are dropped when it ends.
//! * [`GreenThread::kill`] and an expiring [`Timeout`] unwind the victim from its current (or next)
//!   blocking green call with a private payload: destructors run and may make green calls. The
//!   signatures of blocking calls stay infallible; `wait()` reports what happened as an [`Error`].
//! * Code the hub runs directly (callbacks of [`hub::schedule_call_global`]) is **hub context**:
//!   a blocking call there panics with a message naming the misuse (`sleep(Duration::ZERO)` is a
//!   no-op there). The hub catches and records that panic and keeps running.
//! * When the root waits and nothing can ever wake anything, the hub panics with every
//!   greenthread's wait reason instead of hanging (see [`hub`]).
//!
//! # I/O
//!
//! [`net`] has green `TcpListener`, `TcpStream` and `UdpSocket` (`std::io::Read`/`Write`, so sync
//! protocol code runs on them unchanged); [`trampoline`] waits for readiness of any fd;
//! [`tpool::execute`] runs blocking work on OS threads while the hub keeps running; a
//! [`hub::HubHandle`] lets other threads post work to a hub.
//!
//! # Features
//!
//! * `test-hooks` (off by default): the surface the `green-harness` crate perturbs (module `hooks`:
//!   virtual clock, timer jitter, ready-batch order, socket faults, timeline). Zero cost when off.
//! * `tracing` (off by default): `tracing` events for spawns, switches and hub-context panics.
//!
//! [`probe`] is always on: the per-hub switch counter a blocking detector reads from another
//! thread (two relaxed stores per switch).
//!
//! # Unwinding
//!
//! The runtime relies on `panic = "unwind"`: kills and timeouts are unwinds. `panic = "abort"` is
//! not supported.
//!
//! # Debugging
//!
//! [`debug`] has eventlet's dumps ([`debug::format_hub_timers`], [`debug::format_hub_listeners`],
//! [`debug::format_greenthreads`]) and switches ([`debug::hub_timer_stacks`],
//! [`debug::hub_exceptions`], ...). Ids in dumps are per-hub ordinals, so dumps are comparable
//! across runs.
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub use corosensei;
pub use mio;

pub mod channel;
mod condvar;
pub mod debug;
mod error;
pub mod event;
pub mod graceful;
mod greenthread;
#[cfg(feature = "test-hooks")]
pub mod hooks;
pub mod hub;
mod listener;
mod local;
mod mutex;
pub mod net;
mod pool;
pub mod probe;
pub mod process;
pub mod queue;
mod semaphore;
#[cfg(feature = "test-hooks")]
mod settle;
pub(crate) mod sys;
pub mod time;
mod timeout;
mod timer;
pub mod tpool;
mod wait;
mod wheel;

pub use crate::condvar::Condvar;
pub use crate::error::Error;
pub use crate::event::Event;
pub use crate::greenthread::{
    current, spawn, spawn_after, spawn_after_local, spawn_n, Builder, Current, GreenThread, GreenThreadId,
    DEFAULT_STACK_SIZE,
};
pub use crate::listener::{trampoline, Interest};
pub use crate::local::{AccessError, LocalKey};
pub use crate::mutex::{Mutex, MutexGuard};
pub use crate::pool::{GreenPile, GreenPool, Imap};
pub use crate::queue::Queue;
pub use crate::semaphore::{BoundedSemaphore, CappedSemaphore, ReleaseError, Semaphore, SemaphoreGuard};
pub use crate::time::sleep;
pub use crate::timeout::{with_timeout, Timeout};

/// Statistics of this thread's greenthread stack pool. Free stacks beyond 1,024 of one size keep
/// their memory until such an excess has lasted a second; the hub's next idle moment then gives
/// the coldest pages back to the kernel (`released`).
///
/// ```
/// green::spawn(|| ()).wait().unwrap();
/// assert!(green::stack_pool_stats().free >= 1); // the finished greenthread's stack is pooled
/// ```
pub fn stack_pool_stats() -> sys::stack::StackPoolStats {
    sys::stack::stats()
}

/// The stack guard mechanism in use: `"madvise"` (guard pages inside one mapping, Linux 6.13+),
/// `"mprotect"`, or `"unprobed"` before the first greenthread.
///
/// ```
/// green::spawn(|| ()).wait().unwrap();
/// assert_ne!(green::stack_guard_mode(), "unprobed");
/// ```
pub fn stack_guard_mode() -> &'static str {
    sys::stack::guard_mode()
}

pub use crate::sys::stack::StackPoolStats;
