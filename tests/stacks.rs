//! Stacks: pooled and reused, guard-paged, and enough of them for 100k live greenthreads.

use std::time::Duration;

use crate::util::*;

#[test]
fn stacks_are_reused_after_greenthreads_finish() {
    on_fresh_thread(|| {
        green::spawn(|| ()).wait().unwrap();
        let warm = green::stack_pool_stats().free;
        assert!(warm >= 1);
        for _ in 0..1000 {
            green::spawn(|| ()).wait().unwrap();
        }
        // One stack in flight at a time: the pool neither grows nor shrinks.
        assert_eq!(green::stack_pool_stats().free, warm);
    });
}

#[test]
fn a_burst_keeps_its_stacks_warm_until_the_hub_idles_after_the_trim_delay() {
    on_fresh_thread(|| {
        const N: usize = 3000;
        let burst = || {
            let gts: Vec<_> = (0..N).map(|_| green::spawn(|| green::sleep(Duration::ZERO))).collect();
            gts.into_iter().for_each(|g| g.join().unwrap());
        };
        burst();
        let after = green::stack_pool_stats();
        assert!(after.free >= N);
        // Right after the burst every stack that ran still holds its memory...
        let touched = after.free - after.released;
        assert!(touched >= N, "{after:?}");
        // ...and a second burst at once reuses them without releasing any.
        burst();
        assert_eq!(green::stack_pool_stats().released, after.released);
        // Idle past the delay: the next idle moment releases the cold excess, keeping the hot ones.
        green::sleep(Duration::from_millis(1100));
        green::sleep(Duration::from_millis(10));
        let trimmed = green::stack_pool_stats();
        assert_eq!(trimmed.free, after.free);
        assert_eq!(trimmed.free - trimmed.released, 1024, "{trimmed:?}");
    });
}

#[test]
fn a_burst_of_short_greenthreads_runs_on_one_warm_stack() {
    // Stacks are reserved at the spawn but taken when the greenthread starts, from the top of the
    // LIFO free list: each one finished before the next started, so they all ran on one stack.
    on_fresh_thread(|| {
        const N: usize = 10_000;
        let gts: Vec<_> = (0..N).map(|i| green::spawn(move || i)).collect();
        for (i, gt) in gts.into_iter().enumerate() {
            assert_eq!(gt.join().unwrap(), i);
        }
        let stats = green::stack_pool_stats();
        assert!(stats.free >= N, "every spawn reserved a stack: {stats:?}");
        assert_eq!(stats.free - stats.released, 1, "{stats:?}");
    });
}

#[test]
fn killing_unstarted_greenthreads_gives_their_stack_reservations_back() {
    on_fresh_thread(|| {
        const N: usize = 1000;
        let gts: Vec<_> = (0..N).map(|i| green::spawn(move || i)).collect();
        let mapped = green::stack_pool_stats().free;
        for gt in &gts {
            gt.kill();
        }
        assert!(gts.iter().all(|g| g.is_finished()));
        drop(gts);
        // The same number spawned again fits in the slabs already mapped.
        let again: Vec<_> = (0..N).map(|i| green::spawn(move || i)).collect();
        assert_eq!(green::stack_pool_stats().free, mapped);
        for (i, g) in again.into_iter().enumerate() {
            assert_eq!(g.join().unwrap(), i);
        }
    });
}

#[test]
fn a_guard_mechanism_is_in_place() {
    green::spawn(|| ()).wait().unwrap();
    assert!(["madvise", "mprotect"].contains(&green::stack_guard_mode()));
}

#[test]
fn builder_stack_size_gives_room_for_a_big_frame() {
    let gt = green::Builder::new().stack_size(8 << 20).spawn(|| {
        let buf = std::hint::black_box([7u8; 1 << 20]);
        buf.iter().map(|&b| b as usize).sum::<usize>()
    });
    assert_eq!(gt.wait().unwrap(), 7 << 20);
}

#[test]
fn one_hundred_thousand_live_greenthreads() {
    // Past the ~32k limit of one mapping per guard page (vm.max_map_count = 65530).
    on_fresh_thread(|| {
        const N: usize = 100_000;
        let go: green::Event<()> = green::Event::new();
        let gts: Vec<_> = (0..N)
            .map(|i| {
                let go = go.clone();
                green::Builder::new().stack_size(16 * 1024).spawn(move || {
                    go.wait();
                    i
                })
            })
            .collect();
        yield_now(); // all of them start and park
        assert_eq!(go.waiting(), N);
        go.send(()).unwrap();
        let sum: usize = gts.into_iter().map(|g| g.join().unwrap()).sum();
        assert_eq!(sum, N * (N - 1) / 2);
        green::hub::shutdown();
    });
}

