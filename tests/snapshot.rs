//! Snapshots of the hub dumps under the harness's virtual clock (reviewed with
//! `cargo insta review`; stored in the workspace's `snapshots/`). Keep this file's lines stable:
//! the dumps name the lines that created each timer, listener and greenthread.

use std::time::Duration;

use green_harness::Harness;

#[test]
fn hub_dumps_match_their_snapshots_under_the_virtual_clock() {
    Harness::new().fail_on_leaks(false).run(|| {
        green::debug::hub_timer_stacks(true);
        green::debug::hub_listener_stacks(true);
        let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _acceptor = green::Builder::new().name("acceptor").spawn(move || listener.accept().map(|_| ()));
        let _napper = green::Builder::new().name("napper").spawn(|| green::sleep(Duration::from_secs(30)));
        let _later = green::spawn_after(Duration::from_millis(1500), || ());
        green::hub::wait_all_blocked();
        green::sleep(Duration::from_millis(250)); // virtual: deadlines below are exact
        green_harness::assert_hub_snapshot!("harness_dump_timers", green::debug::format_hub_timers());
        green_harness::assert_hub_snapshot!("harness_dump_listeners", green::debug::format_hub_listeners());
        green_harness::assert_hub_snapshot!("harness_dump_greenthreads", green::debug::format_greenthreads());
    });
}
