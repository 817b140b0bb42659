"""Robust and asymmetric classification losses against float64 formulas from the papers.

References are written here from the definitions (Ridnik et al. 2021; Zhang & Sabuncu 2018;
Wang et al. 2019; Ma et al. 2020; Feng et al. 2020; Amid et al. 2019), evaluated in float64 on
the dtype-rounded inputs. The tempered softmax of the reference is found by 200 bisection steps
(to float64 resolution), independently of losskit's Newton iteration. Gradients are checked
against analytic formulas or central differences of the float64 references.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import losskit as lk
import reference as ref
from conftest import get_backend, tolerance

RNG = np.random.default_rng(11)
K = 5
LOGITS = RNG.normal(scale=3.0, size=(6, K))
LOGITS[5] = [30.0, -30.0, 0.0, 2.0, -1.0]
LABELS = np.array([0, 3, 1, 4, 2, 1])
ONE_HOT = ref.one_hot(LABELS, K)
SOFT = ONE_HOT * 0.6 + 0.4 * np.exp(ref.log_softmax(RNG.normal(size=(6, K))))
SOFT[0] = [0.5, 0.5, 0.0, 0.0, 0.0]  # zero target mass
PROBS = np.exp(ref.log_softmax(RNG.normal(scale=2.0, size=(6, K))))
PROBS[5] = [1.0, 0.0, 0.0, 0.0, 0.0]  # exact 0 and 1
CLASS_WEIGHT = np.array([0.5, 1.0, 2.0, 1.5, 0.25])

# every array has the shape (6, 5): JAX compiles each primitive once per shape and dtype
MULTILABEL = (RNG.random((6, K)) > 0.5).astype(float)
ML_LOGITS = RNG.normal(scale=3.0, size=(6, K))
ML_LOGITS[4:] = [[-40.0, 40.0, -1e4, 1e4, 0.0], [-20.0, 20.0, 0.5, -0.5, 3.0]]
MULTILABEL[4:] = [[1.0, 0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.0, 1.0]]
ML_PROBS = ref.sigmoid(RNG.normal(scale=2.0, size=(6, K)))
ML_PROBS[4:] = [[0.0, 1.0, 0.0, 1.0, 0.04], [0.06, 0.5, 1e-30, 0.05, 0.999]]


def rounded(x: np.ndarray, dtype: str) -> np.ndarray:
    """The input as the backend sees it, back in float64."""
    return np.asarray(x).astype(dtype).astype(np.float64)


def clamped_log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), -100.0)


def log_probs(y_pred: np.ndarray, from_logits: bool) -> np.ndarray:
    return ref.log_softmax(y_pred) if from_logits else clamped_log(y_pred)


# ---------------------------------------------------------------------- float64 references
def asl_ref(y, x, gamma_neg=4.0, gamma_pos=1.0, clip=0.05, from_logits=True):
    """Ridnik et al. (2021), eq. 7-8: L+ = (1-p)^γ+ log p, L- = p_m^γ- log(1 - p_m)."""
    if from_logits:
        p, one_minus_p = ref.sigmoid(x), ref.sigmoid(-x)
        log_p, log_1mp = -ref.softplus(-x), -ref.softplus(x)
    else:
        p, one_minus_p = x, 1.0 - x
        log_p, log_1mp = clamped_log(x), clamped_log(1.0 - x)
    positive = -(one_minus_p**gamma_pos) * log_p
    if clip:
        p_m = np.maximum(p - clip, 0.0)
        negative = -(p_m**gamma_neg) * np.log1p(-p_m)
    else:
        negative = -(p**gamma_neg) * log_1mp
    return y * positive + (1 - y) * negative


def gce_ref(y, x, q=0.7, from_logits=True):
    """Zhang & Sabuncu (2018): (1 - p^q) / q, evaluated as -expm1(q log p) / q."""
    return np.sum(y * -np.expm1(q * log_probs(x, from_logits)) / q, axis=-1)


def ce_ref(y, x, from_logits=True):
    log_p = log_probs(x, from_logits)
    return -np.sum(np.where(y == 0, 0.0, y * np.where(np.isfinite(log_p), log_p, 0.0)), -1)


def rce_ref(y, x, A=-4.0, from_logits=True):
    """Wang et al. (2019): -Σ p_k log y_k with log 0 = A (and log y ≥ A)."""
    p = np.exp(ref.log_softmax(x)) if from_logits else x
    with np.errstate(divide="ignore"):
        log_y = np.maximum(np.log(y), A)
    return -np.sum(p * log_y, axis=-1)


def sce_ref(y, x, alpha=0.1, beta=1.0, A=-4.0, from_logits=True):
    return alpha * ce_ref(y, x, from_logits) + beta * rce_ref(y, x, A, from_logits)


def nce_ref(y, x, from_logits=True):
    """Ma et al. (2020): log p_y / Σ_k log p_k."""
    log_p = log_probs(x, from_logits)
    return ce_ref(y, x, from_logits) / -np.sum(log_p, axis=-1)


def taylor_ref(y, x, order=2, from_logits=True):
    """Feng et al. (2020): Σ_{i=1..t} (1 - p)^i / i."""
    one_minus_p = -np.expm1(ref.log_softmax(x)) if from_logits else 1.0 - x
    series = sum(one_minus_p**i / i for i in range(1, order + 1))
    return np.sum(y * series, axis=-1)


def log_t(x, t):
    return np.log(x) if t == 1.0 else (x ** (1.0 - t) - 1.0) / (1.0 - t)


def exp_t(x, t):
    if t == 1.0:
        return np.exp(x)
    return np.maximum(1.0 + (1.0 - t) * x, 0.0) ** (1.0 / (1.0 - t))


def tempered_softmax_ref(a, t, steps=200):
    """Amid et al. (2019): p = exp_t(a - λ), Σ p = 1, with λ by bisection on [max a, max a -
    log_t(1/K)] (the sum is ≥ 1 at the left end and ≤ 1 at the right end)."""
    a = np.asarray(a, dtype=np.float64)
    if t == 1.0:
        return np.exp(ref.log_softmax(a))
    k = a.shape[-1]
    low = np.max(a, axis=-1, keepdims=True)
    high = low - log_t(1.0 / k, t)
    for _ in range(steps):
        mid = 0.5 * (low + high)
        above = exp_t(a - mid, t).sum(-1, keepdims=True) >= 1.0
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    return exp_t(a - 0.5 * (low + high), t)


def bi_tempered_ref(y, a, t1, t2):
    """Amid et al. (2019), eq. (12): Σ y (log_t1 y - log_t1 p) - (y^(2-t1) - p^(2-t1))/(2-t1)."""
    p = tempered_softmax_ref(a, t2)
    with np.errstate(divide="ignore", invalid="ignore"):
        y_log_y = np.where(y > 0, y * log_t(np.where(y > 0, y, 1.0), t1), 0.0)
        terms = y_log_y - np.where(y > 0, y * log_t(p, t1), 0.0)
    terms = terms - (y ** (2.0 - t1) - p ** (2.0 - t1)) / (2.0 - t1)
    return np.sum(terms, axis=-1)


def numeric_grad(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, h: float = 1e-6):
    """Central differences of ``sum(f(x))`` for a float64 unreduced loss ``f``; the difference is
    taken before summing, so large terms elsewhere add no rounding."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = np.sum(f(x + e) - f(x - e)) / (2 * h)
    return g


