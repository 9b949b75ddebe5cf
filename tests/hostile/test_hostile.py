"""Hostile peers against a real job, over real sockets on 127.0.0.1.

  test_hostile.py WEFTRUN HOSTILE_RANK [--n 4] [--conns 2000] [--rank-conns 500]

A job of N ranks runs an allreduce loop that checks every result exactly (hostile_rank.c loop).
The driver finds the coordinator's and the ranks' listening ports through /proc and attacks:

 Phase A, mesh formation. The last rank sleeps before weft_comm_init, so the others sit in init
   with their listening sockets open; the driver queues hostile connections there (garbage, a
   truncated response then silence, an idle socket, a frame header and a coordinator header with
   2^63 lengths, a response with the wrong secret, one computed over the wrong nonce, a replay of
   a response captured from a real handshake, a valid response sent twice, correct-secret
   PEER_HELLOs for another epoch / with a wrong member id / replaced by a frame header). When
   the last rank arrives the mesh must form anyway within a bound, each hostile connection must
   be refused (closed, never given the server MAC or an OK PEER_ACK), and the ranks that accept
   must log why.
 Phase B, while collectives run. The coordinator (always accepting) gets the same kinds of
   input plus coordinator-protocol abuse (headers with 2^63 / 2^32-1 lengths, a message before
   HELLO, a malformed HELLO) and a flood of --conns connections at once; the ranks' listening
   sockets (not accepting outside mesh formation) get blind payloads and --rank-conns
   connections each. After each attack collectives must keep completing, no single allreduce
   may take longer than STALL_S, and the coordinator must log its reason.
 Finally: every process alive, resident memory and the coordinator's descriptor count back
   within bounds, the job stops cleanly on request with weftrun exiting 0 and no rank error.
"""
import argparse
import os
import re
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile as H  # noqa: E402

STALL_S = 5.0          # longest a single allreduce may take while under attack
RSS_RANK_KIB = 16384   # allowed growth of a rank's resident memory
RSS_COORD_KIB = 32768  # ... and of the coordinator's
DELAY_S = 8.0          # how long the last rank stays out of init (the mesh-attack window)

# Authenticated connections (they know the job secret) that break the protocol before HELLO
# are closed silently by the coordinator (tools/coordinator/server.c lost()): reported as GAP,
# a failure with --strict.
KNOWN_GAPS = {"coord valid response twice", "coord header len 2^63 after auth",
              "coord header len 2^32-1 after auth", "coord stale-epoch frame after auth"}
STRICT = [False]

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def progress(job, rank=0):
    """[(iteration, maxlat, time)] of a rank's progress lines."""
    out = []
    for (t, r, text) in job.snapshot():
        if r == rank:
            m = re.match(r"rank \d+ progress (\d+) maxlat ([\d.]+)", text)
            if m:
                out.append((int(m.group(1)), float(m.group(2)), t))
    return out


def last_iter(job):
    p = progress(job)
    return p[-1][0] if p else 0


def new_lines(job, since):
    return job.snapshot()[since:]


def wait_log(job, since, pattern, timeout, rank=None):
    rx = re.compile(pattern)

    def found(lines):
        for (_, r, text) in lines[since:]:
            if (rank is None or r == rank) and rx.search(text):
                return text
        return None
    return job.wait_for(found, timeout)


# --- attacks on a listening port: each returns a short outcome string -------------------------

def blind(port, payload, hold):
    """Connects, sends payload (maybe nothing), keeps the socket in `hold` (closed later)."""
    s = H.connect(port)
    if payload:
        s.sendall(payload)
    hold.append(s)
    return "sent %d bytes" % len(payload)


def wrong_secret(port, role, wait):
    s = H.connect(port, wait)
    try:
        nonce_s = H.read_challenge(s, role)
        if nonce_s is None:
            return "no challenge"
        bad_key = H.auth_key("not the job secret")
        nonce_c = os.urandom(32)
        s.sendall(nonce_c + H.client_mac(bad_key, role, nonce_s, nonce_c))
        return "refused" if H.peer_closed(s, 10) else "NOT closed"
    finally:
        s.close()


