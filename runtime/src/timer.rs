//! Timers: the hub's one scheduling primitive.
//!
//! # Ground rules
//!
//! * Every wake-up, start, timeout and callback the hub performs is a timer entry in one slab,
//!   addressed by a [`TimerKey`] (slot index and generation). A key whose generation no longer
//!   matches is stale: the timer fired or was cancelled, and the key refers to nothing.
//! * Timers are ordered by `(deadline, seq)`. `seq` is a per-hub counter, so equal deadlines fire
//!   in creation order (FIFO), never by address.
//! * Zero-delay timers skip the wheel: they go to the `ready` queue, which the hub turns into the
//!   next pass's batch. Bare wake-ups (`sleep(0)`, hand-offs from primitives) go there too without
//!   a slab slot: they cannot be cancelled and are recognised as stale by the green call number
//!   they carry. A zero-delay timer created while a pass runs therefore runs on the next
//!   pass, after a non-blocking poll: `sleep(0)` is a fair yield.
//! * A non-zero deadline is computed from a fresh clock read by the creator, and a timer is due
//!   only when the hub's clock has reached it: timers never fire early.
//! * Cancellation is lazy: the slot is freed at once, and its key stays in the wheel or the ready
//!   queue as a stale entry until popped. When a queue holds more than
//!   [`COMPACT_THRESHOLD`] entries and at least half are stale, it is rebuilt without them, so
//!   memory stays bounded by about twice the live timers (eventlet's `TestTimerCleanup` rule).

use std::collections::{HashMap, VecDeque};
use std::panic::Location;
use std::rc::Rc;

use crate::greenthread::GtCore;
use crate::wheel::{Queued, TimerWheel};

/// Queues longer than this are compacted once half their entries are stale.
pub(crate) const COMPACT_THRESHOLD: usize = 1000;

/// Names one timer entry; stale once the timer fired or was cancelled.
///
/// Aligned as one word: a ready-queue entry is then moved as whole words, never as two halves
/// that a wider load reads back (a store-forwarding stall on the hub's hot path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C, align(8))]
pub(crate) struct TimerKey {
    idx: u32,
    gen: u32,
}

impl TimerKey {
    /// Names no timer (no slab reaches index `u32::MAX`): a one-word "none".
    pub(crate) const NONE: TimerKey = TimerKey { idx: u32::MAX, gen: 0 };
}

/// An entry of the ready queue (next pass) or of the batch being fired.
pub(crate) enum Ready {
    /// A timer of the slab: cancellable, due now.
    Timer(TimerKey),
    /// A bare wake-up of a parked green call (`sleep(0)`, hand-offs from primitives). It has no
    /// slab slot and is never cancelled: it is stale once the call moved on (`seq` differs).
    Wake(Wake),
}

/// A bare wake-up; see [`Ready::Wake`]. Two words: the queue entry is copied in and out on
/// every `sleep(0)` and hand-off (and a burst queues a million of them), so what only a dump reads
/// lives in the woken greenthread ([`WakeNote`]), not here.
///
/// A green call has at most one bare wake-up (the hub wakes only a blocked call and marks it
/// ready), so a live entry, whose call is still the greenthread's current one, is the one its
/// greenthread's note describes.
pub(crate) struct Wake {
    pub(crate) gt: Rc<GtCore>,
    /// The green call it wakes.
    pub(crate) seq: u64,
}

/// What dumps and the harness read of a greenthread's latest bare wake-up: kept in the woken
/// greenthread (`GtCore::wake_note`), which has at most one live wake-up (one per green call; a
/// newer one makes the older stale). Its creation stack, when timer stacks are on, is in the hub's
/// `wake_stacks`, by greenthread id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WakeNote {
    /// Ordinal of the wake-up it describes, shared with timers (`t<tseq>` in dumps; 0: none yet,
    /// ordinals start at 1).
    pub(crate) tseq: u64,
    pub(crate) why: &'static str,
    pub(crate) creator: u64,
    pub(crate) site: &'static Location<'static>,
    /// The primitive that handed off (its wait queue's address), 0 for a yield: a harness keeps
    /// one group's wake-ups in their order.
    #[cfg(feature = "test-hooks")]
    pub(crate) group: usize,
}

