#!/usr/bin/env python3
"""Chaos: 8 ranks of examples/chaos_rank run allreduce steps under `weftrun --restart` while this
driver SIGKILLs random ranks for about a minute (one or two at once, rank 0 sometimes, waiting
for the restarted ones to rejoin before the next kill or not). Then it lets the job finish and
reports steps, failures injected, detection, recovery and rejoin times (median and worst).

Asserted: no step hung (every live rank printed something at least every HANG_S seconds, no call
timed out, the job kept making steps), every completed step's result was exact (chaos_rank checks
each one against the sum over the epoch's members and prints WRONG otherwise), every survivor
formed an epoch without each killed process, every restarted process was admitted late, and the
job ended with all 8 ranks done in one epoch of 8 with identical model checksums.
Timings are reported, never asserted (two shared cores).

Times: chaos_rank prints CLOCK_REALTIME stamps (t=); the driver compares them with its own
time.time() taken just before each kill (same machine, same clock).
  detection  kill -> the survivor's first failed call, or its new epoch if it was inside recover
             (per kill: the last survivor to know, i.e. "detected on all survivors")
  recovery   the survivor's detection -> the epoch without the killed process installed
             (recover returned; per kill: the slowest survivor)
  rejoin     restarted process's init start -> weft_comm_init_env returned (admitted)

usage: test_chaos.py WEFTRUN CHAOS_RANK [--duration S] [--seed N] [--sleep-ms MS] [--verbose]"""
import argparse
import atexit
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import weftjob  # noqa: E402

N = 8
HANG_S = 30.0            # a live rank silent this long, or a job without a step this long: hung
WEFT_TIMEOUT_S = 30      # bounds every blocking call in the ranks
REJOIN_WAIT_S = 30.0     # bound on waiting for killed ranks to come back
EXIT_WAIT_S = 60.0
RESTART_DELAY_MS = 700   # half the restarted incarnations wait this long before init
TARGETS = {"detection": 1.0, "recovery": 1.0, "rejoin": 2.0}

LINE_RE = re.compile(r"^\[(\d+)\] (.*)$")
INIT_RE = re.compile(r"^chaos_rank: init rank (\d+) incarnation (\d+) pid (\d+) \(t=([\d.]+)\)")
START_RE = re.compile(r"^chaos_rank: (started in|joined late into) epoch (\d+) as rank (\d+) of (\d+) "
                      r"\(incarnation (\d+), pid (\d+), init ([\d.]+) s, t=([\d.]+)\)")
MEMBERS_RE = re.compile(r"^chaos_rank: members epoch (\d+): \[([\d., ]*)\] \(installed t=([\d.]+), t=([\d.]+)\)")
FAIL_RE = re.compile(r"^chaos_rank: step (\d+): (.*) \(t=([\d.]+)\)$")
PROGRESS_RE = re.compile(r"^chaos_rank: progress step (\d+) epoch (\d+) size (\d+) \(t=([\d.]+)\)")
DONE_RE = re.compile(r"^chaos_rank: done, steps (\d+), epochs (\d+), final size (\d+), checksum ([0-9a-f]+), "
                     r"wrong (\d+), slowest call ([\d.]+) s")


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


class Rank:
    """What the driver knows of one launcher rank's current incarnation."""

    def __init__(self):
        self.inc, self.pid = -1, 0
        self.killed = False    # the driver killed this incarnation
        self.members = None    # last member set printed by this incarnation
        self.done = None
        self.last_line = time.time()


