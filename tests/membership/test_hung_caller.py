#!/usr/bin/env python3
"""A hung caller: rank 3 of four blocks for ever in its own code before an allreduce (its
progress thread, and so its heartbeats, go on: nothing else would notice). The survivors wait
WEFT_STALL_TIMEOUT (2 s here), the coordinator asks every member how far it got and evicts rank
3, which neither entered the allreduce nor was inside weft for that long; the survivors' error
names it and where it is ("rank 3 (...) has not entered allreduce seq N for 2.0 s; it last
entered allreduce seq N-1"), they recover to three and finish with identical models.

Three runs:
  exit      WEFT_EXIT_ON_EVICT=1, no restart: the hung process exits with status 75 on its own
            (weftrun's status), although its thread never returns to weft;
  restart   weftrun --restart 1 (which sets WEFT_EXIT_ON_EVICT): the replacement joins and all
            four finish;
  slow      rank 3 only sleeps 1 s in its own code (under the stall timeout): nobody is evicted,
            nobody sees an error, one epoch throughout.

usage: test_hung_caller.py WEFTRUN ELASTIC_SGD"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elastic_job import FAIL_RE, START_RE, Job, assert_done, epochs, fail, recovery_times  # noqa: E402

VICTIM, HANG_STEP, SLEEP_MS = 3, 40, 10
SURVIVORS = [0, 1, 2]
STALL = 2.0
DETECT_BOUND_S = STALL + 4.0  # the stall timeout + a query round trip + load on shared cores
EXIT_EVICTED = 75  # WEFT_EXIT_EVICTED
HANG_RE = re.compile(r"^\[(\d+)\] elastic_sgd: hanging at step (\d+) \(t=([\d.]+)\)")
# The coordinator's REVOKE names the rank ("coordinator: rank 3 (member 4, host h pid 7) has not
# entered ..."); the evicted rank's own ABORT may reach a survivor first ("aborted by rank 3: ...
# the coordinator's verdict: STALLED: has not entered ..."): either names it and where it is.
NAMED_RE = re.compile(r"(?:rank 3 \((?:member \d+, )?host \S+ pid \d+\)|aborted by rank 3: .*STALLED:) "
                      r"has not entered allreduce seq (\d+) for [\d.]+ s; it last entered allreduce seq (\d+)")


def run(weftrun, program, mode):
    steps = 300
    env = {"WEFT_STALL_TIMEOUT": str(STALL), "ELASTIC_SGD_HANG_RANK": str(VICTIM),
           "ELASTIC_SGD_HANG_STEP": str(HANG_STEP)}
    if mode == "exit":
        env["WEFT_EXIT_ON_EVICT"] = "1"
    if mode == "slow":
        env["ELASTIC_SGD_HANG_MS"] = "1000"
    job = Job(weftrun, program, 4, steps, SLEEP_MS, ["--restart", "1"] if mode == "restart" else [], env=env,
              timeout=120)
    job.pids(4)
    rc = job.wait_exit(130)
    hang = job.parse(HANG_RE)
    if len(hang) != 1 or int(hang[0].group(1)) != VICTIM:
        job.dump()
        fail("%s: expected rank %d to hang once, got %s" % (mode, VICTIM, [m.group(0) for m in hang]))
    t_hang = float(hang[0].group(3))

    if mode == "slow":
        done = assert_done(job, [0, 1, 2, 3], steps, 4)
        if rc != 0 or job.parse(FAIL_RE) or any(e[1] > 1 for e in epochs(job)):
            job.dump()
            fail("slow: a rank 1 s late (under the stall timeout) was treated as hung (weftrun %d)" % rc)
        print("hung caller (slow): a 1.0 s pause in user code with WEFT_STALL_TIMEOUT %.1f s: no error, epoch %d "
              "throughout" % (STALL, done[0][1]))
        return

    fails = job.first_after(FAIL_RE, t_hang, SURVIVORS)
    if set(fails) != set(SURVIVORS):
        job.dump()
        fail("%s: not every survivor saw an error after the hang: %s" % (mode, sorted(fails)))
    detect = {}
    for r, m in fails.items():
        named = NAMED_RE.search(m.group(3))
        if not named or int(named.group(2)) + 1 != int(named.group(1)):
            job.dump()
            fail("%s: rank %d's error does not name the hung rank and where it is: %s" % (mode, r, m.group(3)))
        detect[r] = float(m.group(4)) - t_hang
    if min(detect.values()) < STALL - 0.3 or max(detect.values()) > DETECT_BOUND_S:
        job.dump()
        fail("%s: detection %s outside [%.1f, %.1f] s" % (mode, detect, STALL - 0.3, DETECT_BOUND_S))
    left = [e for e in epochs(job) if e[0] in SURVIVORS and e[3] == [VICTIM]]
    if {e[0] for e in left} != set(SURVIVORS):
        job.dump()
        fail("%s: the survivors did not recover without rank %d: %s" % (mode, VICTIM, left))
    lines = [l for l in job.text() if l.startswith("[%d] " % VICTIM)]
    if not any("exiting with status %d (WEFT_EXIT_ON_EVICT)" % EXIT_EVICTED in l and "STALLED" in l for l in lines):
        job.dump()
        fail("%s: the hung rank did not exit on its eviction saying why" % mode)
    if mode == "exit":
        assert_done(job, SURVIVORS, steps, 3)
        if rc != EXIT_EVICTED:
            job.dump()
            fail("exit: weftrun exited %d, expected %d (the evicted rank's status)" % (rc, EXIT_EVICTED))
    else:
        assert_done(job, [0, 1, 2, 3], steps, 4)
        late = [m for m in job.parse(START_RE) if m.group(2) == "joined late into" and int(m.group(1)) == VICTIM]
        if rc != 0 or len(late) != 1:
            job.dump()
            fail("restart: weftrun exited %d, joiners %d (expected 0 and 1)" % (rc, len(late)))
    print("hung caller (%s): detection (hang -> error naming it) per survivor: %s s (stall timeout %.1f s)" %
          (mode, {r: round(v, 3) for r, v in sorted(detect.items())}, STALL))
    print("hung caller (%s): recovery (error -> new epoch) per survivor: %s s" %
          (mode, recovery_times(job, t_hang, SURVIVORS)))
    print("hung caller (%s): the survivors' error: %s" % (mode, fails[SURVIVORS[0]].group(3)[-160:]))


def main():
    weftrun, program = sys.argv[1], sys.argv[2]
    for mode in ("exit", "restart", "slow"):
        run(weftrun, program, mode)
    print("hung_caller: OK")


if __name__ == "__main__":
    main()
