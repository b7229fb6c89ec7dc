//! Debugging aids in eventlet's spirit: dumps of the hub's timers, listeners and greenthreads.
//!
//! Every setting here applies to the calling thread's hub (tests run in parallel threads, each
//! with its own hub, and must not change each other's settings).
//!
//! # Dump format
//!
//! * `format_hub_timers()` starts with `TIMERS:` and lists every live timer, cancelled ones left
//!   out, sorted by deadline then creation order, which is the order they fire in (a `next pass`
//!   entry's deadline is when the ready queue got its first entry: an overdue timer due before
//!   that lists first, one due after it lists after). Called mid-pass (from a greenthread the
//!   hub resumed), what the running pass still holds lists first, in the order it fires. Each
//!   line reads
//!   `t<seq> <when> <what it will do>, created by #<id> at <file>:<line>`, where `<when>` is
//!   `next pass` for zero-delay timers and the deadline relative to the hub's now
//!   (`+1.500000s`) otherwise, and `<file>:<line>` is the user call that created it
//!   (`#[track_caller]`, stable in every profile).
//! * `format_hub_listeners()` starts with `READERS:` and `WRITERS:`.
//! * `format_greenthreads()` starts with `GREENTHREADS:` and lists the root and every live
//!   greenthread with its state, what it waits in and where, and its spawn site.
//!
//! Greenthreads, timers and fds carry per-hub ordinal ids, never addresses. With
//! [`hub_timer_stacks`] on, each timer adds its creation stack as `    at function (file:line)`
//! lines: user frames only, runtime, std and test-harness frames removed, cut at the
//! greenthread's entry or the test body. `<what it will do>` names the greenthread and the
//! reason: `wake #2 (sleep)`, `start #3 (spawn_after)`, `expire timeout 1 (5ms) of #4 (timeout)`,
//! `callback (schedule_call_global)`. Formatting never panics and never blocks: state that is
//! busy at the moment prints as `<busy>`. It is exempt from blocking detection, however long a
//! large table takes (symbolising runs on the hub's stack).
//!
//! ```
//! green::debug::hub_timer_stacks(true);
//! let _later = green::spawn_after(std::time::Duration::from_secs(5), || ());
//! let dump = green::debug::format_hub_timers();
//! assert!(dump.starts_with("TIMERS:") && dump.contains("spawn_after"), "{dump}");
//! green::debug::hub_timer_stacks(false);
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;

use crate::greenthread::State;
use crate::hub::{hub, Hub};
use crate::timer::{Ready, TimerKey};

/// Per-hub debug settings.
#[derive(Debug)]
pub(crate) struct Flags {
    pub(crate) timer_stacks: Cell<bool>,
    pub(crate) listener_stacks: Cell<bool>,
    pub(crate) exceptions: Cell<bool>,
    pub(crate) prevent_multiple_readers: Cell<bool>,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            timer_stacks: Cell::new(false),
            listener_stacks: Cell::new(false),
            exceptions: Cell::new(true),
            prevent_multiple_readers: Cell::new(true),
        }
    }
}

impl Flags {
    pub(crate) fn reset(&self) {
        let d = Flags::default();
        self.timer_stacks.set(d.timer_stacks.get());
        self.listener_stacks.set(d.listener_stacks.get());
        self.exceptions.set(d.exceptions.get());
        self.prevent_multiple_readers.set(d.prevent_multiple_readers.get());
    }
}

/// Records the creation stack of every timer created afterwards on this thread's hub (off by
/// default); [`format_hub_timers`] then prints it under each timer.
///
/// ```
/// green::debug::hub_timer_stacks(true);
/// green::hub::schedule_call_global(std::time::Duration::from_secs(1), || {}).cancel();
/// green::debug::hub_timer_stacks(false);
/// ```
pub fn hub_timer_stacks(on: bool) {
    hub().flags.timer_stacks.set(on);
}

/// Records the creation stack of every fd listener created afterwards on this thread's hub (off by
/// default); [`format_hub_listeners`] then prints it.
///
/// ```
/// green::debug::hub_listener_stacks(true);
/// green::debug::hub_listener_stacks(false);
/// ```
pub fn hub_listener_stacks(on: bool) {
    hub().flags.listener_stacks.set(on);
}

