//! The interposed C library entry points of [`crate::calls`] (feature `blocking-calls`, x86-64
//! Linux). With the signal handlers of `sys.rs`, the only `unsafe` code of this crate.
//!
//! # Contract
//!
//! Each function here has the C signature of the libc function it replaces and forwards to that
//! very function (the next definition, found once with `dlsym(RTLD_NEXT, ..)`), so its behaviour,
//! `errno` and return conventions included, is libc's, and a stack sampled while the call blocks
//! shows libc's frame (`clock_nanosleep`, `read`) as the innermost one. Only if libc's
//! definition cannot be found does it make the system call itself (`syscall` instruction).
//! Before forwarding it may ask [`crate::calls`] to report the call: one relaxed atomic load
//! while detection was never enabled; never a lock, never a symbolisation (the stack is kept as
//! raw addresses, symbolised when the reports are taken), never a panic (a report that cannot be
//! made, for example during thread exit after the detector's thread-locals are gone, is dropped),
//! and never while this thread is already making a report or symbolising.
//!
//! `syscall(2)` is variadic in C; it is defined here with six integer arguments after the
//! number (on x86-64 a variadic caller passes integer arguments in the same registers), and
//! each argument is read as the type the system call takes (the futex operation is an `int`:
//! the upper half of its register is undefined).

use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{c_int, c_long, c_uint, c_void, size_t, sockaddr, socklen_t, ssize_t, timespec};

use crate::calls::{blocking_call, watching};

/// libc's definition of one interposed function, looked up once.
struct Next {
    name: &'static std::ffi::CStr,
    addr: AtomicUsize,
}

/// Not looked up yet.
const UNKNOWN: usize = 0;
/// Looked up, not found.
const MISSING: usize = 1;

impl Next {
    const fn new(name: &'static std::ffi::CStr) -> Next {
        Next { name, addr: AtomicUsize::new(UNKNOWN) }
    }

    /// The address of libc's definition, or `None` when there is none.
    fn get(&self) -> Option<usize> {
        let mut a = self.addr.load(Ordering::Acquire);
        if a == UNKNOWN {
            // SAFETY: RTLD_NEXT with a NUL-terminated name is dlsym's documented lookup of the
            // next definition after this object; it returns an address or null.
            let f = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
            a = if f == UNKNOWN { MISSING } else { f };
            self.addr.store(a, Ordering::Release);
        }
        (a != MISSING).then_some(a)
    }
}

static NANOSLEEP: Next = Next::new(c"nanosleep");
static CLOCK_NANOSLEEP: Next = Next::new(c"clock_nanosleep");
static USLEEP: Next = Next::new(c"usleep");
static POLL: Next = Next::new(c"poll");
static EPOLL_WAIT: Next = Next::new(c"epoll_wait");
static READ: Next = Next::new(c"read");
static RECV: Next = Next::new(c"recv");
static RECVFROM: Next = Next::new(c"recvfrom");
static ACCEPT: Next = Next::new(c"accept");
static ACCEPT4: Next = Next::new(c"accept4");
static CONNECT: Next = Next::new(c"connect");
static SYSCALL: Next = Next::new(c"syscall");

/// Reports `call` (see the module contract); `next` is libc's function, named as the report's
/// innermost frame.
fn report(call: &'static str, next: &Next) {
    blocking_call(call, next.get().unwrap_or(0));
}

/// True when `f` (a function's start address) is one of the interposers: their frames belong to
/// the detector and are hidden from reports.
pub(crate) fn is_interposer(f: usize) -> bool {
    [
        nanosleep as *const () as usize,
        clock_nanosleep as *const () as usize,
        usleep as *const () as usize,
        poll as *const () as usize,
        epoll_wait as *const () as usize,
        read as *const () as usize,
        recv as *const () as usize,
        recvfrom as *const () as usize,
        accept as *const () as usize,
        accept4 as *const () as usize,
        connect as *const () as usize,
        syscall as *const () as usize,
    ]
    .contains(&f)
}

