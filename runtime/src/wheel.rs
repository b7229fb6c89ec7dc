//! The timer wheel: where timers with a deadline wait, popped in `(deadline, order)` order.
//!
//! # Layout
//!
//! Deadlines are hub nanoseconds; the wheel works on their *ticks*, `deadline >> TICK_SHIFT`
//! (65.536 µs each). Two levels of 64 slots cover the next 4,096 ticks (268 ms), six bits per
//! level (tokio's `runtime/time` wheel is the model): level `l` holds the entries whose tick
//! differs from the wheel's current tick `cur` first in bit group `l`, in the slot that group
//! names. Entries further ahead wait in a binary heap, *far*: a long timeout (an idle
//! connection's, a million parked waits') is pushed and popped in `log n` as before, and no
//! slot ever holds so many entries that spreading it down would double their memory.
//!
//! Entries whose tick is below `cur` are *near*: they are kept in exact order, in a `Vec` sorted
//! from the largest key to the smallest (the next one is popped off the end), plus a small binary
//! heap, *late*, for the few that arrive after their tick was taken out of the wheel (a timer set
//! for less than a tick ahead). When the near entries run out, the wheel takes its first
//! occupied slot, unless the far heap's least entry comes before that slot starts: a level-0 slot
//! (one tick) is sorted and becomes the near run; a level-1 slot is spread over level 0.
//!
//! # Invariants (checked by `debug_assert!`)
//!
//! * every entry of the two levels has a tick `>= cur`; every near entry has a tick `< cur`, so
//!   every near key is below every level's key (far entries may fall on either side: the least
//!   entry is taken from whichever of near, late and far holds it);
//! * the near run is sorted by key, largest first;
//! * `occupied[l]` has bit `s` set exactly when slot `s` of level `l` holds entries;
//! * keys are unique (their order part carries the timer's creation ordinal), so the pop order is
//!   the keys' order, the same as a binary heap's over the same entries.
//!
//! Pushing a timer due within the horizon costs a few instructions and one `Vec` push; popping a
//! near entry, one `Vec` pop. A binary heap over 10,000 timers took ~260 instructions per pop
//! (bench/README).
//!
//! A look at the least entry takes its slot out even when it is not due yet (the hub looks to
//! set its poll timeout), so `cur` can run ahead of the clock: with one timer 100 ms out and
//! nothing before it, timers set during those 100 ms for sooner land in the late heap, where
//! they cost what they cost in a binary heap, until the wheel's tick is reached. Keeping `cur`
//! at the clock would need that look to scan the first slot instead of taking it; not done.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Nanoseconds per tick, as a shift: 2^16 ns = 65.536 µs.
const TICK_SHIFT: u32 = 16;

/// Levels of the wheel, 6 bits each: 4,096 ticks ahead; later entries wait in the far heap.
const LEVELS: usize = 2;

/// A timer's entry: its key `(deadline, order)` and its slot in the timer slab.
///
/// The key compares as one 128-bit number: one wide comparison instead of a chain of branches
/// over the fields.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Queued {
    pub(crate) deadline: u64,
    pub(crate) order: u64,
    pub(crate) idx: u32,
    pub(crate) gen: u32,
}

impl Queued {
    #[inline(always)]
    fn key(&self) -> u128 {
        (u128::from(self.deadline) << 64) | u128::from(self.order)
    }

    #[inline(always)]
    fn tick(&self) -> u64 {
        self.deadline >> TICK_SHIFT
    }
}

/// An entry of the late or far heap: the heap is a max-heap, so it orders by the reverse key.
#[derive(Clone, Copy, Debug)]
struct ByMin(Queued);

impl PartialEq for ByMin {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for ByMin {}

impl PartialOrd for ByMin {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ByMin {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.key().cmp(&self.0.key())
    }
}

/// Timers with a deadline, in `(deadline, order)` order; see the module docs.
#[derive(Default)]
pub(crate) struct TimerWheel {
    /// The wheel's current tick: the first tick not yet taken out into the near entries.
    cur: u64,
    /// `LEVELS` × 64 slots, allocated at the first push.
    slots: Vec<Vec<Queued>>,
    /// Per level, which slots hold entries.
    occupied: [u64; LEVELS],
    /// Near entries taken out of the wheel, sorted largest key first.
    near: Vec<Queued>,
    /// Near entries pushed after their tick was taken out.
    late: BinaryHeap<ByMin>,
    /// Entries beyond the levels' horizon when they were pushed.
    far: BinaryHeap<ByMin>,
    /// Entries in all four places.
    len: usize,
}

/// Where the least entry is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Least {
    Near,
    Late,
    Far,
}

