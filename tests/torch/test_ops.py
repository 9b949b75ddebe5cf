"""weft.torch against gloo: every supported operation and dtype on the same tensors, plus an
exact local reference; then the errors that must be refused before the network."""
from conftest import assert_all_ok


def test_ops_match_gloo_2_ranks(run_ranks):
    res = run_ranks(2, "ops", timeout=400)
    assert_all_ok(res, 2, "ops")
    print("\n".join(l for l in res.lines(0) if l.startswith(("ok ", "gloo refused"))))


def test_ops_match_gloo_3_ranks(run_ranks):
    """An odd size: ring and tree schedules with uneven neighbours."""
    res = run_ranks(3, "ops", timeout=500)
    assert_all_ok(res, 3, "ops")


def test_errors_are_refused_before_the_network(run_ranks):
    res = run_ranks(2, "errors")
    assert_all_ok(res, 2, "errors")
    refused = [l for l in res.lines(0) if l.startswith("refused ")]
    assert len(refused) == 8, res.text
    assert all("weft" in l or "process group" in l for l in refused), refused


def test_new_group_and_the_collectives_torch_users_expect(run_ranks):
    """new_group on weft (its own weft communicator), all_to_all_single / all_to_all, uneven
    all_gather and reduce_scatter, gather, scatter on the world and on a group without rank 0,
    against gloo; DDP and FSDP2 on the sub-group."""
    res = run_ranks(3, "groups", timeout=400)
    assert_all_ok(res, 3, "groups")