/// Whether this thread's hub prints the panics it catches: greenthread panics and panics in hub
/// callbacks (on by default, as in eventlet). They are recorded either way (see
/// [`hub_exception_log`]). Off, std's panic message (`thread '..' panicked at ..`) is not
/// printed either for a panic on this thread; the last one is kept for [`take_last_panic`].
///
/// ```
/// green::debug::hub_exceptions(false);
/// let _ = green::spawn(|| -> () { panic!("quiet") }).wait();
/// assert_eq!(green::debug::take_last_panic().unwrap().0, "quiet");
/// green::debug::hub_exceptions(true);
/// ```
pub fn hub_exceptions(on: bool) {
    hub().flags.exceptions.set(on);
}

/// The last panic on this thread that was not printed because [`hub_exceptions`] is off: its
/// message and its location (`file:line:column`).
///
/// ```
/// green::debug::hub_exceptions(false);
/// let _ = std::panic::catch_unwind(|| panic!("kept"));
/// let (msg, at) = green::debug::take_last_panic().unwrap();
/// assert_eq!(msg, "kept");
/// assert!(at.contains(".rs:"));
/// green::debug::hub_exceptions(true);
/// ```
pub fn take_last_panic() -> Option<(String, String)> {
    hub().last_panic.take()
}

/// Every panic on this thread that was not printed because [`hub_exceptions`] is off, since the
/// last call (the newest 256), oldest first: message and location. What a test harness shows
/// when the run fails, as libtest shows a failing test's captured output.
///
/// ```
/// green::debug::hub_exceptions(false);
/// let _ = green::spawn(|| -> () { panic!("one") }).wait();
/// let _ = std::panic::catch_unwind(|| panic!("two"));
/// let msgs: Vec<String> = green::debug::take_quiet_panics().into_iter().map(|p| p.0).collect();
/// assert_eq!(msgs, ["one", "two"]);
/// assert!(green::debug::take_quiet_panics().is_empty());
/// green::debug::hub_exceptions(true);
/// ```
pub fn take_quiet_panics() -> Vec<(String, String)> {
    hub().quiet_panics.take().into()
}

/// Whether a second simultaneous reader (or writer) of one fd is an error on this thread's hub
/// (on by default, as in eventlet).
///
/// ```
/// green::debug::hub_prevent_multiple_readers(false);
/// green::debug::hub_prevent_multiple_readers(true);
/// ```
pub fn hub_prevent_multiple_readers(on: bool) {
    hub().flags.prevent_multiple_readers.set(on);
}

/// The panics this thread's hub caught since it started (greenthread panics, hub callback panics,
/// link panics), one line each, as printed when [`hub_exceptions`] is on.
///
/// ```
/// green::debug::hub_exceptions(false);
/// green::hub::schedule_call_global(std::time::Duration::ZERO, || panic!("in a callback"));
/// green::sleep(std::time::Duration::ZERO);
/// assert!(green::debug::hub_exception_log().last().unwrap().contains("in a callback"));
/// ```
pub fn hub_exception_log() -> Vec<String> {
    hub().exceptions.try_borrow().map(|e| e.iter().map(|x| x.1.clone()).collect()).unwrap_or_default()
}

/// The panics this thread's hub caught in hub context only (timer callbacks such as
/// [`schedule_call_global`](crate::hub::schedule_call_global)'s, including misuse panics there):
/// the ones nobody else can observe. A test harness fails a run that recorded one.
///
/// ```
/// green::debug::hub_exceptions(false);
/// let _ = green::spawn(|| -> () { panic!("observed by wait") }).wait();
/// let before = green::debug::hub_context_panics().len();
/// green::hub::schedule_call_global(std::time::Duration::ZERO, || panic!("lost in the hub"));
/// green::sleep(std::time::Duration::ZERO);
/// let panics = green::debug::hub_context_panics();
/// assert_eq!(panics.len(), before + 1);
/// assert!(panics.last().unwrap().contains("lost in the hub"));
/// ```
pub fn hub_context_panics() -> Vec<String> {
    hub().exceptions.try_borrow().map(|e| e.iter().filter(|x| x.0).map(|x| x.1.clone()).collect()).unwrap_or_default()
}

