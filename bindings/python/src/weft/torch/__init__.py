"""weft.torch: weft as a torch.distributed backend named "weft".

    import torch.distributed as dist
    import weft.torch                      # registers the backend (compiles it on first use)
    dist.init_process_group("weft")        # under weftrun or torchrun
    dist.all_reduce(t)                     # CPU tensors; DDP and FSDP work on top

What it adds over gloo: a lost peer fails every pending and later operation within
milliseconds with torch.distributed.DistBackendError naming the rank (message
"weft: allreduce failed: WEFT_ERR_PEER_LOST: ..."), never a hang, and the process group can be
rebuilt on the survivors' next epoch (weft.torch.elastic does that for a DDP loop).

The process group wraps one weft.Comm per process (comm()): created on the first
init_process_group from the launcher's environment, or handed in with set_comm(). While a
group wraps it the Comm is pinned: close() refuses, and recovery goes through recover(comm),
which first completes the group's pending operations. See docs/PYTORCH.md."""
import atexit
import gc
import hashlib
import os
import re
from datetime import timedelta

import torch.distributed as dist

import weft

from . import _bootstrap, _ext

__all__ = ["comm", "set_comm", "recover", "init_process_group", "is_membership_error", "is_evicted", "error_name",
           "BACKEND"]

BACKEND = "weft"
_comm = None  # the weft.Comm every "weft" process group of this process wraps
_comm_ours = False  # made by the backend's creator (not handed in): a new default group replaces it

# Under weftrun, plain dist.init_process_group("weft") uses torch's env:// rendezvous, which
# wants torchrun's variables: derive them from weftrun's (_bootstrap says how the port is chosen).
_bootstrap.torch_env_from_weftrun(os.environ)


def comm():
    """The weft.Comm the "weft" backend uses in this process (None before the first group)."""
    return _comm if _comm is not None and not _comm.closed else None


def set_comm(c):
    """Makes the next "weft" process group wrap the open weft.Comm c (the elastic layer's way to
    build a group on a recovered communicator)."""
    global _comm, _comm_ours
    if not isinstance(c, weft.Comm):
        raise TypeError("set_comm: expected a weft.Comm, got %r" % (c,))
    _comm, _comm_ours = c, False


def recover(c=None):
    """weft_comm_recover on c (default: comm()) once every operation the process groups on it
    issued has completed; returns a weft.RecoverInfo. Process groups made before a recover that
    changed the epoch refuse further work: destroy them and create new ones."""
    c = c if c is not None else comm()
    if c is None:
        raise RuntimeError("weft.torch.recover: no weft communicator (call init_process_group first)")
    return _ext.load().recover(c)


def init_process_group(c=None, **kwargs):
    """dist.init_process_group("weft") on the weft.Comm c (default: one from the environment),
    with a local HashStore: weft needs no store, and a restarted rank has no TCPStore to reach."""
    c = c if c is not None else (comm() or weft.Comm())
    set_comm(c)
    kwargs.setdefault("store", dist.HashStore())
    dist.init_process_group(BACKEND, rank=c.rank, world_size=c.size, **kwargs)
    return c


_ERROR_NAME = re.compile(r"\b(WEFT_ERR_[A-Z_]+)\b")


def error_name(exc):
    """"WEFT_ERR_PEER_LOST" etc. for an exception raised by a weft process group, else None."""
    if isinstance(exc, weft.WeftError):
        return exc.name
    m = _ERROR_NAME.search(str(exc))
    return m.group(1) if m else None


def is_membership_error(exc):
    """True when exc means the membership changed (a peer was lost, the epoch was revoked or an
    operation timed out): the caller should recover and rebuild its process group. False for
    WEFT_ERR_EVICTED (is_evicted): that process is out of the job and must not recover -- it
    should exit, and a launcher with restarts brings it back as a joiner."""
    return error_name(exc) in ("WEFT_ERR_PEER_LOST", "WEFT_ERR_REVOKED", "WEFT_ERR_TIMEOUT", "WEFT_ERR_TRANSPORT")


def is_evicted(exc):
    """True when exc says this process was removed from the job (WEFT_ERR_EVICTED: stopped or cut
    off past the heartbeat timeout, or its coordinator connection lost). Terminal: every later
    call and recover() raise it again; exit (non-zero) so `weftrun --restart K` restarts it."""
    return error_name(exc) == "WEFT_ERR_EVICTED"


def _timeout_s(timeout):
    if isinstance(timeout, timedelta):
        return timeout.total_seconds()
    return None


def _create_backend(opts, backend_options=None):
    """The creator torch calls for every "weft" group (init_process_group, new_group), with
    torch's _DistributedBackendOptions (the extended API: it names the group's global ranks).

    The default group: a new default group made over a store (not under weftrun) is a new job,
    so the communicator the backend made for an earlier one is retired and the ranks meet again
    through this store; otherwise it wraps the communicator there is (set_comm, weftrun).
    Any other group (new_group): a weft communicator of its own over its global ranks, made with
    weft_comm_create_group by its members only, so it progresses independently of the others."""
    global _comm, _comm_ours
    store, rank, size, timeout = opts.store, opts.group_rank, opts.group_size, opts.timeout
    c = comm()
    if not dist.is_initialized():
        if c is not None and _comm_ours and not _bootstrap.from_launcher_env():
            _retire(c)
            c = None
        if c is None:
            c = _bootstrap.make_comm(store, rank, size, _timeout_s(timeout))
            _comm, _comm_ours = c, True
        return _ext.load().create_backend(c, rank, size)
    if c is None:
        raise RuntimeError("weft.torch: new_group before the default \"weft\" group has a communicator")
    ranks = [int(r) for r in (opts.global_ranks_in_group or range(c.size))]
    child = c.create_group(ranks, tag=_group_tag(opts.group_id))
    _children.append(child)
    if _timeout_s(timeout):
        child.timeout = _timeout_s(timeout)  # new_group(timeout=...) bounds its operations
    return _ext.load().create_backend(child, rank, size)


_children = []  # the communicators of new_group groups, closed with their parent's job or at exit


def _group_tag(group_id):
    """A 64-bit tag every member derives alike from torch's group name."""
    digest = hashlib.blake2b(str(group_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _retire(c):
    """Closes a communicator of an earlier job once no group wraps it any more; one still
    wrapped (a group object kept alive) is left to its groups and closed at exit."""
    gc.collect()  # the earlier groups' backends, if only cycles hold them
    for child in list(_children):
        try:
            child.close()
            _children.remove(child)
        except weft.WeftError:
            pass  # a process group still wraps it
    try:
        c.close()
    except weft.WeftError:
        pass


dist.Backend.register_backend(BACKEND, _create_backend, extended_api=True, devices=["cpu"])
_ext.load()  # compile now (cached after the first time): build problems show at import


def _destroy_at_exit():
    # Runs before weft's own exit hook (registered earlier): a group still alive pins its Comm,
    # and the hook leaves pinned communicators alone, so destroy the groups first.
    try:
        if dist.is_initialized() and dist.get_backend() == BACKEND:
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001 (exiting: nothing left to report to)
        pass
    gc.collect()


atexit.register(_destroy_at_exit)
