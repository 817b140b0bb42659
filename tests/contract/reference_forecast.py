"""Independent references for the forecast scores: quantile sets, multivariate ensembles and the
threshold-weighted CRPS, in ``mpmath`` at 40 digits, one example at a time.

Each is written from the score's definition, never from losskit's code: the multi-quantile loss
in the ``(1 - q)(ŷ - y)₊ + q(y - ŷ)₊`` form; the energy and variogram scores as the double sums
over members of their papers (the fair variogram score as the two expectations of Scheuerer &
Hamill, not its variance form); the threshold-weighted CRPS of ``"nrg"`` as the integral
``∫_a^b (F(z) - 1{y ≤ z})² dz`` of the ensemble's step CDF (Gneiting & Ranjan 2011), so the
chaining-function form losskit uses is checked against the integral it stands for.

``REFERENCES[name](inputs, params)`` returns the unreduced loss (the shape of
``reduction="none"``); an option a reference does not model raises ``NotImplementedError``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np

Reference = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]

REFERENCES: dict[str, Reference] = {}
DIGITS = 40
_NEUTRAL: dict[str, Any] = {"sample_weight": None, "mask": None, "normalizer": None}


def _register(name: str) -> Callable[[Reference], Reference]:
    def add(function: Reference) -> Reference:
        REFERENCES[name] = function
        return function

    return add


def _options(params: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in params.items():
        if key in defaults:
            merged[key] = value
        elif (key in _NEUTRAL and value is None) or (key == "reduction" and value == "none"):
            continue
        else:
            raise NotImplementedError(f"the reference does not model {key}={value!r}")
    return merged


def _mp(values: Any) -> list[Any]:
    return [mpmath.mpf(float(v)) for v in np.ravel(values)]


def _per_example(shape: tuple[int, ...], score: Callable[[tuple[int, ...]], Any]) -> np.ndarray:
    out = np.empty(shape, dtype=np.float64)
    with mpmath.workdps(DIGITS):
        for index in np.ndindex(shape):
            out[index] = float(score(index))
    return out


# ---------------------------------------------------------------------- quantiles
def multi_quantile_row(y: Any, predicted: list[Any], levels: list[float], o: dict[str, Any]) -> Any:
    """``(1/K) Σ_k [(1 - q_k)(ŷ_k - y)₊ + q_k (y - ŷ_k)₊]`` (+ ``λ Σ_k (ŷ_k - ŷ_{k+1})₊``)."""
    scored = sorted(predicted) if o["monotone"] == "sort" else predicted
    total = mpmath.mpf(0)
    for value, level in zip(scored, levels, strict=True):
        q = mpmath.mpf(level)
        total += (1 - q) * max(value - y, 0) + q * max(y - value, 0)
    loss = total / len(levels)
    if o["monotone"] == "penalty":
        crossings = [max(a - b, 0) for a, b in itertools.pairwise(predicted)]
        loss += mpmath.mpf(o["penalty_weight"]) * mpmath.fsum(crossings)
    return loss


@_register("multi_quantile")
def multi_quantile(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = _options(params, quantiles=(0.1, 0.5, 0.9), monotone=None, penalty_weight=1.0)
    predicted = np.asarray(inputs[1], dtype=np.float64)
    y = np.broadcast_to(np.asarray(inputs[0], dtype=np.float64), predicted.shape[:-1])
    levels = [float(q) for q in np.ravel(o["quantiles"])]
    return _per_example(
        y.shape,
        lambda i: multi_quantile_row(mpmath.mpf(float(y[i])), _mp(predicted[i]), levels, o),
    )


# ---------------------------------------------------------------------- multivariate ensembles
def _members_last(
    inputs: list[np.ndarray], m_axis: int, v_axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """Observation ``(..., V)`` and members ``(..., M, V)`` from the loss's layout."""
    x = np.asarray(inputs[1], dtype=np.float64)
    m, v = m_axis % x.ndim, v_axis % x.ndim
    y = np.asarray(inputs[0], dtype=np.float64)
    y = np.expand_dims(y, m) if y.ndim == x.ndim - 1 else y
    y = np.moveaxis(y, (m, v), (-2, -1))[..., 0, :]
    return y, np.moveaxis(x, (m, v), (-2, -1))


def distance(a: list[Any], b: list[Any]) -> Any:
    return mpmath.sqrt(mpmath.fsum((p - q) ** 2 for p, q in zip(a, b, strict=True)))


def energy_row(y: list[Any], x: list[list[Any]], estimator: str) -> Any:
    """``(1/M) Σ ||x_m - y|| - ½ · spread``, the spread over all ``M²`` ordered pairs (``"nrg"``),
    the ``M(M-1)`` distinct ones (``"fair"``), or the ``M`` pairs ``(x_m, x_{m-s})`` (AKR)."""
    size = len(x)
    error = mpmath.fsum(distance(member, y) for member in x) / size
    if estimator in ("akr", "akr_circperm"):
        shift = 1 if estimator == "akr" else size // 2
        spread = mpmath.fsum(distance(x[m], x[(m - shift) % size]) for m in range(size)) / size
    else:
        pairs = size * (size - 1) if estimator == "fair" else size * size
        spread = mpmath.fsum(distance(a, b) for a in x for b in x) / pairs
    return error - spread / 2