def assert_close(backend, got, expected, dtype, **loosen):
    tol = {**tolerance(dtype), **loosen}
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)


# ---------------------------------------------------------------------- asymmetric loss
ASL_OPTIONS = [
    {},
    {"clip": 0.0},
    {"clip": None, "gamma_neg": 2.0, "gamma_pos": 0.0},
    {"gamma_neg": 0.0, "gamma_pos": 0.0, "clip": 0.0},  # binary cross-entropy
    {"gamma_neg": 0.5, "gamma_pos": 0.5, "clip": 0.2},  # γ < 1 at p_m = 0
]


@pytest.mark.parametrize("options", ASL_OPTIONS, ids=lambda o: ",".join(map(str, o.values())))
def test_asymmetric_against_float64(backend, dtype, options):
    kw = {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05, **options}
    clip = kw["clip"] or 0.0
    y = MULTILABEL
    for from_logits, x in ((True, ML_LOGITS), (False, ML_PROBS)):
        got = lk.asymmetric_loss(
            backend.array(y, dtype),
            backend.array(x, dtype),
            from_logits=from_logits,
            reduction="none",
            **kw,
        )
        expected = asl_ref(
            y, rounded(x, dtype), kw["gamma_neg"], kw["gamma_pos"], clip, from_logits
        )
        assert_close(backend, got, expected, dtype)


def test_asymmetric_equals_bce_without_focusing_or_clip(backend):
    got = lk.asymmetric_loss(
        backend.array(MULTILABEL),
        backend.array(ML_LOGITS),
        gamma_neg=0.0,
        gamma_pos=0.0,
        clip=0.0,
        from_logits=True,
    )
    bce = lk.binary_crossentropy(
        backend.array(MULTILABEL), backend.array(ML_LOGITS), from_logits=True
    )
    assert_close(backend, got, backend.to_numpy(bce), "float64")
    np.testing.assert_allclose(backend.to_numpy(got), ref.bce_logits(MULTILABEL, ML_LOGITS).mean())


def test_asymmetric_soft_targets_weigh_each_term():
    y = np.array([0.3, 0.7])
    z = np.array([1.5, -0.5])
    got = lk.asymmetric_loss(y, z, from_logits=True, reduction="none")
    expected = y * asl_ref(1.0, z) + (1 - y) * asl_ref(0.0, z)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("half", ["float16", "bfloat16"])
def test_asymmetric_is_exact_in_half_precision(half):
    """PITFALLS: a clamp(min=1e-8) underflows in fp16 and the log gives -inf. Half inputs are
    computed in float32: a confidently wrong positive costs |z|."""
    z = np.array([-20.0, -12.0, 8.0, 15.0, -3.0])
    y = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    for name in ("numpy", "torch", "jax", "tensorflow"):
        try:
            b = get_backend(name)
        except pytest.skip.Exception:
            continue
        if half not in b.dtypes:
            continue
        got = lk.asymmetric_loss(b.array(y), b.array(z, half), from_logits=True, reduction="none")
        expected = asl_ref(y, rounded(z, "float32") if half == "float16" else z)
        assert "float32" in str(got.dtype)
        np.testing.assert_allclose(b.to_numpy(got), expected, rtol=1e-6, err_msg=name)


