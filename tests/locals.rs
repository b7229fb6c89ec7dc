//! `green_local!`: one value per greenthread, dropped when it ends (also when killed or
//! panicking), never visible from another greenthread, refused in hub context.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use crate::util::*;

green::green_local! {
    static COUNTER: Cell<u32> = Cell::new(0);
    static NAME: RefCell<String> = RefCell::new(green::current().name().unwrap_or("?").to_string());
    static DROPS: RefCell<Option<Counted>> = RefCell::new(None);
    static LATE: RefCell<Option<Counted>> = RefCell::new(None);
}

/// Stores a token in the caller's `DROPS` value (dropped with the greenthread's locals).
fn hold(token: Counted) {
    DROPS.with(|d| *d.borrow_mut() = Some(token));
}

#[test]
fn each_greenthread_has_its_own_value_across_switches() {
    let gts: Vec<_> = (1..=3u32)
        .map(|i| {
            green::Builder::new().name(format!("w{i}")).spawn(move || {
                for _ in 0..i {
                    COUNTER.with(|c| c.set(c.get() + 1));
                    green::sleep(Duration::ZERO); // the others touch theirs meanwhile
                }
                (COUNTER.with(Cell::get), NAME.with(|n| n.borrow().clone()))
            })
        })
        .collect();
    let got: Vec<_> = gts.into_iter().map(|g| g.wait().unwrap()).collect();
    assert_eq!(got, [(1, "w1".to_string()), (2, "w2".to_string()), (3, "w3".to_string())]);
    assert_eq!(COUNTER.with(Cell::get), 0, "the root's value is its own");
}

#[test]
fn values_are_dropped_when_the_greenthread_ends_before_its_waiter_sees_the_result() {
    let drops = DropCounter::new();
    let token = drops.token();
    let d = drops.clone();
    let gt = green::spawn(move || {
        hold(token);
        assert_eq!(d.dropped(), 0);
    });
    gt.wait().unwrap();
    assert_eq!(drops.dropped(), 1);
}

#[test]
fn values_of_killed_and_panicking_greenthreads_are_dropped_too() {
    green::debug::hub_exceptions(false);
    let drops = DropCounter::new();
    let (t1, t2) = (drops.token(), drops.token());
    let killed = green::spawn(move || {
        hold(t1);
        green::sleep(Duration::from_secs(3600));
    });
    let panicked = green::spawn(move || {
        hold(t2);
        panic!("boom");
    });
    yield_now();
    killed.kill();
    assert!(killed.wait().unwrap_err().is_killed());
    assert!(panicked.wait().unwrap_err().is_panic());
    assert_eq!(drops.dropped(), 2);
}

struct SleepsOnDrop {
    _token: Counted,
    late: DropCounter,
}

impl Drop for SleepsOnDrop {
    fn drop(&mut self) {
        green::sleep(ms(1)); // destructors of locals may make green calls
                             // A value created while dropping is dropped too.
        LATE.with(|l| *l.borrow_mut() = Some(self.late.token()));
    }
}

green::green_local! {
    static SLOW: RefCell<Option<SleepsOnDrop>> = RefCell::new(None);
}

#[test]
fn a_destructor_may_block_and_values_it_creates_are_dropped_as_well() {
    let (drops, late) = (DropCounter::new(), DropCounter::new());
    let value = SleepsOnDrop { _token: drops.token(), late: late.clone() };
    let gt = green::spawn(move || SLOW.with(|s| *s.borrow_mut() = Some(value)));
    let (r, took) = timed(|| gt.wait());
    r.unwrap();
    assert_eq!(drops.dropped(), 1);
    assert_eq!(late.dropped(), 1, "the value the destructor created was dropped too");
    assert!(took >= ms(1), "{took:?}");
}

#[test]
fn a_closure_may_use_other_keys_and_block_while_it_holds_a_value() {
    let gt = green::spawn(|| {
        COUNTER.with(|c| {
            c.set(7);
            green::sleep(ms(1));
            NAME.with(|n| n.borrow_mut().push('!'));
            c.get() + NAME.with(|n| n.borrow().len() as u32)
        })
    });
    // An unnamed greenthread's NAME starts as "?", then gets '!'.
    assert_eq!(gt.wait().unwrap(), 7 + 2);
}

#[test]
fn access_from_hub_context_is_refused_with_the_way_out() {
    green::debug::hub_exceptions(false);
    let before = green::debug::hub_exception_log().len();
    let tried = std::rc::Rc::new(Cell::new(None));
    let t = tried.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || {
        t.set(Some(COUNTER.try_with(Cell::get)));
        COUNTER.with(|c| c.set(1));
    });
    green::sleep(ms(1));
    assert_eq!(tried.get(), Some(Err(green::AccessError)));
    let log = green::debug::hub_exception_log();
    assert_eq!(log.len(), before + 1, "{log:?}");
    assert!(log[before].contains("accessed from hub context") && log[before].contains("use try_with"), "{log:?}");
}

#[test]
fn the_roots_values_are_dropped_when_the_hub_shuts_down() {
    on_fresh_thread(|| {
        let drops = DropCounter::new();
        hold(drops.token());
        assert_eq!(drops.dropped(), 0);
        green::hub::shutdown();
        assert_eq!(drops.dropped(), 1);
        // A fresh value after the shutdown.
        assert!(DROPS.with(|d| d.borrow().is_none()));
    });
}

#[test]
fn a_panicking_destructor_is_recorded_and_the_other_values_still_drop() {
    struct Boom;
    impl Drop for Boom {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    green::green_local! { static BOOM: RefCell<Option<Boom>> = RefCell::new(None); }
    green::debug::hub_exceptions(false);
    let before = green::debug::hub_exception_log().len();
    let drops = DropCounter::new();
    let token = drops.token();
    let gt = green::spawn(move || {
        BOOM.with(|b| *b.borrow_mut() = Some(Boom));
        hold(token);
        5
    });
    assert_eq!(gt.wait().unwrap(), 5);
    assert_eq!(drops.dropped(), 1);
    let log = green::debug::hub_exception_log();
    assert!(log[before..].iter().any(|l| l.contains("greenthread-local value") && l.contains("drop boom")), "{log:?}");
}
