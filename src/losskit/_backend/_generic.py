"""The array-API backend: every primitive written once against a standard namespace ``xp``.

Framework backends subclass :class:`ArrayAPIBackend` and override only the primitives for which
their library has a faster or more exact kernel. Everything here must stay inside the array API
standard so that it runs on ``array_api_strict`` (the purity check) and on any compliant library.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Lower clamp of every log term on the probability path (torch's convention).
LOG_FLOOR = -100.0
#: Probabilities are raised to this before the log only to avoid log(0): its log (-103.6) is below
#: ``LOG_FLOOR``, and in float32 it rounds to the smallest subnormal (log -103.3), so the clamp
#: at ``LOG_FLOOR`` alone decides the value, with or without flush-to-zero.
PROB_FLOOR = 1e-45
#: The slope of a clamped log is ``1 / max(p, SLOPE_FLOOR)``: at most 1e12 (torch's bound).
SLOPE_FLOOR = 1e-12


class ArrayAPIBackend:
    """Array-API implementation of the seam; one instance per array namespace."""

    name = "array_api"
    #: Whether arithmetic on NaN stays silent (no warning), so that a value check may let a
    #: loss compute first and prove its inputs clean from the output (NumPy warns instead).
    quiet_nan = False

    def __init__(self, xp: Any, name: str | None = None) -> None:
        self.xp = xp
        #: dtype of class indices handed to the gather primitives
        self.index_dtype = xp.int64
        self._eps: dict[Any, float] = {}
        if name is not None:
            self.name = name

    # ------------------------------------------------------------------ arrays and dtypes
    def owns(self, x: Any) -> bool:
        """Whether ``x`` is already an array of this library."""
        try:
            return self.xp is x.__array_namespace__()
        except AttributeError:
            return False

    def asarray(self, x: Any, like: Any, name: str = "input") -> Any:
        """Convert ``x`` (any array, list or scalar) to this library, on ``like``'s device."""
        if self.owns(x):
            return x
        device = getattr(like, "device", None) if self.owns(like) else None
        return self.xp.asarray(_to_numpy(x, name), device=device)

    def is_tracing(self, x: Any) -> bool:
        """Whether ``x`` is a symbolic value being traced (value checks must be skipped)."""
        return False

    def is_floating(self, x: Any) -> bool:
        return bool(self.xp.isdtype(x.dtype, "real floating"))

    def is_integral(self, x: Any) -> bool:
        return bool(self.xp.isdtype(x.dtype, "integral"))

    def is_bool(self, x: Any) -> bool:
        return bool(self.xp.isdtype(x.dtype, "bool"))

    def compute_dtype(self, x: Any) -> Any:
        """float64 stays float64; float16, bfloat16 and float32 compute in float32."""
        if self.xp.finfo(x.dtype).bits >= 64:
            return self.xp.float64
        return self.xp.float32

    def eps(self, dtype: Any) -> float:
        """Machine epsilon of a float dtype of this library (cached)."""
        value = self._eps.get(dtype)
        if value is None:
            value = self._eps[dtype] = float(self.xp.finfo(dtype).eps)
        return value

    def astype(self, x: Any, dtype: Any) -> Any:
        if x.dtype == dtype:
            return x
        return self.xp.astype(x, dtype)

    def shape(self, x: Any) -> tuple[int, ...]:
        return tuple(x.shape)

    def broadcast_like(self, x: Any, target: Any) -> Any:
        """``x`` broadcast to ``target``'s shape (dynamic where it is known only at run time)."""
        return self.xp.broadcast_to(x, target.shape)

    def reshape_like(self, x: Any, target: Any) -> Any:
        """``x`` reshaped to ``target``'s shape (dynamic where it is known only at run time)."""
        return self.xp.reshape(x, target.shape)

    def arange(self, like: Any, start: int, stop: int | None = None, dtype: Any = None) -> Any:
        """``xp.arange`` on ``like``'s device (an index built next to the data it indexes)."""
        return self.xp.arange(start, stop, dtype=dtype)

    # Value checks on an accelerator: queued on the device, never read back.
    def checks_on_device(self, x: Any) -> bool:
        """Whether the value checks of ``x`` must not read it back to the host (an array on an
        accelerator, where a read would stall the device's queue): they are queued there as
        asynchronous asserts (:meth:`assert_async`) instead. False for host-memory arrays."""
        return False

    def assert_async(self, ok: Any, message: str) -> None:
        """Queue a device-side check that the 0-d boolean ``ok`` holds; the device raises
        ``message`` when it does not, later, without the host waiting for it."""
        raise NotImplementedError(f"{self.name} has no device-side asserts")

    def device_min_max(self, x: Any) -> tuple[Any, Any] | None:
        """``(min, max)`` of ``x`` as 0-d arrays left where ``x`` is (nothing read back); None
        when ``x`` is empty or traced."""
        if self.is_tracing(x) or 0 in self.shape(x):
            return None
        return self.xp.min(x), self.xp.max(x)

    # Host reads, used only by the eager value checks. A traced value (an argument being
    # differentiated or compiled while y_pred is concrete) cannot be read: it passes unchecked.
    def any(self, condition: Any) -> bool:
        """Host-side truth of ``any(condition)``; False for a traced value."""
        return not self.is_tracing(condition) and self._host_any(condition)

    def has_nan(self, x: Any) -> bool:
        """Whether ``x`` holds a NaN: one reduction; the exact scan only if the sum is NaN."""
        if self.is_tracing(x):
            return False
        xp = self.xp
        total = xp.sum(x)
        if self.is_tracing(total):  # a concrete input captured by a function being traced
            return False
        return bool(xp.isnan(total)) and self._host_any(xp.isnan(x))

    def min_max(self, x: Any) -> tuple[float, float] | None:
        """``(min, max)`` of ``x`` on the host (NaN if it holds one); None when ``x`` is empty
        or traced."""
        if self.is_tracing(x) or 0 in self.shape(x):
            return None
        return self._host_min_max(x)

    def _host_any(self, condition: Any) -> bool:
        return bool(self.xp.any(condition))

    def _host_min_max(self, x: Any) -> tuple[float, float] | None:
        low, high = self.xp.min(x), self.xp.max(x)
        if self.is_tracing(low):  # a concrete input captured by a function being traced
            return None
        return self.to_float(low), self.to_float(high)

    def to_float(self, x: Any) -> float:
        return float(x)

    def reduce_all(self, loss: Any, reduction: str) -> Any:
        """The unweighted reductions of the contract over a statically shaped ``loss``.

        ``"none"``: ``loss``; ``"sum"``: ``Σℓ``; ``"mean"``: ``Σℓ / size``, exactly 0 (with a zero
        gradient) when ``loss`` is empty. Primitives that take ``reduction=`` end with this, and
        framework kernels that reduce while they compute override them with the same meaning.
        """
        if reduction == "none":
            return loss
        total = self.xp.sum(loss)
        size = math.prod(self.shape(loss))
        if reduction == "sum" or size == 0:
            return total
        return total / size

    # ------------------------------------------------------------------ autodiff helpers
    def stop_gradient(self, x: Any) -> Any:
        return x

    def rows_with_gradient(self, rows: Any, x: Any, *constants: Any) -> Any:
        """Per-row values over the last axis of ``x``: ``rows(x, *constants, False)[0]``,
        differentiated by the framework's autodiff. ``rows(x, *constants, True)`` returns the
        values and their gradient ``∂value_i/∂x_i`` (``x``'s shape) in closed form, written in
        differentiable operations; a backend may use it instead of autodiff (torch's eager
        path does, block by block of rows). ``constants`` have ``x``'s shape and get no
        gradient."""
        return rows(x, *constants, False)[0]

    # ------------------------------------------------------------------ primitives
    def logsumexp(self, x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        xp = self.xp
        m = xp.max(x, axis=axis, keepdims=True)
        m = self.stop_gradient(xp.where(xp.isfinite(m), m, 0.0))
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
        if not keepdims:
            out = _squeeze(xp, out, axis, x.ndim)
        return out

    def softmin(self, cost: Any, h: Any, eps: float) -> Any:
        """The soft minimum ``-ε log Σ_j exp(h_j - C_ij / ε)`` over the last axis of ``cost``
        ``(..., N, M)``, with ``h`` ``(..., M)``: ``(..., N)`` (the Sinkhorn update)."""
        shifted = self.xp.expand_dims(h, axis=-2) - cost / eps
        return -eps * self.logsumexp(shifted, axis=-1)

    def log_softmax_parts(self, x: Any, axis: int = -1) -> tuple[Any, Any]:
        """``(d, r)`` with ``log_softmax(x) = d - r`` along ``axis``, both exact: ``d = x - max``
        (0 at every maximum, an infinite one included) and ``r = log1p(s) ≥ 0`` with
        ``s = Σ (exp(d) - [d is a maximum]) + (number of maxima - 1)``: each maximum's term is
        exactly 0 but keeps the derivative of ``exp``, so autodiff gives ``∂r/∂x = softmax(x)``.

        ``d ≤ 0`` and ``-r ≤ 0`` add without cancellation, and ``log1p(s)`` keeps the relative
        accuracy of a small loss that ``log(Σ exp(d))`` (a sum rounded near 1) loses.
        """
        xp = self.xp
        m = self.stop_gradient(xp.max(x, axis=axis, keepdims=True))
        top = x == m
        d = x - m
        d = xp.where(self._infinite_maximum(x, m), 0.0, d)  # inf - inf -> 0
        hot = xp.astype(top, x.dtype)
        ties = xp.sum(hot, axis=axis, keepdims=True) - 1.0
        return d, xp.log1p(xp.sum(xp.exp(d) - hot, axis=axis, keepdims=True) + ties)

    def sparse_log_softmax_parts(self, x: Any, labels: Any) -> tuple[Any, Any, Any]:
        """``(d, r, d_y)``: ``(d, r)`` of :meth:`log_softmax_parts` along the last axis, ``r``
        taken from the labels' side, and ``d_y`` the label's entry of ``d`` (keepdims).
        ``r = log1p(Σ_{k≠y} exp(d_k) + expm1(d_y))`` leaves the label's own term out of the sum
        instead of every maximum. Where ``y`` holds the maximum that is ``log1p`` of the other
        terms alone (exact for a confident row, ties included: a tied maximum adds its 1);
        elsewhere the sum is at least 1 and nothing cancels. One comparison with the class
        index inside the sum replaces the maxima's mask, their count and its second reduction.
        ``labels`` are valid indices."""
        xp = self.xp
        index = xp.expand_dims(labels, axis=-1)
        num_classes = self.shape(x)[-1]
        if num_classes is None:  # a class count known only at run time: count the maxima
            d, r = self.log_softmax_parts(x, axis=-1)
            return d, r, self.take_along_axis(d, index, axis=-1)
        m = self.stop_gradient(xp.max(x, axis=-1, keepdims=True))
        d = x - m
        d = xp.where(self._infinite_maximum(x, m), 0.0, d)  # inf - inf -> 0
        is_label = index == self.arange(x, num_classes, dtype=labels.dtype)
        rest = xp.sum(xp.where(is_label, 0.0, xp.exp(d)), axis=-1, keepdims=True)
        d_y = self.take_along_axis(d, index, axis=-1)
        return d, xp.log1p(rest + xp.expm1(d_y)), d_y

    def _infinite_maximum(self, x: Any, m: Any) -> Any:
        """Where ``x - m`` is ``inf - inf`` for ``m = max(x)`` over a row: the +inf maxima.
        Tested on the entry and its row maximum, the form XLA compiles into its row reduction
        best (testing ``x == inf`` alone made the JAX step about 1.4x slower)."""
        return (x == m) & self.xp.isinf(m)

    def masked_log_softmax(self, x: Any, keep: Any, axis: int = -1) -> Any:
        """``log_softmax`` over the entries ``keep`` selects (-inf at the others, which get zero
        gradient), as ``d - r`` of :meth:`log_softmax_parts`: relatively exact for a small loss
        at the largest kept entry. A row that keeps nothing gives finite values (to be masked)."""
        xp = self.xp
        if self.shape(x)[axis] == 0:  # an empty axis (an empty batch): nothing to normalise
            return x
        d, r = self.log_softmax_parts(xp.where(keep, x, xp.full_like(x, -math.inf)), axis)
        return d - r

    def log_softmax(self, x: Any, axis: int = -1) -> Any:
        """``x - logsumexp(x)`` as ``d - log1p(s)`` (:meth:`log_softmax_parts`): relatively exact
        for the top class too."""
        d, r = self.log_softmax_parts(x, axis)
        return d - r

    def softmax(self, x: Any, axis: int = -1) -> Any:
        return self.xp.exp(self.log_softmax(x, axis=axis))

    def softplus(self, x: Any) -> Any:
        # logaddexp(x, 0): exact in the tails, derivative sigmoid(x) everywhere (0 included).
        return self.xp.logaddexp(x, self.xp.zeros_like(x))

    def log_sigmoid(self, x: Any) -> Any:
        return -self.softplus(-x)

    def sigmoid(self, x: Any) -> Any:
        return self.xp.exp(self.log_sigmoid(x))

    def xlogy(self, x: Any, y: Any) -> Any:
        """``x * log(y)`` with ``0 * log(0) = 0`` and a zero (not NaN) gradient there."""
        xp = self.xp
        zero = x == 0
        safe_y = xp.where(zero, 1.0, y)
        return xp.where(zero, xp.zeros_like(x), x * xp.log(safe_y))

    def times_log(self, y: Any, log_p: Any) -> Any:
        """``y · log p`` with ``0 · log 0 = 0`` (a -inf log of a class with no target mass), and
        a zero, not NaN, gradient there; backends skip the guard where they can."""
        xp = self.xp
        return y * xp.where(y == 0, 0.0, log_p)

    def sum_times_log(self, y: Any, log_p: Any, axis: int = -1) -> Any:
        """``Σ y · log p`` over ``axis``, with :meth:`times_log`'s convention."""
        return self.xp.sum(self.times_log(y, log_p), axis=axis)

    def one_hot(self, labels: Any, num_classes: int, dtype: Any = None) -> Any:
        xp = self.xp
        classes = xp.arange(num_classes, dtype=labels.dtype)
        hot = xp.expand_dims(labels, axis=-1) == classes
        return xp.astype(hot, dtype if dtype is not None else xp.float32)

    def take_along_axis(self, x: Any, indices: Any, axis: int = -1) -> Any:
        return self.xp.take_along_axis(x, indices, axis=axis)

    def scan(self, step: Any, carry: Any, xs: tuple[Any, ...]) -> Any:
        """``carry = step(carry, x_t)`` for each slice ``x_t`` of ``xs`` along their leading
        axis; returns the final carry. A Python loop here (unrolled when traced); JAX overrides
        it with ``lax.scan`` (one compiled step, a loop at run time)."""
        for t in range(self.shape(xs[0])[0]):
            carry = step(carry, tuple(x[t, ...] for x in xs))
        return carry

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        if source % x.ndim == destination % x.ndim:
            return x
        return self.xp.moveaxis(x, source, destination)

    def max_pool(self, x: Any, axes: tuple[int, ...], footprint: str = "box") -> Any:
        """The maximum over each pixel's 3-wide neighbourhood on the spatial ``axes`` (stride 1,
        same shape): ``"box"`` the 3 × 3 (× 3) block, ``"cross"`` the 3-pixel segments along
        each axis through the pixel. At the edges over the pixels that exist (pooling whose
        padding is ignored). Shifted slices and elementwise maxima."""
        return _pool(self.xp, x, axes, footprint, self.xp.maximum)

    def min_pool(self, x: Any, axes: tuple[int, ...], footprint: str = "box") -> Any:
        """The minimum over the neighbourhood of :meth:`max_pool`."""
        return _pool(self.xp, x, axes, footprint, self.xp.minimum)

    def clamped_log(self, p: Any) -> Any:
        """``max(log p, -100)``; autodiff backends give it the slope ``1 / max(p, 1e-12)``."""
        xp = self.xp
        return xp.maximum(xp.log(xp.maximum(p, PROB_FLOOR)), LOG_FLOOR)

    def clamped_log1m(self, p: Any) -> Any:
        """``max(log(1 - p), -100)`` with slope ``-1 / max(1 - p, 1e-12)``: ``log1p(-p)`` below
        ½ (``1 - p`` would round away a small ``p``), :meth:`clamped_log` of ``1 - p`` from ½ on,
        where ``1 - p`` is exact. Each branch sees only its own inputs (``where``-safe gradients).
        """
        xp = self.xp
        low = p < 0.5
        near = xp.log1p(-xp.where(low, p, 0.0))
        far = self.clamped_log(1.0 - xp.where(low, 0.5, p))
        return xp.where(low, near, far)

    def binary_crossentropy_probs(self, y: Any, p: Any, pos_weight: Any = None) -> Any:
        """Elementwise ``-(w₊ y log p + (1 - y) log(1 - p))`` with clamped logs (the second as
        :meth:`clamped_log1m`, exact for small ``p``)."""
        positive = y * self.clamped_log(p)
        if pos_weight is not None:
            positive = positive * pos_weight
        return -(positive + (1.0 - y) * self.clamped_log1m(p))

    def binary_crossentropy_logits(
        self, y: Any, z: Any, pos_weight: Any = None, reduction: str = "none"
    ) -> Any:
        """Elementwise ``w₊·y·softplus(-z) + (1 - y)·softplus(z)`` (``w₊ = 1`` without pos_weight).

        Written as a sum of non-negative terms, so there is no cancellation: exact relative
        accuracy for any label in [0, 1] and any logit. Without ``pos_weight`` it is
        ``(H(z) - y)·z + softplus(-|z|)`` with ``H`` the step function (½ at 0): one
        transcendental, and autodiff gives the gradient ``σ(z) - y`` exactly, at z = 0 too.
        """
        xp = self.xp
        if pos_weight is None:
            # |z| as sign(z)·z: sign has derivative 0 everywhere, whereas frameworks disagree on
            # the derivative of abs at 0 (JAX: 1), which would break the gradient there.
            sign = xp.sign(z)
            step = 0.5 * sign + 0.5 - y
            # 0·(±inf) = 0: a logit saturated on the label's side costs nothing
            loss = step * xp.where(step == 0, 0.0, z) + self.softplus(-sign * z)
        else:  # each softplus sees a 0 logit where its factor is 0 (0·softplus(±inf) = 0)
            zero = xp.zeros_like(z)
            positive = pos_weight * y * self.softplus(-xp.where(y == 0, zero, z))
            loss = positive + (1.0 - y) * self.softplus(xp.where(y == 1, zero, z))
        return self.reduce_all(loss, reduction)

    def sparse_crossentropy_logits(
        self, labels: Any, logits: Any, label_smoothing: float, reduction: str = "none"
    ) -> Any:
        """``logsumexp(z) - (1-ε) z_y - ε mean(z)`` over the last axis; labels are valid indices.

        Computed as ``r - (1-ε) d_y - ε mean(d)`` from :meth:`sparse_log_softmax_parts`: three
        non-negative terms, so a small loss keeps its relative accuracy.
        """
        xp = self.xp
        d, r, d_y = self.sparse_log_softmax_parts(logits, labels)
        picked = d_y[..., 0]
        if label_smoothing == 0.0:
            loss = r[..., 0] - picked
        else:
            smooth = label_smoothing * xp.mean(d, axis=-1)
            loss = r[..., 0] - (1.0 - label_smoothing) * picked - smooth
        return self.reduce_all(loss, reduction)

    def squared_error(self, y: Any, p: Any, reduction: str = "none") -> Any:
        diff = p - y
        return self.reduce_all(diff * diff, reduction)

    def absolute_error(self, y: Any, p: Any, reduction: str = "none") -> Any:
        """``|p - y|`` as ``sign(d)·d``: derivative ``sign(d)``, 0 at 0 on every framework (JAX
        differentiates ``abs`` at 0 as 1, torch as 0)."""
        d = p - y
        return self.reduce_all(self.xp.sign(d) * d, reduction)

    def abs_power(self, d: Any, p: float) -> Any:
        """``|d|^p`` (``p > 0``) with derivative 0 (not NaN or inf) at ``d = 0``."""
        xp = self.xp
        size = xp.abs(d)
        positive = size > 0
        safe = xp.where(positive, size, 1.0)
        return xp.where(positive, safe**p, 0.0)

    def relu(self, x: Any) -> Any:
        """``max(x, 0)`` with derivative 0 at the kink (NaN stays NaN where a kernel exists)."""
        xp = self.xp
        return xp.where(x > 0, x, 0.0)

    def huber_error(self, y: Any, p: Any, delta: float, reduction: str = "none") -> Any:
        """Huber of ``d = p - y``: ``s·(|d| - ½s)`` with ``s = min(|d|, δ)``, i.e. ``½d²`` (to the
        bit: ``|d| - ½|d|`` is exact) inside ``δ`` and ``δ(|d| - ½δ)`` beyond, one rounding
        each. Its derivative is ``s'·(|d| - s) + s·|d|'``: ``d`` inside, ``δ·sign(d)`` beyond,
        and 0 at ``d = 0`` whatever a framework takes for the derivative of ``abs`` there."""
        xp = self.xp
        a = xp.abs(p - y)
        small = xp.minimum(a, delta)  # quadratic part; the rest is linear
        return self.reduce_all(small * (a - 0.5 * small), reduction)

    def smooth_l1_error(self, y: Any, p: Any, beta: float, reduction: str = "none") -> Any:
        """Smooth L1 of ``d = p - y``: ``½ s²/β + (|d| - s)`` with ``s = min(|d|, β)``; ``|d|``
        for ``β = 0``."""
        xp = self.xp
        d = p - y
        a = xp.sign(d) * d
        if beta == 0.0:
            return self.reduce_all(a, reduction)
        small = xp.minimum(a, beta)
        return self.reduce_all(0.5 * small * small / beta + (a - small), reduction)

    def log_cosh(self, d: Any) -> Any:
        """``log cosh d``, elementwise, with one transcendental chain and no branch:
        ``log1p(e²/(2 + 2e)) + (|d| - c)``, ``e = expm1(c)``, ``c = min(|d|, 40)``.

        ``e²/(2 + 2e)`` is ``cosh c - 1`` without cancellation, so the value is relatively exact
        (a few ulp) near 0 as everywhere else; beyond 40 ``log cosh d = log cosh 40 + |d| - 40``
        to float64's resolution (``e^{-80} / 40 < 2^{-52}``), and ``e²`` (5e34 at 40) stays below
        float32's overflow. Its derivative is ``tanh(d)``, which autodiff backends use directly
        (autodiff of this form gives it too: at ``|d| = 40`` both sides of the min have slope 1).
        """
        xp = self.xp
        a = xp.sign(d) * d  # |d| with derivative sign(d), 0 at 0
        c = xp.minimum(a, 40.0)
        e = xp.expm1(c)
        return xp.log1p(e * e / (2.0 + 2.0 * e)) + (a - c)

    def erf(self, x: Any) -> Any:
        """The error function, elementwise (W. J. Cody's rational Chebyshev approximations,
        Math. Comp. 1969: within a few ulp of the float64 truth; framework backends use their
        native kernel). Finite gradients everywhere, ``erf(±inf) = ±1``."""
        xp = self.xp
        y = xp.sign(x) * x
        small = y <= 0.46875
        medium = (y > 0.46875) & (y <= 4.0)
        # |x| <= 0.46875: x · R(x²)
        xs = xp.where(small, x, 0.0)
        z = xs * xs
        num, den = _ERF_A[4] * z, z
        for a, b in zip(_ERF_A[:3], _ERF_B[:3], strict=True):
            num, den = (num + a) * z, (den + b) * z
        erf_small = xs * (num + _ERF_A[3]) / (den + _ERF_B[3])
        # 0.46875 < |x| <= 4: erfc(|x|) = exp(-x²) · R(|x|)
        ym = xp.where(medium, y, 1.0)
        num, den = _ERF_C[8] * ym, ym
        for c, d in zip(_ERF_C[:7], _ERF_D[:7], strict=True):
            num, den = (num + c) * ym, (den + d) * ym
        ratio_medium = (num + _ERF_C[7]) / (den + _ERF_D[7])
        # |x| > 4 (and NaN): erfc(|x|) = exp(-x²)/|x| · (1/√π - R(1/x²)); 0 in float64 past 27
        yl = xp.where(small | medium, xp.full_like(y, 5.0), xp.minimum(y, 27.0))
        z = 1.0 / (yl * yl)
        num, den = _ERF_P[5] * z, z
        for p, q in zip(_ERF_P[:4], _ERF_Q[:4], strict=True):
            num, den = (num + p) * z, (den + q) * z
        ratio_large = (_ERF_SQRT_PI_INV - z * (num + _ERF_P[4]) / (den + _ERF_Q[4])) / yl
        yb = xp.where(medium, ym, yl)
        # exp(-y²) as exp(-h²)·exp(-(y - h)(y + h)) with h = y rounded down to 1/16: exact
        head = xp.floor(yb * 16.0) / 16.0
        gauss = xp.exp(-head * head) * xp.exp(-(yb - head) * (yb + head))
        erfc = gauss * xp.where(medium, ratio_medium, ratio_large)
        return xp.where(small, erf_small, xp.sign(x) * (1.0 - erfc))


def _squeeze(xp: Any, x: Any, axis: int | None, ndim: int) -> Any:
    if axis is None:
        return xp.reshape(x, ())
    return xp.squeeze(x, axis=axis % ndim)


def _pool(xp: Any, x: Any, axes: tuple[int, ...], footprint: str, pick: Any) -> Any:
    """``pick`` over the 3-wide ``footprint`` on ``axes``: a box is separable (one 3-pixel
    pass per axis in turn), a cross the ``pick`` of the 3-pixel passes of each axis."""
    if footprint == "box":
        for a in axes:
            x = _line_extreme(xp, x, a, pick)
        return x
    out = None
    for a in axes:
        line = _line_extreme(xp, x, a, pick)
        out = line if out is None else pick(out, line)
    return x if out is None else out


def _line_extreme(xp: Any, x: Any, axis: int, pick: Any) -> Any:
    """``pick`` over each pixel and its two neighbours along ``axis`` (the edge pixels over
    the two that exist): one concatenation of the two edges and the interior."""
    n = x.shape[axis]
    if n == 1:
        return x
    first = pick(_segment(x, axis, 0, 1), _segment(x, axis, 1, 2))
    last = pick(_segment(x, axis, n - 2, n - 1), _segment(x, axis, n - 1, n))
    if n == 2:
        return xp.concat([first, last], axis=axis)
    middle = pick(_segment(x, axis, 0, n - 2), _segment(x, axis, 1, n - 1))
    return xp.concat([first, pick(middle, _segment(x, axis, 2, n)), last], axis=axis)


def _segment(x: Any, axis: int, start: int, stop: int) -> Any:
    """``x[..., start:stop, ...]`` on ``axis``."""
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def _to_numpy(x: Any, name: str = "input") -> Any:
    """Bring a foreign array (or a list/scalar) to host NumPy, detached from any autodiff graph.

    What NumPy cannot make a numeric array of (None, a ragged list, strings) is refused with an
    error naming the argument."""
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy") and callable(x.numpy):  # tensorflow
        return x.numpy()
    try:
        array = np.asarray(x)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name} must be an array or a nested list of numbers with one rectangular shape; "
            f"NumPy cannot convert it ({error})"
        ) from None
    if array.dtype.kind in "OSUMm":
        raise TypeError(
            f"{name} must hold numbers; got {type(x).__name__} that converts to dtype {array.dtype}"
        )
    return array


