"""losskit.boost with LightGBM: the same model as LightGBM's built-in objectives, and end-to-end
training with losses LightGBM does not have.

LightGBM's built-ins, like XGBoost's, scale some derivatives differently from the catalogue's
losses; each case scales the built-in's Hessian-unit parameters (``min_sum_hessian_in_leaf``)
or the learning rate to match and says why. ``lambda_l2`` is 0 by default, so ``-G/H`` is
scale-free. With a custom objective LightGBM starts from 0: both models get the same
``init_score``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losskit as lk
from boost_data import (
    PSEUDO_HUBER,
    RELATIVE,
    ROUNDS,
    breast_cancer,
    counts,
    diabetes,
    diabetes_standardized,
    digits,
    jittered_class_margins,
    pseudo_huber_registered,
    quantile_coverage,
    relative_difference,
)

lgb = pytest.importorskip("lightgbm")
pytest.importorskip("sklearn")

COMMON = {
    "verbose": -1,
    "num_threads": 1,
    "seed": 0,
    "deterministic": True,
    "force_row_wise": True,
    "learning_rate": 0.1,
    "min_sum_hessian_in_leaf": 1e-3,
}


def raw_margins(params, X, y, init, *, rounds=ROUNDS, weight=None, feval=None):
    """Margins of the trained model, ``init_score`` included (LightGBM leaves it out)."""
    if np.ndim(init) < 2:  # one start for every row: a number, or K class margins
        init = np.broadcast_to(init, (len(y), *np.shape(init))).copy()
    data = lgb.Dataset(X, label=y, init_score=init, weight=weight, free_raw_data=False)
    booster = lgb.train({**COMMON, **params}, data, rounds, feval=feval)
    return booster.predict(X, raw_score=True) + init


def test_squared_error_is_regression():
    X, y = diabetes()
    mse = lk.boost.objective("mean_squared_error", library="lightgbm")
    start = mse.init_score(y)
    # "regression" uses grad p - y, hess 1; ours twice both: the Hessian threshold doubles.
    built_in = raw_margins({"objective": "regression"}, X, y, start)
    ours = raw_margins({"objective": mse, "min_sum_hessian_in_leaf": 2e-3}, X, y, start)
    assert relative_difference(ours, built_in) < RELATIVE


def test_binary_crossentropy_is_binary():
    X, y = breast_cancer()
    bce = lk.boost.objective("binary_crossentropy", library="lightgbm")
    start = bce.init_score(y)
    built_in = raw_margins({"objective": "binary"}, X, y, start)
    ours = raw_margins({"objective": bce}, X, y, start)
    assert relative_difference(bce.transform(ours), bce.transform(built_in)) < RELATIVE


def test_sparse_categorical_crossentropy_is_multiclass():
    X, y = digits()
    K = 10
    scce = lk.boost.objective("sparse_categorical_crossentropy", library="lightgbm")
    start = jittered_class_margins(scce.init_score(y, num_classes=K), len(y))
    # "multiclass" multiplies the Hessian by K/(K - 1): with λ = 0 its leaf is ours times
    # (K - 1)/K, so our learning rate and Hessian threshold take that factor.
    factor = (K - 1) / K
    built_in = raw_margins({"objective": "multiclass", "num_class": K}, X, y, start)
    ours = raw_margins(
        {
            "objective": scce,
            "num_class": K,
            "learning_rate": 0.1 * factor,
            "min_sum_hessian_in_leaf": 1e-3 * factor,
        },
        X,
        y,
        start,
    )
    assert relative_difference(scce.transform(ours), scce.transform(built_in)) < RELATIVE


def test_huber_with_constant_hessian_is_huber():
    X, y = diabetes()
    # LightGBM's "huber" takes the clipped residual as gradient and a Hessian of 1 everywhere:
    # the catalogue's Huber loss with hessian="constant".
    huber = lk.boost.objective("huber", library="lightgbm", hessian="constant", delta=20.0)
    start = float(np.mean(y))
    built_in = raw_margins({"objective": "huber", "alpha": 20.0}, X, y, start)
    ours = raw_margins({"objective": huber}, X, y, start)
    assert relative_difference(ours, built_in) < RELATIVE


def test_poisson_is_poisson():
    X, y = counts()
    poisson = lk.boost.objective("poisson", library="lightgbm")
    start = poisson.init_score(y)
    # "poisson" takes the Hessian exp(m + poisson_max_delta_step), default 0.7 (it must be > 0):
    # its leaves are ours times exp(-0.7), so our learning rate and threshold take that factor.
    factor = np.exp(-0.7)
    built_in = raw_margins({"objective": "poisson"}, X, y, start)
    ours = raw_margins(
        {
            "objective": poisson,
            "learning_rate": 0.1 * factor,
            "min_sum_hessian_in_leaf": 1e-3 * factor,
        },
        X,
        y,
        start,
    )
    assert relative_difference(poisson.transform(ours), poisson.transform(built_in)) < RELATIVE


def test_tweedie_deviance_is_tweedie():
    X, y = counts()
    tweedie = lk.boost.objective("tweedie", library="lightgbm", power=1.5)
    start = tweedie.init_score(y)
    # "tweedie" differentiates half the deviance: the Hessian threshold doubles.
    built_in = raw_margins({"objective": "tweedie", "tweedie_variance_power": 1.5}, X, y, start)
    ours = raw_margins({"objective": tweedie, "min_sum_hessian_in_leaf": 2e-3}, X, y, start)
    assert relative_difference(tweedie.transform(ours), tweedie.transform(built_in)) < RELATIVE


def test_sample_weights_reach_the_objective_like_the_built_in():
    X, y = breast_cancer()
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(y))
    bce = lk.boost.objective("bce", library="lightgbm")
    start = bce.init_score(y, w)
    assert start == pytest.approx(np.log(np.average(y, weights=w) / (1 - np.average(y, weights=w))))
    built_in = raw_margins({"objective": "binary"}, X, y, start, weight=w, rounds=20)
    ours = raw_margins({"objective": bce}, X, y, start, weight=w, rounds=20)
    assert relative_difference(bce.transform(ours), bce.transform(built_in)) < RELATIVE


def test_scikit_learn_api_and_metric():
    X, y = breast_cancer()
    bce = lk.boost.objective("bce", library="lightgbm")
    metric = lk.boost.metric("bce", library="lightgbm")
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    model = lgb.LGBMRegressor(objective=bce.sklearn, n_estimators=10, **COMMON)
    start = bce.init_score(y, w)
    starts = np.full(len(y), start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # eval_set: eval_X/eval_y in 4.7
        model.fit(
            X,
            y,
            sample_weight=w,
            init_score=starts,
            eval_set=[(X, y)],
            eval_sample_weight=[w],
            eval_init_score=[starts],
            eval_metric=metric.sklearn,
        )
    margin = model.predict(X, raw_score=True) + start
    p = bce.transform(margin)
    assert np.mean((p > 0.5) == (y == 1)) > 0.95
    expected = -np.average(y * np.log(p) + (1 - y) * np.log1p(-p), weights=w)
    recorded = model.evals_result_["training"]["binary_crossentropy"][-1]
    assert recorded == pytest.approx(expected, rel=1e-6)


END_TO_END = [
    ("binary_focal_crossentropy", breast_cancer, {"gamma": 2.0}, "exact"),
    ("tweedie", counts, {"power": 1.3}, "exact"),
    ("quantile", diabetes_standardized, {"quantiles": 0.8}, "constant"),
    ("huber", diabetes_standardized, {"delta": 0.5}, "exact"),
    ("log_cosh", diabetes_standardized, {}, "exact"),
    (PSEUDO_HUBER, diabetes_standardized, {"delta": 0.5}, "exact"),
]


@pytest.mark.parametrize(("name", "data", "params", "hessian"), END_TO_END)
def test_trains_end_to_end(name, data, params, hessian):
    with pseudo_huber_registered():  # the user loss among them, registered meanwhile
        X, y = data()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # focal: "exact" is not known to be convex
            obj = lk.boost.objective(name, library="lightgbm", hessian=hessian, **params)
        metric = lk.boost.metric(name, library="lightgbm", **params)
        start = obj.init_score(y)
        fitted = raw_margins({"objective": obj, "learning_rate": 0.3}, X, y, start, rounds=30)
        assert np.all(np.isfinite(fitted))
        assert metric.value(y, fitted) < 0.9 * metric.value(y, np.full(len(y), start))
        if name == "quantile":
            assert quantile_coverage(y, fitted) == pytest.approx(0.8, abs=0.1)
