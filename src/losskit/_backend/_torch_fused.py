"""Fused PyTorch paths for the segmentation and focal losses: ``autograd.Function``s whose
backward is written out analytically, so that eager mode runs a handful of kernels instead of
autograd's chain of intermediate tensors.

Each entry point returns None where it does not apply; the caller then takes the generic
array-API path, which stays the reference (and what every other backend runs). The torch backend
calls them only on concrete tensors: while tracing (``torch.compile``, functorch transforms) the
generic formulas are traced instead.

The Functions are old-style (``forward(ctx, ...)``): ``apply`` then skips the signature binding
that ``setup_context`` Functions pay on every call. Their backward is itself differentiable: when
autograd records it (``create_graph=True``) it recomputes what it needs from the saved inputs
with out-of-place operations, so double backward (Hessian-vector products, ``gradgradcheck``)
is right too.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

#: the bit pattern of float32 +inf: non-negative float32 values order like their bit patterns
_INF32_BITS = 0x7F800000
#: counts (cumulative sums of 0/1) are exact in float32 below this
_EXACT_COUNT = 2**24
_MOD_FLOOR = 1e-37  # the floor of (1 - p_t) in the focal modulation, as in the generic path


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
        return torch.softmax(x, dim=caxis)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return x


class _OverlapSums(torch.autograd.Function):
    """``(I, Σp, Σy)`` summed over ``axes`` from logits (or probabilities) ``x``:
    ``p = activation(x)``, masked by the 0/1 ``keep``; ``I = Σ p·y`` for integer labels
    (``y`` their one-hot), ``(Σp + Σy - Σ|p - y|) / 2`` for dense targets ``y`` (the generic
    formulas).

    Backward: the upstream gradients on the tables become ``∂/∂p = g_P + g_I·y`` (labels) or
    ``g_P + g_I·(1 - sign(p - y))/2`` (dense), times ``keep``, and then the activation's
    backward, ``p ⊙ (g - Σ_c p·g)`` for the softmax and ``g·p(1 - p)`` for the sigmoid.

    Every full-size buffer is reused in place: the forward's one-hot becomes ``p·y``, and the
    backward rebuilds it from the labels as its output, so that a call allocates three
    full-size tensors (``p``, the one-hot, the gradient) and never holds more than two of them
    besides ``x``: fresh pages cost more than the arithmetic on them (page faults).
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
        dense = target.is_floating_point()
        p = _activate(x, activation, caxis)
        pk = p if keep is None else p * keep
        prediction_mass = pk.sum(axes)
        sign = None
        if dense:
            yk = target if keep is None else target * keep
            diff = pk - yk
            sign = torch.sign(diff)
            target_mass = yk.sum(axes)
            distance = diff.abs_().sum(axes)
            intersection = 0.5 * (prediction_mass + target_mass - distance)
        else:
            y = _one_hot(target, x, caxis, num_classes, keep)  # type: ignore[arg-type]
            target_mass = y.sum(axes)
            intersection = y.mul_(pk).sum(axes)
        ctx.save_for_backward(x, p, target, keep, sign)
        ctx.options = (activation, caxis, axes, num_classes)
        ctx.mark_non_differentiable(target_mass)
        return intersection, prediction_mass, target_mass

    @staticmethod
    def backward(ctx: Any, g_i: Any, g_p: Any, _: Any) -> Any:
        x, p, target, keep, sign = ctx.saved_tensors
        activation, caxis, axes, num_classes = ctx.options
        dense = target.is_floating_point()
        traced = torch.is_grad_enabled()  # create_graph: stay differentiable, out of place
        if traced:
            p = _activate(x, activation, caxis)
            if dense:
                yk = target if keep is None else target * keep
                sign = torch.sign((p if keep is None else p * keep) - yk)
        g_i, g_p = _unsum(g_i, axes), _unsum(g_p, axes)
        # a full-size operand first: torch's kernels are several times slower when the first
        # operand is the broadcast table
        if dense:
            grad = sign * (-0.5 * g_i)
            grad = grad + (g_p + 0.5 * g_i) if traced else grad.add_(g_p + 0.5 * g_i)
            if keep is not None:
                grad = grad * keep if traced else grad.mul_(keep)
        else:
            grad = _one_hot(target, p, caxis, num_classes, keep)
            grad = grad * g_i + g_p if traced else grad.mul_(g_i).add_(g_p)
            if keep is not None:
                grad = grad * keep if traced else grad.mul_(keep)
        if activation == "softmax":
            grad = grad * p if traced else grad.mul_(p)
            total = grad.sum(caxis, keepdim=True)
            grad = grad - p * total if traced else grad.addcmul_(p, total, value=-1.0)
        elif activation == "sigmoid":
            grad = grad * (p * (1.0 - p)) if traced else grad.mul_(p).mul_(1.0 - p)
        return grad, None, None, None, None, None, None


