"""``losskit compare --model gbdt``: every loss as the objective of gradient-boosted trees
(XGBoost, LightGBM or CatBoost through :mod:`losskit.boost`), one model per seed, scored like
the networks."""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import numpy as np

from ._compare import (
    TREE_DEPTH,
    TREE_L2,
    TREE_LEARNING_RATE,
    CompareError,
    Config,
    LossSpec,
    Problem,
    ProgressCallback,
    Run,
    Trial,
    score,
)


def gbdt_objective(spec: LossSpec, library: str, hessian: str, num_classes: int) -> Any:
    """The loss as a ``library`` objective over ``num_classes`` margins (Hessian mode
    ``hessian``, or for ``"auto"``: exact when the loss is convex in the margins and curved,
    1 when its Hessian is 0, else the exact Hessian floored, ``"clip"``). Raises
    :class:`CompareError` with the reason when the loss cannot be such an objective."""
    from . import boost

    if library == "catboost" and num_classes < 3:
        raise CompareError(
            "CatBoost gives a custom objective over two classes a single margin (its "
            "classes_count=2 is one dimension): use --library xgboost or lightgbm, or digits"
        )

    def build(mode: str) -> Any:
        with warnings.catch_warnings():  # the choice below replaces the warning's advice
            warnings.simplefilter("ignore", UserWarning)
            return boost.objective(spec.name, library=library, hessian=mode, **spec.params)

    try:
        exact = build("exact")
    except (boost.NotAnObjective, ValueError, TypeError) as error:
        raise CompareError(str(error)) from None
    if exact.spec.structure != "class":
        raise CompareError(
            f"{spec.name} is an elementwise loss (one margin per entry of the "
            f"{'one-hot target' if spec.target == 'onehot' else 'target'}); the "
            f"boosted model has one margin per class and needs a loss over the class axis"
        )
    if hessian != "auto":
        try:
            return exact if hessian == "exact" else build(hessian)
        except ValueError as error:
            raise CompareError(f"{spec.label}: {error}") from None
    if not _curved(exact, num_classes):
        return build("constant")
    return exact if exact.convex else build("clip")


def _curved(objective: Any, num_classes: int) -> bool:
    """Whether the exact Hessian is non-zero somewhere (not a piecewise-linear loss)."""
    rng = np.random.default_rng(0)
    labels = np.arange(2 * num_classes) % num_classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _, h = objective.grad_hess(labels, rng.normal(size=(labels.size, num_classes)))
    return bool(np.any(h != 0))


def describe_objective(objective: Any) -> str:
    """``hessian=exact, closed form``: how a boosted loss was differentiated."""
    how = "closed form" if objective.closed_form else "autodiff"
    return f"hessian={objective.hessian}, {how}"


class XGBoostTrees:
    """``xgb.train`` with the objective, ``base_margin`` the starting constant on every row."""

    def __init__(
        self, objective: Any, x: np.ndarray, y: np.ndarray, start: np.ndarray, config: Config
    ) -> None:
        import xgboost as xgb

        self.xgb, self.start = xgb, start
        params = {
            "num_class": start.size,
            "max_depth": TREE_DEPTH,
            "eta": TREE_LEARNING_RATE,
            "lambda": TREE_L2,
            "tree_method": "hist",
            "nthread": 1,
            "seed": config.seed,
            "disable_default_eval_metric": True,
        }
        dtrain = xgb.DMatrix(x, label=y, base_margin=self._base(len(y)))
        self.model = xgb.train(params, dtrain, config.rounds, obj=objective)

    def _base(self, rows: int) -> np.ndarray:
        return np.tile(self.start, (rows, 1))

    def margins(self, x: np.ndarray, rounds: int) -> np.ndarray:
        dmatrix = self.xgb.DMatrix(x, base_margin=self._base(len(x)))
        return np.asarray(
            self.model.predict(dmatrix, output_margin=True, iteration_range=(0, rounds))
        )


