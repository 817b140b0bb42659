"""PyTorch DistributedDataParallel: one global mean over ranks and micro-batches, exactly.

A small convolutional tagger labels every token of synthetic variable-length sequences (padding
labelled -100, the ``ignore_index``), and a contrastive head pulls two corrupted views of each
sequence together with ``losskit.distributed.info_nce`` over the batch of *every* rank. Each
optimizer step accumulates gradients over ``MICRO`` micro-batches per rank.

The token loss is a mean over the tokens of the whole step: the valid tokens of every micro-batch
are counted first, ``losskit.distributed.global_normalizer`` sums the counts over the ranks (one
all-reduce), and every micro-batch's loss is divided by that one number (``normalizer=``). The
contrastive loss of each micro-batch is taken over the global micro-batch (all ranks' rows).

On the first step the script checks that the DDP gradient equals the gradient of the same
objective computed in one process on the full batch, then trains and prints the loss per step.

Run from the repository root, on CPU (gloo)::

    torchrun --nproc_per_node=2 examples/ddp_train.py
    python examples/ddp_train.py          # one process: the same numbers
"""

from __future__ import annotations

import contextlib
import copy
import gc
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import losskit as lk
import losskit.distributed as lkd

VOCAB, TAGS, LENGTH, WIDTH = 24, 3, 16, 32
PAD, HIDE = 0, VOCAB - 1  # padding token; the token that hides a position in a view
IGNORE = -100
GLOBAL_MICRO, MICRO, STEPS = 16, 2, 40  # rows per global micro-batch, micro-batches per step
CONTRAST = 0.2  # weight of the contrastive loss


class Tagger(nn.Module):
    """Embedding → convolution → per-token tag logits, and a projection of the mean state."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.conv = nn.Conv1d(WIDTH, WIDTH, 5, padding=2)
        self.tags = nn.Linear(WIDTH, TAGS)
        self.project = nn.Linear(WIDTH, 16)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens).transpose(1, 2)
        return torch.tanh(self.conv(h)).transpose(1, 2)  # (B, T, WIDTH)

    def forward(self, tokens: torch.Tensor, view_a: torch.Tensor, view_b: torch.Tensor):
        # one forward per backward (DDP's rule): the three inputs go through in one batch
        states = self.encode(torch.cat([tokens, view_a, view_b]))
        kept = (torch.cat([tokens, view_a, view_b]) != PAD).unsqueeze(-1).to(states.dtype)
        pooled = (states * kept).sum(1) / kept.sum(1).clamp(min=1.0)
        n = tokens.shape[0]
        z = self.project(pooled)
        return self.tags(states[:n]), z[n : 2 * n], z[2 * n :]


def step_data(step: int) -> dict[str, torch.Tensor]:
    """The whole step's batch (every rank builds the same; each then takes its rows): MICRO
    global micro-batches of GLOBAL_MICRO sequences, stacked."""
    g = torch.Generator().manual_seed(1000 + step)
    n = MICRO * GLOBAL_MICRO
    tokens = torch.randint(1, HIDE, (n, LENGTH), generator=g)
    lengths = torch.randint(2, LENGTH + 1, (n,), generator=g)
    lengths[:3] = 2  # a few very short sequences: the micro-batches hold unequal token counts
    padded = torch.arange(LENGTH)[None, :] >= lengths[:, None]
    tokens[padded] = PAD
    previous = torch.cat([torch.zeros(n, 1, dtype=tokens.dtype), tokens[:, :-1]], dim=1)
    labels = torch.sign(tokens - previous) + 1  # the tag: down, same or up from the last token
    labels[padded] = IGNORE

    def view() -> torch.Tensor:
        hidden = (torch.rand(n, LENGTH, generator=g) < 0.25) & ~padded
        return torch.where(hidden, torch.full_like(tokens, HIDE), tokens)

    return {"tokens": tokens, "labels": labels, "view_a": view(), "view_b": view()}


def rows(micro: int, rank: int, world: int) -> slice:
    """This rank's rows of global micro-batch ``micro``."""
    share = GLOBAL_MICRO // world
    start = micro * GLOBAL_MICRO + rank * share
    return slice(start, start + share)


