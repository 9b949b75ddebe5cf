#!/usr/bin/env python3
"""A transparent TCP relay that adds a fixed delay: the packet delay of a slow link, in user space
(this kernel has no tc netem).

  delay_relay.py --port P --delay-ms D [--mark M] [--cap-bytes B]

Run inside a test host (a network namespace) whose nftables nat/output chain REDIRECTs the
host's outgoing TCP connections to 127.0.0.1:P, except packets carrying fwmark M (the relay's own
upstream connections). For each redirected connection the relay reads the original destination
with getsockopt(SOL_IP, SO_ORIGINAL_DST), connects there itself (marked, so not redirected again)
and forwards bytes both ways. Every chunk read is stamped with its arrival time and written on
only D ms later, from a time-ordered queue per direction: the delay shifts the stream in time but
does not cap its throughput (up to --cap-bytes in flight per direction, after which the relay
stops reading and TCP flow control holds the sender back, as a real bandwidth-delay product
would). An end of stream (FIN) and a reset (RST) are delayed and passed on the same way, so a
crashed peer still looks like one.

One relay sits on the side that opened the connection, and it delays both directions: one-way
delay D, round trip +2D. Single-threaded (selectors); prints 'ready' once listening and a line of
counters when it gets SIGTERM or SIGINT."""
import argparse, collections, errno, heapq, itertools, selectors, signal, socket, struct, sys, time

SO_ORIGINAL_DST = 80                          # linux/netfilter_ipv4.h
SO_MARK = getattr(socket, "SO_MARK", 36)
READ_SIZE = 256 * 1024
EOF, RST = object(), object()                 # queue items besides bytes


class End:
    """One socket of a relayed pair: `out` is the pipe it feeds, `inp` the pipe that writes to it."""

    def __init__(self, conn, connecting=False):
        self.conn, self.connecting, self.closed, self.wr_shut = conn, connecting, False, False
        self.out = self.inp = None


class Pipe:
    """One direction of a relayed connection: what src sent waits in a time-ordered queue."""

    def __init__(self, relay, src, dst):
        self.relay, self.src, self.dst = relay, src, dst
        self.queue = collections.deque()      # (due time, bytes | EOF | RST)
        self.queued = 0                       # payload bytes waiting
        self.src_done = False                 # src sent FIN or failed: read no more
        self.blocked = False                  # the head is due but dst cannot take it yet
        self.timer = None                     # due time of the scheduled flush

    def can_read(self):
        return not self.src_done and self.queued < self.relay.cap

    def push(self, item):
        self.queue.append((time.monotonic() + self.relay.delay, item))
        if isinstance(item, bytes):
            self.queued += len(item)
        self.schedule()

    def schedule(self):
        if self.queue and not self.blocked and self.timer is None:
            self.timer = self.queue[0][0]
            heapq.heappush(self.relay.timers, (self.timer, next(self.relay.tick), self))

    def flush(self, now):
        """Write every item that is due; stop at one not yet due or when dst would block."""
        while self.queue and self.queue[0][0] <= now:
            if self.dst.closed:
                self.queue.clear()
                return
            if self.dst.connecting:
                self.blocked = True
                return
            item = self.queue[0][1]
            if item is EOF:
                self.queue.popleft()
                self.relay.end_of_stream(self.dst)
                continue
            if item is RST:
                self.queue.clear()
                self.relay.reset(self.dst)
                return
            try:
                n = self.dst.conn.send(item)
            except BlockingIOError:
                self.blocked = True
                return
            except OSError:
                self.relay.failed(self.dst)
                return
            self.queued -= n
            if n < len(item):
                self.queue[0] = (self.queue[0][0], item[n:])
                self.blocked = True
                return
            self.queue.popleft()


