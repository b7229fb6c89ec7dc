//! Greenthread stacks: slab-allocated, guard-paged, pooled per OS thread.
//!
//! # Layout
//!
//! A slab is one anonymous `MAP_NORESERVE` mapping holding [`SLAB_STACKS`] slots of the same size.
//! Each slot is one guard page followed by the usable stack (stacks grow down, so the guard sits
//! below the lowest usable address). Untouched pages cost no memory.
//!
//! # Guard pages and the mapping limit
//!
//! An `mprotect`-ed guard page splits a mapping, so a stack costs two entries of the kernel's
//! per-process mapping table, whose size is `vm.max_map_count` (65,530 by default): at most about
//! 32k live stacks. Linux 6.13 added `madvise(MADV_GUARD_INSTALL)`, which marks guard pages
//! inside one mapping; a slab then costs one entry whatever its size. The pool tries it first and
//! falls back to `mprotect` when the kernel refuses it. Either way a touch of a guard page raises
//! `SIGSEGV`. Where the kernel lets a process advise itself through `process_madvise`
//! (`PIDFD_SELF`, Linux 6.14+), a new slab's guards are installed in one system call rather than
//! one per stack: a million greenthreads make about 16k calls instead of a million.
//!
//! # Reuse
//!
//! A finished greenthread's stack goes back to its thread's free list and is reused by the next
//! greenthread of the same stack size, so steady-state spawning makes no system call. The free
//! list is LIFO: the stack reused next is the one whose pages were touched last. Beyond
//! [`HOT_STACKS`] free stacks of one size (not counting those promised to greenthreads about to
//! start), the coldest keep their memory only for a while: once the excess has lasted
//! [`TRIM_DELAY`] without being taken back into use, the hub's next idle moment (about to block in the poller)
//! calls [`trim`], which releases their pages to the kernel with `MADV_DONTNEED` (their address
//! space stays reserved for reuse). Releasing on every return instead would make a burst of
//! greenthreads pay a page fault per stack each time it comes back, in a loop that never idles.

use std::cell::RefCell;
use std::io;
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use corosensei::stack::{Stack, StackPointer};

/// Stacks per slab.
pub(crate) const SLAB_STACKS: usize = 64;

/// Free stacks of one size that always keep their memory; beyond that, [`trim`] releases the
/// coldest.
pub(crate) const HOT_STACKS: usize = 1024;

/// How long an excess of free stacks may keep its memory before an idle hub releases it.
pub(crate) const TRIM_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// `madvise` advice installing guard markers (Linux 6.13+); not yet in the `libc` crate.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// 0 = not probed, 1 = `MADV_GUARD_INSTALL` works, 2 = use `mprotect`.
static GUARD_MODE: AtomicU8 = AtomicU8::new(0);

/// `process_madvise`'s target for the calling thread's process (Linux 6.14+); not yet in `libc`.
const PIDFD_SELF: libc::c_int = -10000;

/// 0 = not probed, 1 = `process_madvise` installs a slab's guards in one call, 2 = one `madvise`
/// per guard.
static BATCH_MODE: AtomicU8 = AtomicU8::new(0);

/// The page size, read once.
pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let p = PAGE.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if p <= 0 { 4096 } else { p as usize };
    PAGE.store(p, Ordering::Relaxed);
    p
}

/// The largest stack a greenthread may ask for: 4 GiB.
pub(crate) const MAX_STACK_SIZE: usize = 4 << 30;

/// Rounds a requested stack size to what a slot really gets: whole pages, at least 16 KiB. A
/// size above [`MAX_STACK_SIZE`] is refused with an error naming it (rounding it could wrap).
pub(crate) fn round_stack_size(size: usize) -> io::Result<usize> {
    if size > MAX_STACK_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "green: a greenthread stack of {size} bytes was asked for (green::Builder::stack_size), more than \
                 the {} GiB a greenthread may have; ask for less (the default is {} KiB)",
                MAX_STACK_SIZE >> 30,
                crate::greenthread::DEFAULT_STACK_SIZE / 1024
            ),
        ));
    }
    let page = page_size();
    let size = size.max(16 * 1024);
    Ok(size.div_ceil(page) * page)
}

