#!/usr/bin/env python3
"""SIGKILL one rank of four mid-run (weftrun without --restart, so it stays dead): the three
survivors notice at once (connection reset), recover to a membership of three and finish every
step with identical models. weftrun exits 128+9 because a rank died; that is expected.

usage: test_recover_kill.py WEFTRUN ELASTIC_SGD"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elastic_job import Job, assert_done, epochs, fail, first_event, recovery_times  # noqa: E402

STEPS, SLEEP_MS, VICTIM = 300, 10, 2
SURVIVORS = [0, 1, 3]
DETECT_BOUND_S = 10.0  # a dead process is noticed at once; generous for two shared cores


def main():
    weftrun, program = sys.argv[1], sys.argv[2]
    job = Job(weftrun, program, 4, STEPS, SLEEP_MS, timeout=150)
    pids = job.pids(4)
    time.sleep(1.0)  # 300 steps of >= 10 ms take >= 3 s: the kill lands mid-run
    os.kill(pids[VICTIM], signal.SIGKILL)
    t_kill = time.time()
    rc = job.wait_exit(160)

    assert_done(job, SURVIVORS, STEPS, 3)
    if VICTIM in job.done():
        fail("the killed rank printed 'done': the kill came too late")
    if rc != 128 + signal.SIGKILL:
        job.dump()
        fail("weftrun exited %d, expected %d (a rank was killed, none restarted)" % (rc, 128 + signal.SIGKILL))
    changes = [e for e in epochs(job) if e[0] in SURVIVORS]
    if {e[0] for e in changes} != set(SURVIVORS) or any(e[2] != 3 or e[3] != [VICTIM] or e[4] for e in changes):
        job.dump()
        fail("expected one epoch change to size 3 with left [%d] on every survivor, got %s" % (VICTIM, changes))
    seen = first_event(job, t_kill - 0.05, SURVIVORS)
    detect = {r: seen[r] - t_kill for r in seen}
    if set(detect) != set(SURVIVORS) or max(detect.values()) > DETECT_BOUND_S:
        job.dump()
        fail("detection: %s (bound %.0f s)" % (detect, DETECT_BOUND_S))
    print("recover_kill: detection (kill -> error or epoch change) per survivor: %s s" %
          {r: round(v, 3) for r, v in sorted(detect.items())})
    print("recover_kill: recovery (error -> new epoch) per survivor: %s s" %
          recovery_times(job, t_kill - 0.05, SURVIVORS))
    print("recover_kill: OK")


if __name__ == "__main__":
    main()
