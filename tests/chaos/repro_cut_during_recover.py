#!/usr/bin/env python3
"""Reproducer for what the chaos soak found (tests/chaos/README.md): a rank-pair partition that
is in place while the survivors of another failure form their next epoch is not resolved by a
reachability round; the recover waits for WEFT_TIMEOUT (300 s by default).

6 ranks of examples/elastic_sgd round robin over 3 namespace hosts (host 1: ranks 1, 4; host 2:
ranks 2, 5), WEFT_STALL_TIMEOUT=2, WEFT_TIMEOUT=30. Host 1 drops everything from and to host 2
(both still reach the coordinator), and at once rank 0 (host 0) is SIGKILLed. The survivors'
recover forms epoch 2, whose mesh needs the cut links: the ranks that formed their part stall in
the next collective, the coordinator's stall probe cannot settle (the others are still inside
recover and do not answer), no reachability round runs, and everything waits until WEFT_TIMEOUT
fails the mesh formation ("timed out after 29.8 s waiting for peer rank 2 ... connect: no
answer"). The cut alone, without the kill, is resolved in ~5 s (tests/netns/test_pair_partition).

Prints how long the survivors took to get past the kill; exits 1 when that exceeds
STALL + 2 s dial + 8 s (what test_pair_partition allows), 0 otherwise, 77 without root.

usage: repro_cut_during_recover.py WEFTRUN ELASTIC_SGD"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from testnet import TestNet, sh  # noqa: E402

STALL, OP_TIMEOUT = 2.0, 30
BOUND_S = STALL + 2.0 + 8.0
START_RE = re.compile(r"^\[0\] elastic_sgd: started in epoch \d+ as rank 0 of 6 \(pid (\d+)")


def main():
    weftrun, program = sys.argv[1:3]
    if os.geteuid() != 0:
        print("skipped: needs root for network namespaces")
        return 77
    net = TestNet("wr", 80, 3)
    net.setup()
    env = dict(os.environ, WEFT_STALL_TIMEOUT=str(STALL), WEFT_TIMEOUT=str(OP_TIMEOUT))
    cmd = [weftrun, "-n", "6", "--hosts", net.hosts_arg(), "--bind", net.gw, "--timeout", "120", "--",
           program, "3000", "5"]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    lines = []  # (arrival time, line)
    threading.Thread(target=lambda: lines.extend((time.time(), l.rstrip("\n")) for l in p.stdout),
                     daemon=True).start()
    ns1 = net.ns(1)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and sum("started in epoch" in l for _, l in lines) < 6:
            time.sleep(0.1)
        pid0 = next(int(m.group(1)) for m in (START_RE.match(l) for _, l in list(lines)) if m)
        time.sleep(1.5)
        nft = ["ip", "netns", "exec", ns1, "nft"]
        sh(*nft, "add", "table", "inet", "weftcut")
        sh(*nft, "add chain inet weftcut in { type filter hook input priority 0; }")
        sh(*nft, "add chain inet weftcut out { type filter hook output priority 0; }")
        sh(*nft, f"add rule inet weftcut in ip saddr {net.addr(2)} drop")
        sh(*nft, f"add rule inet weftcut out ip daddr {net.addr(2)} drop")
        t_cut = time.time()
        os.kill(pid0, signal.SIGKILL)
        # Resolved: a reachability verdict ("cannot reach rank"), or the mesh formation's timeout.
        deadline = t_cut + OP_TIMEOUT + 30
        found = None
        while time.time() < deadline and found is None:
            time.sleep(0.2)
            found = next(((t, l) for t, l in list(lines) if t > t_cut and ("cannot reach rank" in l or "timed out" in l)),
                         None)
        for t, l in lines:
            if t > t_cut and ("failed" in l or "epoch" in l):
                print("+%6.2f s %s" % (t - t_cut, l[:300]))
        took = found[0] - t_cut if found else time.time() - t_cut
        print("cut between hosts 1 and 2 + SIGKILL of rank 0 -> resolved after %.1f s by: %s" %
              (took, found[1][:200] if found else "nothing yet"))
        print("(bound %.0f s as in tests/netns/test_pair_partition; WEFT_TIMEOUT %d s)" % (BOUND_S, OP_TIMEOUT))
        return 1 if took > BOUND_S else 0
    finally:
        sh("ip", "netns", "exec", ns1, "nft", "delete", "table", "inet", "weftcut", check=False)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        net.teardown()


if __name__ == "__main__":
    sys.exit(main())
