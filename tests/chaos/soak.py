#!/usr/bin/env python3
"""The chaos soak (issue #18): 8 ranks of tests/chaos/chaos_worker under `weftrun --restart`,
spread over 3 network-namespace hosts, while an injector (soak_faults.py) mixes every failure
class -- SIGKILL, SIGSTOP past and under the heartbeat timeout, hung and slow callers, rank-pair
partitions, one-way cuts, random loss, coordinator stops (and kills, with --coord-faults) --
for --minutes. Every step's result is checked exactly by the workers; a watchdog counts hangs.

Fails (exit 1) on: a hang (no step completed by any rank for --hang-s, or one live process
making no progress for --hang-s outside a fault that holds it; the stuck processes' stacks are
dumped to OUT/hang-*.txt, then the process is killed so the soak goes on), a wrong result, a
fault that had to evict and did not (MISSED), a job that did not end with all ranks done on one
model, a process of the job outliving it, a new file left in /dev/shm, or fewer than
--min-faults faults. With --strict also on an eviction nothing explains (a healthy rank evicted).
Writes OUT/summary.json, OUT/job.log (the job's output less the per-step coordinator lines) and
OUT/faults.log, and prints the table. README.md here explains the measures.

usage: soak.py [--weftrun W] [--worker CHAOS_WORKER] [--minutes M] [--seed S] [--out DIR] ...
Without root (no namespace hosts) the network classes are left out; see --help."""
import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from soak_faults import ALL_CLASSES, COORD_CLASSES, NET_CLASSES, Injector  # noqa: E402
from soak_job import SoakJob, alive, comm_of, dump_process, exe_of  # noqa: E402
from soak_report import analyse, table  # noqa: E402

DEFAULT_WEIGHTS = {"kill": 4, "stop_long": 3, "stop_short": 2, "hang": 3, "slow": 2, "partition": 1,
                   "oneway": 1, "loss": 1, "coord_stop_short": 1, "coord_stop_long": 1, "coord_kill": 1}
OFF_BY_DEFAULT = ("coord_stop_long", "coord_kill")  # until weftrun restarts the coordinator (#18 item 4)


def parse_args():
    build = os.path.join(HERE, "..", "..", "build")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weftrun", default=os.path.join(build, "tools", "weftrun"))
    ap.add_argument("--worker", default=os.path.join(build, "tests", "chaos", "chaos_worker"))
    ap.add_argument("--minutes", type=float, default=30.0, help="of fault injection (default 30)")
    ap.add_argument("--ranks", type=int, default=8)
    ap.add_argument("--hosts", type=int, default=3, help="network-namespace hosts (0: all local, no network faults)")
    ap.add_argument("--interval", type=float, default=0.3, help="mean seconds between injections (default 0.3)")
    ap.add_argument("--max-inflight", type=int, default=4, help="rank faults open at once (default 4)")
    ap.add_argument("--min-size", type=int, default=4, help="WEFT_MIN_SIZE (default 4)")
    ap.add_argument("--heartbeat-timeout", type=float, default=2.0)
    ap.add_argument("--stall-timeout", type=float, default=2.0)
    ap.add_argument("--recover-timeout", type=float, default=7.0,
                    help="WEFT_RECOVER_TIMEOUT (default 7; keep it above stall + 3 s: see README)")
    ap.add_argument("--op-timeout", type=float, default=30.0, help="WEFT_TIMEOUT (default 30)")
    ap.add_argument("--hang-s", type=float, default=40.0, help="no progress this long is a hang (default 40)")
    ap.add_argument("--sleep-ms", type=int, default=5, help="the workers' compute between steps")
    ap.add_argument("--classes", default=",".join(c for c in ALL_CLASSES if c not in OFF_BY_DEFAULT),
                    help="comma-separated classes to inject (default: all but %s)" % ",".join(OFF_BY_DEFAULT))
    ap.add_argument("--coord-faults", action="store_true", help="also " + " and ".join(OFF_BY_DEFAULT))
    ap.add_argument("--weights", default="", help="e.g. kill=5,loss=0 (defaults: %s)" % DEFAULT_WEIGHTS)
    ap.add_argument("--overlap-cuts", action="store_true",
                    help="let partitions and one-way cuts overlap rank faults (third host only)")
    ap.add_argument("--min-faults", type=int, default=0, help="fail when fewer were injected")
    ap.add_argument("--strict", action="store_true", help="an eviction no fault explains fails the soak")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", default=None, help="directory for summary.json and the logs")
    a = ap.parse_args()
    classes = [c for c in a.classes.split(",") if c]
    if a.coord_faults:
        classes += [c for c in OFF_BY_DEFAULT if c not in classes]
    for c in classes:
        if c not in ALL_CLASSES:
            ap.error("unknown class %s (known: %s)" % (c, ", ".join(ALL_CLASSES)))
    weights = {c: DEFAULT_WEIGHTS[c] for c in classes}
    for kv in filter(None, a.weights.split(",")):
        k, v = kv.split("=")
        weights[k] = float(v)
    a.weights = {c: w for c, w in weights.items() if w > 0}
    a.seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    return a


