"""Shared fixtures of the Python binding tests: every test launches real ranks under weftrun,
each running tests/python/rank_script.py CASE with the `weft` package importable.

Where things come from:
  WEFTRUN            the launcher (meson test sets it; else build/tools/weftrun, else PATH)
  WEFT_PYTHONPATH    prepended to PYTHONPATH of the ranks (meson test points it at the package
                     it built; unset, the ranks import whatever `weft` is installed)"""
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RANK_SCRIPT = os.path.join(HERE, "rank_script.py")
RANK_LINE = re.compile(r"^\[(\d+)\] (.*)$")


def find_weftrun():
    cand = os.environ.get("WEFTRUN") or os.path.join(REPO, "build", "tools", "weftrun")
    if os.access(cand, os.X_OK):
        return cand
    return shutil.which("weftrun")


class Result:
    def __init__(self, rc, text, seconds):
        self.rc, self.text, self.seconds = rc, text, seconds

    def lines(self, rank):
        out = []
        for line in self.text.splitlines():
            m = RANK_LINE.match(line)
            if m and int(m.group(1)) == rank:
                out.append(m.group(2))
        return out

    def values(self, rank, key):
        """The `key=value` fields a rank printed as `KEY k=v ...` lines, as a dict."""
        for line in self.lines(rank):
            if line.startswith(key + " "):
                return dict(f.split("=", 1) for f in line.split()[1:])
        return None


@pytest.fixture(scope="session")
def weftrun():
    path = find_weftrun()
    if not path:
        pytest.skip("weftrun not found (build the project or set WEFTRUN)")
    return path


@pytest.fixture
def run_ranks(weftrun):
    """run_ranks(n, case, *args, env=None, timeout=120) -> Result (never hangs: killed at timeout)."""

    def run(n, case, *args, env=None, timeout=120):
        full = dict(os.environ)
        extra = os.environ.get("WEFT_PYTHONPATH")
        if extra:
            full["PYTHONPATH"] = extra + os.pathsep + full.get("PYTHONPATH", "")
        full.setdefault("WEFT_TIMEOUT", "60")
        full.update(env or {})
        argv = [weftrun, "-n", str(n), "--timeout", str(int(timeout)), sys.executable, RANK_SCRIPT, case]
        argv += [str(a) for a in args]
        t0 = time.time()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, _ = proc.communicate()
            pytest.fail("weftrun did not exit within %d s:\n%s" % (timeout + 30, out.decode(errors="replace")))
        return Result(proc.returncode, out.decode(errors="replace"), time.time() - t0)

    return run


def assert_all_ok(res, n, case):
    missing = [r for r in range(n) if ("ok " + case) not in res.lines(r)]
    assert res.rc == 0 and not missing, "weftrun rc %d, ranks without 'ok %s': %s\n%s" % (
        res.rc, case, missing, res.text)
