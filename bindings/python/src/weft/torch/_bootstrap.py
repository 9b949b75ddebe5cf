"""Where the "weft" backend's communicator comes from.

weftrun (or any launcher that sets WEFT_RANK and WEFT_COORDINATOR): weft.Comm() reads them, as in
  C. torch's env:// rendezvous (plain init_process_group) needs RANK, WORLD_SIZE, MASTER_ADDR and
  MASTER_PORT, which torch_env_from_weftrun derives at import. weftrun exports MASTER_ADDR and
  MASTER_PORT (a port the kernel handed out, as torchrun does); when they are missing,
  MASTER_PORT is a guess every rank makes alike: a hash of the job token into 20000-31999, below
  Linux's ephemeral range (32768-60999) where outgoing connections take their ports.
Everything else (torchrun, init_method env://, tcp://host:port or file://path with an explicit
  rank and world_size, a store handed to init_process_group): rank and size are torch's, and
  the ranks meet through the c10d store torch hands the backend's creator. Rank 0 starts a
  weft-coordinator (WEFT_COORDINATOR_BIN, the package's weft/bin/, or PATH) on an ephemeral
  port with a fresh random job token, or uses the one WEFT_COORDINATOR names (with
  WEFT_JOB_TOKEN), and publishes address and token in the store; the others wait for them
  there, bounded by init_process_group's timeout. The token is then only as secret as the
  store, which torch does not authenticate either.

Keys live under weft/<generation>/: every rank adds 1 to weft/arrivals once per rendezvous and
the generation is (value - 1) // size. A rendezvous ends only when every rank joined the weft
communicator, so all of one job's additions come before any of the next job's on the same
store: jobs that reuse a store (destroy_process_group, then init again) never read each
other's keys.

The advertised host is the one the other ranks reach rank 0 at: WEFT_TORCH_COORDINATOR_HOST,
else the host of the TCPStore beneath the store (tcp://host:port, env://'s MASTER_ADDR,
torchrun's), else MASTER_ADDR, else 127.0.0.1 (file:// on one machine; across machines set
MASTER_ADDR or WEFT_TORCH_COORDINATOR_HOST). The coordinator listens on every IPv4 address,
or on every IPv6 (and, dual-stack, IPv4) address when the host is an IPv6 literal; a name
such as localhost that resolves to ::1 and 127.0.0.1 is fine, as weft tries every address."""
import hashlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from datetime import timedelta

import torch.distributed as dist

import weft

_PREFIX = "weft/"
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


def _start_coordinator(size, timeout_s, listen_host):
    """Starts weft-coordinator on an ephemeral port with a fresh random token; returns
    (process, port, token). It lives in its own session (a crash of rank 0 is then a failure the
    others are told about, not the end of the membership service) and exits once every member
    left (--exit-when-done)."""
    token = secrets.token_hex(16)
    d = tempfile.mkdtemp(prefix="weft-torch.")
    port_file = os.path.join(d, "port")
    argv = [_coordinator_binary(), "--port", "0", "--port-file", port_file, "--world-size", str(size),
            "--exit-when-done", "--linger", "5"]
    if listen_host:
        argv += ["--host", listen_host]
    proc = subprocess.Popen(argv, env=dict(os.environ, WEFT_JOB_TOKEN=token), stdin=subprocess.DEVNULL,
                            start_new_session=True)
    limit = min(_COORD_START_S, timeout_s or _COORD_START_S)
    until = time.monotonic() + limit
    try:
        while time.monotonic() < until:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    return proc, int(f.read().strip()), token
            if proc.poll() is not None:
                raise RuntimeError("weft.torch: weft-coordinator exited with status %d before listening" % proc.returncode)
            time.sleep(0.01)
        proc.kill()
        proc.wait()
        raise RuntimeError("weft.torch: weft-coordinator did not report its port within %.0f s" % limit)
    finally:
        if os.path.exists(port_file):
            os.unlink(port_file)
        os.rmdir(d)


def _tcpstore_host(store):
    """The host of the TCPStore beneath store's PrefixStores (what every rank dials), or None."""
    for _ in range(16):
        if isinstance(store, dist.TCPStore):
            return store.host
        if not isinstance(store, dist.PrefixStore):
            return None
        store = store.underlying_store
    return None


def _advertised_host(store):
    return os.environ.get("WEFT_TORCH_COORDINATOR_HOST") or _tcpstore_host(store) or os.environ.get("MASTER_ADDR") \
        or "127.0.0.1"


def _join(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def _publish(store, keys, size, timeout_s):
    """Rank 0: publishes the coordinator's address and the job token, starting a coordinator
    unless WEFT_COORDINATOR names one; returns (the process it started or None, address, token)."""
    if os.environ.get("WEFT_COORDINATOR"):
        proc, addr, token = None, os.environ["WEFT_COORDINATOR"], os.environ.get("WEFT_JOB_TOKEN", "")
    else:
        host = _advertised_host(store).strip("[]")
        proc, port, token = _start_coordinator(size, timeout_s, "::" if ":" in host else None)
        addr = _join(host, port)
    store.set(keys[0], addr)
    store.set(keys[1], token)
    return proc, addr, token


def _fetch(store, keys, rank, size, timeout_s):
    """Ranks other than 0: what rank 0 published, waiting at most timeout_s (the store's own
    timeout when None)."""
    wait_s = timeout_s if timeout_s is not None else store.timeout.total_seconds()
    try:
        store.wait(keys, timedelta(seconds=wait_s))
    except (dist.DistError, RuntimeError) as e:
        raise dist.DistStoreError(
            "weft: rank %d of %d waited %.0f s for rank 0 to publish the weft coordinator's address in the store "
            "(key %s) and gave up: is rank 0 running, with the same init_method and world_size? (%s)"
            % (rank, size, wait_s, keys[0], str(e).splitlines()[0] if str(e) else type(e).__name__)) from e
    return store.get(keys[0]).decode(), store.get(keys[1]).decode()


def _store_rendezvous(store, rank, size, timeout_s):
    gen = (store.add(_PREFIX + "arrivals", 1) - 1) // size
    keys = ["%s%d/coordinator" % (_PREFIX, gen), "%s%d/job_token" % (_PREFIX, gen)]
    proc = None
    if rank == 0:
        proc, addr, token = _publish(store, keys, size, timeout_s)
    else:
        addr, token = _fetch(store, keys, rank, size, timeout_s)
    try:
        return weft.Comm(rank=rank, size=size, coordinator=addr, job_token=token, timeout=timeout_s)
    except BaseException:
        if proc is not None:  # nobody will join it now
            proc.kill()
            proc.wait()
        raise


def from_launcher_env():
    """True under weftrun (or a launcher that set weft's own WEFT_RANK and WEFT_COORDINATOR)."""
    return os.environ.get("WEFT_RANK") is not None and bool(os.environ.get("WEFT_COORDINATOR"))


def make_comm(store, rank, size, timeout_s):
    """The weft.Comm for a first process group: rank `rank` of `size` as torch numbers them."""
    if from_launcher_env():
        c = weft.Comm(timeout=timeout_s)  # weftrun's job, as in C
        if (c.rank, c.size) != (rank, size):
            got = (c.rank, c.size)
            c.close()
            raise ValueError("weft: torch says rank %d of %d but the launcher's WEFT_RANK/WEFT_WORLD_SIZE say rank %d "
                             "of %d" % ((rank, size) + got))
        return c
    return _store_rendezvous(store, rank, size, timeout_s)