def _one_hot(labels: Any, like: Any, caxis: int, num_classes: int, keep: Any = None) -> Any:
    """0/1 one-hot of integer ``labels`` (size 1 on ``caxis``) in ``like``'s dtype and shape,
    times ``keep``, as ``1 - min(|label - c|, 1)``: a few arithmetic kernels, where torch's
    broadcast integer ``==`` and bool casts are slower. Out-of-range labels (``ignore_index``)
    give 0."""
    shape = [1] * like.ndim
    shape[caxis] = num_classes
    classes = torch.arange(num_classes, dtype=like.dtype, device=like.device).view(shape)
    hot = torch.sub(labels, classes).abs_().clamp_(max=1.0).neg_().add_(1.0)
    return hot if keep is None else hot.mul_(keep)


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
        if caxis is None or labels.is_floating_point():
            return None
        target = labels
    elif target is None or target.requires_grad or target.dtype != x.dtype:
        return None
    keep = None if valid is None else valid.to(x.dtype)
    return _OverlapSums.apply(x, target, keep, activation, caxis, axes, num_classes)


# ---------------------------------------------------------------------- Lovász
def _sorted_rows(errors: Any, fg: Any, valid: Any) -> tuple[Any, Any, Any]:
    """The errors of every row sorted decreasingly, with the matching 0/1 foreground and the
    flat positions of the sorted entries; invalid entries last, with error 0 and foreground 0.

    float32: one ascending 1-D sort of int64 keys ``(row, +inf bits - error bits, fg)`` (a
    non-negative float's bit pattern orders like its value). torch sorts 1-D integer tensors
    with a radix sort, several times faster than a per-row float sort, and the sorted keys
    give back the exact errors and the foreground without a gather. float64: a per-row sort.
    """
    rows, pixels = errors.shape
    if errors.dtype == torch.float32:
        bits = errors.view(torch.int32).to(torch.int64).clamp_(0, _INF32_BITS)  # NaN -> inf
        hot = fg.to(torch.int64)
        if valid is not None:
            bits = bits.add_(1).mul_(valid).sub_(1)  # invalid: "error -1", after every error
            hot = hot.mul_(valid)
        base = torch.arange(rows, device=errors.device, dtype=torch.int64).mul_(2**31)
        base = base.add_(_INF32_BITS).unsqueeze(1)
        keys = torch.sub(base, bits).mul_(2).add_(hot)
        sorted_keys, order = torch.sort(keys.view(-1))
        sorted_keys = sorted_keys.view(rows, pixels)
        fg_sorted = (sorted_keys & 1).to(errors.dtype)
        bits = torch.sub(base, sorted_keys >> 1).clamp_(min=0)  # invalid -> 0 -> error 0
        errors_sorted = bits.to(torch.int32).view(torch.float32)
        return errors_sorted, fg_sorted, order
    key = errors if valid is None else errors.masked_fill(~valid, -torch.inf)
    errors_sorted, order = torch.sort(key, dim=-1, descending=True, stable=False)
    if valid is not None:
        errors_sorted = errors_sorted.clamp_(min=0.0)
        fg = fg * valid
    fg_sorted = fg.gather(-1, order)
    offsets = torch.arange(rows, device=errors.device, dtype=order.dtype).mul_(pixels)
    return errors_sorted, fg_sorted, order.add_(offsets.unsqueeze(1)).view(-1)


