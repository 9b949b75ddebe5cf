"""init_process_group("weft", init_method=..., rank=r, world_size=n) without weftrun: the ranks
meet through the c10d store torch gives the backend (file://, tcp://, env://, a store handed
in), rank 0 starts the coordinator and publishes its address and a fresh token there. Each run
spawns the ranks as plain processes; a missing rank 0 must fail rank 1 within its timeout."""
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import RANK_SCRIPT, rank_env

TIMEOUT_S = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(n, init_method, ranks=None, timeout_s=30, rounds=1, env=None):
    """Starts ranks (default 0..n-1) of an n-rank job; returns [(rank, rc, output)]."""
    e = rank_env(env)
    for k in ("WEFT_RANK", "WEFT_COORDINATOR", "WEFT_JOB_TOKEN", "RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        e.pop(k, None)
    procs = [(r, subprocess.Popen([sys.executable, RANK_SCRIPT, "init", init_method, str(r), str(n), str(timeout_s),
                                   str(rounds)], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True))
             for r in (range(n) if ranks is None else ranks)]
    out = []
    until = time.time() + TIMEOUT_S
    for r, p in procs:
        try:
            text, _ = p.communicate(timeout=max(1, until - time.time()))
        except subprocess.TimeoutExpired:
            for _, q in procs:
                q.kill()
            pytest.fail("rank %d did not exit within %d s" % (r, TIMEOUT_S))
        out.append((r, p.returncode, text.decode(errors="replace")))
    return out


def assert_ok(res, rounds=1):
    for r, rc, text in res:
        got = [l for l in text.splitlines() if l.startswith("[%d] INIT " % r)]
        assert rc == 0 and len(got) == rounds and "[%d] ok init" % r in text, "rank %d rc %d:\n%s" % (r, rc, text)


@pytest.mark.parametrize("n", [2, 3])
def test_file_init(torch_ext, tmp_path, n):
    assert_ok(spawn(n, "file://%s/store" % tmp_path))


def test_tcp_init(torch_ext):
    assert_ok(spawn(3, "tcp://127.0.0.1:%d" % free_port()))


def test_env_init(torch_ext):
    assert_ok(spawn(2, "env://", env={"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}))


def test_localhost_init(torch_ext):
    """localhost maps to ::1 and 127.0.0.1 here: whichever the others resolve must reach rank 0."""
    assert_ok(spawn(2, "tcp://localhost:%d" % free_port()))


def test_init_again(torch_ext, tmp_path):
    """destroy_process_group then init again, twice, in the same processes: new file stores."""
    assert_ok(spawn(2, "file://%s/store{round}" % tmp_path, rounds=3), rounds=3)


def test_store_reused(torch_ext):
    """Three jobs over one TCPStore: each must find its own coordinator, not the last one's."""
    assert_ok(spawn(3, "store:127.0.0.1:%d" % free_port(), rounds=3), rounds=3)


def test_rank0_missing(torch_ext, tmp_path):
    t0 = time.time()
    [(_, rc, text)] = spawn(2, "file://%s/store" % tmp_path, ranks=[1], timeout_s=3)
    took = time.time() - t0
    assert rc != 0 and "waited 3 s for rank 0" in text and "DistStoreError" in text, text
    assert took < 30, "rank 1 took %.1f s to give up:\n%s" % (took, text)
