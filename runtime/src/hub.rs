//! The hub: one per OS thread, the loop that runs greenthreads, timers and fd listeners.
//!
//! # Model
//!
//! The hub is created lazily by the first green call on a thread and lives as long as the thread.
//! The thread's own stack is the **root greenlet**. When the root blocks (in [`sleep`](crate::sleep),
//! [`GreenThread::wait`](crate::GreenThread::wait), ...) it runs the hub loop on its own stack until
//! its wake-up is due; greenthreads are coroutines the loop resumes, and they suspend back into it.
//! Code the loop runs directly (timer callbacks from [`schedule_call_global`]) runs in **hub
//! context**: it must not block.
//!
//! # One pass
//!
//! 1. If the current batch is empty: poll for I/O (without blocking when zero-delay work is
//!    queued, and with no poll syscall at all then when nothing is registered), then take the
//!    zero-delay timers queued during the previous pass and every wheel timer now due into a new
//!    batch.
//! 2. Fire the batch in order: wake-ups resume their greenthread (or return to the root),
//!    callbacks run in hub context.
//!
//! When the root wakes in the middle of a batch the rest of the batch waits for the root's next
//! blocking call, exactly like eventlet's `fire_timers` loop resumed after `main` switches back.
//!
//! # Deadlock
//!
//! When the root blocks and nothing is queued, no timer is live, no greenthread waits on an fd,
//! no `tpool` job is in flight and no live [`HubHandle`] could post work, nothing can ever wake
//! anything: the hub panics on the root
//! with every greenthread's wait reason ([`format_greenthreads`](crate::debug::format_greenthreads))
//! instead of sleeping for ever.
//!
//! # Teardown
//!
//! [`shutdown`] (and the end of the thread) kills every live greenthread: each unwinds, its
//! destructors run and may make green calls. While tearing down, time is fast-forwarded: every timer
//! fires at the next pass, so sleeps and timed waits return at once, and a wait for fd readiness
//! (a green socket's read, write or accept, `trampoline`) returns at once with an `Interrupted`
//! error wrapping the kill. Untimed waits on primitives (a semaphore, an event, a queue, a
//! greenthread's result) are served if something wakes them, since they cannot return a value
//! they do not have; the greenthreads being unwound with them usually do. A greenthread that stays parked when nothing is left to run is reported
//! on stderr and leaked (its stack is not reclaimed) rather than unwound a second time. The main
//! thread's hub is not torn down at process exit (glibc runs the main thread's thread-local
//! destructors inside `exit()`): it is leaked without unwinding unless shut down explicitly.
//!
//! This example is a program of its own whose `main` returns with a greenthread still parked:
//! the greenthread's destructors do not run inside `exit()` (if they did, its guard would abort
//! the process and the example would fail).
//!
//! ```
//! struct AbortIfUnwound;
//! impl Drop for AbortIfUnwound {
//!     fn drop(&mut self) {
//!         eprintln!("the main thread's hub was torn down inside exit()");
//!         std::process::abort();
//!     }
//! }
//! green::spawn(|| {
//!     let _guard = AbortIfUnwound;
//!     green::sleep(std::time::Duration::from_secs(3600));
//! });
//! green::sleep(std::time::Duration::ZERO); // it starts and parks
//! assert_eq!(green::hub::greenthread_count(), 1);
//! // `main` returns: the hub is leaked, the guard never dropped.
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corosensei::CoroutineResult;

use crate::debug;
use crate::error::panic_message;
use crate::greenthread::{GtCore, Run, State, WaitInfo};
use crate::listener::{IoSource, Reactor};
use crate::sys::switch::{GreenYielder, Resume};
use crate::timer::{Action, NewTimer, Ready, TimerKey, Timers, WakeNote};

pub use crate::timer::TimerStats;

/// See [`Hub::wake_stacks`]: greenthread id → (wake-up ordinal, raw return addresses).
pub(crate) type WakeStacks = std::collections::HashMap<u64, (u64, Box<[usize]>)>;

/// The per-thread hub. Reached through [`hub()`]; all fields are cells so that no borrow is held
/// across a switch.
pub(crate) struct Hub {
    /// Start of the hub's clock.
    pub(crate) epoch: Cell<Instant>,
    /// `epoch` on the monotonic clock in nanoseconds (see [`crate::sys::clock`]).
    epoch_ns: Cell<u64>,
    /// The clock read at the start of the current pass, when wheel timers were collected: no wheel
    /// timer of this pass is due after it, so the firing-order check compares against it.
    pass_now: Cell<u64>,
    /// Next greenthread ordinal (the root is 0).
    pub(crate) next_id: Cell<u64>,
    /// The next `Timeout`'s id (per hub like greenthread ids, so dumps repeat run after run).
    pub(crate) next_timeout_id: Cell<u64>,
    /// The root greenlet's record.
    pub(crate) root: RefCell<Rc<GtCore>>,
    /// The running greenthread, or the root when it runs outside the loop; `None` in hub context.
    pub(crate) current: crate::sys::current::Current,
    /// Creation stack of each greenthread's latest bare wake-up captured while timer stacks were
    /// on, by greenthread id, with the wake-up's ordinal (a dump shows it only for the wake-up
    /// the greenthread's note describes).
    pub(crate) wake_stacks: RefCell<WakeStacks>,
    /// True while the root is inside the hub loop.
    pub(crate) in_loop: Cell<bool>,
    pub(crate) timers: RefCell<Timers>,
    /// Entries of the pass being fired.
    pub(crate) batch: RefCell<VecDeque<Ready>>,
    /// Live greenthreads (not the root), indexed by their `slot`.
    pub(crate) live: RefCell<Vec<Rc<GtCore>>>,
    pub(crate) live_count: Cell<usize>,
    /// Bare wake-ups in the ready queue and the batch (kept here, not in `timers`: firing one
    /// then needs no borrow of the timers).
    wakes: Cell<usize>,
    /// Some wake-up stack was ever captured (`wake_stacks` may be non-empty): one flag read per
    /// fired wake-up instead of a borrow of the map.
    wake_stacks_used: Cell<bool>,
    /// The poller and registered fds, created on first use.
    pub(crate) reactor: RefCell<Option<Reactor>>,
    /// Sources made ready by the last poll (a reused buffer).
    pub(crate) fired: RefCell<Vec<(Rc<IoSource>, bool, bool)>>,
    /// Greenthreads (and the root) parked waiting for fd readiness.
    pub(crate) listeners: Cell<usize>,
    /// Work that another OS thread may still post (tpool jobs, `Send` handles).
    pub(crate) external: Cell<usize>,
    pub(crate) tearing_down: Cell<bool>,
    /// How many of this hub's greenthreads (and root) are flagged as unwinding
    /// ([`GtCore::unwinding`]): while none but the current one is, `thread::panicking()` speaks
    /// for the current one alone.
    pub(crate) unwinding: Cell<usize>,
    /// The last panic not printed because `hub_exceptions` is off: (message, location).
    pub(crate) last_panic: std::cell::RefCell<Option<(String, String)>>,
    /// Every panic not printed because `hub_exceptions` is off since the last take (the newest
    /// [`QUIET_PANICS_KEPT`]): (message, location).
    pub(crate) quiet_panics: std::cell::RefCell<VecDeque<(String, String)>>,
    /// Context switches into greenthreads (and back to the root).
    pub(crate) switches: Cell<u64>,
    /// Hub passes.
    pub(crate) passes: Cell<u64>,
    /// Polls of the reactor (`epoll_wait` calls) so far.
    pub(crate) polls: Cell<u64>,
    /// Timers fired (slab timers: sleeps, timeouts, starts, callbacks).
    pub(crate) timers_fired: Cell<u64>,
    pub(crate) flags: debug::Flags,
    /// The harness's perturbation state (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub(crate) hooks: crate::hooks::Hooks,
    /// Loopback traffic watched before each poll (see [`crate::settle`]).
    #[cfg(feature = "test-hooks")]
    pub(crate) settle: crate::settle::Settle,
    /// What a blocking detector reads from another thread.
    pub(crate) probe: std::sync::Arc<crate::probe::Probe>,
    /// Called when an alarmed slice ends.
    pub(crate) slice_end_hook: crate::probe::HookSlot,
    /// Invariant violations the runtime noticed (see `debug::take_invariant_violations`).
    pub(crate) invariants: RefCell<Vec<String>>,
    /// Deadline and ordinal of the last wheel timer fired in this pass (timer order check).
    pub(crate) last_fired: Cell<(u64, u64)>,
    /// Greenthread panics nobody waited for (reported when the result was dropped).
    pub(crate) unobserved: RefCell<Vec<String>>,
    /// Panics the hub caught, as printed; `true` marks those caught in hub context.
    pub(crate) exceptions: RefCell<Vec<(bool, String)>>,
}

thread_local! {
    /// The thread's hub. A `Cell` of a reference has no destructor, so the hub stays reachable
    /// while other thread-locals are destroyed (teardown makes green calls).
    static HUB: Cell<Option<&'static Hub>> = const { Cell::new(None) };
    /// Tears the hub down when the thread exits.
    static TEARDOWN: TeardownOnExit = const { TeardownOnExit };
}

struct TeardownOnExit;

impl Drop for TeardownOnExit {
    fn drop(&mut self) {
        if crate::sys::thread::is_main_thread() {
            // Inside exit(): leak the main thread's hub without unwinding (module docs).
            return;
        }
        if let Some(h) = HUB.with(Cell::get) {
            // Read the setting first: teardown resets it.
            let print = h.flags.exceptions.get();
            let report = h.teardown();
            if print {
                for line in &report.hub_context_panics {
                    eprintln!("{line}");
                }
            }
            registry_remove(&h.probe);
            if report.leaked == 0 {
                // Nothing holds the hub any more: free it, so a program that starts many
                // short threads does not grow (a hub with leaked greenthreads stays leaked,
                // their stacks may still point into it).
                HUB.with(crate::sys::thread::free_at_exit);
            }
        }
    }
}

/// The calling thread's hub if it exists (never creates one; usable from a signal handler).
pub(crate) fn try_hub() -> Option<&'static Hub> {
    HUB.try_with(Cell::get).ok().flatten()
}

/// The calling thread's hub, created on first use.
#[inline]
pub(crate) fn hub() -> &'static Hub {
    match HUB.with(Cell::get) {
        Some(h) => h,
        None => create_hub(),
    }
}

/// Records an invariant violation (see [`debug::take_invariant_violations`]).
pub(crate) fn record_invariant(line: String) {
    if let Some(h) = try_hub() {
        if let Ok(mut v) = h.invariants.try_borrow_mut() {
            v.push(line);
        }
    }
}

/// Records a greenthread panic nobody waited for (see [`debug::take_unobserved_panics`]).
pub(crate) fn record_unobserved_panic(line: String) {
    if let Some(h) = HUB.try_with(Cell::get).ok().flatten() {
        if let Ok(mut u) = h.unobserved.try_borrow_mut() {
            u.push(line);
        }
    }
}

