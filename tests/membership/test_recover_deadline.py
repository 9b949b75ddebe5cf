#!/usr/bin/env python3
"""The recover deadline (WEFT_RECOVER_TIMEOUT) and the hand-over of a late EPOCH, with real
processes under weftrun (tests/membership/recover_deadline_rank.c says what each rank does).

    test_recover_deadline.py WEFTRUN RECOVER_DEADLINE_RANK

1. deadline: 4 ranks, WEFT_RECOVER_TIMEOUT=2 (the heartbeat timeout stays 5 s, so only the
   deadline can be the cause). Rank 3 sleeps in user code through the others' recover. The
   three must come out of recover about 2 s after they entered, in epoch 2 of size 3 without
   rank 3, and sum 1+2+3 = 6 together; rank 3's next allreduce and its recover must fail with
   WEFT_ERR_EVICTED and the coordinator's verdict (RECOVER_TIMEOUT), and the coordinator's log
   must name it: rank 3 (member, host, its pid) did not call recover within WEFT_RECOVER_TIMEOUT.
2. handover: 3 ranks; rank 2 crashes; rank 0's recover gives up after 1 s (its WEFT_TIMEOUT)
   while rank 1 waits 3 s, so the coordinator's EPOCH reaches rank 0 between two recover calls.
   Its second recover must install that epoch: both in epoch 2 of size 2, sum 1+2 = 3.
   Again with rank 0 alone given a shorter WEFT_RECOVER_TIMEOUT (0.5 s, heartbeat timeout 1.5 s)
   than the coordinator's 60 s: its wait is bounded by 0.5 + 1.5 + 2 = 4 s, and the error says
   the coordinator should have decided by then. And with nobody failed: the late answer is
   NO_CHANGE, which rank 0's second recover must return (epoch 1, all three sum 1+2+3 = 6)
   rather than open a new round that the others, already in their allreduce, never join.
Every wait is bounded (weftrun --timeout, and the driver's own); the job is killed whatever
happens."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import weftjob  # noqa: E402

WEFTRUN, RANK = sys.argv[1:3]
DEADLINE_S = 2.0
LOAD_SLACK_S = 4.0  # two shared cores: scheduling and the coordinator's 0.1 s tick
RECOVERED = re.compile(r"^recovered epoch (\d+) size (\d+) left \[([\d,]*)\] in ([\d.]+) s$")
START = re.compile(r"^start id (\d+) pid (\d+) epoch (\d+)$")


def fail(msg, job):
    print("FAIL: " + msg, flush=True)
    print("---- job output ----")
    print(job.text())
    print("---- end ----", flush=True)
    sys.exit(1)


def run(args, n, env, timeout):
    job = weftjob.Job([WEFTRUN, "-n", str(n), "--timeout", str(timeout), "--verbose", RANK] + args, env)
    rc = job.wait(timeout + 15)
    job.kill_all()
    if rc is None:
        fail("weftrun did not exit within %d s" % (timeout + 15), job)
    return job, rc


def one(job, rank, regex):
    got = [m for m in (regex.match(t) for t in job.rank_lines(rank)) if m]
    if len(got) != 1:
        fail("rank %d: expected one line matching %r, got %d" % (rank, regex.pattern, len(got)), job)
    return got[0]


def check_common(job, ranks, epoch, size, left, total):
    for r in ranks:
        lines = job.rank_lines(r)
        if any(t.startswith("unexpected") for t in lines):
            fail("rank %d reported something unexpected" % r, job)
        m = one(job, r, RECOVERED)
        if (int(m.group(1)), int(m.group(2)), m.group(3)) != (epoch, size, left):
            fail("rank %d recovered into %s, expected epoch %d size %d left [%s]" % (r, m.groups(), epoch, size, left),
                 job)
        if "sum %d size %d" % (total, size) not in lines or "done" not in lines:
            fail("rank %d did not sum %d at size %d after recover" % (r, total, size), job)


def deadline():
    victim, sleep_s = 3, 3 * DEADLINE_S
    job, rc = run(["deadline", str(victim), str(sleep_s)], 4, {"WEFT_RECOVER_TIMEOUT": str(DEADLINE_S)}, 60)
    survivors = [0, 1, 2]
    check_common(job, survivors, 2, 3, "3", 1 + 2 + 3)
    took = {r: float(one(job, r, RECOVERED).group(4)) for r in survivors}
    # The first survivor to ask opens the round; they all ask right after the same allreduce.
    if max(took.values()) < DEADLINE_S - 0.3 or max(took.values()) > DEADLINE_S + LOAD_SLACK_S:
        fail("the survivors' recover took %s s, expected about the %.1f s deadline" % (took, DEADLINE_S), job)
    verdict = "RECOVER_TIMEOUT: did not call recover within WEFT_RECOVER_TIMEOUT %g s (a member of epoch 1)" % DEADLINE_S
    evicted = [t for t in job.rank_lines(victim) if t.startswith("evicted: WEFT_ERR_EVICTED")]
    if len(evicted) != 2 or not all(verdict in t for t in evicted):
        fail("rank %d's allreduce and recover must both fail with WEFT_ERR_EVICTED and the verdict %r" %
             (victim, verdict), job)
    if any(t.startswith(("sum", "done", "unexpected")) for t in job.rank_lines(victim)[2:]):
        fail("the left-out rank went on", job)
    pid = int(one(job, victim, START).group(2))
    named = re.compile(r"rank 3 \((?:member \d+, )?host \S+ pid %d\) failed \(RECOVER_TIMEOUT\): did not call recover "
                       r"within WEFT_RECOVER_TIMEOUT %g s" % (pid, DEADLINE_S))
    if not any(named.search(t) for t in job.text().splitlines()):
        fail("the coordinator's log does not name the left-out rank 3 (pid %d)" % pid, job)
    if rc != 3:
        fail("weftrun exited %d, expected 3 (the evicted rank's status)" % rc, job)
    print("deadline: survivors' recover took %s s (WEFT_RECOVER_TIMEOUT %.1f s); left-out rank: %s" %
          ({r: round(t, 3) for r, t in took.items()}, DEADLINE_S, evicted[0][len("evicted: "):][:200]), flush=True)


def handover(bound):
    job, rc = run(["handover", bound], 3, {}, 60)
    if bound == "nochange":
        check_common(job, [0, 1, 2], 1, 3, "", 1 + 2 + 3)
    else:
        check_common(job, [0, 1], 2, 2, "2", 1 + 2)
    gave_up = [t for t in job.rank_lines(0) if t.startswith("recover failed: WEFT_ERR_TIMEOUT after ")]
    says, expect_s = ("(WEFT_TIMEOUT)", 1.0) if bound != "deadline" else \
        ("(WEFT_RECOVER_TIMEOUT 0.5 s + WEFT_HEARTBEAT_TIMEOUT 1.5 s + 2 s): it should have left out", 4.0)
    if len(gave_up) != 1 or says not in gave_up[0]:
        fail("rank 0's first recover must give up with WEFT_ERR_TIMEOUT saying %r" % says, job)
    waited = float(re.search(r"after ([\d.]+) s", gave_up[0]).group(1))
    if not expect_s - 0.1 <= waited <= expect_s + LOAD_SLACK_S:
        fail("rank 0's first recover gave up after %.3f s, expected %.1f s" % (waited, expect_s), job)
    if rc != 0:
        fail("weftrun exited %d, expected 0" % rc, job)
    took = float(one(job, 0, RECOVERED).group(4))
    print("handover (%s): rank 0 gave up after %.3f s, then took the answer that came meanwhile in %.3f s" %
          (bound, waited, took), flush=True)


def main():
    deadline()
    handover("timeout")
    handover("deadline")
    handover("nochange")
    print("PASS")


if __name__ == "__main__":
    main()
