"""Overlap losses: Dice, Jaccard, Tversky, focal Tversky and generalized Dice.

The overlap statistics are soft-label correct (Wang et al., "Dice semimetric losses", 2023): the
intersection is ``Σ min(p, y)`` (``Σ p·y`` for hard labels), so every loss is 0 exactly at
``p = y``, for soft targets too. Statistics are summed per (image, class) with
``per_image=True`` or per class over the whole batch with ``per_image=False``; each class gives a
loss, ``empty`` decides what a class whose target is empty contributes, and the classes are
averaged (weighted by ``class_weight``) into one value per image, or one for the batch: that is
the unreduced loss the reduction contract receives.
"""

from __future__ import annotations

import math
from typing import Any

from ... import _validate
from ..._backend import ArrayAPIBackend
from ..._registry import register
from ._common import (
    _ANCHORS,
    _BATCH_OVERLAP,
    _PROPERTIES,
    _WANG,
    W_TYPES,
    _average_classes,
    _check_options,
    _class_weight,
    _finish,
    _finish_classes,
    _prepare,
    _smoothing,
    _statistics,
)


def _tversky_terms(
    backend: ArrayAPIBackend,
    stats: tuple[Any, Any, Any],
    alpha: float,
    beta: float,
    smoothing: tuple[float, float],
    eps: float,
) -> Any:
    """``1 - (I + s_nr) / max(I + α FP + β FN + s_dr, eps)`` per (image, class), with
    ``FP = Σp - I`` and ``FN = Σy - I``."""
    xp = backend.xp
    intersection, prediction_mass, target_mass = stats
    false_pos = prediction_mass - intersection
    false_neg = target_mass - intersection
    denominator = intersection + alpha * false_pos + beta * false_neg + smoothing[1]
    return 1.0 - (intersection + smoothing[0]) / xp.maximum(denominator, eps)


def _apply_empty(
    backend: ArrayAPIBackend, loss: Any, target_mass: Any, empty: str
) -> tuple[Any, Any]:
    """The ``empty`` policy for classes whose target is empty: ``(loss, counted)``."""
    xp = backend.xp
    if empty == "keep":
        return loss, None
    absent = target_mass == 0
    if empty == "ignore":
        return loss, ~absent
    fill = xp.zeros_like(loss) if empty == "zero" else xp.ones_like(loss)
    return xp.where(absent, fill, loss), None


