"""The MONAI options of the overlap losses (``smooth_nr``/``smooth_dr``, ``squared_pred``,
``normalize_class_weight=False``, ``per_class``) against MONAI's published test cases and
against MONAI itself (values and gradients, float64)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import losskit as lk

RNG = np.random.default_rng(5)
N, C, H, W = 3, 3, 4, 5
LOGITS = RNG.normal(scale=2.0, size=(N, C, H, W))  # NCHW
LABELS = RNG.integers(0, C, (N, H, W))
LABELS[1][LABELS[1] == 2] = 0  # class 2 absent from image 1
SOFT = RNG.uniform(0.0, 1.0, (N, C, H, W))  # multilabel soft targets
MONAI_DEFAULTS = {"axis": 1, "from_logits": True, "per_image": True, "empty": "keep"}


# ---------------------------------------------------------------------- MONAI's own test cases
# tests/losses/test_{tversky,dice,generalized_dice}_loss.py of MONAI: inputs (N, C, ...)
TWO_CLASS_PROBS = np.array([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])
TWO_CLASS_LABELS = np.array([[0, 0, 1], [0, 1, 0]])
LOGITS_3 = np.array([[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
LABELS_3 = np.array([[1, 0, 0], [1, 1, 0]])
ONE_HOT_3 = np.moveaxis(np.eye(2)[LABELS_3], -1, 1)
X_2X2 = np.array([[[[1.0, -1.0], [-1.0, 1.0]]]])
Y_2X2 = np.array([[[[1.0, 0.0], [1.0, 1.0]]]])


def test_tversky_smooth_nr_zero_smooth_dr_of_monai():
    # TverskyLoss(include_background=False, to_onehot_y=True, smooth_nr=0, smooth_dr=1e-3)
    got = lk.tversky(
        TWO_CLASS_LABELS,
        TWO_CLASS_PROBS,
        **{**MONAI_DEFAULTS, "from_logits": False},
        smooth_nr=0.0,
        smooth_dr=1e-3,
        class_weight=[0.0, 1.0],
    )
    np.testing.assert_allclose(float(got), 0.000999, rtol=1e-4)
    np.testing.assert_allclose(float(got), 1.0 - 1.0 / 1.001, rtol=1e-12)  # the closed form


def test_dice_squared_pred_of_monai():
    # DiceLoss(sigmoid=True, squared_pred=True), default smoothing 1e-5
    got = lk.dice(Y_2X2, X_2X2, mode="multilabel", smooth=1e-5, squared_pred=True, **MONAI_DEFAULTS)
    np.testing.assert_allclose(float(got), 0.178337, rtol=1e-5)


@pytest.mark.parametrize(
    ("loss", "params", "reduction", "expected"),
    [
        # DiceLoss(to_onehot_y=True, sigmoid=True, reduction="none", smooth 1e-4): (N, C, 1)
        (lk.dice, {"mode": "multilabel"}, "none", [[0.296529, 0.415136], [0.599976, 0.428559]]),
        # DiceLoss(to_onehot_y=True, softmax=True, reduction="sum", smooth 1e-4)
        (lk.dice, {}, "sum", 1.534853),
        # TverskyLoss(to_onehot_y=True, softmax=True, reduction="none", smooth 1e-4): (N, C)
        (lk.tversky, {}, "none", [[0.210961, 0.295339], [0.599952, 0.428547]]),
        # TverskyLoss(to_onehot_y=True, sigmoid=True, reduction="sum", smooth 1e-4)
        (lk.tversky, {"mode": "multilabel"}, "sum", 1.74013),
        # GeneralizedDiceLoss(to_onehot_y=True, softmax=True, reduction="none"): (N, 1, 1)
        (lk.generalized_dice, {"empty": "zero"}, "none", [[0.273476], [0.555539]]),
    ],
)
def test_per_class_outputs_of_monai(loss, params, reduction, expected):
    kw = {**MONAI_DEFAULTS, "smooth": 1e-4, "per_class": True, **params}
    targets = ONE_HOT_3 if kw.get("mode") == "multilabel" else LABELS_3
    got = np.asarray(loss(targets, LOGITS_3, reduction=reduction, **kw))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


# ---------------------------------------------------------------------- against MONAI itself
def _monai() -> tuple[Any, Any]:
    torch = pytest.importorskip("torch")
    losses = pytest.importorskip("monai.losses")
    return torch, losses


def max_difference(torch: Any, ours: Callable, theirs: Callable, x: np.ndarray) -> float:
    """The largest absolute difference of the values and of the gradients (of their sum)
    with respect to ``x``."""
    results = []
    for fn in (ours, theirs):
        t = torch.as_tensor(x, dtype=torch.float64).requires_grad_(True)
        value = fn(t)
        (grad,) = torch.autograd.grad(value.sum(), t)
        results.append((value.detach().numpy().reshape(-1), grad.numpy()))
    (a, ga), (b, gb) = results
    assert a.shape == b.shape
    return float(max(np.max(np.abs(a - b)), np.max(np.abs(ga - gb))))


def monai_cases(torch: Any, losses: Any) -> list[tuple[str, Callable, Callable, np.ndarray]]:
    """(id, ours, MONAI's, input) for every option; index targets with softmax unless the
    case says multilabel (sigmoid, soft targets)."""
    labels = torch.as_tensor(LABELS)
    column = labels[:, None]
    soft = torch.as_tensor(SOFT)
    # MONAI's to_onehot_y makes float32 targets, which its squared_pred path (norms of
    # p - y) then computes with: float64 one-hot targets keep the comparison in float64
    one_hot = torch.as_tensor(np.moveaxis(np.eye(C)[LABELS], -1, 1))
    weight = np.array([0.2, 1.5, 3.0])  # not summing to C: the normalisation shows
    kw = MONAI_DEFAULTS
    multi = {**kw, "mode": "multilabel"}
    sm = {"softmax": True, "to_onehot_y": True}
    nr_dr = {"smooth_nr": 0.0, "smooth_dr": 1e-3}

    def monai(cls: Any, target: Any = column, **options: Any) -> Callable:
        anchor = getattr(losses, cls)(**options)
        return lambda t: anchor(t, target)

    def ours(loss: Callable, target: Any = labels, **options: Any) -> Callable:
        return lambda t: loss(target, t, **options)

    return [
        ("dice-nr-dr", ours(lk.dice, **kw, **nr_dr), monai("DiceLoss", **sm, **nr_dr), LOGITS),
        (
            "dice-nr-dr-batch",
            ours(lk.dice, **{**kw, "per_image": False}, **nr_dr),
            monai("DiceLoss", **sm, **nr_dr, batch=True),
            LOGITS,
        ),
        (
            "jaccard-nr-dr",
            ours(lk.jaccard, **kw, smooth_nr=0.0, smooth_dr=5e-4),
            monai("DiceLoss", **sm, **nr_dr, jaccard=True),
            LOGITS,
        ),
        (
            "tversky-nr-dr",
            ours(lk.tversky, alpha=0.3, beta=0.7, **kw, **nr_dr),
            monai("TverskyLoss", **sm, **nr_dr, alpha=0.3, beta=0.7),
            LOGITS,
        ),
        (
            "generalized_dice-nr-dr",
            ours(lk.generalized_dice, **{**kw, "empty": "zero"}, smooth_nr=0.0, smooth_dr=0.5),
            monai("GeneralizedDiceLoss", **sm, smooth_nr=0.0, smooth_dr=0.5),
            LOGITS,
        ),
        (
            "dice-squared_pred",
            ours(lk.dice, **kw, smooth=1e-5, squared_pred=True),
            monai("DiceLoss", one_hot, softmax=True, squared_pred=True),
            LOGITS,
        ),
        (
            "dice-squared_pred-soft",
            ours(lk.dice, soft, **multi, smooth=1e-5, squared_pred=True),
            monai("DiceLoss", soft, sigmoid=True, squared_pred=True, soft_label=True),
            LOGITS,
        ),
        (
            "jaccard-squared_pred",
            ours(lk.jaccard, **kw, smooth=5e-6, squared_pred=True),
            monai("DiceLoss", one_hot, softmax=True, squared_pred=True, jaccard=True),
            LOGITS,
        ),
        (
            "dice-unnormalized-weight",
            ours(lk.dice, **kw, smooth=1e-5, class_weight=weight, normalize_class_weight=False),
            monai("DiceLoss", **sm, weight=torch.as_tensor(weight)),
            LOGITS,
        ),
        (
            "dice-per_class-none",
            ours(lk.dice, **kw, smooth=1e-5, per_class=True, reduction="none"),
            monai("DiceLoss", **sm, reduction="none"),
            LOGITS,
        ),
        (
            "dice-per_class-none-batch",
            ours(lk.dice, **{**kw, "per_image": False}, per_class=True, reduction="none"),
            monai("DiceLoss", **sm, reduction="none", batch=True, smooth_nr=0.0, smooth_dr=0.0),
            LOGITS,
        ),
        (
            "dice-per_class-none-weight",
            ours(lk.dice, **kw, smooth=1e-5, class_weight=weight, per_class=True, reduction="none"),
            monai("DiceLoss", **sm, reduction="none", weight=torch.as_tensor(weight)),
            LOGITS,
        ),
        (
            "dice-per_class-sum_over_batch_size-weight",
            ours(
                lk.dice,
                **kw,
                smooth=1e-5,
                class_weight=weight,
                per_class=True,
                reduction="sum_over_batch_size",
            ),
            monai("DiceLoss", **sm, weight=torch.as_tensor(weight)),
            LOGITS,
        ),
        (
            "jaccard-per_class-sum",
            ours(lk.jaccard, **kw, smooth=5e-6, per_class=True, reduction="sum"),
            monai("DiceLoss", **sm, reduction="sum", jaccard=True),
            LOGITS,
        ),
        (
            "tversky-per_class-none",
            ours(lk.tversky, soft, **multi, smooth=1e-5, per_class=True, reduction="none"),
            monai("TverskyLoss", soft, sigmoid=True, soft_label=True, reduction="none"),
            LOGITS,
        ),
        (
            "generalized_dice-per_class-none",
            ours(
                lk.generalized_dice,
                **{**kw, "empty": "zero"},
                smooth=1e-5,
                per_class=True,
                reduction="none",
            ),
            monai("GeneralizedDiceLoss", **sm, reduction="none"),
            LOGITS,
        ),
    ]


def test_options_against_monai():
    torch, losses = _monai()
    failures = []
    for name, ours, theirs, x in monai_cases(torch, losses):
        # MONAI computes the generalized Dice weights in float32
        tolerance = 1e-6 if name.startswith("generalized") else 1e-12
        difference = max_difference(torch, ours, theirs, x)
        if not difference <= tolerance:
            failures.append(f"{name}: {difference:.3g}")
    assert not failures, failures


def test_per_class_mean_is_the_weighted_mean_of_the_table():
    table = lk.dice(LABELS, LOGITS, **MONAI_DEFAULTS, per_class=True, reduction="none")
    assert table.shape == (N, C)
    w = np.array([1.0, 2.0, 0.5])
    mean = lk.dice(LABELS, LOGITS, **MONAI_DEFAULTS, per_class=True, class_weight=w)
    np.testing.assert_allclose(float(mean), np.sum(table * w) / (N * w.sum()), rtol=1e-12)
    # without per_class, every image counts each class: the same value
    plain = lk.dice(LABELS, LOGITS, **MONAI_DEFAULTS, class_weight=w)
    np.testing.assert_allclose(float(plain), float(mean), rtol=1e-12)


def test_per_class_excludes_the_classes_empty_leaves_out():
    kw = {**MONAI_DEFAULTS, "empty": "ignore"}
    table = lk.jaccard(LABELS, LOGITS, **kw, per_class=True, reduction="none")
    assert table[1, 2] == 0.0 and np.all(table[0] > 0)
    counted = np.ones((N, C), bool)
    counted[1, 2] = False
    mean = lk.jaccard(LABELS, LOGITS, **kw, per_class=True)
    np.testing.assert_allclose(float(mean), table[counted].mean(), rtol=1e-12)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("smooth_nr", -1.0, "smooth_nr"),
        ("smooth_dr", "a", "smooth_dr"),
        ("smooth_dr", float("nan"), "smooth_dr"),
        ("squared_pred", "yes", "squared_pred"),
        ("normalize_class_weight", 1, "normalize_class_weight"),
        ("per_class", "no", "per_class"),
    ],
)
def test_bad_options_name_the_argument(option, value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        lk.dice(LABELS, LOGITS, **MONAI_DEFAULTS, **{option: value})


def test_generalized_dice_per_class_keeps_a_class_axis_of_size_one():
    kw = {**MONAI_DEFAULTS, "per_class": True, "reduction": "none"}
    assert lk.generalized_dice(LABELS, LOGITS, **kw).shape == (N, 1)
    assert lk.generalized_dice(LABELS, LOGITS, **{**kw, "per_image": False}).shape == (1,)
    with pytest.raises(TypeError, match="squared_pred"):
        lk.generalized_dice(LABELS, LOGITS, squared_pred=True)  # type: ignore[call-arg]
