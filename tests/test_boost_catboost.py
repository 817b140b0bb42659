"""losskit.boost with CatBoost: the same model as CatBoost's RMSE, Logloss, MultiClass and
Poisson, and end-to-end training with other losses.

Both models start from the same ``baseline`` (CatBoost does not boost from the average for a
custom objective), with random strength 0, no bagging and one Newton step per leaf, so training
is deterministic. A class loss gets ``calc_ders_multi`` with the full Hessian of each row, as
CatBoost's own MultiClass uses.
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

cb = pytest.importorskip("catboost")
pytest.importorskip("sklearn")

COMMON = {
    "depth": 4,
    "learning_rate": 0.1,
    "random_seed": 0,
    "random_strength": 0.0,
    "bootstrap_type": "No",
    "leaf_estimation_method": "Newton",
    "leaf_estimation_iterations": 1,
    "boost_from_average": False,
    "thread_count": 1,
    "verbose": False,
    "allow_writing_files": False,
}


def raw_margins(model_class, loss, X, y, start, *, rounds=ROUNDS, weight=None, **params):
    """Margins of the trained model (CatBoost adds the pool's baseline)."""
    if np.ndim(start) < 2:
        start = np.broadcast_to(start, (len(y), *np.shape(start))).copy()
    pool = cb.Pool(X, y, weight=weight, baseline=start)
    model = model_class(loss_function=loss, iterations=rounds, **{**COMMON, **params})
    model.fit(pool)
    return np.asarray(model.predict(pool, prediction_type="RawFormulaVal"))


def test_squared_error_is_rmse():
    X, y = diabetes()
    mse = lk.boost.objective("mean_squared_error", library="catboost")
    start = mse.init_score(y)
    # RMSE's derivatives are half ours. CatBoost's Newton leaf is scale-free only without its
    # L2 term (which it also applies, unscaled, to the split scores): l2_leaf_reg=0 for both.
    built_in = raw_margins(cb.CatBoostRegressor, "RMSE", X, y, start, l2_leaf_reg=0.0)
    ours = raw_margins(
        cb.CatBoostRegressor,
        mse,
        X,
        y,
        start,
        l2_leaf_reg=0.0,
        eval_metric=lk.boost.metric("mse", library="catboost"),
    )
    assert relative_difference(ours, built_in) < RELATIVE


def test_binary_crossentropy_is_logloss():
    X, y = breast_cancer()
    bce = lk.boost.objective("binary_crossentropy", library="catboost")
    start = bce.init_score(y)
    built_in = raw_margins(cb.CatBoostClassifier, "Logloss", X, y, start)
    ours = raw_margins(
        cb.CatBoostClassifier,
        bce,
        X,
        y,
        start,
        eval_metric=lk.boost.metric("bce", library="catboost"),
    )
    assert relative_difference(bce.transform(ours), bce.transform(built_in)) < RELATIVE


def test_sparse_categorical_crossentropy_is_multiclass():
    X, y = digits(200)
    scce = lk.boost.objective("sparse_categorical_crossentropy", library="catboost")
    start = jittered_class_margins(scce.init_score(y, num_classes=10), len(y))
    metric = lk.boost.metric("scce", library="catboost")
    built_in = raw_margins(cb.CatBoostClassifier, "MultiClass", X, y, start)
    ours = raw_margins(
        cb.CatBoostClassifier, scce, X, y, start, eval_metric=metric, classes_count=10
    )
    assert relative_difference(scce.transform(ours), scce.transform(built_in)) < RELATIVE


def test_poisson_is_poisson():
    X, y = counts()
    poisson = lk.boost.objective("poisson", library="catboost")
    start = poisson.init_score(y)
    built_in = raw_margins(cb.CatBoostRegressor, "Poisson", X, y, start)
    ours = raw_margins(
        cb.CatBoostRegressor,
        poisson,
        X,
        y,
        start,
        eval_metric=lk.boost.metric("poisson", library="catboost"),
    )
    assert relative_difference(poisson.transform(ours), poisson.transform(built_in)) < RELATIVE


def test_sample_weights_reach_the_objective_like_the_built_in():
    X, y = breast_cancer()
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(y))
    bce = lk.boost.objective("bce", library="catboost")
    start = bce.init_score(y, w)
    built_in = raw_margins(cb.CatBoostClassifier, "Logloss", X, y, start, weight=w, rounds=20)
    ours = raw_margins(
        cb.CatBoostClassifier,
        bce,
        X,
        y,
        start,
        weight=w,
        rounds=20,
        eval_metric=lk.boost.metric("bce", library="catboost"),
    )
    assert relative_difference(bce.transform(ours), bce.transform(built_in)) < RELATIVE


