"""One rank of a weft.torch test: `weftrun -n N python3 rank_torch.py CASE [ARGS]` (or torchrun).

The default group is "weft"; cases that compare with gloo also make a gloo group over the same
ranks (dist.new_group(backend="gloo")) and run every operation on both, on the same tensors,
plus an exact reference computed locally from every rank's input (each rank can regenerate any
rank's input from its seed). Prints `ok CASE ...` and exits 0; an assertion exits non-zero."""
import os
import signal
import sys
import time

import torch
import torch.distributed as dist

import weft
import weft.torch

DTYPES = [torch.float32, torch.float64, torch.int32, torch.int64, torch.bfloat16, torch.float16]
OPS = {"sum": dist.ReduceOp.SUM, "avg": dist.ReduceOp.AVG, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX,
       "product": dist.ReduceOp.PRODUCT}
COUNTS = [1, 13, 1000, 70001]  # the last spans several 512 KiB frames for 8-byte types


def rank_input(rank, count, dtype, salt=0):
    """Small positive integers: every op is exact in every dtype (products of <= 4 ranks stay
    below 4**4, exact even in bfloat16)."""
    g = torch.Generator().manual_seed(1000 * rank + 7 * count + salt)
    return torch.randint(1, 5, (count,), generator=g).to(dtype)


def reference(inputs, op):
    wide = torch.stack([x.double() for x in inputs])
    if op == "sum":
        r = wide.sum(0)
    elif op == "product":
        r = wide.prod(0)
    elif op == "min":
        r = wide.min(0).values
    elif op == "max":
        r = wide.max(0).values
    else:
        s = wide.sum(0)
        r = s / len(inputs) if inputs[0].is_floating_point() else torch.div(s, len(inputs), rounding_mode="trunc")
    return r.to(inputs[0].dtype)


def same(got, want, what):
    if got.is_floating_point():
        tol = 1e-2 if got.dtype in (torch.float16, torch.bfloat16) else 1e-6
        ok = torch.allclose(got.double(), want.double(), rtol=tol, atol=0)
    else:
        ok = torch.equal(got, want)
    assert ok, "%s: got %s want %s" % (what, got[:8].tolist(), want[:8].tolist())


class Checker:
    """Runs one operation on weft and on gloo (when gloo supports it) and compares both with the
    reference; counts what was compared with what."""

    def __init__(self, gloo):
        self.gloo, self.checked, self.vs_gloo, self.gloo_refused = gloo, 0, 0, set()

    def run(self, what, fn, want):
        """fn(group) -> result tensor (or list); want: the exact reference."""
        got = fn(None)  # None: the default ("weft") group
        same(torch.cat(got) if isinstance(got, list) else got, want, "weft " + what)
        self.checked += 1
        try:
            g = fn(self.gloo)
        except (RuntimeError, ValueError) as e:  # gloo lacks some dtype/op pairs: say which
            self.gloo_refused.add(what.split(" count")[0] + ": " + str(e).splitlines()[0][:60])
            return
        same(torch.cat(got) if isinstance(got, list) else got, torch.cat(g) if isinstance(g, list) else g,
             "weft vs gloo " + what)
        self.vs_gloo += 1


