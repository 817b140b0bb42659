"""Independent float64 references for the image similarity losses (SSIM, MS-SSIM).

Written from the papers' definitions, not from losskit's code: the window is the full
``size^d`` outer product of the 1-D window, applied by a direct sum over every offset of an
image padded with ``np.pad``; SSIM is the textbook quotient
``(2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2) + eps)``; pooling averages
``2^d`` blocks after cropping or padding an odd side. Inputs are channels last, one loop per
(image, channel).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from reference_sets import options

COMMON = {
    "win_size": 11,
    "sigma": 1.5,
    "k1": 0.01,
    "k2": 0.03,
    "data_range": 1.0,
    "window": "gaussian",
    "padding": "valid",
    "axis": -1,
    "mask": None,
}
NP_PAD_MODES = {"reflect": "reflect", "symmetric": "symmetric", "zeros": "constant"}


def window_1d(size: int, sigma: float, kind: str) -> np.ndarray:
    if kind == "uniform":
        return np.ones(size) / size
    w = np.array([math.exp(-((i - size // 2) ** 2) / (2 * sigma * sigma)) for i in range(size)])
    return w / w.sum()


def local_mean(image: np.ndarray, o: dict[str, Any]) -> np.ndarray:
    """The window's weighted mean around every output pixel of one (spatial...) image."""
    size = o["win_size"]
    w = window_1d(size, o["sigma"], o["window"])
    if o["padding"] != "valid":
        image = np.pad(image, size // 2, mode=NP_PAD_MODES[o["padding"]])
    out_shape = tuple(n - size + 1 for n in image.shape)
    total = np.zeros(out_shape)
    for offset in itertools.product(range(size), repeat=image.ndim):
        weight = math.prod(w[i] for i in offset)
        view = tuple(slice(i, i + n) for i, n in zip(offset, out_shape, strict=True))
        total += weight * image[view]
    return total


def ssim_maps(x: np.ndarray, y: np.ndarray, o: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(SSIM map, cs map)`` of two single-channel images."""
    c1 = (o["k1"] * o["data_range"]) ** 2
    c2 = (o["k2"] * o["data_range"]) ** 2
    mx, my = local_mean(x, o), local_mean(y, o)
    vx = local_mean(x * x, o) - mx * mx
    vy = local_mean(y * y, o) - my * my
    cxy = local_mean(x * y, o) - mx * my
    cs = (2 * cxy + c2) / (vx + vy + c2)
    denominator = (mx * mx + my * my + c1) * (vx + vy + c2)
    ssim = (2 * mx * my + c1) * (2 * cxy + c2) / (denominator + o.get("eps", 0.0))
    return ssim, cs


def channels(inputs: list[np.ndarray], axis: int) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` as ``(N, C, spatial...)``."""
    y, p = (np.asarray(a, dtype=np.float64) for a in inputs)
    y = np.broadcast_to(y, p.shape)
    return np.moveaxis(y, axis, 1), np.moveaxis(p, axis, 1)


def ssim(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``1 - SSIM`` per image: the map averaged over pixels, then over channels (with
    ``nonnegative``, each channel's SSIM clamped at 0 first)."""
    o = options(params, **COMMON, eps=0.0, nonnegative=False)
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    y, p = channels(inputs, o["axis"])
    out = np.zeros(p.shape[0])
    for n in range(p.shape[0]):
        scores = []
        for c in range(p.shape[1]):
            score = float(np.mean(ssim_maps(p[n, c], y[n, c], o)[0]))
            scores.append(max(score, 0.0) if o["nonnegative"] else score)
        out[n] = 1.0 - float(np.mean(scores))
    return out


def pool(image: np.ndarray, odd: str) -> np.ndarray:
    """2× average pooling of every axis; an odd side cropped, zero-padded in front (the zero
    counted) or edge-padded at the end."""
    for axis in range(image.ndim):
        n = image.shape[axis]
        if n % 2:
            if odd == "crop":
                image = np.take(image, range(n - 1), axis=axis)
            else:
                widths = [(0, 0)] * image.ndim
                widths[axis] = (1, 0) if odd == "zero_pad" else (0, 1)
                image = np.pad(image, widths, mode="constant" if odd == "zero_pad" else "edge")
        image = (np.take(image, range(0, image.shape[axis], 2), axis=axis) +
                 np.take(image, range(1, image.shape[axis], 2), axis=axis)) / 2  # fmt: skip
    return image


def ms_ssim(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """``1 - Π_j v_j^{w_j}`` per image, ``v_j`` the mean cs of scale ``j`` (the mean SSIM at the
    last), clamped (``relu``) or mapped to ``(v + 1) / 2`` (``shift``); per channel then
    averaged, or each scale's ``v`` averaged over channels first (``per_channel=False``)."""
    o = options(
        params,
        **COMMON,
        weights=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333),
        negative="relu",
        odd="crop",
        per_channel=True,
    )
    if o["mask"] is not None:
        raise NotImplementedError("mask")
    y, p = channels(inputs, o["axis"])
    weights = list(o["weights"])
    out = np.zeros(p.shape[0])
    for n in range(p.shape[0]):
        values = np.zeros((len(weights), p.shape[1]))
        for c in range(p.shape[1]):
            a, b = p[n, c], y[n, c]
            for level in range(len(weights)):
                if level > 0:
                    a, b = pool(a, o["odd"]), pool(b, o["odd"])
                s, cs = ssim_maps(a, b, o)
                values[level, c] = np.mean(s if level == len(weights) - 1 else cs)
        if not o["per_channel"]:
            values = values.mean(axis=1, keepdims=True)
        if o["negative"] == "shift":
            values = (values + 1) / 2
        product = np.ones(values.shape[1])
        for level, w in enumerate(weights):
            if w != 0:
                product *= np.where(values[level] > 0, np.abs(values[level]) ** w, 0.0)
        out[n] = float(np.mean(1.0 - product))
    return out


REFERENCES = {"ssim": ssim, "ms_ssim": ms_ssim}