class ChaosJob:
    """Runs the job, parses every line as it arrives (arrival time kept), watches for hangs."""

    def __init__(self, weftrun, program, stop_file, sleep_ms, verbose=False):
        env = dict(os.environ, WEFT_TIMEOUT=str(WEFT_TIMEOUT_S), CHAOS_RESTART_DELAY_MS=str(RESTART_DELAY_MS))
        self.cmd = [weftrun, "-n", str(N), "--restart", "200", "--timeout", "400"] + \
                   (["--verbose"] if verbose else []) + ["--", program, stop_file, str(sleep_ms)]
        self.lines = []       # (launcher rank or -1, text, arrival time)
        self.ranks = [Rank() for _ in range(N)]
        self.max_step, self.max_step_at = -1, time.time()
        self.hangs = []       # descriptions
        self.stopping = False
        self.cv = threading.Condition()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        atexit.register(self.stop)  # nothing of the job outlives the test
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            line, now = raw.decode(errors="replace").rstrip("\n"), time.time()
            m = LINE_RE.match(line)
            r, text = (int(m.group(1)), m.group(2)) if m else (-1, line)
            with self.cv:
                self.lines.append((r, text, now))
                if 0 <= r < N:
                    self._track(self.ranks[r], text, now)
                self.cv.notify_all()
        with self.cv:
            self.cv.notify_all()

    def _track(self, rk, text, now):
        rk.last_line = now
        m = INIT_RE.match(text)
        if m:
            rk.inc, rk.pid, rk.killed, rk.members, rk.done = int(m.group(2)), int(m.group(3)), False, None, None
            return
        m = MEMBERS_RE.match(text)
        if m:
            rk.members = parse_members(m.group(2))
            return
        m = PROGRESS_RE.match(text)
        if m and int(m.group(1)) > self.max_step:
            self.max_step, self.max_step_at = int(m.group(1)), now
            return
        m = DONE_RE.match(text)
        if m:
            rk.done = m
            return
        m = FAIL_RE.match(text)
        if m and "timed out" in m.group(2):
            self.hangs.append("rank %d: a call timed out: %s" % (self.ranks.index(rk), text))

    def _watch(self):
        """A hang: a live, unkilled incarnation silent for HANG_S, or no new step for HANG_S
        while the job runs and is not finishing."""
        while self.proc.poll() is None:
            time.sleep(1.0)
            now = time.time()
            with self.cv:
                for r, rk in enumerate(self.ranks):
                    if rk.killed or rk.done or rk.pid == 0:
                        continue
                    if now - rk.last_line > HANG_S and not any(h.startswith("rank %d silent" % r) for h in self.hangs):
                        self.hangs.append("rank %d silent for %.0f s (incarnation %d, pid %d)" %
                                          (r, now - rk.last_line, rk.inc, rk.pid))
                if not self.stopping and now - self.max_step_at > HANG_S and not any(
                        h.startswith("no step") for h in self.hangs):
                    self.hangs.append("no step for %.0f s (last step %d)" % (now - self.max_step_at, self.max_step))
                if self.hangs:
                    self.cv.notify_all()

    def wait_until(self, pred, timeout, what):
        until = time.time() + timeout
        with self.cv:
            while not pred():
                if self.hangs:
                    self.abort("hang: %s" % self.hangs)
                left = until - time.time()
                if left <= 0:
                    self.abort("timed out after %.0f s waiting for %s" % (timeout, what))
                self.cv.wait(min(left, 0.5))

    def sleep(self, seconds):
        until = time.time() + seconds
        with self.cv:
            while time.time() < until:
                if self.hangs:
                    self.abort("hang: %s" % self.hangs)
                self.cv.wait(min(until - time.time(), 0.5))

    def all_synced(self):
        """Every launcher rank's current incarnation is alive and a member of an epoch of N."""
        return all(rk.pid and not rk.killed and rk.members is not None and len(rk.members) == N
                   and rk.members.get(r) == rk.inc for r, rk in enumerate(self.ranks))

    def kill(self, victims):
        """SIGKILLs the current incarnations of `victims`; returns the time taken before the first."""
        with self.cv:
            targets = [(r, self.ranks[r].inc, self.ranks[r].pid) for r in victims]
            t0 = time.time()
            for r, _, pid in targets:
                os.kill(pid, signal.SIGKILL)
                self.ranks[r].killed = True
        return t0, [(r, inc) for r, inc, _ in targets]

    def stop(self):
        if self.proc.poll() is None:
            weftjob.kill_session(self.proc)

    def dump(self, last=400):
        with self.cv:
            lines = list(self.lines)
        print("---- job output (%s), last %d of %d lines ----" % (" ".join(self.cmd), min(last, len(lines)), len(lines)))
        for r, text, _ in lines[-last:]:
            print("[%d] %s" % (r, text) if r >= 0 else text)
        print("---- end of job output ----", flush=True)

    def abort(self, msg):
        self.stop()
        self.dump()
        fail(msg)


def parse_members(s):
    """'0.0, 1.2, ...' -> {launcher rank: incarnation}"""
    out = {}
    for item in s.split(","):
        if item.strip():
            r, inc = item.strip().split(".")
            out[int(r)] = int(inc)
    return out