def case_ops():
    dist.init_process_group("weft")  # plain env:// under weftrun (weft.torch derived the variables)
    assert dist.get_backend() == "weft"
    gloo = dist.new_group(backend="gloo")
    n, me = dist.get_world_size(), dist.get_rank()
    ck = Checker(gloo)
    for dtype in DTYPES:
        for count in COUNTS:
            ins = [rank_input(r, count, dtype) for r in range(n)]
            for name, op in OPS.items():
                what = "%s count %d %s" % (dtype, count, name)
                want = reference(ins, name)
                if name == "avg":
                    # gloo has no AVG: compare with its SUM divided here, the way users do.
                    def avg(group, x=ins[me]):
                        t = x.clone()
                        if group is None:
                            dist.all_reduce(t, op=dist.ReduceOp.AVG)
                            return t
                        dist.all_reduce(t, group=group)
                        return (t.double() / n).to(dtype) if dtype.is_floating_point else torch.div(t, n, rounding_mode="trunc")
                    ck.run("allreduce " + what, avg, want)
                else:
                    def allreduce(group, x=ins[me], op=op):
                        t = x.clone()
                        w = dist.all_reduce(t, op=op, group=group, async_op=True)
                        w.wait()
                        if group is None:  # the Work's Future carries the result tensor itself
                            assert w.get_future().value()[0] is not None and w.is_completed() and w.is_success()
                        return t
                    ck.run("allreduce " + what, allreduce, want)

                # reduce_scatter over n blocks: this rank gets its block of the reduction.
                big = [rank_input(r, count * n, dtype, salt=1) for r in range(n)]
                want_rs = reference(big, name)[me * count:(me + 1) * count]

                def rs_tensor(group, x=big[me], op=op):
                    out = torch.empty(count, dtype=dtype)
                    dist.reduce_scatter_tensor(out, x.clone(), op=op, group=group)
                    return out

                def rs_list(group, x=big[me], op=op):
                    out = torch.empty(count, dtype=dtype)
                    dist.reduce_scatter(out, list(x.clone().chunk(n)), op=op, group=group)
                    return out
                ck.run("reduce_scatter_tensor " + what, rs_tensor, want_rs)
                ck.run("reduce_scatter " + what, rs_list, want_rs)

            def ag_tensor(group, x=ins[me]):
                out = torch.empty(count * n, dtype=dtype)
                dist.all_gather_into_tensor(out, x, group=group)
                return out

            def ag_list(group, x=ins[me]):
                outs = [torch.empty(count, dtype=dtype) for _ in range(n)]
                dist.all_gather(outs, x, group=group)
                return outs
            ck.run("all_gather_into_tensor %s count %d" % (dtype, count), ag_tensor, torch.cat(ins))
            ck.run("all_gather %s count %d" % (dtype, count), ag_list, torch.cat(ins))
            for root in range(n):
                def bcast(group, root=root):
                    t = ins[root].clone() if me == root else torch.zeros(count, dtype=dtype)
                    dist.broadcast(t, root, group=group)
                    return t
                ck.run("broadcast root %d %s count %d" % (root, dtype, count), bcast, ins[root])
            # send/recv around the ring, non-blocking so that every rank posts both first.
            nxt, prv = (me + 1) % n, (me - 1) % n

            def ring(group):
                got = torch.empty(count, dtype=dtype)
                reqs = [dist.isend(ins[me], nxt, group=group), dist.irecv(got, prv, group=group)]
                for r in reqs:
                    r.wait()
                return got
            ck.run("send/recv %s count %d" % (dtype, count), ring, ins[prv])
    # Many operations in flight at once complete in issue order with the right results.
    ts = [torch.full((1000,), float(me + i)) for i in range(20)]
    works = [dist.all_reduce(t, async_op=True) for t in ts]
    for i, w in enumerate(works):
        w.wait()
        assert (ts[i] == sum(range(n)) + n * i).all(), (i, ts[i][:3])
    dist.barrier()
    assert ck.vs_gloo > 0.8 * ck.checked, (ck.vs_gloo, ck.checked, ck.gloo_refused)
    print("ok ops checked=%d vs_gloo=%d gloo_refused=%d" % (ck.checked, ck.vs_gloo, len(ck.gloo_refused)), flush=True)
    for g in sorted(ck.gloo_refused):
        print("gloo refused: %s" % g, flush=True)
    dist.destroy_process_group()


def case_errors():
    weft.torch.init_process_group()  # on a weft.Comm from the environment, local HashStore
    n, me = dist.get_world_size(), dist.get_rank()

    def expect(fn, cls, words):
        try:
            fn()
        except cls as e:
            msg = str(e)
            for w in words:
                assert w in msg, "%r not in %r" % (w, msg)
            print("refused %s: %s" % (type(e).__name__, msg.splitlines()[0]), flush=True)
            return
        raise AssertionError("no %s for %s" % (cls, words))

    expect(lambda: dist.all_reduce(torch.ones(4, 4).t()), ValueError, ["contiguous"])
    expect(lambda: dist.all_reduce(torch.ones(4), op=dist.ReduceOp.BAND), NotImplementedError, ["reduce op"])
    expect(lambda: dist.all_reduce(torch.ones(4, dtype=torch.int16)), NotImplementedError, ["Short", "not supported"])
    expect(lambda: dist.all_reduce(torch.ones(4, dtype=torch.bool)), NotImplementedError, ["MIN or MAX"])
    expect(lambda: dist.all_gather_into_tensor(torch.empty(3), torch.ones(2)), ValueError, ["elements"])
    expect(lambda: dist.send(torch.ones(2), (me + 1) % n, tag=-5), ValueError, ["tag -5 is negative"])
    expect(lambda: dist.broadcast(torch.ones(2), n + 3), (ValueError, RuntimeError), [])
    alone = dist.new_group(ranks=[0], backend="weft")  # every rank calls it; only rank 0 builds it
    if me == 0:  # a group of one works beside the default group
        one = torch.full((3,), 7.0)
        dist.all_reduce(one, group=alone)
        assert (one == 7).all(), one
    expect(lambda: weft.torch.comm().close(), weft.InvalidUsageError, ["process group"])
    # Nothing reached the network: the group still works.
    t = torch.ones(5)
    dist.all_reduce(t)
    assert (t == n).all(), t
    b = torch.tensor([True, me == 0])
    dist.all_reduce(b, op=dist.ReduceOp.MIN)
    assert b.tolist() == [True, n == 1], b
    print("ok errors", flush=True)
    dist.destroy_process_group()


