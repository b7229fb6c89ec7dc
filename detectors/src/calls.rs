//! Timing-independent blocking detection: known blocking entry points, reported when called.
//!
//! The sampling detector ([`crate::blocking`]) sees a blocking call only if it lasts longer than
//! its budget; on a fast machine a 1 ms `std::thread::sleep` in a greenthread slips through, yet
//! it stalls every other greenthread of the hub. With the cargo feature `blocking-calls`, this
//! crate interposes the C library's blocking entry points (the executable's definitions win over
//! libc's for every call made through the dynamic linker, Rust's `std` included):
//!
//! * sleeps: `nanosleep`, `clock_nanosleep`, `usleep`;
//! * waits with a timeout: `poll` and `epoll_wait` with a non-zero timeout (the hub's own poller
//!   is recognised and left alone);
//! * blocking socket and pipe I/O: `read`, `recv`, `recvfrom`, `accept`, `accept4`, `connect` on
//!   a socket or pipe without `O_NONBLOCK` (green sockets are non-blocking, so never reported;
//!   regular files are not reported);
//! * futex waits (`syscall(SYS_futex, ...)` with a wait operation): a contended
//!   `std::sync::Mutex`, `Condvar::wait`, `thread::park`, `JoinHandle::join`.
//!
//! Once [`enable`] was called on a hub's thread, such a call made there, by a greenthread, the
//! root or a hub callback, is reported at once with its stack, however short it is, unless a frame
//! of its stack matches the allow-list. Other threads (`tpool` workers, the detectors' own
//! threads) are never reported. Each report is one [`BlockingCall`]; [`take_reports`] drains them.
//!
//! # Ground rules and limits
//!
//! * Until `enable` is first called, an interposed call costs one relaxed atomic load more than
//!   libc's; the calls themselves go straight to the system call.
//! * An uncontended `std::sync::Mutex` makes no system call, so it is not reported: only a lock
//!   that actually waits is.
//! * Calls glibc makes internally (`sleep(3)` through its own `clock_nanosleep`, `fread` through
//!   its own `read`) bypass the dynamic linker and are not seen, except `usleep`, interposed
//!   itself.
//! * x86-64 Linux only (the interposers make the system calls directly); elsewhere [`enable`]
//!   returns an error.
//!
//! ```
//! use std::time::Duration;
//! use green_detectors::calls;
//! // Err(Unsupported) without the `blocking-calls` feature.
//! if calls::enable(calls::CallsConfig::default()).is_ok() {
//!     fn quick_nap() { std::thread::sleep(Duration::from_millis(1)) } // far below any sampling budget
//!     green::Builder::new().name("napper").spawn(quick_nap).wait().unwrap();
//!     let reports = calls::take_reports();
//!     assert_eq!(reports.len(), 1);
//!     assert_eq!(reports[0].call, "clock_nanosleep");
//!     assert_eq!(reports[0].name.as_deref(), Some("napper"));
//!     println!("{}", reports[0]); // BLOCKING CALL clock_nanosleep greenthread=#1 name=napper, then the stack
//!     calls::disable();
//! }
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set once any thread enabled detection: until then the interposers do nothing else.
static ARMED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Detection is on for this thread's hub.
    static ON: Cell<bool> = const { Cell::new(false) };
    /// The detectors' own machinery runs on this thread (a report being made, a stack being
    /// symbolised): the calls it makes are not reported (the re-entrancy guard).
    static BUSY: Cell<bool> = const { Cell::new(false) };
    static STATE: RefCell<State> = const { RefCell::new(State { allow: Vec::new(), probe: None, raw: Vec::new() }) };
}

struct State {
    allow: Vec<String>,
    /// This thread's hub probe, kept so that a report never has to reach the hub itself.
    probe: Option<Arc<green::probe::Probe>>,
    /// Reports as made: raw return addresses, symbolised when taken.
    raw: Vec<Raw>,
}

struct Raw {
    call: &'static str,
    /// libc's function (its start address), shown as the innermost frame; 0 if unknown.
    entry: usize,
    greenthread: u64,
    name: Option<String>,
    ips: Vec<usize>,
}

/// Runs `f` with this thread's blocking calls unreported (the detectors' own machinery).
pub(crate) fn quiet<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = BUSY.try_with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(BUSY.try_with(|b| b.replace(true)).unwrap_or(true));
    f()
}

/// What [`enable`] takes.
///
/// ```
/// let c = green_detectors::calls::CallsConfig { allow: vec!["my_crate::startup".into()] };
/// assert_eq!(c.allow.len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct CallsConfig {
    /// Substrings of frames (`function (file:line)`) that allow a call: a blocking call whose
    /// stack has a matching frame is not reported (startup code, a deliberate blocking section).
    pub allow: Vec<String>,
}

/// One blocking call made on a hub's thread.
///
/// ```
/// let c = green_detectors::calls::BlockingCall {
///     call: "read",
///     greenthread: 3,
///     name: None,
///     frames: vec!["my_fn (src/lib.rs:9)".into()],
/// };
/// assert_eq!(c.to_string().lines().next(), Some("BLOCKING CALL read greenthread=#3 name=-"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockingCall {
    /// The entry point: `clock_nanosleep`, `read`, `poll`, ...
    pub call: &'static str,
    /// Ordinal id of the caller (0 for the root, `u64::MAX` for a hub callback).
    pub greenthread: u64,
    /// Its name.
    pub name: Option<String>,
    /// The caller's stack, innermost first, runtime and detector frames trimmed.
    pub frames: Vec<String>,
}

