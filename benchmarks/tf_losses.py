"""TensorFlow: Keras 3 losses (on the TensorFlow backend) against losskit.

Both sides run inside a ``tf.function`` that records the loss on a ``GradientTape`` and returns
the loss and its gradient. While tracing, losskit skips its value checks by design. The Keras
side is the loss object (``keras.losses.X(...)``, default ``"sum_over_batch_size"``
reduction), losskit is called with the options that compute the same number (checked before
timing). Two suites: large inputs and N=32 (per-call overhead).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import contextlib

import tensorflow as tf

import losskit as lk

from ._suite import LARGE, QUICK, SMALL, TRACED, Case, size_label
from ._timing import Step

Sizes = dict[str, tuple[int, ...]]
#: (loss, size, native name, native fn, losskit fn, y, x): both fns take ``(y, x)``, and the
#: gradient is taken with respect to ``x``.
Spec = tuple[str, str, str, Callable[[Any, Any], Any], Callable[[Any, Any], Any], Any, Any]


def _keras() -> Any:
    """Keras 3 on the TensorFlow backend (ImportError otherwise: the suite is skipped)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ImportError("Keras is not on the TensorFlow backend")
    return keras


def _step(loss_fn: Callable[[Any, Any], Any], y: Any, x: Any) -> Step:
    """A ``tf.function`` returning ``loss_fn(y, x)`` and its gradient with respect to ``x``."""

    @tf.function
    def value_and_grad(y: Any, x: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(y, x)
        return loss, tape.gradient(loss, x)

    return lambda: value_and_grad(y, x)


def _classification(sizes: Sizes, rng: Any, losses: Any) -> list[Spec]:
    n, c = sizes["classes"]
    size = size_label((n, c))
    z = rng.normal((n, c))
    labels = rng.uniform((n,), 0, c, dtype=tf.int32)
    onehot = tf.one_hot(labels, c)
    probs = tf.nn.softmax(rng.normal((n, c)))
    p = tf.nn.softmax(rng.normal((n, c)))
    return [
        (
            "sparse CE (logits)",
            size,
            "keras SparseCategoricalCrossentropy",
            losses.SparseCategoricalCrossentropy(from_logits=True),
            lambda y, x: lk.sparse_categorical_crossentropy(y, x, from_logits=True),
            labels,
            z,
        ),
        (
            "categorical CE (logits)",
            size,
            "keras CategoricalCrossentropy",
            losses.CategoricalCrossentropy(from_logits=True),
            lambda y, x: lk.categorical_crossentropy(y, x, from_logits=True),
            probs,
            z,
        ),
        (
            "categorical focal (logits)",
            size,
            "keras CategoricalFocalCrossentropy",
            losses.CategoricalFocalCrossentropy(from_logits=True),
            lambda y, x: lk.categorical_focal_crossentropy(
                y, x, from_logits=True, alpha=0.25, gamma=2.0
            ),
            onehot,
            z,
        ),
        (
            "generalized CE",
            size,
            "keras CategoricalGeneralizedCrossEntropy",
            losses.CategoricalGeneralizedCrossEntropy(q=0.5),
            lambda y, x: lk.generalized_crossentropy(y, x, q=0.5),  # class indices, as Keras
            labels,
            p,
        ),
        (
            "kl_divergence",
            size,
            "keras KLDivergence",
            losses.KLDivergence(),
            lk.kl_divergence,
            probs,
            p,
        ),
        (
            "categorical_hinge",
            size,
            "keras CategoricalHinge",
            losses.CategoricalHinge(),
            lk.categorical_hinge,
            onehot,
            z,
        ),
    ]


def _elementwise(sizes: Sizes, rng: Any, losses: Any) -> list[Spec]:
    shape = sizes["elements"]
    size = size_label(shape)
    x = rng.normal(shape)
    hard = tf.cast(rng.uniform(shape) < 0.5, tf.float32)
    signs = 2.0 * hard - 1.0
    target = rng.normal(shape)
    rate = rng.uniform(shape, 0.5, 4.0)
    counts = tf.round(rng.uniform(shape, 0.0, 6.0))
    positive = rng.uniform(shape, 0.5, 3.0)
    # Keras's elementwise losses average over the last axis, then over the batch: the same mean
    return [
        (
            "binary CE (logits)",
            size,
            "keras BinaryCrossentropy",
            losses.BinaryCrossentropy(from_logits=True),
            lambda y, x: lk.binary_crossentropy(y, x, from_logits=True),
            hard,
            x,
        ),
        (
            "binary focal (logits)",
            size,
            "keras BinaryFocalCrossentropy",
            losses.BinaryFocalCrossentropy(from_logits=True, gamma=2.0),
            lambda y, x: lk.binary_focal_crossentropy(y, x, from_logits=True, gamma=2.0),
            hard,
            x,
        ),
        ("MSE", size, "keras MeanSquaredError", losses.MeanSquaredError(),
         lk.mean_squared_error, target, x),
        ("MAE", size, "keras MeanAbsoluteError", losses.MeanAbsoluteError(),
         lk.mean_absolute_error, target, x),
        ("MAPE", size, "keras MeanAbsolutePercentageError",
         losses.MeanAbsolutePercentageError(), lk.mean_absolute_percentage_error, positive, rate),
        ("MSLE", size, "keras MeanSquaredLogarithmicError",
         losses.MeanSquaredLogarithmicError(), lk.mean_squared_logarithmic_error, positive, rate),
        ("huber", size, "keras Huber", losses.Huber(), lk.huber, target, x),
        ("log_cosh", size, "keras LogCosh", losses.LogCosh(), lk.log_cosh, target, x),
        ("poisson", size, "keras Poisson", losses.Poisson(), lk.poisson, counts, rate),
        ("hinge", size, "keras Hinge", losses.Hinge(), lk.hinge, signs, x),
        ("squared_hinge", size, "keras SquaredHinge", losses.SquaredHinge(), lk.squared_hinge,
         signs, x),
    ]  # fmt: skip


def _embeddings(sizes: Sizes, rng: Any, losses: Any) -> list[Spec]:
    n, f = sizes["embeddings"]
    a, b = rng.normal((n, f)), rng.normal((n, f))
    return [
        (
            "cosine_similarity",
            size_label((n, f)),
            "keras CosineSimilarity",
            losses.CosineSimilarity(),
            lk.cosine_similarity,
            b,
            a,
        )
    ]


def _ctc(sizes: Sizes, rng: Any, losses: Any) -> list[Spec]:
    n, t, k, s = sizes["sequences"]
    z = 2.0 * rng.normal((n, t, k))
    labels = rng.uniform((n, s), 1, k, dtype=tf.int32)  # 0 is the blank
    lengths = rng.uniform((n,), max(1, s // 2), s + 1, dtype=tf.int32)
    # Keras: labels padded with the blank 0 (every sequence has all T frames)
    padded = tf.where(tf.range(s)[None, :] < lengths[:, None], labels, 0)
    size = f"N{n} T{t} C{k} S{s}"
    return [("ctc", size, "keras CTC", losses.CTC(), lk.ctc, padded, z)]


def _cases(suite: str, sizes: Sizes, quick: bool = False) -> Iterator[Case]:
    losses = _keras().losses
    rng = tf.random.Generator.from_seed(0)
    specs = [
        *_classification(sizes, rng, losses),
        *_elementwise(sizes, rng, losses),
        *_embeddings(sizes, rng, losses),
        *([] if quick else _ctc(sizes, rng, losses)),  # slow to trace: not in smoke run
    ]
    for loss, size, native_name, native, ours, y, x in specs:
        yield Case(
            suite, loss, size, native_name, TRACED, _step(native, y, x), _step(ours, y, x), float
        )


def cases(quick: bool) -> Iterator[Case]:
    """Every Keras anchor at large (or, quick, tiny) sizes, then at N=32."""
    yield from _cases("tf function", QUICK if quick else LARGE, quick)
    if not quick:  # the smoke run (CI) skips the N=32 rows: the same code at another size
        yield from _cases("tf overhead", SMALL)


def versions() -> dict[str, str]:
    """Library versions for the results file."""
    out = {"tensorflow": tf.__version__}
    with contextlib.suppress(ImportError):
        out["keras"] = _keras().__version__
    return out
