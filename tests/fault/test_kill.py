#!/usr/bin/env python3
"""Fault test: SIGKILL one rank in the middle of a large collective; every survivor must return
WEFT_ERR_PEER_LOST or WEFT_ERR_REVOKED naming the killed rank within a bound, destroy its
communicator and exit 3 (a clean error exit: not a crash, not a hang), and weftrun must exit
non-zero naming the killed rank.

    python3 test_kill.py WEFTRUN FAULT_RANK [--n 4,8] [-v]

For each world size n the full matrix runs: every collective fault_rank loops on (allreduce,
allgather, reduce_scatter, broadcast, reduce, barrier; 8 MiB per rank where it moves data) times
every victim position (the first rank, a middle one n/2 and the last), plus the mixed loop that
cycles through all of them with a middle victim. Detection latencies (the survivor's wall clock
when its call returned minus the moment of the kill) are printed as a table; only the bound is
asserted. --modes and --positions select a subset (e.g. to reproduce one case)."""
import argparse
import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402

DETECT_BOUND_S = 10.0   # kill -> every survivor's call returned an error
FLOW_TIMEOUT_S = 90.0   # start -> every rank finished two operations
EXIT_TIMEOUT_S = 30.0   # kill -> weftrun exited
JOB_TIMEOUT_S = 150     # weftrun --timeout: the backstop if everything else fails


MODES = ("allreduce", "allgather", "reduce_scatter", "broadcast", "reduce", "barrier")
POSITIONS = ("first", "middle", "last")