def _overlap(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    smooth_scale: float = 1.0,
    mode: str,
    from_logits: bool,
    smooth: float,
    smooth_nr: float | None,
    smooth_dr: float | None,
    squared_pred: bool,
    eps: float,
    per_image: bool,
    empty: str,
    ignore_index: int | None,
    class_weight: Any,
    normalize_class_weight: bool,
    per_class: bool,
    axis: int,
    sample_weight: Any,
    mask: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    """The Tversky family: Dice (α = β = ½, ``smooth_scale = ½``), Jaccard (α = β = 1),
    Tversky, and the focal Tversky power ``gamma``."""
    _check_options(mode, empty, per_image, ignore_index)
    nr, dr = _smoothing(smooth, smooth_nr, smooth_dr)
    eps = _validate.check_range("eps", eps, 0.0, math.inf, low_open=True)
    squared_pred = _validate.check_bool("squared_pred", squared_pred)
    normalize = _validate.check_bool("normalize_class_weight", normalize_class_weight)
    per_class = _validate.check_bool("per_class", per_class)
    inputs = _prepare(
        y_true,
        y_pred,
        mode=mode,
        from_logits=from_logits,
        axis=axis,
        ignore_index=ignore_index,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
        defer_activation=True,
    )
    backend = inputs.backend
    xp = backend.xp
    weight = _class_weight(backend, class_weight, inputs)
    stats = _statistics(inputs, per_image, squared=squared_pred)
    smoothing = (smooth_scale * nr, smooth_scale * dr)
    loss = _tversky_terms(backend, stats, alpha, beta, smoothing, eps)
    if gamma != 1.0:
        positive = loss > 0
        base = xp.where(positive, loss, xp.ones_like(loss))
        loss = xp.where(positive, xp.pow(base, gamma), xp.zeros_like(loss))
    loss, counted = _apply_empty(backend, loss, stats[2], empty)
    finish = (sample_weight, reduction, normalizer, inputs.y_pred)
    if per_class:
        return _finish_classes(backend, loss, counted, weight, normalize, per_image, *finish)
    loss, valid = _average_classes(backend, loss, counted, weight, normalize)
    return _finish(backend, loss, valid, per_image, *finish)


_COMMON_ARGS = """
    Args:
        y_true: ``"multiclass"``: integer class indices with ``y_pred``'s shape without
            ``axis`` (a size-1 axis there is accepted), or one-hot/soft targets with
            ``y_pred``'s shape; ``"multilabel"``: targets in [0, 1] with ``y_pred``'s shape;
            ``"binary"``: targets in [0, 1] broadcastable to ``y_pred`` (``(N, H, W)`` is
            accepted against ``(N, 1, H, W)`` when ``axis`` names the size-1 axis).
        y_pred: probabilities, or logits with ``from_logits=True`` (softmax over ``axis`` in
            multiclass mode, a sigmoid otherwise). Axis 0 is the batch.
        mode: ``"binary"`` (one foreground map, no class axis), ``"multiclass"`` (exclusive
            classes on ``axis``) or ``"multilabel"`` (independent classes on ``axis``).
        from_logits: whether ``y_pred`` holds logits.
        smooth: additive smoothing of the score's numerator and denominator.
        smooth_nr: smoothing of the numerator alone (None: ``smooth``), MONAI's ``smooth_nr``.
        smooth_dr: smoothing of the denominator alone (None: ``smooth``), MONAI's
            ``smooth_dr``.
        eps: lower bound of the score's denominator (smp's ``eps``, a clamp, not an addend).
        per_image: statistics per (image, class) and one loss per image (MONAI's default), or
            per class over the whole batch and one loss for it (smp's default, ``False``).
        empty: what a class whose target is empty (no target mass on the valid pixels of the
            image, or of the batch) contributes: ``"ignore"`` (left out of the class average,
            as kornia's Tversky and macro Dice do), ``"zero"`` (loss 0 but counted: smp),
            ``"one"`` (loss 1: Keras's ``dice``, whose score is 0 for an empty target), or
            ``"keep"`` (the formula's own value: with ``smooth > 0`` an empty prediction scores
            1 and false positives cost, as in MONAI; with ``smooth = 0`` it equals ``"one"``).
            An image with no counted class is left out of the reduction (kornia counts it as
            1). Only ``"ignore"`` and ``"zero"`` give 0 for a perfect prediction of an empty
            class with ``smooth = 0``.
        ignore_index: a target value whose pixels (multiclass indices) or entries (dense
            targets) are removed from every sum: intersections and both masses.
        class_weight: one non-negative weight per class for the class average (the loss is
            ``Σ_c w_c ℓ_c / Σ_c w_c`` over the counted classes; zeros select classes, like
            smp's ``classes``).
        per_class: keep the class axis: the unreduced loss is the (N, C) table of class
            losses with ``per_image=True``, (C,) otherwise, and the reduction runs over it
            (``class_weight`` then weighs the entries of the reduction; classes that
            ``empty="ignore"`` leaves out are excluded entries, 0 in ``"none"``). This is
            MONAI's ``reduction="none"`` (its shape with the pixel axes dropped).
        axis: the class axis (channels-last by default; ``axis=1`` for torch's NCHW).
        sample_weight: weights of the per-image losses (``per_image=True``); a scalar otherwise.
        mask: boolean pixel mask, shape of ``y_pred`` without ``axis`` (or ``y_pred``'s own
            shape, or broadcastable to it): ``False`` pixels are removed like ``ignore_index``.
        reduction: the reduction contract over the per-image losses: ``"none"`` returns shape
            ``(N,)`` with ``per_image=True`` and a 0-d array otherwise (``per_class``: with
            the class axis kept).
        normalizer: replaces the denominator of ``"mean"``."""

_TVERSKY_ARGS = """
        squared_pred: squared terms in the denominator (V-Net's form, MONAI's
            ``squared_pred``): the statistics become ``I = Σ p·y``, ``Σ p²`` and ``Σ y²``
            (still 0 exactly at ``p = y``: the Dice loss is ``Σ(p - y)² / (Σp² + Σy²)``).
        normalize_class_weight: ``True``: the class average is ``Σ_c w_c ℓ_c / Σ_c w_c``;
            ``False``: ``Σ_c w_c ℓ_c / C`` over the ``C`` counted classes (MONAI's ``weight``:
            the weights scale the class losses; with ``per_class`` they multiply the
            unreduced values instead of weighing the reduction)."""


def _doc(text: str, tversky: bool = True) -> str:
    """Insert the arguments every overlap loss shares (at the docstring's indentation), and
    those of the Tversky family (``tversky``)."""
    args = _COMMON_ARGS.strip("\n") + (_TVERSKY_ARGS.rstrip("\n") if tversky else "")
    return text.replace("    {ARGS}", args)


# ---------------------------------------------------------------------- the Tversky family
@register(
    "dice",
    aliases=("dice_loss", "soft_dice", "soft_dice_loss", "sorensen_dice"),
    family="segmentation",
    contract_exceptions=_BATCH_OVERLAP,
    kind="overlap",
    task="segmentation",
    domain="probability",
    properties=dict(_PROPERTIES),
    references=(
        "Milletari et al. (2016), V-Net: Fully Convolutional Neural Networks for Volumetric "
        "Medical Image Segmentation",
        _WANG,
        _ANCHORS,
    ),
)
def dice(
    y_true: Any,
    y_pred: Any,
    *,
    mode: str = "multiclass",
    from_logits: bool = False,
    smooth: float = 0.0,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    squared_pred: bool = False,
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
    normalize_class_weight: bool = True,
    per_class: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Soft Dice loss, per class, averaged over the classes.

    .. math:: \ell_c = 1 - \frac{2 I_c + s}{\max(\sum p_c + \sum y_c + s,\ 2ε)},\qquad
              I_c = \sum \min(p_c, y_c)

    ``min(p, y)`` is ``p·y`` for hard labels and keeps the minimum at ``p = y`` for soft
    targets (Wang et al. 2023; the product form is minimised at ``p = 1`` for ``y = ½``).
    Reference: Milletari et al. (2016).

    Anchors: smp ``DiceLoss`` is ``per_image=False, empty="zero"`` with ``smooth = 2·s_smp``
    (smp smooths ``I`` and half the masses) and ``log_loss=False``; MONAI ``DiceLoss`` is
    ``per_image=True`` (``batch=True``: ``False``), ``empty="keep"`` with its ``smooth_nr``
    and ``smooth_dr`` (1e-5 each by default) and ``squared_pred``; its ``weight`` is
    ``class_weight`` with ``normalize_class_weight=False``; its ``reduction="none"`` is
    ``per_class=True`` (shape ``(N, C)``; MONAI appends size-1 pixel axes) and its ``"sum"``
    is ``per_class=True, reduction="sum"``; kornia ``dice_loss(average="macro")`` is
    ``per_image=True, empty="ignore"`` from logits (its ``eps`` is added, ours clamps).

    {ARGS}

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 1.0, 0.0, 0.0]])
    >>> p = np.array([[0.9, 0.6, 0.2, 0.0]])
    >>> round(float(lk.dice(y, p, mode="binary")), 6)  # 1 - 2·1.5 / (1.7 + 2)
    0.189189
    """
    return _overlap(
        y_true,
        y_pred,
        alpha=0.5,
        beta=0.5,
        gamma=1.0,
        mode=mode,
        from_logits=from_logits,
        smooth_scale=0.5,
        smooth=smooth,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        squared_pred=squared_pred,
        eps=eps,
        per_image=per_image,
        empty=empty,
        ignore_index=ignore_index,
        class_weight=class_weight,
        normalize_class_weight=normalize_class_weight,
        per_class=per_class,
        axis=axis,
        sample_weight=sample_weight,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )


dice.__doc__ = _doc(dice.__doc__ or "")


@register(
    "jaccard",
    aliases=("iou", "jaccard_loss", "iou_loss", "soft_jaccard", "soft_iou"),
    family="segmentation",
    contract_exceptions=_BATCH_OVERLAP,
    kind="overlap",
    task="segmentation",
    domain="probability",
    properties=dict(_PROPERTIES),
    references=(
        "Rahman & Wang (2016), Optimizing Intersection-over-Union in Deep Neural Networks for "
        "Image Segmentation",
        _WANG,
        _ANCHORS,
    ),
)
def jaccard(
    y_true: Any,
    y_pred: Any,
    *,
    mode: str = "multiclass",
    from_logits: bool = False,
    smooth: float = 0.0,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    squared_pred: bool = False,
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
    normalize_class_weight: bool = True,
    per_class: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Soft Jaccard (IoU) loss, per class, averaged over the classes.

    .. math:: \ell_c = 1 - \frac{I_c + s}{\max(\sum p_c + \sum y_c - I_c + s,\ ε)},\qquad
              I_c = \sum \min(p_c, y_c)

    Soft-label correct like :func:`dice` (minimum at ``p = y``).
    Reference: Rahman & Wang (2016).

    Anchors: smp ``JaccardLoss`` is ``per_image=False, empty="zero"`` with the same ``smooth``;
    MONAI ``DiceLoss(jaccard=True)`` is ``per_image=True, empty="keep"`` with half its
    smoothing, ``smooth_nr = nr / 2, smooth_dr = dr / 2`` (MONAI doubles numerator and
    denominator), and its other options as for :func:`dice`.

    {ARGS}

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 1.0, 0.0, 0.0]])
    >>> p = np.array([[0.9, 0.6, 0.2, 0.0]])
    >>> round(float(lk.jaccard(y, p, mode="binary")), 6)  # 1 - 1.5 / (1.7 + 2 - 1.5)
    0.318182
    """
    return _overlap(
        y_true,
        y_pred,
        alpha=1.0,
        beta=1.0,
        gamma=1.0,
        mode=mode,
        from_logits=from_logits,
        smooth=smooth,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        squared_pred=squared_pred,
        eps=eps,
        per_image=per_image,
        empty=empty,
        ignore_index=ignore_index,
        class_weight=class_weight,
        normalize_class_weight=normalize_class_weight,
        per_class=per_class,
        axis=axis,
        sample_weight=sample_weight,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )


