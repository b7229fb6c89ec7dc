"""The Python peers of `bench/compare`: green's workloads on eventlet and on gevent.

    python peers.py <system> <workload> [--min-seconds S]

runs one workload once on one system (`eventlet` or `gevent`) and prints exactly one line,
`value=<float>`, as the Rust runners do (`bench/common/runner.rs`); anything else goes to stderr.
Rates follow the runners' rule: one warm-up batch, then batches until the measured wall time
reaches S (default 0.5), and the value is the operations done over the time they took (wall
time, or process CPU time for `timers`). `rss100k` reports peak RSS in MiB instead.

Nothing is monkey-patched. Each system is wrapped in a small adapter exposing the same few
operations (sleep, spawn, join, a pool, a listening and a connected green socket), so every
workload below is written once and runs the same logic on both, and the same logic as the Rust
runners. The echo server's accept loop is written by hand rather than taken from gevent.server.

Workloads: switch, switch_detect, spawn_join, spawn100k, timers, imap, echo, rss100k.
"""

import argparse
import resource
import socket
import sys
import time
import warnings

SWITCH_BATCH = 200_000  # sleep(0) calls per switch batch, split between two greenthreads
SPAWN_JOIN_BATCH = 20_000  # spawn-then-wait pairs per batch
SPAWN_MANY = 100_000  # greenthreads alive at once in spawn100k and rss100k
TIMER_THREADS, TIMER_SLEEPS = 10_000, 10
IMAP_BATCH, IMAP_POOL = 100_000, 200
CONNS, MSG, ECHO_PER = 100, 64, 100  # echo clients, bytes per message, round trips per batch
DETECT_SECONDS = 0.05  # blocking-detection threshold for switch_detect

# The timer workload's 64-bit LCG (Knuth's MMIX constants), as in runtime/benches/workloads/timers.rs.
LCG_MUL, LCG_ADD, MASK64 = 6364136223846793005, 1442695040888963407, (1 << 64) - 1


class Eventlet:
    """eventlet's own green primitives; blocking detection is its SIGALRM-based hub check."""

    def __init__(self, detect):
        # `detect` needs nothing up front here: eventlet turns its detector on at any time.
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        import eventlet
        import eventlet.debug
        import eventlet.event

        self._eventlet = eventlet
        self.sleep, self.spawn, self.Pool = eventlet.sleep, eventlet.spawn, eventlet.GreenPool
        self.Event = eventlet.event.Event

    @staticmethod
    def join(gt):
        return gt.wait()

    @staticmethod
    def fire(event):
        event.send()

    def listen(self):
        return self._eventlet.listen(("127.0.0.1", 0), backlog=128)

    def connect(self, addr):
        return self._eventlet.connect(addr)

    def detect(self, on):
        self._eventlet.debug.hub_blocking_detection(on, DETECT_SECONDS)


class Gevent:
    """gevent's own green primitives; blocking detection is its periodic monitor thread."""

    def __init__(self, detect):
        import gevent

        if detect:
            # The monitor thread is configured before anything creates the hub.
            warnings.filterwarnings("ignore", message="Unable to monitor memory usage")
            gevent.config.monitor_thread = True
            gevent.config.max_blocking_time = DETECT_SECONDS
        import gevent.event
        import gevent.pool
        import gevent.socket

        self._gevent = gevent
        self.sleep, self.spawn, self.Pool = gevent.sleep, gevent.spawn, gevent.pool.Pool
        self.Event = gevent.event.Event

    @staticmethod
    def join(g):
        return g.get()

    @staticmethod
    def fire(event):
        event.set()

    def listen(self):
        s = self._gevent.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        return s

    def connect(self, addr):
        return self._gevent.socket.create_connection(addr)

    def detect(self, on):
        hub = self._gevent.get_hub()
        if on:
            # The hub starts the thread when it first runs; start it now so it is there from the
            # warm-up on (this is a no-op if it already runs), and refuse to measure without it.
            monitor = hub.start_periodic_monitoring_thread()
            if monitor is None or hub.periodic_monitoring_thread is None:
                sys.exit("peers.py: gevent's monitor thread did not start")
            print(f"gevent monitor thread running (ident {monitor.monitor_thread_ident}, "
                  f"max_blocking_time {self._gevent.config.max_blocking_time})", file=sys.stderr)
        elif hub.periodic_monitoring_thread is not None:
            hub.periodic_monitoring_thread.kill()


def rate(min_seconds, batch, cpu=False):
    """Ops per second over batches run until `min_seconds` of wall time, after one warm-up batch."""
    batch()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    ops = 0
    while True:
        ops += batch()
        wall = time.perf_counter() - wall0
        if wall >= min_seconds:
            break
    return ops / (time.process_time() - cpu0 if cpu else wall)