impl WakeNote {
    pub(crate) const NONE: WakeNote = WakeNote {
        tseq: 0,
        why: "",
        creator: 0,
        site: Location::caller(),
        #[cfg(feature = "test-hooks")]
        group: 0,
    };
}

impl Wake {
    /// Its note, if it is live (its call is still the greenthread's current one); a stale entry's
    /// note may have been replaced by a later call's.
    pub(crate) fn note(&self) -> Option<WakeNote> {
        (self.gt.seq.get() == self.seq).then(|| self.gt.wake_note.get())
    }
}

/// What a timer does when it fires.
pub(crate) enum Action {
    /// Resume `gt` if it is still parked in the green call numbered `seq`.
    Wake { gt: Rc<GtCore>, seq: u64 },
    /// Start `gt` (spawn, spawn_after); with an `owner` (spawn_after_local) the start is skipped,
    /// and `gt` finishes as killed, if the owner has finished by then.
    Start { gt: Rc<GtCore>, owner: Option<Rc<GtCore>> },
    /// Timeout `id` (of duration `after`) of `gt` expired.
    Expire { gt: Rc<GtCore>, id: u64, after: std::time::Duration },
    /// Deliver a pending kill to `gt` now (queued at the front of the batch by `kill`).
    Kill { gt: Rc<GtCore> },
    /// Run a callback in hub context; skipped when `owner` (a local timer's creator) is dead.
    Call { f: Box<dyn FnOnce()>, owner: Option<Rc<GtCore>> },
}

impl Action {
    /// Short description for dumps: what the timer will do.
    pub(crate) fn describe(&self, why: &'static str) -> String {
        match self {
            Action::Wake { gt, .. } => format!("wake {} ({why})", gt.label()),
            Action::Start { gt, .. } => format!("start {} ({why})", gt.label()),
            Action::Expire { gt, id, after } => {
                format!("expire timeout {id} ({after:?}) of {} ({why})", gt.label())
            }
            Action::Kill { gt } => format!("kill {}", gt.label()),
            Action::Call { owner: Some(o), .. } => format!("callback ({why}, local to {})", o.label()),
            Action::Call { owner: None, .. } => format!("callback ({why})"),
        }
    }
}

/// One timer slot. Eleven words: a million parked timed waits hold a million of them, so what
/// only some timers have (a creation stack) lives in [`Timers::stacks`], and the deadline's
/// "none" is a flag packed with the other small fields.
pub(crate) struct Entry {
    gen: u32,
    /// A zero-delay timer (due at once): `deadline` is meaningless.
    immediate: bool,
    /// Absolute deadline in hub nanoseconds (see [`Entry::deadline`]).
    deadline: u64,
    pub(crate) seq: u64,
    /// `None` when the slot is free.
    pub(crate) action: Option<Action>,
    /// Why the timer exists ("sleep", "timeout", "spawn", ...), for dumps.
    pub(crate) why: &'static str,
    /// Ordinal id of the greenthread (0 = root) that created it.
    pub(crate) creator: u64,
    /// The user call that created it.
    pub(crate) site: &'static Location<'static>,
    /// Which queue holds the key.
    loc: Loc,
    /// Tie-break drawn for its creator (see [`NewTimer::tie`]).
    tie: u8,
}

/// A slot's size, for the hub's prefetch of the slots it fires next.
pub(crate) const ENTRY_SIZE: usize = std::mem::size_of::<Entry>();

/// How many near entries ahead [`Timers::prefetch_due_ahead`] prefetches a slot.
const COLLECT_AHEAD: usize = 16;

impl Entry {
    /// Absolute deadline in hub nanoseconds; `None` for zero-delay timers (due at once).
    pub(crate) fn deadline(&self) -> Option<u64> {
        (!self.immediate).then_some(self.deadline)
    }
}

/// The wheel's second key: the tie-break above the creation order.
pub(crate) fn order_of(tie: u8, seq: u64) -> u64 {
    (u64::from(tie) << 56) | (seq & ((1 << 56) - 1))
}

/// Which queue holds a live timer's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loc {
    Ready,
    Wheel,
    Batch,
}

