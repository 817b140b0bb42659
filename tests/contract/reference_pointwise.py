"""Independent float64 references for the pointwise losses of the catalogue.

Regression, cross-entropy and classification, robust, structured (multiclass hinge, sparsemax,
CTC), linear cross-entropy and probabilistic losses. Each reference is written from the loss's
mathematics (the paper, or the formula its docstring documents), never from losskit's code:
stable float64 NumPy forms (``logaddexp``, ``log1p``, ``expm1``), or ``mpmath`` at 40 digits
elementwise where cancellation or special functions matter. CTC is anchored on torch's
``ctc_loss`` in float64.

``REFERENCES[name](inputs, params)`` takes the loss's positional inputs (as ``tests/cases.py``
builds them) and its keyword options, and returns the unreduced loss with the shape of
``reduction="none"``: weights that belong to the loss (``class_weight``) are applied and
``ignore_index`` positions are 0, as in losskit's ``"none"``. An option a reference does not
model raises ``NotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import numpy as np

Reference = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]
REFERENCES: dict[str, Reference] = {}

LOG_FLOOR = -100.0
DIGITS = 40
#: The reduction contract's arguments: only their neutral values are modelled here.
_NEUTRAL = {"sample_weight": None, "mask": None, "normalizer": None, "reduction": "none"}


def _register(name: str) -> Callable[[Reference], Reference]:
    def add(function: Reference) -> Reference:
        REFERENCES[name] = function
        return function

    return add


# ---------------------------------------------------------------------- options and arrays
def _options(params: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    """The loss's options: ``params`` over its defaults; anything else is not modelled."""
    for key, value in params.items():
        if key in defaults:
            continue
        neutral = key in _NEUTRAL and (
            value is None if _NEUTRAL[key] is None else value == _NEUTRAL[key]
        )
        if not neutral:
            raise NotImplementedError(f"the reference does not model {key}={value!r}")
    return {**defaults, **{k: v for k, v in params.items() if k in defaults}}


