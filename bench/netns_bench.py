#!/usr/bin/env python3
"""bench/netns_bench.py: weft-bench across test hosts (network namespaces), beside the same job on
one host, and the single-stream TCP limit of the link between the hosts (issue #3).

    sudo bench/netns_bench.py --build build -n 2,4 -c allreduce,allgather,broadcast -b 8 -e 64M \\
        --out netns_bench.json

Creates two test hosts — network namespaces whose eth0 is one end of a veth pair, the other end
on a bridge in the root namespace, where weftrun's coordinator listens — and for each rank count
runs, interleaved:

  2hosts  weftrun -n N --hosts netns:A,netns:B --bind BRIDGE_ADDR weft-bench ...  (ranks round
          robin over the hosts: every ring neighbour is on the other host, all traffic crosses
          veth -> bridge -> veth)
  1host   weftrun -n N weft-bench ...  (the same job in the root namespace, over loopback)

It also measures, with a Python sender and receiver (send() from one buffer, recv_into() another,
4 MiB at a time, best of 3 passes of 1 s), one TCP stream from host A to host B across the veth
pair and the bridge, and one over loopback, before and after the benchmarks (the load of a shared
machine moves them), so the table shows how far each run is from the link.
Prints one table per collective and writes everything (weft-bench's JSON for every run, the TCP
limits, load averages before and after each run, cores) to --out. Tears the hosts down on exit,
also on failure or Ctrl-C. Needs root; exit status 0 when every run passed its check, 1 when one
failed, 2 on a usage error, 77 when it cannot create namespaces.
"""
import argparse, json, os, signal, socket, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "common"))
from testnet import TestNet  # noqa: E402
from weft_version import add_version_argument  # noqa: E402 (bench/, next to this script)

HOSTS = 2
MTU = 1500                                     # --mtu
NETW = TestNet("wb", 79, HOSTS)               # namespaces wb<tag>h0..1 on 10.79.x.0/24
PREFIX, NET, GW = NETW.prefix, NETW.net, NETW.gw
setup, teardown = NETW.setup, NETW.teardown


def log(msg):
    sys.stderr.write(f"netns_bench: {msg}\n")
    sys.stderr.flush()


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


# ---- single-stream TCP: this script runs itself as sender and receiver inside the hosts --------

CHUNK = 4 << 20


