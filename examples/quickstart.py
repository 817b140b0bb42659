"""Train the same small classifier in PyTorch, JAX and TensorFlow with one losskit loss.

The data is scikit-learn's bundled ``digits`` set (8x8 images of the digits 0-9, no download).
The model is a one-hidden-layer network trained by mini-batch SGD on
``lk.sparse_categorical_crossentropy(labels, logits, from_logits=True)``. Every framework starts
from the same initial weights and sees the same batches, so the three loss curves agree to float32
round-off. A framework that is not installed is skipped.

Run from the repository root::

    python examples/quickstart.py
"""

from __future__ import annotations

import os

# TensorFlow's start-up log, set before it is imported: C++ messages off, and oneDNN's custom
# operations off (TensorFlow prints a notice about them on import that no log level hides)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

import losskit as lk

SEED = 0
HIDDEN = 32
EPOCHS = 15
BATCH_SIZE = 64
LEARNING_RATE = 0.1


@dataclass
class Data:
    """Standardised features (float32) and integer labels, split into train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self) -> int:
        return int(self.y_train.max()) + 1

    def initial_params(self) -> list[np.ndarray]:
        """Initial weights sized for this data set (see :func:`init_params`)."""
        return init_params(self.x_train.shape[1], self.num_classes)


@dataclass
class Result:
    """What one training run reports: the mean training loss per epoch and the test accuracy."""

    losses: list[float]
    accuracy: float
    seconds: float


def load_data() -> Data:
    """Load ``digits``, split 75/25 (stratified, fixed seed) and standardise with train stats."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=SEED, stratify=y
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    return Data(
        ((x_train - mean) / std).astype(np.float32),
        y_train.astype(np.int64),
        ((x_test - mean) / std).astype(np.float32),
        y_test.astype(np.int64),
    )


def init_params(num_features: int, num_classes: int) -> list[np.ndarray]:
    """Initial weights ``[w1, b1, w2, b2]`` (Glorot-scaled normal), shared by every framework."""
    rng = np.random.default_rng(SEED)
    w1 = rng.normal(0.0, np.sqrt(2.0 / (num_features + HIDDEN)), (num_features, HIDDEN))
    w2 = rng.normal(0.0, np.sqrt(2.0 / (HIDDEN + num_classes)), (HIDDEN, num_classes))
    shapes = [w1, np.zeros(HIDDEN), w2, np.zeros(num_classes)]
    return [p.astype(np.float32) for p in shapes]


def batches(num_samples: int, epoch: int) -> Iterator[np.ndarray]:
    """Index arrays of one shuffled epoch; the order depends only on the seed and the epoch."""
    order = np.random.default_rng((SEED, epoch)).permutation(num_samples)
    for start in range(0, num_samples, BATCH_SIZE):
        yield order[start : start + BATCH_SIZE]


