"""Margin and divergence losses against float64 formulas and their anchors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import losskit as lk
import reference as ref
from conftest import tolerance

RNG = np.random.default_rng(7)
SCORES = RNG.normal(scale=2.0, size=(5, 4))
SIGNS = np.where(RNG.random((5, 4)) > 0.5, 1.0, -1.0)
ONE_HOT = ref.one_hot(RNG.integers(0, 4, 5), 4)
P = np.exp(ref.log_softmax(RNG.normal(size=(5, 4))))
P[0] = [0.5, 0.5, 0.0, 0.0]  # zero target mass: 0·log 0 = 0
Q = np.exp(ref.log_softmax(RNG.normal(size=(5, 4))))
Z = RNG.normal(scale=3.0, size=(5, 4))


def hinge_ref(y, s):
    return np.maximum(1 - y * s, 0)


def categorical_hinge_ref(y, s):
    return np.maximum(np.max((1 - y) * s, -1) - np.sum(y * s, -1) + 1, 0)


def kl_ref(p, log_q):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - log_q), 0), -1)


def test_values_against_float64(backend, dtype):
    f, tol = backend.array, tolerance(dtype)
    s, q, z = (x.astype(dtype).astype(float) for x in (SCORES, Q, Z))
    cases = {
        "hinge": (
            lk.hinge(f(SIGNS, dtype), f(SCORES, dtype), reduction="none"),
            hinge_ref(SIGNS, s),
        ),
        "hinge01": (
            lk.hinge(f((SIGNS + 1) / 2, dtype), f(SCORES, dtype), reduction="none"),
            hinge_ref(SIGNS, s),
        ),
        "squared_hinge": (
            lk.squared_hinge(f(SIGNS, dtype), f(SCORES, dtype), reduction="none"),
            hinge_ref(SIGNS, s) ** 2,
        ),
        "categorical_hinge": (
            lk.categorical_hinge(f(ONE_HOT, dtype), f(SCORES, dtype), reduction="none"),
            categorical_hinge_ref(ONE_HOT, s),
        ),
        "kl_probs": (
            lk.kl_divergence(f(P, dtype), f(Q, dtype), reduction="none"),
            kl_ref(P.astype(dtype).astype(float), np.log(q)),
        ),
        "kl_logits": (
            lk.kl_divergence(f(P, dtype), f(Z, dtype), from_logits=True, reduction="none"),
            kl_ref(P.astype(dtype).astype(float), ref.log_softmax(z)),
        ),
    }
    for name, (got, expected) in cases.items():
        np.testing.assert_allclose(
            backend.to_numpy(got),
            expected,
            err_msg=name,
            rtol=tol["rtol"],
            atol=max(tol["atol"], 1e-6 if dtype == "float32" else 0),
        )


def test_gradients(autodiff_backend):
    b = autodiff_backend
    g = b.grad(lambda t: lk.hinge(b.array(SIGNS), t, reduction="sum"), b.array(SCORES))
    np.testing.assert_allclose(b.to_numpy(g), np.where(1 - SIGNS * SCORES > 0, -SIGNS, 0))
    g = b.grad(
        lambda t: lk.kl_divergence(b.array(P), t, from_logits=True, reduction="sum"), b.array(Z)
    )
    expected = np.exp(ref.log_softmax(Z)) * P.sum(-1, keepdims=True) - P
    np.testing.assert_allclose(b.to_numpy(g), expected, rtol=1e-10, atol=1e-14)


def test_keras_parity():
    keras = pytest.importorskip("keras")
    ks = keras.losses
    np.testing.assert_allclose(
        lk.hinge(SIGNS, SCORES, reduction="none").mean(-1), ks.hinge(SIGNS, SCORES), rtol=1e-6
    )
    np.testing.assert_allclose(
        lk.squared_hinge((SIGNS + 1) / 2, SCORES, reduction="none").mean(-1),
        ks.squared_hinge((SIGNS + 1) / 2, SCORES),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        lk.categorical_hinge(ONE_HOT, SCORES, reduction="none"),
        ks.categorical_hinge(ONE_HOT, SCORES),
        rtol=1e-6,
    )
    interior = np.clip(P, 1e-3, 1)
    np.testing.assert_allclose(
        lk.kl_divergence(interior, Q, reduction="none"), ks.kl_divergence(interior, Q), rtol=1e-5
    )


@pytest.mark.parametrize("log_target", [False, True])
def test_torch_kl_div_batchmean(log_target):
    torch = pytest.importorskip("torch")
    log_q = torch.as_tensor(ref.log_softmax(Z), dtype=torch.float64).requires_grad_(True)
    target = torch.as_tensor(np.log(np.clip(P, 1e-30, 1)) if log_target else P)
    theirs = torch.nn.functional.kl_div(log_q, target, reduction="batchmean", log_target=log_target)
    z = torch.as_tensor(Z).requires_grad_(True)
    ours = lk.kl_divergence(target, z, from_logits=True, log_target=log_target)
    np.testing.assert_allclose(float(ours.detach()), float(theirs.detach()), rtol=1e-10)


def test_torch_unguarded_target_times_log(monkeypatch):
    """torch drops the 0·log 0 guard on y · log p when log p is finite (checked with one sum):
    KL and cross-entropy then match the guarded forms, values and gradients (targets included),
    and a -inf logit still takes the guard."""
    torch = pytest.importorskip("torch")
    from losskit._backend import backend_of

    y = P  # row 0 has zero target mass on classes 2 and 3
    z_masked = Z.copy()
    z_masked[0, 3] = -np.inf
    losses = {
        "kl": lambda y, z: lk.kl_divergence(y, z, from_logits=True),
        "kl_probs": lambda y, z: lk.kl_divergence(y, torch.softmax(z, -1), reduction="sum"),
        "cce": lambda y, z: lk.categorical_crossentropy(y, z, from_logits=True),
        "cce_none": lambda y, z: lk.categorical_crossentropy(
            y, z, from_logits=True, reduction="none"
        ),
    }

    def run(loss, z0, target_grad):
        yt = torch.tensor(y, requires_grad=target_grad)
        zt = torch.tensor(z0, requires_grad=True)
        with lk.validation(False):
            value = loss(yt, zt)
        grads = torch.autograd.grad(value.sum(), [zt, yt] if target_grad else [zt])
        return [value.detach().numpy(), *(g.numpy() for g in grads)]

    guard = type(backend_of(torch.zeros(1))).__mro__[1].times_log  # the generic form
    for (name, loss), z0, target_grad in itertools.product(
        losses.items(), (Z, z_masked), (False, True)
    ):
        if name == "kl_probs" and z0 is z_masked:
            continue
        fast = run(loss, z0, target_grad)
        with monkeypatch.context() as patch:
            patch.setattr(type(backend_of(torch.zeros(1))), "times_log", guard)
            guarded = run(loss, z0, target_grad)
        for a, b in zip(fast, guarded, strict=True):
            assert np.isfinite(a).all(), name
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=name)


def test_tensorflow_softmax_crossentropy_agrees_eager_in_a_graph_and_under_xla():
    """Categorical CE from logits on TensorFlow: values and gradients (targets included) eager,
    in a graph on a persistent tape and under XLA agree, and a -inf logit of a class without
    target mass stays finite."""
    tf = pytest.importorskip("tensorflow")

    z_masked = Z.copy()
    z_masked[0, 3] = -np.inf  # P[0] has no mass there

    def run(z, mode, **kw):
        def value_and_grads(y, z):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([y, z])
                loss = lk.categorical_crossentropy(y, z, from_logits=True, **kw)
            return loss, tape.gradient(loss, z), tape.gradient(loss, y)

        if mode != "eager":
            value_and_grads = tf.function(value_and_grads, jit_compile=mode == "xla")
        return [t.numpy() for t in value_and_grads(tf.constant(P), tf.constant(z))]

    options = [{}, {"reduction": "none"}, {"class_weight": np.arange(1.0, 5.0)}]
    for z, kw in itertools.product((Z, z_masked), options):
        eager = run(z, "eager", **kw)
        for mode in ("graph", "xla"):
            for a, b in zip(run(z, mode, **kw), eager, strict=True):
                assert np.isfinite(a).all()
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"{kw} {mode}")


def test_tensorflow_softmax_crossentropy_kernel_against_autodiff(monkeypatch):
    """TensorFlow's categorical CE and KL from logits run a kernel with a written-out gradient:
    values, gradients in both arguments and a Hessian-vector product equal autodiff of the
    generic exact form (the kernel switched off), with a masked class, a +inf logit and a
    confident row; the confident row's tiny loss against its closed form."""
    tf = pytest.importorskip("tensorflow")
    from losskit._backend._tensorflow import TensorFlowBackend

    z = Z.copy()
    z[0, 3] = -np.inf  # P[0] has no mass there
    z[1] = [np.inf, 0.0, 1.0, np.inf]
    z[2] = [40.0, 0.0, 1.0, 2.0]
    y = P.copy()
    y[1] = [0.5, 0.0, 0.0, 0.5]  # the +inf maxima hold the mass: a finite loss
    y[2] = [1.0, 0.0, 0.0, 0.0]
    v = RNG.normal(size=z.shape)

    def run(loss):
        zt, yt = tf.constant(z), tf.constant(y)
        with tf.GradientTape() as outer:
            outer.watch(zt)
            with tf.GradientTape() as inner:
                inner.watch([zt, yt])
                value = loss(yt, zt, from_logits=True, reduction="none")
            g_z, g_y = inner.gradient(value, [zt, yt])
            directional = tf.reduce_sum(tf.where(tf.math.is_finite(g_z), g_z, 0.0) * v)
        hvp = outer.gradient(directional, zt)
        return [t.numpy() for t in (value, g_z, g_y, hvp)]

    for loss in (lk.categorical_crossentropy, lk.kl_divergence):
        fused = run(loss)
        with monkeypatch.context() as patch:
            patch.setattr(TensorFlowBackend, "softmax_crossentropy", lambda self, y, z: None)
            expected = run(loss)
        for a, b in zip(fused, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=loss.__name__)
    rows = run(lk.categorical_crossentropy)[0]
    assert rows[2] == pytest.approx(np.log1p(np.exp(-40.0) * (1 + np.e + np.e**2)), rel=1e-14)
    assert np.isfinite(rows[:3]).all()


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_tensorflow_sparse_crossentropy_kernel_against_autodiff(monkeypatch, smoothing):
    """TensorFlow's sparse CE from logits runs the generic label-side rows with a written-out
    gradient: values, gradient and a Hessian-vector product equal autodiff of the generic form,
    with a masked class, +inf logits (the label on one, elsewhere), and a confident row."""
    tf = pytest.importorskip("tensorflow")
    from losskit._backend._generic import ArrayAPIBackend
    from losskit._backend._tensorflow import TensorFlowBackend

    z = RNG.normal(scale=3.0, size=(6, 5))
    z[0, 3] = -np.inf
    z[1] = [np.inf, 0.0, 1.0, np.inf, 2.0]
    z[2] = [40.0, 0.0, 1.0, 2.0, 3.0]
    labels = np.array([0, 3, 0, 1, 4, 2])
    v = RNG.normal(size=z.shape)

    def run():
        zt = tf.constant(z)
        with tf.GradientTape() as outer:
            outer.watch(zt)
            with tf.GradientTape() as inner:
                inner.watch(zt)
                value = lk.sparse_categorical_crossentropy(
                    tf.constant(labels),
                    zt,
                    from_logits=True,
                    reduction="none",
                    label_smoothing=smoothing,
                )
            g = inner.gradient(value, zt)
            directional = tf.reduce_sum(tf.where(tf.math.is_finite(g), g, 0.0) * v)
        return [t.numpy() for t in (value, g, outer.gradient(directional, zt))]

    fused = run()
    with monkeypatch.context() as patch:
        generic = ArrayAPIBackend.sparse_crossentropy_logits
        patch.setattr(TensorFlowBackend, "sparse_crossentropy_logits", generic)
        expected = run()
    for a, b in zip(fused, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert np.isfinite(fused[1]).all()
    if not smoothing:  # the label on a +inf maximum tied with another: log 2
        assert fused[0][1] == pytest.approx(np.log(2.0), rel=1e-15)
        d = np.array([0.0, 1.0, 2.0, 3.0]) - 40.0
        assert fused[0][2] == pytest.approx(np.log1p(np.exp(d).sum()), rel=1e-14)


def test_optax_parity():
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    np.testing.assert_allclose(
        lk.hinge(SIGNS, SCORES, reduction="none"),
        np.asarray(optax.hinge_loss(jnp.asarray(SCORES), jnp.asarray(SIGNS))),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        lk.kl_divergence(P, Z, from_logits=True, reduction="none"),
        np.asarray(optax.kl_divergence(jnp.asarray(ref.log_softmax(Z)), jnp.asarray(P))),
        rtol=1e-6,
        atol=1e-9,
    )


def test_zero_one_mapping_is_the_same_under_jit():
    jax = pytest.importorskip("jax")
    y = (SIGNS + 1) / 2
    eager = lk.hinge(y, SCORES)
    traced = jax.jit(lambda s: lk.hinge(jax.numpy.asarray(y), s))(jax.numpy.asarray(SCORES))
    np.testing.assert_allclose(float(traced), float(eager), rtol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="labels -1/1"):
        lk.hinge(np.array([2.0, 1.0]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="from_logits=True"):
        lk.kl_divergence(P, Z)
    with pytest.raises(ValueError, match="does not match"):
        lk.categorical_hinge(np.ones((2, 3)), np.ones((3, 2)))
    assert lk.get("kld") is lk.kl_divergence and lk.get("hinge_loss") is lk.hinge


# ---------------------------------------------------------------------- focal
def focal_binary_ref(y, z, gamma, alpha=None):
    p, q = ref.sigmoid(z), ref.sigmoid(-z)
    loss = (y * q + (1 - y) * p) ** gamma * ref.bce_logits(y, z)
    if alpha is not None:
        loss = (y * alpha + (1 - y) * (1 - alpha)) * loss
    return loss


def focal_categorical_ref(y, z, gamma, alpha=1.0):
    log_p = ref.log_softmax(z)
    return -np.sum(alpha * (-np.expm1(log_p)) ** gamma * y * log_p, -1)


@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, None), (0.0, None), (1.5, 0.25), (0.5, 0.75)])
def test_binary_focal_against_float64(backend, dtype, gamma, alpha):
    y = (RNG.random((4, 6)) > 0.5).astype(float)
    y[0] = 0.3  # soft labels
    z = np.concatenate([Z[:3, :2], [[40.0, -40.0]], [[0.0, 1e4]]], axis=0)[:4].repeat(3, 1)
    got = lk.binary_focal_crossentropy(
        backend.array(y, dtype),
        backend.array(z, dtype),
        gamma=gamma,
        alpha=alpha,
        from_logits=True,
        reduction="none",
    )
    expected = focal_binary_ref(
        y.astype(dtype).astype(float), z.astype(dtype).astype(float), gamma, alpha
    )
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tolerance(dtype))
    if backend.grad is not None:
        grad = backend.grad(
            lambda t: lk.binary_focal_crossentropy(
                backend.array(y, dtype),
                t,
                gamma=gamma,
                alpha=alpha,
                from_logits=True,
                reduction="sum",
            ),
            backend.array(z, dtype),
        )
        assert np.all(np.isfinite(backend.to_numpy(grad)))


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_categorical_and_sparse_focal_against_float64(backend, dtype, gamma):
    labels = np.array([0, 3, 1, 2, 2])
    z = Z.copy()
    z[4] = [1e4, -1e4, 0.0, 5.0]
    hot = ref.one_hot(labels, 4)
    alpha = np.array([0.1, 0.2, 0.3, 0.4])
    expected = focal_categorical_ref(hot, z.astype(dtype).astype(float), gamma, alpha)
    dense = lk.categorical_focal_crossentropy(
        backend.array(hot, dtype),
        backend.array(z, dtype),
        gamma=gamma,
        alpha=backend.array(alpha, dtype),
        from_logits=True,
        reduction="none",
    )
    sparse = lk.sparse_categorical_focal_crossentropy(
        backend.array(labels),
        backend.array(z, dtype),
        gamma=gamma,
        alpha=backend.array(alpha, dtype),
        from_logits=True,
        reduction="none",
    )
    tol = tolerance(dtype)
    np.testing.assert_allclose(backend.to_numpy(dense), expected, **tol)
    np.testing.assert_allclose(backend.to_numpy(sparse), expected, **tol)


