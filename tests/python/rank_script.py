"""One rank of a Python binding test: `weftrun -n N python3 rank_script.py CASE [ARGS]`.

Every rank checks its own results against a numpy reference computed from all ranks' inputs
(each rank can regenerate any rank's input from its seed), prints `ok CASE` and exits 0; an
assertion failure exits non-zero with the traceback. Cases that expect a failure print what
they saw as `KEY k=v ...` lines for the driver to check."""
import array
import os
import signal
import sys
import threading
import time

import numpy as np

import weft

DTYPES = ["float32", "float64", "int32", "int64", "float16", "uint8"]
OPS = ["sum", "prod", "min", "max", "avg"]
COUNTS = [0, 1, 13, 1000, 100003]  # the last one spans several 512 KiB frames for 8-byte types


def rank_input(rank, count, dtype, salt=0):
    """Small positive integers: every op is exact in every dtype (products stay below 4**8)."""
    rng = np.random.default_rng(1000 * rank + 7 * count + salt)
    return rng.integers(1, 5, size=count).astype(dtype)


def reference(inputs, op, dtype):
    n = len(inputs)
    wide = np.stack([x.astype(np.float64) for x in inputs])
    if op == "sum":
        r = wide.sum(0)
    elif op == "prod":
        r = wide.prod(0)
    elif op == "min":
        r = wide.min(0)
    elif op == "max":
        r = wide.max(0)
    else:
        s = wide.sum(0)
        r = s / n if np.dtype(dtype).kind == "f" else np.floor(s / n)  # C division truncates
    return r.astype(dtype)


def check(got, want, what):
    tol = 1e-2 if got.dtype == np.float16 else 1e-6
    if got.dtype.kind == "f":
        ok = np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=0)
    else:
        ok = np.array_equal(got, want)
    assert ok, "%s: got %s want %s" % (what, got[:8], want[:8])


def case_collectives(comm):
    n, me = comm.size, comm.rank
    for dtype in DTYPES:
        for count in COUNTS:
            ins = [rank_input(r, count, dtype) for r in range(n)]
            mine = ins[me]
            for op in OPS:
                what = "%s count %d %s" % (dtype, count, op)
                want = reference(ins, op, dtype)
                out = np.empty_like(mine)
                res = comm.allreduce(mine, out, op=op)
                assert res is out
                check(out, want, "allreduce " + what)
                check(mine, ins[me], "allreduce input untouched " + what)
                inplace = mine.copy()
                assert comm.allreduce(inplace, op=op) is inplace
                check(inplace, want, "allreduce in place " + what)

                # reduce_scatter: each rank gets its block of the reduction of n blocks.
                big = [rank_input(r, count * n, dtype, salt=1) for r in range(n)]
                block = np.empty(count, dtype)
                comm.reduce_scatter(big[me], block, op)
                check(block, reference(big, op, dtype)[me * count:(me + 1) * count], "reduce_scatter " + what)

                root = (count + len(op)) % n
                out = np.zeros_like(mine)
                res = comm.reduce(mine, out, op, root)
                if me == root:
                    check(out, want, "reduce " + what)
                    inplace = mine.copy()
                    comm.reduce(inplace, None, op, root)
                    check(inplace, want, "reduce in place " + what)
                else:
                    comm.reduce(mine.copy(), None, op, root)

            gathered = np.empty(count * n, dtype)
            comm.allgather(mine, gathered)
            check(gathered, np.concatenate(ins), "allgather %s %d" % (dtype, count))
            inplace = np.zeros(count * n, dtype)
            inplace[me * count:(me + 1) * count] = mine
            comm.allgather(inplace[me * count:(me + 1) * count], inplace)  # in place (NCCL's aliasing)
            check(inplace, np.concatenate(ins), "allgather in place %s %d" % (dtype, count))

            for root in range(n):
                buf = ins[root].copy() if me == root else np.zeros(count, dtype)
                assert comm.broadcast(buf, root) is buf
                check(buf, ins[root], "broadcast root %d %s %d" % (root, dtype, count))
    comm.barrier()


