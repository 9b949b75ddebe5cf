"""Shared fixtures of the weft.torch tests: ranks run under weftrun (or torchrun) with the
`weft` package built by meson in <build>/tests/torch/pkg, each running rank_torch.py CASE.

Where things come from (meson test sets them):
  WEFTRUN, WEFT_COORDINATOR_BIN   the launcher and the coordinator
  WEFT_PYTHONPATH                 prepended to PYTHONPATH (the package meson built)
  WEFT_TORCH_BUILD_DIR            cache of the compiled C++ backend (built once per session)
Every run is bounded: the whole process group is killed at its timeout."""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RANK_SCRIPT = os.path.join(HERE, "rank_torch.py")
RANK_LINE = re.compile(r"^\[(\d+)\] (.*)$")
BUILD_TIMEOUT_S = 900


def rank_env(extra=None):
    env = dict(os.environ)
    pp = os.environ.get("WEFT_PYTHONPATH")
    if pp:
        env["PYTHONPATH"] = pp + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("WEFT_TIMEOUT", "60")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra or {})
    return env


class Result:
    def __init__(self, rc, text, seconds):
        self.rc, self.text, self.seconds = rc, text, seconds

    def lines(self, rank):
        return [m.group(2) for m in map(RANK_LINE.match, self.text.splitlines()) if m and int(m.group(1)) == rank]

    def values(self, rank, key):
        """The k=v fields of the first `KEY k=v ...` line a rank printed, as a dict."""
        for line in self.lines(rank):
            if line.startswith(key + " "):
                return dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        return None


@pytest.fixture(scope="session")
def weftrun():
    path = os.environ.get("WEFTRUN") or os.path.join(REPO, "build", "tools", "weftrun")
    if not os.access(path, os.X_OK):
        path = shutil.which("weftrun")
    if not path:
        pytest.skip("weftrun not found (build the project or set WEFTRUN)")
    return path


@pytest.fixture(scope="session")
def torch_ext():
    """Compiles the C++ backend once (torch.utils.cpp_extension, cached), so ranks only load it."""
    t0 = time.time()
    p = subprocess.run([sys.executable, "-c", "import weft.torch, weft.torch._ext as e; print(e.load().__file__)"],
                       env=rank_env(), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert p.returncode == 0, "building weft.torch failed:\n" + p.stdout + p.stderr
    print("weft.torch extension ready in %.1f s: %s" % (time.time() - t0, p.stdout.strip()))
    return p.stdout.strip()


def run_group(argv, timeout, env=None):
    """Runs argv in its own process group; kills the group at timeout (a test failure)."""
    t0 = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=rank_env(env),
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail("%s did not exit within %d s:\n%s" % (argv[0], timeout, out.decode(errors="replace")))
    return Result(proc.returncode, out.decode(errors="replace"), time.time() - t0)


@pytest.fixture
def run_ranks(weftrun, torch_ext):
    """run_ranks(n, case, *args, env=None, timeout=150) -> Result."""

    def run(n, case, *args, env=None, timeout=150):
        argv = [weftrun, "-n", str(n), "--timeout", str(int(timeout)), sys.executable, RANK_SCRIPT, case]
        return run_group(argv + [str(a) for a in args], timeout + 30, env)

    return run


def assert_all_ok(res, n, case):
    missing = [r for r in range(n) if not any(l.startswith("ok " + case) for l in res.lines(r))]
    assert res.rc == 0 and not missing, "rc %d, ranks without 'ok %s': %s\n%s" % (res.rc, case, missing, res.text)


class Job:
    """A weftrun job whose output is read line by line as it comes (to act on it mid-run)."""

    def __init__(self, argv, env=None):
        self.lines = []
        self.cv = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=rank_env(env),
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cv:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def wait_for(self, pred, timeout, what):
        until = time.time() + timeout
        with self.cv:
            while True:
                got = pred(list(self.lines))
                if got:
                    return got
                if time.time() >= until or (self.proc.poll() is not None and not self.reader.is_alive()):
                    self.kill()
                    pytest.fail("gave up waiting for %s:\n%s" % (what, self.text()))
                self.cv.wait(0.2)

    def wait_exit(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("job did not exit within %d s:\n%s" % (timeout, self.text()))
        self.reader.join(timeout=10)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def text(self):
        with self.cv:
            return "\n".join(self.lines)

    def result(self):
        return Result(self.proc.returncode, self.text(), 0)
