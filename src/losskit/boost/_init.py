"""The constant margin that minimises a loss on the training targets (``init_score``).

In order: the closed form's own rule (cross-entropies with weights or smoothing, ±1 labels);
then what the registry says the loss elicits — the mean (through the response: ``log`` of the
mean for a log link), the median, a quantile, or, for a proper scoring rule, the class
frequencies; otherwise a numerical minimisation of the weighted mean loss itself (a grid over the
targets' range, then golden-section search; for class losses, Newton steps from the class
frequencies with a line search, then Nelder-Mead from there and from the frequencies when
SciPy is installed — the losses that reach this are non-smooth or non-convex — with every class
margin kept within ±35).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._closed import ClosedForm, weighted_mean
from ._spec import Spec

_TINY = 1e-15
#: Class margins stay in [-BOX, BOX]: probabilities down to 1e-30, and a finite start for the
#: losses whose infimum lies at infinity (a class pushed to probability 0).
_BOX = 35.0
_GRID = 65
_GOLDEN_STEPS = 80


def init_score(
    spec: Spec,
    closed: ClosedForm | None,
    labels: np.ndarray,
    weights: np.ndarray,
    num_classes: int,
    derivatives: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> Any:
    """A float margin (elementwise losses) or a ``(K,)`` array of class margins."""
    targets = spec.targets_for(labels, num_classes)
    if closed is not None and closed.init is not None:
        if spec.structure == "class" and spec.targets == "labels":
            targets = np.eye(num_classes)[targets]
        return closed.init(targets, weights, spec.settings, num_classes)
    by_registry = _elicited(spec, labels, weights, num_classes)
    if by_registry is not None:
        return by_registry
    if spec.structure == "class":
        start = _log_frequencies(labels, weights, num_classes)
        return _minimise_classes(spec, labels, weights, start, derivatives)
    return _minimise_scalar(lambda c: _mean_loss(spec, labels, weights, c), _bracket(spec, labels))


def weighted_quantile(y: np.ndarray, w: np.ndarray, q: float) -> float:
    """A minimiser of ``Σ w·ρ_q(y - c)``: the first sorted ``y`` whose cumulative weight reaches
    ``q`` of the total."""
    order = np.argsort(y, kind="stable")
    cumulative = np.cumsum(w[order])
    index = int(np.searchsorted(cumulative, q * cumulative[-1], side="left"))
    return float(y[order][min(index, len(y) - 1)])


def _elicited(spec: Spec, labels: np.ndarray, weights: np.ndarray, num_classes: int) -> Any:
    elicits = spec.properties.get("elicits")
    if spec.structure == "elementwise" and elicits == "mean":
        mean = weighted_mean(labels, weights)
        if spec.response == "exp":
            return math.log(max(mean, _TINY))
        return mean if spec.response == "identity" else None
    if spec.structure == "elementwise" and spec.response == "identity":
        if elicits == "median":
            return weighted_quantile(labels, weights, 0.5)
        if elicits == "quantile":
            return weighted_quantile(
                labels, weights, float(np.ravel(spec.settings["quantiles"])[0])
            )
    if spec.properties.get("proper") is True:
        if spec.structure == "elementwise" and spec.response == "sigmoid":
            mean = min(max(weighted_mean(labels, weights), _TINY), 1.0 - _TINY)
            return math.log(mean) - math.log1p(-mean)
        if spec.structure == "class" and spec.response == "softmax":
            return _log_frequencies(labels, weights, num_classes)
    return None


def _log_frequencies(labels: np.ndarray, weights: np.ndarray, num_classes: int) -> np.ndarray:
    index = np.rint(labels).astype(np.int64)
    counts = np.bincount(index, weights=weights, minlength=num_classes)
    return np.log(np.maximum(counts / np.sum(weights), _TINY))


def _mean_loss(spec: Spec, labels: np.ndarray, weights: np.ndarray, margin: Any) -> float:
    shape = labels.shape + np.shape(margin)
    losses = spec.losses(
        labels, np.broadcast_to(np.asarray(margin, dtype=np.float64), shape).copy()
    )
    return float(np.sum(weights * losses) / np.sum(weights))


def _bracket(spec: Spec, labels: np.ndarray) -> tuple[float, float]:
    """A margin interval that holds the minimiser: the targets' range through the inverse
    response, widened by its own width and 1 on each side."""
    if spec.response == "sigmoid":
        return -30.0, 30.0
    low, high = float(np.min(labels)), float(np.max(labels))
    if spec.response == "exp":
        low, high = math.log(max(low, 1e-12)), math.log(max(high, 1e-12))
    width = high - low
    return low - width - 1.0, high + width + 1.0


def _minimise_scalar(f: Callable[[float], float], bracket: tuple[float, float]) -> float:
    grid = np.linspace(bracket[0], bracket[1], _GRID)
    values = [f(float(c)) for c in grid]
    best = int(np.nanargmin(values))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, _GRID - 1)]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(_GOLDEN_STEPS):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    candidates = [(values[best], float(grid[best])), (fc, c), (fd, d)]
    return float(min(candidates)[1])


def _minimise_classes(
    spec: Spec,
    labels: np.ndarray,
    weights: np.ndarray,
    start: np.ndarray,
    derivatives: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Diagonal Newton steps (Hessian floored at 1e-3) on the weighted mean loss, halved until
    the loss decreases; stops when the gradient vanishes or a step no longer helps; then
    :func:`_polish`."""
    total = np.sum(weights)

    def value(c: np.ndarray) -> float:
        return _mean_loss(spec, labels, weights, c)

    c, current = start.copy(), value(start)
    for _ in range(50):
        g, h = derivatives(labels, np.broadcast_to(c, labels.shape + c.shape).copy())
        g = np.sum(weights[:, None] * g, axis=0) / total
        h = np.sum(weights[:, None] * h, axis=0) / total
        if np.max(np.abs(g)) < 1e-12:
            break
        step = np.clip(c - g / np.maximum(h, 1e-3), -_BOX, _BOX) - c
        for _ in range(40):
            trial = value(c + step)
            if trial < current:
                break
            step = step / 2.0
        else:
            break
        c, previous, current = c + step, current, trial
        if previous - current <= 1e-13 * (1.0 + abs(current)):
            break
    return _polish(value, [c, np.clip(start, -_BOX, _BOX)])


def _polish(value: Callable[[np.ndarray], float], starts: list[np.ndarray]) -> np.ndarray:
    """The best of ``starts`` and of Nelder-Mead runs from each, inside the box (SciPy, when
    installed)."""
    try:
        from scipy.optimize import minimize
    except ImportError:
        return starts[0]
    options = {"xatol": 1e-10, "fatol": 1e-14, "maxiter": 200 * starts[0].size}
    bounds = [(-_BOX, _BOX)] * starts[0].size

    def search(x: np.ndarray) -> Any:
        return minimize(value, x, method="Nelder-Mead", bounds=bounds, options=options)

    found = [(value(x), x) for x in starts]
    for x in starts:
        result = search(x)
        found.append((float(result.fun), np.asarray(result.x)))
    best = min(found, key=lambda pair: pair[0])
    for _ in range(2):  # restarts: a fresh simplex gets off a kink the old one shrank onto
        result = search(best[1])
        if not result.fun < best[0]:
            break
        best = (float(result.fun), np.asarray(result.x))
    return best[1]
