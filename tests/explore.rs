//! The explorer: every strategy finds a bug of its kind, shrinking keeps the failure, partitions
//! split the run space, failures replay from their lines, and the outcome does not depend on the
//! thread count.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use green_harness::{Config, Fault, Harness, Search, Strategy, Tape};

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
        let x = Harness::with_config(c).try_explore(Search::Runs(20), move || {
            SEEN.lock().unwrap().push((k, green_harness::current_run().unwrap()))
        });
        assert_eq!(x.runs, [7, 7, 6][k as usize], "partition {k}/3 of 20 runs");
    }
    let seen = SEEN.lock().unwrap().clone();
    let mut indices: Vec<u64> = seen.iter().map(|x| x.1).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..20).collect::<Vec<_>>(), "every index of the one space once: disjoint and covering");
    assert!(seen.iter().all(|(k, i)| i % n == *k), "partition k takes k, k+N, ...");
}

/// Run index i of a partitioned search is run i of the whole search (DESIGN §6.1: "one space"):
/// same strategy, same replay line. The strategy used to follow the position within the
/// partition.
#[test]
fn a_partitioned_run_is_the_same_run_as_in_the_whole_search() {
    let fail_at_3 = || {
        if green_harness::current_run() == Some(3) {
            panic!("run 3");
        }
    };
    let whole = hermetic().try_explore(Search::Runs(8), fail_at_3);
    let mut c = Config::hermetic();
    c.partition = (1, 2);
    let part = Harness::with_config(c).try_explore(Search::Runs(8), fail_at_3);
    let (a, b) = (whole.first_failure().unwrap(), part.first_failure().unwrap());
    assert_eq!((a.run, b.run), (3, 3));
    assert_eq!(a.strategy, b.strategy, "run 3's strategy");
    let line = |l: &str| l.split(" GREEN_PARTITION").next().unwrap().to_string();
    assert_eq!(line(&a.found_line), line(&b.found_line));
}

/// `GREEN_PARTITION=1/4` on a search of 8 runs takes indices 1 and 5 of that one space.
#[test]
fn green_partition_in_the_environment_takes_its_share_of_one_search() {
    let (status, out, err) = run_child_with("explore::partition_child", &[("GREEN_PARTITION", "1/4")]);
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("runs [1, 5]"), "{out}\n{err}");
}

#[test]
#[ignore = "run as a child process by green_partition_in_the_environment_takes_its_share_of_one_search and a_partition_with_no_run_of_the_search_is_refused"]
fn partition_child() {
    if !is_child("explore::partition_child") {
        return;
    }
    static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    Harness::new().explore(8, || SEEN.lock().unwrap().push(green_harness::current_run().unwrap()));
    let mut seen = SEEN.lock().unwrap().clone();
    seen.sort_unstable();
    println!("runs {seen:?}");
}

/// A partition that holds no run of the search (job 9 of 10 on a search of 8 runs) is refused
/// by name: that CI job would pass without running the test.
#[test]
fn a_partition_with_no_run_of_the_search_is_refused() {
    let (status, out, err) = run_child_with("explore::partition_child", &[("GREEN_PARTITION", "9/10")]);
    assert!(!status.success(), "{out}\n{err}");
    assert!(!out.contains("runs ["), "no run made: {out}");
    assert!(err.contains("GREEN_PARTITION=9/10 takes run indices 9, 19, ... of a search of 8 runs: none"), "{err}");
    assert!(err.contains("search at least 10 runs"), "the way out: {err}");
}

