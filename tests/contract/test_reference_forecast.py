"""The forecast-score references (mpmath, from the definitions) agree with losskit in float64
NumPy, on each loss's ordinary case and on every option; closed forms pin the references."""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest

import losskit as lk
from cases import N, case
from reference_forecast import REFERENCES, twcrps_integral

RTOL = 1e-10
COVERED = {"multi_quantile", "energy_score", "variogram_score", "twcrps_ensemble"}


def assert_reference_matches(name: str, inputs: list[np.ndarray], params: dict[str, Any]) -> None:
    expected = REFERENCES[name](inputs, dict(params))
    got = np.asarray(lk.get(name)(*inputs, **params, reduction="none"), dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-13)


def members_first(inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Members on axis 0, variables on axis 1, the batch last: ``(M, V, N)``, ``(V, N)``."""
    return [np.moveaxis(inputs[0], 0, -1), np.moveaxis(inputs[1], 0, -1)]


def tied_members(inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Two members equal, one member equal to the observation, two variables equal."""
    y, x = (np.array(a, dtype=float) for a in inputs)
    x[:, 1] = x[:, 0]
    x[:, 2] = y
    x[:, 3, 1] = x[:, 3, 0]
    return [y, x]


def crossing_quantiles(inputs: list[np.ndarray]) -> list[np.ndarray]:
    y, q = (np.array(a, dtype=float) for a in inputs)
    return [y, np.sort(q, axis=-1)[..., ::-1]]


def five_quantiles(inputs: list[np.ndarray]) -> list[np.ndarray]:
    q = np.asarray(inputs[1], dtype=float)
    return [inputs[0], np.concatenate([q, q[..., :2] + 0.5], axis=-1)]


def ensemble_first(inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [inputs[0], np.asarray(inputs[1]).T]


VARIANTS: list[tuple[str, str, dict[str, Any], Any]] = [
    ("multi_quantile", "five_levels", {"quantiles": [0.05, 0.2, 0.5, 0.8, 0.95]}, five_quantiles),
    ("multi_quantile", "sort", {"monotone": "sort"}, crossing_quantiles),
    ("multi_quantile", "penalty", {"monotone": "penalty", "penalty_weight": 0.7}, None),
    ("multi_quantile", "penalty_crossing", {"monotone": "penalty"}, crossing_quantiles),
    ("energy_score", "fair", {"estimator": "fair"}, None),
    ("energy_score", "akr", {"estimator": "akr"}, None),
    ("energy_score", "akr_circperm", {"estimator": "akr_circperm"}, None),
    ("energy_score", "axes", {"m_axis": 0, "v_axis": 1}, members_first),
    ("energy_score", "ties", {}, tied_members),
    ("variogram_score", "p_1", {"p": 1.0}, None),
    ("variogram_score", "p_2_fair", {"p": 2.0, "estimator": "fair"}, None),
    ("variogram_score", "fair", {"estimator": "fair"}, None),
    ("variogram_score", "weights", {"w": np.arange(9.0).reshape(3, 3) / 4}, None),
    ("variogram_score", "axes", {"m_axis": 0, "v_axis": 1}, members_first),
    ("variogram_score", "ties", {"estimator": "fair"}, tied_members),
    ("twcrps_ensemble", "lower_tail", {"a": -np.inf, "b": 0.3}, None),
    ("twcrps_ensemble", "interval", {"a": -0.5, "b": 0.5}, None),
    ("twcrps_ensemble", "no_threshold", {"a": -np.inf}, None),
    ("twcrps_ensemble", "fair", {"estimator": "fair"}, None),
    ("twcrps_ensemble", "pwm_interval", {"estimator": "pwm", "a": -1.0, "b": 1.0}, None),
    ("twcrps_ensemble", "axis_0", {"axis": 0}, ensemble_first),
]


def test_the_references_cover_the_forecast_scores():
    assert set(REFERENCES) == COVERED
    assert set(lk.names()) >= COVERED
    assert {name for name, *_ in VARIANTS} == COVERED


@pytest.mark.parametrize("name", sorted(COVERED))
def test_reference_matches_losskit_on_the_ordinary_case(name):
    c = case(name)
    assert_reference_matches(name, c.inputs, c.params)


@pytest.mark.parametrize(
    ("name", "params", "make"),
    [
        pytest.param(name, params, make, id=f"{name}-{label}")
        for name, label, params, make in VARIANTS
    ],
)
def test_reference_matches_losskit_with_options(name, params, make):
    c = case(name)
    inputs = c.inputs if make is None else make(c.inputs)
    assert_reference_matches(name, inputs, {**c.params, **params})


@pytest.mark.parametrize("name", sorted(COVERED))
def test_an_option_the_reference_does_not_model_is_refused(name):
    c = case(name)
    with pytest.raises(NotImplementedError):
        REFERENCES[name](c.inputs, {**c.params, "an_unknown_option": 1.0})
    with pytest.raises(NotImplementedError):
        REFERENCES[name](c.inputs, {**c.params, "sample_weight": np.ones(N)})


# ---------------------------------------------------------------------- closed forms
def test_energy_score_of_one_member_is_the_euclidean_distance():
    y = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    x = np.array([[[2.0, 4.0, 4.0]], [[3.0, 0.0, 4.0]]])
    expected = np.array([3.0, 5.0])
    np.testing.assert_allclose(REFERENCES["energy_score"]([y, x], {}), expected, rtol=1e-15)
    np.testing.assert_allclose(lk.energy_score(y, x, reduction="none"), expected, rtol=1e-15)


def test_variogram_score_by_hand():
    # y = (0, 1, 3); members (0, 2, 2) and (1, 1, 1); p = 1, weights all ones.
    # observed |y_i - y_j| for (0,1), (0,2), (1,2): 1, 3, 2; members: 2, 2, 0 and 0, 0, 0,
    # mean 1, 1, 0. nrg: 2·[(1-1)² + (3-1)² + (2-0)²] = 16.
    # fair subtracts, per ordered pair, Σ_m (g_m - ḡ)² / (M(M-1)) = 1, 1, 0 → 16 - 2·2 = 12.
    y = np.array([[0.0, 1.0, 3.0]])
    x = np.array([[[0.0, 2.0, 2.0], [1.0, 1.0, 1.0]]])
    for estimator, expected in (("nrg", 16.0), ("fair", 12.0)):
        params = {"p": 1.0, "estimator": estimator}
        assert REFERENCES["variogram_score"]([y, x], params)[0] == pytest.approx(expected)
        got = lk.variogram_score(y, x, p=1.0, estimator=estimator, reduction="none")
        assert float(got[0]) == pytest.approx(expected, rel=1e-15)


def test_the_integral_reference_without_thresholds_is_the_crps():
    # F steps at 0, 1, 3 (1/3 each), y = 0.5: ∫ F² on [0, 0.5) + ∫ (F - 1)² on [0.5, 3).
    with mpmath.workdps(30):
        got = twcrps_integral(mpmath.mpf(0.5), [mpmath.mpf(v) for v in (0, 1, 3)], -np.inf, np.inf)
    expected = 0.5 * (1 / 9) + 0.5 * (4 / 9) + 2.0 * (1 / 9)
    assert float(got) == pytest.approx(expected, rel=1e-15)
    assert float(lk.crps_ensemble(np.array([0.5]), np.array([[0.0, 1.0, 3.0]]))) == pytest.approx(
        expected, rel=1e-15
    )


def test_multi_quantile_of_one_level_is_the_pinball_loss():
    c = case("multi_quantile")
    y, q = c.inputs[0], c.inputs[1][..., :1]
    got = lk.multi_quantile(y, q, quantiles=[0.3], reduction="none")
    d = y - q[..., 0]
    np.testing.assert_allclose(got, np.maximum(0.3 * d, -0.7 * d), rtol=1e-15)