/// Makes system call `num` with the `syscall` instruction, returning the raw result (`-errno` on
/// failure).
///
/// # Safety
///
/// The contract of system call `num` with these arguments.
unsafe fn raw_syscall(num: c_long, a: [c_long; 6]) -> c_long {
    let ret: c_long;
    // SAFETY: the caller upholds the contract of system call `num`; the `syscall` instruction
    // clobbers rcx and r11 only, and uses no stack.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") num => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// libc's convention for a raw result: `-1` with `errno` set on failure.
fn set_errno(ret: c_long) -> c_long {
    if (-4095..0).contains(&ret) {
        // SAFETY: __errno_location returns this thread's errno, always valid.
        unsafe { *libc::__errno_location() = -ret as c_int };
        -1
    } else {
        ret
    }
}

/// Without libc's definition: the system call, with libc's `errno` convention.
///
/// # Safety
///
/// As [`raw_syscall`].
unsafe fn fallback(num: c_long, a: [c_long; 6]) -> c_long {
    // SAFETY: forwarded contract.
    set_errno(unsafe { raw_syscall(num, a) })
}

/// True when `fd` is a socket or a pipe in blocking mode: I/O on it may wait for a peer.
fn blocking_stream(fd: c_int) -> bool {
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's flags; a bad fd fails.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || flags & libc::O_NONBLOCK != 0 {
        return false;
    }
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `st` is a valid, writable `stat`; fstat writes it or fails.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: fstat succeeded, so it filled `st` (zeroed before anyway).
    let mode = unsafe { st.assume_init() }.st_mode & libc::S_IFMT;
    mode == libc::S_IFSOCK || mode == libc::S_IFIFO
}

/// Calls libc's definition of the function as `$ty`, or the fallback system call.
macro_rules! forward {
    ($next:expr, $ty:ty, ($($arg:expr),*), $num:expr, [$($raw:expr),*]) => {{
        match $next.get() {
            Some(f) => {
                // SAFETY: `f` is libc's definition of this very function, whose C type is `$ty`;
                // the caller upholds its contract, and the arguments are passed on unchanged.
                let f: $ty = unsafe { std::mem::transmute::<usize, $ty>(f) };
                // SAFETY: as above.
                unsafe { f($($arg),*) }
            }
            // SAFETY: the system call's contract is the function's, upheld by the caller.
            None => (unsafe { fallback($num, pad([$($raw as c_long),*])) }) as _,
        }
    }};
}

/// The fallback's six argument registers.
fn pad<const N: usize>(a: [c_long; N]) -> [c_long; 6] {
    let mut r = [0; 6];
    r[..N].copy_from_slice(&a);
    r
}

/// # Safety
///
/// libc's `nanosleep` contract: `req` points to a valid `timespec`, `rem` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    if watching() {
        report("nanosleep", &NANOSLEEP);
    }
    forward!(
        NANOSLEEP,
        unsafe extern "C" fn(*const timespec, *mut timespec) -> c_int,
        (req, rem),
        libc::SYS_nanosleep,
        [req, rem]
    )
}

/// # Safety
///
/// libc's `clock_nanosleep` contract. Like glibc's, it returns the error number and leaves
/// `errno` alone.
#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    if watching() {
        report("clock_nanosleep", &CLOCK_NANOSLEEP);
    }
    match CLOCK_NANOSLEEP.get() {
        Some(f) => {
            type F = unsafe extern "C" fn(libc::clockid_t, c_int, *const timespec, *mut timespec) -> c_int;
            // SAFETY: libc's clock_nanosleep has type `F`; the caller upholds its contract.
            let f: F = unsafe { std::mem::transmute::<usize, F>(f) };
            // SAFETY: as above.
            unsafe { f(clock, flags, req, rem) }
        }
        None => {
            // SAFETY: the system call's contract is clock_nanosleep's, upheld by the caller.
            let r = unsafe {
                raw_syscall(
                    libc::SYS_clock_nanosleep,
                    pad([clock as c_long, flags as c_long, req as c_long, rem as c_long]),
                )
            };
            // The error number is the result; errno is not touched.
            if r < 0 {
                -r as c_int
            } else {
                0
            }
        }
    }
}

/// # Safety
///
/// None beyond libc's `usleep`.
#[no_mangle]
pub unsafe extern "C" fn usleep(usec: c_uint) -> c_int {
    if watching() {
        report("usleep", &USLEEP);
    }
    let ts =
        timespec { tv_sec: (usec / 1_000_000) as libc::time_t, tv_nsec: ((usec % 1_000_000) * 1000) as libc::c_long };
    let tsp = &ts as *const timespec;
    let none = std::ptr::null_mut::<timespec>();
    forward!(USLEEP, unsafe extern "C" fn(c_uint) -> c_int, (usec), libc::SYS_nanosleep, [tsp, none])
}

/// # Safety
///
/// libc's `poll` contract: `fds` points to `nfds` valid `pollfd`s.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int {
    if timeout != 0 && watching() {
        report("poll", &POLL);
    }
    forward!(
        POLL,
        unsafe extern "C" fn(*mut libc::pollfd, libc::nfds_t, c_int) -> c_int,
        (fds, nfds, timeout),
        libc::SYS_poll,
        [fds, nfds, timeout]
    )
}

