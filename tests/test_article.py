"""The source article's three TensorFlow functions, reproduced verbatim as the reference.

On moderate inputs losskit's ``reduction="sum"`` cross-entropies and its mean squared error equal
them (up to the article's ``+1e-7`` inside the log). At confidently wrong logits the article's
``log(p + 1e-7)`` caps the loss near ``-log(1e-7) ≈ 16.1`` with a vanishing gradient, while
losskit from logits gives the exact ``|z|`` with gradient ``σ(z) - y = ±1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import losskit as lk  # noqa: E402


# ------------------------------------------------------------------ the article, verbatim
def binary_crossentropy(y_true, y_predict, epsilon=1e-7):
    return -tf.reduce_sum(
        y_true * tf.math.log(y_predict + epsilon)
        + (1 - y_true) * tf.math.log(1 - y_predict + epsilon)
    )


def category_crossentropy(y_true, y_predict, epsilon=1e-7):
    return -tf.reduce_sum(y_true * tf.math.log(y_predict + epsilon))


def mean_square_error(y_true, y_predict):
    return tf.reduce_mean((y_predict - y_true) ** 2)


# ------------------------------------------------------------------ helpers
#: The article adds 1e-7 inside each log: relative effect ≤ 1e-7 / 0.05 per term.
ARTICLE_TOL = {"rtol": 1e-5, "atol": 1e-6}


def _data(dtype: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(50)
    y_bin = rng.uniform(0.0, 1.0, (6, 3))
    y_bin[0] = [0.0, 1.0, 1.0]
    p_bin = rng.uniform(0.05, 0.95, (6, 3))
    labels = rng.integers(0, 4, 6)
    onehot = np.eye(4)[labels]
    p_cat = rng.uniform(0.05, 0.95, (6, 4))
    p_cat = p_cat / p_cat.sum(axis=1, keepdims=True)
    p_cat = np.clip(p_cat, 0.05, None)
    p_cat = p_cat / p_cat.sum(axis=1, keepdims=True)
    y_reg = rng.normal(size=(5, 3))
    x_reg = rng.normal(size=(5, 3))
    out = {
        "y_bin": y_bin,
        "p_bin": p_bin,
        "onehot": onehot,
        "p_cat": p_cat,
        "y_reg": y_reg,
        "x_reg": x_reg,
    }
    return {k: v.astype(dtype) for k, v in out.items()}


def _article_value_and_grad(fn: Any, y: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        value = fn(tf.constant(y), t)
    return float(value), tape.gradient(value, t).numpy()


# ------------------------------------------------------------------ moderate inputs
def test_aliases_are_the_article_names() -> None:
    assert lk.category_crossentropy is lk.categorical_crossentropy
    assert lk.get("category_crossentropy") is lk.categorical_crossentropy
    assert lk.mean_square_error is lk.mean_squared_error
    assert lk.get("mean_square_error") is lk.mean_squared_error


@pytest.mark.parametrize(
    ("name", "ours", "article", "kwargs"),
    [
        ("bin", lk.binary_crossentropy, binary_crossentropy, {"reduction": "sum"}),
        ("cat", lk.category_crossentropy, category_crossentropy, {"reduction": "sum"}),
        ("cat", lk.get("category_crossentropy"), category_crossentropy, {"reduction": "sum"}),
        ("reg", lk.mean_square_error, mean_square_error, {}),
        ("reg", lk.get("mean_square_error"), mean_square_error, {}),
    ],
    ids=["binary", "category", "category-registry", "mse", "mse-registry"],
)
def test_matches_the_article_on_moderate_inputs(
    backend: Any, dtype: str, name: str, ours: Any, article: Any, kwargs: dict
) -> None:
    d = _data(dtype)
    y, x = {"bin": ("y_bin", "p_bin"), "cat": ("onehot", "p_cat"), "reg": ("y_reg", "x_reg")}[name]
    ref, ref_grad = _article_value_and_grad(article, d[y], d[x])
    value = ours(backend.array(d[y], dtype), backend.array(d[x], dtype), **kwargs)
    tol = {"rtol": 1e-6, "atol": 1e-6} if name == "reg" and dtype == "float32" else ARTICLE_TOL
    if name == "reg" and dtype == "float64":
        tol = {"rtol": 1e-12, "atol": 1e-14}  # no epsilon in the article's MSE
    assert float(backend.to_numpy(value)) == pytest.approx(ref, rel=tol["rtol"], abs=tol["atol"])
    if backend.grad is not None:
        grad = backend.grad(
            lambda t: ours(backend.array(d[y], dtype), t, **kwargs), backend.array(d[x], dtype)
        )
        np.testing.assert_allclose(backend.to_numpy(grad), ref_grad, **tol)


# ------------------------------------------------------------------ confidently wrong logits
@pytest.mark.parametrize(("y", "z"), [(0.0, 30.0), (1.0, -30.0), (0.0, 100.0), (1.0, -100.0)])
def test_confidently_wrong_logits(y: float, z: float) -> None:
    """float32, a logit fed through the sigmoid: the article caps near 16.1 with ~0 gradient."""
    yt = tf.constant([y], tf.float32)
    zt = tf.constant([z], tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(zt)
        article = binary_crossentropy(yt, tf.sigmoid(zt))
        ours = lk.binary_crossentropy(yt, zt, from_logits=True, reduction="sum")
    article_grad = float(tape.gradient(article, zt)[0])
    ours_grad = float(tape.gradient(ours, zt)[0])
    cap = -np.log(1e-7)  # 16.118...
    assert float(article) == pytest.approx(cap, abs=0.05)
    # exactly 0 where σ(z) rounds to 1 (or 0); at z = -30, σ(z)/1e-7 ≈ 9.4e-7
    assert abs(article_grad) < 1e-5
    assert isinstance(ours, tf.Tensor) and ours.dtype == tf.float32
    assert float(ours) == pytest.approx(abs(z), rel=1e-6)
    assert ours_grad == pytest.approx(1.0 if y == 0.0 else -1.0, rel=1e-6)
