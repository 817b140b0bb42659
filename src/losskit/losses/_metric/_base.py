"""What the metric-learning losses share: input checks for batches, pairs and triplets, and the
numerics (unit rows, Gram matrices, masked log-sum-exp, exact softplus)."""

from __future__ import annotations

import math
from typing import Any

from ... import _inputs, _validate
from ..._backend import ArrayAPIBackend
from ..._reduce import reduce_loss
from .._common import enter_arrays

#: ``x / sqrt(max(Σx², 1e-24))`` so that a zero vector has a finite gradient.
_NORM_FLOOR_SQUARED = 1e-24
#: torch ``cosine_embedding_loss`` adds this to each squared norm: 1e-12 rounded to float32.
_COSINE_EPSILON = 9.999999960041972e-13

_METRIC: dict[str, Any] = {"family": "metric", "domain": "embedding"}
_PML = "pytorch-metric-learning"
#: Declared in the registry by the losses that pair every example with the rest of the batch.
_BATCH_PAIRS = {
    "split_batch": "every example is paired with the rest of its batch (its positives and "
    "negatives), so the parts of a split batch do not add up to it; losskit.distributed gathers "
    "the other ranks' examples to keep the full-batch value",
}


# ---------------------------------------------------------------------- inputs
def _signs(backend: ArrayAPIBackend, y: Any, like: Any, checking: bool, name: str = "y") -> Any:
    """Labels -1/1 in ``like``'s dtype (checked when value checks run)."""
    y = backend.asarray(y, like, name)
    if not (backend.is_floating(y) or backend.is_integral(y)):
        raise TypeError(f"{name} must be a numeric array of labels -1/1; got dtype {y.dtype}")
    y = backend.astype(y, like.dtype)
    if checking:
        _validate.check_no_nan(backend, y, name)
        _require_signs(backend, y, name)
    return y


def _require_signs(backend: ArrayAPIBackend, y: Any, name: str) -> None:
    def found() -> str:
        bounds = backend.min_max(y)
        return "" if bounds is None else f"; got values in [{bounds[0]:g}, {bounds[1]:g}]"

    bad = (y != 1.0) & (y != -1.0)
    _validate.require_none(backend, bad, f"{name} must hold labels -1 or 1 only", found)


def _shape_of(backend: ArrayAPIBackend, x: Any) -> tuple[Any, ...]:
    return backend.shape(x)


def _joint_shape(shapes: dict[str, tuple[Any, ...]]) -> tuple[Any, ...]:
    """The broadcast shape of named inputs, or a ``ValueError`` naming them all."""
    joint: tuple[Any, ...] | None = ()
    for shape in shapes.values():
        joint = None if joint is None else _validate.broadcast_shapes(joint, shape)
    if joint is None:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"input shapes do not broadcast together: {listed}")
    return joint


def _check_fits(name: str, shape: tuple[Any, ...], target: tuple[Any, ...], what: str) -> None:
    """``shape`` must broadcast to ``target`` without enlarging it."""
    joint = _validate.broadcast_shapes(shape, target)
    if joint is None or not _validate.same_shape(joint, target):
        raise ValueError(f"{name} of shape {shape} does not match {what} of shape {target}")


def _vectors(backend: ArrayAPIBackend, arrays: dict[str, Any]) -> tuple[Any, ...]:
    """Feature vectors on the last axis: at least 1-D, one feature size, broadcastable rows."""
    shapes = {n: _shape_of(backend, x) for n, x in arrays.items()}
    for name, shape in shapes.items():
        if len(shape) == 0:
            raise ValueError(f"{name} must hold vectors on its last axis; got a scalar")
        if shape[-1] == 0:
            raise ValueError(f"{name} has an empty feature axis (shape {shape})")
    features = {s[-1] for s in shapes.values()} - {None}
    if len(features) > 1:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"inputs must have the same feature size (last axis); got {listed}")
    return _joint_shape({n: s[:-1] for n, s in shapes.items()})


