"""TensorFlow kernel of :func:`losskit.losses._linear.linear_cross_entropy`.

A ``tf.custom_gradient`` op: the forward computes the per-token losses a chunk at a time, the
gradient function recomputes each chunk's logits under the per-token upstream gradient and
accumulates the weight and bias gradients. Chunks are a Python loop over static boundaries, so
the token count must be known when the op is built (otherwise the plain path runs, see
:func:`can_chunk`); under ``tf.function`` the loop is unrolled into the graph.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from .._backend import ArrayAPIBackend
from ._linear import Plan, chunk_terms, excluded_zero


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
    bounds = [(s, min(s + plan.rows, h.shape[0])) for s in range(0, h.shape[0], plan.rows)]

    def chunk(h: Any, w: Any, b: Any, start: int, stop: int, coef: Any = None) -> Any:
        part = None if valid is None else valid[start:stop]
        h_c = excluded_zero(backend, h[start:stop], part)
        loss, dz = chunk_terms(backend, logits(h_c, w, b), labels[start:stop], plan, coef)
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
