"""Bounding-box regression: the GIoU, DIoU and CIoU losses on ``(x1, y1, x2, y2)`` boxes."""

from __future__ import annotations

import math
from typing import Any

from .. import _validate
from .._backend import ArrayAPIBackend
from .._registry import register
from ._common import enter_pair, finish, full_target, relu

_FAMILY: dict[str, Any] = {
    "family": "box",
    "kind": "axis",
    "task": "detection",
    "domain": "box",
}
#: 4/π², the scale of CIoU's aspect-ratio term.
_ASPECT_SCALE = 4.0 / math.pi**2


def _enter(
    y_true: Any, y_pred: Any, eps: Any, reduction: str, normalizer: Any
) -> tuple[ArrayAPIBackend, list[Any], list[Any], float]:
    """Backend, the four coordinates of each box of ``y_true`` and ``y_pred`` (last axis), and
    the checked ``eps``."""
    eps = _validate.check_range("eps", eps, 0.0, math.inf, low_open=True, high_open=True)
    backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
    for name, boxes in (("y_pred", y_pred), ("y_true", y_true)):
        shape = backend.shape(boxes)
        if len(shape) == 0 or shape[-1] != 4:
            raise ValueError(
                f"{name} must hold boxes (x1, y1, x2, y2) on its last axis, shape (..., 4); "
                f"got shape {shape}"
            )
    y_true = full_target(backend, y_true, y_pred)
    return backend, _corners(backend, y_true), _corners(backend, y_pred), eps


def _corners(backend: ArrayAPIBackend, boxes: Any) -> list[Any]:
    return [boxes[..., k] for k in range(4)]


def _area(box: list[Any]) -> Any:
    x1, y1, x2, y2 = box
    return (x2 - x1) * (y2 - y1)


def _iou_and_enclosure(xp: Any, true: list[Any], pred: list[Any], eps: float) -> tuple[Any, ...]:
    """IoU (``inter / (union + eps)``), the union, and the enclosing box's width and height."""
    inter_w = relu(xp, xp.minimum(true[2], pred[2]) - xp.maximum(true[0], pred[0]))
    inter_h = relu(xp, xp.minimum(true[3], pred[3]) - xp.maximum(true[1], pred[1]))
    inter = inter_w * inter_h
    union = _area(true) + _area(pred) - inter
    iou = inter / (union + eps)
    enclose_w = xp.maximum(true[2], pred[2]) - xp.minimum(true[0], pred[0])
    enclose_h = xp.maximum(true[3], pred[3]) - xp.minimum(true[1], pred[1])
    return iou, union, enclose_w, enclose_h


def _diou_and_iou(xp: Any, true: list[Any], pred: list[Any], eps: float) -> tuple[Any, Any]:
    iou, _, enclose_w, enclose_h = _iou_and_enclosure(xp, true, pred, eps)
    diagonal = enclose_w * enclose_w + enclose_h * enclose_h + eps
    dx = (pred[0] + pred[2] - true[0] - true[2]) * 0.5
    dy = (pred[1] + pred[3] - true[1] - true[3]) * 0.5
    return 1.0 - iou + (dx * dx + dy * dy) / diagonal, iou


def _aspect_angle(xp: Any, box: list[Any]) -> Any:
    """``atan(w / h)``, finite with finite gradients for every box.

    Computed as ``atan(min/max)`` of ``|w|, |h|`` (or its complement to π/2) with the sign of
    ``w / h``: a zero height gives ±π/2 (the limit torchvision's ``atan(w / 0)`` reaches), a
    point box (``w = h = 0``, where ``w / h`` is 0/0) gives 0.
    """
    w, h = box[2] - box[0], box[3] - box[1]
    abs_w, abs_h = xp.abs(w), xp.abs(h)
    small, large = xp.minimum(abs_w, abs_h), xp.maximum(abs_w, abs_h)
    t = xp.atan(small / xp.where(large == 0, xp.ones_like(large), large))
    angle = xp.where(abs_w <= abs_h, t, (0.5 * math.pi) - t)
    negative = (w < 0) != (h < 0)
    return xp.where(negative, -angle, angle)


_REFERENCES_GIOU = (
    "Rezatofighi et al. (2019), Generalized Intersection over Union: A Metric and A Loss for "
    "Bounding Box Regression; torchvision.ops.generalized_box_iou_loss",
)
_REFERENCES_DIOU = (
    "Zheng et al. (2020), Distance-IoU Loss: Faster and Better Learning for Bounding Box "
    "Regression; torchvision.ops.distance_box_iou_loss",
)
_REFERENCES_CIOU = (
    "Zheng et al. (2020), Distance-IoU Loss: Faster and Better Learning for Bounding Box "
    "Regression; torchvision.ops.complete_box_iou_loss",
)
_BOUNDED = {"bounded": True, "convex": False}