/// Takes the invariant violations this thread's hub noticed: a blocking call from hub context
/// (hub-context switching), a second simultaneous reader or writer of one fd, a timer fired before
/// its deadline or out of `(deadline, creation)` order, a `GreenPool` running more greenthreads
/// than its size. One line each. The harness fails a run that recorded one.
///
/// ```
/// green::debug::hub_exceptions(false);
/// green::hub::schedule_call_global(std::time::Duration::ZERO, || green::sleep(std::time::Duration::from_millis(1)));
/// green::sleep(std::time::Duration::ZERO);
/// let v = green::debug::take_invariant_violations();
/// assert!(v[0].starts_with("hub-context switching: green::sleep"));
/// ```
pub fn take_invariant_violations() -> Vec<String> {
    hub().invariants.try_borrow_mut().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
}

/// Takes the greenthread panics of this thread's hub that nobody observed: a greenthread that
/// panicked and whose every handle was dropped without `wait()` or `join()` (a `spawn_n` that
/// panicked counts too). One line each, with the greenthread, its spawn site and the message.
///
/// ```
/// green::debug::hub_exceptions(false);
/// drop(green::spawn(|| -> () { panic!("nobody looks") }));
/// green::sleep(std::time::Duration::ZERO);
/// let lost = green::debug::take_unobserved_panics();
/// assert_eq!(lost.len(), 1);
/// assert!(lost[0].contains("nobody looks"));
/// ```
pub fn take_unobserved_panics() -> Vec<String> {
    hub().unobserved.try_borrow_mut().map(|mut u| std::mem::take(&mut *u)).unwrap_or_default()
}

/// Captures the raw return addresses of the calling stack.
pub(crate) fn capture_stack() -> Box<[usize]> {
    let mut ips = Vec::with_capacity(32);
    backtrace::trace(|f| {
        ips.push(f.ip() as usize);
        ips.len() < 64
    });
    ips.into_boxed_slice()
}

/// Source directories whose frames are hidden from creation stacks (the runtime's own, plus
/// those registered by the harness and detectors crates).
static HIDDEN_DIRS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

/// Hides frames from files under `dir` (for example `concat!(env!("CARGO_MANIFEST_DIR"),
/// "/src/")`) in creation stacks; used by the harness and detector crates so their frames count
/// as runtime frames.
///
/// ```
/// green::debug::hide_frames_under(concat!(env!("CARGO_MANIFEST_DIR"), "/src/"));
/// ```
pub fn hide_frames_under(dir: &'static str) {
    let mut d = HIDDEN_DIRS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !d.contains(&dir) {
        d.push(dir);
    }
}

/// Whether a frame from `file` belongs to the runtime, std, a dependency or a test harness.
fn hidden_file(file: &str) -> bool {
    if file.starts_with("/rustc/") || file.contains("/.cargo/registry/") || file.contains("/.cargo/git/") {
        return true;
    }
    let own = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");
    if file.starts_with(own) || file.starts_with(RUNTIME_REL_DIR) {
        return true;
    }
    let d = HIDDEN_DIRS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    d.iter().any(|dir| file.starts_with(dir))
}

/// The runtime's source directory as rustc names it in a workspace build (`runtime/src/`).
const RUNTIME_REL_DIR: &str = {
    let f = file!();
    // `file!()` is `<dir>/debug.rs`; keep `<dir>/`.
    let bytes = f.as_bytes();
    let mut end = bytes.len();
    while end > 0 && bytes[end - 1] != b'/' {
        end -= 1;
    }
    match std::str::from_utf8(bytes.split_at(end).0) {
        Ok(s) => s,
        Err(_) => "runtime/src/",
    }
};

/// C runtime frames below `main` and thread entry points.
const LIBC_FRAMES: &[&str] = &["__libc_", "_start", "start_thread", "clone", "__clone"];

