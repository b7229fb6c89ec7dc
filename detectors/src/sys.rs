//! Signal plumbing, thread clocks and the scheduler's view of a thread: every `unsafe` block of
//! the detectors.
//!
//! # Contract
//!
//! * [`install`] puts [`on_sigalrm`] in place for `SIGALRM` with `sigaction` (once per process),
//!   remembering the previous action. The handler tells the detector's own alarms from foreign
//!   ones by their origin: sent with `pthread_sigqueue` from this process (`si_code == SI_QUEUE`,
//!   `si_pid` ours) with [`MAGIC`] as the value. Foreign `SIGALRM`s go to the previous action, so
//!   a user's handler installed before always sees its own. A handler installed after ours is
//!   noticed before the next alarm is sent ([`ensure_installed`]): ours goes back on top and the
//!   newcomer becomes the newest previous action, so it too sees its own signals and never ours.
//!   When the newcomer chains back to us (it calls the action it replaced, ours), the signal goes
//!   on to the next older action, so a handler installed before us still sees it; a per-thread
//!   depth ends the chain after the oldest. Previous actions are published (a seqlock, written
//!   with `SIGALRM` blocked on the writer's thread) before our handler is installed over them.
//! * The handler is async-signal-safe: no allocation, no lock, no symbolising. It copies the raw
//!   return addresses of the interrupted stack into a preallocated thread-local buffer
//!   ([`Capture`], const-initialised, no destructor) guarded by a re-entrancy flag. The unwinder
//!   is warmed up once in [`install`] so its first use is not inside a handler.
//! * Alarms go to one thread only ([`send_alarm`]): never a process-wide `alarm()`.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicUsize, Ordering};
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
    /// Where the thread was blocked in a system call when the alarm was sent (user `pc` after the
    /// `syscall` instruction, and `sp`), read by the sender from `/proc`; 0 when it was not.
    restart_pc: AtomicUsize,
    restart_sp: AtomicUsize,
    /// The number of that system call.
    restart_nr: AtomicI64,
    /// The label of the greenthread the captured stack belongs to (`#2 "hog"`).
    label: [std::sync::atomic::AtomicU8; LABEL_MAX],
    label_len: AtomicUsize,
}

/// Bytes of a greenthread label kept per capture.
const LABEL_MAX: usize = 96;

impl Capture {
    pub(crate) fn new() -> Capture {
        Capture {
            busy: AtomicBool::new(false),
            slice: AtomicU64::new(u64::MAX),
            len: AtomicUsize::new(0),
            ips: [const { AtomicUsize::new(0) }; MAX_FRAMES],
            restart_pc: AtomicUsize::new(0),
            restart_sp: AtomicUsize::new(0),
            restart_nr: AtomicI64::new(-1),
            label: [const { std::sync::atomic::AtomicU8::new(0) }; LABEL_MAX],
            label_len: AtomicUsize::new(0),
        }
    }

    /// Before an alarm is sent to `t`: records the system call `t` is blocked in, if any, so that
    /// the handler can restart it when the alarm interrupted it (see [`restart_if_interrupted`]).
    pub(crate) fn note_blocked_syscall(&self, t: &Thread) {
        let (nr, pc, sp) = t.blocked_syscall().unwrap_or((-1, 0, 0));
        self.restart_nr.store(nr, Ordering::SeqCst);
        self.restart_sp.store(sp, Ordering::SeqCst);
        self.restart_pc.store(pc, Ordering::SeqCst);
    }

    /// Takes the stack captured for slice `slice` (empty if none).
    pub(crate) fn take(&self, slice: u64) -> Vec<usize> {
        self.read(slice, true)
    }

