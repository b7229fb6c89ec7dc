//! Waiting for a child process to exit without reaping it, for [`crate::process`].
//!
//! # Contract
//!
//! [`wait_exited`] blocks the calling thread (a `tpool` worker) until child `pid` has exited,
//! leaving it a zombie (`WNOWAIT`): the `std::process::Child` that owns it still reaps it and
//! reads its status, so no lock on the `Child` is held while waiting.

use std::io;

/// Blocks until child `pid` has exited (not reaped); `EINTR` is retried.
pub(crate) fn wait_exited(pid: u32) -> io::Result<()> {
    loop {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: `info` is a valid, writable siginfo_t; P_PID with our own child's pid and
        // WEXITED | WNOWAIT only reads the child's state.
        let rc =
            unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, info.as_mut_ptr(), libc::WEXITED | libc::WNOWAIT) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
