//! Facts about the calling OS thread.

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
