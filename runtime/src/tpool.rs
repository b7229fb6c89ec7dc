//! `tpool`: run blocking work on a pool of OS threads while the hub keeps running.
//!
//! [`execute`] hands a closure to a process-wide pool of worker threads and green-waits for its
//! result: only the calling greenthread blocks; the others keep running. The result comes back
//! across threads through the hub's [`HubHandle`](crate::hub::HubHandle) (mio's `Waker`). A job in
//! flight counts as something that can still wake the hub, so waiting for it is never mistaken
//! for a deadlock, and under the harness's virtual clock a job in flight holds virtual time still
//! (no jump, no drift; the hub waits for it in real time; a job that waits for a greenthread's
//! timer cannot finish and is reported as a hang after the hang horizon); a job whose caller was
//! killed or timed out (abandoned) stops counting at once.
//!
//! The pool starts on first use with `GREEN_THREADPOOL_SIZE` threads (default 20; 0 runs every
//! job inline on the caller, blocking the hub, and says so once on stderr). A [`Timeout`](crate::Timeout) or kill interrupts
//! the green wait, not the OS thread: the job runs to its end and its result is dropped.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Error;
use crate::event::Event;
use crate::hub::{handle, hub, misuse_hub_context};

/// The environment variable that sets the pool's size (read once, at first use).
pub const SIZE_ENV: &str = "GREEN_THREADPOOL_SIZE";

/// Default number of worker threads.
pub const DEFAULT_SIZE: usize = 20;

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    tx: Mutex<Sender<Job>>,
    size: usize,
    /// The process whose threads the workers are: a forked child has none of them.
    pid: u32,
}

static POOL: OnceLock<Pool> = OnceLock::new();

thread_local! {
    /// Set on worker threads: `execute` there runs inline.
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
    /// Jobs of this hub in flight: id → the event the caller waits on.
    static PENDING: RefCell<HashMap<u64, Event<()>>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let size = match std::env::var(SIZE_ENV) {
            Ok(v) => v.trim().parse::<usize>().unwrap_or_else(|_| {
                panic!("green: invalid value for {SIZE_ENV}: {v:?}; expected a number of threads (0 runs jobs inline)")
            }),
            Err(_) => DEFAULT_SIZE,
        };
        if size == 0 {
            // Once per process, when the pool starts (eventlet's warning for its variable).
            eprintln!(
                "green: warning: zero threads in tpool ({SIZE_ENV}=0): every tpool::execute job runs on the \
                 calling thread and blocks its hub; set {SIZE_ENV} to a number of threads to run them off the hub"
            );
        }
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..size {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("green-tpool-{i}"))
                .spawn(move || worker(rx))
                .unwrap_or_else(|e| panic!("green: cannot start tpool worker thread {i}: {e}"));
        }
        Pool { tx: Mutex::new(tx), size, pid: std::process::id() }
    })
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>) {
    IN_WORKER.with(|w| w.set(true));
    loop {
        let job = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Number of worker threads (starting the pool if needed).
///
/// ```
/// assert!(green::tpool::size() <= 1024);
/// ```
pub fn size() -> usize {
    pool().size
}

/// Runs `f` on a worker thread and waits (greenly) for its result; a panic in `f` comes back as an
/// `Err` with [`is_panic`](Error::is_panic). Called on a worker thread, or with a pool of size 0,
/// `f` runs inline.
///
/// # Panics
///
/// In hub context (it blocks the caller).
///
/// ```
/// use std::time::Duration;
/// // The hub keeps running greenthreads while the job blocks its OS thread.
/// let ticker = green::spawn(|| { let mut n = 0; for _ in 0..5 { green::sleep(Duration::from_millis(1)); n += 1 } n });
/// let v = green::tpool::execute(|| { std::thread::sleep(Duration::from_millis(20)); 42 }).unwrap();
/// assert_eq!(v, 42);
/// assert_eq!(ticker.wait().unwrap(), 5);
///
/// let err = green::tpool::execute(|| -> u8 { panic!("in a worker") }).unwrap_err();
/// assert_eq!(err.panic_message(), Some("in a worker"));
/// ```
#[track_caller]
pub fn execute<R, F>(f: F) -> Result<R, Error>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if IN_WORKER.with(Cell::get) {
        return catch_unwind(AssertUnwindSafe(f)).map_err(|p| Error::panic(p, None, None));
    }
    let h = hub();
    if h.in_hub_context() {
        misuse_hub_context("green::tpool::execute");
    }
    let p = pool();
    if p.size == 0 {
        return crate::greenthread::call_inline(f);
    }
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let done: Event<()> = Event::new();
    PENDING.with(|m| m.borrow_mut().insert(id, done.clone()));
    let slot: Arc<Mutex<Option<std::thread::Result<R>>>> = Arc::new(Mutex::new(None));
    let job_slot = slot.clone();
    // A weak handle: the job does not keep the hub "reachable from outside" by itself (see
    // `InFlight`); only an awaited job counts, through `external`.
    let hub_handle = handle().downgrade();
    h.external.set(h.external.get() + 1);
    let _in_flight = InFlight { id };
    let job: Job = Box::new(move || {
        let r = catch_unwind(AssertUnwindSafe(f));
        *job_slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
        // The hub may be gone (its thread exited): then nobody waits for the result.
        if let Some(h) = hub_handle.upgrade() {
            let _ = h.post(move || complete(id));
        }
    });
    if p.pid != std::process::id() {
        // A forked child (`process::fork`): the workers stayed in the parent, so each job gets a
        // thread of its own.
        std::thread::Builder::new()
            .name("green-tpool-forked".into())
            .spawn(job)
            .unwrap_or_else(|e| panic!("green: cannot start a tpool thread in a forked child: {e}"));
    } else if p.tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send(job).is_err() {
        panic!("green: the tpool workers are gone");
    }
    done.wait_as("tpool::execute", Location::caller());
    let r = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    match r {
        Some(Ok(v)) => Ok(v),
        Some(Err(p)) => Err(Error::panic(p, None, None)),
        None => unreachable!("green: tpool job completed without a result"),
    }
}

/// Runs on the hub's thread when job `id` finished: the job no longer counts as in flight, and
/// its caller (if it still waits) wakes. An abandoned job was uncounted when its caller left.
fn complete(id: u64) {
    let ev = PENDING.with(|m| m.borrow_mut().remove(&id));
    if let Some(ev) = ev {
        let h = hub();
        h.external.set(h.external.get().saturating_sub(1));
        let _ = ev.send(());
    }
}

/// Ends a job's wait. While its caller waits, the job counts as in flight (`Hub::external`): it
/// can still wake the hub, so the virtual clock does not jump past it and the root waiting on it
/// is no deadlock. A caller killed or timed out abandons the job: its OS thread works on, but
/// nobody waits for its result any more, so it stops counting at once (time moves, deadlocks are
/// seen again) and its result is dropped when it comes.
struct InFlight {
    id: u64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let abandoned = PENDING.try_with(|m| m.borrow_mut().remove(&self.id)).ok().flatten();
        if abandoned.is_some() {
            if let Some(h) = crate::hub::try_hub() {
                h.external.set(h.external.get().saturating_sub(1));
            }
        }
    }
}
