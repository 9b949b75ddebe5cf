"""A killed peer under a weft process group: every survivor's pending Work fails with
torch.distributed.DistBackendError naming the lost rank within DETECT_BOUND_S, the next call
fails at once, and recover() + a new group go on with the survivors."""
import re
import subprocess
import sys
import textwrap

from conftest import assert_all_ok, rank_env

DETECT_BOUND_S = 10.0


def test_killed_peer_raises_dist_backend_error_and_recovers(run_ranks):
    res = run_ranks(3, "kill", "1", timeout=120)
    assert res.rc != 0, res.text  # weftrun reports the rank that died
    kill = res.values(1, "KILL")
    assert kill, res.text
    for r in (0, 2):
        assert "ok kill" in res.lines(r), res.text
        err = res.values(r, "ERROR")
        assert err["cls"] == "DistBackendError", res.text
        assert err["name"] in ("WEFT_ERR_PEER_LOST", "WEFT_ERR_REVOKED"), res.text
        detail = [l for l in res.lines(r) if l.startswith("DETAIL ")][0]
        assert detail.startswith("DETAIL weft: allreduce failed: WEFT_ERR_"), detail
        assert re.search(r"\brank 1\b", detail) or "revoked" in detail, detail
        latency = float(err["t"]) - float(kill["t"])
        assert latency < DETECT_BOUND_S, "rank %d noticed after %.2f s:\n%s" % (r, latency, res.text)
        print("rank %d: DistBackendError %.3f s after the kill: %s" % (r, latency, detail))
        assert res.values(r, "RECOVER") == {"old_epoch": "1", "new_epoch": "2", "left": "[1]"}, res.text


def test_evicted_is_not_a_membership_error(torch_ext):
    """WEFT_ERR_EVICTED (this process was removed from the job) is terminal: weft.torch's helpers
    must not send it to recover, whether it comes as weft.EvictedError or inside torch's
    DistBackendError text."""
    code = textwrap.dedent("""
        import torch.distributed as dist
        import weft, weft.torch as wt
        from weft import _types
        e = _types.make_error(16, "WEFT_ERR_EVICTED", "the coordinator's verdict: HUNG")
        assert isinstance(e, weft.EvictedError)
        d = dist.DistBackendError("weft: allreduce failed: WEFT_ERR_EVICTED: allreduce: this process was evicted")
        for x in (e, d):
            assert wt.error_name(x) == "WEFT_ERR_EVICTED", x
            assert wt.is_evicted(x) and not wt.is_membership_error(x), x
        for name in ("WEFT_ERR_PEER_LOST", "WEFT_ERR_REVOKED", "WEFT_ERR_TIMEOUT"):
            x = dist.DistBackendError("weft: allreduce failed: %s: detail" % name)
            assert wt.is_membership_error(x) and not wt.is_evicted(x), x
        print("ok")
    """)
    p = subprocess.run([sys.executable, "-c", code], env=rank_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "ok" in p.stdout, p.stdout + p.stderr
