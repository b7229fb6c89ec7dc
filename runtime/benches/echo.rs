//! Loopback echo: 100 connections doing 64-byte round trips, green against a plain
//! single-threaded mio loop that reads until `WouldBlock` (its ceiling, DESIGN §7).
//!
//! Run with `cargo bench -p green --bench echo`; one op = one 64-byte round trip.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mio::net::{TcpListener as MioListener, TcpStream as MioStream};
use mio::{Events, Interest, Poll, Token};

const CONNS: usize = 100;
const MSG: usize = 64;

fn green_echo(c: &mut Criterion) {
    let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let _server = green::spawn(move || loop {
        let Ok((mut conn, _)) = listener.accept() else { return };
        conn.set_nodelay(true).unwrap();
        green::spawn_n(move || {
            let mut buf = [0u8; 4096];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => conn.write_all(&buf[..n]).unwrap(),
                }
            }
        });
    });
    let clients: Vec<std::rc::Rc<green::net::TcpStream>> = (0..CONNS)
        .map(|_| {
            let s = green::net::TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            std::rc::Rc::new(s)
        })
        .collect();
    let mut g = c.benchmark_group("echo");
    g.throughput(Throughput::Elements(1));
    g.bench_function("green_100conn_64B", |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(CONNS as u64);
            let t0 = Instant::now();
            let gts: Vec<_> = clients
                .iter()
                .map(|s| {
                    let s = s.clone();
                    green::spawn(move || {
                        let msg = [7u8; MSG];
                        let mut back = [0u8; MSG];
                        for _ in 0..per {
                            (&*s).write_all(&msg).unwrap();
                            (&*s).read_exact(&mut back).unwrap();
                        }
                    })
                })
                .collect();
            for gt in gts {
                gt.join().unwrap();
            }
            t0.elapsed().mul_f64(iters as f64 / (per * CONNS as u64) as f64)
        })
    });
    g.finish();
}

/// The ceiling: one mio loop serving both ends of every connection, reading until `WouldBlock`.
struct MioEcho {
    poll: Poll,
    events: Events,
    servers: Vec<MioStream>,
    clients: Vec<MioStream>,
}

impl MioEcho {
    fn new() -> MioEcho {
        let poll = Poll::new().unwrap();
        let listener = MioListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..CONNS {
            let std_c = std::net::TcpStream::connect(addr).unwrap();
            std_c.set_nodelay(true).unwrap();
            std_c.set_nonblocking(true).unwrap();
            clients.push(MioStream::from_std(std_c));
            let (s, _) = loop {
                match listener.accept() {
                    Ok(x) => break x,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_micros(50)),
                    Err(e) => panic!("{e}"),
                }
            };
            s.set_nodelay(true).unwrap();
            servers.push(s);
        }
        for (i, s) in servers.iter_mut().enumerate() {
            poll.registry().register(s, Token(i), Interest::READABLE).unwrap();
        }
        for (i, c) in clients.iter_mut().enumerate() {
            poll.registry().register(c, Token(CONNS + i), Interest::READABLE).unwrap();
        }
        MioEcho { poll, events: Events::with_capacity(1024), servers, clients }
    }

    fn run(&mut self, per: u64) {
        let msg = [7u8; MSG];
        let mut left: Vec<u64> = vec![per; CONNS];
        let mut got: HashMap<usize, usize> = HashMap::new();
        let mut done = 0;
        for c in &mut self.clients {
            c.write_all(&msg).unwrap();
        }
        let mut buf = [0u8; 4096];
        while done < CONNS {
            self.poll.poll(&mut self.events, None).unwrap();
            for ev in self.events.iter() {
                let t = ev.token().0;
                if t < CONNS {
                    let s = &mut self.servers[t];
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => s.write_all(&buf[..n]).unwrap(),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                } else {
                    let i = t - CONNS;
                    let c = &mut self.clients[i];
                    loop {
                        match c.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => {
                                let g = got.entry(i).or_insert(0);
                                *g += n;
                                while *g >= MSG {
                                    *g -= MSG;
                                    left[i] -= 1;
                                    if left[i] == 0 {
                                        done += 1;
                                    } else {
                                        c.write_all(&msg).unwrap();
                                    }
                                }
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            }
        }
    }
}

fn mio_echo(c: &mut Criterion) {
    let mut m = MioEcho::new();
    let mut g = c.benchmark_group("echo");
    g.throughput(Throughput::Elements(1));
    g.bench_function("plain_mio_100conn_64B", |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(CONNS as u64);
            let t0 = Instant::now();
            m.run(per);
            t0.elapsed().mul_f64(iters as f64 / (per * CONNS as u64) as f64)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = green_echo, mio_echo
}
criterion_main!(benches);
