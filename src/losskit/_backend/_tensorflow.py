"""TensorFlow backend.

array-api-compat has no TensorFlow namespace, so :class:`TFNamespace` maps the array-API names
losskit's shared code (and custom losses) use onto ``tf``. It covers the standard's elementwise,
reduction, creation, manipulation and indexing functions that losses need; nothing more.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import tensorflow as tf

from ._generic import LOG_FLOOR, PROB_FLOOR, SLOPE_FLOOR, ArrayAPIBackend, _to_numpy


def _axis(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


class TFNamespace:
    """An array-API style namespace over TensorFlow (the subset losskit uses)."""

    __name__ = "losskit.tensorflow_namespace"

    float16 = tf.float16
    bfloat16 = tf.bfloat16
    float32 = tf.float32
    float64 = tf.float64
    int8, int16, int32, int64 = tf.int8, tf.int16, tf.int32, tf.int64
    uint8 = tf.uint8
    e, pi, inf, nan = np.e, np.pi, np.inf, np.nan

    # creation
    @staticmethod
    def asarray(x: Any, dtype: Any = None, device: Any = None, copy: Any = None) -> Any:
        if isinstance(x, tf.Variable):
            x = tf.convert_to_tensor(x)
        return tf.convert_to_tensor(x) if dtype is None else tf.convert_to_tensor(x, dtype=dtype)

    @staticmethod
    def arange(
        start: Any, stop: Any = None, step: int = 1, dtype: Any = None, device: Any = None
    ) -> Any:
        if stop is None:
            start, stop = 0, start
        return tf.range(start, stop, step, dtype=dtype or tf.int64)

    @staticmethod
    def zeros(shape: Any, dtype: Any = None, device: Any = None) -> Any:
        return tf.zeros(shape, dtype=dtype or tf.float32)

    @staticmethod
    def ones(shape: Any, dtype: Any = None, device: Any = None) -> Any:
        return tf.ones(shape, dtype=dtype or tf.float32)

    @staticmethod
    def full(shape: Any, fill_value: Any, dtype: Any = None, device: Any = None) -> Any:
        return tf.fill(shape, tf.constant(fill_value, dtype=dtype))

    @staticmethod
    def zeros_like(x: Any, dtype: Any = None, device: Any = None) -> Any:
        return tf.zeros_like(x, dtype=dtype)

    @staticmethod
    def ones_like(x: Any, dtype: Any = None, device: Any = None) -> Any:
        return tf.ones_like(x, dtype=dtype)

    @staticmethod
    def full_like(x: Any, fill_value: Any, dtype: Any = None, device: Any = None) -> Any:
        return tf.fill(tf.shape(x), tf.constant(fill_value, dtype=dtype or x.dtype))

    # dtypes
    @staticmethod
    def astype(x: Any, dtype: Any, copy: bool = True) -> Any:
        return tf.cast(x, dtype)

    @staticmethod
    def finfo(dtype: Any) -> Any:
        import ml_dtypes  # TensorFlow's own dependency; NumPy's finfo does not know bfloat16

        return ml_dtypes.finfo(tf.as_dtype(dtype).as_numpy_dtype)

    @staticmethod
    def iinfo(dtype: Any) -> Any:
        return np.iinfo(tf.as_dtype(dtype).as_numpy_dtype)

    @staticmethod
    def isdtype(dtype: Any, kind: Any) -> bool:
        dtype = tf.as_dtype(dtype)
        if isinstance(kind, tuple):
            return any(TFNamespace.isdtype(dtype, k) for k in kind)
        if kind == "bool":
            return dtype == tf.bool
        if kind == "real floating":
            return dtype.is_floating
        if kind == "integral":
            return dtype.is_integer
        if kind == "signed integer":
            return dtype.is_integer and not dtype.is_unsigned
        if kind == "unsigned integer":
            return dtype.is_integer and dtype.is_unsigned
        if kind == "complex floating":
            return dtype.is_complex
        if kind == "numeric":
            return dtype.is_floating or dtype.is_integer or dtype.is_complex
        return bool(dtype == kind)

    # elementwise
    abs = staticmethod(tf.abs)
    exp = staticmethod(tf.exp)
    expm1 = staticmethod(tf.math.expm1)
    log = staticmethod(tf.math.log)
    log1p = staticmethod(tf.math.log1p)
    sqrt = staticmethod(tf.sqrt)
    square = staticmethod(tf.square)
    sign = staticmethod(tf.sign)
    tanh = staticmethod(tf.tanh)
    cosh = staticmethod(tf.cosh)
    sinh = staticmethod(tf.sinh)
    sin = staticmethod(tf.sin)
    cos = staticmethod(tf.cos)
    atan = staticmethod(tf.math.atan)
    floor = staticmethod(tf.floor)
    ceil = staticmethod(tf.math.ceil)
    round = staticmethod(tf.round)
    isnan = staticmethod(tf.math.is_nan)
    isinf = staticmethod(tf.math.is_inf)
    isfinite = staticmethod(tf.math.is_finite)
    logical_and = staticmethod(tf.logical_and)
    logical_or = staticmethod(tf.logical_or)
    logical_not = staticmethod(tf.logical_not)
    equal = staticmethod(tf.equal)
    not_equal = staticmethod(tf.not_equal)
    less = staticmethod(tf.less)
    less_equal = staticmethod(tf.less_equal)
    greater = staticmethod(tf.greater)
    greater_equal = staticmethod(tf.greater_equal)
    matmul = staticmethod(tf.linalg.matmul)

    @staticmethod
    def _pair(x1: Any, x2: Any) -> tuple[Any, Any]:
        if isinstance(x1, tf.Tensor | tf.Variable):
            return x1, tf.convert_to_tensor(x2, dtype=x1.dtype)
        return tf.convert_to_tensor(x1, dtype=x2.dtype), x2

    @staticmethod
    def maximum(x1: Any, x2: Any) -> Any:
        return tf.maximum(*TFNamespace._pair(x1, x2))

    @staticmethod
    def minimum(x1: Any, x2: Any) -> Any:
        return tf.minimum(*TFNamespace._pair(x1, x2))

    @staticmethod
    def pow(x1: Any, x2: Any) -> Any:
        return tf.pow(*TFNamespace._pair(x1, x2))

    @staticmethod
    def logaddexp(x1: Any, x2: Any) -> Any:
        x1, x2 = TFNamespace._pair(x1, x2)
        big = tf.maximum(x1, x2)
        safe = tf.where(tf.math.is_finite(big), big, tf.zeros_like(big))
        return tf.math.log(tf.exp(x1 - safe) + tf.exp(x2 - safe)) + safe

    @staticmethod
    def clip(x: Any, min: Any = None, max: Any = None) -> Any:
        if min is not None:
            x = tf.maximum(x, tf.cast(min, x.dtype))
        if max is not None:
            x = tf.minimum(x, tf.cast(max, x.dtype))
        return x

    @staticmethod
    def where(condition: Any, x1: Any, x2: Any) -> Any:
        if not isinstance(x1, tf.Tensor | tf.Variable) or not isinstance(
            x2, tf.Tensor | tf.Variable
        ):
            x1, x2 = TFNamespace._pair(x1, x2)
        return tf.where(condition, x1, x2)

    # reductions
    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Any:
        if dtype is not None:
            x = tf.cast(x, dtype)
        return tf.reduce_sum(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_prod(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_mean(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_max(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_min(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def any(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_any(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def all(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return tf.reduce_all(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def cumulative_sum(x: Any, axis: Any = None, include_initial: bool = False) -> Any:
        return tf.cumsum(x, axis=0 if axis is None else axis)

    @staticmethod
    def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        out = tf.argmax(x, axis=-1 if axis is None else axis)
        return tf.expand_dims(out, axis) if keepdims else out

    # manipulation and indexing
    reshape = staticmethod(tf.reshape)
    broadcast_to = staticmethod(tf.broadcast_to)

    @staticmethod
    def expand_dims(x: Any, axis: int = 0) -> Any:
        return tf.expand_dims(x, axis)

    @staticmethod
    def squeeze(x: Any, axis: Any) -> Any:
        return tf.squeeze(x, axis=_axis(axis))

    @staticmethod
    def moveaxis(x: Any, source: int, destination: int) -> Any:
        return tf.experimental.numpy.moveaxis(x, source, destination)

    @staticmethod
    def permute_dims(x: Any, axes: Any) -> Any:
        return tf.transpose(x, perm=list(axes))

    @staticmethod
    def concat(arrays: Any, axis: int = 0) -> Any:
        return tf.concat(list(arrays), axis=axis)

    @staticmethod
    def stack(arrays: Any, axis: int = 0) -> Any:
        return tf.stack(list(arrays), axis=axis)

    @staticmethod
    def take(x: Any, indices: Any, axis: Any = None) -> Any:
        return tf.gather(x, indices, axis=0 if axis is None else axis)

    @staticmethod
    def take_along_axis(x: Any, indices: Any, axis: int = -1) -> Any:
        axis = axis % len(x.shape)
        if axis != len(x.shape) - 1:
            raise NotImplementedError("take_along_axis on TensorFlow supports the last axis only")
        return tf.gather(x, indices, batch_dims=axis, axis=axis)

    @staticmethod
    def sort(x: Any, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
        return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")

    @staticmethod
    def argsort(x: Any, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
        direction = "DESCENDING" if descending else "ASCENDING"
        return tf.argsort(x, axis=axis, direction=direction, stable=stable)


TFNamespace.bool = tf.bool  # type: ignore[attr-defined]  # set here: it would shadow the builtin
_TF_NAMESPACE = TFNamespace()


@tf.custom_gradient
def _clamped_log(p: Any) -> Any:
    value = tf.maximum(tf.math.log(tf.maximum(p, PROB_FLOOR)), LOG_FLOOR)
    # the gradient reads a forward tensor, not the input p itself: inside a tf.cond branch
    # differentiated on a tape, cond_v2 rejects the input as a capture of the gradient
    saved = tf.identity(p)

    def grad(upstream: Any) -> Any:
        return upstream / tf.maximum(saved, SLOPE_FLOOR)

    return value, grad


def _shifted_exp(z: Any) -> tuple[Any, Any, Any]:
    """``(z == inf, d, exp(d))`` over the last axis, ``d = z - max`` with 0 at a +inf maximum
    (where ``z - max`` is inf - inf): the start of both cross-entropy kernels."""
    m = tf.stop_gradient(tf.reduce_max(z, axis=-1, keepdims=True))
    infinite = tf.equal(z, math.inf)
    d = tf.where(infinite, tf.constant(0.0, z.dtype), z - m)
    return infinite, d, tf.exp(d)


def _sparse_crossentropy(labels: Any, z: Any, smoothing: float) -> Any:
    """``r - (1-ε)·d_y - ε·mean(d)`` over the last axis (valid ``labels``), ``d = z - max`` (0
    at a +inf maximum) and ``r = log1p(Σ_{k≠y} exp(d_k) + expm1(d_y))``: the generic backend's
    label-side form. The gradient is written out, ``g·(softmax - (1-ε)·onehot - ε/K)`` (0 at a
    +inf logit, as autodiff of the guarded form gives), the softmax ``exp(d)·exp(-r)`` from the
    forward's ``exp(d)``."""
    classes = z.shape[-1]
    zero = tf.constant(0.0, z.dtype)
    index = tf.expand_dims(labels, -1)
    hot = tf.equal(index, tf.range(classes, dtype=labels.dtype))

    @tf.custom_gradient
    def rows(z: Any) -> Any:
        infinite, d, e = _shifted_exp(z)
        d_y = tf.gather(d, index, batch_dims=len(z.shape) - 1)
        rest = tf.reduce_sum(tf.where(hot, zero, e), axis=-1, keepdims=True)
        r = tf.math.log1p(rest + tf.math.expm1(d_y))
        value = r - (1.0 - smoothing) * d_y
        if smoothing:
            value = value - smoothing * tf.reduce_mean(d, axis=-1, keepdims=True)

        def grad(upstream: Any) -> Any:
            g = tf.expand_dims(upstream, -1)
            slope = e * (g * tf.exp(-r))
            slope = tf.where(hot, slope - (1.0 - smoothing) * g, slope)
            if smoothing:
                slope = slope - (smoothing / classes) * g
            return tf.where(infinite, zero, slope)

        return tf.squeeze(value, -1), grad

    return rows(z)


