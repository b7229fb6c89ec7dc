//! rustls over green sockets, unchanged (`StreamOwned` on a green `TcpStream`): a TLS echo
//! exchange survives short reads and writes, `EINTR` and spurious readiness byte for byte; a
//! reset ends a session with an error, never with wrong data or a hang.

use std::io::{Read, Write};

use green_harness::{Fault, Harness, Search};
use green_protocols::tls;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A self-signed certificate for "localhost" and its key.
fn identity() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    (ck.cert.der().clone(), key)
}

/// Sends `len` bytes through a TLS echo server per client and reads them back.
fn scenario(clients: usize, len: usize) -> Vec<Result<(), String>> {
    let (cert, key) = identity();
    let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tls::server_config(cert.clone(), key);
    green::Builder::new().name("tls-server").spawn_n(move || {
        let _ = tls::serve_echo(listener, server);
    });
    let client = tls::client_config(cert);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let client = client.clone();
            green::spawn(move || -> Result<(), String> {
                let mut s = tls::connect(addr, "localhost", client).map_err(|e| e.to_string())?;
                let data: Vec<u8> = (0..len).map(|i| (i * 13 + c) as u8).collect();
                let mut back = vec![0u8; len];
                // Write in chunks and read each chunk's echo, so neither side's buffers fill up.
                for (chunk, echo) in data.chunks(8 * 1024).zip(back.chunks_mut(8 * 1024)) {
                    s.write_all(chunk).map_err(|e| e.to_string())?;
                    s.flush().map_err(|e| e.to_string())?;
                    s.read_exact(echo).map_err(|e| e.to_string())?;
                }
                assert!(back == data, "client {c}: the echo differs from what was sent");
                s.conn.send_close_notify();
                let _ = s.flush();
                Ok(())
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn a_tls_echo_survives_short_io_eintr_and_spurious_readiness() {
    let mut injected = 0;
    for seed in 0..6 {
        let report = Harness::new()
            .seed(seed)
            .density(0.3)
            .shuffle(true)
            .faults(&[Fault::Short, Fault::Eintr, Fault::WouldBlock, Fault::Spurious, Fault::Delayed])
            .fail_on_leaks(false)
            .run(|| {
                for (c, r) in scenario(3, 100_000).into_iter().enumerate() {
                    assert_eq!(r, Ok(()), "client {c} (seed {seed})");
                }
            });
        // I/O faults only (the log also holds scheduling decisions).
        let faults = report
            .faults
            .iter()
            .filter(|f| {
                matches!(
                    f.what,
                    green_harness::Perturbation::Io { .. }
                        | green_harness::Perturbation::SpuriousReadiness
                        | green_harness::Perturbation::DelayedReadiness
                )
            })
            .count();
        assert!(faults >= 20, "seed {seed}: only {faults} faults hit the sessions");
        injected += faults;
    }
    println!("{injected} faults injected over 6 runs, every byte intact");
}

static COMPLETED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static RESET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn a_search_over_resets_never_sees_wrong_data_or_a_hang() {
    let x =
        Harness::new().faults(&[Fault::Reset, Fault::Short]).fail_on_leaks(false).try_explore(Search::Runs(48), || {
            let results = scenario(2, 20_000);
            let ok = results.iter().filter(|r| r.is_ok()).count();
            COMPLETED.fetch_add(ok, std::sync::atomic::Ordering::Relaxed);
            RESET.fetch_add(results.len() - ok, std::sync::atomic::Ordering::Relaxed);
        });
    assert!(x.first_failure().is_none(), "{}", x.first_failure().unwrap());
    let (ok, reset) =
        (COMPLETED.load(std::sync::atomic::Ordering::Relaxed), RESET.load(std::sync::atomic::Ordering::Relaxed));
    println!("{} runs: {ok} sessions completed, {reset} ended by a reset", x.runs);
    assert!(ok > 0 && reset > 0, "the search saw both outcomes ({ok} completed, {reset} reset)");
}
