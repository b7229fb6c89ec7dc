//! Settling loopback TCP traffic before the hub looks at readiness (feature `test-hooks`).
//!
//! Under a perturbation or the virtual clock a run must replay exactly, and how the kernel
//! batches readiness must not change it. Data written to a loopback TCP socket reaches its peer
//! in a softirq, which a loaded machine defers to `ksoftirqd`: the peer's readiness may show up
//! one poll later, and the run would take another path. So before each poll the hub waits until
//! the traffic its own sockets started has landed:
//!
//! * a socket that wrote (or connected) is past `SYN_SENT`, and its peer in this hub has received
//!   every byte it sent (`TCP_INFO`: the sender's bytes sent, retransmissions not counted, equal
//!   the receiver's bytes received; acknowledgements are not waited for, loopback may delay
//!   them, unless a writer waits, below);
//!   it stays watched while it has bytes not sent yet (a full window opens when the peer reads),
//!   and while a greenthread waits to write on it, until the acknowledgements of what it sent
//!   have landed too (they free the room that wakes the writer);
//! * a socket whose peer in this hub closed (or shut down writing) has seen the FIN (it left
//!   `ESTABLISHED`);
//! * a listener of this hub holds in its accept queue every connection its own clients started
//!   and it has not accepted yet.
//!
//! Streams watched here have Nagle's algorithm off (`TCP_NODELAY`): segmentation changes, the
//! bytes do not, and small writes land at once instead of after a delayed acknowledgement. Their
//! receive and send buffers have fixed sizes (128 KiB each): the kernel otherwise grows them as
//! traffic flows, the receive buffer by the bytes read per round trip measured in real time, and
//! a bulk writer's first write accepted more or less (3.8 or 3.9 MB before it blocked) as a
//! loaded machine stretched those round trips: half of the runs of the loaded-machine replay test
//! under four copies of itself diverged; with fixed buffers, none of 52.
//!
//! Known limit: the receiving kernel holds back a window update when a read frees less than
//! doubles the window, until its delayed-acknowledgement timer (40 ms of real time) fires. A
//! writer blocked on that window then gets its room on real time's schedule. A program fast
//! next to that timer replays exactly (the loaded-machine tests), one slowed fifty-fold
//! (valgrind) can see a bulk writer's bytes land a read earlier or later.
//!
//! Each wait is bounded; a run whose traffic did not settle in time, or whose sockets talk to
//! something outside this hub (another process, another thread's hub), is marked inexact
//! ([`crate::hooks::replay_exact`]): its faults and decisions replay, its interleaving may not.
//!
//! Invariant: only sources of this hub are watched; a closed source is dropped from every list.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::hub::Hub;
use crate::listener::IoSource;
use crate::sys::settle::{self as tcp, ESTABLISHED, LISTEN, SYN_SENT};

/// How long one settle may wait before the run is marked inexact.
const SETTLE_LIMIT: Duration = Duration::from_millis(500);

/// The hub's loopback bookkeeping (see the module docs).
#[derive(Default)]
pub(crate) struct Settle {
    /// This hub's TCP listeners by their address.
    listeners: RefCell<HashMap<SocketAddr, Weak<IoSource>>>,
    /// This hub's TCP streams by (own address, peer address).
    streams: RefCell<HashMap<(SocketAddr, SocketAddr), Weak<IoSource>>>,
    /// Sockets that wrote or connected and may have traffic in flight.
    dirty: RefCell<Vec<Rc<IoSource>>>,
    /// Sockets whose peer closed: waiting for the FIN.
    fin_watch: RefCell<Vec<Rc<IoSource>>>,
    /// Listeners with connections started by this hub's clients and not accepted yet.
    accepting: RefCell<Vec<Rc<IoSource>>>,
    /// Some socket talked to something outside this hub.
    pub(crate) outside: Cell<bool>,
    /// Some settle gave up waiting.
    pub(crate) unsettled: Cell<bool>,
}

impl Settle {
    pub(crate) fn reset(&self) {
        self.listeners.borrow_mut().clear();
        self.streams.borrow_mut().clear();
        self.dirty.borrow_mut().clear();
        self.fin_watch.borrow_mut().clear();
        self.accepting.borrow_mut().clear();
        self.outside.set(false);
        self.unsettled.set(false);
    }
}

/// Whether a perturbation or the virtual clock is on (otherwise nothing here runs).
pub(crate) fn active(h: &Hub) -> bool {
    h.hooks.virtual_ns.get().is_some() || h.hooks.perturb.try_borrow().is_ok_and(|p| p.is_some())
}

fn is_tcp(src: &IoSource) -> bool {
    matches!(src.kind, "tcp stream" | "tcp listener")
}

fn live(w: Option<&Weak<IoSource>>) -> Option<Rc<IoSource>> {
    w.and_then(Weak::upgrade).filter(|s| !s.closed.get())
}

