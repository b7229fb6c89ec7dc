//! A connected loopback TCP pair for the kernels (both ends in one hub, so runs replay exactly).

use green::net::{TcpListener, TcpStream};

/// Two connected green TCP streams.
pub(crate) fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (c, s)
}