def case_p2p_and_buffers(comm):
    n, me = comm.size, comm.rank
    nxt, prv = (me + 1) % n, (me - 1) % n
    # send/recv around the ring (isend first so the blocking recv cannot deadlock).
    for dtype in DTYPES:
        out = rank_input(me, 777, dtype)
        req = comm.isend(out, nxt)
        got = np.empty(777, dtype)
        assert comm.recv(got, prv) is got
        assert req.wait() is None
        check(got, rank_input(prv, 777, dtype), "recv %s" % dtype)
        comm.send(out, nxt) if me % 2 == 0 else comm.recv(got, prv)
        comm.recv(got, prv) if me % 2 == 0 else comm.send(out, nxt)
        check(got, rank_input(prv, 777, dtype), "send/recv %s" % dtype)

    # Other buffer-protocol objects: bytearray (uint8), array.array('d'), memoryview.
    ba = bytearray([me + 1] * 10)
    comm.allreduce(ba, op="max")
    assert ba == bytearray([n] * 10), ba
    arr = array.array("d", [float(me)] * 5)
    comm.allreduce(arr)
    assert list(arr) == [float(sum(range(n)))] * 5, arr
    mv = memoryview(bytearray(np.full(4, me, np.int32).tobytes())).cast("i")
    comm.allreduce(mv, op="min")
    assert mv.tolist() == [0] * 4
    # A read-only send is fine; bytes reinterpreted through dtype=.
    src = np.full(6, 2.5, np.float32).tobytes()
    dst = bytearray(len(src))
    comm.allreduce(src, dst, dtype="float32")
    assert np.frombuffer(dst, np.float32).tolist() == [2.5 * n] * 6
    # bfloat16 through a uint16 view: 1.0 is 0x3f80; 1.0 * n for n <= 8 is exact in bfloat16.
    bf = np.full(33, 0x3F80, np.uint16)
    comm.allreduce(bf, dtype="bfloat16")
    want = (np.array([float(n)], np.float32).view(np.uint32) >> 16).astype(np.uint16)[0]
    assert (bf == want).all(), (bf[:4], want)
    # numpy dtypes as dtype=.
    x = np.ones(8, np.float64)
    comm.allreduce(x, dtype=np.float64)
    comm.allreduce(x, dtype=np.dtype("float64"), op=weft.MAX)
    assert (x == n).all()
    # 2-D arrays are fine when C-contiguous.
    m = np.full((3, 4), me, np.int64)
    comm.allreduce(m)
    assert (m == sum(range(n))).all()