class LightGBMTrees:
    """``lgb.train`` with the objective, ``init_score`` the starting constant on every row
    (LightGBM's raw predictions leave it out: added back)."""

    def __init__(
        self, objective: Any, x: np.ndarray, y: np.ndarray, start: np.ndarray, config: Config
    ) -> None:
        import lightgbm as lgb

        self.start = start
        params = {
            "objective": objective,
            "num_class": start.size,
            "max_depth": TREE_DEPTH,
            "num_leaves": 2**TREE_DEPTH,
            "learning_rate": TREE_LEARNING_RATE,
            "lambda_l2": TREE_L2,
            "num_threads": 1,
            "seed": config.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        data = lgb.Dataset(x, label=y, init_score=np.tile(start, (len(y), 1)))
        self.model = lgb.train(params, data, config.rounds)

    def margins(self, x: np.ndarray, rounds: int) -> np.ndarray:
        raw = self.model.predict(x, raw_score=True, num_iteration=rounds)
        return np.asarray(raw).reshape(len(x), -1) + self.start


class CatBoostTrees:
    """``CatBoost`` with the objective (and the loss as its metric), the pool's ``baseline`` the
    starting constant on every row."""

    def __init__(
        self, objective: Any, x: np.ndarray, y: np.ndarray, start: np.ndarray, config: Config
    ) -> None:
        import catboost as cb

        from . import boost

        self.cb, self.start = cb, start
        metric = boost.metric(objective.spec.name, library="catboost", **objective.spec.params)
        params = {
            "loss_function": objective,
            "eval_metric": metric,
            "classes_count": start.size,
            "iterations": config.rounds,
            "depth": TREE_DEPTH,
            "learning_rate": TREE_LEARNING_RATE,
            "l2_leaf_reg": TREE_L2,
            "boost_from_average": False,
            "random_seed": config.seed,
            "thread_count": 1,
            "verbose": False,
            "allow_writing_files": False,
        }
        self.model = cb.CatBoost(params)
        self.model.fit(cb.Pool(x, y, baseline=np.tile(start, (len(y), 1))))

    def margins(self, x: np.ndarray, rounds: int) -> np.ndarray:
        pool = self.cb.Pool(x, baseline=np.tile(self.start, (len(x), 1)))
        raw = self.model.predict(pool, prediction_type="RawFormulaVal", ntree_end=rounds)
        return np.asarray(raw).reshape(len(x), -1)


GBDT_TRAINERS: dict[str, Any] = {
    "xgboost": XGBoostTrees,
    "lightgbm": LightGBMTrees,
    "catboost": CatBoostTrees,
}


def train_gbdt(
    problem: Problem, labels: np.ndarray, progress: ProgressCallback, what: str
) -> Trial:
    """Boost ``config.rounds`` rounds of trees from the loss's best constant, one model per
    seed; the curves are the staged models' training loss (mean over seeds) and test scores
    after each round (outside the timing)."""
    library, objective = problem.cache["library"], problem.cache["objective"]
    rounds = problem.config.rounds
    from . import boost

    metric = boost.metric(objective.spec.name, library=library, **objective.spec.params)
    seconds, runs = 0.0, []
    train_loss = np.zeros(rounds)
    for i, (seed, data) in enumerate(zip(problem.seeds, problem.datasets, strict=True)):
        start = time.perf_counter()
        first = np.asarray(objective.init_score(labels[i], num_classes=data.num_classes), float)
        config = dataclasses.replace(problem.config, seed=seed)
        trees = GBDT_TRAINERS[library](objective, data.x_train, labels[i], first, config)
        seconds += time.perf_counter() - start
        curves: tuple[list[float], list[float]] = ([], [])
        logits = np.zeros((0, data.num_classes))
        for done in range(1, rounds + 1):
            train_loss[done - 1] += metric.value(labels[i], trees.margins(data.x_train, done))
            logits = trees.margins(data.x_test, done)
            scores = score(logits, data.y_test)
            curves[0].append(scores.accuracy)
            curves[1].append(scores.log_loss)
            progress(f"{what} seed {seed} round {done}/{rounds}")
        runs.append(Run(seed, *curves, scores=score(logits, data.y_test)))
    return Trial((train_loss / len(runs)).tolist(), runs, seconds)
