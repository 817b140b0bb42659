"""Parity with Keras 3 losses (TensorFlow backend, in process), float32 and float64.

Semantic differences handled here, as documented:

* Keras ``binary_crossentropy`` averages the last axis per sample; losskit's is elementwise, so
  Keras's per-sample value is losskit's ``reduction="none"`` averaged over the last axis.
* From probabilities Keras clips to ``[ε, 1 - ε]`` (ε = ``keras.config.epsilon()``) and
  renormalises categorical predictions; losskit clamps logs at -100 and does not renormalise.
  Probability-path comparisons therefore use moderate probabilities (and normalised rows).
* Keras's ``ignore_class`` is losskit's ``ignore_index``.

Every loss is fed to losskit both as ``tf.Tensor`` (result must be a ``tf.Tensor``, gradients by
``tf.GradientTape``) and as NumPy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("Keras is not on its TensorFlow backend", allow_module_level=True)

import losskit as lk  # noqa: E402

#: From logits both compute in the input dtype with stable formulas.
TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}
#: From probabilities Keras clips/renormalises: not bit-for-bit even in the interior.
TOL_PROBS = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-9, "atol": 1e-10}}


def _value_and_grad(fn: Callable[[Any], Any], x: np.ndarray, dtype: str) -> tuple:
    t = tf.constant(x, dtype=getattr(tf, dtype))
    with tf.GradientTape() as tape:
        tape.watch(t)
        out = fn(t)
        scalar = tf.reduce_sum(out * _cotangent(out.shape, out.dtype))
    return out, tape.gradient(scalar, t).numpy()


def _cotangent(shape: Any, dtype: Any) -> Any:
    weights = np.random.default_rng(11).uniform(0.5, 1.5, tuple(shape))
    return tf.constant(weights, dtype=dtype)


def _assert_parity(
    ours: Callable[[Any], Any],
    theirs: Callable[[Any], Any],
    x: np.ndarray,
    dtype: str,
    tol: dict[str, dict[str, float]] = TOL,
    simplex_axis: int | None = None,
) -> None:
    """losskit on tf tensors (values and gradients) and on NumPy agrees with Keras.

    With ``simplex_axis`` (categorical probabilities, which Keras renormalises) only the
    gradients' components tangent to the simplex are compared: Keras's ``L(p / Σp)`` and
    losskit's ``L(p)`` agree on the simplex, so their derivatives agree along it.
    """
    value, grad = _value_and_grad(ours, x, dtype)
    ref_value, ref_grad = _value_and_grad(theirs, x, dtype)
    if simplex_axis is not None:
        grad = grad - grad.mean(axis=simplex_axis, keepdims=True)
        ref_grad = ref_grad - ref_grad.mean(axis=simplex_axis, keepdims=True)
    assert isinstance(value, tf.Tensor) and value.dtype == getattr(tf, dtype)
    np.testing.assert_allclose(value.numpy(), ref_value.numpy(), **tol[dtype])
    np.testing.assert_allclose(grad, ref_grad, **tol[dtype])
    from_numpy = ours(np.asarray(x, dtype=dtype))
    assert isinstance(from_numpy, np.ndarray | np.generic)
    np.testing.assert_allclose(from_numpy, ref_value.numpy(), **tol[dtype])


def _binary(dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20)
    y = rng.uniform(0.0, 1.0, (6, 4)).astype(dtype)
    y[:2] = rng.integers(0, 2, (2, 4))
    z = rng.normal(0.0, 3.0, (6, 4)).astype(dtype)
    z[2] = [25.0, -25.0, 0.0, 1e-3]
    p = rng.uniform(0.05, 0.95, (6, 4)).astype(dtype)
    return y, z, p


def _categorical(dtype: str, n: int = 6, k: int = 5) -> tuple:
    rng = np.random.default_rng(21)
    labels = rng.integers(0, k, (n,))
    onehot = np.eye(k)[labels].astype(dtype)
    soft = rng.dirichlet(np.ones(k), n).astype(dtype)
    z = rng.normal(0.0, 2.0, (n, k)).astype(dtype)
    # moderate, exactly normalised probabilities (in float64, then cast)
    p = rng.uniform(0.2, 1.0, (n, k))
    p = (p / p.sum(axis=-1, keepdims=True)).astype(dtype)
    return labels, onehot, soft, z, p


# ------------------------------------------------------------------ binary
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("from_logits", [True, False])
def test_binary_crossentropy_per_sample(dtype: str, from_logits: bool, smoothing: float) -> None:
    y, z, p = _binary(dtype)
    x = z if from_logits else p

    def ours(t: Any) -> Any:
        loss = lk.binary_crossentropy(
            y, t, from_logits=from_logits, label_smoothing=smoothing, reduction="none"
        )
        return (tf.reduce_mean if isinstance(loss, tf.Tensor) else np.mean)(loss, axis=-1)

    def theirs(t: Any) -> Any:
        return keras.losses.binary_crossentropy(
            tf.constant(y), t, from_logits=from_logits, label_smoothing=smoothing
        )

    _assert_parity(ours, theirs, x, dtype, TOL if from_logits else TOL_PROBS)


@pytest.mark.parametrize("from_logits", [True, False])
def test_binary_crossentropy_class_with_sample_weight(dtype: str, from_logits: bool) -> None:
    """Keras's class: Σ w_n mean_c ℓ_nc / N = losskit ``sum_over_batch_size``; plain mean too."""
    y, z, p = _binary(dtype)
    x = z if from_logits else p
    w = np.random.default_rng(22).uniform(0.0, 2.0, (y.shape[0],)).astype(dtype)
    keras_loss = keras.losses.BinaryCrossentropy(from_logits=from_logits, dtype=dtype)
    tol = TOL if from_logits else TOL_PROBS
    _assert_parity(
        lambda t: lk.binary_crossentropy(
            y, t, from_logits=from_logits, sample_weight=w, reduction="sum_over_batch_size"
        ),
        lambda t: keras_loss(tf.constant(y), t, sample_weight=tf.constant(w)),
        x,
        dtype,
        tol,
    )
    _assert_parity(
        lambda t: lk.binary_crossentropy(y, t, from_logits=from_logits),
        lambda t: keras_loss(tf.constant(y), t),
        x,
        dtype,
        tol,
    )