/// Called by the runtime's panic hook: the running greenthread (or root) starts unwinding.
pub(crate) fn mark_current_unwinding() {
    if let Some(h) = HUB.try_with(Cell::get).ok().flatten() {
        if let Some(c) = h.current.get() {
            c.start_unwinding(h);
        }
    }
}

/// Called by the runtime's panic hook: true (and the panic kept for `debug::take_last_panic`)
/// when this thread's hub has `hub_exceptions` off, so std's message is not printed.
pub(crate) fn panic_is_quiet(info: &std::panic::PanicHookInfo<'_>) -> bool {
    let Some(h) = HUB.try_with(Cell::get).ok().flatten() else { return false };
    if h.flags.exceptions.get() {
        return false;
    }
    let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = info.payload().downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    };
    let at = info.location().map_or_else(String::new, |l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    if let Ok(mut q) = h.quiet_panics.try_borrow_mut() {
        if q.len() == QUIET_PANICS_KEPT {
            q.pop_front();
        }
        q.push_back((msg.clone(), at.clone()));
    }
    if let Ok(mut p) = h.last_panic.try_borrow_mut() {
        *p = Some((msg, at));
    }
    true
}

/// How many unprinted panics a hub keeps for [`debug::take_quiet_panics`].
pub(crate) const QUIET_PANICS_KEPT: usize = 256;

/// Batch entries whose stacks the hub starts loading together ([`Hub::prefetch_groups`]). Three:
/// in paired runs of `bench-green timers` (10,000 greenthreads waking in deadline order) groups
/// of 2 and 3 ran 11–14% faster than one entry at a time, 4 ran 8% faster, 6 and 8 no faster,
/// when a resume's prefetch covered 8 stack lines; since it covers the lines up to the stack's
/// top ([`GtCore::park_lines`](crate::greenthread::GtCore::park_lines), 14 in that benchmark),
/// 3 ran 5–8% faster than 2 (three sets of 16–30 pairs), and 4 about as fast as 3.
const PREFETCH_GROUP: usize = 3;

#[cold]
/// In a forked child: the parent's hub (its greenthreads, timers, registrations) is leaked
/// without unwinding; the next green call creates a fresh, empty hub.
pub(crate) fn forget_after_fork() {
    let _ = HUB.try_with(|c| c.set(None));
    // The other threads (and their hubs) did not come along.
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
}

/// Every hub of the process: its thread's name, its probe, and (once it has a poller) a way to
/// post work to it. Entries are added when a hub is created and removed at its thread's exit.
static REGISTRY: std::sync::Mutex<Vec<HubInfo>> = std::sync::Mutex::new(Vec::new());

/// A hub of the process, as [`hubs`] lists it.
///
/// ```
/// let name = std::thread::Builder::new().name("worker-hub".into()).spawn(|| {
///     let _ = green::hub::handle();
///     let me = green::probe::probe();
///     let info = green::hub::hubs().into_iter().find(|h| std::sync::Arc::ptr_eq(&h.probe, &me)).unwrap();
///     assert!(info.handle.is_some()); // it has a poller: work can be posted to it
///     info.thread_name
/// }).unwrap().join().unwrap();
/// assert_eq!(name, "worker-hub");
/// ```
#[derive(Clone, Debug)]
pub struct HubInfo {
    /// The name of the hub's thread (`<unnamed>` without one).
    pub thread_name: String,
    /// The hub's switch probe (readable from any thread).
    pub probe: std::sync::Arc<crate::probe::Probe>,
    /// Posts work to the hub, once it has a poller (every hub that ever waited has one).
    pub handle: Option<WeakHubHandle>,
}

/// Every hub of the process (what a `SIGQUIT` dump walks, as Go prints every goroutine).
///
/// ```
/// let _ = green::hub::handle(); // this thread's hub, with its poller
/// let me = green::probe::probe();
/// assert!(green::hub::hubs().iter().any(|h| std::sync::Arc::ptr_eq(&h.probe, &me)));
/// ```
pub fn hubs() -> Vec<HubInfo> {
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

fn registry_add(h: &Hub) {
    let info = HubInfo {
        thread_name: std::thread::current().name().unwrap_or("<unnamed>").to_string(),
        probe: h.probe.clone(),
        handle: None,
    };
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(info);
}

fn registry_remove(probe: &std::sync::Arc<crate::probe::Probe>) {
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|x| !std::sync::Arc::ptr_eq(&x.probe, probe));
}

/// The hub with `probe` got its poller: work can be posted to it from now on.
pub(crate) fn registry_set_posted(
    probe: &std::sync::Arc<crate::probe::Probe>,
    posted: &std::sync::Arc<crate::listener::Posted>,
) {
    let mut r = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(e) = r.iter_mut().find(|x| std::sync::Arc::ptr_eq(&x.probe, probe)) {
        e.handle = Some(HubHandle { posted: posted.clone() }.downgrade());
    }
}

fn create_hub() -> &'static Hub {
    crate::greenthread::install_panic_hook();
    let h: &'static Hub = Box::leak(Box::new(Hub::new()));
    HUB.with(|c| c.set(Some(h)));
    registry_add(h);
    // Register the exit hook last: thread-local destructors run in reverse order of registration,
    // so teardown runs while the stack pool still exists.
    crate::sys::stack::init_pool();
    // During thread exit, after the teardown (a later thread-local destructor making a green
    // call), there is no exit hook left to register: that late hub is leaked.
    let _ = TEARDOWN.try_with(|_| {});
    h
}

impl Hub {
    fn new() -> Hub {
        let root = GtCore::new_root();
        Hub {
            epoch: Cell::new(Instant::now()),
            epoch_ns: Cell::new(crate::sys::clock::monotonic_ns()),
            pass_now: Cell::new(0),
            next_id: Cell::new(1),
            next_timeout_id: Cell::new(1),
            current: crate::sys::current::Current::new(Some(root.clone())),
            wake_stacks: RefCell::new(std::collections::HashMap::new()),
            root: RefCell::new(root),
            in_loop: Cell::new(false),
            timers: RefCell::new(Timers::default()),
            batch: RefCell::new(VecDeque::new()),
            live: RefCell::new(Vec::new()),
            live_count: Cell::new(0),
            wakes: Cell::new(0),
            wake_stacks_used: Cell::new(false),
            reactor: RefCell::new(None),
            fired: RefCell::new(Vec::new()),
            listeners: Cell::new(0),
            external: Cell::new(0),
            tearing_down: Cell::new(false),
            unwinding: Cell::new(0),
            last_panic: RefCell::new(None),
            quiet_panics: RefCell::new(VecDeque::new()),
            switches: Cell::new(0),
            passes: Cell::new(0),
            polls: Cell::new(0),
            timers_fired: Cell::new(0),
            flags: debug::Flags::default(),
            #[cfg(feature = "test-hooks")]
            hooks: crate::hooks::Hooks::default(),
            #[cfg(feature = "test-hooks")]
            settle: crate::settle::Settle::default(),
            probe: std::sync::Arc::new(crate::probe::Probe::default()),
            slice_end_hook: RefCell::new(None),
            exceptions: RefCell::new(Vec::new()),
            unobserved: RefCell::new(Vec::new()),
            invariants: RefCell::new(Vec::new()),
            last_fired: Cell::new((0, 0)),
        }
    }

    // ===== clock =====

