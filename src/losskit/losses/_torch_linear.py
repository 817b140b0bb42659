"""PyTorch kernels of :func:`losskit.losses._linear.linear_cross_entropy`.

Two autograd Functions over token chunks, sharing one in-place chunk routine:

* :class:`_WeightedSum` (``"mean"``, ``"sum"``, ``"sum_over_batch_size"``): the upstream gradient
  of a scalar reduction is one number times the contract's token weights, which are known in the
  forward pass. So the forward computes each chunk's logits once, turns them into the chunk's
  loss *and* its gradients (``∂/∂hidden`` written into a preallocated ``(M, d)`` buffer,
  ``∂/∂weight`` and ``∂/∂bias`` accumulated in the compute dtype, float32 or float64), and the
  backward only scales them: three matrix products of ``M·V·d``, as the plain path.
* :class:`_TokenLosses` (``"none"``): the upstream gradient is arbitrary, so the backward
  recomputes each chunk's logits and applies the gradient row by row (four products).

Chunk boundaries depend only on shapes: there is no host synchronisation and no data-dependent
shape in the loop. The caller's tensors are never written; only this module's own buffers are
modified in place. Neither Function supports double backward (``once_differentiable``); traced
calls (``torch.compile``, ``torch.func``) take the plain path instead (see :func:`can_chunk`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable

from .._backend import ArrayAPIBackend
from ._linear import Plan

Grads = tuple[Any, Any, Any]


def logits(h: Any, w: Any, b: Any, out: Any = None) -> Any:
    """``h @ w.T + b``, into ``out`` when given."""
    if b is None:
        return torch.mm(h, w.T, out=out)
    return torch.addmm(b, h, w.T, out=out)


def can_chunk(backend: ArrayAPIBackend, hidden: Any) -> bool:
    """The Functions run eagerly only: traced inputs take the plain, autodiff path."""
    return not backend.is_tracing(hidden)


def token_losses(
    backend: ArrayAPIBackend, h: Any, w: Any, b: Any, labels: Any, valid: Any, plan: Plan
) -> Any:
    """Per-token losses ``(M,)``; the backward recomputes each chunk."""
    return _TokenLosses.apply(h, w, b, labels, valid, plan)


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
    """``Σ coef·ℓ`` over the valid tokens; the gradients are computed in the forward pass."""
    return _WeightedSum.apply(h, w, b, labels, valid, coef, plan)


#: Under a soft cap the gradient needs the chunk's ``tanh`` and its softmax at once: the chunk's
#: rows are then processed in (at most) this many blocks, with one spare buffer of a block's
#: size, and blocks of at least ``CAPPED_BLOCK_ELEMENTS`` logits (fewer, larger operations).
CAPPED_BLOCKS = 8
CAPPED_BLOCK_ELEMENTS = 2**21


def _capped_block_rows(rows: int, classes: int) -> int:
    """Rows of a block of :func:`_capped_chunk` for chunks of ``rows``."""
    return min(rows, max(-(-rows // CAPPED_BLOCKS), -(-CAPPED_BLOCK_ELEMENTS // classes)))


# ---------------------------------------------------------------------- one chunk
def _chunk(
    h: Any, w: Any, b: Any, labels: Any, plan: Plan, coef: Any, buffers: list[Any]
) -> tuple[Any, Any]:
    """Loss ``(C,)`` of one chunk and, given ``coef (C,)``, ``coef·∂ℓ/∂logits`` ``(C, V)``.

    ``buffers[0]`` (``(rows, V)``, allocated once per sweep so that the pages of a large buffer
    are touched once, not once per chunk) holds the logits, then their exponentials, then the
    gradient; under a soft cap with a gradient, see :func:`_capped_chunk` (``buffers[1]``). The
    formula is that of :func:`losskit.losses._linear.chunk_terms`.
    """
    smoothing, z_loss, cap = plan.label_smoothing, plan.z_loss, plan.softcap
    rows = h.shape[0]
    z = logits(h, w, b, out=buffers[0][:rows])
    if cap is not None and coef is not None:
        return _capped_chunk(z, labels, plan, coef, buffers[1])
    if cap is not None:
        z.div_(cap).tanh_().mul_(cap)
    top = z.amax(dim=1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, 0.0)
    z.sub_(top)
    picked = z.gather(1, labels[:, None])[:, 0]
    centred = z.mean(dim=1) if smoothing else None
    z.exp_()
    total = z.sum(dim=1)
    log_total = total.log()
    loss = log_total - (1.0 - smoothing) * picked
    if centred is not None:
        loss -= smoothing * centred
    lse = log_total + top[:, 0]
    if z_loss:
        loss += z_loss * lse * lse
    if coef is None:
        return loss, None
    scale = (1.0 + 2.0 * z_loss * lse) / total if z_loss else total.reciprocal()
    z.mul_((coef * scale)[:, None])
    if smoothing:
        z.sub_((coef * (smoothing / plan.num_classes))[:, None])
    z.scatter_add_(1, labels[:, None], (coef * (smoothing - 1.0))[:, None])
    return loss, z


def _capped_chunk(z: Any, labels: Any, plan: Plan, coef: Any, spare: Any) -> tuple[Any, Any]:
    """:func:`_chunk` under a soft cap ``c``, with a gradient: ``z`` (the chunk's logits) becomes
    ``t = tanh(z / c)``, then, a block of rows at a time, the capped logits ``c·t`` are formed in
    ``spare`` and turned into the block's loss and ``g = coef·∂ℓ/∂(c·t)``, and ``z`` receives
    ``g·(1 - t²)``: the same operations as the uncapped chunk, so memory beyond ``z`` is one
    block (``1 / CAPPED_BLOCKS`` of a large chunk), not a second chunk."""
    smoothing, z_loss, cap = plan.label_smoothing, plan.z_loss, plan.softcap
    if cap is None:
        raise ValueError("_capped_chunk is the kernel of a soft-capped plan")
    rows = z.shape[0]
    z.div_(cap).tanh_()
    loss = torch.empty(rows, dtype=z.dtype, device=z.device)
    step = spare.shape[0]
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        tanh, part, y = z[start:stop], coef[start:stop], labels[start:stop, None]
        u = torch.mul(tanh, cap, out=spare[: stop - start])
        top = u.amax(dim=1, keepdim=True)
        top = torch.where(torch.isfinite(top), top, 0.0)
        u.sub_(top)
        picked = u.gather(1, y)[:, 0]
        centred = u.mean(dim=1) if smoothing else None
        u.exp_()
        total = u.sum(dim=1)
        log_total = total.log()
        block = log_total - (1.0 - smoothing) * picked
        if centred is not None:
            block -= smoothing * centred
        lse = log_total + top[:, 0]
        if z_loss:
            block += z_loss * lse * lse
        loss[start:stop] = block
        scale = (1.0 + 2.0 * z_loss * lse) / total if z_loss else total.reciprocal()
        u.mul_((part * scale)[:, None])
        if smoothing:
            u.sub_((part * (smoothing / plan.num_classes))[:, None])
        u.scatter_add_(1, y, (part * (smoothing - 1.0))[:, None])
        tanh.square_().neg_().add_(1.0).mul_(u)
    return loss, z


def _sweep(
    h: Any, w: Any, b: Any, labels: Any, valid: Any, plan: Plan, coef: Any, needs: tuple
) -> tuple[Any, Grads]:
    """All chunks: the per-token losses and, with ``coef``, the gradients listed by ``needs``
    (for hidden, weight, bias; None where not needed)."""
    tokens = h.shape[0]
    loss = torch.empty(tokens, dtype=h.dtype, device=h.device)
    grad = coef is not None
    new = {"dtype": h.dtype, "device": h.device}  # contiguous, whatever the inputs' strides
    grad_h = torch.empty(h.shape, **new) if grad and needs[0] else None
    grad_w = torch.empty(w.shape, **new) if grad and needs[1] else None
    grad_b = torch.empty(b.shape, **new) if grad and b is not None and needs[2] else None
    rows = min(plan.rows, tokens)
    buffers = [torch.empty((rows, w.shape[0]), **new)]
    if grad and plan.softcap is not None:
        buffers.append(torch.empty((_capped_block_rows(rows, w.shape[0]), w.shape[0]), **new))
    for start in range(0, tokens, plan.rows):
        stop = min(start + plan.rows, tokens)
        chunk = h[start:stop]
        if valid is not None:
            chunk = torch.where(valid[start:stop, None], chunk, 0.0)
        part = coef[start:stop] if grad else None
        loss[start:stop], dz = _chunk(chunk, w, b, labels[start:stop], plan, part, buffers)
        if dz is None:
            continue
        if grad_h is not None:
            torch.mm(dz, w, out=grad_h[start:stop])
        first = start == 0  # the first chunk writes the accumulators: no zero-fill pass
        if grad_w is not None:
            grad_w.addmm_(dz.T, chunk, beta=0.0 if first else 1.0)
        if grad_b is not None and first:
            torch.sum(dz, dim=0, out=grad_b)
        elif grad_b is not None:
            grad_b += dz.sum(dim=0)
    return loss, (grad_h, grad_w, grad_b)


def _masked(x: Any, valid: Any) -> Any:
    return x if valid is None else torch.where(valid, x, 0.0)


# ---------------------------------------------------------------------- autograd
class _WeightedSum(torch.autograd.Function):
    """``Σ_valid coef·ℓ``, its gradients computed in the forward and scaled in the backward."""

    @staticmethod
    def forward(
        ctx: Any, h: Any, w: Any, b: Any, labels: Any, valid: Any, coef: Any, plan: Plan
    ) -> Any:
        needs = ctx.needs_input_grad[:3]
        coef = _masked(coef, valid)
        loss, grads = _sweep(h, w, b, labels, valid, plan, coef if any(needs) else None, needs)
        loss = _masked(loss, valid)
        ctx.grads = grads
        ctx.loss = loss if ctx.needs_input_grad[5] else None
        return torch.dot(coef, loss)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, upstream: Any) -> Any:
        grads = ctx.grads
        if grads is None:
            raise RuntimeError(
                "linear_cross_entropy's scalar reductions free their precomputed gradients in "
                "the first backward; a second backward (retain_graph=True) needs "
                "reduction='none' followed by your own reduction"
            )
        ctx.grads = None
        scaled = [None if g is None else g.mul_(upstream) for g in grads]
        grad_coef = None if ctx.loss is None else ctx.loss * upstream
        return (*scaled, None, None, grad_coef, None)


class _TokenLosses(torch.autograd.Function):
    """Per-token losses; the backward recomputes each chunk under the upstream gradient."""

    @staticmethod
    def forward(ctx: Any, h: Any, w: Any, b: Any, labels: Any, valid: Any, plan: Plan) -> Any:
        ctx.save_for_backward(h, w, b, labels, valid)
        ctx.plan = plan
        return _sweep(h, w, b, labels, valid, plan, None, (False, False, False))[0]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, upstream: Any) -> Any:
        h, w, b, labels, valid = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        coef = _masked(upstream.to(h.dtype), valid)
        _, grads = _sweep(h, w, b, labels, valid, ctx.plan, coef, needs)
        return (*grads, None, None, None)


# ---------------------------------------------------------------------- any per-token loss
# The kernels of a loss of the logits other than cross-entropy, e.g. a divergence from a teacher
# head: ``head(backend, logits, z, *extras_chunk, *consts, coef)`` gives a chunk's losses ``(C,)``
# and, with ``coef``, ``coef·∂ℓ/∂z`` (else None); the matrix products are explicit. ``extras``
# are per-token inputs and ``consts`` whole arrays the loss reads, both constants (no gradient).
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
    """Per-token losses ``(M,)``; the backward recomputes each chunk."""
    return _HeadLosses.apply(h, w, b, valid, (backend, extras, consts, head))


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
    """``Σ coef·ℓ`` over the valid tokens; the gradients are computed in the forward pass."""
    return _HeadWeightedSum.apply(h, w, b, valid, coef, (backend, extras, consts, head))


def _head_sweep(
    h: Any, w: Any, b: Any, valid: Any, static: tuple, coef: Any, needs: tuple
) -> tuple[Any, Grads]:
    """All chunks of ``head.rows`` tokens: the losses and, with ``coef``, the gradients of
    ``Σ coef·ℓ`` listed by ``needs``."""
    backend, extras, consts, head = static
    tokens = h.shape[0]
    new = {"dtype": h.dtype, "device": h.device}
    loss = torch.empty(tokens, **new)
    grad = coef is not None and any(needs)
    grad_h = torch.empty(h.shape, **new) if grad and needs[0] else None
    grad_w = torch.zeros(w.shape, **new) if grad and needs[1] else None
    grad_b = torch.zeros(b.shape, **new) if grad and b is not None and needs[2] else None
    for start in range(0, tokens, head.rows):
        stop = min(start + head.rows, tokens)
        keep = None if valid is None else valid[start:stop, None]
        chunk, *rest = (
            x[start:stop].detach()
            if keep is None
            else torch.where(keep, x[start:stop].detach(), 0.0)
            for x in (h, *extras)
        )
        z = logits(chunk, w, b)
        part = coef[start:stop] if grad else None
        loss[start:stop], dz = head(backend, logits, z, *rest, *consts, part)
        if dz is None:
            continue
        if grad_h is not None:
            torch.mm(dz, w.detach(), out=grad_h[start:stop])
        if grad_w is not None:
            grad_w.addmm_(dz.T, chunk)
        if grad_b is not None:
            grad_b += dz.sum(dim=0)
    return loss, (grad_h, grad_w, grad_b)


class _HeadWeightedSum(torch.autograd.Function):
    """:func:`head_weighted_sum`: gradients computed in the forward, scaled in the backward."""

    @staticmethod
    def forward(ctx: Any, h: Any, w: Any, b: Any, valid: Any, coef: Any, static: tuple) -> Any:
        needs = ctx.needs_input_grad[:3]
        coef = _masked(coef, valid)
        loss, grads = _head_sweep(h, w, b, valid, static, coef, needs)
        loss = _masked(loss, valid)
        ctx.grads = grads
        ctx.loss = loss if ctx.needs_input_grad[4] else None
        return torch.dot(coef, loss)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, upstream: Any) -> Any:
        grads = ctx.grads
        if grads is None:
            raise RuntimeError(
                "a fused loss's scalar reduction frees its precomputed gradients in the first "
                "backward; a second backward (retain_graph=True) needs reduction='none' followed "
                "by your own reduction"
            )
        ctx.grads = None
        scaled = [None if g is None else g.mul_(upstream) for g in grads]
        grad_coef = None if ctx.loss is None else ctx.loss * upstream
        return (*scaled, None, grad_coef, None)


class _HeadLosses(torch.autograd.Function):
    """:func:`head_losses`: the backward recomputes each chunk under the upstream gradient."""

    @staticmethod
    def forward(ctx: Any, h: Any, w: Any, b: Any, valid: Any, static: tuple) -> Any:
        ctx.save_for_backward(h, w, b, valid)
        ctx.static = static
        return _head_sweep(h, w, b, valid, static, None, (False, False, False))[0]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, upstream: Any) -> Any:
        h, w, b, valid = ctx.saved_tensors
        coef = _masked(upstream.to(h.dtype), valid)
        _, grads = _head_sweep(h, w, b, valid, ctx.static, coef, ctx.needs_input_grad[:3])
        return (*grads, None, None)
