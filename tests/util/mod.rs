//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod signal;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// An ordered log that greenthreads append to; cheap to clone.
#[derive(Clone, Default)]
pub struct Log<T: Clone = String>(Rc<RefCell<Vec<T>>>);

impl<T: Clone> Log<T> {
    pub fn new() -> Self {
        Log(Rc::new(RefCell::new(Vec::new())))
    }
    pub fn push(&self, v: impl Into<T>) {
        self.0.borrow_mut().push(v.into());
    }
    pub fn get(&self) -> Vec<T> {
        self.0.borrow().clone()
    }
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }
}

/// Counts how many of its values were dropped.
#[derive(Clone, Default)]
pub struct DropCounter(Rc<Cell<usize>>);

/// One value counted by a [`DropCounter`].
pub struct Counted(Rc<Cell<usize>>);

impl DropCounter {
    pub fn new() -> Self {
        DropCounter(Rc::new(Cell::new(0)))
    }
    pub fn token(&self) -> Counted {
        Counted(self.0.clone())
    }
    pub fn dropped(&self) -> usize {
        self.0.get()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Runs `f` and returns its value and the wall time it took.
pub fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let t0 = Instant::now();
    let r = f();
    (r, t0.elapsed())
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Yields once (`sleep(0)`).
pub fn yield_now() {
    green::sleep(Duration::ZERO);
}

/// Runs `f` on a fresh OS thread (so it gets a fresh hub) and returns its result, re-raising its
/// panic. Tests that inspect hub-wide state (ids, timer counts) use it to start from zero.
pub fn on_fresh_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    match std::thread::spawn(f).join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Catches a panic in `f` and returns its message.
pub fn panic_message_of(f: impl FnOnce()) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    if let Some(s) = err.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = err.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic>".into()
    }
}

/// A small deterministic pseudo-random generator (xorshift64*), for ports of eventlet tests that
/// use `random.Random(0)`: same seed, same sequence, on every run.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // xorshift needs a non-zero state.
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[0, 1)`, like Python's `random.random()`.
    pub fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A shared [`Rng`] for greenthreads of one test (eventlet's module-level `r = random.Random(0)`).
#[derive(Clone)]
pub struct SharedRng(Rc<RefCell<Rng>>);

impl SharedRng {
    pub fn new(seed: u64) -> Self {
        SharedRng(Rc::new(RefCell::new(Rng::new(seed))))
    }
    pub fn random(&self) -> f64 {
        self.0.borrow_mut().random()
    }
}

/// Runs the `#[ignore]`d test `name` (a full path such as `unwinding::kill_child`) of this test
/// binary in a child process with `GREEN_CHILD=name` set, for cases that may abort, fork or end
/// threads; returns its exit status, stdout and stderr. The child test returns at once unless
/// [`is_child`] says it was started this way.
pub fn run_child(name: &str) -> (std::process::ExitStatus, String, String) {
    run_child_with(name, &[])
}

/// [`run_child`] with extra environment variables.
pub fn run_child_with(name: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--test-threads=1", "--nocapture"])
        .env("GREEN_CHILD", name)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// True in a child started by [`run_child`] for test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var("GREEN_CHILD").is_ok_and(|v| v == name)
}
