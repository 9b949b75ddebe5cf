"""DDP on weft converges exactly like DDP on gloo: same seed, same data, same model, 2 and 4
ranks; losses and final parameters agree within float tolerance (summation order differs).
FSDP2 on weft trains like a single process on the whole batch."""
import pytest

from conftest import assert_all_ok


@pytest.mark.parametrize("n", [2, 4])
def test_ddp_matches_gloo(run_ranks, n):
    res = run_ranks(n, "ddp", 30, timeout=300)
    assert_all_ok(res, n, "ddp")
    v = res.values(0, "ok")
    assert float(v["last_eval"]) < float(v["first_eval"]), v
    print(" ".join(l for l in res.lines(0) if l.startswith("ok ")))


@pytest.mark.parametrize("n", [2, 3])
def test_fsdp2_matches_single_process(run_ranks, n):
    """fully_shard on weft (all_gather_into_tensor and reduce_scatter_tensor, coalesced) trains
    like one process on the whole batch."""
    res = run_ranks(n, "fsdp", 10, timeout=300)
    assert_all_ok(res, n, "fsdp")
    print(" ".join(l for l in res.lines(0) if l.startswith("ok ")))