    /// Nanoseconds on the hub's clock since its epoch (a fresh read).
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        #[cfg(feature = "test-hooks")]
        if let Some(v) = self.hooks.virtual_ns.get() {
            return v;
        }
        crate::sys::clock::monotonic_ns().wrapping_sub(self.epoch_ns.get())
    }

    /// Whether nothing on this hub depends on its clock's current reading: no timer pending and
    /// no greenthread alive (see `hooks::set_virtual_clock`).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn is_idle_for_rebase(&self) -> bool {
        self.live_timers() == 0 && self.live_count.get() == 0
    }

    /// Restarts the hub's clock at zero from the real now (only while nothing depends on it).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn rebase_clock(&self) {
        debug_assert!(self.is_idle_for_rebase());
        self.epoch.set(Instant::now());
        self.epoch_ns.set(crate::sys::clock::monotonic_ns());
    }

    /// Moves the real clock's origin so that the hub's clock reads `ns` now and runs on from
    /// there (leaving the virtual clock: it never goes back).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn shift_clock_to(&self, ns: u64) {
        let real = crate::sys::clock::monotonic_ns().wrapping_sub(self.epoch_ns.get());
        let shift = ns.saturating_sub(real);
        // `epoch_ns` may go below the boot (`now_ns` subtracts wrapping); an `Instant` cannot, so
        // after an absurdly long virtual run `time::now()` would lag instead.
        self.epoch_ns.set(self.epoch_ns.get().wrapping_sub(shift));
        if let Some(e) = self.epoch.get().checked_sub(Duration::from_nanos(shift)) {
            self.epoch.set(e);
        }
    }

    /// The hub's clock as an `Instant`.
    pub(crate) fn now(&self) -> Instant {
        self.epoch.get() + Duration::from_nanos(self.now_ns())
    }

    // ===== current context =====

    /// The running greenthread or root; `None` in hub context.
    #[inline]
    pub(crate) fn current(&self) -> Option<Rc<GtCore>> {
        self.current.get()
    }

    /// True in hub context: code the hub loop runs directly.
    pub(crate) fn in_hub_context(&self) -> bool {
        self.current.is_none()
    }

    pub(crate) fn root(&self) -> Rc<GtCore> {
        self.root.borrow().clone()
    }

    // ===== greenthread registry =====

    pub(crate) fn alloc_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    pub(crate) fn register(&self, gt: &Rc<GtCore>) {
        let mut live = self.live.borrow_mut();
        let slot = u32::try_from(live.len()).expect("green: more than 4 billion live greenthreads on one hub");
        live.push(gt.clone());
        gt.slot.set(slot);
        self.live_count.set(live.len());
    }

    /// Takes `gt` out of the registry: the last entry moves into its slot, so the registry stays
    /// dense and needs no free list.
    pub(crate) fn unregister(&self, gt: &GtCore) {
        let slot = gt.slot.get() as usize;
        let removed = {
            let mut live = self.live.borrow_mut();
            if !live.get(slot).is_some_and(|g| std::ptr::eq(&**g, gt)) {
                return;
            }
            let removed = live.swap_remove(slot);
            if let Some(moved) = live.get(slot) {
                moved.slot.set(gt.slot.get());
            }
            gt.slot.set(u32::MAX);
            self.live_count.set(live.len());
            removed
        };
        // Dropped outside the borrow: the last reference runs the record's destructor.
        drop(removed);
    }

    /// Live greenthreads sorted by id.
    pub(crate) fn live_greenthreads(&self) -> Vec<Rc<GtCore>> {
        let mut v: Vec<Rc<GtCore>> = match self.live.try_borrow() {
            Ok(l) => l.to_vec(),
            Err(_) => Vec::new(),
        };
        v.sort_by_key(|g| g.id);
        v
    }

    // ===== timers =====

    /// Adds a timer owned by the current context; `delay == 0` queues it for the next pass.
    pub(crate) fn add_timer(
        &self,
        delay: Duration,
        action: Action,
        why: &'static str,
        site: &'static Location<'static>,
    ) -> TimerKey {
        let creator = self.current.id();
        #[cfg(feature = "test-hooks")]
        let mut jittered = None;
        let deadline = if delay.is_zero() {
            None
        } else {
            let d = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX / 2);
            let base = self.now_ns().saturating_add(d);
            #[cfg(feature = "test-hooks")]
            let base = match self.jitter(creator, delay, base) {
                Some(j) => {
                    jittered = Some((base, j));
                    j
                }
                None => base,
            };
            Some(base)
        };
        let stack = if self.flags.timer_stacks.get() { Some(debug::capture_stack()) } else { None };
        #[allow(unused_mut)]
        let mut tie = 0;
        #[cfg(feature = "test-hooks")]
        if deadline.is_some() {
            tie = self.tie_of(creator);
        }
        let mut timers = self.timers.borrow_mut();
        if deadline.is_none() {
            self.before_ready_push(&mut timers);
        }
        let key = timers.add(NewTimer { deadline, tie, action, why, creator, site, stack });
        #[cfg(feature = "test-hooks")]
        if let Some((base, j)) = jittered {
            drop(timers);
            self.note_jittered(creator, base, j, key);
        }
        key
    }

    /// Called before every push onto the ready queue, where bursts land (a million starts, a
    /// million wake-ups): when the queue is full, see [`ready_full`](Hub::ready_full).
    #[inline(always)]
    fn before_ready_push(&self, timers: &mut Timers) {
        if timers.ready.is_empty() {
            self.first_ready_push(timers);
        }
        if timers.ready.len() == timers.ready.capacity() {
            self.ready_full(timers);
        }
    }

    /// The ready queue gets its first entry since the last collection: with wheel timers
    /// pending, note the time, so that those due before it fire first (see
    /// [`Timers::ready_since`]). A fresh read: the zero-delay entry's deadline is its creation
    /// time (DESIGN §3), and a wheel timer due before it fires before it. (The coarse clock, read
    /// here before, lags by up to a kernel tick, and in a hub's first tick read as 0: the wheel
    /// timers due in that lag fired after later zero-delay entries.)
    #[inline(always)]
    fn first_ready_push(&self, timers: &mut Timers) {
        timers.ready_since = if timers.has_wheel_timers() { self.now_ns().max(1) } else { 0 };
    }

    /// The ready queue is full: if the batch's buffer, which the last burst grew, is empty now
    /// and bigger, the ready queue takes it over (keeping what it holds) instead of growing a
    /// second burst-sized buffer.
    #[cold]
    #[inline(never)]
    fn ready_full(&self, timers: &mut Timers) {
        let Ok(mut batch) = self.batch.try_borrow_mut() else { return };
        if batch.is_empty() && batch.capacity() > timers.ready.capacity() {
            std::mem::swap(&mut *batch, &mut timers.ready);
            timers.ready.extend(batch.drain(..));
        }
    }

    /// Delays a deadline by a tape-drawn amount, never earlier, drawn per timer where no order
    /// promise holds: timers of different greenthreads move against each other freely, and a
    /// greenthread's own timers keep their order among themselves (DESIGN §6). A new timer of
    /// `creator` lands no earlier than any of its pending timers due at or before it (a tie
    /// then goes in creation order) and strictly before any due after it; that is the order of
    /// their jittered deadlines too, so the bounds always leave room (but for timers jittered
    /// to within a nanosecond of each other). Cancelled and fired timers bound nothing.
    #[cfg(feature = "test-hooks")]
    fn jitter(&self, creator: u64, delay: Duration, base: u64) -> Option<u64> {
        let d = crate::hooks::with(|p| p.timer_delay(creator, delay))?;
        let extra = u64::try_from(d.as_nanos()).unwrap_or(0);
        let timers = self.timers.borrow();
        let mut pending = self.hooks.jitter_pending.borrow_mut();
        let own = pending.entry(creator).or_default();
        own.retain(|e| timers.is_live(e.2));
        let lo = own.iter().filter(|e| e.0 <= base).map(|e| e.1).max();
        let hi = own.iter().filter(|e| e.0 > base).map(|e| e.1.saturating_sub(1)).min();
        let mut j = base.saturating_add(extra);
        if let Some(lo) = lo {
            j = j.max(lo);
        }
        if let Some(hi) = hi {
            j = j.min(hi);
        }
        Some(j.max(base))
    }

    /// Notes a timer of `creator` made with [`jitter`](Hub::jitter) (deadline `base` before it,
    /// `jittered` after), to bound its later timers.
    #[cfg(feature = "test-hooks")]
    fn note_jittered(&self, creator: u64, base: u64, jittered: u64, key: TimerKey) {
        self.hooks.jitter_pending.borrow_mut().entry(creator).or_default().push((base, jittered, key));
    }

    /// The tie-break of `creator`'s timers, drawn once per creator (the perturbation decides
    /// whether it breaks ties at all).
    #[cfg(feature = "test-hooks")]
    fn tie_of(&self, creator: u64) -> u8 {
        if let Some(&t) = self.hooks.ties.borrow().get(&creator) {
            return t;
        }
        let t = crate::hooks::with(|p| p.timer_tie(creator)).unwrap_or(0);
        self.hooks.ties.borrow_mut().insert(creator, t);
        t
    }

    /// Cancels a timer; harmless on a stale key.
    pub(crate) fn cancel_timer(&self, key: TimerKey) {
        let action = self.timers.borrow_mut().cancel(key);
        // Dropped here, outside the borrow: it may own a user closure.
        drop(action);
    }

    /// Live timers, bare wake-ups included.
    fn live_timers(&self) -> usize {
        self.timers.borrow().live() + self.wakes.get()
    }

    pub(crate) fn timer_is_live(&self, key: TimerKey) -> bool {
        self.timers.borrow().is_live(key)
    }

    // ===== waking =====

    /// Wakes `gt` from the green call numbered `seq` at the next pass (no-op when stale). Never
    /// yields.
    /// `group` names the primitive handing off (its wait queue's address): a harness keeps the
    /// wake-ups of one group in their order (FIFO hand-off) and may move those of different
    /// groups against each other.
    #[track_caller]
    pub(crate) fn wake(&self, gt: &Rc<GtCore>, seq: u64, why: &'static str, group: usize) {
        if gt.seq.get() != seq || gt.state.get() != State::Blocked {
            return;
        }
        gt.state.set(State::Ready);
        #[cfg(feature = "test-hooks")]
        self.progress();
        let creator = self.current.id();
        self.push_wake_by(gt, seq, why, Location::caller(), creator, group);
    }

    /// Queues a bare wake-up of `gt`'s green call `seq` for the next pass, by a known `creator`
    /// (a greenthread yielding wakes itself, group 0) or for [`wake`](Hub::wake).
    #[inline(always)]
    pub(crate) fn push_wake_by(
        &self,
        gt: &Rc<GtCore>,
        seq: u64,
        why: &'static str,
        site: &'static Location<'static>,
        creator: u64,
        group: usize,
    ) {
        let tseq = {
            let mut timers = self.timers.borrow_mut();
            self.before_ready_push(&mut timers);
            timers.push_wake(gt.clone(), seq)
        };
        self.wakes.set(self.wakes.get() + 1);
        #[cfg(not(feature = "test-hooks"))]
        let _ = group;
        gt.wake_note.set(WakeNote {
            tseq,
            why,
            creator,
            site,
            #[cfg(feature = "test-hooks")]
            group,
        });
        if self.flags.timer_stacks.get() {
            self.wake_stacks.borrow_mut().insert(gt.id, (tseq, debug::capture_stack()));
            self.wake_stacks_used.set(true);
        }
    }

    // ===== the loop =====

    /// Runs the hub loop on the root's stack until the root is woken. `idle` additionally returns
    /// once no greenthread and no timer is left (for [`run`]).
    pub(crate) fn run_loop(&self, root: &Rc<GtCore>, idle: bool) -> Resume {
        debug_assert!(root.is_root);
        self.in_loop.set(true);
        drop(self.current.replace(None));
        struct Exit<'a>(&'a Hub, Rc<GtCore>);
        impl Drop for Exit<'_> {
            fn drop(&mut self) {
                self.0.in_loop.set(false);
                drop(self.0.current.replace(Some(self.1.clone())));
                self.1.state.set(State::Running);
                self.0.check_hub_slice();
                self.0.probe.switch_to(0);
            }
        }
        let _exit = Exit(self, root.clone());
        self.probe.switch_to(crate::probe::HUB);
        loop {
            let item = self.batch.borrow_mut().pop_front();
            match item {
                Some(item) => {
                    self.prefetch_ahead();
                    if let Some(r) = self.fire(item) {
                        return r;
                    }
                }
                None => {
                    if idle && self.live_count.get() == 0 && self.live_timers() == 0 {
                        return Resume::Wake;
                    }
                    self.next_pass(root);
                }
            }
        }
    }

    /// Starts loading what the next entries of the batch will touch, one stage each: the third
    /// entry's timer slot, the second's greenthread record (its slot was loaded a step ago), the
    /// next one's stack lines (its record was loaded a step ago). A burst of due timers then
    /// overlaps its cache misses instead of taking them one after another.
    #[inline(always)]
    fn prefetch_ahead(&self) {
        use crate::sys::prefetch::{prefetch, prefetch_lines};
        let Ok(batch) = self.batch.try_borrow() else { return };
        // A lone entry left is what a ping-pong of a few greenthreads leaves: its lines are
        // hot, and the prefetch costs the switch more (5%) than it could save.
        if batch.len() < 2 {
            return;
        }
        let Ok(timers) = self.timers.try_borrow() else { return };
        if let Some((lo, hi)) = batch.front().and_then(|r| timers.target_of(r)).and_then(|gt| gt.park_lines()) {
            prefetch_lines(lo, hi);
        }
        if let Some(gt) = batch.get(1).and_then(|r| timers.target_of(r)) {
            // The record (184 bytes) and the `Rc`'s two counts just before it: four lines at most.
            let p = Rc::as_ptr(gt) as usize;
            for off in (0..256).step_by(64) {
                prefetch((p + off).wrapping_sub(16));
            }
        }
        if let Some(a) = batch.get(2).and_then(|r| timers.slot_addr(r)) {
            // An entry is 88 bytes: up to three lines, the last one holding its end.
            prefetch(a);
            prefetch(a + 64);
            prefetch(a + crate::timer::ENTRY_SIZE - 1);
        }
    }

    /// Starts loading, while a burst of timers fires (from [`fire_timer`](Hub::fire_timer)),
    /// what the next entries of the batch will touch, in pipeline stages of [`PREFETCH_GROUP`]
    /// entries: the stack lines of the next group (their records were loaded a group ago), the
    /// records of the group after it (their slots were loaded a group ago), the timer slots of
    /// the third group. It runs on every [`PREFETCH_GROUP`]-th step (when the batch's length is
    /// a multiple of it: each step pops one entry, and nothing joins the batch while it runs
    /// but a kill's entry at the front), a group at a time, because the first touch of a parked
    /// stack is a page walk (each stack's top page is its own TLB entry and page-table line,
    /// bench/README "What profiling found") and a prefetch does not retire before its walk is
    /// done: issued one per step (as [`prefetch_ahead`](Hub::prefetch_ahead) does), each walk
    /// stalls the hub on its own; issued back to back, a group's walks proceed together. Once it
    /// ran, the per-entry stages find their lines on their way.
    ///
    /// Out of line, and not in the hub loop: there, its loops (or a call to them) made the
    /// compiler keep the popped batch entry on the stack and read it back in halves, a
    /// store-forwarding stall that cost a ping-pong of two greenthreads, which never gets here,
    /// 10–20% of its switch rate.
    #[inline(never)]
    fn prefetch_groups(&self) {
        use crate::sys::prefetch::{prefetch, prefetch_lines};
        let Ok(batch) = self.batch.try_borrow() else { return };
        if batch.len() < PREFETCH_GROUP || batch.len() % PREFETCH_GROUP != 0 {
            return;
        }
        let Ok(timers) = self.timers.try_borrow() else { return };
        let group = |stage: usize| (stage * PREFETCH_GROUP..(stage + 1) * PREFETCH_GROUP).filter_map(|i| batch.get(i));
        let mut starts = (0, 0);
        for gt in group(0).filter_map(|r| timers.target_of(r)) {
            if let Some((lo, hi)) = gt.park_lines() {
                prefetch_lines(lo, hi);
            } else if gt.state.get() == State::NotStarted {
                starts = (starts.0 + 1, gt.stack_size());
            }
        }
        // Only in a burst: a greenthread started from a short batch takes the stack just given
        // back, whose lines are hot.
        if starts.0 > 0 && batch.len() > 8 {
            crate::sys::stack::prefetch_next(starts.1, starts.0);
        }
        for gt in group(1).filter_map(|r| timers.target_of(r)) {
            // The record (184 bytes) and the `Rc`'s two counts just before it: four lines at most.
            let p = Rc::as_ptr(gt) as usize;
            for off in (0..256).step_by(64) {
                prefetch((p + off).wrapping_sub(16));
            }
        }
        for a in group(2).filter_map(|r| timers.slot_addr(r)) {
            // An entry is 88 bytes: up to three lines, the last one holding its end.
            prefetch(a);
            prefetch(a + 64);
            prefetch(a + crate::timer::ENTRY_SIZE - 1);
        }
    }

    /// Starts a new pass: waits for I/O or the next timer, then collects the batch.
    #[inline(always)]
    fn next_pass(&self, root: &Rc<GtCore>) {
        self.passes.set(self.passes.get() + 1);
        #[cfg(feature = "test-hooks")]
        if self.probe.stop_pending() && !self.tearing_down.get() {
            self.over_budget(root);
        }
        if !self.quick_pass() {
            self.full_pass(root);
        }
    }

    /// The pass of a busy hub: greenthreads are ready, no timer waits in the wheel, nothing asks
    /// for a poll, no harness reorders: the ready queue simply becomes the batch (what
    /// [`full_pass`](Hub::full_pass) would do, without its checks). False when it does not apply.
    #[inline(always)]
    fn quick_pass(&self) -> bool {
        #[cfg(feature = "test-hooks")]
        if self.hooks.shuffles.get() {
            return false;
        }
        let Ok(mut timers) = self.timers.try_borrow_mut() else {
            return false;
        };
        if timers.ready.is_empty() || timers.has_wheel_timers() || self.tearing_down.get() {
            return false;
        }
        if self.reactor.borrow().as_ref().is_some_and(|r| r.needs_poll(self.listeners.get())) {
            return false;
        }
        self.last_fired.set((0, 0));
        self.pass_now.set(0);
        timers.collect_ready(&mut self.batch.borrow_mut());
        true
    }

    /// [`next_pass`](Hub::next_pass) in full: waits for I/O or the next timer as needed.
    #[inline(never)]
    fn full_pass(&self, root: &Rc<GtCore>) {
        let timeout = {
            let mut t = self.timers.borrow_mut();
            if !t.ready.is_empty() || self.tearing_down.get() && t.live() + self.wakes.get() > 0 {
                Some(Duration::ZERO)
            } else {
                t.next_deadline().map(|d| Duration::from_nanos(d.saturating_sub(self.now_ns())))
            }
        };
        match timeout {
            None if !self.outside_wakers() => {
                if self.tearing_down.get() {
                    return;
                }
                self.deadlock(root);
            }
            Some(t)
                if t.is_zero()
                    && !self.reactor.borrow().as_ref().is_some_and(|r| r.needs_poll(self.listeners.get())) => {}
            #[cfg(feature = "test-hooks")]
            None if !self.tearing_down.get() && self.closed_world() => {
                // Nothing outside can wake anything: whatever settled traffic made ready is all
                // there will ever be.
                self.poll_io(Some(Duration::ZERO));
                if self.timers.borrow().ready.is_empty() {
                    self.hang(root, None);
                }
            }
            #[cfg(feature = "test-hooks")]
            None if !self.tearing_down.get() && self.hang_watch().is_some() => {
                // Only fds can wake anything: wait for them up to the hang horizon.
                let horizon = self.hang_watch().unwrap_or_default();
                let until = Instant::now() + horizon;
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    self.poll_io(Some(left));
                    if !self.timers.borrow().ready.is_empty() || self.timers.borrow_mut().next_deadline().is_some() {
                        break;
                    }
                    if left.is_zero() {
                        self.hang(root, Some(horizon));
                    }
                }
            }
            t => self.wait_io(t),
        }
        #[cfg(feature = "test-hooks")]
        if let Some(limit) = self.hooks.hang_jumps.get() {
            if self.hooks.quiet_jumps.get() >= limit && !self.tearing_down.get() {
                self.livelock(root, limit);
            }
        }
        #[cfg(feature = "test-hooks")]
        if let (Some((since, n)), Some(horizon)) = (self.hooks.held.get(), self.hooks.hang_horizon.get()) {
            if self.external.get() > 0
                && n == self.switches.get()
                && since.elapsed() >= horizon
                && self.timers.borrow().ready.is_empty()
                && !self.tearing_down.get()
            {
                self.held_hang(root, horizon);
            }
        }
        #[cfg(feature = "test-hooks")]
        let held_back = self.perturb_ready();
        // A new pass: wheel timers fired from now on are compared among themselves.
        self.last_fired.set((0, 0));
        let mut batch = self.batch.borrow_mut();
        let mut timers = self.timers.borrow_mut();
        if self.tearing_down.get() {
            timers.collect_all(&mut batch);
        } else {
            // Read the clock only when a wheel timer could be due.
            let now = if timers.has_wheel_timers() { self.now_ns() } else { 0 };
            self.pass_now.set(now);
            timers.collect_due(now, &mut batch);
        }
        // Greenthreads a one-at-a-time step held back wait for the next pass, in their order.
        #[cfg(feature = "test-hooks")]
        timers.ready.extend(held_back);
    }

    /// Blocks in the poller for at most `timeout` (`None`: until an event).
    fn wait_io(&self, timeout: Option<Duration>) {
        if timeout != Some(Duration::ZERO) {
            // About to idle: give back the memory of stacks unused since a burst.
            crate::sys::stack::trim();
        }
        #[cfg(feature = "test-hooks")]
        if let Some(v) = self.hooks.virtual_ns.get() {
            return self.wait_virtual(v, timeout);
        }
        self.poll_io(timeout);
    }

    /// Under the virtual clock: jump to the next deadline when nothing outside can happen (after a
    /// real-time grace when greenthreads wait on fds that may hear from outside the hub; none
    /// when every fd waiter's peer is a socket of this hub); a `tpool` job in flight holds virtual
    /// time still while the hub waits for it in real time (and the run is no longer exact).
    #[cfg(feature = "test-hooks")]
    fn wait_virtual(&self, now: u64, timeout: Option<Duration>) {
        let Some(t) = timeout else {
            return self.poll_io(None);
        };
        if t.is_zero() {
            return self.poll_io(Some(Duration::ZERO));
        }
        if self.external.get() > 0 {
            // Real work is in flight on another thread: it holds virtual time still (no jump, no
            // drift) while the hub waits for it in real time; `full_pass` fails the run as a hang
            // once that went on for the hang horizon with nothing running. When the job's result
            // lands relative to other greenthreads' work is real time's call, so the run is
            // marked inexact.
            let switches = self.switches.get();
            if !matches!(self.hooks.held.get(), Some((_, n)) if n == switches) {
                self.hooks.held.set(Some((Instant::now(), switches)));
            }
            self.poll_io(Some(t.min(Duration::from_millis(10))));
            self.settle.unsettled.set(true);
            return;
        }
        if self.listeners.get() > 0 {
            let before = self.timers.borrow().ready.len();
            // Every fd waiter talks to a socket of this hub: once its traffic settled (the poll
            // settles first), nothing can come from outside, so no real-time grace.
            let grace = if crate::settle::closed_world(self) { Duration::ZERO } else { self.hooks.grace.get() };
            self.poll_io(Some(grace.min(t)));
            if self.timers.borrow().ready.len() > before {
                return; // an fd became ready: no jump
            }
        } else if self.reactor.borrow().as_ref().is_some_and(|r| r.needs_poll(self.listeners.get())) {
            self.poll_io(Some(Duration::ZERO));
            if !self.timers.borrow().ready.is_empty() {
                return;
            }
        }
        let d = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX / 2);
        self.hooks.virtual_ns.set(Some(now.saturating_add(d)));
        self.hooks.quiet_jumps.set(self.hooks.quiet_jumps.get() + 1);
    }

    /// Reorders the ready queue that becomes the next batch where no promise orders it:
    /// independent turns (spawn starts, `sleep(0)` yields, fd readiness) move freely, hand-off
    /// wake-ups from primitives move against everything else but keep their order among the
    /// wake-ups of the same primitive (FIFO hand-off), timer actions keep their places. Under a
    /// one-at-a-time perturbation (PCT) only the first movable entry runs in this pass; the
    /// others are returned, held back for the next one.
    #[cfg(feature = "test-hooks")]
    fn perturb_ready(&self) -> Vec<Ready> {
        if !self.hooks.shuffles.get() || self.tearing_down.get() {
            return Vec::new();
        }
        let mut timers = self.timers.borrow_mut();
        let mut slots = Vec::new();
        let mut gts = Vec::new();
        let mut groups = Vec::new();
        for i in 0..timers.ready.len() {
            if let Some((g, group)) = timers.reorderable(i) {
                slots.push(i);
                gts.push(g);
                groups.push(group);
            }
        }
        let n = slots.len();
        if n < 2 {
            return Vec::new();
        }
        // A whole order (priority scheduling), or a shuffle drawn slot by slot.
        let mut order: Vec<usize> = match crate::hooks::with(|p| p.order(&gts)).flatten() {
            Some(order) => {
                let mut check = order.clone();
                check.sort_unstable();
                let is_permutation = check.iter().enumerate().all(|(i, &x)| i == x);
                debug_assert!(is_permutation && order.len() == n, "Perturb::order must return a permutation");
                if !is_permutation || order.len() != n {
                    return Vec::new();
                }
                order
            }
            None => {
                let mut order: Vec<usize> = (0..n).collect();
                for k in (1..n).rev() {
                    let j = crate::hooks::with(|p| p.pick(k + 1)).unwrap_or(k).min(k);
                    order.swap(k, j);
                }
                order
            }
        };
        // Each group's members take the places the order gave the group, in their queue order.
        let mut kinds: Vec<usize> = groups.iter().flatten().copied().collect();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let places: Vec<usize> = (0..n).filter(|&k| groups[order[k]] == Some(kind)).collect();
            let mut members: Vec<usize> = places.iter().map(|&k| order[k]).collect();
            members.sort_unstable();
            for (k, m) in places.into_iter().zip(members) {
                order[k] = m;
            }
        }
        // Apply the permutation with swaps: `at[k]` is the original entry now at place k,
        // `place[o]` the place of original entry o.
        let mut at: Vec<usize> = (0..n).collect();
        let mut place: Vec<usize> = (0..n).collect();
        for (k, &want) in order.iter().enumerate() {
            let from = place[want];
            if from != k {
                timers.ready.swap(slots[k], slots[from]);
                let displaced = at[k];
                at.swap(k, from);
                place[want] = k;
                place[displaced] = from;
            }
        }
        let steps = self.hooks.steps.get();
        if !self.hooks.one_at_a_time.get() || steps >= crate::hooks::ONE_AT_A_TIME_STEPS {
            return Vec::new();
        }
        self.hooks.steps.set(steps + 1);
        // Only the first movable entry runs now; the rest wait (removed back to front).
        let mut held: Vec<Ready> = slots[1..].iter().rev().filter_map(|&i| timers.ready.remove(i)).collect();
        held.reverse();
        held
    }

    /// Something outside the greenthreads may still wake one: a parked fd waiter, a `tpool` job in
    /// flight, or a live [`HubHandle`].
    fn outside_wakers(&self) -> bool {
        self.listeners.get() > 0
            || self.external.get() > 0
            || self.reactor.try_borrow().ok().and_then(|r| r.as_ref().map(|r| r.live_handles() > 0)).unwrap_or(false)
    }

    /// Fires one batch entry. Returns `Some` when the root must return from its blocking call.
    #[inline(always)]
    fn fire(&self, item: Ready) -> Option<Resume> {
        match item {
            Ready::Timer(key) => self.fire_timer(key),
            Ready::Wake(w) => {
                self.wakes.set(self.wakes.get() - 1);
                if self.wake_stacks_used.get() && w.gt.seq.get() == w.seq {
                    // A stale entry's stack was replaced by a later wake-up's, or goes when its
                    // greenthread finishes.
                    self.wake_stacks.borrow_mut().remove(&w.gt.id);
                }
                self.fire_wake(&w.gt, w.seq)
            }
        }
    }

    /// Fires a timer of the batch (the bare wake-ups of [`fire`](Hub::fire) are the hot path).
    #[inline(never)]
    fn fire_timer(&self, key: TimerKey) -> Option<Resume> {
        self.prefetch_groups();
        let taken = self.timers.borrow_mut().take(key);
        let Some(crate::timer::Fired { action, why, due: deadline }) = taken else {
            self.timers.borrow_mut().popped_stale_from_batch();
            return None;
        };
        if let Some((d, seq)) = deadline {
            self.check_timer_order(d, seq);
        }
        self.timers_fired.set(self.timers_fired.get() + 1);
        #[cfg(feature = "test-hooks")]
        crate::hooks::record(|| crate::hooks::TimelineEvent::Timer {
            seq: deadline.map_or(0, |d| d.1 & ((1 << 56) - 1)),
            at: self.now_ns(),
            what: why,
        });
        match action {
            Action::Wake { gt, seq } => return self.fire_wake(&gt, seq),
            Action::Start { gt, owner } => {
                if gt.state.get() == State::NotStarted {
                    gt.start_timer.set(crate::timer::TimerKey::NONE);
                    if owner.is_some_and(|o| o.state.get() == State::Dead) {
                        crate::greenthread::start_killed(self, &gt);
                    } else {
                        self.resume(&gt, Resume::Wake);
                    }
                }
            }
            Action::Expire { gt, id, after } => {
                if gt.state.get() == State::Dead {
                    return None;
                }
                gt.expire(id, after);
                if gt.state.get() == State::Blocked {
                    if gt.is_root {
                        return Some(Resume::Throw);
                    }
                    self.resume(&gt, Resume::Throw);
                }
            }
            Action::Kill { gt } => {
                if gt.state.get() == State::Blocked {
                    if gt.is_root {
                        // Only a `Mode::Panic` report is thrown at the root (`panic_root`).
                        return Some(Resume::Throw);
                    }
                    self.resume(&gt, Resume::Throw);
                }
            }
            Action::Call { f, owner } => {
                if let Some(o) = &owner {
                    if o.state.get() == State::Dead {
                        return None;
                    }
                }
                drop(owner);
                self.call_in_hub_context(f, why);
            }
        }
        None
    }

    /// Invariants of firing: never before the deadline (the pass's clock read), and in
    /// `(deadline, seq)` order among the wheel timers of one pass.
    fn check_timer_order(&self, deadline: u64, order: u64) {
        let seq = order & ((1 << 56) - 1);
        // The pass's clock read: every wheel timer of this pass must have been due by then (a
        // fresh read, later, could hide a timer collected too early).
        let now = self.pass_now.get();
        if now < deadline && !self.tearing_down.get() {
            record_invariant(format!("timer t{seq} fired {} ns before its deadline", deadline - now));
        }
        let last = self.last_fired.get();
        if (deadline, order) < last {
            record_invariant(format!(
                "timer order: t{seq} (deadline {deadline} ns) fired after t{} (deadline {} ns)",
                last.1 & ((1 << 56) - 1),
                last.0
            ));
        }
        self.last_fired.set((deadline, order));
    }

    /// Resumes `gt` if it is still parked in green call `seq`.
    #[inline]
    fn fire_wake(&self, gt: &Rc<GtCore>, seq: u64) -> Option<Resume> {
        let st = gt.state.get();
        if gt.seq.get() == seq && (st == State::Blocked || st == State::Ready) {
            if gt.is_root {
                return Some(Resume::Wake);
            }
            self.resume(gt, Resume::Wake);
        }
        None
    }

    /// Runs a callback in hub context, catching and recording its panic.
    pub(crate) fn call_in_hub_context(&self, f: Box<dyn FnOnce()>, why: &'static str) {
        // Each callback is a slice of its own: short callbacks never add up to a report.
        self.check_hub_slice();
        self.probe.new_slice();
        let prev = self.current.replace(None);
        let r = catch_unwind(AssertUnwindSafe(f));
        drop(self.current.replace(prev));
        if self.probe.take_alarm() {
            // A blocking callback: reported as the hub's own slice (it cannot be failed).
            let _ = crate::probe::slice_ended(crate::probe::SliceEnd {
                slice: self.probe.switches(),
                greenthread: crate::probe::HUB,
                name: Some(format!("hub callback ({why})")),
                spawn_site: None,
                stack_size: 0,
            });
        }
        if let Err(p) = r {
            let msg = panic_message(p.as_ref());
            self.record_exception(true, format!("green: a hub callback ({why}) panicked: {msg}"));
        }
    }

    /// Records a panic the hub caught (`in_hub_context`: in a hub callback); prints it when
    /// `hub_exceptions` is on.
    pub(crate) fn record_exception(&self, in_hub_context: bool, line: String) {
        #[cfg(feature = "tracing")]
        tracing::warn!(target: "green", in_hub_context, "{line}");
        if self.flags.exceptions.get() {
            eprintln!("{line}");
        }
        if let Ok(mut e) = self.exceptions.try_borrow_mut() {
            e.push((in_hub_context, line));
        }
    }

    /// Switches into `gt` until it suspends or finishes.
    ///
    /// The coroutine stays in place, borrowed for the whole switch: nothing touches a running
    /// greenthread's coroutine (only unstarted or parked ones are taken), and a nested resume of
    /// a running greenthread finds it borrowed and returns.
    #[inline(always)]
    pub(crate) fn resume(&self, gt: &Rc<GtCore>, r: Resume) {
        let Ok(mut slot) = gt.run.try_borrow_mut() else {
            return;
        };
        if !matches!(*slot, Run::Coro(_)) {
            Self::first_coroutine(gt, &mut slot);
        }
        let Run::Coro(coro) = &mut *slot else {
            return;
        };
        // The hub's own slice ends here, while `current` still says the hub runs: the slice-end
        // hook may symbolise "on the parent stack" of the current greenthread, which must be
        // the one actually running, never one not yet resumed (its saved parent stack pointer
        // is stale).
        self.check_hub_slice();
        let prev = self.current.replace(Some(gt.clone()));
        gt.state.set(State::Running);
        self.switches.set(self.switches.get() + 1);
        #[cfg(feature = "test-hooks")]
        self.hooks.trace_switch(gt.id);
        self.probe.switch_to(gt.id);
        #[cfg(feature = "tracing")]
        tracing::trace!(target: "green::switch", greenthread = gt.id, "switch in");
        // The timeline's slice start waits in the hooks, not in a local: no value is kept live
        // across the switch for it (the harness's `sleep(0)`: 369 -> 367 instructions).
        #[cfg(feature = "test-hooks")]
        if self.hooks.timeline_on.get() {
            self.hooks.slice_start.set(Some(self.now_ns()));
        }
        let res = coro.resume(r);
        #[cfg(feature = "test-hooks")]
        if self.hooks.timeline_on.get() {
            self.timeline_slice(gt);
        }
        // The slice ended without a green call if it is still alarmed (the greenthread finished).
        let alarmed = self.probe.take_alarm().then(|| self.probe.switches());
        self.probe.switch_to(crate::probe::HUB);
        drop(self.current.replace(prev));
        match res {
            CoroutineResult::Yield(()) => {
                debug_assert!(gt.state.get() != State::Running, "a greenthread suspended without parking");
                drop(slot);
            }
            CoroutineResult::Return(()) => {
                let run = std::mem::replace(&mut *slot, Run::idle());
                drop(slot);
                self.finished(gt, run);
            }
        }
        if let Some(slice) = alarmed {
            self.alarmed_slice_ended(gt, slice);
        }
    }

    /// Records the slice `gt` just ran in the timeline (a slice that began before the timeline
    /// was turned on has no start and is not recorded).
    #[cfg(feature = "test-hooks")]
    #[cold]
    #[inline(never)]
    fn timeline_slice(&self, gt: &GtCore) {
        let Some(start) = self.hooks.slice_start.take() else { return };
        crate::hooks::record(|| crate::hooks::TimelineEvent::Slice {
            gt: gt.id,
            name: gt.label(),
            start,
            end: self.now_ns(),
            parked_in: gt.wait.get().map(|w| w.what),
        });
    }

    /// A greenthread's first resume: its coroutine is created now, on the warmest free stack
    /// (see [`crate::sys::stack::reserve`]). Nothing happens if it has no function (it never
    /// starts).
    #[cold]
    #[inline(never)]
    fn first_coroutine(gt: &GtCore, run: &mut Run) {
        let Run::Start(start) = run else { return };
        let Some(start) = start.take() else { return };
        let stack = crate::sys::stack::take(gt.stack_size()).unwrap_or_else(|e| panic!("{e}"));
        gt.guard_end.set(stack.guard_range().1);
        *run = Run::Coro(corosensei::Coroutine::with_stack(stack, move |y: &GreenYielder, r: Resume| start.run(y, r)));
    }

    /// A greenthread's function returned: it is dead, and its stack goes back to the pool.
    #[cold]
    #[inline(never)]
    fn finished(&self, gt: &Rc<GtCore>, run: Run) {
        gt.state.set(State::Dead);
        gt.yielder.clear();
        self.unregister(gt);
        #[cfg(feature = "test-hooks")]
        self.progress();
        if self.wake_stacks_used.get() {
            self.wake_stacks.borrow_mut().remove(&gt.id);
        }
        if let Run::Coro(c) = run {
            drop(c.into_stack());
        }
    }

    /// The slice that just ended was alarmed but ended without a green call (the greenthread
    /// finished): report only, after the bookkeeping; a panic in the hook must not escape.
    #[cold]
    #[inline(never)]
    fn alarmed_slice_ended(&self, gt: &GtCore, slice: u64) {
        let end = gt.slice_end(slice);
        let _ = catch_unwind(AssertUnwindSafe(|| crate::probe::slice_ended(end)));
    }

    /// Ends the hub's own slice (timers, callbacks, polling bookkeeping) if it was alarmed.
    #[inline]
    fn check_hub_slice(&self) {
        if self.probe.take_alarm() {
            self.end_alarmed_hub_slice();
        }
    }

    #[cold]
    #[inline(never)]
    fn end_alarmed_hub_slice(&self) {
        let end = crate::probe::SliceEnd {
            slice: self.probe.switches(),
            greenthread: crate::probe::HUB,
            name: Some("hub".into()),
            spawn_site: None,
            stack_size: 0,
        };
        let _ = catch_unwind(AssertUnwindSafe(|| crate::probe::slice_ended(end)));
    }

    /// Under the virtual clock, with no timer pending: every fd waiter talks to a socket of this
    /// hub and nothing else can wake anything (no `tpool` job, no live handle). If once the
    /// traffic settled no fd is ready, nothing can ever happen: a hang, decided exactly (a search
    /// reports it as that run's failure instead of waiting for the budget).
    #[cfg(feature = "test-hooks")]
    fn closed_world(&self) -> bool {
        self.hooks.virtual_ns.get().is_some()
            && self.external.get() == 0
            && !self.reactor.try_borrow().ok().and_then(|r| r.as_ref().map(|r| r.live_handles() > 0)).unwrap_or(true)
            && crate::settle::closed_world(self)
    }

    /// See [`Hub::closed_world`].
    #[cfg(feature = "test-hooks")]
    #[cold]
    fn hang(&self, root: &Rc<GtCore>, horizon: Option<Duration>) -> ! {
        let dump = debug::format_greenthreads_of(self);
        root.state.set(State::Running);
        match horizon {
            None => panic!(
                "green: hang: every greenthread waits, on a socket whose peer is a socket of this hub (or \
                 an fd closed behind the runtime's back) or on another greenthread, no timer is pending \
                 and nothing is in flight, so nothing can ever wake anything: each side waits for \
                 the other to write first, or for data nobody sends. Find the wait below that should \
                 have been answered (a request not written, or a response read before the request \
                 was flushed), or bound the wait with a timeout. Wait reasons:\n{dump}"
            ),
            Some(h) => panic!(
                "green: hang: every greenthread waits, on an fd or on another greenthread, no timer is \
                 pending, nothing is in flight, and no fd became ready for the hang horizon of {h:?} \
                 (GREEN_HANG_MS raises it). Wait reasons:\n{dump}"
            ),
        }
    }

    /// A `tpool` job has held virtual time still for the hang horizon with nothing running.
    #[cfg(feature = "test-hooks")]
    #[cold]
    fn held_hang(&self, root: &Rc<GtCore>, horizon: Duration) -> ! {
        self.hooks.held.set(None);
        let dump = debug::format_greenthreads_of(self);
        root.state.set(State::Running);
        panic!(
            "green: hang: a tpool job has been in flight for the hang horizon of {horizon:?} of real time \
             while every greenthread waited and virtual time held still (a job in flight holds virtual \
             time still, so a job that waits for a greenthread's timer can never finish; GREEN_HANG_MS \
             raises the horizon). Wait reasons:\n{dump}"
        )
    }

    /// Under the virtual clock, the run moved: the count of clock jumps that only timers filled
    /// starts over (see [`crate::hooks::set_hang_jumps`]).
    #[cfg(feature = "test-hooks")]
    #[inline(always)]
    pub(crate) fn progress(&self) {
        self.hooks.quiet_jumps.set(0);
        // A wake-up while a tpool job holds time still (the root resumed, without a switch, by
        // a finished job or posted work) is progress too.
        self.hooks.held.set(None);
    }

    /// The virtual clock jumped `limit` times in a row with only timers waking greenthreads.
    #[cfg(feature = "test-hooks")]
    #[cold]
    fn livelock(&self, root: &Rc<GtCore>, limit: u64) -> ! {
        self.hooks.quiet_jumps.set(0);
        let dump = debug::format_greenthreads_of(self);
        let at = Duration::from_nanos(self.hooks.virtual_ns.get().unwrap_or(0));
        root.state.set(State::Running);
        // The first line is the same in every run that meets this livelock (searches tell
        // failures apart by it); what varies follows.
        panic!(
            "green: hang: the virtual clock jumped {limit} times in a row with nothing but timers \
             waking greenthreads: no hand-off between greenthreads, no fd readiness, no greenthread \
             spawned or ended. A livelock in virtual time, such as a retry loop whose condition \
             never comes (GREEN_HANG_JUMPS raises the limit, 0 turns it off).\nVirtual time: \
             {at:?}. Wait reasons:\n{dump}"
        );
    }

    /// The run passed its wall-clock budget ([`Probe::stop_run`](crate::probe::Probe::stop_run))
    /// while the hub kept switching: the root panics with every wait reason (a request withdrawn
    /// meanwhile does nothing).
    #[cfg(feature = "test-hooks")]
    #[cold]
    #[inline(never)]
    fn over_budget(&self, root: &Rc<GtCore>) {
        let Some(budget) = self.probe.take_stop() else { return };
        let dump = debug::format_greenthreads_of(self);
        root.state.set(State::Running);
        // The first line is the same in every run that meets this budget (searches tell
        // failures apart by it).
        panic!(
            "green: budget: the run passed its budget of {budget:?} while the hub kept switching: greenthreads \
             that never finish or hand work to each other for ever (a livelock), or a run that needs longer \
             (GREEN_BUDGET_MS raises the harness's budget). Wait reasons:\n{dump}"
        );
    }

    /// The hang horizon, when it applies now: the virtual clock is on and only fds (no `tpool`
    /// job, no live handle) could wake anything.
    #[cfg(feature = "test-hooks")]
    fn hang_watch(&self) -> Option<Duration> {
        let horizon = self.hooks.hang_horizon.get()?;
        self.hooks.virtual_ns.get()?;
        let handles =
            self.reactor.try_borrow().ok().and_then(|r| r.as_ref().map(|r| r.live_handles() > 0)).unwrap_or(true);
        (self.listeners.get() > 0 && self.external.get() == 0 && !handles).then_some(horizon)
    }

    /// The root waits and nothing can wake anything.
    #[cold]
    fn deadlock(&self, root: &Rc<GtCore>) -> ! {
        let wait = root.wait.get();
        let dump = debug::format_greenthreads_of(self);
        let what = match wait {
            Some(w) => format!("{} at {}:{}", w.what, debug::site_file(w.site), w.site.line()),
            None => "a blocking call".to_string(),
        };
        // Leave the root runnable: the panic unwinds out of its blocking call.
        root.state.set(State::Running);
        panic!(
            "green: deadlock: the root greenlet waits in {what}, but no greenthread is runnable, no \
             timer is pending and no fd is registered, so nothing can ever wake it. Make sure \
             something will set, put or release what it waits for (a greenthread spawned before \
             the wait, a timer, or a timeout around the wait). Wait reasons:\n{dump}"
        );
    }

    // ===== teardown =====

    /// Kills every live greenthread, lets them unwind, and resets the hub to a fresh state.
    pub(crate) fn teardown(&self) -> ShutdownReport {
        if self.in_loop.get() || self.tearing_down.get() {
            return ShutdownReport::default();
        }
        let root = self.root();
        if self.current.get().is_some_and(|c| !c.is_root) {
            return ShutdownReport::default();
        }
        // The root's greenthread-local values go with the hub, first, while the hub still runs
        // normally: their destructors may block (and a wait that can never end is reported as a
        // deadlock), and greenthreads they spawn are unwound below with the others.
        crate::greenthread::drop_locals(&root);
        self.tearing_down.set(true);
        // Whatever happens below, the hub ends fresh and not tearing down.
        struct Fresh<'a>(&'a Hub);
        impl Drop for Fresh<'_> {
            fn drop(&mut self) {
                self.0.reset();
            }
        }
        let fresh = Fresh(self);
        let mut unwound = 0;
        for _round in 0..16 {
            let gts = self.live_greenthreads();
            if gts.is_empty() {
                break;
            }
            unwound += gts.len();
            for gt in &gts {
                let r = catch_unwind(AssertUnwindSafe(|| crate::greenthread::kill_for_teardown(self, gt)));
                if let Err(p) = r {
                    self.record_exception(true, format!("green: hub teardown: {}", panic_message(p.as_ref())));
                }
            }
            // Let the victims unwind; destructors may make green calls, which are served.
            root.state.set(State::Blocked);
            root.seq.set(root.seq.get() + 1);
            self.run_loop_until_quiet(&root);
        }
        let leaked = self.live_greenthreads();
        for gt in &leaked {
            let line = format!(
                "green: hub teardown: {} stays parked in {} while unwinding; it is leaked (its stack is not reclaimed)",
                gt.label(),
                gt.wait.get().map_or("a green call", |w: WaitInfo| w.what)
            );
            self.record_exception(true, line);
            let mut run = gt.run.borrow_mut();
            if matches!(*run, Run::Coro(_)) {
                std::mem::forget(std::mem::replace(&mut *run, Run::idle()));
            }
            drop(run);
            // Dead: primitives that outlive the hub never hand anything to its waiters.
            gt.state.set(State::Dead);
            self.unregister(gt);
        }
        let drained = self.timers.borrow_mut().drain();
        self.wakes.set(0); // the drained ready queue and the batch are dropped below
        let batch = std::mem::take(&mut *self.batch.borrow_mut());
        // Dropping them runs user destructors (callbacks' captures).
        if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop((drained, batch)))) {
            self.record_exception(true, format!("green: hub teardown: {}", panic_message(p.as_ref())));
        }
        self.close_reactor();
        let exceptions = self
            .exceptions
            .try_borrow()
            .map(|e| e.iter().filter(|x| x.0).map(|x| x.1.clone()).collect())
            .unwrap_or_default();
        let unobserved_panics =
            self.unobserved.try_borrow_mut().map(|mut u| std::mem::take(&mut *u)).unwrap_or_default();
        let quiet_panics =
            self.quiet_panics.try_borrow_mut().map(|mut q| std::mem::take(&mut *q).into()).unwrap_or_default();
        drop(fresh);
        ShutdownReport {
            unwound,
            leaked: leaked.len(),
            hub_context_panics: exceptions,
            unobserved_panics,
            quiet_panics,
        }
    }

    /// Runs passes until nothing is queued (teardown).
    fn run_loop_until_quiet(&self, root: &Rc<GtCore>) {
        self.in_loop.set(true);
        drop(self.current.replace(None));
        // A destructor that polls for ever (sleep in a loop) must not hang teardown: after this
        // many passes whatever is left is leaked.
        let mut passes = 0u32;
        loop {
            let item = self.batch.borrow_mut().pop_front();
            match item {
                Some(item) => {
                    // A wake-up of the root is meaningless here; keep draining.
                    let _ = self.fire(item);
                }
                None => {
                    let quiet = self.live_timers() == 0;
                    passes += 1;
                    if quiet || self.live_count.get() == 0 || passes > 10_000 {
                        break;
                    }
                    self.next_pass(root);
                }
            }
        }
        self.in_loop.set(false);
        drop(self.current.replace(Some(root.clone())));
        root.state.set(State::Running);
    }

    fn reset(&self) {
        self.epoch.set(Instant::now());
        self.epoch_ns.set(crate::sys::clock::monotonic_ns());
        self.next_id.set(1);
        self.next_timeout_id.set(1);
        let root = GtCore::new_root();
        drop(self.current.replace(Some(root.clone())));
        *self.root.borrow_mut() = root;
        // Keep the slots' generations: a timer handle from before the reset must stay stale.
        self.timers.borrow_mut().reset();
        self.batch.borrow_mut().clear();
        self.wake_stacks.borrow_mut().clear();
        self.wake_stacks_used.set(false);
        self.wakes.set(0);
        self.live.borrow_mut().clear();
        self.live_count.set(0);
        self.switches.set(0);
        self.passes.set(0);
        self.polls.set(0);
        self.timers_fired.set(0);
        self.flags.reset();
        self.quiet_panics.borrow_mut().clear();
        self.exceptions.borrow_mut().clear();
        self.unobserved.borrow_mut().clear();
        self.invariants.borrow_mut().clear();
        self.last_fired.set((0, 0));
        #[cfg(feature = "test-hooks")]
        {
            self.hooks.virtual_ns.set(None);
            self.hooks.hang_horizon.set(None);
            self.hooks.hang_jumps.set(None);
            self.hooks.quiet_jumps.set(0);
            self.hooks.held.set(None);
            drop(self.hooks.perturb.borrow_mut().take());
            self.hooks.shuffles.set(false);
            self.hooks.one_at_a_time.set(false);
            self.hooks.steps.set(0);
            self.hooks.set_tracing(false);
            self.hooks.set_timeline(false);
            self.hooks.jitter_pending.borrow_mut().clear();
            self.hooks.ties.borrow_mut().clear();
            self.hooks.covering.set(false);
            self.hooks.coverage.borrow_mut().take();
            self.settle.reset();
        }
        // Waiters leaked by teardown never decrement these: start from zero.
        self.listeners.set(0);
        self.external.set(0);
        self.tearing_down.set(false);
    }
}

