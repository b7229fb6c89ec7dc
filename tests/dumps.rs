//! Dumps of the hub: format_hub_timers, format_hub_listeners, format_greenthreads.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::util::*;

#[test]
fn timers_are_listed_sorted_by_deadline_with_what_they_do_and_where_they_were_created() {
    on_fresh_thread(|| {
        let a = green::Builder::new().name("five").spawn(|| green::sleep(Duration::from_secs(5)));
        let b = green::Builder::new().name("three").spawn(|| green::sleep(Duration::from_secs(3)));
        let cancelled = green::hub::schedule_call_global(Duration::from_secs(1), || {});
        cancelled.cancel();
        yield_now();
        let _soon = green::hub::schedule_call_global(Duration::ZERO, || {});
        let dump = green::debug::format_hub_timers();
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines[0], "TIMERS:");
        assert_eq!(lines.len(), 4, "{dump}");
        assert!(
            lines[1].contains(" next pass callback (schedule_call_global), created by #0 root at tests/dumps.rs:"),
            "{dump}"
        );
        assert!(lines[2].contains(" +2.") || lines[2].contains(" +3."), "{dump}");
        assert!(lines[2].contains("wake #2 \"three\" (sleep), created by #2 \"three\" at tests/dumps.rs:"), "{dump}");
        assert!(lines[3].contains("wake #1 \"five\" (sleep), created by #1 \"five\" at tests/dumps.rs:"), "{dump}");
        assert!(!dump.contains("at 0x"), "no addresses: {dump}");
        a.kill();
        b.kill();
        green::sleep(Duration::ZERO);
        assert!(!green::debug::format_hub_timers().contains("sleep"));
    });
}

#[test]
fn timer_stacks_show_user_frames_only() {
    green::debug::hub_timer_stacks(true);
    let gt = green::spawn(|| green::sleep(Duration::from_secs(60)));
    yield_now();
    let dump = green::debug::format_hub_timers();
    green::debug::hub_timer_stacks(false);
    gt.kill();
    let frames: Vec<&str> = dump.lines().filter(|l| l.starts_with("    at ")).collect();
    assert!(!frames.is_empty(), "{dump}");
    assert!(frames.iter().any(|f| f.contains("tests/dumps.rs:")), "{dump}");
    for f in &frames {
        assert!(!f.contains("/rustc/") && !f.contains("runtime/src") && !f.contains("corosensei"), "{dump}");
    }
}

#[test]
fn root_created_timer_stacks_end_at_the_test_body() {
    green::debug::hub_timer_stacks(true);
    let t = green::hub::schedule_call_global(Duration::from_secs(60), || {});
    let dump = green::debug::format_hub_timers();
    green::debug::hub_timer_stacks(false);
    t.cancel();
    let frames: Vec<&str> = dump.lines().filter(|l| l.starts_with("    at ")).collect();
    // DESIGN §4: cut at the test body; the closure libtest's `#[test]` wraps it in is not shown.
    let last = frames.last().unwrap_or_else(|| panic!("no frames: {dump}"));
    assert!(last.contains("root_created_timer_stacks_end_at_the_test_body (tests/dumps.rs:"), "{dump}");
    assert!(!dump.contains("{{closure}}"), "{dump}");
}

#[test]
fn queued_hand_off_wake_ups_show_their_waker_site_and_stack_once() {
    on_fresh_thread(|| {
        green::debug::hub_timer_stacks(true);
        let ev = green::Event::<u32>::new();
        let e = ev.clone();
        let waiter = green::Builder::new().name("waiter").spawn(move || e.wait());
        yield_now();
        ev.send(7).unwrap(); // the waiter's wake-up is queued, not run yet
        let dump = green::debug::format_hub_timers();
        green::debug::hub_timer_stacks(false);
        let wakes: Vec<&str> = dump.lines().filter(|l| l.contains(" next pass wake #1 \"waiter\"")).collect();
        assert_eq!(wakes.len(), 1, "{dump}");
        assert!(wakes[0].contains("created by #0 root at tests/dumps.rs:"), "{dump}");
        let frames: Vec<&str> = dump.lines().filter(|l| l.starts_with("    at ")).collect();
        assert!(frames.iter().any(|f| f.contains("tests/dumps.rs:")), "{dump}");
        assert_eq!(waiter.join().unwrap(), 7);
        // Fired: nothing of it is left to show.
        assert_eq!(green::debug::format_hub_timers(), "TIMERS:");
    });
}

#[test]
fn dumping_from_a_greenthread_with_a_small_stack_symbolises_on_the_hub_stack() {
    green::debug::hub_timer_stacks(true);
    let sleeper = green::spawn(|| green::sleep(Duration::from_secs(60)));
    yield_now();
    let dumper = green::Builder::new().stack_size(16 * 1024).spawn(green::debug::format_hub_timers);
    let dump = dumper.wait().unwrap();
    green::debug::hub_timer_stacks(false);
    sleeper.kill();
    assert!(dump.contains("    at "), "{dump}");
}

#[test]
fn greenthreads_dump_shows_state_wait_site_and_spawn_site() {
    on_fresh_thread(|| {
        let ev: green::Event<()> = green::Event::new();
        let e = ev.clone();
        let _w = green::Builder::new().name("waiter").spawn(move || e.wait());
        let _n = green::spawn(|| ());
        yield_now();
        let _fresh = green::spawn(|| ());
        let dump = green::debug::format_greenthreads();
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines[0], "GREENTHREADS:");
        assert_eq!(lines[1], "#0 root: running");
        assert!(lines[2].starts_with("#1 \"waiter\": blocked in Event::wait at tests/dumps.rs:"), "{dump}");
        assert!(lines[2].contains(", spawned at tests/dumps.rs:"), "{dump}");
        assert!(lines[3].starts_with("#3: not started, spawned at tests/dumps.rs:"), "{dump}");
        assert_eq!(lines.len(), 4, "finished greenthreads are not listed: {dump}");
        ev.send(()).unwrap();
        yield_now();
    });
}

