"""JAX kernels of :func:`losskit.losses._linear.linear_cross_entropy`: ``custom_vjp`` functions
over a ``lax.scan`` of token chunks (jit-, grad- and vmap-compatible).

The tokens are padded to a whole number of chunks (padded rows are excluded tokens) and scanned:

* :func:`weighted_sum` (scalar reductions): its forward rule computes each chunk's loss and its
  gradients in one pass (the weight and bias gradients are the scan's carry, the hidden gradient
  its output), and the backward rule scales them by the upstream cotangent;
* :func:`token_losses` (``"none"``): its backward rule scans again, recomputing each chunk's
  logits under the per-token cotangent.

Products run at ``Precision.HIGHEST`` with results in the compute dtype, so accelerators do not
round float32 logits through bfloat16 or TF32.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from .._backend import ArrayAPIBackend, backend_of
from ._linear import CHUNK_BYTES, Plan, chunk_terms

_HIGHEST = jax.lax.Precision.HIGHEST


def logits(h: Any, w: Any, b: Any) -> Any:
    """``h @ w.T + b`` at full precision."""
    z = jnp.matmul(h, w.T, precision=_HIGHEST, preferred_element_type=w.dtype)
    return z if b is None else z + b


#: A chunk's weight gradient is added to the accumulator in this many vocabulary blocks, so
#: that XLA materialises one ``(V / blocks, d)`` product at a time, not a ``(V, d)`` one.
VOCAB_BLOCKS = 8


def default_rows(num_classes: int, features: int) -> int:
    """Tokens per chunk by default: ``features / 4``, and at least 8 MiB of float32 logits.

    A quarter of torch's default: in the scan body XLA keeps two ``(rows, V)`` buffers live
    (the logits and their exponentials) where the torch kernel reuses one in place, and the
    matrix products under ``jit`` lose little with fewer rows (measured with
    ``benchmarks/linear_ce.py``).
    """
    rows = max(features // 4, CHUNK_BYTES // (4 * num_classes), 8)
    return rows - rows % 8


def can_chunk(backend: ArrayAPIBackend, hidden: Any) -> bool:
    """Always: the scan is traceable."""
    return True


def token_losses(
    backend: ArrayAPIBackend, h: Any, w: Any, b: Any, labels: Any, valid: Any, plan: Plan
) -> Any:
    """Per-token losses ``(M,)``; the backward rule recomputes each chunk."""
    h, w, b, labels, valid = _same_varying(h, w, b, labels, _all_valid(labels, valid))
    return _token_losses(plan, h, w, b, labels, valid)


def weighted_sum(
    backend: ArrayAPIBackend,
    h: Any,
    w: Any,
    b: Any,
    labels: Any,
    valid: Any,
    coef: Any,
    plan: Plan,
) -> Any:
    """``Σ coef·ℓ`` over the valid tokens; the gradients come from the forward pass."""
    arrays = _same_varying(h, w, b, labels, _all_valid(labels, valid), coef)
    return _weighted_sum(plan, *arrays)


def _all_valid(labels: Any, valid: Any) -> Any:
    return jnp.ones(labels.shape, dtype=bool) if valid is None else valid


def _same_varying(*arrays: Any) -> tuple[Any, ...]:
    """``arrays`` (None kept), each cast to vary over every ``shard_map`` mesh axis one of them
    varies over.

    Inside ``shard_map`` a replicated weight meets per-device tokens. Outside a ``custom_vjp``
    JAX casts the weight to varying itself (and its transpose sums the weight's gradient over
    the devices); inside one it cannot: the scan's zero accumulator for the weight gradient
    would be replicated while the accumulated gradient varies, and the backward rule's weight
    gradient would vary while its input does not. Casting on the way in gives the kernels
    inputs of one kind, and JAX's transpose of the cast adds up the devices' gradients.
    Outside ``shard_map`` (or on JAX versions without varying types) nothing changes.
    """
    axes = frozenset().union(*(_varying_axes(x) for x in arrays if x is not None))
    return tuple(None if x is None else _cast_varying(x, axes - _varying_axes(x)) for x in arrays)


def _varying_axes(x: Any) -> frozenset[Any]:
    """The ``shard_map`` mesh axes ``x`` varies over: ``typeof(x).mat.varying``, or
    ``typeof(x).vma`` on older JAX; empty where JAX has neither."""
    typeof = getattr(jax, "typeof", None)
    if typeof is None:
        return frozenset()
    aval = typeof(x)
    mat = getattr(aval, "mat", None)
    found = getattr(mat, "varying", None) if mat is not None else None
    return frozenset(found if found is not None else getattr(aval, "vma", ()))


def _cast_varying(x: Any, axes: frozenset[Any]) -> Any:
    if not axes:
        return x
    names = tuple(sorted(axes, key=str))
    if hasattr(jax.lax, "pcast"):
        return jax.lax.pcast(x, names, to="varying")
    return jax.lax.pvary(x, names)  # type: ignore[attr-defined,unused-ignore]  # older JAX


# ---------------------------------------------------------------------- the scan
def _split(x: Any, rows: int, chunks: int) -> Any:
    """``x`` padded with zeros (False) to ``chunks·rows`` rows, as ``(chunks, rows, ...)``."""
    pad = chunks * rows - x.shape[0]
    if pad:
        x = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1))
    return x.reshape(chunks, rows, *x.shape[1:])


def _chunks(plan: Plan, *arrays: Any) -> list[Any]:
    """Each array (tokens first) padded and reshaped to ``(chunks, rows, ...)``."""
    chunks = -(-arrays[0].shape[0] // plan.rows)
    return [_split(x, plan.rows, chunks) for x in arrays]


def _chunk_logits(h: Any, w: Any, b: Any, valid: Any) -> tuple[Any, Any]:
    """A chunk's hidden states (excluded rows zeroed) and its logits."""
    h = jnp.where(valid[:, None], h, 0.0)
    return h, logits(h, w, b)


