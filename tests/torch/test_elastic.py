"""examples/ddp_elastic.py under `weftrun -n 4 --restart 1`: launch rank 1 is SIGKILLed mid-run
(from outside, at whatever point of a DDP step it is), restarted by weftrun, admitted at a step
boundary, and receives the state from a survivor. All four finish with identical parameters,
the loss went down, and weftrun exits 0."""
import os
import re
import signal
import sys
import time

from conftest import REPO, Job

EXAMPLE = os.path.join(REPO, "examples", "ddp_elastic.py")
STEPS, VICTIM, KILL_AT_STEP = 300, 1, 40
STEP_RE = re.compile(r"^\[\d+\] STEP step=(\d+) ")


def test_ddp_elastic_kill_and_restart(weftrun, torch_ext):
    job = Job([weftrun, "-n", "4", "--restart", "1", "--timeout", "240", sys.executable, EXAMPLE, "--steps", str(STEPS),
               "--sleep-ms", "20", "--final-size", "4", "--final-wait", "90"], env={"WEFT_TIMEOUT": "60"})
    try:
        def pid_of(lines):
            for l in lines:
                m = re.match(r"^\[%d\] START launch_rank=%d pid=(\d+)" % (VICTIM, VICTIM), l)
                if m:
                    return int(m.group(1))
            return None
        pid = job.wait_for(pid_of, 120, "rank %d to start" % VICTIM)
        job.wait_for(lambda ls: any(int(m.group(1)) >= KILL_AT_STEP for m in map(STEP_RE.match, ls) if m), 120,
                     "step %d" % KILL_AT_STEP)
        os.kill(pid, signal.SIGKILL)
        t_kill = time.time()
        rc = job.wait_exit(240)
    finally:
        job.kill()
    res = job.result()
    text = res.text
    assert rc == 0, "weftrun exited %d:\n%s" % (rc, text)
    done = {r: res.values(r, "DONE") for r in range(4)}
    assert all(done.values()), "a rank did not finish:\n" + text
    hashes = {d["hash"] for d in done.values()}
    assert len(hashes) == 1, "ranks disagree on the parameters: %s\n%s" % (done, text)
    for r, d in done.items():
        assert d["agree"] == "1" and int(d["steps"]) == STEPS and d["size"] == "4", (r, d)
        assert float(d["final_eval"]) < 0.2 * float(d["initial_eval"]), "loss did not go down: %s" % d
    joined = [l for l in res.lines(VICTIM) if l.startswith("JOINED ")]
    assert len(joined) == 2 and "joined_late=1" in joined[1], "the restarted rank did not join late:\n" + text
    changes = [l for r in (0, 2, 3) for l in res.lines(r) if "weft.torch.elastic: epoch" in l]
    assert any("left [1]" in l for l in changes) or any("left [" in l for l in changes), text
    print("elastic: %.1f s after the kill the job ended; epoch changes seen by rank 0: %s; final %s" % (
        time.time() - t_kill, [l for l in res.lines(0) if "weft.torch.elastic" in l], done[0]))
