//! Invariant checks: what the runtime promises, verified while it runs.
//!
//! The runtime records a violation when it sees one: hub-context switching (a blocking call from a
//! hub callback), a second simultaneous reader or writer of one fd, a timer fired before its
//! deadline or out of `(deadline, creation)` order, a `GreenPool` running more greenthreads than
//! its size. [`check_invariants`] reports them.

use std::fmt;

/// Invariant violations, one line each.
///
/// ```
/// let v = green_detectors::InvariantViolations(vec!["pool bound: ...".into()]);
/// assert!(v.to_string().starts_with("invariant checks: 1 violation"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolations(pub Vec<String>);

impl fmt::Display for InvariantViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant checks: {} violation(s)", self.0.len())?;
        for l in &self.0 {
            write!(f, "\n{l}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvariantViolations {}

/// Reports (and forgets) the invariant violations this thread's hub recorded.
///
/// ```
/// assert!(green_detectors::check_invariants().is_ok());
/// ```
pub fn check_invariants() -> Result<(), InvariantViolations> {
    let v = green::debug::take_invariant_violations();
    if v.is_empty() {
        Ok(())
    } else {
        Err(InvariantViolations(v))
    }
}