def switch_batch(g):
    """Two greenthreads ping-ponging sleep(0), SWITCH_BATCH sleeps in all."""
    def sleeper():
        for _ in range(SWITCH_BATCH // 2):
            g.sleep(0)

    a, b = g.spawn(sleeper), g.spawn(sleeper)
    g.join(a)
    g.join(b)
    return SWITCH_BATCH


def switch(g, min_seconds):
    return rate(min_seconds, lambda: switch_batch(g))


def switch_detect(g, min_seconds):
    g.detect(True)
    try:
        return rate(min_seconds, lambda: switch_batch(g))
    finally:
        g.detect(False)


def spawn_join(g, min_seconds):
    def one():
        return 1

    def batch():
        for _ in range(SPAWN_JOIN_BATCH):
            g.join(g.spawn(one))
        return SPAWN_JOIN_BATCH

    return rate(min_seconds, batch)


def spawn100k(g, min_seconds):
    def ident(i):
        return i

    def batch():
        gts = [g.spawn(ident, i) for i in range(SPAWN_MANY)]
        for gt in gts:  # in spawn order
            g.join(gt)
        return SPAWN_MANY

    return rate(min_seconds, batch)


def timers(g, min_seconds):
    def sleeper(i):
        state = i
        for _ in range(TIMER_SLEEPS):
            state = (state * LCG_MUL + LCG_ADD) & MASK64
            g.sleep(((state >> 33) % 11) / 1000.0)  # 0 to 10 ms

    def batch(threads):
        gts = [g.spawn(sleeper, i) for i in range(threads)]
        for gt in gts:
            g.join(gt)
        return threads * TIMER_SLEEPS

    # Timers per CPU second: the sleeps themselves take wall time but no CPU.
    return rate(min_seconds, lambda: batch(TIMER_THREADS), cpu=True)


def imap(g, min_seconds):
    pool = g.Pool(IMAP_POOL)
    expected = IMAP_BATCH * (IMAP_BATCH + 1) // 2

    def batch():
        total = sum(pool.imap(lambda x: x + 1, range(IMAP_BATCH)))
        assert total == expected, total
        return IMAP_BATCH

    return rate(min_seconds, batch)


def nodelay(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def echo(g, min_seconds):
    listener = g.listen()

    def handle(conn):
        # Echo whatever arrives until EOF or an error.
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    def accept_loop():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            nodelay(conn)
            g.spawn(handle, conn)

    acceptor = g.spawn(accept_loop)
    clients = []
    for _ in range(CONNS):
        clients.append(g.connect(listener.getsockname()))
        nodelay(clients[-1])
    msg = b"\x07" * MSG

    def client(sock):
        for _ in range(ECHO_PER):
            sock.sendall(msg)
            got = 0
            while got < MSG:  # read exactly MSG bytes back
                chunk = sock.recv(MSG - got)
                if not chunk:
                    raise ConnectionError("echo server closed the connection")
                got += len(chunk)

    def batch():
        gts = [g.spawn(client, s) for s in clients]
        for gt in gts:
            g.join(gt)
        return CONNS * ECHO_PER

    try:
        return rate(min_seconds, batch)
    finally:
        acceptor.kill()  # the same call on both systems
        for s in clients:
            s.close()
        listener.close()
        g.sleep(0.01)  # let the handlers see EOF and close their ends


def rss100k(g, min_seconds):
    """Peak RSS with 100k greenthreads parked at once, each in a timed wait (a stack and a timer,
    as a sleeper has), released by one event once all have started."""
    started = [0]
    release = g.Event()

    def sleeper():
        started[0] += 1
        release.wait(60)

    gts = [g.spawn(sleeper) for _ in range(SPAWN_MANY)]
    while started[0] < SPAWN_MANY:  # gevent starts spawned greenlets a slice at a time
        g.sleep(0.01)
    mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    g.fire(release)
    for gt in gts:
        g.join(gt)
    return mib


SYSTEMS = {"eventlet": Eventlet, "gevent": Gevent}
WORKLOADS = {f.__name__: f for f in (switch, switch_detect, spawn_join, spawn100k, timers, imap, echo, rss100k)}


def positive_seconds(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def main():
    parser = argparse.ArgumentParser(description="Run one bench/compare workload on eventlet or gevent.")
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--min-seconds", type=positive_seconds, default=0.5, metavar="S")
    args = parser.parse_args()
    g = SYSTEMS[args.system](detect=args.workload == "switch_detect")
    value = WORKLOADS[args.workload](g, args.min_seconds)
    print(f"value={value}")


if __name__ == "__main__":
    main()
