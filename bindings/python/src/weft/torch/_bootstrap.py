"""Where the "weft" backend's communicator comes from, per launcher.

weftrun: it started the coordinator and set WEFT_COORDINATOR, WEFT_RANK, ...: weft.Comm() reads
  them. torch's env:// rendezvous (plain init_process_group) needs RANK, WORLD_SIZE,
  MASTER_ADDR and MASTER_PORT, which torch_env_from_weftrun derives at import. weftrun exports
  MASTER_ADDR and MASTER_PORT (a port the kernel handed out, as torchrun does); when they are
  missing (WEFT_COORDINATOR set by hand, another launcher), MASTER_PORT is a guess every rank
  makes alike: a hash of the job token into 20000-31999, below Linux's ephemeral range
  (32768-60999) where outgoing connections take their ports.
torchrun: nobody starts a weft coordinator (weft's rule puts it at MASTER_ADDR:MASTER_PORT+1
  but does not run it). Rank 0 starts one (weft-coordinator from WEFT_COORDINATOR_BIN, the
  package's weft/bin/, or PATH)
  on an ephemeral port with a fresh job token and publishes address and token in torch's store,
  which every rank already shares; the others read them from there. The token is then only as
  secret as the TCPStore, which torch does not authenticate either.
Anything else with WEFT_COORDINATOR set (Slurm, MPI, a coordinator started by hand): the
  environment, as in C."""
import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time

import weft

_KEY_ADDR, _KEY_TOKEN = "weft/coordinator", "weft/job_token"
_COORD_START_S = 30.0
_STORE_PORT_BASE, _STORE_PORT_SPAN = 20000, 12000


def torch_env_from_weftrun(env):
    if not env.get("WEFT_COORDINATOR") or env.get("WEFT_RANK") is None:
        return
    host = env["WEFT_COORDINATOR"].rpartition(":")[0]
    env.setdefault("RANK", env["WEFT_RANK"])
    env.setdefault("WORLD_SIZE", env.get("WEFT_WORLD_SIZE", ""))
    env.setdefault("LOCAL_RANK", env.get("WEFT_LOCAL_RANK", env["WEFT_RANK"]))
    env.setdefault("MASTER_ADDR", host.strip("[]"))
    token = env.get("WEFT_JOB_TOKEN") or env["WEFT_COORDINATOR"]
    digest = int.from_bytes(hashlib.sha256(token.encode()).digest()[:4], "big")
    env.setdefault("MASTER_PORT", str(_STORE_PORT_BASE + digest % _STORE_PORT_SPAN))


def _under_torchrun():
    e = os.environ
    return not e.get("WEFT_COORDINATOR") and not e.get("WEFT_RANK") and bool(e.get("MASTER_ADDR")) \
        and (bool(e.get("TORCHELASTIC_RUN_ID")) or bool(e.get("RANK")))


def bundled_coordinator():
    """The weft-coordinator a pip install puts in the package (weft/bin/), or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(weft.__file__)), "bin", "weft-coordinator")
    return path if os.access(path, os.X_OK) else None


def _coordinator_binary():
    """WEFT_COORDINATOR_BIN, else the package's own (same version as the library), else PATH."""
    path = os.environ.get("WEFT_COORDINATOR_BIN") or bundled_coordinator() or shutil.which("weft-coordinator")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("weft.torch under torchrun: rank 0 must start a weft coordinator but found no "
                           "weft-coordinator (a pip install puts one in weft/bin/; otherwise set "
                           "WEFT_COORDINATOR_BIN or put it on PATH: build/tools/weft-coordinator), or start one "
                           "yourself and set WEFT_COORDINATOR=host:port and WEFT_JOB_TOKEN on every rank")
    return path


def _start_coordinator(size, timeout_s):
    """Starts weft-coordinator on an ephemeral port; returns (port, token). It lives in its own
    session (a crash of rank 0 is then a failure the others are told about, not the end of the
    membership service) and exits once every member left (--exit-when-done)."""
    token = os.environ.get("WEFT_JOB_TOKEN") or secrets.token_hex(16)
    d = tempfile.mkdtemp(prefix="weft-torch.")
    port_file = os.path.join(d, "port")
    env = dict(os.environ, WEFT_JOB_TOKEN=token)
    proc = subprocess.Popen([_coordinator_binary(), "--port", "0", "--port-file", port_file, "--world-size", str(size),
                             "--exit-when-done", "--linger", "5"],
                            env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    until = time.time() + min(_COORD_START_S, timeout_s or _COORD_START_S)
    while time.time() < until:
        if os.path.exists(port_file):
            with open(port_file) as f:
                port = int(f.read().strip())
            os.unlink(port_file)
            os.rmdir(d)
            return port, token
        if proc.poll() is not None:
            raise RuntimeError("weft.torch: weft-coordinator exited with status %d before listening" % proc.returncode)
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError("weft.torch: weft-coordinator did not report its port within %.0f s" % _COORD_START_S)


def make_comm(store, rank, size, timeout_s):
    """The weft.Comm for a first process group of rank `rank` of `size`."""
    if not _under_torchrun():
        return weft.Comm(timeout=timeout_s)
    if rank == 0:
        port, token = _start_coordinator(size, timeout_s)
        host = os.environ.get("WEFT_TORCH_COORDINATOR_HOST") or os.environ["MASTER_ADDR"]
        addr = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        store.set(_KEY_ADDR, addr)
        store.set(_KEY_TOKEN, token)
    else:
        store.wait([_KEY_ADDR, _KEY_TOKEN])  # bounded by the store's timeout (init's timeout)
        addr = store.get(_KEY_ADDR).decode()
        token = store.get(_KEY_TOKEN).decode()
    return weft.Comm(rank=rank, size=size, coordinator=addr, job_token=token, timeout=timeout_s)
