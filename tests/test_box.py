"""GIoU, DIoU and CIoU losses against a NumPy closed form written here, degenerate boxes and
argument checks. Parity with torchvision is in tests/test_anchor_torchvision_box.py."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

EPS = 1e-7


def _closed_form(true: np.ndarray, pred: np.ndarray, eps: float = EPS) -> dict[str, np.ndarray]:
    """The three losses (and IoU, v) of boxes on the last axis, vectorised from the papers."""
    tx1, ty1, tx2, ty2 = np.moveaxis(true, -1, 0)
    px1, py1, px2, py2 = np.moveaxis(pred, -1, 0)
    iw = np.clip(np.minimum(tx2, px2) - np.maximum(tx1, px1), 0, None)
    ih = np.clip(np.minimum(ty2, py2) - np.maximum(ty1, py1), 0, None)
    inter = iw * ih
    union = (tx2 - tx1) * (ty2 - ty1) + (px2 - px1) * (py2 - py1) - inter
    iou = inter / (union + eps)
    cw = np.maximum(tx2, px2) - np.minimum(tx1, px1)
    ch = np.maximum(ty2, py2) - np.minimum(ty1, py1)
    giou = 1 - iou + (cw * ch - union) / (cw * ch + eps)
    rho2 = ((px1 + px2 - tx1 - tx2) / 2) ** 2 + ((py1 + py2 - ty1 - ty2) / 2) ** 2
    diou = 1 - iou + rho2 / (cw**2 + ch**2 + eps)
    v = 4 / np.pi**2 * (np.arctan2(tx2 - tx1, ty2 - ty1) - np.arctan2(px2 - px1, py2 - py1)) ** 2
    alpha = v / (1 - iou + v + eps)
    return {"giou": giou, "diou": diou, "ciou": diou + alpha * v, "alpha": alpha}


LOSSES = {"giou": lk.giou_loss, "diou": lk.diou_loss, "ciou": lk.ciou_loss}


def _random_boxes(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    corner = rng.random((*shape, 2)) * 5
    return np.concatenate([corner, corner + 0.05 + rng.random((*shape, 2)) * 3], axis=-1)


@pytest.mark.parametrize("name", LOSSES)
def test_values_match_the_closed_form(name):
    true, pred = _random_boxes(0, (3, 40)), _random_boxes(1, (3, 40))
    got = LOSSES[name](true, pred, reduction="none")
    assert got.shape == (3, 40)
    np.testing.assert_allclose(got, _closed_form(true, pred)[name], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(LOSSES[name](true, pred), np.mean(got), rtol=1e-12)


def test_a_hand_computed_pair():
    # boxes [0,2]² and [1,3]²: IoU 1/7, enclosure 9, centres √2 apart, diagonal² 18
    true, pred = np.array([0.0, 0.0, 2.0, 2.0]), np.array([1.0, 1.0, 3.0, 3.0])
    np.testing.assert_allclose(lk.giou_loss(true, pred), 1 - 1 / 7 + 2 / 9, rtol=1e-6)
    np.testing.assert_allclose(lk.diou_loss(true, pred), 1 - 1 / 7 + 2 / 18, rtol=1e-6)
    np.testing.assert_allclose(lk.ciou_loss(true, pred), 1 - 1 / 7 + 2 / 18, rtol=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_identical_boxes_give_zero(name):
    boxes = _random_boxes(2, (10,))
    np.testing.assert_allclose(LOSSES[name](boxes, boxes, reduction="none"), 0.0, atol=1e-6)


def test_disjoint_boxes_are_ordered_by_distance_for_giou_and_diou():
    true = np.array([[0.0, 0.0, 1.0, 1.0]] * 2)
    pred = np.array([[2.0, 0.0, 3.0, 1.0], [9.0, 0.0, 10.0, 1.0]])
    for loss in (lk.giou_loss, lk.diou_loss):
        near, far = loss(true, pred, reduction="none")
        assert 1.0 < near < far < 2.0


DEGENERATE = np.array(
    [
        [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]],  # identical point boxes
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 1.0]],  # a point box at a corner
        [[0.0, 1.0, 3.0, 1.0], [0.0, 1.0, 3.0, 1.0]],  # identical zero-height boxes
        [[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 1.0, 3.0]],  # a zero-width box across a square
    ]
)


@pytest.mark.parametrize("name", LOSSES)
def test_degenerate_boxes_give_finite_values_and_gradients(name):
    torch = pytest.importorskip("torch")
    pred = torch.tensor(DEGENERATE[:, 0], dtype=torch.float64, requires_grad=True)
    true = torch.tensor(DEGENERATE[:, 1], dtype=torch.float64, requires_grad=True)
    value = LOSSES[name](true, pred, reduction="none")
    assert torch.isfinite(value).all()
    value.sum().backward()
    assert torch.isfinite(pred.grad).all() and torch.isfinite(true.grad).all()
    # identical point boxes: no overlap, no enclosure, no distance: the loss is 1
    np.testing.assert_allclose(value[0].item(), 1.0)


def test_point_box_aspect_angle_is_zero_and_flat_box_is_half_pi():
    true = np.array([[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 2.0, 1.0]])
    pred = np.array([[5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 2.0, 0.0]])
    diou = lk.diou_loss(true, pred, reduction="none")
    iou = np.array([0.0, 0.0])
    v = 4 / np.pi**2 * (np.arctan(2.0) - np.array([0.0, np.pi / 2])) ** 2
    expected = diou + v / (1 - iou + v + EPS) * v
    np.testing.assert_allclose(lk.ciou_loss(true, pred, reduction="none"), expected, rtol=1e-12)


def test_ciou_gradient_holds_alpha_constant():
    torch = pytest.importorskip("torch")
    true, pred = _random_boxes(3, (5,)), _random_boxes(4, (5,))
    alpha = _closed_form(true, pred)["alpha"]

    def fixed_alpha(p: np.ndarray) -> float:
        parts = _closed_form(true, p)
        v = (parts["ciou"] - parts["diou"]) / parts["alpha"]
        return float(np.sum(parts["diou"] + alpha * v))

    h = 1e-6
    numeric = np.zeros_like(pred)
    for i in np.ndindex(pred.shape):
        up, down = pred.copy(), pred.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (fixed_alpha(up) - fixed_alpha(down)) / (2 * h)
    p = torch.tensor(pred, requires_grad=True)
    lk.ciou_loss(torch.tensor(true), p, reduction="sum").backward()
    np.testing.assert_allclose(p.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_sample_weight_is_per_box():
    true, pred = _random_boxes(5, (4,)), _random_boxes(6, (4,))
    w = np.array([1.0, 0.0, 2.0, 0.5])
    expected = np.sum(w * _closed_form(true, pred)["giou"])
    np.testing.assert_allclose(
        lk.giou_loss(true, pred, sample_weight=w, reduction="sum"), expected, rtol=1e-12
    )


def test_a_single_target_box_broadcasts():
    true, pred = np.array([0.0, 0.0, 1.0, 2.0]), _random_boxes(7, (6,))
    expected = _closed_form(np.broadcast_to(true, pred.shape), pred)["diou"]
    np.testing.assert_allclose(lk.diou_loss(true, pred, reduction="none"), expected, rtol=1e-12)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize(
    ("true_shape", "pred_shape", "argument"),
    [
        ((3, 4), (3, 5), "y_pred"),
        ((3, 1), (3, 4), "y_true"),
        ((3, 3), (3, 4), "y_true"),
        ((), (), "y_pred"),
    ],
)
def test_bad_shapes_name_the_argument(name, true_shape, pred_shape, argument):
    true, pred = np.zeros(true_shape), np.zeros(pred_shape)
    with pytest.raises(ValueError, match=argument):
        LOSSES[name](true, pred)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("eps", [0.0, -1.0, float("nan"), "small"])
def test_bad_eps_is_refused(name, eps):
    boxes = _random_boxes(8, (2,))
    with pytest.raises((ValueError, TypeError), match="eps"):
        LOSSES[name](boxes, boxes, eps=eps)
