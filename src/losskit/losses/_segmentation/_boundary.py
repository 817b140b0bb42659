"""Boundary-aware losses: the boundary loss (Kervadec et al.) and the Hausdorff
distance-transform loss (Karimi & Salcudean), both on Euclidean distance transforms of masks.

The distance transforms depend on the targets only (a constant of the gradient). An eager
call computes them on the host with SciPy's exact transform, per image and class, and copies
them back to the loss's device (as MONAI does). A traced call (``jax.jit``, ``jax.vmap``,
``tf.function``, ``torch.compile``), where values cannot be read, computes the same exact
transform with array operations on the loss's own backend, so these losses trace like every
other: the squared Euclidean distance is separable, a minimum over one spatial axis at a time
of ``(i - j)² + f(j)`` (the lower envelope Felzenszwalb & Huttenlocher find in linear time).
Written as a broadcast minimum, each pass holds ``(pixels × side)`` entries:
``H·W·max(H, W)`` per image and class (16.8 M for 256 × 256), the memory cost to plan for
when compiling; without SciPy, eager calls take this path too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import _validate
from ..._backend import ArrayAPIBackend
from ..._backend._generic import _to_numpy
from ..._registry import register
from ._common import (
    _as_table,
    _average_classes,
    _check_options,
    _class_weight,
    _finish,
    _finish_classes,
    _foreground,
    _Inputs,
    _prepare,
    _sum_axes,
)

_HARD = "boundary losses"
_PROPERTIES = {"bounded": True, "from_logits": True, "soft_labels": False}


# ---------------------------------------------------------------------- distance transforms
def _squared_distance_to(backend: ArrayAPIBackend, inside: Any, axes: tuple[int, ...]) -> Any:
    """The squared Euclidean distance from every pixel to the nearest ``inside`` pixel of its
    image (``axes``: the spatial axes), exact: one minimum of ``(i - j)² + f(j)`` over each
    axis in turn. Where an image has no ``inside`` pixel the result is at least
    ``1 + Σ side²`` (larger than any real squared distance)."""
    xp = backend.xp
    shape = backend.shape(inside)
    far = 1.0 + sum(float(shape[a]) ** 2 for a in axes)
    f = (1.0 - inside) * far
    for a in axes:
        index = backend.arange(inside, shape[a], dtype=inside.dtype)
        step = xp.expand_dims(index, axis=1) - xp.expand_dims(index, axis=0)
        rows = xp.expand_dims(backend.moveaxis(f, a, -1), axis=-2)  # (..., 1, L_j)
        f = backend.moveaxis(xp.min(rows + step * step, axis=-1), -1, a)
        f = xp.minimum(f, far)
    return f


def _distances(backend: ArrayAPIBackend, fg: Any, axes: tuple[int, ...]) -> tuple[Any, Any, Any]:
    """``(inside, outside, split)`` for a 0/1 mask ``fg``: the distance of each foreground pixel
    to the nearest background pixel (0 on the background), of each background pixel to the
    nearest foreground pixel (0 on the foreground), and whether the mask of that (image,
    class) has both (an empty or full mask has no boundary: its maps are 0, as in MONAI).

    Eager calls compute the transforms on the host with SciPy (:func:`_host_distances`, the
    same exact values, far less memory and time); traced calls, or where SciPy or a host copy
    is not available, with array operations (:func:`_squared_distance_to`)."""
    xp = backend.xp
    count = xp.sum(fg, axis=axes, keepdims=True) if axes else fg
    pixels = math.prod(backend.shape(fg)[a] for a in axes)
    split = (count > 0) & (count < pixels)
    host = _host_distances(backend, fg, axes)
    if host is not None:
        return host[0], host[1], split
    to_foreground = xp.sqrt(_squared_distance_to(backend, fg, axes))
    to_background = xp.sqrt(_squared_distance_to(backend, 1.0 - fg, axes))
    zero = xp.zeros_like(fg)
    inside = xp.where(split & (fg > 0), to_background, zero)
    outside = xp.where(split & (fg == 0), to_foreground, zero)
    return inside, outside, split


def _host_distances(backend: ArrayAPIBackend, fg: Any, axes: tuple[int, ...]) -> Any:
    """``(inside, outside)`` from SciPy's exact Euclidean distance transform, per (image,
    class), on a host copy of the mask, brought back to ``fg``'s backend, device and dtype
    (zero maps where a mask is empty or full). None while tracing (the maps must then be
    part of the graph), without SciPy, or when the array cannot be copied to the host."""
    if not axes or backend.is_tracing(fg) or backend.checks_on_device(fg):
        return None  # on an accelerator, the array form: a host copy would stall it
    try:
        from scipy import ndimage

        mask = np.asarray(_to_numpy(fg)) > 0
    except Exception:  # no SciPy, or a library whose arrays NumPy cannot read
        return None
    spatial = tuple(range(mask.ndim - len(axes), mask.ndim))
    images = np.moveaxis(mask, axes, spatial)
    flat = images.reshape((-1, *images.shape[spatial[0] :]))
    inside, outside = np.zeros(flat.shape), np.zeros(flat.shape)
    for k, m in enumerate(flat):
        if m.any() and not m.all():
            inside[k] = ndimage.distance_transform_edt(m)
            outside[k] = ndimage.distance_transform_edt(~m)
    maps = []
    for field in (inside, outside):
        back = np.moveaxis(field.reshape(images.shape), spatial, axes)
        maps.append(backend.astype(backend.asarray(np.ascontiguousarray(back), fg), fg.dtype))
    return maps


def _spatial_axes(inputs: _Inputs) -> tuple[int, ...]:
    shape = inputs.backend.shape(inputs.y_pred)
    axes = _sum_axes(len(shape), inputs.caxis, per_image=True)
    if any(shape[a] is None for a in axes):
        raise ValueError(
            f"boundary losses need static image sizes (the distance transforms are built from "
            f"them); y_pred has shape {shape}"
        )
    return axes


# ---------------------------------------------------------------------- shared reduction
def _pixel_mean(inputs: _Inputs, term: Any, axes: tuple[int, ...]) -> tuple[Any, Any]:
    """The mean of ``term`` over the valid pixels per (image, class), as an (N, C) table, and
    which entries have a valid pixel (None: all)."""
    backend = inputs.backend
    xp = backend.xp
    if inputs.valid is None:
        total = xp.mean(term, axis=axes) if axes else term
        return _as_table(backend, total, inputs, True), None
    keep = xp.astype(inputs.valid, term.dtype) * xp.ones_like(term)
    total = xp.sum(term * keep, axis=axes) if axes else term * keep
    count = xp.sum(keep, axis=axes) if axes else keep
    some = count > 0
    mean = xp.where(some, total / xp.where(some, count, xp.ones_like(count)), 0.0)
    return _as_table(backend, mean, inputs, True), _as_table(backend, some, inputs, True)


def _reduce_classes(
    inputs: _Inputs,
    table: Any,
    counted: Any,
    class_weight: Any,
    per_class: bool,
    sample_weight: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    backend = inputs.backend
    weight = _class_weight(backend, class_weight, inputs)
    finish = (sample_weight, reduction, normalizer, inputs.y_pred)
    if per_class:
        return _finish_classes(backend, table, counted, weight, True, True, *finish)
    loss, valid = _average_classes(backend, table, counted, weight)
    return _finish(backend, loss, valid, True, *finish)


def _front(
    y_true: Any,
    y_pred: Any,
    mode: str,
    from_logits: bool,
    axis: int,
    mask: Any,
    reduction: str,
    normalizer: Any,
    per_class: Any,
) -> tuple[_Inputs, Any, tuple[int, ...], bool]:
    """Checked inputs (probabilities), the hard target and the spatial axes."""
    _check_options(mode, "keep", True, None)
    per_class = _validate.check_bool("per_class", per_class)
    inputs = _prepare(
        y_true,
        y_pred,
        mode=mode,
        from_logits=from_logits,
        axis=axis,
        ignore_index=None,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )
    return inputs, _foreground(inputs, _HARD), _spatial_axes(inputs), per_class


_ARGS = """
    Args:
        y_true: hard targets: class indices (multiclass, ``y_pred``'s shape without ``axis``)
            or 0/1 maps with ``y_pred``'s shape.
        y_pred: probabilities, or logits with ``from_logits=True`` (softmax over ``axis`` in
            multiclass mode, a sigmoid otherwise). Axis 0 is the batch; every axis but the
            batch and the class axis is spatial (1-d, 2-d or 3-d images; static sizes).
        mode: ``"multiclass"``, ``"multilabel"`` or ``"binary"`` (one map, no class axis).
        from_logits: whether ``y_pred`` holds logits.
        class_weight: one non-negative weight per class for the class average
            (``Σ_c w_c ℓ_c / Σ_c w_c``; zeros leave classes out: MONAI's
            ``include_background=False`` is a 0 for class 0).
        per_class: keep the class axis: the unreduced loss is the (N, C) table (MONAI's
            ``reduction="none"``), reduced over both axes.
        axis: the class axis (channels-last by default; ``axis=1`` for NCHW).
        sample_weight: weights of the per-image losses.
        mask: boolean pixel mask (``y_pred``'s shape without ``axis``, or broadcastable):
            ``False`` pixels leave the pixel mean; the distance maps are those of the whole
            target.
        reduction: the reduction contract over the per-image losses (``(N,)`` unreduced).
        normalizer: replaces the denominator of ``"mean"``."""

_REFERENCES_BOUNDARY = (
    "Kervadec et al. (2019), Boundary Loss for Highly Unbalanced Segmentation",
    "monai.losses.BoundaryLoss",
)


@register(
    "boundary_loss",
    aliases=("boundary", "surface_loss"),
    family="segmentation",
    kind="overlap",
    task="segmentation",
    domain="probability",
    properties={**_PROPERTIES, "convex": True},
    references=_REFERENCES_BOUNDARY,
)
def boundary_loss(
    y_true: Any,
    y_pred: Any,
    *,
    mode: str = "multiclass",
    from_logits: bool = False,
    class_weight: Any = None,
    per_class: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Boundary loss: the predicted probabilities weighted by the target's signed distance.

    .. math:: \ell_c = \frac{1}{|Ω|} \sum_{x \in Ω} p_c(x)\, φ_c(x),\qquad
              φ_c(x) = \begin{cases} 1 - d(x, Ω \setminus G_c) & x \in G_c \\
              d(x, G_c) & x \notin G_c \end{cases}

    with ``G_c`` the target's pixels of class ``c``, ``d`` the Euclidean distance to the nearest
    pixel of a set (unit pixel spacing): inside the object ``φ ≤ 0`` (0 on its border pixels),
    outside it grows with the distance. A class whose target is empty or fills the image has
    ``φ = 0``. The classes are averaged with ``class_weight``; one value per image.
    Kervadec et al. (2019) pair it with a regional loss (Dice) whose weight decreases over
    training: the loss is linear in ``p`` and its minimum is negative, not 0.

    Anchor: MONAI ``BoundaryLoss`` is the default (its ``reduction="none"``: ``per_class=True``;
    ``batch=True`` gives the same mean). The distance transforms run on the loss's backend
    (see the module notes: memory ``H·W·max(H, W)`` per image and class).

    {ARGS}

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[0, 1, 1, 0]])                  # one 1-d image, classes on the last axis
    >>> p = np.eye(2)[y] * 0.8 + 0.1                  # 0.9 on the target class
    >>> # class 1: φ = (1, 0, 0, 1), class 0: φ = (0, 1, 1, 0); 0.1 where φ = 1
    >>> round(float(lk.boundary_loss(y, p)), 6)       # (0.1 + 0.1) / 4 for both classes
    0.05
    >>> y = np.array([[0, 1, 1, 1, 0]])               # class 1: φ = (1, 0, -1, 0, 1)
    >>> round(float(lk.boundary_loss(y, np.eye(2)[y], class_weight=[0, 1])), 6)
    -0.2
    """
    inputs, fg, axes, per_class = _front(
        y_true, y_pred, mode, from_logits, axis, mask, reduction, normalizer, per_class
    )
    inside, outside, split = _distances(inputs.backend, fg, axes)
    # 1 - d on the object, d outside; 0 where the mask has no boundary
    phi = inputs.backend.xp.where(split & (fg > 0), 1.0 - inside, outside)
    table, counted = _pixel_mean(inputs, inputs.y_pred * phi, axes)
    return _reduce_classes(
        inputs, table, counted, class_weight, per_class, sample_weight, reduction, normalizer
    )


boundary_loss.__doc__ = (boundary_loss.__doc__ or "").replace("    {ARGS}", _ARGS.strip("\n"))


@register(
    "hausdorff_dt",
    aliases=("hausdorff_dt_loss", "hausdorff_loss"),
    family="segmentation",
    kind="overlap",
    task="segmentation",
    domain="probability",
    properties={**_PROPERTIES, "convex": False},
    references=(
        "Karimi & Salcudean (2019), Reducing the Hausdorff Distance in Medical Image "
        "Segmentation with Convolutional Neural Networks",
        "monai.losses.HausdorffDTLoss",
    ),
)
def hausdorff_dt(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 2.0,
    mode: str = "multiclass",
    from_logits: bool = False,
    class_weight: Any = None,
    per_class: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Hausdorff distance-transform loss: squared errors weighted by the distances to both
    boundaries.

    .. math:: \ell_c = \frac{1}{|Ω|} \sum_{x \in Ω} \big(p_c(x) - y_c(x)\big)^2
              \big(d_{P_c}(x)^α + d_{G_c}(x)^α\big)

    with ``d_G(x)`` the distance from ``x`` to the boundary of the target mask ``G`` (to the
    nearest background pixel inside ``G``, to the nearest foreground pixel outside) and
    ``d_P`` the same for the predicted mask ``P = {p > 0.5}``; a mask that is empty or fills
    the image has ``d = 0``. Karimi & Salcudean (2019), HD-DT loss, ``α = 2``. ``d_P`` is
    computed from the thresholded prediction and carries no gradient (as in the paper and
    MONAI): the gradient is that of the squared error with the distances held fixed, the
    true derivative wherever no probability sits at 0.5 (there the value jumps).

    Anchor: MONAI ``HausdorffDTLoss(include_background=True)`` is the default (``alpha``; its
    ``reduction="none"``: ``per_class=True``); MONAI's default ``include_background=False`` is
    ``class_weight=[0, 1, ..., 1]``. MONAI computes the distance maps in float32. The
    distance transforms run on the loss's backend (memory ``H·W·max(H, W)`` per image and
    class).

    Args:
        alpha: the power of the distances (> 0).

    {ARGS}

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 1.0, 0.0, 0.0]])          # one 1-d binary image
    >>> p = np.array([[0.9, 0.6, 0.4, 0.0]])          # predicted mask = target mask
    >>> # d = (2, 1, 1, 2) for both masks: mean of (0.01·8, 0.16·2, 0.16·2, 0)
    >>> round(float(lk.hausdorff_dt(y, p, mode="binary")), 6)
    0.18
    """
    alpha = _validate.check_range("alpha", alpha, 0.0, math.inf, low_open=True)
    inputs, fg, axes, per_class = _front(
        y_true, y_pred, mode, from_logits, axis, mask, reduction, normalizer, per_class
    )
    backend = inputs.backend
    xp = backend.xp
    p = inputs.y_pred
    predicted = xp.astype(backend.stop_gradient(p) > 0.5, p.dtype)
    distance = 0.0
    for m in (predicted, fg):
        inside, outside, _ = _distances(backend, m, axes)
        distance = distance + xp.pow(inside + outside, alpha)
    error = (p - fg) * (p - fg)
    table, counted = _pixel_mean(inputs, error * distance, axes)
    return _reduce_classes(
        inputs, table, counted, class_weight, per_class, sample_weight, reduction, normalizer
    )


hausdorff_dt.__doc__ = (hausdorff_dt.__doc__ or "").replace("    {ARGS}", _ARGS.strip("\n"))


# ---------------------------------------------------------------------- soft clDice
def _soft_skeleton(backend: ArrayAPIBackend, x: Any, axes: tuple[int, ...], steps: int) -> Any:
    """Shit et al.'s soft skeleton: ``relu(x - open(x))`` over ``steps + 1`` erosions, each
    new part added where the skeleton is not already. A soft erosion is a minimum over the
    cross of 3-pixel segments, a soft dilation a maximum over the 3 × 3 (× 3) box (the
    backend's pooling); the erosion inside each opening is the next step's eroded image, so
    it is computed once."""
    xp = backend.xp
    skeleton = None
    for _ in range(steps + 1):
        eroded = backend.min_pool(x, axes, "cross")
        delta = xp.maximum(x - backend.max_pool(eroded, axes, "box"), 0.0)
        skeleton = (
            delta if skeleton is None else skeleton + xp.maximum(delta - skeleton * delta, 0.0)
        )
        x = eroded
    return skeleton


@register(
    "soft_cldice",
    aliases=("cldice", "soft_cldice_loss", "cl_dice"),
    family="segmentation",
    kind="overlap",
    task="segmentation",
    domain="probability",
    properties={**_PROPERTIES, "convex": False},
    references=(
        "Shit et al. (2021), clDice - a Novel Topology-Preserving Loss Function for Tubular "
        "Structure Segmentation",
        "monai.losses.SoftclDiceLoss",
    ),
)
def soft_cldice(
    y_true: Any,
    y_pred: Any,
    *,
    iter_: int = 3,
    smooth_nr: float = 1.0,
    smooth_dr: float = 1.0,
    smooth: float = 1e-4,
    mode: str = "multiclass",
    from_logits: bool = False,
    class_weight: Any = None,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Soft clDice loss: the harmonic mean of topology precision and sensitivity, from soft
    skeletons.

    .. math:: T_{prec} = \frac{\sum S_P \cdot Y + s_{nr}}{\sum S_P + s_{dr}},\quad
              T_{sens} = \frac{\sum S_Y \cdot P + s_{nr}}{\sum S_Y + s_{dr}},\quad
              \ell = 1 - \frac{2\, T_{prec} T_{sens}}{T_{prec} + T_{sens} + s}

    with ``S_P``, ``S_Y`` the soft skeletons of the prediction and the target (``iter_ + 1``
    soft erosions by min-pooling over a cross, openings by 3 × 3 max-pooling; Shit et al.
    2021, Alg. 1), the sums over the pixels and the classes of each image (the classes pooled,
    as in the paper's code and MONAI; ``class_weight`` scales each class's terms in the sums,
    0 leaves a class out). One value per image. Combine it with a Dice loss as the paper does:
    ``lk.Loss(lk.dice) * (1 - α) + lk.Loss(lk.soft_cldice) * α`` (MONAI's
    ``SoftDiceclDiceLoss``).

    Anchor: MONAI ``SoftclDiceLoss`` with the same ``iter_``, ``smooth_nr``, ``smooth_dr`` and
    ``smooth`` (the defaults here are MONAI's); its ``include_background=False`` is
    ``class_weight=[0, 1, ..., 1]``. The pooling runs on the loss's backend (the pooling
    kernels of torch, as MONAI, JAX and TensorFlow; shifted slices on NumPy: memory a few
    times the input's).

    Args:
        iter_: the number of extra erosions of the skeleton (>= 0; MONAI's name).
        smooth_nr: added to the numerators of the precision and the sensitivity.
        smooth_dr: added to their denominators.
        smooth: added to the denominator of the harmonic mean (> 0).
        y_true: targets in [0, 1]: class indices (multiclass) or maps with ``y_pred``'s shape
            (soft targets are skeletonised like the prediction).
        y_pred: probabilities, or logits with ``from_logits=True``.
        mode: ``"multiclass"``, ``"multilabel"`` or ``"binary"``.
        from_logits: whether ``y_pred`` holds logits.
        class_weight: one non-negative factor per class of its terms in the sums.
        axis: the class axis (channels-last by default; ``axis=1`` for NCHW).
        sample_weight: weights of the per-image losses.
        mask: boolean pixel mask: ``False`` pixels leave the sums (the skeletons are those of
            the whole images).
        reduction: the reduction contract over the per-image losses (``(N,)`` unreduced).
        normalizer: replaces the denominator of ``"mean"``.

    >>> import numpy as np, losskit as lk
    >>> y = np.zeros((1, 5, 5)); y[0, 2, :] = 1.0      # a horizontal line: its own skeleton
    >>> round(float(lk.soft_cldice(y, y, mode="binary", smooth_nr=0.0, smooth_dr=0.0)), 6)
    5e-05
    """
    _check_options(mode, "keep", True, None)
    steps = _validate.check_int("iter_", iter_)
    if steps < 0:
        raise ValueError(f"iter_ must be a non-negative integer; got {iter_!r}")
    check = _validate.check_range
    nr = check("smooth_nr", smooth_nr, 0.0, math.inf)
    dr = check("smooth_dr", smooth_dr, 0.0, math.inf)
    smooth = check("smooth", smooth, 0.0, math.inf, low_open=True)
    inputs = _prepare(
        y_true,
        y_pred,
        mode=mode,
        from_logits=from_logits,
        axis=axis,
        ignore_index=None,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )
    backend = inputs.backend
    xp = backend.xp
    axes = _spatial_axes(inputs)
    p = inputs.y_pred
    y = _soft_target(inputs)
    keep = xp.ones_like(p)
    valid = None  # an image whose pixels are all masked is left out of the reduction
    if inputs.valid is not None:
        keep = keep * xp.astype(inputs.valid, p.dtype)
        valid = _image_sums(xp, keep, tuple(range(1, len(backend.shape(p))))) > 0
    weight = _class_weight(backend, class_weight, inputs)
    if weight is not None:
        shape = [1] * len(backend.shape(p))
        shape[inputs.caxis] = inputs.num_classes  # type: ignore[index]
        keep = keep * xp.reshape(weight, tuple(shape))
    skeleton_p = _soft_skeleton(backend, p, axes, steps)
    skeleton_y = _soft_skeleton(backend, y, axes, steps)
    per_image = tuple(range(1, len(backend.shape(p))))
    hits_p, mass_p = (
        _image_sums(xp, skeleton_p * y * keep, per_image),
        _image_sums(xp, skeleton_p * keep, per_image),
    )
    hits_y, mass_y = (
        _image_sums(xp, skeleton_y * p * keep, per_image),
        _image_sums(xp, skeleton_y * keep, per_image),
    )
    precision = (hits_p + nr) / (mass_p + dr)
    sensitivity = (hits_y + nr) / (mass_y + dr)
    loss = 1.0 - 2.0 * precision * sensitivity / (precision + sensitivity + smooth)
    return _finish(backend, loss, valid, True, sample_weight, reduction, normalizer, p)


def _image_sums(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``x`` summed over ``axes`` (all but the batch); itself when there are none."""
    return xp.sum(x, axis=axes) if axes else x


def _soft_target(inputs: _Inputs) -> Any:
    """Targets in ``y_pred``'s dtype and shape: one-hot from class indices, else as given."""
    if inputs.labels is not None:
        return _foreground(inputs, _HARD)
    return inputs.target
