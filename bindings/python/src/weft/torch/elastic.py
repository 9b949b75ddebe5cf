"""weft.torch.elastic: DDP training that survives lost ranks and takes restarted ones back.

    model, opt = Net(), torch.optim.SGD(...)
    el = ElasticDDP(model, opt)                 # joins the job (weft.Comm from the environment)
    while el.step < steps:
        loss = el.run_step(lambda el: loss_fn(el.ddp(x[el.rank::el.size]), y[el.rank::el.size]))
        # None: the step failed (a peer was lost) and will be redone on the new membership
    el.close()

In the spirit of torchft's per-step quorum, but the quorum is weft's epoch:
  - Every step boundary calls weft.torch.recover(): one coordinator round trip when nothing
    changed (the coordinator answers NO_CHANGE), and the point where restarted ranks are let in.
  - A step whose collective fails with a membership error (WEFT_ERR_PEER_LOST, _REVOKED,
    _TIMEOUT, _TRANSPORT in the DistBackendError) is abandoned: the optimizer has not stepped on
    this rank, the loop returns to the boundary, recovers, and redoes the step. WEFT_ERR_EVICTED
    (this process was removed from the job) is not retried: run_step raises it, and the process
    should exit non-zero so that its launcher (weftrun --restart K) brings it back as a joiner.
  - After every epoch change the default process group is destroyed and made again on the
    recovered communicator (new rank, new size; a local HashStore, weft needs no store), DDP is
    rebuilt on it (so its gradient averaging divides by the new size), and every member copies
    step, model and optimizer state from one root: the lowest rank that already held a state
    (agreed by an allreduce MIN), never a joiner, even when a joiner was renumbered to rank 0.
    Survivors need it too: a collective that failed on some ranks may have completed on others,
    which then stepped once more.
Cost of an epoch change: destroying and creating the group and DDP (local), one allreduce, and a
broadcast of the pickled state (model + optimizer: O(model size) bytes from the root)."""
import hashlib
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

import weft

from . import init_process_group, is_membership_error, recover

_NO_STATE = 2**62


class ElasticDDP:
    def __init__(self, model, optimizer, comm=None, ddp_kwargs=None, max_failures=20, log=None):
        """model and optimizer as usual (CPU). comm: a weft.Comm (default: one from the
        environment; a restarted process joins the running job here). max_failures: failed
        steps in a row, without any success, after which run_step re-raises instead of retrying.
        log(str): where epoch changes are reported (default: stdout)."""
        self.model, self.optimizer = model, optimizer
        self.comm = comm if comm is not None else weft.Comm()
        self.ddp_kwargs = dict(ddp_kwargs or {})
        self.max_failures = max_failures
        self.log = log or (lambda s: print(s, flush=True))
        self.step = 0
        self.ddp = None
        self.epoch_changes = 0
        self.joined_late = self.comm.joined_late
        self._has_state = not self.joined_late  # a joiner has nothing to give; it receives
        self._skip_recover = True  # init just formed this epoch (a joiner's init was its recover)
        self._need_config = True
        self._failures = 0

    @property
    def rank(self):
        return self.comm.rank

    @property
    def size(self):
        return self.comm.size

    def run_step(self, fn):
        """One step: fn(self) returns the loss (use self.ddp, self.rank, self.size, self.step);
        run_step zeroes the gradients, calls backward and optimizer.step. Returns the loss as a
        float, or None when the step failed on a membership change and must be run again
        (self.step did not advance)."""
        if not self.sync_point():
            return None
        try:
            self.optimizer.zero_grad(set_to_none=True)
            loss = fn(self)
            loss.backward()
            self.optimizer.step()
        except Exception as e:  # noqa: BLE001 (only weft's membership errors are retried)
            if not is_membership_error(e):
                raise
            self.note_failure("step %d" % self.step, e)
            return None
        self._failures = 0
        self.step += 1
        return float(loss.detach())

    def params_hash(self):
        """sha256 of the model's parameters and buffers (and the step), to compare ranks."""
        h = hashlib.sha256(str(self.step).encode())
        for k, v in sorted(self.model.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().contiguous().cpu().numpy().tobytes())
        return h.hexdigest()

    def close(self):
        """Destroys the process group and closes the communicator (leaving the job cleanly)."""
        self._teardown()
        self.comm.close()

    # ---- the elastic part -------------------------------------------------------------------

    def sync_point(self):
        """The step boundary: recovers (cheap when nothing changed; lets waiting restarted ranks
        in) and reconfigures after an epoch change. False when that failed on a new membership
        error (call again). run_step calls it; call it yourself between steps, e.g. to wait for
        a joiner or before a collective of your own."""
        try:
            if self._skip_recover:
                self._skip_recover = False
            else:
                t0 = time.monotonic()
                info = recover(self.comm)
                if info.new_epoch != info.old_epoch:
                    self.epoch_changes += 1
                    self._need_config = True
                    self.log("weft.torch.elastic: epoch %d: size %d, rank %d, left %s, joined %s (recover %.3f s, "
                             "step %d)" % (info.new_epoch, info.new_size, info.new_rank, list(info.left),
                                           list(info.joined), time.monotonic() - t0, self.step))
            if self._need_config:
                self._configure()
                self._need_config = False
            return True
        except (weft.PeerLostError, weft.RevokedError) as e:  # a failure during recover itself
            self.note_failure("recover", e)
        except weft.UnavailableError as e:  # the coordinator is restarting: ask again
            self.note_failure("recover", e)
        except Exception as e:  # noqa: BLE001
            if not is_membership_error(e):
                raise
            self.note_failure("reconfigure", e)
        return False

    def note_failure(self, what, e):
        self._failures += 1
        self.log("weft.torch.elastic: %s failed (%d in a row): %s" % (what, self._failures, str(e).splitlines()[0]))
        if self._failures > self.max_failures:
            raise RuntimeError("weft.torch.elastic: %d failures in a row without progress" % self._failures) from e

    def _teardown(self):
        self.ddp = None
        if dist.is_initialized():
            dist.destroy_process_group()

    def _configure(self):
        """A new default group and DDP on the current epoch, with the state synchronised."""
        self._teardown()
        init_process_group(self.comm)
        self._sync_state()
        self.ddp = DDP(self.model, **self.ddp_kwargs)

    def _sync_state(self):
        mine = torch.tensor([self.rank if self._has_state else _NO_STATE], dtype=torch.int64)
        dist.all_reduce(mine, op=dist.ReduceOp.MIN)
        root = int(mine.item())
        if root == _NO_STATE:
            root = 0  # every member is new (the whole job restarted): start from rank 0's state
        box = [None]
        if self.rank == root:
            box[0] = {"step": self.step, "model": self.model.state_dict(), "optim": self.optimizer.state_dict()}
        dist.broadcast_object_list(box, src=root)
        if self.rank != root:
            state = box[0]
            self.step = state["step"]
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optim"])
        self._has_state = True


__all__ = ["ElasticDDP"]