def test_binary_from_probabilities_at_zero_documented_difference() -> None:
    """Keras clips p to [ε, 1 - ε]: a certain wrong prediction costs about -log ε (15.9 to 16.1
    in float32, where 1 - ε rounds); losskit clamps the log at -100 (torch)."""
    y = np.array([[1.0, 0.0]], dtype="float32")
    p = np.array([[0.0, 1.0]], dtype="float32")
    keras_value = float(keras.losses.binary_crossentropy(y, p)[0])
    eps = keras.config.epsilon()
    assert -np.log(2 * eps) < keras_value < -np.log(eps) + 1e-3
    assert float(lk.binary_crossentropy(tf.constant(y), tf.constant(p))) == pytest.approx(100.0)


# ------------------------------------------------------------------ categorical
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("target", ["onehot", "soft"])
def test_categorical_crossentropy(
    dtype: str, from_logits: bool, smoothing: float, target: str
) -> None:
    _, onehot, soft, z, p = _categorical(dtype)
    y = onehot if target == "onehot" else soft
    _assert_parity(
        lambda t: lk.categorical_crossentropy(
            y, t, from_logits=from_logits, label_smoothing=smoothing, reduction="none"
        ),
        lambda t: keras.losses.categorical_crossentropy(
            tf.constant(y), t, from_logits=from_logits, label_smoothing=smoothing
        ),
        z if from_logits else p,
        dtype,
        TOL if from_logits else TOL_PROBS,
        simplex_axis=None if from_logits else -1,
    )


def test_categorical_crossentropy_channels_first_axis(dtype: str) -> None:
    rng = np.random.default_rng(23)
    z = rng.normal(0.0, 2.0, (3, 4, 2, 3)).astype(dtype)
    y = np.moveaxis(rng.dirichlet(np.ones(4), (3, 2, 3)), -1, 1).astype(dtype)
    _assert_parity(
        lambda t: lk.categorical_crossentropy(y, t, from_logits=True, axis=1, reduction="none"),
        lambda t: keras.losses.categorical_crossentropy(
            tf.constant(y), t, from_logits=True, axis=1
        ),
        z,
        dtype,
    )


