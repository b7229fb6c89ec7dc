//! Runtime benchmarks (DESIGN §7), each beside its ceiling: a raw corosensei resume/yield loop and
//! corosensei create-on-a-reused-stack. The workloads live in `benches/workloads/`, shared with
//! `bench/compare`, which runs them side by side with eventlet, gevent and `may`.
//!
//! Run with `cargo bench -p green`. Throughput is reported in operations per second:
//! - `switch/green_sleep0`: one op = one `sleep(0)` of two greenthreads ping-ponging;
//! - `switch/raw_corosensei`: one op = one resume + yield of a bare coroutine;
//! - `spawn_wait/green`: one op = spawn a greenthread and wait for it, one at a time;
//! - `spawn_wait/raw_corosensei_create`: one op = create and run a coroutine on a reused stack;
//! - `spawn_wait/green_100k`: one op = one of 100k greenthreads spawned then all waited;
//! - `timers/green_10k_x10`: one op = one of 100k timers (10k greenthreads × 10 sleeps of 0–10 ms);
//! - `imap/green_pool200`: one op = one of 100k trivial items through `GreenPool::new(200).imap`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "workloads/ceilings.rs"]
mod ceilings;
#[path = "workloads/imap.rs"]
mod imap;
#[path = "workloads/ping_pong.rs"]
mod ping_pong;
#[path = "workloads/spawn.rs"]
mod spawn;
#[path = "workloads/timers.rs"]
mod timers;

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch");
    g.throughput(Throughput::Elements(1));
    g.bench_function("green_sleep0", |b| b.iter_custom(ping_pong::ping_pong));
    g.bench_function("raw_corosensei", |b| {
        let mut co = ceilings::RawSwitch::new();
        b.iter(|| co.step())
    });
    g.finish();
}

fn spawn_wait(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_wait");
    g.throughput(Throughput::Elements(1));
    g.bench_function("green", |b| b.iter(|| spawn::spawn_join(1)));
    g.bench_function("raw_corosensei_create", |b| {
        let mut co = ceilings::RawCreate::new();
        b.iter(|| co.step())
    });
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("green_100k", |b| b.iter(|| spawn::spawn_all_then_join(100_000)));
    g.finish();
}

fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_000 * timers::SLEEPS));
    g.bench_function("green_10k_x10", |b| b.iter(|| timers::sleepers(10_000)));
    g.finish();
}

fn imap(c: &mut Criterion) {
    let mut g = c.benchmark_group("imap");
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("green_pool200", |b| {
        let pool = green::GreenPool::new(200);
        b.iter(|| black_box(imap::imap_sum(&pool, 100_000)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = switch, spawn_wait, timers, imap
}
criterion_main!(benches);
