//! The `SIGQUIT` dump: every hub prints its state, as Go prints every goroutine.
//!
//! Opt in with [`enable_sigquit_dump`] (process-wide, through signal-hook). On `SIGQUIT` each hub
//! that has blocking detection on prints, to stderr:
//!
//! * when it is idle or busy switching: its greenthreads, timers and listeners
//!   (`format_greenthreads`, `format_hub_timers`, `format_hub_listeners`), printed by the hub
//!   itself in hub context (its state is never read from another thread);
//! * when it is blocked right now (its switch counter stood still while it was not waiting in its
//!   poller): what can be read safely from another thread, the running greenthread, how long it
//!   has held the hub and its stack, captured by the detector's signal.

use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use crate::blocking::REGISTRY;

static STARTED: OnceLock<()> = OnceLock::new();

/// Makes `SIGQUIT` dump every hub that has blocking detection on (see the [module docs](self))
/// instead of ending the process. Idempotent.
///
/// # Errors
///
/// When the signal handler cannot be registered.
///
/// ```
/// green_detectors::enable_sigquit_dump().unwrap();
/// ```
pub fn enable_sigquit_dump() -> io::Result<()> {
    if STARTED.get().is_some() {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGQUIT])?;
    STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("green-sigquit-dump".into())
            .spawn(move || {
                for _ in signals.forever() {
                    dump_all();
                }
            })
            .expect("green-detectors: cannot start the SIGQUIT dump thread");
    });
    Ok(())
}

fn dump_all() {
    let watches = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    for w in watches {
        let before = w.probe.switches();
        let idle = w.probe.in_poll();
        std::thread::sleep(Duration::from_millis(20));
        let blocked = !idle && !w.probe.in_poll() && w.probe.switches() == before;
        if blocked {
            let held = {
                let st = w.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match (st.last_switches == before, st.first_seen) {
                    (true, Some(t)) => t.elapsed(),
                    _ => Duration::from_millis(20),
                }
            };
            w.send_alarm_if_active();
            std::thread::sleep(Duration::from_millis(20));
            let frames = green::debug::symbolize_frames(&w.capture.peek(before));
            let current = w.probe.current();
            let mut out = format!(
                "green: SIGQUIT: hub of thread {}: BLOCKED by greenthread #{} for {} ms",
                w.thread_name,
                current,
                held.as_millis()
            );
            for f in frames {
                out.push_str("\n  at ");
                out.push_str(&f);
            }
            eprintln!("{out}");
        } else if let Some(h) = w.hub.upgrade() {
            let name = w.thread_name.clone();
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
}
