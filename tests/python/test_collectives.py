"""Every collective, send/recv and the Request API on real ranks, checked against numpy
references (tests/python/rank_script.py does the checking on each rank)."""
import pytest

from conftest import assert_all_ok


@pytest.mark.parametrize("n,algo", [(1, "auto"), (2, "ring"), (3, "auto"), (4, "tree")])
def test_collectives(run_ranks, n, algo):
    """allreduce (in and out of place), reduce_scatter, reduce (in place at root), allgather (in
    place too), broadcast from every root: 6 dtypes x 5 ops x counts 0..100003."""
    res = run_ranks(n, "collectives", env={"WEFT_ALGO": algo}, timeout=300)
    assert_all_ok(res, n, "collectives")


@pytest.mark.parametrize("n,algo", [(1, "auto"), (2, "ring"), (3, "auto"), (4, "tree")])
def test_uneven_collectives(run_ranks, n, algo):
    """alltoall (in place too), alltoallv (packed, reversed with gaps, counts as numpy arrays, in
    place), allgatherv (in place too), reduce_scatterv (every op, in place too), gather and
    scatter from every root (in place at the root; the root-only buffer ignored elsewhere):
    4 dtypes, blocks of 0..4000 elements with zero counts for some pairs."""
    res = run_ranks(n, "vcollectives", env={"WEFT_ALGO": algo}, timeout=300)
    assert_all_ok(res, n, "vcollectives")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_uneven_nonblocking(run_ranks, n):
    """ialltoall, ialltoallv, iallgatherv, ireduce_scatterv, igather, iscatter all in flight at
    once, waited in reverse order; a dropped in-place ialltoall completes in its destructor."""
    res = run_ranks(n, "vnonblocking")
    assert_all_ok(res, n, "vnonblocking")


@pytest.mark.parametrize("n", [2, 3])
def test_p2p_and_buffer_types(run_ranks, n):
    """send/recv around a ring; bytearray, array.array, memoryview, read-only bytes; dtype=
    (bfloat16 over uint16, numpy dtypes); 2-D arrays."""
    res = run_ranks(n, "p2p_and_buffers")
    assert_all_ok(res, n, "p2p_and_buffers")


def test_nonblocking(run_ranks):
    """Several requests in flight, test() polling, wait() twice, a dropped request, irecv/isend."""
    res = run_ranks(3, "nonblocking")
    assert_all_ok(res, 3, "nonblocking")


def test_close_with_pending_requests(run_ranks):
    res = run_ranks(3, "close_pending")
    assert_all_ok(res, 3, "close_pending")


def test_exit_with_pending_requests(run_ranks):
    """A request never waited and a communicator never closed: the interpreter exits cleanly
    (the atexit hook completes the request, then destroys the communicator)."""
    res = run_ranks(3, "exit_pending", timeout=60)
    assert_all_ok(res, 3, "exit_pending")
    assert "Traceback" not in res.text and "Segmentation" not in res.text, res.text
    assert res.seconds < 30, res.text


def test_comm_api(run_ranks):
    """Properties, repr, context manager, closed communicator, module helpers."""
    res = run_ranks(2, "api")
    assert_all_ok(res, 2, "api")


@pytest.mark.parametrize("n", [1, 3, 4])
def test_groups(run_ranks, n):
    """Comm.split (color None: no communicator) and Comm.create_group: children with their own
    ranks and ids, the parent alongside, bad rank lists refused, a child outliving its parent."""
    res = run_ranks(n, "groups")
    assert_all_ok(res, n, "groups")
