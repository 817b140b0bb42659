r"""Global normalisation: one mean over every micro-batch of every rank.

losskit's ``"mean"`` is :math:`\sum w\ell / \sum w` over the valid entries of *one call*. Split a
batch over micro-batches (gradient accumulation) or ranks and the per-call means weigh the
pieces equally, whatever number of valid entries (tokens, pixels, pairs) each holds — the
gradient is no longer the full batch's. The fix is to divide every piece's *sum* by the one
global denominator: :func:`mean_denominator` gives a call's denominator, :func:`global_normalizer`
adds them up over the ranks, and ``normalizer=`` passes the result to every call.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from .._backend import backend_of
from .._object import Loss
from .._reduce import recording_denominators


def mean_denominator(loss: Any, /, *inputs: Any, **kwargs: Any) -> Any:
    r"""The denominator ``loss(*inputs, reduction="mean", **kwargs)`` divides by.

    That is :math:`\sum w` over the valid entries of the unreduced loss — the count of entries
    that are not masked, not at ``ignore_index`` and not excluded by the loss itself (an anchor
    without a positive, an image without a counted class), weighted by ``sample_weight`` and
    ``class_weight`` where given. It is read off the loss's own reduction, so it is exact for
    every registered loss and every unreduced shape (``info_nce``'s ``(N, 2)``, per-image
    segmentation losses, token losses): ``loss(..., reduction="sum") / mean_denominator(...)``
    is ``loss(..., reduction="mean")`` whenever the denominator is positive.

    Args:
        loss: a registered loss function, its name or alias, an ``@lk.loss`` function or an
            ``lk.Loss`` object with one term.
        inputs, kwargs: the arguments of the call (inputs, ``sample_weight``, ``mask``,
            ``ignore_index``, ...), without ``reduction`` and ``normalizer``.

    Returns: a 0-d array of the inputs' library (and device), in the loss's compute dtype, with
    no gradient. The loss's forward pass is evaluated once to find it (under
    ``torch.no_grad()`` for torch inputs); where the count is simpler to write directly — e.g.
    ``(labels != -100).sum()`` for a token loss — that is equally valid.

    Use it with :func:`global_normalizer` to average over micro-batches and ranks (see
    ``docs/scaling-out.md``).

    >>> import numpy as np, losskit as lk
    >>> from losskit.distributed import mean_denominator
    >>> labels = np.array([2, -100, 0, -100])
    >>> logits = np.zeros((4, 3))
    >>> float(mean_denominator(lk.sparse_categorical_crossentropy, labels, logits,
    ...                        from_logits=True, ignore_index=-100))
    2.0
    >>> float(mean_denominator("mse", np.zeros(3), np.ones(3), sample_weight=np.array([1, 2, 0])))
    3.0
    """
    for name in ("reduction", "normalizer"):
        if name in kwargs:
            raise TypeError(
                f"mean_denominator takes the arguments of a reduction='mean' call without "
                f"normalizer; remove {name}="
            )
    label = _label(loss)
    function = single_term(loss, "mean_denominator", "call it for each term of loss.terms()")
    with recording_denominators() as found, _no_grad():
        function(*inputs, reduction="mean", normalizer=1.0, **kwargs)
    if not found:
        raise ValueError(
            f"loss {label} did not reduce through losskit's reduction contract, so it has no "
            f"denominator to report; pass a registered loss, an @lk.loss function or lk.Loss"
        )
    if len(found) > 1:
        raise ValueError(
            f"loss {label} reduced {len(found)} separate losses, each with its own denominator; "
            f"call mean_denominator for each of them"
        )
    denominator = found[0]
    return backend_of(denominator).stop_gradient(denominator)


def single_term(loss: Any, function: str, alternative: str) -> Loss:
    """``loss`` (a name, a loss function or an ``lk.Loss``) as one unweighted ``lk.Loss``; a
    weighted sum is refused, since each of its terms has its own denominator (``alternative``
    says what to do instead)."""
    if not isinstance(loss, Loss):
        return Loss(loss)
    terms = loss.terms()
    if len(terms) != 1 or terms[0][0] != 1.0:
        raise ValueError(
            f"{function}: loss {loss!r} is a weighted sum of {len(terms)} terms, each with its "
            f"own denominator; {alternative}"
        )
    return loss


def _label(loss: Any) -> str:
    if isinstance(loss, str):
        return repr(loss)
    if isinstance(loss, Loss):
        return repr(loss)
    return repr(getattr(loss, "__name__", loss))


def _no_grad() -> Any:
    torch = sys.modules.get("torch")
    return torch.no_grad() if torch is not None else nullcontext()


def global_normalizer(
    local_count: Any, *, group: Any = None, average_gradients: bool = True
) -> Any:
    r"""The ``normalizer=`` that makes per-rank, per-micro-batch losses one global mean (torch).

    ``local_count`` is this rank's denominator for the whole optimizer step: the sum of
    :func:`mean_denominator` (or of a direct count of valid entries) over its micro-batches — a
    number, a 0-d tensor or array, or a sequence of them (added up). One all-reduce sums it over
    ``group`` into the global count :math:`G`. The result is :math:`G / W` (``W`` the group's
    size) with ``average_gradients=True``, for DistributedDataParallel, which averages the
    ranks' gradients; :math:`G` with ``average_gradients=False``, where gradients are summed.

    Why: each micro-batch ``m`` of rank ``r`` then returns :math:`S_{rm} / (G/W)` (its weighted
    sum over :math:`G/W`), the accumulated gradient on rank ``r`` is
    :math:`\nabla \sum_m S_{rm} \cdot W / G`, and DDP's average over the ranks is
    :math:`\nabla \sum_{r,m} S_{rm} / G` — exactly the gradient of the mean over the full
    batch, whatever the number of valid entries in each piece. A micro-batch or a rank with no
    valid entry contributes 0 with a zero gradient; if the whole step has none, :math:`G = 0`
    and every loss is 0 with a zero gradient (never NaN). The sum of a rank's micro-batch
    losses is its share of the step's mean: the shares average over the ranks to the global mean
    (they add up to it with ``average_gradients=False``), so all-reduce them with ``SUM`` and
    divide by ``W`` to log it.

    Without an initialised process group this returns the local count (``W = 1``).

    Args:
        local_count: number, tensor (0-d or one element; any dtype), array, or a sequence.
        group: the process group (None: the default one).
        average_gradients: whether the gradients are averaged over the ranks (DDP) or summed.

    Returns: a 0-d float64 tensor, on ``local_count``'s device (for numbers: the device the
    group communicates from, the current CUDA device for NCCL), without gradient. Given a
    tensor, nothing is read back to the host.

    >>> import torch
    >>> from losskit.distributed import global_normalizer
    >>> labels = torch.tensor([[3, 1, -100], [2, -100, -100]])
    >>> global_normalizer((labels != -100).sum())  # one process: the local count
    tensor(3., dtype=torch.float64)
    """
    from . import _torch_collectives as collectives

    if not isinstance(average_gradients, bool):
        raise TypeError(f"average_gradients must be a bool; got {type(average_gradients).__name__}")
    count = _count_tensor(local_count, group)
    _, world = collectives.rank_and_world(group)
    if world == 1:
        return count
    total = collectives.all_reduce_sum(count, group)
    return total / world if average_gradients else total


def _count_tensor(local_count: Any, group: Any) -> Any:
    """``local_count`` (or the sum of a sequence of them) as a fresh 0-d float64 tensor."""
    import torch

    from . import _torch_collectives as collectives

    parts = (
        list(local_count)
        if isinstance(local_count, Sequence) and not isinstance(local_count, str | bytes)
        else [local_count]
    )
    if not parts:
        raise ValueError("local_count is an empty sequence; pass at least one count")
    tensors = [p for p in parts if isinstance(p, torch.Tensor)]
    device = tensors[0].device if tensors else collectives.group_device(group)
    total = torch.zeros((), dtype=torch.float64, device=device)
    for part in parts:
        if isinstance(part, bool):
            raise TypeError("local_count must be a number or a tensor; got a bool")
        if isinstance(part, int | float):
            if part != part or part < 0:
                raise ValueError(f"local_count must be a non-negative count; got {part}")
            total = total + float(part)
            continue
        if not isinstance(part, torch.Tensor):
            try:
                part = torch.as_tensor(_to_numpy(part))
            except (TypeError, ValueError, RuntimeError) as error:
                raise TypeError(
                    f"local_count must be a number, a tensor or an array; got {type(part).__name__}"
                ) from error
        if part.numel() != 1:
            raise ValueError(
                f"local_count must be a scalar count (one element); got shape {tuple(part.shape)}"
            )
        if part.is_complex() or part.dtype == torch.bool:
            raise TypeError(f"local_count must be a real count; got dtype {part.dtype}")
        total = total + part.detach().reshape(()).to(device=device, dtype=torch.float64)
    return total


def _to_numpy(x: Any) -> Any:
    import numpy as np

    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # TensorFlow eager tensors
        try:
            return x.numpy()
        except Exception:  # pragma: no cover - a framework object that is not an eager tensor
            pass
    return np.asarray(x)