// ===== public API =====

/// A handle to a timer created by [`schedule_call_global`] or [`schedule_call_local`].
///
/// Dropping the handle does not cancel the timer; [`cancel`](TimerHandle::cancel) does. The handle
/// is `!Send`: a timer belongs to its thread's hub.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// let fired = Rc::new(Cell::new(false));
/// let f = fired.clone();
/// let t = green::hub::schedule_call_global(Duration::from_millis(1), move || f.set(true));
/// assert!(t.is_pending());
/// t.cancel();
/// green::sleep(Duration::from_millis(3));
/// assert!(!fired.get());
/// ```
#[derive(Debug)]
pub struct TimerHandle {
    key: TimerKey,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl TimerHandle {
    /// Cancels the timer if it has not fired yet; idempotent.
    ///
    /// ```
    /// let t = green::hub::schedule_call_global(std::time::Duration::from_secs(1), || {});
    /// t.cancel();
    /// t.cancel(); // idempotent
    /// assert!(!t.is_pending());
    /// ```
    pub fn cancel(&self) {
        hub().cancel_timer(self.key);
    }

    /// True until the timer fires or is cancelled.
    ///
    /// ```
    /// let t = green::hub::schedule_call_global(std::time::Duration::ZERO, || {});
    /// assert!(t.is_pending());
    /// green::sleep(std::time::Duration::ZERO);
    /// assert!(!t.is_pending());
    /// ```
    pub fn is_pending(&self) -> bool {
        hub().timer_is_live(self.key)
    }
}

/// Runs `f` in hub context after `delay`, whoever created it (eventlet's `schedule_call_global`).
///
/// `f` must not block: a blocking green call in hub context panics (the panic is caught by the hub,
/// printed when [`debug::hub_exceptions`] is on, and recorded). Equal
/// deadlines fire in creation order; a zero delay runs at the next hub pass.
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// let log = Rc::new(RefCell::new(Vec::new()));
/// for (delay, tag) in [(2, 3), (1, 1), (1, 2)] {
///     let log = log.clone();
///     green::hub::schedule_call_global(Duration::from_millis(delay), move || log.borrow_mut().push(tag));
/// }
/// green::sleep(Duration::from_millis(5));
/// assert_eq!(*log.borrow(), [1, 2, 3]);
/// ```
#[track_caller]
pub fn schedule_call_global(delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
    let key = hub().add_timer(
        delay,
        Action::Call { f: Box::new(f), owner: None },
        "schedule_call_global",
        Location::caller(),
    );
    TimerHandle { key, _not_send: std::marker::PhantomData }
}

/// Like [`schedule_call_global`], but the callback is skipped if the greenthread that scheduled it
/// has finished by then (eventlet's `schedule_call_local`).
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// let fired = Rc::new(Cell::new(false));
/// let f = fired.clone();
/// green::spawn(move || {
///     green::hub::schedule_call_local(Duration::from_millis(1), move || f.set(true));
/// });
/// green::sleep(Duration::from_millis(3));
/// assert!(!fired.get(), "its creator exited first");
/// ```
#[track_caller]
pub fn schedule_call_local(delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
    let h = hub();
    let owner = h.current().filter(|c| !c.is_root);
    let key = h.add_timer(delay, Action::Call { f: Box::new(f), owner }, "schedule_call_local", Location::caller());
    TimerHandle { key, _not_send: std::marker::PhantomData }
}

/// Counters of this thread's timer queues (live timers, queued entries, cancelled entries not yet
/// purged).
///
/// ```
/// use std::time::Duration;
/// let before = green::hub::timer_stats();
/// let t = green::hub::schedule_call_global(Duration::from_secs(60), || {});
/// t.cancel();
/// let after = green::hub::timer_stats();
/// assert_eq!(after.live, before.live);
/// assert_eq!(after.cancelled, before.cancelled + 1);
/// ```
pub fn timer_stats() -> TimerStats {
    let h = hub();
    let batch_len = h.batch.borrow().len();
    h.timers.borrow().stats(batch_len, h.wakes.get())
}

/// True when called from hub context (a timer callback the hub runs directly), where blocking green
/// calls are not allowed.
///
/// ```
/// assert!(!green::hub::in_hub_context());
/// green::hub::schedule_call_global(std::time::Duration::ZERO, || assert!(green::hub::in_hub_context()));
/// green::sleep(std::time::Duration::ZERO);
/// ```
pub fn in_hub_context() -> bool {
    hub().in_hub_context()
}

/// Runs the hub from the root greenlet until no greenthread is alive and no timer is pending.
///
/// Only the root (the thread's own stack) may run the hub loop: called from a greenthread or from
/// hub context this panics with a message naming the misuse. If greenthreads remain but nothing can
/// wake them, it panics with the deadlock report.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// let n = Rc::new(Cell::new(0));
/// for i in 0..3 {
///     let n = n.clone();
///     green::spawn(move || { green::sleep(Duration::from_millis(i)); n.set(n.get() + 1) });
/// }
/// green::hub::run();
/// assert_eq!(n.get(), 3);
/// ```
#[track_caller]
pub fn run() {
    let h = hub();
    match h.current() {
        None => misuse_hub_context("green::hub::run"),
        Some(c) if !c.is_root => {
            record_invariant(format!(
                "hub-context switching: green::hub::run called from inside {} at {}",
                c.label(),
                Location::caller()
            ));
            panic!(
                "green: hub::run called from inside {}: only the root greenlet (the thread's own stack) \
                 runs the hub loop (eventlet: Cannot switch to MAINLOOP from MAINLOOP); a greenthread \
                 blocks with sleep, wait or join instead",
                c.label()
            )
        }
        Some(root) => {
            let t = crate::greenthread::begin_green_call(h, root.clone());
            root.state.set(State::Blocked);
            root.wait.set(Some(WaitInfo { what: "hub::run", site: Location::caller() }));
            let _ = t;
            if h.probe.take_alarm() {
                // The root's slice ends here: reported, and raised under `Mode::Panic` (a
                // `Fail` verdict has no green call to fail).
                let end = root.slice_end(h.probe.switches());
                let v = catch_unwind(AssertUnwindSafe(|| crate::probe::slice_ended(end)));
                if let Ok(crate::probe::SliceVerdict::Panic(report)) = v {
                    root.state.set(State::Running);
                    root.wait.set(None);
                    root.start_unwinding(h);
                    std::panic::panic_any(report);
                }
            }
            let r = h.run_loop(&root, true);
            root.wait.set(None);
            if r == Resume::Throw {
                crate::greenthread::deliver_throw(&root);
            }
        }
    }
}

/// Tears down this thread's hub now: every live greenthread is killed and unwound (destructors run)
/// and the hub starts afresh. This is what happens when the thread exits; call it explicitly for
/// the main thread, whose hub is otherwise leaked at process exit. Must be called from the root.
///
/// Returns what the teardown did and saw, including the hub-context panics recorded since the hub
/// started (teardown itself may add some: a destructor that panics, a greenthread leaked because
/// it stayed parked while unwinding).
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// struct Flag(Rc<Cell<bool>>);
/// impl Drop for Flag { fn drop(&mut self) { self.0.set(true) } }
/// let dropped = Rc::new(Cell::new(false));
/// let flag = Flag(dropped.clone());
/// green::spawn(move || { let _f = flag; green::sleep(std::time::Duration::from_secs(3600)) });
/// green::sleep(std::time::Duration::ZERO);
/// let report = green::hub::shutdown();
/// assert!(dropped.get());
/// assert_eq!((report.unwound, report.leaked), (1, 0));
/// ```
pub fn shutdown() -> ShutdownReport {
    let h = hub();
    match h.current() {
        Some(c) if c.is_root && !h.in_loop.get() => h.teardown(),
        _ => panic!(
            "green: hub::shutdown must be called from the root greenlet outside hub context; \
             greenthreads and hub callbacks cannot tear down the hub they run on"
        ),
    }
}

/// Quiescence barrier: yields until every greenthread is blocked (nothing is runnable but the
/// caller). Under a virtual clock this runs everything that can run at the current instant.
///
/// # Panics
///
/// In hub context.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let steps = Rc::new(Cell::new(0));
/// for _ in 0..3 {
///     let s = steps.clone();
///     green::spawn(move || for _ in 0..5 { s.set(s.get() + 1); green::sleep(std::time::Duration::ZERO) });
/// }
/// green::hub::wait_all_blocked();
/// assert_eq!(steps.get(), 15);
/// ```
#[track_caller]
pub fn wait_all_blocked() {
    let h = hub();
    loop {
        crate::greenthread::yield_now_at("hub::wait_all_blocked", Location::caller());
        let idle = h.batch.borrow().is_empty() && h.timers.borrow().ready.is_empty();
        if idle {
            return;
        }
    }
}

/// Timers this thread's hub fired so far (sleeps, timeouts, starts, callbacks; not the bare
/// wake-ups of `sleep(0)` and hand-offs).
///
/// ```
/// let before = green::hub::timers_fired();
/// green::sleep(std::time::Duration::from_millis(1));
/// assert_eq!(green::hub::timers_fired(), before + 1);
/// ```
pub fn timers_fired() -> u64 {
    hub().timers_fired.get()
}

/// Live greenthreads on this thread's hub (spawned and not finished; the root is not counted).
///
/// ```
/// let before = green::hub::greenthread_count();
/// let gt = green::spawn(|| ());
/// assert_eq!(green::hub::greenthread_count(), before + 1);
/// gt.wait().unwrap();
/// assert_eq!(green::hub::greenthread_count(), before);
/// ```
pub fn greenthread_count() -> usize {
    hub().live_count.get()
}

/// Number of listeners registered on this thread's hub: green calls waiting for an fd's
/// readiness (the entries `format_hub_listeners` lists).
///
/// ```
/// let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
/// b.set_nonblocking(true).unwrap();
/// let waiter = green::spawn(move || green::trampoline(&b, green::Interest::Read, None));
/// green::sleep(std::time::Duration::ZERO);
/// assert_eq!(green::hub::listener_count(), 1);
/// waiter.kill();
/// assert_eq!(green::hub::listener_count(), 0);
/// ```
pub fn listener_count() -> usize {
    hub().listeners.get()
}

/// What [`shutdown`] did.
///
/// ```
/// let report = green::hub::shutdown();
/// assert_eq!(report.leaked, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Greenthreads that were alive and were killed and unwound.
    pub unwound: usize,
    /// Greenthreads that stayed parked while unwinding and were leaked.
    pub leaked: usize,
    /// Panics caught in hub context during the hub's life, teardown included.
    pub hub_context_panics: Vec<String>,
    /// Greenthread panics nobody waited for, recorded during the hub's life (teardown included)
    /// and not yet taken with [`debug::take_unobserved_panics`]: the fresh hub that follows
    /// starts with none, so this is the last chance to see them.
    pub unobserved_panics: Vec<String>,
    /// Panics kept unprinted (with [`debug::hub_exceptions`] off) and not yet taken with
    /// [`debug::take_quiet_panics`], teardown included (a destructor panicking while its
    /// greenthread is unwound): message and location, oldest first.
    pub quiet_panics: Vec<(String, String)>,
}