@register(
    "giou_loss",
    aliases=("generalized_box_iou_loss", "giou"),
    properties=_BOUNDED,
    references=_REFERENCES_GIOU,
    **_FAMILY,
)
def giou_loss(
    y_true: Any,
    y_pred: Any,
    *,
    eps: float = 1e-7,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Generalized IoU loss of boxes ``(x1, y1, x2, y2)`` on the last axis (one value per box).

    .. math:: \ell = 1 - \mathrm{IoU} + \frac{|C| - |A ∪ B|}{|C| + ε}, \qquad
              \mathrm{IoU} = \frac{|A ∩ B|}{|A ∪ B| + ε}

    with ``C`` the smallest box enclosing both; ``ℓ`` lies in [0, 2]. ``eps`` (positive) keeps
    empty and point boxes finite (two identical point boxes give 1) with finite gradients.
    ``y_true`` broadcasts to ``y_pred``; both have 4 on the last axis, which is reduced. Boxes
    are expected with ``x1 ≤ x2`` and ``y1 ≤ y2`` (not checked, as in torchvision). Equals
    ``torchvision.ops.generalized_box_iou_loss(y_pred, y_true, eps=eps)``.
    Reference: Rezatofighi et al. (2019).

    >>> import numpy as np, losskit as lk
    >>> t = np.array([[0.0, 0.0, 2.0, 2.0]]); p = np.array([[1.0, 1.0, 3.0, 3.0]])
    >>> round(float(lk.giou_loss(t, p)), 6)
    1.079365
    """
    backend, true, pred, eps = _enter(y_true, y_pred, eps, reduction, normalizer)
    xp = backend.xp
    iou, union, enclose_w, enclose_h = _iou_and_enclosure(xp, true, pred, eps)
    enclosure = enclose_w * enclose_h
    loss = 1.0 - iou + (enclosure - union) / (enclosure + eps)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "diou_loss",
    aliases=("distance_box_iou_loss", "diou"),
    properties=_BOUNDED,
    references=_REFERENCES_DIOU,
    **_FAMILY,
)
def diou_loss(
    y_true: Any,
    y_pred: Any,
    *,
    eps: float = 1e-7,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Distance IoU loss of boxes ``(x1, y1, x2, y2)`` on the last axis (one value per box).

    .. math:: \ell = 1 - \mathrm{IoU} + \frac{ρ^2}{c^2 + ε}, \qquad
              \mathrm{IoU} = \frac{|A ∩ B|}{|A ∪ B| + ε}

    with ``ρ`` the distance between the two boxes' centres and ``c`` the diagonal of the
    smallest box enclosing both; ``ℓ`` lies in [0, 2]. ``eps`` keeps empty, point and identical
    boxes finite with finite gradients. Shapes and conventions as :func:`giou_loss`. Equals
    ``torchvision.ops.distance_box_iou_loss(y_pred, y_true, eps=eps)``.
    Reference: Zheng et al. (2020).

    >>> import numpy as np, losskit as lk
    >>> t = np.array([[0.0, 0.0, 2.0, 2.0]]); p = np.array([[1.0, 1.0, 3.0, 3.0]])
    >>> round(float(lk.diou_loss(t, p)), 6)
    0.968254
    """
    backend, true, pred, eps = _enter(y_true, y_pred, eps, reduction, normalizer)
    loss, _ = _diou_and_iou(backend.xp, true, pred, eps)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "ciou_loss",
    aliases=("complete_box_iou_loss", "ciou"),
    properties=_BOUNDED,
    references=_REFERENCES_CIOU,
    contract_exceptions={
        "true_gradient": "CIoU's trade-off weight α is held constant (no gradient flows through "
        "it), as in Zheng et al. (2020) and torchvision.ops.complete_box_iou_loss"
    },
    **_FAMILY,
)
def ciou_loss(
    y_true: Any,
    y_pred: Any,
    *,
    eps: float = 1e-7,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Complete IoU loss of boxes ``(x1, y1, x2, y2)`` on the last axis (one value per box).

    .. math:: \ell = \ell_\mathrm{DIoU} + α v, \qquad
              v = \frac{4}{π^2}\left(\arctan\frac{w_t}{h_t} - \arctan\frac{w_p}{h_p}\right)^2,
              \qquad α = \frac{v}{1 - \mathrm{IoU} + v + ε}

    :func:`diou_loss` plus an aspect-ratio consistency term. ``α`` is held constant: no
    gradient flows through it (the paper's choice and torchvision's), so the gradient is not
    the derivative of the value. ``arctan(w/h)`` is evaluated in a form that stays finite with
    finite gradients for every box: a zero-height box gives ±π/2 (torchvision's value), a point
    box (``w = h = 0``, where torchvision's ``0/0`` is NaN) gives 0. Shapes and conventions as
    :func:`giou_loss`. Equals ``torchvision.ops.complete_box_iou_loss(y_pred, y_true)`` at the
    default ``eps``; with another ``eps`` torchvision applies it to α's denominator only (its
    DIoU term and the IoU inside α keep 1e-7), losskit applies it throughout.
    Reference: Zheng et al. (2020).

    >>> import numpy as np, losskit as lk
    >>> t = np.array([[0.0, 0.0, 2.0, 2.0]]); p = np.array([[1.0, 1.0, 4.0, 3.0]])
    >>> round(float(lk.ciou_loss(t, p)), 6)
    1.019165
    """
    backend, true, pred, eps = _enter(y_true, y_pred, eps, reduction, normalizer)
    xp = backend.xp
    diou, iou = _diou_and_iou(xp, true, pred, eps)
    gap = _aspect_angle(xp, true) - _aspect_angle(xp, pred)
    v = _ASPECT_SCALE * (gap * gap)
    alpha = backend.stop_gradient(v / (1.0 - iou + v + eps))
    loss = diou + alpha * v
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)
