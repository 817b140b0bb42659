"""The reduction contract, in one place, for every loss.

A loss computes its *unreduced* value ``ℓ`` (elementwise losses: the broadcast shape of
``(y_true, y_pred)``; losses over a class axis: that shape without the axis). Then:

* weights ``w = sample_weight · class_weight[label] · valid`` where ``valid`` combines ``mask`` and
  the ``ignore_index`` positions; a weight whose shape is a prefix of ``ℓ``'s shape (``(N,)`` on
  ``(N, T)``) is expanded on the right, one with an extra trailing axis of size 1 (Keras's
  ``(N, 1)`` on ``(N,)``) loses that axis, any other must broadcast;
* ``"mean"``: ``Σ w·ℓ / Σ w`` (``normalizer`` replaces the denominator);
  ``"sum"``: ``Σ w·ℓ``; ``"none"``: ``w·ℓ`` with excluded entries exactly 0;
  ``"sum_over_batch_size"``: ``Σ w·ℓ / count(valid)`` (Keras).
* a zero denominator gives exactly 0 with a zero gradient, never NaN; excluded entries never
  reach the sums, even when their loss is inf or NaN.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any

from . import _inputs, _validate
from ._backend import ArrayAPIBackend

REDUCTIONS = ("mean", "sum", "none", "sum_over_batch_size")

#: While :func:`recording_denominators` is active: ``(thread id, list)``, the list every
#: :func:`reduce_loss` call of that thread appends its ``"mean"`` denominator to
#: (``losskit.distributed`` reads it); None otherwise. A plain global, not a ContextVar, so that
#: ``torch.compile(fullgraph=True)`` traces the check (a guard on None) without a graph break.
_RECORDING: tuple[int, list[Any]] | None = None


@contextlib.contextmanager
def recording_denominators() -> Iterator[list[Any]]:
    """Within the block, each :func:`reduce_loss` call of this thread appends to the yielded
    list the denominator ``reduction="mean"`` would divide by for its arguments — ``Σ w`` over
    the valid entries, whatever the call's own ``reduction`` and ``normalizer`` — as an array of
    the loss's backend and dtype."""
    global _RECORDING
    found: list[Any] = []
    outer, _RECORDING = _RECORDING, (threading.get_ident(), found)
    try:
        yield found
    finally:
        _RECORDING = outer


def check_reduction(reduction: Any, normalizer: Any) -> None:
    """Structural checks of the reduction arguments (always run)."""
    _validate.check_choice("reduction", reduction, REDUCTIONS)
    if normalizer is None:
        return
    if reduction != "mean":
        raise ValueError(
            f"normalizer replaces the denominator of reduction='mean'; it cannot be used with "
            f"reduction={reduction!r}"
        )
    _validate.check_normalizer(normalizer)


def normalizer_argument(backend: ArrayAPIBackend, normalizer: Any, like: Any) -> Any:
    """``normalizer`` ready to divide by: None or a Python number as it is; an array brought to
    ``like``'s backend, numeric, and (when value checks run) non-negative."""
    if normalizer is None or isinstance(normalizer, int | float):
        return normalizer
    value = backend.asarray(normalizer, like, "normalizer")
    if not (backend.is_floating(value) or backend.is_integral(value)):
        raise TypeError(
            f"normalizer must be a non-negative number or a scalar array; got dtype {value.dtype}"
        )
    if _validate.checking_values(backend, value):
        _validate.check_normalizer_value(backend, value)
    return value


def fused_reduction(
    backend: ArrayAPIBackend,
    y_pred: Any,
    reduction: str,
    normalizer: Any = None,
    sample_weight: Any = None,
    mask: Any = None,
    *loss_weights: Any,
) -> str:
    """The reduction a primitive may apply while it computes: ``"mean"`` or ``"sum"`` when the
    unreduced loss would only be averaged or summed as it is (no weights, masks, exclusions or
    normalizer, and a static shape); ``"none"`` otherwise, and the loss calls :func:`reduce_loss`.

    ``loss_weights`` are the loss's own options that weight or exclude entries (``class_weight``,
    ``ignore_index``, ``pos_weight``...): any that is set prevents the fusion.
    """
    if reduction == "none" or normalizer is not None or sample_weight is not None:
        return "none"
    if mask is not None:
        return "none"
    for w in loss_weights:  # no generator: this runs on every call
        if w is not None:
            return "none"
    if _static_size(backend.shape(y_pred)) is None:
        return "none"
    return "sum" if reduction == "sum" else "mean"  # sum_over_batch_size: nothing masked


