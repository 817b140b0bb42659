"""losskit.boost with XGBoost: the same model as XGBoost's built-in objectives, and end-to-end
training with losses XGBoost does not have.

A custom objective differentiates the catalogue's loss as defined, so where a built-in scales its
derivatives differently the built-in's parameters in Hessian units are scaled to match (each
case says how); everything else — data, rounds, tree method, ``base_score`` — is identical.
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

xgb = pytest.importorskip("xgboost")
pytest.importorskip("sklearn")

COMMON = {"tree_method": "hist", "nthread": 1, "seed": 0, "max_depth": 4, "eta": 0.3}


def train(params, X, y, *, obj=None, base_margin=None, metric=None, rounds=ROUNDS):
    dtrain = xgb.DMatrix(X, label=y, base_margin=base_margin)
    booster = xgb.train({**COMMON, **params}, dtrain, rounds, obj=obj, custom_metric=metric)
    return booster, xgb.DMatrix(X, base_margin=base_margin)


def margins(booster, dmatrix):
    return booster.predict(dmatrix, output_margin=True)


def test_squared_error_is_reg_squarederror():
    X, y = diabetes()
    mse = lk.boost.objective("mean_squared_error", library="xgboost")
    start = mse.init_score(y)
    # reg:squarederror uses grad p - y, hess 1; ours 2(p - y), 2: λ, min_child_weight (Hessian
    # units) and gamma (gain units) are doubled so that -G/(H + λ) and the gains agree.
    built_in, d = train(
        {
            "objective": "reg:squarederror",
            "lambda": 1.0,
            "min_child_weight": 1.0,
            "gamma": 0.5,
            "base_score": start,
        },
        X,
        y,
    )
    ours, d2 = train(
        {"lambda": 2.0, "min_child_weight": 2.0, "gamma": 1.0, "base_score": start}, X, y, obj=mse
    )
    assert relative_difference(margins(ours, d2), built_in.predict(d)) < RELATIVE


def test_binary_crossentropy_is_binary_logistic():
    X, y = breast_cancer()
    bce = lk.boost.objective("binary_crossentropy", library="xgboost")
    start = bce.init_score(y)
    # Same derivatives (σ - y, σ(1 - σ)); binary:logistic's base_score is a probability.
    built_in, d = train(
        {"objective": "binary:logistic", "base_score": 1 / (1 + np.exp(-start))}, X, y
    )
    ours, d2 = train({"base_score": start}, X, y, obj=bce)
    assert relative_difference(bce.transform(margins(ours, d2)), built_in.predict(d)) < RELATIVE


def test_sparse_categorical_crossentropy_is_multi_softprob():
    X, y = digits()
    scce = lk.boost.objective("sparse_categorical_crossentropy", library="xgboost")
    start = jittered_class_margins(scce.init_score(y, num_classes=10), len(y))
    # multi:softprob's Hessian is 2p(1 - p), ours p(1 - p): its leaf -G/(2H + λ) is ours with
    # λ/2 and half the learning rate; min_child_weight halves too (split gains scale by 1/2).
    built_in, d = train(
        {"objective": "multi:softprob", "num_class": 10, "lambda": 1.0, "min_child_weight": 1.0},
        X,
        y,
        base_margin=start,
    )
    ours, d2 = train(
        {"num_class": 10, "lambda": 0.5, "min_child_weight": 0.5, "eta": COMMON["eta"] / 2},
        X,
        y,
        obj=scce,
        base_margin=start,
    )
    probabilities = scce.transform(margins(ours, d2))
    assert relative_difference(probabilities, built_in.predict(d)) < RELATIVE


def test_user_pseudo_huber_is_reg_pseudohubererror():
    X, y = diabetes()
    with pseudo_huber_registered() as pseudo_huber:
        ph = lk.boost.objective(pseudo_huber, library="xgboost", delta=30.0)
    assert not ph.closed_form  # a user loss: derivatives by autodiff
    start = float(np.median(y))
    built_in, d = train(
        {"objective": "reg:pseudohubererror", "huber_slope": 30.0, "base_score": start}, X, y
    )
    ours, d2 = train({"base_score": start}, X, y, obj=ph)
    assert relative_difference(margins(ours, d2), built_in.predict(d)) < RELATIVE


def test_poisson_is_count_poisson():
    X, y = counts()
    poisson = lk.boost.objective("poisson", library="xgboost")
    start = poisson.init_score(y)
    assert start == pytest.approx(np.log(y.mean()), rel=1e-12)
    # count:poisson's Hessian is exp(m + max_delta_step) and max_delta_step (default 0.7) also
    # caps every leaf: with max_delta_step=0 its derivatives are exp(m) - y, exp(m), as ours.
    built_in, d = train(
        {"objective": "count:poisson", "max_delta_step": 0.0, "base_score": y.mean()}, X, y
    )
    ours, d2 = train({"max_delta_step": 0.0, "base_score": start}, X, y, obj=poisson)
    assert relative_difference(poisson.transform(margins(ours, d2)), built_in.predict(d)) < RELATIVE


def test_tweedie_deviance_is_reg_tweedie():
    X, y = counts()
    tweedie = lk.boost.objective("tweedie", library="xgboost", power=1.5)
    start = tweedie.init_score(y)
    # reg:tweedie differentiates half the deviance: λ and min_child_weight doubled.
    built_in, d = train(
        {"objective": "reg:tweedie", "tweedie_variance_power": 1.5, "base_score": y.mean()}, X, y
    )
    ours, d2 = train(
        {"lambda": 2.0, "min_child_weight": 2.0, "base_score": start}, X, y, obj=tweedie
    )
    assert relative_difference(tweedie.transform(margins(ours, d2)), built_in.predict(d)) < RELATIVE


def test_sample_weights_reach_the_objective_like_the_built_in():
    X, y = diabetes()
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(y))
    mse = lk.boost.objective("mse", library="xgboost")
    start = mse.init_score(y, w)
    assert start == pytest.approx(np.average(y, weights=w), rel=1e-12)

    def fit(params, obj=None):
        dtrain = xgb.DMatrix(X, label=y, weight=w)
        booster = xgb.train({**COMMON, **params, "base_score": start}, dtrain, 20, obj=obj)
        return booster.predict(xgb.DMatrix(X), output_margin=True)

    built_in = fit({"objective": "reg:squarederror", "lambda": 1.0})
    assert relative_difference(fit({"lambda": 2.0, "min_child_weight": 2.0}, mse), built_in) < (
        RELATIVE
    )


def test_scikit_learn_api():
    X, y = breast_cancer()
    bce = lk.boost.objective("binary_crossentropy", library="xgboost")
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    model = xgb.XGBRegressor(
        objective=bce.sklearn, n_estimators=10, base_score=bce.init_score(y, w), **COMMON
    )
    model.fit(X, y, sample_weight=w)
    p = bce.transform(model.predict(X, output_margin=True))
    assert np.mean((p > 0.5) == (y == 1)) > 0.95


def test_metric_is_the_weighted_mean_loss():
    X, y = breast_cancer()
    bce = lk.boost.objective("bce", library="xgboost")
    metric = lk.boost.metric("bce", library="xgboost")
    history = {}
    dtrain = xgb.DMatrix(X, label=y)
    booster = xgb.train(
        {**COMMON, "base_score": bce.init_score(y), "disable_default_eval_metric": 1},
        dtrain,
        5,
        obj=bce,
        custom_metric=metric,
        evals=[(dtrain, "train")],
        evals_result=history,
        verbose_eval=False,
    )
    p = 1 / (1 + np.exp(-booster.predict(dtrain, output_margin=True)))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))
    assert history["train"]["binary_crossentropy"][-1] == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------------- losses XGBoost lacks
END_TO_END = [
    ("binary_focal_crossentropy", breast_cancer, {"gamma": 2.0}, "exact"),
    ("tweedie", counts, {"power": 1.3}, "exact"),
    ("quantile", diabetes_standardized, {"quantiles": 0.8}, "constant"),
    ("huber", diabetes_standardized, {"delta": 0.5}, "exact"),
    ("log_cosh", diabetes_standardized, {}, "exact"),
    (PSEUDO_HUBER, diabetes, {"delta": 10.0}, "exact"),
]


@pytest.mark.parametrize(("name", "data", "params", "hessian"), END_TO_END)
def test_trains_end_to_end(name, data, params, hessian):
    with pseudo_huber_registered():  # the user loss among them, registered meanwhile
        X, y = data()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # focal: "exact" is not known to be convex
            obj = lk.boost.objective(name, library="xgboost", hessian=hessian, **params)
        metric = lk.boost.metric(name, library="xgboost", **params)
        start = obj.init_score(y)
        booster, d = train({"base_score": start, "lambda": 1.0}, X, y, obj=obj, rounds=30)
        fitted = margins(booster, d)
        assert np.all(np.isfinite(fitted))
        assert metric.value(y, fitted) < 0.9 * metric.value(y, np.full(len(y), start))
        if name == "quantile":
            assert quantile_coverage(y, fitted) == pytest.approx(0.8, abs=0.1)
