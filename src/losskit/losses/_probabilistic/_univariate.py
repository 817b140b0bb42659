"""Univariate scores: Brier, CRPS (Gaussian, ensemble, threshold-weighted ensemble), β-NLL."""

from __future__ import annotations

import math
from typing import Any

from ... import _inputs, _validate
from ..._backend import ArrayAPIBackend
from ..._reduce import check_reduction
from ..._registry import register
from .._common import enter_pair, finish, full_target
from ._base import FAMILY as _FAMILY
from ._base import observation as _observation
from ._base import parameter as _parameter

#: 1/√π and √(2/π) (= 2φ(0)), the constants of the Gaussian CRPS.
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
#: Floor of σ inside the (gradient-free) standardised error: a smallest normal float32.
_TINY = 1e-37


# ---------------------------------------------------------------------- Brier
@register(
    "brier",
    aliases=("brier_score", "brier_score_loss"),
    kind="elementwise",
    task="classification",
    domain="probability",
    properties={
        "proper": True,
        "strictly_proper": True,
        "bounded": True,
        "convex": True,
        "from_logits": True,
    },
    references=(
        "Brier (1950), Verification of Forecasts Expressed in Terms of Probability; "
        "sklearn.metrics.brier_score_loss; scoringrules.brier_score",
    ),
    **_FAMILY,
)
def brier(
    y_true: Any,
    y_pred: Any,
    *,
    mode: str = "binary",
    from_logits: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Brier score: squared error between predicted probabilities and outcomes.

    .. math:: \text{binary: } \ell = (p - y)^2, \qquad
              \text{multiclass: } \ell = \sum_k (p_k - y_k)^2 \text{ over } ``axis``

    ``mode="binary"`` is elementwise: ``y_pred`` holds the probability of the event (or its
    logit with ``from_logits=True``, where ``σ(z) - y`` is computed as
    ``(1 - y)·σ(z) - y·σ(-z)``, exact in both tails) and ``y_true`` the outcome in [0, 1]. Its
    ``"mean"`` is sklearn's ``brier_score_loss`` for binary outcomes and scoringrules'
    ``brier_score``.

    ``mode="multiclass"`` sums over the class ``axis`` (range [0, 2]): ``y_pred`` holds a
    distribution over the classes (rows must sum to 1) or logits (softmax applied), ``y_true``
    either a distribution (one-hot or soft) of ``y_pred``'s shape, or integer class indices
    with ``y_pred``'s shape without ``axis``. Its ``"mean"`` is sklearn's multiclass
    ``brier_score_loss`` (whose default ``scale_by_half="auto"`` halves only the binary case;
    with ``scale_by_half=True`` sklearn gives half of this value). A strictly proper scoring
    rule. Reference: Brier (1950).

    >>> import numpy as np, losskit as lk
    >>> lk.brier(np.array([1.0, 0.0]), np.array([0.8, 0.4]), reduction="none").round(6).tolist()
    [0.04, 0.16]
    >>> p = np.array([[0.7, 0.2, 0.1]])
    >>> round(float(lk.brier(np.array([0]), p, mode="multiclass")), 6)
    0.14
    """
    _validate.check_choice("mode", mode, ("binary", "multiclass"))
    from_logits = _validate.check_bool("from_logits", from_logits)
    axis = _validate.check_int("axis", axis)
    if mode == "binary":
        backend, y_true, y_pred, checking = enter_pair(y_true, y_pred, reduction, normalizer)
        if checking:
            _validate.check_unit_interval(backend, y_true, "y_true (outcomes)")
            if not from_logits:
                _validate.check_probabilities(backend, y_pred)
        if from_logits:
            d = (1.0 - y_true) * backend.sigmoid(y_pred) - y_true * backend.sigmoid(-y_pred)
        else:
            d = y_pred - y_true
        return finish(backend, d * d, sample_weight, mask, reduction, normalizer)

    check_reduction(reduction, normalizer)
    backend, y_pred, eps = _inputs.prediction(y_pred)
    axis = _validate.check_axis(axis, y_pred.ndim)
    num_classes = backend.shape(y_pred)[axis]
    checking = _validate.checking_values(backend, y_pred)
    raw = backend.asarray(y_true, y_pred, "y_true")
    if raw.ndim == y_pred.ndim - 1:  # integer class indices
        labels = _inputs.sparse_labels(backend, raw, y_pred, axis, checking)
        if checking:
            _validate.check_labels(backend, labels, num_classes, None)
        labels = backend.xp.clip(labels, 0, num_classes - 1)
        scores = backend.moveaxis(y_pred, axis, -1)
        target = backend.one_hot(labels, num_classes, dtype=scores.dtype)
    else:
        target = _inputs.targets(backend, raw, y_pred)
        _validate.check_target_shape(backend.shape(target), backend.shape(y_pred))
        if checking:
            _validate.check_no_nan(backend, target, "y_true")
            _validate.check_unit_interval(backend, target, "y_true (targets)")
        target = backend.moveaxis(full_target(backend, target, y_pred), axis, -1)
        scores = backend.moveaxis(y_pred, axis, -1)
    if checking:
        _validate.check_no_nan(backend, scores, "y_pred")
        if not from_logits:
            _validate.check_class_probabilities(backend, scores, eps)
    p = backend.softmax(scores, axis=-1) if from_logits else scores
    d = p - target
    loss = backend.xp.sum(d * d, axis=-1)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


# ---------------------------------------------------------------------- CRPS
@register(
    "crps_gaussian",
    aliases=("crps_normal",),
    kind="elementwise",
    task="regression",
    domain="real",
    properties={"proper": True, "strictly_proper": True, "convex": True, "bounded": False},
    references=(
        "Gneiting, Raftery, Westveld & Goldman (2005), Calibrated Probabilistic Forecasting "
        "Using Ensemble Model Output Statistics; scoringrules.crps_normal",
    ),
    **_FAMILY,
)
def crps_gaussian(
    y_true: Any,
    mu: Any,
    sigma: Any,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Continuous ranked probability score of a Gaussian forecast (mean ``mu``, spread ``sigma``).

    .. math:: \ell = σ\left[z\,(2Φ(z) - 1) + 2φ(z) - \tfrac{1}{\sqrt{π}}\right],
              \qquad z = \frac{y - μ}{σ}

    computed as ``(y - μ)·erf(z/√2) + σ·(2φ(z) - 1/√π)``, which stays finite and exact for any
    σ > 0 (tiny σ gives ``|y - μ|``, the CRPS of a point forecast). Arguments in scoringrules'
    ``crps_normal(obs, mu, sigma)`` order; ``mu`` plays ``y_pred``'s role (its library and
    dtype win), ``y_true`` and ``sigma`` broadcast to its shape. ``sigma`` must be positive.

    Gradients are exact: ``∂ℓ/∂μ = -erf(z/√2)``, ``∂ℓ/∂σ = 2φ(z) - 1/√π``. They are obtained
    with ``z`` held constant (the derivative of the formula in ``z`` vanishes identically), so
    first derivatives never see ``1/σ²``; second derivatives through ``z`` are not provided.
    Strictly proper; jointly convex in (μ, σ). Reference: Gneiting et al. (2005).

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.crps_gaussian(np.array([0.0]), np.array([0.0]), np.array([1.0]))), 6)
    0.233695
    """
    backend, y_true, mu, checking = enter_pair(y_true, mu, reduction, normalizer, ("y_true", "mu"))
    sigma = _parameter(backend, sigma, mu, "sigma", checking, allow_zero=False)
    xp = backend.xp
    d = y_true - mu
    # Held constant: ∂ℓ/∂z = 2φ(z)(d - σz) = 0, so d and σ carry the exact gradient.
    z = backend.stop_gradient(d / xp.maximum(sigma, _TINY))
    spread = _SQRT_2_OVER_PI * xp.exp(-0.5 * (z * z)) - _INV_SQRT_PI
    loss = d * backend.erf(z * (1.0 / math.sqrt(2.0))) + sigma * spread
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


_ESTIMATORS = ("nrg", "fair", "pwm", "qd")


@register(
    "crps_ensemble",
    aliases=("ensemble_crps",),
    kind="axis",
    task="regression",
    domain="real",
    properties={"proper": True, "bounded": False},
    references=(
        "Gneiting & Raftery (2007), Strictly Proper Scoring Rules, Prediction, and Estimation; "
        "Ferro (2014), Fair scores for ensemble forecasts; scoringrules.crps_ensemble",
    ),
    **_FAMILY,
)
def crps_ensemble(
    y_true: Any,
    ensemble: Any,
    *,
    axis: int = -1,
    estimator: str = "nrg",
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""CRPS of an ensemble forecast (members on ``axis``) against the observation ``y_true``.

    .. math:: \ell = \frac1m\sum_i |x_i - y| - \frac{1}{2m^2}\sum_{i,j} |x_i - x_j|
              \quad(\text{``nrg''}), \qquad
              \ell = \frac1m\sum_i |x_i - y| - \frac{1}{2m(m-1)}\sum_{i,j} |x_i - x_j|
              \quad(\text{``fair''})

    ``"nrg"`` (default) is the CRPS of the ensemble's empirical distribution: the value of
    scoringrules' default ``"qd"`` and of its ``"nrg"`` and ``"int"`` (``"qd"`` is accepted as
    a synonym). ``"fair"`` (Ferro 2014) is unbiased for the CRPS of the distribution the members
    are drawn from, and needs at least two members; ``"pwm"`` is accepted as a synonym (the
    probability-weighted-moment form is algebraically the fair estimator, as in scoringrules).
    The spread term is computed in O(m log m) from the sorted deviations ``x - y``
    (``Σ_k (2k - m - 1)·x₍ₖ₎``). At tied members the gradient is a valid subgradient that may
    differ between backends. ``y_true`` has ``ensemble``'s shape without ``axis`` (or
    broadcasts to it, or keeps ``axis`` with size 1); the unreduced loss has that shape.
    Reference: Gneiting & Raftery (2007); Ferro (2014).

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.crps_ensemble(np.array([0.5]), np.array([[0.0, 1.0, 3.0]]))), 6)
    0.5
    """
    backend, loss = _ensemble_crps(
        "crps_ensemble", y_true, ensemble, axis, estimator, reduction, normalizer
    )
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "twcrps_ensemble",
    aliases=("threshold_weighted_crps",),
    kind="axis",
    task="regression",
    domain="real",
    properties={"proper": True, "bounded": False},
    references=(
        "Gneiting & Ranjan (2011), Comparing Density Forecasts Using Threshold- and "
        "Quantile-Weighted Scoring Rules; Allen, Ginsbourger & Ziegel (2023), Evaluating "
        "Forecasts for High-Impact Events Using Transformed Kernel Scores; "
        "scoringrules.twcrps_ensemble",
    ),
    **_FAMILY,
)
def twcrps_ensemble(
    y_true: Any,
    ensemble: Any,
    *,
    a: float = -math.inf,
    b: float = math.inf,
    axis: int = -1,
    estimator: str = "nrg",
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Threshold-weighted CRPS of an ensemble: the CRPS after the chaining function ``v``.

    .. math:: \ell = \frac1m\sum_i |v(x_i) - v(y)|
              - \frac{1}{2m^2}\sum_{i,j} |v(x_i) - v(x_j)|,
              \qquad v(x) = \min(\max(x, a), b)

    This is the CRPS :math:`\int (F(z) - 1\{y \le z\})^2 w(z)\,dz` weighted by the
    indicator ``w = 1`` on ``[a, b]`` (Gneiting & Ranjan 2011), in the kernel form of Allen et
    al. (2023): outcomes and members are moved to the nearest point of ``[a, b]`` and scored
    with :func:`crps_ensemble` (same ``axis``, ``estimator`` and shapes; ``"fair"`` is the
    fair form). ``a`` alone (``b = inf``) emphasises the upper tail above the threshold ``a``,
    ``b`` alone the lower tail below ``b``, both an interval; with neither it is
    :func:`crps_ensemble`. Members outside ``[a, b]`` get no gradient: the score does not
    depend on where they lie out there. Matches scoringrules' ``twcrps_ensemble(obs, fct, a,
    b)`` (its default chaining function) for each estimator. Proper (not strictly: forecasts
    that agree on ``[a, b]`` score the same). References: Gneiting & Ranjan (2011); Allen,
    Ginsbourger & Ziegel (2023).

    >>> import numpy as np, losskit as lk
    >>> y, x = np.array([0.5]), np.array([[0.0, 1.0, 3.0]])
    >>> round(float(lk.twcrps_ensemble(y, x, a=1.0)), 6)
    0.222222
    """
    a = _validate.check_range("a", a, -math.inf, math.inf)
    b = _validate.check_range("b", b, -math.inf, math.inf)
    if not a < b:
        raise ValueError(
            f"twcrps_ensemble needs a < b (the weighted interval [a, b]); got {a}, {b}"
        )
    backend, loss = _ensemble_crps(
        "twcrps_ensemble", y_true, ensemble, axis, estimator, reduction, normalizer, (a, b)
    )
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _ensemble_crps(
    name: str,
    y_true: Any,
    ensemble: Any,
    axis: int,
    estimator: str,
    reduction: str,
    normalizer: Any,
    interval: tuple[float, float] | None = None,
) -> tuple[ArrayAPIBackend, Any]:
    """The unreduced CRPS of the ensemble on ``axis``, after the chaining function
    ``v(x) = min(max(x, a), b)`` of ``interval = (a, b)`` when given."""
    _validate.check_choice("estimator", estimator, _ESTIMATORS)
    check_reduction(reduction, normalizer)
    backend, ensemble, _ = _inputs.prediction(ensemble, "ensemble")
    axis = _validate.check_axis(axis, ensemble.ndim, name="axis")
    size = backend.shape(ensemble)[axis]
    fair = estimator in ("fair", "pwm")
    if size is None:
        raise ValueError(f"{name} needs the ensemble axis to have a static size")
    if size < (2 if fair else 1):
        need = "at least two members" if fair else "at least one member"
        raise ValueError(
            f"{name} with estimator={estimator!r} needs {need} on axis {axis}; got {size}"
        )
    checking = _validate.checking_values(backend, ensemble)
    members = backend.moveaxis(ensemble, axis, -1)
    y = _observation(backend, y_true, members, axis, backend.shape(ensemble))
    if checking:
        _validate.check_no_nan(backend, y, "y_true")
        _validate.check_no_nan(backend, members, "ensemble")
    if interval is not None:
        y, members = (_chain(backend.xp, v, *interval) for v in (y, members))
    xp = backend.xp
    d = members - xp.expand_dims(y, axis=-1)
    error = xp.mean(xp.sign(d) * d, axis=-1)
    pairs = size * (size - 1) if fair else size * size
    return backend, error - _spread_sum(backend, d, size) / float(pairs)


