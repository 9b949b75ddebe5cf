"""An impostor with the job token tries to take a live rank's place while the mesh forms.

  test_impostor.py WEFTRUN HOSTILE_RANK [--n 3]

A job of N ranks (hostile_rank.c loop: allreduces checked exactly) starts with the last rank out
of init for DELAY_S, so epoch 1 cannot form yet. Rank 0, which dials every other rank, is stopped
(SIGSTOP) once the coordinator has logged its member id. The impostor, a second process with the
job token, then knows everything about rank 0 but its secret key: the member id (from the
coordinator's log), rank, epoch 1, the world size, and each target's own member id. It dials
ranks 1..N-1, passes the token handshake and sends each a PEER_HELLO with rank 0's exact claims,
signed with a key of its own (transports/tcp/mesh.h). Before PEER_HELLO version 3 each target
answered OK and gave rank 0's slot to the impostor; the real rank 0 was then refused as a
duplicate and the job could not form.

Passes when: every target answers the impostor with a refusing PEER_ACK (UNAUTHORIZED) and
closes; every target logs "PEER_HELLO claims rank 0 (member <id>) but is not signed by that
member's identity key"; after SIGCONT the real job forms and runs its checked allreduces; it
stops on request with weftrun exiting 0 and no rank error.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile as H  # noqa: E402

DELAY_S = 6.0              # how long the last rank stays out of init
ERR_UNAUTHORIZED = 7       # include/weft.h

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def log_match(job, pattern, timeout, rank=None):
    rx = re.compile(pattern)

    def found(lines):
        for (_, r, text) in lines:
            if (rank is None or r == rank) and rx.search(text):
                return rx.search(text)
        return None
    return job.wait_for(found, timeout)


def impostor(port, token, claims, wait):
    """The impostor's side of one connection, run as its own process (below): returns the ACK
    status, or a string saying what else happened."""
    key = H.auth_key(token)
    s = H.connect(port, wait)
    try:
        nonce_s, _, ok = H.handshake(s, key, H.ROLE_PEER)
        if nonce_s is None or not ok:
            return "token handshake failed"
        s.sendall(H.peer_hello(sig=os.urandom(64), **claims))
        ack = H.recv_exact(s, H.PEER_ACK_LEN)
        if len(ack) < 8:
            return "closed without an ACK (%d bytes)" % len(ack)
        magic, status = struct.unpack_from("<II", ack)
        if magic != H.PEER_ACK_MAGIC:
            return "not a PEER_ACK"
        return status if H.peer_closed(s, 10) else "status %d, connection NOT closed" % status
    except (socket.timeout, OSError) as e:
        return "error %r" % e
    finally:
        s.close()


def impostor_main(argv):
    """python3 test_impostor.py --impostor PORT TOKEN EPOCH MEMBER RANK SIZE TO_MEMBER TO_RANK"""
    port, token = int(argv[0]), argv[1]
    epoch, member, rank, size, to_member, to_rank = (int(x) for x in argv[2:8])
    claims = dict(epoch=epoch, member_id=member, rank=rank, sock_index=0, size=size,
                  to_member_id=to_member, to_rank=to_rank)
    print(impostor(port, token, claims, DELAY_S + 30), flush=True)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--impostor":
        impostor_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("weftrun")
    ap.add_argument("rank_program")
    ap.add_argument("--n", type=int, default=3)
    a = ap.parse_args()
    n = a.n
    token = os.urandom(32).hex()
    tmp = tempfile.mkdtemp(prefix="weft-impostor-")
    stop_file = os.path.join(tmp, "stop")
    env = {"WEFT_JOB_TOKEN": token, "WEFT_LOG_LEVEL": "1", "WEFT_TIMEOUT": "60",
           "WEFT_HEARTBEAT_TIMEOUT": "40"}  # rank 0 is stopped for a while
    argv = [a.weftrun, "-n", str(n), "--verbose", "--timeout", "150", a.rank_program, "loop",
            "--stop-file", stop_file, "--count", "1000", "--delay-rank", str(n - 1),
            "--delay", str(DELAY_S)]
    job = H.Job(argv, env)
    stopped = None
    try:
        pids = job.wait_for(lambda ls: dict((int(m.group(1)), int(m.group(2))) for m in
                                            (re.match(r"rank (\d+) pid (\d+)", t) for (_, _, t) in ls) if m)
                            if sum(bool(re.match(r"rank \d+ pid", t)) for (_, _, t) in ls) >= n else None, 30)
        if not check(pids is not None, "all %d ranks started" % n):
            return
        ids = {}
        for r in range(n - 1):
            m = log_match(job, r"member (\d+) joined: rank hint %d," % r, 20)
            if not check(m is not None, "the coordinator logged rank %d's member id" % r):
                return
            ids[r] = int(m.group(1))
        os.kill(pids[0], signal.SIGSTOP)
        stopped = pids[0]
        ports = {}
        deadline = time.time() + 20
        while time.time() < deadline and len(ports) < n - 2:
            for r in range(1, n - 1):
                p = H.listening_ports(pids[r])
                if p:
                    ports[r] = p[0]
            time.sleep(0.05)
        # The last rank is still asleep before init: its listener comes up when it wakes.
        m = log_match(job, r"member (\d+) joined: rank hint %d," % (n - 1), DELAY_S + 20)
        if not check(m is not None, "the last rank joined (epoch 1 forms)"):
            return
        ids[n - 1] = int(m.group(1))
        deadline = time.time() + 10
        while time.time() < deadline and n - 1 not in ports:
            p = H.listening_ports(pids[n - 1])
            if p:
                ports[n - 1] = p[0]
            time.sleep(0.05)
        if not check(len(ports) == n - 1, "found the listening ports of ranks 1..%d: %s" % (n - 1, ports)):
            return
        print("info member ids %s" % ids, flush=True)
        # The impostors: one process per target, with rank 0's every claim but its key.
        procs = {r: subprocess.Popen([sys.executable, os.path.abspath(__file__), "--impostor",
                                      str(port), token, "1", str(ids[0]), "0", str(n),
                                      str(ids[r]), str(r)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for r, port in ports.items()}
        for r, p in procs.items():
            try:
                out = p.communicate(timeout=DELAY_S + 45)[0].decode().strip()
            except subprocess.TimeoutExpired:
                p.kill()
                out = "timed out"
            check(out == str(ERR_UNAUTHORIZED),
                  "rank %d refused the impostor claiming rank 0 (ACK status %s)" % (r, out))
            want = (r"rejected an incoming connection: PEER_HELLO claims rank 0 \(member %d\) but "
                    r"is not signed by that member's identity key" % ids[0])
            check(log_match(job, want, 10, rank=r) is not None,
                  "rank %d logged the impostor: %r" % (r, want.replace("\\", "")))
        os.kill(stopped, signal.SIGCONT)
        stopped = None
        # The real job forms and computes: its checked allreduces complete.
        prog = log_match(job, r"rank 0 progress (\d+)", 60, rank=0)
        check(prog is not None, "the real job formed and ran checked allreduces")
        with open(stop_file, "w"):
            pass
        rc = job.wait(60)
        check(rc == 0, "job stopped on request, weftrun exit status %s" % rc)
        done = [t for (_, _, t) in job.snapshot() if re.match(r"rank \d+ done iters", t)]
        check(len(done) == n, "every rank finished its loop: %s" % done)
        errors = [t for (_, r, t) in job.snapshot() if r is not None and "ERROR" in t]
        check(not errors, "no rank reported an error: %s" % errors[:3])
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
        job.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
        if failures:
            print("---- job output (last 60 lines) ----")
            print("\n".join(job.text().splitlines()[-60:]))
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