def test_focal_keras_parity():
    keras = pytest.importorskip("keras")
    y = (RNG.random((4, 6)) > 0.5).astype(float)
    p = np.clip(ref.sigmoid(Z[:4].repeat(2, 1)[:, :6]), 0.01, 0.99)
    for kw in ({"gamma": 2.0}, {"gamma": 1.0, "label_smoothing": 0.1}):
        theirs = keras.losses.binary_focal_crossentropy(y, p, **kw)
        ours = lk.binary_focal_crossentropy(y, p, reduction="none", **kw).mean(-1)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    theirs = keras.losses.binary_focal_crossentropy(
        y, Z[:4].repeat(2, 1)[:, :6], from_logits=True, apply_class_balancing=True, alpha=0.3
    )
    ours = lk.binary_focal_crossentropy(
        y, Z[:4].repeat(2, 1)[:, :6], from_logits=True, alpha=0.3, reduction="none"
    ).mean(-1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    theirs = keras.losses.categorical_focal_crossentropy(ONE_HOT, Z, from_logits=True, alpha=0.25)
    ours = lk.categorical_focal_crossentropy(
        ONE_HOT, Z, from_logits=True, alpha=0.25, reduction="none"
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_focal_optax_parity():
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    y = (RNG.random((5, 4)) > 0.5).astype(float)
    for alpha in (None, 0.25):
        theirs = optax.sigmoid_focal_loss(jnp.asarray(Z), jnp.asarray(y), alpha=alpha, gamma=2.0)
        ours = lk.binary_focal_crossentropy(y, Z, from_logits=True, alpha=alpha, reduction="none")
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6, atol=1e-9)


def test_focal_ignore_index_and_bad_parameters():
    labels = np.array([0, -100, 2])
    z = Z[:3, :3]
    got = lk.sparse_categorical_focal_crossentropy(labels, z, from_logits=True, ignore_index=-100)
    rows = focal_categorical_ref(ref.one_hot(np.array([0, 2]), 3), z[[0, 2]], 2.0)
    np.testing.assert_allclose(got, rows.mean(), rtol=1e-12)
    with pytest.raises(ValueError, match="gamma"):
        lk.binary_focal_crossentropy(np.ones(2), np.full(2, 0.5), gamma=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        lk.binary_focal_crossentropy(np.ones(2), np.full(2, 0.5), alpha=1.5)
    with pytest.raises(ValueError, match="alpha must have one entry per class"):
        lk.categorical_focal_crossentropy(ONE_HOT, Z, from_logits=True, alpha=np.ones(3))


# ---------------------------------------------------------------------- soft margin, poly, JS
def js_ref(p, q):
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = lambda a: np.sum(np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / m), 0), -1)  # noqa: E731
        return 0.5 * kl(p) + 0.5 * kl(q)


