#!/usr/bin/env python3
"""Failures only one side sees (issue #18 items 2 and 3), under a training loop that recovers
(examples/elastic_sgd, 6 ranks round robin over 3 namespace hosts: host 1 runs ranks 1 and 4,
host 2 ranks 2 and 5). The stall path is off (WEFT_STALL_TIMEOUT=0): only reports reach the
coordinator.

  reporter   host 1 is cut from hosts 0 and 2 (its packets to them are answered with a local
             TCP reset, theirs to it dropped), the coordinator still reachable. Ranks 1 and 4
             see their connections reset at once and REPORT healthy peers; a report never evicts
             a live member on its own: the coordinator checks reachability, and the side outside
             the largest fully connected set -- the reporters -- is evicted. The reported peers
             stay, the survivors (0, 2, 3, 5) finish at size 4 with one model.
  timeout    host 1 drops the large segments host 2 sends it (fresh connections and small
             messages still pass), and only host 1's ranks run with a short WEFT_TIMEOUT (4 s;
             the others 60 s): their allreduce times out, a failure only they see. Their reports
             (no suspect) make the coordinator check reachability: every link is whole, so it
             ends the epoch for every member (RESET) and all recover into the same next epoch of
             all six -- no rank is left with a locally revoked view, nobody waits for the others'
             timeout. The slow link is healed once the first timeout shows; all six finish with
             one model.
  joiner     a restarted rank comes back with an address nobody reaches: it is evicted with a
             clear reason and the others go on (run_joiner).

usage: test_one_sided.py WEFTRUN ELASTIC_SGD [MODE...]; exits 77 when not root."""
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from testnet import on_test_hosts, sh, spawn  # noqa: E402

WEFTRUN, ELASTIC_SGD = sys.argv[1:3]
MODES = sys.argv[3:] or ["reporter", "timeout", "joiner"]
STEPS, SLEEP_MS = 1500, 5
FAIL_RE = re.compile(r"^\[(\d+)\] elastic_sgd: step (\d+): (.*) \(t=([\d.]+)\)$")
DONE_RE = re.compile(r"^\[(\d+)\] elastic_sgd: done, steps (\d+), epochs (\d+), final size (\d+), checksum (\w+)")
EPOCH_RE = re.compile(r"^\[(\d+)\] elastic_sgd: epoch (\d+): size (\d+), left \[([\d, ]*)\].*t=([\d.]+)\)$")


def nft(ns, *args, check=True):
    sh("ip", "netns", "exec", ns, "nft", *args, check=check)


def start(net, env_extra, program=ELASTIC_SGD, n=6, hosts=3, extra=()):
    env = dict(os.environ, WEFT_STALL_TIMEOUT="0", **env_extra)
    hosts_arg = ",".join(f"netns:{net.ns(k)}" for k in range(hosts))
    cmd = [WEFTRUN, "-n", str(n), "--hosts", hosts_arg, "--bind", net.gw, "--timeout", "150", *extra, "--",
           program, str(STEPS), str(SLEEP_MS)]
    p, lines, reader = spawn(cmd, env)
    deadline = time.time() + 60
    while time.time() < deadline and sum("started in epoch" in l for l in lines) < n:
        time.sleep(0.1)
    time.sleep(1.5)  # training is under way
    return p, lines, reader


def finish(p, reader, lines, mode):
    try:
        rc = p.wait(timeout=140)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        print(f"{mode}: HANG: the job did not end\n" + "\n".join(lines[-60:]))
        return None
    reader.join(timeout=10)
    return rc


def bad(mode, lines, why):
    print(f"{mode}: FAIL: {why}\n---- job output ----\n" + "\n".join(lines) + "\n---- end ----")
    return False