def losses(net: nn.Module, batch: dict[str, torch.Tensor], normalizer, library):
    """Token loss (``normalizer``: None for a plain mean) and contrastive loss of one batch;
    ``library`` is ``losskit`` (one process) or ``losskit.distributed`` (this rank's share)."""
    logits, z_a, z_b = net(batch["tokens"], batch["view_a"], batch["view_b"])
    tokens = lk.sparse_categorical_crossentropy(
        batch["labels"], logits, from_logits=True, ignore_index=IGNORE, normalizer=normalizer
    )
    contrastive = library.info_nce(z_a, z_b, temperature=0.2)
    return tokens, contrastive


def train_step(net: nn.Module, data: dict[str, torch.Tensor], rank: int, world: int) -> float:
    """One optimizer step over MICRO micro-batches; returns the global loss (all ranks)."""
    pieces = [{k: v[rows(m, rank, world)] for k, v in data.items()} for m in range(MICRO)]
    # 1. count the valid tokens of the whole step, then one all-reduce (no host sync)
    #    (for any loss: lkd.mean_denominator(loss, *inputs, **kwargs) gives the same count)
    count = sum((piece["labels"] != IGNORE).sum() for piece in pieces)
    normalizer = lkd.global_normalizer(count)  # global count / world: DDP averages gradients
    total = torch.zeros(())
    for m, piece in enumerate(pieces):
        # 2. no gradient all-reduce until the last micro-batch
        last = m == MICRO - 1
        sync = net.no_sync() if (world > 1 and not last) else contextlib.nullcontext()
        with sync:
            tokens, contrastive = losses(net, piece, normalizer, lkd)
            loss = tokens + CONTRAST * contrastive / MICRO
            loss.backward()
        total += loss.detach()
    if world > 1:  # the ranks' values average to the global loss
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        total /= world
    return float(total)


def full_batch_gradient(model: nn.Module, data: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The same objective in one process on the whole step: the plain token mean over every
    micro-batch, plus the contrastive loss of each global micro-batch."""
    model.zero_grad()
    tokens, _ = losses(model, data, None, lk)
    contrastive = 0.0
    for m in range(MICRO):
        piece = {k: v[m * GLOBAL_MICRO : (m + 1) * GLOBAL_MICRO] for k, v in data.items()}
        contrastive = contrastive + losses(model, piece, None, lk)[1]
    (tokens + CONTRAST * contrastive / MICRO).backward()
    return [p.grad.clone() for p in model.parameters()]


def train(rank: int, world: int) -> None:
    """The training loop; checks the first step's gradient against one process."""
    torch.manual_seed(0)
    model = Tagger()
    reference = copy.deepcopy(model)
    net = DistributedDataParallel(model) if world > 1 else model
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(STEPS):
        data = step_data(step)
        optimizer.zero_grad()
        value = train_step(net, data, rank, world)
        if step == 0:
            expected = full_batch_gradient(reference, data)
            worst = max(
                float((p.grad - e).abs().max())
                for p, e in zip(model.parameters(), expected, strict=True)
            )
            for p, e in zip(model.parameters(), expected, strict=True):
                torch.testing.assert_close(p.grad, e, rtol=1e-4, atol=1e-6)
            if rank == 0:
                print(
                    f"world {world}: the first step's gradient equals the one-process "
                    f"full-batch gradient (largest difference {worst:.1e})"
                )
        optimizer.step()
        if rank == 0:
            print(f"step {step:2d}: loss {value:.4f}")


def main() -> None:
    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if world > 1 else 0
    if GLOBAL_MICRO % world:
        raise SystemExit(f"GLOBAL_MICRO={GLOBAL_MICRO} must be a multiple of the world size")
    train(rank, world)
    if world > 1:
        # The model, DDP's reducer (held by hooks on the parameters) and its gloo work objects
        # are gone with train()'s frame: collect them while the group still exists. Left to
        # interpreter shutdown, gloo's threads can abort the process after the run.
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
