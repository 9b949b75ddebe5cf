#!/usr/bin/env python3
"""SIGKILL rank 1 of four under `weftrun --restart 1`: the restarted process joins the running job
(weft_comm_joined_late), receives the model, and all four finish with identical models, final
size 4, weftrun exit 0.

Two runs. In the first the restart races the survivors' recover: the joiner may be admitted by
the very recover that drops the dead rank, or one step later. In the second the restarted process
waits 1.5 s before it connects (ELASTIC_SGD_RESTART_DELAY_MS), so the survivors first recover to
three and the joiner is admitted at a later step boundary: the coordinator never tells members
that a joiner waits, so admission relies on elastic_sgd calling recover at every step. Enough
steps remain after the kill (300 x 10 ms) for that to happen before the job ends.

usage: test_rejoin.py WEFTRUN ELASTIC_SGD"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elastic_job import START_RE, Job, assert_done, epochs, fail  # noqa: E402

STEPS, SLEEP_MS, VICTIM = 300, 10, 1


def run(weftrun, program, delay_ms):
    env = {"ELASTIC_SGD_RESTART_DELAY_MS": str(delay_ms)} if delay_ms else {}
    job = Job(weftrun, program, 4, STEPS, SLEEP_MS, ["--restart", "1"], env, timeout=75)
    pids = job.pids(4)
    time.sleep(1.0)
    os.kill(pids[VICTIM], signal.SIGKILL)
    t_kill = time.time()
    rc = job.wait_exit(80)

    done = assert_done(job, [0, 1, 2, 3], STEPS, 4)
    if rc != 0:
        job.dump()
        fail("weftrun exited %d, expected 0" % rc)
    late = [m for m in job.parse(START_RE) if m.group(2) == "joined late into" and int(m.group(1)) == VICTIM]
    if len(late) != 1:
        job.dump()
        fail("the restarted rank %d did not report joining late" % VICTIM)
    changes = [e for e in epochs(job) if e[0] != VICTIM]
    admitted = [e for e in changes if e[4]]
    dropped = [e for e in changes if e[3] == [VICTIM]]
    if {e[0] for e in admitted} != {0, 2, 3} or {e[0] for e in dropped} != {0, 2, 3}:
        job.dump()
        fail("every survivor must see rank %d leave and a joiner come: %s" % (VICTIM, changes))
    if any(e[2] != 4 for e in admitted):
        job.dump()
        fail("the epoch that admitted the joiner must have size 4: %s" % admitted)
    separate = any(e[2] == 3 for e in dropped)
    if delay_ms and not separate:
        job.dump()
        fail("with a %d ms restart delay the survivors should recover to 3 before the joiner comes" % delay_ms)
    t_join = float(late[0].group(7))
    print("rejoin (restart delay %d ms): %s; kill -> joiner admitted %.3f s; epochs seen by rank 0: %s; "
          "final epoch %d" % (delay_ms, "admitted a step after the survivors recovered" if separate
                              else "admitted by the same recover that dropped the dead rank",
                              t_join - t_kill, [(e[1], e[2], e[3], e[4]) for e in changes if e[0] == 0],
                              done[0][1]))


def main():
    weftrun, program = sys.argv[1], sys.argv[2]
    run(weftrun, program, 0)
    run(weftrun, program, 1500)
    print("rejoin: OK")


if __name__ == "__main__":
    main()
