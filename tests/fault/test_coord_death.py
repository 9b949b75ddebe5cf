#!/usr/bin/env python3
"""Fault test: the coordinator dies or stops while 3 ranks run 2 MiB allreduces. Collectives do
not need the coordinator, so no rank may notice:

  kill   SIGKILL weft-coordinator (weftrun's child) mid-loop: weftrun restarts it on the same port,
         the ranks reconnect and re-register (REJOIN), and every rank finishes all its iterations
         with verified results and exits 0;
  stop   SIGSTOP it for longer than the heartbeat timeout (STOP_S), then SIGCONT: same.

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
ITERS = 250
STOP_S = 10.0  # > WEFT_HEARTBEAT_TIMEOUT 2 s below (the issue asks for 10 s)


def run(weftrun, rank_exe, mode, verbose):
    fails = []
    env = {"WEFT_HEARTBEAT_TIMEOUT": "2", "WEFT_HEARTBEAT_INTERVAL": "0.2"}
    argv = [weftrun, "-n", str(N), "--timeout", "150", rank_exe, "allreduce-loop", "--mib", "2",
            "--iters", str(ITERS)]
    with faultlib.Job(argv, env) as job:
        if not job.wait_for(lambda ls: faultlib.rank_pids(ls, N), 60) or not job.wait_for(faultlib.flowing(N), 90):
            return ["%s: the job did not start flowing\n%s" % (mode, job.text())]
        coords = [c for c in faultlib.children(job.proc.pid) if faultlib.comm_of(c).startswith("weft-coord")]
        if len(coords) != 1:
            return ["%s: expected one weft-coordinator child of weftrun, found %s" % (mode, coords)]
        t0 = time.time()
        if mode == "kill":
            os.kill(coords[0], signal.SIGKILL)
        else:
            os.kill(coords[0], signal.SIGSTOP)
            time.sleep(STOP_S)
            os.kill(coords[0], signal.SIGCONT)
        rc = job.wait(120)
        if rc is None:
            fails.append("%s: weftrun did not exit within 120 s (hang)" % mode)
            job.kill_all()
        text = job.text()
        if verbose:
            print(text)
        for r in range(N):
            lines = job.rank_lines(r)
            err = faultlib.error_line(lines)
            oks = [x for (t, rr, x) in job.lines if rr == r and re.match(r"rank \d+ ok ", x)]
            after = sum(1 for (t, rr, x) in job.lines if rr == r and t > t0 and re.match(r"rank \d+ ok ", x))
            print("%s: rank %d: %d operations verified (%d after the fault), error: %s" %
                  (mode, r, len(oks), after, err[0] + ": " + err[1] if err else "none"))
            if err is not None:
                fails.append("%s: rank %d failed: %s: %s" % (mode, r, err[0], err[1]))
            if len(oks) != ITERS:
                fails.append("%s: rank %d verified %d of %d operations" % (mode, r, len(oks), ITERS))
            if after == 0:
                fails.append("%s: rank %d had finished before the fault: it proves nothing" % (mode, r))
            during = sum(1 for (t, rr, x) in job.lines
                         if rr == r and t0 + 2.5 < t < t0 + STOP_S and re.match(r"rank \d+ ok ", x))
            if mode == "stop" and during == 0:
                fails.append("stop: rank %d verified no operation while the coordinator was stopped past the "
                             "heartbeat timeout" % r)
        restarted = "weftrun: the coordinator killed by signal 9; restarted it" in text
        if mode == "kill" and not restarted:
            fails.append("kill: weftrun did not report restarting the coordinator")
        if rc != 0:
            fails.append("%s: weftrun exited %s, expected 0" % (mode, rc))
        if re.search(r"rank \d+ killed by signal|WRONG", text):
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
