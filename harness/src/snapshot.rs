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
//!
//! ```
//! let dump = "TIMERS:\nt1 +5.000000s wake #1 (sleep)\n    at f (src/a.rs:1)";
//! assert_eq!(green_harness::snapshot::stable_view(dump), "TIMERS:\nt1 +5.000000s wake #1 (sleep)");
//! ```

/// The `snapshots/` folder of the workspace containing `manifest_dir`: the nearest ancestor
/// (`manifest_dir` included) whose `Cargo.toml` has a `[workspace]` table, or `manifest_dir`
/// itself outside a workspace.
///
/// ```
/// // This doc test runs in the `harness/` member of the green workspace:
/// let dir = green_harness::snapshot::workspace_snapshots_dir(env!("CARGO_MANIFEST_DIR"));
/// let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
/// assert_eq!(dir, workspace.join("snapshots"));
/// ```
pub fn workspace_snapshots_dir(manifest_dir: &str) -> std::path::PathBuf {
    let start = std::path::Path::new(manifest_dir);
    let root = start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        })
        .unwrap_or(start);
    root.join("snapshots")
}

/// The stable view of a dump: frame lines removed, and call sites outside the workspace made
/// the same on every machine. A site inside the standard library (a green call made through
/// `std::io::Read::read_exact`, say) shows as `<std>`, since its path and line change with the
/// toolchain. A site in a crates.io dependency (a protocol crate calling `read`) keeps its
/// crate, version, file and line, fixed by `Cargo.lock`, but loses the machine's `CARGO_HOME`
/// and registry index: `<registry>/httparse-1.9.5/src/lib.rs:10`. A git dependency's site keeps
/// its path from the checkout on: `<git>/name-hash/rev/src/lib.rs:10`.
///
/// ```
/// use green_harness::snapshot::stable_view;
/// let v = stable_view("TIMERS:\nt1 +1.000000s wake #1 (sleep)\n    at f (a.rs:1)");
/// assert_eq!(v, "TIMERS:\nt1 +1.000000s wake #1 (sleep)");
/// let w = stable_view("#3: blocked in TcpStream::read at /rustc/abc/library/std/src/io/mod.rs:1058, spawned at a.rs:2");
/// assert_eq!(w, "#3: blocked in TcpStream::read at <std>, spawned at a.rs:2");
/// let r = stable_view(
///     "#4: blocked in TcpStream::read at /home/ci/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/httparse-1.9.5/src/lib.rs:10, spawned at a.rs:3",
/// );
/// assert_eq!(r, "#4: blocked in TcpStream::read at <registry>/httparse-1.9.5/src/lib.rs:10, spawned at a.rs:3");
/// ```
pub fn stable_view(dump: &str) -> String {
    dump.lines().filter(|l| !l.starts_with("    at ")).map(hide_machine_sites).collect::<Vec<_>>().join("\n")
}

/// Rewrites every path in `line` that lies outside the workspace (see [`stable_view`]).
fn hide_machine_sites(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    loop {
        // The earliest path of a kind this rewrites: where it starts in `rest`, where its marker
        // ends, and what it becomes.
        let hit = [("/rustc/", None), ("/registry/src/", Some("<registry>")), ("/git/checkouts/", Some("<git>"))]
            .into_iter()
            .filter_map(|(marker, tag)| rest.find(marker).map(|i| (i, marker, tag)))
            .min_by_key(|&(i, ..)| i);
        let Some((i, marker, tag)) = hit else { break };
        // The path starts after the last separator before the marker.
        let start = rest[..i].rfind([' ', '(']).map_or(0, |s| s + 1);
        let tail = &rest[i..];
        let end = tail.find([',', ')', ' ']).unwrap_or(tail.len());
        out.push_str(&rest[..start]);
        match tag {
            None => out.push_str("<std>"),
            Some(tag) => {
                let after = &tail[marker.len()..end];
                // A registry path goes on with the index's directory: drop it too.
                let kept =
                    if marker == "/registry/src/" { after.split_once('/').map_or(after, |(_, p)| p) } else { after };
                out.push_str(tag);
                out.push('/');
                out.push_str(kept);
            }
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Asserts an insta snapshot of a hub dump (its [stable view](crate::snapshot::stable_view)),
/// stored as `<name>.snap` in the calling workspace's top-level `snapshots/` folder (see
/// [`workspace_snapshots_dir`]).
///
/// ```
/// // Compared with snapshots/doc_timers.snap (committed): one sleeper's timer, 5 s out.
/// green_harness::Harness::with_config(green_harness::Config::hermetic()).run(|| {
///     let sleeper = green::spawn(|| green::sleep(std::time::Duration::from_secs(5)));
///     green::sleep(std::time::Duration::ZERO);
///     green_harness::assert_hub_snapshot!("doc_timers", green::debug::format_hub_timers());
///     sleeper.wait().unwrap();
/// });
/// ```
#[macro_export]
macro_rules! assert_hub_snapshot {
    ($name:expr, $dump:expr) => {{
        let mut settings = $crate::insta::Settings::clone_current();
        settings.set_snapshot_path($crate::snapshot::workspace_snapshots_dir(env!("CARGO_MANIFEST_DIR")));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        let view = $crate::snapshot::stable_view(&$dump);
        settings.bind(|| {
            $crate::insta::assert_snapshot!($name, view);
        });
    }};
}
