//! The explorer: every strategy finds a bug of its kind, shrinking keeps the failure, partitions
//! split the run space, failures replay from their lines, and the outcome does not depend on the
//! thread count.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use green_harness::{Config, Fault, Harness, Search, Strategy};

use crate::util::*;

fn hermetic() -> Harness {
    Harness::with_config(Config::hermetic())
}

/// An ordering bug (RO): the code assumes the first spawned greenthread runs first.
fn spawn_order_bug() {
    let log = crate::harness::relies_on_spawn_order();
    assert_eq!(log, [0, 1, 2], "greenthreads ran out of spawn order");
}

/// An ordering bug: a check-then-act race. In FIFO order the second withdrawal (one yield
/// behind) checks after the first one acted; the bug needs the second greenthread to run before
/// the first at the step where the first would act, so that it checks inside the first one's
/// window.
fn check_then_act_bug() {
    let balance = Rc::new(RefCell::new(100));
    let withdraw = |b: Rc<RefCell<i32>>, warmup: usize| {
        move || {
            for _ in 0..warmup {
                green::sleep(Duration::ZERO);
            }
            if *b.borrow() >= 80 {
                green::sleep(Duration::ZERO); // the window
                *b.borrow_mut() -= 80;
            }
        }
    };
    let a = green::spawn(withdraw(balance.clone(), 0));
    let b = green::spawn(withdraw(balance.clone(), 1));
    a.join().unwrap();
    b.join().unwrap();
    assert!(*balance.borrow() >= 0, "overdrawn: {}", balance.borrow());
}

/// A reader that assumes one `read` returns a whole message (short reads break it).
fn naive_reader_bug() {
    let (a, b) = green::net::UnixStream::pair().unwrap();
    let w = green::spawn(move || {
        let mut a = a;
        a.write_all(b"hello world").unwrap();
    });
    let mut b = b;
    let mut buf = [0u8; 11];
    let n = b.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello world", "a short read");
    w.join().unwrap();
}

/// Honest bugs: with the zero tape (no perturbation) every planted bug passes, as real code
/// passes its plain tests.
#[test]
fn planted_bugs_pass_with_the_zero_tape() {
    for body in [spawn_order_bug as fn(), check_then_act_bug, naive_reader_bug] {
        hermetic().faults(&Fault::ALL).shuffle(true).tape(green_harness::Tape::new(vec![])).run(body);
    }
}

#[test]
fn random_finds_a_spawn_order_bug() {
    let x = hermetic().strategy(Strategy::Random).try_explore(Search::Runs(200), spawn_order_bug);
    let f = x.first_failure().expect("Random finds the ordering bug");
    assert!(f.message.contains("out of spawn order"), "{f}");
    assert_eq!(f.strategy, Strategy::Random);
}

#[test]
fn pct_finds_a_depth_two_ordering_bug() {
    let x = hermetic().strategy(Strategy::Pct { depth: 2 }).try_explore(Search::Runs(2_000), check_then_act_bug);
    let f = x.first_failure().expect("PCT finds the check-then-act race");
    assert!(f.message.contains("overdrawn"), "{f}");
    assert!(f.found_line.contains("GREEN_STRATEGY=pct:2"), "{f}");
}

#[test]
fn swarm_finds_a_bug_that_needs_one_fault_kind() {
    let x = hermetic()
        .strategy(Strategy::Swarm)
        .faults(&[Fault::Short, Fault::Eintr, Fault::WouldBlock])
        .try_explore(Search::Runs(500), naive_reader_bug);
    let f = x.first_failure().expect("Swarm finds the short-read bug");
    assert!(f.message.contains("a short read"), "{f}");
    assert!(f.found_line.contains("GREEN_FAULTS="), "{f}");
}

#[test]
fn guided_finds_a_short_read_bug_and_shrinks_it() {
    let x =
        hermetic().strategy(Strategy::Guided).faults(&[Fault::Short]).try_explore(Search::Runs(500), naive_reader_bug);
    let f = x.first_failure().expect("Guided finds the short-read bug");
    assert!(f.message.contains("a short read"), "{f}");
    assert!(f.found_line.starts_with("replay: GREEN_REPLAY=1 GREEN_TAPE="), "{f}");
    assert!(f.active.1 <= f.active.0 && f.active.1 >= 1, "{f}");
}

#[test]
fn the_portfolio_finds_every_planted_bug() {
    let h = hermetic().faults(&[Fault::Short]);
    for (name, body) in
        [("order", spawn_order_bug as fn()), ("check-then-act", check_then_act_bug), ("short read", naive_reader_bug)]
    {
        let x = h.try_explore(Search::Runs(2_000), body);
        assert!(x.first_failure().is_some(), "the portfolio missed the {name} bug");
    }
}

#[test]
fn a_shrunk_tape_keeps_the_failure() {
    let x = hermetic().strategy(Strategy::Random).try_explore(Search::Runs(200), spawn_order_bug);
    let f = x.first_failure().unwrap();
    // Replaying the shrunk tape with the run's knobs fails the same way.
    let knobs = f.shrunk_line.contains("GREEN_SHUFFLE=1");
    let (_, r) = hermetic().shuffle(knobs).tape(f.shrunk.clone()).try_run(spawn_order_bug);
    let msg = r.expect_err("the shrunk tape still fails");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("out of spawn order"), "{msg}");
    assert!(f.shrunk.active() <= f.found.explicit().active());
}

