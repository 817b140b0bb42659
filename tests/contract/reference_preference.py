"""Independent float64 references for the preference-optimisation losses (DPO and its variants,
KTO, ORPO, SimPO, CPO).

Each is the papers' formula written literally — ``log σ(x) = log(1 / (1 + e^{-x}))``,
``1 - σ(x)``, ``log(p / (1 - p))`` with ``p = e^{c}`` — and evaluated elementwise in ``mpmath``
with enough digits that nothing cancels: 40 significant digits beyond the largest exponent the
element reaches (so ``1 - σ(2000)`` keeps its e^{-2000}), then rounded to float64. Nothing here
calls losskit or mirrors its stable forms.

``REFERENCES[name](inputs, params)`` takes the loss's positional inputs and keyword options and
returns the unreduced loss (``reduction="none"``); an option it does not model raises
``NotImplementedError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np

from reference_pointwise import _options

Reference = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]
REFERENCES: dict[str, Reference] = {}

DIGITS = 40
#: TRL's default DiscoPOP temperature (``DPOConfig.discopop_tau``).
DISCOPOP_TAU = 0.05


def _register(name: str) -> Callable[[Reference], Reference]:
    def add(function: Reference) -> Reference:
        REFERENCES[name] = function
        return function

    return add


def _elementwise(
    function: Callable[..., Any], arrays: list[np.ndarray], reach: float
) -> np.ndarray:
    """``function`` of each element (broadcast), in mpmath, rounded to float64. ``reach``
    bounds the largest exponent per unit of ``Σ|inputs|``: the precision is 40 digits beyond
    ``reach · Σ|inputs|`` (natural-log units)."""
    broadcast = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arrays))
    out = np.empty(broadcast[0].shape)
    for index in np.ndindex(out.shape):
        values = [float(a[index]) for a in broadcast]
        exponent = (1.0 + reach) * sum(abs(v) for v in values)
        with mpmath.workdps(DIGITS + math.ceil(exponent / math.log(10.0))):
            out[index] = float(function(*(mpmath.mpf(v) for v in values)))
    return out


def sigma(x: Any) -> Any:
    return 1 / (1 + mpmath.exp(-x))


def log_sigma(x: Any) -> Any:
    return mpmath.log(1 / (1 + mpmath.exp(-x)))


def smoothed(z: Any, epsilon: float) -> Any:
    """``-(1 - ε) log σ(z) - ε log σ(-z)``."""
    return -(1 - mpmath.mpf(epsilon)) * log_sigma(z) - mpmath.mpf(epsilon) * log_sigma(-z)


# ---------------------------------------------------------------------- DPO
def dpo_element(
    c: Any, r: Any, ref_c: Any, ref_r: Any, beta: float, variant: str, epsilon: float
) -> Any:
    """One pair's DPO loss, from the log-ratios ``c' = c - c_ref``, ``r' = r - r_ref``."""
    beta, eps = mpmath.mpf(beta), mpmath.mpf(epsilon)
    chosen, rejected = c - ref_c, r - ref_r
    delta = chosen - rejected
    h = beta * delta
    if variant == "sigmoid":
        return smoothed(h, epsilon)
    if variant == "robust":
        return (-(1 - eps) * log_sigma(h) + eps * log_sigma(-h)) / (1 - 2 * eps)
    if variant == "hinge":
        return max(mpmath.mpf(0), 1 - h)
    if variant == "ipo":
        return (delta - 1 / (2 * beta)) ** 2
    if variant == "exo_pair":
        q = sigma(h)  # the policy's probability that the chosen completion wins
        return q * mpmath.log(q / (1 - eps)) + (1 - q) * mpmath.log((1 - q) / eps)
    if variant == "nca_pair":
        return (
            -log_sigma(beta * chosen)
            - log_sigma(-beta * chosen) / 2
            - log_sigma(-beta * rejected) / 2
        )
    if variant == "bco_pair":
        return -log_sigma(beta * chosen) - log_sigma(-beta * rejected)
    if variant == "sppo_hard":
        return (chosen - 1 / (2 * beta)) ** 2 + (rejected + 1 / (2 * beta)) ** 2
    if variant == "apo_zero":
        return 1 - sigma(beta * chosen) + sigma(beta * rejected)
    if variant == "apo_down":
        return sigma(beta * chosen) + 1 - sigma(h)
    if variant == "discopop":
        tau = mpmath.mpf(DISCOPOP_TAU)
        modulation = sigma(h / tau)
        return -log_sigma(h) * (1 - modulation) + mpmath.exp(-h) * modulation
    raise NotImplementedError(f"the reference does not model variant={variant!r}")