def wrong_nonce(port, key, role, wait):
    s = H.connect(port, wait)
    try:
        if H.read_challenge(s, role) is None:
            return "no challenge"
        nonce_c = os.urandom(32)
        s.sendall(nonce_c + H.client_mac(key, role, os.urandom(32), nonce_c))
        return "refused" if H.peer_closed(s, 10) else "NOT closed"
    finally:
        s.close()


def replay(port, key, role, wait, after_auth=None):
    """Captures a response from a real handshake, then replays it on a second connection."""
    s1 = H.connect(port, wait)
    try:
        _, response, ok = H.handshake(s1, key, role)
        if response is None:
            return "no challenge"
        if not ok:
            return "legit handshake FAILED"
        if after_auth:
            after_auth(s1)
    finally:
        s1.close()
    s2 = H.connect(port, wait)
    try:
        if H.read_challenge(s2, role) is None:
            return "no challenge (second)"
        s2.sendall(response)
        return "refused" if H.peer_closed(s2, 10) else "NOT closed"
    finally:
        s2.close()


def after_handshake(port, key, role, wait, payload, tag=None):
    """A correct handshake, then payload; refused when the server closes (after answering).
    tag: "good" appends the payload's correct coordinator tag (as message 0 of the connection),
    "bad" one it did not compute."""
    s = H.connect(port, wait)
    try:
        nonce_s, response, ok = H.handshake(s, key, role)
        if not ok:
            return "handshake FAILED"
        if tag == "good":
            payload += H.coord_tag(key, role, nonce_s, response[:32], 0, payload)
        elif tag == "bad":
            payload += os.urandom(H.COORD_TAG_LEN)
        s.sendall(payload)
        return "refused" if H.peer_closed(s, 10) else "NOT closed"
    finally:
        s.close()


