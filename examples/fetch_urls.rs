//! The seed's scenario: a `GreenPool` fetching URLs from a local HTTP/1.1 server, with the hub's
//! debug dumps on.
//!
//! A small HTTP server runs in greenthreads on 127.0.0.1 (an OS-chosen port). It serves
//! `/bytes/<n>` (a body of `n` bytes) and `/slow/<ms>/<n>` (the same after `ms` milliseconds).
//! `GreenPool::new(200).imap(fetch, urls)` fetches 60 URLs with a green HTTP client whose
//! responses are parsed by `httparse`. One fetch, while most are in flight, prints
//! `format_hub_timers()` and `format_hub_listeners()` (timer and listener stacks are on). Every
//! URL prints `got body from <url> of length <n>`; any wrong length makes the program exit 1. The
//! blocking detector watches the run (100 ms budget) and its reports are printed at the end.
//!
//! Run with `cargo run --release --example fetch_urls`.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use green::net::{TcpListener, TcpStream};

/// The body the server sends for `path`, and its length, or `None` for an unknown path.
fn route(path: &str) -> Option<(u64, usize)> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["bytes", n] => Some((0, n.parse().ok()?)),
        ["slow", ms, n] => Some((ms.parse().ok()?, n.parse().ok()?)),
        _ => None,
    }
}

fn body_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Reads one request, answers it, closes.
fn serve(mut conn: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let path = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(_) = req.parse(&buf).map_err(std::io::Error::other)? {
            break req.path.unwrap_or("/").to_string();
        }
    };
    match route(&path) {
        Some((delay_ms, n)) => {
            if delay_ms > 0 {
                green::sleep(Duration::from_millis(delay_ms));
            }
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n");
            conn.write_all(head.as_bytes())?;
            conn.write_all(&body_of(n))?;
        }
        None => conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?,
    }
    Ok(())
}

fn server(listener: TcpListener) {
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                green::Builder::new().name("http-conn").spawn_n(move || {
                    if let Err(e) = serve(conn) {
                        eprintln!("server: {e}");
                    }
                });
            }
            Err(e) => {
                eprintln!("server: accept failed: {e}");
                return;
            }
        }
    }
}

/// Fetches `url` (`http://ip:port/path`) and returns its body.
fn get(url: &str) -> std::io::Result<Vec<u8>> {
    let rest = url.strip_prefix("http://").ok_or_else(|| std::io::Error::other("only http:// URLs"))?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let addr: SocketAddr = host.parse().map_err(std::io::Error::other)?;
    let mut conn = TcpStream::connect(addr)?;
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed in headers"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = resp.parse(&buf).map_err(std::io::Error::other)? {
            if resp.code != Some(200) {
                return Err(std::io::Error::other(format!("HTTP status {:?}", resp.code)));
            }
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .ok_or_else(|| std::io::Error::other("no Content-Length"))?;
            let mut body = buf.split_off(head_len);
            if body.len() < len {
                let start = body.len();
                body.resize(len, 0);
                conn.read_exact(&mut body[start..])?;
            }
            body.truncate(len);
            return Ok(body);
        }
    }
}

fn main() -> ExitCode {
    green::debug::hub_timer_stacks(true);
    green::debug::hub_listener_stacks(true);
    // Any greenthread that holds the hub for more than 100 ms is reported (collect mode: reports
    // only; `hub_blocking_detection` would also fail the offender, as eventlet's does).
    let collect = green_detectors::BlockingConfig {
        resolution: Duration::from_millis(100),
        mode: green_detectors::Mode::Collect,
    };
    green_detectors::enable(collect).expect("valid resolution");

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let server_gt = green::Builder::new().name("http-server").spawn(move || server(listener));

    let urls: Vec<String> = (0..60)
        .map(|i| match i % 4 {
            0 => format!("http://{addr}/bytes/{}", i * 10),
            1 => format!("http://{addr}/bytes/{}", 1000 + i * 997),
            2 => format!("http://{addr}/slow/{}/{}", 5 + i % 20, 100 + i),
            _ => format!("http://{addr}/bytes/{}", 64 * 1024 + i),
        })
        .collect();
    let expected: Vec<usize> =
        urls.iter().map(|u| route(u.rsplit_once(&addr.to_string()).unwrap().1).unwrap().1).collect();

    let pool = green::GreenPool::new(200);
    let results: Vec<_> = pool
        .imap(
            |(i, url): (usize, String)| {
                if i == 30 {
                    // Most fetches are in flight now: show what the hub is waiting for.
                    println!("--- hub state seen from inside fetch #{i} ---");
                    println!("{}", green::debug::format_hub_timers());
                    println!("{}", green::debug::format_hub_listeners());
                    println!("--- end of hub state ---");
                }
                let body = get(&url);
                (url, body)
            },
            urls.into_iter().enumerate(),
        )
        .collect();

    let mut bad = 0;
    for (r, want) in results.into_iter().zip(expected) {
        match r {
            Ok((url, Ok(body))) => {
                println!("got body from {url} of length {}", body.len());
                if body.len() != want || body != body_of(want) {
                    eprintln!("MISMATCH for {url}: expected {want} bytes");
                    bad += 1;
                }
            }
            Ok((url, Err(e))) => {
                eprintln!("FAILED {url}: {e}");
                bad += 1;
            }
            Err(e) => {
                eprintln!("FAILED: the fetch greenthread ended with {e}");
                bad += 1;
            }
        }
    }
    server_gt.kill();
    let blocking = green_detectors::take_reports();
    for report in &blocking {
        eprintln!("{report}");
    }
    println!("blocking reports: {}", blocking.len());
    green_detectors::disable();
    green::hub::shutdown();
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("{bad} URL(s) failed");
        ExitCode::FAILURE
    }
}