    /// Reads the stack captured for slice `slice` without taking it.
    /// The label of the greenthread of the capture of `slice`, if any.
    pub(crate) fn label(&self, slice: u64) -> Option<String> {
        if self.slice.load(Ordering::SeqCst) != slice {
            return None;
        }
        let n = self.label_len.load(Ordering::SeqCst).min(LABEL_MAX);
        let bytes: Vec<u8> = self.label[..n].iter().map(|b| b.load(Ordering::Relaxed)).collect();
        (n > 0).then(|| String::from_utf8_lossy(&bytes).into_owned())
    }

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

/// Clears this thread's targets if they point at `c` (its owner is going away).
pub(crate) fn clear_targets_if(c: &std::sync::Arc<Capture>) {
    let ours = CAPTURE.try_with(|x| x.get() == std::sync::Arc::as_ptr(c)).unwrap_or(false);
    if ours {
        set_targets(None);
    }
}

/// Points the handler at this thread's probe and capture buffer (`None`: detection off). The
/// caller keeps both alive while they are set.
pub(crate) fn set_targets(t: Option<(&std::sync::Arc<green::probe::Probe>, &std::sync::Arc<Capture>)>) {
    PROBE.with(|c| c.set(t.map_or(std::ptr::null(), |x| std::sync::Arc::as_ptr(x.0))));
    CAPTURE.with(|c| c.set(t.map_or(std::ptr::null(), |x| std::sync::Arc::as_ptr(x.1))));
}

static INSTALL: Once = Once::new();
/// Most previous actions kept (handlers installed over ours, each put under ours again).
const MAX_PREV: usize = 8;
/// The actions our handler chains foreign `SIGALRM`s to, oldest first: the one we replaced at
/// install, then each handler installed over ours since (see [`ensure_installed`]); handler
/// (`SIG_DFL`, `SIG_IGN` or a function address) and flags. Written by [`publish_previous`], read
/// by the handler.
static PREV_HANDLERS: [AtomicUsize; MAX_PREV] = [const { AtomicUsize::new(libc::SIG_DFL) }; MAX_PREV];
static PREV_FLAGS: [AtomicI32; MAX_PREV] = [const { AtomicI32::new(0) }; MAX_PREV];
static PREV_LEN: AtomicUsize = AtomicUsize::new(0);
/// Seqlock over the previous actions: odd while a writer (serialised by `INSTALLING`, with
/// SIGALRM blocked on its thread) updates them, so the handler never pairs a function with the
/// wrong flags.
static PREV_SEQ: AtomicUsize = AtomicUsize::new(0);
/// Serialises (re)installation.
static INSTALLING: Mutex<()> = Mutex::new(());

/// Installs the `SIGALRM` handler once per process.
/// Running under valgrind, which emulates system calls: the interrupted call's program counter
/// is valgrind's, not the program's, so an interrupted call is not restarted there (it may then
/// see `EINTR`, as it would without the restart).
static UNDER_VALGRIND: AtomicBool = AtomicBool::new(false);

pub(crate) fn install() {
    INSTALL.call_once(|| {
        UNDER_VALGRIND.store(std::env::var("LD_PRELOAD").is_ok_and(|v| v.contains("vgpreload")), Ordering::Relaxed);
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

/// Blocks `SIGALRM` on the calling thread while it lives, restoring the previous mask on drop: a
/// seqlock writer must never be interrupted by a handler that spins until the sequence is even.
struct SigalrmBlocked(libc::sigset_t);

impl SigalrmBlocked {
    fn new() -> SigalrmBlocked {
        // SAFETY: both sets are valid sigset_t values on this frame, initialised by sigemptyset
        // (the old one is written by pthread_sigmask before it is read).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigemptyset(&mut old);
            libc::sigaddset(&mut set, libc::SIGALRM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SigalrmBlocked(old)
        }
    }
}

impl Drop for SigalrmBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `new` on this same thread (the guard is !Send
        // in practice: it is only ever a local of the function that made it).
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
        }
    }
}

/// Publishes the action our handler chains foreign `SIGALRM`s to (the seqlock writer). The
/// caller holds `INSTALLING` and has `SIGALRM` blocked.
fn publish_previous(handler: usize, flags: libc::c_int) {
    let len = PREV_LEN.load(Ordering::SeqCst);
    if (0..len).any(|i| PREV_HANDLERS[i].load(Ordering::SeqCst) == handler) {
        return; // already in the chain (a handler installed over ours again)
    }
    let i = len.min(MAX_PREV - 1);
    PREV_SEQ.fetch_add(1, Ordering::SeqCst);
    PREV_FLAGS[i].store(flags, Ordering::SeqCst);
    PREV_HANDLERS[i].store(handler, Ordering::SeqCst);
    PREV_LEN.store(i + 1, Ordering::SeqCst);
    PREV_SEQ.fetch_add(1, Ordering::SeqCst);
}

fn put_on_top() {
    // SIGALRM stays blocked on this thread while the chain is rewritten: a handler landing while
    // the sequence is odd would spin for ever.
    let _blocked = SigalrmBlocked::new();
    let _g = INSTALLING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ours = on_sigalrm as *const () as usize;
    let mut cur = empty_action();
    // SAFETY: a null new action only queries; `cur` is a valid out-pointer on this frame.
    if unsafe { libc::sigaction(libc::SIGALRM, std::ptr::null(), &mut cur) } != 0 || cur.sa_sigaction == ours {
        return;
    }
    // Publish the action we are about to replace before ours goes live: a foreign SIGALRM
    // landing right after the install must find it (not SIG_DFL, which ends the process).
    publish_previous(cur.sa_sigaction, cur.sa_flags);
    let mut act = empty_action();
    act.sa_sigaction = ours;
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
    if old.sa_sigaction != ours && (old.sa_sigaction, old.sa_flags) != (cur.sa_sigaction, cur.sa_flags) {
        // Someone installed a handler between the query and ours: it is the previous one now.
        publish_previous(old.sa_sigaction, old.sa_flags);
    }
}

thread_local! {
    /// How many previous actions our handler is inside on this thread: a previous action that
    /// chains back to us (a handler installed over ours that calls the action it replaced) gets
    /// the next older one, and the chain ends after the oldest.
    static CHAIN_DEPTH: Cell<usize> = const { Cell::new(0) };
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
            // Who holds the hub, named (async-signal-safe: no allocation, no lock).
            let mut label = [0u8; LABEL_MAX];
            let len = green::probe::current_label(&mut label).unwrap_or(0);
            for (slot, b) in c.label.iter().zip(&label[..len]) {
                slot.store(*b, Ordering::Relaxed);
            }
            c.label_len.store(len, Ordering::Relaxed);
            c.slice.store(slice, Ordering::Relaxed);
        }
        c.busy.store(false, Ordering::Release);
        restart_if_interrupted(c, ctx);
        return;
    }
    // A foreign SIGALRM: hand it to whoever had the signal before us, newest first.
    let Ok(depth) = CHAIN_DEPTH.try_with(Cell::get) else { return };
    let (handler, flags) = loop {
        let s1 = PREV_SEQ.load(Ordering::SeqCst);
        if s1 & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let len = PREV_LEN.load(Ordering::SeqCst);
        let pair = if depth < len {
            let i = len - 1 - depth;
            Some((PREV_HANDLERS[i].load(Ordering::SeqCst), PREV_FLAGS[i].load(Ordering::SeqCst)))
        } else if depth == 0 {
            Some((libc::SIG_DFL, 0)) // nothing published: the default action
        } else {
            None // the oldest action chained back to us: the chain ends here
        };
        if PREV_SEQ.load(Ordering::SeqCst) == s1 {
            match pair {
                Some(p) => break p,
                None => return,
            }
        }
    };
    let _ = CHAIN_DEPTH.try_with(|c| c.set(depth + 1));
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
    let _ = CHAIN_DEPTH.try_with(|c| c.set(depth));
}

