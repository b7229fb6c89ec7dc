//! Signal plumbing and thread clocks: every `unsafe` block of the detectors.
//!
//! # Contract
//!
//! * [`install`] puts [`on_sigalrm`] in place for `SIGALRM` with `sigaction` (once per process),
//!   remembering the previous action. The handler tells the detector's own alarms from foreign
//!   ones by their origin: sent with `pthread_sigqueue` from this process (`si_code == SI_QUEUE`,
//!   `si_pid` ours) with [`MAGIC`] as the value. Foreign `SIGALRM`s go to the previous action, so
//!   a user's handler installed before always sees its own. A handler installed after ours is
//!   noticed before the next alarm is sent ([`ensure_installed`]): ours goes back on top and the
//!   newcomer becomes the previous action, so it too sees its own signals and never ours. A
//!   re-entrancy flag breaks the loop when the newcomer itself chains back to us.
//! * The handler is async-signal-safe: no allocation, no lock, no symbolising. It copies the raw
//!   return addresses of the interrupted stack into a preallocated thread-local buffer
//!   ([`Capture`], const-initialised, no destructor) guarded by a re-entrancy flag. The unwinder
//!   is warmed up once in [`install`] so its first use is not inside a handler.
//! * Alarms go to one thread only ([`send_alarm`]): never a process-wide `alarm()`.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// The value the detector's alarms carry.
pub(crate) const MAGIC: usize = 0x6772_6565_6e21; // "green!"

/// Return addresses kept per alarm.
pub(crate) const MAX_FRAMES: usize = 64;

/// The interrupted stack of the first alarm of a slice of one hub thread. Written by the signal
/// handler on that thread, read on that thread at the slice's end or from another thread (the
/// SIGQUIT dump): atomics only.
pub(crate) struct Capture {
    busy: AtomicBool,
    /// The probe's switch count when captured: which slice the stack belongs to.
    slice: AtomicU64,
    len: AtomicUsize,
    ips: [AtomicUsize; MAX_FRAMES],
}

impl Capture {
    pub(crate) fn new() -> Capture {
        Capture {
            busy: AtomicBool::new(false),
            slice: AtomicU64::new(u64::MAX),
            len: AtomicUsize::new(0),
            ips: [const { AtomicUsize::new(0) }; MAX_FRAMES],
        }
    }

    /// Takes the stack captured for slice `slice` (empty if none).
    pub(crate) fn take(&self, slice: u64) -> Vec<usize> {
        self.read(slice, true)
    }

    /// Reads the stack captured for slice `slice` without taking it.
    pub(crate) fn peek(&self, slice: u64) -> Vec<usize> {
        self.read(slice, false)
    }

    fn read(&self, slice: u64, take: bool) -> Vec<usize> {
        if self.busy.swap(true, Ordering::Acquire) {
            return Vec::new();
        }
        let n = self.len.load(Ordering::SeqCst).min(MAX_FRAMES);
        let mine = self.slice.load(Ordering::SeqCst) == slice;
        let v = if mine { (0..n).map(|i| self.ips[i].load(Ordering::Relaxed)).collect() } else { Vec::new() };
        if take && mine {
            self.len.store(0, Ordering::SeqCst);
            self.slice.store(u64::MAX, Ordering::SeqCst);
        }
        self.busy.store(false, Ordering::Release);
        v
    }
}

thread_local! {
    /// This thread's hub probe while detection is on (null otherwise).
    static PROBE: Cell<*const green::probe::Probe> = const { Cell::new(std::ptr::null()) };
    /// This thread's capture buffer while detection is on (null otherwise).
    static CAPTURE: Cell<*const Capture> = const { Cell::new(std::ptr::null()) };
}

/// Points the handler at this thread's probe and capture buffer (`None`: detection off). The
/// caller keeps both alive while they are set.
pub(crate) fn set_targets(t: Option<(&std::sync::Arc<green::probe::Probe>, &std::sync::Arc<Capture>)>) {
    PROBE.with(|c| c.set(t.map_or(std::ptr::null(), |x| std::sync::Arc::as_ptr(x.0))));
    CAPTURE.with(|c| c.set(t.map_or(std::ptr::null(), |x| std::sync::Arc::as_ptr(x.1))));
}