def _batch(backend: ArrayAPIBackend, x: Any, name: str, allow_empty: bool = False) -> Any:
    """An ``(N, D)`` batch of embeddings with D ≥ 1, and N ≥ 1 unless ``allow_empty`` (an
    empty batch has no pair: its losses are empty and reduce to exactly 0); returns N (None if
    unknown)."""
    shape = backend.shape(x)
    if len(shape) != 2:
        raise ValueError(f"{name} must be a 2-D (batch, features) array; got shape {shape}")
    if shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is an empty batch (shape {shape}); at least one row is needed")
    if shape[1] == 0:
        raise ValueError(f"{name} has an empty feature axis (shape {shape})")
    return shape[0]


def _labels(
    backend: ArrayAPIBackend, labels: Any, like: Any, n: Any, checking: bool, name: str = "labels"
) -> Any:
    """Integer class labels of shape ``(N,)`` (integer-valued floats accepted)."""
    labels = backend.asarray(labels, like, name)
    _validate.check_integer_dtype(backend, labels, name)
    if not _validate.same_shape(backend.shape(labels), (n,)):
        rows = "ref_embeddings" if name == "ref_labels" else "embedding"
        raise ValueError(
            f"{name} must have one entry per {rows} row, shape ({n},); got shape "
            f"{backend.shape(labels)}"
        )
    if backend.is_floating(labels) and checking:
        _validate.check_no_nan(backend, labels, name)
        _validate.check_integer_valued(backend, labels, name)
    return backend.astype(labels, backend.index_dtype)


def _row_mask(backend: ArrayAPIBackend, mask: Any, like: Any, n: Any, checking: bool) -> Any:
    """A boolean ``(N,)`` mask over the batch (0/1 numbers accepted)."""
    mask = _inputs.boolean_mask(backend, mask, like, checking)
    if not _validate.same_shape(backend.shape(mask), (n,)):
        raise ValueError(
            f"mask must have one entry per embedding (or pair of views), shape ({n},); got "
            f"shape {backend.shape(mask)}"
        )
    return mask


def _positive(name: str, value: Any) -> float:
    return _validate.check_range(name, value, 0.0, math.inf, low_open=True, high_open=True)


def _non_negative(name: str, value: Any) -> float:
    return _validate.check_range(name, value, 0.0, math.inf, high_open=True)


def _real(name: str, value: Any) -> float:
    return _validate.check_range(name, value, -math.inf, math.inf, low_open=True, high_open=True)


def _softplus(xp: Any, x: Any) -> Any:
    """``log(1 + eˣ)``, relatively exact in both tails on every framework (torch's kernel returns
    ``x`` above 20, TensorFlow's ``logaddexp`` rounds ``1 + eˣ``), derivative σ(x), ½ at 0.

    Written ``H(x)·x + log1p(e^{-|x|})`` with ``H`` the step (½ at 0) and ``|x| = sign(x)·x``.
    """
    sign = xp.sign(x)
    linear = xp.where(x < 0, 0.0, (0.5 * sign + 0.5) * x)  # 0 at x = -inf
    return linear + xp.log1p(xp.exp(-sign * x))


def _sqrt0(xp: Any, s: Any) -> Any:
    """``sqrt(s)`` for ``s ≥ 0`` with value and gradient 0 at ``s = 0`` (no ``1/0``)."""
    positive = s > 0
    return xp.where(positive, xp.sqrt(xp.where(positive, s, 1.0)), 0.0)


def _unit(xp: Any, x: Any) -> Any:
    """Rows scaled to unit L2 norm, ``x / max(‖x‖, 1e-12)``; a zero row stays zero."""
    squared = xp.sum(x * x, axis=-1, keepdims=True)
    return x / xp.sqrt(xp.maximum(squared, _NORM_FLOOR_SQUARED))


def _p_norm(xp: Any, d: Any, p: float, offset: float = 0.0) -> Any:
    """``(Σ|d|^p + offset)^(1/p)`` over the last axis (``max|d|`` for p = ∞), with finite
    gradients where ``d`` or the sum is 0 (|d| written ``sign(d)·d``)."""
    if p == 2.0:
        total = xp.sum(d * d, axis=-1)
        return _sqrt0(xp, total + offset if offset else total)
    magnitude = xp.sign(d) * d
    if math.isinf(p):
        return xp.max(magnitude, axis=-1)
    if p == 1.0:
        total = xp.sum(magnitude, axis=-1)
    else:
        nonzero = magnitude > 0
        safe = xp.where(nonzero, magnitude, 1.0)
        powered = xp.where(nonzero, xp.pow(safe, p), 0.0)
        total = xp.sum(powered, axis=-1)
    if offset:
        total = total + offset
    if p == 1.0:
        return total
    positive = total > 0
    safe_total = xp.where(positive, total, 1.0)
    return xp.where(positive, xp.pow(safe_total, 1.0 / p), 0.0)


