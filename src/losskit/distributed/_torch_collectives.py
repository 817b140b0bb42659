"""torch.distributed collectives that autograd differentiates, and the group bookkeeping.

Convention (the one DistributedDataParallel assumes): every rank computes a *share* ``L_r`` of
the loss from its local inputs and, through these collectives, the other ranks' inputs; the
objective is ``L = Σ_r L_r``. The backward of a collective sends each rank's gradient to the
rank that owns the input, so rank ``r``'s local inputs receive ``∂L/∂x_r`` — the gradient of the
*whole* objective, not just of their own share. DDP then averages the parameter gradients over
the ``W`` ranks, so it computes ``∇(L / W)``; the losses of ``losskit.distributed`` scale their
shares accordingly (see ``average_gradients`` there).

This module imports torch; ``losskit.distributed`` imports it only when one of its torch
functions is first used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

from .. import _validate
from .._backend import backend_of


# ---------------------------------------------------------------------- groups
def initialised() -> bool:
    """Whether a default process group exists (False where torch.distributed is unavailable)."""
    return bool(dist.is_available() and dist.is_initialized())


def rank_and_world(group: Any) -> tuple[int, int]:
    """This process's rank in ``group`` and the group's size; ``(0, 1)`` when no process group
    is initialised (then ``group`` must be None)."""
    if not initialised():
        if group is not None:
            raise RuntimeError(
                "group was given but torch.distributed is not initialised; call "
                "torch.distributed.init_process_group first (or pass group=None to run on one "
                "process)"
            )
        return 0, 1
    rank = dist.get_rank(group)
    if rank < 0:
        raise ValueError("this process is not a member of group; call the loss on its members")
    return rank, dist.get_world_size(group)


def global_rank(group: Any, rank: int) -> int:
    """The default group's rank of ``group``'s rank ``rank`` (what point-to-point calls take)."""
    return rank if group is None else dist.get_global_rank(group, rank)


def group_device(group: Any) -> torch.device:
    """The device a collective of ``group`` communicates from: the current CUDA device for NCCL,
    the CPU otherwise."""
    if initialised() and "nccl" in str(dist.get_backend(group)).lower():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def require_tensor(x: Any, name: str, function: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{function} runs on torch.distributed and takes torch tensors; {name} is a "
            f"{type(x).__module__}.{type(x).__name__} (losskit.distributed.jax and "
            f"losskit.distributed.tensorflow cover the other frameworks)"
        )
    return x


def batch_sizes(
    n: int, sizes: Sequence[int] | None, group: Any, device: Any, checking: bool = True
) -> list[int]:
    """Every rank's batch size (dim 0) in rank order.

    Without ``sizes`` they are gathered (one small all-gather, read on the host). With ``sizes``
    and value checks on, the same all-gather also carries every rank's ``sizes``, so a list
    that disagrees with the ranks' batches raises the same ``ValueError`` on every rank instead
    of one rank raising while the others wait on the next collective; with checks off
    (``checking=False``: ``lk.set_validation(False)``, or while compiling) ``sizes`` is trusted
    and nothing is communicated, and only a rank whose own batch disagrees can see it.
    """
    rank, world = rank_and_world(group)
    listed, problem = _listed_sizes(sizes, world)
    if world == 1 or (listed is not None and not checking):
        if problem is not None:
            raise ValueError(problem)
        if listed is not None and listed[rank] != n:
            raise ValueError(
                f"sizes[{rank}] = {listed[rank]} but this rank's batch has {n} rows; sizes must "
                "list every rank's batch size in rank order"
            )
        return [n] if listed is None else listed
    table = _gather_sizes(n, listed, problem, group, device, world)
    counts = [row[0] for row in table]
    _check_sizes(table, counts, rank, problem)
    return counts


#: What a rank reports of its ``sizes`` in :func:`_gather_sizes`'s table.
_NO_SIZES, _SIZES, _BAD_SIZES = 0, 1, 2


def _listed_sizes(sizes: Any, world: int) -> tuple[list[int] | None, str | None]:
    """``sizes`` as a list (None when not given), and what is wrong with it, if anything."""
    if sizes is None:
        return None, None
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
        return None, f"sizes must be a sequence of ints, one per rank; got {type(sizes).__name__}"
    listed = list(sizes)
    if len(listed) != world or any(
        isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in listed
    ):
        return None, (
            f"sizes must hold one non-negative int per rank of the group ({world}); got {listed}"
        )
    return listed, None


def _gather_sizes(
    n: int, listed: list[int] | None, problem: str | None, group: Any, device: Any, world: int
) -> list[list[int]]:
    """Every rank's row ``[n, what its sizes are, sizes...]`` (one all-gather of ints)."""
    status = _BAD_SIZES if problem is not None else _NO_SIZES if listed is None else _SIZES
    row = [n, status, *(listed if listed is not None else [0] * world)]
    mine = torch.tensor(row, dtype=torch.int64, device=device)
    gathered = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(gathered, mine, group=group)
    return [[int(v) for v in part] for part in torch.stack(gathered).tolist()]


