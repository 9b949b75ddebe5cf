#!/usr/bin/env python3
"""The cost of WEFT_ENCRYPT=1, measured side by side: the same build, WEFT_ENCRYPT=0 and 1
interleaved run by run (so load that comes and goes hits both alike), allreduce at a few sizes,
each run a fresh weftrun job of weft-bench. Prints per size the median time of each setting
(with its range), their ratio and the busbw; --json keeps every run.

    bench/encrypt_cost.py [--build build] [-n 2] [--repeat 7] [--sizes 8,64K,4M] [--json out.json]

Iterations per run scale with the size (latency sizes need many, bandwidth sizes few)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1].upper()] if s[-1].upper() in mult else int(s)


def iters_for(nbytes):
    """(timed, warm-up) iterations: about the same wall time per run at every size."""
    if nbytes <= 4096:
        return 3000, 3000
    if nbytes <= 256 * 1024:
        return 500, 200
    return 40, 5


def one_run(a, size, enc, tmp):
    out = os.path.join(tmp, "r.json")
    n, w = iters_for(parse_size(size))
    cmd = [os.path.join(a.build, "tools", "weftrun"), "-n", str(a.ranks), "--timeout", "300",
           os.path.join(a.build, "bench", "weft-bench"), "-c", "allreduce", "-b", size, "-e", size,
           "-n", str(n), "-w", str(w), "-q", "--json", out]
    env = dict(os.environ, WEFT_ENCRYPT=str(enc))
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=330)
    if p.returncode != 0:
        sys.exit("run failed (WEFT_ENCRYPT=%d, %s):\n%s" % (enc, size, p.stdout + p.stderr))
    r = json.load(open(out))["results"][0]
    if r["wrong"]:
        sys.exit("wrong elements (WEFT_ENCRYPT=%d, %s)" % (enc, size))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("WEFT_BUILD", "build"))
    ap.add_argument("-n", "--ranks", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--sizes", default="8,64K,4M")
    ap.add_argument("--json")
    a = ap.parse_args()
    sizes = a.sizes.split(",")
    runs = {(s, e): [] for s in sizes for e in (0, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.repeat):
            for s in sizes:
                for e in (0, 1):
                    runs[(s, e)].append(one_run(a, s, e, tmp))
    print("# allreduce, %d ranks, %d interleaved runs per setting, load average %.2f at the end"
          % (a.ranks, a.repeat, os.getloadavg()[0]))
    print("| size | WEFT_ENCRYPT=0 us (range) | WEFT_ENCRYPT=1 us (range) | x (1/0) | busbw GB/s 0 / 1 |")
    print("|---|---|---|---|---|")
    for s in sizes:
        t0 = [r["time_us"] for r in runs[(s, 0)]]
        t1 = [r["time_us"] for r in runs[(s, 1)]]
        b0 = statistics.median(r["busbw"] for r in runs[(s, 0)])
        b1 = statistics.median(r["busbw"] for r in runs[(s, 1)])
        m0, m1 = statistics.median(t0), statistics.median(t1)
        print("| %s | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) | %.2f | %.3f / %.3f |"
              % (s, m0, min(t0), max(t0), m1, min(t1), max(t1), m1 / m0, b0, b1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"%s/%d" % k: v for k, v in runs.items()}, f, indent=1)


main()
