"""Small data sets and helpers shared by the gradient-boosting tests (tests/test_boost*.py).

scikit-learn's bundled data sets (no download): diabetes (regression), breast cancer (binary),
the first rows of digits (10 classes), and generated Poisson counts. Then the catalogue as the
tests see it: which losses are objectives, a sample of targets and margins for each, and each
loss's per-row values through the public function with the documented link (from_logits=True
for losses that have it, exp(margin) for Poisson, Tweedie and the squared log error, the margin
itself otherwise) — written here from the convention, not read from the objective's code.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

import losskit as lk
from cases import FACTORIES
from losskit import _registry

ROUNDS = 50  # boosting rounds of every equality test
RELATIVE = 1e-5  # predictions agree to this, relative to the largest prediction


@functools.cache
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True)


@functools.cache
def diabetes_standardized() -> tuple[np.ndarray, np.ndarray]:
    """Diabetes with the target standardised (for losses with a Hessian of 1 or 0 — Huber,
    log-cosh, pinball with ``hessian="constant"`` — whose leaves move by at most the learning
    rate per round)."""
    X, y = diabetes()
    return X, (y - y.mean()) / y.std()


@functools.cache
def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X, y.astype(float)


@functools.cache
def digits(rows: int = 500) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:rows], y[:rows].astype(float)


@functools.cache
def counts() -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(0)
    X = r.normal(size=(500, 5))
    y = r.poisson(np.exp(0.5 + 0.4 * X[:, 0] - 0.3 * X[:, 1] + 0.2 * X[:, 2] * X[:, 3]))
    return X, y.astype(float)


def jittered_class_margins(init: np.ndarray, rows: int) -> np.ndarray:
    """Per-row starting margins: the class log-frequencies plus a little fixed noise.

    From one constant start every row of a class has the same gradient, so many splits tie
    exactly in real arithmetic and the winner is decided by float32 rounding, which differs
    between a built-in objective and any other code computing the same numbers. A per-row start
    breaks the ties; both models start from the same margins."""
    noise = 0.1 * np.random.default_rng(1).normal(size=(rows, init.shape[0]))
    return init[None, :] + noise


def relative_difference(ours: np.ndarray, builtin: np.ndarray) -> float:
    """``max |ours - builtin| / max |builtin|``."""
    return float(np.max(np.abs(ours - builtin)) / np.max(np.abs(builtin)))


def elementwise_relative(ours: np.ndarray, builtin: np.ndarray) -> float:
    """``max |ours - builtin| / |builtin|`` (for the report; large where predictions are ~0)."""
    return float(np.max(np.abs(ours - builtin) / np.maximum(np.abs(builtin), 1e-300)))


#: The name the user loss below is registered under while a test uses it.
PSEUDO_HUBER = "boost_test_pseudo_huber"


@contextlib.contextmanager
def pseudo_huber_registered() -> Iterator[Any]:
    """δ²(√(1 + (d/δ)²) − 1) — XGBoost's ``reg:pseudohubererror`` — as an ``@lk.loss`` user
    loss (derivatives by autodiff), registered for the block only: registry-driven tests
    collect ``lk.names()`` and must not see it."""

    @lk.loss(name=PSEUDO_HUBER, replace=True)
    def pseudo_huber(y_true: Any, y_pred: Any, *, xp: Any, delta: float = 1.0) -> Any:
        d = (y_pred - y_true) / delta
        return delta * delta * (xp.sqrt(1.0 + d * d) - 1.0)

    try:
        yield pseudo_huber
    finally:
        _registry._remove(PSEUDO_HUBER)


def quantile_coverage(y: np.ndarray, prediction: np.ndarray) -> float:
    """Fraction of targets at or below the prediction."""
    return float(np.mean(y <= prediction))


# ---------------------------------------------------------------------- the catalogue
#: Registered losses that predict a positive quantity: the objective passes them exp(margin).
EXP_LINK = {"poisson", "tweedie", "mean_squared_logarithmic_error"}
#: Class losses that take integer labels (the others take one-hot rows).
LABEL_TARGETS = {
    "sparse_categorical_crossentropy",
    "sparse_categorical_focal_crossentropy",
    "multiclass_hinge",
    "sparsemax_loss",
}
#: Losses that cannot be objectives, and a phrase of the reason each must give.
REFUSED = {
    "info_nce": "compares rows",
    "sigmoid_contrastive": "compares rows",
    "supervised_contrastive": "compares rows",
    "circle": "compares rows",
    "contrastive": "pairs of rows",
    "ctc": "whole sequences",
    "grpo": "whole sequences",
    "dice": "overlap score",
    "jaccard": "overlap score",
    "tversky": "overlap score",
    "focal_tversky": "overlap score",
    "generalized_dice": "overlap score",
    "lovasz_softmax": "overlap score",
    "lovasz_hinge": "overlap score",
    "listnet": "ranks the items",
    "listmle": "ranks the items",
    "approx_ndcg": "ranks the items",
    "lambda_loss": "ranks the items",
    "pairwise_hinge": "ranks the items",
    "pairwise_logistic": "ranks the items",
    "cosine_similarity": "vector of predictions per row",
    "crps_ensemble": "(y_true, ensemble)",
    "crps_gaussian": "(y_true, mu, sigma)",
    "beta_nll": "(y_true, mean, variance)",
    "triplet_margin": "(anchor, positive, negative)",
    "margin_ranking": "(x1, x2, y)",
    "cosine_embedding": "(x1, x2, y)",
    "hinge_embedding": "(x, y)",
    "linear_cross_entropy": "(hidden, weight, targets)",
    "dpo": "(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps)",
    "cpo": "(chosen_logps, rejected_logps)",
    "orpo": "(chosen_logps, rejected_logps)",
    "simpo": "(chosen_logps, rejected_logps)",
    "kto": "separate batches",
    "distillation_kl": "(teacher_logits, student_logits)",
    "generalized_jsd": "(teacher_logits, student_logits)",
}
N, K = 24, 4


def is_class_loss(name):
    return lk.info(name).kind == "axis"


def takes_logits(name):
    return "from_logits" in inspect.signature(lk.get(name)).parameters


#: Parameters beside the sample call's (tests/cases.py).
EXTRA_PARAMS = {"bi_tempered_logistic": {"num_iters": 8}}  # a normaliser exact to rounding


def loss_params(name):
    sample_call = FACTORIES[name]().params if name in FACTORIES else {}
    params = {k: v for k, v in sample_call.items() if k != "from_logits"}
    params.update(EXTRA_PARAMS.get(name, {}))
    return {**params, "from_logits": True} if takes_logits(name) else params


def objective_params(name):
    return {k: v for k, v in loss_params(name).items() if k != "from_logits"}


def eligible():
    names = []
    for name in lk.names():
        if name in REFUSED:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lk.boost.objective(name, library="xgboost", **objective_params(name))
        except lk.boost.NotAnObjective:
            continue
        names.append(name)
    return names


ELIGIBLE = eligible()


def sample(name, rng):
    """Targets (as the library gives them) and margins for ``name``."""
    info = lk.info(name)
    if is_class_loss(name):
        return rng.integers(0, K, N).astype(float), rng.normal(size=(N, K))
    if info.task in ("binary", "multilabel", "classification"):
        return (rng.random(N) > 0.5).astype(float), rng.normal(size=N)
    if name in EXP_LINK or name == "poisson_nll":
        return rng.poisson(2.0, N).astype(float), 0.5 * rng.normal(size=N)
    if name == "mean_absolute_percentage_error":
        return rng.uniform(1.0, 3.0, N), rng.uniform(0.0, 4.0, N)
    return rng.normal(size=N), rng.normal(size=N)


def row_losses(name, labels, margins):
    """Per-row losses of the public loss at ``margins``, with the documented link."""
    y = labels
    if is_class_loss(name) and name not in LABEL_TARGETS:
        y = np.eye(K)[labels.astype(int)]
    elif is_class_loss(name):
        y = labels.astype(int)
    prediction = np.exp(margins) if name in EXP_LINK else margins
    return np.asarray(lk.get(name)(y, prediction, reduction="none", **loss_params(name)))


def make(name, library="xgboost", **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lk.boost.objective(name, library=library, **objective_params(name), **extra)
