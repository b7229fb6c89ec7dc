//! Misuse gets a clear panic naming it, never a hang or corruption.

use std::time::Duration;

use crate::util::*;

#[test]
fn sleep_in_hub_context_panics_and_the_hub_records_it_and_keeps_running() {
    green::debug::hub_exceptions(false);
    let before = green::debug::hub_exception_log().len();
    green::hub::schedule_call_global(Duration::ZERO, || green::sleep(ms(1)));
    green::sleep(ms(2));
    let log = green::debug::hub_exception_log();
    assert_eq!(log.len(), before + 1);
    let msg = log.last().unwrap();
    assert!(msg.contains("green::sleep called from hub context"), "{msg}");
    assert!(msg.contains("MAINLOOP"), "{msg}");
    assert!(msg.contains("Spawn a greenthread for the blocking work with green::spawn"), "the way out: {msg}");
    // The hub keeps running.
    assert_eq!(green::spawn(|| 1).wait().unwrap(), 1);
}

#[test]
fn zero_sleep_in_hub_context_is_a_no_op() {
    // eventlet: tests/isolated/zero_second_sleep.py (test_zero_second_sleep)
    green::debug::hub_exceptions(false);
    let before = green::debug::hub_exception_log().len();
    let ran = Log::<bool>::new();
    let r = ran.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || {
        green::sleep(Duration::ZERO);
        r.push(true);
    });
    green::sleep(ms(1));
    assert_eq!(ran.get(), [true]);
    assert_eq!(green::debug::hub_exception_log().len(), before);
}

#[test]
fn blocking_waits_in_hub_context_panic() {
    green::debug::hub_exceptions(false);
    let before = green::debug::hub_exception_log().len();
    let ev: green::Event<u8> = green::Event::new();
    let e = ev.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || {
        e.wait();
    });
    let q: green::Queue<u8> = green::Queue::new();
    let q2 = q.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || {
        q2.get();
    });
    green::sleep(ms(1));
    let log = green::debug::hub_exception_log();
    assert_eq!(log.len(), before + 2, "{log:?}");
    assert!(log[before].contains("Event::wait called from hub context"), "{log:?}");
    assert!(log[before + 1].contains("Queue::get called from hub context"), "{log:?}");
}

#[test]
fn a_greenthread_waiting_on_itself_panics() {
    let slot: std::rc::Rc<std::cell::RefCell<Option<green::GreenThread<()>>>> = Default::default();
    let s = slot.clone();
    green::debug::hub_exceptions(false);
    let gt = green::spawn(move || {
        let me = s.borrow().clone().unwrap();
        let _ = me.wait();
    });
    *slot.borrow_mut() = Some(gt.clone());
    let err = gt.wait().unwrap_err();
    assert!(err.is_panic());
    assert!(err.panic_message().unwrap().contains("waits on itself"), "{err}");
    assert!(err.panic_message().unwrap().contains("Wait on it from another greenthread"), "the way out: {err}");
    slot.borrow_mut().take();
}

#[test]
fn running_the_hub_loop_inside_a_greenthread_panics() {
    green::debug::hub_exceptions(false);
    let gt = green::spawn(green::hub::run);
    let err = gt.wait().unwrap_err();
    let msg = err.panic_message().unwrap();
    assert!(msg.contains("hub::run called from inside #"), "{msg}");
    assert!(msg.contains("only the root greenlet"), "{msg}");
    assert!(msg.contains("Cannot switch to MAINLOOP from MAINLOOP"), "{msg}");
    // Recorded as a violation of the hub-context switching invariant (DESIGN §5), as the
    // same call in hub context is.
    let v = green::debug::take_invariant_violations();
    assert!(v.iter().any(|l| l.starts_with("hub-context switching: green::hub::run called from inside #")), "{v:?}");
}

#[test]
fn running_the_hub_loop_in_hub_context_panics() {
    green::debug::hub_exceptions(false);
    let before = green::debug::hub_exception_log().len();
    green::hub::schedule_call_global(Duration::ZERO, green::hub::run);
    green::sleep(ms(1));
    let log = green::debug::hub_exception_log();
    assert!(log[before].contains("green::hub::run called from hub context"), "{log:?}");
    assert!(log[before].contains("Spawn a greenthread for the blocking work"), "the way out: {log:?}");
}

#[test]
fn join_after_join_on_another_handle_panics_with_the_way_out() {
    let gt = green::spawn(|| String::from("x"));
    let other = gt.clone();
    assert_eq!(gt.join().unwrap(), "x");
    let msg = panic_message_of(|| {
        let _ = other.wait();
    });
    assert!(msg.contains("already taken by GreenThread::join"), "{msg}");
    assert!(msg.contains("use wait()"), "{msg}");
}

#[test]
fn timeout_in_hub_context_panics() {
    green::debug::hub_exceptions(false);
    let before = green::debug::hub_exception_log().len();
    green::hub::schedule_call_global(Duration::ZERO, || {
        let _t = green::Timeout::new(ms(1));
    });
    green::sleep(ms(1));
    let log = green::debug::hub_exception_log();
    assert!(log[before].contains("Timeout::new called from hub context"), "{log:?}");
    assert!(log[before].contains("Spawn a greenthread for the blocking work"), "the way out: {log:?}");
}

/// The other blocking calls refuse hub context by name too: a semaphore acquire, a greenthread
/// wait, a green socket read and a raw `trampoline` wait.
#[test]
fn more_blocking_calls_in_hub_context_panic_by_name() {
    use std::io::Read;
    green::debug::hub_exceptions(false);
    let before = green::debug::hub_exception_log().len();
    let sem = green::Semaphore::new(0);
    green::hub::schedule_call_global(Duration::ZERO, move || sem.acquire());
    let gt = green::spawn(|| green::sleep(ms(50)));
    green::hub::schedule_call_global(Duration::ZERO, move || {
        let _ = gt.wait();
    });
    let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = green::spawn(move || listener.accept().map(|(c, _)| c));
    let client = green::net::TcpStream::connect(addr).unwrap();
    let _peer = server.join().unwrap().unwrap();
    let c2 = client.try_clone().unwrap();
    green::hub::schedule_call_global(Duration::ZERO, move || {
        let mut c = c2;
        let _ = c.read(&mut [0u8; 1]);
    });
    green::hub::schedule_call_global(Duration::ZERO, move || {
        let _ = green::trampoline(&client, green::Interest::Read, None);
    });
    green::sleep(ms(5));
    let log = green::debug::hub_exception_log();
    let new = &log[before..];
    assert_eq!(new.len(), 4, "{new:?}");
    assert!(new[0].contains("Semaphore::acquire called from hub context"), "{new:?}");
    assert!(new[1].contains("GreenThread::wait called from hub context"), "{new:?}");
    assert!(new[2].contains("TcpStream::read called from hub context"), "{new:?}");
    assert!(new[3].contains("trampoline called from hub context"), "{new:?}");
    assert!(new.iter().all(|m| m.contains("Spawn a greenthread for the blocking work")), "the way out: {new:?}");
}
