//! A TLS echo server and client on rustls's blocking `StreamOwned` (the `ring` provider).

use std::io::{self, Read, Write};
use std::sync::Arc;

use green::net::{TcpListener, TcpStream};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, StreamOwned};

/// The `ring` provider: it builds with a C compiler alone (aws-lc-rs, rustls's default, needs
/// cmake). rustls deprecates it for lacking post-quantum key exchange, which this example does
/// not need.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration for one certificate chain and key.
pub fn server_config(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("a valid certificate and key");
    Arc::new(config)
}

/// A client configuration trusting exactly `ca`.
pub fn client_config(ca: CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca).expect("a valid root certificate");
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Accepts connections for ever, echoing each one's bytes back over TLS until its client closes
/// (a greenthread per connection); returns when accepting fails.
pub fn serve_echo(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept()?;
        let config = config.clone();
        green::spawn(move || {
            let _ = echo(stream, config);
        });
    }
}

fn echo(stream: TcpStream, config: Arc<ServerConfig>) -> io::Result<()> {
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, stream);
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        tls.write_all(&buf[..n])?;
        tls.flush()?;
    }
}

/// Connects a TLS client for `name` to `addr`.
pub fn connect(
    addr: std::net::SocketAddr,
    name: &str,
    config: Arc<ClientConfig>,
) -> io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let stream = TcpStream::connect(addr)?;
    let name = ServerName::try_from(name.to_string()).map_err(io::Error::other)?;
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    Ok(StreamOwned::new(conn, stream))
}