def _check_sizes(table: list[list[int]], counts: list[int], rank: int, problem: str | None) -> None:
    """Raise on every rank alike when a rank's ``sizes`` is malformed or disagrees with the
    batches the ranks hold (``counts``); every rank decides from the same gathered table."""
    bad = [r for r, row in enumerate(table) if row[1] == _BAD_SIZES]
    if bad:
        detail = f" (this rank: {problem})" if problem is not None else ""
        raise ValueError(
            f"sizes is not one non-negative int per rank of the group ({len(table)}) on rank(s) "
            f"{', '.join(map(str, bad))}{detail}; every rank must pass the same sizes"
        )
    given = [row[2:] for row in table if row[1] == _SIZES]
    if any(listed != given[0] for listed in given):
        passed = "; ".join(f"rank {r}: {row[2:]}" for r, row in enumerate(table) if row[1])
        raise ValueError(
            f"sizes differ between the ranks ({passed}); the ranks hold {counts} rows, and "
            "every rank must pass that same list"
        )
    if given and given[0] != counts:
        k = next(k for k, (s, c) in enumerate(zip(given[0], counts, strict=True)) if s != c)
        whose = "this rank's" if k == rank else f"rank {k}'s"
        raise ValueError(
            f"sizes[{k}] = {given[0][k]} but {whose} batch has {counts[k]} rows (the ranks hold "
            f"{counts}); sizes must list every rank's batch size in rank order"
        )


