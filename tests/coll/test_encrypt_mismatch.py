#!/usr/bin/env python3
"""WEFT_ENCRYPT must be the same on every rank: a job where one rank leaves it off never runs in
plaintext with it, it fails at once.

    test_encrypt_mismatch.py WEFTRUN ALLREDUCE_DEMO

A 3-rank job, WEFT_ENCRYPT=1 for ranks 0 and 1, 0 for rank 2 (a wrapper sets it from WEFT_RANK):
every rank exits with an error, well before any timeout. Rank 2 names the setting and the rank
it found it on ("peer rank 0|1 has WEFT_ENCRYPT=1", whichever came first); of ranks 0 and 1 at
least one says "peer rank 2 has WEFT_ENCRYPT=0" (the other may first see a peer that already
gave up, which is then its reason). Every wait is bounded."""
import os
import subprocess
import sys
import tempfile
import time

WEFTRUN, DEMO = sys.argv[1:3]


def fail(msg, out=""):
    print("FAIL: " + msg + ("\n" + out if out else ""), flush=True)
    sys.exit(1)


def main():
    tmp = tempfile.mkdtemp(prefix="weft-encrypt-")
    wrapper = os.path.join(tmp, "rank.sh")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nif [ "$WEFT_RANK" = 2 ]; then export WEFT_ENCRYPT=0; else export WEFT_ENCRYPT=1; fi\n'
                'exec "%s" "$@"\n' % DEMO)
    os.chmod(wrapper, 0o755)
    env = dict(os.environ, WEFT_INIT_TIMEOUT="60", WEFT_LOG_LEVEL="1")
    start = time.time()
    try:
        p = subprocess.run([WEFTRUN, "-n", "3", "--timeout", "90", wrapper], env=env, capture_output=True,
                           text=True, timeout=120)
    except subprocess.TimeoutExpired as e:
        fail("the job did not end within 120 s", (e.stdout or b"").decode(errors="replace"))
    took = time.time() - start
    out = p.stdout + p.stderr
    if p.returncode == 0:
        fail("the job succeeded with mixed WEFT_ENCRYPT", out)
    if took > 30:
        fail("the mismatch took %.1f s to fail (it must fail at once, not at a timeout)" % took, out)
    def names(r, text):
        return any(l.startswith("[%d] " % r) and "ERROR" in l and "WEFT_ENCRYPT mismatch" in l and text in l
                   for l in out.splitlines())
    for r in range(3):
        if "weftrun: rank %d exited with status" % r not in out or "exited with status 0" in out:
            fail("rank %d did not fail" % r, out)
    if not names(2, "has WEFT_ENCRYPT=1, this rank (2) has WEFT_ENCRYPT=0"):
        fail("rank 2's error does not name the setting and the peer", out)
    if not (names(0, "peer rank 2 has WEFT_ENCRYPT=0") or names(1, "peer rank 2 has WEFT_ENCRYPT=0")):
        fail("neither rank 0 nor rank 1 names rank 2's setting", out)
    print("ok: every rank failed in %.1f s naming WEFT_ENCRYPT and the peer" % took)


main()