/// The detector's own alarm must never fail a user's call: a blocking system call it interrupts
/// that `SA_RESTART` does not restart (`poll`, `epoll_wait`, `nanosleep`, `clock_nanosleep`,
/// `select`, socket calls with a timeout, timed futex waits: those the kernel ends with `EINTR`
/// whenever a handler runs) is restarted here, as the kernel restarts the others: the saved
/// context is rewound to the `syscall` instruction with the call's number back in `rax` (its
/// arguments are still in their registers). It happens only when the interrupted context is the
/// very system call the sender saw blocking (same `pc` and `sp`, from `/proc`) and it returned
/// `EINTR`. A restarted call starts over: a relative timeout runs again in full (later, never
/// earlier, and at most once per over-budget slice). Foreign signals are left alone.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn restart_if_interrupted(c: &Capture, ctx: *mut libc::c_void) {
    let pc = c.restart_pc.swap(0, Ordering::SeqCst);
    let sp = c.restart_sp.load(Ordering::SeqCst);
    if pc < 2 || ctx.is_null() || UNDER_VALGRIND.load(Ordering::Relaxed) {
        return;
    }
    let nr = c.restart_nr.load(Ordering::SeqCst);
    if nr < 0 || !after_syscall_instruction(pc) {
        return;
    }
    // SAFETY: for an SA_SIGINFO handler the kernel passes a valid ucontext_t as the third
    // argument; the registers saved in it are restored by sigreturn, so rewriting them here is how
    // a handler changes the interrupted context. Only plain integers are read and written.
    unsafe {
        let g = &mut (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs;
        let (rip, rsp, rax) =
            (g[libc::REG_RIP as usize] as usize, g[libc::REG_RSP as usize] as usize, g[libc::REG_RAX as usize]);
        if rip == pc && rsp == sp && rax == -(libc::EINTR as i64) {
            g[libc::REG_RAX as usize] = nr;
            g[libc::REG_RIP as usize] = (pc - 2) as i64;
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn restart_if_interrupted(c: &Capture, _ctx: *mut libc::c_void) {
    c.restart_pc.store(0, Ordering::SeqCst);
}

/// True when the instruction before `pc` is `syscall`.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn after_syscall_instruction(pc: usize) -> bool {
    // SAFETY: `pc` is the user address right after the instruction the thread was blocked on in
    // a system call (from /proc): the two bytes before it are mapped code of this process.
    let insn = unsafe { std::ptr::read_unaligned((pc - 2) as *const [u8; 2]) };
    insn == [0x0f, 0x05]
}

/// An OS thread, as the detector addresses it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Thread {
    pthread: libc::pthread_t,
    tid: libc::pid_t,
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
            Thread { pthread, tid: libc::gettid(), cpu_clock }
        }
    }

    /// The system call the thread is blocked in right now, as `/proc/self/task/<tid>/syscall`
    /// shows it: its number, its user `pc` (after the `syscall` instruction) and `sp`. `None`
    /// when it runs or is not in a system call.
    fn blocked_syscall(&self) -> Option<(i64, usize, usize)> {
        let text = std::fs::read_to_string(format!("/proc/self/task/{}/syscall", self.tid)).ok()?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        let nr: i64 = fields.first()?.parse().ok()?;
        if nr < 0 || fields.len() < 9 {
            return None;
        }
        let hex = |s: &str| usize::from_str_radix(s.trim_start_matches("0x"), 16).ok();
        let (sp, pc) = (hex(fields[7])?, hex(fields[8])?);
        Some((nr, pc, sp))
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

/// The scheduler's view of one hub thread, read from `/proc` by the watchdog: is the thread
/// runnable (on a CPU or waiting for one) and how long has it waited for a CPU in total (the
/// kernel's run delay). Time spent waiting for a CPU is the machine's, not the slice's: a busy
/// `cargo test` on two cores keeps a hub thread queued for milliseconds between two switches.
pub(crate) struct SchedView {
    stat: std::fs::File,
    schedstat: std::fs::File,
}

/// One reading of a [`SchedView`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SchedSample {
    /// The thread is running or waiting for a CPU (`R`), not sleeping in a system call.
    pub(crate) runnable: bool,
    /// Total time the thread has waited in a run queue, completed waits only: a wait in progress
    /// is added when the thread next gets a CPU.
    pub(crate) run_delay: Duration,
}