/// One mapping holding [`SLAB_STACKS`] stacks; unmapped when the last stack carved from it drops.
#[derive(Debug)]
struct Slab {
    addr: usize,
    len: usize,
    /// The usable size of each of its stacks.
    usable: usize,
    /// Each stack registered with Valgrind when running under it (see `under_valgrind`), so
    /// memcheck follows the switches between stacks instead of reporting the frames it cannot
    /// place. Deregistered on drop.
    _valgrind: Vec<corosensei::stack::valgrind::ValgrindStackRegistration>,
}

impl Drop for Slab {
    fn drop(&mut self) {
        // SAFETY: `addr..addr+len` is the mapping this slab created and owns; every stack carved
        // from it holds an `Rc<Slab>`, so none is in use once the last reference drops.
        unsafe {
            libc::munmap(self.addr as *mut libc::c_void, self.len);
        }
    }
}

/// A stack slot: its slab's `usable` bytes starting at `limit`, the guard page just below. Two
/// words: the free lists hold one per reserved stack (a million for `bench`'s `park1m`), and a
/// lent one sits in its greenthread's coroutine.
#[derive(Debug)]
struct Slot {
    /// `limit` (page aligned) with bit 0 set while the slot is released: its pages hold no
    /// memory (never touched, or released by [`trim`] and not run on since).
    limit_released: usize,
    slab: Rc<Slab>,
}

impl Slot {
    fn limit(&self) -> usize {
        self.limit_released & !1
    }

    fn usable(&self) -> usize {
        self.slab.usable
    }

    fn released(&self) -> bool {
        self.limit_released & 1 != 0
    }

    fn set_released(&mut self, released: bool) {
        self.limit_released = self.limit() | usize::from(released);
    }
}

/// A greenthread stack lent by the pool; it returns to its thread's pool when dropped.
#[derive(Debug)]
pub(crate) struct PooledStack {
    slot: Option<Slot>,
}

impl PooledStack {
    /// The guard page's address range `[lo, hi)`.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        self.slot.as_ref().map_or((0, 0), |s| (s.limit() - page_size(), s.limit()))
    }
}

impl Drop for PooledStack {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            // During thread teardown the pool may be gone: then the slot (and maybe its slab) is
            // simply released.
            let _ = POOL.try_with(|p| {
                if let Ok(mut p) = p.try_borrow_mut() {
                    p.put(slot);
                }
            });
        }
    }
}

// SAFETY: `limit()..base()` is this stack's slot: its guard page (installed when the slab was
// created; corosensei's contract wants the limit to include it) then `usable` bytes of read-write
// memory owned by this stack (the slab stays mapped while the slot's `Rc<Slab>` lives). `usable`
// is at least 16 KiB, above corosensei's `MIN_STACK_SIZE`, and both ends are page aligned, which
// satisfies `STACK_ALIGNMENT`.
unsafe impl Stack for PooledStack {
    fn base(&self) -> StackPointer {
        let s = self.slot.as_ref().expect("stack slot present while lent");
        StackPointer::new(s.limit() + s.usable()).expect("non-null stack base")
    }

    fn limit(&self) -> StackPointer {
        // corosensei's contract: the limit includes the guard page.
        let s = self.slot.as_ref().expect("stack slot present while lent");
        NonZeroUsize::new(s.limit() - page_size()).expect("non-null stack limit")
    }
}

/// Free stacks of one size, and how many of them are promised to greenthreads not started yet.
#[derive(Debug)]
struct SizeClass {
    usable: usize,
    /// LIFO: the last stack returned is the first taken (its pages are the warmest).
    slots: Vec<Slot>,
    /// Greenthreads spawned but not started, each owed one of `slots` (see [`reserve`]).
    reserved: usize,
}

