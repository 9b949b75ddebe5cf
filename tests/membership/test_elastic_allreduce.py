#!/usr/bin/env python3
"""weft_allreduce_elastic end to end: 4 ranks of elastic_allreduce_rank under weftrun, rank 2
SIGKILLed while the allreduces run.

    test_elastic_allreduce.py WEFTRUN ELASTIC_ALLREDUCE_RANK [COUNT]

1. shrink: no restart. The 3 survivors must finish every step; each step's sum says who
   contributed (S = sum of launcher id + 1): 10 with all four, 7 once rank 2 is gone, with
   contributors 4 and 3; every rank must print the same (contributors, S) for every step, no step
   may be missing or repeated, and each call returned a result (a call interrupted by the kill is
   run again among the survivors with the caller's in-place input intact, or S would be wrong).
2. rejoin: weftrun --restart 1, and weft_comm_recover every 40 steps. The restarted rank 2
   waits while the survivors' elastic calls shrink, enters at the next elastic call's agreement
   (JOINERS, below) or the next weft_comm_recover, whichever comes first, and from then on S is 10
   again.
3. elastic-only rejoin: the same, but the program never calls weft_comm_recover. The
   coordinator answers an elastic call's agreement JOINERS once the restarted rank waits; every
   survivor must admit it at the end of the same step (each reports "joined 1" for that step
   and only that one), and from the next step on S is 10 again.
The vectors are large (8 MiB) and the ranks do not pause between steps, so the kill nearly always
lands inside a transfer, where a re-run from a half-reduced in-place buffer would show as a wrong
S (checked: with the input copy removed, this test fails). Every wait is bounded; the job is
killed whatever happens."""
import os
import re
import signal
import subprocess
import sys
import threading
import time

WEFTRUN, RANK = sys.argv[1:3]
# An optional third argument shrinks the vectors (a ThreadSanitizer build is too slow for 8 MiB).
STEPS, COUNT, SLEEP_MS = 120, int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 20, 0
LINE = re.compile(r"^\[(\d+)\] (.*)$")
STEP = re.compile(r"^step (\d+) epoch (\d+) contributors (\d+) S (\d+) lost (\d+) joined (\d+)$")
START = re.compile(r"^start id (\d+) pid (\d+) epoch (\d+) step (\d+)$")
FULL_S, WITHOUT_2 = 1 + 2 + 3 + 4, 1 + 2 + 4


def fail(msg, lines=()):
    print("FAIL: " + msg, flush=True)
    for ln in list(lines)[-60:]:
        print("   | " + ln)
    sys.exit(1)


class Job:
    def __init__(self, restart, admit_every):
        argv = [WEFTRUN, "-n", "4", "--timeout", "120"] + (["--restart", "1"] if restart else []) + \
               [RANK, str(STEPS), str(COUNT), str(SLEEP_MS), str(admit_every)]
        env = dict(os.environ, WEFT_HEARTBEAT_TIMEOUT="3")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, start_new_session=True)
        self.lines, self.cv = [], threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for ln in self.proc.stdout:
            with self.cv:
                self.lines.append(ln.rstrip("\n"))
                self.cv.notify_all()

    def wait_for(self, pred, timeout):
        deadline = time.time() + timeout
        with self.cv:
            while time.time() < deadline:
                got = pred(self.lines)
                if got:
                    return got
                self.cv.wait(0.1)
        fail("timed out waiting", self.lines)

    def finish(self, timeout):
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            fail(f"the job did not finish within {timeout} s", self.lines)
        time.sleep(0.2)
        return self.proc.returncode

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def per_process(lines):
    """Splits the output into processes: a 'start' line opens a new one for its launcher rank."""
    procs, current = [], {}
    for ln in lines:
        m = LINE.match(ln)
        if not m:
            continue
        r, text = int(m.group(1)), m.group(2)
        s = START.match(text)
        if s:
            current[r] = {"rank": r, "start_step": int(s.group(4)), "steps": [], "text": []}
            procs.append(current[r])
        if r in current:
            current[r]["text"].append(text)
            st = STEP.match(text)
            if st:
                current[r]["steps"].append(tuple(int(x) for x in st.groups()))
    return procs