static INSTALL: Once = Once::new();
/// The previous action's handler (`SIG_DFL`, `SIG_IGN` or a function address) and flags; written
/// by [`install`] and [`ensure_installed`], read by the handler.
static PREV_HANDLER: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
static PREV_FLAGS: AtomicI32 = AtomicI32::new(0);
/// Seqlock over `PREV_HANDLER` and `PREV_FLAGS`: odd while a writer (serialised by
/// `INSTALLING`, on a thread that blocks SIGALRM) updates them, so the handler never pairs a
/// function with the wrong flags.
static PREV_SEQ: AtomicUsize = AtomicUsize::new(0);
/// Serialises (re)installation.
static INSTALLING: Mutex<()> = Mutex::new(());

/// Installs the `SIGALRM` handler once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        // Warm the unwinder up outside any handler.
        let mut n = 0;
        backtrace::trace(|_| {
            n += 1;
            n < 8
        });
        put_on_top();
    });
}

/// Puts our handler back on top if another one replaced it since (see the module docs).
pub(crate) fn ensure_installed() {
    let mut cur = empty_action();
    // SAFETY: a null new action only queries; `cur` is a valid out-pointer on this frame.
    let r = unsafe { libc::sigaction(libc::SIGALRM, std::ptr::null(), &mut cur) };
    if r == 0 && cur.sa_sigaction != on_sigalrm as *const () as usize {
        put_on_top();
    }
}