/// Symbolises `ips` into `function (file:line)` lines of user frames, innermost first, cut at
/// the greenthread's entry (corosensei's coroutine start).
pub(crate) fn symbolize(ips: &[usize]) -> Vec<String> {
    let cwd = std::env::current_dir().ok().map(|p| format!("{}/", p.display()));
    let mut out = Vec::new();
    let mut at_entry = false;
    for &ip in ips {
        if at_entry {
            break;
        }
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            let file = sym.filename().map(|f| f.display().to_string());
            let Some(file) = file else { return };
            if file.contains("/corosensei-") {
                at_entry = true;
            }
            if at_entry || hidden_file(&file) {
                return;
            }
            let name = sym.name().map_or_else(|| "<unknown>".to_string(), |n| format!("{n:#}"));
            if LIBC_FRAMES.iter().any(|p| name.starts_with(p)) {
                return;
            }
            let shown = match &cwd {
                Some(c) if file.starts_with(c.as_str()) => &file[c.len()..],
                _ => file.as_str(),
            };
            let line = sym.lineno().map_or_else(String::new, |l| format!(":{l}"));
            out.push((format!("{name} ({shown}{line})"), name));
        });
    }
    cut_test_wrapper(&mut out);
    out.into_iter().map(|(frame, _)| frame).collect()
}

/// Cuts the stack at the test body: `#[test] fn t()` is called by a closure the test macro
/// generates (`t::{{closure}}`, at the attribute's line), which counts as a user frame by its
/// file but is the test harness's wrapper. `frames` are (line, function name), innermost first.
fn cut_test_wrapper(frames: &mut Vec<(String, String)>) {
    if let [.., (_, body), (_, outer)] = frames.as_slice() {
        if outer.strip_suffix("::{{closure}}") == Some(body.as_str()) {
            frames.pop();
        }
    }
}

/// Symbolises on the hub's (large) stack when called from a greenthread; exempt from blocking
/// detection (symbolising the first time takes long).
fn symbolize_on_parent_stack(h: &Hub, ips: Vec<usize>) -> Vec<String> {
    let _exempt = Exempt::begin(h);
    match h.current() {
        Some(c) if !c.is_root && on_own_stack(&c) => c.yielder.on_parent_stack(move || symbolize(&ips)),
        _ => symbolize(&ips),
    }
}

/// Exempts the work until it is dropped from blocking detection (DESIGN §4: formatting a dump is
/// exempt). Nests: only the outermost guard ends the exemption.
struct Exempt<'a> {
    hub: &'a Hub,
    outermost: bool,
}

impl<'a> Exempt<'a> {
    fn begin(hub: &'a Hub) -> Self {
        // Already exempt (a dump symbolising its stacks) or idle in the poller: leave it so.
        let outermost = !hub.probe.in_poll();
        if outermost {
            hub.probe.exempt(true);
        }
        Exempt { hub, outermost }
    }
}

impl Drop for Exempt<'_> {
    fn drop(&mut self) {
        if self.outermost {
            self.hub.probe.exempt(false);
        }
    }
}

/// Whether the caller runs on `gt`'s own stack (its yielder is valid only there); anything else
/// (the hub's stack, a stale `current`) symbolises where it is.
fn on_own_stack(gt: &crate::greenthread::GtCore) -> bool {
    let here = std::ptr::addr_of!(gt) as usize;
    let (_, limit) = gt.guard_range();
    gt.state.get() == State::Running
        && limit != 0
        && here > limit
        && here <= limit + gt.stack_size() + crate::sys::stack::page_size()
}

/// Symbolises raw return addresses (captured on this thread) into `function (file:line)` lines of
/// user frames, with the same filtering as creation stacks in dumps; runs on the hub's stack when
/// called from a greenthread and is exempt from blocking detection. For detectors.
///
/// ```
/// let frames = green::debug::symbolize_frames(&[]);
/// assert!(frames.is_empty());
/// ```
pub fn symbolize_frames(ips: &[usize]) -> Vec<String> {
    symbolize_on_parent_stack(hub(), ips.to_vec())
}

/// Labels of the live greenthreads by id, built once per dump.
struct Labels(std::collections::HashMap<u64, String>);

impl Labels {
    fn of(h: &Hub) -> Labels {
        Labels(h.live_greenthreads().iter().map(|g| (g.id, g.label())).collect())
    }

    fn get(&self, id: u64) -> String {
        if id == 0 {
            return "#0 root".into();
        }
        self.0.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
    }
}