/// This hub's listener at `addr`.
fn listener_at(h: &Hub, addr: &SocketAddr) -> Option<Rc<IoSource>> {
    live(h.settle.listeners.borrow().get(addr))
}

/// This hub's stream whose own address is `local` and whose peer is `peer`.
fn stream_at(h: &Hub, local: SocketAddr, peer: SocketAddr) -> Option<Rc<IoSource>> {
    live(h.settle.streams.borrow().get(&(local, peer)))
}

fn remember_stream(h: &Hub, src: &Rc<IoSource>, local: SocketAddr, peer: SocketAddr) {
    // Small writes go out at once instead of waiting for an acknowledgement loopback delays
    // (up to 40 ms a time): the traffic settles in microseconds.
    tcp::set_nodelay(src.fd);
    // Buffer sizes the kernel would tune by timing stay put.
    tcp::fix_buffers(src.fd);
    src.local.set(Some(local));
    src.peer.set(Some(peer));
    h.settle.streams.borrow_mut().insert((local, peer), Rc::downgrade(src));
}

/// A TCP source was registered: remember its addresses; an accepted (or adopted) stream whose
/// peer is not a socket of this hub talks to the outside.
pub(crate) fn registered(h: &Hub, src: &Rc<IoSource>) {
    if !is_tcp(src) || !active(h) {
        return;
    }
    let Some(local) = tcp::local_addr(src.fd) else { return };
    if src.kind == "tcp listener" {
        src.local.set(Some(local));
        h.settle.listeners.borrow_mut().insert(local, Rc::downgrade(src));
        return;
    }
    // A connecting stream has no peer yet: `connecting` records it.
    if let Some(peer) = tcp::peer_addr(src.fd) {
        remember_stream(h, src, local, peer);
        if stream_at(h, peer, local).is_none() && listener_at(h, &peer).is_none() {
            h.settle.outside.set(true);
        }
    }
}

/// A connect to `addr` started on `src`.
pub(crate) fn connecting(h: &Hub, src: &Rc<IoSource>, addr: &SocketAddr) {
    if !active(h) {
        return;
    }
    if let Some(local) = tcp::local_addr(src.fd) {
        remember_stream(h, src, local, *addr);
    }
    match listener_at(h, addr) {
        Some(l) => {
            l.pending_accepts.set(l.pending_accepts.get() + 1);
            let mut a = h.settle.accepting.borrow_mut();
            if !a.iter().any(|x| Rc::ptr_eq(x, &l)) {
                a.push(l);
            }
        }
        None => h.settle.outside.set(true),
    }
    wrote(h, src);
}

/// A connect started on `src` failed (nothing will reach the listener's queue).
pub(crate) fn connect_failed(h: &Hub, addr: &SocketAddr) {
    if let Some(l) = listener_at(h, addr) {
        l.pending_accepts.set(l.pending_accepts.get().saturating_sub(1));
    }
}

/// `listener` accepted a connection.
pub(crate) fn accepted(listener: &IoSource) {
    listener.pending_accepts.set(listener.pending_accepts.get().saturating_sub(1));
}

/// `src` wrote (or connected): its traffic is watched until it landed.
pub(crate) fn wrote(h: &Hub, src: &Rc<IoSource>) {
    if src.kind != "tcp stream" || src.dirty.get() || !active(h) {
        return;
    }
    src.dirty.set(true);
    h.settle.dirty.borrow_mut().push(src.clone());
}

/// `src` is about to close (or shut down writing): its peer in this hub waits for the FIN.
pub(crate) fn closing(h: &Hub, src: &Rc<IoSource>, closing_for_good: bool) {
    if src.kind != "tcp stream" || !active(h) {
        return;
    }
    let (Some(local), Some(peer)) = (src.local.get(), src.peer.get()) else { return };
    // A FIN queued behind bytes the peer's window holds back lands only when the peer reads.
    let queued = tcp::tcp_info(src.fd).is_some_and(|i| i.notsent > 0);
    if let Some(p) = stream_at(h, peer, local).filter(|_| !queued) {
        let mut w = h.settle.fin_watch.borrow_mut();
        if !w.iter().any(|x| Rc::ptr_eq(x, &p)) {
            w.push(p);
        }
    }
    if closing_for_good {
        let mut m = h.settle.streams.borrow_mut();
        if m.get(&(local, peer)).is_some_and(|w| w.as_ptr() == Rc::as_ptr(src)) {
            m.remove(&(local, peer));
        }
    }
}

/// `src` is about to read or accept: traffic this hub's sockets started earlier in this pass
/// lands first, so what the call finds does not depend on when the kernel delivers it (a read
/// right after a peer's write in the same pass would otherwise race the softirq).
pub(crate) fn before_read(h: &Hub, src: &IoSource) {
    if is_tcp(src) {
        settle(h);
    }
}