class Relay:
    def __init__(self, port, delay_ms, mark, cap):
        self.delay, self.mark, self.cap = delay_ms / 1000.0, mark, cap
        self.sel = selectors.DefaultSelector()
        self.timers, self.tick = [], itertools.count()
        self.stats = collections.Counter()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(256)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, None)

    def accept(self):
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        try:
            raw = client.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        except OSError:   # not a redirected connection (no conntrack entry)
            client.close()
            return
        port, addr = struct.unpack_from("!H", raw, 2)[0], socket.inet_ntoa(raw[4:8])
        if (addr, port) == self.listener.getsockname():   # dialled directly: would loop
            client.close()
            return
        up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        up.setsockopt(socket.SOL_SOCKET, SO_MARK, self.mark)       # not redirected again
        for s in (client, up):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        a, b = End(client), End(up, connecting=True)
        a.out = b.inp = Pipe(self, a, b)
        b.out = a.inp = Pipe(self, b, a)
        self.stats["connections"] += 1
        if up.connect_ex((addr, port)) not in (0, errno.EINPROGRESS):
            self.failed(b)
        for e in (a, b):
            self.refresh(e)

    def readable(self, e):
        try:
            data = e.conn.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            self.failed(e)
            return
        if data:
            self.stats["bytes"] += len(data)
            e.out.push(data)
        else:
            e.out.src_done = True
            e.out.push(EOF)

    def writable(self, e):
        if e.connecting:
            e.connecting = False
            if e.conn.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.stats["connect_failed"] += 1
                self.failed(e)
                return
        e.inp.blocked = False
        e.inp.flush(time.monotonic())
        e.inp.schedule()

    def failed(self, e):
        """e's socket was reset or refused: the other side gets a reset one delay later."""
        e.out.src_done = True
        e.out.push(RST)
        self.close(e)

    def end_of_stream(self, e):
        e.wr_shut = True
        try:
            e.conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        peer = e.inp.src
        if peer.wr_shut:   # both directions ended: the pair is done
            self.close(e), self.close(peer)

    def reset(self, e):
        if not e.closed:
            try:
                e.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close(e)

    def close(self, e):
        if e.closed:
            return
        e.closed = True
        try:
            self.sel.unregister(e.conn)
        except (KeyError, ValueError):
            pass
        e.conn.close()
        e.out.src_done = True
        e.inp.queue.clear()
        e.inp.queued = 0

    def refresh(self, e):
        """Wait for what this socket can do now: read unless its queue is full, write if blocked."""
        if e.closed:
            return
        ev = 0
        if e.connecting or (e.inp.blocked and e.inp.queue):
            ev |= selectors.EVENT_WRITE
        if not e.connecting and e.out.can_read():
            ev |= selectors.EVENT_READ
        try:
            self.sel.get_key(e.conn)
            registered = True
        except KeyError:
            registered = False
        if ev and registered:
            self.sel.modify(e.conn, ev, e)
        elif ev:
            self.sel.register(e.conn, ev, e)
        elif registered:
            self.sel.unregister(e.conn)

    def run(self):
        stop = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.append(1))
        print("ready", flush=True)
        while not stop:
            timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else 1.0
            try:
                events = self.sel.select(timeout)
            except InterruptedError:
                continue
            touched = set()
            for key, mask in events:
                e = key.data
                if e is None:
                    self.accept()
                    continue
                if mask & selectors.EVENT_WRITE and not e.closed:
                    self.writable(e)
                if mask & selectors.EVENT_READ and not e.closed:
                    self.readable(e)
                touched.update((e, e.inp.src))
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                pipe = heapq.heappop(self.timers)[2]
                pipe.timer = None
                pipe.flush(now)
                pipe.schedule()
                touched.update((pipe.src, pipe.dst))
            for e in touched:
                self.refresh(e)
        print(f"relay: {self.stats['connections']} connections, {self.stats['bytes']} bytes, "
              f"{self.stats['connect_failed']} failed connects", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--mark", type=lambda s: int(s, 0), default=0x77)
    ap.add_argument("--cap-bytes", type=int, default=32 << 20)
    a = ap.parse_args()
    Relay(a.port, a.delay_ms, a.mark, a.cap_bytes).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
