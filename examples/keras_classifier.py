"""Keras 3 (any backend): compile, fit, save and reload a model with a losskit loss.

Set ``KERAS_BACKEND`` to ``tensorflow``, ``jax`` or ``torch`` before running. The data are
scikit-learn's bundled ``digits`` images; the model is a small dense network compiled with
``losskit.keras.CategoricalFocalCrossentropy(gamma=2.0, from_logits=True)`` on one-hot labels.
After training it saves the model to a ``.keras`` file and loads it back with plain
``keras.models.load_model`` (no ``custom_objects``): the restored loss has the same parameters and
gives the same value.

Run from the repository root::

    KERAS_BACKEND=jax python examples/keras_classifier.py
"""

from __future__ import annotations

import os

# TensorFlow's start-up log, set before it is imported: C++ messages off, and oneDNN's custom
# operations off (TensorFlow prints a notice about them on import that no log level hides)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import tempfile
from pathlib import Path

import keras
import numpy as np
from sklearn.datasets import load_digits

import losskit.keras as lkk


def main() -> float:
    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = np.eye(10, dtype="float32")[digits.target]
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=lkk.CategoricalFocalCrossentropy(gamma=2.0, from_logits=True),
        metrics=["categorical_accuracy"],
    )
    model.fit(x_train, y_train, epochs=5, batch_size=64, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"backend {keras.backend.backend()}: test loss {loss:.4f}, accuracy {accuracy:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "digits.keras"
        model.save(path)
        restored = keras.models.load_model(path)
    print("restored loss:", restored.loss.get_config())
    reloaded_loss, _ = restored.evaluate(x_test, y_test, verbose=0)
    assert abs(reloaded_loss - loss) < 1e-5, (reloaded_loss, loss)
    return accuracy


if __name__ == "__main__":
    main()
