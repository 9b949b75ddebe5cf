"""Shared driver for the membership tests: runs `weftrun ... elastic_sgd` as a real job (through
tests/common/weftjob.py: its own session, output read on a thread with arrival times, bounded
waits), finds each rank's pid from elastic_sgd's start line, and parses the lines elastic_sgd
prints (see examples/elastic_sgd.c), including the epoch changes the survivors of a failure saw.

Every wait is bounded; stop() kills the whole job (weftrun's process group) whatever happened."""
import atexit
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import weftjob  # noqa: E402

START_RE = re.compile(r"^\[(\d+)\] elastic_sgd: (started in|joined late into) epoch (\d+) as rank (\d+) "
                      r"of (\d+) \(pid (\d+), t=([\d.]+)\)")
EPOCH_RE = re.compile(r"^\[(\d+)\] elastic_sgd: epoch (\d+): size (\d+), left \[([\d, ]*)\], joined "
                      r"\[([\d, ]*)\] \(recover ([\d.]+) s, since error ([\d.]+) s, step (\d+), t=([\d.]+)\)")
FAIL_RE = re.compile(r"^\[(\d+)\] elastic_sgd: step (\d+): (.*) \(t=([\d.]+)\)$")
DONE_RE = re.compile(r"^\[(\d+)\] elastic_sgd: done, steps (\d+), epochs (\d+), final size (\d+), "
                     r"checksum ([0-9a-f]+)")


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


class Job(weftjob.Job):
    """weftrun -n N [ARGS] -- elastic_sgd STEPS SLEEP_MS. Lines are kept whole, prefix included:
    entries are (arrival time, line), and wait_for's predicate gets the lines alone."""

    def __init__(self, weftrun, program, n, steps, sleep_ms, weftrun_args=(), env=None, timeout=150):
        self.cmd = [weftrun, "-n", str(n), "--timeout", str(timeout)] + list(weftrun_args) + \
                   ["--", program, str(steps), str(sleep_ms)]
        super().__init__(self.cmd, env)
        atexit.register(self.stop)  # whatever happens, nothing of the job outlives the test

    def entry(self, now, line):
        return (now, line)

    def wait_for(self, pred, timeout, what):
        """Waits until pred(lines) returns something truthy; fails the test after timeout (or
        once the job exited without it)."""
        got = super().wait_for(lambda entries: pred([l for _, l in entries]), timeout)
        if got:
            return got
        rc = self.proc.poll()
        self.stop()
        self.dump()
        if rc is not None:
            fail("weftrun exited with status %d while waiting for %s" % (rc, what))
        fail("timed out after %.0f s waiting for %s" % (timeout, what))

    def pids(self, n, timeout=60):
        """{launcher rank: pid} of the first incarnations, once all n started."""
        def started(lines):
            got = {}
            for l in lines:
                m = START_RE.match(l)
                if m and m.group(2) == "started in":
                    got[int(m.group(1))] = int(m.group(6))
            return got if len(got) == n else None
        return self.wait_for(started, timeout, "all %d ranks to start" % n)

    def wait_exit(self, timeout):
        rc = self.wait(timeout)
        if rc is None:
            self.stop()
            self.dump()
            fail("weftrun did not exit within %.0f s" % timeout)
        return rc

    def stop(self):
        self.kill_all()

    def text(self):
        """The lines, prefix included (a list, unlike weftjob.Job.text)."""
        return [l for _, l in self.snapshot()]

    def dump(self):
        print("---- job output (%s) ----" % " ".join(self.cmd))
        for l in self.text():
            print(l)
        print("---- end of job output ----", flush=True)

    def parse(self, regex):
        return [m for m in (regex.match(l) for l in self.text()) if m]

    def done(self):
        """{launcher rank: (steps, epoch, size, checksum)} from the done lines."""
        return {int(m.group(1)): (int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5))
                for m in self.parse(DONE_RE)}

    def first_after(self, regex, t0, ranks=None):
        """Per launcher rank: the first line matching regex printed (its own t=) after t0."""
        first = {}
        for m in self.parse(regex):
            r, t = int(m.group(1)), float(m.groups()[-1])
            if t >= t0 and (ranks is None or r in ranks) and r not in first:
                first[r] = m
        return first