/// Switches performed and passes run by this thread's hub so far.
///
/// ```
/// let before = green::hub::switch_count();
/// green::spawn(|| {});
/// green::sleep(std::time::Duration::ZERO);
/// assert!(green::hub::switch_count() > before);
/// ```
pub fn switch_count() -> u64 {
    hub().switches.get()
}

/// Polls of the reactor (`epoll_wait` system calls) this thread's hub made so far. A hub polls
/// only when something can come of it: a greenthread waits on an fd, or a [`HubHandle`] is alive;
/// a socket that is open but waited on by nobody costs no poll (DESIGN §3).
///
/// ```
/// let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap(); // registered, idle
/// let before = green::hub::poll_count();
/// for _ in 0..100 {
///     green::sleep(std::time::Duration::ZERO);
/// }
/// assert_eq!(green::hub::poll_count(), before);
/// drop(listener);
/// ```
pub fn poll_count() -> u64 {
    hub().polls.get()
}

/// A `Send` handle to a thread's hub: other OS threads post closures that the hub runs in hub
/// context, waking it through mio's `Waker`. While a handle is alive the hub never reports a
/// deadlock (work may still arrive). `tpool` is built on it.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// let ev = green::Event::new();
/// let handle = green::hub::handle();
/// let worker = std::thread::spawn(move || {
///     handle.post(|| println!("runs on the hub's thread, in hub context")).unwrap();
/// });
/// let e = ev.clone();
/// green::hub::schedule_call_global(std::time::Duration::from_millis(5), move || e.send(()).unwrap());
/// ev.wait();
/// worker.join().unwrap();
/// ```
#[derive(Clone)]
pub struct HubHandle {
    posted: std::sync::Arc<crate::listener::Posted>,
}

