"""PyTorch backend: native kernels for the primitives, array-API code for the rest."""

from __future__ import annotations

import math
import types
from typing import Any

import array_api_compat.torch as compat
import torch
import torch.nn.functional as F

from . import _torch_fused
from ._generic import LOG_FLOOR, PROB_FLOOR, SLOPE_FLOOR, ArrayAPIBackend, _to_numpy

_is_functorch_wrapped = torch._C._functorch.is_functorch_wrapped_tensor


def _scalar_friendly(binary: Any, clamp: Any) -> Any:
    """An elementwise max/min that sends a Python-scalar operand to ``clamp`` (commutative)."""

    def apply(x1: Any, x2: Any) -> Any:
        if not isinstance(x2, torch.Tensor):
            return clamp(x1, x2)
        if not isinstance(x1, torch.Tensor):
            return clamp(x2, x1)
        return binary(x1, x2)

    return apply


def _sum(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Any:
    if axis is None and not keepdims:
        return torch.sum(x, dtype=dtype)
    return compat.sum(x, axis=axis, keepdims=keepdims, dtype=dtype)


def _mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    if axis is None and not keepdims:
        return torch.mean(x)
    return compat.mean(x, axis=axis, keepdims=keepdims)


def _namespace() -> types.ModuleType:
    """array-api-compat's torch namespace, with scalar-friendly functions that torch.compile
    traces without graph breaks (compat resolves Python scalars through ``result_type``)."""
    ns = types.ModuleType("losskit._torch_namespace")
    ns.__dict__.update({k: v for k, v in vars(compat).items() if not k.startswith("__")})
    ns.__dict__.update(
        maximum=_scalar_friendly(torch.maximum, torch.clamp_min),
        minimum=_scalar_friendly(torch.minimum, torch.clamp_max),
        where=torch.where,
        sign=torch.sign,  # compat's sign indexes with a boolean mask, which vmap cannot batch
        clip=lambda x, min=None, max=None: torch.clamp(x, min, max),
        sum=_sum,
        mean=_mean,
    )
    return ns


xp = _namespace()


class _ClampedLog(torch.autograd.Function):
    """``max(log p, -100)`` with derivative ``1 / max(p, 1e-12)``; the backward is itself
    differentiable, so second derivatives (``gradgradcheck``, Hessians) are right too."""

    generate_vmap_rule = True

    @staticmethod
    def forward(p: Any) -> Any:
        return torch.clamp_min(torch.log(torch.clamp_min(p, PROB_FLOOR)), LOG_FLOOR)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        (p,) = ctx.saved_tensors
        return grad / torch.clamp_min(p, SLOPE_FLOOR)


class _ClampedLogForward(_ClampedLog):
    """:class:`_ClampedLog` with forward mode (``torch.func.jvp``, ``jacfwd``, ``hessian``):
    eager and ``torch.func`` calls take it; compiled ones the base, since Dynamo refuses an
    ``autograd.Function`` that defines a ``jvp`` (:func:`_apply`)."""

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def jvp(ctx: Any, tangent: Any) -> Any:
        (p,) = ctx.saved_tensors
        return tangent / torch.clamp_min(p, SLOPE_FLOOR)


_ZERO = torch.zeros(())  # a 0-dim operand: it takes the other operands' dtype and device


class _PairwiseDistances(torch.autograd.Function):
    """``‖x_i - x_j‖₂`` of the rows of ``x`` by ``cdist`` on the differences (exact where rows
    coincide, unlike the Gram form), gradient 0 where they coincide; a first-order backward
    by cdist's kernel, a differentiable broadcast one when a graph of the gradient is built
    (cdist has no second derivative)."""

    @staticmethod
    def forward(x: Any) -> Any:
        return torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.save_for_backward(inputs[0], output)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        x, distances = ctx.saved_tensors
        both = grad + grad.transpose(-1, -2)  # x is both arguments of cdist
        if not torch.is_grad_enabled():
            return torch.ops.aten._cdist_backward(both.contiguous(), x, x, 2.0, distances)
        coincide = distances == 0
        inverse = torch.where(coincide, _ZERO, 1.0 / torch.where(coincide, 1.0, distances))
        weights = both * inverse
        differences = x.unsqueeze(-2) - x.unsqueeze(-3)
        return (weights.unsqueeze(-1) * differences).sum(-2)


class _PairwiseDistancesForward(_PairwiseDistances):
    """:class:`_PairwiseDistances` with forward mode (see :class:`_ClampedLogForward`)."""

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.save_for_backward(inputs[0], output)
        ctx.save_for_forward(inputs[0], output)

    @staticmethod
    def jvp(ctx: Any, tangent: Any) -> Any:
        """``(x_i - x_j)·(dx_i - dx_j) / ‖x_i - x_j‖``, 0 where the rows coincide."""
        x, distances = ctx.saved_tensors
        differences = x.unsqueeze(-2) - x.unsqueeze(-3)
        moved = (differences * (tangent.unsqueeze(-2) - tangent.unsqueeze(-3))).sum(-1)
        coincide = distances == 0
        return torch.where(coincide, _ZERO, moved / torch.where(coincide, 1.0, distances))


class _AbsPower(torch.autograd.Function):
    """``|d|^p`` with derivative ``p·|d|^p / d`` and 0 at ``d = 0`` (autograd's ``pow`` of
    ``abs`` gives 0·inf = NaN there for ``p < 1``); the backward is itself differentiable."""

    generate_vmap_rule = True

    @staticmethod
    def forward(d: Any, p: float) -> Any:
        return torch.abs(d).pow_(p)

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.save_for_backward(inputs[0], output)
        ctx.p = inputs[1]

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        d, power = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: the differentiable, allocating form
            zero = d == 0
            slope = torch.where(zero, _ZERO, power / torch.where(zero, 1.0, d))
            return grad * slope * ctx.p, None
        # sign(d)·|d|^(p-1): 0/0 = NaN only at d = 0 (or where d is NaN, whose loss is NaN
        # anyway); nan_to_num_ is one pass, a mask and where are three
        slope = torch.div(power, d).nan_to_num_(0.0, math.inf, -math.inf)
        return slope.mul_(grad).mul_(ctx.p), None


class _AbsPowerForward(_AbsPower):
    """:class:`_AbsPower` with forward mode (see :class:`_ClampedLogForward`)."""

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        ctx.save_for_backward(inputs[0], output)
        ctx.save_for_forward(inputs[0], output)
        ctx.p = inputs[1]

    @staticmethod
    def jvp(ctx: Any, tangent: Any, _: Any) -> Any:
        d, power = ctx.saved_tensors
        zero = d == 0
        return torch.where(zero, _ZERO, power / torch.where(zero, 1.0, d)) * (ctx.p * tangent)


def _apply(compiled: Any, forward_mode: Any, *args: Any) -> Any:
    """``compiled.apply`` while Dynamo traces, else ``forward_mode.apply``: the same function
    with a ``jvp``, which Dynamo refuses."""
    function = compiled if torch.compiler.is_compiling() else forward_mode
    return function.apply(*args)


_REDUCTION_ENUM = {"none": 0, "mean": 1, "sum": 2}  # torch._Reduction's codes


class _MultiMargin(torch.autograd.Function):
    """Weston–Watkins ``Σ_{j≠y} max(0, m - s_y + s_j)^p`` over the last axis of 2-d scores, from
    torch's fused ``multi_margin_loss`` kernels (which divide by the class count K: undone here).

    The first-order backward is torch's fused kernel. Its own derivative is not implemented in
    torch, so a backward that must itself be differentiable (``create_graph=True``) is written
    with differentiable ops instead (same value, strict kink ``z > 0``).
    """

    @staticmethod
    def forward(ctx: Any, scores: Any, labels: Any, margin: float, p: int, reduction: str) -> Any:
        ctx.save_for_backward(scores, labels)
        ctx.margin, ctx.p, ctx.reduction = margin, p, reduction
        loss = F.multi_margin_loss(scores, labels, p=p, margin=margin, reduction=reduction)
        return loss.mul_(scores.shape[-1])

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        scores, labels = ctx.saved_tensors
        k = scores.shape[-1]
        if not torch.is_grad_enabled():
            slope = torch.ops.aten.multi_margin_loss_backward(
                grad * k, scores, labels, ctx.p, ctx.margin, None, _REDUCTION_ENUM[ctx.reduction]
            )
            return slope, None, None, None, None
        index = labels[:, None]
        z = ctx.margin - torch.gather(scores, 1, index) + scores
        active = (z > 0).scatter(1, index, False)
        terms = active.to(scores.dtype) if ctx.p == 1 else torch.where(active, 2.0 * z, 0.0)
        slope = terms.scatter(1, index, -terms.sum(1, keepdim=True))
        if ctx.reduction == "none":
            return slope * grad[:, None], None, None, None, None
        if ctx.reduction == "mean":
            grad = grad / scores.shape[0]
        return slope * grad, None, None, None, None


class _CTC(torch.autograd.Function):
    """``-log p(labels | log_probs)`` per sequence from torch's fused CTC kernels, on batch-major
    ``(B, T, K)`` log-probabilities: +inf where no alignment exists, with a zero gradient there.

    torch's backward kernel returns the gradient with respect to the logits under the
    ``log_softmax`` (``p - γ``), which the ``log_softmax`` backward leaves unchanged since its
    rows sum to 0. Its own derivative is not implemented in torch, so a backward that must itself
    be differentiable (``create_graph=True``) differentiates ``differentiable`` (the generic
    recursion) instead.
    """

    @staticmethod
    def forward(
        ctx: Any,
        log_probs: Any,
        labels: Any,
        logit_lengths: Any,
        label_lengths: Any,
        blank: int,
        differentiable: Any,
    ) -> Any:
        nll, log_alpha = torch._ctc_loss(
            log_probs.transpose(0, 1), labels, logit_lengths, label_lengths, blank, False
        )
        ctx.save_for_backward(log_probs, labels, logit_lengths, label_lengths, nll, log_alpha)
        ctx.blank, ctx.differentiable = blank, differentiable
        return nll

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        log_probs, labels, logit_lengths, label_lengths, nll, log_alpha = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiate the generic recursion
            (slope,) = torch.autograd.grad(
                ctx.differentiable(log_probs), log_probs, grad, create_graph=True
            )
        else:
            slope = torch.ops.aten._ctc_loss_backward.Tensor(
                grad,
                log_probs.transpose(0, 1),
                labels,
                logit_lengths,
                label_lengths,
                nll,
                log_alpha,
                ctx.blank,
                True,  # zero_infinity: a zero gradient where nll is +inf
            ).transpose(0, 1)
            # the kernel's exp(log γ - log p) is NaN where log p = -inf (a masked class); the
            # gradient there is p - γ = 0
            slope = torch.where(log_probs == -math.inf, 0.0, slope)
        return slope, None, None, None, None, None


_MAX_POOLS = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def _max_pool(x: Any, axes: tuple[int, ...], footprint: str) -> Any:
    """The 3-wide max pooling of :meth:`ArrayAPIBackend.max_pool` with torch's kernels. The
    other axes go first as the pooling's batch and channel (a permuted view: channels-last
    input is read in torch's channels-last layout, without a copy); a third or further other
    axis is merged into the batch."""
    spatial = sorted(a % x.ndim for a in axes)
    others = [a for a in range(x.ndim) if a not in spatial]
    order = others + spatial
    view = x.permute(order)
    lead = view.shape[: len(others)]
    if len(others) > 2:
        view = view.flatten(0, len(others) - 2)
    elif not others:
        view = view.unsqueeze(0)
    pool, d = _MAX_POOLS[len(spatial)], len(spatial)
    if footprint == "box":
        out = pool(view, 3, 1, 1)
    else:  # one 3-pixel line per axis
        lines = [pool(view, _along(d, k, 3, 1), 1, _along(d, k, 1, 0)) for k in range(d)]
        out = lines[0]
        for line in lines[1:]:
            out = torch.maximum(out, line)
    out = out.reshape(*lead, *out.shape[-d:]) if len(others) != 2 else out
    return out.permute(sorted(range(x.ndim), key=order.__getitem__))


def _along(d: int, k: int, on: int, off: int) -> tuple[int, ...]:
    """A kernel size or padding for ``d`` axes: ``on`` on axis ``k``, ``off`` elsewhere."""
    return tuple(on if i == k else off for i in range(d))


#: Small host arrays (a number, an SSIM window, quantile levels, class weights) already copied to
#: a device, by device, dtype, shape and content: a loss's constants cross once per device.
_DEVICE_CONSTANTS: dict[tuple[Any, ...], Any] = {}
_CONSTANT_SIZE, _CONSTANT_COUNT = 4096, 256


def _on_device(array: Any, device: Any) -> Any:
    """A host array on an accelerator without the host waiting for it: small arrays are copied
    once per device and shared (nothing writes to them), larger ones copied asynchronously (a
    copy from pageable memory is staged before the call returns)."""
    key = None
    if array.size <= _CONSTANT_SIZE:
        key = (str(device), array.dtype.str, array.shape, array.tobytes())
        hit = _DEVICE_CONSTANTS.get(key)
        if hit is not None:
            return hit
    tensor = torch.tensor(array).to(device, non_blocking=True)  # its own copy of the data
    if key is not None:
        if len(_DEVICE_CONSTANTS) >= _CONSTANT_COUNT:
            _DEVICE_CONSTANTS.clear()
        _DEVICE_CONSTANTS[key] = tensor
    return tensor


class TorchBackend(ArrayAPIBackend):
    name = "torch"
    quiet_nan = True

    def __init__(self) -> None:
        super().__init__(xp)

    def owns(self, x: Any) -> bool:
        return isinstance(x, torch.Tensor)

    def asarray(self, x: Any, like: Any, name: str = "input") -> Any:
        if x is like:
            return x
        if isinstance(x, torch.Tensor):
            device = like.device
            if x.device == device:
                return x
            if x.ndim > 0:
                raise ValueError(
                    f"{name} is on device {x.device} but y_pred is on {device}; move it to "
                    "y_pred's device (losskit does not copy tensors between devices)"
                )
            # a host scalar crosses to a device without the host waiting; the other way, the
            # copy must be complete before the host reads it
            return x.to(device, non_blocking=device.type != "cpu")
        array = _to_numpy(x, name)
        if array.dtype.kind == "V":  # ml_dtypes' bfloat16/float8: torch reads float32 instead
            array = array.astype("float32")
        if self.checks_on_device(like):
            return _on_device(array, like.device)
        if not array.flags.writeable:  # e.g. a JAX array's host view: torch wants its own copy
            array = array.copy()
        return torch.as_tensor(array, device=like.device)

    def is_tracing(self, x: Any) -> bool:
        return torch.compiler.is_compiling() or _is_functorch_wrapped(x)

    def is_floating(self, x: Any) -> bool:
        return x.is_floating_point()

    def is_integral(self, x: Any) -> bool:
        return not (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool)

    def is_bool(self, x: Any) -> bool:
        return x.dtype == torch.bool

    def compute_dtype(self, x: Any) -> Any:
        return torch.float64 if x.dtype == torch.float64 else torch.float32

    def astype(self, x: Any, dtype: Any) -> Any:
        return x if x.dtype == dtype else x.to(dtype)

    def arange(self, like: Any, start: int, stop: int | None = None, dtype: Any = None) -> Any:
        if stop is None:
            return torch.arange(start, dtype=dtype, device=like.device)
        return torch.arange(start, stop, dtype=dtype, device=like.device)

    def checks_on_device(self, x: Any) -> bool:
        # CUDA, MPS, XLA...; "meta" too (its asserts are no-ops). The CPU-only fast paths that
        # read a value back to pick a kernel (times_log, log_softmax) ask this too.
        return not x.is_cpu

    def assert_async(self, ok: Any, message: str) -> None:
        torch._assert_async(ok, message)

    def device_min_max(self, x: Any) -> tuple[Any, Any] | None:
        if self.is_tracing(x) or x.numel() == 0:
            return None
        low, high = torch.aminmax(x)  # one pass, both left on the device
        return low, high

    def _host_any(self, condition: Any) -> bool:
        return bool(torch.any(condition))

    def has_nan(self, x: Any) -> bool:
        if self.is_tracing(x):
            return False
        if x.ndim == 0:  # a loss's mean or sum: no reduction to run
            return bool(torch.isnan(x))
        return bool(torch.isnan(torch.sum(x))) and bool(torch.isnan(x).any())

    def stop_gradient(self, x: Any) -> Any:
        return x.detach()

    def logsumexp(self, x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        dims = tuple(range(x.ndim)) if axis is None else axis
        return torch.logsumexp(x, dim=dims, keepdim=keepdims)

    def softmin(self, cost: Any, h: Any, eps: float) -> Any:
        # one fused pass for h - C/ε, then, without autograd, the log-sum-exp in place on that
        # temporary: one N×M allocation instead of three (the Sinkhorn loop's whole cost);
        # small matrices take the fewest kernel launches instead
        shifted = torch.sub(h.unsqueeze(-2), cost, alpha=1.0 / eps)
        small = shifted.numel() < 1 << 16
        if small or shifted.requires_grad or self._traced(shifted):
            return -eps * torch.logsumexp(shifted, dim=-1)
        top = shifted.amax(dim=-1, keepdim=True)
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        shifted.sub_(top).exp_()
        return -eps * (shifted.sum(dim=-1).log_() + top.squeeze(-1))

    def log_softmax(self, x: Any, axis: int = -1) -> Any:
        if self._traced(x) or x.numel() == 0:  # traced: the generic exact form
            return super().log_softmax(x, axis)
        out = _torch_fused.log_softmax(x, axis)
        if self._nan_from_kernel(x, out):  # a +inf logit: inf - inf
            return super().log_softmax(x, axis)
        return out

    def softmax_crossentropy(self, y: Any, z: Any) -> Any | None:
        """``Σ y·log_softmax(z)`` over the last axis through the fused kernel, or None where it
        does not apply (traced, empty, targets that need a gradient or differ in shape or
        dtype) or made a NaN that the generic path avoids (a +inf logit; on the CPU, a -inf
        logit without target mass)."""
        if self._traced(y, z) or z.numel() == 0 or y.requires_grad or y.shape != z.shape:
            return None
        if y.dtype != z.dtype or z.dtype not in (torch.float32, torch.float64):
            return None
        rows = _torch_fused.soft_crossentropy(y, z, self.checks_on_device(z))
        return None if self._nan_from_kernel(z, rows) else rows

    def _nan_from_kernel(self, x: Any, out: Any) -> bool:
        """Whether a softmax kernel's ``out`` holds a NaN (its ``max`` subtraction makes one of
        a +inf logit, which the generic exact form takes to its limit): one reduction and a host
        read, so on the CPU and untraced only; elsewhere the kernel's NaN stays."""
        if self.checks_on_device(x) or out.numel() == 0:
            return False
        total = out if out.ndim == 0 else torch.sum(out)
        return bool(torch.isnan(total)) and not bool(torch.isnan(x).any())

    def softmax(self, x: Any, axis: int = -1) -> Any:
        return F.softmax(x, dim=axis)

    def softplus(self, x: Any) -> Any:
        # F.softplus returns x itself above `threshold` (20 by default): an error of e^-x, 2e-9
        # at x = 20, which float64 resolves. Beyond 40, e^-x is below float64's resolution of x.
        return F.softplus(x, threshold=40.0 if x.dtype == torch.float64 else 20.0)

    def log_sigmoid(self, x: Any) -> Any:
        return F.logsigmoid(x)

    def sigmoid(self, x: Any) -> Any:
        return torch.sigmoid(x)

    def xlogy(self, x: Any, y: Any) -> Any:
        # torch.xlogy's derivative in y is 0/0 = NaN at x = y = 0: only without gradients
        if x.requires_grad or y.requires_grad or self._traced(x, y):
            return super().xlogy(x, y)
        return torch.xlogy(x, y)

    def times_log(self, y: Any, log_p: Any) -> Any:
        # Where log p is finite, 0 · log p is already 0: no guard. Checking costs one reduction
        # (a sum is finite only if every term is), and a host read that would synchronise a
        # device: on the CPU only.
        plain = not self.checks_on_device(log_p) and log_p.numel() > 0 and not y.requires_grad
        if plain and not self._traced(y, log_p) and bool(torch.isfinite(torch.sum(log_p))):
            return y * log_p
        return y * torch.where(y == 0, 0.0, log_p)

    def sum_times_log(self, y: Any, log_p: Any, axis: int = -1) -> Any:
        # Unguarded first: finite sums mean every product was finite, so no 0 · (-inf) needed
        # the guard, and the check reads N sums instead of N×C logs (on the CPU, as above).
        if not self.checks_on_device(log_p) and not y.requires_grad and not self._traced(y, log_p):
            rows = torch.sum(y * log_p, dim=axis)
            if bool(torch.isfinite(rows).all()):
                return rows
        return torch.sum(y * torch.where(y == 0, 0.0, log_p), dim=axis)

    def one_hot(self, labels: Any, num_classes: int, dtype: Any = None) -> Any:
        if self.checks_on_device(labels):  # F.one_hot reads the labels' range back on a CPU
            classes = torch.arange(num_classes, device=labels.device)
            hot = labels.long().unsqueeze(-1) == classes
        else:
            hot = F.one_hot(labels.long(), num_classes)
        return hot.to(dtype if dtype is not None else torch.float32)

    def take_along_axis(self, x: Any, indices: Any, axis: int = -1) -> Any:
        return torch.gather(x, axis, indices.long())

    def clamped_log(self, p: Any) -> Any:
        return _apply(_ClampedLog, _ClampedLogForward, p)

    def binary_crossentropy_logits(
        self, y: Any, z: Any, pos_weight: Any = None, reduction: str = "none"
    ) -> Any:
        # traced (torch.compile fuses the generic formula itself; functorch needs it) or weighted
        generic = pos_weight is not None or y.requires_grad or self.is_tracing(z)
        if generic or z.numel() == 0:
            return super().binary_crossentropy_logits(y, z, pos_weight, reduction)
        return _torch_fused.binary_crossentropy_logits(y, z, reduction, self.checks_on_device(z))

    def squared_error(self, y: Any, p: Any, reduction: str = "none") -> Any:
        if y.shape != p.shape or p.numel() == 0 or self._transformed(y, p):
            return super().squared_error(y, p, reduction)
        return F.mse_loss(p, y, reduction=reduction)  # fused forward and backward kernels

    def absolute_error(self, y: Any, p: Any, reduction: str = "none") -> Any:
        if y.shape != p.shape or p.numel() == 0 or self._transformed(y, p):
            return super().absolute_error(y, p, reduction)
        # abs' derivative is sgn(d), 0 at 0 as the generic sign(d)·d; one fused pass fewer
        return F.l1_loss(p, y, reduction=reduction)

    def relu(self, x: Any) -> Any:
        return torch.relu(x)  # one kernel each way (threshold_backward: 0 at the kink)

    def huber_error(self, y: Any, p: Any, delta: float, reduction: str = "none") -> Any:
        if y.shape != p.shape or p.numel() == 0 or self._transformed(y, p):
            return super().huber_error(y, p, delta, reduction)
        return F.huber_loss(p, y, reduction=reduction, delta=delta)  # fused kernels

    def smooth_l1_error(self, y: Any, p: Any, beta: float, reduction: str = "none") -> Any:
        if y.shape != p.shape or p.numel() == 0 or self._transformed(y, p):
            return super().smooth_l1_error(y, p, beta, reduction)
        return F.smooth_l1_loss(p, y, reduction=reduction, beta=beta)  # fused kernels

    def min_max(self, x: Any) -> tuple[float, float] | None:
        if self.is_tracing(x) or x.numel() == 0:  # numel: cheaper than the generic shape scan
            return None
        return self._host_min_max(x)

    def _host_min_max(self, x: Any) -> tuple[float, float]:
        low, high = torch.aminmax(x)
        return tuple(torch.stack([low, high]).tolist())  # one host transfer

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        if source % x.ndim == destination % x.ndim:
            return x
        return torch.movedim(x, source, destination)

    def sparse_crossentropy_logits(
        self, labels: Any, logits: Any, label_smoothing: float, reduction: str = "none"
    ) -> Any:
        if logits.numel() == 0 or self._traced(logits, labels):
            return super().sparse_crossentropy_logits(labels, logits, label_smoothing, reduction)
        on_device = self.checks_on_device(logits)
        loss = _torch_fused.sparse_crossentropy(
            logits, labels, label_smoothing, reduction, on_device
        )
        if self._nan_from_kernel(logits, loss):  # a +inf logit: inf - inf
            return super().sparse_crossentropy_logits(labels, logits, label_smoothing, reduction)
        return loss

    def erf(self, x: Any) -> Any:
        return torch.special.erf(x)

    def max_pool(self, x: Any, axes: tuple[int, ...], footprint: str = "box") -> Any:
        """torch's ``max_pool1d/2d/3d`` (one pass for a box, one per axis for a cross) on a
        view with the spatial axes last; the generic slices where these do not apply (no or
        more than 3 spatial axes, an empty array)."""
        if not 0 < len(axes) <= 3 or x.numel() == 0:
            return super().max_pool(x, axes, footprint)
        return _max_pool(x, axes, footprint)

    def min_pool(self, x: Any, axes: tuple[int, ...], footprint: str = "box") -> Any:
        if not 0 < len(axes) <= 3 or x.numel() == 0:
            return super().min_pool(x, axes, footprint)
        return -_max_pool(-x, axes, footprint)

    def euclidean_norm(self, x: Any) -> Any:
        """``‖x‖₂`` over the last axis in one kernel (its gradient is 0 at a zero vector)."""
        return torch.linalg.vector_norm(x, dim=-1)

    def pairwise_distances(self, x: Any) -> Any:
        """``‖x_i - x_j‖₂`` of the rows (axis -2) of ``x``, shape ``(..., M, M)``: ``cdist``
        on the differences (not the Gram form, so exact where rows coincide), one kernel each
        way without the ``(..., M, M, V)`` differences; gradient 0 where two rows coincide.
        None where traced (the generic broadcast form)."""
        if self._traced(x):
            return None
        return _apply(_PairwiseDistances, _PairwiseDistancesForward, x)

    def abs_power(self, d: Any, p: float) -> Any:
        """``|d|^p`` (``p > 0``) with derivative 0 at ``d = 0``, in one kernel each way."""
        if self._traced(d):
            return super().abs_power(d, p)
        return _apply(_AbsPower, _AbsPowerForward, d, p)

    # fused paths (see _torch_fused): None where one does not apply, and the caller then takes
    # the generic formulas, which are also what gets traced (torch.compile, functorch)
    def _transformed(self, *xs: Any) -> bool:
        """Under a ``torch.func`` transform: torch's fused elementwise losses (``mse_loss``,
        ``huber_loss``...) have no forward-mode derivative of their backward kernels
        (``jvp`` of ``grad``, ``hessian``), where the generic formulas do."""
        return not torch.compiler.is_compiling() and any(_is_functorch_wrapped(x) for x in xs)

    def rows_with_gradient(self, rows: Any, x: Any, *constants: Any) -> Any:
        """Eager: the closed-form gradient of ``rows`` (:func:`_torch_fused.rows_with_gradient`,
        block by block of rows on the CPU) instead of autograd's chain of intermediates."""
        other_shape = any(c.shape != x.shape for c in constants)
        if x.numel() == 0 or other_shape or self._traced(x, *constants):
            return super().rows_with_gradient(rows, x, *constants)
        return _torch_fused.rows_with_gradient(rows, x, constants, self.checks_on_device(x))

    def _infinite_maximum(self, x: Any, m: Any) -> Any:
        # A +inf entry is its row's maximum, so the entry alone decides: a condition that also
        # reads the broadcast row maximum made inductor's compiled step about 3.5x slower.
        return x == math.inf

    def _traced(self, *xs: Any) -> bool:
        return torch.compiler.is_compiling() or any(
            isinstance(x, torch.Tensor) and _is_functorch_wrapped(x) for x in xs
        )

    def overlap_statistics(
        self,
        x: Any,
        labels: Any,
        target: Any,
        valid: Any,
        activation: str | None,
        caxis: int | None,
        num_classes: int,
        axes: tuple[int, ...],
    ) -> tuple[Any, Any, Any] | None:
        if self._traced(x, labels, target, valid):
            return None
        return _torch_fused.overlap_statistics(
            x, labels, target, valid, activation, caxis, num_classes, axes
        )

    def class_indicator(self, labels: Any, caxis: int, num_classes: int, dtype: Any) -> Any:
        if self._traced(labels):
            return None
        return _torch_fused.class_indicator(labels, caxis, num_classes, dtype)

    def lovasz_rows(
        self, errors: Any, fg: Any, valid: Any, prediction: Any = None
    ) -> tuple[Any, Any] | None:
        if self._traced(errors, fg, valid, prediction):
            return None
        return _torch_fused.lovasz_rows(errors, fg, valid, prediction)

    def multiclass_hinge(
        self, scores: Any, labels: Any, margin: float, p: int, reduction: str
    ) -> Any | None:
        """Weston–Watkins over the last axis from torch's fused kernels; None where it does not
        apply (traced, empty)."""
        if self._traced(scores, labels) or scores.numel() == 0:
            return None
        flat = scores.reshape(-1, scores.shape[-1]) if scores.ndim != 2 else scores
        loss = _MultiMargin.apply(flat, labels.reshape(-1).long(), margin, p, reduction)
        return loss if reduction != "none" else loss.reshape(labels.shape)

    def ctc_nll(
        self,
        labels: Any,
        log_probs: Any,
        blank: int,
        logit_lengths: Any,
        label_lengths: Any,
        differentiable: Any,
    ) -> Any | None:
        """CTC negative log-likelihoods from torch's fused kernels (``labels`` valid indices,
        blank past their lengths; lengths within bounds); None where they do not apply (traced,
        empty). ``differentiable(log_probs)`` is the generic recursion, for double backward."""
        if self._traced(labels, log_probs, logit_lengths, label_lengths):
            return None
        if log_probs.numel() == 0 or labels.shape[1] == 0:
            return None
        if log_probs.is_cuda and torch.are_deterministic_algorithms_enabled():
            return None  # torch's CUDA backward kernel is not deterministic
        return _CTC.apply(log_probs, labels, logit_lengths, label_lengths, blank, differentiable)

    def binary_focal_logits(
        self, y: Any, z: Any, gamma: float, alpha: Any, reduction: str
    ) -> Any | None:
        if self._traced(y, z, alpha):
            return None
        return _torch_fused.binary_focal_logits(y, z, gamma, alpha, reduction)
