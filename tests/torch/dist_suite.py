"""PyTorch's own distributed test suite (torch.testing._internal.distributed.distributed_test,
DistributedTest._DistTestBase) on the "weft" backend, or on gloo for comparison.

    python3 tests/torch/dist_suite.py --backend weft --world-size 2 [--json out.json] [NAME ...]
    python3 tests/torch/dist_suite.py --backend weft --world-size 2 --list tests/torch/dist_suite_ci.txt --strict

It runs the suite the way PyTorch's test/distributed/test_distributed_spawn.py does: a
TestDistBackend subclass whose every test spawns WORLD_SIZE processes (multiprocessing "spawn";
they re-import this file, so the shim below applies in them too), each calling
init_process_group(BACKEND, init_method="file://...", rank=, world_size=) — store-based init,
no launcher. NAMEs are test method names (test_all_reduce_sum) or substrings of them; none: all.
Prints one line per test (PASS, FAIL, ERROR, SKIP with the reason) and the counts; --json
writes {test: [outcome, reason]}; --strict exits 1 unless every selected test passed.

The shim, all of it (the suite only knows gloo, nccl, ucc, mpi and registered plugin names):
  - BACKEND, WORLD_SIZE are set from the arguments before the suite is imported (it reads them
    at import);
  - "weft" is added to DistTestCases.backend_feature["plugin"] (require_backend_is_available
    lets a plugin through) and to the "ddp" and "subgroup" feature sets, the CPU features gloo
    is listed for: weft runs DDP and sub-groups on CPU, so those tests run (and would fail
    honestly) instead of skipping;
  - the suite module is imported with BACKEND=gloo and its BACKEND global set to "weft" just
    after: its skip decorators, evaluated at import, many naming gloo outright ("get_future is
    only supported on mpi, nccl and gloo", BACKEND != "gloo"), then offer weft every test they
    offer gloo, while everything at run time (init_process_group, checks inside the tests)
    sees "weft". A test that checks gloo-only behaviour then fails for weft, with its reason.
With --backend gloo nothing is changed but the feature sets (which gloo is in already)."""
import argparse
import json
import os
import sys
import time
import unittest

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="weft")
    ap.add_argument("--world-size", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--list", help="file of test names, one a line (# comments)")
    ap.add_argument("--strict", action="store_true", help="exit 1 unless every selected test passed")
    ap.add_argument("--timeout", type=int, default=120, help="per test, seconds (the suite's own default is 300)")
    ap.add_argument("names", nargs="*")
    ARGS = ap.parse_args()
    os.environ["BACKEND"] = ARGS.backend
    os.environ["WORLD_SIZE"] = str(ARGS.world_size)
    os.environ["DISTRIBUTED_TESTS_DEFAULT_TIMEOUT"] = str(ARGS.timeout)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

if os.environ.get("BACKEND") == "weft":
    import weft.torch  # noqa: E402,F401  (registers "weft")

from torch.testing._internal.common_distributed import DistTestCases  # noqa: E402

for _feature in ("plugin", "ddp", "subgroup"):
    DistTestCases.backend_feature[_feature].add("weft")

# The suite's skip decorators read BACKEND once, at import, and many name gloo outright
# (BACKEND != "gloo", "get_future is only supported on mpi, nccl and gloo"): import it as gloo
# so weft is offered every test gloo is, then say "weft" for everything that runs later.
_backend = os.environ["BACKEND"]
os.environ["BACKEND"] = "gloo" if _backend == "weft" else _backend
import torch.testing._internal.distributed.distributed_test as _dt  # noqa: E402

os.environ["BACKEND"] = _dt.BACKEND = _backend
DistributedTest, TestDistBackend = _dt.DistributedTest, _dt.TestDistBackend


class TestDistBackendWithSpawn(TestDistBackend, DistributedTest._DistTestBase):
    def setUp(self):
        super().setUp()
        self._spawn_processes()
        torch.backends.cudnn.flags(enabled=True, allow_tf32=False).__enter__()


class _Result(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.outcomes = {}

    def _note(self, test, outcome, reason=""):
        name = test.id().rsplit(".", 1)[-1]
        self.outcomes[name] = [outcome, reason]
        print("%-5s %s%s" % (outcome, name, ("  (" + reason + ")") if reason else ""), flush=True)

    def addSuccess(self, test):
        self._note(test, "PASS")

    def addSkip(self, test, reason):
        self._note(test, "SKIP", reason.splitlines()[0] if reason else "")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._note(test, "FAIL", _reason(self.failures[-1][1]))

    def addError(self, test, err):
        super().addError(test, err)
        self._note(test, "ERROR", _reason(self.errors[-1][1]))

    def addExpectedFailure(self, test, err):
        self._note(test, "XFAIL")

    def addUnexpectedSuccess(self, test):
        self._note(test, "XPASS")


def _reason(tb):
    """The most telling line of a traceback the suite collected from its child processes."""
    lines = [l.strip() for l in tb.splitlines() if l.strip()]
    for key in ("NotImplementedError", "DistBackendError", "ValueError", "TypeError", "AssertionError",
                "RuntimeError", "Error", "Exception", "Process"):
        hits = [l for l in lines if key in l and not l.startswith("File ")]
        if hits:
            return hits[-1][:300]
    return lines[-1][:300] if lines else ""


def _main():
    names = list(ARGS.names)
    if ARGS.list:
        with open(ARGS.list) as f:
            names += [l.split("#")[0].strip() for l in f if l.split("#")[0].strip()]
    loader = unittest.TestLoader()
    all_names = loader.getTestCaseNames(TestDistBackendWithSpawn)
    if ARGS.list:  # exact names: a typo must not pass as an empty selection
        missing = [n for n in names if n not in all_names]
        if missing:
            sys.exit("dist_suite: not in the suite: %s" % ", ".join(missing))
        chosen = names
    else:
        chosen = [n for n in all_names if not names or any(s in n for s in names)]
    suite = unittest.TestSuite(TestDistBackendWithSpawn(n) for n in chosen)
    t0 = time.time()
    res = _Result()
    suite.run(res)
    counts = {}
    for outcome, _ in res.outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    print("backend=%s world_size=%d tests=%d %s in %.0f s" % (os.environ["BACKEND"], ARGS.world_size, len(chosen),
          " ".join("%s=%d" % kv for kv in sorted(counts.items())), time.time() - t0), flush=True)
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            json.dump(res.outcomes, f, indent=1, sort_keys=True)
    if ARGS.strict and any(o != "PASS" for o, _ in res.outcomes.values()):
        sys.exit(1)


if __name__ == "__main__":
    _main()
