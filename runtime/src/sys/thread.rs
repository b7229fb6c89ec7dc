//! Facts about the calling OS thread, and the end of its hub.
//!
//! Contract of [`free_at_exit`]: a hub is leaked (`Box::leak`) when its thread first needs it,
//! so that `hub()` can hand out `&'static Hub`; the thread-local cell holding that reference
//! is the only place it is kept. At a non-main thread's exit, after a teardown that left no
//! greenthread parked (no green stack still holds a reference into it), nothing can reach the
//! hub but that cell: [`free_at_exit`] clears the cell, then frees the hub.

/// True on the process's main thread (whose thread-local destructors glibc runs inside `exit()`).
pub(crate) fn is_main_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpid and gettid have no preconditions and cannot fail.
        unsafe { libc::getpid() == libc::gettid() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::thread::current().name() == Some("main")
    }
}

/// Frees this thread's hub at thread exit (see the module's contract): clears `cell` first, so a
/// later `hub()` (a thread-local destructor making a green call) creates a fresh hub instead of
/// reaching freed memory.
pub(crate) fn free_at_exit(cell: &std::cell::Cell<Option<&'static crate::hub::Hub>>) {
    let Some(h) = cell.take() else { return };
    let ptr = h as *const crate::hub::Hub as *mut crate::hub::Hub;
    // SAFETY: `h` came from `Box::leak` (`hub::create_hub`) and, per the contract, the cell was
    // the only holder of the reference: no green stack is left (the teardown left no
    // greenthread parked), the root's frames are gone (the thread's main function returned),
    // and the cell is cleared above, so nothing uses the hub after this.
    drop(unsafe { Box::from_raw(ptr) });
}