jaccard.__doc__ = _doc(jaccard.__doc__ or "")


def _check_alpha_beta(alpha: Any, beta: Any) -> tuple[float, float]:
    alpha = _validate.check_range("alpha", alpha, 0.0, math.inf)
    beta = _validate.check_range("beta", beta, 0.0, math.inf)
    if alpha == 0.0 and beta == 0.0:
        raise ValueError("alpha and beta cannot both be 0 (the score would always be 1)")
    return alpha, beta


@register(
    "tversky",
    aliases=("tversky_loss",),
    family="segmentation",
    contract_exceptions=_BATCH_OVERLAP,
    kind="overlap",
    task="segmentation",
    domain="probability",
    properties=dict(_PROPERTIES),
    references=(
        "Salehi et al. (2017), Tversky Loss Function for Image Segmentation Using 3D Fully "
        "Convolutional Deep Networks",
        _WANG,
        _ANCHORS,
    ),
)
def tversky(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    mode: str = "multiclass",
    from_logits: bool = False,
    smooth: float = 0.0,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    squared_pred: bool = False,
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
    normalize_class_weight: bool = True,
    per_class: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Tversky loss: false positives weighted by ``alpha``, false negatives by ``beta``.

    .. math:: \ell_c = 1 - \frac{I_c + s}{\max(I_c + α\,FP_c + β\,FN_c + s,\ ε)},\quad
              FP_c = \sum p_c - I_c,\ FN_c = \sum y_c - I_c,\ I_c = \sum \min(p_c, y_c)

    ``FP = Σ relu(p - y)`` and ``FN = Σ relu(y - p)``: both vanish only at ``p = y``.
    ``alpha = beta = ½`` is :func:`dice` with half its ``smooth``; ``alpha = beta = 1`` is
    :func:`jaccard`. Reference: Salehi et al. (2017), whose α weights false positives (as smp,
    MONAI and kornia do; Keras's ``tversky`` applies α to ``Σ y (1 - p)``, the false negatives).

    Anchors: smp ``TverskyLoss`` (``gamma=1``) is ``per_image=False, empty="zero"``; MONAI
    ``TverskyLoss`` is ``per_image=True, empty="keep"`` with its ``smooth_nr`` and
    ``smooth_dr``, its ``reduction="none"`` ``per_class=True``, and its
    ``include_background=False`` ``class_weight=[0, 1, ..., 1]``;
    kornia ``tversky_loss`` is ``per_image=True, empty="ignore"`` from logits (eps added).

    Args:
        alpha: weight of the false positives (>= 0).
        beta: weight of the false negatives (>= 0; not both 0).

    {ARGS}

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 1.0, 0.0, 0.0]])
    >>> p = np.array([[0.9, 0.6, 0.2, 0.0]])
    >>> # I = 1.5, FP = 0.2, FN = 0.5: 1 - 1.5 / (1.5 + 0.3·0.2 + 0.7·0.5)
    >>> round(float(lk.tversky(y, p, alpha=0.3, beta=0.7, mode="binary")), 6)
    0.21466
    >>> # MONAI's TverskyLoss(include_background=False, to_onehot_y=True, smooth_nr=0,
    >>> # smooth_dr=1e-3) on (N, C, P) probabilities: 1 - 1 / (1 + 1e-3) for each image
    >>> p = np.array([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]])
    >>> labels = np.array([[0, 0, 1], [0, 1, 0]])
    >>> monai = dict(per_image=True, empty="keep", smooth_nr=0.0, smooth_dr=1e-3)
    >>> round(float(lk.tversky(labels, p, axis=1, class_weight=[0, 1], **monai)), 6)
    0.000999
    """
    alpha, beta = _check_alpha_beta(alpha, beta)
    return _overlap(
        y_true,
        y_pred,
        alpha=alpha,
        beta=beta,
        gamma=1.0,
        mode=mode,
        from_logits=from_logits,
        smooth=smooth,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        squared_pred=squared_pred,
        eps=eps,
        per_image=per_image,
        empty=empty,
        ignore_index=ignore_index,
        class_weight=class_weight,
        normalize_class_weight=normalize_class_weight,
        per_class=per_class,
        axis=axis,
        sample_weight=sample_weight,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )


tversky.__doc__ = _doc(tversky.__doc__ or "")


@register(
    "focal_tversky",
    aliases=("focal_tversky_loss",),
    family="segmentation",
    contract_exceptions=_BATCH_OVERLAP,
    kind="overlap",
    task="segmentation",
    domain="probability",
    properties=dict(_PROPERTIES),
    references=(
        "Abraham & Khan (2019), A Novel Focal Tversky Loss Function with Improved Attention "
        "U-Net for Lesion Segmentation",
        _WANG,
        "segmentation_models_pytorch.losses.TverskyLoss(gamma=...)",
    ),
)
def focal_tversky(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    mode: str = "multiclass",
    from_logits: bool = False,
    smooth: float = 0.0,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    squared_pred: bool = False,
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
    normalize_class_weight: bool = True,
    per_class: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Focal Tversky loss: each class's Tversky loss raised to the power ``gamma``.

    .. math:: \ell_c = \left(1 - \mathrm{TI}_c\right)^{γ}

    with ``TI_c`` the score of :func:`tversky` (α on false positives, β on false negatives).
    Abraham & Khan (2019) write the exponent as ``1/γ`` with ``γ = 4/3`` and weight false
    negatives by their α = 0.7; the defaults here (``alpha=0.3, beta=0.7, gamma=0.75``) are the
    same loss. ``gamma`` is the exponent itself, as in smp's ``TverskyLoss(gamma=...)``; smp
    applies it to the class *average* (``mean_c(ℓ_c)^γ``), losskit per class as in the paper,
    so they agree with one class (binary mode). ``gamma = 1`` is :func:`tversky`. A class with
    loss 0 has loss 0 and gradient 0 (no infinite slope of ``x^γ`` at 0 when ``γ < 1``).

    Args:
        alpha: weight of the false positives (>= 0).
        beta: weight of the false negatives (>= 0; not both 0).
        gamma: the exponent (> 0).

    {ARGS}

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 1.0, 0.0, 0.0]])
    >>> p = np.array([[0.9, 0.6, 0.2, 0.0]])
    >>> round(float(lk.focal_tversky(y, p, mode="binary")), 6)  # 0.21466 ** 0.75
    0.315365
    """
    alpha, beta = _check_alpha_beta(alpha, beta)
    gamma = _validate.check_range("gamma", gamma, 0.0, math.inf, low_open=True)
    return _overlap(
        y_true,
        y_pred,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        mode=mode,
        from_logits=from_logits,
        smooth=smooth,
        smooth_nr=smooth_nr,
        smooth_dr=smooth_dr,
        squared_pred=squared_pred,
        eps=eps,
        per_image=per_image,
        empty=empty,
        ignore_index=ignore_index,
        class_weight=class_weight,
        normalize_class_weight=normalize_class_weight,
        per_class=per_class,
        axis=axis,
        sample_weight=sample_weight,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
    )


