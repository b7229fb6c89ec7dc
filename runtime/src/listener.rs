//! Listeners: greenthreads waiting for fd readiness, on mio.
//!
//! # Ground rules
//!
//! * Every green socket registers its fd once, at creation, for both readable and writable
//!   readiness (mio is edge-triggered; a TCP stream also for urgent data). An [`IoSource`]
//!   caches the readiness the poller reported: a flag is set by a readiness event and cleared by
//!   the socket operation that hit `WouldBlock`, or by a read of a TCP stream or pipe that came
//!   back short (it took all there was; see [`IoSource::short_reads_drain`] for when a short
//!   read proves nothing). A wait first looks at the flag, so readiness reported while nobody
//!   waited is never lost, and an operation whose flag is clear waits for the next event before
//!   it makes its system call: the poller reports every arrival after its last poll, so the call
//!   it skips could only have found nothing.
//! * A waiter parks in the source's sole-waiter slot for its interest when nobody else waits for
//!   it (the usual case: one reader, one writer), in the reader or writer queue behind it
//!   otherwise; a readiness event wakes the slot's waiter and then all the queued ones at
//!   the next pass (they retry their operation; one that finds `WouldBlock` waits again), so a
//!   spurious wake-up is harmless and never reaches the caller. A waiter about to park while
//!   others woken by the last event have not retried yet lets them go first, so the one that got
//!   the data queues behind them: several waiters allowed on one fd take the events in turn
//!   (eventlet's rotation of primary listeners).
//! * One reader and one writer per source unless allowed (eventlet's multiple-reader guard):
//!   per hub with [`debug::hub_prevent_multiple_readers`](crate::debug::hub_prevent_multiple_readers),
//!   per socket with `allow_multiple_waiters`.
//! * Waiters belong to a source, not to an fd number. Closing a source deregisters it and wakes
//!   its waiters with a closed error; a new source registered for an fd number still held by an
//!   old one (the fd was closed behind the runtime's back and reused) makes the old one obsolete:
//!   its waiters wake with the closed error and are never woken for the new file.
//! * [`trampoline`] checks the fd's readiness level with a zero-timeout `poll(2)` (as eventlet's
//!   level-triggered hubs see it), so it neither misses readiness nor trusts a stale cached flag.
//!   On an fd no green socket owns it registers the fd for as long as trampolines wait on it:
//!   several waiters share the registration and the last one out (returning or unwinding)
//!   deregisters it. A source remembers the file its fd referred to (`fstat`'s device and
//!   inode): a trampoline that finds another file behind the fd number (closed and reused
//!   behind the runtime's back) registers the new file, and the old source's waiters wake with
//!   the closed error; nobody ever waits on a file other than the one they asked for.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::Location;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest as MioInterest, Token};

use crate::error::Error;
use crate::greenthread::GtCore;
use crate::hub::{hub, misuse_hub_context, Hub};
use crate::wait::{SoleWaiter, WaitQueue};

/// Which readiness a wait is for.
///
/// ```
/// use green::Interest;
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// a.set_nonblocking(true).unwrap();
/// green::trampoline(&a, Interest::Write, None).unwrap(); // room to write: returns at the next pass
/// let err = green::trampoline(&a, Interest::Read, Some(std::time::Duration::from_millis(1))).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut); // nothing to read
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interest {
    /// Readable (or peer closed, or error).
    Read,
    /// Writable (or error).
    Write,
}

const WAKER: Token = Token(usize::MAX);

