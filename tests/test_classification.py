"""Margin and divergence losses against float64 formulas and their anchors."""

from __future__ import annotations

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
