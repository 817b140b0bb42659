"""Regression losses (elementwise, like the source article's mean squared error)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _validate
from .._backend import ArrayAPIBackend
from .._registry import register
from ._common import enter_fused_pair, enter_pair, finish, full_target, settle

_KERAS_EPSILON = 1e-7
_REGRESSION: dict[str, Any] = {"family": "regression", "kind": "elementwise", "task": "regression"}


@register(
    "mean_squared_error",
    aliases=("mse", "mean_square_error", "l2", "squared_error"),
    family="regression",
    kind="elementwise",
    task="regression",
    domain="real",
    properties={"elicits": "mean", "convex": True, "bounded": False},
    references=("Gauss (1809); torch.nn.MSELoss; keras.losses.MeanSquaredError",),
)
def mean_squared_error(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Squared error, elementwise; its ``"mean"`` is the mean squared error.

    .. math:: \ell = (\hat y - y)^2

    Unlike Keras it does not first average the last axis per sample: ``reduction="none"`` keeps
    the broadcast shape and ``"mean"`` averages every element (torch's ``mse_loss``). The
    minimiser of its expectation is the mean of ``y``.

    References: torch ``MSELoss``; Keras ``MeanSquaredError``.

    >>> import numpy as np, losskit as lk
    >>> float(lk.mean_squared_error(np.array([0.0, 1.0]), np.array([1.0, 3.0])))
    2.5
    """
    backend, y_true, y_pred, fused, proof = enter_fused_pair(
        y_true, y_pred, reduction, normalizer, sample_weight, mask
    )
    if fused != "none":
        return settle(backend, backend.squared_error(y_true, y_pred, fused), proof)
    loss = backend.squared_error(y_true, y_pred)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


# ---------------------------------------------------------------------- shared helpers
def _abs(xp: Any, d: Any) -> Any:
    """``|d|`` as ``sign(d)·d``: derivative ``sign(d)``, 0 at 0 on every framework (JAX
    differentiates ``abs`` at 0 as 1, torch as 0)."""
    return xp.sign(d) * d


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    return _validate.check_range(name, value, 0.0, math.inf, low_open=not allow_zero)


def _scale_argument(
    backend: ArrayAPIBackend, value: Any, y_pred: Any, name: str, checking: bool
) -> Any:
    """A per-element positive parameter (variance, scale): broadcast against ``y_pred``; one
    dimension fewer, or a trailing 1, is accepted (torch's GaussianNLLLoss convention)."""
    value = backend.astype(backend.asarray(value, y_pred, name), y_pred.dtype)
    shape, pred_shape = backend.shape(value), backend.shape(y_pred)
    if len(shape) + 1 == len(pred_shape) and _validate.same_shape(shape, pred_shape[:-1]):
        value = backend.xp.expand_dims(value, axis=-1)
        shape = backend.shape(value)
    joint = _validate.broadcast_shapes(shape, pred_shape)
    if joint is None or not _validate.same_shape(joint, pred_shape):
        raise ValueError(
            f"{name} of shape {shape} must broadcast to y_pred of shape {pred_shape} (or have "
            f"y_pred's shape without its last axis)"
        )
    if checking:
        _validate.require_bounds(backend, value, _non_negative_rule(name, nan_fails=True))
    return value


def _clamp_keep_gradient(backend: ArrayAPIBackend, value: Any, floor: float) -> Any:
    """``max(value, floor)`` in the forward pass, identity for the gradient (torch's
    GaussianNLLLoss clamps its variance this way)."""
    xp = backend.xp
    return value + backend.stop_gradient(xp.maximum(value, floor) - value)