def run_reporter(net):
    mode, survivors, cut = "reporter", [0, 2, 3, 5], [1, 4]
    bound = 2.0 + 1.0 + 8.0  # the reach dials + slack + load on 2 shared cores
    p, lines, reader = start(net, {"WEFT_TIMEOUT": "120"})
    ns1, others = net.ns(1), f"{{ {net.addr(0)}, {net.addr(2)} }}"
    try:
        nft(ns1, "add", "table", "inet", "weftcut")
        nft(ns1, "add chain inet weftcut in { type filter hook input priority 0; }")
        nft(ns1, "add chain inet weftcut out { type filter hook output priority 0; }")
        t_cut = time.time()  # the first reset may come before the last rule is in
        # The resets the output rule makes come in as if from the peers: let them through.
        nft(ns1, f"add rule inet weftcut in ip saddr {others} tcp flags & rst == rst accept")
        nft(ns1, f"add rule inet weftcut in ip saddr {others} drop")
        nft(ns1, f"add rule inet weftcut out ip daddr {others} meta l4proto tcp reject with tcp reset")
        nft(ns1, f"add rule inet weftcut out ip daddr {others} drop")
        rc = finish(p, reader, lines, mode)
    finally:
        nft(ns1, "delete", "table", "inet", "weftcut", check=False)
        if p.poll() is None:
            os.killpg(p.pid, 9)
    if rc is None:
        return False
    fails, seen = {}, {}
    for l in lines:
        m, e = FAIL_RE.match(l), EPOCH_RE.match(l)
        r = int((m or e).group(1)) if (m or e) else -1
        t = float(m.group(4)) if m else float(e.group(5)) if e else 0
        if t >= t_cut:
            if m and r not in fails:
                fails[r] = m
            if r in survivors:
                seen[r] = min(seen.get(r, t), t)
    reporters = [r for r in cut if r in fails and "coordinator" not in fails[r].group(3)]
    if not reporters:
        return bad(mode, lines, "neither rank 1 nor 4 saw its connections reset (no local report)")
    if sorted(seen) != survivors:
        return bad(mode, lines, f"survivors that noticed the cut: {sorted(seen)}")
    for r in survivors:
        if r in fails and not re.search(r"rank [14] \(host \S+ pid \d+\) cannot reach rank [0235] over the data network",
                                        fails[r].group(3)):
            return bad(mode, lines, f"rank {r}'s error does not name a cut-off rank and its link: {fails[r].group(3)}")
    detect = {r: t - t_cut for r, t in seen.items()}
    if max(detect.values()) > bound:
        return bad(mode, lines, f"detection {detect} over {bound} s")
    done = {int(m.group(1)): m for m in (DONE_RE.match(l) for l in lines) if m}
    if sorted(done) != survivors or {m.group(4) for m in done.values()} != {"4"} or \
            len({m.group(5) for m in done.values()}) != 1:
        return bad(mode, lines, f"the reported peers and the rest must finish at size 4 with one model: "
                   f"{[m.group(0) for m in done.values()]}")
    if rc != 3:
        return bad(mode, lines, f"weftrun exited {rc}, expected 3 (the evicted reporters' status)")
    r0 = reporters[0]
    print(f"{mode}: rank {r0} reported: {fails[r0].group(3)[:160]}")
    print(f"{mode}: detection (cut -> survivors' error or new epoch): "
          f"{ {r: round(v, 2) for r, v in sorted(detect.items())} } s")
    s0 = next(r for r in survivors if r in fails)
    print(f"{mode}: survivors' error: ...{fails[s0].group(3)[fails[s0].group(3).find('coordinator:'):][:200]}")
    return True


