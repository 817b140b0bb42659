"""JAX kernels of the fused linear-layer losses (:mod:`losskit.losses._linear`): ``custom_vjp``
functions over a ``lax.scan`` of token chunks (jit-, grad- and vmap-compatible).

Each runs any per-token loss of the logits given as a "head" (``head(backend, logits, z,
*extras_chunk, *consts, coef) → (losses, coef·∂ℓ/∂z)``; cross-entropy is
:class:`~losskit.losses._linear.CrossEntropyHead`). The tokens are padded to a whole number of
chunks (padded rows are excluded tokens) and scanned:

* :func:`head_weighted_sum` (scalar reductions): its forward rule computes each chunk's loss and
  its gradients in one pass (the weight and bias gradients are the scan's carry, the hidden
  gradient its output), and the backward rule scales them by the upstream cotangent;
* :func:`head_losses` (``"none"``): its backward rule scans again, recomputing each chunk's
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
from ._linear import CHUNK_BYTES, CrossEntropyHead, Plan

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
    """Per-token cross-entropies ``(M,)``; the backward rule recomputes each chunk."""
    return head_losses(backend, h, w, b, (labels,), (), valid, CrossEntropyHead(plan.rows, plan))


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
    """``Σ coef·ℓ`` of the cross-entropies over the valid tokens; the gradients come from the
    forward pass."""
    head = CrossEntropyHead(plan.rows, plan)
    return head_weighted_sum(backend, h, w, b, (labels,), (), valid, coef, head)


def _all_valid(tokens: Any, valid: Any) -> Any:
    return jnp.ones(tokens.shape, dtype=bool) if valid is None else valid


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


def _chunks(plan: Any, *arrays: Any) -> list[Any]:
    """Each array (tokens first) padded and reshaped to ``(chunks, plan.rows, ...)``."""
    chunks = -(-arrays[0].shape[0] // plan.rows)
    return [_split(x, plan.rows, chunks) for x in arrays]


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


# ---------------------------------------------------------------------- any per-token loss
# The kernels of a loss of the logits other than cross-entropy, e.g. a divergence from a teacher
# head: ``head(backend, logits, z, *extras_chunk, *consts, coef)`` (hashable, with ``head.rows``
# tokens per chunk) gives a chunk's losses ``(C,)`` and, with ``coef``, ``coef·∂ℓ/∂z``; the
# matrix products are explicit. ``extras`` are per-token inputs and ``consts`` whole arrays the
# loss reads, both constants (zero cotangents).
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
    """Per-token losses ``(M,)``; the backward rule recomputes each chunk."""
    h, w, b, valid = _same_varying(h, w, b, _all_valid(h[:, 0], valid))
    return _head_losses(head, h, w, b, valid, extras, consts)


def head_weighted_sum(
    backend: ArrayAPIBackend,
    h: Any,
    w: Any,
    b: Any,
    extras: tuple[Any, ...],
    consts: tuple[Any, ...],
    valid: Any,
    coef: Any,
    head: Any,
) -> Any:
    """``Σ coef·ℓ`` over the valid tokens; the gradients come from the forward pass."""
    h, w, b, valid, coef = _same_varying(h, w, b, _all_valid(h[:, 0], valid), coef)
    return _head_weighted_sum(head, h, w, b, valid, coef, extras, consts)


def _head_scan(
    head: Any, h: Any, w: Any, b: Any, valid: Any, extras: Any, consts: Any, coef: Any = None
) -> tuple[Any, Any]:
    """Per-token losses and, with ``coef`` (else None), the gradients of ``Σ coef·ℓ`` for
    ``(hidden, weight, bias)``, a chunk of ``head.rows`` tokens at a time."""
    backend = backend_of(h)

    def chunk(x: Any) -> tuple[Any, Any, list[Any]]:
        """A chunk's hidden states and per-token inputs, excluded rows zeroed."""
        valid_c, *arrays = x
        zeroed = [jnp.where(valid_c.reshape(-1, *([1] * (a.ndim - 1))), a, 0) for a in arrays]
        return zeroed[0], valid_c, zeroed[1:]

    if coef is None:

        def body(carry: None, x: Any) -> tuple[None, Any]:
            h_c, _, rest = chunk(x)
            return None, head(backend, logits, logits(h_c, w, b), *rest, *consts)[0]

        _, loss = jax.lax.scan(body, None, _chunks(head, valid, h, *extras))
        return loss.reshape(-1)[: h.shape[0]], None

    def grad_body(carry: tuple[Any, Any], x: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        coef_c, *x = x
        h_c, valid_c, rest = chunk(x)
        part = jnp.where(valid_c, coef_c, 0.0)
        loss, dz = head(backend, logits, logits(h_c, w, b), *rest, *consts, part)
        grad_w = _accumulate(carry[0], dz, h_c)
        grad_b = None if b is None else carry[1] + jnp.sum(dz, axis=0)
        return (grad_w, grad_b), (loss, jnp.matmul(dz, w, precision=_HIGHEST))

    init = (jnp.zeros_like(w), None if b is None else jnp.zeros_like(b))
    xs = _chunks(head, coef, valid, h, *extras)
    (grad_w, grad_b), (loss, grad_h) = jax.lax.scan(grad_body, init, xs)
    tokens = h.shape[0]
    return loss.reshape(-1)[:tokens], (grad_h.reshape(-1, h.shape[1])[:tokens], grad_w, grad_b)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _head_losses(head: Any, h: Any, w: Any, b: Any, valid: Any, extras: Any, consts: Any) -> Any:
    return _head_scan(head, h, w, b, valid, extras, consts)[0]


def _head_losses_fwd(
    head: Any, h: Any, w: Any, b: Any, valid: Any, extras: Any, consts: Any
) -> tuple[Any, Any]:
    saved = (h, w, b, valid, extras, consts)
    return _head_scan(head, h, w, b, valid, extras, consts)[0], saved


def _head_losses_bwd(head: Any, saved: Any, upstream: Any) -> Any:
    h, w, b, valid, extras, consts = saved
    _, grads = _head_scan(head, h, w, b, valid, extras, consts, upstream.astype(h.dtype))
    return (*grads, None, None, None)


_head_losses.defvjp(_head_losses_fwd, _head_losses_bwd)


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def _head_weighted_sum(
    head: Any, h: Any, w: Any, b: Any, valid: Any, coef: Any, extras: Any, consts: Any
) -> Any:
    loss = _head_scan(head, h, w, b, valid, extras, consts)[0]
    return jnp.sum(jnp.where(valid, coef * loss, 0.0))


def _head_weighted_sum_fwd(
    head: Any, h: Any, w: Any, b: Any, valid: Any, coef: Any, extras: Any, consts: Any
) -> tuple[Any, Any]:
    loss, grads = _head_scan(head, h, w, b, valid, extras, consts, coef)
    loss = jnp.where(valid, loss, 0.0)
    return jnp.sum(jnp.where(valid, coef, 0.0) * loss), (grads, loss)


def _head_weighted_sum_bwd(head: Any, saved: Any, upstream: Any) -> Any:
    grads, loss = saved
    scaled = tuple(None if g is None else g * upstream for g in grads)
    return (*scaled, None, loss * upstream, None, None)


_head_weighted_sum.defvjp(_head_weighted_sum_fwd, _head_weighted_sum_bwd)