@tf.custom_gradient
def _softmax_crossentropy(y: Any, z: Any) -> Any:
    """``Σ y·log softmax(z)`` over the last axis as ``Σ y·d - r·Σy`` with ``d = z - max`` (0 at
    a +inf maximum) and ``r = log Σ exp(d)`` written ``log1p(Σ frac(exp d))`` while the sum is
    below 2 (the maxima's exact 1s left out of it), else ``log1p(Σ exp d - 1)``: two terms of
    one sign, so a small loss keeps its relative accuracy. ``0·d`` counts 0 (a masked class).

    The gradient is written out: ``g·(y - Σy·softmax)`` for ``z`` and ``g·(d - r)`` for ``y``
    (0 where ``y`` is 0, as :func:`_times_log` gives it), the softmax
    ``exp(d)·exp(-r)`` from the forward's ``exp(d)``: a handful of kernels, where autodiff of
    the same value runs the backward of each of its intermediates."""
    _, d, e = _shifted_exp(z)
    total = tf.reduce_sum(e, axis=-1, keepdims=True)
    below_one = tf.reduce_sum(e - tf.floor(e), axis=-1, keepdims=True)
    r = tf.math.log1p(tf.where(total < 2.0, below_one, total - 1.0))
    mass = tf.reduce_sum(y, axis=-1, keepdims=True)
    guarded = tf.where(tf.equal(y, 0.0), tf.constant(0.0, z.dtype), d)
    saved = tf.identity(y)  # see _clamped_log

    def grad(upstream: Any) -> Any:
        g = tf.expand_dims(upstream, -1)
        slope_y = tf.where(tf.equal(saved, 0.0), tf.constant(0.0, z.dtype), guarded - r)
        return g * slope_y, g * (saved - mass * (e * tf.exp(-r)))

    return tf.reduce_sum(y * guarded, axis=-1) - tf.squeeze(r * mass, -1), grad


