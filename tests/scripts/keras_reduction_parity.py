"""Run in its own process with KERAS_BACKEND set (see test_keras_reductions.py).

``losskit.keras`` classes against Keras's own loss classes on this backend, for every Keras
reduction (``None``, ``"none"``, ``"sum"``, ``"sum_over_batch_size"``, ``"mean"``,
``"mean_with_sample_weight"``), without and with sample weights of shape ``(N,)`` and
``(N, 1)``: the same values and the same shapes. Also Keras's ``call`` (per-sample values) and
``model.evaluate`` under ``compile(loss=...)``. Prints the largest difference per loss, then
``parity ok``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import losskit.keras as lkk

REDUCTIONS = (None, "none", "sum", "sum_over_batch_size", "mean", "mean_with_sample_weight")
N = 6
RTOL, ATOL = 2e-5, 2e-6


@dataclass
class Row:
    """One comparison: ``losskit.keras.<ours>(**options)`` against ``keras.losses.<theirs>``."""

    label: str
    ours: str
    options: dict[str, Any]
    theirs: str
    keras_options: dict[str, Any]
    y_true: np.ndarray
    y_pred: np.ndarray
    weights: list[np.ndarray | None] = field(default_factory=list)


def _sample_weights(n: int = N) -> list[np.ndarray | None]:
    w = np.linspace(0.25, 2.0, n)
    return [None, w, w[:, None]]


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def rows() -> list[Row]:
    rng = np.random.default_rng(7)
    y, p = rng.normal(size=(N, 4)), rng.normal(size=(N, 4))
    positive_y, positive_p = rng.uniform(0.5, 3.0, (N, 4)), rng.uniform(0.5, 3.0, (N, 4))
    bits, logits3 = (rng.random((N, 3)) > 0.5) * 1.0, 2.0 * rng.normal(size=(N, 3))
    probs3 = rng.uniform(0.05, 0.95, (N, 3))
    labels = rng.integers(0, 5, N)
    one_hot, logits5 = np.eye(5)[labels], 2.0 * rng.normal(size=(N, 5))
    ignored = labels.copy()
    ignored[[1, 4]] = -1
    target = rng.dirichlet(np.ones(5), N)
    probs5 = rng.dirichlet(np.ones(5) * 2.0, N)
    signs = np.where(rng.random((N, 3)) > 0.5, 1.0, -1.0)
    masks = (rng.random((N, 4, 4, 1)) > 0.6) * 1.0
    masks[0, 0, 0, 0] = 1.0  # no empty image
    soft = rng.uniform(0.02, 0.98, (N, 4, 4, 1))
    groups = np.array([0, 0, 1, 1, 2, 2, 0, 3])
    embeddings = _normalised(rng.normal(size=(8, 5)))
    sequence_y, sequence_p = rng.normal(size=(N, 3, 4)), rng.normal(size=(N, 3, 4))
    per_step = np.linspace(0.25, 2.0, N * 3).reshape(N, 3)
    w = _sample_weights()
    regression = [
        ("MeanSquaredError", {}, y, p),
        ("MeanAbsoluteError", {}, y, p),
        ("MeanAbsolutePercentageError", {}, positive_y, positive_p),
        ("MeanSquaredLogarithmicError", {}, positive_y, positive_p),
        ("Huber", {"delta": 0.5}, y, p),
        ("LogCosh", {}, y, p),
        ("Poisson", {}, positive_y, positive_p),
        ("CosineSimilarity", {}, y, p),
    ]
    same = [Row(c, c, o, c, o, a, b, w) for c, o, a, b in regression]
    same += [
        Row("BCE logits", "BinaryCrossentropy", {"from_logits": True}, "", {}, bits, logits3, w),
        Row("BCE probabilities", "BinaryCrossentropy", {}, "", {}, bits, probs3, w),
        Row(
            "BinaryFocalCrossentropy",
            "BinaryFocalCrossentropy",
            {"gamma": 2.0, "from_logits": True},
            "",
            {},
            bits,
            logits3,
            w,
        ),
        Row(
            "CategoricalCrossentropy",
            "CategoricalCrossentropy",
            {"from_logits": True, "label_smoothing": 0.1},
            "",
            {},
            one_hot,
            logits5,
            w,
        ),
        Row(
            "CategoricalFocalCrossentropy",
            "CategoricalFocalCrossentropy",
            {"alpha": 0.25, "gamma": 2.0, "from_logits": True},
            "",
            {},
            one_hot,
            logits5,
            w,
        ),
        Row("KLDivergence", "KLDivergence", {}, "", {}, target, probs5, w),
        Row("Hinge", "Hinge", {}, "", {}, signs, logits3, w),
        Row("SquaredHinge", "SquaredHinge", {}, "", {}, signs, logits3, w),
        Row("CategoricalHinge", "CategoricalHinge", {}, "", {}, one_hot, logits5, w),
    ]
    for row in same:
        row.theirs, row.keras_options = row.theirs or row.ours, row.keras_options or row.options
    sparse = {"from_logits": True}
    return [
        *same,
        Row(
            "SparseCategoricalCrossentropy",
            "SparseCategoricalCrossentropy",
            sparse,
            "SparseCategoricalCrossentropy",
            sparse,
            labels,
            logits5,
            w,
        ),
        Row(
            "SparseCategoricalCrossentropy ignore",
            "SparseCategoricalCrossentropy",
            {**sparse, "ignore_index": -1},
            "SparseCategoricalCrossentropy",
            {**sparse, "ignore_class": -1},
            ignored,
            logits5,
            w,
        ),
        # sequences: (N, T, D) elementwise, per-step weights (N, T) as Keras takes them
        Row(
            "MSE (N, T, D)",
            "MeanSquaredError",
            {},
            "MeanSquaredError",
            {},
            sequence_y,
            sequence_p,
            [None, per_step],
        ),
        # one value per image (Keras's axis over the pixels and channels)
        Row(
            "Dice per image",
            "Dice",
            {"mode": "binary", "per_image": True, "empty": "keep"},
            "Dice",
            {"axis": (1, 2, 3)},
            masks,
            soft,
            w,
        ),
        # Keras's alpha weighs Σ (1 - p)·y (losskit's false negatives, beta)
        Row(
            "Tversky per image",
            "Tversky",
            {"mode": "binary", "per_image": True, "empty": "keep", "alpha": 0.3, "beta": 0.7},
            "Tversky",
            {"axis": (1, 2, 3), "alpha": 0.7, "beta": 0.3},
            masks,
            soft,
            w,
        ),
        # one value for the batch: no per-sample weights
        Row(
            "Dice batch",
            "Dice",
            {"mode": "binary", "empty": "keep"},
            "Dice",
            {},
            masks,
            soft,
            [None],
        ),
        Row(
            "Tversky batch",
            "Tversky",
            {"mode": "binary", "empty": "keep", "alpha": 0.3, "beta": 0.7},
            "Tversky",
            {"alpha": 0.7, "beta": 0.3},
            masks,
            soft,
            [None],
        ),
        Row(
            "Circle",
            "Circle",
            {"m": 0.4, "gamma": 80.0},
            "Circle",
            {"margin": 0.4, "gamma": 80.0},
            groups,
            embeddings,
            _sample_weights(8),
        ),
    ]


def tensor(x: np.ndarray) -> Any:
    dtype = "int32" if x.dtype.kind in "iu" else "float32"
    return keras.ops.convert_to_tensor(x.astype(dtype), dtype=dtype)


def numpy(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def compare(row: Row) -> float:
    """Every reduction and weight of ``row``; returns the largest relative difference."""
    worst = 0.0
    args = (tensor(row.y_true), tensor(row.y_pred))
    for reduction in REDUCTIONS:
        ours = getattr(lkk, row.ours)(reduction=reduction, **row.options)
        theirs = getattr(keras.losses, row.theirs)(reduction=reduction, **row.keras_options)
        for w in row.weights:
            weight = None if w is None else tensor(w)
            got = numpy(ours(*args, sample_weight=weight))
            want = numpy(theirs(*args, sample_weight=weight))
            where = f"{row.label} reduction={reduction!r} weights {None if w is None else w.shape}"
            assert got.shape == want.shape, (where, got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=where)
            scale = np.maximum(np.abs(want), 1.0)
            worst = max(worst, float(np.max(np.abs(got - want) / scale, initial=0.0)))
    got, want = numpy(ours.call(*args)), numpy(theirs.call(*args))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{row.label} call")
    return worst


def check_evaluate() -> None:
    """``compile(loss=...)`` + ``evaluate``/``fit``: the same logged loss as Keras's class."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = (x[:, :3] * 0.5 + 0.1).astype("float32")
    for reduction in ("sum", "sum_over_batch_size", "mean_with_sample_weight", None):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
        weights = model.get_weights()
        logged = []
        for loss in (
            lkk.MeanSquaredError(reduction=reduction),
            keras.losses.MeanSquaredError(reduction=reduction),
        ):
            model.set_weights(weights)
            model.compile(optimizer="sgd", loss=loss)
            logged.append(model.evaluate(x, y, batch_size=8, verbose=0))
        np.testing.assert_allclose(logged[0], logged[1], rtol=1e-5, err_msg=str(reduction))
        if reduction is None:  # a vector loss: JAX and torch need a scalar to differentiate
            continue
        model.set_weights(weights)
        model.compile(optimizer="sgd", loss=lkk.MeanSquaredError(reduction=reduction))
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"]
        assert np.all(np.isfinite(history)), (reduction, history)
    print("evaluate ok")


if __name__ == "__main__":
    for row in rows():
        print(f"{row.label:40} max |Δ|/max(|keras|, 1) = {compare(row):.2e}")
    check_evaluate()
    print("parity ok")
    sys.exit(0)