def reduce_loss(
    backend: ArrayAPIBackend,
    loss: Any,
    *,
    reduction: str,
    normalizer: Any = None,
    sample_weight: Any = None,
    mask: Any = None,
    weight: Any = None,
    valid: Any = None,
    mean_weight: Any = None,
) -> Any:
    """Apply weights and exclusions to the unreduced ``loss`` and reduce it.

    ``sample_weight`` and ``mask`` are user arguments (converted and checked here); ``weight``
    (e.g. gathered class weights) and ``valid`` (e.g. ``labels != ignore_index``) come from the
    loss itself, already on the backend with ``loss``'s shape. ``mean_weight``, when given,
    weights only the denominator of ``"mean"`` (times ``sample_weight``), for a loss whose
    entries are already weighted (torch's class-weighted, smoothed cross-entropy).
    """
    shape = backend.shape(loss)
    plain = sample_weight is None and mask is None and weight is None and valid is None
    plain = plain and mean_weight is None
    if plain and normalizer is None and _RECORDING is None:  # the common case, nothing else
        return _reduce_plain(backend, loss, shape, reduction, None)
    normalizer = normalizer_argument(backend, normalizer, loss)
    checking = (sample_weight is not None or mask is not None) and _validate.checking_values(
        backend, loss
    )
    if sample_weight is not None:
        sample_weight = _weight_argument(backend, sample_weight, loss, shape, checking)
        weight = sample_weight if weight is None else weight * sample_weight
        if mean_weight is not None:
            mean_weight = mean_weight * sample_weight
    if mask is not None:
        mask = _mask_argument(backend, mask, loss, shape, checking)
        valid = mask if valid is None else valid & mask
    if _RECORDING is not None and _RECORDING[0] == threading.get_ident():
        counted = weight if mean_weight is None else mean_weight
        _RECORDING[1].append(_mean_denominator(backend, loss, shape, counted, valid))
    if weight is None and valid is None and mean_weight is None:
        return _reduce_plain(backend, loss, shape, reduction, normalizer)
    return _reduce_weighted(backend, loss, shape, reduction, normalizer, weight, valid, mean_weight)


def _reduce_plain(
    backend: ArrayAPIBackend, loss: Any, shape: tuple[Any, ...], reduction: str, normalizer: Any
) -> Any:
    xp = backend.xp
    size = _static_size(shape) if normalizer is None else None
    if size:  # "mean" as one operation: a sum and a division are two, and two backward steps
        if reduction == "none":
            return loss
        return xp.sum(loss) if reduction == "sum" else xp.mean(loss)
    if size is not None:  # empty: the sum of nothing, 0 for every reduction but "none"
        return backend.reduce_all(loss, "mean" if reduction == "sum_over_batch_size" else reduction)
    if reduction == "none":
        return loss
    total = xp.sum(loss)
    if reduction == "sum":
        return total
    if normalizer is not None:
        return _safe_divide(backend, total, normalizer)
    return _safe_divide(backend, total, xp.sum(xp.ones_like(loss)))  # size known at run time


def _reduce_weighted(
    backend: ArrayAPIBackend,
    loss: Any,
    shape: tuple[Any, ...],
    reduction: str,
    normalizer: Any,
    weight: Any,
    valid: Any,
    mean_weight: Any = None,
) -> Any:
    xp = backend.xp
    if weight is not None and backend.shape(weight) != shape:
        weight = backend.broadcast_like(weight, loss)
    if valid is not None and backend.shape(valid) != shape:
        valid = backend.broadcast_like(valid, loss)
    zero = xp.zeros_like(loss)
    weighted = loss if weight is None else weight * loss
    if valid is not None:
        weighted = xp.where(valid, weighted, zero)
    if reduction == "none":
        return weighted
    total = xp.sum(weighted)
    if reduction == "sum":
        return total
    if normalizer is not None:
        return _safe_divide(backend, total, normalizer)
    counted = weight if mean_weight is None else mean_weight
    if reduction == "sum_over_batch_size" or counted is None:
        count = xp.sum(xp.astype(valid, loss.dtype)) if valid is not None else _ones_sum(xp, loss)
        return _safe_divide(backend, total, count)
    if backend.shape(counted) != shape:
        counted = backend.broadcast_like(counted, loss)
    denominator = counted if valid is None else xp.where(valid, counted, zero)
    return _safe_divide(backend, total, xp.sum(denominator))