def test_metric_matches_catboost_logloss():
    X, y = breast_cancer()
    bce = lk.boost.objective("bce", library="catboost")
    start = bce.init_score(y)
    pool = cb.Pool(X, y, baseline=np.full(len(y), start))
    model = cb.CatBoostClassifier(
        loss_function=bce,
        iterations=5,
        eval_metric=lk.boost.metric("bce", library="catboost"),
        custom_metric=["Logloss"],
        **COMMON,
    )
    model.fit(pool, eval_set=pool)
    history = model.get_evals_result()["validation"]
    ours = history[next(k for k in history if "Logloss" not in k)][-1]
    assert ours == pytest.approx(history["Logloss"][-1], rel=1e-6)


END_TO_END = [
    ("binary_focal_crossentropy", breast_cancer, {"gamma": 2.0}, "exact", cb.CatBoostRegressor),
    ("tweedie", counts, {"power": 1.3}, "exact", cb.CatBoostRegressor),
    ("quantile", diabetes_standardized, {"quantiles": 0.8}, "constant", cb.CatBoostRegressor),
    ("huber", diabetes_standardized, {"delta": 0.5}, "exact", cb.CatBoostRegressor),
    ("log_cosh", diabetes_standardized, {}, "exact", cb.CatBoostRegressor),
    (
        PSEUDO_HUBER,
        diabetes_standardized,
        {"delta": 0.5},
        "exact",
        cb.CatBoostRegressor,
    ),
]


@pytest.mark.parametrize(("name", "data", "params", "hessian", "model_class"), END_TO_END)
def test_trains_end_to_end(name, data, params, hessian, model_class):
    with pseudo_huber_registered():  # the user loss among them, registered meanwhile
        X, y = data()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # focal: "exact" is not known to be convex
            obj = lk.boost.objective(name, library="catboost", hessian=hessian, **params)
        metric = lk.boost.metric(name, library="catboost", **params)
        start = obj.init_score(y)
        fitted = raw_margins(
            model_class, obj, X, y, start, rounds=30, learning_rate=0.3, eval_metric=metric
        )
        assert np.all(np.isfinite(fitted))
        assert metric.value(y, fitted) < 0.9 * metric.value(y, np.full(len(y), start))
        if name == "quantile":
            assert quantile_coverage(y, fitted) == pytest.approx(0.8, abs=0.1)


def test_class_loss_by_autodiff_trains():
    X, y = digits(90)
    y = y % 3  # three classes, few rows: CatBoost calls the objective once per row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        focal = lk.boost.objective("sparse_categorical_focal_crossentropy", library="catboost")
    assert not focal.closed_form
    metric = lk.boost.metric("sparse_categorical_focal_crossentropy", library="catboost")
    start = focal.init_score(y, num_classes=3)
    fitted = raw_margins(
        cb.CatBoostClassifier,
        focal,
        X,
        y,
        start,
        rounds=5,
        learning_rate=0.3,
        eval_metric=metric,
        classes_count=3,
    )
    assert metric.value(y, fitted) < 0.9 * metric.value(y, np.tile(start, (len(y), 1)))
