"""Closed-form gradients and Hessians, in margin space, for the common losses: one NumPy pass.

Each entry differentiates the catalogue's loss *as defined* (no hidden factors) composed with the
link :mod:`losskit.boost._spec` gives it (``exp`` for Poisson and Tweedie, the margin as the logit
for cross-entropies). ``supports(params)`` says which parameter values the formula covers; other
values go to automatic differentiation. ``convex`` is convexity in the *margin* (what decides
whether the exact Hessian can be negative), ``fisher`` the expected Hessian where the loss has
one, ``full`` the whole per-row Hessian of a class loss (CatBoost's multiclass Newton step uses
it), ``init`` the starting constant where the registry's ``elicits`` rule does not give it.

Derivatives at a kink follow the formula's own branch (``|d|`` is ``sign(d)·d``, derivative 0 at
0; the pinball loss takes its ``d ≥ 0`` branch), as every backend's autodiff does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray
Params = dict[str, Any]


@dataclass(frozen=True)
class ClosedForm:
    """The derivatives of one loss in margin space: ``derivatives(y, m, params) → (g, h)``."""

    derivatives: Callable[[Array, Array, Params], tuple[Array, Array]]
    supports: Callable[[Params], bool] = lambda params: True
    convex: bool = True
    fisher: Callable[[Array, Array, Params], Array] | None = None
    full: Callable[[Array, Array, Params], Array] | None = None
    init: Callable[[Array, Array, Params, int], Any] | None = None


# ---------------------------------------------------------------------- helpers
def _sigmoid(m: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * m))


def _softmax(m: Array) -> Array:
    e = np.exp(m - np.max(m, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _number(params: Params, name: str, default: float) -> float:
    return float(params.get(name, default))


def _is_number(value: Any) -> bool:
    return value is None or np.ndim(value) == 0


def _logit(p: float) -> float:
    p = min(max(p, 1e-15), 1.0 - 1e-15)
    return float(np.log(p) - np.log1p(-p))


def weighted_mean(y: Array, w: Array) -> float:
    return float(np.sum(w * y) / np.sum(w))


# ---------------------------------------------------------------------- regression
def _squared(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    d = m - y
    return 2.0 * d, np.full_like(d, 2.0)


def _absolute(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    d = m - y
    return np.sign(d), np.zeros_like(d)


def _huber(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    delta = _number(params, "delta", 1.0)
    d = m - y
    inside = np.abs(d) <= delta
    return np.where(inside, d, delta * np.sign(d)), inside.astype(np.float64)


def _smooth_l1(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    beta = _number(params, "beta", 1.0)
    d = m - y
    if beta == 0.0:
        return np.sign(d), np.zeros_like(d)
    inside = np.abs(d) < beta
    return np.where(inside, d / beta, np.sign(d)), inside / beta


def _log_cosh(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    d = m - y
    e = np.exp(-2.0 * np.abs(d))
    return np.tanh(d), 4.0 * e / (1.0 + e) ** 2  # sech²(d), no overflow


def _pinball(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    q = float(np.ravel(params.get("quantiles", 0.5))[0])
    d = y - m
    return np.where(d >= 0, -q, 1.0 - q), np.zeros_like(d)


def _expectile(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    tau = _number(params, "tau", 0.5)
    d = y - m
    weight = np.where(d < 0, 1.0 - tau, tau)
    return -2.0 * weight * d, 2.0 * weight


# ---------------------------------------------------------------------- counts (log link)
def _poisson(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    mu = np.exp(m)
    return mu - y, mu


def _poisson_fisher(y: Array, m: Array, params: Params) -> Array:
    return np.exp(m)


def _tweedie(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    p = _number(params, "power", 1.5)
    a, b = np.exp((2.0 - p) * m), y * np.exp((1.0 - p) * m)  # μ^(2-p), y·μ^(1-p)
    return 2.0 * (a - b), 2.0 * ((2.0 - p) * a - (1.0 - p) * b)


def _tweedie_fisher(y: Array, m: Array, params: Params) -> Array:
    return 2.0 * np.exp((2.0 - _number(params, "power", 1.5)) * m)


# ---------------------------------------------------------------------- binary (logit margin)
def _bce_parts(y: Array, params: Params) -> tuple[Array, float]:
    eps = _number(params, "label_smoothing", 0.0)
    pos_weight = params.get("pos_weight")
    return (1.0 - eps) * y + 0.5 * eps, 1.0 if pos_weight is None else float(pos_weight)


def _bce(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    t, w = _bce_parts(y, params)
    p, q = _sigmoid(m), _sigmoid(-m)
    return (1.0 - t) * p - w * t * q, (w * t + 1.0 - t) * p * q


def _bce_fisher(y: Array, m: Array, params: Params) -> Array:
    _, w = _bce_parts(y, params)  # E over y ~ Bernoulli(p) of (w·y + 1 - y)·p(1 - p)
    p, q = _sigmoid(m), _sigmoid(-m)
    return (w * p + q) * p * q


def _bce_init(y: Array, w: Array, params: Params, num_classes: int) -> float:
    t, pos = _bce_parts(y, params)
    mean = weighted_mean(t, w)
    return _logit(pos * mean / (pos * mean + 1.0 - mean))


def _signs(y: Array) -> Array:
    return np.where(y > 0, 1.0, -1.0)  # a 0 label means -1, as in the loss


def _soft_margin(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    s = _signs(y)
    return -s * _sigmoid(-s * m), _sigmoid(m) * _sigmoid(-m)


def _soft_margin_fisher(y: Array, m: Array, params: Params) -> Array:
    return _sigmoid(m) * _sigmoid(-m)


def _soft_margin_init(y: Array, w: Array, params: Params, num_classes: int) -> float:
    return _logit(weighted_mean((_signs(y) + 1.0) / 2.0, w))


# ---------------------------------------------------------------------- classes (softmax)
def _softmax_parts(y: Array, params: Params) -> tuple[Array, Array]:
    """Smoothed targets and the per-row class weight (from the targets before smoothing)."""
    eps = _number(params, "label_smoothing", 0.0)
    class_weight = params.get("class_weight")
    row_weight = np.ones(y.shape[0]) if class_weight is None else y @ np.asarray(class_weight)
    return (1.0 - eps) * y + eps / y.shape[-1], row_weight[:, None]


def _softmax_ce(y: Array, m: Array, params: Params) -> tuple[Array, Array]:
    t, cw = _softmax_parts(y, params)
    p = _softmax(m)
    return cw * (p - t), cw * p * (1.0 - p)


def _softmax_fisher(y: Array, m: Array, params: Params) -> Array:
    _, h = _softmax_ce(y, m, params)
    return h


def _softmax_full(y: Array, m: Array, params: Params) -> Array:
    _, cw = _softmax_parts(y, params)
    p = _softmax(m)
    return cw[:, :, None] * (p[:, :, None] * np.eye(p.shape[-1]) - p[:, :, None] * p[:, None, :])


def _softmax_init(y: Array, w: Array, params: Params, num_classes: int) -> Array:
    t, cw = _softmax_parts(y, params)
    frequency = np.sum((w[:, None] * cw) * t, axis=0) / np.sum(w[:, None] * cw)
    return np.log(np.maximum(frequency, 1e-15))


def _plain_softmax(params: Params) -> bool:
    return (
        not params.get("z_loss")
        and params.get("softcap") is None
        and params.get("ignore_index") is None
        and _is_number(params.get("label_smoothing"))
    )


_SOFTMAX = ClosedForm(
    _softmax_ce,
    supports=_plain_softmax,
    fisher=_softmax_fisher,
    full=_softmax_full,
    init=_softmax_init,
)

#: The table: registered name → its closed form.
CLOSED_FORMS: dict[str, ClosedForm] = {
    "mean_squared_error": ClosedForm(_squared, fisher=lambda y, m, p: np.full_like(m, 2.0)),
    "mean_absolute_error": ClosedForm(_absolute),
    "huber": ClosedForm(_huber),
    "smooth_l1": ClosedForm(_smooth_l1),
    "log_cosh": ClosedForm(_log_cosh),
    "quantile": ClosedForm(_pinball),
    "expectile": ClosedForm(_expectile),
    "poisson": ClosedForm(_poisson, fisher=_poisson_fisher),
    "poisson_nll": ClosedForm(
        _poisson, supports=lambda p: p.get("log_input", True) is True, fisher=_poisson_fisher
    ),
    "tweedie": ClosedForm(_tweedie, fisher=_tweedie_fisher),
    "binary_crossentropy": ClosedForm(
        _bce,
        supports=lambda p: _is_number(p.get("pos_weight")) and _is_number(p.get("label_smoothing")),
        fisher=_bce_fisher,
        init=_bce_init,
    ),
    "soft_margin": ClosedForm(_soft_margin, fisher=_soft_margin_fisher, init=_soft_margin_init),
    "categorical_crossentropy": _SOFTMAX,
    "sparse_categorical_crossentropy": _SOFTMAX,
    "kl_divergence": ClosedForm(
        _softmax_ce,
        supports=lambda p: p.get("log_target", False) is False,
        fisher=_softmax_fisher,
        full=_softmax_full,
        init=_softmax_init,
    ),
}


def closed_form(name: str, params: Params) -> ClosedForm | None:
    """The closed form of ``name`` for these parameters, or ``None`` (autodiff then)."""
    entry = CLOSED_FORMS.get(name)
    return entry if entry is not None and entry.supports(params) else None