def can_use_netns():
    if os.geteuid() != 0:
        return False
    import subprocess
    return subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0


class Watchdog:
    """Once a second: is the job, or any live process of it, stuck? Hangs are dumped and the stuck
    process killed (restarted by weftrun), so one hang does not end the soak; a job-wide hang
    ends it."""

    def __init__(self, job, cfg, out):
        self.job, self.cfg, self.out = job, cfg, out
        self.hangs, self.fatal = [], threading.Event()
        self.finishing = False
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _dump(self, what, pids):
        path = os.path.join(self.out, "hang-%d.txt" % len(self.hangs))
        self.hangs.append({"t": round(time.time(), 3), "what": what, "dump": path})
        print("soak: HANG: %s (stacks in %s)" % (what, path), flush=True)
        with open(path, "w") as f:
            f.write(what + "\n")
            for pid in pids:
                dump_process(pid, f)
            with self.job.cv:
                f.write("\n==== recent verdicts ====\n%s\n" % "\n".join(map(str, self.job.verdicts[-20:])))

    def _run(self):
        while not self.stop.wait(1.0):
            now = time.time()
            stuck = []
            with self.job.cv:
                silent = now - self.job.t_any_step
                for inc in self.job.current.values():
                    if inc.ended is None and alive(inc.pid) and now > inc.frozen_until and \
                            now - inc.t_advance > self.cfg.hang_s:
                        stuck.append(inc)
                        inc.t_advance = now  # reported once per stretch
                live = [i.pid for i in self.job.current.values() if i.ended is None and alive(i.pid)]
            if silent > self.cfg.hang_s and not self.finishing:
                coord = self.job.coordinator_pid()
                self._dump("no step completed by any rank for %.0f s" % silent, live + ([coord] if coord else []))
                self.fatal.set()
                return
            for inc in stuck:
                self._dump("rank %d incarnation %d (pid %d) made no progress for %.0f s (last step %d)" %
                           (inc.rank, inc.inc, inc.pid, self.cfg.hang_s, inc.step), [inc.pid])
                try:
                    os.kill(inc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def wait(pred, timeout, job, stop=None):
    deadline = time.time() + timeout
    with job.cv:
        while not pred():
            left = deadline - time.time()
            if left <= 0 or (stop is not None and stop.is_set()):
                return False
            job.cv.wait(min(left, 0.5))
    return True


def session_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return int(stat[stat.rfind(")") + 2:].split()[3])
    except (OSError, ValueError, IndexError):
        return -1


def leftovers(job, binaries):
    """Processes of the job still there after it ended: every pid it had, and any process of its
    session (weftrun's) running one of our binaries (another soak's are not ours)."""
    time.sleep(1.0)
    found = set()
    for inc in job.incs.values():
        if alive(inc.pid):
            found.add(inc.pid)
    for d in os.listdir("/proc"):
        if d.isdigit() and exe_of(int(d)) in binaries and session_of(int(d)) == job.proc.pid and alive(int(d)):
            found.add(int(d))
    return sorted("%d %s" % (p, comm_of(p)) for p in found)


def main():
    cfg = parse_args()
    rng = random.Random(cfg.seed)
    net = None
    if cfg.hosts > 0 and can_use_netns():
        from testnet import TestNet
        net = TestNet("wc", 79, cfg.hosts)
    elif any(c in NET_CLASSES for c in cfg.weights):
        print("soak: no network namespaces (needs root and iproute2): network classes left out", flush=True)
        cfg.weights = {c: w for c, w in cfg.weights.items() if c not in NET_CLASSES}
        cfg.hosts = 0
    out = cfg.out or tempfile.mkdtemp(prefix="weft-soak-")
    os.makedirs(out, exist_ok=True)
    cfg.out = out
    cfg.ctl_dir = tempfile.mkdtemp(prefix="weft-soak-ctl-")
    shm_before = set(os.listdir("/dev/shm"))
    print("soak: seed %d, %d ranks on %s, %.1f min, classes %s, out %s" % (
        cfg.seed, cfg.ranks, "%d namespace hosts" % cfg.hosts if net else "this host", cfg.minutes,
        cfg.weights, out), flush=True)

    env = dict(os.environ, WEFT_HEARTBEAT_TIMEOUT=str(cfg.heartbeat_timeout),
               WEFT_STALL_TIMEOUT=str(cfg.stall_timeout), WEFT_RECOVER_TIMEOUT=str(cfg.recover_timeout),
               WEFT_TIMEOUT=str(cfg.op_timeout), WEFT_MIN_SIZE=str(cfg.min_size))
    argv = [cfg.weftrun, "-n", str(cfg.ranks), "--restart", "1000000", "--verbose",
            "--timeout", str(int(cfg.minutes * 60 + 900))]
    if net:
        argv += ["--hosts", net.hosts_arg(), "--bind", net.gw]
    argv += ["--", cfg.worker, cfg.ctl_dir, str(cfg.sleep_ms)]
    job = injector = dog = None
    extra, failures = {}, []
    t_begin = time.time()
    try:
        if net:
            net.setup()
        job = SoakJob(argv, env, os.path.join(out, "job.log"), cfg.ranks)
        if not wait(job.all_synced, 60, job):
            failures.append("the %d ranks did not start within 60 s" % cfg.ranks)
            raise RuntimeError
        dog = Watchdog(job, cfg, out)
        faults_log = open(os.path.join(out, "faults.log"), "w")
        injector = Injector(job, net, cfg, rng, faults_log)
        until = time.time() + cfg.minutes * 60
        th = threading.Thread(target=injector.run, args=(until,), daemon=True)
        th.start()
        next_status = time.time() + 30
        while th.is_alive():
            if dog.fatal.is_set():
                injector.stop_flag.set()
                failures.append("the job hung")
                break
            if time.time() >= next_status:
                next_status += 30
                with job.cv:
                    print("soak: +%4.0f s: %d faults (%d open), step %d, epoch %d, %d healthy, %d wrong, %d hangs" % (
                        time.time() - t_begin, len(injector.faults), len(injector.open_faults()), job.max_step,
                        job.latest_epoch, len(job.healthy()), len(job.wrong), len(dog.hangs)), flush=True)
            th.join(timeout=1.0)
        th.join(timeout=30)
        if not dog.fatal.is_set():
            injector.drain(90)
            if not wait(job.all_synced, 90, job, dog.fatal):
                failures.append("not every rank back in one epoch after the faults")
            dog.finishing = True
            extra["t_stop"] = time.time()
            open(os.path.join(cfg.ctl_dir, "stop"), "w").close()
            try:
                extra["weftrun_exit"] = job.proc.wait(timeout=120)
            except Exception:
                failures.append("the job did not end within 120 s of the stop file")
                dog._dump("the job did not end after the stop file",
                          [i.pid for i in job.current.values() if alive(i.pid)])
    except RuntimeError:
        pass
    finally:
        if dog:
            dog.stop.set()
        if injector:
            injector.stop_flag.set()
        if job:
            if job.proc.poll() is None:
                job.stop()
            job.reader.join(timeout=10)
        if net:
            net.teardown()
    binaries = {os.path.realpath(p) for p in (cfg.worker, cfg.weftrun,
                                               os.path.join(os.path.dirname(cfg.weftrun), "weft-coordinator"))}
    extra["leftover_processes"] = leftovers(job, binaries) if job else []
    extra["leftover_shm"] = sorted(set(os.listdir("/dev/shm")) - shm_before)
    extra["hangs"] = len(dog.hangs) if dog else 0
    extra["hang_details"] = dog.hangs if dog else []
    extra["minutes"] = round((time.time() - t_begin) / 60, 1)
    if job:
        done = {r: inc.done for r, inc in job.current.items() if inc.done}
        finals = {(d["step"], d["epoch"], d["size"], d["checksum"]) for d in done.values()}
        extra["final"] = "%d of %d ranks done, %s" % (len(done), cfg.ranks, sorted(finals))
        if len(done) != cfg.ranks or len(finals) != 1 or next(iter(finals))[2] != cfg.ranks:
            failures.append("the job did not end with every rank done on one model: %s" % extra["final"])
    summary = analyse(job, injector, cfg, extra) if job and injector else {"totals": extra, "classes": {}}
    summary["failures"] = failures
    t = summary["totals"]
    if t.get("hangs"):
        failures.append("%d hangs" % t["hangs"])
    if t.get("wrong_results"):
        failures.append("%d wrong results" % t["wrong_results"])
    if t.get("missed"):
        failures.append("%d faults that had to evict did not" % t["missed"])
    if t["leftover_processes"]:
        failures.append("processes outlived the job: %s" % t["leftover_processes"])
    # weft's only transport today is TCP: it creates nothing in /dev/shm. A name with "weft" in it
    # would be ours; others (python's semaphores of a test running next to the soak) are listed.
    ours = [n for n in t["leftover_shm"] if "weft" in n.lower()]
    if ours:
        failures.append("files left in /dev/shm: %s" % ours)
    if t.get("faults", 0) < cfg.min_faults:
        failures.append("only %d faults injected (--min-faults %d)" % (t.get("faults", 0), cfg.min_faults))
    if cfg.strict and t.get("collateral_evictions"):
        failures.append("%d evictions no fault explains" % t["collateral_evictions"])
    if extra.get("weftrun_exit") not in (0, None):
        failures.append("weftrun exited %s" % extra["weftrun_exit"])
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    print(table(summary))
    print("soak: seed %d; summary in %s/summary.json" % (cfg.seed, out))
    if failures:
        print("soak: FAIL:\n  " + "\n  ".join(failures), flush=True)
        return 1
    print("soak: OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
