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
//! job inline on the caller, blocking the hub, and says so once on stderr); [`set_num_threads`]
//! sizes the next pool, [`killall`] stops the running one after its jobs. A [`Timeout`](crate::Timeout) or kill interrupts
//! the green wait, not the OS thread: the job runs to its end and its result is dropped.
//!
//! ```
//! let v = green::tpool::execute(|| std::fs::metadata(".").map(|m| m.is_dir()).unwrap_or(false)).unwrap();
//! assert!(v);
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use crate::error::Error;
use crate::event::Event;
use crate::hub::{handle, hub, misuse_hub_context};

/// The environment variable that sets the pool's size (read once, at first use).
///
/// ```
/// assert_eq!(green::tpool::SIZE_ENV, "GREEN_THREADPOOL_SIZE");
/// ```
pub const SIZE_ENV: &str = "GREEN_THREADPOOL_SIZE";

/// Default number of worker threads.
///
/// ```
/// assert_eq!(green::tpool::DEFAULT_SIZE, 20);
/// ```
pub const DEFAULT_SIZE: usize = 20;

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    /// Where jobs go; taken by [`killall`], which makes the workers exit once the queue is empty.
    tx: Mutex<Option<Sender<Job>>>,
    size: usize,
    /// The process whose threads the workers are: a forked child has none of them.
    pid: u32,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// The running pool, started at first use and stopped by [`killall`].
static POOL: Mutex<Option<Arc<Pool>>> = Mutex::new(None);

/// The size [`set_num_threads`] asked for (the environment's or the default otherwise).
static NUM_THREADS: Mutex<Option<usize>> = Mutex::new(None);

thread_local! {
    /// Set on worker threads: `execute` there runs inline.
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
    /// Jobs of this hub in flight: id → the event the caller waits on.
    static PENDING: RefCell<HashMap<u64, Event<()>>> = RefCell::new(HashMap::new());
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The size the next pool starts with: [`set_num_threads`]'s, else `GREEN_THREADPOOL_SIZE`, else
/// [`DEFAULT_SIZE`].
fn configured_size() -> usize {
    if let Some(n) = *lock(&NUM_THREADS) {
        return n;
    }
    match std::env::var(SIZE_ENV) {
        Ok(v) => v.trim().parse::<usize>().unwrap_or_else(|_| {
            panic!("green: invalid value for {SIZE_ENV}: {v:?}; expected a number of threads (0 runs jobs inline)")
        }),
        Err(_) => DEFAULT_SIZE,
    }
}

static WARNED_ZERO: std::sync::Once = std::sync::Once::new();

fn pool() -> Arc<Pool> {
    let mut running = lock(&POOL);
    if let Some(p) = running.as_ref() {
        return p.clone();
    }
    let size = configured_size();
    if size == 0 {
        // Once per process (eventlet's warning for its variable).
        WARNED_ZERO.call_once(|| {
            eprintln!(
                "green: warning: zero threads in tpool ({SIZE_ENV}=0): every tpool::execute job runs on the \
                 calling thread and blocks its hub; set {SIZE_ENV} to a number of threads to run them off the hub"
            );
        });
    }
    let (tx, rx) = channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    let workers = (0..size)
        .map(|i| {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("green-tpool-{i}"))
                .spawn(move || worker(rx))
                .unwrap_or_else(|e| panic!("green: cannot start tpool worker thread {i}: {e}"))
        })
        .collect();
    let p = Arc::new(Pool { tx: Mutex::new(Some(tx)), size, pid: std::process::id(), workers: Mutex::new(workers) });
    *running = Some(p.clone());
    p
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>) {
    IN_WORKER.with(|w| w.set(true));
    loop {
        // `Err` once `killall` took the sender and the queue is empty.
        let job = lock(&rx).recv();
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

/// Sets the number of worker threads of the next pool: the one started at first use, or after
/// [`killall`] (eventlet's `set_num_threads`). A running pool keeps its size until then. It wins
/// over `GREEN_THREADPOOL_SIZE`; 0 runs every job inline, blocking the hub.
///
/// ```
/// // The pool is process-wide: stop it, size it, and the next job starts it with 3 threads.
/// green::tpool::killall();
/// green::tpool::set_num_threads(3);
/// assert_eq!(green::tpool::execute(|| 1 + 1).unwrap(), 2);
/// assert_eq!(green::tpool::size(), 3);
/// ```
pub fn set_num_threads(n: usize) {
    *lock(&NUM_THREADS) = Some(n);
}

/// Stops the pool: its workers finish every job already handed to them, their results are
/// delivered, and they exit; this waits for them, blocking the calling thread (its hub too) for
/// as long as those jobs take (eventlet's `killall`, which it runs at exit). The next
/// [`execute`] starts a new pool, of [`set_num_threads`]'s size if set. A no-op when no pool
/// runs. Called from a job, it waits for the other workers, not its own.
///
/// ```
/// let caller = green::spawn(|| green::tpool::execute(|| { std::thread::sleep(std::time::Duration::from_millis(50)); 7 }));
/// green::sleep(std::time::Duration::from_millis(5)); // the job is on a worker now
/// green::tpool::killall(); // waits for it
/// assert_eq!(caller.wait().unwrap().unwrap(), 7); // its result was delivered
/// assert_eq!(green::tpool::execute(|| 8).unwrap(), 8); // a new pool
/// ```
pub fn killall() {
    let Some(p) = lock(&POOL).take() else { return };
    drop(lock(&p.tx).take());
    if p.pid != std::process::id() {
        // A forked child: the workers are the parent's threads, not this process's.
        return;
    }
    let me = std::thread::current().id();
    for w in std::mem::take(&mut *lock(&p.workers)) {
        // A job calling `killall` does not wait for its own thread (it exits after the job).
        if w.thread().id() != me {
            let _ = w.join();
        }
    }
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
    } else if let Err(std::sync::mpsc::SendError(job)) = send(&p, job) {
        // `killall` stopped this pool on another thread meanwhile: the next one takes the job.
        if send(&pool(), job).is_err() {
            panic!("green: the tpool workers are gone");
        }
    }
    done.wait_as("tpool::execute", Location::caller());
    let r = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    match r {
        Some(Ok(v)) => Ok(v),
        Some(Err(p)) => Err(Error::panic(p, None, None)),
        None => unreachable!("green: tpool job completed without a result"),
    }
}

fn send(p: &Pool, job: Job) -> Result<(), std::sync::mpsc::SendError<Job>> {
    match lock(&p.tx).as_ref() {
        Some(tx) => tx.send(job),
        None => Err(std::sync::mpsc::SendError(job)),
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