/// A time-bounded search on one thread searches every lane, not only lane 0 for the whole
/// time (which left every run index but 0, 16, 32, ... unsearched).
#[test]
fn a_time_bounded_search_on_one_thread_searches_every_lane() {
    static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    let x = hermetic().threads(1).try_explore(Search::For(ms(400)), || {
        SEEN.lock().unwrap().push(green_harness::current_run().unwrap());
    });
    assert!(x.failures.is_empty());
    let lanes: std::collections::HashSet<u64> = SEEN.lock().unwrap().iter().map(|i| i % 16).collect();
    assert!(lanes.len() > 8, "lanes searched: {lanes:?}");
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

/// The environment a replay line sets (`replay: K=V K=V cargo test ...`).
fn replay_env(line: &str) -> Vec<(String, String)> {
    line.trim_start_matches("replay: ")
        .split(' ')
        .take_while(|w| w.contains('='))
        .map(|w| {
            let (k, v) = w.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Runs child test `child` in a fresh process under the environment of replay line `line`.
fn replay_in_child(child: &str, line: &str) -> (std::process::ExitStatus, String, String) {
    let env = replay_env(line);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_child_with(child, &env)
}

#[test]
fn a_guided_failure_replays_in_a_fresh_process_from_its_line() {
    let x =
        hermetic().strategy(Strategy::Guided).faults(&[Fault::Short]).try_explore(Search::Runs(500), naive_reader_bug);
    let f = x.first_failure().unwrap();
    for line in [&f.found_line, &f.shrunk_line] {
        // The line names the strategy that found it (DESIGN §6.1: every knob that changes a run).
        assert!(line.contains(" GREEN_STRATEGY=guided "), "{line}");
        let (status, out, err) = replay_in_child("explore::naive_reader_child", line);
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

/// A time-bounded search runs its body at least once, however short its time: before, every
/// lane could find its share over before its first run, and the search passed without running
/// the test.
#[test]
fn a_time_bounded_search_runs_its_body_at_least_once() {
    let ran = std::sync::atomic::AtomicU64::new(0);
    let x = hermetic().explore_for(Duration::from_nanos(1), || {
        ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    assert!(x.runs >= 1 && ran.load(std::sync::atomic::Ordering::SeqCst) >= 1, "{x:?}");
}

/// A body that reads its run index (`current_run()`) shrinks and replays: the failure's
/// shrinking runs and its replay lines keep the index of the run that found it (`GREEN_RUN`).
/// Before, both read `None`: the failure shrank to nothing and its lines replayed a passing run.
#[test]
fn a_failure_that_depends_on_the_run_index_shrinks_and_replays_with_it() {
    let x = hermetic().try_explore(Search::Runs(20), run_index_bug);
    assert_eq!(x.failures.len(), 1, "{x:?}");
    let f = x.first_failure().unwrap();
    assert_eq!(f.run, 3);
    // The failure needs no perturbation, so it shrinks to the zero tape, as it can only when
    // the shrinking runs are run 3 too.
    assert!(f.shrunk.bytes().is_empty(), "{f}");
    for line in [&f.found_line, &f.shrunk_line] {
        assert!(line.contains(" GREEN_RUN=3 "), "{line}");
        let (status, out, err) = replay_in_child("explore::run_index_child", line);
        assert!(!status.success(), "the replay fails again: {out}\n{err}");
        assert!(err.contains("run 3 of the search fails"), "{out}\n{err}");
    }
}

fn run_index_bug() {
    if green_harness::current_run() == Some(3) {
        panic!("run 3 of the search fails");
    }
}

#[test]
#[ignore = "run as a child process by a_failure_that_depends_on_the_run_index_shrinks_and_replays_with_it"]
fn run_index_child() {
    if !is_child("explore::run_index_child") {
        return;
    }
    Harness::new().explore(20, run_index_bug);
}

/// Fails every run with a message that fingerprints it: the order four greenthreads finished
/// jittered sleeps in after shuffled starts.
fn fingerprint_body() {
    fingerprint(4);
}

/// [`fingerprint_body`] with six greenthreads: more orders than a lane's first runs meet.
fn fingerprint6_body() {
    fingerprint(6);
}

fn fingerprint(n: u64) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let gts: Vec<_> = (0..n)
        .map(|i| {
            let log = log.clone();
            green::spawn(move || {
                green::sleep(Duration::from_millis(1 + i % 2));
                log.borrow_mut().push(i);
            })
        })
        .collect();
    for gt in gts {
        gt.join().unwrap();
    }
    panic!("fingerprint {:?}", log.borrow());
}

/// A failure found by `try_explore` on a hermetic harness (how the zoo searches) replays from its
/// line: under `GREEN_REPLAY=1` the hermetic config follows the environment, and `try_explore`
/// makes that one run instead of searching again from the run's seed as a base seed.
#[test]
fn a_try_explore_failure_of_a_hermetic_harness_replays_from_its_line() {
    let x = hermetic().shuffle(true).keep_going(true).try_explore(Search::Runs(40), fingerprint_body);
    assert!(x.failures.len() >= 3, "{} distinct orders", x.failures.len());
    for f in x.failures.iter().take(3) {
        let (status, out, err) = replay_in_child("explore::try_explore_replay_child", &f.found_line);
        assert!(status.success(), "{out}\n{err}");
        assert!(out.contains("runs=1 "), "{out}");
        assert!(out.contains(&format!("message={:?}", f.message)), "{}: wanted {:?}:\n{out}", f.found_line, f.message);
    }
}

#[test]
#[ignore = "run as a child process by a_try_explore_failure_of_a_hermetic_harness_replays_from_its_line"]
fn try_explore_replay_child() {
    if !is_child("explore::try_explore_replay_child") {
        return;
    }
    let x = hermetic().shuffle(true).try_explore(Search::Runs(40), fingerprint_body);
    let f = x.first_failure().expect("the replayed run fails");
    println!("runs={} message={:?}", x.runs, f.message);
}

/// A PCT run replays from its line in a fresh process, the later runs of a lane too, whose line
/// carries the steps (`GREEN_PCT_STEPS`) an earlier run of the lane took.
#[test]
fn a_pct_failure_replays_in_a_fresh_process_from_its_line() {
    let (mut first, mut later) = (0, 0);
    for seed in 0..8 {
        let x = Harness::new()
            .strategy(Strategy::Pct { depth: 3 })
            .seed(seed)
            .threads(1)
            .keep_going(true)
            .try_explore(Search::Runs(64), fingerprint6_body);
        for f in &x.failures {
            let line = &f.found_line;
            assert!(line.contains("GREEN_STRATEGY=pct:3"), "{line}");
            let is_later = f.run >= 16;
            if (is_later && later > 0) || (!is_later && first > 0) {
                continue;
            }
            assert!(!is_later || line.contains("GREEN_PCT_STEPS="), "{line}");
            let (status, out, err) = replay_in_child("explore::pct_replay_child", line);
            assert!(!status.success(), "the replay fails again: {out}\n{err}");
            assert!(err.contains(&f.message), "{line}: the replay ran another run; wanted {:?}:\n{err}", f.message);
            *(if is_later { &mut later } else { &mut first }) += 1;
        }
    }
    assert_eq!((first, later), (1, 1), "a first-of-lane run and a later one replayed");
}

#[test]
#[ignore = "run as a child process by a_pct_failure_replays_in_a_fresh_process_from_its_line"]
fn pct_replay_child() {
    if !is_child("explore::pct_replay_child") {
        return;
    }
    Harness::new().strategy(Strategy::Pct { depth: 3 }).explore(64, fingerprint6_body);
}

/// The test's own knobs, which a replay starts from.
fn swarm_harness() -> Harness {
    Harness::new()
        .strategy(Strategy::Swarm)
        .faults(&[Fault::Short, Fault::Eintr])
        .jitter(Duration::from_millis(5))
        .shuffle(true)
}

/// A swarm run turns some of the test's knobs off; its replay line must say so even where that
/// is the default (`GREEN_SHUFFLE=0`, `GREEN_FAULTS=none`, `GREEN_JITTER_MS=0`), or the replay,
/// which starts from the test's own knobs, would turn them back on and run something else
/// (checked: without the pins, one of the runs here replays in another order).
#[test]
fn a_swarm_failure_replays_in_a_fresh_process_even_where_it_turned_the_tests_knobs_off() {
    let mut pinned = 0;
    for seed in 0..12 {
        let x = swarm_harness().seed(seed).threads(1).try_explore(Search::Runs(1), fingerprint_body);
        let f = x.first_failure().expect("every run fails");
        let line = &f.found_line;
        if !["GREEN_SHUFFLE=0", "GREEN_FAULTS=none", "GREEN_JITTER_MS=0"].iter().any(|k| line.contains(k)) {
            continue;
        }
        pinned += 1;
        let (status, out, err) = replay_in_child("explore::swarm_replay_child", line);
        assert!(!status.success(), "the replay fails again: {out}\n{err}");
        assert!(err.contains(&f.message), "{line}: the replay ran another run; wanted {:?}:\n{err}", f.message);
    }
    assert!(pinned >= 2, "some swarm runs turned a knob off ({pinned})");
}

#[test]
#[ignore = "run as a child process by a_swarm_failure_replays_in_a_fresh_process_even_where_it_turned_the_tests_knobs_off"]
fn swarm_replay_child() {
    if !is_child("explore::swarm_replay_child") {
        return;
    }
    swarm_harness().explore(1, fingerprint_body);
}

/// The portfolio's Random runs are dense (0.3, 0.5 or 0.7, drawn from the run's seed, where
/// Random alone keeps the configured 0.1), and each one's replay line says its density, so the
/// run replays from the line alone.
#[test]
fn a_portfolio_random_run_is_dense_and_replays_from_its_line() {
    let mut densities = std::collections::BTreeSet::new();
    for seed in 0..12 {
        // Run position 0 of a portfolio is its Random member.
        let x = Harness::new().seed(seed).threads(1).try_explore(Search::Runs(1), fingerprint_body);
        let f = x.first_failure().expect("every run fails");
        assert_eq!(f.strategy, Strategy::Random);
        let line = &f.found_line;
        let density = replay_env(line).into_iter().find(|(k, _)| k == "GREEN_DENSITY").map(|(_, v)| v);
        let density = density.unwrap_or_else(|| panic!("{line}: no GREEN_DENSITY"));
        assert!(["0.3", "0.5", "0.7"].contains(&density.as_str()), "{line}");
        if densities.insert(density) {
            let (status, out, err) = replay_in_child("explore::portfolio_replay_child", line);
            assert!(!status.success(), "the replay fails again: {out}\n{err}");
            assert!(err.contains(&f.message), "{line}: the replay ran another run; wanted {:?}:\n{err}", f.message);
        }
    }
    assert_eq!(densities.len(), 3, "every density drawn in 12 runs: {densities:?}");
    // Random alone keeps the configured density (the default, not in the line).
    let x = Harness::new().strategy(Strategy::Random).threads(1).try_explore(Search::Runs(1), fingerprint_body);
    assert!(!x.first_failure().unwrap().found_line.contains("GREEN_DENSITY"));
}

#[test]
#[ignore = "run as a child process by a_portfolio_random_run_is_dense_and_replays_from_its_line"]
fn portfolio_replay_child() {
    if !is_child("explore::portfolio_replay_child") {
        return;
    }
    Harness::new().explore(1, fingerprint_body);
}

/// `GREEN_EXPLORE` makes a plain `Harness::run` test a search, without a code change.
#[test]
fn green_explore_turns_a_plain_run_into_a_search() {
    let (status, out, err) = run_child_with("explore::plain_run_child", &[("GREEN_EXPLORE", "300")]);
    assert!(!status.success(), "the search finds the bug: {out}\n{err}");
    assert!(err.contains("found 1 failure(s)") && err.contains("out of spawn order"), "{err}");
    assert!(err.contains("shrunk: replay: GREEN_REPLAY=1 "), "{err}");
}

/// The duration form, `GREEN_EXPLORE=30s`, searches until the time is up or a failure is found:
/// this one is found long before the 30 s.
#[test]
fn green_explore_with_a_duration_searches_for_that_long() {
    let t = std::time::Instant::now();
    let (status, out, err) = run_child_with("explore::plain_run_child", &[("GREEN_EXPLORE", "30s")]);
    assert!(!status.success(), "the search finds the bug: {out}\n{err}");
    assert!(err.contains("found 1 failure(s)") && err.contains("out of spawn order"), "{err}");
    assert!(err.contains("shrunk: replay: GREEN_REPLAY=1 "), "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(29), "stopped at the first failure");
}

#[test]
#[ignore = "run as a child process by green_explore_turns_a_plain_run_into_a_search"]
fn plain_run_child() {
    if !is_child("explore::plain_run_child") {
        return;
    }
    Harness::new().run(spawn_order_bug);
}

/// A `#[green_harness::test]` that returns `Err` fails with the error and the replay line, as a
/// panicking one does (libtest alone would print the error without it).
#[test]
fn an_attribute_test_returning_err_prints_the_replay_line() {
    let (status, out, err) = run_child_with("explore::returns_err_child", &[]);
    assert!(!status.success(), "{out}\n{err}");
    assert!(err.contains("the test returned Err(\"boom\")"), "{err}");
    assert!(err.contains("replay: GREEN_SEED=") && err.contains("explore::returns_err_child"), "{err}");
}

#[green_harness::test]
#[ignore = "run as a child process by an_attribute_test_returning_err_prints_the_replay_line"]
fn returns_err_child() -> Result<(), String> {
    if !is_child("explore::returns_err_child") {
        return Ok(());
    }
    Err("boom".into())
}

/// The attribute's `explore = N` knob makes the test a search of N runs: a bug that shows only
/// in run 7 is found (one run would pass).
#[test]
fn the_attribute_explore_knob_searches_n_runs() {
    let (status, out, err) = run_child_with("explore::explore_attr_child", &[]);
    assert!(!status.success(), "run 7 fails: {out}\n{err}");
    assert!(err.contains("only in run 7"), "{err}");
    assert!(err.contains("GREEN_REPLAY=1"), "the failure's replay line: {err}");
    let (status, out, err) = run_child_with("explore::explore_attr_child", &[("GREEN_EXPLORE", "5")]);
    assert!(status.success(), "GREEN_EXPLORE=5 wins over the attribute's 30, and runs 0..5 pass: {out}\n{err}");
}

#[green_harness::test(explore = 30)]
#[ignore = "run as a child process by the_attribute_explore_knob_searches_n_runs"]
fn explore_attr_child() {
    if !is_child("explore::explore_attr_child") {
        return;
    }
    assert_ne!(green_harness::current_run(), Some(7), "only in run 7");
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
    // DESIGN §8: the message says what to do.
    assert!(f.message.contains("or bound the wait with a timeout"), "{f}");
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

/// A lost wake-up that needs one greenthread held back for several steps while another runs
/// (the notifier must run twice before the waiter's check): one priority-scheduled step at a time
/// (PCT) finds it, per-pass shuffling never can.
fn held_back_bug() {
    let flag = Rc::new(RefCell::new(0));
    let f = flag.clone();
    let setter = green::spawn(move || {
        *f.borrow_mut() = 1;
        green::sleep(Duration::ZERO);
        *f.borrow_mut() = 2;
    });
    let f = flag.clone();
    let checker = green::spawn(move || {
        // In any per-pass order this runs before the setter's second step.
        assert_ne!(*f.borrow(), 2, "the checker was held back past the setter's second step");
    });
    setter.join().unwrap();
    checker.join().unwrap();
}

#[test]
fn pct_holds_a_greenthread_back_for_several_steps() {
    hermetic().tape(green_harness::Tape::new(vec![])).run(held_back_bug);
    let random = hermetic().strategy(Strategy::Random).try_explore(Search::Runs(1_000), held_back_bug);
    assert!(random.first_failure().is_none(), "per-pass shuffling cannot hold a greenthread back a whole pass");
    let x = hermetic().strategy(Strategy::Pct { depth: 2 }).try_explore(Search::Runs(200), held_back_bug);
    let f = x.first_failure().expect("PCT holds the checker back");
    assert!(f.message.contains("held back"), "{f}");
    assert!(f.found_line.contains("GREEN_STRATEGY=pct:2"), "{f}");
}

/// Hand-off wake-ups move against other ready greenthreads (no promise orders them), but the
/// waiters of one primitive still run in their FIFO order.
#[test]
fn wake_ups_from_primitives_are_reordered_but_keep_their_fifo_order() {
    let order = Rc::new(RefCell::new(Vec::new()));
    let seen_woken_first = Rc::new(RefCell::new(false));
    for seed in 0..300 {
        let (o, s) = (order.clone(), seen_woken_first.clone());
        hermetic().seed(seed).shuffle(true).density(0.5).run(move || {
            o.borrow_mut().clear();
            let ev = green::Event::<()>::new();
            let parked = Rc::new(RefCell::new(Vec::new()));
            let waiters: Vec<_> = (0..3)
                .map(|i| {
                    let (ev, o, p) = (ev.clone(), o.clone(), parked.clone());
                    green::spawn(move || {
                        p.borrow_mut().push(i); // spawn starts may run in any order
                        ev.wait();
                        o.borrow_mut().push(i);
                    })
                })
                .collect();
            let o2 = o.clone();
            let yielder = green::spawn(move || {
                green::sleep(Duration::ZERO);
                green::sleep(Duration::ZERO);
                o2.borrow_mut().push(9);
            });
            while ev.waiting() < 3 {
                green::sleep(Duration::ZERO); // until every waiter parked
            }
            ev.send(()).unwrap();
            for w in waiters {
                w.join().unwrap();
            }
            yielder.join().unwrap();
            let got: Vec<i32> = o.borrow().iter().copied().filter(|&x| x != 9).collect();
            assert_eq!(got, *parked.borrow(), "waiters of one event run in the order they parked");
            if o.borrow()[0] != 9 {
                *s.borrow_mut() = true;
            }
        });
    }
    assert!(*seen_woken_first.borrow(), "some run put a woken waiter before the yielder");
}

/// Hand-off wake-ups are grouped by the primitive that handed off, not by what it is: the
/// waiters of two different events, sent one after the other, run in either order across seeds,
/// while each event's own waiters keep their parking order.
#[test]
fn wake_ups_from_two_primitives_may_swap_but_each_keeps_its_fifo_order() {
    let mut second_first = 0;
    for seed in 0..200 {
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        hermetic().seed(seed).shuffle(true).density(0.5).run(move || {
            let (a, b) = (green::Event::<()>::new(), green::Event::<()>::new());
            let parked = Rc::new(RefCell::new(Vec::new()));
            let waiters: Vec<_> = [("a1", a.clone()), ("a2", a.clone()), ("b1", b.clone())]
                .into_iter()
                .map(|(name, ev)| {
                    let (o, p) = (o.clone(), parked.clone());
                    green::spawn(move || {
                        p.borrow_mut().push(name);
                        ev.wait();
                        o.borrow_mut().push(name);
                    })
                })
                .collect();
            while a.waiting() + b.waiting() < 3 {
                green::sleep(Duration::ZERO);
            }
            a.send(()).unwrap();
            b.send(()).unwrap();
            for w in waiters {
                w.join().unwrap();
            }
            let parked_a: Vec<&str> = parked.borrow().iter().copied().filter(|n| n.starts_with('a')).collect();
            let ran_a: Vec<&str> = o.borrow().iter().copied().filter(|n| n.starts_with('a')).collect();
            assert_eq!(ran_a, parked_a, "one event's waiters run in the order they parked");
        });
        if order.borrow()[0] == "b1" {
            second_first += 1;
        }
    }
    assert!(second_first > 0, "the second event's waiter never ran first in 200 seeds");
}

/// Inside a long timeout (a pending timer of the same greenthread), every sleep still gets a
/// delay of its own (DESIGN §6.1: jitter per timer): the offset used to be redrawn only once all
/// of a greenthread's timers had passed, so all twenty sleeps shared the timeout's, and the
/// sleeps' gaps never moved.
#[test]
fn jitter_is_drawn_per_timer_inside_a_longer_timeout_too() {
    let gaps = std::cell::RefCell::new(std::collections::HashSet::new());
    hermetic().seed(3).density(0.9).jitter(Duration::from_millis(8)).run(|| {
        green::with_timeout(Duration::from_secs(60), || {
            let mut last = green::hooks::now_ns();
            for _ in 0..20 {
                green::sleep(Duration::from_millis(10));
                let now = green::hooks::now_ns();
                gaps.borrow_mut().insert(now - last);
                last = now;
            }
        })
        .unwrap();
    });
    let gaps = gaps.into_inner();
    assert!(gaps.len() >= 5, "the sleeps' gaps: {gaps:?}");
    assert!(gaps.iter().all(|&g| g >= 10_000_000), "never earlier: {gaps:?}");
}

/// Jitter is drawn per timer: a greenthread sleeping in a loop (one timer at a time) gets
/// several different delays, and a greenthread's own timers still fire in their order.
#[test]
fn jitter_is_drawn_per_timer_and_keeps_one_greenthreads_order() {
    let r = hermetic().seed(5).density(0.9).jitter(Duration::from_millis(8)).run(|| {
        // One timer at a time: a delay drawn for each.
        for _ in 0..6 {
            green::sleep(Duration::from_millis(1));
        }
        // Pending timers of one greenthread (a long one and sleeps) keep their order.
        let fired = Rc::new(RefCell::new(Vec::new()));
        let f = fired.clone();
        let _late = green::spawn_after(Duration::from_millis(30), move || f.borrow_mut().push("late"));
        for _ in 0..6 {
            green::sleep(Duration::from_millis(1));
            fired.borrow_mut().push("sleep");
        }
        green::sleep(Duration::from_millis(100));
        assert_eq!(*fired.borrow(), ["sleep", "sleep", "sleep", "sleep", "sleep", "sleep", "late"]);
    });
    let delays: std::collections::HashSet<_> = r
        .faults
        .iter()
        .filter_map(|e| match e.what {
            green_harness::Perturbation::Jitter { extra } => Some(extra),
            _ => None,
        })
        .collect();
    assert!(delays.len() >= 2, "one delay per pending-timer episode, several per greenthread: {:?}", r.faults);
}

/// With `Eintr`, a `trampoline` wait may return `Interrupted` (as `poll(2)` does); green sockets
/// retry it and never show it.
#[test]
fn eintr_interrupts_trampoline_waits_and_never_reaches_green_socket_users() {
    let x = hermetic().faults(&[Fault::Eintr]).try_explore(Search::Runs(200), || {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let w = green::spawn(move || {
            let mut a = a;
            a.write_all(b"x").unwrap();
        });
        green::trampoline(&b, green::Interest::Read, None).expect("a trampoline wait");
        w.join().unwrap();
    });
    let f = x.first_failure().expect("EINTR reaches a trampoline wait");
    assert!(f.message.contains("Interrupted"), "{f}");
    let quiet = hermetic().faults(&[Fault::Eintr]).try_explore(Search::Runs(200), || {
        let (a, b) = green::net::UnixStream::pair().unwrap();
        let w = green::spawn(move || {
            let mut a = a;
            a.write_all(b"hello").unwrap();
        });
        let mut b = b;
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).unwrap();
        w.join().unwrap();
    });
    assert!(quiet.first_failure().is_none(), "green sockets retry EINTR");
}

/// A run whose greenthreads wait on fds nobody in the hub can write (a peer outside its sockets)
/// fails as a hang after the hang horizon, not as a budget abort.
#[test]
fn an_fd_wait_that_hears_nothing_is_a_hang_after_the_horizon() {
    let mut c = Config::hermetic();
    c.hang = Duration::from_millis(50);
    let x = Harness::with_config(c).try_explore(Search::Runs(2), || {
        let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let _ = green::trampoline(&b, green::Interest::Read, None);
    });
    let f = x.first_failure().expect("the hang fails the run");
    assert!(f.message.contains("green: hang") && f.message.contains("hang horizon"), "{f}");
    assert!(f.found_line.contains("GREEN_HANG_MS=50"), "{f}");
}

/// An fd number closed behind the runtime's back while a duplicate keeps its file open is still
/// watched by the poller (the registration belongs to the open file): data sent later wakes the
/// waiter, and the run is no hang.
#[test]
fn an_fd_closed_while_a_duplicate_keeps_its_file_open_is_still_watched() {
    let r = hermetic().try_run(|| {
        use std::io::Write;
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        struct Fd(std::os::fd::RawFd);
        impl AsRawFd for Fd {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.0
            }
        }
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        // SAFETY: `dup` of an open fd; the new fd is owned here and closed when dropped.
        let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(b.as_raw_fd())) };
        let fd = Fd(b.as_raw_fd());
        let waiter = green::spawn(move || green::trampoline(&fd, green::Interest::Read, None));
        green::sleep(Duration::ZERO);
        drop(b); // the number goes; the file stays open through `dup`
                 // The data comes from outside the hub, later, while nothing else is pending.
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            a.write_all(b"x").unwrap();
        });
        let woke = waiter.join();
        writer.join().unwrap();
        drop(dup);
        woke
    });
    let woke = match r.1 {
        Ok(woke) => woke,
        Err(p) => panic!("the run failed: {}", p.downcast_ref::<String>().map_or("(not a string)", |s| s.as_str())),
    };
    assert!(woke.is_ok(), "{woke:?}");
}

/// An fd closed behind the runtime's back while a trampoline waits on it can never wake the
/// waiter: a hang at once (the closed world), not after the horizon.
#[test]
fn a_wait_on_an_fd_closed_behind_the_runtimes_back_is_a_hang() {
    let x = hermetic().try_explore(Search::Runs(1), || {
        use std::os::fd::AsRawFd;
        struct Fd(std::os::fd::RawFd);
        impl AsRawFd for Fd {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.0
            }
        }
        let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = Fd(b.as_raw_fd());
        let r = green::spawn(move || green::trampoline(&fd, green::Interest::Read, None));
        green::sleep(Duration::ZERO);
        drop(b);
        let _ = r.join();
    });
    let f = x.first_failure().expect("the hang fails the run");
    assert!(f.message.contains("closed behind the runtime's back"), "{f}");
}

/// A retry loop whose condition never comes spins in virtual time: the clock keeps jumping with
/// only timers waking anyone. The search reports a hang as that run's failure, with the wait
/// reasons and the limit in its replay line (before the jump limit the run spun until its
/// wall-clock budget and the process aborted).
#[test]
fn a_retry_loop_spinning_in_virtual_time_is_a_livelock_hang_not_a_budget_abort() {
    let mut c = Config::hermetic();
    c.hang_jumps = 500;
    let x = Harness::with_config(c).try_explore(Search::Runs(3), || {
        let ready = Rc::new(std::cell::Cell::new(false)); // the bug: nobody ever sets it
        let r = ready.clone();
        let poller = green::spawn(move || {
            while !r.get() {
                green::sleep(Duration::from_millis(10));
            }
        });
        poller.join().unwrap();
    });
    let f = x.first_failure().expect("the livelock fails the run");
    assert!(f.message.starts_with("green: hang: the virtual clock jumped 500 times"), "{f}");
    assert!(f.message.contains("Wait reasons") && f.message.contains("sleep"), "{f}");
    assert!(f.found_line.contains("GREEN_HANG_JUMPS=500"), "{f}");
    assert_eq!(x.runs, 1, "the first run fails");
}

/// Stays quiet: time that passes in one long sleep is one jump, and a hand-off between
/// greenthreads starts the count over, so a day-long sleep and 300 items paced by sleeps pass
/// under a limit of 50 jumps.
#[test]
fn long_sleeps_and_paced_hand_offs_are_no_livelock() {
    let mut c = Config::hermetic();
    c.hang_jumps = 50;
    let x = Harness::with_config(c).try_explore(Search::Runs(3), || {
        green::sleep(Duration::from_secs(86_400));
        let q = green::Queue::new();
        let q2 = q.clone();
        let producer = green::spawn(move || {
            for i in 0..300 {
                green::sleep(Duration::from_millis(5));
                q2.put(i);
            }
        });
        for i in 0..300 {
            assert_eq!(q.get(), i);
        }
        producer.join().unwrap();
    });
    assert!(x.failures.is_empty(), "{:?}", x.first_failure().map(|f| f.message.clone()));
}

/// Child half of `a_busy_loop_in_a_search_aborts_with_a_replay_line_naming_the_test`.
#[test]
#[ignore = "run as a child process by a_busy_loop_in_a_search_aborts_with_a_replay_line_naming_the_test"]
fn search_budget_child() {
    if !is_child("explore::search_budget_child") {
        return;
    }
    let mut c = Config::hermetic();
    c.budget = Duration::from_millis(200);
    c.threads = 2;
    Harness::with_config(c).try_explore(Search::Runs(2), || {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            std::hint::spin_loop();
        }
    });
}

/// A busy loop never switches, so its hub cannot fail the run: the watchdog aborts the process.
/// The replay line it prints names the test, not the search thread the run was on
/// (`green-explore-<k>`, which `cargo test` would match no test with).
#[test]
fn a_busy_loop_in_a_search_aborts_with_a_replay_line_naming_the_test() {
    use std::os::unix::process::ExitStatusExt;
    let (status, _, stderr) = run_child("explore::search_budget_child");
    assert_eq!(status.signal(), Some(6), "expected SIGABRT: {status:?}\n{stderr}");
    assert!(stderr.contains("has held the hub for"), "{stderr}");
    assert!(stderr.contains("cargo test explore::search_budget_child -- --exact"), "{stderr}");
    assert!(!stderr.contains("cargo test green-explore"), "{stderr}");
}

/// PCT places exactly `depth - 1` priority changes, skipping zero draws (a zero draw once placed
/// none, so a run could search a shallower depth than asked), and none on the zero tape: 0 means
/// "no perturbation here" (DESIGN §6), so the zero tape runs in queue order under PCT too
/// (before, its zero draws put a change at the first step, which reversed the first two
/// greenthreads).
#[test]
fn pct_places_depth_minus_one_change_points_and_none_on_the_zero_tape() {
    let changes = |tape: Tape| {
        let (report, r) = hermetic().strategy(Strategy::Pct { depth: 3 }).tape(tape).try_run(|| {
            let gts: Vec<_> = (0..4).map(|_| green::spawn(|| green::sleep(Duration::ZERO))).collect();
            for gt in gts {
                gt.join().unwrap();
            }
        });
        r.unwrap_or_else(|_| panic!("the run failed"));
        report.faults.iter().filter(|e| matches!(e.what, green_harness::Perturbation::PriorityChange { .. })).count()
    };
    assert_eq!(changes(Tape::new(Vec::new())), 0, "the zero tape");
    // Zero draws are skipped: (1 * 251 + 8) % 64 = 3 and (1 * 251 + 10) % 64 = 5.
    assert_eq!(changes(Tape::new(vec![0, 1, 0, 8, 1, 10])), 2, "points at steps 4 and 6");
}

/// `keep_going` collects distinct failures, deduplicated by message and site: two different
/// panics caught in hub context (a verdict whose first line, "the hub caught 1 panic(s):", is the
/// same for both) are two failures; the same one met in many runs is one; an assertion failing
/// with different operands at one site is one.
#[test]
fn keep_going_tells_failures_apart_by_message_and_site() {
    let x = hermetic().keep_going(true).try_explore(Search::Runs(40), || {
        let run = green_harness::current_run().unwrap();
        green::debug::hub_exceptions(false);
        match run % 4 {
            0 => drop(green::hub::schedule_call_global(Duration::ZERO, || panic!("callback A broke"))),
            1 => drop(green::hub::schedule_call_global(Duration::ZERO, || panic!("callback B broke"))),
            2 => assert_eq!(run, u64::MAX, "an assertion with run-dependent operands"),
            _ => {}
        }
        green::sleep(Duration::ZERO);
    });
    let mut messages: Vec<String> = x.failures.iter().map(|f| f.message.clone()).collect();
    messages.sort();
    assert_eq!(x.failures.len(), 3, "{messages:#?}");
    assert!(messages.iter().any(|m| m.contains("callback A broke")), "{messages:#?}");
    assert!(messages.iter().any(|m| m.contains("callback B broke")), "{messages:#?}");
    assert!(messages.iter().any(|m| m.contains("run-dependent operands")), "{messages:#?}");
}

/// Two hangs with the same first line but different places where greenthreads wait are two
/// failures.
#[test]
fn keep_going_tells_hangs_apart_by_where_greenthreads_wait() {
    let x = hermetic().keep_going(true).try_explore(Search::Runs(10), || {
        let even = green_harness::current_run().unwrap().is_multiple_of(2);
        let waiter = green::spawn(move || {
            if even {
                green::Event::<()>::new().wait();
            } else {
                green::Queue::<u8>::new().get();
            }
        });
        waiter.join().unwrap(); // the root waits here in both: the first lines are the same
    });
    assert_eq!(x.failures.len(), 2, "{:#?}", x.failures.iter().map(|f| &f.message).collect::<Vec<_>>());
}

/// Coverage-guided searches keep tapes that reach new (spawn site, call site, fault kind)
/// triples: a fault injected into a read adds a transition of its own, and another fault kind at
/// the same read adds another.
#[test]
fn coverage_records_the_fault_kind_with_the_spawn_and_call_sites() {
    use green::hooks::{FdKind, IoFault, IoOp, Perturb};
    struct Faults(Option<IoFault>);
    impl Perturb for Faults {
        fn timer_delay(&mut self, _creator: u64, _delay: Duration) -> Duration {
            Duration::ZERO
        }
        fn pick(&mut self, n: usize) -> usize {
            n - 1
        }
        fn io_fault(&mut self, op: IoOp, _fd: u64, _kind: FdKind, _gt: u64) -> Option<IoFault> {
            if op == IoOp::Read {
                self.0.take()
            } else {
                None
            }
        }
    }
    let transitions = |fault: Option<IoFault>| {
        on_fresh_thread(move || {
            green::hooks::install(Some(Box::new(Faults(fault))));
            green::hooks::set_coverage(true);
            let l = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = green::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (mut s, _) = l.accept().unwrap();
            let reader = green::spawn(move || {
                let mut b = [0u8; 4];
                s.read_exact(&mut b).unwrap();
            });
            c.write_all(b"ping").unwrap();
            reader.join().unwrap();
            let t = green::hooks::take_coverage();
            green::hooks::set_coverage(false);
            green::hooks::install(None);
            t
        })
    };
    let none = transitions(None);
    let short = transitions(Some(IoFault::Short(1)));
    let eintr = transitions(Some(IoFault::Interrupted));
    assert!(short.is_superset(&none) && short.len() > none.len(), "{none:?} {short:?}");
    assert!(eintr.difference(&none).any(|t| !short.contains(t)), "another kind, another transition");
}

/// A failure that needs no perturbation shrinks to the zero tape, whose line says `GREEN_TAPE=`
/// with nothing after it: set but empty is that tape, not "unset" (which would bring back a
/// seeded, perturbed tape on replay).
#[test]
fn a_zero_tape_replay_line_replays_the_zero_tape() {
    let x = hermetic().shuffle(true).density(1.0).try_explore(Search::Runs(5), || -> () { panic!("always") });
    let f = x.first_failure().unwrap();
    assert!(f.shrunk.bytes().is_empty(), "{:?}", f.shrunk);
    assert!(f.shrunk_line.contains("GREEN_TAPE= "), "{}", f.shrunk_line);
    let (status, out, err) = replay_in_child("explore::zero_tape_child", &f.shrunk_line);
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("tape seed=None bytes=[] active=0"), "{out}\n{err}");
}

