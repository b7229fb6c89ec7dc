//! Runtime benchmarks (DESIGN §7), each beside its ceiling: a raw corosensei resume/yield loop and
//! corosensei create-on-a-reused-stack.
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

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "workloads/ping_pong.rs"]
mod workloads;

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch");
    g.throughput(Throughput::Elements(1));
    g.bench_function("green_sleep0", |b| b.iter_custom(workloads::ping_pong));
    g.bench_function("raw_corosensei", |b| {
        let mut co: Coroutine<(), (), ()> = Coroutine::new(|y, ()| loop {
            y.suspend(());
        });
        b.iter(|| {
            let r = co.resume(());
            black_box(matches!(r, CoroutineResult::Yield(())));
        })
    });
    g.finish();
}

fn spawn_wait(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_wait");
    g.throughput(Throughput::Elements(1));
    g.bench_function("green", |b| b.iter(|| green::spawn(|| black_box(1)).wait().unwrap()));
    g.bench_function("raw_corosensei_create", |b| {
        let mut stack = Some(DefaultStack::new(256 * 1024).unwrap());
        b.iter(|| {
            let s = stack.take().unwrap();
            let mut co: Coroutine<(), (), u32, _> = Coroutine::with_stack(s, |_, ()| black_box(1));
            black_box(co.resume(()));
            stack = Some(co.into_stack());
        })
    });
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("green_100k", |b| {
        b.iter(|| {
            let gts: Vec<_> = (0..100_000).map(|i| green::spawn(move || black_box(i))).collect();
            for gt in gts {
                gt.join().unwrap();
            }
        })
    });
    g.finish();
}

/// A small deterministic generator for sleep lengths.
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % 11
    }
}

fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers");
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("green_10k_x10", |b| {
        b.iter(|| {
            let gts: Vec<_> = (0..10_000u64)
                .map(|i| {
                    green::spawn(move || {
                        let mut rng = Lcg(i);
                        for _ in 0..10 {
                            green::sleep(Duration::from_millis(rng.next_ms()));
                        }
                    })
                })
                .collect();
            for gt in gts {
                gt.join().unwrap();
            }
        })
    });
    g.finish();
}

fn imap(c: &mut Criterion) {
    let mut g = c.benchmark_group("imap");
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("green_pool200", |b| {
        let pool = green::GreenPool::new(200);
        b.iter(|| {
            let n: u64 = pool.imap(|x: u64| x + 1, 0..100_000u64).map(Result::unwrap).sum();
            black_box(n)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = switch, spawn_wait, timers, imap
}
criterion_main!(benches);
