"""Fused PyTorch paths for the cross-entropies (exact softmax, sparse, soft-target, binary), the
segmentation and the focal losses: ``autograd.Function``s whose backward is written out
analytically, so that eager mode runs a handful of kernels instead of autograd's chain of
intermediate tensors.

Each entry point returns None where it does not apply (or, for the cross-entropies, is not
called); the caller then takes the generic
array-API path, which stays the reference (and what every other backend runs). The torch backend
calls them only on concrete tensors: while tracing (``torch.compile``, functorch transforms) the
generic formulas are traced instead.

The Functions are old-style (``forward(ctx, ...)``): ``apply`` then skips the signature binding
that ``setup_context`` Functions pay on every call. Their backward is itself differentiable: when
autograd records it (``create_graph=True``) it recomputes what it needs from the saved inputs
with out-of-place operations, so double backward (Hessian-vector products, ``gradgradcheck``)
is right too.

What costs on CPU, measured on the 16×4×128×128 benchmark batch: the number of full-size
kernels (each is a pass over memory and, with several threads, a parallel region, whose
synchronisation dominates on a busy machine), and fresh full-size buffers (page faults cost
more than the arithmetic on them). So the forward writes into a few buffers that the backward
reuses or hands over as the gradient (a retained graph's second backward recomputes them the
same way, so it is bitwise reentrant), and where one thread runs the kernels, the paths that
are faster serially (a radix sort, cache-sized chunks) are taken.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

#: the bit pattern of float32 +inf: non-negative float32 values order like their bit patterns
_INF32_BITS = 0x7F800000
#: counts (cumulative sums of 0/1) are exact in float32 below this
_EXACT_COUNT = 2**24
_MOD_FLOOR = 1e-37  # the floor of (1 - p_t) in the focal modulation, as in the generic path
#: bytes of input per block of the passes that run block by block on the CPU (the sparse,
#: soft-target and binary cross-entropies): a block's intermediates stay in the caches between
#: its passes and are reused, so that memory is read about twice instead of once per pass, and
#: no fresh full-size buffer is faulted in
_BLOCK_BYTES = 2**20


def _floating(*xs: Any) -> bool:
    return all(x.dtype in (torch.float32, torch.float64) for x in xs)


# ---------------------------------------------------------------------- overlap statistics
def _unsum(g: Any, axes: tuple[int, ...]) -> Any:
    """A table with the summed ``axes`` gone, back as size-1 axes (broadcastable)."""
    for axis in axes:
        g = g.unsqueeze(axis)
    return g


def _activate(x: Any, activation: str | None, caxis: int | None) -> Any:
    if activation == "softmax":
        return torch.softmax(x, dim=caxis)  # type: ignore[arg-type]
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return x


class _OverlapSums(torch.autograd.Function):
    """``(I, Σp, Σy)`` summed over ``axes`` from logits (or probabilities) ``x``:
    ``p = activation(x)``, masked by the 0/1 ``keep``; ``I = Σ p·y`` for integer labels
    (``y`` their one-hot), ``(Σp + Σy - Σ|p - y|) / 2`` for dense targets ``y`` (the generic
    formulas).

    The three full-size terms are written into three buffers that the backward reuses, and
    the backward is ``g = ∂/∂p = g_P + g_I·y`` (labels) or ``g_P + g_I·(1 - sign(p - y))/2``
    (dense), times ``keep``, followed by the activation's backward (torch's fused softmax
    backward, ``g·p(1 - p)`` for the sigmoid): with labels and a softmax, six kernels forward
    (softmax, one-hot, product, three sums) and three backward, none allocating in backward,
    where autograd runs more (each one a parallel region, a full pass over memory and, for
    most, a fresh full-size buffer).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Any,
        target: Any,
        keep: Any,
        activation: str | None,
        caxis: int | None,
        axes: tuple[int, ...],
        num_classes: int,
    ) -> Any:
        terms, p, sign = _overlap_terms(x, target, keep, activation, caxis, num_classes)
        sums = [term.sum(axes) for term in terms]
        # dense: I = (Σp + Σy - Σ|p - y|) / 2
        intersection = 0.5 * (sums[1] + sums[2] - sums[0]) if sign is not None else sums[0]
        # the buffers are the backward's scratch (one use: a retained graph's second backward
        # recomputes them), so they are kept as attributes rather than saved tensors
        ctx.save_for_backward(x, target, keep)
        ctx.buffers = (terms, p, sign)
        ctx.options = (activation, caxis, axes, num_classes)
        target_mass = sums[2]
        ctx.mark_non_differentiable(target_mass)
        return intersection, sums[1], target_mass

    @staticmethod
    def backward(ctx: Any, g_i: Any, g_p: Any, _: Any) -> Any:
        x, target, keep = ctx.saved_tensors
        activation, caxis, axes, num_classes = ctx.options
        g_i, g_p = _unsum(g_i, axes), _unsum(g_p, axes)
        buffers, ctx.buffers = ctx.buffers, None
        if torch.is_grad_enabled():  # create_graph: differentiable, out of place
            grad = _overlap_backward(x, target, keep, activation, caxis, num_classes, g_i, g_p)
            return grad, None, None, None, None, None, None
        if buffers is None:  # a retained graph's second backward: the same buffers again
            buffers = _overlap_terms(x, target, keep, activation, caxis, num_classes)
        # in the forward's buffers (fresh full-size buffers cost page faults): ∂/∂p into
        # terms[0], the logits' gradient into terms[2]; a full-size operand first (torch's
        # kernels are several times slower when the first operand is the broadcast table)
        terms, p, sign = buffers
        if sign is not None:
            grad = torch.mul(sign, -0.5 * g_i, out=terms[0]).add_(g_p + 0.5 * g_i)
        else:
            grad = torch.mul(terms[2], g_i, out=terms[0]).add_(g_p)
        if keep is not None:
            grad.mul_(keep)
        if activation == "softmax":
            grad = torch._softmax_backward_data(grad, p, caxis, p.dtype, grad_input=terms[2])
        elif activation == "sigmoid":
            grad.mul_(p).addcmul_(grad, p, value=-1.0)
        return grad, None, None, None, None, None, None