impl TimerWheel {
    /// Entries held, live or not.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when no entry is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds an entry.
    #[inline]
    pub(crate) fn push(&mut self, q: Queued) {
        self.len += 1;
        let tick = q.tick();
        if tick < self.cur {
            self.late.push(ByMin(q));
        } else {
            self.place(q, tick);
        }
    }

    /// Puts an entry whose tick is `>= cur` into its slot, or into the far heap.
    #[inline(always)]
    fn place(&mut self, q: Queued, tick: u64) {
        debug_assert!(tick >= self.cur, "a wheel entry before the wheel's tick");
        let level = match tick ^ self.cur {
            0 => 0,
            diff => (63 - diff.leading_zeros() as usize) / 6,
        };
        if level >= LEVELS {
            self.far.push(ByMin(q));
            return;
        }
        if self.slots.is_empty() {
            self.slots.resize_with(LEVELS * 64, Vec::new);
        }
        let slot = ((tick >> (6 * level)) & 63) as usize;
        self.slots[level * 64 + slot].push(q);
        self.occupied[level] |= 1 << slot;
    }

    /// The entry with the smallest key.
    #[inline]
    pub(crate) fn peek_min(&mut self) -> Option<&Queued> {
        // The common case of a burst: the next tick's entries are out, nothing else competes.
        if self.late.is_empty() && self.far.is_empty() && !self.near.is_empty() {
            return self.near.last();
        }
        match self.least()? {
            Least::Near => self.near.last(),
            Least::Late => self.late.peek().map(|l| &l.0),
            Least::Far => self.far.peek().map(|l| &l.0),
        }
    }

    /// The near entry `n` pops from now (0: the next one), if the near run holds it (for a
    /// prefetch: the late and far heaps, rarely used, are not looked at).
    #[inline(always)]
    pub(crate) fn near_ahead(&self, n: usize) -> Option<&Queued> {
        self.near.len().checked_sub(n + 1).map(|i| &self.near[i])
    }

    /// Removes the entry [`peek_min`](TimerWheel::peek_min) returns.
    #[inline]
    pub(crate) fn pop_min(&mut self) -> Option<Queued> {
        if self.late.is_empty() && self.far.is_empty() && !self.near.is_empty() {
            self.len -= 1;
            return self.near.pop();
        }
        let q = match self.least()? {
            Least::Near => self.near.pop(),
            Least::Late => self.late.pop().map(|l| l.0),
            Least::Far => {
                let q = self.far.pop().map(|l| l.0);
                // With the levels empty, nothing is placed relative to `cur`: it moves up to the
                // popped entry, so that timers set from now on land in the levels again.
                if let Some(q) = q.filter(|_| self.occupied == [0; LEVELS]) {
                    self.cur = self.cur.max(q.tick());
                }
                q
            }
        };
        self.len -= 1;
        q
    }

    /// Where the least entry is, taking slots out of the levels as needed: near entries come
    /// before every level's; when there are none, the first occupied slot is taken out (a level-0
    /// slot into the near run, a level-1 slot spread over level 0) unless the far heap's least
    /// entry comes before that slot starts.
    #[inline(never)]
    fn least(&mut self) -> Option<Least> {
        loop {
            let near = match (self.near.last(), self.late.peek()) {
                (Some(n), Some(l)) if l.0.key() < n.key() => Some((l.0.key(), Least::Late)),
                (Some(n), _) => Some((n.key(), Least::Near)),
                (None, l) => l.map(|l| (l.0.key(), Least::Late)),
            };
            let far = self.far.peek().map(|f| f.0);
            if let Some((key, at)) = near {
                return Some(if far.is_some_and(|f| f.key() < key) { Least::Far } else { at });
            }
            let Some((start, level, slot)) = self.first_slot() else {
                return far.map(|_| Least::Far);
            };
            if far.is_some_and(|f| f.tick() < start) {
                return Some(Least::Far);
            }
            self.take_slot(start, level, slot);
        }
    }

