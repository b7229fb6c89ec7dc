//! The `SIGQUIT` dump: every hub prints its state, as Go prints every goroutine.
//!
//! Opt in with [`enable_sigquit_dump`] (process-wide, through signal-hook). On `SIGQUIT` every hub
//! of the process ([`green::hub::hubs`]) prints, to stderr:
//!
//! * when it is idle or busy switching: its greenthreads, timers and listeners
//!   (`format_greenthreads`, `format_hub_timers`, `format_hub_listeners`), printed by the hub
//!   itself in hub context (its state is never read from another thread);
//! * when it is blocked right now (its switch counter stood still while it was not waiting in its
//!   poller): what can be read safely from another thread, the running greenthread, how long it
//!   has held the hub and its stack, captured by the detector's signal (only with blocking
//!   detection on: without it, the running greenthread's id only).
//!
//! ```
//! green_detectors::enable_sigquit_dump().unwrap();
//! // `kill -QUIT <pid>` now prints every hub's greenthreads, timers and listeners to stderr.
//! ```

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::blocking::REGISTRY;

/// The dump thread runs (in this process: a forked child starts its own).
static STARTED: AtomicBool = AtomicBool::new(false);

/// After `fork`, in the child: the parent's dump thread is not there.
pub(crate) fn after_fork_in_child() {
    STARTED.store(false, Ordering::SeqCst);
}

/// Takes the dump's lock across `fork` (see [`crate::blocking::before_fork`]).
pub(crate) fn dumped_lock() -> std::sync::MutexGuard<'static, Vec<Dumped>> {
    DUMPED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Makes `SIGQUIT` dump every hub of the process (see the [module docs](self)) instead of
/// ending the process. Idempotent; calling it once, on any thread, covers every hub.
///
/// # Errors
///
/// When the signal handler cannot be registered.
///
/// ```
/// green_detectors::enable_sigquit_dump().unwrap();
/// ```
pub fn enable_sigquit_dump() -> io::Result<()> {
    crate::sys::register_fork_handlers();
    register_this_hub();
    if STARTED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    let mut signals = match signal_hook::iterator::Signals::new([signal_hook::consts::SIGQUIT]) {
        Ok(s) => s,
        Err(e) => {
            STARTED.store(false, Ordering::SeqCst);
            return Err(e);
        }
    };
    std::thread::Builder::new()
        .name("green-sigquit-dump".into())
        .spawn(move || {
            for _ in signals.forever() {
                dump_all();
            }
        })
        .expect("green-detectors: cannot start the SIGQUIT dump thread");
    Ok(())
}

/// A hub whose thread called [`enable_sigquit_dump`] (dumped even without blocking detection).
pub(crate) struct Dumped {
    thread_name: String,
    probe: std::sync::Arc<green::probe::Probe>,
    hub: green::hub::WeakHubHandle,
}

/// Hubs registered by [`enable_sigquit_dump`].
pub(crate) static DUMPED: Mutex<Vec<Dumped>> = Mutex::new(Vec::new());

/// Registers the calling thread's hub with the dump (once per hub).
fn register_this_hub() {
    let probe = green::probe::probe();
    let mut d = DUMPED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Hubs of threads that ended (their handle no longer upgrades) are dropped here.
    d.retain(|x| x.hub.upgrade().is_some());
    if !d.iter().any(|x| std::sync::Arc::ptr_eq(&x.probe, &probe)) {
        d.push(Dumped {
            thread_name: std::thread::current().name().unwrap_or("<unnamed>").to_string(),
            probe,
            hub: green::hub::handle().downgrade(),
        });
    }
}

/// Prints the state of an idle (or busy switching) hub, from the hub itself.
fn post_dump(hub: &green::hub::WeakHubHandle, thread_name: &str) {
    if let Some(h) = hub.upgrade() {
        let name = thread_name.to_string();
        let _ = h.post(move || {
            eprintln!(
                "green: SIGQUIT: hub of thread {name}\n{}\n{}\n{}",
                green::debug::format_greenthreads(),
                green::debug::format_hub_timers(),
                green::debug::format_hub_listeners()
            );
        });
    }
}

/// True when the hub stood still for 20 ms outside its poller.
fn blocked_now(probe: &green::probe::Probe, before: u64) -> bool {
    let idle = probe.in_poll();
    std::thread::sleep(Duration::from_millis(20));
    !idle && !probe.in_poll() && probe.switches() == before
}

fn dump_all() {
    let watches = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    // Hubs without blocking detection (no stack can be taken there: the signal handler that
    // captures it is the detector's).
    let mut others: Vec<(String, std::sync::Arc<green::probe::Probe>, green::hub::WeakHubHandle)> = DUMPED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|d| !watches.iter().any(|w| std::sync::Arc::ptr_eq(&w.probe, &d.probe)))
        .map(|d| (d.thread_name.clone(), d.probe.clone(), d.hub.clone()))
        .collect();
    // Every other hub of the process, detection or not (the runtime lists them all).
    for h in green::hub::hubs() {
        let known = watches.iter().any(|w| std::sync::Arc::ptr_eq(&w.probe, &h.probe))
            || others.iter().any(|o| std::sync::Arc::ptr_eq(&o.1, &h.probe));
        if let (false, Some(handle)) = (known, h.handle) {
            others.push((h.thread_name, h.probe, handle));
        }
    }
    for (thread_name, probe, hub) in others {
        let before = probe.switches();
        if blocked_now(&probe, before) {
            eprintln!(
                "green: SIGQUIT: hub of thread {thread_name}: BLOCKED by greenthread #{} for at least 20 ms (no stack: \
                 blocking detection is off on this hub)",
                probe.current()
            );
        } else {
            post_dump(&hub, &thread_name);
        }
    }
    for w in watches {
        let before = w.probe.switches();
        if blocked_now(&w.probe, before) {
            let held = {
                let st = w.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match (st.last_switches == before, st.first_seen) {
                    (true, Some(t)) => t.elapsed(),
                    _ => Duration::from_millis(20),
                }
            };
            w.send_alarm_if_active();
            std::thread::sleep(Duration::from_millis(20));
            let frames = crate::symbols::symbolize(&w.capture.peek(before));
            let who = w.capture.label(before).unwrap_or_else(|| format!("#{}", w.probe.current()));
            let mut out = format!(
                "green: SIGQUIT: hub of thread {}: BLOCKED by greenthread {who} for {} ms",
                w.thread_name,
                held.as_millis()
            );
            for f in frames {
                out.push_str("\n  at ");
                out.push_str(&f);
            }
            eprintln!("{out}");
        } else {
            post_dump(&w.hub, &w.thread_name);
        }
    }
}