/// One registered fd.
pub(crate) struct IoSource {
    /// Per-hub ordinal, shown as `fd#N` in dumps (never the raw fd number).
    pub(crate) ordinal: u64,
    pub(crate) fd: RawFd,
    token: Token,
    /// What it is, for dumps ("tcp stream", "tcp listener", "udp socket", "fd").
    pub(crate) kind: &'static str,
    pub(crate) readable: Cell<bool>,
    pub(crate) writable: Cell<bool>,
    pub(crate) closed: Cell<bool>,
    /// A short read proves the stream drained (see `Socket::read_returned`): a TCP stream or a
    /// pipe, on Linux, until the poller reports the peer's end, an error or TCP urgent data (a
    /// read stops at the urgent mark with data behind it). Never a Unix stream: a read stops
    /// where passed descriptors or another writer's credentials begin, with data behind it.
    pub(crate) short_reads_drain: Cell<bool>,
    pub(crate) allow_multiple: Cell<bool>,
    /// An injected reset or broken pipe that stays in force (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub(crate) broken: Cell<Option<io::ErrorKind>>,
    /// Watched by [`crate::settle`]: it wrote and may have traffic in flight (`test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub(crate) dirty: Cell<bool>,
    /// A listener's connections started by this hub's clients, not accepted yet (`test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub(crate) pending_accepts: Cell<usize>,
    /// Its own address and its peer's, for [`crate::settle`] (`test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub(crate) local: Cell<Option<std::net::SocketAddr>>,
    #[cfg(feature = "test-hooks")]
    pub(crate) peer: Cell<Option<std::net::SocketAddr>>,
    /// The one waiter for each interest (`[read, write]`) while nobody else waits for it: the
    /// usual case parks here, outside the queues. A second waiter (allowed with
    /// `allow_multiple_waiters`) queues behind it.
    sole: [SoleWaiter; 2],
    readers: WaitQueue<()>,
    writers: WaitQueue<()>,
    /// Waiters woken by a readiness event that have not run yet: `[readers, writers]`.
    woken: [Cell<usize>; 2],
    /// Trampolines using a registration made for trampolines (0 for a green socket's source).
    pub(crate) trampolines: Cell<usize>,
    /// The file the fd referred to when it was registered (`(device, inode)`): a trampoline
    /// finding another file behind the same fd number never shares this source.
    pub(crate) identity: Option<(u64, u64)>,
    /// Creation stacks of the current waiters (listener stacks on): `(greenthread id, ips)`.
    stacks: RefCell<Vec<WaiterStack>>,
    /// Where the source was created.
    pub(crate) site: &'static Location<'static>,
}

/// The creation stack of a waiter: `(greenthread id, interest, return addresses)`.
type WaiterStack = (u64, Interest, Box<[usize]>);

/// A waiter as dumps show it: its interest, its greenthread and its creation stack.
pub(crate) type WaiterInfo = (Interest, Rc<GtCore>, Option<Box<[usize]>>);

/// Work posted from other OS threads through a [`HubHandle`](crate::hub::HubHandle).
pub(crate) struct Posted {
    pub(crate) waker: mio::Waker,
    pub(crate) queue: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    /// True while `queue` may be non-empty: set (under the lock) by posters, cleared when the
    /// hub takes the queue. The hub reads it every pass instead of taking the lock.
    pub(crate) queued: std::sync::atomic::AtomicBool,
    pub(crate) closed: std::sync::atomic::AtomicBool,
}

impl Posted {
    /// Takes the posted work (the hub's side).
    pub(crate) fn take(&self) -> Vec<Box<dyn FnOnce() + Send>> {
        let mut q = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.queued.store(false, std::sync::atomic::Ordering::Relaxed);
        std::mem::take(&mut *q)
    }
}