def _masked_logsumexp(backend: ArrayAPIBackend, x: Any, keep: Any) -> tuple[Any, Any]:
    """``log Σ_{keep} exp(x)`` over the last axis, and whether a row keeps anything.

    Rows that keep nothing give 0 (also rows of length 0, from an empty batch). Excluded
    entries never reach ``exp`` (they are replaced before it), so they get exactly zero
    gradient even when they hold huge values.
    """
    xp = backend.xp
    if backend.shape(x)[-1] == 0:  # no maximum to take: every row is empty
        return xp.sum(x, axis=-1), xp.any(keep, axis=-1)
    low = xp.where(keep, x, xp.full_like(x, -math.inf))
    top = xp.max(low, axis=-1, keepdims=True)
    top = backend.stop_gradient(xp.where(xp.isfinite(top), top, 0.0))
    shifted = xp.where(keep, x - top, xp.zeros_like(x))
    total = xp.sum(xp.where(keep, xp.exp(shifted), xp.zeros_like(x)), axis=-1, keepdims=True)
    present = xp.any(keep, axis=-1, keepdims=True)
    lse = xp.log(xp.where(present, total, 1.0)) + top
    lse = xp.where(present, lse, 0.0)
    return xp.squeeze(lse, axis=-1), xp.squeeze(present, axis=-1)


def _gram(xp: Any, a: Any, b: Any) -> Any:
    """``a @ bᵀ`` for ``(N, D)`` and ``(M, D)`` arrays."""
    return xp.matmul(a, xp.permute_dims(b, (1, 0)))


def _index(backend: ArrayAPIBackend, vector: Any) -> Any:
    """``0, 1, ..., N-1`` for a vector of length N (also when N is known only at run time)."""
    xp = backend.xp
    n = backend.shape(vector)[0]
    if n is not None:
        return backend.arange(vector, n, dtype=backend.index_dtype)
    return xp.cumulative_sum(xp.ones_like(vector)) - 1


def _off_diagonal(backend: ArrayAPIBackend, vector: Any) -> Any:
    """The ``(N, N)`` boolean mask ``i ≠ j`` for a vector of length N."""
    xp = backend.xp
    index = _index(backend, vector)
    return xp.expand_dims(index, axis=1) != xp.expand_dims(index, axis=0)


def _pair_masks(backend: ArrayAPIBackend, labels: Any, rows: Any) -> tuple[Any, Any, Any]:
    """``(positive, negative, pair)`` boolean ``(N, N)`` masks over ordered pairs ``i ≠ j`` of
    kept rows: same label, different label, either."""
    xp = backend.xp
    pair = _off_diagonal(backend, labels)
    if rows is not None:
        pair = pair & xp.expand_dims(rows, axis=1) & xp.expand_dims(rows, axis=0)
    same = xp.expand_dims(labels, axis=1) == xp.expand_dims(labels, axis=0)
    return pair & same, pair & ~same, pair


def _enter_batch(
    embeddings: Any, labels: Any, mask: Any, reduction: str, normalizer: Any
) -> tuple[ArrayAPIBackend, Any, Any, Any]:
    """Backend, embeddings ``(N, D)``, labels ``(N,)`` and the row mask (None: all rows)."""
    backend, (x,), checking = enter_arrays(
        reduction, normalizer, {"embeddings": embeddings}, (labels, mask)
    )
    n = _batch(backend, x, "embeddings", allow_empty=True)
    labels = _labels(backend, labels, x, n, checking)
    rows = None if mask is None else _row_mask(backend, mask, x, n, checking)
    return backend, x, labels, rows


def _finish_anchors(
    backend: ArrayAPIBackend,
    loss: Any,
    valid: Any,
    sample_weight: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        valid=valid,
    )
