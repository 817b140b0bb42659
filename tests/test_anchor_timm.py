"""Parity with ``timm.loss.AsymmetricLossMultiLabel`` (values and autograd gradients).

Runs in the vision environment (``.venv-vision``: torch, timm). timm computes in float32
whatever the input dtype and clamps each probability at ``eps=1e-8`` before the log; on logits
where the clamp does not bite (|z| < 18) and hard 0/1 targets the two agree to float32 accuracy.
The documented differences (the clamp, soft targets) are checked explicitly.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

timm_loss = pytest.importorskip("timm.loss")
torch = pytest.importorskip("torch")

import losskit as lk  # noqa: E402

AsymmetricLossMultiLabel = timm_loss.AsymmetricLossMultiLabel
HAS_REDUCTION = "reduction" in inspect.signature(AsymmetricLossMultiLabel).parameters

# timm evaluates in float32 (float64 inputs included) and forms 1 - sigmoid(z) by subtraction,
# which loses relative accuracy as p -> 1 (about 3e-5 absolute in log(1 - p) at z = 6.5);
# losskit's log-space value is exact (tests/test_robust.py), so parity is timm's accuracy
TOL = {"rtol": 1e-5, "atol": 1e-6}
GRAD_TOL = {"rtol": 1e-5, "atol": 1e-6}

RNG = np.random.default_rng(21)
LOGITS = RNG.normal(scale=3.0, size=(8, 6)).clip(-15, 15)
TARGETS = (RNG.random((8, 6)) > 0.6).astype(np.float64)

OPTIONS = [
    {},  # timm's defaults: gamma_neg=4, gamma_pos=1, clip=0.05
    {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.0},
    {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": None},
    {"gamma_neg": 2.0, "gamma_pos": 0.0, "clip": 0.1},
    {"gamma_neg": 0.0, "gamma_pos": 0.0, "clip": 0.0},  # plain binary cross-entropy
    {"gamma_neg": 1.5, "gamma_pos": 0.5, "clip": 0.2},
]


def _timm(options: dict[str, Any], reduction: str) -> Any:
    if HAS_REDUCTION:
        return AsymmetricLossMultiLabel(**options, reduction=reduction)
    assert reduction == "sum"  # older timm: -loss.sum()
    return AsymmetricLossMultiLabel(**options)


def _value_and_grad(fn: Any, z: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    x = torch.as_tensor(z).to(getattr(torch, dtype)).requires_grad_(True)
    out = fn(x)
    cot = torch.as_tensor(
        np.random.default_rng(3).uniform(0.5, 1.5, tuple(out.shape)), dtype=out.dtype
    )
    (g,) = torch.autograd.grad(out, x, grad_outputs=cot)
    return out.detach().double().numpy(), g.double().numpy()


def _ours(options: dict[str, Any], reduction: str) -> Any:
    y = torch.as_tensor(TARGETS)

    def fn(x: Any) -> Any:
        if reduction == "batchmean":  # timm's default: sum over classes, mean over the batch
            return lk.asymmetric_loss(y, x, from_logits=True, reduction="sum", **options) / len(x)
        return lk.asymmetric_loss(y, x, from_logits=True, reduction=reduction, **options)

    return fn


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: ",".join(map(str, o.values())) or "defaults"
)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "batchmean"])
def test_values_and_gradients(options, reduction, dtype):
    if not HAS_REDUCTION and reduction != "sum":
        pytest.skip("this timm has no reduction argument (it returns the sum)")
    theirs = _timm(options, reduction)
    y = torch.as_tensor(TARGETS)
    value, grad = _value_and_grad(_ours(options, reduction), LOGITS, dtype)
    ref_value, ref_grad = _value_and_grad(lambda x: theirs(x, y), LOGITS, dtype)
    assert value.shape == ref_value.shape
    np.testing.assert_allclose(value, ref_value, **TOL)
    np.testing.assert_allclose(grad, ref_grad, **GRAD_TOL)


def test_half_precision_inputs_match_timm():
    """timm casts to float32 itself; losskit computes half inputs in float32 too."""
    z = torch.as_tensor(LOGITS, dtype=torch.float16)
    y = torch.as_tensor(TARGETS)
    ours = lk.asymmetric_loss(y, z, from_logits=True, reduction="sum")
    theirs = _timm({}, "sum")(z, y)
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(float(ours), float(theirs), **TOL)


def test_documented_difference_the_eps_clamp():
    """A confidently wrong positive: timm saturates at -log(1e-8) ≈ 18.42, ASL is |z|."""
    z = torch.tensor([[-30.0, -25.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 1.0, 1.0]])
    theirs = _timm({}, "none" if HAS_REDUCTION else "sum")(z, y)
    ours = lk.asymmetric_loss(y, z, from_logits=True, reduction="none")
    # (1 - p)^1 · (-log p) with p = σ(z): ≈ |z| for very negative z
    exact = torch.sigmoid(-z) * torch.nn.functional.softplus(-z)
    np.testing.assert_allclose(ours.numpy(), exact.numpy(), rtol=1e-12)
    if HAS_REDUCTION:
        np.testing.assert_allclose(theirs[0, :2].numpy(), -np.log(1e-8), rtol=1e-6)
        np.testing.assert_allclose(float(theirs[0, 2]), float(ours[0, 2]), rtol=1e-6)


def test_documented_difference_soft_targets():
    """timm mixes the focusing weights for soft targets; losskit weighs each term by its own."""
    if not HAS_REDUCTION:
        pytest.skip("needs reduction='none'")
    z = torch.as_tensor(LOGITS[:2])
    y = torch.full_like(z, 0.3)
    theirs = _timm({}, "none")(z, y).numpy()
    ours = lk.asymmetric_loss(y, z, from_logits=True, reduction="none").numpy()
    pos = lk.asymmetric_loss(torch.ones_like(z), z, from_logits=True, reduction="none").numpy()
    neg = lk.asymmetric_loss(torch.zeros_like(z), z, from_logits=True, reduction="none").numpy()
    np.testing.assert_allclose(ours, 0.3 * pos + 0.7 * neg, rtol=1e-12)
    assert np.max(np.abs(ours - theirs)) > 1e-3