/// A UDP datagram was sent: loopback UDP is not settled (the kernel delivers it in a softirq
/// like TCP, and nothing here counts datagrams), so the run is marked inexact.
pub(crate) fn datagram_sent(h: &Hub, src: &IoSource) {
    if src.kind == "udp socket" && active(h) {
        h.settle.outside.set(true);
    }
}

/// True when every greenthread parked on an fd waits on a TCP stream whose peer is a socket of
/// this hub: once the traffic has settled nothing can arrive from outside, so the virtual clock
/// may jump at once instead of after a real-time grace.
pub(crate) fn closed_world(h: &Hub) -> bool {
    let reactor = match h.reactor.try_borrow() {
        Ok(r) => r,
        Err(_) => return false,
    };
    let sources = reactor.as_ref().map(|r| r.sources()).unwrap_or_default();
    sources.iter().filter(|s| s.has_waiters() && !s.closed.get()).all(|s| {
        let in_hub = s.kind == "tcp stream"
            && match (s.local.get(), s.peer.get()) {
                (Some(l), Some(p)) => stream_at(h, p, l).is_some(),
                _ => false,
            };
        // A trampoline registration whose fd was closed behind the runtime's back (the number no
        // longer names its file) and whose file is gone (no duplicate keeps it open: the poller
        // dropped the registration): nothing can ever wake its waiters. While a duplicate keeps
        // the file open the poller still reports it; when that cannot be told, it may.
        let dead = s.trampolines.get() > 0
            && s.identity != crate::sys::poll::file_identity(s.fd)
            && reactor.as_ref().and_then(|r| r.still_watches(s)) == Some(false);
        in_hub || dead
    })
}

/// Waits (bounded) until the traffic this hub's sockets started has landed; see the module docs.
pub(crate) fn settle(h: &Hub) {
    let s = &h.settle;
    if s.dirty.borrow().is_empty() && s.fin_watch.borrow().is_empty() && s.accepting.borrow().is_empty() {
        return;
    }
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let mut pending = false;
        s.dirty.borrow_mut().retain(|src| {
            if src.closed.get() {
                src.dirty.set(false);
                return false;
            }
            let peer = match (src.local.get(), src.peer.get()) {
                (Some(l), Some(p)) => stream_at(h, p, l),
                _ => None,
            };
            let unaccepted = peer.is_none() && src.peer.get().is_some_and(|p| listener_at(h, &p).is_some());
            let peer_info = peer.as_ref().and_then(|p| tcp::tcp_info(p.fd));
            match tcp::tcp_info(src.fd) {
                Some(i) if i.state == SYN_SENT => {
                    pending = true;
                    true
                }
                Some(i) => match peer_info {
                    // Sent and not received yet, or written and not sent while the peer has
                    // room (held back by corking or an acknowledgement on its way): in flight.
                    Some(pi) if pi.received < i.sent || (i.notsent > 0 && pi.rcv_wnd > 0) => {
                        pending = true;
                        true
                    }
                    // Landed, and a writer waits for room: the acknowledgements that free it
                    // are in flight too (the writable edge must not depend on when they land).
                    Some(_) if i.unacked > 0 && src.is_waited_for(crate::Interest::Write) => {
                        pending = true;
                        true
                    }
                    // Landed; still watched while bytes wait for the peer to read.
                    Some(_) if i.notsent > 0 => true,
                    // Not accepted yet: matched once the accepted end exists.
                    None if unaccepted => true,
                    _ => {
                        src.dirty.set(false);
                        false
                    }
                },
                None => {
                    src.dirty.set(false);
                    false
                }
            }
        });
        s.fin_watch.borrow_mut().retain(|src| {
            if src.closed.get() {
                return false;
            }
            let waiting = tcp::tcp_info(src.fd).is_some_and(|i| i.state == ESTABLISHED);
            pending |= waiting;
            waiting
        });
        s.accepting.borrow_mut().retain(|l| {
            if l.closed.get() || l.pending_accepts.get() == 0 {
                return false;
            }
            if tcp::tcp_info(l.fd).is_some_and(|i| i.state == LISTEN && (i.unacked as usize) < l.pending_accepts.get())
            {
                pending = true;
            }
            true
        });
        if !pending {
            return;
        }
        if start.elapsed() > SETTLE_LIMIT {
            s.unsettled.set(true);
            // Nothing in flight is waited for again: the run is inexact from here anyway.
            for src in s.dirty.borrow_mut().drain(..) {
                src.dirty.set(false);
            }
            s.fin_watch.borrow_mut().clear();
            s.accepting.borrow_mut().clear();
            return;
        }
        spins += 1;
        if spins < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}
