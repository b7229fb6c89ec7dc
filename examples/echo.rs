//! A green echo server and N green clients on loopback, every byte verified.
//!
//! Run with `cargo run --release --example echo [clients] [bytes-per-client]` (defaults: 100
//! clients of 64 KiB). Exits 1 if any byte came back wrong.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use green::net::{TcpListener, TcpStream};

fn pattern(client: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + client * 7) % 251) as u8).collect()
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let bytes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64 * 1024);

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local address");
    let server = green::Builder::new().name("echo-server").spawn(move || loop {
        let (mut conn, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return, // closed
            Err(e) => {
                eprintln!("accept: {e}");
                green::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        green::Builder::new().name("echo-conn").spawn_n(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    });

    let t0 = Instant::now();
    let pool = green::GreenPool::new(clients.max(1));
    let results: Vec<_> = pool
        .imap(
            move |c: usize| -> std::io::Result<bool> {
                let conn = TcpStream::connect(addr)?;
                let data = pattern(c, bytes);
                // Write from one greenthread, read from another (a cloned handle), so neither
                // side waits for the other's buffer to drain.
                let mut writer = conn.try_clone()?;
                let out = data.clone();
                let w = green::spawn(move || writer.write_all(&out));
                let mut back = vec![0u8; bytes];
                (&conn).read_exact(&mut back)?;
                w.join().map_err(std::io::Error::other)??;
                Ok(back == data)
            },
            0..clients,
        )
        .collect();
    let elapsed = t0.elapsed();
    let bad = results.iter().filter(|r| !matches!(r, Ok(Ok(true)))).count();
    for (i, r) in results.iter().enumerate() {
        if !matches!(r, Ok(Ok(true))) {
            eprintln!("client {i}: {r:?}");
        }
    }
    server.kill();
    println!(
        "{clients} clients echoed {bytes} bytes each in {elapsed:?} ({:.1} MiB/s); {bad} mismatches",
        (clients * bytes * 2) as f64 / elapsed.as_secs_f64() / (1 << 20) as f64
    );
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
