"""TensorFlow: a custom ``tf.GradientTape`` training loop compiled with XLA.

A logistic-regression model learns two overlapping Gaussian classes, trained with
``lk.binary_focal_crossentropy`` from logits inside ``tf.function(jit_compile=True)``; a
``tf.data`` pipeline streams the batches, and the same loss, called in the pipeline's ``map``, is
the validation metric. The script prints the training loss per epoch and the validation loss.

Run from the repository root::

    python examples/tf_custom_loop.py
"""

from __future__ import annotations

import os

# TensorFlow's start-up log, set before it is imported: C++ messages off, and oneDNN's custom
# operations off (TensorFlow prints a notice about them on import that no log level hides)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow as tf

import losskit as lk


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype("float32")
    x = rng.normal(size=(n, 2)).astype("float32") + 1.5 * y[:, None]
    return x, y[:, None]


def main() -> float:
    x, y = data(4000, 0)
    x_val, y_val = data(1000, 1)
    w = tf.Variable(tf.zeros((2, 1)))
    b = tf.Variable(tf.zeros((1,)))
    optimiser = tf.keras.optimizers.SGD(0.5)

    @tf.function(jit_compile=True)
    def step(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = lk.binary_focal_crossentropy(yb, xb @ w + b, gamma=2.0, from_logits=True)
        optimiser.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b], strict=True))
        return loss

    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(4000, seed=0).batch(200)
    for epoch in range(5):
        losses = [float(step(xb, yb)) for xb, yb in train]
        print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}")

    def validation_loss(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
        logits = xb @ w + b
        return lk.binary_focal_crossentropy(
            yb, logits, gamma=2.0, from_logits=True, reduction="sum"
        )

    val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(250).map(validation_loss)
    value = float(sum(val)) / len(x_val)
    print(f"validation loss {value:.4f}")
    return value


if __name__ == "__main__":
    main()
