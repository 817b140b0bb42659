"""Independent float64 NumPy formulas: the truth every backend is measured against.

Written directly from the mathematics (not from losskit's code paths): values and analytic
gradients, with torch's probability-path conventions (logs clamped at -100, slopes bounded by
1e12) where the contract adopts them.
"""

from __future__ import annotations

import numpy as np

LOG_FLOOR = -100.0
SLOPE_FLOOR = 1e-12


def f64(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, f64(x))


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = f64(x)
    return np.exp(-softplus(-x))


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = f64(z)
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return z - m - np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))


# ---------------------------------------------------------------- binary cross-entropy
def bce_logits(y: np.ndarray, z: np.ndarray, pos_weight: float | np.ndarray = 1.0) -> np.ndarray:
    """``-[w y log σ(z) + (1-y) log(1-σ(z))]`` from logits, float64."""
    y, z = f64(y), f64(z)
    return pos_weight * y * softplus(-z) + (1 - y) * softplus(z)


def bce_logits_grad(
    y: np.ndarray, z: np.ndarray, pos_weight: float | np.ndarray = 1.0
) -> np.ndarray:
    y, z = f64(y), f64(z)
    return -pos_weight * y * sigmoid(-z) + (1 - y) * sigmoid(z)


def _clamped_log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(f64(p)), LOG_FLOOR)


def _clamped_log_slope(p: np.ndarray) -> np.ndarray:
    return 1.0 / np.maximum(f64(p), SLOPE_FLOOR)


def bce_probs(y: np.ndarray, p: np.ndarray, pos_weight: float | np.ndarray = 1.0) -> np.ndarray:
    y, p = f64(y), f64(p)
    return -(pos_weight * y * _clamped_log(p) + (1 - y) * _clamped_log(1 - p))


def bce_probs_grad(
    y: np.ndarray, p: np.ndarray, pos_weight: float | np.ndarray = 1.0
) -> np.ndarray:
    y, p = f64(y), f64(p)
    return -pos_weight * y * _clamped_log_slope(p) + (1 - y) * _clamped_log_slope(1 - p)


# ---------------------------------------------------------------- categorical cross-entropy
def smooth(y: np.ndarray, epsilon: float, num_classes: int) -> np.ndarray:
    return (1 - epsilon) * f64(y) + epsilon / num_classes


def cce_logits(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``-Σ_k y_k log softmax(z)_k`` over the last axis, with ``0·log 0 = 0``."""
    y, logp = f64(y), log_softmax(z)
    terms = np.where(y == 0, 0.0, y * np.where(np.isfinite(logp), logp, 0.0))
    return -np.sum(terms, axis=-1)


def cce_logits_grad(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    y = f64(y)
    return np.exp(log_softmax(z)) * np.sum(y, axis=-1, keepdims=True) - y


def cce_probs(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -np.sum(f64(y) * _clamped_log(p), axis=-1)


def cce_probs_grad(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -f64(y) * _clamped_log_slope(p)


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return (np.asarray(labels)[..., None] == np.arange(num_classes)).astype(np.float64)


# ---------------------------------------------------------------- regression
def squared_error(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return (f64(p) - f64(y)) ** 2


def squared_error_grad(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return 2 * (f64(p) - f64(y))


# ---------------------------------------------------------------- reduction contract
def reduce(
    loss: np.ndarray,
    reduction: str = "mean",
    weight: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    normalizer: float | None = None,
) -> np.ndarray:
    """The contract's reductions, written out in float64 (weights already expanded)."""
    loss = f64(loss)
    w = np.ones_like(loss) if weight is None else np.broadcast_to(f64(weight), loss.shape)
    v = np.ones(loss.shape, bool) if valid is None else np.broadcast_to(valid, loss.shape)
    contributions = np.where(v, w * np.where(v, loss, 0.0), 0.0)
    if reduction == "none":
        return contributions
    total = contributions.sum()
    if reduction == "sum":
        return total
    if normalizer is not None:
        denominator = float(normalizer)
    elif reduction == "sum_over_batch_size" or weight is None:
        denominator = float(v.sum())
    else:
        denominator = float(np.where(v, w, 0.0).sum())
    return np.float64(0.0) if denominator == 0 else total / denominator