/// Returned by [`HubHandle::post`] when the hub was shut down (or its thread exited).
///
/// ```
/// let h = std::thread::spawn(green::hub::handle).join().unwrap(); // that thread's hub is gone
/// assert_eq!(h.post(|| ()), Err(green::hub::HubClosed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubClosed;

impl std::fmt::Display for HubClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the hub was shut down (or its thread exited); nothing can be posted to it")
    }
}

impl std::error::Error for HubClosed {}

impl HubHandle {
    /// Queues `f` to run on the hub's thread, in hub context (it must not block; it may spawn,
    /// send events, release semaphores), and wakes the hub.
    ///
    /// ```
    /// let h = green::hub::handle();
    /// std::thread::spawn(move || h.post(|| ()).unwrap()).join().unwrap();
    /// green::sleep(std::time::Duration::from_millis(1));
    /// ```
    pub fn post(&self, f: impl FnOnce() + Send + 'static) -> Result<(), HubClosed> {
        post_to(&self.posted, Box::new(f))
    }
}

/// Queues `f` unless the hub closed. `closed` is read and set under the queue's lock, so work
/// posted concurrently with a shutdown is either taken by the hub or refused, never lost after
/// an `Ok`.
fn post_to(posted: &crate::listener::Posted, f: Box<dyn FnOnce() + Send>) -> Result<(), HubClosed> {
    use std::sync::atomic::Ordering;
    {
        let mut q = posted.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if posted.closed.load(Ordering::SeqCst) {
            return Err(HubClosed);
        }
        q.push(f);
        posted.queued.store(true, Ordering::Release);
    }
    posted.waker.wake().map_err(|_| HubClosed)
}

