//! tungstenite's WebSocket server and client, unchanged, on green sockets under green-harness:
//! every message comes back byte for byte through short reads and writes, `EINTR`, spurious and
//! delayed readiness; a reset ends a session with an error, never with wrong data or a hang.

use green_harness::{Fault, Harness, Search};
use green_protocols::ws;
use tungstenite::Message;

/// Messages of every size class: tiny, one frame, several frames, larger than the socket buffer.
fn payloads(client: usize) -> Vec<Vec<u8>> {
    [1usize, 125, 126, 4_000, 65_536, 200_000]
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|b| (b * 31 + i * 7 + client) as u8).collect())
        .collect()
}

/// Runs `clients` WebSocket clients against a fresh echo server; each returns `Err` if its
/// session failed (a reset), `Ok` once every echo matched.
fn scenario(clients: usize) -> Vec<Result<(), String>> {
    let listener = green::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    green::Builder::new().name("ws-server").spawn_n(move || {
        let _ = ws::serve_echo(listener);
    });
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            green::spawn(move || -> Result<(), String> {
                let mut ws = ws::connect(addr).map_err(|e| e.to_string())?;
                for (i, p) in payloads(c).into_iter().enumerate() {
                    let msg = if i % 2 == 0 { Message::binary(p.clone()) } else { Message::text(hex(&p)) };
                    ws.send(msg.clone()).map_err(|e| e.to_string())?;
                    let back = ws.read().map_err(|e| e.to_string())?;
                    assert_eq!(back, msg, "client {c}: message {i} came back different");
                }
                ws.close(None).map_err(|e| e.to_string())?;
                // Read until the server's close frame completes the closing handshake.
                loop {
                    match ws.read() {
                        Ok(_) => {}
                        Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
                        Err(e) => return Err(e.to_string()),
                    }
                }
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().take(512).map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_message_comes_back_through_short_io_eintr_and_spurious_readiness() {
    let mut injected = 0;
    for seed in 0..8 {
        let report = Harness::new()
            .seed(seed)
            .density(0.3)
            .shuffle(true)
            .faults(&[Fault::Short, Fault::Eintr, Fault::WouldBlock, Fault::Spurious, Fault::Delayed])
            .fail_on_leaks(false) // the server runs for ever; teardown unwinds it
            .run(|| {
                for (c, r) in scenario(4).into_iter().enumerate() {
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
    println!("{injected} faults injected over 8 runs, every message intact");
}

static COMPLETED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static RESET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn a_search_over_resets_never_sees_wrong_data_or_a_hang() {
    // A reset may end any session (an error is fine); a wrong echo or a hang fails the run.
    let x = Harness::new().faults(&[Fault::Reset, Fault::Short, Fault::Spurious]).fail_on_leaks(false).try_explore(
        Search::Runs(64),
        || {
            let results = scenario(2);
            let ok = results.iter().filter(|r| r.is_ok()).count();
            COMPLETED.fetch_add(ok, std::sync::atomic::Ordering::Relaxed);
            RESET.fetch_add(results.len() - ok, std::sync::atomic::Ordering::Relaxed);
        },
    );
    assert!(x.first_failure().is_none(), "{}", x.first_failure().unwrap());
    let (ok, reset) =
        (COMPLETED.load(std::sync::atomic::Ordering::Relaxed), RESET.load(std::sync::atomic::Ordering::Relaxed));
    println!("{} runs: {ok} sessions completed, {reset} ended by a reset", x.runs);
    assert!(ok > 0 && reset > 0, "the search saw both outcomes ({ok} completed, {reset} reset)");
}