@_register("energy_score")
def energy_score(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = _options(params, m_axis=-2, v_axis=-1, estimator="nrg")
    y, x = _members_last(inputs, o["m_axis"], o["v_axis"])
    return _per_example(
        y.shape[:-1],
        lambda i: energy_row(_mp(y[i]), [_mp(m) for m in x[i]], o["estimator"]),
    )


def variogram_row(y: list[Any], x: list[list[Any]], w: np.ndarray, p: float, estimator: str) -> Any:
    """Scheuerer & Hamill's score over ordered pairs ``(i, j)``: ``"nrg"`` compares the observed
    ``|y_i - y_j|^p`` with the members' mean; ``"fair"`` is ``E|γ(X) - γ(y)|² - ½E|γ(X) -
    γ(X')|²`` over members and distinct pairs of members."""
    power = mpmath.mpf(p)
    size, count = len(x), len(y)

    def gamma(v: list[Any], i: int, j: int) -> Any:
        return abs(v[i] - v[j]) ** power if v[i] != v[j] else mpmath.mpf(0)

    total = mpmath.mpf(0)
    for i in range(count):
        for j in range(count):
            weight = mpmath.mpf(float(w[i, j]))
            observed = gamma(y, i, j)
            members = [gamma(m, i, j) for m in x]
            if estimator == "nrg":
                total += weight * (observed - mpmath.fsum(members) / size) ** 2
                continue
            first = mpmath.fsum((g - observed) ** 2 for g in members) / size
            second = mpmath.fsum((g - h) ** 2 for g in members for h in members)
            total += weight * (first - second / (2 * size * (size - 1)))
    return total


@_register("variogram_score")
def variogram_score(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = _options(params, w=None, m_axis=-2, v_axis=-1, p=0.5, estimator="nrg")
    y, x = _members_last(inputs, o["m_axis"], o["v_axis"])
    count = y.shape[-1]
    w = np.ones((count, count)) if o["w"] is None else np.asarray(o["w"], dtype=np.float64)
    w = np.broadcast_to(w, (*y.shape[:-1], count, count))
    return _per_example(
        y.shape[:-1],
        lambda i: variogram_row(_mp(y[i]), [_mp(m) for m in x[i]], w[i], o["p"], o["estimator"]),
    )


# ---------------------------------------------------------------------- threshold-weighted CRPS
def twcrps_integral(y: Any, x: list[Any], a: float, b: float) -> Any:
    """``∫_a^b (F(z) - 1{y ≤ z})² dz`` for the step CDF ``F`` of the members: exact, piece by
    piece between the sorted breakpoints (outside every breakpoint the integrand is 0)."""
    low, high = mpmath.mpf(a), mpmath.mpf(b)
    points = sorted({*x, y})
    lower = max(low, points[0]) if low != -mpmath.inf else points[0]
    upper = min(high, points[-1]) if high != mpmath.inf else points[-1]
    if lower >= upper:
        return mpmath.mpf(0)
    cuts = sorted({lower, upper, *(p for p in points if lower < p < upper)})
    total = mpmath.mpf(0)
    for left, right in itertools.pairwise(cuts):
        middle = (left + right) / 2
        cdf = mpmath.mpf(sum(1 for v in x if v <= middle)) / len(x)
        step = 1 if y <= middle else 0
        total += (cdf - step) ** 2 * (right - left)
    return total


def twcrps_fair(y: Any, x: list[Any], a: float, b: float) -> Any:
    """The fair kernel form on the chained values ``v(z) = min(max(z, a), b)``."""
    low, high = mpmath.mpf(a), mpmath.mpf(b)

    def chain(z: Any) -> Any:
        return min(max(z, low), high)

    vy, vx = chain(y), [chain(v) for v in x]
    size = len(x)
    error = mpmath.fsum(abs(v - vy) for v in vx) / size
    spread = mpmath.fsum(abs(p - q) for p in vx for q in vx)
    return error - spread / (2 * size * (size - 1))


@_register("twcrps_ensemble")
def twcrps_ensemble(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = _options(params, a=-np.inf, b=np.inf, axis=-1, estimator="nrg")
    x = np.moveaxis(np.asarray(inputs[1], dtype=np.float64), o["axis"], -1)
    y = np.asarray(inputs[0], dtype=np.float64)
    if y.ndim == x.ndim:
        y = np.squeeze(np.moveaxis(y, o["axis"], -1), -1)
    y = np.broadcast_to(y, x.shape[:-1])
    score = twcrps_fair if o["estimator"] in ("fair", "pwm") else twcrps_integral
    return _per_example(
        y.shape, lambda i: score(mpmath.mpf(float(y[i])), _mp(x[i]), o["a"], o["b"])
    )