def run_timeout(net):
    mode, timeout = "timeout", 4.0
    wrapper = os.path.join(tempfile.mkdtemp(prefix="one_sided."), "rank.sh")
    with open(wrapper, "w") as f:  # host 1's ranks (1 and 4) time out first; the others later
        f.write(f'#!/bin/sh\ncase "$WEFT_RANK" in 1|4) WEFT_TIMEOUT={timeout};; *) WEFT_TIMEOUT=60;; esac\n'
                f'export WEFT_TIMEOUT\nexec {ELASTIC_SGD} "$@"\n')
    os.chmod(wrapper, 0o755)
    p, lines, reader = start(net, {}, wrapper)
    ns1 = net.ns(1)
    try:
        nft(ns1, "add", "table", "inet", "weftslow")
        nft(ns1, "add chain inet weftslow in { type filter hook input priority 0; }")
        nft(ns1, f"add rule inet weftslow in ip saddr {net.addr(2)} meta length > 400 drop")
        t_cut = time.time()
        deadline = t_cut + 60
        while time.time() < deadline and p.poll() is None:
            if any("timed out" in l for l in lines):
                break
            time.sleep(0.05)
        t_lift = time.time()
        nft(ns1, "delete", "table", "inet", "weftslow", check=False)
        rc = finish(p, reader, lines, mode)
    finally:
        nft(ns1, "delete", "table", "inet", "weftslow", check=False)
        if p.poll() is None:
            os.killpg(p.pid, 9)
    if rc is None:
        return False
    fails = [m for m in (FAIL_RE.match(l) for l in lines) if m and float(m.group(4)) >= t_cut]
    timeouts = sorted({int(m.group(1)) for m in fails if "timed out" in m.group(3)})
    if not timeouts:
        return bad(mode, lines, "no rank's operation timed out")
    if any("weft_comm_recover failed" in m.group(3) or "recover failed" in m.group(3) for m in fails):
        return bad(mode, lines, "a recover failed (a rank left with a locally revoked view?)")
    # Every rank moves to the same next epoch, of all six.
    first = {}
    for e in (EPOCH_RE.match(l) for l in lines):
        if e and float(e.group(5)) >= t_cut and int(e.group(1)) not in first:
            first[int(e.group(1))] = (int(e.group(2)), int(e.group(3)), e.group(4).strip())
    if sorted(first) != list(range(6)) or len(set(first.values())) != 1 or next(iter(first.values()))[1:] != (6, ""):
        return bad(mode, lines, f"the ranks' first epoch after the cut differ or lost someone: {first}")
    done = {int(m.group(1)): m for m in (DONE_RE.match(l) for l in lines) if m}
    if sorted(done) != list(range(6)) or {m.group(4) for m in done.values()} != {"6"} or \
            len({m.group(5) for m in done.values()}) != 1:
        return bad(mode, lines, f"all six must finish at size 6 with one model: {[m.group(0) for m in done.values()]}")
    if rc != 0:
        return bad(mode, lines, f"weftrun exited {rc}")
    t_epoch = max(float(e.group(5)) for e in (EPOCH_RE.match(l) for l in lines) if e and float(e.group(5)) >= t_cut)
    t_first_fail = min(float(m.group(4)) for m in fails)
    print(f"{mode}: ranks whose operation timed out (WEFT_TIMEOUT {timeout} s): {timeouts}; "
          f"every rank went to epoch {next(iter(first.values()))[0]} of 6 members")
    print(f"{mode}: first timeout -> last rank in the new epoch: {t_epoch - t_first_fail:.2f} s "
          f"(cut lifted {t_lift - t_cut:.2f} s after the cut)")
    why = next(m.group(3) for m in fails if "ended for every member" in m.group(3)) if \
        any("ended for every member" in m.group(3) for m in fails) else fails[0].group(3)
    print(f"{mode}: a member's error: {why[:220]}")
    return True


