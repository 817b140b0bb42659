"""``lk.generalized_jsd`` and ``lk.distillation_kl``: parity with TRL's GKD loss and torch's KL,
the independent mpmath reference on every backend (masked vocabulary entries and ±1e4 logits
included), the teacher's missing gradient, and errors that name their argument."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import losskit as lk
from conftest import get_backend, tolerance

sys.path.insert(0, str(Path(__file__).parent / "contract"))
from reference_llm_policy import REFERENCES

BACKENDS = ["numpy", "array_api_strict", "torch", "jax", "tensorflow"]
BETAS = [0.0, 0.1, 0.5, 0.9, 1.0]
TEMPERATURES = [1.0, 0.7, 2.0]


def logits(seed: int = 0, shape=(3, 4, 11), scale: float = 3.0):
    r = np.random.default_rng(seed)
    return scale * r.normal(size=shape), scale * r.normal(size=shape)


def labels_with_padding(shape=(3, 4), vocab: int = 11, seed: int = 0):
    r = np.random.default_rng(seed)
    labels = r.integers(0, vocab, shape)
    labels[0, 2:] = -100
    labels[2] = -100  # a sequence with nothing to learn from
    return labels


def gkd(student, teacher, **kwargs):
    pytest.importorskip("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl.experimental.gkd import GKDTrainer

    return GKDTrainer.generalized_jsd_loss(student, teacher, **kwargs)


# ---------------------------------------------------------------------- anchors
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("beta", BETAS)
def test_generalized_jsd_matches_trl_gkd(beta, temperature, dtype):
    torch = pytest.importorskip("torch")
    t, s = (torch.tensor(x).to(getattr(torch, dtype)) for x in logits())
    labels = torch.tensor(labels_with_padding())
    theirs = s.clone().requires_grad_(True)
    want = gkd(theirs, t, labels=labels, beta=beta, temperature=temperature)
    (want_grad,) = torch.autograd.grad(want, theirs)
    ours = s.clone().requires_grad_(True)
    got = lk.generalized_jsd(t, ours, beta=beta, temperature=temperature, mask=labels != -100)
    (grad,) = torch.autograd.grad(got, ours)
    rtol, atol = (1e-13, 1e-16) if dtype == "float64" else (1e-6, 1e-7)
    np.testing.assert_allclose(got.item(), want.item(), rtol=rtol)
    np.testing.assert_allclose(grad.numpy(), want_grad.numpy(), rtol=rtol * 100, atol=atol)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_distillation_kl_is_gkd_at_beta_0_and_1(temperature):
    torch = pytest.importorskip("torch")
    t, s = (torch.tensor(x) for x in logits(1))
    labels = torch.tensor(labels_with_padding(seed=1))
    mask = labels != -100
    for direction, beta in (("forward", 0.0), ("reverse", 1.0)):
        want = gkd(s, t, labels=labels, beta=beta, temperature=temperature).item()
        got = lk.distillation_kl(t, s, temperature=temperature, direction=direction, mask=mask)
        np.testing.assert_allclose(got.item(), want, rtol=1e-13, err_msg=direction)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_temperature_scaling_is_hintons_loss(temperature):
    """Hinton et al.'s loss as commonly written with torch: ``KLDivLoss(batchmean)`` of the
    softened distributions, times T²."""
    torch = pytest.importorskip("torch")
    t, s = (torch.tensor(x) for x in logits(2, shape=(8, 10)))
    want = torch.nn.functional.kl_div(
        torch.log_softmax(s / temperature, -1),
        torch.softmax(t / temperature, -1),
        reduction="batchmean",
    ) * (temperature**2)
    got = lk.distillation_kl(t, s, temperature=temperature, temperature_scaling=True)
    plain = lk.distillation_kl(t, s, temperature=temperature)
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-13)
    np.testing.assert_allclose(plain.item() * temperature**2, want.item(), rtol=1e-13)


# ---------------------------------------------------------------------- reference, backends
def _masked_vocabulary(t, s):
    """The last two vocabulary entries excluded (-inf in both), a -inf in the student only where
    the teacher's is also -inf, and ±1e4 logits in one row."""
    t, s = t.copy(), s.copy()
    t[..., -2:] = -np.inf
    s[..., -2:] = -np.inf
    t[0, 0, :5] = [1e4, -1e4, 100.0, -100.0, 0.0]
    s[0, 1, :5] = [-1e4, 1e4, 0.0, 30.0, -30.0]
    return t, s