impl SchedView {
    /// The calling thread's view, or `None` where `/proc/thread-self/schedstat` is missing (a
    /// kernel without `CONFIG_SCHED_INFO`): the watchdog then counts wall time only.
    pub(crate) fn of_current_thread() -> Option<SchedView> {
        let stat = std::fs::File::open("/proc/thread-self/stat").ok()?;
        let schedstat = std::fs::File::open("/proc/thread-self/schedstat").ok()?;
        let view = SchedView { stat, schedstat };
        view.sample().map(|_| view)
    }

    /// The thread's total run delay (one `pread`); `None` when it cannot be read.
    pub(crate) fn run_delay(&self) -> Option<Duration> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 128];
        let n = self.schedstat.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        // `<ns on cpu> <ns waiting for a cpu> <timeslices>`
        let ns: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
        Some(Duration::from_nanos(ns))
    }

    /// Reads both files (two `pread`s); `None` when either cannot be read or parsed.
    pub(crate) fn sample(&self) -> Option<SchedSample> {
        use std::os::unix::fs::FileExt;
        let run_delay = self.run_delay()?;
        let mut buf = [0u8; 1024];
        let n = self.stat.read_at(&mut buf, 0).ok()?;
        // `pid (comm) S ...`: the command may hold spaces and parentheses, the state follows the
        // last `)`.
        let close = buf[..n].iter().rposition(|&b| b == b')')?;
        let state = *buf[close + 1..n].iter().find(|b| !b.is_ascii_whitespace())?;
        Some(SchedSample { runnable: state == b'R', run_delay })
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

/// Bytes of the alternate signal stack [`ensure_alt_stack`] gives a thread that has none.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// The alternate signal stack this module mapped for the calling thread; unmapped (after being
/// disabled) when the thread exits.
struct AltStack {
    base: *mut libc::c_void,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let off = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: ALT_STACK_SIZE };
        // SAFETY: the thread is exiting and not in a signal handler; `off` disables its
        // alternate stack before the mapping (ours, of ALT_STACK_SIZE bytes) goes.
        unsafe {
            libc::sigaltstack(&off, std::ptr::null_mut());
            libc::munmap(self.base, ALT_STACK_SIZE);
        }
    }
}