/// Free stacks by size; few distinct sizes are in use, so a short list beats a hash map.
#[derive(Debug, Default)]
struct Pool {
    free: Vec<SizeClass>,
    /// Since when some size has had more than [`HOT_STACKS`] free stacks not yet trimmed.
    excess_since: Option<std::time::Instant>,
}

impl Pool {
    fn class(&mut self, usable: usize) -> &mut SizeClass {
        let i = match self.free.iter().position(|c| c.usable == usable) {
            Some(i) => i,
            None => {
                self.free.push(SizeClass { usable, slots: Vec::new(), reserved: 0 });
                self.free.len() - 1
            }
        };
        &mut self.free[i]
    }
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// Counters describing a thread's stack pool, for tests and benchmarks.
///
/// ```
/// let stats: green::StackPoolStats = green::stack_pool_stats();
/// let _ = stats.free;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackPoolStats {
    /// Free stacks held by this thread's pool, all sizes together.
    pub free: usize,
    /// Of those, the ones holding no memory: never run on, or released after a burst.
    pub released: usize,
}

pub(crate) fn stats() -> StackPoolStats {
    POOL.with(|p| {
        let p = p.borrow();
        let slots = || p.free.iter().flat_map(|c| &c.slots);
        StackPoolStats { free: slots().count(), released: slots().filter(|s| s.released()).count() }
    })
}

/// Promises a stack of `usable` bytes (already rounded by [`round_stack_size`]) to a greenthread
/// that starts later, mapping a slab now if every free stack is promised already: running out of
/// memory or mappings fails here, at the spawn, not when the hub starts the greenthread. The
/// stack itself is picked by [`take`] at the start, from the top of the LIFO list, so a burst of
/// short greenthreads runs on a few warm stacks instead of touching one cold stack each.
pub(crate) fn reserve(usable: usize) -> io::Result<()> {
    // While the thread exits its pool may be gone: `take` then maps a slab of its own.
    POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let class = p.class(usable);
        if class.slots.len() <= class.reserved {
            new_slab(usable, &mut class.slots)?;
        }
        class.reserved += 1;
        Ok(())
    })
    .unwrap_or(Ok(()))
}

/// Gives up a promise of [`reserve`] (the greenthread finished without starting).
pub(crate) fn unreserve(usable: usize) {
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            let class = p.class(usable);
            class.reserved = class.reserved.saturating_sub(1);
        }
    });
}

/// Takes the stack promised by [`reserve`] from this thread's pool.
pub(crate) fn take(usable: usize) -> io::Result<PooledStack> {
    let pooled = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let class = p.class(usable);
        debug_assert!(class.reserved > 0, "a stack taken without a reservation");
        class.reserved = class.reserved.saturating_sub(1);
        if class.slots.is_empty() {
            new_slab(usable, &mut class.slots)?;
        }
        let mut slot = class.slots.pop().expect("slab filled the free list");
        slot.set_released(false); // its pages are about to be touched
        if p.free.iter().all(|c| c.slots.len() <= HOT_STACKS + c.reserved) {
            // No size has an excess any more: only an excess that lasts is trimmed.
            p.excess_since = None;
        }
        Ok(PooledStack { slot: Some(slot) })
    });
    match pooled {
        Ok(r) => r,
        // The thread is exiting and its pool is gone (a destructor spawned during teardown):
        // carve the stack from a slab of its own.
        Err(_) => {
            let mut list = Vec::new();
            new_slab(usable, &mut list)?;
            let slot = list.pop().expect("slab filled the list");
            Ok(PooledStack { slot: Some(slot) })
        }
    }
}