#[test]
#[ignore = "run as a child process by a_zero_tape_replay_line_replays_the_zero_tape"]
fn zero_tape_child() {
    if !is_child("explore::zero_tape_child") {
        return;
    }
    let r = Harness::new().run(|| {
        let gts: Vec<_> = (0..3).map(|_| green::spawn(|| green::sleep(Duration::ZERO))).collect();
        gts.into_iter().for_each(|g| g.wait().unwrap());
    });
    println!("tape seed={:?} bytes={:?} active={}", r.tape.seed(), r.tape.bytes(), r.tape.active());
}

/// `Harness::tape` with a seeded tape runs that seeded tape: before, it kept the bytes drawn so
/// far (none), an empty explicit tape, and the run was not perturbed at all.
#[test]
fn a_seeded_tape_given_to_the_builder_stays_seeded() {
    let body = || {
        let gts: Vec<_> = (0..4).map(|i| green::spawn(move || green::sleep(Duration::from_millis(i)))).collect();
        gts.into_iter().for_each(|g| g.wait().unwrap());
    };
    let r = hermetic().shuffle(true).tape(Tape::seeded(7, 1.0)).run(body);
    assert_eq!(r.tape.seed(), Some(7));
    assert!(r.draws > 0 && r.tape.active() > 0, "drew {} with {} active", r.draws, r.tape.active());
    let again = hermetic().shuffle(true).seed(7).density(1.0).run(body);
    assert_eq!(again.trace, r.trace, "the same run as seed 7 at density 1");
}

