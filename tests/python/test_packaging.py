"""The package itself, without a job: import, exceptions, init errors; the pip build's source
list against the library's; and (opt-in, WEFT_TEST_PIP=1: needs PyPI for meson-python) a real
`pip install ./bindings/python` into a fresh virtual environment, then a 2-rank job with it."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO


def python_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEFT_") or k == "WEFT_PYTHONPATH"}
    if os.environ.get("WEFT_PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["WEFT_PYTHONPATH"] + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_python(code, **extra):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=python_env(**extra),
                          capture_output=True, text=True, timeout=60)


def test_every_result_code_has_its_exception():
    """Each weft_result_t maps to its class; EVICTED (16) is terminal, so weft.torch must never
    treat it as a reason to recover."""
    p = run_python("""
        import weft
        from weft import _types
        for code in range(1, 18):
            name = weft.result_name(code)
            assert name.startswith("WEFT_ERR_"), (code, name)
            e = _types.make_error(code, name, "detail")
            assert isinstance(e, weft.WeftError) and e.code == code and e.name == name, (code, e)
            if code != 12:  # IN_PROGRESS is never raised
                assert type(e) is not weft.WeftError, (code, name, "has no class of its own")
        assert weft.result_name(16) == "WEFT_ERR_EVICTED"
        assert "removed from the job: exit" in weft.strerror(16)
        e = _types.make_error(16, "WEFT_ERR_EVICTED", "the coordinator's verdict: HUNG")
        assert type(e) is weft.EvictedError and not isinstance(e, (weft.RevokedError, weft.PeerLostError)), e
        assert "EvictedError" in weft.__all__
        assert weft.result_name(17) == "WEFT_ERR_UNAVAILABLE"
        e = _types.make_error(17, "WEFT_ERR_UNAVAILABLE", "membership service unavailable")
        assert type(e) is weft.UnavailableError and "UnavailableError" in weft.__all__, e
        print("ok")
    """)
    assert p.returncode == 0 and "ok" in p.stdout, p.stdout + p.stderr


def test_import_and_errors_without_a_job():
    p = run_python("""
        import builtins, weft
        assert issubclass(weft.PeerLostError, weft.WeftError)
        assert issubclass(weft.TimeoutError, builtins.TimeoutError)
        assert issubclass(weft.InvalidArgumentError, ValueError)
        assert weft.TimeoutError("x", code=5).code == 5
        try:
            weft.Comm()
        except weft.InvalidArgumentError as e:
            assert e.code == 1 and "WEFT_WORLD_SIZE" in e.detail, e.detail
            print("init error:", e)
        else:
            raise AssertionError("Comm() without a job must fail")
        try:
            weft.Comm(rank=0, size=2, coordinator="not-an-address", job_token="t")
        except weft.InvalidArgumentError as e:
            assert "not-an-address" in e.detail, e.detail
        print("ok", weft.version())
    """)
    assert p.returncode == 0 and "ok weft" in p.stdout, p.stdout + p.stderr


def _c_sources(meson_file, prefix):
    with open(os.path.join(REPO, meson_file)) as f:
        return {prefix + s for s in re.findall(r"'([^'$]+\.c)'", f.read())}


def test_pip_build_lists_every_library_source():
    """bindings/python/meson.build compiles the library from its sources; it must list exactly
    what lib/meson.build and transports/meson.build do (update it when they change)."""
    want = _c_sources("lib/meson.build", "lib/") | _c_sources("transports/meson.build", "transports/")
    with open(os.path.join(REPO, "bindings/python/meson.build")) as f:
        got = set(re.findall(r"repo / '([^']+\.c)'", f.read()))
    assert got == want, "missing %s, extra %s" % (sorted(want - got), sorted(got - want))


def test_pip_build_lists_every_coordinator_source():
    """The same for the weft-coordinator and weftrun the package carries (tools/meson.build builds
    them for C)."""
    with open(os.path.join(REPO, "tools/meson.build")) as f:
        tools = f.read()
    listed = re.search(r"coordinator_sources = files\((.*?)\)", tools, re.S).group(1)
    want = {"tools/" + s for s in re.findall(r"'([^']+\.c)'", listed)} | {"tools/weft-coordinator.c"}
    launcher = re.search(r"executable\('weftrun', files\((.*?)\)", tools, re.S).group(1)
    want |= {"tools/" + s for s in re.findall(r"'([^']+\.c)'", launcher)}
    with open(os.path.join(REPO, "bindings/python/meson.build")) as f:
        got = {"tools/" + s for s in re.findall(r"tools_dir / '([^']+\.c)'", f.read())}
    assert got == want, "missing %s, extra %s" % (sorted(want - got), sorted(got - want))


@pytest.mark.skipif(os.environ.get("WEFT_TEST_PIP") != "1", reason="set WEFT_TEST_PIP=1 (needs PyPI)")
def test_pip_install(tmp_path, run_ranks, monkeypatch):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    p = subprocess.run([py, "-m", "pip", "install", "-q", os.path.join(REPO, "bindings", "python")],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    monkeypatch.delenv("WEFT_PYTHONPATH", raising=False)
    monkeypatch.setattr(sys, "executable", py)  # run_ranks launches the ranks with it
    res = run_ranks(2, "api")
    assert res.rc == 0 and "ok api" in res.lines(1), res.text
    where = subprocess.run([py, "-c", "import weft; print(weft.__file__)"], capture_output=True, text=True,
                           cwd=str(tmp_path))
    assert str(venv) in where.stdout, where.stdout + where.stderr
    # The package carries its own weft-coordinator (weft/bin/), the one torchrun jobs need.
    coord = os.path.join(os.path.dirname(where.stdout.strip()), "bin", "weft-coordinator")
    assert os.access(coord, os.X_OK), "no executable %s in the installed package" % coord
    h = subprocess.run([coord, "--help"], capture_output=True, text=True, timeout=30)
    assert "--world-size" in h.stdout + h.stderr, h.stdout + h.stderr
    # ... and its own launcher, as the `weftrun` command (nothing of the build tree involved).
    env = python_env()
    env.pop("PYTHONPATH", None)
    job = subprocess.run([str(venv / "bin" / "weftrun"), "-n", "2", "--timeout", "120", py, "-c",
                          "import weft, numpy as np\n"
                          "with weft.Comm() as c:\n"
                          "    a = np.full(4, c.rank + 1, np.float32); c.allreduce(a)\n"
                          "    print('PIPWEFTRUN', c.rank, a.tolist(), flush=True)"],
                         capture_output=True, text=True, timeout=180, env=env, cwd=str(tmp_path))
    assert job.returncode == 0, job.stdout + job.stderr
    for r in (0, 1):
        assert "[%d] PIPWEFTRUN %d [3.0, 3.0, 3.0, 3.0]" % (r, r) in job.stdout, job.stdout + job.stderr
    _torchrun_with_the_installed_package(py, tmp_path)


TORCHRUN_SCRIPT = """
import torch, torch.distributed as dist, weft.torch
dist.init_process_group("weft")
t = torch.ones(4) * (dist.get_rank() + 1)
dist.all_reduce(t)
assert t.tolist() == [3.0] * 4, t
print("PIPTORCHRUN rank=%d ok" % dist.get_rank(), flush=True)
dist.destroy_process_group()
"""


def _torchrun_with_the_installed_package(py, tmp_path):
    """Plain torchrun, nothing of the build tree on PATH: rank 0 must find the bundled coordinator."""
    if subprocess.run([py, "-c", "import torch"], capture_output=True).returncode != 0:
        print("torch is not installed: the torchrun check is left out")
        return  # torch is optional for the weft package; tests/torch covers the rest
    script = tmp_path / "piptorchrun.py"
    script.write_text(TORCHRUN_SCRIPT)
    env = python_env()
    env.pop("PYTHONPATH", None)
    env["PATH"] = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep)
                                  if not os.path.exists(os.path.join(d, "weft-coordinator")))
    env["OMP_NUM_THREADS"] = "1"
    p = subprocess.run([py, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)],
                       capture_output=True, text=True, timeout=600, env=env, cwd=str(tmp_path))
    text = p.stdout + p.stderr
    ok = sorted(int(r) for r in re.findall(r"PIPTORCHRUN rank=(\d+) ok", text))
    assert p.returncode == 0 and ok == [0, 1], "rc %d:\n%s" % (p.returncode, text[-4000:])
    print("torchrun with the installed package: ranks %s ok" % ok)
