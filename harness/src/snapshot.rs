//! insta snapshots of hub dumps, stored in the calling workspace's top-level `snapshots/`.
//!
//! [`assert_hub_snapshot!`](crate::assert_hub_snapshot) is a macro because only a macro sees the
//! caller's `CARGO_MANIFEST_DIR` and `file!()`. Its default view keeps what is stable in every
//! profile: creation-stack frames (`    at ...` lines, which differ between debug and release
//! inlining) are left out; ids, relative virtual deadlines and `#[track_caller]` sites stay. Take
//! snapshots under the harness's virtual clock and they need no filters.
//!
//! Review new or changed snapshots with `cargo insta review`; CI runs with `INSTA_UPDATE=no`, so
//! a missing or different snapshot fails it.

/// The stable view of a dump: frame lines removed.
///
/// ```
/// let v = green_harness::snapshot::stable_view("TIMERS:\nt1 +1.000000s wake #1 (sleep)\n    at f (a.rs:1)");
/// assert_eq!(v, "TIMERS:\nt1 +1.000000s wake #1 (sleep)");
/// ```
pub fn stable_view(dump: &str) -> String {
    dump.lines().filter(|l| !l.starts_with("    at ")).collect::<Vec<_>>().join("\n")
}

/// Asserts an insta snapshot of a hub dump (its [stable view](crate::snapshot::stable_view)),
/// stored in `<CARGO_MANIFEST_DIR>/snapshots/<name>.snap` of the calling package.
///
/// ```no_run
/// green_harness::Harness::new().run(|| {
///     green_harness::assert_hub_snapshot!("empty_timers", green::debug::format_hub_timers());
/// });
/// ```
#[macro_export]
macro_rules! assert_hub_snapshot {
    ($name:expr, $dump:expr) => {{
        let mut settings = $crate::insta::Settings::clone_current();
        settings.set_snapshot_path(::std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        let view = $crate::snapshot::stable_view(&$dump);
        settings.bind(|| {
            $crate::insta::assert_snapshot!($name, view);
        });
    }};
}
