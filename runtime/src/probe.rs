//! The switch probe: what a blocking detector reads about a hub, from another thread.
//!
//! The runtime keeps it up to date at every switch, always (detector on or off): a switch into a
//! greenthread, the root or the hub stores a counter and the id of what now runs; the hub marks
//! the time it spends waiting in the poller, which is nobody's slice. That is two or three
//! relaxed stores per switch, no system call and no allocation.
//!
//! A detector (crate `green-detectors`) watches the probe from a thread of its own. When the
//! counter has not moved for longer than its budget while not in the poller, the slice running
//! now is over budget: it calls [`Probe::raise_alarm`]. The next time the slice ends on the hub's
//! thread (the greenthread's next green call, its end, or the root's next blocking call), the
//! runtime calls the hook installed with [`set_slice_end_hook`] there, in normal context, and acts
//! on its [`SliceVerdict`].
//!
//! ```
//! let p = green::probe::probe();
//! let before = p.switches();
//! green::sleep(std::time::Duration::ZERO);
//! assert!(p.switches() > before && p.alarmed_slice().is_none());
//! ```

use std::cell::RefCell;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::hub::hub;

/// `current` while the hub itself runs (timers, callbacks), not a greenthread.
///
/// ```
/// let seen = std::rc::Rc::new(std::cell::Cell::new(0));
/// let s = seen.clone();
/// green::hub::schedule_call_global(std::time::Duration::ZERO, move || s.set(green::probe::probe().current()));
/// green::sleep(std::time::Duration::from_millis(1));
/// assert_eq!(seen.get(), green::probe::HUB); // the callback ran as the hub
/// ```
pub const HUB: u64 = u64::MAX;

/// A hub's switch probe; see the [module docs](self).
///
/// ```
/// let p = green::probe::probe();
/// let before = p.switches();
/// green::spawn(|| ()).wait().unwrap();
/// assert!(p.switches() > before);
/// assert_eq!(p.current(), 0); // the root runs now
/// ```
#[derive(Debug)]
pub struct Probe {
    switches: AtomicU64,
    current: AtomicU64,
    in_poll: AtomicBool,
    /// The slice (switch count) found over budget; `NONE` when there is none.
    alarmed: AtomicU64,
    /// A stop asked for by [`Probe::stop_run`]: the run's budget in nanoseconds, 0 for none.
    stop: AtomicU64,
}

/// No alarmed slice.
const NONE: u64 = u64::MAX;

impl Default for Probe {
    fn default() -> Self {
        Probe {
            switches: AtomicU64::new(0),
            current: AtomicU64::new(0),
            in_poll: AtomicBool::new(false),
            alarmed: AtomicU64::new(NONE),
            stop: AtomicU64::new(0),
        }
    }
}

impl Probe {
    /// Switches so far; a slice is the time between two consecutive values.
    ///
    /// ```
    /// let p = green::probe::probe();
    /// let before = p.switches();
    /// green::sleep(std::time::Duration::ZERO); // into the hub and back
    /// assert!(p.switches() > before);
    /// ```
    pub fn switches(&self) -> u64 {
        self.switches.load(Ordering::Relaxed)
    }

