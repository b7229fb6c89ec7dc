//! Harness overhead: the runtime's switch benchmark (two greenthreads ping-ponging `sleep(0)`) run
//! inside `Harness::run` with jitter, shuffling and faults off (DESIGN §7: ≥ 0.9× the bare
//! runtime). This build has the runtime's `test-hooks` feature on; compare with
//! `cargo bench -p green --bench runtime -- switch/green_sleep0`, a build without it, run
//! interleaved.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../../runtime/benches/workloads/ping_pong.rs"]
mod workloads;
use workloads::ping_pong;

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch");
    g.throughput(Throughput::Elements(1));
    g.bench_function("harness_sleep0", |b| {
        b.iter_custom(|iters| {
            let took = std::cell::Cell::new(Duration::ZERO);
            green_harness::Harness::new().seed(1).run(|| took.set(ping_pong(iters)));
            took.get()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = switch
}
criterion_main!(benches);
