"""ddp_elastic: DDP training that survives a killed rank and takes its restart back.

    weftrun -n 4 --restart 1 python3 examples/ddp_elastic.py [--steps 400] [--sleep-ms 20]

A small MLP learns a fixed linear target from synthetic data (fixed seeds, CPU). Each step's
global batch (24 samples, seeded by the step number) is split evenly over the current members,
so the averaged gradient is the same whatever the world size; weft.torch.elastic.ElasticDDP
recovers, rebuilds the process group and DDP, and re-syncs state when the membership changes.

Output (parsed by tests/torch/test_elastic.py):
  START launch_rank=R pid=P joined_late=0|1
  STEP step=S loss=L size=N                      every 10 steps, from rank 0 of the epoch
  DONE steps=S size=N epochs=E changes=C initial_eval=X final_eval=Y hash=H agree=1
agree=1: every member holds the same parameters (their hashes were allgathered and compared).
Exit status 0 when done and agreeing, 2 when the members disagree."""
import argparse
import hashlib
import os
import sys
import time

import torch
import torch.distributed as dist

import weft.torch  # noqa: F401  (registers the "weft" backend)
from weft.torch.elastic import ElasticDDP

GLOBAL_BATCH = 24  # divisible by 1, 2, 3, 4, 6, 8: equal shards for every membership tested
IN_DIM = 16


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(IN_DIM, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))


def batch(step):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(GLOBAL_BATCH, IN_DIM, generator=g)
    w = torch.linspace(-1.0, 1.0, IN_DIM).unsqueeze(1)
    return x, x @ w + 0.01 * torch.randn(GLOBAL_BATCH, 1, generator=g)


def eval_loss(model):
    x, y = batch(-1)  # a held-out batch, identical everywhere
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(model(x), y))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--sleep-ms", type=float, default=20.0, help="simulated compute per step")
    ap.add_argument("--final-size", type=int, default=0,
                    help="after the last step, wait (recovering) until the membership has this size")
    ap.add_argument("--final-wait", type=float, default=60.0, help="... for at most this many seconds")
    args = ap.parse_args()
    torch.set_num_threads(1)

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    initial_eval = eval_loss(model)  # the same on every rank: the seed fixes the initial model
    print("START launch_rank=%s pid=%d joined_late=-" % (os.environ.get("WEFT_RANK", "?"), os.getpid()), flush=True)
    el = ElasticDDP(model, opt)
    print("JOINED launch_rank=%s joined_late=%d rank=%d size=%d" % (
        os.environ.get("WEFT_RANK", "?"), el.joined_late, el.rank, el.size), flush=True)

    def loss_fn(el):
        x, y = batch(el.step)
        xs, ys = x[el.rank::el.size], y[el.rank::el.size]
        return torch.nn.functional.mse_loss(el.ddp(xs), ys)

    while el.step < args.steps:
        time.sleep(args.sleep_ms / 1000.0)
        loss = el.run_step(loss_fn)
        if loss is not None and el.rank == 0 and el.step % 10 == 0:
            print("STEP step=%d loss=%.6f size=%d" % (el.step, loss, el.size), flush=True)

    # A restarted rank may still be on its way: let it in, so that it ends with the others.
    until = time.time() + args.final_wait
    while el.size < args.final_size and time.time() < until:
        time.sleep(0.05)
        el.sync_point()

    # Agreement: allgather the first 8 bytes of each member's parameter hash. Retried like a
    # step if the membership changes meanwhile.
    while True:
        if not el.sync_point():
            continue
        h = el.params_hash()
        mine = torch.tensor([int(h[:15], 16)], dtype=torch.int64)
        allh = torch.empty(el.size, dtype=torch.int64)
        try:
            dist.all_gather_into_tensor(allh, mine)
            break
        except dist.DistBackendError as e:
            if not weft.torch.is_membership_error(e):
                raise
            el.note_failure("agreement", e)
    agree = bool((allh == mine).all())
    print("DONE steps=%d size=%d epochs=%d changes=%d initial_eval=%.6f final_eval=%.6f hash=%s agree=%d" % (
        el.step, el.size, el.comm.epoch, el.epoch_changes, initial_eval, eval_loss(model), h[:16], agree), flush=True)
    el.close()
    return 0 if agree else 2


if __name__ == "__main__":
    sys.exit(main())
