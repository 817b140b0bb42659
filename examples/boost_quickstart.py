"""Train gradient-boosted trees with losskit objectives in XGBoost and LightGBM.

Two losses on scikit-learn's bundled data sets (no download), each next to the library's own
objective with the same trees, rounds and starting constant:

* **Tweedie deviance** (power 1.5, log link) on ``diabetes`` (a positive target): losskit's
  ``tweedie`` against XGBoost's ``reg:tweedie`` and LightGBM's ``tweedie``. losskit's
  derivatives are those of the deviance as defined, twice the built-ins', so the built-ins'
  penalties in Hessian units (``lambda``, ``min_child_weight``) are halved to grow the same
  trees: the test deviances agree to round-off.
* **Binary focal loss** (γ = 2) on ``breast_cancer``, which neither library has, against the
  built-in logistic loss. The focal loss is not convex in the logit, so its objective uses
  ``hessian="clip"``; its derivatives come from automatic differentiation (PyTorch or JAX).

Both start from ``objective.init_score(y)``, the constant margin that minimises the loss, as
``base_score`` (XGBoost) or ``init_score`` (LightGBM, whose raw predictions leave it out).

Run from the repository root (about ten seconds on two cores)::

    python examples/boost_quickstart.py
"""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import Any

import numpy as np

import losskit as lk

ROUNDS = 100
SEED = 0


def split(name: str) -> tuple[np.ndarray, ...]:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return tuple(train_test_split(x, y.astype(np.float64), test_size=0.25, random_state=SEED))


def xgboost_margins(params: dict[str, Any], data: tuple[np.ndarray, ...], obj: Any) -> np.ndarray:
    """Test margins after ``ROUNDS`` rounds (``obj=None``: the built-in objective)."""
    import xgboost as xgb

    x_train, x_test, y_train, _ = data
    common = {"tree_method": "hist", "max_depth": 3, "eta": 0.1, "nthread": 1, "seed": SEED}
    booster = xgb.train({**common, **params}, xgb.DMatrix(x_train, y_train), ROUNDS, obj=obj)
    return np.asarray(booster.predict(xgb.DMatrix(x_test), output_margin=True))


def lightgbm_margins(params: dict[str, Any], data: tuple[np.ndarray, ...], start: float) -> Any:
    """Test margins after ``ROUNDS`` rounds, ``start`` added back."""
    import lightgbm as lgb

    x_train, x_test, y_train, _ = data
    common = {
        "max_depth": 3,
        "num_leaves": 8,
        "learning_rate": 0.1,
        "num_threads": 1,
        "deterministic": True,
        "force_row_wise": True,
        "seed": SEED,
        "verbose": -1,
    }
    train = lgb.Dataset(x_train, y_train, init_score=np.full(len(y_train), start))
    booster = lgb.train({**common, **params}, train, ROUNDS)
    return booster.predict(x_test, raw_score=True) + start


def tweedie(libraries: list[str]) -> None:
    data = split("diabetes")
    y_train, y_test = data[2], data[3]
    deviance = {lib: lk.boost.metric("tweedie", library=lib, power=1.5) for lib in libraries}
    print(f"Tweedie deviance (power 1.5) on diabetes, test set of {len(y_test)}, lower is better")
    for library in libraries:
        objective = lk.boost.objective("tweedie", library=library, power=1.5)
        start = objective.init_score(y_train)  # log of the mean target
        if library == "xgboost":
            ours = xgboost_margins({"base_score": start}, data, objective)
            # reg:tweedie's gradient and Hessian are half the deviance's: half the penalties
            built_in = xgboost_margins(
                {
                    "objective": "reg:tweedie",
                    "tweedie_variance_power": 1.5,
                    "base_score": float(np.exp(start)),  # a mean for the built-in
                    "lambda": 0.5,
                    "min_child_weight": 0.5,
                },
                data,
                None,
            )
        else:
            ours = lightgbm_margins({"objective": objective}, data, start)
            built_in = lightgbm_margins(
                {
                    "objective": "tweedie",
                    "tweedie_variance_power": 1.5,
                    "min_sum_hessian_in_leaf": 0.5e-3,
                },
                data,
                start,
            )
        mine, theirs = (
            deviance[library].value(y_test, ours),
            deviance[library].value(y_test, built_in),
        )
        print(f"  {library:9} losskit tweedie {mine:.4f}   built-in tweedie {theirs:.4f}")


def focal(libraries: list[str]) -> None:
    data = split("breast_cancer")
    y_train, y_test = data[2], data[3]
    log_loss = lk.boost.metric("binary_crossentropy", library="xgboost")
    print(f"\nFocal loss (gamma 2) on breast_cancer, test set of {len(y_test)}")
    for library in libraries:
        objective = lk.boost.objective(
            "binary_focal_crossentropy", library=library, hessian="clip", gamma=2.0
        )
        start = objective.init_score(y_train)
        built_in_start = lk.boost.objective("bce", library=library).init_score(y_train)
        if library == "xgboost":
            ours = xgboost_margins({"base_score": start}, data, objective)
            probability = 1.0 / (1.0 + np.exp(-built_in_start))
            built_in = xgboost_margins(
                {"objective": "binary:logistic", "base_score": probability}, data, None
            )
        else:
            ours = lightgbm_margins({"objective": objective}, data, start)
            built_in = lightgbm_margins({"objective": "binary"}, data, built_in_start)
        for label, margins in (("losskit focal", ours), ("built-in logistic", built_in)):
            accuracy = np.mean((margins > 0) == (y_test == 1))
            print(
                f"  {library:9} {label:18} accuracy {100 * accuracy:.1f}%   "
                f"log-loss {log_loss.value(y_test, margins):.4f}"
            )


def main() -> int:
    libraries = [lib for lib in ("xgboost", "lightgbm") if importlib.util.find_spec(lib)]
    if not libraries or importlib.util.find_spec("sklearn") is None:
        print("needs scikit-learn and XGBoost or LightGBM: pip install 'losskit[boost]'")
        return 1
    start = time.perf_counter()
    tweedie(libraries)
    focal(libraries)
    print(f"\n{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
