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
//! `SIGSEGV`.
//!
//! # Reuse
//!
//! A finished greenthread's stack goes back to its thread's free list and is reused by the next
//! greenthread of the same stack size, so steady-state spawning makes no system call. Beyond
//! [`HOT_STACKS`] free stacks of one size, returned stacks have their memory released to the kernel
//! with `MADV_DONTNEED` (their address space stays reserved for reuse).

use std::cell::RefCell;
use std::io;
use std::num::NonZeroUsize;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use corosensei::stack::{Stack, StackPointer};

/// Stacks per slab.
pub(crate) const SLAB_STACKS: usize = 64;

/// Free stacks of one size kept with their memory; more than that are returned with
/// `MADV_DONTNEED` when they come back.
pub(crate) const HOT_STACKS: usize = 1024;

/// `madvise` advice installing guard markers (Linux 6.13+); not yet in the `libc` crate.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// 0 = not probed, 1 = `MADV_GUARD_INSTALL` works, 2 = use `mprotect`.
static GUARD_MODE: AtomicU8 = AtomicU8::new(0);

/// The page size, read once.
fn page_size() -> usize {
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

/// Rounds a requested stack size to what a slot really gets: whole pages, at least 16 KiB.
pub(crate) fn round_stack_size(size: usize) -> usize {
    let page = page_size();
    let size = size.max(16 * 1024);
    size.div_ceil(page) * page
}

/// One mapping holding [`SLAB_STACKS`] stacks; unmapped when the last stack carved from it drops.
#[derive(Debug)]
struct Slab {
    addr: usize,
    len: usize,
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

/// A free stack slot: `usable` bytes starting at `limit`, the guard page just below.
#[derive(Debug)]
struct Slot {
    limit: usize,
    usable: usize,
    cold: bool,
    _slab: Rc<Slab>,
}

/// A greenthread stack lent by the pool; it returns to its thread's pool when dropped.
#[derive(Debug)]
pub(crate) struct PooledStack {
    slot: Option<Slot>,
}

impl PooledStack {
    /// The guard page's address range `[lo, hi)`.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        self.slot.as_ref().map_or((0, 0), |s| (s.limit - page_size(), s.limit))
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
        StackPointer::new(s.limit + s.usable).expect("non-null stack base")
    }

    fn limit(&self) -> StackPointer {
        // corosensei's contract: the limit includes the guard page.
        let s = self.slot.as_ref().expect("stack slot present while lent");
        NonZeroUsize::new(s.limit - page_size()).expect("non-null stack limit")
    }
}

/// Free stacks by size; few distinct sizes are in use, so a short list beats a hash map.
#[derive(Debug, Default)]
struct Pool {
    free: Vec<(usize, Vec<Slot>)>,
}

impl Pool {
    fn list(&mut self, usable: usize) -> &mut Vec<Slot> {
        let i = match self.free.iter().position(|(s, _)| *s == usable) {
            Some(i) => i,
            None => {
                self.free.push((usable, Vec::new()));
                self.free.len() - 1
            }
        };
        &mut self.free[i].1
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
}

pub(crate) fn stats() -> StackPoolStats {
    POOL.with(|p| StackPoolStats { free: p.borrow().free.iter().map(|(_, l)| l.len()).sum() })
}

/// Takes a stack of `usable` bytes (already rounded by [`round_stack_size`]) from this thread's
/// pool, creating a slab when none is free.
pub(crate) fn take(usable: usize) -> io::Result<PooledStack> {
    let pooled = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        let list = p.list(usable);
        if list.is_empty() {
            new_slab(usable, list)?;
        }
        let slot = list.pop().expect("slab filled the free list");
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

/// Makes sure this thread's pool exists, so that its destructor runs after the hub's teardown
/// (thread-local destructors run in reverse order of registration).
pub(crate) fn init_pool() {
    POOL.with(|_| {});
}

impl Pool {
    fn put(&mut self, mut slot: Slot) {
        let list = self.list(slot.usable);
        if list.len() >= HOT_STACKS && !slot.cold {
            // SAFETY: the slot's usable range lies inside its live slab mapping and no coroutine
            // runs on it any more (it was handed back); dropping its pages only zeroes them.
            unsafe {
                libc::madvise(slot.limit as *mut libc::c_void, slot.usable, libc::MADV_DONTNEED);
            }
            slot.cold = true;
        }
        list.push(slot);
    }
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
    let slab = Rc::new(Slab { addr: addr as usize, len });
    for i in 0..SLAB_STACKS {
        let guard = slab.addr + i * slot_len;
        install_guard(guard, page).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "green: cannot install a stack guard page: {e}. With mprotect guards every \
                     stack costs two mappings, so about 32k live greenthreads reach \
                     vm.max_map_count (65530 by default); Linux 6.13+ avoids this with \
                     MADV_GUARD_INSTALL"
                ),
            )
        })?;
    }
    // Hand slots out lowest address last so that pops walk the slab upwards.
    for i in (0..SLAB_STACKS).rev() {
        let guard = slab.addr + i * slot_len;
        out.push(Slot { limit: guard + page, usable, cold: false, _slab: slab.clone() });
    }
    Ok(())
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
