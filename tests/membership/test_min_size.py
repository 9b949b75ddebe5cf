#!/usr/bin/env python3
"""WEFT_MIN_SIZE=4 with four ranks: SIGKILL one, and weft_comm_recover fails with
WEFT_ERR_MIN_SIZE on every survivor (after the coordinator's grace period of one heartbeat
timeout for a joiner to come), within a bound; elastic_sgd exits 4.

The coordinator enforces the minimum; weftrun forwards it with --min-size (it does not read
WEFT_MIN_SIZE itself yet), so both are given.

usage: test_min_size.py WEFTRUN ELASTIC_SGD"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elastic_job import Job, fail  # noqa: E402

STEPS, SLEEP_MS, VICTIM = 300, 10, 2
SURVIVORS = [0, 1, 3]
HB_TIMEOUT = 3.0
BOUND_S = HB_TIMEOUT + 10.0
EXIT_MIN_SIZE = 4


def main():
    weftrun, program = sys.argv[1], sys.argv[2]
    job = Job(weftrun, program, 4, STEPS, SLEEP_MS, ["--min-size", "4"],
              {"WEFT_MIN_SIZE": "4", "WEFT_HEARTBEAT_TIMEOUT": str(HB_TIMEOUT)}, timeout=100)
    pids = job.pids(4)
    time.sleep(1.0)
    os.kill(pids[VICTIM], signal.SIGKILL)
    t_kill = time.time()
    rc = job.wait_exit(110)

    took = {}
    for l in job.text():
        m = re.match(r"^\[(\d+)\] elastic_sgd: step \d+: too few ranks remain: membership fell below "
                     r"WEFT_MIN_SIZE: .*below min size 4 \(t=([\d.]+)\)$", l)
        if m:
            took[int(m.group(1))] = float(m.group(2)) - t_kill
    if sorted(took) != SURVIVORS or max(took.values()) > BOUND_S:
        job.dump()
        fail("expected WEFT_ERR_MIN_SIZE on ranks %s within %.0f s, got %s" % (SURVIVORS, BOUND_S, took))
    if any(" done," in l for l in job.text()):
        job.dump()
        fail("a rank finished below the minimum size")
    for r in SURVIVORS:
        if not any(l == "weftrun: rank %d exited with status %d" % (r, EXIT_MIN_SIZE) for l in job.text()):
            job.dump()
            fail("rank %d did not exit with status %d" % (r, EXIT_MIN_SIZE))
    if rc != 128 + signal.SIGKILL:
        job.dump()
        fail("weftrun exited %d, expected %d (the killed rank's status comes first)" % (rc, 128 + signal.SIGKILL))
    print("min_size: kill -> WEFT_ERR_MIN_SIZE per survivor: %s s (grace = heartbeat timeout %.1f s)" %
          ({r: round(v, 3) for r, v in sorted(took.items())}, HB_TIMEOUT))
    print("min_size: OK")


if __name__ == "__main__":
    main()