def assert_done(job, ranks, steps, size):
    """Every launcher rank in `ranks` finished all steps in a membership of `size`, and all hold
    the same model (the checksum each printed; elastic_sgd also checked it by allgather)."""
    done = job.done()
    missing = [r for r in ranks if r not in done]
    if missing:
        job.dump()
        fail("ranks %s did not print 'done'" % missing)
    bad = {r: done[r] for r in ranks if done[r][0] != steps or done[r][2] != size}
    if bad:
        job.dump()
        fail("expected %d steps and final size %d, got %s" % (steps, size, bad))
    sums = {done[r][3] for r in ranks}
    if len(sums) != 1:
        job.dump()
        fail("the ranks disagree on the model: %s" % {r: done[r][3] for r in ranks})
    return done


def first_event(job, t0, ranks):
    """Per launcher rank: the time (its own clock, t=) of the first failed call or epoch change it
    printed after t0 — when it noticed the fault."""
    seen = {}
    for regex in (FAIL_RE, EPOCH_RE):
        for r, m in job.first_after(regex, t0, ranks).items():
            t = float(m.groups()[-1])
            seen[r] = min(seen.get(r, t), t)
    return seen


def epochs(job):
    """[(launcher rank, epoch, size, left list, joined list, recover s, since error s, t)]"""
    def ints(s):
        return [int(x) for x in s.split(",") if x.strip()]
    return [(int(m.group(1)), int(m.group(2)), int(m.group(3)), ints(m.group(4)), ints(m.group(5)),
             float(m.group(6)), float(m.group(7)), float(m.group(9))) for m in job.parse(EPOCH_RE)]


def recovery_times(job, t0, ranks):
    """Per launcher rank: seconds from its failed collective to its new epoch, or the string
    'in recover' for a rank that was already inside its step-boundary recover when the fault
    happened (it sees no error; its recover simply ends in the new epoch)."""
    failed = job.first_after(FAIL_RE, t0, ranks)
    out = {}
    for e in epochs(job):
        if e[0] in ranks and e[7] >= t0 and e[0] not in out:
            out[e[0]] = round(e[6], 3) if e[0] in failed else "in recover"
    return out


def epoch_changes(job, ranks, t0):
    """{launcher rank: [(epoch, size, left, joined, t)]} in print order, for changes after t0."""
    out = {r: [] for r in ranks}
    for r, ep, size, left, joined, _rec, _since, t in epochs(job):
        if r in out and t >= t0:
            out[r].append((ep, size, left, joined, t))
    return out


def replay(members, changes):
    """Applies epoch changes (left lists are ranks of the previous epoch) to a list of launcher
    ranks ordered by rank; returns the final list, or None if a change does not fit."""
    members = list(members)
    for _ep, size, left, joined, _t in changes:
        if joined or any(x < 0 or x >= len(members) for x in left):
            return None
        members = [m for i, m in enumerate(members) if i not in left]
        if len(members) != size:
            return None
    return members


def check_membership(job, all_ranks, survivors, t0, label):
    """Every survivor saw the same epoch changes after t0 and they remove exactly the others of
    all_ranks. Returns ({survivor: its changes}, the common list of changes)."""
    changes = epoch_changes(job, survivors, t0)
    seqs = {r: [(ep, size, tuple(left), tuple(joined)) for ep, size, left, joined, _ in changes[r]]
            for r in survivors}
    if len(set(map(tuple, seqs.values()))) != 1:
        job.dump()
        fail("%s: the survivors saw different epoch changes: %s" % (label, seqs))
    common = changes[survivors[0]]
    if not common:
        job.dump()
        fail("%s: no epoch change after the fault" % label)
    final = replay(all_ranks, common)
    if final != sorted(survivors):
        job.dump()
        fail("%s: epoch changes %s leave launcher ranks %s, expected %s" %
             (label, seqs[survivors[0]], final, sorted(survivors)))
    return changes, common
