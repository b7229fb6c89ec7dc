//! Spawns a few sleeping greenthreads with timer stacks on and prints the hub's timers and
//! greenthreads, as eventlet's `debug.format_hub_timers()` would.
//!
//! Run with `cargo run -p green --example debug_timers`.

use std::time::Duration;

fn nap(secs: u64) {
    green::sleep(Duration::from_secs(secs));
}

fn main() {
    green::debug::hub_timer_stacks(true);
    let sleepers: Vec<_> = [5, 2, 8]
        .into_iter()
        .map(|secs| green::Builder::new().name(format!("sleeper-{secs}s")).spawn(move || nap(secs)))
        .collect();
    green::hub::schedule_call_global(Duration::from_millis(1500), || println!("callback fired"));
    let pending = green::spawn_after(Duration::from_secs(3), || "late start");

    // Let the sleepers start and park in their sleep.
    green::sleep(Duration::ZERO);

    println!("{}", green::debug::format_hub_timers());
    println!();
    println!("{}", green::debug::format_greenthreads());

    for gt in &sleepers {
        gt.kill();
    }
    pending.cancel();
    println!();
    println!("after killing the sleepers:");
    println!("{}", green::debug::format_hub_timers());
    green::hub::shutdown();
}

#[test]
fn runs() {
    main();
}
