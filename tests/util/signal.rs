//! Sending signals to a given thread (for EINTR tests). The only `unsafe` in the tests.

/// An OS thread's pthread id.
#[derive(Clone, Copy, Debug)]
pub struct ThreadId(libc::pthread_t);

/// The calling thread's pthread id.
pub fn current_thread() -> ThreadId {
    // SAFETY: pthread_self has no preconditions and always succeeds.
    ThreadId(unsafe { libc::pthread_self() })
}

/// Sends `sig` to thread `t`; false when the thread is gone.
pub fn send(t: ThreadId, sig: i32) -> bool {
    // SAFETY: `t` came from pthread_self of a thread the caller keeps joinable (so the id is not
    // recycled while it is used), and `sig` is a valid signal number with a handler installed by
    // the caller.
    unsafe { libc::pthread_kill(t.0, sig) == 0 }
}
