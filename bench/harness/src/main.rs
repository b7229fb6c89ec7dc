//! The harness runner for `bench/compare`: green's switch workload (two greenthreads ping-ponging
//! `sleep(0)`) inside `green_harness::Harness::run` with jitter, shuffling and faults off. This
//! build has the runtime's `test-hooks` feature on; `bench-green switch` is the same workload in a
//! build without it. `bench-harness switch [--min-seconds S]` prints `value=<float>`.

use std::time::Duration;

#[path = "../../../runtime/benches/workloads/ping_pong.rs"]
mod ping_pong;
#[path = "../../common/runner.rs"]
mod runner;

use runner::{rate, Clock};

/// Sleeps per batch, as in `bench-green switch`.
const SWITCH_BATCH: u64 = 200_000;

fn main() {
    let args = runner::args();
    let value = match args.workload.as_str() {
        "switch" => {
            let value = std::cell::Cell::new(0.0);
            let harness = green_harness::Harness::new().seed(1).jitter(Duration::ZERO).shuffle(false).faults(&[]);
            harness.run(|| {
                value.set(rate(args.min_seconds, Clock::Wall, || {
                    ping_pong::ping_pong(SWITCH_BATCH);
                    SWITCH_BATCH
                }))
            });
            value.get()
        }
        // The same build without entering the harness: what `test-hooks` costs when compiled in.
        "switch_hooks_built" => rate(args.min_seconds, Clock::Wall, || {
            ping_pong::ping_pong(SWITCH_BATCH);
            SWITCH_BATCH
        }),
        other => runner::unknown(other, &["switch", "switch_hooks_built"]),
    };
    runner::report(value);
}
