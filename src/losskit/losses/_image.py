"""Image similarity losses: SSIM (Wang et al. 2004) and MS-SSIM (Wang, Simoncelli & Bovik 2003).

Both compare local statistics of ``y_pred`` and ``y_true`` under a window (a sampled Gaussian by
default): the means, variances and covariance of every pixel's neighbourhood. The window is
separable, so the filtering is one matrix product per spatial axis: a banded matrix holding the
1-D window, with the border rule (``padding``) folded into it. That is plain array-API code,
the same on every backend. The product spends ``side / win_size`` times the multiply-adds of a
convolution on zeros, but runs as one GEMM per axis: on torch's CPU, at 256×256 with an 11-tap
window, it was faster than the anchors' depthwise convolutions (measured in
``benchmarks/image.py``); for sides of thousands of pixels the quadratic cost shows.

Four maps are filtered, not the usual five: the sum ``s = x + y``, the difference
``d = x - y``, ``x² + y²`` and ``d²``. From their local means

* ``μx² + μy² = (μs² + μd²) / 2`` and ``σx² + σy² = E[x² + y²] - (μx² + μy²)``;
* ``1 - l = μd² / (μx² + μy² + C1)`` (luminance) and
  ``1 - cs = (E[d²] - μd²) / (σx² + σy² + C2)`` (contrast-structure),

so ``1 - SSIM = (1 - l) + (1 - cs) - (1 - l)(1 - cs)`` per pixel. Both dissimilarities are
computed from the difference itself: they are exactly 0 where ``y_pred == y_true`` (the loss is
exactly 0 there, with a finite gradient), and keep their relative precision for nearly equal
images, where ``1 - num/den`` of the textbook form cancels.

Layout: axis 0 is the batch, ``axis`` the channel axis (channels last by default, ``axis=1``
for torch's NCHW, as in the segmentation losses), every other axis is spatial (1-D signals,
2-D images, 3-D volumes). Each (image, channel) is scored on its own; the channels are
averaged, so the unreduced loss is one value per image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from .. import _validate
from .._backend import ArrayAPIBackend
from .._registry import register
from ._common import enter_pair, finish, full_target

#: Wang, Simoncelli & Bovik (2003), Table 1: the exponents of the five scales, finest first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
PADDINGS = ("valid", "reflect", "symmetric", "zeros")
WINDOWS = ("gaussian", "uniform")
NEGATIVES = ("relu", "shift")
ODD_SIZES = ("crop", "zero_pad", "edge_pad")

_SSIM = (
    "Wang, Bovik, Sheikh & Simoncelli (2004), Image Quality Assessment: From Error Visibility "
    "to Structural Similarity"
)
_MS_SSIM = (
    "Wang, Simoncelli & Bovik (2003), Multiscale Structural Similarity for Image Quality Assessment"
)
_PROPERTIES = {"bounded": True, "convex": False, "symmetric": True}


# ---------------------------------------------------------------------- window matrices
def _window(size: int, sigma: float, window: str) -> np.ndarray:
    """The normalised 1-D window: a Gaussian sampled at ``-(size//2) .. size//2``, or uniform."""
    if window == "uniform":
        return np.full(size, 1.0 / size)
    offsets = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return g / g.sum()


def _source(index: int, length: int, padding: str) -> int | None:
    """The input position a padded position ``index`` reads (None: a zero)."""
    if 0 <= index < length:
        return index
    if padding == "zeros":
        return None
    if padding == "reflect":  # ... x2 x1 | x0 x1 x2 ... (the edge is not repeated)
        period = 2 * (length - 1)
        if period == 0:
            return 0
        index %= period
        return index if index < length else period - index
    period = 2 * length  # symmetric: ... x1 x0 | x0 x1 ... (the edge is repeated)
    index %= period
    return index if index < length else period - 1 - index


@lru_cache(maxsize=64)
def _filter_matrix(length: int, size: int, sigma: float, window: str, padding: str) -> np.ndarray:
    """``(length, outputs)``: column ``j`` holds the window around output ``j``, the border
    folded in (``x @ M`` filters the last axis). ``"valid"`` keeps the ``length - size + 1``
    positions where the window fits; the other paddings keep ``length``."""
    taps = _window(size, sigma, window)
    radius = size // 2
    if padding == "valid":
        matrix = np.zeros((length, length - size + 1))
        for j in range(length - size + 1):
            matrix[j : j + size, j] = taps
    else:
        matrix = np.zeros((length, length))
        for j in range(length):
            for i, tap in enumerate(taps):
                source = _source(j + i - radius, length, padding)
                if source is not None:
                    matrix[source, j] += tap
    matrix.flags.writeable = False
    return matrix


@lru_cache(maxsize=64)
def _pool_matrix(length: int, odd: str) -> np.ndarray:
    """``(length, outputs)``: 2× average pooling of one axis. An odd ``length`` is cropped
    (``"crop"``: the last entry dropped), or padded to even: a zero before the first entry that
    counts in the first mean (``"zero_pad"``), or the last entry repeated (``"edge_pad"``)."""
    if length % 2 == 0 or odd == "crop":
        matrix = np.zeros((length, length // 2))
        for j in range(length // 2):
            matrix[2 * j : 2 * j + 2, j] = 0.5
    elif odd == "zero_pad":
        matrix = np.zeros((length, (length + 1) // 2))
        matrix[0, 0] = 0.5
        for j in range(1, (length + 1) // 2):
            matrix[2 * j - 1 : 2 * j + 1, j] = 0.5
    else:
        matrix = np.zeros((length, (length + 1) // 2))
        for j in range(length // 2):
            matrix[2 * j : 2 * j + 2, j] = 0.5
        matrix[length - 1, length // 2] = 1.0
    matrix.flags.writeable = False
    return matrix


def _separable(backend: ArrayAPIBackend, z: Any, matrices: Sequence[np.ndarray]) -> Any:
    """``z`` (leading axes, then one spatial axis per matrix) with each spatial axis multiplied
    by its matrix: the last axis as ``z @ M``, an earlier one as ``Mᵀ @ z`` with the axes after
    it flattened (the last axis goes first, so the later axes are already reduced)."""
    xp = backend.xp
    spatial = len(matrices)
    shape = backend.shape(z)
    lead = [-1 if d is None else d for d in shape[: len(shape) - spatial]]
    sizes = [m.shape[0] for m in matrices]
    for position in range(spatial - 1, -1, -1):
        m = backend.astype(backend.asarray(matrices[position], z), z.dtype)
        if position == spatial - 1:
            z = xp.matmul(z, m)
        else:
            after = math.prod(sizes[position + 1 :])
            flat = xp.reshape(z, (*lead, *sizes[: position + 1], after))
            z = xp.matmul(xp.permute_dims(m, (1, 0)), flat)
        sizes[position] = m.shape[1]
        if position < spatial - 2:
            z = xp.reshape(z, (*lead, *sizes))
    return z


# ---------------------------------------------------------------------- inputs and options
def _check_common(
    win_size: Any, sigma: Any, k1: Any, k2: Any, data_range: Any, window: Any, padding: Any
) -> tuple[int, float, float, float]:
    """Checked window size and constants: ``(size, sigma, C1, C2)``."""
    size = _validate.check_int("win_size", win_size)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"win_size must be a positive odd int; got {size}")
    sigma = _validate.check_range("sigma", sigma, 0.0, math.inf, low_open=True, high_open=True)
    k1 = _validate.check_range("k1", k1, 0.0, math.inf, low_open=True, high_open=True)
    k2 = _validate.check_range("k2", k2, 0.0, math.inf, low_open=True, high_open=True)
    scale = _validate.check_range(
        "data_range", data_range, 0.0, math.inf, low_open=True, high_open=True
    )
    _validate.check_choice("window", window, WINDOWS)
    _validate.check_choice("padding", padding, PADDINGS)
    return size, sigma, (k1 * scale) ** 2, (k2 * scale) ** 2


def _images(
    y_true: Any, y_pred: Any, axis: Any, reduction: str, normalizer: Any
) -> tuple[ArrayAPIBackend, Any, Any]:
    """The backend and both images as ``(N, C, *spatial)``, in the compute dtype."""
    axis = _validate.check_int("axis", axis)
    backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
    shape = backend.shape(y_pred)
    if len(shape) < 3:
        raise ValueError(
            f"y_pred must be images (batch, spatial axes..., channels on axis); got shape "
            f"{shape}: it needs a batch axis, a channel axis and at least one spatial axis"
        )
    channel = _validate.check_axis(axis, len(shape))
    if channel == 0:
        raise ValueError(
            f"axis={axis} is the batch axis; the channel axis must be another axis of y_pred "
            f"(shape {shape})"
        )
    y_true = full_target(backend, y_true, y_pred)
    spatial = [shape[a] for a in range(1, len(shape)) if a != channel]
    if any(d is None for d in spatial) or shape[channel] is None:
        raise ValueError(
            f"image similarity losses need static channel and spatial sizes (the window is "
            f"built from them); y_pred has shape {shape}"
        )
    return backend, backend.moveaxis(y_true, channel, 1), backend.moveaxis(y_pred, channel, 1)


def _check_sizes(sizes: Sequence[int], size: int, padding: str, scale: str = "") -> None:
    if min(sizes) < 1:
        raise ValueError(
            f"y_pred has an empty spatial axis{scale}: spatial sizes {tuple(sizes)} (each 2× "
            f"pooling halves them; use fewer weights or larger images)"
        )
    if padding == "valid" and min(sizes) < size:
        raise ValueError(
            f"with padding='valid' every spatial axis of y_pred must be at least win_size="
            f"{size} long{scale}; got spatial sizes {tuple(sizes)} (use a smaller win_size, or "
            f"a padding that keeps the size)"
        )


# ---------------------------------------------------------------------- the SSIM maps
def _dissimilarities(
    backend: ArrayAPIBackend,
    x: Any,
    y: Any,
    filters: Sequence[np.ndarray],
    c1: float,
    c2: float,
    centred: bool,
) -> tuple[Any, Any, Any]:
    """``(1 - l, 1 - cs, den)`` per (image, channel, pixel) of ``(N, C, *spatial)`` images,
    ``den = (μx² + μy² + C1)(σx² + σy² + C2)`` (SSIM's denominator).

    ``centred`` (a window whose weights sum to 1 at every pixel: any padding but zeros): the
    variances are taken about each (image, channel)'s mean ``a`` of ``(x + y) / 2``, as
    ``E[(x-a)² + (y-a)²] - ((μx-a)² + (μy-a)²)``, which equals ``σx² + σy²`` and cancels far
    less in float32 for images far from 0. ``a`` is a constant of the gradient (the value does
    not depend on it)."""
    xp = backend.xp
    shift: Any = 0.0
    if centred:
        pixels = tuple(range(2, len(backend.shape(x))))
        shift = backend.stop_gradient(0.5 * xp.mean(x + y, axis=pixels, keepdims=True))
        x, y = x - shift, y - shift
    d = x - y
    maps = xp.stack([x + y, d, x * x + y * y, d * d])
    mean_sum, mean_diff, energy, diff_energy = _unstack(xp, _separable(backend, maps, filters))
    diff_sq = mean_diff * mean_diff
    centred_means = 0.5 * (mean_sum * mean_sum + diff_sq)  # (μx - a)² + (μy - a)²
    contrast_den = (energy - centred_means) + c2  # σx² + σy² + C2
    if centred:
        mean_sum = mean_sum + 2.0 * shift
        luminance_den = 0.5 * (mean_sum * mean_sum + diff_sq) + c1  # μx² + μy² + C1
    else:
        luminance_den = centred_means + c1
    luminance = diff_sq / luminance_den
    contrast = (diff_energy - diff_sq) / contrast_den
    return luminance, contrast, luminance_den * contrast_den


def _unstack(xp: Any, z: Any) -> tuple[Any, ...]:
    """The entries of ``z``'s first axis (one backward copy on torch, not one per entry)."""
    unstack = getattr(xp, "unstack", None)
    if unstack is not None:
        return tuple(unstack(z))
    return tuple(z[k, ...] for k in range(z.shape[0]))


def _pixel_mean(xp: Any, x: Any) -> Any:
    """Mean over the spatial axes of ``(N, C, *spatial)``: ``(N, C)``."""
    return xp.mean(x, axis=tuple(range(2, len(x.shape))))


def _spatial_sizes(backend: ArrayAPIBackend, x: Any) -> list[int]:
    return [int(d) for d in backend.shape(x)[2:]]


# ---------------------------------------------------------------------- SSIM
@register(
    "ssim",
    aliases=("ssim_loss", "structural_similarity"),
    family="image",
    kind="image",
    task="image",
    domain="real",
    properties=dict(_PROPERTIES),
    references=(_SSIM, "monai.losses.SSIMLoss; kornia.losses.ssim_loss; pytorch_msssim.ssim"),
)
def ssim(
    y_true: Any,
    y_pred: Any,
    *,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_range: float = 1.0,
    window: str = "gaussian",
    padding: str = "valid",
    eps: float = 0.0,
    nonnegative: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""SSIM loss: one minus the structural similarity, averaged over pixels and channels.

    .. math:: \mathrm{SSIM} = \frac{(2μ_xμ_y + C_1)(2σ_{xy} + C_2)}
              {(μ_x^2 + μ_y^2 + C_1)(σ_x^2 + σ_y^2 + C_2) + ε},\qquad
              C_1 = (k_1 L)^2,\ C_2 = (k_2 L)^2

    with local means, variances and covariance under the window, ``L = data_range``. The loss
    of an image is ``1 - SSIM`` averaged over its pixels and channels (with ``nonnegative``,
    ``1 - max(SSIM_c, 0)`` per channel ``c``, then averaged). It is 0 exactly when
    ``y_pred == y_true`` and at most 2. Reference: Wang et al. (2004).

    Anchors: MONAI ``SSIMLoss(spatial_dims)`` is the default (``padding="valid"``, its
    ``win_size``, ``kernel_sigma``, ``k1``, ``k2``, ``data_range``; ``kernel_type="uniform"``
    is ``window="uniform"``; MONAI computes in float32); pytorch-msssim ``1 - ssim(X, Y)`` is
    the default with its ``data_range`` (255 by default there) and ``nonnegative_ssim``
    as ``nonnegative`` (its ``size_average=False`` is ``reduction="none"``); kornia
    ``ssim_loss(img1, img2, window_size)`` is ``0.5 ×`` this loss with
    ``padding="reflect", eps=1e-12`` and ``sigma=1.5`` (kornia halves ``1 - SSIM`` and
    clamps it to [0, 1], which acts only on rounding; ``data_range`` is its ``max_val``).

    Args:
        y_true: the reference images, ``y_pred``'s shape (or broadcastable to it).
        y_pred: the images: axis 0 the batch, ``axis`` the channels, the other axes spatial
            (2-D images ``(N, H, W, C)``, volumes ``(N, D, H, W, C)``, signals ``(N, L, C)``).
        win_size: the window's side, a positive odd int (the same on every spatial axis).
        sigma: the Gaussian window's standard deviation, in pixels.
        k1: luminance constant, ``C1 = (k1·data_range)²`` (positive: it keeps flat dark images
            finite).
        k2: contrast constant, ``C2 = (k2·data_range)²`` (positive).
        data_range: the value range of the images (1 for [0, 1], 255 for 8-bit).
        window: ``"gaussian"`` (sampled at integer offsets, normalised) or ``"uniform"``
            (MONAI's ``kernel_type="uniform"``).
        padding: the border: ``"valid"`` keeps only the pixels where the window fits (Wang et
            al.'s code, MONAI, pytorch-msssim); ``"reflect"`` mirrors without repeating the
            edge and keeps the size (kornia's ``"same"``, torch's ``"reflect"``);
            ``"symmetric"`` mirrors repeating the edge (SciPy's ``"reflect"``); ``"zeros"``
            pads with zeros.
        eps: added to SSIM's denominator (kornia's ``eps``; 0 keeps the loss exactly 0 at
            ``y_pred == y_true``).
        nonnegative: clamp each channel's SSIM at 0 (pytorch-msssim's ``nonnegative_ssim``).
        axis: the channel axis (channels last by default; ``axis=1`` for torch's NCHW).
        sample_weight: weights of the per-image losses.
        mask: boolean, one entry per image: ``False`` images are left out.
        reduction: the reduction contract over the per-image losses (``"none"``: shape
            ``(N,)``).
        normalizer: replaces the denominator of ``"mean"``.

    >>> import numpy as np, losskit as lk
    >>> x = np.linspace(0.0, 1.0, 2 * 16 * 16).reshape(2, 16, 16, 1)
    >>> float(lk.ssim(x, x))
    0.0
    >>> round(float(lk.ssim(x, 1.0 - x, win_size=7)), 4)  # anti-correlated: SSIM < 0
    1.3685
    """
    size, sigma, c1, c2 = _check_common(win_size, sigma, k1, k2, data_range, window, padding)
    eps = _validate.check_range("eps", eps, 0.0, math.inf, high_open=True)
    nonnegative = _validate.check_bool("nonnegative", nonnegative)
    backend, y, x = _images(y_true, y_pred, axis, reduction, normalizer)
    xp = backend.xp
    sizes = _spatial_sizes(backend, x)
    _check_sizes(sizes, size, padding)
    filters = [_filter_matrix(n, size, sigma, window, padding) for n in sizes]
    luminance, contrast, den = _dissimilarities(backend, x, y, filters, c1, c2, padding != "zeros")
    dissimilarity = luminance + contrast - luminance * contrast  # 1 - l·cs
    if eps > 0.0:
        dissimilarity = (dissimilarity * den + eps) / (den + eps)
    per_channel = _pixel_mean(xp, dissimilarity)
    if nonnegative:  # 1 - max(SSIM, 0)
        per_channel = xp.where(per_channel < 1.0, per_channel, xp.ones_like(per_channel))
    loss = xp.mean(per_channel, axis=1)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


# ---------------------------------------------------------------------- MS-SSIM
def _check_weights(weights: Any) -> tuple[float, ...]:
    if isinstance(weights, str) or not isinstance(weights, Sequence | np.ndarray):
        raise TypeError(f"weights must be a sequence of numbers, one per scale; got {weights!r}")
    out = []
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, int | float | np.integer | np.floating):
            raise TypeError(f"weights must hold numbers; got {w!r}")
        w = float(w)
        if not (0.0 <= w < math.inf):
            raise ValueError(f"weights must be finite and non-negative; got {w}")
        out.append(w)
    if not out:
        raise ValueError("weights must hold at least one scale's weight")
    return tuple(out)


def _scale_power(xp: Any, value: Any, weight: float, negative: str) -> Any:
    """``v^w`` of one scale's similarity ``v``: ``"relu"``: ``max(v, 0)^w``; ``"shift"``:
    ``((v + 1) / 2)^w``. A base that is not positive gives 0 with a zero gradient (never the
    ``0^(w-1)`` of ``pow``'s derivative); ``w = 0`` gives 1."""
    if weight == 0.0:
        return xp.ones_like(value)
    if negative == "shift":
        value = 0.5 * (value + 1.0)
    positive = value > 0
    base = xp.where(positive, value, xp.ones_like(value))
    return xp.where(positive, xp.pow(base, weight), xp.zeros_like(value))


@register(
    "ms_ssim",
    aliases=("ms_ssim_loss", "multiscale_ssim"),
    family="image",
    kind="image",
    task="image",
    domain="real",
    properties=dict(_PROPERTIES),
    references=(_MS_SSIM, "pytorch_msssim.ms_ssim; monai.metrics.MultiScaleSSIMMetric"),
)
def ms_ssim(
    y_true: Any,
    y_pred: Any,
    *,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    data_range: float = 1.0,
    window: str = "gaussian",
    padding: str = "valid",
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
    negative: str = "relu",
    odd: str = "crop",
    per_channel: bool = True,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""MS-SSIM loss: one minus the multi-scale structural similarity.

    .. math:: \mathrm{MS\text{-}SSIM} = \prod_{j=1}^{M-1} \overline{cs}_j^{\,w_j}
              \cdot \overline{\mathrm{SSIM}}_M^{\,w_M}

    over ``M = len(weights)`` scales, each the previous one 2× average-pooled on every spatial
    axis: the mean contrast-structure term ``cs = (2σ_{xy} + C_2) / (σ_x^2 + σ_y^2 + C_2)`` at
    the finer scales and the mean SSIM at the coarsest (the window and constants as in
    :func:`ssim`). The loss of an image is ``1 - MS-SSIM``, per channel and averaged over the
    channels (``per_channel=True``), or with the channels pooled in each scale's mean
    (``False``). It is 0 exactly when ``y_pred == y_true``. Reference: Wang, Simoncelli &
    Bovik (2003), whose five weights are the default.

    A scale's mean ``cs`` (or SSIM) can be negative, where ``v^w`` is not real. ``negative``
    decides: ``"relu"`` uses ``max(v, 0)`` (pytorch-msssim, MONAI and TensorFlow clamp so);
    ``"shift"`` uses ``(v + 1) / 2``, in [0, 1], which keeps a gradient where relu's is 0.
    A base that is not positive gives the term 0 with a zero gradient, never the infinite
    ``w·0^(w-1)`` of ``pow``'s derivative (the anchors' relu masks it the same way).

    Anchors: pytorch-msssim ``1 - ms_ssim(X, Y)`` is the default with ``odd="zero_pad"`` and
    its ``data_range`` (255 by default there), ``weights``, ``win_size`` and ``win_sigma``
    (``size_average=False`` is ``reduction="none"``); MONAI's ``MultiScaleSSIMMetric`` is
    ``1 -`` this loss with ``per_channel=False`` (``odd="crop"``, the default). Both use
    ``padding="valid"`` and ``negative="relu"``.

    Args:
        y_true: the reference images, ``y_pred``'s shape (or broadcastable to it).
        y_pred: the images: axis 0 the batch, ``axis`` the channels, the other axes spatial.
        win_size: the window's side, a positive odd int.
        sigma: the Gaussian window's standard deviation, in pixels.
        k1: luminance constant, ``C1 = (k1·data_range)²`` (positive).
        k2: contrast constant, ``C2 = (k2·data_range)²`` (positive).
        data_range: the value range of the images.
        window: ``"gaussian"`` or ``"uniform"``.
        padding: the border, as in :func:`ssim` (``"valid"``: every scale's sides must be at
            least ``win_size``).
        weights: the exponent of each scale, finest first (non-negative).
        negative: the rule for a negative scale term: ``"relu"`` or ``"shift"`` (above).
        odd: 2× pooling of an odd side: ``"crop"`` drops the last pixel (MONAI, torch's
            ``avg_pool``); ``"zero_pad"`` pads a zero before the first, counted in the first
            mean (pytorch-msssim); ``"edge_pad"`` repeats the last pixel (TensorFlow's
            ``ssim_multiscale``).
        per_channel: the product over scales per channel, then the channel mean
            (pytorch-msssim, TensorFlow); ``False``: each scale's term is averaged over the
            channels before the product (MONAI).
        axis: the channel axis (channels last by default; ``axis=1`` for torch's NCHW).
        sample_weight: weights of the per-image losses.
        mask: boolean, one entry per image: ``False`` images are left out.
        reduction: the reduction contract over the per-image losses (``"none"``: ``(N,)``).
        normalizer: replaces the denominator of ``"mean"``.

    >>> import numpy as np, losskit as lk
    >>> x = np.linspace(0.0, 1.0, 2 * 48 * 48).reshape(2, 48, 48, 1)
    >>> float(lk.ms_ssim(x, x, win_size=3))
    0.0
    >>> y = x + 0.05 * np.cos(np.arange(48.0))[:, None, None]
    >>> 0.0 < float(lk.ms_ssim(x, y, win_size=3, weights=(0.5, 0.5))) < 1.0
    True
    """
    size, sigma, c1, c2 = _check_common(win_size, sigma, k1, k2, data_range, window, padding)
    weights = _check_weights(weights)
    _validate.check_choice("negative", negative, NEGATIVES)
    _validate.check_choice("odd", odd, ODD_SIZES)
    per_channel = _validate.check_bool("per_channel", per_channel)
    backend, y, x = _images(y_true, y_pred, axis, reduction, normalizer)
    xp = backend.xp
    sizes = _spatial_sizes(backend, x)
    scales = _scale_sizes(sizes, len(weights), odd)
    for level, level_sizes in enumerate(scales):
        _check_sizes(level_sizes, size, padding, f" at scale {level + 1} of {len(weights)}")
    product: Any = None
    for level, (weight, level_sizes) in enumerate(zip(weights, scales, strict=True)):
        if level > 0:
            pools = [_pool_matrix(n, odd) for n in scales[level - 1]]
            x, y = _unstack(xp, _separable(backend, xp.stack([x, y]), pools))
        filters = [_filter_matrix(n, size, sigma, window, padding) for n in level_sizes]
        luminance, contrast, _ = _dissimilarities(
            backend, x, y, filters, c1, c2, padding != "zeros"
        )
        if level == len(weights) - 1:
            contrast = luminance + contrast - luminance * contrast  # 1 - SSIM at the coarsest
        value = 1.0 - _pixel_mean(xp, contrast)  # (N, C)
        if not per_channel:
            value = xp.mean(value, axis=1, keepdims=True)
        term = _scale_power(xp, value, weight, negative)
        product = term if product is None else product * term
    loss = xp.mean(1.0 - product, axis=1)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _scale_sizes(sizes: Sequence[int], levels: int, odd: str) -> list[list[int]]:
    """The spatial sizes of each scale, finest first."""
    out = [list(sizes)]
    for _ in range(levels - 1):
        previous = out[-1]
        out.append([n // 2 if odd == "crop" else (n + 1) // 2 for n in previous])
    return out