def _overlap_terms(
    x: Any,
    target: Any,
    keep: Any,
    activation: str | None,
    caxis: int | None,
    num_classes: int,
) -> tuple[Any, Any, Any]:
    """``(terms, p, sign)``: the three full-size terms that :class:`_OverlapSums` sums
    (``y·p`` or ``|p - y|``, ``p``, ``y``, masked by ``keep``), the probabilities and, for
    dense targets, ``sign(p - y)``."""
    # three buffers of x's size rather than one of three times it: freed buffers of that size
    # are what the allocator has at hand (a larger one grows the heap: fresh pages, faults)
    terms = [torch.empty_like(x, memory_format=torch.contiguous_format) for _ in range(3)]
    p = terms[1] if keep is None else torch.empty_like(x)
    if activation == "softmax":
        torch.softmax(x, caxis, out=p)  # type: ignore[arg-type]
    elif activation == "sigmoid":
        torch.sigmoid(x, out=p)
    else:
        p.copy_(x)
    if keep is not None:
        torch.mul(p, keep, out=terms[1])
    sign = None
    if target.is_floating_point():
        if keep is None:
            terms[2].copy_(target)
        else:
            torch.mul(target, keep, out=terms[2])
        sign = torch.sign(torch.sub(terms[1], terms[2], out=terms[0]))
        terms[0].abs_()
    else:
        _one_hot(target, x, caxis, num_classes, keep, out=terms[2])  # type: ignore[arg-type]
        torch.mul(terms[2], terms[1], out=terms[0])
    return terms, p, sign


def _overlap_backward(
    x: Any,
    target: Any,
    keep: Any,
    activation: str | None,
    caxis: int | None,
    num_classes: int,
    g_i: Any,
    g_p: Any,
) -> Any:
    """:class:`_OverlapSums`'s gradient with out-of-place operations from its inputs, for
    autograd to differentiate (double backward)."""
    p = _activate(x, activation, caxis)
    if target.is_floating_point():
        yk = target if keep is None else target * keep
        sign = torch.sign((p if keep is None else p * keep) - yk)
        grad = g_p + 0.5 * g_i - 0.5 * g_i * sign
    else:
        grad = g_p + g_i * _one_hot(target, x, caxis, num_classes)  # type: ignore[arg-type]
    if keep is not None:
        grad = grad * keep
    if activation == "softmax":
        grad = grad * p
        return grad - p * grad.sum(caxis, keepdim=True)
    if activation == "sigmoid":
        return grad * (p * (1.0 - p))
    return grad


def _one_hot(
    labels: Any, like: Any, caxis: int, num_classes: int, keep: Any = None, out: Any = None
) -> Any:
    """0/1 one-hot of integer ``labels`` (size 1 on ``caxis``) in ``like``'s dtype and shape,
    times ``keep`` (into ``out`` if given): the labels compared with float class ids straight
    into a float output, one kernel (an integer ``==`` with a bool result, or a scatter, is
    several times slower on CPU). Out-of-range labels (``ignore_index``) give 0; labels and
    class ids are exact floats (``overlap_statistics`` checks the number of classes)."""
    shape = [1] * like.ndim
    shape[caxis] = num_classes
    classes = torch.arange(num_classes, dtype=like.dtype, device=like.device).view(shape)
    if out is None:
        out_shape = list(labels.shape)
        out_shape[caxis] = num_classes
        out = torch.empty(out_shape, dtype=like.dtype, device=like.device)
    hot = torch.eq(labels, classes, out=out)
    return hot if keep is None else hot.mul_(keep)


def class_indicator(labels: Any, caxis: int, num_classes: int, dtype: Any) -> Any | None:
    """``labels == c`` along ``caxis`` as 0/1 in ``dtype`` (floating), in one kernel; None
    where the class ids are not exact in ``dtype``."""
    if dtype not in (torch.float32, torch.float64) or labels.is_floating_point():
        return None
    if num_classes >= (2**24 if dtype == torch.float32 else 2**53):
        return None
    like = torch.empty((), dtype=dtype, device=labels.device).expand(labels.shape)
    return _one_hot(labels, like, caxis, num_classes)


def overlap_statistics(
    x: Any,
    labels: Any,
    target: Any,
    valid: Any,
    activation: str | None,
    caxis: int | None,
    num_classes: int,
    axes: tuple[int, ...],
) -> tuple[Any, Any, Any] | None:
    """``(I, Σp, Σy)`` over ``axes`` through :class:`_OverlapSums`, or None where it does not
    apply (no summed axis, a target that requires grad, a non-float dtype, empty input)."""
    if not axes or x.numel() == 0 or not _floating(x):
        return None
    if labels is not None:
        exact = 2**24 if x.dtype == torch.float32 else 2**53  # class ids and labels as floats
        if caxis is None or labels.is_floating_point() or num_classes >= exact:
            return None
        target = labels
    elif target is None or target.requires_grad or target.dtype != x.dtype:
        return None
    keep = None if valid is None else valid.to(x.dtype)
    return _OverlapSums.apply(x, target, keep, activation, caxis, axes, num_classes)


# ---------------------------------------------------------------------- Lovász
_MAGNITUDE = {torch.float32: (torch.int32, 0x7FFFFFFF), torch.float64: (torch.int64, 2**63 - 1)}