/// Child half of the guard-page tests: overflows a greenthread stack, the first one of a fresh slab
/// (`GREEN_OVERFLOW_CHILD=first`) or its last one (`=last`).
#[test]
#[ignore = "run as a child process by the guard-page tests"]
fn overflow_child() {
    let Some(which) = std::env::var_os("GREEN_OVERFLOW_CHILD") else {
        return;
    };
    /// Recurses, 4 KiB or more per level, until it is 38 KiB below `top`: past the end of a
    /// 32 KiB stack and its 4 KiB guard page, but short of the next stack's guard. Then it
    /// returns, so that a missing guard shows as a clean exit.
    fn deep(top: usize) -> u64 {
        let pad = std::hint::black_box([top as u64; 512]);
        if top - pad.as_ptr() as usize > 38 * 1024 {
            return pad[1];
        }
        deep(top) + pad[1]
    }
    let sized = || green::Builder::new().stack_size(32 * 1024);
    if which == "last" {
        // A fresh slab hands its slots out in address order as greenthreads start: fill all but
        // its last one with parked greenthreads, then overflow the stack of the last.
        let hold: green::Event<()> = green::Event::new();
        let mut holders = Vec::new();
        loop {
            let hold = hold.clone();
            holders.push(sized().spawn(move || hold.wait()));
            green::sleep(Duration::ZERO); // it starts, taking its stack, and parks
            if green::stack_pool_stats().free == 1 {
                break;
            }
        }
        assert!(holders.len() >= 2, "a slab holds more than two stacks");
    }
    let gt = sized().spawn(|| {
        let top = 0u8;
        deep(std::ptr::addr_of!(top) as usize)
    });
    let _ = gt.wait();
    // Without a guard the overflow ran into the stack below, a parked holder's: leave at once,
    // without running thread-local destructors (the hub's teardown would unwind the holder and
    // crash on the damage).
    // SAFETY: `_exit` ends the process; nothing runs after it.
    unsafe { libc::_exit(0) }
}

fn overflow_in_child(which: &str) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    std::process::Command::new(exe)
        .args(["--ignored", "--exact", "stacks::overflow_child", "--test-threads=1"])
        .env("GREEN_OVERFLOW_CHILD", which)
        .output()
        .unwrap()
}

#[test]
fn overflowing_a_stack_faults_on_the_guard_page() {
    use std::os::unix::process::ExitStatusExt;
    let out = overflow_in_child("first");
    // The guard page turns the overflow into SIGSEGV instead of silent corruption.
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "child status: {:?}", out.status);
}

/// Guards: a slab's guards are installed together (one `process_madvise` where the kernel allows
/// it); the last stack of the slab must be guarded as well as the first.
#[test]
fn overflowing_the_last_stack_of_a_slab_faults_on_its_guard_page() {
    use std::os::unix::process::ExitStatusExt;
    let out = overflow_in_child("last");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "child status: {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_hub_shutdown_gives_back_the_reservations_of_greenthreads_that_never_started() {
    on_fresh_thread(|| {
        let spawn_some = || (0..200).map(|i| green::spawn(move || i)).collect::<Vec<_>>();
        drop(spawn_some()); // never started
        let mapped = green::stack_pool_stats().free;
        green::hub::shutdown();
        for _ in 0..3 {
            drop(spawn_some());
            green::hub::shutdown();
        }
        assert_eq!(green::stack_pool_stats().free, mapped, "no new slab: the reservations came back");
    });
}

/// DESIGN §8: hitting the memory or mapping limit fails with a message naming the limit and
/// the way out (a child under a low `RLIMIT_AS`, so a slab of stacks cannot be mapped).
#[test]
fn a_stack_slab_past_the_memory_limit_fails_with_a_message_naming_it() {
    let (status, out, err) = run_child("stacks::mapping_limit_child");
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("mapping limit ok"), "{out}\n{err}");
}

#[test]
#[ignore = "run as a child process by a_stack_slab_past_the_memory_limit_fails_with_a_message_naming_it"]
fn mapping_limit_child() {
    if !is_child("stacks::mapping_limit_child") {
        return;
    }
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
    let limit = pages * 4096 + (1 << 30);
    let rl = libc::rlimit { rlim_cur: limit, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: a valid rlimit for this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) }, 0);
    // A slab holds 64 stacks: 64 of 64 MiB cannot be mapped under a 1 GiB margin.
    let msg = panic_message_of(|| {
        let gt = green::Builder::new().stack_size(64 << 20).spawn(|| 1);
        let _ = gt.wait();
    });
    assert!(msg.contains("cannot map a slab of 64 greenthread stacks"), "{msg}");
    assert!(msg.contains("memory or mapping limit"), "{msg}");
    assert!(msg.contains("lower the number of live greenthreads or their stack size"), "the way out: {msg}");
    println!("mapping limit ok");
}