/// The hub's poller and its registered sources.
pub(crate) struct Reactor {
    poll: mio::Poll,
    events: mio::Events,
    sources: Vec<Option<Rc<IoSource>>>,
    gens: Vec<u32>,
    free: Vec<usize>,
    by_fd: HashMap<RawFd, Rc<IoSource>>,
    next_ordinal: u64,
    pub(crate) posted: Arc<Posted>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        Ok(Reactor {
            poll,
            events: mio::Events::with_capacity(1024),
            sources: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            by_fd: HashMap::new(),
            next_ordinal: 1,
            posted: Arc::new(Posted {
                waker,
                queue: Mutex::new(Vec::new()),
                queued: std::sync::atomic::AtomicBool::new(false),
                closed: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    fn lookup(&self, t: Token) -> Option<&Rc<IoSource>> {
        let idx = t.0 & 0xffff_ffff;
        let gen = (t.0 >> 32) as u32;
        match (self.sources.get(idx), self.gens.get(idx)) {
            (Some(Some(s)), Some(&g)) if g == gen => Some(s),
            _ => None,
        }
    }

    /// Whether the poller still watches `src`'s file (see [`crate::sys::poll::epoll_watches`]);
    /// `None` when that cannot be told.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn still_watches(&self, src: &IoSource) -> Option<bool> {
        use std::os::fd::AsRawFd;
        let (_, ino) = src.identity?;
        crate::sys::poll::epoll_watches(self.poll.as_raw_fd(), src.fd, ino)
    }

    /// Live sources, by ordinal.
    pub(crate) fn sources(&self) -> Vec<Rc<IoSource>> {
        let mut v: Vec<_> = self.sources.iter().flatten().cloned().collect();
        v.sort_by_key(|s| s.ordinal);
        v
    }

    /// True when a poll can report something anyone waits for: a greenthread waits on a source
    /// (`waiters`, the hub's listener count) or a handle is alive (posted work). A registered
    /// source nobody waits on needs no poll (DESIGN §3: no poll syscall when no listener is
    /// registered): mio's readiness is edge-triggered and stays queued in the kernel until a
    /// poll with a waiter collects it, and green sockets try the call before they wait.
    pub(crate) fn needs_poll(&self, waiters: usize) -> bool {
        (waiters > 0 && !self.by_fd.is_empty()) || self.live_handles() > 0
    }

    /// Handles alive outside the hub (the reactor itself holds one reference).
    pub(crate) fn live_handles(&self) -> usize {
        let queued = self.posted.queued.load(std::sync::atomic::Ordering::Acquire);
        Arc::strong_count(&self.posted) - 1 + usize::from(queued)
    }
}

impl Hub {
    /// Runs `f` with the reactor, creating it on first use.
    pub(crate) fn with_reactor<R>(&self, f: impl FnOnce(&mut Reactor) -> R) -> io::Result<R> {
        let mut r = self.reactor.borrow_mut();
        if r.is_none() {
            let new = Reactor::new()?;
            crate::hub::registry_set_posted(&self.probe, &new.posted);
            *r = Some(new);
        }
        Ok(f(r.as_mut().expect("reactor created above")))
    }

    /// Polls for at most `timeout` and wakes the waiters of every source that became ready;
    /// runs work posted from other threads.
    pub(crate) fn poll_io(&self, timeout: Option<Duration>) {
        // Loopback traffic this hub started lands before readiness is looked at.
        #[cfg(feature = "test-hooks")]
        crate::settle::settle(self);
        let mut fired = std::mem::take(&mut *self.fired.borrow_mut());
        let mut posted = false;
        let probe = self.probe.clone();
        let polled = self.with_reactor(|r| {
            probe.set_in_poll(true);
            self.polls.set(self.polls.get() + 1);
            let polled = r.poll.poll(&mut r.events, timeout);
            probe.set_in_poll(false);
            match polled {
                Ok(()) => {}
                // EINTR: a signal arrived; the pass simply goes on (nothing reaches users).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
                Err(e) => return Err(e),
            }
            for ev in r.events.iter() {
                if ev.token() == WAKER {
                    posted = true;
                    continue;
                }
                if let Some(src) = r.lookup(ev.token()) {
                    let rd = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                    if ev.is_read_closed() || ev.is_error() || ev.is_priority() {
                        // The end (its last bytes and the end came in one event, and no event
                        // repeats it), an error, or urgent data a read stops at.
                        src.short_reads_drain.set(false);
                    }
                    let wr = ev.is_writable() || ev.is_write_closed() || ev.is_error();
                    fired.push((src.clone(), rd, wr));
                }
            }
            Ok(())
        });
        match polled {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => panic!("green: the hub's poller failed: {e}"),
        }
        #[cfg(feature = "test-hooks")]
        self.perturb_readiness(&mut fired);
        // What the poll brings (readiness, posted work) happened while the hub waited, before any
        // timer that fell due meanwhile fires, as eventlet runs fd callbacks inside its wait: if
        // the ready queue was empty, its entries take no time stamp (see `Timers::ready_since`).
        let was_empty = (!fired.is_empty() || posted) && self.timers.try_borrow().is_ok_and(|t| t.ready.is_empty());
        for (src, rd, wr) in fired.drain(..) {
            if rd {
                src.readable.set(true);
                src.wake_for_readiness(Interest::Read, "fd readable");
            }
            if wr {
                src.writable.set(true);
                src.wake_for_readiness(Interest::Write, "fd writable");
            }
        }
        *self.fired.borrow_mut() = fired;
        if posted {
            self.run_posted();
        }
        if was_empty {
            if let Ok(mut t) = self.timers.try_borrow_mut() {
                t.ready_since = 0;
            }
        }
    }

    /// Under a perturbation: puts this poll's readiness in a fixed order (by fd ordinal, not the
    /// kernel's). Nothing is drawn here: how many events one poll returns is the kernel's call
    /// (edges of sockets nobody waits on, acknowledgements), and a draw per event would shift
    /// every later draw of the tape (DESIGN §6.1: draw per operation, not per poll event). The
    /// greenthreads this readiness wakes join the ready batch, whose order the harness draws.
    #[cfg(feature = "test-hooks")]
    fn perturb_readiness(&self, fired: &mut [(Rc<IoSource>, bool, bool)]) {
        if self.hooks.perturb.try_borrow().map_or(true, |p| p.is_none()) {
            return;
        }
        fired.sort_by_key(|e| e.0.ordinal);
    }

    /// Runs closures posted by other threads, in hub context.
    pub(crate) fn run_posted(&self) {
        let work = match self.reactor.borrow().as_ref() {
            Some(r) => r.posted.take(),
            None => return,
        };
        for f in work {
            self.call_in_hub_context(f, "posted by another thread");
        }
    }

    /// Registered sources nobody else holds are dropped at teardown; posted work is refused.
    pub(crate) fn close_reactor(&self) {
        let r = self.reactor.borrow_mut().take();
        if let Some(r) = r {
            // Closed under the queue's lock (see `HubHandle::post`): nothing is queued after.
            let pending = {
                let mut q = r.posted.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                r.posted.closed.store(true, std::sync::atomic::Ordering::SeqCst);
                r.posted.queued.store(false, std::sync::atomic::Ordering::Relaxed);
                std::mem::take(&mut *q)
            };
            for s in r.sources.iter().flatten() {
                s.closed.set(true);
            }
            drop(r);
            drop(pending);
        }
    }
}

/// Registers `fd` with this thread's hub.
pub(crate) fn register(fd: RawFd, kind: &'static str, site: &'static Location<'static>) -> io::Result<Rc<IoSource>> {
    let h = hub();
    let (src, obsolete) = h.with_reactor(|r| {
        let obsolete = r.by_fd.remove(&fd);
        if let Some(old) = &obsolete {
            // The fd number was closed behind our back and handed out again: the old source is
            // dead. Its registration went away with the close.
            remove_slot(r, old);
        }
        let idx = match r.free.pop() {
            Some(i) => i,
            None => {
                r.sources.push(None);
                r.gens.push(0);
                r.sources.len() - 1
            }
        };
        let token = Token(idx | ((r.gens[idx] as usize) << 32));
        let src = Rc::new(IoSource {
            ordinal: r.next_ordinal,
            fd,
            token,
            kind,
            readable: Cell::new(true),
            writable: Cell::new(true),
            closed: Cell::new(false),
            short_reads_drain: Cell::new(drains_on_short_read(kind)),
            allow_multiple: Cell::new(false),
            #[cfg(feature = "test-hooks")]
            broken: Cell::new(None),
            #[cfg(feature = "test-hooks")]
            dirty: Cell::new(false),
            #[cfg(feature = "test-hooks")]
            pending_accepts: Cell::new(0),
            #[cfg(feature = "test-hooks")]
            local: Cell::new(None),
            #[cfg(feature = "test-hooks")]
            peer: Cell::new(None),
            sole: [SoleWaiter::default(), SoleWaiter::default()],
            readers: WaitQueue::default(),
            writers: WaitQueue::default(),
            woken: [Cell::new(0), Cell::new(0)],
            trampolines: Cell::new(0),
            identity: crate::sys::poll::file_identity(fd),
            stacks: RefCell::new(Vec::new()),
            site,
        });
        let reg = r.poll.registry().register(&mut SourceFd(&fd), token, interest_of(kind));
        if let Err(e) = reg {
            r.free.push(idx);
            return (Err(e), obsolete);
        }
        r.next_ordinal += 1;
        r.sources[idx] = Some(src.clone());
        r.by_fd.insert(fd, src.clone());
        (Ok(src), obsolete)
    })?;
    // The old source is dead whether or not the fd registers now (a number closed behind the
    // runtime's back and not reused fails with `EBADF`): its waiters wake with the closed
    // error, and a late `deregister` of it (a waiter's lease ending) leaves the fd alone.
    if let Some(old) = obsolete {
        mark_closed(&old);
    }
    let src = src?;
    #[cfg(feature = "test-hooks")]
    crate::settle::registered(h, &src);
    Ok(src)
}

/// Whether a short read of a source of `kind` proves it drained (see
/// [`IoSource::short_reads_drain`]).
fn drains_on_short_read(kind: &str) -> bool {
    cfg!(any(target_os = "linux", target_os = "android")) && matches!(kind, "tcp stream" | "pipe reader")
}

/// What the poller watches on a source of `kind`: readable and writable, and for a TCP stream on
/// Linux also urgent data, which turns [`IoSource::short_reads_drain`] off.
fn interest_of(kind: &str) -> MioInterest {
    let both = MioInterest::READABLE | MioInterest::WRITABLE;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if kind == "tcp stream" {
        return both | MioInterest::PRIORITY;
    }
    let _ = kind;
    both
}

fn remove_slot(r: &mut Reactor, src: &IoSource) {
    let idx = src.token.0 & 0xffff_ffff;
    if r.lookup(src.token).is_some() {
        r.sources[idx] = None;
        r.gens[idx] = r.gens[idx].wrapping_add(1);
        r.free.push(idx);
    }
}

/// Wakes every waiter of `src` with the closed error.
fn mark_closed(src: &IoSource) {
    src.closed.set(true);
    for i in [Interest::Read, Interest::Write] {
        src.sole(i).wake("fd closed", src.queue(i) as *const WaitQueue<()> as usize);
        src.queue(i).wake_all(|| (), "fd closed");
    }
}

/// Deregisters `src` (before its fd is closed) and wakes its waiters with the closed error.
pub(crate) fn deregister(src: &Rc<IoSource>) {
    if src.closed.get() {
        return;
    }
    let h = hub();
    #[cfg(feature = "test-hooks")]
    crate::settle::closing(h, src, true);
    let _ = h.with_reactor(|r| {
        if r.by_fd.get(&src.fd).is_some_and(|s| Rc::ptr_eq(s, src)) {
            r.by_fd.remove(&src.fd);
        }
        remove_slot(r, src);
        let _ = r.poll.registry().deregister(&mut SourceFd(&src.fd));
    });
    mark_closed(src);
}

/// The error a wait on a closed source returns: `NotConnected`, wrapping a [`green::Error`](Error)
/// with `is_closed()`.
pub(crate) fn closed_error(src: &IoSource) -> io::Error {
    Error::closed(format!("{} fd#{}", src.kind, src.ordinal)).into_io()
}

fn timeout_error(after: Duration) -> io::Error {
    Error::timeout(Some(after), None).into_io()
}

impl IoSource {
    /// Whether greenthreads are parked waiting on it.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn has_waiters(&self) -> bool {
        [Interest::Read, Interest::Write].into_iter().any(|i| self.is_waited_for(i))
    }

    /// Whether a greenthread waits for `i`.
    pub(crate) fn is_waited_for(&self, i: Interest) -> bool {
        !self.sole(i).is_free() || !self.queue(i).is_empty()
    }

    fn sole(&self, i: Interest) -> &SoleWaiter {
        &self.sole[i as usize]
    }

    fn queue(&self, i: Interest) -> &WaitQueue<()> {
        match i {
            Interest::Read => &self.readers,
            Interest::Write => &self.writers,
        }
    }

    fn flag(&self, i: Interest) -> &Cell<bool> {
        match i {
            Interest::Read => &self.readable,
            Interest::Write => &self.writable,
        }
    }

    fn woken(&self, i: Interest) -> &Cell<usize> {
        &self.woken[i as usize]
    }

    /// Wakes every waiter for `i` after a readiness event, counting them until they run.
    fn wake_for_readiness(&self, i: Interest, why: &'static str) {
        let q = self.queue(i);
        let mut n = usize::from(self.sole(i).wake(why, q as *const WaitQueue<()> as usize));
        q.wake_all(|| n += 1, why);
        self.woken(i).set(self.woken(i).get() + n);
    }

    /// A waiter woken for readiness runs (or unwinds).
    fn woken_ran(&self, i: Interest) {
        self.woken(i).set(self.woken(i).get().saturating_sub(1));
    }

    /// Whether the poller reported readiness for `i` since an operation last found none.
    #[inline]
    pub(crate) fn is_ready(&self, i: Interest) -> bool {
        self.flag(i).get()
    }

    /// Notes that an operation hit `WouldBlock` (or drained the stream): wait for the next
    /// readiness event.
    pub(crate) fn clear(&self, i: Interest) {
        self.flag(i).set(false);
    }

    /// Waits until the source is ready for `i` (per the cached flag), closed (error) or `timeout`
    /// passed (error).
    pub(crate) fn wait(
        &self,
        i: Interest,
        timeout: Option<Duration>,
        what: &'static str,
        site: &'static Location<'static>,
    ) -> io::Result<()> {
        let mut deferred = false;
        // A timeout too long to add to the clock is no deadline (as for socket timeouts).
        let deadline = timeout.and_then(|t| hub().now().checked_add(t));
        loop {
            if self.closed.get() {
                return Err(closed_error(self));
            }
            if self.flag(i).get() {
                return Ok(());
            }
            let h = hub();
            let Some(me) = h.current() else { misuse_hub_context(what) };
            if h.tearing_down.get() {
                // Teardown (DESIGN §3): a green call made while the hub kills everything returns
                // at once instead of waiting for readiness that may never come; the error is
                // the kill it is part of (`Interrupted`, wrapping an `is_killed()` error).
                return Err(Error::killed(me.who()).into_io());
            }
            if !deferred && self.woken(i).get() > 0 {
                // Others woken by the last event retry first (once): this waiter, which may have
                // just taken the data, then queues behind those that found none.
                deferred = true;
                crate::greenthread::yield_now_at(what, site);
                continue;
            }
            let waited_for = self.is_waited_for(i);
            if waited_for && !self.allow_multiple.get() && h.flags.prevent_multiple_readers.get() {
                // The record names the fd by ordinal only: the fd's number may differ between two
                // runs of one tape, and a search tells failures apart by this text.
                crate::hub::record_invariant(format!(
                    "multiple readers: {}",
                    self.second_waiter_error(i, &me, site, false)
                ));
                return Err(self.second_waiter_error(i, &me, site, true));
            }
            #[cfg(feature = "test-hooks")]
            {
                let kind = crate::hooks::FdKind::of(self.kind);
                if crate::hooks::with(|p| p.close_while_waiting(self.ordinal, kind, me.id)).unwrap_or(false) {
                    return Err(closed_error(self));
                }
                if crate::hooks::with(|p| p.spurious_wakeup(self.ordinal, kind, me.id)).unwrap_or(false) {
                    // Woken without readiness, as by a false event: the caller retries its
                    // operation (and waits again when it finds nothing).
                    self.flag(i).set(true);
                    crate::greenthread::yield_now_at(what, site);
                    return if self.closed.get() { Err(closed_error(self)) } else { Ok(()) };
                }
            }
            if h.flags.listener_stacks.get() {
                self.stacks.borrow_mut().push((me.id, i, crate::debug::capture_stack()));
            }
            h.listeners.set(h.listeners.get() + 1);
            let _parked = Parked { hub: h, src: self, id: me.id, i };
            let left = deadline.map(|d| d.saturating_duration_since(h.now()));
            let woke = if waited_for {
                self.queue(i).wait_at(what, site, left, |()| self.woken_ran(i))
            } else {
                self.sole(i).wait_at(what, site, left, || self.woken_ran(i))
            };
            match woke {
                Some(()) => self.woken_ran(i),
                None => return Err(timeout_error(timeout.unwrap_or_default())),
            }
            drop(_parked);
            #[cfg(feature = "test-hooks")]
            if crate::hooks::with(|p| p.delay_readiness(self.ordinal, crate::hooks::FdKind::of(self.kind), me.id))
                .unwrap_or(false)
            {
                // The readiness reaches this waiter one pass late.
                crate::greenthread::yield_now_at(what, site);
            }
        }
    }

    #[cold]
    fn second_waiter_error(
        &self,
        i: Interest,
        me: &GtCore,
        site: &'static Location<'static>,
        with_fileno: bool,
    ) -> io::Error {
        let (verb, noun) = match i {
            Interest::Read => ("read", "read from"),
            Interest::Write => ("write", "write to"),
        };
        let that = self
            .sole(i)
            .waiting()
            .or_else(|| self.queue(i).waiting_greenthreads().into_iter().next())
            .map(|g| {
                let at = g
                    .wait
                    .get()
                    .map(|w| format!(" waiting at {}:{}", w.site.file(), w.site.line()))
                    .unwrap_or_default();
                format!("{} (spawned at {}:{}){at}", g.label(), g.spawn_site.file(), g.spawn_site.line())
            })
            .unwrap_or_else(|| "<unknown>".into());
        // eventlet's words (`on fileno N`), then the fd's ordinal, which dumps show.
        let (fileno, close) = if with_fileno { (format!("fileno {} (", self.fd), ")") } else { (String::new(), "") };
        io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!(
                "Second simultaneous {verb} on {fileno}{} fd#{}{close} detected. Unless you really know what you're doing, make sure \
                 that only one greenthread can {noun} any particular socket (use a GreenPool, a Semaphore or a Queue to \
                 share it). If you do know what you're doing, allow it for this socket with allow_multiple_waiters(true) \
                 or for the whole hub with green::debug::hub_prevent_multiple_readers(false) - MY THREAD={} at {}:{}; \
                 THAT THREAD={that}",
                self.kind,
                self.ordinal,
                me.label(),
                site.file(),
                site.line()
            ),
        )
    }

    /// Current waiters with their interest, for dumps: `(interest, greenthread, creation stack)`.
    pub(crate) fn waiters(&self) -> Vec<WaiterInfo> {
        let stacks = self.stacks.borrow();
        let mut out = Vec::new();
        for i in [Interest::Read, Interest::Write] {
            for g in self.sole(i).waiting().into_iter().chain(self.queue(i).waiting_greenthreads()) {
                let st = stacks.iter().find(|(id, ii, _)| *id == g.id && *ii == i).map(|s| s.2.clone());
                out.push((i, g, st));
            }
        }
        out
    }
}

/// Counts a parked I/O waiter for deadlock detection and drops its creation stack.
struct Parked<'a> {
    hub: &'a Hub,
    src: &'a IoSource,
    id: u64,
    i: Interest,
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.hub.listeners.set(self.hub.listeners.get() - 1);
        if let Ok(mut s) = self.src.stacks.try_borrow_mut() {
            if let Some(p) = s.iter().position(|(id, i, _)| *id == self.id && *i == self.i) {
                s.remove(p);
            }
        }
    }
}