def case_kill(victim="1"):
    """The victim SIGKILLs itself while async allreduces are in flight; every survivor's Work
    fails with DistBackendError naming the lost rank, fast; then recover() forms the next epoch,
    the old group refuses work, and a group made on the recovered communicator works."""
    victim = int(victim)
    c = weft.torch.init_process_group()
    n, me = dist.get_world_size(), dist.get_rank()
    x = [torch.ones(1 << 16) for _ in range(4)]
    err, t_err = None, None
    for i in range(100000):
        if me == victim and i == 30:
            print("KILL t=%.3f" % time.time(), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        works = [dist.all_reduce(t, op=dist.ReduceOp.MAX, async_op=True) for t in x]
        try:
            for w in works:
                w.wait()
        except Exception as e:  # noqa: BLE001 (checked below)
            err, t_err = e, time.time()
            # The rest fail too, at once, without hanging.
            for w in works:
                try:
                    w.wait()
                except Exception:  # noqa: BLE001
                    pass
            break
    assert err is not None, "no failure"
    print("ERROR cls=%s name=%s t=%.3f" % (type(err).__name__, weft.torch.error_name(err), t_err), flush=True)
    print("DETAIL %s" % str(err).splitlines()[0], flush=True)
    assert isinstance(err, dist.DistBackendError), type(err)
    assert weft.torch.is_membership_error(err), err
    t0 = time.time()
    try:
        dist.all_reduce(torch.ones(3))
        raise AssertionError("the revoked epoch accepted an allreduce")
    except dist.DistBackendError as e:
        assert "WEFT_ERR_REVOKED" in str(e) or "WEFT_ERR_PEER_LOST" in str(e), e
    assert time.time() - t0 < 5.0
    info = weft.torch.recover(c)
    assert (info.old_size, info.new_size, info.left) == (n, n - 1, (victim,)), info
    try:
        dist.all_reduce(torch.ones(3))
        raise AssertionError("a group of the old epoch accepted work")
    except dist.DistBackendError as e:
        assert "epoch" in str(e), e
    dist.destroy_process_group()
    weft.torch.init_process_group(c)
    assert (dist.get_rank(), dist.get_world_size()) == (c.rank, n - 1)
    y = torch.full((7,), float(c.rank + 1))
    dist.all_reduce(y)
    assert (y == sum(range(1, n))).all(), y
    print("RECOVER old_epoch=%d new_epoch=%d left=%s" % (info.old_epoch, info.new_epoch, list(info.left)), flush=True)
    print("ok kill", flush=True)
    dist.destroy_process_group()


def case_ddp(steps="30"):
    """The same model trained with DDP on weft and on gloo, same seed, same data: the losses and
    the final parameters must agree within float tolerance (only summation order differs)."""
    from torch.nn.parallel import DistributedDataParallel as DDP
    steps = int(steps)
    dist.init_process_group("weft")
    gloo = dist.new_group(backend="gloo")
    n, me = dist.get_world_size(), dist.get_rank()

    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                                   torch.nn.ReLU(), torch.nn.Linear(64, 4))

    # Small buckets: several allreduces per step, overlapping backward.
    mw, mg = DDP(model(), bucket_cap_mb=0.01), DDP(model(), process_group=gloo, bucket_cap_mb=0.01)
    ow, og = (torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (mw, mg))
    g = torch.Generator().manual_seed(42)
    ex = torch.randn(64, 32, generator=torch.Generator().manual_seed(7))
    ey = ex[:, :4].clone()

    def eval_loss():
        with torch.no_grad():
            return float(torch.nn.functional.mse_loss(mw.module(ex), ey))
    first = eval_loss()
    max_loss_diff = 0.0
    for step in range(steps):
        x = torch.randn(8 * n, 32, generator=g)
        y = torch.randn(8 * n, 4, generator=g) + x[:, :4]
        xs, ys = x[me::n], y[me::n]
        losses = []
        for m, o in ((mw, ow), (mg, og)):
            o.zero_grad()
            loss = torch.nn.functional.mse_loss(m(xs), ys)
            loss.backward()
            o.step()
            losses.append(float(loss.detach()))
        max_loss_diff = max(max_loss_diff, abs(losses[0] - losses[1]))
    last = eval_loss()
    diffs = [float((a - b).abs().max()) for a, b in zip(mw.module.parameters(), mg.module.parameters())]
    for a, b in zip(mw.module.parameters(), mg.module.parameters()):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), float((a - b).abs().max())
    assert last < 0.8 * first, (first, last)
    # Every rank holds the same weft-trained parameters.
    flat = torch.cat([p.detach().reshape(-1) for p in mw.module.parameters()])
    allp = torch.empty(n * flat.numel())
    dist.all_gather_into_tensor(allp, flat)
    assert all(torch.equal(c, flat) for c in allp.chunk(n)), "ranks disagree"
    print("ok ddp steps=%d first_eval=%.5f last_eval=%.5f max_param_diff=%.3g max_loss_diff=%.3g" % (
        steps, first, last, max(diffs), max_loss_diff), flush=True)
    dist.destroy_process_group()