# ---------------------------------------------------------------------- absolute and robust
@register(
    "mean_absolute_error",
    aliases=("mae", "l1", "absolute_error"),
    domain="real",
    properties={"elicits": "median", "convex": True, "bounded": False},
    references=("Laplace (1774); torch.nn.L1Loss; keras.losses.MeanAbsoluteError",),
    **_REGRESSION,
)
def mean_absolute_error(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Absolute error, elementwise: :math:`\ell = |\hat y - y|` (its minimiser is the median).

    The derivative at :math:`\hat y = y` is 0 on every backend. References: torch ``L1Loss``;
    Keras ``MeanAbsoluteError`` (which first averages the last axis).

    >>> import numpy as np, losskit as lk
    >>> float(lk.mean_absolute_error(np.array([0.0, 1.0]), np.array([1.0, 4.0])))
    2.0
    """
    backend, y_true, y_pred, fused, proof = enter_fused_pair(
        y_true, y_pred, reduction, normalizer, sample_weight, mask
    )
    if fused != "none":
        return settle(backend, backend.absolute_error(y_true, y_pred, fused), proof)
    loss = backend.absolute_error(y_true, y_pred)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "mean_absolute_percentage_error",
    aliases=("mape",),
    domain="real",
    properties={"convex": True, "bounded": False},
    references=("keras.losses.MeanAbsolutePercentageError",),
    **_REGRESSION,
)
def mean_absolute_percentage_error(
    y_true: Any,
    y_pred: Any,
    *,
    epsilon: float = _KERAS_EPSILON,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Absolute percentage error: :math:`\ell = 100\,|y - \hat y| / \max(|y|, ε)` (Keras).

    ``epsilon`` keeps a zero target finite. scikit-learn's ``mean_absolute_percentage_error`` is
    the same ratio as a fraction (this / 100).

    >>> import numpy as np, losskit as lk
    >>> float(lk.mean_absolute_percentage_error(np.array([2.0, 4.0]), np.array([1.0, 5.0])))
    37.5
    """
    epsilon = _positive("epsilon", epsilon)
    backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
    xp = backend.xp
    loss = 100.0 * _abs(xp, y_true - y_pred) / xp.maximum(xp.abs(y_true), epsilon)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "mean_squared_logarithmic_error",
    aliases=("msle",),
    domain="non-negative",
    properties={"bounded": False},
    references=("keras.losses.MeanSquaredLogarithmicError",),
    **_REGRESSION,
)
def mean_squared_logarithmic_error(
    y_true: Any,
    y_pred: Any,
    *,
    epsilon: float = _KERAS_EPSILON,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Squared log error: :math:`\ell = (\log(1 + \max(\hat y, ε)) - \log(1 + \max(y, ε)))^2`.

    Keras's form (inputs raised to ``epsilon``), computed with ``log1p``.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.mean_squared_logarithmic_error(np.array([0.0]), np.array([np.e - 1]))), 6)
    1.0
    """
    epsilon = _positive("epsilon", epsilon)
    backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
    xp = backend.xp
    diff = xp.log1p(xp.maximum(y_pred, epsilon)) - xp.log1p(xp.maximum(y_true, epsilon))
    return finish(backend, diff * diff, sample_weight, mask, reduction, normalizer)


@register(
    "huber",
    aliases=("huber_loss",),
    domain="real",
    properties={"elicits": "none", "convex": True, "bounded": False},
    references=("Huber (1964), Robust Estimation of a Location Parameter; torch.nn.HuberLoss",),
    **_REGRESSION,
)
def huber(
    y_true: Any,
    y_pred: Any,
    *,
    delta: float = 1.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Huber loss: quadratic near the target, linear beyond ``delta``.

    .. math:: \ell = \begin{cases} \tfrac12 d^2 & |d| \le δ \\ δ(|d| - \tfrac12 δ) & |d| > δ
              \end{cases},\quad d = \hat y - y

    Same as torch ``huber_loss``, Keras ``Huber`` and optax ``huber_loss``. Reference: Huber (1964).

    >>> import numpy as np, losskit as lk
    >>> lk.huber(np.array([0.0, 0.0]), np.array([0.5, 3.0]), reduction="none").tolist()
    [0.125, 2.5]
    """
    delta = _positive("delta", delta)
    backend, y_true, y_pred, fused, proof = enter_fused_pair(
        y_true, y_pred, reduction, normalizer, sample_weight, mask
    )
    if fused != "none":
        return settle(backend, backend.huber_error(y_true, y_pred, delta, fused), proof)
    loss = backend.huber_error(y_true, y_pred, delta)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "smooth_l1",
    aliases=("smooth_l1_loss",),
    domain="real",
    properties={"convex": True, "bounded": False},
    references=("Girshick (2015), Fast R-CNN; torch.nn.SmoothL1Loss",),
    **_REGRESSION,
)
def smooth_l1(
    y_true: Any,
    y_pred: Any,
    *,
    beta: float = 1.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Smooth L1: :math:`\tfrac{d^2}{2β}` for :math:`|d| < β`, else :math:`|d| - \tfrac{β}{2}`.

    ``beta=0`` is the absolute error. Equals ``huber(delta=β) / β``. Reference: Girshick (2015);
    torch ``smooth_l1_loss``.

    >>> import numpy as np, losskit as lk
    >>> lk.smooth_l1(np.array([0.0, 0.0]), np.array([0.5, 3.0]), reduction="none").tolist()
    [0.125, 2.5]
    """
    beta = _positive("beta", beta, allow_zero=True)
    backend, y_true, y_pred, fused, proof = enter_fused_pair(
        y_true, y_pred, reduction, normalizer, sample_weight, mask
    )
    if fused != "none":
        return settle(backend, backend.smooth_l1_error(y_true, y_pred, beta, fused), proof)
    loss = backend.smooth_l1_error(y_true, y_pred, beta)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "log_cosh",
    aliases=("logcosh",),
    domain="real",
    properties={"convex": True, "bounded": False},
    references=("keras.losses.LogCosh; optax.log_cosh",),
    **_REGRESSION,
)
def log_cosh(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Log-cosh: :math:`\ell = \log\cosh(\hat y - y)`, gradient :math:`\tanh(d)`.

    Computed as ``log1p(cosh c - 1) + |d| - c`` with ``c = min(|d|, 40)`` and
    ``cosh c - 1 = e²/(2 + 2e)``, ``e = expm1(c)``: one transcendental chain, relatively exact
    (a few ulp) near 0 as far out, no overflow for any ``|d|``; the gradient is ``tanh(d)``.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.log_cosh(np.array([0.0]), np.array([1000.0]))), 6)
    999.306853
    """
    backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
    loss = backend.log_cosh(y_pred - y_true)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


# ---------------------------------------------------------------------- quantiles and expectiles
@register(
    "quantile",
    aliases=("pinball", "quantile_loss", "pinball_loss"),
    domain="real",
    properties={"elicits": "quantile", "convex": True, "bounded": False},
    references=("Koenker & Bassett (1978), Regression Quantiles; sklearn mean_pinball_loss",),
    **_REGRESSION,
)
def quantile(
    y_true: Any,
    y_pred: Any,
    *,
    quantiles: Any = 0.5,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Pinball (quantile) loss: :math:`\ell = \max(q d, (q - 1) d)`, :math:`d = y - \hat y`.

    Its minimiser is the ``q``-quantile of ``y``. ``quantiles`` is one level in [0, 1] or a
    sequence of K levels; then ``y_pred`` has a trailing axis of size K (one prediction per level)
    and ``y_true`` has ``y_pred``'s shape without it (or with size 1 there). Reference: Koenker &
    Bassett (1978); scikit-learn ``mean_pinball_loss(alpha=q)``.

    >>> import numpy as np, losskit as lk
    >>> lk.quantile(np.array([1.0]), np.array([[0.0, 2.0]]), quantiles=[0.1, 0.9],
    ...             reduction="none").tolist()
    [[0.1, 0.09999999999999998]]
    """
    levels = _quantile_levels(quantiles)
    if len(levels) > 1:
        y_true, y_pred = _with_level_axis(y_true, y_pred, len(levels))
    backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
    q: Any = (
        levels[0]
        if len(levels) == 1
        else backend.astype(backend.asarray(list(levels), y_pred), y_pred.dtype)
    )
    loss = pinball(backend.xp, y_true - y_pred, q)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def pinball(xp: Any, d: Any, q: Any) -> Any:
    """The pinball loss ``max(q d, (q - 1) d)`` of the errors ``d = y - ŷ`` at the levels ``q``
    (a number, or an array that broadcasts against ``d``)."""
    return xp.where(d >= 0, q * d, (q - 1.0) * d)


def _quantile_levels(quantiles: Any) -> tuple[float, ...]:
    expected = "quantiles must be a number or a sequence of numbers"
    if isinstance(quantiles, str | bytes):
        raise TypeError(f"{expected}; got the string {quantiles!r}")
    if isinstance(quantiles, int | float | np.number):
        levels: tuple[Any, ...] = (quantiles,)
    else:
        try:
            levels = tuple(quantiles)
        except TypeError:
            raise TypeError(f"{expected}; got {type(quantiles).__name__}") from None
    if not levels:
        raise ValueError("quantiles must not be empty")
    return tuple(_validate.check_range("quantiles", _number(q), 0.0, 1.0) for q in levels)


def _number(q: Any) -> Any:
    """A NumPy scalar or a 0-d numeric array of any library as a Python float; anything else
    (a string, a bool) as it is, for :func:`losskit._validate.check_range` to refuse."""
    dtype = getattr(q, "dtype", None)
    if isinstance(q, bool | np.bool_ | str | bytes) or (
        isinstance(dtype, np.dtype) and dtype.kind not in "iuf"
    ):
        return q
    if isinstance(q, np.number) or tuple(getattr(q, "shape", (None,))) == ():
        try:
            return float(q)
        except (TypeError, ValueError):
            return q
    return q


def _with_level_axis(y_true: Any, y_pred: Any, count: int) -> tuple[Any, Any]:
    """Give ``y_true`` the trailing quantile axis of ``y_pred`` (shape checks follow in _pair)."""
    from .._backend import backend_of

    backend = backend_of(y_pred, "y_pred")
    y_pred = backend.asarray(y_pred, y_pred, "y_pred")
    pred_shape = backend.shape(y_pred)
    if not pred_shape or pred_shape[-1] != count:
        raise ValueError(
            f"with {count} quantiles, y_pred must have a trailing axis of size {count}; got "
            f"shape {pred_shape}"
        )
    y_true = backend.asarray(y_true, y_pred, "y_true")
    if len(backend.shape(y_true)) + 1 == len(pred_shape):
        y_true = backend.xp.expand_dims(y_true, axis=-1)
    return y_true, y_pred


@register(
    "expectile",
    aliases=("expectile_loss", "asymmetric_squared_error"),
    domain="real",
    properties={"elicits": "expectile", "convex": True, "bounded": False},
    references=("Newey & Powell (1987), Asymmetric Least Squares Estimation and Testing",),
    **_REGRESSION,
)
def expectile(
    y_true: Any,
    y_pred: Any,
    *,
    tau: float = 0.5,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Expectile loss: :math:`\ell = |τ - 1[y < \hat y]|\,(y - \hat y)^2`.

    Its minimiser is the τ-expectile of ``y`` (τ = 0.5: the mean; the loss is then half the
    squared error). Reference: Newey & Powell (1987).

    >>> import numpy as np, losskit as lk
    >>> lk.expectile(np.array([0.0, 0.0]), np.array([1.0, -1.0]), tau=0.9,
    ...              reduction="none").round(6).tolist()
    [0.1, 0.9]
    """
    tau = _validate.check_range("tau", tau, 0.0, 1.0)
    backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
    xp = backend.xp
    d = y_true - y_pred
    weight = xp.where(d < 0, xp.full_like(d, 1.0 - tau), xp.full_like(d, tau))
    return finish(backend, weight * d * d, sample_weight, mask, reduction, normalizer)


# ---------------------------------------------------------------------- count and likelihood
@register(
    "poisson",
    aliases=("poisson_loss",),
    domain="non-negative",
    properties={"elicits": "mean", "proper": True, "convex": True, "bounded": False},
    references=("keras.losses.Poisson",),
    **_REGRESSION,
)
def poisson(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Poisson loss on a predicted rate: :math:`\ell = \hat y - y \log \hat y` (Keras's form).

    The log is clamped at -100 (Keras adds 1e-7 instead), so a zero rate is finite. For log-rate
    predictions use :func:`poisson_nll`. Reference: Keras ``Poisson``.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.poisson(np.array([2.0]), np.array([2.0]))), 6)
    0.613706
    """
    backend, y_true, y_pred, checking = enter_pair(y_true, y_pred, reduction, normalizer)
    if checking:
        _check_non_negative(backend, y_pred, "y_pred (a rate)")
        _check_non_negative(backend, y_true, "y_true (counts)")
    loss = y_pred - y_true * backend.clamped_log(y_pred)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _non_negative_rule(name: str, *, nan_fails: bool = False) -> _validate.Rule:
    def negative(low: Any, _: Any) -> Any:
        return ((low < 0) | (low != low)) if nan_fails else (low < 0)

    def describe(bounds: Any) -> str:
        found = "" if bounds is None else f"; got a minimum of {bounds[0]:g}"
        return f"{name} must be non-negative{found}"

    return negative, describe


def _check_non_negative(backend: ArrayAPIBackend, x: Any, name: str) -> None:
    _validate.require_bounds(backend, x, _non_negative_rule(name))


@register(
    "poisson_nll",
    aliases=("poisson_nll_loss",),
    domain="real",
    properties={"elicits": "mean", "proper": True, "convex": True, "bounded": False},
    references=("torch.nn.PoissonNLLLoss",),
    **_REGRESSION,
)
def poisson_nll(
    y_true: Any,
    y_pred: Any,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Poisson negative log-likelihood (torch ``PoissonNLLLoss``).

    With ``log_input=True`` ``y_pred`` is a log-rate: :math:`\ell = e^{\hat y} - y \hat y`;
    otherwise a rate: :math:`\ell = \hat y - y\log(\hat y + ε)`. ``full`` adds the Stirling term
    :math:`y\log y - y + \tfrac12\log(2πy)` for ``y > 1``.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.poisson_nll(np.array([2.0]), np.array([0.0]))), 6)
    1.0
    """
    eps = _positive("eps", eps)
    log_input = _validate.check_bool("log_input", log_input)
    full = _validate.check_bool("full", full)
    backend, y_true, y_pred, _, proof = enter_fused_pair(
        y_true, y_pred, reduction, normalizer, sample_weight, mask
    )
    xp = backend.xp
    if _validate.checking_values(backend, y_pred):
        _check_non_negative(backend, y_true, "y_true (counts)")
    # every entry below is NaN where an input is: a mean or sum proves the inputs (settle)
    rate = xp.exp(y_pred) if log_input else y_pred
    log_rate = y_pred if log_input else xp.log(y_pred + eps)
    loss = rate - y_true * log_rate
    if full:
        big = y_true > 1
        safe = xp.where(big, y_true, 1.0)
        stirling = safe * xp.log(safe) - safe + 0.5 * xp.log(2.0 * math.pi * safe)
        loss = loss + xp.where(big, stirling, 0.0)
    return settle(backend, finish(backend, loss, sample_weight, mask, reduction, normalizer), proof)


@register(
    "gaussian_nll",
    aliases=("gaussian_nll_loss",),
    domain="real",
    properties={"elicits": "mean", "proper": True, "convex": True, "bounded": False},
    references=("torch.nn.GaussianNLLLoss; Nix & Weigend (1994)",),
    **_REGRESSION,
)
def gaussian_nll(
    y_true: Any,
    y_pred: Any,
    *,
    var: Any,
    full: bool = False,
    eps: float = 1e-6,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Gaussian negative log-likelihood with predicted mean ``y_pred`` and variance ``var``.

    .. math:: \ell = \tfrac12\left(\log v + \frac{(\hat y - y)^2}{v}\right)
              \; (+\tfrac12\log 2π \text{ if full}),\qquad v = \max(\text{var}, ε)

    As in torch ``GaussianNLLLoss``, the clamp at ``eps`` acts only on the value: the gradient
    flows to ``var`` as if unclamped. ``var`` broadcasts against ``y_pred`` (or has its shape
    without the last axis). Reference: Nix & Weigend (1994); torch ``GaussianNLLLoss``.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.gaussian_nll(np.array([0.0]), np.array([1.0]), var=np.array([1.0]))), 6)
    0.5
    """
    eps = _positive("eps", eps, allow_zero=True)
    full = _validate.check_bool("full", full)
    backend, y_true, y_pred, checking = enter_pair(y_true, y_pred, reduction, normalizer)
    xp = backend.xp
    v = _clamp_keep_gradient(backend, _scale_argument(backend, var, y_pred, "var", checking), eps)
    d = y_pred - y_true
    loss = 0.5 * (xp.log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2.0 * math.pi)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "laplace_nll",
    aliases=("laplace_nll_loss",),
    domain="real",
    properties={"elicits": "median", "proper": True, "convex": True, "bounded": False},
    references=("Laplace distribution negative log-likelihood; Kendall & Gal (2017)",),
    **_REGRESSION,
)
def laplace_nll(
    y_true: Any,
    y_pred: Any,
    *,
    scale: Any,
    full: bool = False,
    eps: float = 1e-6,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Laplace negative log-likelihood with location ``y_pred`` and scale ``scale``.

    .. math:: \ell = \log b + \frac{|\hat y - y|}{b}\; (+\log 2 \text{ if full}),
              \qquad b = \max(\text{scale}, ε)

    The clamp keeps the gradient, as in :func:`gaussian_nll`. Reference: Kendall & Gal (2017).

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.laplace_nll(np.array([0.0]), np.array([2.0]), scale=np.array([1.0]))), 6)
    2.0
    """
    eps = _positive("eps", eps, allow_zero=True)
    full = _validate.check_bool("full", full)
    backend, y_true, y_pred, checking = enter_pair(y_true, y_pred, reduction, normalizer)
    xp = backend.xp
    b = _clamp_keep_gradient(
        backend, _scale_argument(backend, scale, y_pred, "scale", checking), eps
    )
    loss = xp.log(b) + _abs(xp, y_pred - y_true) / b
    if full:
        loss = loss + math.log(2.0)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "tweedie",
    aliases=("tweedie_deviance",),
    domain="positive",
    properties={"elicits": "mean", "proper": True, "bounded": False},
    references=("Jørgensen (1987), Exponential Dispersion Models; sklearn mean_tweedie_deviance",),
    **_REGRESSION,
)
def tweedie(
    y_true: Any,
    y_pred: Any,
    *,
    power: float = 1.5,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Tweedie unit deviance of a predicted mean :math:`μ = \hat y > 0`, ``power`` p in [1, 2].

    .. math:: d(y, μ) = 2\left(\frac{y^{2-p}}{(1-p)(2-p)} - \frac{y μ^{1-p}}{1-p}
              + \frac{μ^{2-p}}{2-p}\right)

    p = 1 is the Poisson deviance :math:`2(y\log(y/μ) - y + μ)`, p = 2 the Gamma deviance
    :math:`2(\log(μ/y) + y/μ - 1)`. Between them the formula is rearranged with ``expm1`` so it
    tends to both limits smoothly (no division by ``1 - p`` or ``2 - p`` blowing up near them).
    Matches scikit-learn ``mean_tweedie_deviance``. Reference: Jørgensen (1987).

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.tweedie(np.array([2.0]), np.array([1.0]), power=1.5)), 6)
    0.686292
    """
    power = _validate.check_range("power", power, 1.0, 2.0)
    backend, y_true, y_pred, checking = enter_pair(y_true, y_pred, reduction, normalizer)
    xp = backend.xp
    if checking:

        def describe(bounds: Any) -> str:
            found = "" if bounds is None else f"; got a minimum of {bounds[0]:g}"
            return f"y_pred (a mean) must be positive{found}"

        _validate.require_bounds(backend, y_pred, (lambda low, _: low <= 0, describe))
        rules = [_non_negative_rule("y_true")]
        if power == 2.0:
            gamma = "y_true must be positive for power=2 (the Gamma deviance)"
            rules.append((lambda low, _: low <= 0, lambda _: gamma))
        _validate.require_bounds(backend, y_true, *rules)
    half = _tweedie_half_deviance(xp, y_true, y_pred, power)
    return finish(backend, 2.0 * half, sample_weight, mask, reduction, normalizer)


_TWEEDIE_SERIES_RADIUS = 0.5
_TWEEDIE_SERIES_TERMS = 60  # 0.5**60 ≈ 1e-18: float64-exact inside the radius


def _tweedie_half_deviance(xp: Any, y: Any, mu: Any, power: float) -> Any:
    """Half the unit deviance, relatively exact for every p in [1, 2] and every μ > 0.

    With ``u = μ/y - 1`` it is ``y^{2-p} g(u)``, ``g(u) = ∫₀ᵘ t (1+t)^{-p} dt``
    ``= expm1((2-p)w)/(2-p) - expm1((1-p)w)/(1-p)``, ``w = log1p(u)``: no division by a vanishing
    ``1 - p`` or ``2 - p`` (the Poisson and Gamma limits are its p → 1, 2 values). The two terms
    share their first order, so for ``|u| < 1/2`` ``g`` is summed as its power series instead. A
    zero ``y`` (p < 2) gives ``μ^{2-p}/(2-p)``.
    """
    positive = y > 0
    safe_y = xp.where(positive, y, 1.0)
    u = (mu - safe_y) / safe_y
    near = _abs(xp, u) < _TWEEDIE_SERIES_RADIUS
    series = _tweedie_series(xp, xp.where(near, u, 0.0), power)
    w = _log_ratio(xp, xp.where(near, safe_y, mu), safe_y)
    closed = _expm1_ratio(xp, 2.0 - power, w) - _expm1_ratio(xp, 1.0 - power, w)
    g = xp.where(near, series, closed)
    scaled = xp.exp((2.0 - power) * xp.log(safe_y)) * g
    if power == 2.0:
        return scaled
    at_zero = xp.exp((2.0 - power) * xp.log(mu)) / (2.0 - power)
    return xp.where(positive, scaled, at_zero)


def _log_ratio(xp: Any, a: Any, b: Any) -> Any:
    """``log(a / b)`` for ``a, b > 0``: the log of the quotient (relatively exact, where
    ``log1p(a/b - 1)`` would round ``a - b`` to ``-b`` for ``a ≪ b``), or ``log a - log b`` where
    the quotient under- or overflows. Each branch sees safe values, so gradients stay finite."""
    ratio = a / b
    normal = (ratio > xp.finfo(ratio.dtype).smallest_normal) & (ratio < xp.finfo(ratio.dtype).max)
    quotient = xp.log(xp.where(normal, ratio, 1.0))
    difference = xp.log(xp.where(normal, xp.ones_like(a), a)) - xp.log(
        xp.where(normal, xp.ones_like(b), b)
    )
    return xp.where(normal, quotient, difference)


def _expm1_ratio(xp: Any, c: float, w: Any) -> Any:
    """``expm1(c·w) / c``, and its limit ``w`` at ``c = 0``."""
    return w if c == 0.0 else xp.expm1(c * w) / c


def _tweedie_series(xp: Any, u: Any, power: float) -> Any:
    """``g(u) = Σ_k C(-p, k) u^{k+2} / (k+2)`` by Horner's rule."""
    coefficients, binomial = [], 1.0
    for k in range(_TWEEDIE_SERIES_TERMS):
        coefficients.append(binomial / (k + 2))
        binomial *= (-power - k) / (k + 1)
    total = xp.zeros_like(u) + coefficients[-1]
    for c in reversed(coefficients[:-1]):
        total = total * u + c
    return u * u * total


