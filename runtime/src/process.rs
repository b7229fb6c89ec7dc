//! Green child processes: [`spawn`] a `std::process::Command`, talk to it through green pipes,
//! wait for it without blocking the hub.
//!
//! The child's piped stdin, stdout and stderr become a [`PipeWriter`] and [`PipeReader`]s: reads
//! and writes park only the calling greenthread. [`Child::wait`] waits for the exit on a
//! [`tpool`](crate::tpool) thread, so the hub and the other greenthreads run on meanwhile.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::process::{Command, Stdio};
//!
//! let mut cmd = Command::new("cat");
//! cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
//! let mut child = green::process::spawn(&mut cmd).unwrap();
//! let mut stdin = child.stdin.take().unwrap();
//! let writer = green::spawn(move || stdin.write_all(b"echoed by cat").unwrap()); // closes stdin at the end
//! let mut out = String::new();
//! child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
//! writer.wait().unwrap();
//! assert_eq!(out, "echoed by cat");
//! assert!(child.wait().unwrap().success());
//! ```

use std::fmt;
use std::io::{self, Read};
use std::panic::Location;
use std::process::{ExitStatus, Output};
use std::sync::Mutex;

use crate::net::{PipeReader, PipeWriter};

/// A running child process; see the [module docs](self).
///
/// ```
/// use std::io::Read;
/// let mut cmd = std::process::Command::new("echo");
/// cmd.arg("hi").stdout(std::process::Stdio::piped());
/// let mut child: green::process::Child = green::process::spawn(&mut cmd).unwrap();
/// let mut out = String::new();
/// child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
/// assert_eq!(out, "hi\n");
/// assert!(child.wait().unwrap().success());
/// ```
pub struct Child {
    /// Its stdin, when it was piped.
    pub stdin: Option<PipeWriter>,
    /// Its stdout, when it was piped.
    pub stdout: Option<PipeReader>,
    /// Its stderr, when it was piped.
    pub stderr: Option<PipeReader>,
    id: u32,
    /// Locked only briefly (reap, kill): the exit itself is waited for without the lock.
    child: Mutex<std::process::Child>,
    status: Option<ExitStatus>,
}

/// Spawns `cmd`, turning its piped stdio into green pipes.
///
/// ```
/// let mut child = green::process::spawn(&mut std::process::Command::new("true")).unwrap();
/// assert!(child.wait().unwrap().success());
/// ```
#[track_caller]
pub fn spawn(cmd: &mut std::process::Command) -> io::Result<Child> {
    let site = Location::caller();
    let mut child = cmd.spawn()?;
    let stdin = child.stdin.take().map(|s| PipeWriter::new(mio::unix::pipe::Sender::from(s), site)).transpose()?;
    let stdout = child.stdout.take().map(|s| PipeReader::new(mio::unix::pipe::Receiver::from(s), site)).transpose()?;
    let stderr = child.stderr.take().map(|s| PipeReader::new(mio::unix::pipe::Receiver::from(s), site)).transpose()?;
    Ok(Child { stdin, stdout, stderr, id: child.id(), child: Mutex::new(child), status: None })
}

impl Child {
    /// The child's process id.
    ///
    /// ```
    /// let mut child = green::process::spawn(&mut std::process::Command::new("true")).unwrap();
    /// assert!(child.id() > 0);
    /// child.wait().unwrap();
    /// ```
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Waits for the child to exit (closing its stdin first, as `std` does, so a child reading
    /// it sees the end), without blocking the hub.
    ///
    /// ```
    /// let mut child = green::process::spawn(std::process::Command::new("sh").args(["-c", "exit 3"])).unwrap();
    /// assert_eq!(child.wait().unwrap().code(), Some(3));
    /// ```
    #[track_caller]
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if let Some(s) = self.status {
            return Ok(s);
        }
        // The exit is awaited on a tpool thread without reaping the child, so nothing here stays
        // locked if this wait is killed or times out (`try_wait` and `kill` still work).
        let pid = self.id;
        crate::tpool::execute(move || crate::sys::wait::wait_exited(pid))
            .map_err(|e| io::Error::other(format!("green::process: waiting for the child failed: {e}")))??;
        match self.try_wait()? {
            Some(status) => Ok(status),
            None => unreachable!("green::process: a child that exited has a status"),
        }
    }