focal_tversky.__doc__ = _doc(focal_tversky.__doc__ or "")


# ---------------------------------------------------------------------- generalized Dice
@register(
    "generalized_dice",
    aliases=("generalized_dice_loss", "gdl"),
    family="segmentation",
    contract_exceptions=_BATCH_OVERLAP,
    kind="overlap",
    task="segmentation",
    domain="probability",
    properties=dict(_PROPERTIES),
    references=(
        "Sudre et al. (2017), Generalised Dice Overlap as a Deep Learning Loss Function for "
        "Highly Unbalanced Segmentations",
        _WANG,
        "monai.losses.GeneralizedDiceLoss",
    ),
)
def generalized_dice(
    y_true: Any,
    y_pred: Any,
    *,
    w_type: str = "square",
    mode: str = "multiclass",
    from_logits: bool = False,
    smooth: float = 0.0,
    smooth_nr: float | None = None,
    smooth_dr: float | None = None,
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
    per_class: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Generalized Dice loss: one Dice over all classes, each weighted by its inverse volume.

    .. math:: \ell = 1 - \frac{2 \sum_c w_c I_c + s}{\max(\sum_c w_c (\sum p_c + \sum y_c)
              + s,\ ε)},\qquad w_c = \frac{1}{(\sum y_c)^2}

    (``w_type="simple"``: ``1/Σy_c``; ``"uniform"``: 1), times ``class_weight`` when given.
    A class with an empty target would have an infinite weight; it gets the largest weight of
    the image's non-empty classes instead (MONAI's rule). The weights are computed relative to
    that largest one (``(min_c Σy_c / Σy_c)^2``, with ``s`` scaled alike), which is the same
    loss without overflow for tiny volumes. ``empty`` applies to an image (or batch) whose
    target is empty in every class: ``"zero"`` (MONAI), ``"one"``, ``"ignore"`` (left out of
    the reduction), or ``"keep"`` (uniform weights: false positives cost
    ``Σp / (Σp + s)``). Reference: Sudre et al. (2017).

    Anchor: MONAI ``GeneralizedDiceLoss`` is ``per_image=True`` (``batch=True``: ``False``),
    ``empty="zero"`` with its ``smooth_nr`` and ``smooth_dr`` (both 1e-5 by default); its
    ``reduction="none"`` is ``per_class=True``, whose class axis has size 1 here (the classes
    are pooled into one score). ``squared_pred`` and the class-average options of the Tversky
    family do not apply (MONAI has neither for this loss).

    Args:
        w_type: ``"square"`` (Sudre et al.), ``"simple"`` or ``"uniform"`` (MONAI's names).

    {ARGS}

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[0, 0, 0, 1]])                 # class 0 on 3 pixels, class 1 on 1
    >>> p = np.array([[[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.5, 0.5]]])
    >>> # w = (1/9, 1): 1 - 2(2.3/9 + 0.5) / ((2.8 + 3)/9 + (1.2 + 1))
    >>> round(float(lk.generalized_dice(y, p)), 6)
    0.46875
    """
    _check_options(mode, empty, per_image, ignore_index)
    _validate.check_choice("w_type", w_type, W_TYPES)
    nr, dr = _smoothing(smooth, smooth_nr, smooth_dr)
    eps = _validate.check_range("eps", eps, 0.0, math.inf, low_open=True)
    per_class = _validate.check_bool("per_class", per_class)
    inputs = _prepare(
        y_true,
        y_pred,
        mode=mode,
        from_logits=from_logits,
        axis=axis,
        ignore_index=ignore_index,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
        defer_activation=True,
    )
    backend = inputs.backend
    xp = backend.xp
    weight = _class_weight(backend, class_weight, inputs)
    intersection, prediction_mass, target_mass = _statistics(inputs, per_image)
    present = target_mass > 0
    # a class_weight of 0 removes its class, as slicing it off would: it sets neither the
    # volume m below nor whether the image counts as empty
    counted = present if weight is None else present & (weight > 0)
    any_present = xp.any(counted, axis=-1, keepdims=True)
    one = xp.ones_like(target_mass)
    power = {"square": 2.0, "simple": 1.0, "uniform": 0.0}[w_type]
    if power:
        # relative weights (m / Σy_c)^k in (0, 1], m the smallest non-empty volume of a class
        # that counts; empty classes get the largest, 1; the smoothing is scaled by m^k like
        # the weights
        big = xp.where(counted, target_mass, xp.full_like(target_mass, math.inf))
        smallest = xp.min(big, axis=-1, keepdims=True)
        smallest = xp.where(any_present, smallest, xp.ones_like(smallest))
        ratio = smallest / xp.where(present, target_mass, one)
        relative = xp.where(present, ratio if power == 1.0 else ratio * ratio, one)
        scale = smallest if power == 1.0 else smallest * smallest
    else:
        relative, scale = one, xp.ones_like(target_mass[..., :1])
    if weight is not None:
        relative = relative * weight
    numerator = 2.0 * xp.sum(relative * intersection, axis=-1) + nr * scale[..., 0]
    denominator = xp.sum(relative * (prediction_mass + target_mass), axis=-1) + dr * scale[..., 0]
    bounded = xp.maximum(denominator, eps * scale[..., 0])  # eps·m^k may underflow to 0
    positive = bounded > 0
    loss = xp.where(positive, 1.0 - numerator / xp.where(positive, bounded, 1.0), 0.0)
    any_present = any_present[..., 0]
    valid = None
    if empty == "ignore":
        valid = any_present
    elif empty != "keep":
        fill = xp.zeros_like(loss) if empty == "zero" else xp.ones_like(loss)
        loss = xp.where(any_present, loss, fill)
    if weight is not None:
        some = xp.sum(weight) > 0
        valid = some if valid is None else valid & some
    finish = (sample_weight, reduction, normalizer, inputs.y_pred)
    if per_class:  # one score over the classes: a class axis of size 1, as MONAI's
        counted = None if valid is None else valid[..., None]
        return _finish_classes(backend, loss[..., None], counted, None, True, per_image, *finish)
    return _finish(backend, loss, valid, per_image, *finish)


generalized_dice.__doc__ = _doc(generalized_dice.__doc__ or "", tversky=False)