/// Starts loading the top lines of the `n` free stacks of `usable` bytes that the next [`take`]s
/// of that size will return (the top of the LIFO list), for greenthreads about to start: their
/// first frames are written there. A hint only (see `sys/prefetch.rs`); released stacks, which
/// hold no memory, are skipped.
pub(crate) fn prefetch_next(usable: usize, n: usize) {
    let _ = POOL.try_with(|p| {
        let Ok(p) = p.try_borrow() else { return };
        let Some(class) = p.free.iter().find(|c| c.usable == usable) else { return };
        for slot in class.slots.iter().rev().take(n).filter(|s| !s.released()) {
            let top = slot.limit() + usable;
            for line in 1..=8 {
                super::prefetch::prefetch(top - line * 64);
            }
        }
    });
}

/// Makes sure this thread's pool exists, so that its destructor runs after the hub's teardown
/// (thread-local destructors run in reverse order of registration).
pub(crate) fn init_pool() {
    // During thread exit the pool may be gone already: stacks are then mapped and freed one by
    // one (see `PooledStack`'s drop).
    let _ = POOL.try_with(|_| {});
}

impl Pool {
    fn put(&mut self, slot: Slot) {
        let class = self.class(slot.usable());
        class.slots.push(slot);
        let over = class.slots.len() > HOT_STACKS + class.reserved;
        if over && self.excess_since.is_none() {
            self.excess_since = Some(std::time::Instant::now());
        }
    }

    /// Releases the memory of the free stacks beyond [`HOT_STACKS`] of each size, coldest first
    /// (the bottom of each LIFO list), if the excess has lasted [`TRIM_DELAY`].
    fn trim(&mut self) {
        let Some(since) = self.excess_since else { return };
        if since.elapsed() < TRIM_DELAY {
            return;
        }
        self.excess_since = None;
        for class in &mut self.free {
            let excess = class.slots.len().saturating_sub(HOT_STACKS + class.reserved);
            for slot in class.slots[..excess].iter_mut().filter(|s| !s.released()) {
                // SAFETY: the slot's usable range lies inside its live slab mapping and no
                // coroutine runs on it (it is on the free list); dropping its pages only zeroes
                // them.
                unsafe {
                    libc::madvise(slot.limit() as *mut libc::c_void, slot.usable(), libc::MADV_DONTNEED);
                }
                slot.set_released(true);
            }
        }
    }
}

/// Releases the memory of long-unused free stacks (see the module docs); cheap when there is none.
/// The hub calls it when it is about to block in the poller.
pub(crate) fn trim() {
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.excess_since.is_some() {
                p.trim();
            }
        }
    });
}

fn new_slab(usable: usize, out: &mut Vec<Slot>) -> io::Result<()> {
    let page = page_size();
    let slot_len = usable + page;
    let len = slot_len * SLAB_STACKS;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing aliases nothing.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "green: cannot map a slab of {SLAB_STACKS} greenthread stacks of {usable} bytes: {e}. \
                 The process may have hit its memory or mapping limit (vm.max_map_count, 65530 by \
                 default); lower the number of live greenthreads or their stack size \
                 (green::Builder::stack_size)"
            ),
        ));
    }
    let valgrind = if under_valgrind() {
        (0..SLAB_STACKS)
            .map(|i| {
                let limit = addr as usize + i * slot_len + page;
                corosensei::stack::valgrind::ValgrindStackRegistration::new(limit as *mut u8, usable)
            })
            .collect()
    } else {
        Vec::new()
    };
    let slab = Rc::new(Slab { addr: addr as usize, len, usable, _valgrind: valgrind });
    let batched = install_guards_batched(slab.addr, slot_len, page);
    for i in batched..SLAB_STACKS {
        let guard = slab.addr + i * slot_len;
        install_guard(guard, page).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "green: cannot install a stack guard page: {e}. With mprotect guards every \
                     stack costs two mappings, so about 32k live greenthreads reach \
                     vm.max_map_count (65530 by default). Keep fewer greenthreads alive at once \
                     (a GreenPool bounds them), raise the limit (sysctl -w vm.max_map_count=262144), \
                     or run on Linux 6.13+, whose MADV_GUARD_INSTALL needs no extra mapping"
                ),
            )
        })?;
    }
    // Hand slots out lowest address last so that pops walk the slab upwards.
    for i in (0..SLAB_STACKS).rev() {
        let guard = slab.addr + i * slot_len;
        let limit = guard + page;
        debug_assert_eq!(limit % page, 0, "a stack limit is page aligned (its bit 0 is the released flag)");
        out.push(Slot { limit_released: limit | 1, slab: slab.clone() });
    }
    Ok(())
}