def _f(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _pair(inputs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` broadcast together, float64."""
    y, p = np.broadcast_arrays(_f(inputs[0]), _f(inputs[1]))
    return y, p


def _classes_last(x: Any, axis: int) -> np.ndarray:
    return np.moveaxis(_f(x), axis, -1)


def _labels(y_true: Any, y_pred: np.ndarray, axis: int) -> np.ndarray:
    """Integer class indices with ``y_pred``'s shape without ``axis`` (a size-1 axis dropped)."""
    labels = np.asarray(y_true)
    if labels.ndim == y_pred.ndim:
        labels = np.squeeze(labels, axis=axis)
    return labels.astype(np.int64)


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return (labels[..., None] == np.arange(num_classes)).astype(np.float64)


def _per_class(value: Any, num_classes: int) -> np.ndarray:
    """A scalar or a length-K vector as K per-class values."""
    return np.broadcast_to(_f(value), (num_classes,))


def _elementwise(function: Callable[..., Any], *arrays: np.ndarray) -> np.ndarray:
    """``function`` applied to each element in ``mpmath`` at 40 digits, rounded to float64."""
    arrays = np.broadcast_arrays(*(_f(a) for a in arrays))
    out = np.empty(arrays[0].shape, dtype=np.float64)
    with mpmath.workdps(DIGITS):
        for index in np.ndindex(out.shape):
            out[index] = float(function(*(mpmath.mpf(float(a[index])) for a in arrays)))
    return out


def _rows(function: Callable[..., Any], *arrays: np.ndarray) -> np.ndarray:
    """``function`` of each row (last axis, as lists of ``mpmath`` numbers at 40 digits)."""
    arrays = tuple(_f(a) for a in arrays)
    out = np.empty(arrays[0].shape[:-1], dtype=np.float64)
    with mpmath.workdps(DIGITS):
        for index in np.ndindex(out.shape):
            rows = ([mpmath.mpf(float(v)) for v in a[index]] for a in arrays)
            out[index] = float(function(*rows))
    return out


def mp_clamped_log(p: Any) -> Any:
    """``max(log p, -100)`` in mpmath (``log 0 = -inf``)."""
    return max(mpmath.log(p) if p > 0 else -mpmath.inf, LOG_FLOOR)


def mp_log_softmax(z: list[Any]) -> list[Any]:
    """``(z_k - m) - log1p(Σ_{k≠k*} e^{z_k - m})`` in mpmath, ``m = z_{k*}`` the maximum."""
    top = max(z)
    first = z.index(top)
    rest = mpmath.log1p(mpmath.fsum(mpmath.exp(v - top) for k, v in enumerate(z) if k != first))
    return [(v - top) - rest for v in z]


# ---------------------------------------------------------------------- elementary functions
def softplus(x: np.ndarray) -> np.ndarray:
    """``log(1 + e^x)``."""
    return np.logaddexp(0.0, x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``σ(x) = 1 / (1 + e^{-x})``, as ``exp(-softplus(-x))``."""
    return np.exp(-softplus(-x))


def _shifted(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(m, log1p(Σ_{k≠k*} e^{z_k - m}))`` over the last axis, ``m = z_{k*}`` the maximum."""
    top_index = np.argmax(z, axis=-1)[..., None]
    top = np.take_along_axis(z, top_index, axis=-1)
    others = np.where(np.arange(z.shape[-1]) == top_index, 0.0, np.exp(z - top))
    return top, np.log1p(np.sum(others, axis=-1, keepdims=True))


def logsumexp(z: np.ndarray) -> np.ndarray:
    """``log Σ_k e^{z_k}`` over the last axis."""
    top, rest = _shifted(z)
    return (top + rest)[..., 0]


def log_softmax(z: np.ndarray) -> np.ndarray:
    """``(z_k - m) - log1p(Σ_{k≠k*} e^{z_k - m})``: relatively exact for the largest class too."""
    top, rest = _shifted(z)
    return (z - top) - rest


def clamped_log(p: np.ndarray) -> np.ndarray:
    """``max(log p, -100)``: the probability path's log (torch's convention)."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), LOG_FLOOR)


def clamped_log1m(p: np.ndarray) -> np.ndarray:
    """``max(log(1 - p), -100)``, as ``log1p(-p)``."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log1p(-p), LOG_FLOOR)


def xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x log y`` with ``0 · log y = 0`` for every ``y``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def times(y: np.ndarray, log_p: np.ndarray) -> np.ndarray:
    """``y · log p`` with ``0 · log p = 0`` (also for ``log p = -inf``)."""
    return np.where(y == 0, 0.0, y * np.where(y == 0, 0.0, log_p))


def log_probabilities(y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    """``log_softmax(z)`` from logits, else the clamped ``log p``."""
    return log_softmax(y_pred) if from_logits else clamped_log(y_pred)


def smooth(y: np.ndarray, epsilon: float, num_classes: int) -> np.ndarray:
    """Label smoothing ``(1 - ε) y + ε / K``.

    Szegedy et al. (2016), Rethinking the Inception Architecture.
    """
    return (1.0 - epsilon) * y + epsilon / num_classes


# ---------------------------------------------------------------------- regression
@_register("mean_squared_error")
def mean_squared_error(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``(ŷ - y)²``."""
    _options(params)
    y, p = _pair(inputs)
    return (p - y) ** 2


@_register("mean_absolute_error")
def mean_absolute_error(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``|ŷ - y|``."""
    _options(params)
    y, p = _pair(inputs)
    return np.abs(p - y)


@_register("mean_absolute_percentage_error")
def mean_absolute_percentage_error(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``100 |y - ŷ| / max(|y|, ε)``.

    Keras MeanAbsolutePercentageError.
    """
    o = _options(params, epsilon=1e-7)
    y, p = _pair(inputs)
    return 100.0 * np.abs(y - p) / np.maximum(np.abs(y), o["epsilon"])


@_register("mean_squared_logarithmic_error")
def mean_squared_logarithmic_error(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``log((1 + a) / (1 + b))²`` with ``a = max(ŷ, ε)``, ``b = max(y, ε)``, as ``log1p``.

    Keras MeanSquaredLogarithmicError.
    """
    o = _options(params, epsilon=1e-7)
    y, p = _pair(inputs)
    a, b = np.maximum(p, o["epsilon"]), np.maximum(y, o["epsilon"])
    return np.log1p((a - b) / (1.0 + b)) ** 2


@_register("huber")
def huber(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``d²/2`` for ``|d| ≤ δ``, else ``δ(|d| - δ/2)``.

    Huber (1964), Robust Estimation of a Location Parameter.
    """
    delta = _options(params, delta=1.0)["delta"]
    y, p = _pair(inputs)
    d = np.abs(p - y)
    return np.where(d <= delta, 0.5 * d * d, delta * (d - 0.5 * delta))


@_register("smooth_l1")
def smooth_l1(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``d²/(2β)`` for ``|d| < β``, else ``|d| - β/2``.

    Girshick (2015), Fast R-CNN.
    """
    beta = _options(params, beta=1.0)["beta"]
    y, p = _pair(inputs)
    d = np.abs(p - y)
    if beta == 0:
        return d
    return np.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)


@_register("log_cosh")
def log_cosh(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``log cosh(ŷ - y)``, in mpmath."""
    _options(params)
    y, p = _pair(inputs)
    return _elementwise(lambda a, b: mpmath.log(mpmath.cosh(b - a)), y, p)


@_register("quantile")
def quantile(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Pinball loss ``max(q d, (q - 1) d)``, ``d = y - ŷ``; K levels on a trailing axis.

    Koenker & Bassett (1978), Regression Quantiles.
    """
    levels = _options(params, quantiles=0.5)["quantiles"]
    y, p = _f(inputs[0]), _f(inputs[1])
    q = _f(levels)
    if q.ndim == 1 and y.ndim + 1 == p.ndim:
        y = y[..., None]
    y, p = np.broadcast_arrays(y, p)
    d = y - p
    return np.maximum(q * d, (q - 1.0) * d)


@_register("expectile")
def expectile(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``|τ - 1[y < ŷ]| (y - ŷ)²``.

    Newey & Powell (1987), Asymmetric Least Squares Estimation and Testing.
    """
    tau = _options(params, tau=0.5)["tau"]
    y, p = _pair(inputs)
    return np.abs(tau - (y < p)) * (y - p) ** 2


@_register("poisson")
def poisson(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``ŷ - y log ŷ`` (the log clamped at -100), in mpmath.

    Keras Poisson.
    """
    _options(params)
    y, p = _pair(inputs)
    return _elementwise(lambda a, b: b - (a * mp_clamped_log(b) if a else 0), y, p)


def stirling(y: Any) -> Any:
    """``y log y - y + ½ log(2π y)`` for ``y > 1``, else 0."""
    return y * mpmath.log(y) - y + mpmath.log(2 * mpmath.pi * y) / 2 if y > 1 else 0


def poisson_nll_element(y: Any, p: Any, o: dict[str, Any]) -> Any:
    """``e^ŷ - y ŷ`` (log-rate) or ``ŷ - y log(ŷ + ε)`` (rate), plus Stirling's term if full.

    torch PoissonNLLLoss.
    """
    rate, log_rate = (mpmath.exp(p), p) if o["log_input"] else (p, mpmath.log(p + o["eps"]))
    loss = rate - y * log_rate
    return loss + stirling(y) if o["full"] else loss


@_register("poisson_nll")
def poisson_nll(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Poisson negative log-likelihood, in mpmath."""
    o = _options(params, log_input=True, full=False, eps=1e-8)
    y, p = _pair(inputs)
    return _elementwise(lambda a, b: poisson_nll_element(a, b, o), y, p)


def _scale(value: Any, like: np.ndarray, eps: float, *, prefix: bool) -> np.ndarray:
    """A per-element scale, clamped at ``eps``: broadcast to ``like``; one value per sample
    (``like``'s shape without its last axis, or any prefix with ``prefix``) expanded on the
    right."""
    v = _f(value)
    per_sample = 0 < v.ndim < like.ndim and v.shape == like.shape[: v.ndim]
    if per_sample and (prefix or v.ndim + 1 == like.ndim):
        v = v.reshape(v.shape + (1,) * (like.ndim - v.ndim))
    return np.maximum(np.broadcast_to(v, like.shape), eps)


def gaussian_nll_element(y: Any, mu: Any, v: Any, full: bool) -> Any:
    """``½(log v + (μ - y)²/v)`` (+ ``½ log 2π``).

    Nix & Weigend (1994), Estimating the Mean and Variance of the Target Probability Distribution.
    """
    loss = (mpmath.log(v) + (mu - y) ** 2 / v) / 2
    return loss + mpmath.log(2 * mpmath.pi) / 2 if full else loss


@_register("gaussian_nll")
def gaussian_nll(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Gaussian NLL with ``v = max(var, ε)``, in mpmath."""
    o = _options(params, var=None, full=False, eps=1e-6)
    y, p = _pair(inputs)
    v = _scale(o["var"], p, o["eps"], prefix=False)
    return _elementwise(lambda a, b, c: gaussian_nll_element(a, b, c, o["full"]), y, p, v)


def laplace_nll_element(y: Any, mu: Any, b: Any, full: bool) -> Any:
    """``log b + |μ - y| / b`` (+ ``log 2``).

    Kendall & Gal (2017), What Uncertainties Do We Need in Bayesian Deep Learning.
    """
    loss = mpmath.log(b) + abs(mu - y) / b
    return loss + mpmath.log(2) if full else loss


@_register("laplace_nll")
def laplace_nll(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Laplace NLL with ``b = max(scale, ε)``, in mpmath."""
    o = _options(params, scale=None, full=False, eps=1e-6)
    y, p = _pair(inputs)
    b = _scale(o["scale"], p, o["eps"], prefix=False)
    return _elementwise(lambda a, c, d: laplace_nll_element(a, c, d, o["full"]), y, p, b)


def tweedie_deviance(y: Any, mu: Any, power: Any) -> Any:
    """Unit deviance ``2(y^{2-p}/((1-p)(2-p)) - y μ^{1-p}/(1-p) + μ^{2-p}/(2-p))`` and its limits.

    Jørgensen (1987), Exponential Dispersion Models.
    """
    if power == 1:
        return 2 * ((y * mpmath.log(y / mu) if y else 0) - y + mu)
    if power == 2:
        return 2 * (mpmath.log(mu / y) + y / mu - 1)
    first = y ** (2 - power) / ((1 - power) * (2 - power))
    return 2 * (first - y * mu ** (1 - power) / (1 - power) + mu ** (2 - power) / (2 - power))


@_register("tweedie")
def tweedie(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Tweedie unit deviance of the mean ``ŷ``, in mpmath."""
    power = _options(params, power=1.5)["power"]
    y, p = _pair(inputs)
    return _elementwise(lambda a, b: tweedie_deviance(a, b, mpmath.mpf(power)), y, p)


def negative_cosine(y: list[Any], p: list[Any]) -> Any:
    """``-y·ŷ / (‖y‖ ‖ŷ‖)``, each squared norm floored at ``1e-12``.

    Keras CosineSimilarity.
    """

    def norm(x: list[Any]) -> Any:
        return mpmath.sqrt(max(mpmath.fsum(v * v for v in x), mpmath.mpf(1e-12)))

    return -mpmath.fsum(a * b for a, b in zip(y, p, strict=True)) / (norm(y) * norm(p))


@_register("cosine_similarity")
def cosine_similarity(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Negative cosine similarity over ``axis``, in mpmath."""
    axis = _options(params, axis=-1)["axis"]
    y, p = _pair(inputs)
    return _rows(negative_cosine, _classes_last(y, axis), _classes_last(p, axis))


# ---------------------------------------------------------------------- binary cross-entropy
def binary_ce(y: np.ndarray, p: np.ndarray, from_logits: bool, w: Any = 1.0) -> np.ndarray:
    """``-[w y log p + (1 - y) log(1 - p)]``; from logits ``w y softplus(-z) + (1-y) softplus(z)``.

    Goodfellow, Bengio & Courville (2016), Deep Learning, §6.2.2.2.
    """
    if from_logits:
        return w * y * softplus(-p) + (1.0 - y) * softplus(p)
    return -(w * y * clamped_log(p) + (1.0 - y) * clamped_log1m(p))


def event_probabilities(p: np.ndarray, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(p, 1 - p)``; from logits ``(σ(z), σ(-z))``."""
    return (sigmoid(p), sigmoid(-p)) if from_logits else (p, 1.0 - p)


@_register("binary_crossentropy")
def binary_crossentropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Binary cross-entropy of smoothed targets ``(1 - ε) y + ε/2``."""
    o = _options(params, from_logits=False, label_smoothing=0.0, pos_weight=None)
    y, p = _pair(inputs)
    y = smooth(y, o["label_smoothing"], 2)
    w = 1.0 if o["pos_weight"] is None else _f(o["pos_weight"])
    return binary_ce(y, p, o["from_logits"], w)


@_register("binary_focal_crossentropy")
def binary_focal_crossentropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``α_t (1 - p_t)^γ BCE``, ``1 - p_t = y(1 - p) + (1 - y)p``, ``α_t = yα + (1 - y)(1 - α)``.

    Lin et al. (2017), Focal Loss for Dense Object Detection.
    """
    o = _options(params, gamma=2.0, alpha=None, from_logits=False, label_smoothing=0.0)
    y, p = _pair(inputs)
    y = smooth(y, o["label_smoothing"], 2)
    prob, complement = event_probabilities(p, o["from_logits"])
    loss = (y * complement + (1.0 - y) * prob) ** o["gamma"] * binary_ce(y, p, o["from_logits"])
    if o["alpha"] is None:
        return loss
    alpha = _f(o["alpha"])
    return (y * alpha + (1.0 - y) * (1.0 - alpha)) * loss


# ---------------------------------------------------------------------- categorical cross-entropy
def target_weight(y: np.ndarray, class_weight: Any) -> Any:
    """``Σ_k y_k w_k`` (1 without class weights), from the targets before smoothing."""
    if class_weight is None:
        return 1.0
    return np.sum(y * _f(class_weight), axis=-1)


def cross_entropy(y: np.ndarray, log_p: np.ndarray) -> np.ndarray:
    """``-Σ_k y_k log p_k`` over the last axis, ``0 · log 0 = 0``."""
    return -np.sum(times(y, log_p), axis=-1)


_CE = {"from_logits": False, "label_smoothing": 0.0, "class_weight": None, "axis": -1}
#: The logit options of the plain cross-entropies (not of the losses that share ``_CE``).
_LOGIT_OPTIONS = {"z_loss": 0.0, "softcap": None}
_FOCAL = {"gamma": 2.0, "alpha": None, "from_logits": False, "label_smoothing": 0.0, "axis": -1}


def _multiclass(
    inputs: list[np.ndarray], params: dict[str, Any], defaults: dict[str, Any]
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, Any]:
    """Options, smoothed targets and predictions with classes last, and the class weight."""
    o = _options(params, **defaults)
    y, p = _pair(inputs)
    y, p = _classes_last(y, o["axis"]), _classes_last(p, o["axis"])
    weight = target_weight(y, o.get("class_weight"))
    return o, smooth(y, o.get("label_smoothing", 0.0), p.shape[-1]), p, weight


def _sparse(
    inputs: list[np.ndarray], params: dict[str, Any], defaults: dict[str, Any]
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray, Any]:
    """Options, smoothed one-hot targets, predictions with classes last, the valid entries
    (not ``ignore_index``) and the class weight of each label."""
    o = _options(params, ignore_index=None, **defaults)
    p = _f(inputs[1])
    labels = _labels(inputs[0], p, o["axis"])
    p = _classes_last(p, o["axis"])
    valid = (
        np.ones(labels.shape, bool) if o["ignore_index"] is None else labels != o["ignore_index"]
    )
    target = _one_hot(np.where(valid, labels, 0), p.shape[-1])
    weight = target_weight(target, o.get("class_weight"))
    return o, smooth(target, o["label_smoothing"], p.shape[-1]), p, valid, weight


def capped_logits_and_z_loss(p: np.ndarray, o: dict[str, Any]) -> tuple[np.ndarray, Any]:
    """The soft-capped logits ``c tanh(z / c)`` and the z-loss ``ζ logsumexp(z)²`` of each row
    (of the capped logits); ``(p, 0)`` with both options off. Both act on logits only.

    Gemma Team (2024), Gemma 2, logit soft-capping; Chowdhery et al. (2022), PaLM, §5, z-loss.
    """
    zeta, cap = o["z_loss"], o["softcap"]
    if not o["from_logits"]:
        if zeta or cap is not None:
            raise ValueError("z_loss and softcap are defined on logits only")
        return p, 0.0
    if cap is not None:
        p = cap * np.tanh(p / cap)
    return p, (zeta * logsumexp(p) ** 2 if zeta else 0.0)


@_register("categorical_crossentropy")
def categorical_crossentropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-Σ_k y_k log p_k + ζ lse(z)²`` (weighted by ``Σ y_k w_k``), ``z`` soft-capped.

    Goodfellow, Bengio & Courville (2016), Deep Learning, §6.2.2.3.
    """
    o, y, p, weight = _multiclass(inputs, params, {**_CE, **_LOGIT_OPTIONS})
    p, z_term = capped_logits_and_z_loss(p, o)
    return weight * (cross_entropy(y, log_p_of(p, o)) + z_term)


@_register("sparse_categorical_crossentropy")
def sparse_categorical_crossentropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Categorical cross-entropy of the one-hot labels, weighted by ``w[y]``; 0 where ignored."""
    o, y, p, valid, weight = _sparse(inputs, params, {**_CE, **_LOGIT_OPTIONS})
    p, z_term = capped_logits_and_z_loss(p, o)
    return np.where(valid, weight * (cross_entropy(y, log_p_of(p, o)) + z_term), 0.0)


def log_p_of(p: np.ndarray, o: dict[str, Any]) -> np.ndarray:
    """``log p`` under the call's ``from_logits``."""
    return log_probabilities(p, o["from_logits"])


def complement(p: np.ndarray, from_logits: bool) -> np.ndarray:
    """``1 - p_k``: ``-expm1(log_softmax(z))`` from logits, ``1 - p`` from probabilities."""
    return -np.expm1(log_softmax(p)) if from_logits else 1.0 - p


def focal_terms(y: np.ndarray, p: np.ndarray, o: dict[str, Any]) -> np.ndarray:
    """``-Σ_k α_k (1 - p_k)^γ y_k log p_k``.

    Lin et al. (2017), Focal Loss for Dense Object Detection.
    """
    alpha = 1.0 if o["alpha"] is None else _per_class(o["alpha"], p.shape[-1])
    modulation = complement(p, o["from_logits"]) ** o["gamma"]
    return -np.sum(alpha * modulation * times(y, log_p_of(p, o)), axis=-1)


@_register("categorical_focal_crossentropy")
def categorical_focal_crossentropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Categorical focal loss."""
    o, y, p, _ = _multiclass(inputs, params, _FOCAL)
    return focal_terms(y, p, o)


@_register("sparse_categorical_focal_crossentropy")
def sparse_categorical_focal_crossentropy(
    inputs: list[np.ndarray], params: dict[str, Any]
) -> np.ndarray:
    """Categorical focal loss of the one-hot labels; 0 where ignored."""
    o, y, p, valid, _ = _sparse(inputs, params, _FOCAL)
    return np.where(valid, focal_terms(y, p, o), 0.0)


# ---------------------------------------------------------------------- margins
def signed(y: np.ndarray) -> np.ndarray:
    """Labels in [-1, 1], a 0 label standing for -1 (per element)."""
    return np.where(y == 0, -1.0, y)


@_register("hinge")
def hinge(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``max(1 - y ŷ, 0)``.

    Cortes & Vapnik (1995), Support-Vector Networks.
    """
    _options(params)
    y, p = _pair(inputs)
    return np.maximum(1.0 - signed(y) * p, 0.0)


@_register("squared_hinge")
def squared_hinge(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``max(1 - y ŷ, 0)²``."""
    _options(params)
    y, p = _pair(inputs)
    return np.maximum(1.0 - signed(y) * p, 0.0) ** 2


@_register("soft_margin")
def soft_margin(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``log(1 + e^{-y ŷ})``.

    torch SoftMarginLoss.
    """
    _options(params)
    y, p = _pair(inputs)
    return softplus(-signed(y) * p)


@_register("categorical_hinge")
def categorical_hinge(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``max(1 + max_k (1 - y_k) ŷ_k - Σ_k y_k ŷ_k, 0)``.

    Keras CategoricalHinge.
    """
    axis = _options(params, axis=-1)["axis"]
    y, p = _pair(inputs)
    y, p = _classes_last(y, axis), _classes_last(p, axis)
    return np.maximum(1.0 + np.max((1.0 - y) * p, axis=-1) - np.sum(y * p, axis=-1), 0.0)


# ---------------------------------------------------------------------- divergences
def kl_row(y: list[Any], p: list[Any], o: dict[str, Any]) -> Any:
    """``Σ_k y_k (log y_k - log q_k)`` (``0 · log 0 = 0``); ``y`` as logs with ``log_target``.

    Kullback & Leibler (1951), On Information and Sufficiency.
    """
    log_q = mp_log_softmax(p) if o["from_logits"] else [mp_clamped_log(v) for v in p]
    if o["log_target"]:
        return mpmath.fsum(mpmath.exp(a) * (a - b) for a, b in zip(y, log_q, strict=True))
    return mpmath.fsum(a * (mpmath.log(a) - b) for a, b in zip(y, log_q, strict=True) if a)


@_register("kl_divergence")
def kl_divergence(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Kullback-Leibler divergence over ``axis``, in mpmath."""
    o = _options(params, from_logits=False, log_target=False, axis=-1)
    y, p = _pair(inputs)
    return _rows(
        lambda a, b: kl_row(a, b, o), _classes_last(y, o["axis"]), _classes_last(p, o["axis"])
    )


def js_row(y: list[Any], p: list[Any], from_logits: bool) -> Any:
    """``½ Σ_k [y_k log(2y_k / (y_k + q_k)) + q_k log(2q_k / (y_k + q_k))]``.

    Lin (1991), Divergence Measures Based on the Shannon Entropy.
    """
    q = [mpmath.exp(v) for v in mp_log_softmax(p)] if from_logits else p

    def half(a: Any, b: Any) -> Any:
        return a * mpmath.log(2 * a / (a + b)) if a else 0

    return mpmath.fsum(half(a, b) + half(b, a) for a, b in zip(y, q, strict=True)) / 2


@_register("js_divergence")
def js_divergence(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Jensen-Shannon divergence over ``axis``, in mpmath."""
    o = _options(params, from_logits=False, axis=-1)
    y, p = _pair(inputs)
    return _rows(
        lambda a, b: js_row(a, b, o["from_logits"]),
        _classes_last(y, o["axis"]),
        _classes_last(p, o["axis"]),
    )


@_register("poly_loss")
def poly_loss(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-Σ_k y_k log p_k + ε(1 - Σ_k y_k p_k)``, with ``1 - Σ y p = (1 - Σ y) + Σ y (1 - p)``.

    Leng et al. (2022), PolyLoss: A Polynomial Expansion Perspective of Classification Losses.
    """
    o = _options(params, epsilon=1.0, from_logits=False, axis=-1)
    y, p = _pair(inputs)
    y, p = _classes_last(y, o["axis"]), _classes_last(p, o["axis"])
    missing = (1.0 - np.sum(y, axis=-1)) + np.sum(y * complement(p, o["from_logits"]), axis=-1)
    return cross_entropy(y, log_p_of(p, o)) + o["epsilon"] * missing


# ---------------------------------------------------------------------- robust
def asymmetric_element(y: Any, x: Any, o: dict[str, Any]) -> Any:
    """``-y (1-p)^{γ+} log p - (1-y) p_m^{γ-} log(1 - p_m)``, ``p_m = max(p - m, 0)``.

    Ridnik et al. (2021), Asymmetric Loss For Multi-Label Classification.
    """
    m = mpmath.mpf(o["clip"] or 0.0)
    if o["from_logits"]:
        p, q = 1 / (1 + mpmath.exp(-x)), 1 / (1 + mpmath.exp(x))
        log_p, log_q = -mpmath.log1p(mpmath.exp(-x)), -mpmath.log1p(mpmath.exp(x))
    else:
        p, q = x, 1 - x
        log_p, log_q = mp_clamped_log(p), mp_clamped_log(q)
    p_m = max(p - m, 0)
    log_keep = log_q if m == 0 else (mpmath.log(q + m) if p_m > 0 else 0)
    positive = -(q ** mpmath.mpf(o["gamma_pos"])) * log_p
    negative = -(p_m ** mpmath.mpf(o["gamma_neg"])) * log_keep
    return y * positive + (1 - y) * negative


@_register("asymmetric_loss")
def asymmetric_loss(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Asymmetric loss, in mpmath."""
    o = _options(params, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, from_logits=False)
    y, p = _pair(inputs)
    return _elementwise(lambda a, b: asymmetric_element(a, b, o), y, p)


@_register("generalized_crossentropy")
def generalized_crossentropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_k y_k (1 - p_k^q) / q``, as ``-expm1(q log p_k) / q``.

    Zhang & Sabuncu (2018), Generalized Cross Entropy Loss for Noisy Labels.
    """
    o, y, p, weight = _multiclass(inputs, params, {**_CE, "q": 0.7})
    q = o["q"]
    return weight * np.sum(y * -np.expm1(q * log_p_of(p, o)) / q, axis=-1)


@_register("symmetric_crossentropy")
def symmetric_crossentropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-α Σ y_k log p_k - β Σ p_k log y_k``, ``log y`` floored at ``A`` (``log 0 := A``).

    Wang et al. (2019), Symmetric Cross Entropy for Robust Learning with Noisy Labels.
    """
    o, y, p, weight = _multiclass(inputs, params, {**_CE, "alpha": 0.1, "beta": 1.0, "A": -4.0})
    log_p = log_p_of(p, o)
    prob = np.exp(log_p) if o["from_logits"] else p
    with np.errstate(divide="ignore"):
        log_y = np.maximum(np.log(y), o["A"])
    reverse = -np.sum(prob * log_y, axis=-1)
    return weight * (o["alpha"] * cross_entropy(y, log_p) + o["beta"] * reverse)


@_register("normalized_crossentropy")
def normalized_crossentropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_k y_k log p_k / Σ_k log p_k`` (0 where the denominator is 0).

    Ma et al. (2020), Normalized Loss Functions for Deep Learning with Noisy Labels.
    """
    o, y, p, weight = _multiclass(inputs, params, _CE)
    log_p = log_p_of(p, o)
    numerator, denominator = cross_entropy(y, log_p), -np.sum(log_p, axis=-1)
    safe = np.where(denominator > 0, denominator, 1.0)
    return weight * np.where(denominator > 0, numerator / safe, 0.0)


@_register("taylor_crossentropy")
def taylor_crossentropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_k y_k Σ_{i=1}^{t} (1 - p_k)^i / i``.

    Feng et al. (2020), Can Cross Entropy Loss Be Robust to Label Noise?
    """
    o, y, p, weight = _multiclass(inputs, params, {**_CE, "order": 2})
    r = complement(p, o["from_logits"])
    series = sum(r**i / i for i in range(1, o["order"] + 1))
    return weight * np.sum(y * series, axis=-1)


def exp_t(x: Any, t: Any) -> Any:
    """``exp_t(x) = [1 + (1 - t) x]_+^{1/(1-t)}`` (``e^x`` at ``t = 1``).

    Amid, Warmuth, Anil & Koren (2019), Robust Bi-Tempered Logistic Loss.
    """
    if t == 1:
        return mpmath.exp(x)
    base = 1 + (1 - t) * x
    return base ** (1 / (1 - t)) if base > 0 else mpmath.mpf(0)


def log_t(x: Any, t: Any) -> Any:
    """``log_t(x) = (x^{1-t} - 1) / (1 - t)`` (``log x`` at ``t = 1``).

    Amid, Warmuth, Anil & Koren (2019), Robust Bi-Tempered Logistic Loss.
    """
    if t == 1:
        return mpmath.log(x) if x > 0 else -mpmath.inf
    return (x ** (1 - t) - 1) / (1 - t)


def bisect(decreasing: Callable[[Any], Any], low: Any, high: Any) -> Any:
    """The root of a decreasing function bracketed by ``[low, high]``, to 40 digits."""
    for _ in range(4 * DIGITS):
        middle = (low + high) / 2
        low, high = (middle, high) if decreasing(middle) > 0 else (low, middle)
    return (low + high) / 2


def tempered_softmax(a: list[Any], t: Any) -> list[Any]:
    """``p_k = exp_t(a_k - λ)`` with ``Σ p_k = 1``: ``λ`` is the root of the decreasing
    ``Σ_k exp_t(a_k - λ) - 1``, bracketed from ``λ = max a`` (Anderson–Björck, else bisection).
    """

    def excess(lam: Any) -> Any:
        return mpmath.fsum(exp_t(value - lam, t) for value in a) - 1

    low = max(a)
    high = low + 1
    while excess(high) > 0:
        high = low + 2 * (high - low)
    try:
        lam = mpmath.findroot(excess, (low, high), solver="anderson")
    except ValueError:
        lam = bisect(excess, low, high)
    return [exp_t(value - lam, t) for value in a]


def bi_tempered_row(y: list[Any], a: list[Any], t1: Any, t2: Any) -> Any:
    """``Σ_k [y_k (log_{t1} y_k - log_{t1} p_k) - (y_k^{2-t1} - p_k^{2-t1}) / (2 - t1)]``.

    Amid, Warmuth, Anil & Koren (2019), Robust Bi-Tempered Logistic Loss, eq. (6).
    """
    total = mpmath.mpf(0)
    for target, prob in zip(y, tempered_softmax(a, t2), strict=True):
        if target:
            total += target * (log_t(target, t1) - log_t(prob, t1))
        total -= (target ** (2 - t1) - prob ** (2 - t1)) / (2 - t1)
    return total


@_register("bi_tempered_logistic")
def bi_tempered_logistic(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Bi-tempered logistic loss with the exact tempered normaliser, in mpmath.

    ``num_iters`` (losskit's Newton steps) is accepted: the reference is their limit.
    """
    defaults = {**_CE, "t1": 1.0, "t2": 1.0, "num_iters": 5}
    del defaults["from_logits"]
    o, y, a, weight = _multiclass(inputs, params, defaults)
    t1, t2 = o["t1"], o["t2"]
    out = _rows(lambda b, c: bi_tempered_row(b, c, mpmath.mpf(t1), mpmath.mpf(t2)), y, a)
    return weight * out


# ---------------------------------------------------------------------- structured
@_register("multiclass_hinge")
def multiclass_hinge(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``Σ_{j≠y}`` (Weston–Watkins) or ``max_{j≠y}`` (Crammer–Singer) of ``[m - s_y + s_j]_+^p``.

    Weston & Watkins (1999); Crammer & Singer (2001).
    """
    o = _options(
        params,
        margin=1.0,
        p=1,
        variant="weston_watkins",
        class_weight=None,
        ignore_index=None,
        axis=-1,
    )
    s = _f(inputs[1])
    labels = _labels(inputs[0], s, o["axis"])
    s = _classes_last(s, o["axis"])
    valid = (
        np.ones(labels.shape, bool) if o["ignore_index"] is None else labels != o["ignore_index"]
    )
    labels = np.where(valid, labels, 0)
    true_score = np.take_along_axis(s, labels[..., None], axis=-1)
    violation = np.maximum(o["margin"] - true_score + s, 0.0) ** o["p"]
    others = np.arange(s.shape[-1]) != labels[..., None]
    if o["variant"] == "weston_watkins":
        loss = np.sum(np.where(others, violation, 0.0), axis=-1)
    else:
        loss = np.max(np.where(others, violation, 0.0), axis=-1)
    if o["class_weight"] is not None:
        loss = _f(o["class_weight"])[labels] * loss
    return np.where(valid, loss, 0.0)


def sparsemax_threshold(z: list[Any]) -> Any:
    """``τ`` with ``Σ_j max(z_j - τ, 0) = 1``, bracketed by ``[max z - 1, max z]``.

    Martins & Astudillo (2016), From Softmax to Sparsemax, Prop. 1.
    """
    top = max(z)
    return bisect(lambda tau: mpmath.fsum(max(v - tau, 0) for v in z) - 1, top - 1, top)


def sparsemax_row(q: list[Any], z: list[Any]) -> Any:
    """``-q·z + ½ Σ_{j∈S(z)} (z_j² - τ²) + ½ ‖q‖²``.

    Martins & Astudillo (2016), From Softmax to Sparsemax, eq. (18).
    """
    tau = sparsemax_threshold(z)
    linear = sum(target * value for target, value in zip(q, z, strict=True) if target)
    support = sum(value * value - tau * tau for value in z if value > tau)
    return -linear + support / 2 + sum(target * target for target in q) / 2


@_register("sparsemax_loss")
def sparsemax_loss(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Sparsemax loss of integer labels or a target distribution, in mpmath; 0 where ignored."""
    o = _options(params, ignore_index=None, axis=-1)
    z = _f(inputs[1])
    raw = np.asarray(inputs[0])
    if raw.shape == z.shape and z.shape[o["axis"]] != 1:
        q = _classes_last(raw, o["axis"])
        z = _classes_last(z, o["axis"])
        valid = np.ones(z.shape[:-1], bool)
    else:
        labels = _labels(raw, z, o["axis"])
        ignore = o["ignore_index"]
        valid = np.ones(labels.shape, bool) if ignore is None else labels != ignore
        z = _classes_last(z, o["axis"])
        q = _one_hot(np.where(valid, labels, 0), z.shape[-1])
    out = _rows(sparsemax_row, q, z)
    return np.where(valid, out, 0.0)


@_register("ctc")
def ctc(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-log Σ_{π ∈ B⁻¹(l)} Π_t p_t(π_t)``, torch's ``ctc_loss`` in float64 as the anchor.

    Graves, Fernández, Gomez & Schmidhuber (2006), Connectionist Temporal Classification.
    """
    import torch
    import torch.nn.functional as F

    o = _options(params, blank=0, time_major=False, zero_infinity=False, normalize="none")
    labels, logits = np.asarray(inputs[0]).astype(np.int64), _f(inputs[1])
    if o["time_major"]:
        logits = np.moveaxis(logits, 0, 1)
    batch, frames, num_classes = logits.shape
    blank = o["blank"] % num_classes
    label_lengths = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    logit_lengths = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
    if label_lengths is None:
        label_lengths = np.sum((labels != blank) & (labels >= 0), axis=1)
    if logit_lengths is None:
        logit_lengths = np.full(batch, frames)
    label_lengths = np.asarray(label_lengths).astype(np.int64)
    inside = np.arange(labels.shape[1]) < label_lengths[:, None]
    targets = np.where(inside, labels, (blank + 1) % num_classes)
    log_probs = torch.log_softmax(torch.from_numpy(logits), dim=-1).transpose(0, 1)
    nll = F.ctc_loss(
        log_probs,
        torch.from_numpy(targets),
        torch.from_numpy(np.asarray(logit_lengths).astype(np.int64)),
        torch.from_numpy(label_lengths),
        blank=blank,
        reduction="none",
        zero_infinity=o["zero_infinity"],
    ).numpy()
    if o["normalize"] == "target_length":
        nll = nll / np.maximum(label_lengths, 1)
    return nll.astype(np.float64)


def linear_token(h: list[Any], weight: np.ndarray, label: int, o: dict[str, Any]) -> Any:
    """``lse(z) - (1-ε) z_y - (ε/V) Σ z_k + ζ lse(z)²``, ``z = h Wᵀ + b`` (or ``c tanh(z/c)``).

    Wijmans et al. (2025), Cut Your Losses; Chowdhery et al. (2022), PaLM, for the z-loss.
    """
    bias = [0.0] * len(weight) if o["bias"] is None else list(_f(o["bias"]))
    z = [
        mpmath.fsum(a * float(w) for a, w in zip(h, row, strict=True)) + float(b)
        for row, b in zip(weight, bias, strict=True)
    ]
    if o["softcap"] is not None:
        cap = mpmath.mpf(o["softcap"])
        z = [cap * mpmath.tanh(v / cap) for v in z]
    top = max(z)
    first = z.index(top)
    rest = mpmath.log1p(mpmath.fsum(mpmath.exp(v - top) for k, v in enumerate(z) if k != first))
    eps = mpmath.mpf(o["label_smoothing"])
    nll = (top - z[label]) + rest  # lse(z) - z_y
    uniform = (top - mpmath.fsum(z) / len(z)) + rest  # lse(z) - mean(z)
    return (1 - eps) * nll + eps * uniform + mpmath.mpf(o["z_loss"]) * (top + rest) ** 2


@_register("linear_cross_entropy")
def linear_cross_entropy(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Cross-entropy of the logits of a linear head, in mpmath; 0 where ignored.

    ``chunk_size`` only decides how losskit splits the work: the reference ignores it.
    """
    o = _options(
        params,
        bias=None,
        ignore_index=-100,
        label_smoothing=0.0,
        z_loss=0.0,
        softcap=None,
        class_weight=None,
        chunk_size=None,
    )
    hidden, weight, targets = _f(inputs[0]), _f(inputs[1]), np.asarray(inputs[2]).astype(np.int64)
    ignore = o["ignore_index"]
    valid = np.ones(targets.shape, bool) if ignore is None else targets != ignore
    labels = np.where(valid, targets, 0)
    out = np.empty(targets.shape)
    with mpmath.workdps(DIGITS):
        for index in np.ndindex(out.shape):
            h = [mpmath.mpf(float(v)) for v in hidden[index]]
            out[index] = float(linear_token(h, weight, int(labels[index]), o))
    if o["class_weight"] is not None:
        out = _f(o["class_weight"])[labels] * out
    return np.where(valid, out, 0.0)


# ---------------------------------------------------------------------- probabilistic
@_register("brier")
def brier(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``(p - y)²`` (binary), ``Σ_k (p_k - y_k)²`` (multiclass); ``σ(z) - y = (1-y)σ(z) - yσ(-z)``.

    Brier (1950), Verification of Forecasts Expressed in Terms of Probability.
    """
    o = _options(params, mode="binary", from_logits=False, axis=-1)
    if o["mode"] == "binary":
        y, p = _pair(inputs)
        d = (1.0 - y) * sigmoid(p) - y * sigmoid(-p) if o["from_logits"] else p - y
        return d * d
    scores = _f(inputs[1])
    raw = np.asarray(inputs[0])
    if raw.ndim == scores.ndim - 1:
        target = _one_hot(_labels(raw, scores, o["axis"]), scores.shape[o["axis"]])
    else:
        target = _classes_last(np.broadcast_to(_f(raw), scores.shape), o["axis"])
    scores = _classes_last(scores, o["axis"])
    if o["from_logits"]:  # p - 1 = expm1(log p) for a sure outcome
        log_p = log_softmax(scores)
        d = np.where(target == 1, np.expm1(log_p), np.exp(log_p) - target)
    else:
        d = scores - target
    return np.sum(d * d, axis=-1)


def crps_normal(y: Any, mu: Any, sigma: Any) -> Any:
    """``σ[z(2Φ(z) - 1) + 2φ(z) - 1/√π]``, ``z = (y - μ)/σ``.

    Gneiting, Raftery, Westveld & Goldman (2005), Calibrated Probabilistic Forecasting.
    """
    if sigma <= 0:  # a point forecast (σ → 0): |y - μ|; no distribution for σ < 0
        return abs(y - mu) if sigma == 0 else mpmath.nan
    z = (y - mu) / sigma
    return sigma * (z * (2 * mpmath.ncdf(z) - 1) + 2 * mpmath.npdf(z) - 1 / mpmath.sqrt(mpmath.pi))


@_register("crps_gaussian")
def crps_gaussian(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """CRPS of N(μ, σ²), in mpmath."""
    _options(params)
    y, mu, sigma = np.broadcast_arrays(*(_f(x) for x in inputs[:3]))
    return _elementwise(crps_normal, y, mu, sigma)


def crps_members(x: list[Any], y: Any, fair: bool) -> Any:
    """``(1/m) Σ_i |x_i - y| - Σ_{i,j} |x_i - x_j| / (2m²)`` (``2m(m-1)`` for the fair form).

    Gneiting & Raftery (2007), Strictly Proper Scoring Rules; Ferro (2014), Fair scores.
    """
    m = len(x)
    error = mpmath.fsum(abs(v - y) for v in x) / m
    spread = mpmath.fsum(abs(a - b) for a in x for b in x)
    return error - spread / (2 * (m * (m - 1) if fair else m * m))


@_register("crps_ensemble")
def crps_ensemble(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """CRPS of the ensemble on ``axis``, in mpmath."""
    o = _options(params, axis=-1, estimator="nrg")
    x = _f(inputs[1])
    y = _f(inputs[0])
    if y.ndim == x.ndim:
        y = np.squeeze(y, axis=o["axis"])
    x = _classes_last(x, o["axis"])
    y = np.broadcast_to(y, x.shape[:-1])[..., None]
    fair = o["estimator"] in ("fair", "pwm")
    return _rows(lambda a, b: crps_members(a, b[0], fair), x, y)


def beta_nll_element(y: Any, mu: Any, v: Any, o: dict[str, Any]) -> Any:
    """``v^β · [½(log v + (y - μ)²/v) (+ ½ log 2π)]``.

    Seitzer, Tavakoli, Antic & Martius (2022), On the Pitfalls of Heteroscedastic Uncertainty.
    """
    nll = gaussian_nll_element(y, mu, v, o["full"])
    return v ** mpmath.mpf(o["beta"]) * nll


@_register("beta_nll")
def beta_nll(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """β-NLL with ``v = max(variance, ε)``, in mpmath."""
    o = _options(params, beta=0.5, full=False, eps=1e-6)
    y, mu = _pair(inputs[:2])
    v = _scale(inputs[2], mu, o["eps"], prefix=True)
    return _elementwise(lambda a, b, c: beta_nll_element(a, b, c, o), y, mu, v)
