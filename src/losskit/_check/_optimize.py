"""Small vectorised minimisers in NumPy (no SciPy: it is not a runtime dependency).

Every routine minimises *many independent problems at once*: the objective receives one
candidate per problem (or several) and returns their values, so that a loss is evaluated on one
batch per iteration instead of once per point.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Objective = Callable[[np.ndarray], np.ndarray]

_INVPHI = (math.sqrt(5.0) - 1.0) / 2.0


def _clean(values: np.ndarray) -> np.ndarray:
    """NaN counts as +inf: a point where the loss is undefined is never a minimiser."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), np.inf, values)


def golden(fun: Objective, lo: np.ndarray, hi: np.ndarray, iters: int = 40) -> np.ndarray:
    """Golden-section search on ``[lo, hi]`` for each problem; ``fun(x)`` maps ``(P,) → (P,)``.

    >>> import numpy as np
    >>> x = golden(lambda x: (x - np.array([0.25, 0.7])) ** 2, np.zeros(2), np.ones(2))
    >>> np.round(x, 6).tolist()
    [0.25, 0.7]
    """
    a = np.asarray(lo, dtype=np.float64).copy()
    b = np.asarray(hi, dtype=np.float64).copy()
    c = b - _INVPHI * (b - a)
    d = a + _INVPHI * (b - a)
    fc, fd = _clean(fun(c)), _clean(fun(d))
    for _ in range(iters):
        left = fc <= fd  # the minimum lies in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        keep_x = np.where(left, c, d)
        keep_f = np.where(left, fc, fd)
        new_x = np.where(left, b - _INVPHI * (b - a), a + _INVPHI * (b - a))
        new_f = _clean(fun(new_x))
        c = np.where(left, new_x, keep_x)
        fc = np.where(left, new_f, keep_f)
        d = np.where(left, keep_x, new_x)
        fd = np.where(left, keep_f, new_f)
    return np.where(fc <= fd, c, d)


def grid_then_golden(
    fun: Objective, grid: np.ndarray, values: np.ndarray, iters: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Refine the best grid point of each problem by golden section in its neighbouring cells.

    ``values`` is ``(P, G)``: problem ``p`` at ``grid[g]``; ``fun`` maps ``(P,) → (P,)``. Returns
    the minimisers and their values. The refinement is kept only where it improves on the grid.
    """
    values = _clean(values)
    best = np.argmin(values, axis=1)
    lo = grid[np.maximum(best - 1, 0)]
    hi = grid[np.minimum(best + 1, len(grid) - 1)]
    x = golden(fun, lo, hi, iters)
    fx = _clean(fun(x))
    grid_x = grid[best]
    grid_f = values[np.arange(len(best)), best]
    better = fx < grid_f
    return np.where(better, x, grid_x), np.where(better, fx, grid_f)


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row (last axis) onto the probability simplex.

    >>> project_simplex(np.array([[0.5, 0.5, 0.5], [2.0, 0.0, -1.0]])).round(6).tolist()
    [[0.333333, 0.333333, 0.333333], [1.0, 0.0, 0.0]]
    """
    v = np.asarray(v, dtype=np.float64)
    k = v.shape[-1]
    u = -np.sort(-v, axis=-1)
    css = np.cumsum(u, axis=-1) - 1.0
    index = np.arange(1, k + 1)
    cond = u - css / index > 0
    rho = k - 1 - np.argmax(cond[..., ::-1], axis=-1)
    theta = np.take_along_axis(css, rho[..., None], axis=-1) / (rho[..., None] + 1.0)
    return np.maximum(v - theta, 0.0)


def simplex_grid(k: int, resolution: int) -> np.ndarray:
    """Every point of the ``k``-simplex whose coordinates are multiples of ``1/resolution``.

    >>> simplex_grid(3, 2).tolist()[:3]
    [[0.0, 0.0, 1.0], [0.0, 0.5, 0.5], [0.0, 1.0, 0.0]]
    >>> len(simplex_grid(3, 30))
    496
    """
    counts = [[resolution]] if k == 1 else []
    if k > 1:
        for first in range(resolution + 1):
            rest = simplex_grid(k - 1, resolution - first) * max(resolution - first, 0)
            counts.extend([first, *np.rint(row).astype(int).tolist()] for row in rest)
    return np.asarray(counts, dtype=np.float64) / max(resolution, 1)


def compass(
    fun: Objective,
    x0: np.ndarray,
    directions: np.ndarray,
    step: float,
    *,
    project: Callable[[np.ndarray], np.ndarray] | None = None,
    min_step: float = 1e-9,
    iters: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Compass (pattern) search for ``P`` problems at once.

    ``fun`` maps points ``(P, M, d)`` to values ``(P, M)``; ``x0`` is ``(P, d)``; each iteration
    tries ``x ± step·direction`` (projected by ``project``), moves to the best improvement, or
    halves the problem's step. Derivative-free, so kinks (hinge, absolute values) are fine.

    >>> import numpy as np
    >>> target = np.array([[0.3, -1.2]])
    >>> f = lambda x: ((x - target[:, None, :]) ** 2).sum(-1)
    >>> x, _ = compass(f, np.zeros((1, 2)), np.eye(2), 1.0)
    >>> np.round(x, 6).tolist()
    [[0.3, -1.2]]
    """
    x = np.asarray(x0, dtype=np.float64).copy()
    moves = np.concatenate([directions, -directions])
    fx = _clean(fun(x[:, None, :]))[:, 0]
    steps = np.full(len(x), float(step))
    for _ in range(iters):
        active = steps >= min_step
        if not active.any():
            break
        cand = x[:, None, :] + steps[:, None, None] * moves[None, :, :]
        if project is not None:
            cand = project(cand)
        fc = _clean(fun(cand))
        pick = np.argmin(fc, axis=1)
        best_f = fc[np.arange(len(x)), pick]
        improve = active & (best_f < fx - 1e-15 * (1.0 + np.abs(fx)))
        x = np.where(improve[:, None], cand[np.arange(len(x)), pick], x)
        fx = np.where(improve, best_f, fx)
        steps = np.where(improve | ~active, steps, steps / 2.0)
    return x, fx
