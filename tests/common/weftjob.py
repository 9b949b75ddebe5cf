"""A weft job under a Python test driver (python3 standard library only), shared by the fault,
hostile and membership drivers.

Job runs argv (weftrun, or anything that starts ranks) in its own session, so one killpg ends
the whole tree; reads its merged stdout and stderr on a thread and keeps every line with its
arrival time; every wait is bounded; kill_all() (also on leaving a `with` block) cleans up
whatever happened. The /proc helpers find and watch the job's processes."""
import os
import re
import signal
import subprocess
import threading
import time

RANK_LINE = re.compile(r"^\[(\d+)\] (.*)$")  # weftrun's prefix on each rank's output


class Job:
    def __init__(self, argv, env=None):
        self.argv = list(argv)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.lines = []  # entry() of each line, in arrival order
        self.cv = threading.Condition()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def entry(self, now, line):
        """What is kept of one line: (arrival time, rank or None, text without the prefix).
        A subclass may keep another shape; the methods that read ranks expect this one."""
        m = RANK_LINE.match(line)
        return (now, int(m.group(1)) if m else None, m.group(2) if m else line)

    def _read(self):
        for raw in self.proc.stdout:
            item = self.entry(time.time(), raw.decode(errors="replace").rstrip("\n"))
            with self.cv:
                self.lines.append(item)
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_for(self, pred, timeout):
        """Waits until pred(lines) is truthy and returns it; None after timeout, or as soon as the
        job has exited and all its output is read (nothing more can arrive)."""
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
        """The job's exit status, or None if it did not exit within timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(timeout=10)
        return rc

    def snapshot(self):
        with self.cv:
            return list(self.lines)

    def rank_lines(self, rank):
        return [t for (_, r, t) in self.snapshot() if r == rank]

    def text(self):
        return "\n".join(("[%s] %s" % (r, t)) if r is not None else t for (_, r, t) in self.snapshot())

    def kill_all(self):
        kill_session(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill_all()
        return False


def kill_session(proc):
    """SIGKILL to the whole session of proc, started with start_new_session=True (the job and
    every process it started), then reap proc (bounded)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


# --- /proc ------------------------------------------------------------------------------------

def children(pid):
    """Pids whose parent is pid (any of its threads)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def comm_of(pid):
    """The process's name (/proc/PID/comm), "" once it is gone."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def alive(pid):
    """True while pid exists and is neither a zombie nor dead."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rfind(")") + 2] not in "ZX"
    except OSError:
        return False
