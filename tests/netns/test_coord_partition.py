#!/usr/bin/env python3
"""The minority side of a partition never evicts the majority. Six ranks of elastic_sgd over three
test hosts (network namespaces on a bridge; the coordinator listens in the root namespace):
host 0 runs ranks 0 and 3, host 1 ranks 1 and 4, host 2 ranks 2 and 5. For CUT_S (4 heartbeat
timeouts) the root namespace drops everything between the coordinator and hosts 1 and 2, while
the hosts still reach each other (the bridge forwards between them).

The coordinator then hears 2 of 6 members: without a quorum it must evict nobody (it logs "no
quorum"), and the members, which need it only for membership changes, keep training -- their
per-step recover waits for the round, which completes once the partition heals. Expected: no
rank reports an error, nobody is evicted, all six finish in epoch 1 with one model.

usage: test_coord_partition.py WEFTRUN ELASTIC_SGD; exits 77 when not root."""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from testnet import on_test_hosts, sh, spawn  # noqa: E402

WEFTRUN, ELASTIC_SGD = sys.argv[1:3]
HB = 2.0
CUT_S = 4 * HB
STEPS, SLEEP_MS = 1500, 5
FAIL_RE = re.compile(r"^\[(\d+)\] elastic_sgd: step (\d+): (.*) \(t=([\d.]+)\)$")
DONE_RE = re.compile(r"^\[(\d+)\] elastic_sgd: done, steps (\d+), epochs (\d+), final size (\d+), checksum (\w+)")


def run(net):
    env = dict(os.environ, WEFT_HEARTBEAT_TIMEOUT=str(HB), WEFT_HEARTBEAT_INTERVAL="0.2")
    cmd = [WEFTRUN, "-n", "6", "--hosts", net.hosts_arg(), "--bind", net.gw, "--timeout", "150", "--verbose", "--",
           ELASTIC_SGD, str(STEPS), str(SLEEP_MS)]
    p, lines, reader = spawn(cmd, env)
    ok = True
    try:
        deadline = time.time() + 60
        while time.time() < deadline and sum("started in epoch" in l for l in lines) < 6:
            time.sleep(0.1)
        time.sleep(1.0)
        sh("nft", "add", "table", "inet", "weftq")
        sh("nft", "add chain inet weftq in { type filter hook input priority 0; }")
        sh("nft", "add chain inet weftq out { type filter hook output priority 0; }")
        for k in (1, 2):
            sh("nft", f"add rule inet weftq in ip saddr {net.addr(k)} drop")
            sh("nft", f"add rule inet weftq out ip daddr {net.addr(k)} drop")
        t_cut = time.time()
        time.sleep(CUT_S)
        sh("nft", "delete", "table", "inet", "weftq")
        healed = time.time()
        try:
            rc = p.wait(timeout=140)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            print("HANG: the job did not end\n" + "\n".join(lines[-60:]))
            return 1
    finally:
        sh("nft", "delete", "table", "inet", "weftq", check=False)
        if p.poll() is None:
            os.killpg(p.pid, 9)
    reader.join(timeout=10)
    text = "\n".join(lines)

    def bad(why):
        print(f"FAIL: {why}\n---- job output ----\n" + "\n".join(l for l in lines if "ready (" not in l and
                                                                   "no change" not in l) + "\n---- end ----")
        return 1

    fails = [m.group(0) for m in (FAIL_RE.match(l) for l in lines) if m]
    if fails:
        return bad(f"a rank saw an error: {fails[0]}")
    if "no quorum" not in text:
        return bad("the coordinator never said it lacked a quorum: was the cut real?")
    if re.search(r"failed \((HUNG|RECOVER_TIMEOUT)\)", text):
        return bad("the coordinator evicted members although it heard only a minority")
    done = {int(m.group(1)): m for m in (DONE_RE.match(l) for l in lines) if m}
    if sorted(done) != list(range(6)) or {m.group(3) for m in done.values()} != {"1"} or \
            {m.group(4) for m in done.values()} != {"6"} or len({m.group(5) for m in done.values()}) != 1:
        return bad(f"expected six ranks done in epoch 1 with one model: {[m.group(0) for m in done.values()]}")
    if rc != 0:
        return bad(f"weftrun exited {rc}")
    quorum = [l for l in lines if "no quorum" in l][0]
    print(f"coordinator cut off from 4 of 6 ranks for {CUT_S:.0f} s ({healed - t_cut:.1f} s): {quorum.split('weft-coordinator: ')[-1]}")
    print("passed: nobody evicted, no rank saw an error, all six finished in epoch 1 with one model")
    return 0


if __name__ == "__main__":
    sys.exit(on_test_hosts("wq", 80, 3, run))
