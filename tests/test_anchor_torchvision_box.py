"""Parity of the box losses with ``torchvision.ops`` (values and autograd gradients).

Runs in the vision environment (``.venv-vision``: torch, torchvision). torchvision's
``generalized_box_iou_loss``, ``distance_box_iou_loss`` and ``complete_box_iou_loss`` take
``(boxes1, boxes2)``; losskit's ``(y_true, y_pred)`` maps to ``(y_pred, y_true)`` there. Both
place ``eps`` the same way and hold CIoU's α constant, so values and gradients agree to rounding.
The documented difference is checked explicitly: a point box (w = h = 0), where torchvision's
``atan(0/0)`` is NaN, is finite in losskit.
"""

from __future__ import annotations

import numpy as np
import pytest

ops = pytest.importorskip("torchvision.ops")
torch = pytest.importorskip("torch")

import losskit as lk  # noqa: E402

PAIRS = {
    lk.giou_loss: ops.generalized_box_iou_loss,
    lk.diou_loss: ops.distance_box_iou_loss,
    lk.ciou_loss: ops.complete_box_iou_loss,
}
IDS = ["giou", "diou", "ciou"]
TOL = {"float64": {"rtol": 1e-12, "atol": 1e-14}, "float32": {"rtol": 2e-6, "atol": 1e-6}}


def _boxes(rng: np.random.Generator, n: int, spread: float) -> np.ndarray:
    corner = rng.random((n, 2)) * spread
    return np.concatenate([corner, corner + 0.1 + rng.random((n, 2)) * 3.0], axis=1)


def _sample() -> tuple[np.ndarray, np.ndarray]:
    """Overlapping, nested, disjoint and identical pairs, and zero-height/zero-width boxes."""
    rng = np.random.default_rng(15)
    true = _boxes(rng, 64, 4.0)
    pred = _boxes(rng, 64, 4.0)
    pred[:8] = true[:8]  # identical
    pred[8:16] = (
        true[8:16]
        + np.array([0.2, 0.2, -0.2, -0.2]) * (true[8:16, 2:] - true[8:16, :2]).repeat(2, axis=1) / 2
    )  # nested
    pred[16:24] += 20.0  # disjoint
    return true, pred


def _flat(true: np.ndarray) -> np.ndarray:
    """Zero-height and zero-width boxes (w > 0 or h > 0) across the targets."""
    flat = true.copy()
    flat[::2, 3] = flat[::2, 1]
    flat[1::2, 2] = flat[1::2, 0]
    return flat


def _torch(x: np.ndarray, dtype: str) -> torch.Tensor:
    return torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("ours", "theirs"), list(PAIRS.items()), ids=IDS)
def test_values_and_gradients_match_torchvision(ours, theirs, dtype):
    true, pred = _sample()
    t1, p1, t2, p2 = (_torch(x, dtype) for x in (true, pred, true, pred))
    got = ours(t1, p1, reduction="none")
    expected = theirs(p2, t2, reduction="none")
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), **TOL[dtype])
    weights = torch.linspace(0.5, 2.0, len(true), dtype=got.dtype)
    (got * weights).sum().backward()
    (expected * weights).sum().backward()
    for a, b in ((p1, p2), (t1, t2)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(("ours", "theirs"), list(PAIRS.items()), ids=IDS)
def test_reductions_match_torchvision(ours, theirs, reduction):
    true, pred = (torch.tensor(x) for x in _sample())
    got = ours(true, pred, reduction=reduction)
    expected = theirs(pred, true, reduction=reduction)
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-12)


@pytest.mark.parametrize("eps", [1e-3, 0.5])
@pytest.mark.parametrize(("ours", "theirs"), list(PAIRS.items()), ids=IDS)
def test_eps_matches_torchvision(ours, theirs, eps):
    true, pred = (torch.tensor(x) for x in _sample())
    got = ours(true, pred, eps=eps, reduction="none")
    expected = theirs(pred, true, eps=eps)
    if ours is not lk.ciou_loss:
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
        return
    # torchvision's CIoU passes its eps to α's denominator only: its DIoU term and the IoU in α
    # keep the default 1e-7. losskit uses eps throughout; with torchvision's DIoU term swapped
    # for the one at eps, what remains is the IoU inside α (a change of order eps · IoU).
    default, chosen = (ops.distance_box_iou_loss(pred, true, eps=e) for e in (1e-7, eps))
    expected = expected - default + chosen
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=0, atol=2 * eps)
    assert not np.allclose(got.numpy(), expected.numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize(("ours", "theirs"), list(PAIRS.items()), ids=IDS)
def test_flat_boxes_match_torchvision_values(ours, theirs):
    """A zero-height box has atan(w/0) = π/2 in both (torchvision's gradient there is NaN)."""
    true, _ = _sample()
    true, pred = torch.tensor(true), torch.tensor(_flat(true))
    got = ours(true, pred, reduction="none")
    np.testing.assert_allclose(got.numpy(), theirs(pred, true).numpy(), rtol=1e-12, atol=1e-15)


def test_point_boxes_are_finite_where_torchvision_is_nan():
    true = torch.tensor([[0.0, 0.0, 2.0, 1.0]], dtype=torch.float64)
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    assert torch.isnan(ops.complete_box_iou_loss(point, true)).all()
    got = lk.ciou_loss(true, point, reduction="none")
    assert torch.isfinite(got).all()
    got.sum().backward()
    assert torch.isfinite(point.grad).all()
    # the point box's aspect angle is 0: v = (4/π²)·atan(2)²
    v = 4 / np.pi**2 * np.arctan(2.0) ** 2
    diou = float(ops.distance_box_iou_loss(point.detach(), true))
    np.testing.assert_allclose(float(got.detach()), diou + v / (1 + v + 1e-7) * v, rtol=1e-12)