/// Counters of the timer queues, as eventlet's `TestTimerCleanup` inspects them.
///
/// ```
/// let stats: green::hub::TimerStats = green::hub::timer_stats();
/// assert!(stats.queued >= stats.cancelled);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Entries sitting in the hub's queues, live and stale (eventlet's `get_timers_count`).
    pub queued: usize,
    /// Stale (cancelled) entries still sitting in the queues (eventlet's `timers_canceled`).
    pub cancelled: usize,
    /// Live timers: created, neither fired nor cancelled.
    pub live: usize,
}

/// Where a popped due timer goes.
pub(crate) struct Timers {
    slab: Vec<Entry>,
    /// Raw return addresses captured when a timer was created with timer stacks on, by slot.
    stacks: HashMap<u32, Box<[usize]>>,
    free: Vec<u32>,
    wheel: TimerWheel,
    pub(crate) ready: VecDeque<Ready>,
    /// The hub's clock when the ready queue got its first entry since the last collection, if
    /// wheel timers were pending then (0: not taken). A wheel timer due before it was due before
    /// anything now in the ready queue was queued, so it fires first, as in eventlet, where a
    /// zero-delay timer's deadline is the time it was made.
    pub(crate) ready_since: u64,
    stale_wheel: usize,
    stale_ready: usize,
    /// Stale keys in the hub's current batch (keys move there from `ready` and the wheel).
    pub(crate) stale_batch: usize,
    live: usize,
    next_seq: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            slab: Vec::new(),
            stacks: HashMap::new(),
            free: Vec::new(),
            wheel: TimerWheel::default(),
            ready: VecDeque::new(),
            ready_since: 0,
            stale_wheel: 0,
            stale_ready: 0,
            stale_batch: 0,
            live: 0,
            next_seq: 1,
        }
    }
}

/// A timer taken from the slab to fire ([`Timers::take`]).
pub(crate) struct Fired {
    pub(crate) action: Action,
    /// Why it existed.
    pub(crate) why: &'static str,
    /// A wheel timer's deadline and order (`None` for a zero-delay timer).
    pub(crate) due: Option<(u64, u64)>,
}

/// What `add` needs to know about a new timer.
pub(crate) struct NewTimer {
    pub(crate) deadline: Option<u64>,
    /// Tie-break among equal deadlines, above the creation order (0 unless a harness draws one
    /// per creator: one greenthread's own timers then still keep their order).
    pub(crate) tie: u8,
    pub(crate) action: Action,
    pub(crate) why: &'static str,
    pub(crate) creator: u64,
    pub(crate) site: &'static Location<'static>,
    pub(crate) stack: Option<Box<[usize]>>,
}

impl Timers {
    /// Number of live timers of the slab; the hub adds its count of queued bare wake-ups
    /// (`Hub::wakes`).
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Queues a bare wake-up of `gt`'s green call `seq` for the next pass; returns its ordinal
    /// (the caller writes the greenthread's [`WakeNote`]).
    #[inline(always)]
    pub(crate) fn push_wake(&mut self, gt: Rc<GtCore>, seq: u64) -> u64 {
        let tseq = self.next_seq;
        self.next_seq += 1;
        // Push a placeholder, then write the entry into its slot: pushed by value, the entry is
        // spilled around `push_back`'s possible `grow` call and copied back with wider loads than
        // the spill's stores, a store-forwarding stall on every `sleep(0)` and hand-off. The
        // placeholder owns nothing and is forgotten, not dropped: a drop check, whose branch may
        // call `Rc`'s destructor, makes the compiler spill the entry the same way.
        self.ready.push_back(Ready::Timer(TimerKey::NONE));
        let slot = self.ready.back_mut().expect("the placeholder was just pushed");
        std::mem::forget(std::mem::replace(slot, Ready::Wake(Wake { gt, seq })));
        tseq
    }

    /// The greenthread a queue entry would resume, if any (a hint: a stale entry may name one).
    #[inline(always)]
    pub(crate) fn target_of<'a>(&'a self, r: &'a Ready) -> Option<&'a Rc<GtCore>> {
        match r {
            Ready::Wake(w) => Some(&w.gt),
            Ready::Timer(k) => match self.slab.get(k.idx as usize)?.action.as_ref()? {
                Action::Wake { gt, .. }
                | Action::Start { gt, .. }
                | Action::Expire { gt, .. }
                | Action::Kill { gt } => Some(gt),
                Action::Call { .. } => None,
            },
        }
    }

