#!/usr/bin/env python3
"""weft against MPICH under MPICH's own launcher: for N = 1..4 (and 8 when the first runs were
quick), start a weft-coordinator for N ranks with a fresh random job token, then
`mpiexec -launcher fork -n N mpi_compare`, which runs every collective through MPI and weft and
requires identical bytes (tests/mpi/mpi_compare.c). weft finds its rank and size in hydra's
PMI_RANK/PMI_SIZE; the coordinator address travels as -genv WEFT_COORDINATOR.

    python3 tests/mpi/run_mpi.py MPIEXEC BUILD/tools/weft-coordinator BUILD/tests/mpi/mpi_compare

The job token is passed in the environment, which hydra forwards to every rank by default, not
as `-genv WEFT_JOB_TOKEN <secret>`: argv is world-readable in /proc (the coordinator reads its
token from the environment for the same reason).

Also checks that ranks started without WEFT_JOB_TOKEN fail promptly with a message instead of
hanging (MPICH 4's hydra sets no PMI_KVSNAME, so weft has nothing to derive a token from).

Exit status: 0 pass, 1 fail, 77 skip (mpiexec is not MPICH's hydra). Every wait is bounded and
every process started here (coordinator, mpiexec and its process group) is cleaned up."""
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time

TOTAL_BUDGET_S = 270.0      # meson's timeout is 300 s
RUN_TIMEOUT_S = 150.0       # one mpiexec run, ranks included
EIGHT_RANKS_IF_UNDER_S = 60.0
SKIP = 77
NOTES_SHOWN = set()  # "this MPI gets X wrong" lines, printed once per run of the driver

# Launcher variables that would outrank or confuse PMI_RANK/PMI_SIZE in weft's discovery
# (lib/bootstrap/env.c), or make hydra look for another resource manager's host list.
SCRUB_PREFIXES = ("WEFT_", "OMPI_", "PMI_", "PMIX_", "SLURM_", "PBS_", "TORCHELASTIC_")
SCRUB_NAMES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def base_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(SCRUB_PREFIXES) and k not in SCRUB_NAMES}
    # Generous bounds: up to 8 ranks share 2 cores with MPICH busy-polling between calls, so a
    # heartbeat may come late; a real hang still ends in WEFT_TIMEOUT, below RUN_TIMEOUT_S.
    env.update(WEFT_TIMEOUT="120", WEFT_HEARTBEAT_TIMEOUT="30", WEFT_INIT_TIMEOUT="30")
    return env


def kill_group(proc):
    """SIGTERM, then SIGKILL, to the process group of a child we started in its own session."""
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass


def is_hydra(mpiexec):
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("run_mpi: %s --version failed: %s" % (mpiexec, e))
        return False
    return "HYDRA" in out.stdout + out.stderr


class Coordinator:
    def __init__(self, binary, world, token, workdir):
        self.port_file = os.path.join(workdir, "port")
        self.log_path = os.path.join(workdir, "coordinator.log")
        env = base_env()
        env["WEFT_JOB_TOKEN"] = token
        args = [binary, "--world-size", str(world), "--port", "0", "--port-file", self.port_file,
                "--exit-when-done", "--heartbeat-timeout", "30", "--verbose"]
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.port = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    self.port = int(f.read().strip())
                break
            time.sleep(0.02)

    def text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def finish(self, wait_s):
        """Waits up to wait_s for --exit-when-done; returns its exit code or None if killed."""
        try:
            rc = self.proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            rc = None
        kill_group(self.proc)
        self.log.close()
        return rc