def check(job, restart, admit_every):
    procs = per_process(job.lines)
    bad = [t for p in procs for t in p["text"] if t.startswith(("wrong", "error"))]
    if bad:
        fail("a rank reported: " + bad[0], job.lines)
    by_step = {}
    for p in procs:
        seq = [s[0] for s in p["steps"]]
        killed = p["rank"] == 2 and p is procs_first(procs, 2)
        if not killed and seq != list(range(p["start_step"], STEPS)):
            fail(f"launcher rank {p['rank']} ran steps {seq[:3]}..{seq[-3:]} (start {p['start_step']}), "
                 f"not every step once", job.lines)
        for step, _epoch, contributors, s, lost, joined in p["steps"]:
            by_step.setdefault(step, set()).add((contributors, s, lost, joined))
    for step in range(STEPS):
        seen = by_step.get(step, set())
        if len(seen) != 1:
            fail(f"step {step}: ranks disagree or nobody ran it: {sorted(seen)}", job.lines)
        (contributors, s, _lost, _joined), = seen
        if (contributors, s) not in ((4, FULL_S), (3, WITHOUT_2)):
            fail(f"step {step}: contributors {contributors} with S {s} is not a real membership", job.lines)
    shape = [by_step[k].copy().pop() for k in range(STEPS)]
    first_short = next((k for k, v in enumerate(shape) if v[0] == 3), None)
    if first_short is None or first_short == 0:
        fail("the kill did not land during the run (no step ran with 3 contributors after 4)", job.lines)
    # The failure is absorbed by the elastic call of that step (it lost rank 2 and ran again),
    # unless it fell on a step boundary where the ranks' own recover saw it first.
    if shape[first_short][2] != 1 and not (admit_every and first_short % admit_every == 0):
        fail(f"step {first_short} shrank to 3 but its elastic call reports {shape[first_short][2]} lost",
             job.lines)
    if any(v[2] != 0 for k, v in enumerate(shape) if k != first_short):
        fail("an elastic call reported a loss at a step with no failure", job.lines)
    back = next((k for k in range(first_short, STEPS) if shape[k][0] == 4), None)
    if restart:
        if back is None:
            fail("the restarted rank was never admitted", job.lines)
        if any(v[0] != 4 for v in shape[back:]):
            fail("membership shrank again after the joiner was admitted", job.lines)
        # Either a recover at a boundary admitted it, or (always, without recover calls) the
        # elastic call of the step before did, on every rank alike (by_step holds one shape per
        # step): that step's result is over the three, and it says so with "joined 1".
        admitted = [k for k, v in enumerate(shape) if v[3] != 0]
        by_elastic = admitted == [back - 1] and shape[back - 1][3] == 1
        by_recover = not admitted and admit_every and back % admit_every == 0
        if not (by_elastic or by_recover):
            fail(f"the joiner entered at step {back}; elastic calls reported joins at steps {admitted} "
                 f"(recover every {admit_every} steps)", job.lines)
    elif back is not None:
        fail(f"4 contributors again at step {back} without a restart", job.lines)
    return first_short, back


def procs_first(procs, rank):
    return next(p for p in procs if p["rank"] == rank)


def run(restart, admit_every=40):
    job = Job(restart, admit_every)
    try:
        pid = job.wait_for(lambda ls: next((int(START.match(LINE.match(l).group(2)).group(2))
                                            for l in ls if l.startswith("[2] start")), None), 60)
        job.wait_for(lambda ls: sum(1 for l in ls if l.startswith("[2] step ")) >= 10, 60)
        t_kill = time.time()
        os.kill(pid, signal.SIGKILL)
        rc = job.finish(150)
        took = time.time() - t_kill
    finally:
        job.kill()
    # weftrun reports the killed rank's status; the survivors' "done" lines are what counts.
    done = [l for l in job.lines if re.match(r"^\[\d+\] done ", l)]
    want = 4 if restart else 3
    if len(done) != want:
        fail(f"{len(done)} processes finished, expected {want} (weftrun exit {rc})", job.lines)
    first_short, back = check(job, restart, admit_every)
    label = ("rejoin" if admit_every else "elastic-only rejoin") if restart else "shrink"
    print(f"{label}: kill landed before step {first_short}; "
          f"{'joiner admitted at step %d; ' % back if restart else ''}"
          f"all {STEPS} steps agree on every rank; job ended {took:.1f} s after the kill", flush=True)


def main():
    run(restart=False)
    run(restart=True)
    run(restart=True, admit_every=0)
    print("PASS")


if __name__ == "__main__":
    main()
