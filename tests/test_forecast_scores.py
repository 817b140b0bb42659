"""Forecast scores: multi_quantile, energy_score, variogram_score, twcrps_ensemble.

Anchors: scoringrules' own ``es_ensemble``, ``vs_ensemble`` and ``twcrps_ensemble`` (every
estimator and option, float64, NumPy and torch backends, values and gradients); neuralforecast's
``MQLoss`` for ``multi_quantile``, written out below from its documented formula (neuralforecast
itself pulls in lightning and ray, so it is not a test dependency). Then: gradients stay finite
where members coincide, the losses trace under ``jax.jit`` / ``tf.function``, and bad inputs
are refused naming the argument.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk
from conftest import tolerance

RNG = np.random.default_rng(15)
OBS = RNG.normal(size=(4, 3, 5))  # (batch..., V)
ENSEMBLE = RNG.normal(size=(4, 3, 7, 5))  # (batch..., M, V)
PAIR_WEIGHTS = RNG.random((5, 5))
OBS_1D = RNG.normal(size=6)
ENSEMBLE_1D = RNG.normal(size=(6, 9))
LEVELS = [0.05, 0.1, 0.5, 0.9, 0.95]
Y = RNG.normal(size=(8, 4))
QUANTILE_PREDICTIONS = RNG.normal(size=(8, 4, 5))
RTOL = 1e-12


def _scoringrules():
    return pytest.importorskip("scoringrules")


# ====================================================================== scoringrules parity
@pytest.mark.parametrize("estimator", ["nrg", "fair", "akr", "akr_circperm"])
def test_energy_score_matches_scoringrules(estimator):
    sr = _scoringrules()
    ours = lk.energy_score(OBS, ENSEMBLE, estimator=estimator, reduction="none")
    theirs = sr.es_ensemble(OBS, ENSEMBLE, estimator=estimator, backend="numpy")
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-14)
    # members first, variables second, the batch behind them
    fct, obs = np.moveaxis(ENSEMBLE, (2, 3), (0, 1)), np.moveaxis(OBS, 2, 0)
    ours = lk.energy_score(obs, fct, m_axis=0, v_axis=1, estimator=estimator, reduction="none")
    theirs = sr.es_ensemble(obs, fct, m_axis=0, v_axis=1, estimator=estimator, backend="numpy")
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-14)


@pytest.mark.parametrize("estimator", ["nrg", "fair"])
@pytest.mark.parametrize("p", [0.5, 1.0, 1.5, 2.0])
def test_variogram_score_matches_scoringrules(estimator, p):
    sr = _scoringrules()
    ours = lk.variogram_score(OBS, ENSEMBLE, p=p, estimator=estimator, reduction="none")
    theirs = sr.vs_ensemble(OBS, ENSEMBLE, p=p, estimator=estimator, backend="numpy")
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-13)
    w = np.broadcast_to(PAIR_WEIGHTS, OBS.shape[:-1] + PAIR_WEIGHTS.shape)
    ours = lk.variogram_score(
        OBS, ENSEMBLE, w=PAIR_WEIGHTS, p=p, estimator=estimator, reduction="none"
    )
    theirs = sr.vs_ensemble(OBS, ENSEMBLE, w, p=p, estimator=estimator, backend="numpy")
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-13)
    fct, obs = np.moveaxis(ENSEMBLE, (2, 3), (1, 0)), np.moveaxis(OBS, 2, 0)
    ours = lk.variogram_score(obs, fct, m_axis=1, v_axis=0, p=p, estimator=estimator)
    theirs = sr.vs_ensemble(obs, fct, m_axis=1, v_axis=0, p=p, estimator=estimator)
    np.testing.assert_allclose(float(ours), np.mean(theirs), rtol=RTOL)


@pytest.mark.parametrize("estimator", ["nrg", "fair", "pwm", "qd"])
@pytest.mark.parametrize(
    ("a", "b"), [(0.0, math.inf), (-math.inf, 0.3), (-0.5, 0.5), (-math.inf, math.inf)]
)
def test_twcrps_ensemble_matches_scoringrules(estimator, a, b):
    sr = _scoringrules()
    ours = lk.twcrps_ensemble(OBS_1D, ENSEMBLE_1D, a=a, b=b, estimator=estimator, reduction="none")
    theirs = sr.twcrps_ensemble(OBS_1D, ENSEMBLE_1D, a, b, estimator=estimator, backend="numpy")
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-15)
    ours = lk.twcrps_ensemble(OBS_1D, ENSEMBLE_1D.T, a=a, b=b, axis=0, estimator=estimator)
    theirs = sr.twcrps_ensemble(OBS_1D, ENSEMBLE_1D.T, a, b, m_axis=0, estimator=estimator)
    np.testing.assert_allclose(float(ours), np.mean(theirs), rtol=RTOL)


def test_twcrps_with_the_upper_tail_chaining_function_of_scoringrules():
    sr = _scoringrules()
    theirs = sr.twcrps_ensemble(OBS_1D, ENSEMBLE_1D, v_func=lambda x: np.maximum(x, 0.2))
    np.testing.assert_allclose(
        lk.twcrps_ensemble(OBS_1D, ENSEMBLE_1D, a=0.2, reduction="none"), theirs, rtol=RTOL
    )


def test_torch_values_and_gradients_match_scoringrules_torch_backend():
    sr = _scoringrules()
    torch = pytest.importorskip("torch")

    def grad(fn, obs, fct):
        x = torch.tensor(fct, requires_grad=True)
        value = fn(torch.tensor(obs), x)
        (g,) = torch.autograd.grad(value.sum(), x)
        return value.detach().numpy(), g.numpy()

    cases = [
        (
            lambda y, x, e=e: lk.energy_score(y, x, estimator=e, reduction="none"),
            lambda y, x, e=e: sr.es_ensemble(y, x, estimator=e, backend="torch"),
            OBS,
            ENSEMBLE,
        )
        for e in ("nrg", "fair")
    ]
    cases += [
        (
            lambda y, x, e=e: lk.variogram_score(y, x, estimator=e, p=1.5, reduction="none"),
            lambda y, x, e=e: sr.vs_ensemble(y, x, estimator=e, p=1.5, backend="torch"),
            OBS,
            ENSEMBLE,
        )
        for e in ("nrg", "fair")
    ]
    cases += [
        (
            lambda y, x, e=e: lk.twcrps_ensemble(
                y, x, a=-0.25, b=1.0, estimator=e, reduction="none"
            ),
            lambda y, x, e=e: sr.twcrps_ensemble(y, x, -0.25, 1.0, estimator=e, backend="torch"),
            OBS_1D,
            ENSEMBLE_1D,
        )
        for e in ("nrg", "fair")
    ]
    # (thresholds exact in float32: scoringrules' torch backend makes them float32 tensors)
    for ours, theirs, obs, fct in cases:
        value, gradient = grad(ours, obs, fct)
        their_value, their_gradient = grad(theirs, obs, fct)
        np.testing.assert_allclose(value, their_value, rtol=RTOL, atol=1e-13)
        np.testing.assert_allclose(gradient, their_gradient, rtol=1e-10, atol=1e-13)


# ====================================================================== MQLoss
def mqloss(y: np.ndarray, y_hat: np.ndarray, quantiles: list[float]) -> float:
    """neuralforecast's ``MQLoss`` without masks or horizon weights: per level
    ``(1/Q)[q·(y - ŷ)₊ + (1 - q)·(ŷ - y)₊]``, summed, divided by the number of points."""
    error = y_hat - y[..., None]
    q = np.asarray(quantiles)
    losses = (q * np.maximum(-error, 0) + (1 - q) * np.maximum(error, 0)) / len(q)
    return float(np.sum(losses) / y.size)


def test_multi_quantile_mean_is_mqloss(dtype):
    got = lk.multi_quantile(Y.astype(dtype), QUANTILE_PREDICTIONS.astype(dtype), quantiles=LEVELS)
    expected = mqloss(Y, QUANTILE_PREDICTIONS, LEVELS)
    np.testing.assert_allclose(float(got), expected, **tolerance(dtype))


def test_multi_quantile_levels_are_quantiles_pinball():
    """Each level's term is ``lk.quantile``'s: the unreduced loss is its mean over the levels."""
    per_level = lk.quantile(Y, QUANTILE_PREDICTIONS, quantiles=LEVELS, reduction="none")
    got = lk.multi_quantile(Y, QUANTILE_PREDICTIONS, quantiles=LEVELS, reduction="none")
    np.testing.assert_allclose(got, per_level.mean(-1), rtol=1e-15)
    # y_true may keep the level axis with size 1
    kept = lk.multi_quantile(Y[..., None], QUANTILE_PREDICTIONS, quantiles=LEVELS, reduction="none")
    np.testing.assert_allclose(kept, got, rtol=0)


def test_multi_quantile_monotone_options():
    sorted_q = np.sort(QUANTILE_PREDICTIONS, axis=-1)
    crossing = sorted_q[..., ::-1]
    plain = lk.multi_quantile(Y, sorted_q, quantiles=LEVELS, reduction="none")
    for mode in ("sort", "penalty"):  # nothing changes where the quantiles do not cross
        same = lk.multi_quantile(Y, sorted_q, quantiles=LEVELS, monotone=mode, reduction="none")
        np.testing.assert_allclose(same, plain, rtol=1e-15)
    rearranged = lk.multi_quantile(Y, crossing, quantiles=LEVELS, monotone="sort", reduction="none")
    np.testing.assert_allclose(rearranged, plain, rtol=1e-15)
    penalised = lk.multi_quantile(
        Y, crossing, quantiles=LEVELS, monotone="penalty", penalty_weight=2.0, reduction="none"
    )
    unpenalised = lk.multi_quantile(Y, crossing, quantiles=LEVELS, reduction="none")
    span = sorted_q[..., -1] - sorted_q[..., 0]  # Σ relu(ŷ_k - ŷ_{k+1}) of a reversed sort
    np.testing.assert_allclose(penalised - unpenalised, 2.0 * span, rtol=1e-12)


def test_multi_quantile_gradients(autodiff_backend, dtype):
    b = autodiff_backend
    crossing = np.sort(QUANTILE_PREDICTIONS, axis=-1)[..., ::-1].copy()
    y = b.array(Y, dtype)
    for mode in (None, "sort", "penalty"):
        grad = b.to_numpy(
            b.grad(
                lambda t, m=mode: lk.multi_quantile(y, t, quantiles=LEVELS, monotone=m),
                b.array(crossing, dtype),
            )
        )
        assert np.all(np.isfinite(grad)), mode
        if mode == "sort":  # each prediction is scored at the level of its rank
            above = crossing > Y[..., None]
            rank_level = np.array(LEVELS)[::-1]
            expected = np.where(above, 1 - rank_level, -rank_level) / (len(LEVELS) * Y.size)
            np.testing.assert_allclose(grad, expected, **tolerance(dtype))


# ====================================================================== numerics
def test_coincident_members_give_finite_gradients(autodiff_backend, dtype):
    """The norm and |·|^p at 0 (two members equal, a member on the observation, two equal
    variables) have gradient 0, not NaN."""
    b = autodiff_backend
    x = np.array(ENSEMBLE[0, :2])
    x[:, 1] = x[:, 0]
    x[:, 2] = OBS[0, :2]
    x[:, 3, 1] = x[:, 3, 0]
    y = b.array(OBS[0, :2], dtype)
    losses = [
        lambda t, e=e: lk.energy_score(y, t, estimator=e)
        for e in ("nrg", "fair", "akr", "akr_circperm")
    ]
    losses += [
        lambda t, e=e, p=p: lk.variogram_score(y, t, estimator=e, p=p)
        for e in ("nrg", "fair")
        for p in (0.5, 1.0)
    ]
    for loss in losses:
        grad = b.to_numpy(b.grad(loss, b.array(x, dtype)))
        assert np.all(np.isfinite(grad))
    same = np.repeat(OBS[0, :2, None, :], 4, axis=1)  # every member on the observation
    zero = lk.energy_score(y, b.array(same, dtype))
    assert float(b.to_numpy(zero)) == 0.0
    grad = b.to_numpy(b.grad(lambda t: lk.energy_score(y, t), b.array(same, dtype)))
    assert np.all(grad == 0.0)


def test_energy_score_of_one_variable_is_the_crps():
    for estimator in ("nrg", "fair"):
        ours = lk.energy_score(OBS_1D[:, None], ENSEMBLE_1D[..., None], estimator=estimator)
        crps = lk.crps_ensemble(OBS_1D, ENSEMBLE_1D, estimator=estimator)
        np.testing.assert_allclose(float(ours), float(crps), rtol=1e-13)


def test_twcrps_gives_no_gradient_outside_the_interval(autodiff_backend):
    b = autodiff_backend
    y = b.array(OBS_1D, "float64")
    grad = b.to_numpy(
        b.grad(lambda t: lk.twcrps_ensemble(y, t, a=-0.5, b=0.5), b.array(ENSEMBLE_1D, "float64"))
    )
    outside = np.abs(ENSEMBLE_1D) > 0.5
    assert np.all(grad[outside] == 0.0) and np.any(grad[~outside] != 0.0)


def test_memory_free_estimators_at_scale_are_float32_accurate():
    x = RNG.normal(size=(2, 64, 16)).astype(np.float32)
    y = RNG.normal(size=(2, 16)).astype(np.float32)
    for estimator in ("nrg", "akr"):
        got = float(lk.energy_score(y, x, estimator=estimator))
        ref = float(
            lk.energy_score(y.astype(np.float64), x.astype(np.float64), estimator=estimator)
        )
        assert got == pytest.approx(ref, rel=1e-6)


def _traced_losses(make):
    return [
        lambda t: lk.energy_score(make(OBS), t),
        lambda t: lk.energy_score(make(OBS), t, estimator="akr_circperm"),
        lambda t: lk.variogram_score(make(OBS), t, w=make(PAIR_WEIGHTS), estimator="fair"),
    ]


def test_jax_jit_agrees_with_eager():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = jnp.asarray(ENSEMBLE)
    for f in _traced_losses(jnp.asarray):
        value, grad = jax.jit(jax.value_and_grad(f))(x)
        np.testing.assert_allclose(float(value), float(f(x)), rtol=1e-12)
        assert np.all(np.isfinite(np.asarray(grad)))
    q = jnp.asarray(QUANTILE_PREDICTIONS)
    for mode in (None, "sort", "penalty"):

        def g(t, m=mode):
            return lk.multi_quantile(jnp.asarray(Y), t, quantiles=LEVELS, monotone=m)

        np.testing.assert_allclose(float(jax.jit(g)(q)), float(g(q)), rtol=1e-12)
    e = jnp.asarray(ENSEMBLE_1D)

    def tw(t):
        return lk.twcrps_ensemble(jnp.asarray(OBS_1D), t, a=0.0)

    np.testing.assert_allclose(float(jax.jit(tw)(e)), float(tw(e)), rtol=1e-12)


def test_tf_function_jit_compile_agrees_with_eager():
    tf = pytest.importorskip("tensorflow")
    losses = _traced_losses(tf.constant)

    @tf.function(jit_compile=True)
    def run(t):
        return tf.stack([f(t) for f in losses])

    x = tf.constant(ENSEMBLE)
    values = run(x)
    for k, f in enumerate(losses):
        np.testing.assert_allclose(values[k].numpy(), f(x).numpy(), rtol=1e-12)


# ====================================================================== validation and names
def test_validation_errors():
    with pytest.raises(ValueError, match="strictly increasing"):
        lk.multi_quantile(Y, QUANTILE_PREDICTIONS[..., :3], quantiles=[0.1, 0.9, 0.5])
    with pytest.raises(ValueError, match="quantiles"):
        lk.multi_quantile(Y, QUANTILE_PREDICTIONS[..., :3], quantiles=[0.0, 0.5, 0.9])
    with pytest.raises(ValueError, match="quantiles"):
        lk.multi_quantile(Y, QUANTILE_PREDICTIONS[..., :3], quantiles=[0.1, 0.5, 1.0])
    with pytest.raises(ValueError, match="trailing axis of size 3"):
        lk.multi_quantile(Y, QUANTILE_PREDICTIONS)
    with pytest.raises(ValueError, match="monotone"):
        lk.multi_quantile(Y, QUANTILE_PREDICTIONS[..., :3], monotone="isotonic")
    with pytest.raises(ValueError, match="penalty_weight"):
        lk.multi_quantile(Y, QUANTILE_PREDICTIONS[..., :3], penalty_weight=-1.0)
    with pytest.raises(ValueError, match="estimator"):
        lk.energy_score(OBS, ENSEMBLE, estimator="int")
    with pytest.raises(ValueError, match="at least 2 member"):
        lk.energy_score(OBS, ENSEMBLE[..., :1, :], estimator="fair")
    with pytest.raises(ValueError, match="different axes"):
        lk.energy_score(OBS, ENSEMBLE, m_axis=-1)
    with pytest.raises(ValueError, match="m_axis"):
        lk.energy_score(OBS, ENSEMBLE, m_axis=4)
    with pytest.raises(ValueError, match="y_true of shape"):
        lk.energy_score(OBS[..., :4], ENSEMBLE)
    with pytest.raises(ValueError, match="member axis and a variable axis"):
        lk.energy_score(OBS_1D, OBS_1D)
    with pytest.raises(ValueError, match="NaN"):
        lk.energy_score(OBS, np.where(ENSEMBLE > 1, np.nan, ENSEMBLE))
    with pytest.raises(ValueError, match="p must be in"):
        lk.variogram_score(OBS, ENSEMBLE, p=0.0)
    with pytest.raises(ValueError, match="w of shape"):
        lk.variogram_score(OBS, ENSEMBLE, w=np.ones((4, 4)))
    with pytest.raises(ValueError, match="w must be non-negative"):
        lk.variogram_score(OBS, ENSEMBLE, w=-PAIR_WEIGHTS)
    with pytest.raises(ValueError, match="a < b"):
        lk.twcrps_ensemble(OBS_1D, ENSEMBLE_1D, a=1.0, b=0.0)
    with pytest.raises(ValueError, match="a must be"):
        lk.twcrps_ensemble(OBS_1D, ENSEMBLE_1D, a=float("nan"))
    with pytest.raises(ValueError, match="at least two members"):
        lk.twcrps_ensemble(OBS_1D, ENSEMBLE_1D[:, :1], estimator="fair")


ALIASES = {
    "mqloss": "multi_quantile",
    "multi_quantile_loss": "multi_quantile",
    "es_ensemble": "energy_score",
    "vs_ensemble": "variogram_score",
    "threshold_weighted_crps": "twcrps_ensemble",
}


def test_names_aliases_and_metadata():
    for name in set(ALIASES.values()):
        assert name in lk.names() and lk.get(name) is getattr(lk, name)
        assert lk.info(name).family == "probabilistic" and lk.info(name).references
    for alias, canonical in ALIASES.items():
        assert lk.get(alias) is lk.get(canonical)
    assert lk.info("energy_score").properties["strictly_proper"] is True


def test_the_module_split_keeps_the_import_paths():
    from losskit.losses import _probabilistic
    from losskit.losses._probabilistic import _spread_sum, crps_ensemble

    assert crps_ensemble is lk.crps_ensemble and callable(_spread_sum)
    assert _probabilistic.energy_score is lk.energy_score