/// Waits until `fd` is ready for `interest` (eventlet's `trampoline`), at most `timeout`.
///
/// An fd ready now (per a zero-timeout `poll(2)`: level-triggered, as in eventlet) returns at the
/// next hub pass. On an fd owned by a green socket it waits with the socket's registration; any
/// other fd is registered for as long as trampolines wait on it (several may share it; the last
/// one out deregisters it, also when it unwinds on a kill or timeout). A timeout gives an
/// `io::Error` of kind `TimedOut` wrapping a [`green::Error`](Error) with `is_timeout()`; a
/// source closed during the wait gives `NotConnected` wrapping one with `is_closed()`.
///
/// A wake-up may still be spurious (another waiter took the data first): retry the operation and
/// trampoline again on `WouldBlock`. Under a harness injecting `EINTR` the wait may also return
/// `ErrorKind::Interrupted`, as `poll(2)` does when a signal lands: trampoline again.
///
/// # Panics
///
/// In hub context (a blocking call there is a misuse).
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use green::Interest;
///
/// let (mut a, mut b) = UnixStream::pair().unwrap();
/// b.set_nonblocking(true).unwrap();
/// let reader = green::spawn(move || {
///     green::trampoline(&b, Interest::Read, None).unwrap();
///     let mut buf = [0u8; 5];
///     b.read_exact(&mut buf).unwrap();
///     buf
/// });
/// green::sleep(std::time::Duration::ZERO);
/// a.write_all(b"hello").unwrap();
/// assert_eq!(&reader.wait().unwrap(), b"hello");
///
/// // A timeout is an error of kind TimedOut.
/// let (_a, b) = UnixStream::pair().unwrap();
/// let err = green::trampoline(&b, Interest::Read, Some(std::time::Duration::from_millis(1))).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// ```
#[track_caller]
pub fn trampoline(fd: &impl AsRawFd, interest: Interest, timeout: Option<Duration>) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    let site = Location::caller();
    let h = hub();
    if h.in_hub_context() {
        misuse_hub_context("green::trampoline");
    }
    let mut owned = h.with_reactor(|r| r.by_fd.get(&fd).cloned())?;
    // A green socket owns its fd (closing it deregisters); a registration made for trampolines
    // does not, so only there can the number name another file now (one `fstat`).
    if owned
        .as_ref()
        .is_some_and(|src| src.trampolines.get() > 0 && src.identity != crate::sys::poll::file_identity(fd))
    {
        // The fd number was closed behind the runtime's back and now names another file: the
        // old source is dead (registering anew wakes its waiters with the closed error), and
        // this waiter waits on the file it asked for.
        owned = None;
    }
    let (src, _lease) = match owned {
        Some(src) if src.trampolines.get() == 0 => (src, None),
        Some(src) => (src.clone(), Some(Lease::new(src))),
        None => {
            let src = register(fd, "fd", site)?;
            (src.clone(), Some(Lease::new(src)))
        }
    };
    #[cfg(feature = "test-hooks")]
    {
        let gt = h.current().map_or(0, |c| c.id);
        let kind = crate::hooks::FdKind::of(src.kind);
        if crate::hooks::with(|p| p.interrupt_wait(src.ordinal, kind, gt)).unwrap_or(false) {
            // A signal landed in the wait: it returns at the next pass, interrupted.
            crate::greenthread::yield_now_at("trampoline", site);
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
    }
    #[cfg(feature = "test-hooks")]
    if interest == Interest::Read {
        crate::settle::before_read(h, &src);
    }
    if ready_now(fd, interest) {
        crate::greenthread::yield_now_at("trampoline", site);
        return if src.closed.get() { Err(closed_error(&src)) } else { Ok(()) };
    }
    // Not ready now: a set flag is stale; the next readiness edge sets it again.
    src.clear(interest);
    src.wait(interest, timeout, "trampoline", site)
}

/// One trampoline's use of a registration made for trampolines; the last one out deregisters it.
struct Lease(Rc<IoSource>);

impl Lease {
    fn new(src: Rc<IoSource>) -> Lease {
        src.trampolines.set(src.trampolines.get() + 1);
        Lease(src)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let n = self.0.trampolines.get() - 1;
        self.0.trampolines.set(n);
        if n == 0 {
            deregister(&self.0);
        }
    }
}

/// Whether `fd` is ready for `i` now (a zero-timeout `poll(2)`); see [`sys::poll`](crate::sys::poll).
fn ready_now(fd: RawFd, i: Interest) -> bool {
    crate::sys::poll::ready_now(fd, i == Interest::Write)
}
