#!/usr/bin/env python3
"""Partial partitions: a link between two test hosts is cut while both still reach the
coordinator (nftables drop rules inside host 1's namespace), under a training loop that
recovers (examples/elastic_sgd, 6 ranks round robin over 3 hosts: host 1 runs ranks 1 and 4,
host 2 ranks 2 and 5).

  pair      host 1 drops every packet from and to host 2;
  one-way   host 1 drops only what comes from host 2 (host 1's packets still reach host 2).

Nobody crashes and every heartbeat gets through, so only the data plane can tell: the
allreduce stalls, after WEFT_STALL_TIMEOUT (2 s) the coordinator finds every rank entered it and
asks every member which others it can reach with a fresh connection; the largest set that all
reach each other stays (the greedy rule drops host 2's ranks 5 then 2: tools/coordinator/
reach.c), the dropped ranks are evicted naming a rank they cannot reach, and the survivors'
error names them. The survivors recover to four and finish with identical models; nothing
hangs. Prints the detection time (cut -> the survivors' error).

usage: test_pair_partition.py WEFTRUN ELASTIC_SGD; exits 77 when not root."""
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from testnet import on_test_hosts, sh, spawn  # noqa: E402

WEFTRUN, ELASTIC_SGD = sys.argv[1:3]
STALL = 2.0
BOUND_S = STALL + 2.0 + 8.0  # the stall timeout + the dial timeout + load on 2 shared cores
STEPS, SLEEP_MS = 1500, 5
SURVIVORS, CUT = [0, 1, 3, 4], [2, 5]
FAIL_RE = re.compile(r"^\[(\d+)\] elastic_sgd: step (\d+): (.*) \(t=([\d.]+)\)$")
DONE_RE = re.compile(r"^\[(\d+)\] elastic_sgd: done, steps (\d+), epochs (\d+), final size (\d+), checksum (\w+)")
EPOCH_RE = re.compile(r"^\[(\d+)\] elastic_sgd: epoch (\d+): size (\d+), left \[([\d, ]*)\].*t=([\d.]+)\)$")


def run(net, mode):
    env = dict(os.environ, WEFT_STALL_TIMEOUT=str(STALL), WEFT_TIMEOUT=os.environ.get("PP_TIMEOUT", "120"))
    cmd = [WEFTRUN, "-n", "6", "--hosts", net.hosts_arg(), "--bind", net.gw, "--timeout", "150"] + os.environ.get("PP_WEFTRUN", "").split() + ["--",
           ELASTIC_SGD, str(STEPS), str(SLEEP_MS)]
    p, lines, reader = spawn(cmd, env)
    ns1, peer = net.ns(1), net.addr(2)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and sum("started in epoch" in l for l in lines) < 6:
            time.sleep(0.1)
        time.sleep(1.5)  # training is under way
        sh("ip", "netns", "exec", ns1, "nft", "add", "table", "inet", "weftcut")
        sh("ip", "netns", "exec", ns1, "nft", "add chain inet weftcut in { type filter hook input priority 0; }")
        sh("ip", "netns", "exec", ns1, "nft", "add chain inet weftcut out { type filter hook output priority 0; }")
        sh("ip", "netns", "exec", ns1, "nft", f"add rule inet weftcut in ip saddr {peer} drop")
        if mode == "pair":
            sh("ip", "netns", "exec", ns1, "nft", f"add rule inet weftcut out ip daddr {peer} drop")
        t_cut = time.time()
        try:
            rc = p.wait(timeout=140)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            print(f"{mode}: HANG: the job did not end\n" + "\n".join(lines[-60:]))
            return False
    finally:
        sh("ip", "netns", "exec", ns1, "nft", "delete", "table", "inet", "weftcut", check=False)
        if p.poll() is None:
            os.killpg(p.pid, 9)
    reader.join(timeout=10)

    def bad(why):
        print(f"{mode}: FAIL: {why}\n---- job output ----\n" + "\n".join(lines) + "\n---- end ----")
        return False

    # A survivor notices with a failed call, or -- one that was inside its step's recover when the
    # others stalled -- with the new epoch its recover ends in.
    fails, seen = {}, {}
    for l in lines:
        m, e = FAIL_RE.match(l), EPOCH_RE.match(l)
        r = int((m or e).group(1)) if (m or e) else -1
        t = float(m.group(4)) if m else float(e.group(5)) if e else 0
        if r in SURVIVORS and t >= t_cut:
            if m and r not in fails:
                fails[r] = m
            seen[r] = min(seen.get(r, t), t)
    if sorted(seen) != SURVIVORS or not fails:
        return bad(f"survivors that noticed the cut: {sorted(seen)}, with an error: {sorted(fails)}")
    for r, m in fails.items():
        if not re.search(r"rank [25] \((?:member \d+, )?host \S+ pid \d+\) cannot reach rank [0134] over the data network",
                         m.group(3)):
            return bad(f"rank {r}'s error does not name a cut-off rank and its link: {m.group(3)}")
    detect = {r: t - t_cut for r, t in seen.items()}
    if max(detect.values()) > BOUND_S:
        return bad(f"detection {detect} over {BOUND_S} s")
    left = {int(e.group(1)) for e in (EPOCH_RE.match(l) for l in lines) if e and e.group(4).replace(" ", "") == "2,5"}
    if sorted(left) != SURVIVORS:
        return bad(f"survivors that recovered without ranks 2 and 5: {sorted(left)}")
    done = {int(m.group(1)): m for m in (DONE_RE.match(l) for l in lines) if m}
    if sorted(done) != SURVIVORS or {m.group(4) for m in done.values()} != {"4"} or \
            len({m.group(5) for m in done.values()}) != 1:
        return bad(f"the survivors must finish at size 4 with one model: {[m.group(0) for m in done.values()]}")
    if any(f"[{r}] elastic_sgd: done" in l for r in CUT for l in lines):
        return bad("a cut-off rank went on training")
    if rc != 3:
        return bad(f"weftrun exited {rc}, expected 3 (the evicted ranks' status)")
    why = fails[SURVIVORS[0]].group(3)
    print(f"{mode}: detection (cut -> error naming the cut-off rank, or the new epoch) per survivor: "
          f"{ {r: round(v, 2) for r, v in sorted(detect.items())} } s (stall timeout {STALL} s, dials 2 s)")
    print(f"{mode}: survivors' error: ...{why[why.find('coordinator:'):][:200]}")
    return True


def main():
    def body(net):
        results = {mode: run(net, mode) for mode in ("pair", "one-way")}
        print(" ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in results.items()))
        return 0 if all(results.values()) else 1
    return on_test_hosts("wp", 78, 3, body)


if __name__ == "__main__":
    sys.exit(main())
