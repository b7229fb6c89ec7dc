//! The `may` crate's runner for `bench/compare`, on one worker thread (`may::config().set_workers(1)`):
//! `bench-may <workload> [--min-seconds S]` prints `value=<float>` (see `bench/common/runner.rs`).
//!
//! Each batch runs inside one coroutine so that every switch, spawn and join is coroutine to
//! coroutine on the worker, as in green. may's equivalent of `sleep(0)` is
//! `coroutine::yield_now()`. Workloads: `switch`, `spawn_join`, `echo` (may cannot hold 100k live
//! coroutines on its default configuration, so it has no `spawn100k`).

use std::hint::black_box;
use std::io::{Read, Write};

use may::coroutine;
use may::go;
use may::net::{TcpListener, TcpStream};

#[path = "../../common/runner.rs"]
mod runner;

use runner::{rate, Clock};

/// Yields per switch batch, split between the two coroutines (as in `bench-green switch`).
const SWITCH_BATCH: u64 = 200_000;
/// Concurrent client connections and bytes per message (as in `runtime/benches/workloads/echo.rs`).
const CONNS: usize = 100;
const MSG: usize = 64;
/// Round trips per client per echo batch.
const ECHO_PER: u64 = 100;

/// Runs `f` in a coroutine on the worker and waits for it.
fn on_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    go!(f).join().unwrap()
}

fn switch() {
    on_worker(|| {
        let half = SWITCH_BATCH / 2;
        let a = go!(move || (0..half).for_each(|_| coroutine::yield_now()));
        let b = go!(move || (0..half).for_each(|_| coroutine::yield_now()));
        a.join().unwrap();
        b.join().unwrap();
    })
}

fn spawn_join(n: u64) {
    on_worker(move || {
        for i in 0..n {
            black_box(go!(move || black_box(i)).join().unwrap());
        }
    })
}

/// Starts the echo server (an accept loop and a coroutine per connection) and connects the clients.
fn echo_setup() -> Vec<TcpStream> {
    on_worker(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        go!(move || {
            while let Ok((mut conn, _)) = listener.accept() {
                conn.set_nodelay(true).unwrap();
                go!(move || {
                    let mut buf = [0u8; 4096];
                    loop {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => conn.write_all(&buf[..n]).unwrap(),
                        }
                    }
                });
            }
        });
        (0..CONNS)
            .map(|_| {
                let s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                s
            })
            .collect()
    })
}

/// Every client does `per` round trips in its own coroutine; hands the clients back when all are done.
fn echo_run(clients: Vec<TcpStream>, per: u64) -> Vec<TcpStream> {
    on_worker(move || {
        let cos: Vec<_> = clients
            .into_iter()
            .map(|mut s| {
                go!(move || {
                    let msg = [7u8; MSG];
                    let mut back = [0u8; MSG];
                    for _ in 0..per {
                        s.write_all(&msg).unwrap();
                        s.read_exact(&mut back).unwrap();
                    }
                    s
                })
            })
            .collect();
        cos.into_iter().map(|co| co.join().unwrap()).collect()
    })
}

fn main() {
    let args = runner::args();
    may::config().set_workers(1);
    let min = args.min_seconds;
    let value = match args.workload.as_str() {
        "switch" => rate(min, Clock::Wall, || {
            switch();
            SWITCH_BATCH
        }),
        "spawn_join" => rate(min, Clock::Wall, || {
            spawn_join(20_000);
            20_000
        }),
        "echo" => {
            let mut clients = Some(echo_setup());
            rate(min, Clock::Wall, || {
                clients = Some(echo_run(clients.take().unwrap(), ECHO_PER));
                ECHO_PER * CONNS as u64
            })
        }
        other => runner::unknown(other, &["switch", "spawn_join", "echo"]),
    };
    runner::report(value);
}