@tf.custom_gradient
def _times_log(y: Any, log_p: Any) -> Any:
    guarded = tf.where(tf.equal(y, 0.0), tf.constant(0.0, log_p.dtype), log_p)  # broadcast 0
    saved = tf.identity(y)  # see _clamped_log

    def grad(upstream: Any) -> Any:  # the log p slope y·g needs no guard
        return upstream * guarded, upstream * saved

    return y * guarded, grad


def _with_target_slope(rows: Any, y: Any, y_pred: Any, where: Any, slope: Any) -> Any:
    """``rows`` with the derivative ``slope(y, y_pred)`` in ``y`` added where ``where`` (a
    branch that does not differentiate in ``y``). It is formed only if a gradient with respect to
    ``y`` is taken, outside the branches' ``tf.cond``, from forward copies of the inputs: inside
    a ``tf.cond`` differentiated on a tape, cond_v2 rejects a gradient that reads a captured
    input.
    """

    @tf.custom_gradient
    def zero(y: Any) -> Any:
        y_saved, y_pred_saved = tf.identity(y), tf.identity(y_pred)

        def grad(upstream: Any) -> Any:
            value = tf.expand_dims(upstream, -1) * slope(y_saved, y_pred_saved)
            return tf.where(where, value, tf.zeros_like(value))

        return tf.zeros_like(rows), grad

    return rows + zero(y)