def _sorted_rows(errors: Any, fg: Any, valid: Any) -> tuple[Any, Any, Any]:
    """The errors of every row sorted decreasingly (the absolute values of ``errors``, which
    this overwrites), the foreground counts among the largest errors (``F_i``), and the
    positions of the sorted entries (per row, or flat for the 1-D sort); invalid entries get
    error 0 and foreground 0, after every positive error (among the errors 0, which pass no
    gradient).

    A float's absolute value orders like its bit pattern with the sign bit cleared, so the
    errors are sorted as integers, which gives back the exact errors (NaN first, as in the
    generic path) without a gather. With several threads, or in float64: one per-row sort (one
    parallel region) and a gather of the foreground. With one thread in float32: a single
    1-D sort of int64 keys ``(row, +inf bits - error bits, fg)``, which torch runs as a radix
    sort (several times faster), and the sorted keys give the foreground too.
    """
    rows, pixels = errors.shape
    dtype = errors.dtype
    int_type, magnitude = _MAGNITUDE[dtype]
    bits = errors.view(int_type).bitwise_and_(magnitude)  # |e|, in place
    if dtype == torch.float64 or torch.get_num_threads() > 1:
        if valid is not None:
            bits.mul_(valid)  # error 0
            fg = fg * valid
        sorted_bits, order = torch.sort(bits, dim=-1, descending=True, stable=False)
        fg_count = torch.gather(fg, -1, order).cumsum_(-1)
        return sorted_bits.view(dtype), fg_count, order
    keys = bits.to(torch.int64).clamp_(max=_INF32_BITS)  # NaN sorted as +inf
    hot = fg.to(torch.uint8)
    if valid is not None:
        keys.add_(1).mul_(valid).sub_(1)  # invalid: "error -1", after every error
        hot.mul_(valid)
    base = torch.arange(rows, device=errors.device, dtype=torch.int64).mul_(2**31)
    base = base.add_(_INF32_BITS).unsqueeze(1)
    torch.sub(base, keys, out=keys).mul_(2).add_(hot)
    del hot
    sorted_keys, order = torch.sort(keys.view(-1))
    sorted_keys = sorted_keys.view(rows, pixels)
    fg_count = torch.cumsum(torch.bitwise_and(sorted_keys, 1), dim=-1, dtype=dtype)
    sorted_bits = torch.sub(base, sorted_keys.bitwise_right_shift_(1), out=sorted_keys)
    errors_sorted = sorted_bits.clamp_(min=0).to(torch.int32).view(dtype)  # invalid: 0
    return errors_sorted, fg_count, order


class _LovaszRows(torch.autograd.Function):
    """The Lovász extension of the Jaccard loss per row of (rows, pixels) errors (Berman et
    al., Alg. 1): ``Σ_i e_(i) (J_i - J_(i-1))`` with the errors sorted decreasingly and
    ``J_i = i / (G + i - F_i)``. The value is linear in the errors for a fixed order, so the
    backward scatters the Lovász gradient ``J_i - J_(i-1)`` back to the sorted entries and
    scales each row: no autograd through the sort, gathers and cumulative sums.

    ``source`` is the errors, or (``from_prediction``) the predictions ``p``, with errors
    ``|fg - p|`` and the derivative ``sign(p - fg)`` applied in backward.
    """

    @staticmethod
    def forward(ctx: Any, source: Any, fg: Any, valid: Any, from_prediction: bool) -> Any:
        pixels = source.shape[1]
        sign = None
        if from_prediction:
            signed = torch.sub(source, fg)  # p - fg
            sign = torch.sign(signed)
        else:
            signed = source.clone()
        nan = None
        if source.dtype == torch.float32 and torch.get_num_threads() == 1:
            nan = torch.isnan(signed.sum(-1))  # the radix keys sort NaN as +inf
        errors_sorted, fg_count, order = _sorted_rows(signed, fg, valid)
        del signed
        total = fg_count[:, -1:].clone()
        position = torch.arange(1, pixels + 1, dtype=source.dtype, device=source.device)
        union = torch.sub(position, fg_count).add_(total)  # at least 1
        jaccard = torch.div(position, union, out=union)
        steps = fg_count  # the counts' buffer, reused: J_i - J_(i-1)
        steps[:, :1] = jaccard[:, :1]
        torch.sub(jaccard[:, 1:], jaccard[:, :-1], out=steps[:, 1:])
        del jaccard, union
        loss = errors_sorted.mul_(steps).sum(-1)
        if nan is not None:
            loss = torch.where(nan, torch.nan, loss)
        ctx.save_for_backward(order, steps, valid, sign)
        present = total[:, 0] > 0
        ctx.mark_non_differentiable(present)
        return loss, present

    @staticmethod
    def backward(ctx: Any, grad: Any, _: Any) -> Any:
        order, steps, valid, sign = ctx.saved_tensors
        rows, pixels = steps.shape
        if torch.is_grad_enabled():  # create_graph: differentiable in grad, out of place
            weighted = steps * grad.unsqueeze(1)
            if order.ndim == 2:  # per-row positions
                out = weighted.new_zeros(weighted.shape).scatter(-1, order, weighted)
            else:
                flat = weighted.reshape(-1)
                out = flat.new_zeros(flat.shape).index_copy(0, order, flat).view(rows, pixels)
            if valid is not None:
                out = out * valid
            if sign is not None:
                out = out * sign
            return out, None, None, None
        if order.ndim == 2:
            out = torch.empty_like(steps).scatter_(-1, order, steps)
        else:
            out = steps.new_empty(steps.numel()).index_copy_(0, order, steps.reshape(-1))
        out = out.view(rows, pixels).mul_(grad.unsqueeze(1))
        if valid is not None:
            out.mul_(valid)
        if sign is not None:
            out.mul_(sign)
        return out, None, None, None


def lovasz_rows(errors: Any, fg: Any, valid: Any, prediction: Any = None) -> tuple[Any, Any] | None:
    """Per-row Lovász losses and whether each row has foreground, for (images, classes, pixels)
    ``errors`` (non-negative) or, when ``errors`` is None, the errors ``|fg - prediction|``;
    0/1 ``fg`` and boolean ``valid`` (None: all); None where the fused path does not apply."""
    source = prediction if errors is None else errors
    shape = source.shape
    if len(shape) != 3 or source.numel() == 0 or not _floating(source):
        return None
    if fg.requires_grad or fg.dtype != source.dtype or shape[-1] >= _EXACT_COUNT:
        return None
    flat = (shape[0] * shape[1], shape[2])
    source = source.reshape(flat).contiguous()
    fg = fg.expand(shape).reshape(flat).contiguous()
    if valid is not None:
        valid = valid.expand(shape).reshape(flat).contiguous()
    loss, present = _LovaszRows.apply(source, fg, valid, errors is None)
    return loss.view(shape[:2]), present.view(shape[:2])


