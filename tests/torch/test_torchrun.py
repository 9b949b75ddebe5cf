"""dist.init_process_group("weft") under torchrun: rank 0 starts weft-coordinator and publishes
its address and a job token in torchrun's store; every rank joins through it."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import RANK_SCRIPT, run_group


def test_torchrun_plain_init(torch_ext):
    coord = os.environ.get("WEFT_COORDINATOR_BIN")
    if not coord or not os.access(coord, os.X_OK):
        coord = shutil.which("weft-coordinator")
    if not coord:
        pytest.skip("weft-coordinator not found (meson test sets WEFT_COORDINATOR_BIN)")
    # No WEFT_COORDINATOR, WEFT_RANK...: torchrun's variables only (weft.torch must cope).
    env = {"WEFT_COORDINATOR_BIN": coord}
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "3",
            RANK_SCRIPT, "torchrun"]
    res = run_group(argv, 180, env)
    # Matched anywhere, not per line: the three ranks share torchrun's stdout.
    ok = sorted(int(r) for r in re.findall(r"TORCHRUN rank=(\d+) size=3 ok", res.text))
    assert res.rc == 0 and ok == [0, 1, 2], "rc %d:\n%s" % (res.rc, res.text)