def run_mpiexec(args, env, timeout):
    """Returns (rc or None on timeout, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate(timeout=10)
        rc = None
    return rc, out, err, time.monotonic() - t0


def tail(text, lines=30):
    return "\n".join(text.strip().splitlines()[-lines:])


def compare_run(mpiexec, coordinator, exe, n, timeout):
    """One world of n ranks; returns (ok, seconds)."""
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="run_mpi.") as workdir:
        coord = Coordinator(coordinator, n, token, workdir)
        if coord.port is None:
            coord.finish(0)
            print("FAIL n=%d: the coordinator did not start:\n%s" % (n, tail(coord.text())))
            return False, 0.0
        env = base_env()
        env["WEFT_JOB_TOKEN"] = token
        args = [mpiexec, "-launcher", "fork", "-n", str(n),
                "-genv", "WEFT_COORDINATOR", "127.0.0.1:%d" % coord.port, exe]
        rc, out, err, secs = run_mpiexec(args, env, timeout)
        coord_rc = coord.finish(15 if rc == 0 else 0)
        m = re.search(r"^mpi_compare: (\d+) comparisons, (\d+) mismatches.*$", out, re.M)
        problems = []
        if rc is None:
            problems.append("mpiexec timed out after %.0f s (killed)" % timeout)
        elif rc != 0:
            problems.append("mpiexec exited %d" % rc)
        if not m:
            problems.append("no summary line from rank 0")
        elif int(m.group(2)) != 0 or int(m.group(1)) == 0:
            problems.append(m.group(0))
        if rc == 0 and coord_rc != 0:
            problems.append("the coordinator did not exit cleanly after the job (%s)" %
                            ("still running after 15 s" if coord_rc is None else "exit %d" % coord_rc))
        if problems:
            print("FAIL n=%d (%.1f s): %s" % (n, secs, "; ".join(problems)))
            print("--- stdout\n%s\n--- stderr\n%s\n--- coordinator\n%s" %
                  (tail(out), tail(err), tail(coord.text() if not coord.log.closed else
                                              open(coord.log_path).read())))
            return False, secs
        print("ok   n=%d (%.1f s): %s" % (n, secs, m.group(0)))
        for note in sorted(set(re.findall(r"^mpi_compare: this MPI .*$", out, re.M)) - NOTES_SHOWN):
            NOTES_SHOWN.add(note)
            print("     " + note)
        return True, secs


def missing_token_run(mpiexec, exe, timeout):
    """Without WEFT_JOB_TOKEN the ranks must fail fast and say why, not hang or pass."""
    env = base_env()
    env["WEFT_INIT_TIMEOUT"] = "10"
    # A port nobody listens on, in case a future weft derives a token and tries to connect.
    args = [mpiexec, "-launcher", "fork", "-n", "2", "-genv", "WEFT_COORDINATOR", "127.0.0.1:9", exe]
    rc, out, err, secs = run_mpiexec(args, env, timeout)
    if rc is None or rc == 0 or "weft_comm_init_env failed" not in err:
        print("FAIL no-token (%.1f s): expected a prompt failure naming weft_comm_init_env, got %s\n"
              "--- stdout\n%s\n--- stderr\n%s" %
              (secs, "a timeout" if rc is None else "exit %d" % rc, tail(out), tail(err)))
        return False
    line = next(l for l in err.splitlines() if "weft_comm_init_env failed" in l)
    print("ok   no-token (%.1f s): exit %d: %s" % (secs, rc, line.strip()))
    return True


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    mpiexec, coordinator, exe = sys.argv[1:]
    if not is_hydra(mpiexec):
        print("SKIP: %s is not MPICH's hydra (PMI_RANK/PMI_SIZE and -launcher fork needed)" % mpiexec)
        return SKIP
    start = time.monotonic()
    ok = True
    worlds = [1, 2, 3, 4]
    spent = 0.0
    for n in worlds + [8]:
        left = TOTAL_BUDGET_S - (time.monotonic() - start)
        if n == 8 and spent > EIGHT_RANKS_IF_UNDER_S:
            print("skip n=8: n=1..4 took %.0f s (over %.0f s)" % (spent, EIGHT_RANKS_IF_UNDER_S))
            continue
        if left < 30:
            print("FAIL: out of time before n=%d" % n)
            ok = False
            break
        good, secs = compare_run(mpiexec, coordinator, exe, n, min(RUN_TIMEOUT_S, left - 20))
        ok &= good
        spent += secs
        sys.stdout.flush()
    left = TOTAL_BUDGET_S - (time.monotonic() - start)
    ok &= missing_token_run(mpiexec, exe, max(10.0, min(60.0, left)))
    print("run_mpi: %s in %.1f s" % ("PASS" if ok else "FAIL", time.monotonic() - start))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
