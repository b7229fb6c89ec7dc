//! Symbolising the detectors' stacks.
//!
//! A blocking report shows what the blocked code was doing, so only the machinery that is not
//! the user's is trimmed: frames of the runtime (`green`) and of this crate (signal handler,
//! interposers), backtrace's own frames, the signal trampoline, and everything from the
//! greenthread's entry (corosensei) or the C runtime's thread start outwards. `std` frames
//! (`std::thread::sleep`, `std::fs::File::read`) and the C library's (`clock_nanosleep`, named
//! with their object, `clock_nanosleep (libc.so.6)`) stay, except the run of `std` and dependency
//! frames outside the outermost user frame (closure shims, the test harness, thread start).
//!
//! Symbolisation runs on a helper thread: it takes backtrace's lock there (never on a hub thread
//! that might already be inside backtrace), and it has a full-size stack (a greenthread's may be
//! small).

use std::sync::OnceLock;

/// One symbolised frame.
struct Frame {
    text: String,
    /// `std` or a dependency: trimmed when outside every user frame.
    glue: bool,
}

/// Symbolises raw return addresses (innermost first) into `function (file:line)` lines, trimmed
/// as the module docs say. Frames inner to one of this crate's own (the signal handler's, the
/// interposer's, and whatever they called) are dropped with it.
pub(crate) fn symbolize(ips: &[usize]) -> Vec<String> {
    on_helper_thread(ips.to_vec(), |ips| frames(&ips))
}

/// Names the function starting at `addr` as a frame (`clock_nanosleep (libc.so.6)`).
pub(crate) fn symbolize_function(addr: usize) -> Option<String> {
    let (name, file, _) = crate::sys::object_symbol(addr)?;
    Some(format!("{} ({})", name?, basename(&file)))
}

fn on_helper_thread(ips: Vec<usize>, f: fn(Vec<usize>) -> Vec<String>) -> Vec<String> {
    crate::calls::quiet(|| {
        std::thread::scope(|s| {
            match std::thread::Builder::new().name("green-detectors-symbolize".into()).spawn_scoped(s, move || f(ips)) {
                Ok(h) => h.join().unwrap_or_default(),
                Err(_) => Vec::new(),
            }
        })
    })
}

fn basename(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

/// The runtime's source directory as its debug information names it (found by resolving one of
/// its functions), so its frames are trimmed wherever it was built from.
fn runtime_dir() -> Option<&'static str> {
    static DIR: OnceLock<Option<String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let f = green::probe::probe as fn() -> std::sync::Arc<green::probe::Probe> as usize;
        let mut dir = None;
        backtrace::resolve((f + 1) as *mut std::ffi::c_void, |sym| {
            if dir.is_none() {
                if let Some(file) = sym.filename().and_then(|p| p.to_str()) {
                    // `<dir>/src/probe.rs`: keep `<dir>/src/`.
                    if let Some(i) = file.rfind("/src/") {
                        dir = Some(file[..i + 5].to_string());
                    }
                }
            }
        });
        dir
    })
    .as_deref()
}

/// The object (executable or shared library) this crate's code is in.
fn own_object() -> Option<&'static str> {
    static OBJ: OnceLock<Option<String>> = OnceLock::new();
    OBJ.get_or_init(|| crate::sys::object_symbol(frames as fn(&[usize]) -> Vec<String> as usize).map(|x| x.1))
        .as_deref()
}

const OWN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");

/// Frames below `main` and thread entry points, and the signal trampoline.
const MACHINERY_NAMES: &[&str] = &["__restore_rt", "__libc_start", "_start", "start_thread", "clone", "__clone"];

/// Crates whose frames are the machinery of a report (by path or by symbol name).
fn machinery_file(file: &str) -> bool {
    own_file(file) || runtime_dir().is_some_and(|d| file.starts_with(d)) || file.contains("/backtrace-0.")
}

/// This crate's own frames: everything inside one of them (the signal handler's or the
/// interposer's callees, `std` generics they instantiated included) is the report's machinery.
fn own_file(file: &str) -> bool {
    file.starts_with(OWN_DIR) || file.contains("/green-detectors-")
}

fn machinery_name(name: &str) -> bool {
    name.starts_with("green_detectors::")
        || name.starts_with("backtrace::")
        || name.starts_with("<green_detectors::")
        || MACHINERY_NAMES.iter().any(|p| name.starts_with(p))
}

fn frames(ips: &[usize]) -> Vec<String> {
    let cwd = std::env::current_dir().ok().map(|p| format!("{}/", p.display()));
    let mut out: Vec<Frame> = Vec::new();
    let mut at_entry = false;
    for &ip in ips {
        if at_entry || ip == 0 {
            break;
        }
        // A shared library's exported function (libc's `read`, `clock_nanosleep`) is named as the
        // library exports it, whether or not it has debug information (with it, glibc's frames
        // would be internal aliases such as `__GI___libc_read`).
        if let Some((Some(name), file, _)) = crate::sys::object_symbol(ip - 1) {
            if Some(file.as_str()) != own_object() && !machinery_name(&name) {
                out.push(Frame { text: format!("{name} ({})", basename(&file)), glue: false });
                continue;
            }
        }
        let mut resolved = false;
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            let Some(file) = sym.filename().map(|f| f.display().to_string()) else { return };
            resolved = true;
            if file.contains("/corosensei-") {
                at_entry = true;
            }
            let name = sym.name().map_or_else(|| "<unknown>".to_string(), |n| format!("{n:#}"));
            if own_file(&file) || name.starts_with("green_detectors::") {
                // An interposer stands for the libc call: the libc frame inside it stays (a
                // sampled stack). Any other frame of ours is the capture's machinery: it goes
                // with everything it called (a call report's capture).
                if !file.ends_with("/interpose.rs") {
                    out.clear();
                }
                return;
            }
            if at_entry || machinery_file(&file) || machinery_name(&name) {
                return;
            }
            let shown = match &cwd {
                Some(c) if file.starts_with(c.as_str()) => &file[c.len()..],
                _ => file.as_str(),
            };
            let line = sym.lineno().map_or_else(String::new, |l| format!(":{l}"));
            let glue =
                file.starts_with("/rustc/") || file.contains("/.cargo/registry/") || file.contains("/.cargo/git/");
            out.push(Frame { text: format!("{name} ({shown}{line})"), glue });
        });
        if resolved || at_entry {
            continue;
        }
        // No debug information (libc): the dynamic symbol and its object. `ip` is a return
        // address: the call is the byte before.
        let Some((name, file, start)) = crate::sys::object_symbol(ip - 1) else { continue };
        #[cfg(all(feature = "blocking-calls", target_arch = "x86_64", target_os = "linux"))]
        if crate::interpose::is_interposer(start) {
            continue;
        }
        let _ = start;
        // Unnamed: the signal trampoline (not a dynamic symbol) or a stripped local function.
        let Some(name) = name else { continue };
        if machinery_name(&name) || name.starts_with("green::") {
            continue;
        }
        out.push(Frame { text: format!("{name} ({})", basename(&file)), glue: false });
    }
    // The glue outside the outermost user frame is the entry machinery.
    if let Some(last_user) = out.iter().rposition(|f| !f.glue) {
        out.truncate(last_user + 1);
    }
    out.into_iter().map(|f| f.text).collect()
}
