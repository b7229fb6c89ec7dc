//! kvstore's tests, written the way a user of green-harness writes them.

use std::collections::HashMap;
use std::time::Duration;

use green_harness::proptest::prelude::*;
use green_harness::{strategy, Fault, Harness};
use kvstore::{serve, Client, Store};

/// Starts a server on an OS-chosen loopback port.
fn start(store: Store) -> std::net::SocketAddr {
    let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    green::Builder::new().name("kv-server").spawn_n(move || {
        let _ = serve(listener, store, 8);
    });
    addr
}

#[test]
fn set_get_del_round_trip_under_faults_and_jitter() {
    Harness::new()
        .seed(1)
        .jitter(Duration::from_millis(5))
        .shuffle(true)
        .faults(&[Fault::Short, Fault::Eintr, Fault::WouldBlock, Fault::Spurious])
        .fail_on_leaks(false) // the server runs for ever; teardown unwinds it
        .run(|| {
            let addr = start(Store::default());
            let clients: Vec<_> = (0..5)
                .map(|c| {
                    green::spawn(move || {
                        let mut cl = Client::connect(addr).unwrap();
                        for i in 0..10 {
                            let k = format!("k{c}-{i}");
                            cl.set(&k, &format!("v{i}")).unwrap();
                            assert_eq!(cl.get(&k).unwrap().as_deref(), Some(format!("v{i}").as_str()));
                        }
                        assert!(cl.del(&format!("k{c}-0")).unwrap());
                        assert_eq!(cl.get(&format!("k{c}-0")).unwrap(), None);
                    })
                })
                .collect();
            for c in clients {
                c.wait().unwrap();
            }
        });
}

#[derive(Clone, Debug)]
enum Op {
    Set(u8, u8),
    Get(u8),
    Del(u8),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
        (0u8..6).prop_map(Op::Get),
        (0u8..6).prop_map(Op::Del),
    ];
    green_harness::proptest::collection::vec(op, 0..30)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// The server agrees with a HashMap model whatever the tape perturbs.
    #[test]
    fn the_server_matches_a_model_under_random_tapes(tape in strategy::tapes(128), ops in ops()) {
        // The server greenthread outlives the body on purpose: not a leak here.
        let h = Harness::new().tape(tape).faults(&[Fault::Short, Fault::Spurious]).shuffle(true).fail_on_leaks(false);
        let (_, r) = h.try_run(|| {
            let addr = start(Store::default());
            let mut cl = Client::connect(addr).unwrap();
            let mut model: HashMap<String, String> = HashMap::new();
            for op in &ops {
                match op {
                    Op::Set(k, v) => {
                        cl.set(&k.to_string(), &v.to_string()).unwrap();
                        model.insert(k.to_string(), v.to_string());
                    }
                    Op::Get(k) => assert_eq!(cl.get(&k.to_string()).unwrap(), model.get(&k.to_string()).cloned()),
                    Op::Del(k) => assert_eq!(cl.del(&k.to_string()).unwrap(), model.remove(&k.to_string()).is_some()),
                }
            }
        });
        prop_assert!(r.is_ok(), "{:?}", r.err().and_then(|e| e.downcast::<String>().ok()));
    }
}

#[test]
fn the_hub_dumps_of_a_busy_server_match_their_snapshots() {
    Harness::new().fail_on_leaks(false).run(|| {
        green::debug::hub_timer_stacks(true);
        let addr = start(Store::default());
        let idle = green::Builder::new().name("idle-client").spawn(move || {
            let mut cl = Client::connect(addr).unwrap();
            cl.set("a", "1").unwrap();
            green::sleep(Duration::from_secs(5));
        });
        green_harness::wait_all_blocked();
        green::sleep(Duration::from_millis(100));
        green_harness::assert_hub_snapshot!("kv_timers", green::debug::format_hub_timers());
        green_harness::assert_hub_snapshot!("kv_greenthreads", green::debug::format_greenthreads());
        idle.kill();
    });
}

#[test]
fn the_blocking_detector_catches_the_planted_blocking_call() {
    let store = Store::default();
    // `try_run` instead of `run`, to look at the failure instead of failing this test with it.
    let (report, r) = Harness::new().blocking(Duration::from_millis(50)).fail_on_leaks(false).try_run(|| {
        let addr = start(store.clone());
        let mut cl = Client::connect(addr).unwrap();
        cl.set("k", "v").unwrap();
        store.slow_metrics.set(true); // the flag that plants the bug
        assert_eq!(cl.get("k").unwrap().as_deref(), Some("v"));
    });
    // The run fails, naming the worker greenthread serving the connection, spawned by the pool
    // in src/lib.rs, and its report is in the run's report.
    let verdict = r.unwrap_err().downcast::<String>().unwrap();
    assert!(verdict.contains("held the hub past the blocking-detection resolution"), "{verdict}");
    assert!(verdict.lines().next().unwrap().contains("spawned at src/lib.rs:"), "{verdict}");
    assert!(
        report.blocking.iter().any(|b| b.spawned_at.as_deref().is_some_and(|s| s.starts_with("src/lib.rs:"))),
        "{:?}",
        report.blocking
    );
}

#[test]
fn without_the_flag_the_detector_stays_quiet() {
    // A wide budget: nothing here runs long, but a loaded machine may deschedule the thread.
    let report = Harness::new().blocking(Duration::from_millis(300)).fail_on_leaks(false).run(|| {
        let addr = start(Store::default());
        let mut cl = Client::connect(addr).unwrap();
        cl.set("k", "v").unwrap();
        assert_eq!(cl.get("k").unwrap().as_deref(), Some("v"));
    });
    assert!(report.blocking.is_empty(), "{:?}", report.blocking);
}

/// The same scenario, shorter, with the `#[green_harness::test]` attribute instead of a `Harness`.
#[green_harness::test(seed = 2, jitter_ms = 5, shuffle, faults = [Short, Eintr], allow_leaks)]
fn one_client_under_the_test_attribute() {
    let addr = start(Store::default());
    let mut cl = Client::connect(addr).unwrap();
    cl.set("k", "v").unwrap();
    assert_eq!(cl.get("k").unwrap().as_deref(), Some("v"));
}
