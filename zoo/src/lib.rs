//! The zoo: real green-thread bugs from `bug-corpus.md`, each ported as a small kernel with a
//! `buggy()` and a `fixed()` variant and an oracle that panics on the bug's symptom (DESIGN §9).
//!
//! Ground rules, checked by `tests/zoo.rs`:
//!
//! * honest kernels: with the zero tape (no perturbation) `buggy()` passes, as the real code
//!   passed its plain tests;
//! * `fixed()` never fails, under any strategy;
//! * each kernel's [`Kernel::harness`] turns on only the perturbations its bug needs (the
//!   perturbation codes of the corpus: RO reorder, TJ timer jitter, TR timeout racing
//!   completion, KB kill at a blocking point, SR short I/O, EI `EINTR`, SP spurious readiness,
//!   RST resets, CW close while another waits, BD a blocking call stalling the hub).
//!
//! Each kernel is a module named after its source and mechanism, with `buggy()`, `fixed()` and
//! its [`Kernel`] entry (`KERNEL`: source, codes, the harness it is searched under);
//! [`kernels`] lists them all.
//!
//! ```
//! for k in green_zoo::kernels() {
//!     assert!(!k.source.is_empty() && !k.codes.is_empty());
//! }
//! use green_zoo::sr_eventlet_295_writelines_partial_send as k;
//! let report = (k::KERNEL.harness)().run(k::fixed);
//! assert!(report.switches > 0);
//! ```
#![deny(missing_docs)]

pub mod bd_gevent_1957_native_queue_blocks_the_hub;
pub mod bd_gunicorn_1840_cpu_bound_never_yields;
pub mod bd_psycopg_527_native_wait_blocks_hub;
pub mod cw_gevent_26_close_without_waking_reader;
pub mod ei_gevent_964_send_not_retried_after_eintr;
pub mod kb_gevent_1875_connection_leaked_on_cancel;
mod net;
pub mod ro_eventlet_136_release_reacquire_starves_waiter;
pub mod ro_eventlet_742_rlock_release_callback_reacquires;
pub mod ro_gevent_1487_newest_waiter_wins;
pub mod ro_tokio_3660_notify_waiters_loses_permit;
pub mod ro_tokio_5396_notify_waiters_wakes_later_waiter;
pub mod rst_eventlet_1092_reset_not_an_accepted_errno;
pub mod sp_eventlet_551_readiness_taken_for_data;
pub mod sr_eventlet_295_writelines_partial_send;
pub mod sr_fluentbit_4193_partial_write_never_resumed;
pub mod tj_nova_1825584_heartbeat_late_peer_drops;
pub mod tj_tokio_1700_delay_queue_waits_for_newest;
pub mod tr_eventlet_498_timed_out_waiter_removes_primary;
pub mod tr_mongo_472_timeout_in_acquire_leaks_inner_lock;
pub mod tr_urllib3_timed_out_connection_reused;

use green_harness::Harness;

/// One ported bug.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    /// Named after its source and mechanism.
    pub name: &'static str,
    /// Where the bug was reported.
    pub source: &'static str,
    /// The perturbation codes it needs.
    pub codes: &'static [&'static str],
    /// The bug's mechanism; panics on its symptom when the bug shows.
    pub buggy: fn(),
    /// The same program with the bug's fix.
    pub fixed: fn(),
    /// The perturbations it is searched under.
    pub harness: fn() -> Harness,
}

/// Every kernel of the zoo.
pub fn kernels() -> Vec<Kernel> {
    vec![
        sr_eventlet_295_writelines_partial_send::KERNEL,
        ro_gevent_1487_newest_waiter_wins::KERNEL,
        kb_gevent_1875_connection_leaked_on_cancel::KERNEL,
        tj_tokio_1700_delay_queue_waits_for_newest::KERNEL,
        rst_eventlet_1092_reset_not_an_accepted_errno::KERNEL,
        bd_gevent_1957_native_queue_blocks_the_hub::KERNEL,
        sp_eventlet_551_readiness_taken_for_data::KERNEL,
        tr_urllib3_timed_out_connection_reused::KERNEL,
        bd_gunicorn_1840_cpu_bound_never_yields::KERNEL,
        bd_psycopg_527_native_wait_blocks_hub::KERNEL,
        cw_gevent_26_close_without_waking_reader::KERNEL,
        ei_gevent_964_send_not_retried_after_eintr::KERNEL,
        ro_eventlet_136_release_reacquire_starves_waiter::KERNEL,
        ro_eventlet_742_rlock_release_callback_reacquires::KERNEL,
        ro_tokio_3660_notify_waiters_loses_permit::KERNEL,
        ro_tokio_5396_notify_waiters_wakes_later_waiter::KERNEL,
        sr_fluentbit_4193_partial_write_never_resumed::KERNEL,
        tj_nova_1825584_heartbeat_late_peer_drops::KERNEL,
        tr_eventlet_498_timed_out_waiter_removes_primary::KERNEL,
        tr_mongo_472_timeout_in_acquire_leaks_inner_lock::KERNEL,
    ]
}

/// Yields `n` times (`sleep(0)`): a step of a kernel's greenthread in each hub pass.
pub(crate) fn yields(n: usize) {
    for _ in 0..n {
        green::sleep(std::time::Duration::ZERO);
    }
}

/// A harness that ignores the developer's environment (the zoo measures the search, not a
/// shell's settings).
pub(crate) fn base() -> Harness {
    Harness::with_config(green_harness::Config::hermetic())
}