/// A search that would make no run refuses, naming the misuse, instead of passing untested.
#[test]
fn searches_of_no_runs_are_refused() {
    for (what, f) in [
        ("0 runs", Box::new(|| drop(hermetic().explore(0, || ()))) as Box<dyn Fn()>),
        ("0 runs", Box::new(|| drop(hermetic().try_explore(Search::Runs(0), || ())))),
        ("0 runs", Box::new(|| drop(hermetic().search(Search::Runs(0))))),
        ("no time", Box::new(|| drop(hermetic().explore_for(Duration::ZERO, || ())))),
    ] {
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()));
        let msg = msg.unwrap_or_default();
        assert!(msg.contains(what) && msg.contains("would pass without running the test"), "{msg}");
    }
}

/// PCT's priorities are random and distinct (DESIGN §6.1), so with depth 1 either of two
/// greenthreads started together runs first in about half the runs: PCT's bound for a depth-1
/// ordering bug, 1/n. With one draw per priority, a tape of density 0.5 left half the priorities
/// 0 (a tie keeps queue order) and the second ran first in about 37% of runs.
#[test]
fn pct_priorities_are_random_and_distinct_so_either_of_two_greenthreads_runs_first_half_the_time() {
    let runs = 1000;
    let second_first = std::sync::atomic::AtomicUsize::new(0);
    hermetic().strategy(Strategy::Pct { depth: 1 }).explore(runs, || {
        let log = Rc::new(RefCell::new(Vec::new()));
        let gts: Vec<_> = (0..2)
            .map(|i| {
                let log = log.clone();
                green::spawn(move || log.borrow_mut().push(i))
            })
            .collect();
        gts.into_iter().for_each(|g| g.wait().unwrap());
        if *log.borrow() == [1, 0] {
            second_first.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let share = second_first.into_inner() as f64 / runs as f64;
    // 1000 runs: a standard deviation of 1.6 points around 0.5.
    assert!((0.43..=0.57).contains(&share), "the second greenthread ran first in {:.1}% of runs", share * 100.0);
}