    /// The levels' occupied slot that starts first, as `(start tick, level, slot)`; a higher
    /// level's on a tie (after the wheel's tick turned over into a level-1 slot, that slot may
    /// hold entries of the same first tick as level 0's).
    #[inline]
    fn first_slot(&self) -> Option<(u64, usize, u64)> {
        let mut first: Option<(u64, usize, u64)> = None;
        for level in (0..LEVELS).rev() {
            let bits = self.occupied[level];
            if bits == 0 {
                continue;
            }
            let slot = u64::from(bits.trailing_zeros());
            debug_assert!(slot >= (self.cur >> (6 * level)) & 63, "a wheel slot behind the wheel's tick");
            // `cur` with this level's group set to `slot` and the groups below it cleared.
            let span = 6 * (level as u32 + 1);
            let start = (self.cur >> span << span) | (slot << (6 * level));
            if first.is_none_or(|(s, ..)| start < s) {
                first = Some((start, level, slot));
            }
        }
        first
    }

    /// Takes a slot out of the levels: a level-0 slot (one tick) becomes the near run, sorted; a
    /// level-1 slot is spread over level 0. Called with the near entries empty.
    #[cold]
    fn take_slot(&mut self, start: u64, level: usize, slot: u64) {
        debug_assert!(self.near.is_empty() && self.late.is_empty());
        debug_assert!(start >= self.cur, "the wheel's tick went back");
        self.occupied[level] &= !(1 << slot);
        let mut taken = std::mem::take(&mut self.slots[level * 64 + slot as usize]);
        if level == 0 {
            self.cur = start + 1;
            taken.sort_unstable_by_key(|q| std::cmp::Reverse(q.key()));
            debug_assert!(taken.iter().all(|q| q.tick() == start));
            // The emptied near run's buffer goes back to the slot: buffers circulate instead of
            // being allocated per tick.
            self.slots[slot as usize] = std::mem::replace(&mut self.near, taken);
            return;
        }
        self.cur = start;
        for q in taken.drain(..) {
            self.place(q, q.tick());
        }
        self.slots[level * 64 + slot as usize] = taken;
    }