/// Lists this thread's live timers (see the module docs for the format).
///
/// ```
/// let s = green::debug::format_hub_timers();
/// assert!(s.starts_with("TIMERS:"));
/// ```
pub fn format_hub_timers() -> String {
    let h = hub();
    let _exempt = Exempt::begin(h);
    let now = h.now_ns();
    struct Line {
        key: (u8, u64, u64),
        text: String,
        stack: Option<Vec<usize>>,
    }
    let mut lines: Vec<Line> = Vec::new();
    let mut out = String::from("TIMERS:");
    let labels = Labels::of(h);
    let (timers, batch) = match (h.timers.try_borrow(), h.batch.try_borrow()) {
        (Ok(t), Ok(b)) => (t, b),
        _ => {
            out.push_str("\n<busy>");
            return out;
        }
    };
    // In firing order. First what the pass running now still holds (its batch), in batch order.
    // Then by deadline then sequence: a next-pass entry's deadline is when the ready queue got
    // its first entry (`Timers::ready_since`; 0 when no wheel timer was pending then), so an
    // overdue wheel timer due before it lists (and fires) first, and one due at or after it
    // lists after the next-pass entries.
    let ready_at = timers.ready_since;
    let in_batch: HashMap<TimerKey, u64> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Ready::Timer(k) => Some((*k, i as u64)),
            Ready::Wake(_) => None,
        })
        .collect();
    for (k, e, stack) in timers.entries() {
        let Some(action) = &e.action else { continue };
        let (key, when) = match (in_batch.get(&k), e.deadline()) {
            (Some(&i), None) => ((0, i, 0), "next pass".to_string()),
            (Some(&i), Some(d)) => ((0, i, 0), relative(d, now)),
            (None, None) => ((1, ready_at, e.seq), "next pass".to_string()),
            (None, Some(d)) => ((1, d, e.seq + (1 << 63)), relative(d, now)),
        };
        let text = format!(
            "t{} {when} {}, created by {} at {}:{}",
            e.seq,
            action.describe(e.why),
            labels.get(e.creator),
            site_file(e.site),
            e.site.line()
        );
        lines.push(Line { key, text, stack: stack.map(<[usize]>::to_vec) });
    }
    let batch_wakes = batch.iter().enumerate().filter_map(|(i, r)| match r {
        Ready::Wake(w) => Some((w, (0, i as u64))),
        Ready::Timer(_) => None,
    });
    let wake_stacks = h.wake_stacks.try_borrow().ok();
    // Wake-ups of the pass running now come first (in batch order); those queued for the next
    // pass at `ready_at`.
    for (w, at) in batch_wakes.chain(timers.ready_wakes().map(|w| (w, (1, ready_at)))) {
        if w.gt.seq.get() != w.seq || w.gt.state.get() == State::Dead {
            continue; // stale: the call it would wake is over
        }
        let Some(note) = w.note() else {
            continue; // stale: its note may describe a later call's wake-up
        };
        let text = format!(
            "t{} next pass wake {} ({}), created by {} at {}:{}",
            note.tseq,
            w.gt.label(),
            note.why,
            labels.get(note.creator),
            site_file(note.site),
            note.site.line()
        );
        let stack = wake_stacks
            .as_ref()
            .and_then(|m| m.get(&w.gt.id))
            .filter(|(tseq, _)| *tseq == note.tseq)
            .map(|(_, s)| s.to_vec());
        let key = if at.0 == 0 { (0, at.1, 0) } else { (1, at.1, note.tseq) };
        lines.push(Line { key, text, stack });
    }
    drop(wake_stacks);
    drop(timers);
    drop(batch);
    lines.sort_by_key(|l| l.key);
    for l in lines {
        out.push('\n');
        out.push_str(&l.text);
        if let Some(ips) = l.stack {
            for frame in symbolize_on_parent_stack(h, ips) {
                let _ = write!(out, "\n    at {frame}");
            }
        }
    }
    out
}

/// A deadline relative to `now` as a dump shows it: `+1.250000s`, `-0.000100s`.
fn relative(deadline: u64, now: u64) -> String {
    let rel = deadline as i128 - now as i128;
    let sign = if rel < 0 { "-" } else { "+" };
    let a = rel.unsigned_abs();
    format!("{sign}{}.{:06}s", a / 1_000_000_000, (a % 1_000_000_000) / 1000)
}

