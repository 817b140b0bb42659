"""Values and gradients against float64 formulas over a stress grid, on every backend and dtype.

The grid holds what breaks naive implementations: logits up to ±1e4, probabilities 0, 1, 1e-45 and
1 - 2⁻²⁴, soft labels, -inf logits of masked classes, and all-masked batches.
"""

from __future__ import annotations

import mpmath
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
        grad = backend.grad(lambda t, loss=loss: backend_sum(loss(t)), native)
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


@pytest.mark.parametrize("half", ["bfloat16", "float16"])
def test_numpy_half_arrays_compute_in_float32(half):
    dtype = pytest.importorskip("ml_dtypes").bfloat16 if half == "bfloat16" else np.float16
    rng = np.random.default_rng(1)
    z = rng.normal(scale=3.0, size=(5, 4)).astype(dtype)
    labels = rng.integers(0, 4, size=5)
    z64 = z.astype(np.float64)  # the half-rounded values, exactly
    out = lk.sparse_categorical_crossentropy(labels, z, from_logits=True, reduction="none")
    assert out.dtype == np.float32
    expected = ref.cce_logits(ref.one_hot(labels, 4), z64)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    probs = np.exp(z64) / np.exp(z64).sum(-1, keepdims=True)
    rounded = probs.astype(dtype)  # rows off 1 by the half rounding, within the tolerance
    cce = lk.categorical_crossentropy(ref.one_hot(labels, 4).astype(dtype), rounded)
    assert cce.dtype == np.float32
    picked = rounded.astype(np.float64)[np.arange(5), labels]
    np.testing.assert_allclose(cce, -np.log(picked).mean(), rtol=1e-6)
    targets = (z64 > 0).astype(dtype)
    bce = lk.binary_crossentropy(targets, z, from_logits=True)
    expected_bce = ref.bce_logits(targets.astype(np.float64), z64).mean()
    np.testing.assert_allclose(bce, expected_bce, rtol=1e-6)


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


# ---------------------------------------------------------------------- mpmath references
def _mp_log_softmax(row: np.ndarray) -> list:
    """log softmax of a float64 row at 40 digits (a list of mpf)."""
    with mpmath.workdps(40):
        z = [mpmath.mpf(float(v)) for v in row]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
        return [v - lse for v in z]


def _mp(values: list, f) -> np.ndarray:
    with mpmath.workdps(40):
        return np.array([float(f(v)) for v in values])


CONFIDENT_ROWS = np.array(
    [
        [30.0, 17.0, 0.0, -30.0],
        [12.0, -3.0, -3.0, 0.0],
        [8.0, 8.0, -10.0, 2.0],
        [1e4, 1e4 - 16.0, 0.0, -1e4],
        [30.0, 17.0, 0.0, -30.0],
        [-50.0, -30.0, -40.0, -60.0],
    ]
)
CONFIDENT_LABELS = np.array([0, 0, 0, 0, 1, 3])


def _confident_log_probabilities(dtype: str) -> list:
    rows = _as_computed(CONFIDENT_ROWS, dtype)
    return [_mp_log_softmax(row) for row in rows]


