#!/usr/bin/env python3
"""Fault test for sub-communicators: SIGKILL a rank during a child's collective. Every survivor —
in the victim's child or not — must see its loop call fail (WEFT_ERR_PEER_LOST/REVOKED) within
DETECT_BOUND_S of the kill, then every other communicator of the context (a group without the
victim, the root) fail too; after weft_comm_recover on the root the old children must refuse
work and a new child must work (group_fault_rank.c checks those and exits 0).
With --during-formation the victim dies while the others form a group that includes it: their
weft_comm_create_group must fail the same way, within the same bound.

    python3 test_group_kill.py WEFTRUN GROUP_FAULT_RANK [--n 4,5] [--repeat 2] [--during-formation]"""
import argparse
import re
import subprocess
import sys

DETECT_BOUND_S = 10.0
LINE = re.compile(r"^\[(\d+)\] (.*)$")


def run(weftrun, exe, n, exe_args):
    proc = subprocess.run([weftrun, "-n", str(n), "--timeout", "120", exe] + exe_args, capture_output=True, text=True,
                          timeout=180)
    out = [LINE.match(l) for l in proc.stdout.splitlines() + proc.stderr.splitlines()]
    lines = [(int(m.group(1)), m.group(2)) for m in out if m]
    problems = []
    kill_t = None
    for r, t in lines:
        m = re.match(r"rank \d+ victim kill t=([\d.]+)", t)
        if m:
            kill_t = float(m.group(1))
    if kill_t is None:
        return ["the victim never reached its kill (output: %s)" % proc.stdout[-2000:]]
    for r in range(n - 1):
        mine = [t for rr, t in lines if rr == r]
        failed = [re.match(r"rank \d+ failed (WEFT_\w+) t=([\d.]+): (.*)", t) for t in mine]
        failed = [m for m in failed if m]
        if not failed:
            problems.append("rank %d: no failed call (output: %s)" % (r, mine[-5:]))
            continue
        code, t, detail = failed[0].group(1), float(failed[0].group(2)), failed[0].group(3)
        latency = t - kill_t
        print("  n=%d rank %d: %s after %.3f s: %s" % (n, r, code, latency, detail[:160]))
        if code not in ("WEFT_ERR_PEER_LOST", "WEFT_ERR_REVOKED"):
            problems.append("rank %d failed with %s" % (r, code))
        if latency > DETECT_BOUND_S:
            problems.append("rank %d noticed the kill after %.1f s (bound %.1f s)" % (r, latency, DETECT_BOUND_S))
        if not any("new child ok" in t for t in mine):
            problems.append("rank %d: no working child after recover: %s" % (r, mine[-4:]))
    # The survivors' own verdict (every step as required) is their exit status.
    for r in range(n - 1):
        if "weftrun: rank %d exited with status" % r in proc.stderr:
            problems.append("rank %d exited non-zero: %s" % (r, [t for rr, t in lines if rr == r][-6:]))
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weftrun")
    ap.add_argument("exe")
    ap.add_argument("--n", default="4,5")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--during-formation", action="store_true")
    a = ap.parse_args()
    exe_args = ["--during-formation"] if a.during_formation else []
    failures = []
    for n in [int(x) for x in a.n.split(",")]:
        for i in range(a.repeat):
            failures += ["n=%d run %d: %s" % (n, i, p) for p in run(a.weftrun, a.exe, n, exe_args)]
    for f in failures:
        print("FAIL", f)
    print("group kill: %d problem(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