def run_chaos(job, rng, duration):
    """Kills until `duration` has passed; returns [(t0, [(rank, incarnation)], waited)]."""
    events = []
    job.wait_until(job.all_synced, 60, "all %d ranks to start" % N)
    job.sleep(1.0)
    end = time.time() + duration
    while time.time() < end:
        with job.cv:
            candidates = [r for r, rk in enumerate(job.ranks)
                          if rk.pid and not rk.killed and not rk.done and rk.members
                          and rk.members.get(r) == rk.inc]
        if len(candidates) < 3:
            job.sleep(0.2)
            continue
        k = 2 if rng.random() < 0.25 else 1
        victims = rng.sample(candidates, k)
        if 0 in candidates and 0 not in victims and rng.random() < 0.2:
            victims[0] = 0
        t0, killed = job.kill(sorted(set(victims)))
        wait = rng.random() < 0.5
        events.append((t0, killed, wait))
        if wait:
            job.wait_until(job.all_synced, REJOIN_WAIT_S, "the killed ranks %s to rejoin" % killed)
            job.sleep(rng.uniform(0.3, 1.0))
        else:
            job.sleep(rng.uniform(1.0, 2.5))
    return events


def analyse(job, events):
    """Per kill: detection and recovery on every survivor; per restart: rejoin time."""
    per_rank = {r: [] for r in range(N)}
    for r, text, _ in job.lines:
        if r >= 0:
            per_rank[r].append(text)
    fails, members, inits, starts = {}, {}, {}, {}
    for r, texts in per_rank.items():
        fails[r], members[r] = [], []
        for text in texts:
            m = FAIL_RE.match(text)
            if m:
                fails[r].append(float(m.group(3)))
            m = MEMBERS_RE.match(text)
            if m:
                members[r].append((float(m.group(3)), parse_members(m.group(2))))
            m = INIT_RE.match(text)
            if m:
                inits[(r, int(m.group(2)))] = float(m.group(4))
            m = START_RE.match(text)
            if m:
                starts[(r, int(m.group(5)))] = (m.group(1), float(m.group(8)))
    kill_times = {}  # (rank, incarnation) -> when it was killed
    for t0, killed, _ in events:
        for v in killed:
            kill_times[v] = t0
    detections, recoveries, problems = [], [], []
    t_first = events[0][0] if events else 0
    for t0, killed, wait in events:
        det_all, rec_all = 0.0, 0.0
        for s in range(N):
            if any(v[0] == s for v in killed):
                continue
            # The survivor's incarnation at t0: the last one initialised before the kill.
            incs = [inc for (r, inc), t in inits.items() if r == s and t < t0]
            inc = max(incs) if incs else 0
            if (s, inc) not in starts or starts[(s, inc)][1] > t0:
                continue  # not yet a member when the kill came (a joiner in init)
            dies = kill_times.get((s, inc), float("inf"))
            epoch = next((inst for inst, mem in members[s] if inst >= t0 and inst < dies
                          and all(mem.get(r) != i for r, i in killed)), None)
            if epoch is None:
                if dies == float("inf"):
                    problems.append("rank %d never formed an epoch without %s (killed at %.3f)" % (s, killed, t0))
                continue  # killed itself before it recovered
            err = next((t for t in fails[s] if t >= t0), float("inf"))
            detected = min(err, epoch)
            det_all = max(det_all, detected - t0)
            rec_all = max(rec_all, epoch - detected)
        detections.append(det_all)
        recoveries.append(rec_all)
        print("  kill at +%5.1f s of %-16s %s: detected on all survivors %.3f s, recovered %.3f s later" %
              (t0 - t_first, " ".join("%d.%d" % v for v in killed),
               "(then waited for rejoin)" if wait else "(no wait)        ", det_all, rec_all))
    rejoins = []
    for (r, inc), t_init in sorted(inits.items()):
        if inc == 0:
            continue
        if (r, inc) not in starts:
            if (r, inc) not in kill_times:
                problems.append("restarted rank %d (incarnation %d) never got through init" % (r, inc))
            continue
        how, t_start = starts[(r, inc)]
        if how != "joined late into":
            problems.append("restarted rank %d (incarnation %d) %s an epoch instead of joining late" % (r, inc, how))
        rejoins.append(t_start - t_init)
    return detections, recoveries, rejoins, problems


