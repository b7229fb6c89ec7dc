//! The running greenthread's record, in a cell that signal handlers may read.
//!
//! # Contract
//!
//! [`Current`] owns one strong count of the record it points at (an `Rc<GtCore>` turned into a
//! raw pointer), or holds null in hub context. The pointer is loaded and stored with relaxed
//! atomics, never read-modify-written: only the hub's thread writes it, and a signal handler that
//! interrupts a switch (the blocking detector's slice report, the stack-overflow report) reads
//! either the record before the switch or the one after it. Both are alive, since a record
//! leaves the cell only through [`Current::replace`], which hands the cell's count to the caller.
//! A handler that takes a count of its own ([`Current::get`]) drops it before the interrupted code
//! resumes, so even a count update it interrupts halfway ends right, and never at zero (the cell
//! holds one).
//!
//! It replaces a `RefCell<Option<Rc<GtCore>>>`: a switch in and out of a greenthread then
//! checks no borrow flag, and a read from a signal handler never finds the cell borrowed.

use std::marker::PhantomData;
use std::ptr::null_mut;
use std::rc::Rc;
use std::sync::atomic::{AtomicPtr, Ordering::Relaxed};

use crate::greenthread::GtCore;

/// The running greenthread or root, `None` in hub context (see the module docs).
pub(crate) struct Current {
    ptr: AtomicPtr<GtCore>,
    /// The cell hands out `Rc`s: it stays on its thread.
    _not_send: PhantomData<Rc<GtCore>>,
}

impl Current {
    pub(crate) fn new(gt: Option<Rc<GtCore>>) -> Current {
        Current { ptr: AtomicPtr::new(into_ptr(gt)), _not_send: PhantomData }
    }

    /// Makes `gt` current and returns the record that was, with the count the cell held.
    #[inline(always)]
    pub(crate) fn replace(&self, gt: Option<Rc<GtCore>>) -> Option<Rc<GtCore>> {
        let new = into_ptr(gt);
        let old = self.ptr.load(Relaxed);
        self.ptr.store(new, Relaxed);
        // SAFETY: a non-null pointer in the cell came from `Rc::into_raw` and carries the count
        // the cell owned; that count goes to the returned `Rc`, and the cell no longer has it.
        (!old.is_null()).then(|| unsafe { Rc::from_raw(old) })
    }

    /// The current record, with a count of its own.
    #[inline(always)]
    pub(crate) fn get(&self) -> Option<Rc<GtCore>> {
        let p = self.ptr.load(Relaxed);
        if p.is_null() {
            return None;
        }
        // SAFETY: the cell owns a count of the record at `p` (from `Rc::into_raw`), so it is
        // alive; the count added here is the returned `Rc`'s.
        unsafe {
            Rc::increment_strong_count(p);
            Some(Rc::from_raw(p))
        }
    }

    /// True in hub context.
    #[inline(always)]
    pub(crate) fn is_none(&self) -> bool {
        self.ptr.load(Relaxed).is_null()
    }

    /// The current record's id, 0 in hub context (the root's id is 0 too).
    #[inline(always)]
    pub(crate) fn id(&self) -> u64 {
        let p = self.ptr.load(Relaxed);
        // SAFETY: as in `get`: the cell's count keeps the record at a non-null `p` alive.
        if p.is_null() {
            0
        } else {
            unsafe { (*p).id }
        }
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        drop(self.replace(None));
    }
}

fn into_ptr(gt: Option<Rc<GtCore>>) -> *mut GtCore {
    gt.map_or(null_mut(), |g| Rc::into_raw(g).cast_mut())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cell_owns_one_count_and_hands_it_back() {
        let gt = GtCore::new_root();
        let cell = Current::new(Some(gt.clone()));
        assert_eq!(Rc::strong_count(&gt), 2);
        let got = cell.get().expect("a record is current");
        assert!(Rc::ptr_eq(&got, &gt));
        assert_eq!(Rc::strong_count(&gt), 3);
        drop(got);
        assert_eq!(cell.id(), gt.id);
        let back = cell.replace(None).expect("the record was current");
        assert!(cell.is_none() && cell.get().is_none());
        assert_eq!(Rc::strong_count(&gt), 2, "the cell's count went with the record it handed back");
        drop(back);
        cell.replace(Some(gt.clone()));
        drop(cell);
        assert_eq!(Rc::strong_count(&gt), 1, "dropping the cell releases its count");
    }
}