def test_asymmetric_gradients(autodiff_backend):
    b = autodiff_backend
    z = ML_LOGITS
    y = MULTILABEL
    for kw in ({}, {"clip": 0.0}, {"gamma_neg": 0.5, "clip": 0.2}):
        g = b.grad(
            lambda t, kw=kw: lk.asymmetric_loss(
                b.array(y), t, from_logits=True, reduction="sum", **kw
            ),
            b.array(z),
        )
        full = {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05, **kw}
        expected = numeric_grad(
            lambda t, f=full: asl_ref(y, t, f["gamma_neg"], f["gamma_pos"], f["clip"]),
            z,
        )
        np.testing.assert_allclose(b.to_numpy(g), expected, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------- multiclass losses
MULTICLASS = {
    "gce": (lk.generalized_crossentropy, gce_ref, {"q": 0.7}),
    "gce_q_small": (lk.generalized_crossentropy, gce_ref, {"q": 1e-3}),
    "sce": (lk.symmetric_crossentropy, sce_ref, {"alpha": 0.1, "beta": 1.0, "A": -4.0}),
    "sce_code": (lk.symmetric_crossentropy, sce_ref, {"alpha": 1.0, "beta": 0.5, "A": -9.21}),
    "nce": (lk.normalized_crossentropy, nce_ref, {}),
    "taylor": (lk.taylor_crossentropy, taylor_ref, {"order": 2}),
    "taylor6": (lk.taylor_crossentropy, taylor_ref, {"order": 6}),
}


@pytest.mark.parametrize("name", list(MULTICLASS))
def test_multiclass_against_float64(backend, dtype, name):
    loss, reference, kw = MULTICLASS[name]
    for from_logits, x in ((True, LOGITS), (False, PROBS)):
        for y in (ONE_HOT, SOFT):
            got = loss(
                backend.array(y, dtype),
                backend.array(x, dtype),
                from_logits=from_logits,
                reduction="none",
                **kw,
            )
            expected = reference(
                rounded(y, dtype), rounded(x, dtype), from_logits=from_logits, **kw
            )
            assert_close(backend, got, expected, dtype)


@pytest.mark.parametrize("name", ["gce", "sce", "nce", "taylor"])
def test_multiclass_smoothing_weights_and_axis(backend, name):
    loss, reference, kw = MULTICLASS[name]
    eps = 0.1
    smoothed = (1 - eps) * ONE_HOT + eps / K
    per_sample = reference(smoothed, LOGITS, from_logits=True, **kw)
    w = ONE_HOT @ CLASS_WEIGHT
    got = loss(
        backend.array(ONE_HOT),
        backend.array(LOGITS),
        from_logits=True,
        label_smoothing=eps,
        class_weight=backend.array(CLASS_WEIGHT),
        **kw,
    )
    assert_close(backend, got, np.sum(w * per_sample) / np.sum(w), "float64")
    # channels-first: classes on axis 1 of (N, C, d)
    y3 = np.stack([ONE_HOT, SOFT], axis=-1)
    z3 = np.stack([LOGITS, LOGITS[::-1]], axis=-1)
    got = loss(
        backend.array(y3), backend.array(z3), from_logits=True, axis=1, reduction="none", **kw
    )
    expected = np.stack(
        [reference(ONE_HOT, LOGITS, **kw), reference(SOFT, LOGITS[::-1], **kw)], axis=-1
    )
    assert_close(backend, got, expected, "float64")


def test_generalized_crossentropy_limits():
    p_y = np.sum(ONE_HOT * PROBS, -1)
    np.testing.assert_allclose(
        lk.generalized_crossentropy(ONE_HOT, PROBS, q=1.0, reduction="none"), 1 - p_y, atol=1e-15
    )
    ce = lk.categorical_crossentropy(ONE_HOT, LOGITS, from_logits=True, reduction="none")
    for q in (1e-4, 1e-8, 1e-12):  # 0 ≤ CE - GCE ≤ q·CE²/2
        gce = lk.generalized_crossentropy(ONE_HOT, LOGITS, q=q, from_logits=True, reduction="none")
        gap = ce - gce
        assert np.all(gap >= -1e-15 * ce)
        assert np.all(gap <= q * ce**2 / 2 + 1e-15 * ce)
    # bounded by 1/q: a zero probability of the true class from logits
    far = lk.generalized_crossentropy(
        np.array([1.0, 0.0]), np.array([-1e4, 1e4]), q=0.5, from_logits=True
    )
    np.testing.assert_allclose(far, 2.0, rtol=1e-15)


def test_symmetric_crossentropy_is_its_two_terms():
    for y, x, from_logits in ((ONE_HOT, LOGITS, True), (SOFT, PROBS, False)):
        ce = lk.categorical_crossentropy(y, x, from_logits=from_logits, reduction="none")
        rce = lk.symmetric_crossentropy(
            y, x, alpha=0.0, beta=1.0, from_logits=from_logits, reduction="none"
        )
        np.testing.assert_allclose(rce, rce_ref(y, x, from_logits=from_logits), rtol=1e-12)
        both = lk.symmetric_crossentropy(
            y, x, alpha=0.3, beta=2.0, from_logits=from_logits, reduction="none"
        )
        np.testing.assert_allclose(both, 0.3 * ce + 2.0 * rce, rtol=1e-12)
    # one-hot targets: RCE = -A (1 - p_y)
    p_y = np.sum(ONE_HOT * PROBS, -1)
    rce = lk.symmetric_crossentropy(ONE_HOT, PROBS, alpha=0.0, A=-4.0, reduction="none")
    np.testing.assert_allclose(rce, 4.0 * (1 - p_y), rtol=1e-12, atol=1e-15)


def test_normalized_crossentropy_range_and_single_class():
    nce = lk.normalized_crossentropy(SOFT, LOGITS, from_logits=True, reduction="none")
    assert np.all((nce >= 0) & (nce <= 1))
    # uniform prediction: exactly Σ y / K
    np.testing.assert_allclose(
        lk.normalized_crossentropy(
            ONE_HOT, np.zeros_like(LOGITS), from_logits=True, reduction="none"
        ),
        np.full(len(ONE_HOT), 1 / K),
        rtol=1e-14,
    )
    # one class: 0/0 is 0, not NaN
    assert (
        float(lk.normalized_crossentropy(np.ones((3, 1)), np.zeros((3, 1)), from_logits=True)) == 0
    )


def test_taylor_crossentropy_tends_to_crossentropy():
    ce = ce_ref(ONE_HOT, LOGITS)
    p_y = np.exp(-ce)
    for order in (1, 10, 200):
        got = lk.taylor_crossentropy(
            ONE_HOT, LOGITS, order=order, from_logits=True, reduction="none"
        )
        r = 1 - p_y
        remainder = r ** (order + 1) / ((order + 1) * p_y)  # Σ_{i>t} r^i / i ≤ r^(t+1)/((t+1)(1-r))
        assert np.all(got <= ce + 1e-12)
        assert np.all(ce - got <= remainder + 1e-12)
    np.testing.assert_allclose(
        lk.taylor_crossentropy(ONE_HOT, LOGITS, order=1, from_logits=True, reduction="none"),
        1 - p_y,
        rtol=1e-12,
    )


def test_multiclass_gradients(autodiff_backend):
    b = autodiff_backend
    z = LOGITS
    for name in ("gce", "sce", "nce", "taylor6"):
        loss, reference, kw = MULTICLASS[name]
        for y in (ONE_HOT, SOFT):
            g = b.grad(
                lambda t, loss=loss, y=y, kw=kw: loss(
                    b.array(y), t, from_logits=True, reduction="sum", **kw
                ),
                b.array(z),
            )
            expected = numeric_grad(
                lambda t, reference=reference, y=y, kw=kw: reference(y, t, **kw), z
            )
            np.testing.assert_allclose(b.to_numpy(g), expected, rtol=1e-6, atol=1e-8, err_msg=name)
    # GCE's analytic gradient: ∂ℓ/∂z_j = p_j Σ_k y_k p_k^q - y_j p_j^q
    p = np.exp(ref.log_softmax(z))
    y = SOFT
    g = b.grad(
        lambda t: lk.generalized_crossentropy(
            b.array(y), t, q=0.7, from_logits=True, reduction="sum"
        ),
        b.array(z),
    )
    expected = p * np.sum(y * p**0.7, -1, keepdims=True) - y * p**0.7
    np.testing.assert_allclose(b.to_numpy(g), expected, rtol=1e-10, atol=1e-14)


def test_generalized_crossentropy_keras_parity():
    keras = pytest.importorskip("keras")
    for q in (0.5, 0.7):
        theirs = keras.losses.categorical_generalized_cross_entropy(LABELS, PROBS[:, :], q=q)
        ours = lk.generalized_crossentropy(ONE_HOT, PROBS, q=q, reduction="none")
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6, atol=1e-7)
        theirs = keras.losses.CategoricalGeneralizedCrossEntropy(q=q)(LABELS, PROBS)
        np.testing.assert_allclose(
            float(lk.generalized_crossentropy(ONE_HOT, PROBS, q=q)), float(theirs), rtol=1e-6
        )