/// True when the process runs under Valgrind, which preloads its core into the program it runs
/// (`vgpreload_core-<platform>.so` in `LD_PRELOAD`). Stacks are registered with it only then:
/// natively a registration does nothing but costs a word per stack (a million parked
/// greenthreads hold a million stacks).
fn under_valgrind() -> bool {
    static UNDER: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 no, 2 yes
    match UNDER.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = std::env::var_os("LD_PRELOAD").is_some_and(|p| p.to_string_lossy().contains("vgpreload_core"));
            UNDER.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

/// Installs the guard pages of a fresh slab (one page every `stride` bytes from `base`) with one
/// `process_madvise` call on this process (`PIDFD_SELF`, Linux 6.14+) instead of one `madvise`
/// per stack. Returns how many guards, from the first, it installed: all of them, or 0 when the
/// kernel refuses the call (older kernels, a seccomp filter, `mprotect` guards), after which
/// [`install_guard`] does the rest one by one and reports any real error.
fn install_guards_batched(base: usize, stride: usize, page: usize) -> usize {
    if GUARD_MODE.load(Ordering::Relaxed) == 2 || BATCH_MODE.load(Ordering::Relaxed) == 2 {
        return 0;
    }
    let iov: [libc::iovec; SLAB_STACKS] =
        std::array::from_fn(|i| libc::iovec { iov_base: (base + i * stride) as *mut libc::c_void, iov_len: page });
    // SAFETY: every range is a page of a mapping this module just created and owns, holding no
    // data yet; `iov` outlives the call and its length is passed with it.
    let r = unsafe {
        libc::syscall(libc::SYS_process_madvise, PIDFD_SELF, iov.as_ptr(), SLAB_STACKS, MADV_GUARD_INSTALL, 0)
    };
    if r < 0 {
        // Refused at the probe: this kernel or sandbox does not batch, so stop asking. A later
        // failure (out of memory for page tables, say) is this slab's: the one-by-one installs
        // meet it again and report it.
        if BATCH_MODE.load(Ordering::Relaxed) == 0 {
            BATCH_MODE.store(2, Ordering::Relaxed);
        }
        return 0;
    }
    BATCH_MODE.store(1, Ordering::Relaxed);
    GUARD_MODE.store(1, Ordering::Relaxed);
    // The kernel advises the ranges in order and stops at the first failure.
    (r as usize / page).min(SLAB_STACKS)
}

fn install_guard(addr: usize, page: usize) -> io::Result<()> {
    let mode = GUARD_MODE.load(Ordering::Relaxed);
    if mode != 2 {
        // SAFETY: `addr..addr+page` is a page of a mapping this module just created and owns.
        let r = unsafe { libc::madvise(addr as *mut libc::c_void, page, MADV_GUARD_INSTALL) };
        if r == 0 {
            GUARD_MODE.store(1, Ordering::Relaxed);
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if mode == 1 || e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
        GUARD_MODE.store(2, Ordering::Relaxed);
    }
    // SAFETY: as above; the page holds no data yet.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, page, libc::PROT_NONE) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Which guard mechanism this process uses: `"madvise"`, `"mprotect"` or `"unprobed"`.
pub(crate) fn guard_mode() -> &'static str {
    match GUARD_MODE.load(Ordering::Relaxed) {
        1 => "madvise",
        2 => "mprotect",
        _ => "unprobed",
    }
}
