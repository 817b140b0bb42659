"""Parity with optax (values and ``jax.grad``), ``check_grads`` on losskit under JAX, and the
PITFALLS cases where optax gives NaN or silently wrong numbers and losskit must not.

optax takes ``(logits, labels)``; losskit ``(y_true, y_pred)``. ``optax.l2_loss`` is half the
squared error. Label smoothing references come from ``optax.smooth_labels``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

import losskit as lk  # noqa: E402

TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}


def _assert_parity(
    ours: Callable[[Any], Any], theirs: Callable[[Any], Any], x: np.ndarray, dtype: str
) -> None:
    """Values and vector-Jacobian products (one random cotangent) agree.

    Each side runs as one ``jax.jit``-compiled ``jax.vjp``: a single compilation instead of one
    per eager op keeps the suite fast (the eager path is exercised by the pitfall tests below).
    """
    x = jnp.asarray(x, dtype=dtype)
    shape = jax.eval_shape(theirs, x).shape
    cot = jnp.asarray(np.random.default_rng(31).uniform(0.5, 1.5, shape), dtype=dtype)

    def value_and_vjp(f: Callable[[Any], Any]) -> tuple:
        def run(t: Any) -> tuple:
            out, vjp = jax.vjp(f, t)
            return out, vjp(cot)[0]

        return jax.jit(run)(x)

    value, grad = value_and_vjp(ours)
    ref, ref_grad = value_and_vjp(theirs)
    assert isinstance(value, jax.Array) and value.dtype == x.dtype
    assert value.shape == ref.shape
    np.testing.assert_allclose(np.asarray(value), np.asarray(ref), **TOL[dtype])
    assert np.all(np.isfinite(np.asarray(grad)))
    np.testing.assert_allclose(np.asarray(grad), np.asarray(ref_grad), **TOL[dtype])


def _data(dtype: str, n: int = 6, k: int = 5) -> tuple:
    rng = np.random.default_rng(30)
    z = rng.normal(0.0, 3.0, (n, k)).astype(dtype)
    z[0, :3] = [40.0, -40.0, 0.0]
    y_binary = rng.uniform(0.0, 1.0, (n, k)).astype(dtype)
    y_binary[1] = rng.integers(0, 2, k)
    labels = rng.integers(0, k, (n,))
    soft = rng.dirichlet(np.ones(k), n).astype(dtype)
    return z, y_binary, labels, soft


# ------------------------------------------------------------------ binary
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_sigmoid_binary_cross_entropy(dtype: str, smoothing: float) -> None:
    z, y, _, _ = _data(dtype)
    # binary smoothing (1-ε)y + ε/2 is optax's smoothing over the two outcomes (y, 1 - y)
    target = optax.smooth_labels(jnp.stack([y, 1 - y], axis=-1), smoothing)[..., 0]
    _assert_parity(
        lambda t: lk.binary_crossentropy(
            y, t, from_logits=True, label_smoothing=smoothing, reduction="none"
        ),
        lambda t: optax.sigmoid_binary_cross_entropy(t, target),
        z,
        dtype,
    )
    _assert_parity(
        lambda t: lk.binary_crossentropy(jnp.asarray(y), t, from_logits=True, reduction="sum"),
        lambda t: jnp.sum(optax.sigmoid_binary_cross_entropy(t, y)),
        z,
        dtype,
    )


# ------------------------------------------------------------------ categorical
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("target", ["onehot", "soft"])
def test_softmax_cross_entropy(dtype: str, smoothing: float, target: str) -> None:
    z, _, labels, soft = _data(dtype)
    y = np.eye(z.shape[-1], dtype=dtype)[labels] if target == "onehot" else soft
    smoothed = optax.smooth_labels(jnp.asarray(y), smoothing)
    _assert_parity(
        lambda t: lk.categorical_crossentropy(
            y, t, from_logits=True, label_smoothing=smoothing, reduction="none"
        ),
        lambda t: optax.softmax_cross_entropy(t, smoothed),
        z,
        dtype,
    )
    _assert_parity(
        lambda t: lk.categorical_crossentropy(y, t, from_logits=True, label_smoothing=smoothing),
        lambda t: jnp.mean(optax.softmax_cross_entropy(t, smoothed)),
        z,
        dtype,
    )


def test_softmax_cross_entropy_channels_first(dtype: str) -> None:
    rng = np.random.default_rng(32)
    z = rng.normal(0.0, 2.0, (3, 4, 2, 2)).astype(dtype)
    y = np.moveaxis(rng.dirichlet(np.ones(4), (3, 2, 2)), -1, 1).astype(dtype)
    _assert_parity(
        lambda t: lk.categorical_crossentropy(y, t, from_logits=True, axis=1, reduction="none"),
        lambda t: optax.softmax_cross_entropy(t, y, axis=1),
        z,
        dtype,
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_softmax_cross_entropy_with_integer_labels(dtype: str, smoothing: float) -> None:
    z, _, labels, _ = _data(dtype)
    k = z.shape[-1]

    def reference(t: Any) -> Any:
        if not smoothing:
            return optax.softmax_cross_entropy_with_integer_labels(t, jnp.asarray(labels))
        onehot = jax.nn.one_hot(labels, k, dtype=t.dtype)
        return optax.softmax_cross_entropy(t, optax.smooth_labels(onehot, smoothing))

    _assert_parity(
        lambda t: lk.sparse_categorical_crossentropy(
            labels, t, from_logits=True, label_smoothing=smoothing, reduction="none"
        ),
        reference,
        z,
        dtype,
    )


def test_integer_labels_class_axis_1(dtype: str) -> None:
    rng = np.random.default_rng(33)
    z = rng.normal(0.0, 2.0, (3, 4, 5)).astype(dtype)
    labels = rng.integers(0, 4, (3, 5))
    _assert_parity(
        lambda t: lk.sparse_categorical_crossentropy(
            labels, t, from_logits=True, axis=1, reduction="none"
        ),
        lambda t: optax.softmax_cross_entropy_with_integer_labels(t, jnp.asarray(labels), axis=1),
        z,
        dtype,
    )


# ------------------------------------------------------------------ regression
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_l2_loss_is_half_the_squared_error(dtype: str, reduction: str) -> None:
    rng = np.random.default_rng(34)
    y = rng.normal(size=(4, 3)).astype(dtype)
    x = rng.normal(size=(4, 3)).astype(dtype)
    reducer = {"none": lambda a: a, "sum": jnp.sum, "mean": jnp.mean}[reduction]
    _assert_parity(
        lambda t: lk.mean_squared_error(y, t, reduction=reduction),
        lambda t: 2.0 * reducer(optax.l2_loss(t, jnp.asarray(y))),
        x,
        dtype,
    )


# ------------------------------------------------------------------ check_grads (float64)
def _check_grads_cases() -> dict[str, tuple[Callable[[Any], Any], np.ndarray]]:
    rng = np.random.default_rng(35)
    y = jnp.asarray(rng.uniform(0.0, 1.0, (3, 4)))
    labels = rng.integers(0, 4, (3,))
    labels[1] = -100
    soft = jnp.asarray(rng.dirichlet(np.ones(4), 3))
    w = jnp.asarray(rng.uniform(0.5, 2.0, (3,)))
    cw = jnp.asarray([0.5, 1.0, 2.0, 1.5])
    logits = rng.normal(0.0, 2.0, (3, 4))
    probs = rng.uniform(0.1, 0.9, (3, 4))
    simplex = rng.dirichlet(np.full(4, 5.0), 3) * 0.8 + 0.05  # interior, rows sum to 1
    return {
        "bce_logits": (
            lambda t: lk.binary_crossentropy(
                y, t, from_logits=True, pos_weight=cw, label_smoothing=0.1, sample_weight=w
            ),
            logits,
        ),
        "bce_probs": (lambda t: lk.binary_crossentropy(y, t, pos_weight=cw), probs),
        "cce_logits": (
            lambda t: lk.categorical_crossentropy(
                soft, t, from_logits=True, label_smoothing=0.1, class_weight=cw
            ),
            logits,
        ),
        "cce_probs": (lambda t: lk.categorical_crossentropy(soft, t, reduction="sum"), simplex),
        "scce_logits": (
            lambda t: lk.sparse_categorical_crossentropy(
                labels,
                t,
                from_logits=True,
                ignore_index=-100,
                class_weight=cw,
                label_smoothing=0.2,
            ),
            logits,
        ),
        "scce_probs": (
            lambda t: lk.sparse_categorical_crossentropy(
                labels, t, ignore_index=-100, label_smoothing=0.2
            ),
            simplex,
        ),
        "mse": (lambda t: lk.mean_squared_error(y, t, sample_weight=w), logits),
    }


@pytest.mark.parametrize("case", list(_check_grads_cases()))
def test_check_grads(case: str) -> None:
    """First and second order (``order=2`` checks both), forward and reverse mode."""
    fn, x = _check_grads_cases()[case]
    with lk.validation(False):  # perturbed probabilities no longer sum to 1 exactly
        check_grads(jax.jit(fn), (jnp.asarray(x),), order=2, modes=("fwd", "rev"), eps=1e-5)


# ------------------------------------------------------------------ where optax gives NaN
def test_integer_label_minus_100_is_ignored_not_nan(dtype: str) -> None:
    z, _, labels, _ = _data(dtype)
    labels = labels.copy()
    labels[[1, 4]] = -100
    optax_value = optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(z), labels)
    assert np.isnan(np.asarray(optax_value)[[1, 4]]).all()  # the pitfall
    valid = labels != -100
    reference = optax.softmax_cross_entropy_with_integer_labels(
        jnp.asarray(z[valid]), jnp.asarray(labels[valid])
    )
    ours = lk.sparse_categorical_crossentropy(
        labels, jnp.asarray(z), from_logits=True, ignore_index=-100
    )
    assert np.isfinite(float(ours))
    np.testing.assert_allclose(float(ours), float(jnp.mean(reference)), **TOL[dtype])
    grad = jax.jit(
        jax.grad(
            lambda t: lk.sparse_categorical_crossentropy(
                labels, t, from_logits=True, ignore_index=-100
            )
        )
    )(jnp.asarray(z))
    ref_grad = jax.grad(
        lambda t: jnp.mean(
            optax.softmax_cross_entropy_with_integer_labels(t, jnp.asarray(labels[valid]))
        )
    )(jnp.asarray(z[valid]))
    np.testing.assert_allclose(np.asarray(grad)[valid], np.asarray(ref_grad), **TOL[dtype])
    np.testing.assert_array_equal(np.asarray(grad)[~valid], 0.0)


def test_integer_label_minus_1_is_rejected_not_the_last_class() -> None:
    z, _, labels, _ = _data("float64")
    labels = labels.copy()
    labels[2] = -1
    # optax silently scores -1 as the last class
    silent = optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(z), labels)
    last = optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(z[2]), z.shape[-1] - 1)
    np.testing.assert_allclose(np.asarray(silent)[2], np.asarray(last), rtol=1e-12)
    with pytest.raises(ValueError, match="y_true"):
        lk.sparse_categorical_crossentropy(labels, jnp.asarray(z), from_logits=True)


@pytest.mark.parametrize("sparse", [False, True])
def test_minus_inf_logit_of_a_zero_target_class_is_finite(dtype: str, sparse: bool) -> None:
    z, _, labels, _ = _data(dtype)
    k = z.shape[-1]
    onehot = np.eye(k, dtype=dtype)[labels]
    masked_class = (labels + 1) % k
    z_inf = z.copy()
    z_inf[np.arange(len(labels)), masked_class] = -np.inf
    if not sparse:
        assert np.isnan(np.asarray(optax.softmax_cross_entropy(jnp.asarray(z_inf), onehot))).any()
    # the reference: optax on a finite stand-in for -inf (exp underflows to exactly 0)
    z_finite = np.where(np.isinf(z_inf), np.asarray(-1e30, dtype=dtype), z_inf)

    def ours(t: Any) -> Any:
        if sparse:
            return lk.sparse_categorical_crossentropy(labels, t, from_logits=True, reduction="none")
        return lk.categorical_crossentropy(onehot, t, from_logits=True, reduction="none")

    value = ours(jnp.asarray(z_inf))
    reference = optax.softmax_cross_entropy(jnp.asarray(z_finite), onehot)
    assert np.all(np.isfinite(np.asarray(value)))
    np.testing.assert_allclose(np.asarray(value), np.asarray(reference), **TOL[dtype])
    grad = jax.grad(lambda t: jnp.sum(ours(t)))(jnp.asarray(z_inf))
    ref_grad = jax.grad(lambda t: jnp.sum(optax.softmax_cross_entropy(t, onehot)))(
        jnp.asarray(z_finite)
    )
    assert np.all(np.isfinite(np.asarray(grad)))
    np.testing.assert_allclose(np.asarray(grad), np.asarray(ref_grad), **TOL[dtype])