@pytest.mark.slow  # 96 graph and XLA traces: about 45 s
def test_generalized_crossentropy_tensorflow_one_hot_path(monkeypatch):
    """TensorFlow gathers p_y when every target row is one-hot (a tf.cond): the same values and
    gradients, with respect to the targets too, as the dense sum, eager, in a graph on a
    persistent tape, and under XLA; soft or smoothed targets take the dense branch."""
    tf = pytest.importorskip("tensorflow")
    from losskit._backend import backend_of

    logits = LOGITS.copy()
    logits[0, 1] = -np.inf  # a masked class

    def run(y, x, mode, **kw):
        def value_and_grads(y, x):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([y, x])
                loss = lk.generalized_crossentropy(y, x, **kw)
            return loss, tape.gradient(loss, x), tape.gradient(loss, y)

        if mode != "eager":
            value_and_grads = tf.function(value_and_grads, jit_compile=mode == "xla")
        return [t.numpy() for t in value_and_grads(tf.constant(y), tf.constant(x))]

    options = [{}, {"label_smoothing": 0.1}, {"class_weight": CLASS_WEIGHT}, {"q": 0.05}]
    for y, (x, from_logits), kw, mode in itertools.product(
        (ONE_HOT, SOFT), ((PROBS, False), (logits, True)), options, ("eager", "graph", "xla")
    ):
        gathered = run(y, x, mode, from_logits=from_logits, reduction="none", **kw)
        with monkeypatch.context() as patch:
            patch.delattr(type(backend_of(tf.constant(1.0))), "target_weighted_sum")
            dense = run(y, x, mode, from_logits=from_logits, reduction="none", **kw)
        for a, b in zip(gathered, dense, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"{kw} {mode}")


