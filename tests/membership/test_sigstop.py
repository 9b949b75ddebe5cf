#!/usr/bin/env python3
"""SIGSTOP rank 3 of four: it stays connected but silent. The coordinator fails it after
WEFT_HEARTBEAT_TIMEOUT (2 s here), the survivors get an error naming it, recover to three and
go on. Then SIGCONT: the stopped process was evicted, so its next call (the one it was stopped
in) and its recover fail with the terminal WEFT_ERR_EVICTED -- never WEFT_ERR_REVOKED, which
would send it back to recover forever -- with a detail saying why (the coordinator's verdict or
its silence), and elastic_sgd exits 3. It must not disturb the survivors, who finish with
identical models.

Twice: without restarts (weftrun's status is the evicted rank's 3), and under `weftrun
--restart 1`, where the evicted rank's exit brings it back as a joiner (weft_comm_joined_late)
that the survivors admit, and all four finish with identical models (weftrun exits 0).

usage: test_sigstop.py WEFTRUN ELASTIC_SGD"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elastic_job import FAIL_RE, START_RE, Job, assert_done, epochs, fail, first_event, recovery_times  # noqa: E402

SLEEP_MS, VICTIM = 10, 3
SURVIVORS = [0, 1, 2]
HB_TIMEOUT = 2.0
DETECT_BOUND_S = HB_TIMEOUT + 6.0  # timeout + the coordinator's tick + load on shared cores
EXIT_EVICTED = 3
EVICTED_TEXT = "this process was removed from the job: exit"  # weft_strerror(WEFT_ERR_EVICTED)


def run(weftrun, program, restart):
    # With a restart, enough steps remain after the SIGCONT for the joiner to be admitted.
    steps = 1200 if restart else 400
    # WEFT_EXIT_ON_EVICT=0 under --restart (which sets it to 1): the point is what the resumed
    # process's own calls return; exiting on the verdict is test_hung_caller's.
    job = Job(weftrun, program, 4, steps, SLEEP_MS, ["--restart", "1"] if restart else [],
              env={"WEFT_HEARTBEAT_TIMEOUT": str(HB_TIMEOUT), "WEFT_EXIT_ON_EVICT": "0"}, timeout=150)
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

    done = assert_done(job, [0, 1, 2, 3] if restart else SURVIVORS, steps, 4 if restart else 3)
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
    # The evicted incarnation: every call it failed after SIGCONT says EVICTED, recover too, and
    # it reports the eviction and stops training.
    late = [m for m in job.parse(START_RE) if m.group(2) == "joined late into" and int(m.group(1)) == VICTIM]
    t_join = float(late[0].group(7)) if late else float("inf")
    lines = [l for l in job.text() if l.startswith("[%d] " % VICTIM)]
    # (None when it was stopped inside recover, which then says it alone.)
    failed = [m.group(3) for m in (FAIL_RE.match(l) for l in lines)
              if m and " failed: " in m.group(3) and t_cont - 0.05 <= float(m.group(4)) < t_join]
    evicted = [l for l in lines if re.search(r"this process was evicted from the job: weft_comm_recover: .*evicted", l)]
    if not evicted:
        job.dump()
        fail("the resumed rank %d did not report its eviction" % VICTIM)
    wrong = [f for f in failed if EVICTED_TEXT not in f]
    if wrong:
        job.dump()
        fail("the resumed rank %d's calls must fail with WEFT_ERR_EVICTED, got: %s" % (VICTIM, wrong))
    if not re.search(r"coordinator's verdict: HUNG|no message from the coordinator", evicted[0]):
        job.dump()
        fail("the eviction does not say why: %s" % evicted[0])
    t_evict = float(re.search(r"\(t=([\d.]+)\)$", evicted[0]).group(1))
    mode = "weftrun --restart 1" if restart else "no restart"
    if restart:
        if rc != 0:
            job.dump()
            fail("weftrun exited %d, expected 0 (the restarted rank finished)" % rc)
        if len(late) != 1 or t_join < t_evict:
            job.dump()
            fail("the evicted rank %d was not restarted as a joiner" % VICTIM)
        admitted = [e for e in epochs(job) if e[0] in SURVIVORS and e[4] and e[2] == 4]
        if {e[0] for e in admitted} != set(SURVIVORS):
            job.dump()
            fail("every survivor must admit the restarted rank: %s" % admitted)
    else:
        if any(" done," in l for l in lines):
            job.dump()
            fail("the evicted rank %d went on training" % VICTIM)
        if rc != EXIT_EVICTED:
            job.dump()
            fail("weftrun exited %d, expected %d (the evicted rank's status)" % (rc, EXIT_EVICTED))
    print("sigstop (%s): detection (SIGSTOP -> error or epoch change) per survivor: %s s (heartbeat timeout %.1f s)" %
          (mode, {r: round(v, 3) for r, v in sorted(detect.items())}, HB_TIMEOUT))
    print("sigstop (%s): recovery (error -> new epoch) per survivor: %s s" %
          (mode, recovery_times(job, t_stop - 0.05, SURVIVORS)))
    print("sigstop (%s): SIGCONT -> evicted rank reports WEFT_ERR_EVICTED: %.3f s; its calls: %s; why: %s" %
          (mode, t_evict - t_cont, failed, evicted[0].split("evicted from the job at epoch", 1)[-1][:160]))
    if restart:
        print("sigstop (%s): eviction -> joiner admitted: %.3f s; final epoch %d" % (mode, t_join - t_evict, done[0][1]))


def main():
    weftrun, program = sys.argv[1], sys.argv[2]
    run(weftrun, program, False)
    run(weftrun, program, True)
    print("sigstop: OK")


if __name__ == "__main__":
    main()