    /// Keeps only the entries `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Queued) -> bool) {
        self.near.retain(|q| keep(q));
        self.late.retain(|l| keep(&l.0));
        self.far.retain(|l| keep(&l.0));
        let mut len = self.near.len() + self.late.len() + self.far.len();
        for level in 0..LEVELS {
            let mut bits = self.occupied[level];
            while bits != 0 {
                let slot = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let v = &mut self.slots[level * 64 + slot];
                v.retain(|q| keep(q));
                len += v.len();
                if v.is_empty() {
                    self.occupied[level] &= !(1 << slot);
                }
            }
        }
        self.len = len;
    }

    /// Drops every entry and starts the wheel over (its buffers are kept).
    pub(crate) fn clear(&mut self) {
        for v in &mut self.slots {
            v.clear();
        }
        self.occupied = [0; LEVELS];
        self.near.clear();
        self.late.clear();
        self.far.clear();
        self.len = 0;
        self.cur = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::{Queued, TimerWheel, TICK_SHIFT};
    use std::collections::BinaryHeap;

    /// A max-heap entry ordered by the reverse key: the model the wheel must match.
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct Model(std::cmp::Reverse<(u64, u64)>);

    fn lcg(state: &mut u64, n: u64) -> u64 {
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*state >> 33) % n
    }

    /// `near_ahead(n)` names the entry `n` pops from now (0: the next) while the near run
    /// holds it, and nothing beyond the run (it is only a prefetch hint, but a wrong one would
    /// load the wrong slots).
    #[test]
    fn near_ahead_names_the_entry_popped_that_many_pops_later() {
        let mut wheel = TimerWheel::default();
        // Ten entries in one tick, pushed out of order; a later tick's entry stays in the levels.
        for (i, d) in [5u64, 1, 9, 3, 7, 0, 8, 2, 6, 4].into_iter().enumerate() {
            wheel.push(Queued { deadline: d, order: i as u64, idx: d as u32, gen: 0 });
        }
        wheel.push(Queued { deadline: 1 << (TICK_SHIFT + 1), order: 10, idx: 99, gen: 0 });
        assert!(wheel.near_ahead(0).is_none(), "no tick taken out yet");
        assert_eq!(wheel.peek_min().map(|q| q.idx), Some(0));
        for next in 0..10u32 {
            let ahead: Vec<Option<u32>> = (0..12).map(|n| wheel.near_ahead(n as usize).map(|q| q.idx)).collect();
            let expect: Vec<Option<u32>> = (0..12u32).map(|n| (next + n < 10).then_some(next + n)).collect();
            assert_eq!(ahead, expect, "after {next} pops");
            assert_eq!(wheel.pop_min().map(|q| q.idx), Some(next));
        }
        assert_eq!(wheel.pop_min().map(|q| q.idx), Some(99));
    }

    /// Random pushes, pops (one, or all due) at a moving `now`, peeks and removals, checked
    /// against a binary heap step by step: the wheel pops in `(deadline, order)` order whatever
    /// the deadlines (same tick, same deadline, behind the wheel's tick, a tick apart or years).
    #[test]
    fn the_wheel_pops_in_key_order_like_a_heap() {
        for seed in 1..=40u64 {
            let mut state = seed;
            let (mut wheel, mut model) = (TimerWheel::default(), BinaryHeap::new());
            let mut now = lcg(&mut state, 1 << 40);
            let mut seq = 0u64;
            for _ in 0..3_000 {
                match lcg(&mut state, 10) {
                    0..=5 => {
                        seq += 1;
                        let ahead = match lcg(&mut state, 6) {
                            0 => lcg(&mut state, 1 << TICK_SHIFT),
                            1 => lcg(&mut state, 10_000_000),
                            2 => lcg(&mut state, 1 << 40),
                            3 => u64::MAX - now - lcg(&mut state, 3),
                            4 => 0,
                            _ => lcg(&mut state, 300_000),
                        };
                        // Some deadlines fall behind `now` (a harness's clock, a teardown).
                        let deadline = if lcg(&mut state, 20) == 0 { now / 2 } else { now.saturating_add(ahead) };
                        let order = (lcg(&mut state, 3) << 56) | seq;
                        wheel.push(Queued { deadline, order, idx: seq as u32, gen: 0 });
                        model.push(Model(std::cmp::Reverse((deadline, order))));
                    }
                    6 => {
                        // One pop, with no peek after it before the next push.
                        now = now.saturating_add(lcg(&mut state, 200_000));
                        if model.peek().is_some_and(|m| m.0 .0 .0 <= now) {
                            let popped = wheel.pop_min().map(|q| (q.deadline, q.order));
                            assert_eq!(popped, model.pop().map(|m| m.0 .0), "seed {seed}");
                        }
                    }
                    7 => {
                        now = now.saturating_add(lcg(&mut state, 2_000_000));
                        loop {
                            let w = wheel.peek_min().map(|q| (q.deadline, q.order));
                            let m = model.peek().map(|m| m.0 .0);
                            assert_eq!(w, m, "seed {seed}");
                            match w {
                                Some((d, _)) if d <= now => {
                                    let popped = wheel.pop_min().map(|q| (q.deadline, q.order));
                                    assert_eq!(popped, model.pop().map(|m| m.0 .0), "seed {seed}");
                                }
                                _ => break,
                            }
                        }
                    }
                    8 => {
                        let cut = lcg(&mut state, 7);
                        wheel.retain(|q| q.order % 7 != cut);
                        model.retain(|m| m.0 .0 .1 % 7 != cut);
                    }
                    _ => assert_eq!(wheel.len(), model.len(), "seed {seed}"),
                }
            }
            while let Some(m) = model.pop() {
                assert_eq!(wheel.pop_min().map(|q| (q.deadline, q.order)), Some(m.0 .0), "seed {seed}");
            }
            assert!(wheel.is_empty() && wheel.pop_min().is_none());
        }
    }

    /// Equal deadlines (the virtual clock makes many) pop by order, across the near run and the
    /// late heap: entries pushed into a tick already taken out still come in key order.
    #[test]
    fn equal_deadlines_pop_by_order_across_near_and_late_entries() {
        let mut wheel = TimerWheel::default();
        for seq in [5u64, 1, 9] {
            wheel.push(Queued { deadline: 1_000_000, order: seq, idx: 0, gen: 0 });
        }
        assert_eq!(wheel.peek_min().map(|q| q.order), Some(1));
        for seq in [3u64, 7] {
            wheel.push(Queued { deadline: 1_000_000, order: seq, idx: 0, gen: 0 });
        }
        let orders: Vec<_> = std::iter::from_fn(|| wheel.pop_min()).map(|q| q.order).collect();
        assert_eq!(orders, [1, 3, 5, 7, 9]);
    }

    /// When the wheel's tick turns over into the next level-1 slot, an entry waiting a level up
    /// in that slot comes down before a later entry pushed into level 0 meanwhile: the wheel
    /// takes the slot that starts first, not the lowest level's (which popped tick 66 before 65).
    #[test]
    fn an_entry_a_level_up_is_not_passed_by_a_later_one_after_the_tick_turns_over() {
        let at = |tick: u64, order: u64| Queued { deadline: tick << TICK_SHIFT, order, idx: 0, gen: 0 };
        let mut wheel = TimerWheel::default();
        wheel.push(at(65, 1)); // level 1: its tick differs from the wheel's (0) above the low 6 bits
        wheel.push(at(63, 2)); // level 0, the window's last slot
        assert_eq!(wheel.pop_min().map(|q| q.order), Some(2)); // the wheel's tick is now 64
        wheel.push(at(66, 3)); // level 0 of the new window
        let orders: Vec<_> = std::iter::from_fn(|| wheel.pop_min()).map(|q| q.order).collect();
        assert_eq!(orders, [1, 3]);
    }

    /// Timers beyond the levels' horizon (268 ms) wait in the far heap: looking at the least of
    /// a million parked waits' timeouts spreads no slot down (which would hold them twice, the
    /// `rss1m` row), and they come out in key order, before and after timers set near them.
    #[test]
    fn long_timeouts_wait_in_the_far_heap_and_come_out_in_order() {
        let second = 1_000_000_000u64;
        let mut wheel = TimerWheel::default();
        for i in 0..10_000u64 {
            wheel.push(Queued { deadline: 60 * second + (i * 7919) % 1_000_000, order: i, idx: 0, gen: 0 });
        }
        let least = wheel.peek_min().map(|q| (q.deadline, q.order));
        assert_eq!(least, Some((60 * second, 0)));
        assert_eq!(wheel.occupied, [0; super::LEVELS], "a peek spread the far timers over the levels");
        assert_eq!(wheel.far.len(), 10_000);
        // A timer set near the far ones, after the wheel moved up to them.
        assert_eq!(wheel.pop_min().map(|q| q.order), Some(0));
        wheel.push(Queued { deadline: 60 * second + 1, order: 10_000, idx: 0, gen: 0 });
        let mut last = (0, 0);
        let mut n = 0;
        while let Some(q) = wheel.pop_min() {
            assert!((q.deadline, q.order) > last, "popped out of order");
            last = (q.deadline, q.order);
            n += 1;
        }
        assert_eq!(n, 10_000);
    }

    /// `clear` empties the wheel and lets it start over at an earlier time.
    #[test]
    fn a_cleared_wheel_starts_over() {
        let mut wheel = TimerWheel::default();
        wheel.push(Queued { deadline: u64::MAX, order: 1, idx: 0, gen: 0 });
        assert_eq!(wheel.pop_min().map(|q| q.deadline), Some(u64::MAX));
        wheel.push(Queued { deadline: 7, order: 2, idx: 0, gen: 0 });
        wheel.clear();
        assert!(wheel.is_empty() && wheel.peek_min().is_none());
        wheel.push(Queued { deadline: 3, order: 3, idx: 0, gen: 0 });
        assert_eq!(wheel.pop_min().map(|q| q.deadline), Some(3));
    }
}
