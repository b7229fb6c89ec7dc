//! A planted bug that only two faults together reveal, found by proptest over fault tapes.
//!
//! The server reads a 32-byte request with at most two `read` calls: it copes with one short read
//! but not with two. Only a tape whose draws make two consecutive server reads short fails. The
//! example runs proptest over tapes, checks that the shrunk tape has exactly the two active faults
//! the bug needs and that replaying it fails the same way, and prints the shrunk tape and the
//! replay line.
//!
//! Run with `cargo run -p green-harness --example planted_bug`.

use std::io::{Read, Write};
use std::process::ExitCode;

use green_harness::proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use green_harness::{strategy, Fault, Harness, Tape};

const REQUEST: usize = 32;

/// The buggy server: two reads at most.
fn serve(mut conn: green::net::TcpStream) -> Result<(), String> {
    let mut buf = [0u8; REQUEST];
    let mut got = 0;
    for _ in 0..2 {
        got += conn.read(&mut buf[got..]).map_err(|e| e.to_string())?;
        if got == REQUEST {
            break;
        }
    }
    if got < REQUEST {
        return Err(format!("incomplete request: {got} of {REQUEST} bytes"));
    }
    conn.write_all(b"ok").map_err(|e| e.to_string())
}

/// One client request against the server, over real loopback sockets.
fn scenario() -> Result<(), String> {
    let listener = green::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = green::spawn(move || {
        let (conn, _) = listener.accept().map_err(|e| e.to_string())?;
        serve(conn)
    });
    let mut client = green::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    client.write_all(&[7u8; REQUEST]).map_err(|e| e.to_string())?;
    let outcome = server.join().map_err(|e| e.to_string())?;
    let mut ack = [0u8; 2];
    if outcome.is_ok() {
        client.read_exact(&mut ack).map_err(|e| e.to_string())?;
    }
    outcome
}

fn harness(tape: Tape) -> Harness {
    Harness::new().tape(tape).faults(&[Fault::Short]).fail_on_leaks(false)
}

fn main() -> ExitCode {
    let config = Config { cases: 512, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&strategy::tapes(48), |tape| {
        let (_, r) = harness(tape).try_run(scenario);
        let outcome = r.map_err(|_| green_harness::proptest::test_runner::TestCaseError::fail("scenario panicked"))?;
        green_harness::proptest::prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
        Ok(())
    });
    let shrunk = match result {
        Err(TestError::Fail(_, tape)) => tape,
        Err(e) => {
            eprintln!("proptest stopped: {e}");
            return ExitCode::FAILURE;
        }
        Ok(()) => {
            eprintln!("no tape revealed the planted bug");
            return ExitCode::FAILURE;
        }
    };
    let h = harness(shrunk.clone());
    println!("shrunk tape: {} active_faults={}", shrunk.to_hex(), shrunk.active());
    println!("{}", h.replay_line(&shrunk).replace("cargo test", "cargo test -p green-harness --example planted_bug"));
    // Replaying the shrunk tape fails the same way.
    let (report, first) = h.try_run(scenario);
    let (_, second) = harness(shrunk.clone()).try_run(scenario);
    let (first, second) = (first.ok(), second.ok());
    let same = matches!((&first, &second), (Some(Err(a)), Some(Err(b))) if a == b);
    if shrunk.active() != 2 || !same {
        eprintln!(
            "expected exactly 2 active faults and the same failure on replay: active={} first={first:?} second={second:?} faults={:?}",
            shrunk.active(),
            report.faults
        );
        return ExitCode::FAILURE;
    }
    eprintln!("the planted bug: {:?}; faults injected: {:?}", first.and_then(|r| r.err()), report.faults);
    ExitCode::SUCCESS
}

#[test]
fn finds_and_shrinks_the_planted_bug() {
    assert_eq!(main(), ExitCode::SUCCESS);
}
