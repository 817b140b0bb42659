"""Independent float64 reference for the optimal-transport losses (the Sinkhorn divergence).

Written from the definition (Cuturi 2013; Feydy et al. 2019), cloud pair by cloud pair: the
cost ``‖x - y‖^p / p`` from coordinate differences, the entropic plan by plain alternating
log-domain Sinkhorn iterations (no ε-scaling, no averaging) run until its marginals are exact to
rounding, and ``OT_ε`` as ``⟨a, f⟩ + ⟨b, g⟩`` of its potentials, checked against the primal
objective ``⟨π, C⟩ + ε KL(π ‖ a⊗b)`` of its plan.
``REFERENCES[name](inputs, params)`` returns the unreduced loss: ``()`` for two clouds, ``(B,)``
for a batch. The solver settings of the loss (``scaling``, ``diameter``, ``extra_iterations``)
do not change the converged value, so they are accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import logsumexp

Reference = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]

_NEUTRAL = {"sample_weight": None, "mask": None, "normalizer": None, "reduction": "none"}
_SOLVER = ("scaling", "diameter", "extra_iterations")
_MODELLED = ("p", "blur", "debias", "true_weights", "pred_weights")


def entropic_ot(
    x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, p: int, eps: float
) -> float:
    """``OT_ε(α, β)`` of ``α = Σ a_i δ_{x_i}``, ``β = Σ b_j δ_{y_j}`` (weights summing to 1)."""
    cost = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)) ** p / p
    keep = np.outer(a > 0, b > 0)
    log_a = np.log(np.where(a > 0, a, 1.0)) + np.where(a > 0, 0.0, -np.inf)
    log_b = np.log(np.where(b > 0, b, 1.0)) + np.where(b > 0, 0.0, -np.inf)
    f, g = np.zeros(len(a)), np.zeros(len(b))
    settled = 0
    for _ in range(20000):
        before = f
        f = -eps * logsumexp(log_b[None, :] + (g[None, :] - cost) / eps, axis=1)
        g = -eps * logsumexp(log_a[:, None] + (f[:, None] - cost) / eps, axis=0)
        settled = settled + 1 if np.max(np.abs(f - before)) <= 1e-15 * np.max(np.abs(f)) else 0
        if settled == 10:
            break  # a fixed point to rounding: both marginals hold
    log_plan = log_a[:, None] + log_b[None, :] + (f[:, None] + g[None, :] - cost) / eps
    plan = np.where(keep, np.exp(log_plan), 0.0)
    ratio = np.where(keep, (f[:, None] + g[None, :] - cost) / eps, 0.0)  # log(π / (a⊗b))
    primal = float(np.sum(plan * cost) + eps * np.sum(plan * ratio))
    # the same number from the potentials: better conditioned when costs are large (π's
    # rounding, relative (|f| + |g|)·u/ε, multiplies C in the primal sum)
    dual = float(np.sum(a * np.where(a > 0, f, 0.0)) + np.sum(b * np.where(b > 0, g, 0.0)))
    scale = np.sum(plan * np.abs(cost)) + eps
    assert abs(primal - dual) <= 1e-9 * scale * (1.0 + np.max(np.abs(cost)) / eps), (primal, dual)
    return dual


def _weights(w: Any, size: int, batch: int) -> np.ndarray:
    if w is None:
        return np.full((batch, size), 1.0 / size)
    w = np.asarray(w, dtype=float).reshape(batch, size)
    return w / w.sum(axis=1, keepdims=True)


def sinkhorn_divergence(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    for key, value in params.items():
        if key not in _MODELLED + _SOLVER and not (key in _NEUTRAL and value == _NEUTRAL[key]):
            raise NotImplementedError(f"the reference does not model {key}={value!r}")
    y, x = (np.asarray(v, dtype=float) for v in inputs)
    single = x.ndim == 2
    if single:
        x, y = x[None], y[None]
    p, blur = int(params.get("p", 2)), float(params.get("blur", 0.05))
    eps = blur**p
    a = _weights(params.get("pred_weights"), x.shape[1], x.shape[0])
    b = _weights(params.get("true_weights"), y.shape[1], y.shape[0])
    out = []
    for k in range(x.shape[0]):
        value = entropic_ot(x[k], y[k], a[k], b[k], p, eps)
        if params.get("debias", True):
            value -= 0.5 * entropic_ot(x[k], x[k], a[k], a[k], p, eps)
            value -= 0.5 * entropic_ot(y[k], y[k], b[k], b[k], p, eps)
        out.append(value)
    return np.array(out[0] if single else out)


REFERENCES: dict[str, Reference] = {"sinkhorn_divergence": sinkhorn_divergence}
