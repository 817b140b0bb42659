r"""Contrastive losses whose batch spans every rank of a torch.distributed group.

Each rank passes its local rows; the result is its *share* of the loss over the global batch
(the concatenation of the ranks' batches in rank order). The formulas are those of
``losskit.info_nce`` and ``losskit.sigmoid_contrastive`` (the same private helpers compute
them), applied to this rank's anchors against the global candidates, which arrive through
differentiable collectives (``_torch_collectives``).

Shares and gradients. With ``average_gradients=True`` (DistributedDataParallel, which averages
the ranks' gradients) the ranks' ``"mean"`` (or ``"sum"``) values *average* to the global one:
rank ``r`` returns :math:`S_r / (G / W)` — its weighted sum :math:`S_r` divided by the global
denominator :math:`G = \sum_r c_r` (all-reduced from the ranks' local ones) over the group size
``W``; for equal batches without masks that is simply the local mean. The collectives send
every rank the gradient of the *sum* of all shares, so DDP's average is exactly the gradient of
the global loss. With ``average_gradients=False`` the shares *add up* to the global value (use
it where gradients are summed over ranks). ``reduction="none"`` returns this rank's rows of the
global unreduced loss, unscaled; ``normalizer=`` replaces the global denominator (shares are
then ``S_r / normalizer``, as with :func:`losskit.distributed.global_normalizer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .. import _validate
from .._backend import ArrayAPIBackend
from .._reduce import _safe_divide, check_reduction, reduce_loss
from ..losses._metric import (
    _batch,
    _enter,
    _positive,
    _row_mask,
    _scalar_parameter,
    _sigmoid_rows,
    _unit,
    global_nce_losses,
)
from . import _torch_collectives as collectives

_REDUCTIONS = ("mean", "sum", "none")


def info_nce(
    z_a: Any,
    z_b: Any,
    *,
    group: Any = None,
    sizes: Sequence[int] | None = None,
    temperature: float = 0.1,
    negatives: str = "all",
    symmetric: bool = True,
    normalize: bool = True,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
    average_gradients: bool = True,
) -> Any:
    r"""InfoNCE / NT-Xent / CLIP over the global batch of a torch.distributed group.

    Rank ``r`` holds rows :math:`o_r, …, o_r + B_r - 1` of the global views ``Z_a``, ``Z_b``
    (:math:`o_r = \sum_{s<r} B_s`). Its anchors are its own rows; their candidates are the
    rows of *every* rank, gathered with :func:`losskit.distributed.all_gather` (one all-gather of
    both views and the mask). Anchor ``i``'s loss is :func:`losskit.info_nce`'s,

    .. math:: \ell_i = -s(i, \text{pos}) + \log \sum_{c \in C(i)} \exp s(i, c),\qquad
              s(u, v) = \hat u \cdot \hat v / τ,

    with the positive at global column :math:`o_r + i` and the candidates :math:`C(i)` taken
    from the global batch (``negatives="all"``: the other :math:`2N - 1` embeddings of both
    views; ``"cross_view"``: the N rows of the other view, CLIP's loss with
    ``symmetric=True``). So the ranks' shares reproduce ``losskit.info_nce(cat(z_a), cat(z_b))``
    on the concatenated batch — value (see the module notes on shares) and gradients.

    Args:
        z_a, z_b: this rank's ``(B_r, D)`` torch tensors; ``B_r ≥ 1``, and may differ between
            ranks (``D`` and dtype may not).
        group: the process group (None: the default one; without an initialised process group
            this is ``losskit.info_nce`` on the local batch).
        sizes: every rank's ``B_r`` in rank order if known (e.g. ``[B] * world``); None gathers
            them (one small all-gather read on the host). With value checks on, the sizes are
            checked against every rank's batch in that same all-gather (a wrong list raises on
            every rank); with checks off they are trusted and save it.
        temperature, negatives, symmetric, normalize: as in :func:`losskit.info_nce`.
        sample_weight, mask: ``(B_r,)`` for this rank's pairs; a masked pair is neither an
            anchor nor a candidate anywhere. Pad ranks with ``mask`` rather than empty batches.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (this rank's rows, ``(B_r, 2)`` or
            ``(B_r,)``).
        normalizer: replaces the global denominator of ``"mean"``.
        average_gradients: True when the ranks' gradients are averaged (DDP): the ranks' values
            average to the global loss; False when they are summed: the values add up to it.

    Every rank of the group must make the call, with the same options, as for any collective
    (``mask`` and ``sample_weight`` are local: a rank may pass them while others do not).

    Reference: Chen et al. (2020), SimCLR (global batch normalisation across cores); Radford
    et al. (2021), CLIP.

    >>> import torch, losskit as lk
    >>> from losskit.distributed import info_nce
    >>> z_a, z_b = torch.eye(3, dtype=torch.float64), torch.ones(3, 3, dtype=torch.float64)
    >>> bool(torch.isclose(info_nce(z_a, z_b), lk.info_nce(z_a, z_b)))  # one process
    True
    """
    temperature = _positive("temperature", temperature)
    _validate.check_choice("negatives", negatives, ("all", "cross_view"))
    backend, a, b, rows, checking = _enter_views("info_nce", z_a, z_b, mask, reduction, normalizer)
    _check_bool("average_gradients", average_gradients)
    xp = backend.xp
    n = a.shape[0]
    if normalize:
        a, b = _unit(xp, a), _unit(xp, b)
    rank, world = collectives.rank_and_world(group)
    listed = collectives.batch_sizes(n, sizes, group, a.device, checking)
    offset = sum(listed[:rank])
    keep_local = torch.ones(n, dtype=torch.bool, device=a.device) if rows is None else rows
    features = a.shape[1]
    packed = torch.cat([a, b, keep_local.to(a.dtype)[:, None]], dim=1)
    everything = collectives.gather(packed, group, listed)
    all_a, all_b = everything[:, :features], everything[:, features : 2 * features]
    all_rows = everything[:, 2 * features] > 0.5
    indices = (torch.arange(n, device=a.device) + offset, torch.arange(len(all_a), device=a.device))
    loss, valid = global_nce_losses(
        backend, (a, b), (all_a, all_b, all_rows), indices, rows, temperature, negatives, symmetric
    )
    return _share(
        backend, loss, valid, sample_weight, reduction, normalizer, group, world, average_gradients
    )


def sigmoid_contrastive(
    z_a: Any,
    z_b: Any,
    *,
    group: Any = None,
    sizes: Sequence[int] | None = None,
    logit_scale: Any = 10.0,
    bias: Any = -10.0,
    normalize: bool = True,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
    average_gradients: bool = True,
) -> Any:
    r"""SigLIP's sigmoid loss over the global batch of a torch.distributed group, chunked.

    The loss of :func:`losskit.sigmoid_contrastive` on the concatenated batch,

    .. math:: \ell_i = -\sum_{j=1}^{N} \log σ\bigl(z_{ij}(t\,\hat a_i\cdot\hat b_j + b)\bigr),
              \qquad z_{ij} = \pm 1 \text{ on / off the diagonal},

    computed as in Zhai et al.'s multi-device implementation: each rank first scores its own
    ``z_a`` rows against its own ``z_b`` rows (the only block with positives), then passes its
    ``z_b`` block (with its mask) to the next rank, ``W - 1`` times around the ring
    (``torch.distributed`` point-to-point sends), scoring every block that arrives as
    negatives. No rank ever holds more than two blocks of the other view, and the backward
    sends each block's gradient back around the ring to the rank that owns it. Shares and
    gradients follow the module notes: with ``average_gradients=True`` the ranks' values
    average to the global loss and DDP's averaged gradient is the global one — also for
    ``logit_scale`` and ``bias`` when they are (replicated) learnable parameters.

    Args:
        z_a, z_b: this rank's ``(B_r, D)`` torch tensors (e.g. image and text embeddings);
            ``B_r ≥ 1`` may differ between ranks.
        group, sizes, sample_weight, mask, reduction, normalizer, average_gradients: as in
            :func:`losskit.distributed.info_nce`.
        logit_scale, bias: numbers or scalar tensors (learnable parameters receive gradients),
            as in :func:`losskit.sigmoid_contrastive`.

    Reference: Zhai, Mustafa, Kolesnikov & Beyer (2023), Sigmoid Loss for Language Image
    Pre-Training, §3.3 (efficient "chunked" implementation).

    >>> import torch, losskit as lk
    >>> from losskit.distributed import sigmoid_contrastive
    >>> z_a, z_b = torch.eye(3, dtype=torch.float64), torch.ones(3, 3, dtype=torch.float64)
    >>> bool(torch.isclose(sigmoid_contrastive(z_a, z_b), lk.sigmoid_contrastive(z_a, z_b)))
    True
    """
    backend, a, b, rows, checking = _enter_views(
        "sigmoid_contrastive", z_a, z_b, mask, reduction, normalizer
    )
    _check_bool("average_gradients", average_gradients)
    scale = _scalar_parameter(backend, "logit_scale", logit_scale, a, checking, positive=True)
    shift = _scalar_parameter(backend, "bias", bias, a, checking, positive=False)
    xp = backend.xp
    n, features = a.shape
    if normalize:
        a, b = _unit(xp, a), _unit(xp, b)
    rank, world = collectives.rank_and_world(group)
    listed = collectives.batch_sizes(n, sizes, group, a.device, checking)
    keep_local = torch.ones(n, dtype=torch.bool, device=a.device) if rows is None else rows
    diagonal = torch.eye(n, dtype=torch.bool, device=a.device)
    loss = _sigmoid_rows(backend, a, b, scale, shift, diagonal, keep_local[None, :])
    travelling = torch.cat([b, keep_local.to(b.dtype)[:, None]], dim=1)
    for step in range(1, world):
        source = (rank - step) % world
        travelling = collectives.ring_shift(travelling, group, rank, world, listed[source])
        block, kept = travelling[:, :features], travelling[:, features] > 0.5
        loss = loss + _sigmoid_rows(backend, a, block, scale, shift, None, kept[None, :])
    return _share(
        backend, loss, rows, sample_weight, reduction, normalizer, group, world, average_gradients
    )


#: The paper's name.
siglip = sigmoid_contrastive


# ---------------------------------------------------------------------- shared
def _enter_views(
    function: str, z_a: Any, z_b: Any, mask: Any, reduction: str, normalizer: Any
) -> tuple[ArrayAPIBackend, Any, Any, Any, bool]:
    """Backend (torch), the two views ``(B, D)`` in the compute dtype, the row mask and whether
    value checks run."""
    _validate.check_choice("reduction", reduction, _REDUCTIONS)
    check_reduction(reduction, normalizer)
    collectives.require_tensor(z_a, "z_a", function)
    collectives.require_tensor(z_b, "z_b", function)
    backend, (a, b), checking = _enter(reduction, normalizer, {"z_a": z_a, "z_b": z_b}, (mask,))
    n = _batch(backend, a, "z_a")
    _batch(backend, b, "z_b")
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"z_a and z_b must have the same shape (two views of this rank's batch); got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    rows = None if mask is None else _row_mask(backend, mask, a, n, checking)
    return backend, a, b, rows, checking


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool; got {type(value).__name__}")


def _share(
    backend: ArrayAPIBackend,
    loss: Any,
    valid: Any,
    sample_weight: Any,
    reduction: str,
    normalizer: Any,
    group: Any,
    world: int,
    average_gradients: bool,
) -> Any:
    """This rank's share of the global reduction (see the module notes)."""
    if reduction == "none" or normalizer is not None:
        return reduce_loss(
            backend,
            loss,
            reduction=reduction,
            normalizer=normalizer,
            sample_weight=sample_weight,
            valid=valid,
        )
    total = reduce_loss(backend, loss, reduction="sum", sample_weight=sample_weight, valid=valid)
    factor = world if average_gradients else 1
    if reduction == "sum":
        return total * factor if factor != 1 else total
    # the local denominator of "mean": Σ w over the valid entries, the weighted sum of ones
    ones = torch.ones_like(loss.detach())
    local = reduce_loss(backend, ones, reduction="sum", sample_weight=sample_weight, valid=valid)
    count = collectives.all_reduce_sum(local.detach().to(torch.float64), group)
    return _safe_divide(backend, total, count / factor if factor != 1 else count)
