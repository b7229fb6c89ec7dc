//! The stack-overflow detector: a greenthread that hits its guard page is named before the process
//! ends, instead of a bare `SIGSEGV`.

/// Installs the overflow detector for the whole process (idempotent). When a greenthread
/// overflows its stack, the process still ends (a stack overflow cannot be recovered from), but
/// first stderr gets
/// `green: stack overflow in greenthread #<id> "<name>" (spawned at <file>:<line>, stack <n> KiB): ...`.
/// Faults that are not a greenthread's guard page go to the previous handler (std's) untouched.
/// The handler runs on the thread's alternate signal stack: the calling thread gets one if it
/// has none (the standard library gives one to the main thread and to the threads it spawns;
/// a thread made by C code may have none).
///
/// ```
/// green_detectors::install_overflow_detector();
/// // Good code is unaffected.
/// assert_eq!(green::spawn(|| 1).wait().unwrap(), 1);
/// ```
pub fn install_overflow_detector() {
    crate::sys::install_overflow();
}
