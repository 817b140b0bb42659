"""Every registered loss that can be an objective, against references independent of the
objective's code: its gradient and Hessian diagonal against float64 central finite differences
of the public loss itself (on each autodiff engine), and its ``init_score`` against
scipy.optimize on the loss's weighted mean.
"""

from __future__ import annotations

import numpy as np
import pytest

from boost_data import (
    ELIGIBLE,
    EXP_LINK,
    K,
    N,
    is_class_loss,
    make,
    row_losses,
    sample,
)
from losskit.boost import _autodiff


@pytest.fixture(params=["torch", "jax"])
def engine(request, monkeypatch):
    """The autodiff engine objectives without a closed form use (skipped when missing)."""
    pytest.importorskip(request.param)
    monkeypatch.setattr(_autodiff, "ENGINES", (request.param,))
    return request.param


def finite_differences(name, labels, margins, step):
    """Central differences of the rows' losses: gradient and Hessian diagonal."""
    columns = range(margins.shape[1]) if margins.ndim == 2 else [None]
    g, h = np.zeros_like(margins), np.zeros_like(margins)
    here = row_losses(name, labels, margins)
    for c in columns:
        e = np.zeros_like(margins)
        if c is None:
            e[:] = step
        else:
            e[:, c] = step
        up, down = row_losses(name, labels, margins + e), row_losses(name, labels, margins - e)
        g[..., slice(None) if c is None else c] = (up - down) / (2 * step)
        h[..., slice(None) if c is None else c] = (up - 2 * here + down) / step**2
    return g, h


def smooth_agreement(ours, coarse, fine, rtol):
    """Where two step sizes agree (away from kinks), ``ours`` must match; returns how many
    entries were compared."""
    scale = 1.0 + np.abs(fine)
    smooth = np.abs(coarse - fine) <= rtol * scale
    np.testing.assert_allclose(ours[smooth], fine[smooth], rtol=rtol * 10, atol=rtol * 10)
    return int(np.sum(smooth))


@pytest.mark.parametrize("name", ELIGIBLE)
def test_gradient_and_hessian_match_finite_differences_of_the_loss(name, engine):
    obj = make(name)
    if obj.closed_form and engine == "jax":
        pytest.skip("closed form: no autodiff engine involved")
    labels, margins = sample(name, np.random.default_rng(7))
    g, h = obj.grad_hess(labels, margins)
    assert g.shape == h.shape == margins.shape and g.dtype == h.dtype == np.float64
    g1, _ = finite_differences(name, labels, margins, 1e-5)
    g2, _ = finite_differences(name, labels, margins, 2e-5)
    _, h1 = finite_differences(name, labels, margins, 1e-3)
    _, h2 = finite_differences(name, labels, margins, 2e-3)
    assert smooth_agreement(g, g2, g1, 1e-6) >= g.size // 2
    assert smooth_agreement(h, h2, h1, 1e-4) >= h.size // 2


# ---------------------------------------------------------------------- starting constants
def brute_force_constant(name, labels, weights, bracket):
    from scipy.optimize import minimize_scalar

    def mean_loss(c):
        return float(
            np.average(row_losses(name, labels, np.full(labels.shape, c)), weights=weights)
        )

    grid = np.linspace(*bracket, 4001)
    values = [mean_loss(c) for c in grid]
    best = grid[int(np.argmin(values))]
    step = grid[1] - grid[0]
    refined = minimize_scalar(
        mean_loss, bounds=(best - step, best + step), method="bounded", options={"xatol": 1e-12}
    )
    return min([*values, refined.fun]), mean_loss


def brute_force_classes(name, labels, weights, start):
    from scipy.optimize import minimize

    def mean_loss(c):
        margins = np.broadcast_to(c, (len(labels), K)).copy()
        return float(np.average(row_losses(name, labels, margins), weights=weights))

    # margins within ±35 (the objective's box: some of these losses are least at infinity)
    results = [
        minimize(
            mean_loss,
            x0,
            method="Nelder-Mead",
            bounds=[(-35, 35)] * K,
            options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000},
        )
        for x0 in (np.zeros(K), np.arange(K) * 0.5)
    ]
    return min(r.fun for r in results), mean_loss


@pytest.mark.parametrize("name", ELIGIBLE)
def test_init_score_minimises_the_weighted_mean_loss(name):
    pytest.importorskip("scipy")
    rng = np.random.default_rng(21)
    labels, _ = sample(name, rng)
    weights = rng.uniform(0.2, 2.0, N)
    obj = make(name)
    if is_class_loss(name):
        start = obj.init_score(labels, weights, num_classes=K)
        assert start.shape == (K,)
        best, mean_loss = brute_force_classes(name, labels, weights, start)
    else:
        start = obj.init_score(labels, weights)
        assert isinstance(start, float)
        bracket = (-12.0, 6.0) if name in EXP_LINK else (labels.min() - 4, labels.max() + 4)
        best, mean_loss = brute_force_constant(name, labels, weights, bracket)
    # Nelder-Mead stops within ~1e-8 of a kink of the piecewise-linear class losses
    tolerance = 1e-7 if is_class_loss(name) else 1e-9
    assert mean_loss(start) <= best + tolerance * (1 + abs(best))