def test_crossentropy_from_logits_is_exact_when_the_loss_is_small(backend, dtype):
    log_p = _confident_log_probabilities(dtype)
    picked = [lp[k] for lp, k in zip(log_p, CONFIDENT_LABELS, strict=True)]
    expected = _mp(picked, lambda v: -v)
    hot = np.eye(4)[CONFIDENT_LABELS]
    with mpmath.workdps(40):
        grad = np.array([[float(mpmath.exp(v)) for v in lp] for lp in log_p]) - hot
    labels = backend.array(CONFIDENT_LABELS)
    targets = backend.array(hot, dtype)
    for loss in (
        lambda t: lk.sparse_categorical_crossentropy(labels, t, from_logits=True, reduction="none"),
        lambda t: lk.categorical_crossentropy(targets, t, from_logits=True, reduction="none"),
    ):
        native = backend.array(CONFIDENT_ROWS, dtype)
        close = tolerance(dtype)
        np.testing.assert_allclose(backend.to_numpy(loss(native)), expected, **close)
        if backend.grad is not None:
            got = backend.to_numpy(backend.grad(lambda t, loss=loss: backend_sum(loss(t)), native))
            np.testing.assert_allclose(got, grad, **tolerance(dtype))
        if backend.name in ("numpy", "array_api_strict", "jax"):
            got = backend.to_numpy(loss(backend.array(CONFIDENT_ROWS, dtype)))
            np.testing.assert_allclose(got, expected, rtol=2e-6 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize(
    ("name", "kwargs", "of_log_p"),
    [
        ("generalized_crossentropy", {"q": 0.7}, lambda v: -mpmath.expm1(0.7 * v) / 0.7),
        ("poly_loss", {"epsilon": 1.0}, lambda v: -v - mpmath.expm1(v)),
        (
            "taylor_crossentropy",
            {"order": 2},
            lambda v: -mpmath.expm1(v) + mpmath.expm1(v) ** 2 / 2,
        ),
        ("categorical_focal_crossentropy", {"gamma": 2.0}, lambda v: mpmath.expm1(v) ** 2 * -v),
        ("bi_tempered_logistic", {"t1": 1.0, "t2": 1.0}, lambda v: -v),
        ("kl_divergence", {}, lambda v: -v),
    ],
)
def test_crossentropy_derived_losses_are_exact_for_confident_logits(
    backend, dtype, name, kwargs, of_log_p
):
    log_p = _confident_log_probabilities(dtype)
    picked = [lp[k] for lp, k in zip(log_p, CONFIDENT_LABELS, strict=True)]
    expected = _mp(picked, of_log_p)
    if name != "bi_tempered_logistic":
        kwargs = {**kwargs, "from_logits": True}
    loss = lk.get(name)(
        backend.array(np.eye(4)[CONFIDENT_LABELS], dtype),
        backend.array(CONFIDENT_ROWS, dtype),
        reduction="none",
        **kwargs,
    )
    np.testing.assert_allclose(backend.to_numpy(loss), expected, **tolerance(dtype))


def test_label_smoothed_crossentropy_is_exact_for_confident_logits(backend, dtype):
    log_p = _confident_log_probabilities(dtype)
    with mpmath.workdps(40):
        expected = np.array(
            [
                float(-0.9 * lp[k] - 0.1 * mpmath.fsum(lp) / 4)
                for lp, k in zip(log_p, CONFIDENT_LABELS, strict=True)
            ]
        )
    loss = lk.sparse_categorical_crossentropy(
        backend.array(CONFIDENT_LABELS),
        backend.array(CONFIDENT_ROWS, dtype),
        from_logits=True,
        label_smoothing=0.1,
        reduction="none",
    )
    np.testing.assert_allclose(backend.to_numpy(loss), expected, **tolerance(dtype))


def test_crossentropy_of_a_plus_inf_logit_is_its_limit(backend, dtype):
    logits = np.array([[np.inf, 1.0, 0.0], [np.inf, 1.0, 0.0], [np.inf, -np.inf, 0.0]])
    labels = np.array([0, 1, 0])
    hot = np.eye(3)[labels]
    for loss in (
        lambda t: lk.sparse_categorical_crossentropy(
            backend.array(labels), t, from_logits=True, reduction="none"
        ),
        lambda t: lk.categorical_crossentropy(
            backend.array(hot, dtype), t, from_logits=True, reduction="none"
        ),
    ):
        native = backend.array(logits, dtype)
        np.testing.assert_array_equal(backend.to_numpy(loss(native)), [0.0, np.inf, 0.0])
        if backend.grad is not None:
            finite = backend.array([1.0, 0.0, 1.0], dtype)
            grad = backend.to_numpy(
                backend.grad(lambda t, loss=loss, w=finite: backend_sum(loss(t) * w), native)
            )
            np.testing.assert_array_equal(grad[[0, 2]], np.zeros((2, 3)))


BCE_SMALL_P = np.array([1e-7, 1e-5, 3e-3, 0.3, 0.5, 0.7, 1 - 2.0**-20])


def test_bce_from_probabilities_uses_an_exact_log_of_one_minus_p(backend, dtype):
    p = _as_computed(BCE_SMALL_P, dtype)
    expected = _mp(list(p), lambda v: -mpmath.log(1 - mpmath.mpf(v)))
    expected_grad = _mp(list(p), lambda v: 1 / (1 - mpmath.mpf(v)))
    zeros = backend.array(np.zeros_like(p), dtype)
    for loss in (
        lambda t: lk.binary_crossentropy(zeros, t, reduction="none"),
        lambda t: lk.binary_focal_crossentropy(zeros, t, gamma=0.0, reduction="none"),
        lambda t: lk.asymmetric_loss(
            zeros, t, gamma_neg=0.0, gamma_pos=0.0, clip=None, reduction="none"
        ),
    ):
        _check_value_and_grad(backend, dtype, loss, BCE_SMALL_P, expected, expected_grad)


SATURATED_LABELS = np.array([1.0, 0.0, 0.0, 1.0, 0.3])
SATURATED_LOGITS = np.array([np.inf, -np.inf, np.inf, -np.inf, np.inf])


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("binary_crossentropy", {}),
        ("binary_crossentropy", {"pos_weight": 2.0}),
        ("binary_focal_crossentropy", {}),
        ("binary_focal_crossentropy", {"alpha": 0.25, "gamma": 1.5}),
        ("asymmetric_loss", {"clip": None}),
        ("asymmetric_loss", {}),
    ],
)
def test_infinite_logits_give_the_limit_and_a_finite_gradient(backend, dtype, name, kwargs):
    y = backend.array(SATURATED_LABELS, dtype)
    z = backend.array(SATURATED_LOGITS, dtype)

    def loss(t):
        return lk.get(name)(y, t, from_logits=True, reduction="none", **kwargs)

    got = backend.to_numpy(loss(z))
    np.testing.assert_array_equal(got[:2], [0.0, 0.0])
    assert np.all(got[2:] > 1.0) and not np.any(np.isnan(got))
    if name == "binary_crossentropy":
        np.testing.assert_array_equal(got[2:], np.inf)
    if backend.grad is not None:
        keep = backend.array([1.0, 1.0, 0.0, 0.0, 0.0], dtype)
        grad = backend.to_numpy(backend.grad(lambda t: backend_sum(loss(t) * keep), z))
        np.testing.assert_array_equal(grad[:2], [0.0, 0.0])


