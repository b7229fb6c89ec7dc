//! Name resolution that does not block the hub.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `"host:port"` (or an `IP:port` literal) to its socket addresses, running the system's
/// resolver on a [`tpool`](crate::tpool) thread: the calling greenthread waits, the hub and the
/// other greenthreads run on. A literal address is returned at once without a thread.
///
/// Errors are the resolver's (kind `InvalidInput` for a string without a port, or a name that does
/// not resolve), or [`tpool::execute`](crate::tpool::execute)'s if the resolver panicked.
///
/// ```
/// let addrs = green::net::lookup_host("localhost:8080").unwrap();
/// assert!(addrs.iter().all(|a| a.port() == 8080 && a.ip().is_loopback()));
/// assert_eq!(green::net::lookup_host("127.0.0.1:1").unwrap(), ["127.0.0.1:1".parse().unwrap()]);
/// assert!(green::net::lookup_host("no port here").is_err());
/// ```
#[track_caller]
pub fn lookup_host(host: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let host = host.to_string();
    let resolved = crate::tpool::execute(move || host.to_socket_addrs().map(Iterator::collect::<Vec<_>>))
        .map_err(|e| io::Error::other(format!("green::net::lookup_host: the resolver failed: {e}")))?;
    resolved
}