# ---------------------------------------------------------------------- all-gather
class _AllGather(torch.autograd.Function):
    """Forward: the ranks' tensors concatenated on dim 0. Backward: the incoming gradient summed
    over the ranks (every rank's share of the loss may use every slice), then this rank's slice."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, group: Any, sizes: list[int], rank: int) -> torch.Tensor:
        ctx.group, ctx.sizes, ctx.rank = group, sizes, rank
        top = max(sizes)
        local = x.contiguous()
        if local.shape[0] < top:  # unequal batches: pad to the largest, trim after
            pad = local.new_zeros((top - local.shape[0], *local.shape[1:]))
            local = torch.cat([local, pad])
        parts = [torch.empty_like(local) for _ in sizes]
        dist.all_gather(parts, local, group=group)
        return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        total = grad.contiguous().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=ctx.group)
        start = sum(ctx.sizes[: ctx.rank])
        return total[start : start + ctx.sizes[ctx.rank]], None, None, None


def gather(x: torch.Tensor, group: Any, sizes: list[int]) -> torch.Tensor:
    """:class:`_AllGather` with the sizes known (no checks; world 1 returns ``x``)."""
    rank, world = rank_and_world(group)
    if world == 1:
        return x
    return _AllGather.apply(x, group, sizes, rank)


def all_gather(x: Any, *, group: Any = None, sizes: Sequence[int] | None = None) -> Any:
    r"""Concatenate every rank's ``x`` on dim 0, differentiably: ``[x_0; x_1; …; x_{W-1}]``.

    The result is the same tensor on every rank of ``group`` (the default group when None), in
    rank order. Its gradient reaches each rank's own ``x``: the backward sums the incoming
    gradients over the ranks (an all-reduce) and returns this rank's slice. So when each rank
    computes a share :math:`L_r` of an objective :math:`L = \sum_r L_r` from the gathered
    tensor, ``x.grad`` on rank ``r`` is :math:`\partial L / \partial x_r` — the whole objective's
    gradient — and DistributedDataParallel's averaging then gives :math:`\nabla (L / W)`. (The
    ``torch.distributed`` ``all_gather`` has no gradient; a backward that only took the local
    slice of the local gradient would miss the other ranks' terms.)

    Args:
        x: a tensor ``(B_r, ...)``; the trailing shape and dtype must agree on every rank.
        group: the process group (None: the default one). Without an initialised process
            group this returns ``x`` (world size 1).
        sizes: every rank's ``B_r`` in rank order, when known (e.g. ``[B] * world``); None
            gathers them first (one small all-gather and a read on the host). With value
            checks on (``lk.set_validation``, eager) that all-gather runs anyway and checks
            ``sizes`` against every rank's batch, so a wrong list raises on every rank; with
            checks off ``sizes`` saves it. Unequal sizes are allowed (the tensors are padded
            for the transfer).

    >>> import torch
    >>> from losskit.distributed import all_gather
    >>> all_gather(torch.ones(2, 3)).shape  # one process: the tensor itself
    torch.Size([2, 3])
    """
    x = require_tensor(x, "x", "all_gather")
    if x.dim() == 0:
        raise ValueError("x must have a batch dimension (dim 0) to gather on; got a 0-d tensor")
    checking = _validate.checking_values(backend_of(x), x)
    listed = batch_sizes(x.shape[0], sizes, group, x.device, checking)
    return gather(x, group, listed)


def all_gather_constant(x: torch.Tensor, group: Any, sizes: list[int]) -> torch.Tensor:
    """Like :func:`gather` for a tensor that needs no gradient (masks, weights)."""
    with torch.no_grad():
        return gather(x.detach(), group, sizes)


def all_reduce_sum(x: torch.Tensor, group: Any) -> torch.Tensor:
    """The sum over the ranks of a tensor that needs no gradient (a copy; world 1: ``x``)."""
    _, world = rank_and_world(group)
    if world == 1:
        return x
    total = x.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
    return total


# ---------------------------------------------------------------------- ring exchange
def _exchange(
    x: torch.Tensor, send_to: int, receive_from: int, shape: tuple[int, ...], group: Any
) -> torch.Tensor:
    """Send ``x`` to rank ``send_to`` while receiving a tensor of ``shape`` from
    ``receive_from`` (group ranks)."""
    received = x.new_empty(shape)
    ops = [
        dist.P2POp(dist.isend, x.contiguous(), global_rank(group, send_to), group),
        dist.P2POp(dist.irecv, received, global_rank(group, receive_from), group),
    ]
    for request in dist.batch_isend_irecv(ops):
        request.wait()
    return received


class _RingShift(torch.autograd.Function):
    """Forward: send ``x`` to the next rank, receive the previous rank's. Backward: the same
    exchange in the opposite direction, so each gradient returns to the tensor it belongs to."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, group: Any, rank: int, world: int, incoming: int
    ) -> torch.Tensor:
        ctx.group, ctx.rank, ctx.world, ctx.shape = group, rank, world, tuple(x.shape)
        shape = (incoming, *x.shape[1:])
        return _exchange(x, (rank + 1) % world, (rank - 1) % world, shape, group)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        back = _exchange(
            grad, (ctx.rank - 1) % ctx.world, (ctx.rank + 1) % ctx.world, ctx.shape, ctx.group
        )
        return back, None, None, None, None


def ring_shift(x: torch.Tensor, group: Any, rank: int, world: int, incoming: int) -> torch.Tensor:
    """``x`` passed one step around the ring (rank r → r + 1), differentiably; ``incoming`` is
    the batch size of the tensor that arrives."""
    if x.requires_grad and torch.is_grad_enabled():
        return _RingShift.apply(x, group, rank, world, incoming)
    with torch.no_grad():
        shape = (incoming, *x.shape[1:])
        return _exchange(x, (rank + 1) % world, (rank - 1) % world, shape, group)
