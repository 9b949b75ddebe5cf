#!/usr/bin/env python3
"""WEFT_SOCKET_IFNAME (the counterpart of NCCL_SOCKET_IFNAME) binds each rank's listener to one
interface.

    test_ifname.py WEFTRUN ELASTIC_SGD

1. WEFT_SOCKET_IFNAME=lo: a 2-rank job runs to the end, and while it runs each rank's listening
   socket (read from `ss -ltnp`, matched by the ranks' pids) is bound to 127.0.0.1, not to all
   interfaces.
2. An interface that does not exist: init fails at once with an error naming the variable and
   listing the interfaces there are; nothing hangs.
Every wait is bounded."""
import os
import re
import subprocess
import sys
import threading
import time

WEFTRUN, SGD = sys.argv[1:3]
PID_RE = re.compile(r"^\[\d+\] elastic_sgd: started in epoch \d+ as rank \d+ of \d+ \(pid (\d+)")


def fail(msg, out=""):
    print("FAIL: " + msg + ("\n" + out if out else ""), flush=True)
    sys.exit(1)


def listeners(pids):
    """{pid: [local address, ...]} of the TCP listening sockets of these processes."""
    out = subprocess.run(["ss", "-H", "-ltnp"], capture_output=True, text=True, timeout=10).stdout
    found = {p: [] for p in pids}
    for line in out.splitlines():
        for p in pids:
            if f"pid={p}," in line:
                found[p].append(line.split()[3])
    return found


def bound_to_lo():
    env = dict(os.environ, WEFT_SOCKET_IFNAME="lo")
    job = subprocess.Popen([WEFTRUN, "-n", "2", "--timeout", "60", SGD, "150", "20"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, seen = [], None
    reader = threading.Thread(target=lambda: lines.extend(l.rstrip("\n") for l in job.stdout), daemon=True)
    reader.start()
    deadline = time.time() + 45
    while time.time() < deadline and job.poll() is None and seen is None:
        pids = [int(m.group(1)) for m in map(PID_RE.match, list(lines)) if m]
        if len(pids) == 2:
            time.sleep(0.3)
            seen = listeners(pids)
        time.sleep(0.05)
    try:
        job.wait(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        fail("the job did not finish within its bound", "\n".join(lines))
    reader.join(timeout=10)
    text = "\n".join(lines)
    if job.returncode != 0:
        fail(f"the job with WEFT_SOCKET_IFNAME=lo exited {job.returncode}", text)
    if seen is None:
        fail("never saw both ranks start", text)
    for pid, addrs in seen.items():
        if not addrs:
            fail(f"rank pid {pid}: no listening socket found in ss -ltnp")
        wild = [a for a in addrs if not a.startswith("127.0.0.1:")]
        if wild:
            fail(f"rank pid {pid} listens on {wild}, not only on 127.0.0.1")
    print(f"WEFT_SOCKET_IFNAME=lo: the job finished; listeners {seen}")


def unknown_interface():
    env = dict(os.environ, WEFT_SOCKET_IFNAME="nosuch0")
    t0 = time.time()
    try:
        p = subprocess.run([WEFTRUN, "-n", "2", "--timeout", "60", SGD, "5", "1"], env=env,
                           capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        fail("a job with an unknown interface did not end")
    out = p.stdout + p.stderr
    took = time.time() - t0
    if p.returncode == 0:
        fail("a job with WEFT_SOCKET_IFNAME=nosuch0 succeeded", out)
    if "WEFT_SOCKET_IFNAME=nosuch0" not in out or "does not exist" not in out or "lo" not in out:
        fail("the error does not name the variable, the problem and the interfaces there are", out)
    print(f"WEFT_SOCKET_IFNAME=nosuch0: refused in {took:.2f} s: "
          + next(l for l in out.splitlines() if "nosuch0" in l))


if __name__ == "__main__":
    bound_to_lo()
    unknown_interface()
    print("PASS")