#[test]
fn partitions_are_disjoint_and_cover_the_run_space() {
    static SEEN: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());
    let n = 3;
    for k in 0..n {
        let mut c = Config::hermetic();
        c.partition = (k, n);
        Harness::with_config(c).try_explore(Search::Runs(20), move || {
            SEEN.lock().unwrap().push((k, green_harness::current_run().unwrap()))
        });
    }
    let seen = SEEN.lock().unwrap().clone();
    let mut indices: Vec<u64> = seen.iter().map(|x| x.1).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..60).collect::<Vec<_>>(), "every index once: disjoint and covering");
    assert!(seen.iter().all(|(k, i)| i % n == *k), "partition k takes k, k+N, ...");
}

#[test]
fn the_outcome_does_not_depend_on_the_thread_count() {
    let one = hermetic().threads(1).try_explore(Search::Runs(300), check_then_act_bug);
    let two = hermetic().threads(2).try_explore(Search::Runs(300), check_then_act_bug);
    let (a, b) = (one.first_failure(), two.first_failure());
    assert_eq!(
        a.map(|f| (f.run, f.strategy, f.found_line.clone())),
        b.map(|f| (f.run, f.strategy, f.found_line.clone()))
    );
    assert_eq!(one.runs, two.runs);
}

#[test]
fn a_guided_failure_replays_in_a_fresh_process_from_its_line() {
    let x =
        hermetic().strategy(Strategy::Guided).faults(&[Fault::Short]).try_explore(Search::Runs(500), naive_reader_bug);
    let f = x.first_failure().unwrap();
    for line in [&f.found_line, &f.shrunk_line] {
        let env: Vec<(String, String)> = line
            .trim_start_matches("replay: ")
            .split(' ')
            .take_while(|w| w.contains('='))
            .map(|w| {
                let (k, v) = w.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (status, out, err) = run_child_with("explore::naive_reader_child", &env);
        assert!(!status.success(), "the replay fails again: {out}\n{err}");
        assert!(err.contains("a short read") || out.contains("a short read"), "{out}\n{err}");
    }
}

#[test]
#[ignore = "run as a child process by a_guided_failure_replays_in_a_fresh_process_from_its_line"]
fn naive_reader_child() {
    if !is_child("explore::naive_reader_child") {
        return;
    }
    // What the test's own code would do: a search, which GREEN_REPLAY=1 turns into one run.
    Harness::new().strategy(Strategy::Guided).faults(&[Fault::Short]).explore(500, naive_reader_bug);
}

/// `GREEN_EXPLORE` makes a plain `Harness::run` test a search, without a code change.
#[test]
fn green_explore_turns_a_plain_run_into_a_search() {
    let (status, out, err) = run_child_with("explore::plain_run_child", &[("GREEN_EXPLORE", "300")]);
    assert!(!status.success(), "the search finds the bug: {out}\n{err}");
    assert!(err.contains("found 1 failure(s)") && err.contains("out of spawn order"), "{err}");
    assert!(err.contains("shrunk: replay: GREEN_REPLAY=1 "), "{err}");
}

#[test]
#[ignore = "run as a child process by green_explore_turns_a_plain_run_into_a_search"]
fn plain_run_child() {
    if !is_child("explore::plain_run_child") {
        return;
    }
    Harness::new().run(spawn_order_bug);
}

/// The attribute's `explore = N` knob searches too; a correct body passes.
#[green_harness::test(explore = 50)]
fn the_attribute_explores_a_correct_body() {
    let q = green::Queue::new();
    let q2 = q.clone();
    let p = green::spawn(move || q2.put(7));
    assert_eq!(q.get(), 7);
    p.join().unwrap();
}

/// A run that can never progress (two loopback peers both reading) is a hang, reported as that
/// run's failure with every wait reason, not a budget abort.
#[test]
fn a_closed_world_hang_is_a_run_failure() {
    let x = hermetic().try_explore(Search::Runs(3), || {
        let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        drop(l);
        let r = green::spawn(move || {
            let mut s = s;
            let _ = s.read(&mut [0u8; 1]);
        });
        let mut c = c;
        let _ = c.read(&mut [0u8; 1]);
        r.join().unwrap();
    });
    let f = x.first_failure().expect("the hang fails the run");
    assert!(f.message.contains("green: hang"), "{f}");
    assert!(f.message.contains("blocked in"), "{f}");
}

/// Prints the search rate on a small in-memory kernel (a measurement, not an assertion).
#[test]
#[ignore = "a measurement: cargo test --release --test integration explore::search_rate -- --ignored --nocapture"]
fn search_rate() {
    fn kernel() {
        let m = std::rc::Rc::new(green::Mutex::new(0));
        let (tx, rx) = green::channel::bounded(1);
        let gts: Vec<_> = (0..3)
            .map(|_| {
                let (m, tx) = (m.clone(), tx.clone());
                green::spawn(move || {
                    *m.lock() += 1;
                    tx.send(1).unwrap();
                })
            })
            .collect();
        let mut n = 0;
        for _ in 0..3 {
            n += rx.recv().unwrap();
        }
        for g in gts {
            g.join().unwrap();
        }
        assert_eq!(n, 3);
    }
    for threads in [1, 2] {
        let x = hermetic().threads(threads).try_explore(Search::For(Duration::from_secs(2)), kernel);
        println!("search_rate threads={threads} runs={} runs/s={:.0}", x.runs, x.runs as f64 / x.elapsed.as_secs_f64());
    }
}