def test_soft_margin_poly_js_against_float64(backend, dtype):
    f, tol = backend.array, tolerance(dtype)
    s, z, q = (x.astype(dtype).astype(float) for x in (SCORES, Z, Q))
    p = P.astype(dtype).astype(float)
    got = lk.soft_margin(f(SIGNS, dtype), f(SCORES, dtype), reduction="none")
    np.testing.assert_allclose(backend.to_numpy(got), ref.softplus(-SIGNS * s), **tol)
    got = lk.poly_loss(
        f(ONE_HOT, dtype), f(Z, dtype), epsilon=2.0, from_logits=True, reduction="none"
    )
    pt = np.sum(ONE_HOT * np.exp(ref.log_softmax(z)), -1)
    np.testing.assert_allclose(
        backend.to_numpy(got), ref.cce_logits(ONE_HOT, z) + 2.0 * (1 - pt), **tol
    )
    got = lk.js_divergence(f(P, dtype), f(Q, dtype), reduction="none")
    np.testing.assert_allclose(
        backend.to_numpy(got),
        js_ref(p, q),
        rtol=tol["rtol"],
        atol=max(tol["atol"], 1e-6 if dtype == "float32" else 0),
    )


def test_soft_margin_and_js_anchors():
    torch = pytest.importorskip("torch")
    scipy = pytest.importorskip("scipy.spatial.distance")
    x, y = torch.as_tensor(SCORES), torch.as_tensor(SIGNS)
    theirs = torch.nn.functional.soft_margin_loss(x, y)
    np.testing.assert_allclose(float(lk.soft_margin(y, x)), float(theirs), rtol=1e-12)
    np.testing.assert_allclose(
        lk.js_divergence(P, Q, reduction="none"),
        scipy.jensenshannon(P, Q, axis=-1) ** 2,
        rtol=1e-10,
    )
    # symmetric and bounded by log 2, and zero at the target
    np.testing.assert_allclose(
        lk.js_divergence(Q, P, reduction="none"),
        lk.js_divergence(P, Q, reduction="none"),
        rtol=1e-12,
    )
    assert float(lk.js_divergence(np.eye(2), np.eye(2)[::-1], reduction="sum")) <= 2 * np.log(2)
    assert float(lk.js_divergence(Q, Q)) == pytest.approx(0.0, abs=1e-15)


def test_js_and_poly_gradients_are_finite(autodiff_backend):
    b = autodiff_backend
    z = np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    for loss in (lk.js_divergence, lk.poly_loss):
        g = b.grad(lambda t, loss=loss: loss(b.array(y), t, from_logits=True), b.array(z))
        assert np.all(np.isfinite(b.to_numpy(g))), loss.__name__