# ---------------------------------------------------------------------- binary focal
def _focal_terms(y: Any, z: Any, gamma: float, alpha: Any, slope: bool) -> tuple[Any, Any]:
    """The generic path's binary focal loss from logits, elementwise, and (``slope``) its
    derivative in ``z``; out-of-place operations only, so that autograd can record them.

    ``ℓ = α_t·m^γ·ce`` with ``ce = (H(z) - y)·z + softplus(-|z|)`` (exact), ``m = 1 - p_t =
    y·σ(-z) + (1 - y)·σ(z)`` and ``m^γ`` taken of ``max(m, 1e-37)``;
    ``∂ℓ/∂z = α_t·(γ·max(m, 1e-37)^(γ-1)·[m ≥ 1e-37]·(1 - 2y)·σ(z)σ(-z)·ce + m^γ·∂ce/∂z)`` with
    ``∂ce/∂z = (H(z) - y) - sign(z)·σ(-|z|) = σ(z) - y``, exact in both tails.
    """
    sign = torch.sign(z)
    coefficient = sign * 0.5 + 0.5 - y  # H(z) - y, H(0) = 1/2
    negative_abs = -torch.abs(z)
    ce = coefficient * torch.where(coefficient == 0, 0.0, z) + F.softplus(negative_abs)
    p, q = torch.sigmoid(z), torch.sigmoid(-z)
    not_y = 1.0 - y
    m = y * q + not_y * p
    if gamma == 0.0:
        modulation = None
    elif gamma == 1.0:
        modulation = m
    else:
        floored = torch.clamp_min(m, _MOD_FLOOR)
        modulation = torch.pow(floored, gamma)
    loss = ce if modulation is None else modulation * ce
    weight = None
    if alpha is not None:
        weight = y * alpha + not_y * (1.0 - alpha)
        loss = weight * loss
    if not slope:
        return loss, None
    d_ce = coefficient - sign * torch.minimum(p, q)
    if modulation is None:
        d = d_ce
    else:
        d_m = (1.0 - 2.0 * y) * (p * q)
        if gamma != 1.0:
            power = floored if gamma == 2.0 else torch.pow(floored, gamma - 1.0)
            d_m = (gamma * power * d_m) * (m >= _MOD_FLOOR)
        d = d_m * ce + modulation * d_ce
    return loss, d if weight is None else weight * d


def _softplus_of_negative_abs(z: Any, neg_z: Any) -> Any:
    """``softplus(-|z|) = log1p(e)``, ``e = exp(-|z|)`` in (0, 1], as ``log(u) + (e - (u - 1))
    / u`` with ``u = 1 + e`` (the compensated ``log1p``; ``u - 1`` and ``e - (u - 1)`` are
    exact): within a few ulps down to the subnormals, and ``e`` itself where ``u`` rounds to
    1. ``torch.log1p`` and ``F.softplus`` are ten times slower than ``log`` in some CPU builds
    of torch (unvectorised). Overwrites ``neg_z`` (``-z``)."""
    e = torch.minimum(z, neg_z, out=neg_z).exp_()
    u = e + 1.0
    lost = torch.sub(u, 1.0)
    lost = torch.sub(e, lost, out=lost)  # what 1 + e lost to rounding
    return torch.log(u, out=e).addcdiv_(lost, u)


def _focal_pass(
    y: Any, z: Any, gamma: float, alpha: Any, slope: bool, reduction: str
) -> tuple[Any, Any]:
    """The loss (elementwise with ``reduction="none"``, else its sum) and, with ``slope``, the
    derivative in ``z``: the formulas of :func:`_focal_terms` in about thirty kernels, most of
    them in place, with ``σ(z) - y`` taken as ``σ(z)(1 - y) - σ(-z)·y`` (exact in both tails)
    and ``α_t`` as ``(1 - α) + (2α - 1)·y``. The derivative is
    ``α_t·m^(γ-1)·(γ·(1 - 2y)·σ(z)σ(-z)·ce + m·(σ(z) - y))``, ``m`` floored as in the value."""
    neg_z = torch.neg(z)
    p = torch.sigmoid(z)
    q = torch.sigmoid(neg_z)
    not_y = torch.rsub(y, 1.0)
    # (H(z) - y)·z + softplus(-|z|), H(0) = 1 or 1/2 alike (times z = 0)
    ce = _softplus_of_negative_abs(z, neg_z)
    del neg_z
    step = torch.gt(z, 0.0, out=torch.empty_like(ce)).sub_(y)
    ce.addcmul_(step, torch.where(step == 0, 0.0, z))  # 0·(±inf) = 0
    del step
    m = torch.mul(y, q).addcmul_(not_y, p)  # 1 - p_t
    d = torch.mul(p, not_y).addcmul_(q, y, value=-1.0) if slope else None  # σ(z) - y
    del not_y
    if gamma != 0.0 and gamma != 1.0:
        floored = None
        # max(m, floor)'s derivative vanishes below the floor; in float32 with γ >= 1.25 the
        # term it removes, |(1 - 2y)·σ(z)σ(-z)·ce|·floor^(γ-1) < floor^γ·ce, rounds to 0 anyway
        if slope and (gamma < 1.25 or z.dtype != torch.float32):
            floored = m < _MOD_FLOOR
        m = m.clamp_min_(_MOD_FLOOR)
        if floored is not None:
            p.masked_fill_(floored, 0.0)  # zeroes (1 - 2y)·σ(z)σ(-z) below
    if slope and gamma != 0.0:  # d <- m·(σ(z) - y) + γ·(1 - 2y)·σ(z)σ(-z)·ce
        d_m = p.mul_(q).addcmul_(y, p, value=-2.0).mul_(ce)
        d = d.mul_(m).add_(d_m, alpha=gamma)  # type: ignore[union-attr]
        del d_m
    del p, q
    weight = None
    if alpha is not None:  # α_t = (1 - α) + (2α - 1)·y
        weight = torch.add(torch.tensor(1.0 - alpha, dtype=z.dtype), y, alpha=2.0 * alpha - 1.0)
    # the derivative's factor α_t·m^(γ-1), then the value's α_t·m^γ (α_t when γ = 0)
    factor = weight
    if gamma != 0.0:
        if gamma != 1.0:
            power = m if gamma == 2.0 else torch.pow(m, gamma - 1.0)
            factor = power if weight is None else weight.mul_(power)
        if d is not None and factor is not None:
            d = d.mul_(factor)
        if factor is None:
            factor = m
        elif factor is m:  # γ = 2 without α: m is no longer needed as itself
            factor = m.mul_(m)
        else:
            factor = factor.mul_(m)
    elif d is not None and factor is not None:
        d = d.mul_(factor)
    if reduction == "none":
        return (ce if factor is None else ce.mul_(factor)), d
    if factor is None:
        return ce.sum(), d
    return torch.dot(ce.reshape(-1), factor.reshape(-1)), d


