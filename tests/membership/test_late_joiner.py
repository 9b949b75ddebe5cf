#!/usr/bin/env python3
"""A restarted rank that arrives after the job finished cleanly is refused, not given an epoch of
its own (which would run the application a second time, alone); the whole world calling init
again starts a new run at once (a program that creates communicators in a loop).

    test_late_joiner.py WEFT_COORDINATOR ALLREDUCE_DEMO ELASTIC_SGD

A long-lived weft-coordinator (as under Slurm or Kubernetes, where it outlives the ranks) serves
a 2-rank job of examples/allreduce_demo, which finishes and destroys its communicator (LEAVE).
Then a third process starts as rank 1 of the same job: weft_comm_init_env must fail with
WEFT_ERR_JOB_FINISHED after two heartbeat timeouts (the coordinator waits that long for the rest
of the world). Then both ranks start again together: that run must complete. For contrast, in a second job (examples/elastic_sgd) where both ranks are
SIGKILLed mid-run (no clean end), a restarted rank pair re-forms the job and completes. Every wait is bounded."""
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time

COORD, DEMO, ELASTIC = sys.argv[1:4]
BOUND_S = 60


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def start_coordinator(tmp, token):
    port_file = os.path.join(tmp, "port")
    env = dict(os.environ, WEFT_JOB_TOKEN=token)
    proc = subprocess.Popen([COORD, "--host", "127.0.0.1", "--port", "0", "--world-size", "2",
                             "--heartbeat-timeout", "2", "--port-file", port_file, "--verbose"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 10
    while not os.path.exists(port_file):
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            fail("the coordinator did not write its port file")
        time.sleep(0.02)
    with open(port_file) as f:
        return proc, int(f.read().strip())


def rank_env(port, token, rank):
    return dict(os.environ, WEFT_COORDINATOR=f"127.0.0.1:{port}", WEFT_JOB_TOKEN=token,
                WEFT_RANK=str(rank), WEFT_WORLD_SIZE="2", WEFT_HEARTBEAT_TIMEOUT="2",
                WEFT_INIT_TIMEOUT="20")


def spawn(port, token, rank, argv=(DEMO, "4096")):
    return subprocess.Popen(list(argv), env=rank_env(port, token, rank),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc, what):
    try:
        out, _ = proc.communicate(timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail(f"{what} did not exit within {BOUND_S} s")
    return proc.returncode, out


def stop(coord):
    coord.send_signal(signal.SIGTERM)
    try:
        out, _ = coord.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        coord.kill()
        out, _ = coord.communicate()
    return out


def clean_end_refuses_late_joiner(tmp):
    token = secrets.token_hex(16)
    coord, port = start_coordinator(tmp, token)
    try:
        ranks = [spawn(port, token, r) for r in range(2)]
        for r, p in enumerate(ranks):
            rc, out = finish(p, f"rank {r}")
            if rc != 0:
                fail(f"rank {r} of the first job exited {rc}:\n{out}")
        t0 = time.time()
        rc, out = finish(spawn(port, token, 1), "the late joiner")
        took = time.time() - t0
        print(f"late joiner: exit {rc} after {took:.2f} s: {out.strip()}")
        if rc == 0:
            fail("the late joiner ran the job again after it had finished")
        if "WEFT_ERR_JOB_FINISHED" not in out and "job has finished" not in out:
            fail(f"the late joiner's error does not say the job finished: {out!r}")
        if "finished at epoch 1" not in out:
            fail(f"the late joiner's error does not name the epoch: {out!r}")
        if took > 20:
            fail(f"the late joiner was refused only after {took:.1f} s")
        again = [spawn(port, token, r) for r in range(2)]
        for r, p in enumerate(again):
            rc, out = finish(p, f"rank {r} of the second run")
            if rc != 0:
                fail(f"rank {r} of a second run of the whole world exited {rc}:\n{out}")
        print("second run of the whole world: both ranks finished")
    finally:
        log = stop(coord)
    if "the job has finished" not in log:
        fail("the coordinator did not log the clean end:\n" + log)


def crashed_job_is_restarted(tmp):
    token = secrets.token_hex(16)
    coord, port = start_coordinator(tmp, token)
    try:
        ranks = [spawn(port, token, r, argv=(ELASTIC, "100000", "10")) for r in range(2)]
        time.sleep(1.5)
        if any(p.poll() is not None for p in ranks):
            fail("elastic_sgd ended before it could be killed")
        for p in ranks:
            p.kill()
        for p in ranks:
            p.wait(timeout=BOUND_S)
        restarted = [spawn(port, token, r, argv=(ELASTIC, "5", "1")) for r in range(2)]
        for r, p in enumerate(restarted):
            rc, out = finish(p, f"restarted rank {r}")
            if rc != 0:
                fail(f"restarted rank {r} exited {rc} (a crashed job must be restartable):\n{out}")
        print("crashed job: both restarted ranks re-formed it and finished")
    finally:
        stop(coord)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        clean_end_refuses_late_joiner(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        crashed_job_is_restarted(tmp)
    print("PASS")


if __name__ == "__main__":
    main()
