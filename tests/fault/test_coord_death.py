#!/usr/bin/env python3
"""Fault test: the coordinator dies or stops while 3 ranks run 2 MiB allreduces. Collectives do
not need the coordinator, so no rank may notice:

  kill   SIGKILL weft-coordinator (weftrun's child) mid-loop: weftrun restarts it on the same port,
         the ranks reconnect and re-register (REJOIN), and every rank goes on verifying results
         with no error (the test ends the endless loops after AFTER_OPS more operations each);
  stop   SIGSTOP it for STOP_S, longer than the heartbeat timeout, then SIGCONT: same, and every
         rank verified operations while it was stopped.

Before weft 0.7 a rank counted a lost coordinator connection as its own eviction and failed every
call with WEFT_ERR_EVICTED; the job had to be restarted.

    python3 test_coord_death.py WEFTRUN FAULT_RANK [-v]"""
import argparse
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402

N = 3
AFTER_OPS = 20
STOP_S = 10.0  # > WEFT_HEARTBEAT_TIMEOUT 2 s below (the issue asks for 10 s)


def oks(job, r, since):
    return sum(1 for (t, rr, x) in job.lines if rr == r and t > since and re.match(r"rank \d+ ok ", x))


def run(weftrun, rank_exe, mode, verbose):
    fails = []
    env = {"WEFT_HEARTBEAT_TIMEOUT": "2", "WEFT_HEARTBEAT_INTERVAL": "0.2"}
    argv = [weftrun, "-n", str(N), "--timeout", "150", rank_exe, "allreduce-loop", "--mib", "2", "--iters", "0"]
    with faultlib.Job(argv, env) as job:
        if not job.wait_for(lambda ls: faultlib.rank_pids(ls, N), 60) or not job.wait_for(faultlib.flowing(N), 90):
            return ["%s: the job did not start flowing\n%s" % (mode, job.text())]
        coords = [c for c in faultlib.children(job.proc.pid) if faultlib.comm_of(c).startswith("weft-coord")]
        if len(coords) != 1:
            return ["%s: expected one weft-coordinator child of weftrun, found %s" % (mode, coords)]
        t0 = time.time()
        if mode == "kill":
            os.kill(coords[0], signal.SIGKILL)
            # ... and the operations still verified once the restarted one rebuilt the epoch.
            job.wait_for(lambda ls: any("restarted it on port" in x for (_, _, x) in ls) or None, 20)
            time.sleep(1.0)
        else:
            os.kill(coords[0], signal.SIGSTOP)
            time.sleep(STOP_S)
            os.kill(coords[0], signal.SIGCONT)
        t1 = time.time()
        # The ranks loop for ever: let each verify AFTER_OPS more operations after the fault, then
        # end the job (weftrun's session is killed; the ranks print nothing for that).
        going = job.wait_for(lambda ls: all(oks(job, r, t1) >= AFTER_OPS for r in range(N)) or None, 90)
        during = {r: sum(1 for (t, rr, x) in job.lines if rr == r and t0 + 2.5 < t < t0 + STOP_S and
                         re.match(r"rank \d+ ok ", x)) for r in range(N)}
        job.kill_all()
        text = job.text()
        if verbose:
            print(text)
        for r in range(N):
            err = faultlib.error_line(job.rank_lines(r))
            print("%s: rank %d: %d operations verified after the fault (%s), error: %s" %
                  (mode, r, oks(job, r, t0), "%d after the coordinator's restart" % oks(job, r, t1) if mode == "kill"
                   else "%d while it was stopped past the heartbeat timeout" % during[r],
                   err[0] + ": " + err[1] if err else "none"))
            if err is not None:
                fails.append("%s: rank %d failed: %s: %s" % (mode, r, err[0], err[1]))
            if mode == "stop" and during[r] == 0:
                fails.append("stop: rank %d verified no operation while the coordinator was stopped past the "
                             "heartbeat timeout" % r)
        if not going:
            fails.append("%s: not every rank verified %d operations after the fault within 90 s" % (mode, AFTER_OPS))
        if mode == "kill" and "weftrun: the coordinator killed by signal 9; restarted it" not in text:
            fails.append("kill: weftrun did not report restarting the coordinator")
        if re.search(r"rank \d+ killed by signal|WRONG", text.split("weftrun: stopping")[0]):
            fails.append("%s: a rank crashed or reported wrong data" % mode)
        if fails and not verbose:
            fails.append("output:\n" + text)
    return fails


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weftrun")
    ap.add_argument("rank_exe")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    fails = run(a.weftrun, a.rank_exe, "kill", a.v) + run(a.weftrun, a.rank_exe, "stop", a.v)
    for f in fails:
        print("FAIL: " + f)
    print("%s" % ("FAILED" if fails else "passed"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