def run_joiner(net):
    """A restarted rank 3 comes back on host 3, whose address the others cannot reach (host 3
    drops what hosts 0-2 send it; it still reaches the coordinator). The epoch that admits it
    cannot form: ranks 0-2 each dial it for 2 s and tell the coordinator, which -- nobody can
    answer a reachability round from inside a mesh formation -- decides on those reports: the
    joiner is evicted (PARTITIONED), the others' formation is cancelled by that revoke, and their
    next recover forms the epoch without it. No recover runs to the deadline; no livelock."""
    mode, survivors, bound = "joiner", [0, 1, 2], 2.0 + 3.0 + 8.0
    p, lines, reader = start(net, {"WEFT_TIMEOUT": "120", "ELASTIC_SGD_RESTART_DELAY_MS": "1500",
                                   "WEFT_CONNECT_TIMEOUT": "0.5", "WEFT_LOG_LEVEL": "1"}, n=4, hosts=4,
                             extra=("--restart", "1"))
    ns3, others = net.ns(3), f"{{ {net.addr(0)}, {net.addr(1)}, {net.addr(2)} }}"
    try:
        pid = next(int(m.group(1)) for m in (re.search(r"^\[3\] elastic_sgd: started in epoch 1 as rank 3 of 4 \(pid (\d+)", l)
                                              for l in lines) if m)
        nft(ns3, "add", "table", "inet", "weftcut")
        nft(ns3, "add chain inet weftcut in { type filter hook input priority 0; }")
        nft(ns3, f"add rule inet weftcut in ip saddr {others} drop")
        os.kill(pid, 9)
        t_kill = time.time()
        rc = finish(p, reader, lines, mode)
    finally:
        nft(ns3, "delete", "table", "inet", "weftcut", check=False)
        if p.poll() is None:
            os.killpg(p.pid, 9)
    if rc is None:
        return False
    epochs = [(int(e.group(1)), int(e.group(2)), int(e.group(3)), e.group(4), float(e.group(5)), l)
              for l in lines for e in [EPOCH_RE.match(l)] if e and float(e.group(5)) >= t_kill]
    admitted = [x for x in epochs if x[0] in survivors and x[2] == 4]
    if not admitted:
        return bad(mode, lines, "the restarted rank 3 was never admitted")
    # The recover that admitted it began when the epoch with it was being formed: from there.
    t_admit = min(x[4] - float(re.search(r"\(recover ([\d.]+) s", x[5]).group(1)) for x in admitted)
    e_admit = max(x[1] for x in admitted)
    after = {x[0]: x for x in epochs if x[0] in survivors and x[1] > e_admit and x[2] == 3}
    if sorted(after) != survivors:
        return bad(mode, lines, f"survivors that formed an epoch without the unreachable joiner: {sorted(after)}")
    took = max(x[4] for x in after.values()) - t_admit
    if took > bound:
        return bad(mode, lines, f"the unreachable joiner held the others {took:.1f} s (bound {bound} s)")
    jl = [l for l in lines if l.startswith("[3]") and ("evicted" in l or "init failed" in l)]
    if not jl or not re.search(r"PARTITIONED|cannot reach", jl[-1]):
        return bad(mode, lines, f"the joiner was not told it is unreachable: {jl[-1:]}")
    # Each dial attempt is bounded by WEFT_CONNECT_TIMEOUT (0.5 s here) and retried; the report
    # names the peer, its address and the attempts.
    dial = [l for l in lines if re.search(r"mesh: cannot reach rank 3 \(\S+:\d+\) in [\d.]+ s: connect: no answer "
                                          r"\(attempt ([3-9]|\d\d+)\)", l)]
    if not dial:
        return bad(mode, lines, "no survivor reported the joiner with its address after several bounded dial attempts")
    done = {int(m.group(1)): m for m in (DONE_RE.match(l) for l in lines) if m}
    if sorted(done) != survivors or {m.group(4) for m in done.values()} != {"3"} or \
            len({m.group(5) for m in done.values()}) != 1:
        return bad(mode, lines, f"ranks 0-2 must finish at size 3 with one model: {[m.group(0) for m in done.values()]}")
    print(f"{mode}: the recover that admitted the joiner (epoch {e_admit}) -> the epoch without it on every "
          f"survivor: {took:.2f} s (reported after 2 s of dialing, the round's 3 s)")
    print(f"{mode}: the joiner heard: {jl[-1][:220]}")
    print(f"{mode}: a survivor's report: {dial[0][:220]}")
    return True


def main():
    runs = {"reporter": run_reporter, "timeout": run_timeout, "joiner": run_joiner}

    def body(net):
        results = {mode: runs[mode](net) for mode in MODES}
        print(" ".join(f"{k}={'ok' if v else 'FAIL'}" for k, v in results.items()))
        return 0 if all(results.values()) else 1
    return on_test_hosts("wo", 79, 4, body)


if __name__ == "__main__":
    sys.exit(main())