# ---------------------------------------------------------------------- directions
@register(
    "cosine_similarity",
    aliases=("cosine_loss",),
    family="regression",
    kind="axis",
    task="regression",
    domain="real",
    properties={"bounded": True},
    references=("keras.losses.CosineSimilarity; optax.cosine_distance (= 1 + this)",),
)
def cosine_similarity(
    y_true: Any,
    y_pred: Any,
    *,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Negative cosine similarity over ``axis`` (Keras's convention, values in [-1, 1]).

    .. math:: \ell = -\frac{y \cdot \hat y}{\lVert y\rVert\,\lVert\hat y\rVert}

    Each norm is taken as ``sqrt(max(Σx², 1e-12))`` (Keras normalises each vector by it; here the
    dot product is divided by both), so a zero vector gives 0 with finite gradients, not NaN.
    optax ``cosine_distance`` is ``1 + ℓ``; torch ``cosine_similarity`` is ``-ℓ``.

    >>> import numpy as np, losskit as lk
    >>> float(lk.cosine_similarity(np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]])))
    -1.0
    """
    backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
    axis = _validate.check_axis(axis, y_pred.ndim)
    xp = backend.xp
    y_true = full_target(backend, y_true, y_pred)
    # the dot product scaled by the two inverse norms: three products over the arrays instead of
    # five (each vector divided by its norm first), the same value to rounding
    dot = xp.sum(y_true * y_pred, axis=axis)
    loss = -dot * _inverse_norm(xp, y_true, axis) * _inverse_norm(xp, y_pred, axis)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _inverse_norm(xp: Any, x: Any, axis: int) -> Any:
    return 1.0 / xp.sqrt(xp.maximum(xp.sum(x * x, axis=axis), 1e-12))