# ---------------------------------------------------------------------- bi-tempered logistic
TEMPERATURES = [(1.0, 1.0), (0.5, 1.0), (0.8, 1.5), (0.2, 4.0), (1.0, 2.0), (0.5, 0.5), (0.9, 0.2)]


@pytest.mark.parametrize(("t1", "t2"), TEMPERATURES)
def test_bi_tempered_against_float64(backend, dtype, t1, t2):
    z = LOGITS
    for y in (ONE_HOT, SOFT):
        got = lk.bi_tempered_logistic(
            backend.array(y, dtype),
            backend.array(z, dtype),
            t1=t1,
            t2=t2,
            num_iters=8,
            reduction="none",
        )
        expected = bi_tempered_ref(rounded(y, dtype), rounded(z, dtype), t1, t2)
        # float32: the loss is a sum of O(1) terms that cancel (a Bregman divergence), and λ is
        # found in float32: a few float32 ulps of the largest term, absolute
        loosen = {"atol": 1e-6} if dtype == "float32" else {}
        assert_close(backend, got, expected, dtype, **loosen)


def test_bi_tempered_at_unit_temperatures_is_crossentropy(backend, dtype):
    """t1 = t2 = 1 is exactly softmax cross-entropy (one-hot targets)."""
    z = LOGITS.copy()
    z[0] = [1e4, -1e4, 0.0, 5.0, -5.0]
    y, p = backend.array(ONE_HOT, dtype), backend.array(z, dtype)
    per_row = lk.bi_tempered_logistic(y, p, reduction="none")
    ce = lk.categorical_crossentropy(y, p, from_logits=True, reduction="none")
    np.testing.assert_array_equal(backend.to_numpy(per_row), backend.to_numpy(ce))
    got = lk.bi_tempered_logistic(y, p)  # the mean: one rounding of the summation order apart
    mean = lk.categorical_crossentropy(y, p, from_logits=True)
    np.testing.assert_allclose(backend.to_numpy(got), backend.to_numpy(mean), rtol=4e-16)
    assert_close(backend, got, ce_ref(ONE_HOT, rounded(z, dtype)).mean(), dtype)
    # soft targets: the KL divergence, cross-entropy minus the target entropy
    soft = lk.bi_tempered_logistic(backend.array(SOFT), backend.array(LOGITS), reduction="none")
    entropy = -np.sum(np.where(SOFT > 0, SOFT * np.log(np.where(SOFT > 0, SOFT, 1)), 0), -1)
    assert_close(backend, soft, ce_ref(SOFT, LOGITS) - entropy, "float64")


def test_bi_tempered_num_iters_accuracy():
    """The documented accuracy: the default 5 Newton steps for t2 in [0.5, 3]; 8 steps for the
    hard cases (t2 near 0 with many near-tied classes, t2 = 4 with spread logits)."""
    rng = np.random.default_rng(5)
    for k in (2, 10, 100, 1000):
        for scale in (0.1, 1.0, 10.0, 100.0):
            a = rng.normal(scale=scale, size=(3, k))
            y = ref.one_hot(rng.integers(0, k, 3), k)
            for t2, num_iters in ((0.5, 5), (1.5, 5), (3.0, 5), (0.0, 8), (0.2, 8), (4.0, 8)):
                expected = bi_tempered_ref(y, a, 0.5, t2)
                got = lk.bi_tempered_logistic(
                    y, a, t1=0.5, t2=t2, num_iters=num_iters, reduction="none"
                )
                # atol: a near-perfect prediction's loss is a difference of O(1) terms
                np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
    # fewer steps are less accurate, monotonically (the iteration approaches λ from below)
    a = np.random.default_rng(1).normal(scale=3.0, size=(4, 50))
    y = ref.one_hot(np.arange(4), 50)
    expected = bi_tempered_ref(y, a, 0.5, 2.0)
    errors = [
        np.max(
            np.abs(
                lk.bi_tempered_logistic(y, a, t1=0.5, t2=2.0, num_iters=n, reduction="none")
                - expected
            )
        )
        for n in (1, 2, 3, 6)
    ]
    assert errors[0] > errors[1] > errors[2] > errors[3] and errors[3] < 1e-12


def tempered_gradient_ref(y, a, t1, t2):
    """The analytic gradient of the bi-tempered loss (Amid et al. 2019, appendix; with the
    labels normalised): (p - y) p^(t2-t1) minus its escort-weighted sum, where the escort is
    p^t2 / Σ p^t2 (0 outside the support of p)."""
    p = tempered_softmax_ref(a, t2)
    inside = p > 0
    d = np.where(inside, (p - y) * np.where(inside, p, 1.0) ** (t2 - t1), 0.0)
    escort = np.where(inside, p, 0.0) ** t2 * inside
    escort = escort / escort.sum(-1, keepdims=True)
    return d - escort * d.sum(-1, keepdims=True)