impl std::fmt::Debug for HubHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubHandle").finish_non_exhaustive()
    }
}

/// A `Send` handle to this thread's hub (see [`HubHandle`]).
///
/// # Panics
///
/// When the hub's poller cannot be created (the process is out of file descriptors).
///
/// ```
/// fn assert_send<T: Send + Sync>(_: &T) {}
/// assert_send(&green::hub::handle());
/// ```
pub fn handle() -> HubHandle {
    let posted = hub()
        .with_reactor(|r| r.posted.clone())
        .unwrap_or_else(|e| panic!("green: cannot create the hub's poller: {e}"));
    HubHandle { posted }
}

/// A handle to a hub that does not keep it alive: unlike a [`HubHandle`] it does not count as
/// "work may still arrive" for deadlock detection. Upgrade it to post.
///
/// ```
/// let weak = green::hub::handle().downgrade();
/// let h = weak.upgrade().unwrap();
/// std::thread::spawn(move || h.post(|| ()).unwrap()).join().unwrap();
/// green::sleep(std::time::Duration::from_millis(1));
/// ```
#[derive(Clone)]
pub struct WeakHubHandle {
    posted: std::sync::Weak<crate::listener::Posted>,
}

impl WeakHubHandle {
    /// A strong handle, while the hub's poller exists.
    ///
    /// ```
    /// assert!(green::hub::handle().downgrade().upgrade().is_some());
    /// ```
    pub fn upgrade(&self) -> Option<HubHandle> {
        self.posted.upgrade().map(|posted| HubHandle { posted })
    }
}

