//! A WebSocket echo server and client helpers on tungstenite's blocking API.

use std::io;

use green::net::{TcpListener, TcpStream};
use tungstenite::{Message, WebSocket};

/// Accepts connections for ever, echoing every text and binary message back on a greenthread
/// per connection; returns when accepting fails (the listener closed).
pub fn serve_echo(listener: TcpListener) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept()?;
        green::spawn(move || {
            let _ = echo(stream);
        });
    }
}

/// Echoes one connection's messages until the client closes it (or the connection fails).
pub fn echo(stream: TcpStream) -> Result<(), tungstenite::Error> {
    let mut ws = tungstenite::accept(stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => tungstenite::Error::Io(io::ErrorKind::WouldBlock.into()),
    })?;
    loop {
        match ws.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.send(m)?,
            // A close frame is answered by tungstenite; reading on completes the handshake.
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Connects a WebSocket client to `addr`.
pub fn connect(addr: std::net::SocketAddr) -> Result<WebSocket<TcpStream>, tungstenite::Error> {
    let stream = TcpStream::connect(addr)?;
    let url = format!("ws://{addr}/echo");
    match tungstenite::client(url.as_str(), stream) {
        Ok((ws, _response)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
        Err(tungstenite::HandshakeError::Interrupted(_)) => Err(io::Error::from(io::ErrorKind::WouldBlock).into()),
    }
}