/// # Safety
///
/// libc's `epoll_wait` contract: `events` points to `maxevents` writable `epoll_event`s.
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    if timeout != 0 && watching() {
        report("epoll_wait", &EPOLL_WAIT);
    }
    forward!(
        EPOLL_WAIT,
        unsafe extern "C" fn(c_int, *mut libc::epoll_event, c_int, c_int) -> c_int,
        (epfd, events, maxevents, timeout),
        libc::SYS_epoll_wait,
        [epfd, events, maxevents, timeout]
    )
}

/// # Safety
///
/// libc's `read` contract: `buf` points to `count` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    if watching() && blocking_stream(fd) {
        report("read", &READ);
    }
    forward!(
        READ,
        unsafe extern "C" fn(c_int, *mut c_void, size_t) -> ssize_t,
        (fd, buf, count),
        libc::SYS_read,
        [fd, buf, count]
    )
}

/// # Safety
///
/// libc's `recv` contract: `buf` points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    if flags & libc::MSG_DONTWAIT == 0 && watching() && blocking_stream(fd) {
        report("recv", &RECV);
    }
    let (no_addr, no_len) = (std::ptr::null_mut::<sockaddr>(), std::ptr::null_mut::<socklen_t>());
    forward!(
        RECV,
        unsafe extern "C" fn(c_int, *mut c_void, size_t, c_int) -> ssize_t,
        (fd, buf, len, flags),
        libc::SYS_recvfrom,
        [fd, buf, len, flags, no_addr, no_len]
    )
}

/// # Safety
///
/// libc's `recvfrom` contract.
#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if flags & libc::MSG_DONTWAIT == 0 && watching() && blocking_stream(fd) {
        report("recvfrom", &RECVFROM);
    }
    forward!(
        RECVFROM,
        unsafe extern "C" fn(c_int, *mut c_void, size_t, c_int, *mut sockaddr, *mut socklen_t) -> ssize_t,
        (fd, buf, len, flags, addr, addrlen),
        libc::SYS_recvfrom,
        [fd, buf, len, flags, addr, addrlen]
    )
}

/// # Safety
///
/// libc's `accept` contract.
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> c_int {
    if watching() && blocking_stream(fd) {
        report("accept", &ACCEPT);
    }
    forward!(
        ACCEPT,
        unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int,
        (fd, addr, addrlen),
        libc::SYS_accept4,
        [fd, addr, addrlen, 0]
    )
}

/// # Safety
///
/// libc's `accept4` contract.
#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t, flags: c_int) -> c_int {
    if watching() && blocking_stream(fd) {
        report("accept4", &ACCEPT4);
    }
    forward!(
        ACCEPT4,
        unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int,
        (fd, addr, addrlen, flags),
        libc::SYS_accept4,
        [fd, addr, addrlen, flags]
    )
}

/// # Safety
///
/// libc's `connect` contract.
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if watching() && blocking_stream(fd) {
        report("connect", &CONNECT);
    }
    forward!(
        CONNECT,
        unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int,
        (fd, addr, len),
        libc::SYS_connect,
        [fd, addr, len]
    )
}

/// `FUTEX_WAIT`-like operations: the caller sleeps until woken (`std`'s `Mutex`, `Condvar`,
/// `thread::park` and `JoinHandle::join` wait this way). `op` is the `int` the kernel reads.
pub(crate) fn futex_waits(op: c_int) -> bool {
    const CMD_MASK: c_int = !(128 | 256); // !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
                                          // FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2
    matches!(op & CMD_MASK, 0 | 6 | 9 | 11 | 13)
}

/// # Safety
///
/// libc's `syscall` contract for the system call made. Declared with six integer arguments after
/// the number instead of as variadic: on x86-64 a variadic caller passes integer arguments in the
/// same registers, and libc's `syscall` (called with all six) hands them to the kernel, which
/// ignores those a system call does not take. An argument narrower than a register (the futex
/// operation, an `int`) has an undefined upper half and is read as its own type.
#[no_mangle]
pub unsafe extern "C" fn syscall(
    num: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    if num == libc::SYS_futex && futex_waits(a2 as c_int) && watching() {
        report("futex", &SYSCALL);
    }
    match SYSCALL.get() {
        Some(f) => {
            type F = unsafe extern "C" fn(c_long, ...) -> c_long;
            // SAFETY: libc's syscall is the variadic function `F`; all six registers are passed
            // on unchanged, as the caller gave them.
            let f: F = unsafe { std::mem::transmute::<usize, F>(f) };
            // SAFETY: the caller upholds the contract of system call `num`.
            unsafe { f(num, a1, a2, a3, a4, a5, a6) }
        }
        // SAFETY: as above.
        None => unsafe { fallback(num, [a1, a2, a3, a4, a5, a6]) },
    }
}
