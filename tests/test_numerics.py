"""Values and gradients against float64 formulas over a stress grid, on every backend and dtype.

The grid holds what breaks naive implementations: logits up to ±1e4, probabilities 0, 1, 1e-45 and
1 - 2⁻²⁴, soft labels, -inf logits of masked classes, and all-masked batches.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
import reference as ref
from conftest import tolerance

LOGITS = np.array([-1e4, -100.0, -30.0, -17.0, -1.0, 0.0, 1e-3, 1.0, 17.0, 30.0, 100.0, 1e4])
PROBS = np.array([0.0, 1e-45, 1e-12, 0.3, 0.5, 1 - 2.0**-24, 1.0])
BINARY_LABELS = np.array([0.0, 1.0, 0.3, 0.7])

LOGIT_ROWS = np.array(
    [
        [1e4, -1e4, 0.0],
        [-1e4, 1e4, 0.0],
        [0.0, 0.0, 0.0],
        [30.0, -30.0, 0.0],
        [-100.0, 100.0, 5.0],
        [1.0, 2.0, 3.0],
        [-17.0, 0.0, 17.0],
    ]
)
PROB_ROWS = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.5, 0.5, 0.0],
        [1 - 2.0**-24, 2.0**-24, 0.0],
        [0.2, 0.3, 0.5],
        [1e-45, 0.5, 0.5],
    ]
)
SOFT_TARGET = np.array([0.2, 0.3, 0.5])


def _grid(a: np.ndarray, b: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    aa, bb = np.meshgrid(a, b, indexing="ij")
    return aa.astype(dtype), bb.astype(dtype)


def _as_computed(x: np.ndarray, dtype: str) -> np.ndarray:
    """The float64 value of ``x`` after rounding to ``dtype`` (the reference's input)."""
    return x.astype(dtype).astype(np.float64)


def _assert_close(actual: object, expected: np.ndarray, backend, dtype: str) -> None:
    got = backend.to_numpy(actual)
    assert np.all(np.isfinite(got)), f"non-finite values: {got}"
    np.testing.assert_allclose(got, expected, **tolerance(dtype))


def _check_value_and_grad(backend, dtype, loss, x, expected, expected_grad):
    """``loss`` maps a native array to an unreduced loss; compare it and d(sum)/dx."""
    native = backend.array(x, dtype)
    out = loss(native)
    assert type(out) is type(native) or backend.name == "numpy"
    _assert_close(out, expected, backend, dtype)
    if backend.grad is not None:
        grad = backend.grad(lambda t: backend_sum(loss(t)), native)
        _assert_close(grad, expected_grad, backend, dtype)


def backend_sum(x: object) -> object:
    return x.sum() if hasattr(x, "sum") else _tf_sum(x)


def _tf_sum(x: object) -> object:
    import tensorflow as tf

    return tf.reduce_sum(x)


def test_bce_from_logits_stress_grid(backend, dtype):
    y, z = _grid(BINARY_LABELS, LOGITS, dtype)
    yy = backend.array(y, dtype)
    _check_value_and_grad(
        backend,
        dtype,
        lambda t: lk.binary_crossentropy(yy, t, from_logits=True, reduction="none"),
        z,
        ref.bce_logits(_as_computed(y, dtype), _as_computed(z, dtype)),
        ref.bce_logits_grad(_as_computed(y, dtype), _as_computed(z, dtype)),
    )


def test_bce_from_logits_pos_weight(backend, dtype):
    y, z = _grid(BINARY_LABELS, LOGITS, dtype)
    pos_weight = np.linspace(0.5, 3.0, z.shape[-1])
    yy = backend.array(y, dtype)
    pw = backend.array(pos_weight, dtype)
    w = _as_computed(pos_weight, dtype)
    _check_value_and_grad(
        backend,
        dtype,
        lambda t: lk.binary_crossentropy(yy, t, from_logits=True, pos_weight=pw, reduction="none"),
        z,
        ref.bce_logits(_as_computed(y, dtype), _as_computed(z, dtype), w),
        ref.bce_logits_grad(_as_computed(y, dtype), _as_computed(z, dtype), w),
    )


def test_bce_from_probabilities_stress_grid(backend, dtype):
    y, p = _grid(BINARY_LABELS, PROBS, dtype)
    yy = backend.array(y, dtype)
    p_in = _as_computed(p, dtype)
    if backend.name in ("jax", "tensorflow"):  # XLA and TF may flush subnormal inputs to zero
        p_in = np.where(p_in < np.finfo(dtype).tiny, 0.0, p_in)
    _check_value_and_grad(
        backend,
        dtype,
        lambda t: lk.binary_crossentropy(yy, t, reduction="none"),
        p,
        ref.bce_probs(_as_computed(y, dtype), p_in),
        ref.bce_probs_grad(_as_computed(y, dtype), p_in),
    )


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_sparse_cce_from_logits_stress_grid(backend, dtype, label_smoothing):
    rows = np.repeat(LOGIT_ROWS, 3, axis=0)
    labels = np.tile(np.arange(3), len(LOGIT_ROWS))
    target = ref.smooth(ref.one_hot(labels, 3), label_smoothing, 3)
    yy = backend.array(labels)
    _check_value_and_grad(
        backend,
        dtype,
        lambda t: lk.sparse_categorical_crossentropy(
            yy, t, from_logits=True, label_smoothing=label_smoothing, reduction="none"
        ),
        rows,
        ref.cce_logits(target, _as_computed(rows, dtype)),
        ref.cce_logits_grad(target, _as_computed(rows, dtype)),
    )


def test_dense_cce_from_logits_soft_targets(backend, dtype):
    target = np.tile(SOFT_TARGET, (len(LOGIT_ROWS), 1)).astype(dtype)
    yy = backend.array(target, dtype)
    t64 = _as_computed(target, dtype)
    _check_value_and_grad(
        backend,
        dtype,
        lambda t: lk.categorical_crossentropy(yy, t, from_logits=True, reduction="none"),
        LOGIT_ROWS,
        ref.cce_logits(t64, _as_computed(LOGIT_ROWS, dtype)),
        ref.cce_logits_grad(t64, _as_computed(LOGIT_ROWS, dtype)),
    )


def test_minus_inf_logit_of_a_masked_class_is_finite(backend, dtype):
    logits = np.array([[-np.inf, 1.0, 2.0], [0.5, -np.inf, -1.0]])
    labels = np.array([2, 0])
    expected = ref.cce_logits(ref.one_hot(labels, 3), _as_computed(logits, dtype))
    expected_grad = ref.cce_logits_grad(ref.one_hot(labels, 3), _as_computed(logits, dtype))
    for loss in (
        lambda t: lk.sparse_categorical_crossentropy(
            backend.array(labels), t, from_logits=True, reduction="none"
        ),
        lambda t: lk.categorical_crossentropy(
            backend.array(ref.one_hot(labels, 3), dtype), t, from_logits=True, reduction="none"
        ),
    ):
        _check_value_and_grad(backend, dtype, loss, logits, expected, expected_grad)


def test_cce_from_probabilities_stress_grid(backend, dtype):
    rows = np.repeat(PROB_ROWS, 3, axis=0)
    labels = np.tile(np.arange(3), len(PROB_ROWS))
    p_in = _as_computed(rows, dtype)
    if backend.name in ("jax", "tensorflow"):
        p_in = np.where(p_in < np.finfo(dtype).tiny, 0.0, p_in)
    target = ref.one_hot(labels, 3)
    expected, expected_grad = ref.cce_probs(target, p_in), ref.cce_probs_grad(target, p_in)
    yy, hot = backend.array(labels), backend.array(target, dtype)
    _check_value_and_grad(
        backend,
        dtype,
        lambda t: lk.sparse_categorical_crossentropy(yy, t, reduction="none"),
        rows,
        expected,
        expected_grad,
    )
    _check_value_and_grad(
        backend,
        dtype,
        lambda t: lk.categorical_crossentropy(hot, t, reduction="none"),
        rows,
        expected,
        expected_grad,
    )


def test_mse_extremes(backend, dtype):
    y, p = _grid(np.array([-1e4, 0.0, 1.0]), np.array([-1e4, -1.0, 0.0, 2.5, 1e4]), dtype)
    yy = backend.array(y, dtype)
    _check_value_and_grad(
        backend,
        dtype,
        lambda t: lk.mean_squared_error(yy, t, reduction="none"),
        p,
        ref.squared_error(_as_computed(y, dtype), _as_computed(p, dtype)),
        ref.squared_error_grad(_as_computed(y, dtype), _as_computed(p, dtype)),
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "sum_over_batch_size"])
def test_all_masked_batch_is_zero_with_zero_gradient(backend, dtype, reduction):
    logits = np.array([[1e4, -1e4, 0.0], [1.0, 2.0, 3.0]])
    labels = backend.array(np.array([-100, -100]))
    mask = backend.array(np.zeros(2, bool))
    losses = {
        "sparse_ignore": lambda t: lk.sparse_categorical_crossentropy(
            labels, t, from_logits=True, ignore_index=-100, reduction=reduction
        ),
        "bce_mask": lambda t: lk.binary_crossentropy(
            backend.array(np.ones((2, 3)), dtype),
            t,
            from_logits=True,
            mask=mask,
            reduction=reduction,
        ),
        "mse_weight0": lambda t: lk.mean_squared_error(
            backend.array(np.ones((2, 3)), dtype),
            t,
            sample_weight=backend.array(np.zeros(2), dtype),
            reduction=reduction,
        ),
    }
    for name, loss in losses.items():
        expected = (
            np.zeros((2,) if name == "sparse_ignore" else (2, 3)) if reduction == "none" else 0.0
        )
        _check_value_and_grad(backend, dtype, loss, logits, expected, np.zeros_like(logits))


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_half_inputs_compute_in_float32(backend, half):
    if half not in getattr(backend, "dtypes", ()):
        pytest.skip(f"{backend.name} has no {half}")
    rng = np.random.default_rng(0)
    z = rng.normal(scale=4.0, size=(6, 5))
    labels = rng.integers(0, 5, size=6)
    native = backend.array(z, half)
    z_in = backend.to_numpy(native).astype(np.float64)  # the half-rounded values
    out = lk.sparse_categorical_crossentropy(
        backend.array(labels), native, from_logits=True, reduction="none"
    )
    assert "float32" in str(out.dtype)
    expected = ref.cce_logits(ref.one_hot(labels, 5), z_in)
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=1e-6, atol=1e-6)
    bce = lk.binary_crossentropy(
        backend.array((z > 0).astype(float), half), native, from_logits=True
    )
    assert "float32" in str(bce.dtype)
    expected_bce = ref.bce_logits((z > 0).astype(float), z_in).mean()
    np.testing.assert_allclose(backend.to_numpy(bce), expected_bce, rtol=1e-6)
    if backend.grad is not None:
        grad = backend.grad(
            lambda t: lk.sparse_categorical_crossentropy(
                backend.array(labels), t, from_logits=True
            ),
            native,
        )
        expected_grad = ref.cce_logits_grad(ref.one_hot(labels, 5), z_in) / 6
        np.testing.assert_allclose(backend.to_numpy(grad), expected_grad, rtol=2e-2, atol=2e-3)


