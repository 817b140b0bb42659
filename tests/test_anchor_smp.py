"""Parity with segmentation-models-pytorch's losses (values and autograd gradients).

smp needs torchvision, so this file runs in the vision environment:
``.venv-vision/bin/python -m pytest -q tests/test_anchor_smp.py``.

Which losskit options reproduce smp: batch statistics (``per_image=False``), classes with an
empty target zeroed but counted (``empty="zero"``), smp's ``smooth`` doubled for Dice (smp smooths
``I`` and half the masses: ``(I + s) / ((Σp + Σy) / 2 + s)``), smp's ``class_weights`` and
``classes`` as ``class_weight`` (a 0/1 vector for ``classes``), ``log_loss=False``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

smp_losses = pytest.importorskip("segmentation_models_pytorch.losses")
torch = pytest.importorskip("torch")

import losskit as lk  # noqa: E402

RNG = np.random.default_rng(5)
N, C, H, W = 3, 4, 6, 5
LOGITS = RNG.normal(scale=2.0, size=(N, C, H, W))
LABELS = RNG.integers(0, C, (N, H, W))
LABELS[LABELS == 3] = 1  # class 3 absent from the batch: smp zeroes it
IGNORED = LABELS.copy()
IGNORED[0, :2, :] = 255
IGNORED[2, 4, 1:3] = 255
BINARY = (RNG.random((N, 1, H, W)) > 0.6).astype(float)
BINARY[1] = 0.0  # an image without foreground
BINARY_LOGITS = RNG.normal(scale=2.0, size=(N, 1, H, W))
SOFT = RNG.uniform(0.0, 1.0, (N, C, H, W))

TOL = {"float32": {"rtol": 2e-5, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}


def _value_and_grad(fn: Callable[[Any], Any], x: np.ndarray, dtype: str) -> tuple:
    t = torch.as_tensor(x, dtype=getattr(torch, dtype)).requires_grad_(True)
    value = fn(t)
    (grad,) = torch.autograd.grad(value, t)
    return float(value.detach()), grad.numpy()


def assert_parity(ours: Callable, theirs: Callable, x: np.ndarray, dtype: str = "float64") -> None:
    a, ga = _value_and_grad(ours, x, dtype)
    b, gb = _value_and_grad(theirs, x, dtype)
    np.testing.assert_allclose(a, b, **TOL[dtype])
    np.testing.assert_allclose(ga, gb, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"])
    assert np.all(np.isfinite(ga))


def labels(ignored: bool = False) -> Any:
    return torch.as_tensor(IGNORED if ignored else LABELS)


SMP_MULTICLASS = [
    # (smp kwargs, losskit kwargs)
    ({}, {}),
    ({"smooth": 1.0}, {"smooth": 1.0}),
    ({"ignore_index": 255}, {"ignore_index": 255}),
    ({"class_weights": [0.5, 2.0, 1.0, 3.0]}, {"class_weight": [0.5, 2.0, 1.0, 3.0]}),
    ({"classes": [1, 2]}, {"class_weight": [0.0, 1.0, 1.0, 0.0]}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("theirs", "ours"), SMP_MULTICLASS)
def test_dice_jaccard_tversky_multiclass(dtype, theirs, ours):
    ignored = "ignore_index" in theirs
    y = labels(ignored)
    base = {"axis": 1, "from_logits": True, "empty": "zero", "per_image": False, **ours}
    dice_kw = {**base, "smooth": 2.0 * base.get("smooth", 0.0)}
    cases = [
        (lambda t: lk.dice(y, t, **dice_kw), smp_losses.DiceLoss("multiclass", **theirs)),
        (lambda t: lk.jaccard(y, t, **base), smp_losses.JaccardLoss("multiclass", **theirs)),
        (
            lambda t: lk.tversky(y, t, alpha=0.3, beta=0.7, **base),
            smp_losses.TverskyLoss("multiclass", alpha=0.3, beta=0.7, **theirs),
        ),
    ]
    for mine, anchor in cases:
        assert_parity(mine, lambda t, anchor=anchor: anchor(t, y), LOGITS, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_and_multilabel(dtype):
    y = torch.as_tensor(BINARY)
    kw = {"mode": "binary", "from_logits": True, "empty": "zero"}
    assert_parity(
        lambda t: lk.dice(y, t, **kw),
        lambda t: smp_losses.DiceLoss("binary")(t, y),
        BINARY_LOGITS,
        dtype,
    )
    assert_parity(
        lambda t: lk.jaccard(y, t, **kw),
        lambda t: smp_losses.JaccardLoss("binary")(t, y),
        BINARY_LOGITS,
        dtype,
    )
    # (N, H, W) targets against (N, 1, H, W) logits, as smp reshapes them
    y3 = y[:, 0]
    assert_parity(
        lambda t: lk.dice(y3, t, axis=1, **kw),
        lambda t: smp_losses.DiceLoss("binary")(t, y3),
        BINARY_LOGITS,
        dtype,
    )
    # multilabel with soft targets: smp's |p - y| intersection is ours
    soft = torch.as_tensor(SOFT)
    ml = {"mode": "multilabel", "axis": 1, "from_logits": True, "empty": "zero"}
    assert_parity(
        lambda t: lk.dice(soft, t, **ml),
        lambda t: smp_losses.DiceLoss("multilabel")(t, soft),
        LOGITS,
        dtype,
    )
    assert_parity(
        lambda t: lk.tversky(soft, t, alpha=0.2, beta=0.8, **ml),
        lambda t: smp_losses.TverskyLoss("multilabel", alpha=0.2, beta=0.8)(t, soft),
        LOGITS,
        dtype,
    )


@pytest.mark.parametrize("gamma", [0.75, 2.0])
def test_focal_tversky_binary(gamma):
    """smp raises the class average to gamma; with one class that is the per-class power."""
    y = torch.as_tensor(BINARY)
    anchor = smp_losses.TverskyLoss("binary", alpha=0.3, beta=0.7, gamma=gamma)
    assert_parity(
        lambda t: lk.focal_tversky(
            y, t, alpha=0.3, beta=0.7, gamma=gamma, mode="binary", from_logits=True, empty="zero"
        ),
        lambda t: anchor(t, y),
        BINARY_LOGITS,
    )


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("ignored", [False, True])
def test_lovasz_softmax(per_image, ignored):
    y = labels(ignored)
    kw = {"ignore_index": 255} if ignored else {}
    anchor = smp_losses.LovaszLoss("multiclass", per_image=per_image, **kw)
    assert_parity(
        lambda t: lk.lovasz_softmax(
            y, t, axis=1, from_logits=True, per_image=per_image, classes="present", **kw
        ),
        lambda t: anchor(t, y),
        LOGITS,
        "float32",  # smp's Lovász works in float32 only (its weights are cast to float)
    )


@pytest.mark.parametrize("per_image", [False, True])
def test_lovasz_hinge(per_image):
    y = torch.as_tensor(BINARY)
    anchor = smp_losses.LovaszLoss("binary", per_image=per_image)
    assert_parity(
        lambda t: lk.lovasz_hinge(y, t, per_image=per_image),
        lambda t: anchor(t, y),
        BINARY_LOGITS,
        "float32",
    )
    # ignored pixels (smp drops them before sorting)
    y_ignored = y.clone()
    y_ignored[0, 0, :2] = 255
    anchor = smp_losses.LovaszLoss("binary", per_image=per_image, ignore_index=255)
    assert_parity(
        lambda t: lk.lovasz_hinge(y_ignored, t, per_image=per_image, ignore_index=255),
        lambda t: anchor(t, y_ignored),
        BINARY_LOGITS,
        "float32",
    )
    # smp's multilabel mode pools every channel into one binary problem
    hard = torch.as_tensor((SOFT > 0.5).astype(float))
    anchor = smp_losses.LovaszLoss("multilabel", per_image=per_image)
    assert_parity(
        lambda t: lk.lovasz_hinge(hard, t, per_image=per_image),
        lambda t: anchor(t, hard),
        LOGITS,
        "float32",
    )


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_binary_focal(alpha):
    y = torch.as_tensor(BINARY)
    anchor = smp_losses.FocalLoss("binary", alpha=alpha, gamma=2.0)
    assert_parity(
        lambda t: lk.binary_focal_crossentropy(y, t, alpha=alpha, gamma=2.0, from_logits=True),
        lambda t: anchor(t, y),
        BINARY_LOGITS,
    )


def test_empty_policy_difference_is_documented():
    """smp zeroes a class absent from the batch but counts it in the mean; losskit's default
    (empty="ignore") leaves it out: the two differ by the factor C / C_present."""
    y = labels()
    z = torch.as_tensor(LOGITS)
    theirs = float(smp_losses.DiceLoss("multiclass")(z, y))
    ours = float(lk.dice(y, z, axis=1, from_logits=True))
    present = len(np.unique(LABELS))
    np.testing.assert_allclose(ours * present / C, theirs, rtol=1e-10)
