#!/usr/bin/env python3
"""Fault test: SIGKILL the coordinator (weft-coordinator, weftrun's child) while 3 ranks run an
allreduce loop. The ranks must not hang: each either keeps going and then fails with an error
that mentions the coordinator, or exits cleanly; in every case every rank exits (status 0 or 3,
never a crash) within a bound.

    python3 test_coord_death.py WEFTRUN FAULT_RANK [-v]

What weft does today (lib/membership/service.c): a rank reads EOF/reset on its coordinator
socket at once and, since a coordinator connection is never taken back, counts itself evicted:
the running and every later call fail with the terminal WEFT_ERR_EVICTED ("this process was
evicted from the job at epoch E: its coordinator connection was lost (...)"), never
WEFT_ERR_REVOKED, which would ask for a recover that cannot succeed. The driver prints each
rank's code, detail and latency."""
import argparse
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402

N = 3
BOUND_S = 15.0  # kill -> every rank returned; the heartbeat timeout (3 s) is the slow path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weftrun")
    ap.add_argument("rank_exe")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    fails = []
    argv = [a.weftrun, "-n", str(N), "--timeout", "120", a.rank_exe, "allreduce-loop", "--mib", "8"]
    with faultlib.Job(argv) as job:
        pids = job.wait_for(lambda ls: faultlib.rank_pids(ls, N), 60)

        if not pids or not job.wait_for(faultlib.flowing(N), 90):
            print("FAIL: the job did not start flowing\n" + job.text())
            return 1
        coords = [c for c in faultlib.children(job.proc.pid) if faultlib.comm_of(c).startswith("weft-coord")]
        if len(coords) != 1:
            print("FAIL: expected one weft-coordinator child of weftrun, found %s" % coords)
            return 1
        kill_time = time.time()
        os.kill(coords[0], signal.SIGKILL)
        rc = job.wait(BOUND_S + 10)
        done_s = time.time() - kill_time
        if rc is None:
            fails.append("weftrun did not exit within %.0f s of the coordinator's death (hang)" % (BOUND_S + 10))
            job.kill_all()
        text = job.text()
        if a.v:
            print(text)
        print("coordinator pid %d killed; weftrun exited %s after %.2f s" % (coords[0], rc, done_s))
        for r in range(N):
            err = faultlib.error_line(job.rank_lines(r))
            oks_after = sum(1 for (t, rr, x) in job.lines if rr == r and t > kill_time and re.match(r"rank \d+ ok ", x))
            if err is None:
                status = "exited 0" if "weftrun: rank %d exited" % r not in text and "rank %d killed" % r not in text else "?"
                print("rank %d: no error; %d more operations after the kill; %s" % (r, oks_after, status))
                if status != "exited 0":
                    fails.append("rank %d printed no ERROR line and did not exit 0" % r)
                continue
            code, detail, call_s, t = err
            print("rank %d: %s %.3f s after the kill (call ran %.2f s; %d more operations succeeded first): %s"
                  % (r, code, t - kill_time, call_s, oks_after, detail))
            if code != "WEFT_ERR_EVICTED":
                fails.append("rank %d: %s, expected WEFT_ERR_EVICTED (terminal)" % (r, code))
            if "coordinator" not in detail:
                fails.append("rank %d: the error does not mention the coordinator: %s" % (r, detail))
            if t - kill_time > BOUND_S:
                fails.append("rank %d: error %.2f s after the kill (bound %.0f s)" % (r, t - kill_time, BOUND_S))
            if "weftrun: rank %d exited with status 3" % r not in text:
                fails.append("rank %d did not exit with status 3 (clean error exit)" % r)
            if faultlib.pid_alive(pids[r]):
                fails.append("rank %d (pid %d) still alive" % (r, pids[r]))
        if re.search(r"rank \d+ killed by signal|WRONG", text):
            fails.append("a rank crashed or reported wrong data")
        if fails and not a.v:
            fails.append("output:\n" + text)
    for f in fails:
        print("FAIL: " + f)
    print("%s" % ("FAILED" if fails else "passed"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