def test_result_is_the_input_array_type_and_dtype(backend, dtype):
    y = backend.array(np.array([0.0, 1.0]), dtype)
    p = backend.array(np.array([0.25, 0.5]), dtype)
    out = lk.binary_crossentropy(y, p)
    assert dtype in str(out.dtype)
    if backend.name != "numpy":
        assert type(out).__module__.split(".")[0] == type(p).__module__.split(".")[0]


def test_bce_logit_gradients_are_relatively_exact_in_the_tails(autodiff_backend):
    """σ(z) - y must not be formed as 1 - σ(-z) in float32: at z = 10 that loses 4 digits."""
    b = autodiff_backend
    z = np.array([5.0, 10.0, 15.0, 20.0, 30.0, 50.0, -5.0, -10.0, -20.0, -50.0], np.float32)
    y = (z > 0).astype(np.float32)  # confidently right: tiny losses and gradients
    grad = b.grad(
        lambda t: lk.binary_crossentropy(
            b.array(y, "float32"), t, from_logits=True, reduction="sum"
        ),
        b.array(z, "float32"),
    )
    expected = ref.bce_logits_grad(y, z)
    np.testing.assert_allclose(b.to_numpy(grad), expected, rtol=1e-5, atol=0)
    value = lk.binary_crossentropy(
        b.array(y, "float32"), b.array(z, "float32"), from_logits=True, reduction="none"
    )
    np.testing.assert_allclose(b.to_numpy(value), ref.bce_logits(y, z), rtol=1e-5, atol=0)