def stats(v):
    return ("%.3f" % statistics.median(v), "%.3f" % max(v)) if v else ("-", "-")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weftrun")
    ap.add_argument("program")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--sleep-ms", type=int, default=5)
    ap.add_argument("--verbose", action="store_true", help="weftrun and coordinator log lines in the output")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print("chaos: seed %d (rerun with --seed %d), %d ranks, %.0f s of chaos" % (seed, seed, N, a.duration), flush=True)
    tmp = tempfile.mkdtemp(prefix="weft-chaos-")
    atexit.register(shutil.rmtree, tmp, True)
    stop_file = os.path.join(tmp, "stop")

    job = ChaosJob(a.weftrun, a.program, stop_file, a.sleep_ms, a.verbose)
    t_start = time.time()
    events = run_chaos(job, rng, a.duration)
    # Let the last restarted ranks rejoin, then ask the members to finish together.
    job.wait_until(job.all_synced, REJOIN_WAIT_S, "every rank to rejoin after the chaos")
    job.sleep(1.0)
    with job.cv:
        job.stopping = True
    open(stop_file, "w").close()
    job.wait_until(lambda: job.proc.poll() is not None, EXIT_WAIT_S, "the job to finish after the stop file")
    rc = job.proc.wait()
    job.reader.join(timeout=10)  # the last lines
    elapsed = time.time() - t_start

    texts = [(r, t) for r, t, _ in job.lines]
    wrong = [t for r, t in texts if "WRONG" in t]
    done = {r: rk.done for r, rk in enumerate(job.ranks) if rk.done}
    hangs = list(job.hangs)
    hangs += ["rank %d: a call took %s s" % (r, m.group(6)) for r, m in done.items() if float(m.group(6)) > HANG_S]
    detections, recoveries, rejoins, problems = analyse(job, events)
    failed_calls = sum(1 for _, t in texts if FAIL_RE.match(t))
    epochs = max((int(m.group(2)) for m in done.values()), default=0)
    steps = max((int(m.group(1)) for m in done.values()), default=0)
    kills = sum(len(k) for _, k, _ in events)

    print("chaos report (%d ranks, %.0f s of chaos, %.0f s in all, seed %d)" % (N, a.duration, elapsed, seed))
    rows = [("steps done", "%d" % steps),
            ("failures injected", "%d SIGKILLs in %d events (%d double, %d hitting rank 0, %d waited for rejoin)" %
             (kills, len(events), sum(len(k) > 1 for _, k, _ in events),
              sum(any(v[0] == 0 for v in k) for _, k, _ in events), sum(w for _, _, w in events))),
            ("epochs", "%d" % epochs),
            ("failed calls (all ranks)", "%d" % failed_calls)]
    for name, v in (("detection", detections), ("recovery", recoveries), ("rejoin", rejoins)):
        med, worst = stats(v)
        over = sum(x >= TARGETS[name] for x in v)
        rows.append(("%s median / worst" % name, "%s / %s s over %d (target < %.0f s: %d over)" %
                     (med, worst, len(v), TARGETS[name], over)))
    rows += [("hangs", "%d" % len(hangs)), ("wrong results", "%d" % len(wrong))]
    for k, v in rows:
        print("  %-26s %s" % (k, v))
    sys.stdout.flush()

    if hangs:
        job.dump()
        fail("hangs: %s" % hangs)
    if wrong:
        job.dump()
        fail("wrong results:\n  " + "\n  ".join(wrong[:20]))
    if problems:
        job.dump()
        fail("membership problems:\n  " + "\n  ".join(problems))
    if sorted(done) != list(range(N)):
        job.dump()
        fail("ranks %s did not print 'done'" % sorted(set(range(N)) - set(done)))
    finals = {(m.group(1), m.group(2), m.group(3), m.group(4)) for m in done.values()}
    if len(finals) != 1 or int(next(iter(finals))[2]) != N:
        job.dump()
        fail("the ranks ended differently (steps, epoch, size, checksum): %s" % finals)
    if rc != 0:
        job.dump()
        fail("weftrun exited %d, expected 0 (every rank's last incarnation done)" % rc)
    if not events:
        fail("no failure was injected")
    print("chaos: OK")


if __name__ == "__main__":
    main()
