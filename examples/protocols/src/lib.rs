//! Sync protocol crates on green sockets, unchanged: a [tungstenite] WebSocket echo server and a
//! [rustls] TLS echo server, each a greenthread per connection over `green::net::TcpStream`
//! (which is `Read + Write` and blocks only its greenthread). The tests in `tests/` run them under
//! green-harness with short reads and writes, `EINTR`, spurious and delayed readiness and resets,
//! and check every byte, as a user of green would shake their own protocol code.
//!
//! ```no_run
//! let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! green::spawn(move || green_protocols::ws::serve_echo(listener));
//! ```

pub mod tls;
pub mod ws;
