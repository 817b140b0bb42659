"""TensorFlow: Keras losses (``tf.nn`` when Keras is absent) against losskit.

Both sides run inside a ``tf.function`` that records the loss on a ``GradientTape`` and returns
the loss and its gradient. While tracing, losskit skips its value checks by design.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf

import losskit as lk

from ._suite import LARGE, QUICK, TRACED, Case, size_label
from ._timing import Step

SUITE = "tf function"
Native = tuple[str, Callable[[Any, Any], Any]]


def _natives() -> dict[str, Native]:
    """Keras loss objects when Keras (on TensorFlow) is available, else ``tf.nn`` losses."""
    try:
        import keras

        if keras.backend.backend() != "tensorflow":
            raise ImportError("Keras is not on the TensorFlow backend")
    except ImportError:
        return {
            "ce": ("tf.nn.sparse_softmax_cross_entropy_with_logits", _tf_ce),
            "bce": ("tf.nn.sigmoid_cross_entropy_with_logits", _tf_bce),
            "mse": ("tf.reduce_mean(tf.square(...))", _tf_mse),
        }
    losses = keras.losses
    return {
        "ce": (
            "keras SparseCategoricalCrossentropy",
            losses.SparseCategoricalCrossentropy(from_logits=True),
        ),
        "bce": ("keras BinaryCrossentropy", losses.BinaryCrossentropy(from_logits=True)),
        "mse": ("keras MeanSquaredError", losses.MeanSquaredError()),
    }


def _tf_ce(labels: Any, logits: Any) -> Any:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def _tf_bce(targets: Any, logits: Any) -> Any:
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(targets, logits))


def _tf_mse(target: Any, pred: Any) -> Any:
    return tf.reduce_mean(tf.square(pred - target))


def _step(loss_fn: Callable[[Any, Any], Any], y: Any, x: Any) -> Step:
    """A ``tf.function`` returning ``loss_fn(y, x)`` and its gradient with respect to ``x``."""

    @tf.function
    def value_and_grad(y: Any, x: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(y, x)
        return loss, tape.gradient(loss, x)

    return lambda: value_and_grad(y, x)


def _case(
    loss: str, shape: tuple[int, ...], native: Native, ours: Callable, y: Any, x: Any
) -> Case:
    native_name, native_fn = native
    return Case(
        SUITE,
        loss,
        size_label(shape),
        native_name,
        TRACED,
        _step(native_fn, y, x),
        _step(ours, y, x),
        float,
    )


def _losskit_ce(labels: Any, logits: Any) -> Any:
    return lk.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def _losskit_bce(targets: Any, logits: Any) -> Any:
    return lk.binary_crossentropy(targets, logits, from_logits=True)


def cases(quick: bool) -> Iterator[Case]:
    """Cross-entropy, binary cross-entropy and MSE at large (or, quick, tiny) sizes."""
    sizes = QUICK if quick else LARGE
    natives = _natives()
    rng = tf.random.Generator.from_seed(0)
    n, c = sizes["classes"]
    logits = rng.normal((n, c))
    labels = rng.uniform((n,), 0, c, dtype=tf.int32)
    yield _case("sparse CE (logits)", (n, c), natives["ce"], _losskit_ce, labels, logits)
    shape = sizes["elements"]
    x = rng.normal(shape)
    targets = tf.cast(rng.uniform(shape) < 0.5, tf.float32)
    yield _case("binary CE (logits)", shape, natives["bce"], _losskit_bce, targets, x)
    values = rng.normal(shape)
    yield _case("MSE", shape, natives["mse"], lk.mean_squared_error, values, x)


def versions() -> dict[str, str]:
    """Library versions for the results file."""
    out = {"tensorflow": tf.__version__}
    try:
        import keras

        out["keras"] = keras.__version__
    except ImportError:
        pass
    return out