class _LovaszRows(torch.autograd.Function):
    """The Lovász extension of the Jaccard loss per row of (rows, pixels) errors (Berman et
    al., Alg. 1): ``Σ_i e_(i) (J_i - J_(i-1))`` with the errors sorted decreasingly and
    ``J_i = i / (G + i - F_i)``. The value is linear in the errors for a fixed order, so the
    backward scatters the Lovász gradient ``J_i - J_(i-1)`` back to the sorted entries: no
    autograd through the sort, gathers and cumulative sums."""

    @staticmethod
    def forward(ctx: Any, errors: Any, fg: Any, valid: Any) -> Any:
        rows, pixels = errors.shape
        errors_sorted, fg_sorted, order = _sorted_rows(errors, fg, valid)
        fg_count = torch.cumsum(fg_sorted, dim=-1)
        total = fg_count[:, -1:]
        position = torch.arange(1, pixels + 1, dtype=errors.dtype, device=errors.device)
        jaccard = position / (total + position).sub_(fg_count)  # the union is at least 1
        steps = torch.diff(jaccard, dim=-1, prepend=jaccard.new_zeros(rows, 1))
        loss = (errors_sorted * steps).sum(-1)
        if errors.dtype == torch.float32:  # NaN errors were sorted as +inf: give NaN back
            loss = torch.where(torch.isnan(errors.sum(-1)), torch.nan, loss)
        ctx.save_for_backward(order, steps, valid)
        ctx.shape = (rows, pixels)
        return loss, total[:, 0] > 0

    @staticmethod
    def backward(ctx: Any, grad: Any, _: Any) -> Any:
        order, steps, valid = ctx.saved_tensors
        weighted = (steps * grad.unsqueeze(1)).view(-1)
        out = torch.zeros(weighted.shape, dtype=weighted.dtype, device=weighted.device)
        out = out.index_copy(0, order, weighted).view(ctx.shape)
        if valid is not None:
            out = out * valid
        return out, None, None


def lovasz_rows(errors: Any, fg: Any, valid: Any) -> tuple[Any, Any] | None:
    """Per-row Lovász losses and whether each row has foreground, for (images, classes, pixels)
    ``errors`` (non-negative), 0/1 ``fg`` and boolean ``valid`` (None: all); None where the
    fused path does not apply."""
    shape = errors.shape
    if len(shape) != 3 or errors.numel() == 0 or not _floating(errors):
        return None
    if fg.requires_grad or fg.dtype != errors.dtype or shape[-1] >= _EXACT_COUNT:
        return None
    flat = (shape[0] * shape[1], shape[2])
    errors = errors.reshape(flat)
    fg = fg.expand(shape).reshape(flat)
    if valid is not None:
        valid = valid.expand(shape).reshape(flat)
    if errors.dtype == torch.float32:
        errors = errors.contiguous()
    loss, present = _LovaszRows.apply(errors, fg, valid)
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
    ce = coefficient * z + F.softplus(negative_abs)
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


class _BinaryFocalLogits(torch.autograd.Function):
    """Binary focal loss from logits with the derivative computed alongside the value (they
    share every transcendental), saved, and scaled by the upstream gradient in backward."""

    @staticmethod
    def forward(ctx: Any, y: Any, z: Any, gamma: float, alpha: Any, reduction: str) -> Any:
        loss, slope = _focal_terms(y, z, gamma, alpha, ctx.needs_input_grad[1])
        ctx.save_for_backward(y, z, slope)
        ctx.options = (gamma, alpha, reduction)
        if reduction == "none":
            return loss
        total = loss.sum()
        return total / loss.numel() if reduction == "mean" else total

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        y, z, slope = ctx.saved_tensors
        gamma, alpha, reduction = ctx.options
        if torch.is_grad_enabled():  # create_graph: a slope that autograd can differentiate
            slope = _focal_terms(y, z, gamma, alpha, True)[1]
        if reduction == "mean":
            grad = grad / slope.numel()
        return None, slope * grad, None, None, None


def binary_focal_logits(y: Any, z: Any, gamma: float, alpha: Any, reduction: str) -> Any | None:
    """The binary focal loss from logits through :class:`_BinaryFocalLogits` (``alpha``: None
    or a number in [0, 1]; ``reduction``: "none", "sum" or "mean"), or None where it does not
    apply (targets that require grad, a tensor ``alpha``, an empty input, broadcast targets
    larger than the logits)."""
    if z.numel() == 0 or y.requires_grad or not _floating(z, y) or y.dtype != z.dtype:
        return None
    if alpha is not None and not isinstance(alpha, float | int):
        return None
    if torch.broadcast_shapes(y.shape, z.shape) != z.shape:
        return None
    return _BinaryFocalLogits.apply(y, z, float(gamma), alpha, reduction)