def victim_of(n, position):
    return {"first": 0, "middle": n // 2, "last": n - 1}[position]


def cases(n, modes=MODES, positions=POSITIONS, mixed=True):
    """Every collective x every victim position, then the mixed loop with a middle victim."""
    out = [(m + "-loop", victim_of(n, p)) for m in modes for p in positions]
    if mixed:
        out.append(("mixed-loop", victim_of(n, "middle")))
    return out


def run_case(weftrun, rank_exe, n, mode, victim, verbose, strict_blame, cascades):
    """Returns (list of failures, {rank: (code, latency, call seconds)}); appends survivors
    blamed in the victim's place to cascades."""
    fails = []
    argv = [weftrun, "-n", str(n), "--timeout", str(JOB_TIMEOUT_S), rank_exe, mode, "--mib", "8"]
    with faultlib.Job(argv) as job:
        pids = job.wait_for(lambda ls: faultlib.rank_pids(ls, n), FLOW_TIMEOUT_S)
        if not pids:
            return ["ranks did not all print their pid:\n" + job.text()], {}

        if not job.wait_for(faultlib.flowing(n), FLOW_TIMEOUT_S):
            return ["operations did not flow on every rank within %.0f s:\n%s" % (FLOW_TIMEOUT_S, job.text())], {}
        time.sleep(random.uniform(0.0, 0.3))  # land somewhere inside an operation
        kill_time = time.time()
        os.kill(pids[victim], signal.SIGKILL)
        rc = job.wait(EXIT_TIMEOUT_S)
        exit_s = time.time() - kill_time
        if rc is None:
            fails.append("weftrun did not exit within %.0f s of the kill (a survivor hangs?)" % EXIT_TIMEOUT_S)
            job.kill_all()
        text = job.text()
        if verbose:
            print(text)
        lat = {}
        for r in range(n):
            if r == victim:
                continue
            err = faultlib.error_line(job.rank_lines(r))
            if err is None:
                fails.append("rank %d printed no ERROR line" % r)
                continue
            code, detail, call_s, t = err
            lat[r] = (code, t - kill_time, call_s)
            if code not in ("WEFT_ERR_PEER_LOST", "WEFT_ERR_REVOKED"):
                fails.append("rank %d: %s (expected PEER_LOST or REVOKED): %s" % (r, code, detail))
            if not re.search(r"\brank %d\b" % victim, detail):
                # Known library issue: a survivor that already failed
                # and destroyed its communicator can reach a slower survivor (RST or BYE) before
                # the news of the victim does, and gets blamed instead. Tolerated unless
                # --strict-blame, but only when the blamed rank is itself a survivor.
                blamed = [int(x) for x in re.findall(r"\brank (\d+)\b", detail)]
                if strict_blame or not blamed or victim in blamed or any(b == r or b >= n for b in blamed):
                    fails.append("rank %d: the error does not name the killed rank %d: %s" % (r, victim, detail))
                else:
                    cascades.append("rank %d blamed survivor %s: %s" % (r, blamed[0], detail))
            if t - kill_time > DETECT_BOUND_S:
                fails.append("rank %d: error %.2f s after the kill (bound %.0f s)" % (r, t - kill_time, DETECT_BOUND_S))
            if "weftrun: rank %d exited with status 3" % r not in text:
                fails.append("rank %d did not exit with status 3 (clean error exit)" % r)
            if faultlib.pid_alive(pids[r]):
                fails.append("rank %d (pid %d) is still alive after weftrun exited" % (r, pids[r]))
        if rc is not None and rc == 0:
            fails.append("weftrun exited 0 although rank %d was killed" % victim)
        if "weftrun: rank %d killed by signal 9" % victim not in text:
            fails.append("weftrun did not report 'rank %d killed by signal 9'" % victim)
        if re.search(r"WRONG", text):
            fails.append("a rank reported wrong data")
        if not any(re.search(r"\brank %d\b" % victim, (faultlib.error_line(job.rank_lines(r)) or ("", ""))[1])
                   for r in range(n) if r != victim):
            fails.append("no survivor named the killed rank %d" % victim)
        if fails and not verbose:
            fails.append("output:\n" + text)
        lat["exit"] = exit_s
        return fails, lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weftrun")
    ap.add_argument("rank_exe")
    ap.add_argument("--n", default="4,8")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--strict-blame", action="store_true",
                    help="fail when a survivor blames another survivor instead of the killed rank")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated collectives (default: all of %s)" % ",".join(MODES))
    ap.add_argument("--positions", default=",".join(POSITIONS),
                    help="comma-separated victim positions among first,middle,last (default: all)")
    ap.add_argument("--no-mixed", action="store_true", help="leave out the mixed-loop case")
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    positions = [p for p in a.positions.split(",") if p]
    bad = [m for m in modes if m not in MODES] + [p for p in positions if p not in POSITIONS]
    if bad:
        ap.error("unknown mode or position: %s" % ", ".join(bad))
    total_fail = 0
    all_cascades = 0
    rows = []
    t_start = time.time()
    for n in [int(x) for x in a.n.split(",")]:
        for mode, victim in cases(n, modes, positions, not a.no_mixed):
            t0 = time.time()
            cascades = []
            fails, lat = run_case(a.weftrun, a.rank_exe, n, mode, victim, a.v, a.strict_blame, cascades)
            status = "ok" if not fails else "FAIL"
            print("n=%d %-15s victim=%d: %s (%.1f s)" % (n, mode, victim, status, time.time() - t0), flush=True)
            for f in fails:
                print("    " + f.replace("\n", "\n    "))
            for c in cascades:
                print("    KNOWN LIBRARY ISSUE (cascade blame, tolerated): " + c)
            all_cascades += len(cascades)
            total_fail += bool(fails)
            for r in sorted(k for k in lat if k != "exit"):
                code, d, call_s = lat[r]
                rows.append((n, mode, victim, r, code, d, call_s))
            if "exit" in lat:
                rows.append((n, mode, victim, "all exited", "", lat["exit"], None))
    print("\ndetection latency (survivor's error return minus kill time):")
    print("%-3s %-15s %-6s %-10s %-20s %-9s %s" % ("n", "mode", "victim", "survivor", "code", "latency", "call ran"))
    for n, mode, victim, r, code, d, call_s in rows:
        print("%-3d %-15s %-6d %-10s %-20s %7.3f s %s" % (n, mode, victim, r, code, d,
                                                            "" if call_s is None else "%.2f s" % call_s))
    print("\n%d case(s) failed; %d survivor(s) blamed another survivor; %.1f s in all"
          % (total_fail, all_cascades, time.time() - t_start))
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