def _scan_losses(plan: Plan, h: Any, w: Any, b: Any, labels: Any, valid: Any) -> Any:
    """Per-token losses ``(M,)``, a chunk at a time."""
    backend = backend_of(h)

    def body(carry: None, x: Any) -> tuple[None, Any]:
        h_c, labels_c, valid_c = x
        return None, chunk_terms(backend, _chunk_logits(h_c, w, b, valid_c)[1], labels_c, plan)[0]

    _, loss = jax.lax.scan(body, None, _chunks(plan, h, labels, valid))
    return loss.reshape(-1)[: h.shape[0]]


def _accumulate(grad_w: Any, dz: Any, h: Any) -> Any:
    """``grad_w + dzᵀ h``, one vocabulary block at a time in a loop (unrolled, XLA would
    compute every block's product before the first add and hold them all at once)."""
    classes = grad_w.shape[0]
    block = -(-classes // VOCAB_BLOCKS)
    full = classes // block

    def add_block(k: Any, grad_w: Any) -> Any:
        start = k * block
        part = jax.lax.dynamic_slice_in_dim(dz, start, block, axis=1)
        product = jnp.matmul(part.T, h, precision=_HIGHEST)
        current = jax.lax.dynamic_slice_in_dim(grad_w, start, block, axis=0)
        return jax.lax.dynamic_update_slice_in_dim(grad_w, current + product, start, axis=0)

    grad_w = jax.lax.fori_loop(0, full, add_block, grad_w)
    if full * block < classes:  # the last, shorter block
        rest = jnp.matmul(dz[:, full * block :].T, h, precision=_HIGHEST)
        grad_w = grad_w.at[full * block :].add(rest)
    return grad_w


def _scan_gradients(
    plan: Plan, h: Any, w: Any, b: Any, labels: Any, valid: Any, coef: Any
) -> tuple[Any, tuple[Any, Any, Any]]:
    """Per-token losses and the gradients of ``Σ coef·ℓ`` for ``(hidden, weight, bias)``: the
    weight and bias gradients are the scan's carry, the hidden gradient its output."""
    backend = backend_of(h)

    def body(carry: tuple[Any, Any], x: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        h_c, labels_c, valid_c, coef_c = x
        h_c, z = _chunk_logits(h_c, w, b, valid_c)
        loss, dz = chunk_terms(backend, z, labels_c, plan, jnp.where(valid_c, coef_c, 0.0))
        grad_w = _accumulate(carry[0], dz, h_c)
        grad_b = None if b is None else carry[1] + jnp.sum(dz, axis=0)
        return (grad_w, grad_b), (loss, jnp.matmul(dz, w, precision=_HIGHEST))

    init = (jnp.zeros_like(w), None if b is None else jnp.zeros_like(b))
    xs = _chunks(plan, h, labels, valid, coef)
    (grad_w, grad_b), (loss, grad_h) = jax.lax.scan(body, init, xs)
    tokens = h.shape[0]
    return loss.reshape(-1)[:tokens], (grad_h.reshape(-1, h.shape[1])[:tokens], grad_w, grad_b)


# ---------------------------------------------------------------------- custom VJPs
@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _token_losses(plan: Plan, h: Any, w: Any, b: Any, labels: Any, valid: Any) -> Any:
    return _scan_losses(plan, h, w, b, labels, valid)


def _token_losses_fwd(plan: Plan, h: Any, w: Any, b: Any, labels: Any, valid: Any) -> Any:
    return _token_losses(plan, h, w, b, labels, valid), (h, w, b, labels, valid)


def _token_losses_bwd(plan: Plan, saved: Any, upstream: Any) -> Any:
    h, w, b, labels, valid = saved
    _, grads = _scan_gradients(plan, h, w, b, labels, valid, upstream.astype(h.dtype))
    return (*grads, None, None)


_token_losses.defvjp(_token_losses_fwd, _token_losses_bwd)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _weighted_sum(plan: Plan, h: Any, w: Any, b: Any, labels: Any, valid: Any, coef: Any) -> Any:
    loss = _scan_losses(plan, h, w, b, labels, valid)
    return jnp.sum(jnp.where(valid, coef * loss, 0.0))


def _weighted_sum_fwd(
    plan: Plan, h: Any, w: Any, b: Any, labels: Any, valid: Any, coef: Any
) -> Any:
    loss, grads = _scan_gradients(plan, h, w, b, labels, valid, coef)
    loss = jnp.where(valid, loss, 0.0)
    return jnp.sum(jnp.where(valid, coef, 0.0) * loss), (grads, loss)


def _weighted_sum_bwd(plan: Plan, saved: Any, upstream: Any) -> Any:
    grads, loss = saved
    scaled = tuple(None if g is None else g * upstream for g in grads)
    return (*scaled, None, None, loss * upstream)


_weighted_sum.defvjp(_weighted_sum_fwd, _weighted_sum_bwd)
