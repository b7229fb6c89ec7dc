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
//!   completion, KB kill at a blocking point, SR short I/O, SP spurious readiness, RST resets,
//!   BD a blocking call stalling the hub).
//!
//! ```
//! for k in green_zoo::kernels() {
//!     assert!(!k.source.is_empty() && !k.codes.is_empty());
//! }
//! ```
#![deny(missing_docs)]

mod bd_gevent_1957_native_queue_blocks_the_hub;
mod kb_gevent_1875_connection_leaked_on_cancel;
mod net;
mod ro_gevent_1487_newest_waiter_wins;
mod rst_eventlet_1092_reset_not_an_accepted_errno;
mod sp_eventlet_551_readiness_taken_for_data;
mod sr_eventlet_295_writelines_partial_send;
mod tj_tokio_1700_delay_queue_waits_for_newest;
mod tr_urllib3_timed_out_connection_reused;

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
    ]
}

/// A harness that ignores the developer's environment (the zoo measures the search, not a
/// shell's settings).
pub(crate) fn base() -> Harness {
    Harness::with_config(green_harness::Config::hermetic())
}
