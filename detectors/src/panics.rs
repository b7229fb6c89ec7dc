//! The unobserved-panic detector: a greenthread panicked and nobody waited for it.

use std::fmt;

/// Greenthread panics nobody observed, one line each (greenthread, spawn site, message).
///
/// ```
/// let p = green_detectors::UnobservedPanics(vec!["unobserved panic: ...".into()]);
/// assert!(p.to_string().starts_with("unobserved-panic detector: 1 greenthread"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnobservedPanics(pub Vec<String>);

impl fmt::Display for UnobservedPanics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unobserved-panic detector: {} greenthread panic(s) nobody waited for", self.0.len())?;
        for l in &self.0 {
            write!(f, "\n{l}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnobservedPanics {}

/// Reports (and forgets) the greenthreads of this thread's hub that panicked while nobody waited
/// for them: every handle was dropped without `wait()`/`join()`, or it was a `spawn_n`. A panic
/// whose handle is still held is not reported yet (someone may still wait).
///
/// ```
/// green::debug::hub_exceptions(false);
/// let watched = green::spawn(|| -> u8 { panic!("seen") });
/// assert!(watched.wait().is_err());
/// drop(watched);
/// assert!(green_detectors::check_unobserved_panics().is_ok());
///
/// green::spawn_n(|| panic!("lost"));
/// green::sleep(std::time::Duration::ZERO);
/// let err = green_detectors::check_unobserved_panics().unwrap_err();
/// assert!(err.0[0].contains("lost"));
/// ```
pub fn check_unobserved_panics() -> Result<(), UnobservedPanics> {
    let lost = green::debug::take_unobserved_panics();
    if lost.is_empty() {
        Ok(())
    } else {
        Err(UnobservedPanics(lost))
    }
}