def tcp_recv(port, ready_fd):
    """Accept one stream, print bytes/s received until the sender closes."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    os.write(ready_fd, b"r")
    c, _ = ls.accept()
    buf = memoryview(bytearray(CHUNK))
    total, t0 = 0, time.perf_counter()
    while (n := c.recv_into(buf)):
        total += n
    print(total / (time.perf_counter() - t0) / 1e9)


def tcp_send(addr, port, seconds):
    c = socket.create_connection((addr, port))
    buf = memoryview(bytearray(CHUNK))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        c.sendall(buf)
    c.close()


def tcp_gbps(recv_ns, send_ns, addr, passes=3, seconds=1.0):
    """Best of `passes` single-stream runs from send_ns to addr (in recv_ns); None = root ns."""
    best = 0.0
    for i in range(passes):
        port = 5201 + i
        r, w = os.pipe()
        pre = lambda ns: ["ip", "netns", "exec", ns] if ns else []
        rx = subprocess.Popen(pre(recv_ns) + [sys.executable, __file__, "--tcp-recv", str(port), str(w)],
                              stdout=subprocess.PIPE, text=True, pass_fds=(w,))
        os.close(w)
        os.read(r, 1)
        os.close(r)
        subprocess.run(pre(send_ns) + [sys.executable, __file__, "--tcp-send", addr, str(port), str(seconds)],
                       check=True, timeout=seconds + 30)
        out, _ = rx.communicate(timeout=30)
        best = max(best, float(out))
    return best


def measure_limits(when):
    lim = {"veth_gbps": tcp_gbps(f"{PREFIX}1", f"{PREFIX}0", f"{NET}.12"),
           "loopback_gbps": tcp_gbps(None, None, "127.0.0.1"), "load": loadavg()}
    log(f"single-stream TCP {when} the runs: veth+bridge {lim['veth_gbps']:.2f} GB/s, loopback "
        f"{lim['loopback_gbps']:.2f} GB/s (load {lim['load']})")
    return lim


# ---- weft-bench runs ----------------------------------------------------------------------------

def run_bench(a, placement, ranks, rep):
    path = os.path.join(a.rawdir, f"{placement}-n{ranks}-r{rep}.json")
    if os.path.exists(path):
        os.unlink(path)
    cmd = [a.weftrun, "-n", str(ranks), "--timeout", str(a.timeout)]
    if placement == "2hosts":
        cmd += ["--hosts", ",".join(f"netns:{PREFIX}{k}" for k in range(HOSTS)), "--bind", GW]
    cmd += [a.weft_bench, "-c", a.collective, "-b", a.minbytes, "-e", a.maxbytes, "-f", str(a.stepfactor),
            "-w", str(a.warmup), "-n", str(a.iters), "-q", "--json", path]
    before, t0 = loadavg(), time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=a.timeout + 60)
        rc, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        rc, out = "timeout", ""
    run = {"placement": placement, "ranks": ranks, "repeat": rep, "command": " ".join(cmd), "exit": rc,
           "seconds": round(time.time() - t0, 1), "load_before": before, "load_after": loadavg()}
    log(f"{placement} n={ranks} rep {rep}: exit {rc}, {run['seconds']} s, load {before} -> {run['load_after']}")
    if rc != 0 or not os.path.exists(path):
        run["output_tail"] = out[-3000:]
        log(f"FAILED: {' '.join(cmd)}\n{out[-3000:]}")
        return run
    with open(path) as f:
        run["doc"] = json.load(f)
    return run


def table(runs, ranks_list, colls, limits):
    """Markdown: per collective, size rows; 1 host and 2 hosts side by side for each rank count."""
    med = {}
    for r in runs:
        for row in r.get("doc", {}).get("results", []):
            med.setdefault((r["placement"], r["ranks"], row["collective"], row["bytes"]), []).append(row)
    lines = []
    for coll in colls:
        sizes = sorted({k[3] for k in med if k[2] == coll})
        if not sizes:
            continue
        hdr = "| size |" + "".join(f" {n}r 1 host us | busbw | {n}r 2 hosts us | busbw | 2h/1h |" for n in ranks_list)
        lines += [f"\n{coll} (time in us, busbw in GB/s; single-stream TCP: veth {limits['veth_gbps']:.2f} GB/s, "
                  f"loopback {limits['loopback_gbps']:.2f} GB/s)\n", hdr,
                  "|---:|" + "---:|" * (5 * len(ranks_list))]
        for b in sizes:
            cells = [human(b)]
            for n in ranks_list:
                got = {}
                for pl in ("1host", "2hosts"):
                    rows = med.get((pl, n, coll, b), [])
                    got[pl] = (statistics.median(x["time_us"] for x in rows),
                               statistics.median(x["busbw"] for x in rows)) if rows else None
                for pl in ("1host", "2hosts"):
                    cells += [f"{got[pl][0]:.1f}", f"{got[pl][1]:.3f}"] if got[pl] else ["-", "-"]
                ok = got["1host"] and got["2hosts"] and got["1host"][1] > 0
                cells.append(f"{got['2hosts'][1] / got['1host'][1]:.2f}" if ok else "-")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def human(b):
    for unit, s in ((1 << 20, "M"), (1 << 10, "K")):
        if b >= unit and b % unit == 0:
            return f"{b // unit}{s}"
    return str(b)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--tcp-recv":
        tcp_recv(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--tcp-send":
        tcp_send(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("WEFT_BUILD", os.path.join(REPO, "build")))
    ap.add_argument("-n", "--ranks", default="2,4")
    ap.add_argument("-c", "--collective", default="allreduce,allgather,broadcast")
    ap.add_argument("-b", "--minbytes", default="8")
    ap.add_argument("-e", "--maxbytes", default="64M")
    ap.add_argument("-f", "--stepfactor", type=int, default=2)
    ap.add_argument("-w", "--warmup", type=int, default=5)
    ap.add_argument("-i", "--iters", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=1, help="interleaved repetitions; the table shows medians")
    ap.add_argument("--timeout", type=int, default=300, help="bound on each weft-bench job, seconds")
    ap.add_argument("--mtu", type=int, default=1500, help="MTU of the veth pairs and the bridge (loopback's is 65536)")
    ap.add_argument("--out", default="netns_bench.json")
    add_version_argument(ap)
    a = ap.parse_args()
    global MTU
    MTU = NETW.mtu = a.mtu
    a.weftrun = os.path.join(a.build, "tools", "weftrun")
    a.weft_bench = os.path.join(a.build, "bench", "weft-bench")
    if not (os.access(a.weftrun, os.X_OK) and os.access(a.weft_bench, os.X_OK)):
        log(f"no weftrun/weft-bench under {a.build} (--build DIR)")
        return 2
    ranks_list = [int(x) for x in a.ranks.split(",")]
    a.rawdir = os.path.splitext(os.path.abspath(a.out))[0] + "_raw"
    os.makedirs(a.rawdir, exist_ok=True)
    if os.geteuid() != 0:
        log("needs root (network namespaces)")
        return 77
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))   # still tear down (finally)
    try:
        try:
            setup()
        except (subprocess.CalledProcessError, OSError) as e:
            log(f"cannot create test hosts: {e}")
            return 77
        load0 = loadavg()
        before = measure_limits("before")
        runs = []
        for rep in range(a.repeat):
            for n in ranks_list:
                for placement in ("1host", "2hosts"):
                    runs.append(run_bench(a, placement, n, rep))
        after = measure_limits("after")
    finally:
        teardown()
    # The machine's load changes during a run: the limits are measured before and after the
    # benchmarks, and the table shows the larger of each pair.
    limits = {k: max(before[k], after[k]) for k in ("veth_gbps", "loopback_gbps")}
    limits.update(before_runs=before, after_runs=after)
    colls = a.collective.split(",")
    md = table(runs, ranks_list, colls, limits)
    print(md)
    doc = {"tool": "netns_bench", "command": " ".join(sys.argv), "cores": os.cpu_count(), "mtu": MTU,
           "cpu": cpu_model(), "load_start": load0, "load_end": loadavg(), "tcp_single_stream": limits,
           "runs": runs, "table_markdown": md}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    log(f"wrote {a.out} (raw weft-bench JSON in {a.rawdir})")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
