#!/usr/bin/env python3
"""SIGSTOP rank 3 of four: it stays connected but silent. The coordinator fails it after
WEFT_HEARTBEAT_TIMEOUT (2 s here), the survivors get an error naming it, recover to three and
go on. Then SIGCONT: the stopped process was fenced, so its next call fails and its recover says
it was evicted; elastic_sgd exits 3. It must not disturb the survivors, who finish with identical
models.

usage: test_sigstop.py WEFTRUN ELASTIC_SGD"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elastic_job import Job, assert_done, epochs, fail, first_event, recovery_times  # noqa: E402

STEPS, SLEEP_MS, VICTIM = 400, 10, 3
SURVIVORS = [0, 1, 2]
HB_TIMEOUT = 2.0
DETECT_BOUND_S = HB_TIMEOUT + 6.0  # timeout + the coordinator's tick + load on shared cores
EXIT_EVICTED = 3


def main():
    weftrun, program = sys.argv[1], sys.argv[2]
    job = Job(weftrun, program, 4, STEPS, SLEEP_MS, env={"WEFT_HEARTBEAT_TIMEOUT": str(HB_TIMEOUT)},
              timeout=150)
    pids = job.pids(4)
    time.sleep(1.0)
    os.kill(pids[VICTIM], signal.SIGSTOP)
    t_stop = time.time()
    try:
        # Wait until every survivor formed the epoch without the stopped rank.
        job.wait_for(lambda lines: len({e[0] for e in epochs(job) if e[0] in SURVIVORS and e[3] == [VICTIM]}) == 3,
                     60, "the survivors to recover without rank %d" % VICTIM)
        time.sleep(0.5)
    finally:
        try:
            os.kill(pids[VICTIM], signal.SIGCONT)
        except ProcessLookupError:
            pass  # the job was already killed by a failed wait
    t_cont = time.time()
    rc = job.wait_exit(160)

    assert_done(job, SURVIVORS, STEPS, 3)
    seen = first_event(job, t_stop - 0.05, SURVIVORS)
    detect = {r: seen[r] - t_stop for r in seen}
    if set(detect) != set(SURVIVORS) or max(detect.values()) > DETECT_BOUND_S:
        job.dump()
        fail("detection: %s (bound %.1f s)" % (detect, DETECT_BOUND_S))
    # The coordinator counts from the last message it heard, at most one heartbeat interval
    # (0.5 s) before the SIGSTOP.
    if min(detect.values()) < HB_TIMEOUT - 0.5 - 0.2:
        job.dump()
        fail("a stopped rank was declared lost before the heartbeat timeout: %s" % detect)
    changes = [e for e in epochs(job) if e[0] in SURVIVORS]
    # The fenced process: an eviction message, exit code 3, and nothing else.
    lines = [l for l in job.text() if l.startswith("[%d] " % VICTIM)]
    evicted = [l for l in lines if re.search(r"this process was evicted from the job: .*weft_comm_recover: .*evicted", l)]
    if not evicted:
        job.dump()
        fail("the resumed rank %d did not report its eviction" % VICTIM)
    if any(" done," in l for l in lines):
        job.dump()
        fail("the fenced rank %d went on training" % VICTIM)
    if rc != EXIT_EVICTED:
        job.dump()
        fail("weftrun exited %d, expected %d (the evicted rank's status)" % (rc, EXIT_EVICTED))
    t_evict = float(re.search(r"\(t=([\d.]+)\)$", evicted[0]).group(1))
    print("sigstop: detection (SIGSTOP -> error or epoch change) per survivor: %s s (heartbeat timeout %.1f s)" %
          ({r: round(v, 3) for r, v in sorted(detect.items())}, HB_TIMEOUT))
    print("sigstop: recovery (error -> new epoch) per survivor: %s s" % recovery_times(job, t_stop - 0.05, SURVIVORS))
    print("sigstop: SIGCONT -> fenced rank reports eviction: %.3f s" % (t_evict - t_cont))
    print("sigstop: OK")


if __name__ == "__main__":
    main()