impl fmt::Display for BlockingCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BLOCKING CALL {} greenthread=#{} name={}",
            self.call,
            self.greenthread,
            self.name.as_deref().unwrap_or("-")
        )?;
        for fr in &self.frames {
            write!(f, "\n    {fr}")?;
        }
        Ok(())
    }
}

/// The error [`enable`] returns where the interposers do not exist.
///
/// ```
/// let e = green_detectors::calls::Unsupported;
/// assert!(e.to_string().contains("blocking-calls"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "green-detectors: timing-independent blocking detection needs the `blocking-calls` cargo feature and \
             x86-64 Linux; enable the feature on the green-detectors dependency (or use the sampling detector)",
        )
    }
}

impl std::error::Error for Unsupported {}

/// Turns timing-independent detection on for this thread's hub.
///
/// ```
/// match green_detectors::calls::enable(Default::default()) {
///     Ok(()) => green_detectors::calls::disable(),
///     Err(e) => assert!(e.to_string().contains("blocking-calls")), // built without the feature
/// }
/// ```
pub fn enable(config: CallsConfig) -> Result<(), Unsupported> {
    if !cfg!(all(feature = "blocking-calls", target_arch = "x86_64", target_os = "linux")) {
        return Err(Unsupported);
    }
    // Keep the interposers' object in the link (nothing else names them).
    #[cfg(all(feature = "blocking-calls", target_arch = "x86_64", target_os = "linux"))]
    std::hint::black_box(crate::interpose::nanosleep as *const ());
    // The hub exists before any call can be checked (its probe says who runs).
    let probe = green::probe::probe();
    crate::sys::register_fork_handlers();
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.allow = config.allow;
        s.probe = Some(probe);
    });
    ON.with(|o| o.set(true));
    ARMED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Turns it off for this thread's hub (reports already made stay readable).
///
/// ```
/// green_detectors::calls::disable();
/// ```
pub fn disable() {
    let _ = ON.try_with(|o| o.set(false));
}

/// Takes the reports made on this thread so far.
///
/// The stacks are symbolised now (not while the blocking call was made: the call may be a wait
/// for the very lock symbolisation takes). Frames of the runtime and the detectors are trimmed;
/// `std` and libc frames stay, the innermost being the C library function called. A report
/// whose stack has a frame matching the allow-list is dropped here.
///
/// ```
/// assert!(green_detectors::calls::take_reports().is_empty());
/// ```
pub fn take_reports() -> Vec<BlockingCall> {
    let raw = STATE.with(|s| std::mem::take(&mut s.borrow_mut().raw));
    if raw.is_empty() {
        return Vec::new();
    }
    let allow = STATE.with(|s| s.borrow().allow.clone());
    crate::blocking::exempt(|| {
        raw.into_iter()
            .filter_map(|r| {
                let mut frames = crate::symbols::symbolize(&r.ips);
                if allow.iter().any(|a| frames.iter().any(|f| f.contains(a.as_str()))) {
                    return None;
                }
                if r.entry != 0 {
                    if let Some(f) = crate::symbols::symbolize_function(r.entry) {
                        frames.insert(0, f);
                    }
                }
                Some(BlockingCall { call: r.call, greenthread: r.greenthread, name: r.name, frames })
            })
            .collect()
    })
}

/// Cheap first test, made on every interposed call: is detection on for this thread, and is
/// this call not one made by the detectors' own machinery?
#[inline]
#[cfg_attr(not(all(feature = "blocking-calls", target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
pub(crate) fn watching() -> bool {
    ARMED.load(Ordering::Relaxed)
        && ON.try_with(Cell::get).unwrap_or(false)
        && !BUSY.try_with(Cell::get).unwrap_or(true)
}

/// Reports `call` (libc's function at `entry`) if it is made from a hub's greenthread, root or
/// callback (not from the hub's own poller). Call only after [`watching`] said yes; called from
/// an `extern "C"` interposer, so it never panics and never unwinds: a report that cannot be made
/// (this thread's state is gone: thread exit) is dropped.
#[cfg_attr(not(all(feature = "blocking-calls", target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
pub(crate) fn blocking_call(call: &'static str, entry: usize) {
    quiet(|| {
        let _ = std::panic::catch_unwind(|| make_report(call, entry));
    });
}

#[cfg_attr(not(all(feature = "blocking-calls", target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
fn make_report(call: &'static str, entry: usize) {
    let Ok(Some(probe)) = STATE.try_with(|s| s.try_borrow().ok().and_then(|s| s.probe.clone())) else { return };
    if probe.in_poll() {
        return;
    }
    let mut ips = Vec::with_capacity(32);
    // Raw addresses only, without backtrace's lock (see `sys::trace_here`).
    crate::sys::trace_here(&mut ips);
    let id = probe.current();
    let name = if id == green::probe::HUB {
        Some("hub callback".to_string())
    } else {
        green::current().name().map(str::to_string)
    };
    let _ = STATE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.raw.push(Raw { call, entry, greenthread: id, name, ips });
        }
    });
}

/// After `fork`, in the child: detection is off on the forking thread (its hub is a new one).
pub(crate) fn after_fork_in_child() {
    let _ = ON.try_with(|o| o.set(false));
    let _ = STATE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.probe = None;
        }
    });
}
