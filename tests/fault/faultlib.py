"""Shared helpers of the fault-injection drivers (python3 standard library only).

The job itself (weftrun in its own session, output read on a thread, bounded waits, cleanup)
is tests/common/weftjob.py; this adds what the fault rank programs print (fault_rank.c,
mismatch_rank.c)."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from weftjob import Job, children, comm_of  # noqa: E402,F401  (the drivers use them from here)
from weftjob import alive as pid_alive  # noqa: E402,F401

OK_LINE = re.compile(r"rank \d+ ok ")


def rank_pids(lines, n):
    """{rank: pid} once every rank printed "rank R pid P"."""
    pids = {}
    for _, r, t in lines:
        m = re.match(r"rank (\d+) pid (\d+)$", t)
        if m and r is not None:
            pids[r] = int(m.group(2))
    return pids if len(pids) == n else None


def flowing(n, at_least=2):
    """A wait_for predicate: true once each of the n ranks printed `at_least` "ok" lines."""
    def pred(lines):
        oks = {}
        for _, r, t in lines:
            if r is not None and OK_LINE.match(t):
                oks[r] = oks.get(r, 0) + 1
        return len(oks) == n and min(oks.values()) >= at_least
    return pred


ERROR_LINE = re.compile(r"^rank (\d+): ERROR (WEFT_\w+): (.*) after ([\d.]+) s \(t=([\d.]+)\)$")


def error_line(lines):
    """(code, detail, call seconds, wall time) of a rank's ERROR line, or None."""
    for t in lines:
        m = ERROR_LINE.match(t)
        if m:
            return m.group(2), m.group(3), float(m.group(4)), float(m.group(5))
    return None
