"""TensorFlow kernel of the fused linear-layer losses (:mod:`losskit.losses._linear`).

A ``tf.custom_gradient`` op over any per-token loss of the logits (a "head", see
``_torch_linear``; cross-entropy is :class:`~losskit.losses._linear.CrossEntropyHead`): the
forward computes the per-token losses a chunk at a time, the
gradient function recomputes each chunk's logits under the per-token upstream gradient and
accumulates the weight and bias gradients. Chunks are a Python loop over static boundaries, so
the token count must be known when the op is built (otherwise the plain path runs, see
:func:`can_chunk`); under ``tf.function`` the loop is unrolled into the graph.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from .._backend import ArrayAPIBackend
from ._linear import CrossEntropyHead, Plan


def logits(h: Any, w: Any, b: Any) -> Any:
    """``h @ w.T + b``."""
    z = tf.linalg.matmul(h, w, transpose_b=True)
    return z if b is None else z + b


def can_chunk(backend: ArrayAPIBackend, hidden: Any) -> bool:
    """Chunk boundaries are static: the token count must be known."""
    return hidden.shape[0] is not None


def token_losses(
    backend: ArrayAPIBackend, h: Any, w: Any, b: Any, labels: Any, valid: Any, plan: Plan
) -> Any:
    """Per-token losses ``(M,)`` with a chunked, recomputing gradient."""
    return head_losses(backend, h, w, b, (labels,), (), valid, CrossEntropyHead(plan.rows, plan))


def head_losses(
    backend: ArrayAPIBackend,
    h: Any,
    w: Any,
    b: Any,
    extras: tuple[Any, ...],
    consts: tuple[Any, ...],
    valid: Any,
    head: Any,
) -> Any:
    """Per-token losses ``(M,)`` of any loss of the logits, ``head(backend, logits, z,
    *extras_chunk, *consts, coef) → (losses, coef·∂ℓ/∂z)`` (see ``_torch_linear``), with a
    chunked, recomputing gradient; ``extras`` and ``consts`` are constants."""
    bounds = [(s, min(s + head.rows, h.shape[0])) for s in range(0, h.shape[0], head.rows)]

    def chunk(h: Any, w: Any, b: Any, start: int, stop: int, coef: Any = None) -> Any:
        part = None if valid is None else valid[start:stop]
        h_c, *rest = (_zero_excluded(x[start:stop], part) for x in (h, *extras))
        loss, dz = head(backend, logits, logits(h_c, w, b), *rest, *consts, coef)
        return h_c, loss, dz

    @tf.custom_gradient
    def op(h: Any, w: Any, *bias: Any) -> Any:
        b = bias[0] if bias else None
        loss = tf.concat([chunk(h, w, b, *s)[1] for s in bounds], axis=0)

        def grad(upstream: Any) -> Any:
            coef = upstream if valid is None else tf.where(valid, upstream, tf.zeros_like(upstream))
            grad_h, grad_w, grad_b = [], tf.zeros_like(w), None if b is None else tf.zeros_like(b)
            for start, stop in bounds:
                h_c, _, dz = chunk(h, w, b, start, stop, coef[start:stop])
                grad_h.append(tf.linalg.matmul(dz, w))
                grad_w += tf.linalg.matmul(dz, h_c, transpose_a=True)
                if grad_b is not None:
                    grad_b += tf.reduce_sum(dz, axis=0)
            grads = [tf.concat(grad_h, axis=0), grad_w]
            return grads if grad_b is None else [*grads, grad_b]

        return loss, grad

    return op(h, w) if b is None else op(h, w, b)


def _zero_excluded(x: Any, valid: Any) -> Any:
    """``x`` (tokens first, any rank) with the rows of excluded tokens replaced by 0."""
    if valid is None:
        return x
    keep = tf.reshape(valid, [-1] + [1] * (len(x.shape) - 1))
    return tf.where(keep, x, tf.zeros_like(x))