thread_local! {
    static ALT_STACK: std::cell::RefCell<Option<AltStack>> = const { std::cell::RefCell::new(None) };
}

/// Gives the calling thread an alternate signal stack if it has none, so that the overflow
/// handler (`SA_ONSTACK`) has a stack to run on when the faulting one is full. The standard
/// library gives one to the main thread and to the threads it spawns; a thread made otherwise
/// (by C code, say) has none, and an overflow there would end in a bare `SIGSEGV`.
pub(crate) fn ensure_alt_stack() {
    let mut cur = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: 0, ss_size: 0 };
    // SAFETY: a null new stack only queries; `cur` is a valid out-pointer.
    if unsafe { libc::sigaltstack(std::ptr::null(), &mut cur) } != 0 || cur.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    // SAFETY: an anonymous private mapping with no address hint; the result is checked.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            ALT_STACK_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return;
    }
    let st = libc::stack_t { ss_sp: base, ss_flags: 0, ss_size: ALT_STACK_SIZE };
    // SAFETY: `st` describes the mapping made above, which stays mapped until the thread-local
    // guard disables the alternate stack and unmaps it at thread exit.
    if unsafe { libc::sigaltstack(&st, std::ptr::null_mut()) } != 0 {
        // SAFETY: the mapping was not installed; nothing else refers to it.
        unsafe { libc::munmap(base, ALT_STACK_SIZE) };
        return;
    }
    let _ = ALT_STACK.try_with(|a| *a.borrow_mut() = Some(AltStack { base }));
}

/// Installs the `SIGSEGV` handler of the overflow detector once per process, on the alternate
/// signal stack (the faulting stack is full), chaining to the previous handler (std's); gives
/// the calling thread an alternate stack if it has none ([`ensure_alt_stack`]).
pub(crate) fn install_overflow() {
    ensure_alt_stack();
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

/// Appends the calling stack's return addresses (at most [`MAX_FRAMES`]) to `ips`, without
/// backtrace's global lock: this may run while this very thread waits for that lock (a futex wait
/// reported by the interposer inside `backtrace::trace`), where the locked API would re-enter it
/// unlocked. Only the unwinder runs (libgcc's, thread-safe); nothing is symbolised.
pub(crate) fn trace_here(ips: &mut Vec<usize>) {
    // SAFETY: on Linux the unsynchronised trace is libgcc's `_Unwind_Backtrace` over this thread's
    // own stack, which is thread-safe; it does not touch backtrace's symbolisation cache (the
    // state its lock guards). The closure only pushes to a Vec this frame owns.
    unsafe {
        backtrace::trace_unsynchronized(|f| {
            ips.push(f.ip() as usize);
            ips.len() < MAX_FRAMES
        });
    }
}

/// The dynamic symbol containing code address `addr` and the file name of its object (as
/// `dladdr` finds them): names frames of libraries without debug information (libc's).
pub(crate) fn object_symbol(addr: usize) -> Option<(Option<String>, String, usize)> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only reads the loader's tables and writes `info`; any address is allowed.
    if unsafe { libc::dladdr(addr as *const libc::c_void, info.as_mut_ptr()) } == 0 {
        return None;
    }
    // SAFETY: dladdr succeeded, so `info` is written (it was zeroed before anyway).
    let info = unsafe { info.assume_init() };
    let cstr = |p: *const libc::c_char| {
        // SAFETY: non-null dladdr strings are NUL-terminated and live as long as their object.
        (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    let file = cstr(info.dli_fname)?;
    Some((cstr(info.dli_sname), file, info.dli_saddr as usize))
}

static FORK_HANDLERS: Once = Once::new();

/// Registers the detectors' `fork` handlers once per process: the detectors' locks are taken
/// around `fork` (so the child never inherits one held by a thread it does not have), and the
/// child forgets the parent's detection state (see [`crate::blocking::after_fork_in_child`]).
pub(crate) fn register_fork_handlers() {
    FORK_HANDLERS.call_once(|| {
        // SAFETY: the three handlers are plain `extern "C" fn()`s that live for the whole process.
        unsafe {
            libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
        }
    });
}

extern "C" fn fork_prepare() {
    crate::blocking::before_fork();
}

extern "C" fn fork_parent() {
    crate::blocking::after_fork_in_parent();
}

extern "C" fn fork_child() {
    crate::blocking::after_fork_in_child();
}

/// Locks `INSTALLING` across a fork (see [`register_fork_handlers`]).
pub(crate) fn installing_lock() -> std::sync::MutexGuard<'static, ()> {
    INSTALLING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