impl std::fmt::Debug for WeakHubHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakHubHandle").finish_non_exhaustive()
    }
}

impl HubHandle {
    /// A [`WeakHubHandle`] to the same hub.
    ///
    /// ```
    /// let _w = green::hub::handle().downgrade();
    /// ```
    pub fn downgrade(&self) -> WeakHubHandle {
        WeakHubHandle { posted: std::sync::Arc::downgrade(&self.posted) }
    }
}

/// Panics for a blocking call made in hub context.
#[cold]
#[track_caller]
pub(crate) fn misuse_hub_context(call: &str) -> ! {
    record_invariant(format!("hub-context switching: {call} called from hub context at {}", Location::caller()));
    panic!(
        "green: {call} called from hub context (a callback the hub runs directly, such as a \
         schedule_call_global timer): blocking green calls cannot switch to the hub from the hub \
         itself (eventlet: Cannot switch to MAINLOOP from MAINLOOP). Spawn a greenthread for the \
         blocking work with green::spawn; sleep(Duration::ZERO) is allowed and does nothing here"
    )
}

#[cfg(test)]
mod tests {
    /// The timer invariants fire on a timer fired before its deadline and on one fired out of
    /// `(deadline, order)` order (the wheel never does either; this proves the checks are live),
    /// and stay quiet on an in-order, due timer.
    #[test]
    fn the_timer_checks_fire_on_an_early_and_an_out_of_order_timer() {
        let h = super::hub();
        let _ = crate::debug::take_invariant_violations();
        h.pass_now.set(1_000);
        h.last_fired.set((0, 0));
        h.check_timer_order(900, 7);
        assert!(crate::debug::take_invariant_violations().is_empty());
        h.check_timer_order(1_100, 8);
        assert_eq!(crate::debug::take_invariant_violations(), ["timer t8 fired 100 ns before its deadline"]);
        h.last_fired.set((900, 9));
        h.check_timer_order(900, 3);
        assert_eq!(
            crate::debug::take_invariant_violations(),
            ["timer order: t3 (deadline 900 ns) fired after t9 (deadline 900 ns)"]
        );
        h.last_fired.set((0, 0));
    }
}