    /// Id of what runs now: a greenthread's ordinal, 0 for the root, [`HUB`] for the hub.
    ///
    /// ```
    /// let gt = green::spawn(|| green::probe::probe().current());
    /// assert_eq!(gt.wait().unwrap(), gt.id().as_u64());
    /// assert_eq!(green::probe::probe().current(), 0);
    /// ```
    pub fn current(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    /// True while the hub waits in the poller (idle: nobody's slice).
    ///
    /// ```
    /// // Read from another thread while this hub sleeps in its poller.
    /// let p = green::probe::probe();
    /// let watcher = std::thread::spawn(move || {
    ///     let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    ///     while !p.in_poll() && std::time::Instant::now() < until {
    ///         std::thread::yield_now();
    ///     }
    ///     p.in_poll()
    /// });
    /// green::sleep(std::time::Duration::from_millis(300));
    /// assert!(watcher.join().unwrap());
    /// ```
    pub fn in_poll(&self) -> bool {
        self.in_poll.load(Ordering::Relaxed)
    }

    /// Marks slice `slice` (a value of [`switches`](Probe::switches)) as over budget: the
    /// slice-end hook runs when that slice ends. An alarm for a slice that already ended is
    /// ignored, so a late alarm never blames the next slice.
    ///
    /// ```
    /// let p = green::probe::Probe::default(); // a probe of no hub
    /// p.raise_alarm(3);
    /// assert_eq!(p.alarmed_slice(), Some(3));
    /// ```
    pub fn raise_alarm(&self, slice: u64) {
        self.alarmed.store(slice, Ordering::Release);
    }

    /// The alarmed slice, if any is pending.
    ///
    /// ```
    /// assert_eq!(green::probe::Probe::default().alarmed_slice(), None);
    /// ```
    pub fn alarmed_slice(&self) -> Option<u64> {
        let a = self.alarmed.load(Ordering::Acquire);
        (a != NONE).then_some(a)
    }

    /// Withdraws any pending alarm (detection turned on or off).
    ///
    /// ```
    /// let p = green::probe::Probe::default();
    /// p.raise_alarm(1);
    /// p.clear_alarm();
    /// assert_eq!(p.alarmed_slice(), None);
    /// ```
    pub fn clear_alarm(&self) {
        self.alarmed.store(NONE, Ordering::Release);
    }

    /// Asks the hub, from any thread, to end what it runs: at its next pass the root panics with
    /// a report that the run passed its wall-clock `budget` while the hub kept switching
    /// (greenthreads that never finish, a livelock), with every greenthread's wait reason. The
    /// harness's budget watchdog calls it, so a run that keeps yielding fails as that run
    /// instead of ending the process. A hub that never reaches a pass (a busy loop, a blocking
    /// call) cannot act on it. Only hubs built with the `test-hooks` feature (which
    /// `green-harness` turns on) check for it, so a plain build pays nothing per pass. Taken
    /// when acted on; [`cancel_stop`](Probe::cancel_stop) withdraws it.
    ///
    /// ```
    /// use std::time::Duration;
    /// // From another thread, as the harness's watchdog does (`probe()` is this thread's hub's).
    /// let p = green::probe::probe();
    /// let watchdog = std::thread::spawn(move || {
    ///     p.stop_run(Duration::from_secs(1));
    ///     assert!(p.stop_pending());
    ///     p.cancel_stop(); // the run it was meant for ended
    ///     assert!(!p.stop_pending());
    /// });
    /// watchdog.join().unwrap();
    /// ```
    pub fn stop_run(&self, budget: Duration) {
        let ns = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.stop.store(ns, Ordering::Release);
    }

    /// Withdraws a [`stop_run`](Probe::stop_run) not yet acted on (the run it was meant for
    /// ended).
    ///
    /// ```
    /// let p = green::probe::probe();
    /// p.stop_run(std::time::Duration::from_secs(1));
    /// p.cancel_stop();
    /// green::sleep(std::time::Duration::ZERO); // a pass: nothing happens
    /// ```
    pub fn cancel_stop(&self) {
        self.stop.store(0, Ordering::Release);
    }

    /// Whether a [`stop_run`](Probe::stop_run) still waits for the hub's next pass (a hub that
    /// is tearing down, or never reaches a pass, leaves it pending).
    ///
    /// ```
    /// let p = green::probe::probe();
    /// assert!(!p.stop_pending());
    /// ```
    #[inline]
    pub fn stop_pending(&self) -> bool {
        self.stop.load(Ordering::Relaxed) != 0
    }

    /// Takes a pending stop request: the budget it names.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn take_stop(&self) -> Option<Duration> {
        let ns = self.stop.swap(0, Ordering::AcqRel);
        (ns != 0).then(|| Duration::from_nanos(ns))
    }