@pytest.mark.parametrize(
    ("name", "kwargs", "terms"),
    [
        ("poisson", {}, lambda y, p: (p, y * mpmath.log(p))),
        ("poisson_nll", {}, lambda y, p: (mpmath.exp(p), y * p)),
        ("poisson_nll", {"log_input": False}, lambda y, p: (p, y * mpmath.log(p + 1e-8))),
    ],
)
def test_poisson_losses_near_their_minimum_are_within_one_rounding_of_their_terms(
    backend, name, kwargs, terms
):
    """The README's bound for a difference of terms: 1e-6 relative / 1e-7 absolute, or
    2·eps·Σ|terms| (float32), against the value at the float32 inputs in 40 digits."""
    r = np.random.default_rng(5)
    y = r.gamma(2.0, 3.0, size=400).astype("float32")
    log_mean = np.log(y) + r.normal(0.0, 0.05, size=400)
    p = (log_mean if name == "poisson_nll" and not kwargs else np.exp(log_mean)).astype("float32")
    got = backend.to_numpy(
        lk.get(name)(
            backend.array(y, "float32"), backend.array(p, "float32"), reduction="none", **kwargs
        )
    )
    with mpmath.workdps(40):
        parts = [
            terms(mpmath.mpf(float(a)), mpmath.mpf(float(b))) for a, b in zip(y, p, strict=True)
        ]
        exact = np.array([float(first - second) for first, second in parts])
        scale = np.array([float(abs(first) + abs(second)) for first, second in parts])
    bound = np.maximum(1e-7 + 1e-6 * np.abs(exact), 2 * np.finfo(np.float32).eps * scale)
    assert np.all(np.abs(got - exact) <= bound), np.max(np.abs(got - exact) / bound)
