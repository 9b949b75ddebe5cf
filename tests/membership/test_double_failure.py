#!/usr/bin/env python3
"""Two failures at once: 8 ranks of elastic_sgd (weftrun without --restart), SIGKILL two ranks
back to back (microseconds apart) in the middle of the run. The six survivors must notice, end in
a membership of six without either victim (in one epoch change or two: the coordinator may
decide before it has heard of the second death; either is correct), agree on every epoch change,
finish every step and hold identical models. Cases: ranks 2 and 5 (both in the middle), then
ranks 0 and 7 (the first, which is also elastic_sgd's state-sync root, and the last).

Prints per case and per survivor the detection time (kill -> its first error or epoch change)
and the recovery time (kill -> the epoch of size six), plus the epoch changes seen. Only bounds
are asserted: two shared cores make every time noisy.

usage: test_double_failure.py WEFTRUN ELASTIC_SGD [--cases 2:5,0:7]"""
import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elastic_job import (Job, assert_done, check_membership, epoch_changes, epochs,  # noqa: E402
                         fail, first_event)

N = 8
STEPS, SLEEP_MS = 400, 10     # >= 4 s of steps: the kills land mid-run
KILL_AFTER_S = 1.0            # after every rank printed its start line
DETECT_BOUND_S = 10.0         # a dead process is noticed at once; generous for two shared cores
RECOVER_BOUND_S = 30.0        # kill -> the size-6 epoch on every survivor
JOB_TIMEOUT_S = 100           # weftrun --timeout: the backstop of one case
EXIT_BOUND_S = 110            # kill -> weftrun exited


def run_case(weftrun, program, victims):
    label = "double_failure %d+%d" % victims
    survivors = [r for r in range(N) if r not in victims]
    t_case = time.time()
    job = Job(weftrun, program, N, STEPS, SLEEP_MS, timeout=JOB_TIMEOUT_S)
    try:
        pids = job.pids(N)
        time.sleep(KILL_AFTER_S)
        t_kill = time.time()
        for v in victims:  # back to back: the second lands microseconds after the first
            os.kill(pids[v], signal.SIGKILL)
        spread = time.time() - t_kill
        rc = job.wait_exit(EXIT_BOUND_S)
    finally:
        job.stop()

    assert_done(job, survivors, STEPS, N - len(victims))
    early = [v for v in victims if v in job.done()]
    if early:
        job.dump()
        fail("%s: killed rank(s) %s printed 'done': the kill came too late" % (label, early))
    if rc != 128 + signal.SIGKILL:
        job.dump()
        fail("%s: weftrun exited %d, expected %d (ranks killed, none restarted)" % (label, rc, 128 + signal.SIGKILL))
    _, common = check_membership(job, list(range(N)), survivors, t_kill - 0.05, label)

    seen = first_event(job, t_kill - 0.05, survivors)
    detect = {r: seen[r] - t_kill for r in seen}
    if set(detect) != set(survivors) or max(detect.values()) > DETECT_BOUND_S:
        job.dump()
        fail("%s: detection %s (bound %.0f s)" % (label, detect, DETECT_BOUND_S))
    final_epoch = common[-1][0]
    recovered = {r: ts[-1][4] - t_kill for r, ts in epoch_changes(job, survivors, t_kill - 0.05).items()
                 if ts and ts[-1][0] == final_epoch}
    if set(recovered) != set(survivors) or max(recovered.values()) > RECOVER_BOUND_S:
        job.dump()
        fail("%s: kill -> final epoch %s (bound %.0f s)" % (label, recovered, RECOVER_BOUND_S))
    since = {r: e[6] for e in epochs(job) for r in [e[0]] if r in survivors and e[1] == final_epoch}
    print("%s: kills %.1f us apart; epoch changes %s" %
          (label, spread * 1e6, ["epoch %d: size %d, left %s" % (ep, size, left) for ep, size, left, _, _ in common]))
    print("%s: detection (kill -> first error or epoch change) per survivor: %s s; max %.3f s" %
          (label, {r: round(v, 3) for r, v in sorted(detect.items())}, max(detect.values())))
    print("%s: recovery (kill -> size-%d epoch) per survivor: %s s; max %.3f s" %
          (label, N - len(victims), {r: round(v, 3) for r, v in sorted(recovered.items())}, max(recovered.values())))
    print("%s: recover call (error or boundary -> final epoch, elastic_sgd's 'since error'): %s s" %
          (label, {r: round(v, 3) for r, v in sorted(since.items())}))
    print("%s: OK (%.1f s)" % (label, time.time() - t_case), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weftrun")
    ap.add_argument("program")
    ap.add_argument("--cases", default="2:5,0:7", help="victim pairs, e.g. 2:5,0:7")
    a = ap.parse_args()
    t0 = time.time()
    for c in a.cases.split(","):
        victims = tuple(int(x) for x in c.split(":"))
        if len(victims) != 2 or len(set(victims)) != 2 or any(v < 0 or v >= N for v in victims):
            ap.error("bad victim pair %r" % c)
        run_case(a.weftrun, a.program, victims)
    print("double_failure: OK (%.1f s in all)" % (time.time() - t0))


if __name__ == "__main__":
    main()
