"""A stranger fills a rank's listening backlog while the rank waits for its first epoch.

  test_mesh_flood.py WEFTRUN HOSTILE_RANK [--conns 1100]

Ranks only accept during mesh formation; outside it, connections queue in the kernel backlog
(1024). Here rank 2 of 3 stays out of init for a few seconds while the driver opens --conns idle
connections to rank 1's port. When the mesh forms, rank 1 must take them, refuse them (they
never answer the challenge: dropped after 3 s of silence, or sooner to make room) and still
form the mesh: every rank ready within BOUND_S, results exact, weftrun exit 0. The delay the
flood causes is printed (it is the accept-handshake limit: see docs/SECURITY.md)."""
import argparse
import os
import re
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile as H  # noqa: E402

BOUND_S = 45.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weftrun")
    ap.add_argument("rank_program")
    ap.add_argument("--conns", type=int, default=1100)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="weft-meshflood-")
    stop = os.path.join(tmp, "stop")
    env = {"WEFT_JOB_TOKEN": os.urandom(32).hex(), "WEFT_LOG_LEVEL": "1", "WEFT_TIMEOUT": "60"}
    job = H.Job([a.weftrun, "-n", "3", "--timeout", "200", a.rank_program, "loop", "--stop-file",
                 stop, "--count", "10", "--delay-rank", "2", "--delay", "5"], env)
    socks, ok = [], False
    try:
        pids = job.wait_for(lambda ls: dict((int(m.group(1)), int(m.group(2))) for m in
                                            (re.match(r"rank (\d+) pid (\d+)", t) for (_, _, t) in ls) if m)
                            if sum(" pid " in t for (_, _, t) in ls) >= 3 else None, 30)
        assert pids, "ranks did not start"
        port, deadline = None, time.time() + 20
        while port is None and time.time() < deadline:
            p = H.listening_ports(pids[1])
            port = p[0] if p else None
            time.sleep(0.05)
        assert port, "rank 1's listening port not found"
        for _ in range(a.conns):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
        t0 = time.time()
        print("queued %d idle connections on rank 1's port %d" % (len(socks), port), flush=True)
        ready = job.wait_for(lambda ls: True if sum(" ready size " in t for (_, _, t) in ls) >= 3
                             else None, BOUND_S)
        took = time.time() - t0
        print("%s mesh formed %.1f s after the flood (rank 2 started ~5 s after the others)"
              % ("ok  " if ready else "FAIL", took), flush=True)
        H.close_all(socks)
        socks = []
        if ready:
            job.wait_for(lambda ls: True if sum(" progress " in t for (_, _, t) in ls) >= 3 else None, 30)
        open(stop, "w").close()
        rc = job.wait(60)
        lines = job.snapshot()
        errors = [t for (_, r, t) in lines if r is not None and "ERROR" in t]
        refused = sum("rejected an incoming connection" in t for (_, _, t) in lines)
        print("info rank 1 logged %d refusals" % refused)
        ok = bool(ready) and rc == 0 and not errors and refused > 0
        print("%s weftrun exit %s, rank errors %s, refusals logged %d" % ("ok  " if ok else "FAIL", rc, errors[:3], refused))
    finally:
        H.close_all(socks)
        job.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            print("\n".join([l for l in job.text().splitlines() if "did not finish" not in l][-60:]))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
