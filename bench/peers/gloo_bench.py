#!/usr/bin/env python3
"""gloo-bench: weft-bench's method applied to Gloo (torch.distributed's gloo backend over TCP).

    bench/peers/gloo_bench.py --ranks 4 -c allreduce -b 8 -e 64M -f 2 --json out.json

The script starts --ranks worker processes of itself on this machine (subprocess, rendezvous
through init_method tcp://127.0.0.1:PORT, Gloo bound to the loopback interface) and waits for
them. Each worker follows weft-bench's method (bench/weft-bench.c): for each collective and size,
fill the input, run the warm-up iterations, barrier, time the measured iterations back to back,
take the slowest rank's average (an all_reduce MAX), then check one iteration on fresh inputs.
Sizes, geometry (count per rank for allgather and reduce_scatter) and bus-bandwidth factors are
weft-bench's (bench/colls.c); the JSON file has weft-bench's schema (bench/report.c) with
"tool": "gloo-bench" and "label": "gloo-tcp".

Differences that the comparison has to live with, recorded here rather than hidden:
  - all_reduce, broadcast and reduce run in place (torch.distributed has no out-of-place form);
    weft-bench and mpi-bench run out of place.
  - each worker runs with torch.set_num_threads(1): the machine's cores are shared by all ranks,
    as they are for weft and MPICH.
  - a collective the gloo backend does not implement (reduce_scatter in many torch versions) is
    reported on stderr and left out of the results: never estimated.
Known inputs: rank r contributes r+1 in every element (sum, min and max are exact in every
dtype; prod and avg are not checked). Exit status: 0 on success, 1 on a wrong element or a
failure, 2 on a usage error, 3 when torch (or its gloo backend) is not available.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench/
from weft_version import add_version_argument  # noqa: E402

COLLS = ["allreduce", "allgather", "reduce_scatter", "broadcast", "reduce"]
DTYPES = {"int8": "int8", "uint8": "uint8", "int32": "int32", "int64": "int64",
          "float16": "float16", "bfloat16": "bfloat16", "float32": "float32",
          "float64": "float64", "float": "float32", "double": "float64", "half": "float16",
          "bf16": "bfloat16", "int": "int32"}


def parse_size(s):
    t = s.strip()
    mult = 1
    for suf in ("iB", "B", "b"):
        if t.endswith(suf) and len(t) > len(suf):
            t = t[: -len(suf)]
            break
    if t and t[-1] in "kKmMgG":
        mult = 1 << {"k": 10, "m": 20, "g": 30}[t[-1].lower()]
        t = t[:-1]
    if not t.isdigit():
        raise argparse.ArgumentTypeError("bad size '%s'" % s)
    return int(t) * mult


def sweep(lo, hi, factor):
    sizes, b = [], lo
    while b <= hi:
        sizes.append(b)
        nxt = b * factor if b else 1
        if nxt <= b:
            break
        b = nxt
    return sizes


def busbw_factor(coll, n):
    if coll == "allreduce":
        return 2.0 * (n - 1) / n
    if coll in ("allgather", "reduce_scatter"):
        return (n - 1) / n
    return 1.0


def shape(coll, nbytes, esize, n):
    count = nbytes // esize
    if coll in ("allgather", "reduce_scatter"):
        return count // n, count // n * n * esize
    return count, count * esize


def parse_args(argv):
    p = argparse.ArgumentParser(description="Gloo (torch.distributed) peer of weft-bench")
    p.add_argument("--ranks", "-N", type=int, default=2, help="world size (processes started here)")
    p.add_argument("-c", "--collective", default="allreduce",
                   help="comma-separated: " + "|".join(COLLS) + "|all")
    p.add_argument("-b", "--minbytes", type=parse_size, default=8)
    p.add_argument("-e", "--maxbytes", type=parse_size, default=256 << 20)
    p.add_argument("-f", "--stepfactor", type=int, default=2)
    p.add_argument("-d", "--datatype", default="float32", choices=sorted(DTYPES))
    p.add_argument("-o", "--op", default="sum", choices=["sum", "prod", "min", "max", "avg"])
    p.add_argument("-r", "--root", type=int, default=0)
    p.add_argument("-w", "--warmup_iters", type=int, default=5)
    p.add_argument("-n", "--iters", type=int, default=20)
    p.add_argument("--check", type=int, choices=[0, 1], default=1)
    p.add_argument("--json", default=None, help="rank 0 writes weft-bench's JSON schema here")
    p.add_argument("--label", default="gloo-tcp")
    p.add_argument("--timeout", type=float, default=600, help="seconds before the job is killed")
    p.add_argument("-q", "--quiet", action="store_true")
    add_version_argument(p)
    a = p.parse_args(argv)
    colls = []
    for c in a.collective.split(","):
        if c == "all":
            colls = list(COLLS)
        elif c in COLLS:
            colls.append(c)
        else:
            p.error("unknown or unsupported collective '%s'" % c)
    a.colls = [c for c in COLLS if c in colls]
    if a.stepfactor < 2 or a.minbytes > a.maxbytes or a.ranks < 1 or a.iters < 1:
        p.error("bad sweep, rank count or iteration count")
    if a.root >= a.ranks:
        p.error("root %d is not a rank of this %d-rank job" % (a.root, a.ranks))
    return a


# ---- worker ------------------------------------------------------------------------------------

def worker(a, rank, port):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                            world_size=a.ranks)
    n = a.ranks
    dt = getattr(torch, DTYPES[a.datatype])
    esize = torch.tensor([], dtype=dt).element_size()
    ops = {"sum": dist.ReduceOp.SUM, "prod": dist.ReduceOp.PRODUCT, "min": dist.ReduceOp.MIN,
           "max": dist.ReduceOp.MAX, "avg": getattr(dist.ReduceOp, "AVG", None)}
    op = ops[a.op]
    maxcount = max(1, a.maxbytes // esize)
    send = torch.empty(maxcount, dtype=dt)
    recv = torch.empty(maxcount, dtype=dt)
    expected_red = {"sum": n * (n + 1) / 2, "min": 1, "max": n}.get(a.op)

    def call(coll, count):
        s, r = send[: count * (n if coll == "reduce_scatter" else 1)], recv[: count * (n if coll == "allgather" else 1)]
        if coll == "allreduce":
            dist.all_reduce(r, op=op)
        elif coll == "allgather":
            (getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor)(r, s)
        elif coll == "reduce_scatter":
            (getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor)(r, s, op=op)
        elif coll == "broadcast":
            dist.broadcast(r, src=a.root)
        elif coll == "reduce":
            dist.reduce(r, dst=a.root, op=op)

    def prepare(coll, count):
        send[: count * (n if coll == "reduce_scatter" else 1)].fill_(rank + 1)
        if coll in ("allreduce", "broadcast", "reduce"):
            recv[:count].fill_(rank + 1)  # in place: the input lives in recv
        else:
            recv[: count * (n if coll == "allgather" else 1)].fill_(0)  # output only

    def wrong_count(coll, count):
        if coll == "allgather":
            want = torch.arange(1, n + 1, dtype=torch.float64).repeat_interleave(count)
            return int((recv[: count * n].double() != want).sum())
        if coll == "broadcast":
            return int((recv[:count].double() != a.root + 1).sum())
        if expected_red is None:
            return None
        if coll == "reduce" and rank != a.root:
            return 0
        return int((recv[:count].double() != expected_red).sum())

    results, status = [], 0
    tmax = torch.zeros(1, dtype=torch.float64)
    for coll in a.colls:
        if rank == 0 and not a.quiet:
            print("#\n# Collective: %s\n#%11s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s" % (
                coll, "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong"),
                flush=True)
        sizes = sweep(a.minbytes, a.maxbytes, a.stepfactor)
        for i, nbytes in enumerate(sizes):
            count, total = shape(coll, nbytes, esize, n)
            prepare(coll, count)
            try:
                for _ in range(a.warmup_iters):
                    call(coll, count)
            except (RuntimeError, ValueError) as e:  # not implemented by this backend
                if rank == 0:
                    sys.stderr.write("gloo-bench: %s not available in torch %s's gloo backend: %s\n"
                                     % (coll, torch.__version__, str(e).splitlines()[0][:200]))
                break
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(a.iters):
                call(coll, count)
            tmax[0] = (time.perf_counter() - t0) * 1e6 / a.iters
            dist.all_reduce(tmax, op=dist.ReduceOp.MAX)
            us = float(tmax[0])
            wrong = None
            if a.check:
                prepare(coll, count)
                call(coll, count)
                w = wrong_count(coll, count)
                flags = torch.tensor([0 if w is None else w, 1 if w is None else 0], dtype=torch.int64)
                dist.all_reduce(flags, op=dist.ReduceOp.SUM)
                wrong = None if int(flags[1]) else int(flags[0])
            algbw = total / 1e3 / us if us > 0 else float("nan")
            row = {"collective": coll, "bytes": total, "count": count, "time_us": round(us, 3),
                   "algbw": round(algbw, 6), "busbw": round(algbw * busbw_factor(coll, n), 6),
                   "wrong": wrong}
            results.append(row)
            if wrong:
                status = 1
            if rank == 0:
                reduces, rooted = coll in ("allreduce", "reduce_scatter", "reduce"), coll in ("broadcast", "reduce")
                if not a.quiet:
                    print("%12d  %12d  %8s  %6s  %6d  %7.2f  %6.2f  %6.2f  %6s" % (
                        total, count, a.datatype, a.op if reduces else "none", a.root if rooted else -1,
                        us, row["algbw"], row["busbw"], "N/A" if wrong is None else wrong), flush=True)
                    sys.stderr.write("gloo-bench: %s %d B: %.2f us, busbw %.3f GB/s (%d/%d)\n"
                                     % (coll, total, us, row["busbw"], i + 1, len(sizes)))
    if rank == 0 and a.json:
        doc = {"tool": "gloo-bench", "version": "torch %s gloo" % torch.__version__, "label": a.label,
               "ranks": n, "collective": ",".join(a.colls), "dtype": DTYPES[a.datatype], "op": a.op,
               "root": a.root, "algo": "gloo", "nonblocking": False, "warmup_iters": a.warmup_iters,
               "iters": a.iters, "check": bool(a.check), "timestamp": int(time.time()),
               "env": {k: os.environ[k] for k in ("GLOO_SOCKET_IFNAME", "OMP_NUM_THREADS") if k in os.environ},
               "results": results,
               "host": {"cores": os.cpu_count(), "hostname": socket.gethostname()}}
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    dist.destroy_process_group()
    return status


# ---- launcher ----------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv):
    a = parse_args(argv)
    if "GLOO_BENCH_RANK" in os.environ:
        return worker(a, int(os.environ["GLOO_BENCH_RANK"]), int(os.environ["GLOO_BENCH_PORT"]))
    try:
        import torch  # noqa: F401
        import torch.distributed as dist
        if not dist.is_available() or not dist.is_gloo_available():
            raise ImportError("torch.distributed has no gloo backend")
    except ImportError as e:
        sys.stderr.write("gloo-bench: not available: %s\n" % e)
        return 3
    port = free_port()
    env = dict(os.environ, GLOO_BENCH_PORT=str(port), GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__)] + argv,
                              env=dict(env, GLOO_BENCH_RANK=str(r)),
                              stdout=None if r == 0 else subprocess.DEVNULL)
             for r in range(a.ranks)]
    deadline, status = time.time() + a.timeout, 0
    for p in procs:
        try:
            rc = p.wait(timeout=max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            sys.stderr.write("gloo-bench: timed out after %.0f s\n" % a.timeout)
            rc = 124
        if rc != 0:
            status = status or (1 if rc != 124 else 124)
            for q in procs:
                if q.poll() is None:
                    q.kill()
    for p in procs:
        p.wait()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