/// Lists this thread's fd listeners (greenthreads waiting for readiness): `READERS:` then
/// `WRITERS:`. Each line reads `fd#<n> <kind> (created at <file>:<line>): <greenthread> waits in
/// <call> at <file>:<line>`; with [`hub_listener_stacks`] on, the waiter's stack follows.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// let (_a, b) = UnixStream::pair().unwrap();
/// b.set_nonblocking(true).unwrap();
/// let w = green::Builder::new().name("reader").spawn(move || green::trampoline(&b, green::Interest::Read, None));
/// green::sleep(std::time::Duration::ZERO);
/// let dump = green::debug::format_hub_listeners();
/// assert!(dump.starts_with("READERS:\nfd#"), "{dump}");
/// assert!(dump.contains("#1 \"reader\" waits in trampoline"), "{dump}");
/// assert!(dump.ends_with("WRITERS:"), "{dump}");
/// w.kill();
/// ```
pub fn format_hub_listeners() -> String {
    let h = hub();
    let _exempt = Exempt::begin(h);
    let sources = match h.reactor.try_borrow() {
        Ok(r) => r.as_ref().map(|r| r.sources()).unwrap_or_default(),
        Err(_) => return String::from("READERS:\n<busy>\nWRITERS:"),
    };
    let mut readers = String::from("READERS:");
    let mut writers = String::from("WRITERS:");
    for src in sources {
        for (interest, g, stack) in src.waiters() {
            let out = match interest {
                crate::Interest::Read => &mut readers,
                crate::Interest::Write => &mut writers,
            };
            let at = g
                .wait
                .get()
                .map(|w| format!(" waits in {} at {}:{}", w.what, site_file(w.site), w.site.line()))
                .unwrap_or_else(|| " waits".to_string());
            let _ = write!(
                out,
                "\nfd#{} {} (created at {}:{}): {}{at}",
                src.ordinal,
                src.kind,
                site_file(src.site),
                src.site.line(),
                g.label()
            );
            if let Some(ips) = stack {
                for frame in symbolize_on_parent_stack(h, ips.to_vec()) {
                    let _ = write!(out, "\n    at {frame}");
                }
            }
        }
    }
    format!("{readers}\n{writers}")
}

/// Lists the root and every live greenthread with its state and wait reason.
///
/// ```
/// let gt = green::Builder::new().name("napper").spawn(|| green::sleep(std::time::Duration::from_secs(1)));
/// green::sleep(std::time::Duration::ZERO);
/// let dump = green::debug::format_greenthreads();
/// assert!(dump.contains("\"napper\": blocked in sleep"), "{dump}");
/// gt.kill();
/// ```
pub fn format_greenthreads() -> String {
    let h = hub();
    let _exempt = Exempt::begin(h);
    format_greenthreads_of(h)
}

pub(crate) fn format_greenthreads_of(h: &Hub) -> String {
    let mut out = String::from("GREENTHREADS:");
    let root = h.root.try_borrow().map(|r| r.clone()).ok();
    let mut all = Vec::new();
    if let Some(r) = root {
        all.push(r);
    }
    all.extend(h.live_greenthreads());
    for g in all {
        let state = match g.state.get() {
            State::NotStarted => "not started".to_string(),
            State::Ready => "ready".to_string(),
            State::Running => "running".to_string(),
            State::Dead => "dead".to_string(),
            State::Blocked => match g.wait.get() {
                Some(w) => format!("blocked in {} at {}:{}", w.what, site_file(w.site), w.site.line()),
                None => "blocked".to_string(),
            },
        };
        let _ = write!(out, "\n{}: {state}", g.label());
        if g.is_root && h.in_loop.get() {
            out.push_str(" (running the hub)");
        }
        if !g.is_root {
            let _ = write!(
                out,
                ", spawned at {}:{}, stack {} KiB",
                site_file(g.spawn_site),
                g.spawn_site.line(),
                g.stack_size() / 1024
            );
        }
    }
    out
}

/// The file of a site as dumps print it. Sites inside this crate (a runtime path such as a pool's
/// slot hand-off) are printed as `green/src/...` when the crate was built from outside the
/// workspace (a registry or path dependency, whose `file!()` is an absolute path that differs
/// between machines), so snapshots of a downstream crate's dumps hold on every machine. Inside
/// this workspace the runtime's paths are relative already and printed as they are.
pub(crate) fn site_file(site: &std::panic::Location<'_>) -> String {
    let file = site.file();
    match file.strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/")) {
        Some(rest) => format!("green/{rest}"),
        None => file.to_string(),
    }
}