#[test]
fn listeners_dump_has_both_sections() {
    assert_eq!(green::debug::format_hub_listeners(), "READERS:\nWRITERS:");
}

#[test]
fn dumps_work_from_hub_context() {
    let out = Log::<String>::new();
    let o = out.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || {
        o.push(green::debug::format_hub_timers());
        o.push(green::debug::format_greenthreads());
    });
    green::sleep(ms(1));
    let got = out.get();
    assert!(got[0].starts_with("TIMERS:"));
    assert!(got[1].contains("#0 root: blocked in sleep at tests/dumps.rs:"), "{}", got[1]);
    assert!(got[1].contains("(running the hub)"), "{}", got[1]);
}

/// DESIGN §4: the timer dump is sorted by deadline then sequence, which is firing order: a
/// next-pass entry's deadline is when the ready queue got its first entry, so an overdue wheel
/// timer due before that lists first, and one due after it (though overdue too) lists after.
#[test]
fn overdue_wheel_timers_list_in_firing_order_around_next_pass_entries() {
    fn busy(d: Duration) {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < d {
            std::hint::spin_loop();
        }
    }
    fn order(dump: &str) -> (usize, usize) {
        let lines: Vec<&str> = dump.lines().collect();
        let timer = lines.iter().position(|l| l.contains("schedule_call_global")).unwrap_or_else(|| panic!("{dump}"));
        let next = lines.iter().position(|l| l.contains(" next pass ")).unwrap_or_else(|| panic!("{dump}"));
        (timer, next)
    }
    on_fresh_thread(|| {
        // Due (1 ms) long before the spawn queued its start: lists first.
        let early = green::hub::schedule_call_global(Duration::from_millis(1), || {});
        busy(Duration::from_millis(30));
        let a = green::spawn(|| ());
        let dump = green::debug::format_hub_timers();
        let (timer, next) = order(&dump);
        assert!(timer < next, "{dump}");
        a.join().unwrap();
        early.cancel();
    });
    on_fresh_thread(|| {
        // Due (200 ms) after the spawn queued its start, overdue by the time of the dump: lists
        // after.
        let late = green::hub::schedule_call_global(Duration::from_millis(200), || {});
        let a = green::spawn(|| ());
        busy(Duration::from_millis(250));
        let dump = green::debug::format_hub_timers();
        let (timer, next) = order(&dump);
        assert!(timer > next, "{dump}");
        assert!(dump.contains(" -0."), "overdue: {dump}");
        a.join().unwrap();
        late.cancel();
    });
}

/// Mid-pass, what the running pass still holds (its batch) fires before anything of the next
/// pass, and the dump lists it so: B's start, taken into the batch with A's, lists before C's,
/// which A queued for the next pass. The dump listed C's first (the next-pass entries' time was 0
/// with no wheel timer pending).
#[test]
fn a_dump_mid_pass_lists_the_rest_of_the_batch_before_the_next_pass() {
    let dump = Rc::new(RefCell::new(String::new()));
    let d = dump.clone();
    green_harness::Harness::with_config(green_harness::Config::hermetic()).run(move || {
        let d = d.clone();
        let a = green::spawn_after(Duration::from_millis(1), move || {
            let c = green::Builder::new().name("C").spawn(|| ());
            *d.borrow_mut() = green::debug::format_hub_timers();
            c.join().unwrap();
        });
        let b = green::Builder::new().name("B").spawn_after(Duration::from_millis(1), || ());
        a.join().unwrap();
        b.join().unwrap();
    });
    let dump = dump.borrow();
    let pos = |name: &str| dump.lines().position(|l| l.contains(name)).unwrap_or_else(|| panic!("{name}: {dump}"));
    assert!(pos("\"B\"") < pos("\"C\""), "{dump}");
}

/// A greenthread parked in `read_exact` or `write_all` shows the line of that call in the dumps,
/// not a line of `std`'s `io` module (the `#[track_caller]` site of the user call, DESIGN §4).
#[test]
fn a_wait_in_read_exact_or_write_all_shows_the_callers_line() {
    use std::io::{Read, Write};
    let (a, b) = green::net::UnixStream::pair().unwrap();
    let (a, b) = (std::rc::Rc::new(a), std::rc::Rc::new(b));
    let reader = green::spawn({
        let a = a.clone();
        move || (&*a).read_exact(&mut [0u8; 4])
    });
    // More than the socket buffers hold: the write waits for room.
    let writer = green::spawn({
        let b = b.clone();
        move || (&*b).write_all(&vec![1u8; 64 << 20])
    });
    crate::util::yield_now();
    let dump = green::debug::format_hub_listeners();
    assert!(dump.contains("waits in UnixStream::read at tests/dumps.rs:"), "{dump}");
    assert!(dump.contains("waits in UnixStream::write at tests/dumps.rs:"), "{dump}");
    assert!(!dump.contains("library/std"), "{dump}");
    let threads = green::debug::format_greenthreads();
    assert!(!threads.contains("library/std"), "{threads}");
    a.close();
    b.close();
    assert!(reader.join().unwrap().is_err());
    assert!(writer.join().unwrap().is_err());
}