def forward(params: list, x, tanh: Callable):
    """Logits of the network ``tanh(x @ w1 + b1) @ w2 + b2`` for any array library."""
    w1, b1, w2, b2 = params
    return tanh(x @ w1 + b1) @ w2 + b2


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose largest logit is the true class."""
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def train_torch(data: Data) -> Result:
    """PyTorch: autograd and ``torch.optim.SGD``."""
    import torch

    torch.set_num_threads(1)  # tiny matrices: one thread is fastest and immune to CPU contention
    params = [torch.tensor(p, requires_grad=True) for p in data.initial_params()]
    optimizer = torch.optim.SGD(params, lr=LEARNING_RATE)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    losses = []
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        total = 0.0
        for idx in batches(len(y), epoch):
            index = torch.from_numpy(idx)
            logits = forward(params, x[index], torch.tanh)
            loss = lk.sparse_categorical_crossentropy(y[index], logits, from_logits=True)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(y))
    with torch.no_grad():
        logits = forward(params, torch.from_numpy(data.x_test), torch.tanh).numpy()
    return Result(losses, accuracy(logits, data.y_test), time.perf_counter() - start)


def train_jax(data: Data) -> Result:
    """JAX: ``jax.value_and_grad`` of the loss and a hand-written SGD step, compiled by ``jit``."""
    import jax
    import jax.numpy as jnp

    def batch_loss(params, x, y):
        logits = forward(params, x, jnp.tanh)
        return lk.sparse_categorical_crossentropy(y, logits, from_logits=True)

    @jax.jit
    def step(params, x, y):
        loss, grads = jax.value_and_grad(batch_loss)(params, x, y)
        return [p - LEARNING_RATE * g for p, g in zip(params, grads, strict=True)], loss

    params = [jnp.asarray(p) for p in data.initial_params()]
    losses = []
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        total = 0.0
        for idx in batches(len(data.y_train), epoch):
            params, loss = step(params, data.x_train[idx], data.y_train[idx])
            total += float(loss) * len(idx)
        losses.append(total / len(data.y_train))
    logits = np.asarray(forward(params, data.x_test, jnp.tanh))
    return Result(losses, accuracy(logits, data.y_test), time.perf_counter() - start)


def train_tensorflow(data: Data) -> Result:
    """TensorFlow: ``tf.GradientTape`` in eager mode and ``Variable.assign_sub`` as SGD."""
    import tensorflow as tf

    params = [tf.Variable(p) for p in data.initial_params()]
    losses = []
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        total = 0.0
        for idx in batches(len(data.y_train), epoch):
            x, y = tf.constant(data.x_train[idx]), tf.constant(data.y_train[idx])
            with tf.GradientTape() as tape:
                logits = forward(params, x, tf.tanh)
                loss = lk.sparse_categorical_crossentropy(y, logits, from_logits=True)
            for p, g in zip(params, tape.gradient(loss, params), strict=True):
                p.assign_sub(LEARNING_RATE * g)
            total += float(loss) * len(idx)
        losses.append(total / len(data.y_train))
    logits = forward(params, tf.constant(data.x_test), tf.tanh).numpy()
    return Result(losses, accuracy(logits, data.y_test), time.perf_counter() - start)


FRAMEWORKS = [
    ("PyTorch", "torch", train_torch),
    ("JAX", "jax", train_jax),
    ("TensorFlow", "tensorflow", train_tensorflow),
]


def report(name: str, result: Result) -> None:
    """Print one framework's loss per epoch and its test accuracy."""
    print(f"\n== {name} ==")
    for epoch, loss in enumerate(result.losses, start=1):
        print(f"  epoch {epoch:2d}  train loss {loss:.4f}")
    print(f"  test accuracy {result.accuracy:.2%}  ({result.seconds:.1f} s)")


def compare(results: dict[str, Result]) -> None:
    """Print how far apart the frameworks' loss curves are (float32 round-off only)."""
    curves = np.array([r.losses for r in results.values()])
    spread = float(np.max(curves.max(axis=0) - curves.min(axis=0)))
    print(f"\nLargest difference between the {len(results)} loss curves: {spread:.1e}")


def main() -> int:
    """Train with every installed framework; return 0 if at least one ran."""
    if importlib.util.find_spec("sklearn") is None:
        print("scikit-learn is not installed (pip install scikit-learn); it provides the data.")
        return 1
    data = load_data()
    print(
        f"digits: {len(data.y_train)} training / {len(data.y_test)} test images, "
        f"{data.num_classes} classes; MLP 64-{HIDDEN}-{data.num_classes}, "
        f"SGD lr={LEARNING_RATE}, batch {BATCH_SIZE}, {EPOCHS} epochs"
    )
    results = {}
    for name, module, train in FRAMEWORKS:
        if importlib.util.find_spec(module) is None:
            print(f"\n== {name} ==\n  skipped: {module} is not installed")
            continue
        results[name] = train(data)
        report(name, results[name])
    if len(results) > 1:
        compare(results)
    if not results:
        print("\nNo framework is installed: install torch, jax or tensorflow.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
