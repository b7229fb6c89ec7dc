//! `fork(2)`, for [`crate::process::fork`], which enforces the rules (root only; a fresh hub in the
//! child).
//!
//! # Contract
//!
//! [`fork`] returns the child's pid in the parent and 0 in the child, or the OS error. The child
//! is a copy of the process with only the calling thread: state other threads held (locks, work
//! in flight) is frozen in it, so the child must not wait for them. The runtime copes by leaking
//! the parent's hub in the child (nothing is unwound) and by running `tpool` jobs on fresh threads
//! there.

use std::io;

/// Forks the process; see the module contract.
pub(crate) fn fork() -> io::Result<u32> {
    // SAFETY: fork(2) has no memory-safety preconditions: both processes continue with a valid
    // copy of this thread's state. What the child may rely on afterwards is the caller's concern
    // (module contract); `process::fork` only lets the root greenlet fork, so no greenthread is
    // mid-switch on this thread.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid as u32)
}