    /// The address of a queue entry's slab slot (a bare wake-up has none), for a prefetch.
    #[inline(always)]
    pub(crate) fn slot_addr(&self, r: &Ready) -> Option<usize> {
        match r {
            Ready::Timer(k) => Some(self.slab.as_ptr().wrapping_add(k.idx as usize) as usize),
            Ready::Wake(_) => None,
        }
    }

    /// The counters, given the batch's length and the queued bare wake-ups.
    pub(crate) fn stats(&self, batch_len: usize, wakes: usize) -> TimerStats {
        TimerStats {
            queued: self.wheel.len() + self.ready.len() + batch_len,
            cancelled: self.stale_wheel + self.stale_ready + self.stale_batch,
            live: self.live + wakes,
        }
    }

    /// Adds a timer; zero-delay timers (`deadline == None`) join the ready queue, others the wheel
    /// ([`TimerWheel`]).
    #[inline(always)]
    pub(crate) fn add(&mut self, t: NewTimer) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slab.push(Entry {
                    gen: 0,
                    immediate: true,
                    deadline: 0,
                    seq: 0,
                    action: None,
                    why: "",
                    creator: 0,
                    site: Location::caller(),
                    loc: Loc::Ready,
                    tie: 0,
                });
                (self.slab.len() - 1) as u32
            }
        };
        let e = &mut self.slab[idx as usize];
        debug_assert!(e.action.is_none(), "timer slot reused while live");
        e.immediate = t.deadline.is_none();
        e.deadline = t.deadline.unwrap_or(0);
        e.seq = seq;
        e.action = Some(t.action);
        e.why = t.why;
        e.creator = t.creator;
        e.site = t.site;
        e.loc = if t.deadline.is_none() { Loc::Ready } else { Loc::Wheel };
        e.tie = t.tie;
        let key = TimerKey { idx, gen: e.gen };
        if let Some(stack) = t.stack {
            self.stacks.insert(idx, stack);
        }
        match t.deadline {
            None => self.ready.push_back(Ready::Timer(key)),
            Some(deadline) => self.wheel.push(Queued { deadline, order: order_of(t.tie, seq), idx, gen: key.gen }),
        }
        self.live += 1;
        key
    }

    /// Adds a zero-delay timer at the front of `batch` (used by `kill` to run the victim next).
    pub(crate) fn add_front(&mut self, t: NewTimer, batch: &mut VecDeque<Ready>) {
        let key = self.add(t);
        let popped = self.ready.pop_back();
        debug_assert!(matches!(popped, Some(Ready::Timer(k)) if k == key));
        self.slab[key.idx as usize].loc = Loc::Batch;
        batch.push_front(Ready::Timer(key));
    }

    /// True when `key` still names a live timer.
    pub(crate) fn is_live(&self, key: TimerKey) -> bool {
        self.live_entry(key).is_some()
    }

    /// The slot `key` names, if it still holds that timer.
    #[inline]
    fn live_entry(&self, key: TimerKey) -> Option<&Entry> {
        self.slab.get(key.idx as usize).filter(|e| e.gen == key.gen && e.action.is_some())
    }

    fn free_slot(&mut self, idx: u32) -> Option<Action> {
        let e = &mut self.slab[idx as usize];
        let a = e.action.take();
        e.gen = e.gen.wrapping_add(1);
        if !self.stacks.is_empty() {
            self.stacks.remove(&idx);
        }
        self.free.push(idx);
        self.live -= 1;
        a
    }

    /// Takes the action of a popped key, freeing its slot; `None` when the key is stale.
    pub(crate) fn take(&mut self, key: TimerKey) -> Option<Fired> {
        let e = self.live_entry(key)?;
        let (why, due) = (e.why, e.deadline().map(|d| (d, order_of(e.tie, e.seq))));
        self.free_slot(key.idx).map(|action| Fired { action, why, due })
    }

    /// Cancels a timer. Returns its action, which the caller must drop only after releasing any
    /// borrow of the hub (dropping a callback runs user destructors).
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<Action> {
        if !self.is_live(key) {
            return None;
        }
        let loc = self.slab[key.idx as usize].loc;
        let a = self.free_slot(key.idx);
        if loc == Loc::Batch {
            self.stale_batch += 1;
        } else if loc == Loc::Ready {
            self.stale_ready += 1;
            if self.ready.len() > COMPACT_THRESHOLD && self.stale_ready * 2 >= self.ready.len() {
                let slab = &self.slab;
                self.ready.retain(|r| match r {
                    Ready::Timer(k) => slab[k.idx as usize].gen == k.gen && slab[k.idx as usize].action.is_some(),
                    Ready::Wake(_) => true,
                });
                self.stale_ready = 0;
            }
        } else {
            self.stale_wheel += 1;
            if self.wheel.len() > COMPACT_THRESHOLD && self.stale_wheel * 2 >= self.wheel.len() {
                let slab = &self.slab;
                self.wheel.retain(|q| slab[q.idx as usize].gen == q.gen && slab[q.idx as usize].action.is_some());
                self.stale_wheel = 0;
            }
        }
        a
    }

    /// Notes that a key popped from the batch was stale.
    pub(crate) fn popped_stale_from_batch(&mut self) {
        self.stale_batch = self.stale_batch.saturating_sub(1);
    }

    /// The greenthread of ready entry `i` if a harness may move it, with its order group: `None`
    /// for an independent turn (a spawn's start, a sleep's or a yield's wake-up, a wake-up by fd
    /// readiness: no promise orders it), `Some(primitive)` for a hand-off wake-up from a
    /// primitive, which may move against other entries but keeps its place among the wake-ups of
    /// the same primitive (the FIFO promise of semaphores, queues and events). Timer actions
    /// (timeouts, callbacks) stay.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn reorderable(&self, i: usize) -> Option<(u64, Option<usize>)> {
        match &self.ready[i] {
            // A stale wake-up (its call moved on) fires as a no-op: not worth a decision.
            Ready::Wake(w) if w.gt.seq.get() != w.seq => None,
            Ready::Wake(w) => match w.note() {
                None => None,
                Some(n) if n.group == 0 || matches!(n.why, "sleep" | "fd readable" | "fd writable") => {
                    Some((w.gt.id, None))
                }
                Some(n) => Some((w.gt.id, Some(n.group))),
            },
            Ready::Timer(k) if self.is_live(*k) => match &self.slab[k.idx as usize].action {
                Some(Action::Start { gt, .. }) => Some((gt.id, None)),
                _ => None,
            },
            Ready::Timer(_) => None,
        }
    }

    /// True when the wheel holds entries (live or stale).
    pub(crate) fn has_wheel_timers(&self) -> bool {
        !self.wheel.is_empty()
    }

    /// The earliest live wheel deadline, discarding stale entries met on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<u64> {
        while let Some(Queued { deadline: d, idx: i, gen: g, .. }) = self.wheel.peek_min().copied() {
            if self.is_live(TimerKey { idx: i, gen: g }) {
                return Some(d);
            }
            self.wheel.pop_min();
            self.stale_wheel = self.stale_wheel.saturating_sub(1);
        }
        None
    }

    /// Moves the ready queue and every wheel timer due at `now` into `batch`, in order: wheel
    /// entries due before the ready queue's first entry was queued (see
    /// [`ready_since`](Timers::ready_since)), then ready entries (FIFO), then the other due wheel
    /// entries, each group by `(deadline, seq)`.
    pub(crate) fn collect_due(&mut self, now: u64, batch: &mut VecDeque<Ready>) {
        if self.ready_since != 0 && !self.ready.is_empty() {
            // Due before anything in the ready queue was queued: those fire first.
            self.collect_wheel_until(self.ready_since.saturating_sub(1).min(now), batch);
        }
        self.ready_since = 0;
        self.stale_batch += self.stale_ready;
        self.stale_ready = 0;
        if self.live > 0 {
            for r in &self.ready {
                if let Ready::Timer(k) = r {
                    let e = &mut self.slab[k.idx as usize];
                    // A stale key's slot may hold another timer now: leave that one alone.
                    if e.gen == k.gen && e.action.is_some() {
                        e.loc = Loc::Batch;
                    }
                }
            }
        }
        if batch.is_empty() {
            std::mem::swap(batch, &mut self.ready);
        } else {
            batch.append(&mut self.ready);
        }
        self.collect_wheel_until(now, batch);
    }

    /// Moves every wheel timer due at `now` into `batch`, by `(deadline, seq)`.
    fn collect_wheel_until(&mut self, now: u64, batch: &mut VecDeque<Ready>) {
        while let Some(Queued { deadline: d, idx: i, gen: g, .. }) = self.wheel.peek_min().copied() {
            if d > now {
                break;
            }
            self.wheel.pop_min();
            self.prefetch_due_ahead();
            let key = TimerKey { idx: i, gen: g };
            if self.is_live(key) {
                self.slab[i as usize].loc = Loc::Batch;
                batch.push_back(Ready::Timer(key));
            } else {
                self.stale_wheel = self.stale_wheel.saturating_sub(1);
            }
        }
    }

    /// While due timers are collected, starts loading the slot of the entry `COLLECT_AHEAD`
    /// pops ahead in the near run (popped in order), whose line then arrives while the entries
    /// before it are marked: each collected slot is written, and over a burst of thousands of
    /// timers each one is a cache miss of its own.
    #[inline(always)]
    fn prefetch_due_ahead(&self) {
        if let Some(q) = self.wheel.near_ahead(COLLECT_AHEAD) {
            let a = self.slab.as_ptr().wrapping_add(q.idx as usize) as usize;
            crate::sys::prefetch::prefetch(a);
            crate::sys::prefetch::prefetch(a + ENTRY_SIZE - 1);
        }
    }

    /// [`collect_due`](Timers::collect_due) for a pass that finds the wheel empty: the ready
    /// queue becomes the batch. Inline, it is a swap when no timer lives and nothing is stale
    /// (a ping-pong of `sleep(0)`s), the full call otherwise.
    #[inline(always)]
    pub(crate) fn collect_ready(&mut self, batch: &mut VecDeque<Ready>) {
        debug_assert!(self.wheel.is_empty(), "collect_ready with wheel timers");
        if self.live == 0 && self.stale_ready == 0 && batch.is_empty() {
            std::mem::swap(batch, &mut self.ready);
        } else {
            self.collect_due(0, batch);
        }
    }

    /// Moves every live wheel timer into `batch` regardless of deadline (teardown fast-forward).
    pub(crate) fn collect_all(&mut self, batch: &mut VecDeque<Ready>) {
        self.collect_due(u64::MAX, batch);
    }

    /// Live entries with their keys and creation stacks (when timer stacks were on), for dumps.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (TimerKey, &Entry, Option<&[usize]>)> {
        self.slab
            .iter()
            .enumerate()
            .filter(|(_, e)| e.action.is_some())
            .map(|(i, e)| (TimerKey { idx: i as u32, gen: e.gen }, e, self.stacks.get(&(i as u32)).map(|s| &**s)))
    }

    /// Bare wake-ups of the ready queue, for dumps.
    pub(crate) fn ready_wakes(&self) -> impl Iterator<Item = &Wake> {
        self.ready.iter().filter_map(|r| match r {
            Ready::Wake(w) => Some(w),
            Ready::Timer(_) => None,
        })
    }

    /// Forgets every entry but keeps the slots and their generations (stale keys stay stale);
    /// ordinals restart at 1. Call after [`drain`](Timers::drain).
    pub(crate) fn reset(&mut self) {
        debug_assert_eq!(self.live, 0, "reset with live timers");
        self.wheel.clear();
        self.ready.clear();
        self.ready_since = 0;
        self.stale_wheel = 0;
        self.stale_ready = 0;
        self.stale_batch = 0;
        self.next_seq = 1;
    }

    /// Takes every live action out (teardown); the caller drops them outside any hub borrow.
    pub(crate) fn drain(&mut self) -> (Vec<Action>, VecDeque<Ready>) {
        let mut out = Vec::new();
        for i in 0..self.slab.len() {
            if self.slab[i].action.is_some() {
                if let Some(a) = self.free_slot(i as u32) {
                    out.push(a);
                }
            }
        }
        self.wheel.clear();
        let ready = std::mem::take(&mut self.ready);
        self.stale_wheel = 0;
        self.stale_ready = 0;
        self.stale_batch = 0;
        (out, ready)
    }
}