#: elements per chunk of the fused elementwise passes with one thread: about 512 KiB per
#: buffer, so that the dozen live intermediates stay in the caches
_CHUNK_BYTES = 2**19


def _focal_fused(
    y: Any, z: Any, gamma: float, alpha: Any, slope: bool, reduction: str
) -> tuple[Any, Any]:
    """:func:`_focal_pass` over the whole tensor (with several threads: one parallel region per
    kernel), or chunk by chunk with one thread (cache-resident intermediates, no full-size
    temporaries). Returns the loss (reduced as ``reduction`` says, ``"mean"`` included) and the
    derivative (or None)."""
    shape = z.shape
    y = y.expand(shape)
    n = z.numel()
    step = max(1, _CHUNK_BYTES // z.element_size())
    if torch.get_num_threads() > 1 or n <= step:
        loss, derivative = _focal_pass(y, z, gamma, alpha, slope, reduction)
    else:
        flat_z, flat_y = z.reshape(-1), y.reshape(-1)
        derivative = torch.empty_like(flat_z) if slope else None
        loss = torch.empty_like(flat_z) if reduction == "none" else None
        totals = []
        for start in range(0, n, step):
            stop = min(n, start + step)
            part, part_slope = _focal_pass(
                flat_y[start:stop], flat_z[start:stop], gamma, alpha, slope, reduction
            )
            if derivative is not None:
                derivative[start:stop] = part_slope
            if loss is None:
                totals.append(part)
            else:
                loss[start:stop] = part
        loss = loss.view(shape) if loss is not None else torch.stack(totals).sum()
        derivative = None if derivative is None else derivative.view(shape)
    if reduction == "mean":
        loss = loss / n
    return loss, derivative


class _BinaryFocalLogits(torch.autograd.Function):
    """Binary focal loss from logits with the derivative computed alongside the value (they
    share every transcendental, see :func:`_focal_fused`); the derivative is kept and scaled
    in place by the upstream gradient in backward, which hands that buffer over as the
    gradient (a second backward through a retained graph recomputes it the same way)."""

    @staticmethod
    def forward(ctx: Any, y: Any, z: Any, gamma: float, alpha: Any, reduction: str) -> Any:
        loss, ctx.slope = _focal_fused(y, z, gamma, alpha, ctx.needs_input_grad[1], reduction)
        ctx.save_for_backward(y, z)
        ctx.options = (gamma, alpha, reduction)
        return loss

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        gamma, alpha, reduction = ctx.options
        slope, ctx.slope = ctx.slope, None  # the buffer becomes the gradient: drop our hold
        traced = torch.is_grad_enabled()  # create_graph: a slope autograd can differentiate
        if slope is None or traced:
            y, z = ctx.saved_tensors
            if traced:
                slope = _focal_terms(y, z, gamma, alpha, True)[1]
            else:
                slope = _focal_fused(y, z, gamma, alpha, True, "sum")[1]
        if reduction == "mean":
            grad = grad / slope.numel()
        return None, (slope * grad if traced else slope.mul_(grad)), None, None, None


def binary_focal_logits(y: Any, z: Any, gamma: float, alpha: Any, reduction: str) -> Any | None:
    """The binary focal loss from logits through :class:`_BinaryFocalLogits` (``alpha``: None
    or a number in [0, 1]; ``reduction``: "none", "sum" or "mean"), or None where it does not
    apply (targets that require grad, a tensor ``alpha``, an empty input, targets that do not
    broadcast to the logits' shape)."""
    if z.numel() == 0 or y.requires_grad or not _floating(z, y) or y.dtype != z.dtype:
        return None
    if alpha is not None and not isinstance(alpha, float | int):
        return None
    if torch.broadcast_shapes(y.shape, z.shape) != z.shape:
        return None
    return _BinaryFocalLogits.apply(y, z, float(gamma), alpha, reduction)


# ---------------------------------------------------------------------- binary cross-entropy
def _bce_pass(y: Any, z: Any, slope: Any, loss: Any) -> Any:
    """The exact binary cross-entropy from logits ``(H(z) - y)·z + softplus(-|z|)`` (``H(0) =
    1/2``, ``0·(±inf) = 0``) of one block: into ``loss`` (elementwise) if given, else its sum is
    returned; and, into ``slope`` if given, its derivative ``(H(z) - y) - sign(z)·σ(-|z|)`` (=
    ``σ(z) - y``, relatively exact in both tails), which shares ``exp(-|z|)`` with the value.

    The product is NaN only where a saturated logit meets its own label (``0·(±inf)``) or
    where ``z`` or ``y`` is NaN: dropping NaN is one vectorised pass (``nansum``,
    ``nan_to_num_``; a boolean mask takes ten times as long on CPU), ``z``'s NaN comes back
    through ``softplus(-|z|)`` and ``y``'s through the coefficient's sum times 0."""
    sign = torch.sign(z)
    coefficient = torch.mul(sign, 0.5).add_(0.5).sub_(y)  # H(z) - y
    product = torch.mul(coefficient, z)
    e = torch.abs(z).neg_().exp_()  # exp(-|z|), in (0, 1]
    softplus = torch.log1p(e)
    if slope is not None:
        sigma = e.div_(e + 1.0)  # σ(-|z|)
        torch.addcmul(coefficient, sign, sigma, value=-1.0, out=slope)
    if loss is not None:
        torch.add(product.nan_to_num_(0.0, math.inf, -math.inf), softplus, out=loss)
        return loss.add_(coefficient, alpha=0.0)
    return torch.nansum(product) + softplus.sum() + coefficient.sum() * 0.0


class _BinaryCrossentropyLogits(torch.autograd.Function):
    """Binary cross-entropy from logits (:func:`_bce_pass`) with the derivative computed
    alongside the value and kept for the backward, which scales it in place and hands it over
    as the gradient: one full-size buffer saved (and the elementwise loss with
    ``reduction="none"``) instead of autograd's chain of a dozen kernels and buffers. On the
    CPU, targets of the logits' shape run block by block (:data:`_BLOCK_BYTES`): a block's
    intermediates are reused from the caches, not fresh full-size buffers (page faults)."""

    @staticmethod
    def forward(ctx: Any, y: Any, z: Any, reduction: str, on_device: bool) -> Any:
        slope = torch.empty_like(z) if ctx.needs_input_grad[1] else None
        loss = torch.empty_like(z) if reduction == "none" else None
        ctx.save_for_backward(y, z)
        ctx.scale = 1.0 / z.numel() if reduction == "mean" else 1.0
        total = _bce_blocks(y, z, slope, loss, on_device)
        ctx.slope = slope
        return loss if loss is not None else total * ctx.scale

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        y, z = ctx.saved_tensors
        slope, ctx.slope = ctx.slope, None  # the buffer becomes the gradient: drop our hold
        if ctx.scale != 1.0:
            grad = grad * ctx.scale
        if torch.is_grad_enabled():  # create_graph: a slope autograd can differentiate
            return None, (torch.sigmoid(z) - y) * grad, None, None
        if slope is None:  # a retained graph's second backward: again
            slope = torch.empty_like(z)
            _bce_pass(y, z, slope, None)
        return None, slope.mul_(grad), None, None


def _bce_blocks(y: Any, z: Any, slope: Any, loss: Any, on_device: bool) -> Any:
    """:func:`_bce_pass` block by block (:data:`_BLOCK_BYTES`) on the CPU where the targets
    have the logits' shape and both are contiguous, else in one pass; the total (the loss
    written into ``loss`` where given)."""
    flat = y.shape == z.shape and y.is_contiguous() and z.is_contiguous()
    if on_device or not flat or z.numel() * z.element_size() <= _BLOCK_BYTES:
        return _bce_pass(y, z, slope, loss)
    y, z = y.view(-1), z.view(-1)
    step = _BLOCK_BYTES // z.element_size()
    totals = [
        _bce_pass(y[a:b], z[a:b], _part(slope, a, b), _part(loss, a, b))
        for a, b in ((a, min(z.numel(), a + step)) for a in range(0, z.numel(), step))
    ]
    return loss if loss is not None else torch.stack(totals).sum()


def _part(buffer: Any, start: int, stop: int) -> Any:
    """Elements ``start:stop`` of a contiguous ``buffer`` (None stays None)."""
    return None if buffer is None else buffer.view(-1)[start:stop]


def binary_crossentropy_logits(y: Any, z: Any, reduction: str, on_device: bool) -> Any:
    """:class:`_BinaryCrossentropyLogits` (``reduction``: "none", "mean" or "sum"); where no
    gradient is recorded (inference), the value alone, without the autograd function."""
    if z.requires_grad and torch.is_grad_enabled():
        return _BinaryCrossentropyLogits.apply(y, z, reduction, on_device)
    loss = torch.empty_like(z) if reduction == "none" else None
    total = _bce_blocks(y, z, None, loss, on_device)
    return total / z.numel() if reduction == "mean" else total


# ---------------------------------------------------------------------- exact softmax
# torch's softmax kernels take ``log Σ exp(z - max)`` of a sum rounded near 1 (and their CPU log
# is a few ulp off there), which loses the relative accuracy of a small loss: 2% at 7e-6 in
# float32. These take ``log1p`` of the sum without one maximum's 1 instead (the generic path's
# ``log_softmax_parts``). A +inf maximum makes NaN here (inf - inf): the backend then takes the
# generic path, which goes to the limit.
def _softmax_parts(z: Any, dim: int) -> tuple[Any, Any, Any]:
    """``(d, e, r)`` along ``dim``: ``d = z - max``, ``e = exp(d)`` and ``r = log Σ e``, so
    ``log_softmax(z) = d - r`` and ``softmax(z) = e·exp(-r)`` (:func:`_log_total`). Only the
    maximum's value is needed: ``amax`` is parallel, several times faster than ``max`` with
    indices."""
    top = torch.amax(z, dim=dim, keepdim=True)
    d = torch.sub(z, top)
    e = torch.exp(d)
    return d, e, _log_total(e.sum(dim, keepdim=True), torch.frac(e).sum(dim, keepdim=True))


def _log_total(total: Any, below_one: Any) -> Any:
    """``r = log Σ e`` from ``total = Σ e`` and ``below_one = Σ frac(e)``, ``e = exp(z - max)``.

    ``Σ e = c + ρ`` with ``c`` maxima (each ``e = 1`` exactly) and ``ρ`` the sum of the terms
    below 1, which ``frac(e)`` keeps and which sums without the ones: ``r = log1p(ρ)`` where
    ``Σ e < 2`` (one maximum, exact for a confident row, whose ``1 + ρ`` rounds ``ρ`` away),
    else ``log1p(Σ e - 1)``, where nothing small is lost."""
    return torch.log1p(torch.where(total < 2.0, below_one, total - 1.0))


def _take_buffer(ctx: Any) -> Any:
    """The forward's full-size buffer (``exp(z - max)``, or a closed-form gradient), handed over
    once (the backward scales it in place into the gradient); None for a retained graph's second
    backward, which recomputes it."""
    e, ctx.e = ctx.e, None
    return e


class _LogSoftmax(torch.autograd.Function):
    """``log_softmax`` as ``(z - max) - r`` (:func:`_softmax_parts`); backward
    ``g - softmax·Σg``, with the softmax ``e·exp(-r)`` from the forward's ``e``."""

    @staticmethod
    def forward(ctx: Any, z: Any, dim: int) -> Any:
        d, ctx.e, r = _softmax_parts(z, dim)
        ctx.save_for_backward(z, r)
        ctx.dim = dim
        return d.sub_(r)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        z, r = ctx.saved_tensors
        e = _take_buffer(ctx)
        if torch.is_grad_enabled():  # create_graph: differentiable in z
            p = torch.softmax(z, dim=ctx.dim)
            return grad - p * grad.sum(ctx.dim, keepdim=True), None
        if e is None:
            e = _softmax_parts(z, ctx.dim)[1]
        scale = torch.exp(-r).mul_(grad.sum(ctx.dim, keepdim=True)).neg_()
        return e.mul_(scale).add_(grad), None


def log_softmax(z: Any, dim: int) -> Any:
    return _LogSoftmax.apply(z, dim)


class _SoftCrossentropy(torch.autograd.Function):
    """``Σ_k y_k·log softmax(z)_k`` over the last axis of 2-d logits (the negated
    cross-entropy of every row), :func:`_soft_rows`. Backward ``g·(y - Σy·softmax)`` in the
    forward's ``e`` buffer: two passes and no ``exp``. On the CPU both run block by block of
    rows (:data:`_BLOCK_BYTES`)."""

    @staticmethod
    def forward(ctx: Any, y: Any, z: Any, on_device: bool) -> Any:
        blocks = _row_blocks(z, on_device)
        if len(blocks) == 1:
            rows, e, r, mass = _soft_rows(y, z, on_device)
        else:
            e = torch.empty_like(z, memory_format=torch.contiguous_format)
            parts = [_soft_rows(y[a:b], z[a:b], on_device, e[a:b]) for a, b in blocks]
            rows, r, mass = (torch.cat([part[i] for part in parts]) for i in (0, 2, 3))
        ctx.e = e
        ctx.save_for_backward(y, z, r, mass)
        ctx.on_device = on_device
        return rows.squeeze(1)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        y, z, r, mass = ctx.saved_tensors
        e = _take_buffer(ctx)
        grad = grad.unsqueeze(1)
        if torch.is_grad_enabled():  # create_graph: differentiable in z
            return None, (y - mass * torch.softmax(z, dim=1)) * grad, None
        if e is None:
            e = _softmax_parts(z, 1)[1]
        scale = torch.exp(-r).mul_(mass).mul_(grad).neg_()
        blocks = _row_blocks(z, ctx.on_device)
        if len(blocks) == 1:
            return None, e.mul_(scale).addcmul_(y, grad), None
        for a, b in blocks:
            e[a:b].mul_(scale[a:b]).addcmul_(y[a:b], grad[a:b])
        return None, e, None


def _soft_rows(y: Any, z: Any, on_device: bool, e: Any = None) -> tuple[Any, Any, Any, Any]:
    """``(Σ y·log softmax(z), e, r, Σ y)`` per row (``(N, 1)``; ``e = exp(z - max)``, into ``e``
    if given; ``r = log Σ e``, :func:`_log_total`) of 2-d ``y`` and ``z``.

    ``Σ y·log softmax = Σ y·d - r·Σy`` with ``d = z - max ≤ 0``: two terms of one sign, so a
    small loss keeps its relative accuracy. A masked class (``-inf``) without target mass makes
    ``0·(-inf)``: NaN on the CPU, where the caller then takes the generic path (the check
    reads the rows it reads anyway); 0 on a device (zeroed at once: a check would read back)."""
    d = torch.sub(z, torch.amax(z, dim=1, keepdim=True))
    e = torch.exp(d) if e is None else torch.exp(d, out=e)
    if on_device:
        d.masked_fill_(y == 0, 0.0)
    dot = d.mul_(y).sum(1, keepdim=True)
    below_one = torch.frac(e, out=d).sum(1, keepdim=True)  # d's buffer is free again
    r = _log_total(e.sum(1, keepdim=True), below_one)
    mass = y.sum(1, keepdim=True)
    return dot.sub_(r * mass), e, r, mass


def _row_blocks(z: Any, on_device: bool) -> list[tuple[int, int]]:
    """``(start, stop)`` of the row blocks of 2-d ``z``: one block on a device (each pass a
    kernel launch), else blocks of about :data:`_BLOCK_BYTES`."""
    rows = z.shape[0]
    step = rows if on_device else max(1, _BLOCK_BYTES // max(1, z.shape[1] * z.element_size()))
    return [(start, min(rows, start + step)) for start in range(0, rows, step)]


def soft_crossentropy(y: Any, z: Any, on_device: bool) -> Any:
    """``Σ y·log softmax(z)`` over the last axis of logits of any rank (``y``: targets of the
    logits' shape and dtype that need no gradient), through :class:`_SoftCrossentropy`; where
    no gradient is recorded, the same rows without the autograd function."""
    classes = z.shape[-1]
    flat_y, flat_z = y.reshape(-1, classes), z.reshape(-1, classes)
    if z.requires_grad and torch.is_grad_enabled():
        rows = _SoftCrossentropy.apply(flat_y, flat_z, on_device)
    else:
        rows = _soft_rows(flat_y, flat_z, on_device)[0].squeeze(1)
    return rows.reshape(z.shape[:-1])


class _SparseCrossentropy(torch.autograd.Function):
    """``r - (1-ε)·(z_y - max) - ε·(mean z - max)`` over the last axis of 2-d logits (three
    non-negative terms), with the backward ``softmax - (1-ε)·onehot(y) - ε/K``: the softmax is
    ``e·exp(-r)``, and ``exp(z_y - max - r)`` at the label, where ``e`` holds 0. The backward
    scales the forward's ``e`` in place into the gradient; on the CPU both run block by block
    of rows (:data:`_BLOCK_BYTES`)."""

    @staticmethod
    def forward(
        ctx: Any, z: Any, labels: Any, smoothing: float, reduction: str, on_device: bool
    ) -> Any:
        index = labels.unsqueeze(1)  # methods, not indexing: a small call is mostly dispatch
        blocks = _row_blocks(z, on_device)
        if len(blocks) == 1:
            loss, (e, label_term, r) = _sparse_rows(z, index, smoothing)
        else:
            e = torch.empty_like(z, memory_format=torch.contiguous_format)
            parts = [_sparse_rows(z[a:b], index[a:b], smoothing, e[a:b]) for a, b in blocks]
            loss = torch.cat([part[0] for part in parts])
            label_term, r = (torch.cat([part[1][i] for part in parts]) for i in (1, 2))
        ctx.e = e
        ctx.save_for_backward(z, label_term, r, index)
        ctx.options = (smoothing, reduction, on_device)
        return _reduce_rows(loss, reduction)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        z, label_term, r, index = ctx.saved_tensors
        smoothing, reduction, on_device = ctx.options
        e = _take_buffer(ctx)
        if reduction == "none":
            grad = grad[:, None]
        elif reduction == "mean":
            grad = grad / z.shape[0]
        target = torch.broadcast_to((smoothing - 1.0) * grad, index.shape)
        if torch.is_grad_enabled():  # create_graph: out-of-place, differentiable in z
            p = torch.softmax(z, dim=1) * grad - (smoothing / z.shape[1]) * grad
            return p.scatter_add(1, index, target), None, None, None, None
        if e is None:  # a retained graph's second backward: again
            e = _sparse_rows(z, index, smoothing)[1][0]
        scale = torch.exp(-r).mul_(grad)
        at_label = torch.exp(label_term).mul_(scale)
        target = target.to(e.dtype)
        uniform = (smoothing / z.shape[1]) * grad if smoothing else None
        blocks = _row_blocks(z, on_device)
        if len(blocks) == 1:  # a small call is mostly dispatch: no slices
            _sparse_slope(e, scale, index, at_label, uniform, target)
            return e, None, None, None, None
        for a, b in blocks:
            part = uniform if uniform is None or uniform.ndim == 0 else uniform[a:b]
            _sparse_slope(e[a:b], scale[a:b], index[a:b], at_label[a:b], part, target[a:b])
        return e, None, None, None, None


def _sparse_slope(e: Any, scale: Any, index: Any, at_label: Any, uniform: Any, target: Any) -> None:
    """:class:`_SparseCrossentropy`'s gradient in ``e`` (in place): ``e·scale`` with the label's
    own term at the label, less the smoothing's uniform part, plus the label's target."""
    e.mul_(scale).scatter_(1, index, at_label)
    if uniform is not None:
        e.sub_(uniform)
    e.scatter_add_(1, index, target)


def _sparse_rows(
    z: Any, index: Any, smoothing: float, e: Any = None
) -> tuple[Any, tuple[Any, Any, Any]]:
    """The ``(N, 1)`` losses of :class:`_SparseCrossentropy`, and what its backward needs
    (``e`` written into ``e`` if given).

    ``r = log Σ_k exp(z_k - max)`` is ``log1p(Σ_{k≠y} e_k + expm1(z_y - max))`` with ``e``
    zeroed at the label ``y``: where ``y`` holds the maximum that is ``log1p`` of the other
    terms alone, exact for a confident row (``1 + Σ`` would round its small sum away); elsewhere
    ``Σ_{k≠y} e_k ≥ 1`` and nothing cancels. The label's index is known, so only the maximum's
    value is needed (``amax``: several times faster than ``max`` with indices, and parallel)."""
    top = torch.amax(z, dim=1, keepdim=True)
    label_term = z.gather(1, index).sub_(top)
    e = torch.sub(z, top, out=e).exp_().scatter_(1, index, 0.0)
    r = torch.log1p(e.sum(1, keepdim=True).add_(torch.expm1(label_term)))
    if smoothing:
        loss = r - label_term * (1.0 - smoothing)  # label_term is kept for the backward
        loss = loss - (z.mean(1, keepdim=True) - top) * smoothing
    else:
        loss = r - label_term
    return loss, (e, label_term, r)


def _reduce_rows(loss: Any, reduction: str) -> Any:
    if reduction == "none":
        return loss.squeeze(1)
    return loss.sum() if reduction == "sum" else loss.mean()


def sparse_crossentropy(
    z: Any, labels: Any, smoothing: float, reduction: str, on_device: bool
) -> Any:
    """Sparse cross-entropy over the last axis of logits of any rank (labels: valid indices).
    Where no gradient is recorded (inference), the same formula runs without the autograd
    function, whose bookkeeping is most of a small call."""
    flat, flat_labels = z.reshape(-1, z.shape[-1]), labels.reshape(-1).long()
    if z.requires_grad and torch.is_grad_enabled():
        loss = _SparseCrossentropy.apply(flat, flat_labels, smoothing, reduction, on_device)
    else:
        loss = _reduce_rows(_sparse_rows(flat, flat_labels.unsqueeze(1), smoothing)[0], reduction)
    return loss.reshape(labels.shape) if reduction == "none" else loss


# ---------------------------------------------------------------- closed-form row gradients
class _RowsWithGradient(torch.autograd.Function):
    """Per-row values ``rows(x, *constants, True)`` over the last axis, with their closed-form
    gradient computed alongside in the forward (block by block of rows on the CPU,
    :data:`_BLOCK_BYTES`) and handed back, scaled in place, by the backward: one pass where
    autograd would run the backward of every intermediate."""

    @staticmethod
    def forward(ctx: Any, x: Any, rows: Any, on_device: bool, *constants: Any) -> Any:
        values, ctx.e = _blocked_rows(rows, x, constants, on_device, True)
        ctx.rows, ctx.on_device = rows, on_device
        ctx.save_for_backward(x, *constants)
        return values

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        x, *constants = ctx.saved_tensors
        grad = grad.unsqueeze(-1)
        nothing = (None, None, *(None for _ in constants))
        if torch.is_grad_enabled():  # create_graph: the closed form, differentiable in x
            return ctx.rows(x, *constants, True)[1] * grad, *nothing
        gradient = _take_buffer(ctx)
        if gradient is None:
            gradient = _blocked_rows(ctx.rows, x, constants, ctx.on_device, True)[1]
        return gradient.mul_(grad), *nothing


def _blocked_rows(
    rows: Any, x: Any, constants: Any, on_device: bool, gradient: bool
) -> tuple[Any, Any]:
    """``rows`` over 2-d row blocks of ``x`` and ``constants`` (:func:`_row_blocks`): the values
    (``x``'s shape without the last axis) and, with ``gradient``, the gradient (``x``'s shape)."""
    flat = [t.reshape(-1, x.shape[-1]) for t in (x, *constants)]
    blocks = _row_blocks(flat[0], on_device)
    if len(blocks) == 1:
        values, grads = rows(*flat, gradient)
    else:
        grads = torch.empty_like(flat[0]) if gradient else None
        parts = []
        for a, b in blocks:
            value, block_grad = rows(*(t[a:b] for t in flat), gradient)
            parts.append(value)
            if grads is not None:
                grads[a:b] = block_grad
        values = torch.cat(parts)
    grads = None if grads is None else grads.reshape(x.shape)
    return values.reshape(x.shape[:-1]), grads


def rows_with_gradient(rows: Any, x: Any, constants: tuple[Any, ...], on_device: bool) -> Any:
    """``rows`` (:meth:`~losskit._backend.ArrayAPIBackend.rows_with_gradient`) of concrete
    tensors: through :class:`_RowsWithGradient` where ``x`` needs a gradient, else its values
    block by block."""
    if x.requires_grad and torch.is_grad_enabled():
        out: Any = _RowsWithGradient.apply(x, rows, on_device, *constants)
        return out
    with torch.no_grad():
        return _blocked_rows(rows, x, constants, on_device, False)[0]