@_register("dpo")
def dpo(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = _options(params, beta=0.1, variant="sigmoid", label_smoothing=0.0)
    reach = o["beta"] * (1.0 / DISCOPOP_TAU if o["variant"] == "discopop" else 1.0)

    def element(c: Any, r: Any, ref_c: Any, ref_r: Any) -> Any:
        return dpo_element(c, r, ref_c, ref_r, o["beta"], o["variant"], o["label_smoothing"])

    return _elementwise(element, list(inputs[:4]), reach)


# ---------------------------------------------------------------------- KTO
@_register("kto")
def kto(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """Desirable items ``λ_D (1 - σ(β(c' - z)))``, then undesirable ``λ_U (1 - σ(β(z - r')))``,
    with ``z = max(kl, 0)``."""
    o = _options(params, kl=None, beta=0.1, desirable_weight=1.0, undesirable_weight=1.0)
    if o["kl"] is None:
        raise NotImplementedError("kto needs kl")
    z = max(float(np.asarray(o["kl"], dtype=np.float64)), 0.0)
    beta = o["beta"]
    c, r, ref_c, ref_r = (np.asarray(x, dtype=np.float64) for x in inputs[:4])

    def chosen(x: Any, ref: Any) -> Any:
        return o["desirable_weight"] * (1 - sigma(beta * ((x - ref) - z)))

    def rejected(x: Any, ref: Any) -> Any:
        return o["undesirable_weight"] * (1 - sigma(beta * (z - (x - ref))))

    reach = beta * (1.0 + z)
    return np.concatenate(
        [
            _elementwise(chosen, [c, ref_c], reach).reshape(-1),
            _elementwise(rejected, [r, ref_r], reach).reshape(-1),
        ]
    )


# ---------------------------------------------------------------------- ORPO, SimPO, CPO
def log_odds(logp: Any) -> Any:
    """``log(p / (1 - p))`` with ``p = e^{log p}``."""
    p = mpmath.exp(logp)
    return mpmath.log(p / (1 - p))


@_register("orpo")
def orpo(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-β log σ(log odds(chosen) - log odds(rejected))``, odds of the average token."""
    o = _options(params, beta=0.1)

    def element(c: Any, r: Any) -> Any:
        return -mpmath.mpf(o["beta"]) * log_sigma(log_odds(c) - log_odds(r))

    return _elementwise(element, list(inputs[:2]), 1.0)


@_register("simpo")
def simpo(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``-(1-ε) log σ(β c - β r - γ) - ε log σ(-(β c - β r - γ))`` with ``γ = β·ratio``."""
    o = _options(params, beta=2.0, gamma_beta_ratio=0.5, label_smoothing=0.0)
    beta = mpmath.mpf(o["beta"])

    def element(c: Any, r: Any) -> Any:
        gamma = beta * mpmath.mpf(o["gamma_beta_ratio"])
        return smoothed(beta * c - beta * r - gamma, o["label_smoothing"])

    return _elementwise(element, list(inputs[:2]), o["beta"] * (1.0 + abs(o["gamma_beta_ratio"])))


@_register("cpo")
def cpo(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """CPO's preference term on ``δ = c - r``: sigmoid (conservative with ε), hinge or IPO."""
    o = _options(params, beta=0.1, variant="sigmoid", label_smoothing=0.0)
    beta = mpmath.mpf(o["beta"])

    def element(c: Any, r: Any) -> Any:
        delta = c - r
        if o["variant"] == "sigmoid":
            return smoothed(beta * delta, o["label_smoothing"])
        if o["variant"] == "hinge":
            return max(mpmath.mpf(0), 1 - beta * delta)
        if o["variant"] == "ipo":
            return (delta - 1 / (2 * beta)) ** 2
        raise NotImplementedError(f"the reference does not model variant={o['variant']!r}")

    return _elementwise(element, list(inputs[:2]), o["beta"])
