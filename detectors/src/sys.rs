//! Signal plumbing and thread clocks: every `unsafe` block of the detectors.
//!
//! # Contract
//!
//! * [`install`] puts [`on_sigalrm`] in place for `SIGALRM` with `sigaction` (once per process),
//!   remembering the previous action. The handler tells the detector's own alarms from foreign
//!   ones by their origin: sent with `pthread_sigqueue` from this process (`si_code == SI_QUEUE`,
//!   `si_pid` ours) with [`MAGIC`] as the value. Foreign `SIGALRM`s go to the previous action, so
//!   a user's handler installed before always sees its own; a handler installed after replaces
//!   ours for the process and sees everything (the detector's alarms then reach it, documented).
//! * The handler is async-signal-safe: no allocation, no lock, no symbolising. It copies the raw
//!   return addresses of the interrupted stack into a preallocated thread-local buffer
//!   ([`Capture`], const-initialised, no destructor) guarded by a re-entrancy flag. The unwinder
//!   is warmed up once in [`install`] so its first use is not inside a handler.
//! * Alarms go to one thread only ([`send_alarm`]): never a process-wide `alarm()`.

use std::cell::Cell;
use std::sync::Once;
use std::time::Duration;

/// The value the detector's alarms carry.
pub(crate) const MAGIC: usize = 0x6772_6565_6e21; // "green!"

/// Return addresses kept per alarm.
pub(crate) const MAX_FRAMES: usize = 64;

/// The interrupted stack of this thread's last alarm.
pub(crate) struct Capture {
    busy: Cell<bool>,
    len: Cell<usize>,
    ips: [Cell<usize>; MAX_FRAMES],
}

impl Capture {
    const fn new() -> Capture {
        Capture { busy: Cell::new(false), len: Cell::new(0), ips: [const { Cell::new(0) }; MAX_FRAMES] }
    }
}

thread_local! {
    static CAPTURE: Capture = const { Capture::new() };
}

/// Takes the addresses captured by this thread's last alarm (empty if none).
pub(crate) fn take_capture() -> Vec<usize> {
    CAPTURE.with(|c| {
        c.busy.set(true);
        let n = c.len.replace(0);
        let v = (0..n).map(|i| c.ips[i].get()).collect();
        c.busy.set(false);
        v
    })
}

static INSTALL: Once = Once::new();
static mut PREVIOUS: Option<libc::sigaction> = None;

/// Installs the `SIGALRM` handler once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        // Warm the unwinder up outside any handler.
        let mut n = 0;
        backtrace::trace(|_| {
            n += 1;
            n < 8
        });
        // SAFETY: `act` is fully initialised (zeroed, then the handler, flags and an empty mask);
        // `old` receives the previous action; both outlive the call. PREVIOUS is written once,
        // here, before the handler can run (it is installed by this very call and `Once`
        // serialises callers), and only read afterwards.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigalrm as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&mut act.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGALRM, &act, &mut old) == 0 {
                PREVIOUS = Some(old);
            }
        }
    });
}

extern "C" fn on_sigalrm(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler; reading its fields and
    // calling getpid is async-signal-safe.
    let ours = unsafe {
        !info.is_null()
            && (*info).si_code == libc::SI_QUEUE
            && (*info).si_pid() == libc::getpid()
            && (*info).si_value().sival_ptr as usize == MAGIC
    };
    if ours {
        let _ = CAPTURE.try_with(|c| {
            if c.busy.replace(true) {
                return;
            }
            let mut n = 0;
            // SAFETY: the unsynchronised trace is used from a signal handler on purpose: it takes
            // no lock and allocates nothing (the libgcc unwinder, warmed up in `install`); the
            // closure only writes into the preallocated buffer.
            unsafe {
                backtrace::trace_unsynchronized(|f| {
                    if n < MAX_FRAMES {
                        c.ips[n].set(f.ip() as usize);
                        n += 1;
                    }
                    n < MAX_FRAMES
                });
            }
            c.len.set(n);
            c.busy.set(false);
        });
        return;
    }
    // A foreign SIGALRM: hand it to whoever had the signal before us.
    // SAFETY: PREVIOUS was written before this handler was installed and never after.
    let prev = unsafe { (*std::ptr::addr_of!(PREVIOUS)).as_ref().copied() };
    match prev {
        Some(p) if p.sa_sigaction == libc::SIG_IGN => {}
        Some(p) if p.sa_sigaction != libc::SIG_DFL => {
            if p.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous action was installed with SA_SIGINFO, so it is a
                // three-argument handler; we pass it the arguments we received.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(p.sa_sigaction) };
                f(sig, info, ctx);
            } else {
                // SAFETY: without SA_SIGINFO the previous action is a one-argument handler.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(p.sa_sigaction) };
                f(sig);
            }
        }
        _ => {
            // The default action of SIGALRM terminates the process: do what it would have done.
            // SAFETY: signal and raise are async-signal-safe.
            unsafe {
                libc::signal(libc::SIGALRM, libc::SIG_DFL);
                libc::raise(libc::SIGALRM);
            }
        }
    }
}

/// An OS thread, as the detector addresses it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Thread {
    pthread: libc::pthread_t,
    cpu_clock: libc::clockid_t,
}

impl Thread {
    /// The calling thread.
    pub(crate) fn current() -> Thread {
        // SAFETY: pthread_self cannot fail; pthread_getcpuclockid writes one clockid_t that lives
        // on this frame.
        unsafe {
            let pthread = libc::pthread_self();
            let mut cpu_clock: libc::clockid_t = libc::CLOCK_THREAD_CPUTIME_ID;
            if libc::pthread_getcpuclockid(pthread, &mut cpu_clock) != 0 {
                cpu_clock = libc::CLOCK_THREAD_CPUTIME_ID;
            }
            Thread { pthread, cpu_clock }
        }
    }

    /// CPU time the thread has used (readable from any thread while it lives).
    pub(crate) fn cpu_time(&self) -> Duration {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid timespec on this frame; the clock id came from
        // pthread_getcpuclockid of a thread the registry keeps registered only while it lives.
        let r = unsafe { libc::clock_gettime(self.cpu_clock, &mut ts) };
        if r != 0 {
            return Duration::ZERO;
        }
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}

// SAFETY: a pthread_t and a clockid_t are plain identifiers, valid from any thread of the process.
unsafe impl Send for Thread {}
// SAFETY: as above; nothing is mutated through a shared reference.
unsafe impl Sync for Thread {}

/// Sends the detector's alarm to `t` only.
pub(crate) fn send_alarm(t: &Thread) -> bool {
    let value = libc::sigval { sival_ptr: MAGIC as *mut libc::c_void };
    // SAFETY: `t` is a registered thread (the registry drops it before the thread exits) and the
    // handler for SIGALRM is installed before any thread is registered.
    unsafe { libc::pthread_sigqueue(t.pthread, libc::SIGALRM, value) == 0 }
}
