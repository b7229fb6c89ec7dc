//! Loopback echo: 100 connections doing 64-byte round trips, green against a plain
//! single-threaded mio loop that reads until `WouldBlock` (its ceiling, DESIGN §7).
//!
//! Run with `cargo bench -p green --bench echo`; one op = one 64-byte round trip.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "workloads/echo.rs"]
mod echo;
use echo::{GreenEcho, MioEcho, CONNS};

/// Measures `run(per)` for criterion's `iters` round trips, rounded up to whole rounds of clients.
fn round_trips(iters: u64, run: impl FnOnce(u64)) -> Duration {
    let per = iters.div_ceil(CONNS as u64);
    let t0 = Instant::now();
    run(per);
    t0.elapsed().mul_f64(iters as f64 / (per * CONNS as u64) as f64)
}

fn green_echo(c: &mut Criterion) {
    let e = GreenEcho::new();
    let mut g = c.benchmark_group("echo");
    g.throughput(Throughput::Elements(1));
    g.bench_function("green_100conn_64B", |b| b.iter_custom(|iters| round_trips(iters, |per| e.run(per))));
    g.finish();
}

fn mio_echo(c: &mut Criterion) {
    let mut m = MioEcho::new();
    let mut g = c.benchmark_group("echo");
    g.throughput(Throughput::Elements(1));
    g.bench_function("plain_mio_100conn_64B", |b| b.iter_custom(|iters| round_trips(iters, |per| m.run(per))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = green_echo, mio_echo
}
criterion_main!(benches);