def case_fsdp(steps="10"):
    """FSDP2 (fully_shard: all_gather_into_tensor + reduce_scatter_tensor on weft) trains like a
    single process on the whole batch: each rank takes an equal shard and FSDP averages."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    steps = int(steps)
    dist.init_process_group("weft")
    n, me = dist.get_world_size(), dist.get_rank()

    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    sharded, local = model(), model()
    mesh = init_device_mesh("cpu", (n,))
    for layer in sharded:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(sharded, mesh=mesh)
    os_, ol = torch.optim.SGD(sharded.parameters(), lr=0.1), torch.optim.SGD(local.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(3)
    for step in range(steps):
        x = torch.randn(4 * n, 16, generator=g)
        y = x[:, :4] * 2
        for m, o, xs, ys in ((sharded, os_, x[me::n], y[me::n]), (local, ol, x, y)):
            o.zero_grad()
            torch.nn.functional.mse_loss(m(xs), ys).backward()
            o.step()
    worst = 0.0
    for ps, pl in zip(sharded.parameters(), local.parameters()):
        full = ps.full_tensor()  # DTensor -> the whole parameter (an all_gather on weft)
        worst = max(worst, float((full - pl).detach().abs().max()))
        assert torch.allclose(full, pl, rtol=1e-4, atol=1e-5), float((full - pl).abs().max())
    print("ok fsdp steps=%d max_param_diff=%.3g" % (steps, worst), flush=True)
    dist.destroy_process_group()


def case_torchrun():
    """Under torchrun: plain init_process_group("weft"); rank 0 started the coordinator."""
    dist.init_process_group("weft")
    n, me = dist.get_world_size(), dist.get_rank()
    t = torch.full((10,), float(me + 1))
    dist.all_reduce(t)
    assert (t == n * (n + 1) / 2).all(), t
    out = torch.empty(n, dtype=torch.int64)
    dist.all_gather_into_tensor(out, torch.tensor([me]))
    assert out.tolist() == list(range(n)), out
    # One write per line: torchrun's ranks share one stdout, and print's separate write of the
    # newline let two ranks' lines run together.
    sys.stdout.write("TORCHRUN rank=%d size=%d ok\n" % (me, n))
    sys.stdout.flush()
    dist.destroy_process_group()


def case_init(init_method, rank, size, timeout_s, rounds):
    """Without weftrun: init_process_group("weft", init_method=..., rank=, world_size=) meets
    through torch's store, `rounds` times in one process (destroy, then init again; "{round}"
    in init_method is replaced by the round's number, as a file:// store needs a fresh file).
    init_method "store:HOST:PORT" hands one TCPStore (rank 0 hosts it) to every round instead."""
    from datetime import timedelta
    rank, n, timeout = int(rank), int(size), timedelta(seconds=float(timeout_s))
    store = None
    if init_method.startswith("store:"):
        host, port = init_method[len("store:"):].rsplit(":", 1)
        store = dist.TCPStore(host, int(port), n, rank == 0, timeout=timeout)
    for rnd in range(int(rounds)):
        if store is not None:
            dist.init_process_group("weft", store=store, rank=rank, world_size=n, timeout=timeout)
        else:
            dist.init_process_group("weft", init_method=init_method.replace("{round}", str(rnd)), rank=rank,
                                    world_size=n, timeout=timeout)
        assert dist.get_backend() == "weft" and dist.get_rank() == rank and dist.get_world_size() == n
        t = torch.full((7,), float(rank + 1 + rnd))
        dist.all_reduce(t)
        assert (t == n * (n + 1) / 2 + n * rnd).all(), t
        b = torch.arange(5, dtype=torch.int64) * (rank + 1)
        dist.broadcast(b, src=n - 1)
        assert b.tolist() == [i * n for i in range(5)], b
        print("[%d] INIT round=%d size=%d comm_rank=%d ok" % (rank, rnd, n, weft.torch.comm().rank), flush=True)
        dist.destroy_process_group()
    print("[%d] ok init" % rank, flush=True)


def case_groups():
    """new_group on weft (a weft communicator of its own, made with weft_comm_create_group): the
    collectives torch users expect — all_to_all_single (equal and uneven splits), all_to_all,
    uneven all_gather and reduce_scatter, gather, scatter — on a sub-group without rank 0 and on
    the world, each against an exact local reference and against gloo on the same ranks; then
    DDP and FSDP2 trained on the sub-group agree with gloo / a single process."""
    from torch.nn.parallel import DistributedDataParallel as DDP
    dist.init_process_group("weft")
    n, me = dist.get_world_size(), dist.get_rank()
    members = list(range(1, n))
    sub = dist.new_group(members)              # weft: every rank calls it, members build it
    sub_gloo = dist.new_group(members, backend="gloo")
    world_gloo = dist.new_group(backend="gloo")
    evens = dist.new_group(list(range(0, n, 2)))  # overlapping the sub-group
    checked = 0

    def compare(fn, group, gloo_group, what):
        nonlocal checked
        got = fn(group)
        want = fn(gloo_group)
        for a, b in zip(got, want):
            assert torch.equal(a, b), "%s: weft %s, gloo %s" % (what, a, b)
        checked += 1
        return got

    def collectives(group, gloo_group, ranks):
        k, r = len(ranks), ranks.index(me)
        # all_to_all_single, equal blocks of 3 rows of 2 elements: block j of rank r is r*100+j.
        def a2a_equal(g):
            x = torch.cat([torch.full((3, 2), float(r * 100 + j)) for j in range(k)])
            out = torch.empty_like(x)
            dist.all_to_all_single(out, x, group=g)
            return [out]
        out = compare(a2a_equal, group, gloo_group, "all_to_all_single")[0]
        assert all(torch.equal(out[3 * j:3 * j + 3], torch.full((3, 2), float(j * 100 + r))) for j in range(k))
        # uneven splits: rank r sends j+1 rows to rank j, so it receives r+1 rows from each.
        def a2a_uneven(g):
            x = torch.cat([torch.full((j + 1, 2), float(r * 100 + j)) for j in range(k)])
            out = torch.empty(k * (r + 1), 2)
            dist.all_to_all_single(out, x, output_split_sizes=[r + 1] * k, input_split_sizes=[j + 1 for j in range(k)],
                                   group=g)
            return [out]
        out = compare(a2a_uneven, group, gloo_group, "all_to_all_single uneven")[0]
        assert torch.equal(out, torch.cat([torch.full((r + 1, 2), float(j * 100 + r)) for j in range(k)]))
        def a2a_list(g):
            ins = [torch.arange(j + 2, dtype=torch.int64) + 1000 * r for j in range(k)]
            outs = [torch.empty(r + 2, dtype=torch.int64) for _ in range(k)]
            dist.all_to_all(outs, ins, group=g)
            return outs
        outs = a2a_list(group)  # sizes differ per peer: gloo refuses that, so the reference only
        assert all(torch.equal(outs[j], torch.arange(r + 2, dtype=torch.int64) + 1000 * j) for j in range(k))
        # uneven all_gather: rank j contributes j+1 elements.
        def ag_uneven(g):
            outs = [torch.empty(j + 1) for j in range(k)]
            dist.all_gather(outs, torch.full((r + 1,), float(r + 1)), group=g)
            return outs
        outs = ag_uneven(group)  # gloo refuses uneven all_gather: the reference only
        assert all(torch.equal(outs[j], torch.full((j + 1,), float(j + 1))) for j in range(k))
        # uneven reduce_scatter: block j has j+1 elements (gloo has no reduce_scatter: reference only).
        ins = [torch.full((j + 1,), float(r + 1)) for j in range(k)]
        out = torch.empty(r + 1)
        dist.reduce_scatter(out, ins, group=group)
        assert torch.equal(out, torch.full((r + 1,), float(k * (k + 1) // 2))), out
        # gather and scatter from every root.
        for root in range(k):
            def gath(g, root=root):
                x = torch.full((4,), float(r * 10))
                outs = [torch.empty(4) for _ in range(k)] if r == root else None
                dist.gather(x, outs, dst=ranks[root], group=g)
                return outs if r == root else [x]
            outs = compare(gath, group, gloo_group, "gather")
            if r == root:
                assert all(torch.equal(outs[j], torch.full((4,), float(j * 10))) for j in range(k))
            def scat(g, root=root):
                out = torch.empty(5)
                ins = [torch.full((5,), float(j + root)) for j in range(k)] if r == root else None
                dist.scatter(out, ins, src=ranks[root], group=g)
                return [out]
            out = compare(scat, group, gloo_group, "scatter")[0]
            assert torch.equal(out, torch.full((5,), float(r + root)))
        t = torch.full((7,), float(me))
        dist.all_reduce(t, group=group)
        assert torch.equal(t, torch.full((7,), float(sum(ranks))))

    collectives(None, world_gloo, list(range(n)))
    if me in members:
        collectives(sub, sub_gloo, members)
    if me % 2 == 0:
        t = torch.ones(3)
        dist.all_reduce(t, group=evens)
        assert torch.equal(t, torch.full((3,), float(len(range(0, n, 2)))))

    # DDP on the sub-group, against gloo on the same ranks.
    if me in members:
        def model():
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
        mw = DDP(model(), process_group=sub, bucket_cap_mb=0.001)
        mg = DDP(model(), process_group=sub_gloo, bucket_cap_mb=0.001)
        ow, og = (torch.optim.SGD(m.parameters(), lr=0.05) for m in (mw, mg))
        g = torch.Generator().manual_seed(1)
        k, r = len(members), members.index(me)
        for step in range(10):
            x = torch.randn(4 * k, 8, generator=g)
            y = x[:, :2] * 3
            for m, o in ((mw, ow), (mg, og)):
                o.zero_grad()
                torch.nn.functional.mse_loss(m(x[r::k]), y[r::k]).backward()
                o.step()
        for a, b in zip(mw.module.parameters(), mg.module.parameters()):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), float((a - b).abs().max())
        checked += 1
    # FSDP2 on the sub-group: trains like one process on the whole batch.
    if me in members:
        from torch.distributed.device_mesh import DeviceMesh
        from torch.distributed.fsdp import fully_shard
        mesh = DeviceMesh.from_group(sub, "cpu")
        def small():
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
        sharded, local = small(), small()
        fully_shard(sharded, mesh=mesh)
        os_, ol = torch.optim.SGD(sharded.parameters(), lr=0.1), torch.optim.SGD(local.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(2)
        k, r = len(members), members.index(me)
        for step in range(5):
            x = torch.randn(4 * k, 8, generator=g)
            y = x[:, :2] * 2
            for m, o, xs, ys in ((sharded, os_, x[r::k], y[r::k]), (local, ol, x, y)):
                o.zero_grad()
                torch.nn.functional.mse_loss(m(xs), ys).backward()
                o.step()
        for ps, pl in zip(sharded.parameters(), local.parameters()):
            full = ps.full_tensor()
            assert torch.allclose(full, pl, rtol=1e-4, atol=1e-5), float((full - pl).detach().abs().max())
        checked += 1
    dist.barrier()
    print("ok groups checked=%d" % checked, flush=True)
    dist.destroy_process_group()


CASES = {"init": case_init, "ops": case_ops, "errors": case_errors, "kill": case_kill, "ddp": case_ddp, "fsdp": case_fsdp,
         "torchrun": case_torchrun, "groups": case_groups}

if __name__ == "__main__":
    torch.set_num_threads(1)
    CASES[sys.argv[1]](*sys.argv[2:])