def _mean_denominator(
    backend: ArrayAPIBackend, loss: Any, shape: tuple[Any, ...], weight: Any, valid: Any
) -> Any:
    """What ``"mean"`` divides by: ``Σ w`` over the valid entries (the count when unweighted)."""
    xp = backend.xp
    if weight is not None and backend.shape(weight) != shape:
        weight = backend.broadcast_like(weight, loss)
    if valid is not None and backend.shape(valid) != shape:
        valid = backend.broadcast_like(valid, loss)
    if weight is None:
        return _ones_sum(xp, loss) if valid is None else xp.sum(xp.astype(valid, loss.dtype))
    return xp.sum(weight if valid is None else xp.where(valid, weight, xp.zeros_like(loss)))


def _ones_sum(xp: Any, loss: Any) -> Any:
    return xp.sum(xp.ones_like(loss))


def _safe_divide(backend: ArrayAPIBackend, numerator: Any, denominator: Any) -> Any:
    """``numerator / denominator``, and exactly 0 (zero gradient) where the denominator is 0."""
    xp = backend.xp
    if isinstance(denominator, int | float):
        if denominator > 0:
            return numerator / float(denominator)
        denominator = xp.zeros_like(numerator)
    denominator = backend.astype(backend.asarray(denominator, numerator), numerator.dtype)
    positive = denominator > 0
    safe = xp.where(positive, denominator, xp.ones_like(denominator))
    return xp.where(positive, numerator / safe, xp.zeros_like(numerator))


def _static_size(shape: tuple[Any, ...]) -> int | None:
    if None in shape:
        return None
    return math.prod(shape)


def expand_to(backend: ArrayAPIBackend, x: Any, shape: tuple[Any, ...], name: str) -> Any:
    """Expand a weight or mask to the unreduced shape: a prefix on the right, else broadcast.

    One trailing axis of size 1 beyond the loss's rank is dropped first, as Keras does: its
    per-sample weights ``(N, 1)`` weight an ``(N,)`` loss (broadcasting would give ``(N, N)``).
    """
    own = backend.shape(x)
    if len(own) == len(shape) + 1 and own[-1] == 1:
        x = backend.xp.squeeze(x, axis=-1)
        own = own[:-1]
    if own == shape:
        return x
    if len(own) < len(shape) and tuple(shape[: len(own)]) == own:
        return backend.xp.reshape(x, own + (1,) * (len(shape) - len(own)))
    joint = _validate.broadcast_shapes(own, shape)
    if joint is not None and _validate.same_shape(joint, shape):
        return x
    raise ValueError(
        f"{name} of shape {own} does not fit the unreduced loss of shape {shape}: it must have "
        f"that shape, a prefix of it (e.g. one value per sample), or broadcast to it"
    )


def _weight_argument(
    backend: ArrayAPIBackend, w: Any, loss: Any, shape: tuple[Any, ...], checking: bool
) -> Any:
    w = backend.asarray(w, loss, "sample_weight")
    if not (backend.is_floating(w) or backend.is_integral(w)):
        raise TypeError(f"sample_weight must be a numeric array; got dtype {w.dtype}")
    w = backend.astype(w, loss.dtype)
    if checking:
        _validate.check_weights(backend, w, "sample_weight")
    return expand_to(backend, w, shape, "sample_weight")


def _mask_argument(
    backend: ArrayAPIBackend, mask: Any, loss: Any, shape: tuple[Any, ...], checking: bool
) -> Any:
    mask = _inputs.boolean_mask(backend, mask, loss, checking)
    return expand_to(backend, mask, shape, "mask")