# Cody (1969) coefficients of erf on |x| <= 0.46875 (A/B), erfc on (0.46875, 4] (C/D) and on
# (4, inf) in 1/x² (P/Q), as published in SPECFUN's CALERF (netlib, public domain).
_ERF_A = (
    3.1611237438705656,
    113.864154151050156,
    377.485237685302021,
    3209.37758913846947,
    0.185777706184603153,
)
_ERF_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_ERF_C = (
    0.564188496988670089,
    8.88314979438837594,
    66.1191906371416295,
    298.635138197400131,
    881.95222124176909,
    1712.04761263407058,
    2051.07837782607147,
    1230.33935479799725,
    2.15311535474403846e-8,
)
_ERF_D = (
    15.7449261107098347,
    117.693950891312499,
    537.181101862009858,
    1621.38957456669019,
    3290.79923573345963,
    4362.61909014324716,
    3439.36767414372164,
    1230.33935480374942,
)
_ERF_P = (
    0.305326634961232344,
    0.360344899949804439,
    0.125781726111229246,
    0.0160837851487422766,
    6.58749161529837803e-4,
    0.0163153871373020978,
)
_ERF_Q = (
    2.56852019228982242,
    1.87295284992346047,
    0.527905102951428412,
    0.0605183413124413191,
    0.00233520497626869185,
)
_ERF_SQRT_PI_INV = 0.56418958354775628695
