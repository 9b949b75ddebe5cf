#!/usr/bin/env python3
"""Losing the coordinator is not losing the job. Four ranks of elastic_sgd under
`weftrun --restart 2 --verbose` (which restarts a dead coordinator on the same port):

  1. the coordinator is SIGKILLed mid-training: weftrun restarts it, the ranks reconnect and
     re-register (REJOIN), the new coordinator rebuilds epoch 1 from them, and no rank sees an
     error -- training just goes on in epoch 1;
  2. a rank is SIGKILLed later: the survivors recover through the restarted coordinator and the
     replacement joins (epoch 2, size 4);
  3. the coordinator is SIGSTOPped for STOP_S (longer than the heartbeat timeout) and, during the
     stop, another rank is SIGKILLed: the survivors' recover cannot be answered within its bound
     (WEFT_RECOVER_TIMEOUT + WEFT_HEARTBEAT_TIMEOUT + 2 s) and returns WEFT_ERR_UNAVAILABLE, which
     elastic_sgd retries ("retrying"); once the coordinator resumes, the next epoch forms and
     rank 2's replacement (started by weftrun during the stop) joins.

At the end every rank holds the same model after all steps, in a membership of four, and the
coordinator was restarted exactly once. usage: test_coord_restart.py WEFTRUN ELASTIC_SGD"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elastic_job import EPOCH_RE, FAIL_RE, Job, assert_done, fail  # noqa: E402
import weftjob  # noqa: E402  (elastic_job put tests/common on the path)

HB_TIMEOUT, RECOVER_TIMEOUT, STOP_S = 2.0, 2.0, 9.0
STEPS, SLEEP_MS = 2500, 10
REBUILT_RE = re.compile(r"weft-coordinator: rebuilt epoch (\d+) after a restart: (\d+) of (\d+) members back")
RESTARTED_RE = re.compile(r"^weftrun: the coordinator killed by signal 9; restarted it on port")
RETRY_RE = re.compile(r"^\[(\d+)\] elastic_sgd: step \d+: weft_comm_recover: .*membership service unavailable")


def coordinator(job):
    coords = [c for c in weftjob.children(job.proc.pid) if weftjob.comm_of(c).startswith("weft-coord")]
    if len(coords) != 1:
        job.dump()
        fail("expected one weft-coordinator child of weftrun, found %s" % coords)
    return coords[0]


def steps_done(job, rank):
    """Training progress: elastic_sgd prints nothing per step, but calls recover at every step
    boundary, and the coordinator (--verbose) logs each round that changed nothing."""
    return sum(1 for l in job.text() if "recover of epoch" in l and "no change" in l)


def main():
    weftrun, program = sys.argv[1], sys.argv[2]
    env = {"WEFT_HEARTBEAT_TIMEOUT": str(HB_TIMEOUT), "WEFT_HEARTBEAT_INTERVAL": "0.2",
           "WEFT_RECOVER_TIMEOUT": str(RECOVER_TIMEOUT), "WEFT_LOG_LEVEL": "1"}
    job = Job(weftrun, program, 4, STEPS, SLEEP_MS, ["--restart", "2", "--verbose"], env=env, timeout=150)
    pids = job.pids(4)

    # 1. the coordinator dies; training goes on.
    time.sleep(1.5)
    os.kill(coordinator(job), signal.SIGKILL)
    t_kill = time.time()
    job.wait_for(lambda ls: any(REBUILT_RE.search(l) for l in ls), 20, "the restarted coordinator to rebuild")
    rounds = steps_done(job, 0)
    job.wait_for(lambda ls: steps_done(job, 0) >= rounds + 20, 20, "training to go on after the rebuild")
    rebuilt = [m for m in (REBUILT_RE.search(l) for l in job.text()) if m][0]
    if rebuilt.group(1) != "1" or rebuilt.group(2) != "4":
        job.dump()
        fail("expected epoch 1 rebuilt with 4 of 4 members, got: %s" % rebuilt.group(0))
    errors = job.parse(FAIL_RE)
    if errors:
        job.dump()
        fail("a rank saw an error after the coordinator's death: %s" % errors[0].group(0))
    print("coordinator killed: rebuilt epoch 1 with 4 members %.2f s later; no rank saw an error" %
          (time.time() - t_kill))

    # 2. a rank dies: recovered through the restarted coordinator, the replacement joins.
    def back_to_four(after):
        """An epoch after `after` with all four ranks, seen by at least three of them."""
        def pred(ls):
            ms = [m for m in (EPOCH_RE.match(l) for l in ls) if m]
            hits = [int(m.group(2)) for m in ms if int(m.group(2)) > after and int(m.group(3)) == 4]
            return max(hits) if len(hits) >= 3 else None
        return pred

    os.kill(pids[1], signal.SIGKILL)
    e2 = job.wait_for(back_to_four(1), 30, "four members again after killing rank 1")
    print("rank 1 killed: epoch %d formed through the restarted coordinator, its replacement joined" % e2)

    # 3. the coordinator stops while a rank dies: recover says UNAVAILABLE, then goes on.
    coord = coordinator(job)
    os.kill(coord, signal.SIGSTOP)
    t_stop = time.time()
    try:
        time.sleep(0.5)
        os.kill(pids[2], signal.SIGKILL)
        time.sleep(STOP_S - 0.5)
    finally:
        os.kill(coord, signal.SIGCONT)
    job.wait_for(back_to_four(e2), 40, "four members again after the stop (rank 2's replacement joined)")
    retries = {int(m.group(1)) for m in job.parse(RETRY_RE)}
    if not retries:
        job.dump()
        fail("no survivor's recover returned WEFT_ERR_UNAVAILABLE during the %.0f s stop" % STOP_S)
    print("coordinator stopped %.0f s with rank 2 killed meanwhile: ranks %s got WEFT_ERR_UNAVAILABLE from "
          "recover and retried; back to four members %.1f s after the stop began" %
          (STOP_S, sorted(retries), time.time() - t_stop))

    rc = job.wait_exit(140)
    assert_done(job, [0, 1, 2, 3], STEPS, 4)
    restarts = [l for l in job.text() if RESTARTED_RE.match(l)]
    if rc != 0 or len(restarts) != 1:
        job.dump()
        fail("weftrun exited %d with %d coordinator restarts (expected 0 and 1)" % (rc, len(restarts)))
    print("passed: all four ranks finished %d steps with the same model" % STEPS)


if __name__ == "__main__":
    main()