def response_twice(port, key, role, wait):
    """A correct handshake, then the same response again where the first message belongs. A
    peer's first message (PEER_HELLO, 160 bytes since version 4) is longer than the response:
    it is repeated to that length, so the acceptor judges it rather than waits for the rest (a
    half-read hello may be kept past the formation, unread, like any slow dialer's)."""
    s = H.connect(port, wait)
    try:
        _, response, ok = H.handshake(s, key, role)
        if not ok:
            return "handshake FAILED"
        if role == H.ROLE_PEER:
            response = (response * (H.PEER_HELLO_LEN // len(response) + 1))[:H.PEER_HELLO_LEN]
        s.sendall(response)
        return "refused" if H.peer_closed(s, 10) else "NOT closed"
    finally:
        s.close()


def flood(port, count, hold_s):
    """count non-blocking connects at once, held hold_s; returns (started, closed by server)."""
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    time.sleep(hold_s)
    closed = 0
    for s in socks:
        try:
            if s.recv(4096) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    H.close_all(socks)
    return len(socks), closed


# --- phases -----------------------------------------------------------------------------------

def mesh_phase(job, key, n, rank_pids):
    """Attacks queued while ranks 0..n-2 wait in init; the mesh must still form."""
    ports = {}
    deadline = time.time() + 20
    while time.time() < deadline and len(ports) < n - 1:
        for r in range(n - 1):
            p = H.listening_ports(rank_pids[r])
            if p:
                ports[r] = p[0]
        time.sleep(0.05)
    if not check(len(ports) == n - 1, "found the listening ports of ranks 0..%d: %s" % (n - 2, ports)):
        return
    # Rank 0 dials every other rank: stopped (after its HELLO reached the coordinator), it holds
    # the others in mesh formation, accepting, until every hostile connection has been handled.
    joined0 = wait_log(job, 0, r"member \d+ joined: rank hint 0,", 20)
    check(joined0 is not None, "rank 0 joined the coordinator")
    os.kill(rank_pids[0], signal.SIGSTOP)
    try:
        return mesh_attacks(job, key, n, ports)
    finally:
        os.kill(rank_pids[0], signal.SIGCONT)


def mesh_attacks(job, key, n, ports):
    hold, results, threads = [], {}, []
    frame = H.frame_hdr(epoch=1, seq=0, count=1 << 63, length=0xFFFFFFFF)
    coordh = H.coord_hdr_u64_length(4, 1 << 63) + b"\0" * 48
    for r, port in ports.items():
        blind(port, os.urandom(200), hold)
        blind(port, os.urandom(10), hold)          # truncated response, then silence
        blind(port, b"", hold)                      # idle
        blind(port, frame, hold)                    # 64 bytes where the auth response goes
        blind(port, coordh, hold)
    accepting = [r for r in ports if r > 0]  # rank 0 dials everyone and never accepts
    wait = DELAY_S + 30
    hellos = {
        "hello_other_epoch": H.peer_hello(999999, 1, 0, 0, n),
        "hello_wrong_member": H.peer_hello(1, 987654321, 0, 0, n),
        "hello_wrong_size": H.peer_hello(1, 1, 0, 0, n + 5),
        "frame_as_hello": frame + bytes(H.PEER_HELLO_LEN - len(frame)),
    }
    for r in accepting:
        port = ports[r]
        jobs = {
            "wrong_secret": lambda p=port: wrong_secret(p, H.ROLE_PEER, wait),
            "wrong_nonce": lambda p=port: wrong_nonce(p, key, H.ROLE_PEER, wait),
            "replay": lambda p=port: replay(p, key, H.ROLE_PEER, wait,
                                            after_auth=lambda s: s.sendall(H.peer_hello(999998, 1, 0, 0, n))),
            "response_twice": None,
        }
        for name, payload in hellos.items():
            jobs[name] = lambda p=port, pl=payload: after_handshake(p, key, H.ROLE_PEER, wait, pl)

        jobs["response_twice"] = lambda p=port: response_twice(p, key, H.ROLE_PEER, wait)
        for name, fn in jobs.items():
            def run(name=name, fn=fn, r=r):
                try:
                    results[(r, name)] = fn()
                except Exception as e:  # noqa: BLE001 - reported as the outcome
                    results[(r, name)] = "exception %r" % e
            t = threading.Thread(target=run, daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join(timeout=40)
    os.kill(int(job.rank0_pid), signal.SIGCONT)
    t0 = time.time()
    ready = job.wait_for(lambda ls: [1 for (_, _, t) in ls if " ready size " in t] if
                         sum(" ready size " in t for (_, _, t) in ls) >= n else None, DELAY_S + 40)
    check(ready is not None, "all %d ranks formed the mesh despite %d hostile connections (%.1f s)"
          % (n, len(hold) + len(threads), time.time() - t0))
    for (r, name), outcome in sorted(results.items()):
        check(outcome == "refused", "mesh rank %d %s: %s" % (r, name, outcome))
    for r in accepting:
        for pattern in (r"rejected an incoming connection: bad auth response",
                        r"rejected an incoming connection: PEER_HELLO for another epoch",
                        r"rejected an incoming connection: PEER_HELLO member id does not match",
                        r"rejected an incoming connection: PEER_HELLO with another epoch size",
                        r"rejected an incoming connection: malformed PEER_HELLO"):
            check(wait_log(job, 0, pattern, 10, rank=r) is not None,
                  "rank %d logged '%s'" % (r, pattern))
    # The blind sockets: the accepting ranks close them (refused or expired) once formation ends;
    # rank 0's stay unaccepted in its backlog (it never accepts): report what happened.
    closed = {r: 0 for r in ports}
    per_rank = len(hold) // len(ports)
    for i, s in enumerate(hold):
        r = list(ports)[i // per_rank]
        if H.peer_closed(s, 0.2):
            closed[r] += 1
    print("info blind mesh-window connections closed by each rank: %s (of %d each)"
          % (closed, per_rank), flush=True)
    H.close_all(hold)
    return ports


def run_phase(job, key, n, rank_pids, coord_pid, coord_port, rank_ports, conns, rank_conns):
    procs = dict(("rank %d" % r, p) for r, p in rank_pids.items())
    procs["coordinator"] = coord_pid
    job.wait_for(lambda ls: last_iter(job) >= 100 or None, 60)
    rss0 = {name: H.rss_kib(p) for name, p in procs.items()}
    coord_fds0 = len(os.listdir("/proc/%d/fd" % coord_pid))
    print("info baseline RSS KiB %s, coordinator fds %d" % (rss0, coord_fds0), flush=True)
    frame = H.frame_hdr(epoch=1, seq=0, count=1 << 63, length=0xFFFFFFFF)
    stale = H.frame_hdr(epoch=0, seq=3, count=1001, length=8) + b"\0" * 8
    wrongjob = H.frame_hdr(epoch=1, seq=3, count=1001, length=8, magic=0x12345678) + b"\0" * 8
    C, coord_hold = H.ROLE_COORD, []
    # (name, action, pattern the coordinator logs or None, seconds to wait for it)
    attacks = [
        ("coord garbage", lambda: blind(coord_port, os.urandom(4096), coord_hold),
         r"authentication failed from 127\.0\.0\.1", 10),
        ("coord truncated response then silence", lambda: blind(coord_port, os.urandom(10), coord_hold),
         r"did not complete the handshake", 12),
        ("coord frame header len 2^63 as response", lambda: blind(coord_port, frame, coord_hold),
         r"authentication failed from", 10),
        ("coord header len 2^63 before auth",
         lambda: blind(coord_port, H.coord_hdr_u64_length(4, 1 << 63) + b"\0" * 48, coord_hold),
         r"authentication failed from", 10),
        ("coord wrong secret", lambda: wrong_secret(coord_port, C, 10), r"authentication failed from", 10),
        ("coord wrong nonce", lambda: wrong_nonce(coord_port, key, C, 10), r"authentication failed from", 10),
        ("coord replayed response", lambda: replay(coord_port, key, C, 10), r"authentication failed from", 10),
        ("coord valid response twice", lambda: response_twice(coord_port, key, C, 10),
         r"connection 127\.0\.0\.1:\d+ .*(malformed|header|protocol)", 10),
        ("coord header len 2^63 after auth",
         lambda: after_handshake(coord_port, key, C, 10, H.coord_hdr_u64_length(4, 1 << 63)),
         r"connection 127\.0\.0\.1:\d+ .*(malformed|header|protocol)", 10),
        ("coord header len 2^32-1 after auth",
         lambda: after_handshake(coord_port, key, C, 10, H.coord_hdr(4, 0xFFFFFFFF)),
         r"connection 127\.0\.0\.1:\d+ .*(malformed|header|protocol)", 10),
        ("coord largest HELLO claimed then silence",
         lambda: after_handshake(coord_port, key, C, 10, H.coord_hdr(1, H.COORD_HELLO_MAX) + b"x" * 100),
         r"did not complete the handshake", 12),
        ("coord HELLO claiming 1 MiB (over a HELLO's bound)",
         lambda: after_handshake(coord_port, key, C, 10, H.coord_hdr(1, 1 << 20) + b"x" * 100),
         r"connection 127\.0\.0\.1:\d+ .*(malformed|header|protocol)", 10),
        ("coord REPORT before HELLO",
         lambda: after_handshake(coord_port, key, C, 10, H.coord_hdr(8, 0), tag="good"),
         r"sent message type 8 before HELLO", 10),
        ("coord malformed HELLO",
         lambda: after_handshake(coord_port, key, C, 10, H.coord_hdr(1, 7) + b"1234567", tag="good"),
         r"malformed HELLO", 10),
        ("coord HELLO with a forged tag (an injected message)",
         lambda: after_handshake(coord_port, key, C, 10, H.coord_hdr(1, 7) + b"1234567", tag="bad"),
         r"message 0 \(type 1\) failed authentication", 10),
        ("coord stale-epoch frame after auth",
         lambda: after_handshake(coord_port, key, C, 10, stale),
         r"connection 127\.0\.0\.1:\d+ .*(malformed|header|protocol)", 10),
        ("coord flood %d connections" % conns,
         lambda: "started %d, closed by the coordinator %d" % flood(coord_port, conns, 3.0),
         r"too many unauthenticated connections", 10),
    ]
    rank_hold = []
    for r, port in rank_ports.items():
        attacks += [
            ("rank %d garbage" % r, lambda p=port: blind(p, os.urandom(4096), rank_hold), None, 0),
            ("rank %d truncated frame" % r, lambda p=port: blind(p, frame[:20], rank_hold), None, 0),
            ("rank %d frame len 2^63" % r, lambda p=port: blind(p, frame, rank_hold), None, 0),
            ("rank %d stale-epoch frame" % r, lambda p=port: blind(p, stale, rank_hold), None, 0),
            ("rank %d wrong-job frame" % r, lambda p=port: blind(p, wrongjob, rank_hold), None, 0),
            ("rank %d challenge while running" % r,
             lambda p=port: "no challenge (not accepting)" if H.read_challenge(H.connect(p, 1.0), H.ROLE_PEER) is None
             else "ANSWERED", None, 0),
            ("rank %d flood %d connections" % (r, rank_conns),
             lambda p=port: "started %d, closed %d" % flood(p, rank_conns, 1.0), None, 0),
        ]
    for name, action, pattern, wait_s in attacks:
        since = len(job.snapshot())
        it0 = last_iter(job)
        t0 = time.time()
        try:
            outcome = action()
        except Exception as e:  # noqa: BLE001
            outcome = "exception %r" % e
        took = time.time() - t0
        advanced = job.wait_for(lambda ls: last_iter(job) >= it0 + 100 or None, 30)
        if name in KNOWN_GAPS and not STRICT[0]:
            wait_s = min(wait_s, 3)
        logged = wait_log(job, since, pattern, wait_s) if pattern else None
        check(advanced is not None and took < 60,
              "%s: %s (%.1f s); job went on to iteration %d" % (name, outcome, took, last_iter(job)))
        if pattern and logged is None and name in KNOWN_GAPS and not STRICT[0]:
            print("GAP  %s: the coordinator logs no reason (see docs/SECURITY.md, known gaps)"
                  % name, flush=True)
        elif pattern:
            check(logged is not None, "%s: coordinator logged %r%s" % (
                name, pattern, (": " + logged.strip()[-110:]) if logged else ""))
        if "NOT closed" in str(outcome) or "ANSWERED" in str(outcome) or "FAILED" in str(outcome):
            check(False, "%s refused" % name)
    H.close_all(coord_hold)
    H.close_all(rank_hold)
    time.sleep(6.5)  # the coordinator's handshake deadline (5 s) expires what is left
    job.wait_for(lambda ls: None, 0)
    worst = max([lat for (_, lat, _) in progress(job)] or [0])
    check(worst < STALL_S, "no allreduce took longer than %.0f s under attack (slowest %.3f s)"
          % (STALL_S, worst))
    for name, p in procs.items():
        check(H.alive(p), "%s (pid %d) still alive" % (name, p))
    rss1 = {name: H.rss_kib(p) for name, p in procs.items()}
    for name in procs:
        limit = RSS_COORD_KIB if name == "coordinator" else RSS_RANK_KIB
        if rss0[name] is not None and rss1[name] is not None:
            check(rss1[name] - rss0[name] < limit, "%s RSS %d -> %d KiB (bound +%d)"
                  % (name, rss0[name], rss1[name], limit))
    coord_fds1 = len(os.listdir("/proc/%d/fd" % coord_pid))
    check(coord_fds1 <= coord_fds0 + 2, "coordinator descriptors %d -> %d" % (coord_fds0, coord_fds1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weftrun")
    ap.add_argument("rank_program")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--rank-conns", type=int, default=500)
    ap.add_argument("--strict", action="store_true", help="known gaps in logging fail the test")
    a = ap.parse_args()
    STRICT[0] = a.strict
    need = a.conns + a.rank_conns + 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard) if hard != resource.RLIM_INFINITY else need, hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < need:
            a.conns = max(100, soft - a.rank_conns - 512)
            print("info descriptor limit %d: flooding with %d connections" % (soft, a.conns))
    token = os.urandom(32).hex()
    key = H.auth_key(token)
    tmp = tempfile.mkdtemp(prefix="weft-hostile-")
    stop_file = os.path.join(tmp, "stop")
    # A generous heartbeat timeout: rank 0 is stopped for a while during the mesh phase.
    env = {"WEFT_JOB_TOKEN": token, "WEFT_LOG_LEVEL": "1", "WEFT_TIMEOUT": "60",
           "WEFT_HEARTBEAT_TIMEOUT": "40"}
    # Under AddressSanitizer freed memory sits in a quarantine (256 MiB by default), which would
    # read as growth: keep it small so the RSS bound still means something there.
    env["ASAN_OPTIONS"] = ":".join(x for x in (os.environ.get("ASAN_OPTIONS", ""),
                                               "quarantine_size_mb=4") if x)
    argv = [a.weftrun, "-n", str(a.n), "--verbose", "--timeout", "280", a.rank_program, "loop",
            "--stop-file", stop_file, "--count", "1000", "--delay-rank", str(a.n - 1),
            "--delay", str(DELAY_S)]
    job = H.Job(argv, env)
    try:
        pids = job.wait_for(lambda ls: dict((int(m.group(1)), int(m.group(2))) for m in
                                            (re.match(r"rank (\d+) pid (\d+)", t) for (_, _, t) in ls) if m)
                            if sum(bool(re.match(r"rank \d+ pid", t)) for (_, _, t) in ls) >= a.n else None, 30)
        if not check(pids is not None, "all %d ranks started" % a.n):
            return
        coord = [p for p in H.children(job.proc.pid) if any(b"weft-coordinator" in x for x in H.cmdline(p))]
        if not check(len(coord) == 1, "found the coordinator process"):
            return
        coord_ports = H.listening_ports(coord[0])
        if not check(len(coord_ports) == 1, "found the coordinator's port: %s" % coord_ports):
            return
        job.rank0_pid = pids[0]
        rank_ports = mesh_phase(job, key, a.n, pids)
        if not rank_ports:
            return
        rank_ports[a.n - 1] = (H.listening_ports(pids[a.n - 1]) or [None])[0]
        rank_ports = {r: p for r, p in rank_ports.items() if p}
        run_phase(job, key, a.n, pids, coord[0], coord_ports[0], rank_ports, a.conns, a.rank_conns)
        with open(stop_file, "w"):
            pass
        rc = job.wait(90)
        check(rc == 0, "job stopped on request, weftrun exit status %s" % rc)
        done = [t for (_, _, t) in job.snapshot() if re.match(r"rank \d+ done iters", t)]
        check(len(done) == a.n, "every rank finished its loop: %s" % done)
        errors = [t for (_, r, t) in job.snapshot() if r is not None and "ERROR" in t]
        check(not errors, "no rank reported an error: %s" % errors[:3])
    finally:
        job.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
        if failures:
            print("---- job output (last 80 lines) ----")
            print("\n".join(job.text().splitlines()[-80:]))
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
