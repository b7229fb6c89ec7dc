//! Integration tests of the green workspace: one binary, one module per area.
//!
//! Each test runs on its own libtest thread, so it gets its own hub; tests that need hub-wide
//! counters from zero use `util::on_fresh_thread`.

mod util;

// Ports of eventlet's test suite; each test names the eventlet case it ports.
mod eventlet_debug; // tests/debug_test.py
mod eventlet_event; // tests/event_test.py and tests/test__event.py
mod eventlet_greenpool; // tests/greenpool_test.py
mod eventlet_greenthread; // tests/greenthread_test.py
mod eventlet_hub; // tests/hub_test.py and tests/timer_test.py
mod eventlet_io; // fd cases of tests/api_test.py, hub_test.py, greenio_test.py, green_select_test.py, debug_test.py
mod eventlet_queue; // tests/queue_test.py
mod eventlet_semaphore; // tests/semaphore_test.py
mod eventlet_timeout; // tests/timeout_test.py and tests/timeout_with_statement_test.py
mod eventlet_tpool; // tests/tpool_test.py and tests/env_test.py

// Runtime behaviour beyond eventlet's suite.
mod blocking; // the blocking detector fires on blocking code and stays quiet on good code
mod calls; // timing-independent detection: blocking entry points reported at once, however short
mod deadlock; // exact deadlock detection and its report
mod detector_trust; // issue 12, detectors: regression tests of the interposer, reports, fork, signals; stress
mod detectors; // leak, unobserved-panic, overflow and deadlock detectors fire and stay quiet
mod dumps; // format_hub_timers / format_greenthreads output
mod explore; // the explorer: strategies find their bugs, shrinking, partitions, replay, thread-count independence
mod graceful; // graceful shutdown on SIGTERM: stop accepting, drain, kill stragglers
mod harness; // the harness: knobs perturb, tapes replay, budgets abort, snapshots hold
mod harness_attr; // #[green_harness::test]: the body runs under a Harness with the attribute's knobs
mod harness_trust; // replay lines replay every failure; faults only where the kernel could produce them
mod io; // green sockets: echo at scale, close wake-ups, EINTR, readiness, Read + Write
mod kill; // unwinding on kill and timeout: destructors, re-delivery, hub-context kills
mod locals; // green_local!: per-greenthread values, dropped when the greenthread ends
mod misuse; // clear panics for misuse (hub context, self-wait, hub::run in a greenthread)
mod process; // green pipes and child processes: stdio as green streams, waits off the hub
mod regressions; // regression tests named after what they guard
mod snapshot; // insta snapshots of the hub dumps under the virtual clock
mod stacks; // stack pool reuse, guard pages, 100k live greenthreads
mod sync; // Mutex, Condvar and channels: hand-off, kills, disconnection, timeouts
mod teardown; // hub shutdown and thread exit unwind every greenthread
mod threads; // several OS threads, each with its own hub
mod unwinding; // unwinding per greenthread: kills and timeouts never deferred by another's unwind, never thrown into one