    /// The exit status if the child has exited, without waiting.
    ///
    /// ```
    /// let mut child = green::process::spawn(&mut std::process::Command::new("sleep").arg("5")).unwrap();
    /// assert!(child.try_wait().unwrap().is_none());
    /// child.kill().unwrap();
    /// assert!(!child.wait().unwrap().success());
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let s = self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner).try_wait()?;
        self.status = s;
        Ok(s)
    }

    /// Sends `SIGKILL` (a child that has exited already is not an error).
    ///
    /// ```
    /// let mut child = green::process::spawn(&mut std::process::Command::new("sleep").arg("5")).unwrap();
    /// child.kill().unwrap();
    /// assert!(child.wait().unwrap().code().is_none()); // ended by a signal
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.child.lock().unwrap_or_else(std::sync::PoisonError::into_inner).kill()
    }

    /// Reads all of stdout and stderr (each in its own greenthread, so a child filling one pipe
    /// cannot stall on the other), then waits for the exit.
    ///
    /// ```
    /// use std::process::{Command, Stdio};
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "echo out; echo err >&2"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    /// let out = green::process::spawn(&mut cmd).unwrap().wait_with_output().unwrap();
    /// assert_eq!((out.stdout.as_slice(), out.stderr.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
    /// assert!(out.status.success());
    /// ```
    #[track_caller]
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let read_all = |p: Option<PipeReader>| {
            crate::spawn(move || -> io::Result<Vec<u8>> {
                let mut v = Vec::new();
                if let Some(mut p) = p {
                    p.read_to_end(&mut v)?;
                }
                Ok(v)
            })
        };
        let (out, err) = (read_all(self.stdout.take()), read_all(self.stderr.take()));
        let stdout = out.join().map_err(|e| io::Error::other(e.to_string()))??;
        let stderr = err.join().map_err(|e| io::Error::other(e.to_string()))??;
        let status = self.wait()?;
        Ok(Output { status, stdout, stderr })
    }
}

/// Which side of a [`fork`] the caller is on.
///
/// ```
/// use green::process::Fork;
/// let side = Fork::Parent(42);
/// assert!(matches!(side, Fork::Parent(pid) if pid == 42));
/// assert_ne!(side, Fork::Child);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fork {
    /// The parent, with the child's pid.
    Parent(u32),
    /// The child.
    Child,
}

/// Forks the process (`fork(2)`), from the root greenlet only.
///
/// In the child, the parent's hub is leaked without unwinding (its greenthreads never run again,
/// their destructors never run) and the next green call starts a fresh, empty hub; `tpool` jobs
/// there run on threads of their own (the workers stayed in the parent), and detectors must be
/// enabled again. As with any `fork` of a multi-threaded process, the child should not wait for
/// locks other threads held (exec soon, or keep to what this thread owns).
///
/// # Errors
///
/// From a greenthread or in hub context (a clear `InvalidInput` naming the way out: fork from the
/// root, or spawn a process with [`spawn`]), or the OS's error.
///
/// ```
/// let gt = green::spawn(|| green::process::fork().unwrap_err().to_string());
/// assert!(gt.wait().unwrap().contains("only the root may fork"));
/// ```
pub fn fork() -> io::Result<Fork> {
    let h = crate::hub::hub();
    match h.current() {
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "green::process::fork called from hub context (a hub callback); only the root may fork: call it from \
                 the thread's own code, or start a program with green::process::spawn",
            ))
        }
        Some(c) if !c.is_root => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "green::process::fork called from greenthread #{}; only the root may fork (the child would \
                     resume a greenthread the hub no longer knows): call it from the thread's own code, or start \
                     a program with green::process::spawn",
                    c.id
                ),
            ))
        }
        Some(_) => {}
    }
    match crate::sys::fork::fork()? {
        0 => {
            crate::hub::forget_after_fork();
            Ok(Fork::Child)
        }
        pid => Ok(Fork::Parent(pid)),
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child").field("id", &self.id).field("status", &self.status).finish()
    }
}