    #[inline]
    pub(crate) fn switch_to(&self, id: u64) {
        // One writer (the hub's thread): a load and a store, no read-modify-write.
        self.switches.store(self.switches.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        self.current.store(id, Ordering::Relaxed);
    }

    /// Starts a new slice without changing who runs (each hub callback is a slice of its own).
    #[inline]
    pub(crate) fn new_slice(&self) {
        self.switches.store(self.switches.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn set_in_poll(&self, on: bool) {
        self.in_poll.store(on, Ordering::Relaxed);
        if !on {
            // Leaving the poller starts a new slice of the hub.
            self.switch_to(HUB);
        }
    }

    /// Marks work the detector must not count (formatting a dump: symbolising is slow): while
    /// exempt the hub looks idle; leaving starts a new slice for the same greenthread.
    ///
    /// A slice already alarmed before the exempt work stays the same slice (its report still
    /// comes when it ends, with the exempt time in it): a new slice would leave the alarm stale,
    /// and the blocking it found unreported.
    pub(crate) fn exempt(&self, on: bool) {
        self.in_poll.store(on, Ordering::Relaxed);
        if !on {
            let now = self.switches.load(Ordering::Relaxed);
            if self.alarmed.load(Ordering::Acquire) != now {
                self.switches.store(now.wrapping_add(1), Ordering::Relaxed);
            }
        }
    }

    /// True when the slice ending now (the current switch count) was alarmed; takes the alarm.
    /// A stale alarm (for a slice that ended unchecked) is dropped.
    #[inline]
    pub(crate) fn take_alarm(&self) -> bool {
        let a = self.alarmed.load(Ordering::Relaxed);
        if a == NONE {
            return false;
        }
        let now = self.switches.load(Ordering::Relaxed);
        match self.alarmed.compare_exchange(a, NONE, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => a == now,
            Err(_) => false,
        }
    }
}

/// What ran during a slice that went over budget.
///
/// ```
/// use green::probe::{self, SliceEnd, SliceVerdict};
/// let seen = std::rc::Rc::new(std::cell::RefCell::new(None));
/// let s = seen.clone();
/// probe::set_slice_end_hook(Some(Box::new(move |end: &SliceEnd| {
///     *s.borrow_mut() = Some((end.greenthread, end.name.clone()));
///     SliceVerdict::Continue
/// })));
/// let gt = green::Builder::new().name("slow").spawn(|| {
///     let p = probe::probe();
///     p.raise_alarm(p.switches()); // as a detector would, from its watchdog
///     green::sleep(std::time::Duration::ZERO); // the slice ends here
/// });
/// gt.wait().unwrap();
/// assert_eq!(*seen.borrow(), Some((gt.id().as_u64(), Some("slow".to_string()))));
/// probe::set_slice_end_hook(None);
/// ```
#[derive(Clone, Debug)]
pub struct SliceEnd {
    /// The slice: the probe's switch count while it ran.
    pub slice: u64,
    /// Ordinal id of the greenthread (0 for the root, [`HUB`] for the hub itself).
    pub greenthread: u64,
    /// Its name.
    pub name: Option<String>,
    /// Where it was spawned (`None` for the root and the hub).
    pub spawn_site: Option<&'static Location<'static>>,
    /// Its stack size in bytes (0 for the root and the hub).
    pub stack_size: usize,
}

/// What the hook wants done with the greenthread whose slice ended.
///
/// ```
/// use green::probe::{self, SliceVerdict};
/// probe::set_slice_end_hook(Some(Box::new(|_| SliceVerdict::Fail("held the hub".into()))));
/// let gt = green::spawn(|| {
///     let p = probe::probe();
///     p.raise_alarm(p.switches());
///     green::sleep(std::time::Duration::ZERO); // unwinds with the verdict's message
/// });
/// assert_eq!(gt.wait().unwrap_err().panic_message(), Some("held the hub"));
/// probe::set_slice_end_hook(None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SliceVerdict {
    /// Nothing: carry on.
    Continue,
    /// Fail it now: its current green call unwinds with a panic carrying this message, so its
    /// `wait()` returns an error with `is_panic()` (the root panics with it).
    Fail(String),
    /// Fail it as [`Fail`](SliceVerdict::Fail) does, and panic the hub's thread with the
    /// message: the root's current green call (or its next one) panics with it, even if nobody
    /// waits on the greenthread. A slice of the hub itself (a callback) panics the root too.
    Panic(String),
}

impl SliceVerdict {
    /// The message a failing verdict carries.
    ///
    /// ```
    /// use green::probe::SliceVerdict;
    /// assert_eq!(SliceVerdict::Continue.report(), None);
    /// assert_eq!(SliceVerdict::Panic("held 1s".into()).report().as_deref(), Some("held 1s"));
    /// ```
    pub fn report(self) -> Option<String> {
        match self {
            SliceVerdict::Continue => None,
            SliceVerdict::Fail(r) | SliceVerdict::Panic(r) => Some(r),
        }
    }
}

/// A slice-end hook; see [`set_slice_end_hook`].
///
/// ```
/// let hook: green::probe::SliceEndHook = Box::new(|end| {
///     eprintln!("slice {} of #{} ran over", end.slice, end.greenthread);
///     green::probe::SliceVerdict::Continue
/// });
/// assert!(green::probe::set_slice_end_hook(Some(hook)).is_none());
/// green::probe::set_slice_end_hook(None);
/// ```
pub type SliceEndHook = Box<dyn FnMut(&SliceEnd) -> SliceVerdict>;

/// This thread's hub probe.
///
/// ```
/// let p = green::probe::probe();
/// assert!(!p.in_poll());
/// ```
pub fn probe() -> Arc<Probe> {
    hub().probe.clone()
}

/// Installs (or with `None` removes) the hook called on this hub's thread when an alarmed slice
/// ends; returns the previous one.
///
/// ```
/// let prev = green::probe::set_slice_end_hook(Some(Box::new(|_end| green::probe::SliceVerdict::Continue)));
/// assert!(prev.is_none());
/// green::probe::set_slice_end_hook(None);
/// ```
pub fn set_slice_end_hook(hook: Option<SliceEndHook>) -> Option<SliceEndHook> {
    std::mem::replace(&mut *hub().slice_end_hook.borrow_mut(), hook)
}

/// Runs the hook for the slice of `gt` that just ended (only when the probe was alarmed).
pub(crate) fn slice_ended(end: SliceEnd) -> SliceVerdict {
    let h = hub();
    let hook = h.slice_end_hook.borrow_mut().take();
    let Some(mut hook) = hook else { return SliceVerdict::Continue };
    let v = hook(&end);
    {
        let mut slot = h.slice_end_hook.borrow_mut();
        if slot.is_none() {
            *slot = Some(hook);
        }
    }
    if let SliceVerdict::Panic(report) = &v {
        if end.greenthread != 0 {
            // Not the root's own slice (its green call raises that one): leave it for the root.
            crate::greenthread::panic_root(h, report.clone());
        }
    }
    v
}

pub(crate) type HookSlot = RefCell<Option<SliceEndHook>>;

/// Writes a stack-overflow report into `buf` if `fault_addr` lies in the guard page of the
/// greenthread running on this thread, and returns its length; `None` otherwise.
///
/// Meant for a `SIGSEGV` handler (the detectors' overflow detector): it allocates nothing, takes
/// no lock and only reads plain fields. The report names the greenthread, its spawn site and its
/// stack size, and says how to give it more stack.
///
/// ```
/// let mut buf = [0u8; 512];
/// assert_eq!(green::probe::overflow_report(0x10, &mut buf), None); // not a guard page
/// ```
pub fn overflow_report(fault_addr: usize, buf: &mut [u8]) -> Option<usize> {
    let h = crate::hub::try_hub()?;
    let gt = h.current.get()?;
    let (lo, hi) = gt.guard_range();
    // A frame larger than a page can jump past the guard page's start: allow a little below it.
    if gt.is_root || lo == 0 || fault_addr >= hi || fault_addr + 64 * 1024 < lo {
        return None;
    }
    let mut w = Writer { buf, len: 0 };
    w.put("\ngreen: stack overflow in greenthread #");
    w.num(gt.id);
    if let Some(name) = gt.name() {
        w.put(" \"");
        w.put(name);
        w.put("\"");
    }
    w.put(" (spawned at ");
    w.put(gt.spawn_site.file());
    w.put(":");
    w.num(u64::from(gt.spawn_site.line()));
    w.put(", stack ");
    w.num((gt.stack_size() / 1024) as u64);
    w.put(
        " KiB): it hit its guard page. Give it a bigger stack with green::Builder::stack_size, or make it \
           recurse less.\n",
    );
    Some(w.len)
}

/// Writes the label of what runs on this thread's hub now (`#2 "hog"`, `#0 root`, `hub`) into
/// `buf` and returns its length; `None` without a hub.
///
/// Meant for a signal handler on the hub's own thread (the blocking detector's, so that a
/// `SIGQUIT` dump can name the greenthread that holds a blocked hub): it allocates nothing, takes
/// no lock and only reads plain fields.
///
/// ```
/// let mut buf = [0u8; 64];
/// assert_eq!(green::probe::current_label(&mut buf), None); // no hub on this thread yet
/// let _ = green::probe::probe(); // the first green call creates it
/// let n = green::probe::current_label(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"#0 root");
/// ```
pub fn current_label(buf: &mut [u8]) -> Option<usize> {
    let h = crate::hub::try_hub()?;
    let mut w = Writer { buf, len: 0 };
    match h.current.get().as_ref() {
        None => w.put("hub"),
        Some(gt) if gt.is_root => w.put("#0 root"),
        Some(gt) => {
            w.put("#");
            w.num(gt.id);
            if let Some(name) = gt.name() {
                w.put(" \"");
                w.put(name);
                w.put("\"");
            }
        }
    }
    Some(w.len)
}

/// Appends to a byte buffer without allocating, truncating when full.
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }

    fn num(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            if self.len < self.buf.len() {
                self.buf[self.len] = d;
                self.len += 1;
            }
        }
    }
}
