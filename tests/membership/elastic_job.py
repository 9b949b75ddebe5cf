"""Shared driver for the membership tests: runs `weftrun ... elastic_sgd` as a real job, collects
its prefixed output line by line (with arrival times), finds each rank's pid from elastic_sgd's
start line, and parses the lines elastic_sgd prints (see examples/elastic_sgd.c).

Every wait is bounded; stop() kills the whole job (weftrun's process group) whatever happened."""
import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import time

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


class Job:
    def __init__(self, weftrun, program, n, steps, sleep_ms, weftrun_args=(), env=None, timeout=150):
        e = dict(os.environ)
        e.update(env or {})
        self.cmd = [weftrun, "-n", str(n), "--timeout", str(timeout)] + list(weftrun_args) + \
                   ["--", program, str(steps), str(sleep_ms)]
        self.lines = []  # (arrival time, line)
        self.cv = threading.Condition()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=e, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        atexit.register(self.stop)  # whatever happens, nothing of the job outlives the test

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cv:
                self.lines.append((time.time(), line))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_for(self, pred, timeout, what):
        """Waits until pred(lines) returns something truthy; fails the test after timeout."""
        until = time.time() + timeout
        with self.cv:
            while True:
                got = pred([l for _, l in self.lines])
                if got:
                    return got
                left = until - time.time()
                if left <= 0:
                    self.stop()
                    self.dump()
                    fail("timed out after %.0f s waiting for %s" % (timeout, what))
                self.cv.wait(min(left, 0.5))

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
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            self.dump()
            fail("weftrun did not exit within %.0f s" % timeout)
        self.reader.join(timeout=10)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def text(self):
        with self.cv:
            return [l for _, l in self.lines]

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