@pytest.mark.parametrize(("t1", "t2"), TEMPERATURES)
def test_bi_tempered_gradients(autodiff_backend, t1, t2):
    b = autodiff_backend
    z = LOGITS
    for y in (ONE_HOT, SOFT):
        g = b.grad(
            lambda t, y=y: lk.bi_tempered_logistic(
                b.array(y), t, t1=t1, t2=t2, num_iters=8, reduction="sum"
            ),
            b.array(z),
        )
        expected = tempered_gradient_ref(y, z, t1, t2)
        if t1 != 1.0:
            # the analytic formula assumes Σ y = 1 for t1 = 1 only; compare with differences too
            numeric = numeric_grad(lambda t, y=y: bi_tempered_ref(y, t, t1, t2), z)
            np.testing.assert_allclose(expected, numeric, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(b.to_numpy(g), expected, rtol=1e-9, atol=1e-12)


def test_bi_tempered_smoothing_matches_the_reference_convention():
    """Our ε = s·K/(K-1) reproduces the authors' label_smoothing=s."""
    s = 0.1
    authors = (1 - K / (K - 1) * s) * ONE_HOT + s / (K - 1)
    expected = bi_tempered_ref(authors, LOGITS, 0.7, 1.3)
    got = lk.bi_tempered_logistic(
        ONE_HOT, LOGITS, t1=0.7, t2=1.3, label_smoothing=s * K / (K - 1), reduction="none"
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("loss", "kw"),
    [
        (lk.generalized_crossentropy, {"from_logits": True}),
        (lk.symmetric_crossentropy, {"from_logits": True}),
        (lk.taylor_crossentropy, {"from_logits": True, "order": 3}),
        (lk.bi_tempered_logistic, {}),
        (lk.bi_tempered_logistic, {"t1": 0.5, "t2": 1.5}),
        (lk.bi_tempered_logistic, {"t1": 0.5, "t2": 0.5}),
    ],
    ids=["gce", "sce", "taylor", "bi_tempered", "bi_tempered_heavy", "bi_tempered_light"],
)
def test_masked_class_logit_minus_inf_is_a_dropped_class(autodiff_backend, loss, kw):
    """A logit of -inf (a masked class with no target mass) is the loss without that class."""
    b = autodiff_backend
    z = LOGITS.copy()
    z[:, 2] = -np.inf
    y = ONE_HOT.copy()
    y[:, 2] = 0.0
    y[LABELS == 2, 3] = 1.0
    keep = [0, 1, 3, 4]
    got = loss(b.array(y), b.array(z), reduction="none", **kw)
    expected = loss(y[:, keep], LOGITS[:, keep], reduction="none", **kw)  # NumPy
    assert_close(b, got, expected, "float64")
    g = b.to_numpy(b.grad(lambda t: loss(b.array(y), t, reduction="sum", **kw), b.array(z)))
    torch = get_backend("torch")  # the kept-class gradient, computed once on torch
    g_kept = torch.grad(
        lambda t: loss(torch.array(y[:, keep]), t, reduction="sum", **kw),
        torch.array(LOGITS[:, keep]),
    )
    np.testing.assert_array_equal(g[:, 2], 0.0)
    np.testing.assert_allclose(g[:, keep], torch.to_numpy(g_kept), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------- every loss
def _all_losses() -> dict[str, tuple[Callable[..., Any], np.ndarray, np.ndarray, dict]]:
    """name -> (loss, y_true, extreme y_pred, kwargs)."""
    z = np.array(
        [
            [1e4, -1e4, 0.0, 0.0, 0.0],
            [-1e4, 1e4, 0.0, 0.0, 0.0],
            [100.0, -100.0, 30.0, -30.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [-30.0, 30.0, 1e4, -1e4, 5.0],
            [1.0, 2.0, 3.0, 4.0, 5.0],
        ]
    )
    y = np.array(
        [
            [1.0, 0.0, 0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.5, 0.5, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0, 0.0],
            [0.2, 0.2, 0.2, 0.2, 0.2],
            [0.0, 0.0, 0.0, 0.0, 1.0],
        ]
    )
    p = np.array(
        [
            [1.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0, 0.0],
            [0.5, 0.5, 0.0, 0.0, 0.0],
            [1e-30, 0.3, 0.2, 0.5 - 1e-30, 0.0],
            [0.2, 0.2, 0.2, 0.2, 0.2],
            [0.0, 0.0, 0.0, 0.0, 1.0],
        ]
    )
    ml_y = np.array(
        [
            [1.0, 0.0, 1.0, 0.0, 1.0],
            [0.0, 1.0, 0.3, 1.0, 0.0],
            [1.0, 1.0, 0.0, 0.0, 1.0],
            [0.0, 0.0, 1.0, 1.0, 0.0],
            [1.0, 0.0, 1.0, 0.0, 0.5],
            [0.0, 1.0, 0.0, 1.0, 1.0],
        ]
    )
    ml_p = np.array(
        [
            [0.0, 1.0, 1e-30, 0.05, 0.0],
            [1.0, 0.0, 0.5, 0.06, 1.0],
            [1e-8, 0.99, 0.0, 1.0, 0.5],
            [0.5, 0.5, 0.5, 0.5, 0.05],
            [0.0, 1.0, 0.0, 1.0, 0.04],
            [1.0, 0.0, 1.0, 0.0, 1e-30],
        ]
    )
    cases = {
        "asl_logits": (lk.asymmetric_loss, ml_y, z, {"from_logits": True}),
        "asl_logits_gamma_half": (
            lk.asymmetric_loss,
            ml_y,
            z,
            {"from_logits": True, "gamma_neg": 0.5, "gamma_pos": 0.5},
        ),
        "asl_probs": (lk.asymmetric_loss, ml_y, ml_p, {}),
        "asl_probs_noclip": (lk.asymmetric_loss, ml_y, ml_p, {"clip": 0.0, "gamma_pos": 0.5}),
    }
    for name, fn in (
        ("gce", lk.generalized_crossentropy),
        ("sce", lk.symmetric_crossentropy),
        ("nce", lk.normalized_crossentropy),
        ("taylor", lk.taylor_crossentropy),
    ):
        cases[f"{name}_logits"] = (fn, y, z, {"from_logits": True})
        cases[f"{name}_probs"] = (fn, y, p, {})
    cases["gce_q_small"] = (lk.generalized_crossentropy, y, z, {"from_logits": True, "q": 1e-6})
    for t1, t2 in ((1.0, 1.0), (0.5, 1.5), (0.2, 4.0), (0.5, 0.5)):
        cases[f"bi_tempered_{t1}_{t2}"] = (lk.bi_tempered_logistic, y, z, {"t1": t1, "t2": t2})
    return cases


ALL = _all_losses()


@pytest.mark.parametrize("name", list(ALL))
def test_stress_values_and_gradients_are_finite(autodiff_backend, dtype, name):
    loss, y, x, kw = ALL[name]
    b = autodiff_backend
    value = loss(b.array(y, dtype), b.array(x, dtype), reduction="none", **kw)
    assert np.all(np.isfinite(b.to_numpy(value))), name
    assert np.all(b.to_numpy(value) >= -1e-6), name
    g = b.grad(lambda t: loss(b.array(y, dtype), t, reduction="sum", **kw), b.array(x, dtype))
    assert np.all(np.isfinite(b.to_numpy(g))), name


@pytest.mark.parametrize("name", list(ALL))
def test_all_masked_gives_zero_with_zero_gradient(autodiff_backend, name):
    loss, y, x, kw = ALL[name]
    b = autodiff_backend
    mask = b.array(np.zeros(len(x), dtype=bool))
    for reduction in ("mean", "sum"):
        value = loss(b.array(y), b.array(x), mask=mask, reduction=reduction, **kw)
        assert float(b.to_numpy(value)) == 0.0
        g = b.grad(
            lambda t, r=reduction: loss(b.array(y), t, mask=mask, reduction=r, **kw), b.array(x)
        )
        np.testing.assert_array_equal(b.to_numpy(g), 0.0)


@pytest.mark.parametrize("name", list(ALL))
def test_reductions_follow_the_contract(name):
    loss, y, x, kw = ALL[name]
    per = loss(y, x, reduction="none", **kw)
    w = np.linspace(0.5, 2.0, len(x))
    np.testing.assert_allclose(loss(y, x, reduction="sum", **kw), per.sum(), rtol=1e-12)
    np.testing.assert_allclose(loss(y, x, **kw), per.mean(), rtol=1e-12)
    weighted = loss(y, x, sample_weight=w, **kw)
    w_full = w if per.ndim == 1 else w[:, None] * np.ones_like(per)
    np.testing.assert_allclose(weighted, np.sum(w_full * per) / np.sum(w_full), rtol=1e-12)


# one traced case per loss (compiling is slow on this machine's 2 cores)
TRACED = [
    "asl_logits",
    "gce_logits",
    "sce_probs",
    "nce_logits",
    "taylor_probs",
    "bi_tempered_0.5_1.5",
    "bi_tempered_0.5_0.5",
]


def test_jax_jit_matches_eager():
    """One jitted function computes every traced case (one compilation)."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    cases = [ALL[name] for name in TRACED]

    @jax.jit
    def everything(xs):
        return [
            jax.value_and_grad(lambda t, loss=loss, y=y, kw=kw: loss(jnp.asarray(y), t, **kw))(x)
            for (loss, y, _, kw), x in zip(cases, xs, strict=True)
        ]

    results = everything([jnp.asarray(x) for _, _, x, _ in cases])
    for name, (loss, y, x, kw), (value, grad) in zip(TRACED, cases, results, strict=True):
        eager = loss(jnp.asarray(y), jnp.asarray(x), **kw)
        np.testing.assert_allclose(float(value), float(eager), rtol=1e-12, err_msg=name)
        assert np.all(np.isfinite(np.asarray(grad))), name


def test_tf_function_jit_compile_matches_eager():
    """One XLA-compiled tf.function computes every traced case (one compilation)."""
    tf = pytest.importorskip("tensorflow")
    cases = [ALL[name] for name in TRACED]

    @tf.function(jit_compile=True)
    def everything(xs):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xs)
            values = [
                loss(tf.constant(y), x, **kw) for (loss, y, _, kw), x in zip(cases, xs, strict=True)
            ]
        return values, [tape.gradient(v, x) for v, x in zip(values, xs, strict=True)]

    values, grads = everything([tf.constant(x) for _, _, x, _ in cases])
    for name, (loss, y, x, kw), value, grad in zip(TRACED, cases, values, grads, strict=True):
        eager = loss(tf.constant(y), tf.constant(x), **kw)
        np.testing.assert_allclose(float(value), float(eager), rtol=1e-12, err_msg=name)
        assert np.all(np.isfinite(grad.numpy())), name


def test_registry_names_and_metadata():
    for alias, fn in (
        ("asl", lk.asymmetric_loss),
        ("gce", lk.generalized_crossentropy),
        ("sce", lk.symmetric_crossentropy),
        ("nce", lk.normalized_crossentropy),
        ("taylor_ce", lk.taylor_crossentropy),
        ("bi_tempered", lk.bi_tempered_logistic),
    ):
        assert lk.get(alias) is fn
    assert lk.info("asymmetric_loss").kind == "elementwise"
    assert lk.info("asymmetric_loss").task == "multilabel"
    assert lk.info("bi_tempered_logistic").domain == "logit"
    assert lk.info("generalized_crossentropy").properties["bounded"] is True


# ---------------------------------------------------------------------- validation
def test_bad_parameters_raise():
    y, z = ONE_HOT, LOGITS
    cases = [
        (ValueError, "gamma_neg", lambda: lk.asymmetric_loss(MULTILABEL, ML_PROBS, gamma_neg=-1)),
        (ValueError, "gamma_pos", lambda: lk.asymmetric_loss(MULTILABEL, ML_PROBS, gamma_pos=-0.5)),
        (ValueError, "clip", lambda: lk.asymmetric_loss(MULTILABEL, ML_PROBS, clip=1.0)),
        (TypeError, "clip", lambda: lk.asymmetric_loss(MULTILABEL, ML_PROBS, clip="0.1")),
        (
            ValueError,
            r"q must be in \(0.0, 1.0\]",
            lambda: lk.generalized_crossentropy(y, PROBS, q=0),
        ),
        (ValueError, "q must be", lambda: lk.generalized_crossentropy(y, PROBS, q=1.5)),
        (ValueError, "alpha", lambda: lk.symmetric_crossentropy(y, PROBS, alpha=-1.0)),
        (ValueError, "beta", lambda: lk.symmetric_crossentropy(y, PROBS, beta=-1.0)),
        (ValueError, "A must be", lambda: lk.symmetric_crossentropy(y, PROBS, A=1.0)),
        (ValueError, "A must be", lambda: lk.symmetric_crossentropy(y, PROBS, A=-math.inf)),
        (ValueError, "order must be at least 1", lambda: lk.taylor_crossentropy(y, PROBS, order=0)),
        (TypeError, "order must be an int", lambda: lk.taylor_crossentropy(y, PROBS, order=2.0)),
        (ValueError, "t1", lambda: lk.bi_tempered_logistic(y, z, t1=1.5)),
        (ValueError, "t2", lambda: lk.bi_tempered_logistic(y, z, t2=-0.1)),
        (ValueError, "num_iters", lambda: lk.bi_tempered_logistic(y, z, t2=1.5, num_iters=0)),
        (TypeError, "num_iters", lambda: lk.bi_tempered_logistic(y, z, num_iters=5.0)),
        (
            ValueError,
            "label_smoothing",
            lambda: lk.normalized_crossentropy(y, PROBS, label_smoothing=2),
        ),
        (
            ValueError,
            "class_weight must have one entry",
            lambda: lk.generalized_crossentropy(y, PROBS, class_weight=np.ones(3)),
        ),
        (
            ValueError,
            "class_weight must be non-negative",
            lambda: lk.taylor_crossentropy(y, PROBS, class_weight=-np.ones(K)),
        ),
        (ValueError, "axis=2 is out of range", lambda: lk.symmetric_crossentropy(y, PROBS, axis=2)),
        (
            ValueError,
            "reduction",
            lambda: lk.asymmetric_loss(MULTILABEL, ML_PROBS, reduction="avg"),
        ),
        (
            ValueError,
            "normalizer",
            lambda: lk.bi_tempered_logistic(y, z, reduction="sum", normalizer=3),
        ),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()


def test_bad_inputs_raise():
    y = ONE_HOT
    with pytest.raises(ValueError, match="from_logits=True"):
        lk.asymmetric_loss(MULTILABEL, ML_LOGITS)
    with pytest.raises(ValueError, match="from_logits=True"):
        lk.generalized_crossentropy(y, LOGITS)
    with pytest.raises(ValueError, match="sum to 1"):
        lk.normalized_crossentropy(y, PROBS * 0.5)
    with pytest.raises(ValueError, match=r"y_true \(targets\) must lie in \[0, 1\]"):
        lk.asymmetric_loss(MULTILABEL * 2, ML_PROBS)
    with pytest.raises(ValueError, match=r"y_true \(targets\) must lie in \[0, 1\]"):
        lk.bi_tempered_logistic(-y, LOGITS)
    with pytest.raises(ValueError, match="does not match"):
        lk.taylor_crossentropy(y, PROBS[:, :3])
    with pytest.raises(ValueError, match="does not match"):
        lk.asymmetric_loss(MULTILABEL, ML_PROBS[:, :3])
    with pytest.raises(ValueError, match="at least one class"):
        lk.symmetric_crossentropy(np.zeros((2, 0)), np.zeros((2, 0)), from_logits=True)
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        lk.bi_tempered_logistic(y, np.where(y > 0, np.nan, LOGITS))
    with pytest.raises(TypeError, match="floating-point"):
        lk.generalized_crossentropy(y, np.ones((6, K), dtype=np.int64))
    # an empty batch is not an error: the mean of nothing is 0
    assert float(lk.asymmetric_loss(np.zeros((0, 3)), np.zeros((0, 3)))) == 0.0
    assert float(lk.bi_tempered_logistic(np.zeros((0, 3)), np.zeros((0, 3)), t2=1.5)) == 0.0
