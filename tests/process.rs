//! Green pipes and child processes: stdio as green streams, waits that leave the hub running, a
//! child that exits early, large outputs on both pipes.

use std::cell::Cell;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use crate::util::*;

#[test]
fn waiting_for_a_child_leaves_the_hub_running() {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let ticker = green::spawn(move || loop {
        green::sleep(ms(10));
        t.set(t.get() + 1);
    });
    let mut child = green::process::spawn(Command::new("sleep").arg("0.3")).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(ticks.get() >= 5, "the hub ran {} ticks while the child slept 300 ms", ticks.get());
    ticker.kill();
}

#[test]
fn writing_to_a_child_that_exited_early_is_a_broken_pipe_not_a_hang() {
    let mut cmd = Command::new("true");
    cmd.stdin(Stdio::piped());
    let mut child = green::process::spawn(&mut cmd).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let status = {
        // Wait for the exit without closing our end of its stdin.
        let pid = child.id();
        assert!(pid > 0);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            green::sleep(ms(5));
        }
    };
    assert!(status.success());
    let err = loop {
        // The pipe buffer may take a first write; the reader is gone, so one fails soon.
        if let Err(e) = stdin.write_all(&[0u8; 65536]) {
            break e;
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
}

#[test]
fn large_stdout_and_stderr_are_read_together_without_a_deadlock() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2; exit 4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = green::process::spawn(&mut cmd).unwrap().wait_with_output().unwrap();
    assert_eq!((out.stdout.len(), out.stderr.len()), (300_000, 200_000));
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn a_killed_child_reports_the_signal() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = green::process::spawn(Command::new("sleep").arg("30")).unwrap();
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    child.kill().unwrap(); // already gone: not an error
}

#[test]
fn a_wait_cut_short_by_a_timeout_leaves_kill_and_wait_working_at_once() {
    // Regression: the wait used to hold the child's lock on a tpool thread until the child exited,
    // so after a timed-out wait `kill` blocked the hub for the child's whole life.
    let mut child = green::process::spawn(Command::new("sleep").arg("30")).unwrap();
    let r = green::with_timeout(ms(20), || child.wait());
    assert!(r.unwrap_err().is_timeout());
    assert!(child.try_wait().unwrap().is_none());
    let ((), took) = timed(|| child.kill().unwrap());
    assert!(took < Duration::from_secs(5), "kill waited {took:?}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().unwrap().signal(), Some(9));
}

#[test]
fn a_green_pipe_carries_a_megabyte_between_greenthreads_and_ends_with_eof() {
    let (mut w, mut r) = green::net::pipe().unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let d = data.clone();
    let writer = green::spawn(move || {
        for chunk in d.chunks(7000) {
            w.write_all(chunk).unwrap();
        }
        // `w` dropped here: end of input.
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    writer.wait().unwrap();
    assert_eq!(got, data);
}

#[test]
fn closing_a_pipe_wakes_its_reader_with_a_closed_error() {
    let (_w, r) = green::net::pipe().unwrap();
    let r = Rc::new(r);
    let r2 = r.clone();
    let reader = green::spawn(move || (&*r2).read(&mut [0u8; 4]).map_err(|e| e.kind()));
    yield_now();
    r.close();
    assert_eq!(reader.wait().unwrap(), Err(std::io::ErrorKind::NotConnected));
}

#[test]
fn fork_from_the_root_gives_the_child_a_fresh_hub_and_leaves_the_parents_alone() {
    // Forking the multi-threaded test process is done in a child process of its own.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "process::fork_child", "--test-threads=1", "--nocapture"])
        .env("GREEN_FORK_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("fork child ok"), "{stdout}");
}

/// Child half of `fork_from_the_root_gives_the_child_a_fresh_hub_and_leaves_the_parents_alone`.
#[test]
#[ignore = "run as a child process by fork_from_the_root_gives_the_child_a_fresh_hub_and_leaves_the_parents_alone"]
fn fork_child() {
    use green::process::Fork;
    if std::env::var_os("GREEN_FORK_CHILD").is_none() {
        return;
    }
    let parked = green::spawn(|| green::sleep(Duration::from_secs(3600)));
    green::tpool::execute(|| ()).unwrap(); // the parent's workers exist
    yield_now();
    assert_eq!(green::hub::greenthread_count(), 1);
    match green::process::fork().unwrap() {
        Fork::Child => {
            let ok = std::panic::catch_unwind(|| {
                // A fresh, empty hub: the parent's parked greenthread is not here.
                assert_eq!(green::hub::greenthread_count(), 0);
                assert_eq!(green::spawn(|| 6 * 7).wait().unwrap(), 42);
                green::sleep(ms(1));
                assert_eq!(green::tpool::execute(|| 5).unwrap(), 5); // on a thread of its own
            })
            .is_ok();
            // SAFETY: _exit ends the forked child at once, without running the parent's exit
            // handlers or thread-local destructors (the leaked hub must not be torn down).
            unsafe { libc::_exit(if ok { 0 } else { 3 }) };
        }
        Fork::Parent(pid) => {
            let mut status = 0;
            // SAFETY: waits for our own child; `status` is a valid out-parameter.
            let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
            assert_eq!(r, pid as libc::pid_t);
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status:#x}");
            assert_eq!(green::hub::greenthread_count(), 1, "the parent's hub is untouched");
            parked.kill();
            println!("fork child ok");
        }
    }
}

#[test]
fn fork_from_a_greenthread_or_hub_context_is_refused_with_the_way_out() {
    let e = green::spawn(|| green::process::fork().unwrap_err()).join().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("only the root may fork"), "{e}");
    let msg = Rc::new(std::cell::RefCell::new(String::new()));
    let m = msg.clone();
    green::hub::schedule_call_global(Duration::ZERO, move || {
        *m.borrow_mut() = green::process::fork().unwrap_err().to_string();
    });
    green::sleep(ms(1));
    assert!(msg.borrow().contains("hub context"), "{}", msg.borrow());
}