CALLS = [
    ("generalized_jsd", {"beta": b, "temperature": tau}) for b in BETAS for tau in (1.0, 2.0)
] + [
    ("distillation_kl", {"direction": d, "temperature": tau, "temperature_scaling": True})
    for d in ("forward", "reverse")
    for tau in (1.0, 0.5)
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_values_match_the_reference_with_masked_vocabulary(backend_name, dtype):
    b = get_backend(backend_name)
    t, s = _masked_vocabulary(*logits())
    rounded = [x.astype(dtype).astype(np.float64) for x in (t, s)]
    for name, params in CALLS:
        got = lk.get(name)(b.array(t, dtype), b.array(s, dtype), reduction="none", **params)
        got = np.asarray(b.to_numpy(got), dtype=np.float64)
        want = REFERENCES[name](rounded, params)
        assert np.all(np.isfinite(want)), (name, params)
        np.testing.assert_allclose(got, want, **tolerance(dtype), err_msg=f"{name} {params}")


@pytest.mark.parametrize("backend_name", ["torch", "jax", "tensorflow"])
def test_gradients_are_finite_with_masked_vocabulary_and_zero_for_the_teacher(backend_name):
    b = get_backend(backend_name)
    t, s = _masked_vocabulary(*logits())
    for dtype in ("float32", "float64"):
        teacher, student = b.array(t, dtype), b.array(s, dtype)
        for name, params in CALLS:
            f = lk.get(name)
            g = b.to_numpy(b.grad(lambda x, f=f, p=params, t=teacher: f(t, x, **p), student))
            assert np.all(np.isfinite(g)), (name, params, dtype)
            assert np.all(g[..., -2:] == 0.0), (name, params)  # excluded entries
            if backend_name == "torch":  # the teacher is detached: no graph reaches it
                x = teacher.clone().requires_grad_(True)
                assert not f(x, student, **params).requires_grad, (name, params)
                continue
            tg = b.grad(lambda x, f=f, p=params, s=student: f(x, s, **p), teacher)
            assert tg is None or np.all(b.to_numpy(tg) == 0.0), (name, params)


def _central_difference(name, params, t, s, positions, h=1e-6):
    out = []
    for pos in positions:
        plus, minus = s.copy(), s.copy()
        plus.flat[pos] += h
        minus.flat[pos] -= h
        up = REFERENCES[name]([t, plus], params).mean()
        down = REFERENCES[name]([t, minus], params).mean()
        out.append((up - down) / (2 * h))
    return np.array(out)


@pytest.mark.parametrize("backend_name", ["torch", "jax", "tensorflow"])
def test_float64_gradient_is_the_derivative_of_the_reference(backend_name):
    b = get_backend(backend_name)
    t, s = logits(4, shape=(2, 3, 5))
    positions = np.random.default_rng(0).choice(s.size, 10, replace=False)
    for name, params in CALLS:
        f = lk.get(name)
        teacher = b.array(t)
        g = b.to_numpy(b.grad(lambda x, f=f, p=params, t=teacher: f(t, x, **p), b.array(s)))
        want = _central_difference(name, params, t, s, positions)
        np.testing.assert_allclose(g.reshape(-1)[positions], want, rtol=1e-6, atol=1e-9)


def test_values_and_gradients_agree_across_backends():
    t, s = _masked_vocabulary(*logits(5))
    mask = labels_with_padding(seed=5) != -100
    for name, params in CALLS:
        values, grads = [], []
        for backend_name in ["numpy", "torch", "jax", "tensorflow"]:
            b = get_backend(backend_name)
            teacher, m = b.array(t), b.array(mask)
            f = lk.get(name)
            values.append(float(b.to_numpy(f(teacher, b.array(s), mask=m, **params))))
            if b.grad is not None:

                def of(x, f=f, p=params, teacher=teacher, m=m):
                    return f(teacher, x, mask=m, **p)

                grads.append(b.to_numpy(b.grad(of, b.array(s))))
        np.testing.assert_allclose(values, values[0], rtol=1e-13, err_msg=f"{name} {params}")
        for g in grads[1:]:
            np.testing.assert_allclose(g, grads[0], rtol=1e-11, atol=1e-17, err_msg=name)


def test_a_small_divergence_keeps_its_relative_accuracy_in_float32():
    r = np.random.default_rng(6)
    t = (3.0 * r.normal(size=(64, 50)) + 20.0).astype(np.float32)
    s = (t + 0.05 * r.normal(size=t.shape)).astype(np.float32)
    wide = [t.astype(np.float64), s.astype(np.float64)]
    for name, params in CALLS:
        got = np.asarray(lk.get(name)(t, s, reduction="none", **params), dtype=np.float64)
        want = REFERENCES[name](wide, params)
        assert want.max() < 1e-2  # small divergences: relative accuracy is what is tested
        np.testing.assert_allclose(got, want, rtol=3e-5, atol=1e-10, err_msg=f"{name} {params}")


def test_axis_selects_the_vocabulary():
    t, s = logits(7, shape=(2, 11, 3))  # (batch, vocabulary, positions)
    for name, params in CALLS:
        f = lk.get(name)
        moved = f(np.moveaxis(t, 1, -1), np.moveaxis(s, 1, -1), reduction="none", **params)
        np.testing.assert_allclose(f(t, s, axis=1, reduction="none", **params), moved, rtol=1e-14)


def test_identical_distributions_give_exactly_zero():
    t, _ = logits(8)
    for name, params in CALLS:
        assert np.all(lk.get(name)(t, t, reduction="none", **params) == 0.0), (name, params)


def test_bad_options_raise_naming_the_argument():
    t, s = logits()
    for call, match in [
        (lambda: lk.generalized_jsd(t, s, beta=1.5), "beta"),
        (lambda: lk.generalized_jsd(t, s, temperature=0.0), "temperature"),
        (lambda: lk.distillation_kl(t, s, direction="both"), "direction"),
        (lambda: lk.distillation_kl(t, s, temperature_scaling="yes"), "temperature_scaling"),
        (lambda: lk.distillation_kl(t[:2], s), "teacher_logits"),
        (lambda: lk.generalized_jsd(t, s, axis=3), "axis"),
        (lambda: lk.generalized_jsd(t, s, mask=np.ones((3, 5), bool)), "mask"),
    ]:
        with pytest.raises((ValueError, TypeError), match=match):
            call()