fn empty_action() -> libc::sigaction {
    // SAFETY: sigaction is a plain C struct for which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

fn put_on_top() {
    let _g = INSTALLING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut act = empty_action();
    act.sa_sigaction = on_sigalrm as *const () as usize;
    act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
    let mut old = empty_action();
    // SAFETY: `act` is fully initialised (handler, flags, and an emptied mask) and `old` is a
    // valid out-pointer; both outlive the calls.
    unsafe {
        libc::sigemptyset(&mut act.sa_mask);
        if libc::sigaction(libc::SIGALRM, &act, &mut old) != 0 {
            return;
        }
    }
    if old.sa_sigaction != on_sigalrm as *const () as usize {
        PREV_SEQ.fetch_add(1, Ordering::SeqCst);
        PREV_FLAGS.store(old.sa_flags, Ordering::SeqCst);
        PREV_HANDLER.store(old.sa_sigaction, Ordering::SeqCst);
        PREV_SEQ.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    /// Set while our handler calls the previous action (breaks handler cycles).
    static CHAINING: Cell<bool> = const { Cell::new(false) };
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
        let p = PROBE.try_with(Cell::get).unwrap_or(std::ptr::null());
        let c = CAPTURE.try_with(Cell::get).unwrap_or(std::ptr::null());
        if p.is_null() || c.is_null() {
            return;
        }
        // SAFETY: non-null PROBE and CAPTURE point into an `Arc<Probe>` and an `Arc<Capture>` the
        // detector keeps alive while they are set (cleared before the Arcs are dropped); only
        // atomics are touched, which is async-signal-safe.
        let (probe, c) = unsafe { (&*p, &*c) };
        let slice = probe.switches();
        if c.busy.swap(true, Ordering::Acquire) {
            return;
        }
        if !(c.slice.load(Ordering::Relaxed) == slice && c.len.load(Ordering::Relaxed) > 0) {
            let mut n = 0;
            // SAFETY: the unsynchronised trace is used from a signal handler on purpose: it takes
            // no lock and allocates nothing (the libgcc unwinder, warmed up in `install`); the
            // closure only stores into the preallocated buffer.
            unsafe {
                backtrace::trace_unsynchronized(|f| {
                    if n < MAX_FRAMES {
                        c.ips[n].store(f.ip() as usize, Ordering::Relaxed);
                        n += 1;
                    }
                    n < MAX_FRAMES
                });
            }
            c.len.store(n, Ordering::Relaxed);
            c.slice.store(slice, Ordering::Relaxed);
        }
        c.busy.store(false, Ordering::Release);
        return;
    }
    // A foreign SIGALRM: hand it to whoever had the signal before us, once.
    if CHAINING.try_with(|c| c.replace(true)).unwrap_or(true) {
        return; // the previous action chained back to us: stop here
    }
    let (handler, flags) = loop {
        let s1 = PREV_SEQ.load(Ordering::SeqCst);
        if s1 & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let pair = (PREV_HANDLER.load(Ordering::SeqCst), PREV_FLAGS.load(Ordering::SeqCst));
        if PREV_SEQ.load(Ordering::SeqCst) == s1 {
            break pair;
        }
    };
    if handler == libc::SIG_IGN {
        // ignored before us: ignored still
    } else if handler != libc::SIG_DFL {
        call_previous(handler, flags, sig, info, ctx);
    } else {
        // The default action of SIGALRM terminates the process: do what it would have done.
        // SAFETY: signal and raise are async-signal-safe.
        unsafe {
            libc::signal(libc::SIGALRM, libc::SIG_DFL);
            libc::raise(libc::SIGALRM);
        }
    }
    let _ = CHAINING.try_with(|c| c.set(false));
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

/// Blocks SIGALRM on the calling thread (the watchdog: foreign alarms go elsewhere, and the
/// handler never interrupts a rewrite of the handler chain).
pub(crate) fn block_sigalrm_here() {
    // SAFETY: `set` is a valid sigset_t on this frame, initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// The calling thread, addressable by a test that storms it with the detector's own alarms.
pub(crate) fn current_thread() -> Thread {
    Thread::current()
}

/// Sends the detector's alarm to `t` only.
pub(crate) fn send_alarm(t: &Thread) -> bool {
    ensure_installed();
    let value = libc::sigval { sival_ptr: MAGIC as *mut libc::c_void };
    // SAFETY: `t` is a registered thread (the registry drops it before the thread exits) and the
    // handler for SIGALRM is installed before any thread is registered.
    unsafe { libc::pthread_sigqueue(t.pthread, libc::SIGALRM, value) == 0 }
}

/// Calls a previous signal handler (a function address, not `SIG_DFL`/`SIG_IGN`) with the
/// arguments its flags say it takes.
fn call_previous(
    handler: usize,
    flags: libc::c_int,
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous action was installed with SA_SIGINFO, so `handler` is a
        // three-argument handler; we pass it the arguments we received.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the previous action is a one-argument handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

static OVERFLOW_INSTALL: Once = Once::new();
static PREV_SEGV_HANDLER: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);
static PREV_SEGV_FLAGS: AtomicI32 = AtomicI32::new(0);

/// Installs the `SIGSEGV` handler of the overflow detector once per process, on the alternate
/// signal stack (the faulting stack is full), chaining to the previous handler (std's).
pub(crate) fn install_overflow() {
    OVERFLOW_INSTALL.call_once(|| {
        let mut act = empty_action();
        act.sa_sigaction = on_sigsegv as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        let mut old = empty_action();
        // SAFETY: `act` is fully initialised and `old` is a valid out-pointer; both outlive the
        // calls. The previous handler is published before ours can run (it is installed by this
        // very call, and a fault before then goes to the previous handler directly).
        unsafe {
            libc::sigemptyset(&mut act.sa_mask);
            let mut probe = empty_action();
            if libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut probe) == 0 {
                PREV_SEGV_FLAGS.store(probe.sa_flags, Ordering::SeqCst);
                PREV_SEGV_HANDLER.store(probe.sa_sigaction, Ordering::SeqCst);
            }
            libc::sigaction(libc::SIGSEGV, &act, &mut old);
        }
    });
}

extern "C" fn on_sigsegv(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = if info.is_null() { 0 } else { unsafe { (*info).si_addr() as usize } };
    let mut buf = [0u8; 512];
    if let Some(n) = green::probe::overflow_report(addr, &mut buf) {
        // SAFETY: write(2) is async-signal-safe; `buf[..n]` is initialised.
        unsafe {
            libc::write(2, buf.as_ptr().cast(), n);
        }
    }
    let handler = PREV_SEGV_HANDLER.load(Ordering::SeqCst);
    let flags = PREV_SEGV_FLAGS.load(Ordering::SeqCst);
    if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
        call_previous(handler, flags, sig, info, ctx);
        return;
    }
    // No previous handler: restore the default action; returning re-runs the faulting
    // instruction, which then ends the process with SIGSEGV as usual.
    // SAFETY: signal is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
    }
}
