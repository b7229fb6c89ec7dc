//! The interposed C library entry points of [`crate::calls`] (feature `blocking-calls`, x86-64
//! Linux). With the signal handlers of `sys.rs`, the only `unsafe` code of this crate.
//!
//! # Contract
//!
//! Each function here has the C signature and the behaviour of the libc function it replaces:
//! it makes the same system call directly and returns what libc would (`-1` with `errno` set on
//! failure). `syscall(2)` itself is replaced too (for the futex waits behind `std`'s locks): it
//! makes the system call with the `syscall` instruction, so the other interposers, which call
//! `libc::syscall`, end up there. Before that it may ask [`crate::calls`] to report the call; that check
//! is one relaxed atomic load while detection was never enabled, and it never blocks. Nothing here
//! allocates unless a report is made, and a report is never made while one is being made.

use libc::{c_int, c_long, c_uint, c_void, size_t, sockaddr, socklen_t, ssize_t, timespec};

use crate::calls::{blocking_call, watching};

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

/// `clock_nanosleep` returns the error number instead of setting `errno`.
fn errno_result(r: libc::c_long) -> c_int {
    if r < 0 {
        // SAFETY: __errno_location returns this thread's errno, always valid.
        unsafe { *libc::__errno_location() }
    } else {
        0
    }
}

/// # Safety
///
/// libc's `nanosleep` contract: `req` points to a valid `timespec`, `rem` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    if watching() {
        blocking_call("nanosleep");
    }
    // SAFETY: the caller upholds nanosleep's contract, which is the system call's.
    unsafe { libc::syscall(libc::SYS_nanosleep, req, rem) as c_int }
}

/// # Safety
///
/// libc's `clock_nanosleep` contract.
#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    if watching() {
        blocking_call("clock_nanosleep");
    }
    // SAFETY: the caller upholds clock_nanosleep's contract, which is the system call's.
    errno_result(unsafe { libc::syscall(libc::SYS_clock_nanosleep, clock, flags, req, rem) })
}

/// # Safety
///
/// None beyond libc's `usleep`.
#[no_mangle]
pub unsafe extern "C" fn usleep(usec: c_uint) -> c_int {
    if watching() {
        blocking_call("usleep");
    }
    let ts =
        timespec { tv_sec: (usec / 1_000_000) as libc::time_t, tv_nsec: ((usec % 1_000_000) * 1000) as libc::c_long };
    // SAFETY: `ts` is a valid timespec for the duration of the call; no remainder is wanted.
    unsafe { libc::syscall(libc::SYS_nanosleep, &ts as *const timespec, std::ptr::null_mut::<timespec>()) as c_int }
}

/// # Safety
///
/// libc's `poll` contract: `fds` points to `nfds` valid `pollfd`s.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut libc::pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int {
    if timeout != 0 && watching() {
        blocking_call("poll");
    }
    // SAFETY: the caller upholds poll's contract, which is the system call's.
    unsafe { libc::syscall(libc::SYS_poll, fds, nfds, timeout) as c_int }
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
        blocking_call("epoll_wait");
    }
    // SAFETY: the caller upholds epoll_wait's contract, which is the system call's.
    unsafe { libc::syscall(libc::SYS_epoll_wait, epfd, events, maxevents, timeout) as c_int }
}

/// # Safety
///
/// libc's `read` contract: `buf` points to `count` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    if watching() && blocking_stream(fd) {
        blocking_call("read");
    }
    // SAFETY: the caller upholds read's contract, which is the system call's.
    unsafe { libc::syscall(libc::SYS_read, fd, buf, count) as ssize_t }
}

/// # Safety
///
/// libc's `recv` contract: `buf` points to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    if flags & libc::MSG_DONTWAIT == 0 && watching() && blocking_stream(fd) {
        blocking_call("recv");
    }
    // SAFETY: recv is recvfrom without an address; the caller upholds the buffer contract.
    unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf,
            len,
            flags,
            std::ptr::null_mut::<sockaddr>(),
            std::ptr::null_mut::<socklen_t>(),
        ) as ssize_t
    }
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
        blocking_call("recvfrom");
    }
    // SAFETY: the caller upholds recvfrom's contract, which is the system call's.
    unsafe { libc::syscall(libc::SYS_recvfrom, fd, buf, len, flags, addr, addrlen) as ssize_t }
}

/// # Safety
///
/// libc's `accept` contract.
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> c_int {
    if watching() && blocking_stream(fd) {
        blocking_call("accept");
    }
    // SAFETY: accept is accept4 without flags; the caller upholds the address contract.
    unsafe { libc::syscall(libc::SYS_accept4, fd, addr, addrlen, 0) as c_int }
}

/// # Safety
///
/// libc's `accept4` contract.
#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t, flags: c_int) -> c_int {
    if watching() && blocking_stream(fd) {
        blocking_call("accept4");
    }
    // SAFETY: the caller upholds accept4's contract, which is the system call's.
    unsafe { libc::syscall(libc::SYS_accept4, fd, addr, addrlen, flags) as c_int }
}

/// # Safety
///
/// libc's `connect` contract.
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if watching() && blocking_stream(fd) {
        blocking_call("connect");
    }
    // SAFETY: the caller upholds connect's contract, which is the system call's.
    unsafe { libc::syscall(libc::SYS_connect, fd, addr, len) as c_int }
}

/// `FUTEX_WAIT`-like operations: the caller sleeps until woken (`std`'s `Mutex`, `Condvar`,
/// `thread::park` and `JoinHandle::join` wait this way).
fn futex_waits(op: c_long) -> bool {
    const CMD_MASK: c_long = !(128 | 256); // !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
                                           // FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2
    matches!(op & CMD_MASK, 0 | 6 | 9 | 11 | 13)
}

/// # Safety
///
/// libc's `syscall` contract for the system call made. Declared with six integer arguments after
/// the number instead of as variadic: on x86-64 a variadic caller passes integer arguments in the
/// same registers and stack slots, and the kernel ignores those a system call does not take.
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
    if num == libc::SYS_futex && futex_waits(a2) && watching() {
        blocking_call("futex");
    }
    let ret: c_long;
    // SAFETY: the caller upholds the contract of system call `num` with these arguments; the
    // `syscall` instruction clobbers rcx and r11 only, and uses no stack.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") num => ret,
            in("rdi") a1,
            in("rsi") a2,
            in("rdx") a3,
            in("r10") a4,
            in("r8") a5,
            in("r9") a6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if (-4095..0).contains(&ret) {
        // SAFETY: __errno_location returns this thread's errno, always valid.
        unsafe { *libc::__errno_location() = -ret as c_int };
        -1
    } else {
        ret
    }
}