def case_nonblocking(comm):
    n, me = comm.size, comm.rank
    ins = [rank_input(r, 5000, "float32") for r in range(n)]
    outs, reqs = [], []
    for op in OPS:  # several in flight at once, completed out of issue order
        out = np.empty(5000, np.float32)
        outs.append(out)
        reqs.append(comm.iallreduce(ins[me], out, op))
    gathered = np.empty(5000 * n, np.float32)
    reqs.append(comm.iallgather(ins[me], gathered))
    block = np.empty(5000 // n * 1, np.float32)
    rs_in = [rank_input(r, (5000 // n) * n, "float32", salt=3) for r in range(n)]
    reqs.append(comm.ireduce_scatter(rs_in[me], block, "max"))
    bc = ins[0].copy() if me == 0 else np.zeros(5000, np.float32)
    reqs.append(comm.ibroadcast(bc, 0))
    red = np.zeros(5000, np.float32)
    reqs.append(comm.ireduce(ins[me], red, "sum", n - 1))
    reqs.append(comm.ibarrier())
    assert comm.pending == len(reqs)
    deadline = time.time() + 30
    while not reqs[-1].test():
        assert time.time() < deadline, "ibarrier never completed"
        time.sleep(0.001)
    for r in reversed(reqs[:-1]):
        res = r.wait()
        assert r.done and r.wait() is res  # waiting again returns the same outcome
    assert comm.pending == 0
    for op, out in zip(OPS, outs):
        check(out, reference(ins, op, "float32"), "iallreduce " + op)
    check(gathered, np.concatenate(ins), "iallgather")
    check(block, reference(rs_in, "max", "float32")[me * len(block):(me + 1) * len(block)], "ireduce_scatter")
    check(bc, ins[0], "ibroadcast")
    if me == n - 1:
        check(red, reference(ins, "sum", "float32"), "ireduce")
    assert reqs[0].test() is True and "done" in repr(reqs[0])

    # A request dropped without wait is completed by its destructor: the buffer outlives it.
    x = np.ones(100000, np.float64)
    r = comm.iallreduce(x)
    del r
    assert (x == n).all(), x[:4]
    # The Request keeps the buffer alive even when the caller drops its own reference.
    r = comm.iallreduce(np.ones(1000, np.int64))
    res = r.wait()
    assert (res == n).all()
    # irecv/isend.
    got = np.zeros(10, np.int32)
    rr = comm.irecv(got, (me - 1) % n)
    rs = comm.isend(np.full(10, me, np.int32), (me + 1) % n)
    assert rr.wait() is got and rs.wait() is None
    assert (got == (me - 1) % n).all()


def case_exit_pending(comm):
    """Leaves a request pending and a communicator open: the atexit hook must finish both."""
    global KEEP
    KEEP = (comm.iallreduce(np.ones(1 << 16, np.float32)), comm.ibarrier(), comm)
    print("ok exit_pending", flush=True)
    sys.exit(0)


def case_close_pending(comm):
    """close() with requests pending waits for them; their outcomes stay readable."""
    x = np.ones(1 << 16, np.float32)
    r1, r2 = comm.iallreduce(x), comm.ibarrier()
    comm.close()
    assert comm.closed and r1.done and r2.done
    assert r1.wait() is x and (x == comm_size).all()
    try:
        comm.allreduce(x)
        raise AssertionError("a closed communicator must refuse calls")
    except weft.InvalidUsageError as e:
        assert "closed" in e.detail, e.detail
    comm.close()  # idempotent


def case_invalid(comm):
    n = comm.size
    x = np.ones(10, np.float32)

    def expect(fn, words, cls=weft.InvalidArgumentError):
        try:
            fn()
        except cls as e:
            assert isinstance(e, weft.WeftError) and e.code is not None, e
            for w in words:
                assert w in e.detail, "%r not in %r" % (w, e.detail)
            print("invalid %s: %s" % (type(e).__name__, e.detail), flush=True)
            return e
        raise AssertionError("no %s for %s" % (cls.__name__, words))

    e = expect(lambda: comm.allreduce(x, np.ones(11, np.float32)), ["allreduce", "11", "expected 10"])
    assert isinstance(e, ValueError) and e.code == 1 and e.name == "WEFT_ERR_INVALID_ARGUMENT"
    expect(lambda: comm.allreduce(x, np.ones(10, np.float64)), ["float32", "float64"])
    expect(lambda: comm.allreduce(np.ones(4, np.int16)), ["format 'h'", "dtype="])
    expect(lambda: comm.allreduce(np.ones(4, np.complex64)), ["format"])
    expect(lambda: comm.allreduce(np.ones(20, np.float32)[::2]), ["contiguous"])
    expect(lambda: comm.allreduce(x, b"\0" * 40), ["recv", "read-only"])
    expect(lambda: comm.allreduce(b"\0" * 40), ["read-only"])
    expect(lambda: comm.allreduce(x, op="median"), ["op 'median'"])
    expect(lambda: comm.allreduce(x, dtype="int16"), ["int16"])
    expect(lambda: comm.allreduce(np.ones(3, np.uint8), dtype="float32"), ["3 bytes", "4-byte"])
    expect(lambda: comm.allreduce(object()), ["buffer protocol"])
    expect(lambda: comm.allgather(x, np.empty(10 * n + 1, np.float32)), ["allgather", "expected %d" % (10 * n)])
    expect(lambda: comm.reduce_scatter(x, np.empty(11, np.float32)), ["reduce_scatter"])
    expect(lambda: comm.broadcast(x, n + 5), ["root %d out of range" % (n + 5)])
    expect(lambda: comm.broadcast(x, "zero"), ["not a rank"])
    expect(lambda: comm.send(x, comm.rank), ["peer %d is this rank itself" % comm.rank])
    expect(lambda: comm.iallreduce(x, np.ones(3, np.float32)), ["expected 10"])
    assert comm.pending == 0
    # The timeout: readable, settable, refused when not positive (and kept then).
    assert comm.timeout == 20.0, comm.timeout  # test_invalid_arguments sets WEFT_TIMEOUT=20
    comm.timeout = 7.5
    assert comm.timeout == 7.5
    expect(lambda: setattr(comm, "timeout", 0), ["weft_comm_set_timeout", "seconds 0"])
    expect(lambda: setattr(comm, "timeout", float("nan")), ["weft_comm_set_timeout"])
    assert comm.timeout == 7.5
    # The communicator is still usable: invalid arguments are caught before the network.
    comm.allreduce(x)
    assert (x == n).all()


def case_mismatch(comm):
    count = 10 if comm.rank == 0 else 20
    try:
        comm.allreduce(np.ones(count, np.float32))
    except weft.WeftError as e:
        print("ERROR %s detail=%s" % (type(e).__name__, e.detail.replace(" ", "_")), flush=True)
        return
    raise AssertionError("mismatched counts did not fail")


def case_kill(comm, victim="1"):
    """The victim SIGKILLs itself mid-loop; survivors must fail with PeerLostError or
    RevokedError naming it, quickly, and print what they saw."""
    victim = int(victim)
    x = np.ones(1 << 18, np.float32)
    for i in range(1000000):
        if comm.rank == victim and i == 20:
            print("KILL t=%.3f" % time.time(), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        t0 = time.time()
        try:
            comm.allreduce(x, op="max")
        except weft.WeftError as e:
            print("ERROR cls=%s code=%d name=%s seconds=%.3f t=%.3f" % (
                type(e).__name__, e.code, e.name, time.time() - t0, time.time()), flush=True)
            print("DETAIL %s" % e.detail, flush=True)
            return
    raise AssertionError("no failure")


def case_recover(comm, victim="2"):
    victim, n = int(victim), comm.size
    x = np.ones(1000, np.float64)
    for i in range(1000000):
        if comm.rank == victim and i == 10:
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            comm.allreduce(x, op="max")
        except (weft.PeerLostError, weft.RevokedError):
            break
    info = comm.recover()
    assert isinstance(info, weft.RecoverInfo), info
    assert info.changed and info.new_epoch > info.old_epoch == 1, info
    assert (info.old_size, info.new_size, info.left, info.num_left) == (n, n - 1, (victim,), 1), info
    assert not info.is_new_member and info.joined == () and info.old_rank != victim, info
    assert comm.size == n - 1 and comm.epoch == info.new_epoch and comm.rank == info.new_rank
    y = np.full(7, comm.rank + 1, np.int64)
    comm.allreduce(y)
    assert (y == sum(range(1, n))).all(), y
    print("RECOVER old_epoch=%d new_epoch=%d left=%s" % (info.old_epoch, info.new_epoch, info.left), flush=True)


def case_gil(comm):
    """While one rank waits in a blocking call (its peer joins 1 s late), a Python thread keeps
    running: the wait must not hold the GIL."""
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    x = np.ones(1000, np.float32)
    comm.barrier()
    results = []
    for label, call in (("allreduce", lambda: comm.allreduce(x)),
                        ("wait", lambda: comm.ibarrier().wait()),
                        ("recv", lambda: comm.recv(x, 1) if comm.rank == 0 else comm.send(x, 0))):
        if comm.rank == 0:
            t = threading.Thread(target=spin)
            t.start()
            time.sleep(0.05)
            before, t0 = counter[0], time.time()
            call()
            took, advanced = time.time() - t0, counter[0] - before
            stop.set()
            t.join()
            stop.clear()
            results.append("%s_seconds=%.3f %s_count=%d" % (label, took, label, advanced))
        else:
            time.sleep(1.0)
            call()
    if comm.rank == 0:
        print("GIL " + " ".join(results), flush=True)


def case_api(comm):
    n, me = comm.size, comm.rank
    assert 0 <= me < n and comm.epoch == 1 and comm.joined_late is False and not comm.closed
    assert repr(comm) == "<weft.Comm rank %d of %d, epoch 1>" % (me, n)
    assert isinstance(comm.last_error, str)
    assert weft.dtype_size("bfloat16") == 2 and weft.dtype_size(np.float64) == 8
    assert weft.result_name(3) == "WEFT_ERR_PEER_LOST" and "peer" in weft.strerror(3)
    assert issubclass(weft.TimeoutError, TimeoutError) and issubclass(weft.TimeoutError, weft.WeftError)
    assert issubclass(weft.InvalidArgumentError, ValueError)
    try:
        comm.__init__()
        raise AssertionError("init twice")
    except weft.InvalidUsageError:
        pass
    with comm as same:  # the context manager closes on exit
        assert same is comm
        y = np.ones(3, np.int32)
        same.allreduce(y)
        assert (y == n).all()
    assert comm.closed and repr(comm) == "<weft.Comm closed>"
    try:
        comm.rank
        raise AssertionError("rank of a closed communicator")
    except weft.InvalidUsageError:
        pass

def case_threads(comm):
    """One communicator, two threads: while one waits inside a call, the other's call on the
    same communicator raises InvalidUsageError (as in C), and close() refuses to pull the
    communicator from under the waiting thread."""
    x = np.ones(100, np.float32)
    if comm.rank == 1:
        time.sleep(1.0)
        comm.allreduce(x)
        return
    t = threading.Thread(target=comm.allreduce, args=(x,))
    t.start()
    time.sleep(0.3)
    for fn in (lambda: comm.allreduce(np.ones(3, np.float32)), comm.close):
        try:
            fn()
            raise AssertionError("a second thread got into a busy communicator")
        except weft.InvalidUsageError as e:
            print("busy: %s" % e.detail, flush=True)
    t.join()
    assert (x == 2).all()


def case_groups(comm):
    """split (with None for no color) and create_group: the children work, their ids agree, the
    parent works alongside, and closing the parent first leaves a child usable."""
    n, me = comm.size, comm.rank
    half = comm.split(me % 2, key=-me)
    members = sorted((r for r in range(n) if r % 2 == me % 2), reverse=True)
    assert half.size == len(members) and members[half.rank] == me and half.id != 0
    x = np.full(5, me + 1, np.int64)
    half.allreduce(x)
    assert (x == sum(r + 1 for r in members)).all(), x
    ids = np.zeros(n, np.uint64)
    comm.allgather(np.array([half.id], np.uint64), ids)
    assert all(ids[r] == ids[members[0]] for r in members), ids
    none = comm.split(None if me == 0 else 1)
    assert (none is None) == (me == 0)
    if none is not None:
        none.close()
    if n > 1 and me != 0:
        g = comm.create_group(list(range(1, n)), tag=5)
        assert g.rank == me - 1 and g.size == n - 1
        y = np.ones(4, np.float32)
        g.allreduce(y)
        assert (y == n - 1).all()
        g.close()
    for bad, exc in (([n], weft.InvalidArgumentError), ([me, me], weft.InvalidArgumentError)):
        try:
            comm.create_group(bad)
            raise AssertionError("create_group(%r) accepted" % bad)
        except exc as e:
            assert "ranks" in e.detail or "twice" in e.detail, e.detail
    keep = comm.split(0, key=me)
    comm.barrier()
    half.close()
    return keep


# ---- the uneven, personalised and rooted collectives --------------------------------------------

V_DTYPES = ["float32", "int64", "float16", "uint8"]


def pair_count(i, j, scale, salt=0):
    """Elements rank i sends rank j: 0..4 times scale, zero for some pairs at every size."""
    return ((3 * i + 5 * j + salt) % 5) * scale


def block(i, j, count, dtype):
    """Rank i's block for rank j (any rank can regenerate it)."""
    return rank_input(i, count, dtype, salt=101 + j)


def spread(counts):
    """Displacements placing the blocks in reverse rank order with gaps of 1 or 2 elements (and
    a zero-count block just past the end): a layout the packed default never produces."""
    displs, pos = [0] * len(counts), 1
    for j in reversed(range(len(counts))):
        displs[j] = pos
        pos += counts[j] + 1 + j % 2
    return displs, pos


def pack(blocks, displs, extent, dtype, fill=0):
    buf = np.full(extent, fill, dtype)
    for b, d in zip(blocks, displs):
        buf[d:d + len(b)] = b
    return buf


def packed(counts):
    return [int(sum(counts[:j])) for j in range(len(counts))]


def check_blocks(buf, blocks, displs, what):
    for j, (b, d) in enumerate(zip(blocks, displs)):
        check(buf[d:d + len(b)], b, "%s block %d" % (what, j))


def case_vcollectives(comm):
    n, me = comm.size, comm.rank
    for dtype in V_DTYPES:
        for scale in (1, 1000):
            what = "%s scale %d" % (dtype, scale)
            # alltoall: out of place, in place (recv None, and recv is send).
            for count in (0, scale, 3 * scale):
                send = np.concatenate([block(me, j, count, dtype) for j in range(n)])
                want = np.concatenate([block(j, me, count, dtype) for j in range(n)])
                recv = np.empty_like(send)
                assert comm.alltoall(send, recv) is recv
                check(recv, want, "alltoall %s count %d" % (what, count))
                buf = send.copy()
                assert comm.alltoall(buf) is buf
                check(buf, want, "alltoall in place %s count %d" % (what, count))
                buf = send.copy()
                assert comm.alltoall(buf, buf) is buf
                check(buf, want, "alltoall recv is send %s count %d" % (what, count))

            # alltoallv: packed layouts, spread layouts, counts as a numpy array, in place.
            sc = [pair_count(me, j, scale) for j in range(n)]
            rc = [pair_count(j, me, scale) for j in range(n)]
            sblocks = [block(me, j, sc[j], dtype) for j in range(n)]
            rblocks = [block(j, me, rc[j], dtype) for j in range(n)]
            send = np.concatenate(sblocks)
            recv = np.empty(sum(rc), dtype)
            assert comm.alltoallv(send, recv, sc, rc) is recv
            check(recv, np.concatenate(rblocks), "alltoallv packed " + what)
            sd, sext = spread(sc)
            rd, rext = spread(rc)
            send = pack(sblocks, sd, sext, dtype)
            recv = np.zeros(rext, dtype)
            comm.alltoallv(send, recv, np.array(sc), np.array(rc, np.uint64), sdispls=sd, rdispls=rd)
            check_blocks(recv, rblocks, rd, "alltoallv spread " + what)
            assert all(recv[d - 1] == 0 for d in rd if d > 0), "alltoallv wrote into a gap"
            buf = pack(sblocks, sd, max(sext, rext), dtype)
            assert comm.alltoallv(buf, None, sc, rc, sd, rd) is buf
            check_blocks(buf, rblocks, rd, "alltoallv in place " + what)

            # allgatherv: rank r contributes pair_count(r, 0) elements (zero for some ranks).
            counts = [pair_count(r, 0, scale, salt=1) for r in range(n)]
            mine = block(me, 0, counts[me], dtype)
            blocks = [block(r, 0, counts[r], dtype) for r in range(n)]
            recv = np.empty(sum(counts), dtype)
            assert comm.allgatherv(mine, recv, counts) is recv
            check(recv, np.concatenate(blocks), "allgatherv packed " + what)
            displs, ext = spread(counts)
            recv = np.zeros(ext, dtype)
            comm.allgatherv(mine, recv, tuple(counts), displs)
            check_blocks(recv, blocks, displs, "allgatherv spread " + what)
            recv = pack([mine if r == me else np.zeros(counts[r], dtype) for r in range(n)], displs, ext, dtype)
            comm.allgatherv(recv[displs[me]:displs[me] + counts[me]], recv, counts, displs)  # in place
            check_blocks(recv, blocks, displs, "allgatherv in place " + what)

            # reduce_scatterv: every op, out of place and in place (recv is this rank's slice).
            start = packed(counts)
            total = sum(counts)
            ins = [rank_input(r, total, dtype, salt=2) for r in range(n)]
            for op in OPS:
                want = reference(ins, op, dtype)[start[me]:start[me] + counts[me]]
                recv = np.empty(counts[me], dtype)
                assert comm.reduce_scatterv(ins[me], recv, counts, op) is recv
                check(recv, want, "reduce_scatterv %s %s" % (op, what))
                buf = ins[me].copy()
                comm.reduce_scatterv(buf, buf[start[me]:start[me] + counts[me]], counts, op=op)
                check(buf[start[me]:start[me] + counts[me]], want, "reduce_scatterv in place %s %s" % (op, what))

            # gather and scatter from every root, in place at the root too.
            count = pair_count(0, 1, scale, salt=2)
            for root in range(n):
                mine = block(me, root, count, dtype)
                everyone = np.concatenate([block(r, root, count, dtype) for r in range(n)])
                if me == root:
                    recv = np.empty(count * n, dtype)
                    assert comm.gather(mine, recv, root) is recv
                    check(recv, everyone, "gather root %d %s" % (root, what))
                    recv[:] = 0
                    recv[me * count:(me + 1) * count] = mine
                    comm.gather(recv[me * count:(me + 1) * count], recv, root=root)
                    check(recv, everyone, "gather in place root %d %s" % (root, what))
                else:
                    assert comm.gather(mine, root=root) is None
                    assert comm.gather(mine, np.empty(1, np.int8), root) is None  # ignored off the root
                recv = np.empty(count, dtype)
                if me == root:
                    assert comm.scatter(everyone, recv, root) is recv
                    buf = everyone.copy()
                    comm.scatter(buf, buf[me * count:(me + 1) * count], root)
                    check(buf, everyone, "scatter in place root %d %s" % (root, what))
                else:
                    assert comm.scatter(None, recv, root) is recv
                    comm.scatter(np.empty(1, np.int8), recv, root=root)  # ignored off the root
                check(recv, block(me, root, count, dtype), "scatter root %d %s" % (root, what))
    comm.barrier()


def case_vnonblocking(comm):
    """The six as requests, all in flight at once, waited out of order; then a dropped one."""
    n, me = comm.size, comm.rank
    dt, scale = "float32", 700
    reqs, checks = [], []

    def issue(req, fn):
        reqs.append(req)
        checks.append(fn)

    send = np.concatenate([block(me, j, scale, dt) for j in range(n)])
    a2a = np.empty_like(send)
    issue(comm.ialltoall(send, a2a), lambda: check(a2a, np.concatenate([block(j, me, scale, dt) for j in range(n)]),
                                                  "ialltoall"))
    sc = [pair_count(me, j, scale) for j in range(n)]
    rc = [pair_count(j, me, scale) for j in range(n)]
    rd, rext = spread(rc)
    a2av = np.zeros(rext, dt)
    issue(comm.ialltoallv(np.concatenate([block(me, j, sc[j], dt) for j in range(n)]), a2av, sc, rc, rdispls=rd),
          lambda: check_blocks(a2av, [block(j, me, rc[j], dt) for j in range(n)], rd, "ialltoallv"))
    counts = [pair_count(r, 0, scale, salt=1) for r in range(n)]
    agv = np.empty(sum(counts), dt)
    issue(comm.iallgatherv(block(me, 0, counts[me], dt), agv, counts),
          lambda: check(agv, np.concatenate([block(r, 0, counts[r], dt) for r in range(n)]), "iallgatherv"))
    ins = [rank_input(r, sum(counts), dt, salt=2) for r in range(n)]
    start = packed(counts)
    rsv = np.empty(counts[me], dt)
    issue(comm.ireduce_scatterv(ins[me], rsv, counts, "max"),
          lambda: check(rsv, reference(ins, "max", dt)[start[me]:start[me] + counts[me]], "ireduce_scatterv"))
    root = n - 1
    gat = np.empty(scale * n, dt) if me == root else None
    req = comm.igather(block(me, root, scale, dt), gat, root)
    issue(req, lambda: check(gat, np.concatenate([block(r, root, scale, dt) for r in range(n)]), "igather")
          if me == root else None)
    sca = np.empty(scale, dt)
    issue(comm.iscatter(np.concatenate([block(root, r, scale, dt) for r in range(n)]) if me == root else None, sca,
                        root), lambda: check(sca, block(root, me, scale, dt), "iscatter"))
    assert comm.pending == len(reqs)
    assert "alltoallv" in repr(reqs[1]) and "scatter" in repr(reqs[-1])
    for r, want in zip(reversed(reqs), (sca, gat if me == root else None, rsv, agv, a2av, a2a)):
        assert r.wait() is want
    assert comm.pending == 0
    for fn in checks:
        fn()
    # A request dropped without wait is completed by its destructor.
    buf = np.concatenate([np.full(2, me, np.int64) for _ in range(n)])
    r = comm.ialltoall(buf)
    del r
    assert (buf == np.repeat(np.arange(n), 2)).all(), buf


def case_vinvalid(comm):
    """Every rank makes the same bad call (so none reaches the network) and gets
    InvalidArgumentError naming the argument; the communicator stays usable."""
    n, me = comm.size, comm.rank
    f = np.ones(2 * n, np.float32)
    ones = [1] * n

    def expect(fn, words):
        try:
            fn()
        except weft.InvalidArgumentError as e:
            for w in words:
                assert w in e.detail, "%r not in %r" % (w, e.detail)
            print("invalid %s: %s" % (type(e).__name__, e.detail), flush=True)
            return
        raise AssertionError("no InvalidArgumentError for %s" % words)

    # alltoall
    if n > 1:
        expect(lambda: comm.alltoall(np.ones(2 * n + 1, np.float32)),
               ["alltoall", "send has %d elements" % (2 * n + 1), "multiple of the world size %d" % n])
    expect(lambda: comm.alltoall(f, np.ones(2 * n + 2, np.float32)), ["alltoall: recv", "expected %d" % (2 * n)])
    expect(lambda: comm.alltoall(f, np.ones(2 * n, np.float64)), ["float32", "float64"])
    expect(lambda: comm.ialltoall(f, b"\0" * (8 * n)), ["recv", "read-only"])
    # alltoallv: the count and displacement arrays themselves
    expect(lambda: comm.alltoallv(f, f.copy(), ones + [1], ones),
           ["alltoallv", "sendcounts has length %d, expected %d" % (n + 1, n)])
    expect(lambda: comm.alltoallv(f, f.copy(), ones, ones, sdispls=[0] * (n + 2)),
           ["sdispls has length %d, expected %d" % (n + 2, n)])
    expect(lambda: comm.alltoallv(f, f.copy(), ones, [1] * (n - 1) + [-1]), ["recvcounts[%d] is -1" % (n - 1)])
    expect(lambda: comm.alltoallv(f, f.copy(), [1.5] * n, ones), ["sendcounts[0] (1.5) is not an integer"])
    expect(lambda: comm.alltoallv(f, f.copy(), 5, ones), ["sendcounts (int) is not a sequence"])
    expect(lambda: comm.alltoallv(f, f.copy(), ones, None), ["recvcounts is None"])
    expect(lambda: comm.alltoallv(f, f.copy(), [2 ** 70] * n, ones), ["sendcounts[0]", "too large"])
    expect(lambda: comm.alltoallv(f, f.copy(), ones, ones, rdispls=[0] * (n - 1) + [-3]),
           ["rdispls[%d] is -3, a negative displacement" % (n - 1)])
    # ... against the buffers
    expect(lambda: comm.alltoallv(f, f.copy(), [3] * n, [3] * n),
           ["send has %d elements, fewer than the %d that sendcounts add up to" % (2 * n, 3 * n), "sdispls="])
    expect(lambda: comm.alltoallv(f, np.ones(n, np.float32), ones, [2] * n),
           ["recv has %d elements, fewer than the %d" % (n, 2 * n)])
    expect(lambda: comm.alltoallv(f, f.copy(), ones, ones, rdispls=[0] * (n - 1) + [2 * n]),
           ["block %d of recv (rdispls[%d] %d + recvcounts[%d] 1) ends at element %d, past its end (%d elements)"
            % (n - 1, n - 1, 2 * n, n - 1, 2 * n + 1, 2 * n)])
    expect(lambda: comm.ialltoallv(f, f.copy(), ones, ones, sdispls=[2 * n - 1] * n, rdispls=[5 * n] * n),
           ["block 0 of recv", "past its end"])
    expect(lambda: comm.alltoallv(f, None, ones, ones, rdispls=[2 * n] * n),
           ["block 0 of send (rdispls[0]", "past its end"])  # in place: both layouts over send
    # ... and what the library checks (overlaps, this rank's own block)
    if n > 1:
        expect(lambda: comm.alltoallv(f, f.copy(), ones, ones, rdispls=[0] * n), ["overlap"])
    expect(lambda: comm.alltoallv(f, f.copy(), ones, [2] * n), ["sendcounts[%d] 1 differs from recvcounts" % me])
    # allgatherv
    expect(lambda: comm.allgatherv(np.ones(3, np.float32), f, ones),
           ["allgatherv: send has 3 elements but recvcounts[%d] (this rank's block) is 1" % me])
    expect(lambda: comm.allgatherv(np.ones(1, np.float32), f, ones, displs=[2 * n] * n), ["block 0 of recv",
                                                                                        "displs[0]", "past its end"])
    expect(lambda: comm.allgatherv(np.ones(2, np.float32), np.ones(2 * n - 1, np.float32), [2] * n),
           ["recv has %d elements, fewer than the %d that recvcounts add up to" % (2 * n - 1, 2 * n), "displs="])
    expect(lambda: comm.allgatherv(f, None, ones), ["allgatherv: recv is None"])
    expect(lambda: comm.iallgatherv(np.ones(1, np.float32), f, ones, [0, 1, 2, 3][:n - 1]),
           ["displs has length %d, expected %d" % (n - 1, n)])
    # reduce_scatterv
    expect(lambda: comm.reduce_scatterv(f, np.ones(1, np.float32), ones),
           ["reduce_scatterv: send has %d elements, expected %d (the sum of recvcounts)" % (2 * n, n)])
    expect(lambda: comm.reduce_scatterv(f, np.ones(1, np.float32), [2] * n),
           ["recv has 1 elements, expected 2 (recvcounts[%d]" % me])
    expect(lambda: comm.reduce_scatterv(f, np.ones(2, np.float32), [2] * n, op="median"), ["op 'median'"])
    expect(lambda: comm.ireduce_scatterv(f, np.ones(2, np.float32), [2] * n, "sum", dtype="int16"), ["int16"])
    # gather and scatter: each rank its own root, so every rank fails locally
    expect(lambda: comm.gather(f, None, me), ["gather: recv is None at the root"])
    expect(lambda: comm.gather(f, np.ones(2 * n + 1, np.float32), root=me),
           ["gather: recv has %d elements, expected %d" % (2 * n + 1, 2 * n * n)])
    expect(lambda: comm.gather(f, f.copy(), n + 4), ["root %d out of range" % (n + 4)])
    expect(lambda: comm.igather(f, f.copy(), "zero"), ["root 'zero' is not a rank"])
    expect(lambda: comm.scatter(None, f, me), ["scatter: send is None at the root"])
    expect(lambda: comm.scatter(np.ones(3 * n, np.float32), np.ones(2, np.float32), me),
           ["scatter: send has %d elements, expected %d" % (3 * n, 2 * n)])
    expect(lambda: comm.iscatter(f, None, 0), ["scatter: recv is None"])
    assert comm.pending == 0
    # Nothing reached the network: the next calls match on every rank.
    send = np.concatenate([np.full(j + 1, me, np.int32) for j in range(n)])
    recv = np.empty((me + 1) * n, np.int32)
    comm.alltoallv(send, recv, [j + 1 for j in range(n)], [me + 1] * n)
    assert (recv == np.repeat(np.arange(n), me + 1)).all(), recv


def case_vfuzz(comm):
    """One rank (so a call that happens to be valid completes alone): every argument of the six,
    blocking and not, replaced by odd values, raises WeftError or TypeError and never crashes."""
    assert comm.size == 1
    f, g = np.arange(4, dtype=np.float32), np.zeros(4, np.float32)
    base = {
        "alltoall": (f, g),
        "alltoallv": (f, g, [4], [4], [0], [0]),
        "allgatherv": (f, g, [4], [0]),
        "reduce_scatterv": (f, g, [4], "sum"),
        "gather": (f, g, 0),
        "scatter": (f, g, 0),
    }
    odd = [None, -1, 2 ** 80, 1.5, "x", b"", [], [None], [-1], [2 ** 63], [1, 2], (4,), np.zeros(0), np.ones(4, np.int8),
           np.array([[4]]), {"a": 1}, object(), np.float64(4), memoryview(b"abcd"), np.ones(3, np.complex64)]
    seen = 0
    for name, args in base.items():
        for prefix in ("", "i"):
            fn = getattr(comm, prefix + name)
            for pos in range(len(args)):
                for v in odd:
                    call = list(args)
                    call[pos] = v
                    try:
                        r = fn(*call)
                        if prefix:
                            r.wait()
                    except (weft.WeftError, TypeError):
                        seen += 1
            for kw in ({"dtype": "nope"}, {"dtype": 3}, {"bogus": 1}):
                try:
                    fn(*args, **kw)
                    raise AssertionError("%s%s accepted %r" % (prefix, name, kw))
                except (weft.WeftError, TypeError):
                    seen += 1
    assert seen > 300 and comm.pending == 0, seen
    comm.alltoall(f, g)
    assert (g == f).all()


def case_queued_deadline(comm):
    """Rank 0 queues two barriers at once under a 2 s timeout; rank 1 joins each 1.3 s apart.
    The second runs for about 1.3 s but was queued 2.6 s before it ends: its deadline counts
    from when it starts, so both complete."""
    comm.timeout = 2.0
    if comm.rank == 0:
        t0 = time.monotonic()
        first, second = comm.ibarrier(), comm.ibarrier()
        first.wait()
        second.wait()
        print("QUEUED took=%.2f" % (time.monotonic() - t0), flush=True)
    else:
        for _ in range(2):
            time.sleep(1.3)
            comm.barrier()


CASES = {
    "queued_deadline": case_queued_deadline,
    "groups": case_groups,
    "collectives": case_collectives,
    "p2p_and_buffers": case_p2p_and_buffers,
    "nonblocking": case_nonblocking,
    "exit_pending": case_exit_pending,
    "close_pending": case_close_pending,
    "invalid": case_invalid,
    "mismatch": case_mismatch,
    "kill": case_kill,
    "recover": case_recover,
    "gil": case_gil,
    "api": case_api,
    "threads": case_threads,
    "vcollectives": case_vcollectives,
    "vnonblocking": case_vnonblocking,
    "vinvalid": case_vinvalid,
    "vfuzz": case_vfuzz,
}


def main():
    global comm_size
    case, args = sys.argv[1], sys.argv[2:]
    comm = weft.Comm()
    comm_size = comm.size
    child = CASES[case](comm, *args)
    if case != "exit_pending":
        comm.close()
    if child is not None:  # a communicator that must outlive its parent
        z = np.ones(2, np.int32)
        child.allreduce(z)
        assert (z == comm_size).all()
        child.close()
    print("ok " + case, flush=True)


if __name__ == "__main__":
    main()
