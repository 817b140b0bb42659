"""Independent float64 references for the bounding-box losses (GIoU, DIoU, CIoU).

Written box by box in Python floats from the papers' definitions (Rezatofighi et al. 2019;
Zheng et al. 2020) with torchvision's ``eps`` placement: IoU = |A∩B| / (|A∪B| + eps), the GIoU
enclosure term (|C| - |A∪B|) / (|C| + eps), the DIoU diagonal c² + eps, CIoU's
α = v / (1 - IoU + v + eps). ``atan(w/h)`` of a zero-height box is its limit ±π/2 and that of a
point box 0, as losskit documents. ``REFERENCES[name](inputs, params)`` returns one value per box.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Reference = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]
_NEUTRAL = {"sample_weight": None, "mask": None, "normalizer": None, "reduction": "none"}


def _eps(params: dict[str, Any]) -> float:
    for key, value in params.items():
        if key != "eps" and not (key in _NEUTRAL and value == _NEUTRAL[key]):
            raise NotImplementedError(f"the reference does not model {key}={value!r}")
    return float(params.get("eps", 1e-7))


def _parts(t: list[float], p: list[float], eps: float) -> dict[str, float]:
    """IoU, union, enclosure area, squared enclosure diagonal and squared centre distance."""
    overlap_w = min(t[2], p[2]) - max(t[0], p[0])
    overlap_h = min(t[3], p[3]) - max(t[1], p[1])
    inter = overlap_w * overlap_h if overlap_w > 0 and overlap_h > 0 else 0.0
    union = (t[2] - t[0]) * (t[3] - t[1]) + (p[2] - p[0]) * (p[3] - p[1]) - inter
    span_w = max(t[2], p[2]) - min(t[0], p[0])
    span_h = max(t[3], p[3]) - min(t[1], p[1])
    centre_dx = (p[0] + p[2]) / 2 - (t[0] + t[2]) / 2
    centre_dy = (p[1] + p[3]) / 2 - (t[1] + t[3]) / 2
    return {
        "iou": inter / (union + eps),
        "union": union,
        "enclosure": span_w * span_h,
        "diagonal": span_w**2 + span_h**2,
        "centres": centre_dx**2 + centre_dy**2,
    }


def _angle(box: list[float]) -> float:
    w, h = box[2] - box[0], box[3] - box[1]
    if h != 0:
        return math.atan(w / h)
    return math.copysign(math.pi / 2, w) if w != 0 else 0.0


def _giou(t: list[float], p: list[float], eps: float) -> float:
    q = _parts(t, p, eps)
    return 1 - q["iou"] + (q["enclosure"] - q["union"]) / (q["enclosure"] + eps)


def _diou(t: list[float], p: list[float], eps: float) -> float:
    q = _parts(t, p, eps)
    return 1 - q["iou"] + q["centres"] / (q["diagonal"] + eps)


def _ciou(t: list[float], p: list[float], eps: float) -> float:
    iou = _parts(t, p, eps)["iou"]
    v = 4 / math.pi**2 * (_angle(t) - _angle(p)) ** 2
    return _diou(t, p, eps) + v / (1 - iou + v + eps) * v


def _per_box(loss: Callable[[list[float], list[float], float], float]) -> Reference:
    def reference(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
        eps = _eps(params)
        pred = np.asarray(inputs[1], dtype=np.float64)
        true = np.broadcast_to(np.asarray(inputs[0], dtype=np.float64), pred.shape)
        flat_t, flat_p = true.reshape(-1, 4), pred.reshape(-1, 4)
        values = [loss(list(a), list(b), eps) for a, b in zip(flat_t, flat_p, strict=True)]
        return np.array(values, dtype=np.float64).reshape(pred.shape[:-1])

    return reference


REFERENCES: dict[str, Reference] = {
    "giou_loss": _per_box(_giou),
    "diou_loss": _per_box(_diou),
    "ciou_loss": _per_box(_ciou),
}
