"""Shared helpers of the fault-injection drivers (python3 standard library only).

Job runs `weftrun ... PROGRAM ARGS` in its own session (so the whole tree can be killed with one
killpg), reads its merged output on a thread, timestamps every line, and always cleans up."""
import os
import re
import signal
import subprocess
import threading
import time

RANK_LINE = re.compile(r"^\[(\d+)\] (.*)$")


class Job:
    def __init__(self, argv, env=None):
        self.argv = argv
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.lines = []  # (wall time, rank or None, text)
        self.cv = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            text = raw.decode(errors="replace").rstrip("\n")
            m = RANK_LINE.match(text)
            item = (time.time(), int(m.group(1)) if m else None, m.group(2) if m else text)
            with self.cv:
                self.lines.append(item)
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_for(self, pred, timeout):
        """Waits until pred(lines) is true; returns its value, or None after timeout."""
        deadline = time.time() + timeout
        with self.cv:
            while True:
                v = pred(self.lines)
                if v:
                    return v
                left = deadline - time.time()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    return pred(self.lines) or None
                self.cv.wait(min(left, 0.2))

    def wait(self, timeout):
        """Exit status of weftrun, or None if it did not exit within timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(timeout=10)
        return rc

    def rank_lines(self, rank):
        with self.cv:
            return [t for (_, r, t) in self.lines if r == rank]

    def text(self):
        with self.cv:
            return "\n".join(("[%s] %s" % (r, t)) if r is not None else t for (_, r, t) in self.lines)

    def kill_all(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill_all()
        return False


def rank_pids(lines, n):
    """{rank: pid} once every rank printed "rank R pid P"."""
    pids = {}
    for _, r, t in lines:
        m = re.match(r"rank (\d+) pid (\d+)$", t)
        if m and r is not None:
            pids[r] = int(m.group(2))
    return pids if len(pids) == n else None


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def comm_of(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


ERROR_LINE = re.compile(r"^rank (\d+): ERROR (WEFT_\w+): (.*) after ([\d.]+) s \(t=([\d.]+)\)$")


def error_line(lines):
    """(code, detail, call seconds, wall time) of a rank's ERROR line, or None."""
    for t in lines:
        m = ERROR_LINE.match(t)
        if m:
            return m.group(2), m.group(3), float(m.group(4)), float(m.group(5))
    return None
