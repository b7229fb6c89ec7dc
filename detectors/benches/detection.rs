//! The runtime's switch benchmark with blocking detection off and on, in the same run (DESIGN §7:
//! on ≥ 0.95× off; eventlet's detector halves its switch rate, gevent's monitor costs 24%).
//!
//! Run with `cargo bench -p green-detectors`; one op = one `sleep(0)` of two greenthreads
//! ping-ponging.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../../runtime/benches/workloads/ping_pong.rs"]
mod workloads;
use workloads::ping_pong;

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch_detection");
    g.throughput(Throughput::Elements(1));
    g.bench_function("off", |b| b.iter_custom(ping_pong));
    g.bench_function("on_50ms", |b| {
        // Collect mode: a host stall over 50 ms must not fail the benchmark (fail mode would).
        let collect = green_detectors::BlockingConfig {
            resolution: Duration::from_millis(50),
            mode: green_detectors::Mode::Collect,
        };
        green_detectors::enable(collect).unwrap();
        b.iter_custom(ping_pong);
        green_detectors::disable();
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = switch
}
criterion_main!(benches);
