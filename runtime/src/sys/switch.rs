//! The raw yielder pointer through which a greenthread suspends itself.
//!
//! Invariant: a [`YielderPtr`] is set by the greenthread's entry closure from the `&Yielder`
//! corosensei passed it, and it is only dereferenced by that same greenthread while it is running
//! (the hub checks `current` before calling [`YielderPtr::suspend`]). The `Yielder` lives on the
//! greenthread's own stack frame of the entry closure, which outlives every call made from inside
//! the greenthread, so the pointer is valid whenever it can be used.

use std::cell::Cell;

use corosensei::Yielder;

/// What the hub passes to a greenthread when it resumes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Carry on: the wait the greenthread parked in is over (or it is starting).
    Wake,
    /// A kill or an expired timeout is pending: unwind from the current green call.
    Throw,
}

pub(crate) type GreenYielder = Yielder<Resume, ()>;

/// A pointer to the running greenthread's `Yielder`; null until the greenthread starts.
#[derive(Debug)]
pub(crate) struct YielderPtr(Cell<*const GreenYielder>);

impl YielderPtr {
    pub(crate) const fn null() -> Self {
        YielderPtr(Cell::new(std::ptr::null()))
    }

    pub(crate) fn set(&self, y: &GreenYielder) {
        self.0.set(y as *const GreenYielder);
    }

    pub(crate) fn clear(&self) {
        self.0.set(std::ptr::null());
    }

    /// Suspends the calling greenthread back to the hub and returns what the hub resumed it with.
    ///
    /// Must be called only by the greenthread that owns this pointer, while it runs.
    #[inline(always)]
    pub(crate) fn suspend(&self) -> Resume {
        let p = self.0.get();
        assert!(!p.is_null(), "green: internal error: suspend without a yielder");
        // SAFETY: `p` was set from the `&Yielder` handed to this greenthread's entry closure,
        // whose frame is below us on this very stack for as long as the greenthread runs (module
        // invariant); the hub only lets the running greenthread call this, so the reference is
        // live and used on the thread that owns it.
        let y: &GreenYielder = unsafe { &*p };
        y.suspend(())
    }

    /// Runs `f` on the stack of the context that resumed the greenthread (the hub), for work
    /// that needs more stack than a greenthread has (symbolising backtraces).
    pub(crate) fn on_parent_stack<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let p = self.0.get();
        if p.is_null() {
            return f();
        }
        // SAFETY: as in `suspend`: the pointer is live while its greenthread runs, and only the
        // running greenthread calls this.
        let y: &GreenYielder = unsafe { &*p };
        y.on_parent_stack(f)
    }
}
