"""Multiclass hinge, sparsemax loss and CTC against float64 formulas and their anchors.

The references below are written from the papers, independently of losskit's code paths: the
multiclass hinges as explicit loops over classes, sparsemax by bisection on the threshold with the
paper's loss formula, and CTC by enumerating every frame-level path (so the forward algorithm is
checked against the definition, not against another forward algorithm).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

import losskit as lk
import reference as ref
from conftest import tolerance

RNG = np.random.default_rng(11)


def _close(backend, got, expected, dtype, **loosen):
    tol = tolerance(dtype)
    tol.update(loosen)
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tol)


def _rounded(x, dtype):
    """The float64 value of ``x`` once stored in ``dtype`` (what the backend actually sees)."""
    return np.asarray(x).astype(dtype).astype(np.float64)


# ====================================================================== multiclass hinge
SCORES = RNG.normal(scale=1.5, size=(7, 5))
SCORES[6] = [0.3, 0.3, 0.3, 0.3, 0.3]  # ties
LABELS = RNG.integers(0, 5, 7)
CLASS_WEIGHT = np.array([0.5, 1.0, 2.0, 0.25, 1.5])


def multiclass_hinge_ref(y, s, margin=1.0, p=1, variant="weston_watkins"):
    """Weston–Watkins: Σ_{j≠y} max(0, m − s_y + s_j)^p; Crammer–Singer: the max over j≠y."""
    out = np.zeros(len(y))
    for i, (label, row) in enumerate(zip(y, np.asarray(s, np.float64), strict=True)):
        terms = [max(0.0, margin - row[label] + row[j]) ** p for j in range(len(row)) if j != label]
        out[i] = sum(terms) if variant == "weston_watkins" else max(terms, default=0.0)
    return out


def multiclass_hinge_grad_ref(y, s, margin=1.0, p=1, variant="weston_watkins"):
    """d/ds of the summed loss, with the derivative of max(0, ·) taken as 0 at the kink."""
    grad = np.zeros_like(s, dtype=np.float64)
    for i, (label, row) in enumerate(zip(y, np.asarray(s, np.float64), strict=True)):
        others = [j for j in range(len(row)) if j != label]
        if variant == "crammer_singer":
            others = [max(others, key=lambda j: row[j])]
        for j in others:
            d = margin - row[label] + row[j]
            if d > 0:
                slope = 1.0 if p == 1 else 2.0 * d
                grad[i, j] += slope
                grad[i, label] -= slope
    return grad


@pytest.mark.parametrize("variant", ["weston_watkins", "crammer_singer"])
@pytest.mark.parametrize(("margin", "p"), [(1.0, 1), (0.5, 2), (0.0, 1)])
def test_multiclass_hinge_against_float64(backend, dtype, variant, margin, p):
    s = _rounded(SCORES, dtype)
    # float32: m − s_y + s_j cancels terms of size ≈ 4, so a loss near 0 carries an absolute
    # error of a few float32 ulps of 4 (≈ 5e-7)
    atol = 1e-6 if dtype == "float32" else 1e-14
    got = lk.multiclass_hinge(
        backend.array(LABELS),
        backend.array(SCORES, dtype),
        margin=margin,
        p=p,
        variant=variant,
        reduction="none",
    )
    _close(backend, got, multiclass_hinge_ref(LABELS, s, margin, p, variant), dtype, atol=atol)
    # channels-first: classes on axis 1 of (N, C, d)
    stacked = np.stack([SCORES, SCORES[::-1]], axis=-1)  # (7, 5, 2)
    labels = np.stack([LABELS, LABELS[::-1]], axis=-1)  # (7, 2)
    got = lk.multiclass_hinge(
        backend.array(labels),
        backend.array(stacked, dtype),
        margin=margin,
        p=p,
        variant=variant,
        axis=1,
        reduction="none",
    )
    expected = np.stack(
        [
            multiclass_hinge_ref(labels[:, k], s if k == 0 else s[::-1], margin, p, variant)
            for k in range(2)
        ],
        axis=-1,
    )
    _close(backend, got, expected, dtype, atol=atol)


def test_multiclass_hinge_weights_and_ignore_index(backend):
    labels = LABELS.copy()
    labels[2] = -100
    sw = RNG.random(7)
    got = lk.multiclass_hinge(
        backend.array(labels),
        backend.array(SCORES),
        class_weight=backend.array(CLASS_WEIGHT),
        ignore_index=-100,
        sample_weight=backend.array(sw),
    )
    keep = labels != -100
    per = multiclass_hinge_ref(labels[keep], SCORES[keep])
    w = CLASS_WEIGHT[labels[keep]] * sw[keep]
    np.testing.assert_allclose(backend.to_numpy(got), np.sum(w * per) / np.sum(w), rtol=1e-12)


@pytest.mark.parametrize("variant", ["weston_watkins", "crammer_singer"])
@pytest.mark.parametrize("p", [1, 2])
def test_multiclass_hinge_gradients(autodiff_backend, variant, p):
    b = autodiff_backend
    s = SCORES[:6]  # no ties: the subgradient is unique
    grad = b.grad(
        lambda t: lk.multiclass_hinge(
            b.array(LABELS[:6]), t, p=p, variant=variant, reduction="sum"
        ),
        b.array(s),
    )
    expected = multiclass_hinge_grad_ref(LABELS[:6], s, p=p, variant=variant)
    np.testing.assert_allclose(b.to_numpy(grad), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize(("p", "margin", "weighted"), [(1, 1.0, False), (2, 0.7, True)])
def test_multiclass_hinge_torch_parity(reduction, p, margin, weighted):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    weight = torch.as_tensor(CLASS_WEIGHT) if weighted else None
    x = torch.as_tensor(SCORES).requires_grad_(True)
    theirs = F.multi_margin_loss(
        x, torch.as_tensor(LABELS), p=p, margin=margin, weight=weight, reduction=reduction
    )
    # torch divides the Weston–Watkins sum by K and its "mean" by N even with weights
    ours_reduction = "sum_over_batch_size" if reduction == "mean" else reduction
    x2 = torch.as_tensor(SCORES).requires_grad_(True)
    ours = (
        lk.multiclass_hinge(
            torch.as_tensor(LABELS),
            x2,
            p=p,
            margin=margin,
            class_weight=weight,
            reduction=ours_reduction,
        )
        / SCORES.shape[1]
    )
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
    cot = torch.ones_like(theirs)
    (g_theirs,) = torch.autograd.grad(theirs, x, cot)
    (g_ours,) = torch.autograd.grad(ours, x2, cot)
    np.testing.assert_allclose(g_ours.numpy(), g_theirs.numpy(), rtol=1e-12, atol=1e-15)


def test_multiclass_hinge_sklearn_optax_keras_parity():
    metrics = pytest.importorskip("sklearn.metrics")
    sw = RNG.random(7)
    theirs = metrics.hinge_loss(LABELS, SCORES, labels=np.arange(5), sample_weight=sw)
    ours = lk.multiclass_hinge(LABELS, SCORES, variant="crammer_singer", sample_weight=sw)
    np.testing.assert_allclose(float(ours), theirs, rtol=1e-12)
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    theirs = optax.losses.multiclass_hinge_loss(jnp.asarray(SCORES), jnp.asarray(LABELS))
    ours = lk.multiclass_hinge(LABELS, SCORES, variant="crammer_singer", reduction="none")
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12, atol=1e-15)
    jax = pytest.importorskip("jax")
    s, y = jnp.asarray(SCORES[:6]), jnp.asarray(LABELS[:6])  # no ties: a unique subgradient
    g_theirs = jax.grad(lambda t: optax.losses.multiclass_hinge_loss(t, y).sum())(s)
    g_ours = jax.grad(
        lambda t: lk.multiclass_hinge(y, t, variant="crammer_singer", reduction="sum")
    )(s)
    np.testing.assert_allclose(np.asarray(g_ours), np.asarray(g_theirs), atol=1e-15)
    keras = pytest.importorskip("keras")
    theirs = keras.losses.categorical_hinge(ref.one_hot(LABELS, 5), SCORES)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6)  # Keras computes in float32


# ====================================================================== sparsemax
Z = RNG.normal(scale=1.5, size=(8, 6))
Z[6] = [0.2, 0.2, 0.2, 0.2, 0.2, 0.2]  # ties: uniform
Z[7] = [4.0, -1.0, 0.0, 3.5, -2.0, 3.9]
Y = RNG.integers(0, 6, 8)


def sparsemax_ref(z):
    """Euclidean projection onto the simplex: τ by bisection on Σ max(z − τ, 0) = 1, then made
    exact from the support it finds, τ = (Σ_S z − 1) / |S|."""
    z = np.asarray(z, np.float64)
    lo, hi = z.max(-1) - 1.0, z.max(-1)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        over = np.maximum(z - mid[..., None], 0).sum(-1) > 1
        lo, hi = np.where(over, mid, lo), np.where(over, hi, mid)
    support = z > lo[..., None]
    tau = (np.where(support, z, 0).sum(-1) - 1) / support.sum(-1)
    return np.maximum(z - tau[..., None], 0), tau


def sparsemax_loss_ref(q, z):
    """Martins & Astudillo (2016), eq. (16) and its multi-label form:
    −q·z + ½ Σ_{j∈S} (z_j² − τ²) + ½ ‖q‖²."""
    z = np.asarray(z, np.float64)
    p, tau = sparsemax_ref(z)
    support = p > 0
    quad = np.where(support, z**2 - tau[..., None] ** 2, 0).sum(-1)
    return -(q * z).sum(-1) + 0.5 * quad + 0.5 * (q**2).sum(-1)


def test_sparsemax_against_float64(backend, dtype):
    z = _rounded(Z, dtype)
    expected = sparsemax_loss_ref(ref.one_hot(Y, 6), z)
    got = lk.sparsemax_loss(backend.array(Y), backend.array(Z, dtype), reduction="none")
    # float32: the reference's quadratic form cancels terms of size |z|² ≈ 16
    _close(backend, got, expected, dtype, atol=1e-6 if dtype == "float32" else 1e-13)
    # one-hot and soft (multi-label) targets, classes on axis 0
    q = np.abs(RNG.normal(size=(8, 6)))
    q[:, 1] = 0.0
    q /= q.sum(-1, keepdims=True)
    got = lk.sparsemax_loss(
        backend.array(q.T, dtype), backend.array(Z.T, dtype), axis=0, reduction="none"
    )
    expected = sparsemax_loss_ref(_rounded(q, dtype), z)
    _close(backend, got, expected, dtype, atol=1e-6 if dtype == "float32" else 1e-13)
    hot = lk.sparsemax_loss(
        backend.array(ref.one_hot(Y, 6), dtype), backend.array(Z, dtype), reduction="none"
    )
    _close(
        backend,
        hot,
        sparsemax_loss_ref(ref.one_hot(Y, 6), z),
        dtype,
        atol=1e-6 if dtype == "float32" else 1e-13,
    )


def test_sparsemax_gradient_is_p_minus_q(autodiff_backend):
    b = autodiff_backend
    grad = b.grad(lambda t: lk.sparsemax_loss(b.array(Y), t, reduction="sum"), b.array(Z))
    p, _ = sparsemax_ref(Z)
    np.testing.assert_allclose(b.to_numpy(grad), p - ref.one_hot(Y, 6), atol=1e-12)


def test_sparsemax_optax_parity():
    optax = pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    theirs = optax.losses.multiclass_sparsemax_loss(jnp.asarray(Z), jnp.asarray(Y))
    ours = lk.sparsemax_loss(Y, Z, reduction="none")
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12, atol=1e-14)
    g_theirs = jax.grad(lambda z: optax.losses.multiclass_sparsemax_loss(z, jnp.asarray(Y)).sum())(
        jnp.asarray(Z)
    )
    g_ours = jax.grad(lambda z: lk.sparsemax_loss(jnp.asarray(Y), z, reduction="sum"))(
        jnp.asarray(Z)
    )
    np.testing.assert_allclose(np.asarray(g_ours), np.asarray(g_theirs), atol=1e-12)
    # optax's sparsemax_loss is the binary case: scores [x, 0] with class index 1 - label
    x = np.array([-3.0, -1.0, -0.4, 0.0, 0.3, 0.99, 1.0, 2.5])
    label = np.array([0, 1, 1, 0, 1, 0, 1, 0])
    theirs = optax.losses.sparsemax_loss(jnp.asarray(x), jnp.asarray(label))
    ours = lk.sparsemax_loss(1 - label, np.stack([x, np.zeros_like(x)], -1), reduction="none")
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12, atol=1e-15)


def test_sparsemax_properties():
    # zero exactly when sparsemax(z) is the target; shift-invariant; linear in a huge miss
    assert float(lk.sparsemax_loss([0], np.array([[5.0, 0.0, -1.0]]))) == 0.0
    assert float(lk.sparsemax_loss([1], np.array([[1e30, 0.0, -1.0]]))) == pytest.approx(1e30)
    np.testing.assert_allclose(
        lk.sparsemax_loss(Y, Z + 1e3, reduction="none"),
        lk.sparsemax_loss(Y, Z, reduction="none"),
        rtol=1e-10,
        atol=1e-12,
    )
    # float16 inputs compute in float32
    out = lk.sparsemax_loss(Y, Z.astype(np.float16))
    assert out.dtype == np.float32


# ====================================================================== CTC
def ctc_ref(labels, logits, label_lengths, logit_lengths, blank=0):
    """−log Σ_π Π_t p_t(π_t) over every path π of length T_b that collapses (merge repeats,
    drop blanks) to the label sequence: the definition, by enumeration (small T and K only)."""
    log_probs = ref.log_softmax(logits)
    out = np.zeros(len(labels))
    for b, (seq, lp) in enumerate(zip(labels, log_probs, strict=True)):
        target = tuple(int(v) for v in seq[: label_lengths[b]])
        frames = int(logit_lengths[b])
        scores = []
        for path in itertools.product(range(lp.shape[-1]), repeat=frames):
            merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
            if tuple(k for k in merged if k != blank) == target:
                scores.append(sum(lp[t, k] for t, k in enumerate(path)))
        out[b] = -np.logaddexp.reduce(scores) if scores else np.inf
    return out


def ctc_ref_grad(labels, logits, label_lengths, logit_lengths, blank=0, h=1e-6):
    """Central differences of the summed enumeration (float64; error ≈ 1e-9)."""
    grad = np.zeros_like(logits)
    for index in np.ndindex(*logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += h
        down[index] -= h
        total = ctc_ref(labels, up, label_lengths, logit_lengths, blank).sum()
        total -= ctc_ref(labels, down, label_lengths, logit_lengths, blank).sum()
        grad[index] = total / (2 * h)
    return grad


# Small batch: repeated labels, an empty target, a short input, padding past the lengths.
CTC_LOGITS = RNG.normal(scale=1.5, size=(4, 5, 3))
CTC_LABELS = np.array([[1, 1, 2], [2, 1, 0], [0, 0, 0], [1, 2, 2]])
CTC_LABEL_LENGTHS = np.array([2, 2, 0, 3])
CTC_LOGIT_LENGTHS = np.array([5, 4, 3, 5])
CTC_EXPECTED = ctc_ref(CTC_LABELS, CTC_LOGITS, CTC_LABEL_LENGTHS, CTC_LOGIT_LENGTHS)


@functools.cache
def _ctc_expected_grad():
    return ctc_ref_grad(CTC_LABELS, CTC_LOGITS, CTC_LABEL_LENGTHS, CTC_LOGIT_LENGTHS)


def _ctc(backend, dtype, logits=CTC_LOGITS, **kw):
    if isinstance(logits, np.ndarray):
        logits = backend.array(logits, dtype)
    return lk.ctc(
        backend.array(CTC_LABELS),
        logits,
        backend.array(CTC_LABEL_LENGTHS),
        backend.array(CTC_LOGIT_LENGTHS),
        **kw,
    )


def test_ctc_against_enumeration(backend, dtype):
    expected = ctc_ref(
        CTC_LABELS, _rounded(CTC_LOGITS, dtype), CTC_LABEL_LENGTHS, CTC_LOGIT_LENGTHS
    )
    # float32: ~T·K rounding errors of log-space sums of size ~5 (relative 1e-6 of the total)
    loosen = {"rtol": 2e-6} if dtype == "float32" else {}
    _close(backend, _ctc(backend, dtype, reduction="none"), expected, dtype, **loosen)
    # time-major layout, the blank last, and torch's per-target-length normalisation
    moved = np.where(CTC_LABELS == 0, 0, CTC_LABELS - 1)  # labels in {0, 1}, blank = 2
    swap = CTC_LOGITS[..., [1, 2, 0]]  # same distribution with classes renamed
    got = lk.ctc(
        backend.array(moved),
        backend.array(np.swapaxes(swap, 0, 1), dtype),
        backend.array(CTC_LABEL_LENGTHS),
        backend.array(CTC_LOGIT_LENGTHS),
        blank=-1,
        time_major=True,
        normalize="target_length",
        reduction="none",
    )
    _close(backend, got, expected / np.maximum(CTC_LABEL_LENGTHS, 1), dtype, **loosen)


def test_ctc_gradient_against_enumeration(autodiff_backend):
    b = autodiff_backend
    grad = b.grad(lambda t: _ctc(b, "float64", logits=t, reduction="sum"), b.array(CTC_LOGITS))
    np.testing.assert_allclose(b.to_numpy(grad), _ctc_expected_grad(), rtol=1e-6, atol=1e-8)


def test_ctc_impossible_alignment_and_zero_infinity(autodiff_backend):
    b = autodiff_backend
    labels = np.array([[1, 1, 2], [1, 2, 0], [0, 0, 0], [2, 2, 1]])
    lengths = np.array([3, 2, 0, 3])
    frames = np.array([3, 5, 3, 5])  # "1 1 2" needs 4 frames (a blank between the repeats)
    logits = CTC_LOGITS  # the shapes of the other CTC tests: JAX compiles each op once
    expected = ctc_ref(labels, logits, lengths, frames)
    assert np.isinf(expected[0]) and np.all(np.isfinite(expected[1:]))

    def loss(t, **kw):
        return lk.ctc(b.array(labels), t, b.array(lengths), b.array(frames), **kw)

    got = b.to_numpy(loss(b.array(logits), reduction="none"))
    assert got[0] == np.inf
    np.testing.assert_allclose(got[1:], expected[1:], rtol=1e-12)
    zeroed = b.to_numpy(loss(b.array(logits), zero_infinity=True, reduction="none"))
    np.testing.assert_allclose(zeroed, [0.0, *expected[1:]], rtol=1e-12)
    keep = b.array(np.array([False, True, True, True]))
    for kw in ({"zero_infinity": True}, {"zero_infinity": False, "mask": keep}):
        grad = b.to_numpy(b.grad(lambda t, kw=kw: loss(t, reduction="sum", **kw), b.array(logits)))
        assert np.all(np.isfinite(grad)), kw
        np.testing.assert_array_equal(grad[0], 0.0)
        assert np.any(grad[1] != 0)


def _torch_ctc_inputs(torch, logits):
    x = torch.as_tensor(logits).requires_grad_(True)
    return x, x.log_softmax(-1).transpose(0, 1)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("blank", [0, 3])
def test_ctc_torch_parity(reduction, zero_infinity, blank):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    n, t, k, s = 5, 9, 5, 4
    logits = rng.normal(scale=2.0, size=(n, t, k))
    labels = rng.integers(0, k - 1, size=(n, s))
    labels = labels + (labels >= blank)  # never the blank
    labels[0, 1] = labels[0, 0]  # a repeat
    label_lengths = np.array([4, 3, 0, 2, 4])
    logit_lengths = np.array([9, 7, 5, 2, 4])
    labels[4] = 1  # "1 1 1 1" needs 7 frames (blanks between repeats): impossible in 4
    x, log_probs = _torch_ctc_inputs(torch, logits)
    theirs = torch.nn.functional.ctc_loss(
        log_probs,
        torch.as_tensor(labels),
        torch.as_tensor(logit_lengths),
        torch.as_tensor(label_lengths),
        blank=blank,
        reduction=reduction,
        zero_infinity=zero_infinity,
    )
    x2 = torch.as_tensor(logits).requires_grad_(True)
    ours = lk.ctc(
        torch.as_tensor(labels),
        x2.transpose(0, 1).log_softmax(-1),  # torch's layout and log-probabilities
        torch.as_tensor(label_lengths),
        torch.as_tensor(logit_lengths),
        blank=blank,
        time_major=True,
        zero_infinity=zero_infinity,
        normalize="target_length" if reduction == "mean" else "none",
        reduction=reduction,
    )
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
    if not zero_infinity and reduction != "none":
        return  # an infinite total: torch's gradient is not meaningful there
    cot = torch.ones_like(theirs)
    (g_theirs,) = torch.autograd.grad(theirs, x, cot)
    (g_ours,) = torch.autograd.grad(ours, x2, cot)
    g_ours, g_theirs = g_ours.numpy(), g_theirs.numpy()
    if not zero_infinity:  # torch's gradient for an infinite loss is NaN; ours is 0
        assert np.isnan(g_theirs[-1]).any()
        np.testing.assert_array_equal(g_ours[-1], 0.0)
        g_ours, g_theirs = g_ours[:-1], g_theirs[:-1]
    np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-9, atol=1e-12)


def _anchor_batch():
    """A batch for the optax, TF and Keras comparisons: a repeat, an empty target, and
    sequences of several lengths."""
    rng = np.random.default_rng(6)
    n, t, k, s = 4, 10, 6, 4
    logits = rng.normal(scale=2.0, size=(n, t, k))
    labels = rng.integers(1, k, size=(n, s))
    labels[1, 2] = labels[1, 1]
    return logits, labels, np.array([4, 3, 0, 2]), np.array([10, 8, 6, 3])


def test_ctc_optax_parity():
    optax = pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    logits, labels, label_lengths, logit_lengths = _anchor_batch()
    (n, t, k), s = logits.shape, labels.shape[1]
    label_paddings = (np.arange(s) >= label_lengths[:, None]).astype(float)
    logit_paddings = (np.arange(t) >= logit_lengths[:, None]).astype(float)

    def theirs(z, blank=0):
        y = labels if blank == 0 else labels - 1
        return optax.ctc_loss(
            z,
            jnp.asarray(logit_paddings),
            jnp.asarray(y),
            jnp.asarray(label_paddings),
            blank_id=blank,
        )

    def ours(z, blank=0, lengths=None):
        y = labels if blank == 0 else labels - 1
        # optax's paddings as lengths: S - Σ label_paddings, T - Σ logit_paddings
        lengths = lengths or (s - label_paddings.sum(-1), t - logit_paddings.sum(-1))
        return lk.ctc(y, z, *lengths, blank=blank, reduction="none")

    z = jnp.asarray(logits)
    for blank in (0, k - 1):  # values on NumPy (JAX would compile each op of the loop)
        np.testing.assert_allclose(ours(logits, blank), theirs(z, blank), rtol=1e-10)
    lengths = (jnp.asarray(label_lengths), jnp.asarray(logit_lengths))
    grads = [
        jax.jit(jax.grad(lambda z, f=f: f(z).sum()))(z)
        for f in (lambda z: ours(z, lengths=lengths), theirs)
    ]
    np.testing.assert_allclose(np.asarray(grads[0]), np.asarray(grads[1]), rtol=1e-8, atol=1e-12)
    # optax scores an impossible alignment with a large finite number (log_epsilon), not +inf
    short = jnp.asarray((np.arange(t) >= 1).astype(float)[None].repeat(n, 0))
    impossible = optax.ctc_loss(z, short, jnp.asarray(labels), jnp.asarray(label_paddings))
    assert np.isfinite(np.asarray(impossible)[0]) and float(impossible[0]) > 1e4
    assert float(lk.ctc(labels, logits, label_lengths, np.ones(n, int), reduction="none")[0]) == (
        np.inf
    )


def test_ctc_tensorflow_and_keras_parity():
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    logits, labels, label_lengths, logit_lengths = _anchor_batch()
    ours = lk.ctc(labels, logits, label_lengths, logit_lengths, reduction="none")
    # tf.nn.ctc_loss computes in float32 only: compare at float32 accuracy
    x = tf.constant(logits, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        theirs = tf.nn.ctc_loss(
            tf.constant(labels),
            x,
            tf.constant(label_lengths),
            tf.constant(logit_lengths),
            logits_time_major=False,
            blank_index=0,
        )
        mine = lk.ctc(
            tf.constant(labels),
            x,
            tf.constant(label_lengths),
            tf.constant(logit_lengths),
            reduction="sum",
        )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=2e-6)
    np.testing.assert_allclose(
        tape.gradient(mine, x).numpy(), tape.gradient(theirs, x).numpy(), rtol=1e-4, atol=2e-6
    )
    theirs = tf.nn.ctc_loss(
        tf.constant(labels - 1),
        tf.constant(np.swapaxes(logits, 0, 1), tf.float32),
        tf.constant(label_lengths),
        tf.constant(logit_lengths),
        blank_index=-1,
    )
    ours_last = lk.ctc(
        labels - 1,
        np.swapaxes(logits, 0, 1),
        label_lengths,
        logit_lengths,
        blank=-1,
        time_major=True,
        reduction="none",
    )
    np.testing.assert_allclose(ours_last, theirs.numpy(), rtol=2e-6)
    # Keras: labels padded with the blank 0, every sequence T frames; "mean" over the batch
    padded = np.where(np.arange(labels.shape[1]) < label_lengths[:, None], labels, 0)
    theirs = keras.losses.CTC()(padded, logits.astype(np.float32))
    np.testing.assert_allclose(float(lk.ctc(padded, logits)), float(theirs), rtol=2e-6)
    np.testing.assert_allclose(
        lk.ctc(padded, logits, reduction="none"),
        np.asarray(keras.losses.ctc(padded, logits.astype(np.float32))),
        rtol=2e-6,
    )


# ====================================================================== all three: robustness
EXTREME = np.array(
    [
        [1e4, -1e4, 0.0, 30.0, -30.0],
        [-30.0, 30.0, 30.0, 0.0, 1e-30],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [-np.inf, 2.0, 1.0, -np.inf, 0.0],  # masked classes
        [1e-30, -1e-30, 0.0, 1e-30, 5.0],
        [1e4, 1e4, -1e4, 0.0, 0.0],
        [3.0, 3.0, 3.0, -3.0, 1e30],
    ]
)
EXTREME_LABELS = np.array([1, 0, 3, 1, 2, 0, 4])
# (4, 5, 3) like CTC_LOGITS: huge, tied and -inf logits, a class masked at some frames
EXTREME_FRAMES = np.stack([EXTREME[[0, 1, 2, 3, 4]][:, k : k + 3] for k in (0, 1, 2, 1)])


def _loss_cases(b):
    """(inputs, loss of the scores/logits t) for each loss, on extreme inputs."""
    labels = b.array(EXTREME_LABELS)
    ctc_labels = b.array(CTC_LABELS)
    ctc_lengths = b.array(CTC_LABEL_LENGTHS)
    ctc_frames = b.array(CTC_LOGIT_LENGTHS)
    return {
        "multiclass_hinge": (
            EXTREME,
            lambda t: lk.multiclass_hinge(labels, t, reduction="sum"),
        ),
        "multiclass_hinge_cs2": (
            EXTREME,
            lambda t: lk.multiclass_hinge(
                labels, t, p=2, variant="crammer_singer", reduction="sum"
            ),
        ),
        "sparsemax": (EXTREME, lambda t: lk.sparsemax_loss(labels, t, reduction="sum")),
        "ctc": (
            np.where(np.isinf(EXTREME_FRAMES), -1e4, EXTREME_FRAMES),
            lambda t: lk.ctc(ctc_labels, t, ctc_lengths, ctc_frames, reduction="sum"),
        ),
        "ctc_masked_class": (
            EXTREME_FRAMES,
            lambda t: lk.ctc(
                ctc_labels, t, ctc_lengths, ctc_frames, zero_infinity=True, reduction="sum"
            ),
        ),
    }


def test_gradients_finite_on_stress_grid(autodiff_backend):
    b = autodiff_backend
    for name, (x, loss) in _loss_cases(b).items():
        value = b.to_numpy(loss(b.array(x)))
        grad = b.to_numpy(b.grad(loss, b.array(x)))
        assert np.isfinite(value) and np.all(np.isfinite(grad)), (name, value, grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "sum_over_batch_size"])
def test_all_masked_is_zero_with_zero_gradient(autodiff_backend, reduction):
    b = autodiff_backend
    none = b.array(np.zeros(7, bool))
    labels = b.array(LABELS)
    cases = {
        "multiclass_hinge": (
            SCORES,
            lambda t: lk.multiclass_hinge(labels, t, mask=none, reduction=reduction),
        ),
        "multiclass_hinge_ignored": (
            SCORES,
            lambda t: lk.multiclass_hinge(
                b.array(np.full(7, -1)), t, ignore_index=-1, reduction=reduction
            ),
        ),
        "sparsemax": (
            SCORES,
            lambda t: lk.sparsemax_loss(labels, t, mask=none, reduction=reduction),
        ),
        "ctc": (
            CTC_LOGITS,
            lambda t: _ctc(b, "float64", logits=t, mask=none[:4], reduction=reduction),
        ),
    }
    for name, (x, loss) in cases.items():
        assert float(b.to_numpy(loss(b.array(x)))) == 0.0, name
        grad = b.to_numpy(b.grad(loss, b.array(x)))
        np.testing.assert_array_equal(grad, 0.0, err_msg=name)


def test_reduction_contract_on_per_sequence_losses():
    sw = np.array([1.0, 2.0, 0.5, 3.0])
    got = lk.ctc(CTC_LABELS, CTC_LOGITS, CTC_LABEL_LENGTHS, CTC_LOGIT_LENGTHS, sample_weight=sw)
    np.testing.assert_allclose(got, np.sum(sw * CTC_EXPECTED) / sw.sum(), rtol=1e-12)
    got = lk.ctc(CTC_LABELS, CTC_LOGITS, CTC_LABEL_LENGTHS, CTC_LOGIT_LENGTHS, normalizer=10.0)
    np.testing.assert_allclose(got, CTC_EXPECTED.sum() / 10.0, rtol=1e-12)
    # label_lengths=None counts labels other than the blank (Keras pads with 0) or negative
    padded = np.where(np.arange(3) < CTC_LABEL_LENGTHS[:, None], CTC_LABELS, -1)
    np.testing.assert_allclose(
        lk.ctc(padded, CTC_LOGITS, logit_lengths=CTC_LOGIT_LENGTHS, reduction="none"),
        CTC_EXPECTED,
        rtol=1e-12,
    )
    # no labels at all (S = 0): the all-blank path; an empty batch: the contract's 0
    blank_only = -ref.log_softmax(CTC_LOGITS)[..., 0].sum(-1)
    np.testing.assert_allclose(
        lk.ctc(np.zeros((4, 0), int), CTC_LOGITS, reduction="none"), blank_only, rtol=1e-12
    )
    assert float(lk.ctc(np.zeros((0, 2), int), np.zeros((0, 5, 3)))) == 0.0
    # an empty logit sequence: 0 for an empty target, +inf otherwise
    got = lk.ctc(CTC_LABELS[2:], CTC_LOGITS[2:], [0, 1], [0, 0], reduction="none")
    np.testing.assert_array_equal(got, [0.0, np.inf])


def test_jit_agrees_with_eager():
    jax = pytest.importorskip("jax")
    tf = pytest.importorskip("tensorflow")
    jnp = jax.numpy
    # three frames keep the unrolled recursion quick to compile; "1 2" fits in them
    logits = CTC_LOGITS[:, :3]
    lengths = np.minimum(CTC_LOGIT_LENGTHS, 3)
    label_lengths = np.array([2, 2, 0, 2])

    def losses(array, t_scores, t_logits):
        return (
            lk.multiclass_hinge(array(LABELS), t_scores, variant="crammer_singer", p=2)
            + lk.multiclass_hinge(array(LABELS), t_scores, class_weight=array(CLASS_WEIGHT))
            + lk.sparsemax_loss(array(LABELS), t_scores * 1.5)
            + lk.ctc(
                array(CTC_LABELS),
                t_logits,
                array(label_lengths),
                array(lengths),
                normalize="target_length",
            )
        )

    eager = float(losses(np.asarray, SCORES, logits))
    assert np.isfinite(eager)
    expected_ctc = ctc_ref(CTC_LABELS, logits, label_lengths, lengths)
    assert eager == pytest.approx(
        multiclass_hinge_ref(LABELS, SCORES, p=2, variant="crammer_singer").mean()
        + np.sum(CLASS_WEIGHT[LABELS] * multiclass_hinge_ref(LABELS, SCORES))
        / CLASS_WEIGHT[LABELS].sum()
        + sparsemax_loss_ref(ref.one_hot(LABELS, 5), SCORES * 1.5).mean()
        + np.mean(expected_ctc / np.maximum(label_lengths, 1)),
        rel=1e-12,
    )
    value, grad = jax.jit(jax.value_and_grad(lambda a, c: losses(jnp.asarray, a, c), (0, 1)))(
        jnp.asarray(SCORES), jnp.asarray(logits)
    )
    assert float(value) == pytest.approx(eager, rel=1e-12)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grad)

    @tf.function(jit_compile=True)
    def step(a, c):
        with tf.GradientTape() as tape:
            tape.watch([a, c])
            v = losses(tf.constant, a, c)
        return v, tape.gradient(v, [a, c])

    value, grads = step(tf.constant(SCORES), tf.constant(logits))
    assert float(value) == pytest.approx(eager, rel=1e-12)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_validation_errors():
    s, y = SCORES[:3], LABELS[:3]
    with pytest.raises(ValueError, match=r"margin must be in \[0.0, inf\)"):
        lk.multiclass_hinge(y, s, margin=-1.0)
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        lk.multiclass_hinge(y, s, p=3)
    with pytest.raises(ValueError, match="variant must be one of"):
        lk.multiclass_hinge(y, s, variant="ovr")
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 5\)"):
        lk.multiclass_hinge(np.array([0, 5, 1]), s)
    with pytest.raises(ValueError, match=r"class_weight must have one entry per class"):
        lk.multiclass_hinge(y, s, class_weight=np.ones(3))
    with pytest.raises(TypeError, match="ignore_index must be an int"):
        lk.multiclass_hinge(y, s, ignore_index=1.5)
    with pytest.raises(ValueError, match="sparse labels must have shape"):
        lk.multiclass_hinge(np.array([0, 1]), s)
    for loss in (lk.multiclass_hinge, lk.sparsemax_loss):
        with pytest.raises(ValueError, match="has no classes along axis 1"):
            loss(y, np.zeros((3, 0)))
    with pytest.raises(TypeError, match="y_pred must be a floating-point array"):
        lk.sparsemax_loss(y, np.ones((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        lk.sparsemax_loss(y, np.full((3, 5), np.nan))
    with pytest.raises(ValueError, match="y_true rows must sum to 1"):
        lk.sparsemax_loss(np.full((3, 5), 0.5), s)
    with pytest.raises(ValueError, match="ignore_index applies to integer labels"):
        lk.sparsemax_loss(ref.one_hot(y, 5), s, ignore_index=-1)
    with pytest.raises(ValueError, match=r"y_true must hold integer class indices"):
        lk.sparsemax_loss(np.array([0.5, 1.0, 2.0]), s)

    labels, logits, lengths, frames = CTC_LABELS, CTC_LOGITS, CTC_LABEL_LENGTHS, CTC_LOGIT_LENGTHS
    bad = [
        (ValueError, "logits must have 3 dimensions", (labels, logits[0], lengths, frames), {}),
        (
            ValueError,
            r"labels must have shape \(batch, max_label_length\)",
            (labels[:2], logits, lengths, frames),
            {},
        ),
        (
            ValueError,
            r"label_lengths must have one length per sequence, shape \(4,\)",
            (labels, logits, lengths[:3], frames),
            {},
        ),
        (
            ValueError,
            r"label_lengths must lie in \[0, 3\]",
            (labels, logits, [4, 1, 0, 1], frames),
            {},
        ),
        (
            ValueError,
            r"logit_lengths must lie in \[0, 5\]",
            (labels, logits, lengths, [6, 1, 1, 1]),
            {},
        ),
        (
            ValueError,
            r"logit_lengths must lie in \[0, 5\]",
            (labels, logits, lengths, [-1, 1, 1, 1]),
            {},
        ),
        (
            ValueError,
            "label_lengths must hold integer lengths",
            (labels, logits, [1.5, 1, 0, 1], frames),
            {},
        ),
        (
            TypeError,
            "logit_lengths must hold numbers",
            (labels, logits, lengths, np.array(["a"] * 4)),
            {},
        ),
        (
            ValueError,
            r"labels must be class indices in \[0, 3\)",
            (np.array([[1, 3, 0]] * 4), logits, lengths, frames),
            {},
        ),
        (
            ValueError,
            r"labels must not contain the blank \(0\)",
            (np.array([[1, 0, 0]] * 4), logits, [2, 2, 2, 2], frames),
            {},
        ),
        (
            ValueError,
            "labels must hold integer class indices; got non-integer",
            (labels + 0.5, logits, lengths, frames),
            {},
        ),
        (
            TypeError,
            "labels must hold numbers; got ndarray",
            (labels.astype(str), logits, lengths, frames),
            {},
        ),
        (
            ValueError,
            "blank=3 is out of range for 3 classes",
            (labels, logits, lengths, frames),
            {"blank": 3},
        ),
        (TypeError, "blank must be an int", (labels, logits, lengths, frames), {"blank": 0.0}),
        (
            TypeError,
            "time_major must be a bool",
            (labels, logits, lengths, frames),
            {"time_major": 1},
        ),
        (
            ValueError,
            "normalize must be one of",
            (labels, logits, lengths, frames),
            {"normalize": "mean"},
        ),
        (
            ValueError,
            "normalizer replaces the denominator",
            (labels, logits, lengths, frames),
            {"normalizer": 2.0, "reduction": "sum"},
        ),
        (
            ValueError,
            "logits contains NaN",
            (labels, np.full_like(logits, np.nan), lengths, frames),
            {},
        ),
    ]
    for error, message, args, kw in bad:
        with pytest.raises(error, match=message):
            lk.ctc(*args, **kw)


def test_registry_metadata():
    assert lk.get("multi_margin_loss") is lk.multiclass_hinge
    assert lk.get("multiclass_sparsemax_loss") is lk.sparsemax_loss
    assert lk.get("ctc_loss") is lk.ctc
    assert lk.info("sparsemax_loss").properties["proper"] is True
    assert lk.info("ctc").properties["convex"] is False


# ====================================================================== torch's fused kernels
def _fused_and_generic(monkeypatch, hook, run):
    """``run()`` on torch's fused path, then with the backend ``hook`` disabled (the generic
    formulas, which are also what torch.compile and torch.func trace)."""
    torch = pytest.importorskip("torch")
    from losskit._backend import backend_of

    fused = run()
    monkeypatch.setattr(type(backend_of(torch.zeros(1))), hook, lambda self, *args: None)
    return fused, run()


def _value_grad_and_second(torch, fn, x0):
    """Value, gradient and the gradient of ``Σ g²`` (double backward)."""
    x = torch.tensor(x0, requires_grad=True)
    value = fn(x)
    (g,) = torch.autograd.grad(value.sum(), x, create_graph=True)
    second = torch.autograd.grad((g * g).sum(), x)[0] if g.requires_grad else torch.zeros_like(x)
    (first,) = torch.autograd.grad(fn(x).sum(), x)  # the fused first-order backward
    return [t.detach().numpy() for t in (value, g, second, first)]


@pytest.mark.parametrize("p", [1, 2])
def test_multiclass_hinge_torch_fused_matches_generic(monkeypatch, p):
    """F.multi_margin_loss (times K) for Weston–Watkins: values, gradients (strict kink at ties)
    and double backward (the fused backward has no derivative in torch: written out)."""
    torch = pytest.importorskip("torch")
    scores3 = np.round(RNG.normal(size=(3, 5, 4)) * 2) / 2  # (N, K, d): classes on axis 1, ties
    labels3 = RNG.integers(0, 5, (3, 4))
    labels3[0, 0] = -1
    w = RNG.uniform(0.5, 2.0, (3, 4))
    calls = {
        "mean": lambda t: lk.multiclass_hinge(torch.tensor(LABELS), t, p=p),
        "none": lambda t: lk.multiclass_hinge(torch.tensor(LABELS), t, p=p, reduction="none"),
        "sum": lambda t: lk.multiclass_hinge(torch.tensor(LABELS), t, p=p, margin=0.5,
                                             reduction="sum"),
        "axis1": lambda t: lk.multiclass_hinge(
            torch.tensor(labels3), t, p=p, axis=1, ignore_index=-1,
            sample_weight=torch.tensor(w), class_weight=torch.tensor(CLASS_WEIGHT)
        ),
    }  # fmt: skip
    for name, call in calls.items():
        x0 = scores3 if name == "axis1" else SCORES

        def run(call=call, x0=x0):
            return _value_grad_and_second(torch, call, x0)

        fused, generic = _fused_and_generic(monkeypatch, "multiclass_hinge", run)
        monkeypatch.undo()
        for a, b in zip(fused, generic, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)


def test_ctc_torch_fused_matches_generic(monkeypatch):
    """torch's _ctc_loss kernels: values, gradients (a zero one for impossible alignments and
    -inf logits, where the kernel alone gives NaN) and double backward (the generic recursion)."""
    torch = pytest.importorskip("torch")
    logits = RNG.normal(scale=2.0, size=(5, 7, 4))
    logits[3, :, 1] = -np.inf  # a masked class
    logits[4, 2, :2] = -np.inf
    labels = np.array([[1, 1, 2, 3], [2, 3, 1, 2], [3, 3, 3, 3], [2, 3, 2, 0], [1, 3, 2, 3]])
    label_lengths = np.array([2, 4, 4, 3, 0])
    logit_lengths = np.array([7, 0, 5, 7, 6])  # sequence 1 has no frame: impossible
    for blank, zero_infinity, normalize, reduction in itertools.product(
        (0, -1), (False, True), ("none", "target_length"), ("none", "mean")
    ):
        lab = labels if blank == 0 else labels - 1  # no blank within the labels (3 = -1 % 4)

        def fn(t, lab=lab, blank=blank, zi=zero_infinity, nz=normalize, red=reduction):
            with lk.validation(False):  # -inf logits
                return lk.ctc(
                    torch.tensor(lab), t, torch.tensor(label_lengths),
                    torch.tensor(logit_lengths), blank=blank, zero_infinity=zi, normalize=nz,
                    reduction=red,
                )  # fmt: skip

        fused, generic = _fused_and_generic(
            monkeypatch, "ctc_nll", lambda fn=fn: _value_grad_and_second(torch, fn, logits)
        )
        monkeypatch.undo()
        for a, b in zip(fused, generic, strict=True):
            assert np.array_equal(np.isinf(a), np.isinf(b)) and not np.isnan(a).any()
            finite = np.isfinite(b)
            np.testing.assert_allclose(a[finite], b[finite], rtol=1e-10, atol=1e-12)
