"""Stable primitives for writing losses, dispatching on the input's array type.

These are the operations the array API standard lacks. Each has one generic array-API version
and, where a framework has a fused or more exact kernel, a native fast path; all keep NumPy/SciPy
conventions and are differentiable by the input framework's autodiff with finite gradients.

>>> import numpy as np
>>> from losskit import ops
>>> float(ops.softplus(np.array(-1000.0)))
0.0
>>> round(float(ops.logsumexp(np.array([1000.0, 1000.0]))), 6)
1000.693147
"""

from __future__ import annotations

from typing import Any

from ._backend import ArrayAPIBackend, backend_of

__all__ = [
    "clamped_log",
    "linear_log_probs",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "one_hot",
    "sigmoid",
    "softmax",
    "softplus",
    "stop_gradient",
    "take_along_axis",
    "xlogy",
]


def _on_backend(x: Any) -> tuple[ArrayAPIBackend, Any]:
    backend = backend_of(x)
    return backend, backend.asarray(x, x)


def logsumexp(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """``log(Σ exp(x))`` over ``axis`` (all axes if None), stable for large and -inf entries."""
    backend, x = _on_backend(x)
    return backend.logsumexp(x, axis=axis, keepdims=keepdims)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """``x - logsumexp(x, axis)``: log-probabilities from logits."""
    backend, x = _on_backend(x)
    return backend.log_softmax(x, axis=axis)


def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(x) / Σ exp(x)`` over ``axis``."""
    backend, x = _on_backend(x)
    return backend.softmax(x, axis=axis)


def sigmoid(x: Any) -> Any:
    """``1 / (1 + exp(-x))`` without overflow."""
    backend, x = _on_backend(x)
    return backend.sigmoid(x)


def log_sigmoid(x: Any) -> Any:
    """``log σ(x) = -softplus(-x)``, exact in both tails."""
    backend, x = _on_backend(x)
    return backend.log_sigmoid(x)


def softplus(x: Any) -> Any:
    """``log(1 + exp(x))``, exact in both tails; its derivative is ``σ(x)`` everywhere."""
    backend, x = _on_backend(x)
    return backend.softplus(x)


def xlogy(x: Any, y: Any) -> Any:
    """``x · log(y)`` with ``0 · log(0) = 0`` and a zero, not NaN, gradient there."""
    backend, y = _on_backend(y)
    return backend.xlogy(backend.asarray(x, y), y)


def one_hot(labels: Any, num_classes: int, *, dtype: Any = None) -> Any:
    """One-hot encoding along a new last axis (float32 unless ``dtype`` is given)."""
    backend, labels = _on_backend(labels)
    return backend.one_hot(labels, num_classes, dtype=dtype)


def take_along_axis(x: Any, indices: Any, axis: int = -1) -> Any:
    """``numpy.take_along_axis``: pick entries of ``x`` at ``indices`` along ``axis``."""
    backend, x = _on_backend(x)
    return backend.take_along_axis(x, backend.asarray(indices, x), axis=axis)


def clamped_log(p: Any) -> Any:
    """``max(log p, -100)`` whose derivative is ``1 / max(p, 1e-12)``.

    The probability-path log of every losskit loss: finite value and gradient at ``p = 0`` and at
    subnormal ``p``, with torch's clamp (-100) and slope bound (1e12).
    """
    backend, p = _on_backend(p)
    return backend.clamped_log(p)


def stop_gradient(x: Any) -> Any:
    """``x`` with its gradient cut (``detach`` / ``lax.stop_gradient`` / ``tf.stop_gradient``)."""
    backend, x = _on_backend(x)
    return backend.stop_gradient(x)


def linear_log_probs(
    hidden: Any,
    weight: Any,
    targets: Any,
    *,
    bias: Any = None,
    temperature: float = 1.0,
    softcap: float | None = None,
    ignore_index: int | None = -100,
    chunk_size: int | None = None,
) -> Any:
    """Per-token log-probabilities of ``targets`` under the logits ``hidden @ weight.T + bias``
    (soft cap, then temperature; 0 where ignored), a chunk of tokens at a time, the logits never
    stored: :func:`losskit.linear_log_probs`."""
    from .losses._linear_logps import linear_log_probs as compute

    return compute(
        hidden,
        weight,
        targets,
        bias=bias,
        temperature=temperature,
        softcap=softcap,
        ignore_index=ignore_index,
        chunk_size=chunk_size,
    )
