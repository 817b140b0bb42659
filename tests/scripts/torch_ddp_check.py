"""Run in its own process (see test_wrappers_torch.py): a losskit.torch criterion in a
two-process DistributedDataParallel training step (gloo, CPU) gives the full-batch gradient.

Each rank takes half of a batch; DDP averages the ranks' gradients, which for a mean loss over
equal halves is the gradient of the mean over the whole batch, computed here in one process.
"""

from __future__ import annotations

import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

import losskit.torch as lkt

WORLD = 2


def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)


def model() -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Linear(5, 3)


def worker(rank: int, init_file: str, out: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    x, y = data()
    half = x.shape[0] // WORLD
    net = DistributedDataParallel(model())
    criterion = lkt.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    loss = criterion(net(x[rank * half : (rank + 1) * half]), y[rank * half : (rank + 1) * half])
    loss.backward()
    if rank == 0:
        torch.save(net.module.weight.grad, out)
    dist.barrier()  # no rank tears gloo down while another still talks to it
    dist.destroy_process_group()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "grad.pt")
        mp.spawn(worker, args=(os.path.join(tmp, "init"), out), nprocs=WORLD, join=True)
        ddp_grad = torch.load(out)
    x, y = data()
    net = model()
    criterion = lkt.SparseCategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    criterion(net(x), y).backward()
    torch.testing.assert_close(ddp_grad, net.weight.grad, rtol=1e-5, atol=1e-6)
    print("all ok")


if __name__ == "__main__":
    sys.exit(main())
