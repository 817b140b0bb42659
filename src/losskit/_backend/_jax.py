"""JAX backend: ``jax.numpy`` is an array-API namespace; ``jax.nn`` supplies fused primitives."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from ._generic import LOG_FLOOR, PROB_FLOOR, SLOPE_FLOOR, ArrayAPIBackend, _to_numpy


@jax.custom_jvp
def _clamped_log(p: Any) -> Any:
    return jnp.maximum(jnp.log(jnp.maximum(p, PROB_FLOOR)), LOG_FLOOR)


@_clamped_log.defjvp
def _clamped_log_jvp(primals: Any, tangents: Any) -> Any:
    (p,), (dp,) = primals, tangents
    return _clamped_log(p), dp / jnp.maximum(p, SLOPE_FLOOR)


@jax.custom_jvp
def _xlogy(x: Any, y: Any) -> Any:
    return jax.scipy.special.xlogy(x, y)


@_xlogy.defjvp
def _xlogy_jvp(primals: Any, tangents: Any) -> Any:
    (x, y), (dx, dy) = primals, tangents
    zero = x == 0  # a zero (not NaN) derivative at x = 0
    slope = dx * jnp.log(jnp.where(zero, 1.0, y)) + dy * x / jnp.where(zero, 1.0, y)
    return _xlogy(x, y), jnp.where(zero, jnp.zeros_like(slope), slope)


@jax.custom_jvp
def _times_log(y: Any, log_p: Any) -> Any:
    return y * jnp.where(y == 0, 0.0, log_p)


@_times_log.defjvp
def _times_log_jvp(primals: Any, tangents: Any) -> Any:
    # the tangent in log p is y · d(log p), which needs no guard: the backward pass then reads
    # no mask of the zero targets
    (y, log_p), (dy, dlog_p) = primals, tangents
    guarded = jnp.where(y == 0, 0.0, log_p)
    return y * guarded, dy * guarded + y * dlog_p


@jax.custom_jvp
def _euclidean_norm(x: Any) -> Any:
    return jnp.sqrt(jnp.sum(x * x, axis=-1))


@_euclidean_norm.defjvp
def _euclidean_norm_jvp(primals: Any, tangents: Any) -> Any:
    # x·dx / ‖x‖, 0 at x = 0 (where x·dx = 0): one guard on the norm, not on every component
    (x,), (dx,) = primals, tangents
    norm = _euclidean_norm(x)
    return norm, jnp.sum(x * dx, axis=-1) / jnp.where(norm > 0, norm, 1.0)


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def _abs_power(d: Any, p: float) -> Any:
    return jnp.abs(d) ** p


@_abs_power.defjvp
def _abs_power_jvp(p: float, primals: Any, tangents: Any) -> Any:
    # p·|d|^p / d = p·sign(d)·|d|^(p-1), 0 at d = 0
    (d,), (dd,) = primals, tangents
    power = _abs_power(d, p)
    zero = d == 0
    return power, p * jnp.where(zero, 0.0, power / jnp.where(zero, 1.0, d)) * dd


def _with_tanh_slope(value: Any) -> Any:
    """``value`` (``log cosh``) with the derivative ``tanh(d)`` instead of autodiff through its
    branches: the backward pass is one ``tanh``."""
    function = jax.custom_jvp(value)

    @function.defjvp
    def _jvp(primals: Any, tangents: Any) -> Any:
        (d,), (dd,) = primals, tangents
        return function(d), jnp.tanh(d) * dd

    return function


def _max_pool(x: Any, axes: tuple[int, ...], footprint: str) -> Any:
    """The 3-wide max pooling of :meth:`ArrayAPIBackend.max_pool`: ``reduce_window`` with
    ``-inf`` padding (the outside never wins)."""

    def window(on: tuple[int, ...]) -> Any:
        sizes = tuple(3 if a in on else 1 for a in range(x.ndim))
        padding = tuple((1, 1) if a in on else (0, 0) for a in range(x.ndim))
        low = jnp.array(-jnp.inf, x.dtype)
        return jax.lax.reduce_window(x, low, jax.lax.max, sizes, (1,) * x.ndim, padding)

    spatial = tuple(a % x.ndim for a in axes)
    if not spatial:
        return x
    if footprint == "box":
        return window(spatial)
    out = window(spatial[:1])
    for a in spatial[1:]:
        out = jnp.maximum(out, window((a,)))
    return out


class JaxBackend(ArrayAPIBackend):
    name = "jax"
    quiet_nan = True

    def __init__(self) -> None:
        super().__init__(jnp)
        self.index_dtype = jnp.int32  # int64 exists only with jax_enable_x64
        self._log_cosh = _with_tanh_slope(super().log_cosh)
        # the exact softmax forms are a dozen small operations: compiled once, as jax.nn's are
        self._log_softmax = jax.jit(super().log_softmax, static_argnums=1)
        self._sparse_crossentropy = jax.jit(
            super().sparse_crossentropy_logits, static_argnums=(2, 3)
        )

    def owns(self, x: Any) -> bool:
        return isinstance(x, jax.Array)

    def asarray(self, x: Any, like: Any, name: str = "input") -> Any:
        if isinstance(x, jax.Array):
            return x
        return jnp.asarray(_to_numpy(x, name))

    def is_tracing(self, x: Any) -> bool:
        return isinstance(x, jax.core.Tracer)

    def compute_dtype(self, x: Any) -> Any:
        return jnp.float64 if x.dtype == jnp.float64 else jnp.float32

    def stop_gradient(self, x: Any) -> Any:
        return jax.lax.stop_gradient(x)

    def scan(self, step: Any, carry: Any, xs: tuple[Any, ...]) -> Any:
        return jax.lax.scan(lambda c, x: (step(c, x), None), carry, xs)[0]

    def euclidean_norm(self, x: Any) -> Any:
        """``‖x‖₂`` over the last axis, its gradient ``x / ‖x‖`` guarded once (0 at 0)."""
        return _euclidean_norm(x)

    def abs_power(self, d: Any, p: float) -> Any:
        return _abs_power(d, p)

    def logsumexp(self, x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)

    def log_softmax(self, x: Any, axis: int = -1) -> Any:
        return self._log_softmax(x, axis)

    def sparse_crossentropy_logits(
        self, labels: Any, logits: Any, label_smoothing: float, reduction: str = "none"
    ) -> Any:
        return self._sparse_crossentropy(labels, logits, label_smoothing, reduction)

    def softmax(self, x: Any, axis: int = -1) -> Any:
        return jax.nn.softmax(x, axis=axis)

    def softplus(self, x: Any) -> Any:
        return jax.nn.softplus(x)

    def log_sigmoid(self, x: Any) -> Any:
        return jax.nn.log_sigmoid(x)

    def sigmoid(self, x: Any) -> Any:
        return jax.nn.sigmoid(x)

    def xlogy(self, x: Any, y: Any) -> Any:
        return _xlogy(x, y)

    def times_log(self, y: Any, log_p: Any) -> Any:
        return _times_log(y, log_p)

    def one_hot(self, labels: Any, num_classes: int, dtype: Any = None) -> Any:
        return jax.nn.one_hot(
            labels, num_classes, dtype=dtype if dtype is not None else jnp.float32
        )

    def clamped_log(self, p: Any) -> Any:
        return _clamped_log(p)

    def log_cosh(self, d: Any) -> Any:
        return self._log_cosh(d)

    def erf(self, x: Any) -> Any:
        return jax.lax.erf(x)

    def max_pool(self, x: Any, axes: tuple[int, ...], footprint: str = "box") -> Any:
        """XLA's ``reduce_window`` (one window for a box, one per axis for a cross)."""
        return _max_pool(x, axes, footprint)

    def min_pool(self, x: Any, axes: tuple[int, ...], footprint: str = "box") -> Any:
        return -_max_pool(-x, axes, footprint)
