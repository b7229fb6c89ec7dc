//! A line-based key-value server built on green: what a downstream crate looks like.
//!
//! Protocol, one command per line: `SET <key> <value>` → `OK`, `GET <key>` → `VALUE <value>` or
//! `NOT_FOUND`, `DEL <key>` → `OK` or `NOT_FOUND`. Connections are served by a `GreenPool` of
//! workers; the store is shared by all of them (greenthreads of one hub need no locks between
//! green calls).
#![deny(missing_docs)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::rc::Rc;

use green::net::{TcpListener, TcpStream};

/// The shared store.
#[derive(Clone, Default)]
pub struct Store {
    map: Rc<RefCell<HashMap<String, String>>>,
    /// A planted bug for the blocking-detector test: when set, `GET` "persists a metric" with a
    /// blocking sleep that stalls every connection on the hub.
    pub slow_metrics: Rc<Cell<bool>>,
}

impl Store {
    fn handle(&self, line: &str) -> String {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("SET"), Some(k), Some(v)) => {
                self.map.borrow_mut().insert(k.to_string(), v.to_string());
                "OK".into()
            }
            (Some("GET"), Some(k), None) => {
                if self.slow_metrics.get() {
                    std::thread::sleep(std::time::Duration::from_millis(150)); // the planted bug
                }
                match self.map.borrow().get(k) {
                    Some(v) => format!("VALUE {v}"),
                    None => "NOT_FOUND".into(),
                }
            }
            (Some("DEL"), Some(k), None) => {
                if self.map.borrow_mut().remove(k).is_some() {
                    "OK".into()
                } else {
                    "NOT_FOUND".into()
                }
            }
            _ => format!("ERROR bad command: {line}"),
        }
    }
}

/// Serves one connection until the client closes it.
pub fn serve_connection(conn: TcpStream, store: Store) -> io::Result<()> {
    let mut reader = BufReader::new(&conn);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let reply = store.handle(line.trim_end());
        (&conn).write_all(format!("{reply}\n").as_bytes())?;
    }
}

/// Accepts connections for ever, serving each in a pool of `workers` greenthreads.
pub fn serve(listener: TcpListener, store: Store, workers: usize) -> io::Result<()> {
    let pool = green::GreenPool::new(workers);
    loop {
        let (conn, _) = listener.accept()?;
        let store = store.clone();
        pool.spawn_n(move || {
            let _ = serve_connection(conn, store);
        });
    }
}

/// A client connection.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects to a server.
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        Ok(Client { reader: BufReader::new(TcpStream::connect(addr)?) })
    }

    fn call(&mut self, cmd: &str) -> io::Result<String> {
        self.reader.get_mut().write_all(format!("{cmd}\n").as_bytes())?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
        }
        Ok(line.trim_end().to_string())
    }

    /// `SET key value`.
    pub fn set(&mut self, key: &str, value: &str) -> io::Result<()> {
        match self.call(&format!("SET {key} {value}"))?.as_str() {
            "OK" => Ok(()),
            other => Err(io::Error::other(other.to_string())),
        }
    }

    /// `GET key`.
    pub fn get(&mut self, key: &str) -> io::Result<Option<String>> {
        let r = self.call(&format!("GET {key}"))?;
        match r.strip_prefix("VALUE ") {
            Some(v) => Ok(Some(v.to_string())),
            None if r == "NOT_FOUND" => Ok(None),
            None => Err(io::Error::other(r)),
        }
    }

    /// `DEL key`; whether it existed.
    pub fn del(&mut self, key: &str) -> io::Result<bool> {
        match self.call(&format!("DEL {key}"))?.as_str() {
            "OK" => Ok(true),
            "NOT_FOUND" => Ok(false),
            other => Err(io::Error::other(other.to_string())),
        }
    }
}
