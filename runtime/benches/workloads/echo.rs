//! The loopback echo workloads shared by the runtime's echo bench and `bench/compare`: 100
//! connections doing 64-byte round trips against a server in the same process, on green and on
//! its ceiling, a plain single-threaded mio loop that reads until `WouldBlock` (DESIGN §7).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use mio::net::{TcpListener as MioListener, TcpStream as MioStream};
use mio::{Events, Interest, Poll, Token};

/// Concurrent client connections.
pub const CONNS: usize = 100;
/// Bytes per message.
pub const MSG: usize = 64;

/// A green echo server (an accept loop and a greenthread per connection) and its connected clients.
pub struct GreenEcho {
    clients: Vec<Rc<green::net::TcpStream>>,
}

impl GreenEcho {
    /// Starts the server on an OS-chosen loopback port and connects [`CONNS`] clients.
    pub fn new() -> GreenEcho {
        let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        green::spawn_n(move || loop {
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
        let clients = (0..CONNS)
            .map(|_| {
                let s = green::net::TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                Rc::new(s)
            })
            .collect();
        GreenEcho { clients }
    }

    /// Every client does `per` round trips, each in its own greenthread; returns when all are done.
    pub fn run(&self, per: u64) {
        let gts: Vec<_> = self
            .clients
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
    }
}

/// The ceiling: one mio loop serving both ends of every connection, reading until `WouldBlock`.
pub struct MioEcho {
    poll: Poll,
    events: Events,
    servers: Vec<MioStream>,
    clients: Vec<MioStream>,
}

impl MioEcho {
    /// Binds an OS-chosen loopback port and connects [`CONNS`] clients, registered for reading.
    pub fn new() -> MioEcho {
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

    /// Every client does `per` round trips; returns when all are done.
    pub fn run(&mut self, per: u64) {
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