def _chain(xp: Any, x: Any, a: float, b: float) -> Any:
    """``min(max(x, a), b)``, with derivative 0 at (and beyond) each threshold."""
    if a > -math.inf:
        x = xp.where(x > a, x, xp.zeros_like(x) + a)
    if b < math.inf:
        x = xp.where(x < b, x, xp.zeros_like(x) + b)
    return x


def _spread_sum(backend: ArrayAPIBackend, d: Any, size: int) -> Any:
    """``½ Σ_{i,j} |d_i - d_j|`` over the last axis: ``Σ_k (2k - m - 1) d₍ₖ₎`` on the sorted
    values (O(m log m)), or the pairwise sum where the namespace has no ``sort``."""
    xp = backend.xp
    sort = getattr(xp, "sort", None)
    if sort is None:
        diff = xp.expand_dims(d, axis=-1) - xp.expand_dims(d, axis=-2)
        return 0.5 * xp.sum(xp.sign(diff) * diff, axis=(-2, -1))
    ranks = xp.astype(backend.arange(d, size), d.dtype)
    coefficients = 2.0 * ranks - float(size - 1)
    return xp.sum(coefficients * sort(d, axis=-1), axis=-1)


# ---------------------------------------------------------------------- β-NLL
@register(
    "beta_nll",
    aliases=("beta_nll_loss", "beta_gaussian_nll"),
    kind="elementwise",
    task="regression",
    domain="real",
    properties={"elicits": "mean and variance", "bounded": False},
    contract_exceptions={
        "true_gradient": "the factor variance**beta is held constant in the gradient (the "
        "method's stop-gradient), so the gradient is not the derivative of the value",
    },
    references=(
        "Seitzer, Tavakoli, Antic & Martius (2022), On the Pitfalls of Heteroscedastic "
        "Uncertainty Estimation with Probabilistic Neural Networks",
    ),
    **_FAMILY,
)
def beta_nll(
    y_true: Any,
    mean: Any,
    variance: Any,
    *,
    beta: float = 0.5,
    full: bool = False,
    eps: float = 1e-6,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""β-NLL: the Gaussian negative log-likelihood weighted by the stop-gradient variance^β.

    .. math:: \ell = \bar v^{\,β}\cdot\tfrac12\left(\log v + \frac{(y - μ)^2}{v}\right)
              \;(+\tfrac12\log 2π \text{ if full}),\qquad v = \max(\text{variance}, ε),
              \quad \bar v = \mathrm{stop\_gradient}(v)

    The weight rescales each sample's gradient without being differentiated, so ``β = 0`` is
    the Gaussian NLL (torch ``gaussian_nll_loss`` and :func:`gaussian_nll`, whose ``eps`` clamp
    is used here too: it acts on the value only, the gradient flows as if unclamped) and
    ``β = 1`` gives the mean the gradient of the squared error. ``beta`` in [0, 1] (the paper's
    range; 0.5 is its recommendation). Arguments in the order of Seitzer et al.'s
    ``(mean, variance, target)`` with the target first; ``mean`` plays ``y_pred``'s role,
    ``variance`` broadcasts to its shape (a prefix of it, such as one value per sample, is
    expanded on the right) and must be non-negative (positive when ``eps=0``). Elementwise:
    the paper's code sums the last axis first. Reference: Seitzer et al. (2022).

    >>> import numpy as np, losskit as lk
    >>> y, m, v = np.array([0.0]), np.array([1.0]), np.array([4.0])
    >>> round(float(lk.beta_nll(y, m, v)), 6)
    1.636294
    """
    beta = _validate.check_range("beta", beta, 0.0, 1.0)
    eps = _validate.check_range("eps", eps, 0.0, math.inf)
    full = _validate.check_bool("full", full)
    names = ("y_true", "mean")
    backend, y_true, mean, checking = enter_pair(y_true, mean, reduction, normalizer, names)
    xp = backend.xp
    variance = _parameter(backend, variance, mean, "variance", checking, allow_zero=eps > 0)
    if eps > 0:
        variance = variance + backend.stop_gradient(xp.maximum(variance, eps) - variance)
    d = mean - y_true
    loss = 0.5 * (xp.log(variance) + d * d / variance)
    if full:
        loss = loss + 0.5 * math.log(2.0 * math.pi)
    if beta > 0:
        loss = xp.pow(backend.stop_gradient(variance), beta) * loss
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)