_MAX_POOLS = {1: tf.nn.max_pool1d, 2: tf.nn.max_pool2d, 3: tf.nn.max_pool3d}


def _pool_layout(x: Any, axes: tuple[int, ...]) -> list[int] | None:
    """The transpose that puts ``x`` in pooling layout (an axis first, the spatial axes, the
    other last; -1 marks a unit axis to add), or None where the generic slices apply."""
    ndim = len(x.shape)
    spatial = sorted(a % ndim for a in axes)
    others = [a for a in range(ndim) if a not in spatial]
    if not 0 < len(spatial) <= 3 or len(others) > 2 or not others:
        return None
    if len(spatial) == 3 and x.dtype != tf.float32:
        return None
    return [others[0], *spatial, others[1] if len(others) == 2 else -1]


def _max_pool(x: Any, layout: list[int], d: int, footprint: str) -> Any:
    order = [a for a in layout if a >= 0]
    view = tf.transpose(x, order) if order != list(range(len(order))) else x
    if layout[-1] < 0:
        view = tf.expand_dims(view, -1)
    pool = _MAX_POOLS[d]
    if footprint == "box":
        out = pool(view, 3, 1, "SAME")
    else:  # one 3-pixel line per axis
        out = pool(view, [3] + [1] * (d - 1), 1, "SAME")
        for k in range(1, d):
            out = tf.maximum(out, pool(view, [3 if i == k else 1 for i in range(d)], 1, "SAME"))
    if layout[-1] < 0:
        out = tf.squeeze(out, -1)
    if order == list(range(len(order))):
        return out
    return tf.transpose(out, sorted(range(len(order)), key=order.__getitem__))