def test_channels_first_label_smoothing_documented_difference(dtype: str) -> None:
    """Keras smooths with K = ``y_true.shape[-1]`` whatever ``axis`` is; losskit uses ``axis``.

    losskit with ``axis=1`` equals Keras on the same data moved channels-last.
    """
    rng = np.random.default_rng(24)
    z = rng.normal(0.0, 2.0, (3, 4, 2, 3)).astype(dtype)  # K = 4 on axis 1, last axis has 3
    y = np.moveaxis(rng.dirichlet(np.ones(4), (3, 2, 3)), -1, 1).astype(dtype)
    ours = lk.categorical_crossentropy(
        y, z, from_logits=True, axis=1, label_smoothing=0.2, reduction="none"
    )
    last = keras.losses.categorical_crossentropy(
        np.moveaxis(y, 1, -1), np.moveaxis(z, 1, -1), from_logits=True, label_smoothing=0.2
    )
    np.testing.assert_allclose(ours, last.numpy(), **TOL[dtype])
    keras_axis1 = keras.losses.categorical_crossentropy(
        y, z, from_logits=True, axis=1, label_smoothing=0.2
    )
    assert not np.allclose(ours, keras_axis1.numpy(), rtol=1e-3)


# ------------------------------------------------------------------ sparse categorical
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("ignore", [None, -1, 2])
def test_sparse_categorical_crossentropy(dtype: str, from_logits: bool, ignore: int | None) -> None:
    labels, _, _, z, p = _categorical(dtype)
    if ignore == -1:
        labels = labels.copy()
        labels[[1, 4]] = -1
    _assert_parity(
        lambda t: lk.sparse_categorical_crossentropy(
            labels, t, from_logits=from_logits, ignore_index=ignore, reduction="none"
        ),
        lambda t: keras.losses.sparse_categorical_crossentropy(
            tf.constant(labels), t, from_logits=from_logits, ignore_class=ignore
        ),
        z if from_logits else p,
        dtype,
        TOL if from_logits else TOL_PROBS,
        simplex_axis=None if from_logits else -1,
    )


@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_class_ignore_class_mean_over_valid(dtype: str, from_logits: bool) -> None:
    """Keras's class divides by the unmasked count: losskit's ``mean`` with ``ignore_index``."""
    labels, _, _, z, p = _categorical(dtype, n=8)
    labels = labels.copy()
    labels[[0, 3, 5]] = -1
    keras_loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=from_logits, ignore_class=-1, dtype=dtype
    )
    _assert_parity(
        lambda t: lk.sparse_categorical_crossentropy(
            labels, t, from_logits=from_logits, ignore_index=-1
        ),
        lambda t: keras_loss(tf.constant(labels), t),
        z if from_logits else p,
        dtype,
        TOL if from_logits else TOL_PROBS,
        simplex_axis=None if from_logits else -1,
    )


def test_sparse_label_smoothing_matches_keras_dense_smoothing(dtype: str) -> None:
    """Keras's sparse loss has no smoothing: compare with its dense loss on one-hot labels."""
    labels, onehot, _, z, _ = _categorical(dtype)
    _assert_parity(
        lambda t: lk.sparse_categorical_crossentropy(
            labels, t, from_logits=True, label_smoothing=0.3, reduction="none"
        ),
        lambda t: keras.losses.categorical_crossentropy(
            tf.constant(onehot), t, from_logits=True, label_smoothing=0.3
        ),
        z,
        dtype,
    )


@pytest.mark.parametrize("q", [0.5, 0.7])
@pytest.mark.parametrize("column", [False, True], ids=["labels", "column"])
def test_generalized_crossentropy_on_integer_labels(dtype: str, q: float, column: bool) -> None:
    """Keras's ``categorical_generalized_cross_entropy`` takes class indices; losskit reads them
    the same way, as ``(N,)`` or ``(N, 1)``. (Keras's docstring allows ``(N, 1)`` too, but its
    one-hot of a column is ``(N, 1, K)`` and broadcasts to ``(N, N)``: Keras gets ``(N,)``.)"""
    labels, _, _, _, p = _categorical(dtype)
    y = labels[:, None] if column else labels
    keras_loss = keras.losses.CategoricalGeneralizedCrossEntropy(q=q, dtype=dtype)
    _assert_parity(
        lambda t: lk.generalized_crossentropy(y, t, q=q, reduction="none"),
        lambda t: keras.losses.categorical_generalized_cross_entropy(tf.constant(labels), t, q=q),
        p,
        dtype,
        TOL_PROBS,
    )
    _assert_parity(
        lambda t: lk.generalized_crossentropy(y, t, q=q),
        lambda t: keras_loss(tf.constant(labels), t),
        p,
        dtype,
        TOL_PROBS,
    )