class TensorFlowBackend(ArrayAPIBackend):
    name = "tensorflow"
    quiet_nan = True

    def __init__(self) -> None:
        super().__init__(_TF_NAMESPACE)

    def owns(self, x: Any) -> bool:
        return isinstance(x, tf.Tensor) and not isinstance(x, tf.Variable)

    def asarray(self, x: Any, like: Any, name: str = "input") -> Any:
        if isinstance(x, tf.Tensor | tf.Variable):
            return tf.convert_to_tensor(x)
        return tf.convert_to_tensor(_to_numpy(x, name))

    def is_tracing(self, x: Any) -> bool:
        return not tf.executing_eagerly()

    def is_floating(self, x: Any) -> bool:
        return bool(x.dtype.is_floating)

    def is_integral(self, x: Any) -> bool:
        return bool(x.dtype.is_integer)

    def is_bool(self, x: Any) -> bool:
        return x.dtype == tf.bool

    def compute_dtype(self, x: Any) -> Any:
        return tf.float64 if x.dtype == tf.float64 else tf.float32

    def astype(self, x: Any, dtype: Any) -> Any:
        return x if x.dtype == dtype else tf.cast(x, dtype)

    def shape(self, x: Any) -> tuple[int, ...]:
        return tuple(x.shape)

    def broadcast_like(self, x: Any, target: Any) -> Any:
        return tf.broadcast_to(x, tf.shape(target))

    def reshape_like(self, x: Any, target: Any) -> Any:
        return tf.reshape(x, tf.shape(target))

    def _host_any(self, condition: Any) -> bool:
        return bool(tf.reduce_any(condition))

    def stop_gradient(self, x: Any) -> Any:
        return tf.stop_gradient(x)

    def logsumexp(self, x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        return tf.reduce_logsumexp(x, axis=axis, keepdims=keepdims)

    # log_softmax and the (sparse) cross-entropy from logits keep the generic exact form:
    # TensorFlow's kernels take the log of a sum rounded near 1, which costs a small loss its
    # relative accuracy (2 % at 7e-6 in float32), and make NaN of a +inf logit.

    def sparse_crossentropy_logits(
        self, labels: Any, logits: Any, label_smoothing: float, reduction: str = "none"
    ) -> Any:
        """The generic exact rows (label side) with their gradient in closed form
        (:func:`_sparse_crossentropy`), then the reduction."""
        if len(logits.shape) == 0 or logits.shape[-1] is None:
            return super().sparse_crossentropy_logits(labels, logits, label_smoothing, reduction)
        rows = _sparse_crossentropy(labels, logits, label_smoothing)
        return self.reduce_all(rows, reduction)

    def softmax_crossentropy(self, y: Any, z: Any) -> Any | None:
        """``Σ y·log_softmax(z)`` over the last axis with its gradient in closed form
        (:func:`_softmax_crossentropy`), or None where the shapes or dtypes differ."""
        if y.shape != z.shape or y.dtype != z.dtype or len(z.shape) == 0:
            return None
        return _softmax_crossentropy(y, z)

    def softmax(self, x: Any, axis: int = -1) -> Any:
        return tf.nn.softmax(x, axis=axis)

    def softplus(self, x: Any) -> Any:
        return tf.nn.softplus(x)

    def log_sigmoid(self, x: Any) -> Any:
        return tf.math.log_sigmoid(x)

    def sigmoid(self, x: Any) -> Any:
        return tf.sigmoid(x)

    def one_hot(self, labels: Any, num_classes: int, dtype: Any = None) -> Any:
        return tf.one_hot(labels, num_classes, dtype=dtype if dtype is not None else tf.float32)

    def moveaxis(self, x: Any, source: int, destination: int) -> Any:
        ndim = len(x.shape)
        source, destination = source % ndim, destination % ndim
        if source == destination:
            return x
        perm = [i for i in range(ndim) if i != source]
        perm.insert(destination, source)
        return tf.transpose(x, perm)

    def clamped_log(self, p: Any) -> Any:
        return _clamped_log(p)

    def xlogy(self, x: Any, y: Any) -> Any:
        return tf.math.xlogy(x, y)  # its gradient is 0 (not NaN) at x = 0

    def times_log(self, y: Any, log_p: Any) -> Any:
        return _times_log(y, log_p)

    def target_weighted_sum(self, y: Any, y_pred: Any, terms: Any, gathered: Any) -> Any:
        """``Σ_k y_k · terms(y_pred)_k`` over the last axis, from ``gathered(labels, y_pred)``
        (the ``N`` terms at the labels) when every row of ``y`` is one-hot: a 1 and ``Σ|y| = 1``,
        three passes over ``y``, and ``tf.cond`` runs one branch. Either way the derivative in
        ``y`` is ``terms``."""
        labels = tf.argmax(y, axis=-1, output_type=tf.int64)
        top = tf.gather(y, labels, batch_dims=len(y.shape) - 1)
        one_hot = tf.reduce_all(tf.equal(top, 1.0)) & tf.reduce_all(
            tf.equal(tf.reduce_sum(tf.abs(y), axis=-1), 1.0)
        )
        rows = tf.cond(
            one_hot,
            lambda: gathered(labels, y_pred),
            lambda: tf.reduce_sum(y * terms(y_pred), axis=-1),
        )
        return _with_target_slope(rows, y, y_pred, one_hot, lambda y, y_pred: terms(y_pred))

    def log_cosh(self, d: Any) -> Any:
        value = super().log_cosh

        @tf.custom_gradient
        def log_cosh(d: Any) -> Any:  # derivative tanh(d): one kernel in the backward pass
            return value(d), lambda upstream: upstream * tf.math.tanh(d)

        return log_cosh(d)

    def erf(self, x: Any) -> Any:
        return tf.math.erf(x)

    def max_pool(self, x: Any, axes: tuple[int, ...], footprint: str = "box") -> Any:
        """TensorFlow's ``max_pool1d/2d/3d`` (``"SAME"`` padding: the outside never wins) on
        the layout they read, batch first and one channel axis last (a unit one where ``x``
        has no class axis); the generic slices where that takes more than a transpose (no
        batch axis, more than one class axis) or the kernel lacks the dtype (3-d: float32)."""
        layout = _pool_layout(x, axes)
        if layout is None:
            return super().max_pool(x, axes, footprint)
        return _max_pool(x, layout, len(axes), footprint)

    def min_pool(self, x: Any, axes: tuple[int, ...], footprint: str = "box") -> Any:
        layout = _pool_layout(x, axes)
        if layout is None:
            return super().min_pool(x, axes, footprint)
        return -_max_pool(-x, layout, len(axes), footprint)
