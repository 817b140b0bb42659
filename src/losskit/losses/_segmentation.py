"""Overlap losses for segmentation: Dice, Jaccard, Tversky and Lovász.

Every loss here shares one front end (:func:`_prepare`): the ``mode`` decides how ``y_pred`` is
read (``"binary"``: one foreground map, no class axis; ``"multiclass"``: exclusive classes on
``axis``, softmax for logits; ``"multilabel"``: independent classes on ``axis``, sigmoid for
logits), ``ignore_index`` and the per-pixel ``mask`` remove pixels from every sum, and axis 0 is
the batch.

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
from dataclasses import dataclass, replace
from typing import Any

from .. import _inputs, _validate
from .._backend import ArrayAPIBackend
from .._reduce import check_reduction, expand_to, reduce_loss
from .._registry import register

MODES = ("binary", "multiclass", "multilabel")
EMPTY = ("ignore", "zero", "one", "keep")
W_TYPES = ("square", "simple", "uniform")

_WANG = "Wang et al. (2023), Dice Semimetric Losses: Optimizing the Dice Score with Soft Labels"
_ANCHORS = "segmentation_models_pytorch.losses; monai.losses; kornia.losses"
_PROPERTIES = {"bounded": True, "convex": False, "from_logits": True, "soft_labels": True}
#: Declared in the registry: with the default per_image=False a split batch changes the loss.
_BATCH_OVERLAP = {
    "split_batch": "with per_image=False (the default) the overlap is counted over the whole "
    "batch, so the parts of a split batch do not add up to it; per_image=True scores each image "
    "on its own and splits exactly",
}


# ---------------------------------------------------------------------- inputs
@dataclass
class _Inputs:
    """A segmentation call's arrays, on one backend, in ``y_pred``'s layout.

    ``labels`` (multiclass index targets) keeps a size-1 axis at ``caxis``; ``target`` (dense
    targets) has ``y_pred``'s shape; ``valid`` (None: every entry) broadcasts to ``y_pred``.
    ``caxis`` is None in binary mode, where the whole map is one class. ``activation``
    (``"softmax"``, ``"sigmoid"`` or None) is still to be applied to ``y_pred`` (logits) when
    :func:`_prepare` was asked to defer it.
    """

    backend: ArrayAPIBackend
    y_pred: Any
    labels: Any
    target: Any
    valid: Any
    caxis: int | None
    num_classes: int
    checking: bool
    activation: str | None = None
    deferred: bool = False  # value checks of labels and y_pred left to _statistics


def _check_options(mode: Any, empty: Any, per_image: Any, ignore_index: Any) -> None:
    _validate.check_choice("mode", mode, MODES)
    _validate.check_choice("empty", empty, EMPTY)
    _validate.check_bool("per_image", per_image)
    _validate.check_int("ignore_index", ignore_index, optional=True)


def _prepare(
    y_true: Any,
    y_pred: Any,
    *,
    mode: str,
    from_logits: bool,
    axis: int,
    ignore_index: int | None,
    mask: Any,
    reduction: str,
    normalizer: Any,
    logits_only: bool = False,
    defer_activation: bool = False,
) -> _Inputs:
    """Convert and check the inputs; ``y_pred`` becomes probabilities unless ``logits_only``,
    or unless ``defer_activation``, which records the activation in ``activation`` instead
    (:func:`_statistics` applies it, fused with the sums on backends that have such a path).

    With ``defer_activation``, logits and class indices (no ``ignore_index``, no ``mask``),
    the value checks of the labels' range and of NaN logits are deferred to
    :func:`_statistics`, which reads them off the per-class sums in one host read where a
    fused path computed those (a NaN logit makes its pixel's probabilities NaN; a label out
    of range is counted in no class), and runs the full checks otherwise or on a doubt."""
    from_logits = _validate.check_bool("from_logits", from_logits)
    axis = _validate.check_int("axis", axis)
    check_reduction(reduction, normalizer)
    backend, y_pred, eps = _inputs.prediction(y_pred)
    xp = backend.xp
    shape = backend.shape(y_pred)
    ndim = len(shape)
    if ndim == 0:
        raise ValueError("y_pred must have a batch axis (axis 0); got a 0-d array")
    if any(d == 0 for d in shape[1:]):
        raise ValueError(
            f"y_pred has an empty axis after the batch axis (shape {shape}); overlap losses need "
            f"pixels and classes (only the batch may be empty)"
        )
    checking = _validate.checking_values(backend, y_pred)
    caxis: int | None = None
    num_classes = 1
    if mode != "binary":
        caxis = _validate.check_axis(axis, ndim)
        if caxis == 0:
            raise ValueError(
                f"axis={axis} is the batch axis; in mode={mode!r} the class axis must be another "
                f"axis of y_pred (shape {shape})"
            )
        num_classes = shape[caxis]
        if num_classes is None:
            raise ValueError("the class axis of y_pred must have a static size")
        if mode == "multiclass" and num_classes < 2:
            raise ValueError(
                f"mode='multiclass' needs at least 2 classes on axis {axis}; y_pred has shape "
                f"{shape}. Use mode='binary' for a single foreground channel"
            )
    labels = target = None
    deferred = False
    if mode == "multiclass" and _is_index_target(backend, y_true, y_pred, caxis):
        labels = _inputs.sparse_labels(backend, y_true, y_pred, caxis, checking)  # type: ignore[arg-type]
        valid = None if ignore_index is None else labels != ignore_index
        deferred = checking and defer_activation and from_logits and valid is None and mask is None
        if checking and not deferred:
            _validate.check_labels(backend, labels, num_classes, valid)
        labels = xp.expand_dims(labels, axis=caxis)
        if valid is not None:
            valid = xp.expand_dims(valid, axis=caxis)
    else:
        target = _dense_target(backend, y_true, y_pred, caxis, mode, axis)
        valid = None if ignore_index is None else target != float(ignore_index)
        if checking:
            _validate.check_no_nan(backend, target, "y_true")
            kept = target if valid is None else xp.where(valid, target, xp.zeros_like(target))
            _validate.check_unit_interval(backend, kept, "y_true (targets)")
    if mask is not None:
        pixels = _mask_argument(backend, mask, y_pred, caxis, checking)
        valid = pixels if valid is None else valid & pixels
    if checking and not deferred:
        _validate.check_no_nan(backend, y_pred, "y_pred")
    if checking and not from_logits and not logits_only:
        _validate.check_probabilities(backend, y_pred)
        if mode == "multiclass":
            _validate.check_distribution(backend, y_pred, max(64, num_classes) * eps, caxis)
    inputs = _Inputs(backend, y_pred, labels, target, valid, caxis, num_classes, checking)
    inputs.deferred = deferred
    if from_logits and not logits_only:
        inputs.activation = "softmax" if mode == "multiclass" else "sigmoid"
        if not defer_activation:
            inputs = _activated(inputs)
    return inputs


def _activated(inputs: _Inputs) -> _Inputs:
    """``inputs`` with its pending activation applied to ``y_pred``."""
    if inputs.activation is None:
        return inputs
    backend = inputs.backend
    if inputs.activation == "softmax":
        y_pred = backend.softmax(inputs.y_pred, axis=inputs.caxis)  # type: ignore[arg-type]
    else:
        y_pred = backend.sigmoid(inputs.y_pred)
    return replace(inputs, y_pred=y_pred, activation=None)


def _is_index_target(backend: ArrayAPIBackend, y_true: Any, y_pred: Any, caxis: int | None) -> bool:
    """Multiclass targets are class indices unless they have ``y_pred``'s shape."""
    shape = tuple(getattr(y_true, "shape", None) or _shape_of_list(y_true))
    pred = backend.shape(y_pred)
    if len(shape) == len(pred) - 1:
        return True
    return len(shape) == len(pred) and shape[caxis] == 1  # type: ignore[index]


def _shape_of_list(x: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(x, list | tuple):
        shape.append(len(x))
        x = x[0] if x else None
    return tuple(shape)


def _dense_target(
    backend: ArrayAPIBackend, y_true: Any, y_pred: Any, caxis: int | None, mode: str, axis: int
) -> Any:
    """Float targets with ``y_pred``'s shape."""
    y_true = _inputs.targets(backend, y_true, y_pred)
    pred = backend.shape(y_pred)
    shape = backend.shape(y_true)
    if mode == "binary" and len(shape) == len(pred) - 1 and len(pred) > 1:
        channel = _validate.check_axis(axis, len(pred))
        if pred[channel] == 1 and channel > 0:  # (N, H, W) against (N, 1, H, W)
            y_true = backend.xp.expand_dims(y_true, axis=channel)
            shape = backend.shape(y_true)
    if mode != "binary" and len(shape) == len(pred) and shape[caxis] != pred[caxis]:  # type: ignore[index]
        raise ValueError(
            f"y_true of shape {shape} does not match y_pred of shape {pred}: in "
            f"mode={mode!r} dense targets need one channel per class on axis {axis}"
            + (" (or pass class indices without that axis)" if mode == "multiclass" else "")
        )
    _validate.check_target_shape(shape, pred)
    if shape != pred:
        y_true = backend.broadcast_like(y_true, y_pred)
    return y_true


def _mask_argument(
    backend: ArrayAPIBackend, mask: Any, y_pred: Any, caxis: int | None, checking: bool
) -> Any:
    """A boolean pixel mask broadcastable to ``y_pred``: the shape of ``y_pred`` without the
    class axis (expanded there), ``y_pred``'s own shape, a prefix of it, or a broadcastable one."""
    xp = backend.xp
    mask = _inputs.boolean_mask(backend, mask, y_pred, checking)
    shape = backend.shape(y_pred)
    own = backend.shape(mask)
    if caxis is not None and len(own) == len(shape) - 1:
        pixels = shape[:caxis] + shape[caxis + 1 :]
        if _validate.same_shape(own, pixels):
            return xp.expand_dims(mask, axis=caxis)
    return expand_to(backend, mask, shape, "mask")


# ---------------------------------------------------------------------- statistics
def _sum_axes(ndim: int, caxis: int | None, per_image: bool) -> tuple[int, ...]:
    axes = tuple(a for a in range(1, ndim) if a != caxis)
    return axes if per_image else (0, *axes)


def _total(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    return xp.sum(x, axis=axes) if axes else x


def _as_table(backend: ArrayAPIBackend, x: Any, inputs: _Inputs, per_image: bool) -> Any:
    """Sums with the summed axes gone as an (images, classes) table: (N, C) or (1, C)."""
    xp = backend.xp
    if inputs.caxis is None:
        x = xp.expand_dims(x, axis=-1) if per_image else xp.reshape(x, (1, 1))
    elif not per_image:
        x = xp.expand_dims(x, axis=0)
    return x


def _class_ids(inputs: _Inputs) -> Any:
    """``0 .. C-1`` along the class axis, broadcastable against the labels."""
    xp = inputs.backend.xp
    shape = [1] * len(inputs.backend.shape(inputs.y_pred))
    shape[inputs.caxis] = inputs.num_classes  # type: ignore[index]
    ids = xp.arange(inputs.num_classes, dtype=inputs.labels.dtype)
    return xp.reshape(ids, tuple(shape))


def _statistics(inputs: _Inputs, per_image: bool) -> tuple[Any, Any, Any]:
    """``(I, Σp, Σy)`` per (image, class): the soft intersection ``Σ min(p, y)``, prediction
    and target masses, over the valid pixels; each an (N, C) or (1, C) table.

    Index targets: ``I = Σ p·[label = c]``. Dense targets: ``I = (Σp + Σy - Σ|p - y|) / 2``,
    with ``|d| = sign(d)·d`` (derivative 0 at a tie on every framework). Exclusions multiply by
    the 0/1 validity (``p`` and ``y`` are finite probabilities here): torch's CPU ``where`` is
    30 times slower than a product.

    A pending activation (``inputs.activation``) is applied first, unless the backend has a
    fused path (``overlap_statistics``: activation, sums and their backward in one autograd
    node, torch) that takes these inputs.
    """
    backend = inputs.backend
    axes = _sum_axes(len(backend.shape(inputs.y_pred)), inputs.caxis, per_image)
    fused = getattr(backend, "overlap_statistics", None)
    if fused is not None:
        stats = fused(
            inputs.y_pred,
            inputs.labels,
            inputs.target,
            inputs.valid,
            inputs.activation,
            inputs.caxis,
            inputs.num_classes,
            axes,
        )
        if stats is not None:
            if inputs.deferred:
                _deferred_checks(inputs, stats[1], stats[2])
            return (
                _as_table(backend, stats[0], inputs, per_image),
                _as_table(backend, stats[1], inputs, per_image),
                _as_table(backend, stats[2], inputs, per_image),
            )
    if inputs.deferred:
        _full_checks(inputs)
    inputs = _activated(inputs)
    p, valid = inputs.y_pred, inputs.valid
    xp = backend.xp
    keep = None if valid is None else xp.astype(valid, p.dtype)
    if keep is not None:
        p = p * keep
    if inputs.labels is not None:
        # bool -> uint8 -> float: torch's direct bool -> float cast is 4x slower
        hot = xp.astype(xp.astype(inputs.labels == _class_ids(inputs), xp.uint8), p.dtype)
        if keep is not None:
            hot = hot * keep
        intersection = _total(xp, p * hot, axes)
        prediction_mass = _total(xp, p, axes)
        target_mass = _total(xp, hot, axes)
    else:
        y = inputs.target if keep is None else inputs.target * keep
        diff = p - y
        distance = _total(xp, xp.sign(diff) * diff, axes)
        prediction_mass = _total(xp, p, axes)
        target_mass = _total(xp, y, axes)
        intersection = 0.5 * (prediction_mass + target_mass - distance)
    return (
        _as_table(backend, intersection, inputs, per_image),
        _as_table(backend, prediction_mass, inputs, per_image),
        _as_table(backend, target_mass, inputs, per_image),
    )


def _full_checks(inputs: _Inputs) -> None:
    """The value checks :func:`_prepare` deferred: labels in range, no NaN in ``y_pred``."""
    labels = inputs.backend.xp.squeeze(inputs.labels, axis=inputs.caxis)
    _validate.check_labels(inputs.backend, labels, inputs.num_classes, None)
    _validate.check_no_nan(inputs.backend, inputs.y_pred, "y_pred")


def _deferred_checks(inputs: _Inputs, prediction_mass: Any, target_mass: Any) -> None:
    """The deferred checks read off the sums (one host read): a NaN logit makes the
    prediction mass of its image (or the batch) NaN, and a label out of range leaves its
    pixel out of every class's target mass. Any doubt (NaN from infinite logits, say) runs
    :func:`_full_checks`, which raise the usual errors."""
    backend = inputs.backend
    xp = backend.xp
    shape = backend.shape(inputs.y_pred)
    pixels = math.prod(shape) // inputs.num_classes
    counted = xp.sum(target_mass, dtype=xp.float64)
    doubt = xp.any(xp.isnan(prediction_mass)) | (counted != float(pixels))
    if backend.any(doubt):
        _full_checks(inputs)


def _tversky_terms(
    backend: ArrayAPIBackend,
    stats: tuple[Any, Any, Any],
    alpha: float,
    beta: float,
    smooth: float,
    eps: float,
) -> Any:
    """``1 - (I + s) / max(I + α FP + β FN + s, eps)`` per (image, class), with
    ``FP = Σp - I`` and ``FN = Σy - I``."""
    xp = backend.xp
    intersection, prediction_mass, target_mass = stats
    false_pos = prediction_mass - intersection
    false_neg = target_mass - intersection
    denominator = intersection + alpha * false_pos + beta * false_neg + smooth
    return 1.0 - (intersection + smooth) / xp.maximum(denominator, eps)


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


def _class_weight(backend: ArrayAPIBackend, class_weight: Any, inputs: _Inputs) -> Any:
    if class_weight is None:
        return None
    return _inputs.parameter_vector(
        backend, class_weight, inputs.y_pred, "class_weight", inputs.num_classes, inputs.checking
    )


def _average_classes(
    backend: ArrayAPIBackend, loss: Any, counted: Any, weight: Any
) -> tuple[Any, Any]:
    """Weighted mean over the class axis of an (N, C) table: ``(per-image loss, valid)``; an
    image with no counted class (or zero total weight) is not valid."""
    xp = backend.xp
    if counted is None and weight is None:
        return xp.mean(loss, axis=-1), None
    w = xp.ones_like(loss) if weight is None else weight * xp.ones_like(loss)
    if counted is not None:
        w = xp.where(counted, w, xp.zeros_like(w))
    total = xp.sum(w, axis=-1)
    some = total > 0
    safe = xp.where(some, total, xp.ones_like(total))
    mean = xp.sum(w * loss, axis=-1) / safe
    return xp.where(some, mean, xp.zeros_like(mean)), some


def _finish(
    backend: ArrayAPIBackend,
    loss: Any,
    valid: Any,
    per_image: bool,
    sample_weight: Any,
    reduction: str,
    normalizer: Any,
    images: Any,
) -> Any:
    """Per-image losses (N,) or the batch's one value (0-d) through the reduction contract.

    ``images`` is an array with the batch on axis 0 (``y_pred``): the batch's one value of an
    empty batch is left out of the reduction (loss exactly 0, zero gradient), whatever ``empty``
    says about its classes, as the per-image losses of an empty batch are."""
    xp = backend.xp
    if not per_image:
        loss = xp.reshape(loss, ())
        valid = None if valid is None else xp.reshape(valid, ())
        some = _any_image(backend, images)
        if some is not None:
            valid = some if valid is None else valid & some
        if sample_weight is not None and backend.shape(
            backend.asarray(sample_weight, loss, "sample_weight")
        ):
            raise ValueError(
                "with per_image=False the loss is one value for the whole batch, so sample_weight "
                "must be a scalar; pass per_image=True to weight images (or mask to drop pixels)"
            )
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        valid=valid,
    )


def _any_image(backend: ArrayAPIBackend, images: Any) -> Any:
    """None when the batch (axis 0 of ``images``) is known to be non-empty; otherwise a 0-d
    boolean array: whether it holds an image (read off the run-time shape while tracing)."""
    xp = backend.xp
    batch = backend.shape(images)[0]
    if batch is not None and batch > 0:
        return None
    column = images[(slice(None),) + (0,) * (len(backend.shape(images)) - 1)]
    return xp.sum(xp.ones_like(column)) > 0


def _overlap(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    mode: str,
    from_logits: bool,
    smooth: float,
    eps: float,
    per_image: bool,
    empty: str,
    ignore_index: int | None,
    class_weight: Any,
    axis: int,
    sample_weight: Any,
    mask: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    """The Tversky family: Dice (α = β = ½, smoothing halved), Jaccard (α = β = 1), Tversky,
    and the focal Tversky power ``gamma``."""
    _check_options(mode, empty, per_image, ignore_index)
    smooth = _validate.check_range("smooth", smooth, 0.0, math.inf)
    eps = _validate.check_range("eps", eps, 0.0, math.inf, low_open=True)
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
    stats = _statistics(inputs, per_image)
    loss = _tversky_terms(backend, stats, alpha, beta, smooth, eps)
    if gamma != 1.0:
        positive = loss > 0
        base = xp.where(positive, loss, xp.ones_like(loss))
        loss = xp.where(positive, xp.pow(base, gamma), xp.zeros_like(loss))
    loss, counted = _apply_empty(backend, loss, stats[2], empty)
    loss, valid = _average_classes(backend, loss, counted, weight)
    return _finish(
        backend, loss, valid, per_image, sample_weight, reduction, normalizer, inputs.y_pred
    )


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
        axis: the class axis (channels-last by default; ``axis=1`` for torch's NCHW).
        sample_weight: weights of the per-image losses (``per_image=True``); a scalar otherwise.
        mask: boolean pixel mask, shape of ``y_pred`` without ``axis`` (or ``y_pred``'s own
            shape, or broadcastable to it): ``False`` pixels are removed like ``ignore_index``.
        reduction: the reduction contract over the per-image losses: ``"none"`` returns shape
            ``(N,)`` with ``per_image=True`` and a 0-d array otherwise.
        normalizer: replaces the denominator of ``"mean"``."""


def _doc(text: str) -> str:
    """Insert the arguments every overlap loss shares (at the docstring's indentation)."""
    return text.replace("    {ARGS}", _COMMON_ARGS.strip("\n"))


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
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
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
    ``per_image=True`` (``batch=True``: ``False``), ``empty="keep"``,
    ``smooth = smooth_nr = smooth_dr``, mean reduction; kornia ``dice_loss(average="macro")``
    is ``per_image=True, empty="ignore"`` from logits (its ``eps`` is added, ours clamps).

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
        smooth=0.5 * _validate.check_range("smooth", smooth, 0.0, math.inf),
        eps=eps,
        per_image=per_image,
        empty=empty,
        ignore_index=ignore_index,
        class_weight=class_weight,
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
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
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
    MONAI ``DiceLoss(jaccard=True)`` is ``per_image=True, empty="keep"`` with
    ``smooth = smooth_nr / 2`` (MONAI doubles numerator and denominator).

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
        eps=eps,
        per_image=per_image,
        empty=empty,
        ignore_index=ignore_index,
        class_weight=class_weight,
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
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
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
    ``TverskyLoss`` is ``per_image=True, empty="keep"``, ``smooth = smooth_nr = smooth_dr``;
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
        eps=eps,
        per_image=per_image,
        empty=empty,
        ignore_index=ignore_index,
        class_weight=class_weight,
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
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
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
        eps=eps,
        per_image=per_image,
        empty=empty,
        ignore_index=ignore_index,
        class_weight=class_weight,
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
    eps: float = 1e-7,
    per_image: bool = False,
    empty: str = "ignore",
    ignore_index: int | None = None,
    class_weight: Any = None,
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
    ``smooth = smooth_nr = smooth_dr``, ``empty="zero"``.

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
    smooth = _validate.check_range("smooth", smooth, 0.0, math.inf)
    eps = _validate.check_range("eps", eps, 0.0, math.inf, low_open=True)
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
    s = smooth * scale[..., 0]
    numerator = 2.0 * xp.sum(relative * intersection, axis=-1) + s
    denominator = xp.sum(relative * (prediction_mass + target_mass), axis=-1) + s
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
    return _finish(
        backend, loss, valid, per_image, sample_weight, reduction, normalizer, inputs.y_pred
    )


generalized_dice.__doc__ = _doc(generalized_dice.__doc__ or "")


# ---------------------------------------------------------------------- Lovász
def _rows(inputs: _Inputs, x: Any, per_image: bool) -> Any:
    """An array in ``y_pred``'s layout as (images, classes, pixels) rows: (N, C, P) per image,
    (1, C, N·P) for the batch; binary mode has one class."""
    backend = inputs.backend
    xp = backend.xp
    if inputs.caxis is not None:
        x = backend.moveaxis(x, inputs.caxis, 1)
    c = inputs.num_classes
    shape = backend.shape(x)
    if not per_image:
        if c > 1:
            x = backend.moveaxis(x, 1, 0)
        total = None if None in shape else math.prod(shape) // c  # static: also when it is 0
        return xp.reshape(x, (1, c, -1 if total is None else total))
    pixels = -1 if None in shape[1:] else math.prod(shape[1:]) // c
    return xp.reshape(x, (-1 if shape[0] is None else shape[0], c, pixels))


def _lovasz_sorted(
    backend: ArrayAPIBackend, errors: Any, fg: Any, valid: Any, prediction: Any = None
) -> tuple[Any, Any]:
    """The Lovász extension of the Jaccard loss per row of (images, classes, pixels) arrays:
    ``Σ_i e_(i) (J_i - J_(i-1))`` with the errors sorted decreasingly and
    ``J_i = 1 - (G - F_i) / (G + i - F_i) = i / (G + i - F_i)``, ``F_i`` the foreground count
    among the ``i`` largest errors and ``G`` the row's total (Berman et al., Alg. 1). ``fg`` is
    0/1 in the errors' dtype; ``valid`` entries (None: all) are sorted last with error 0;
    ``errors=None`` stands for ``|fg - prediction|``. Returns the loss and whether the row has
    foreground. Backends with a fused path (``lovasz_rows``: torch, integer sort keys that
    carry the errors and the foreground, and an analytic backward) take it."""
    fused = getattr(backend, "lovasz_rows", None)
    if fused is not None:
        result = fused(errors, fg, valid, prediction)
        if result is not None:
            return result
    xp = backend.xp
    if errors is None:
        diff = fg - prediction
        errors = xp.sign(diff) * diff  # |d| with derivative 0 at a tie on every framework
    length = backend.shape(fg)[-1]
    if length == 0:  # no pixel (an empty batch): loss 0, no foreground
        loss = xp.sum(errors, axis=-1)
        return loss, xp.zeros_like(loss) > 0
    if length is None:  # known at run time only: it may be 0
        errors, fg, valid = _padded_rows(backend, errors, fg, valid)
    key = backend.stop_gradient(errors)
    if valid is not None:
        key = xp.where(valid, key, -math.inf)
        errors = xp.where(valid, errors, 0.0)
        fg = xp.where(valid, fg, 0.0)
    # the value does not depend on how ties are ordered; an unstable sort is faster
    order = xp.argsort(key, axis=-1, descending=True, stable=False)
    errors_sorted = backend.take_along_axis(errors, order, axis=-1)
    fg_sorted = backend.take_along_axis(fg, order, axis=-1)
    pixels = backend.shape(fg)[-1]
    if pixels is not None and pixels < 2**24:  # counts are exact in float32
        position = xp.arange(1, pixels + 1, dtype=fg.dtype)
        fg_count = xp.cumulative_sum(fg_sorted, axis=-1)
    else:
        counts = xp.astype(fg_sorted, backend.index_dtype)
        position = xp.astype(xp.cumulative_sum(xp.ones_like(counts), axis=-1), fg.dtype)
        fg_count = xp.astype(xp.cumulative_sum(counts, axis=-1), fg.dtype)
    total = fg_count[..., -1:]
    jaccard = backend.stop_gradient(position / (total + position - fg_count))  # union >= 1
    steps = jaccard[..., 1:] - jaccard[..., :-1]
    loss = errors_sorted[..., 0] * jaccard[..., 0] + xp.sum(errors_sorted[..., 1:] * steps, axis=-1)
    return loss, total[..., 0] > 0


def _padded_rows(
    backend: ArrayAPIBackend, errors: Any, fg: Any, valid: Any
) -> tuple[Any, Any, Any]:
    """Rows with one more pixel, of error 0 and background: sorted last (or tied with other
    zero errors), it leaves the Lovász loss and ``G`` unchanged, and no row is empty."""
    xp = backend.xp
    column = xp.zeros_like(xp.sum(errors, axis=-1, keepdims=True))
    errors = xp.concat([errors, column], axis=-1)
    fg = xp.concat([fg, xp.zeros_like(xp.sum(fg, axis=-1, keepdims=True))], axis=-1)
    if valid is not None:
        valid = xp.concat([valid, column > 0], axis=-1)
    return errors, fg, valid


def _classes_selection(
    backend: ArrayAPIBackend, classes: Any, num_classes: int, like: Any
) -> tuple[bool, Any]:
    """``(present_only, weight)`` from ``classes``: "present", "all" or class indices."""
    if isinstance(classes, str):
        _validate.check_choice("classes", classes, ("present", "all"))
        return classes == "present", None
    try:
        items = list(classes)
    except TypeError:
        raise TypeError(
            f"classes must be 'present', 'all' or a sequence of class indices; got {classes!r}"
        ) from None
    chosen = sorted({_validate.check_int("each entry of classes", c) for c in items})
    if not chosen or chosen[0] < 0 or chosen[-1] >= num_classes:
        raise ValueError(f"classes must be class indices in [0, {num_classes}); got {items!r}")
    picked = [1.0 if c in chosen else 0.0 for c in range(num_classes)]
    return False, backend.astype(backend.asarray(picked, like), like.dtype)


@register(
    "lovasz_softmax",
    aliases=("lovasz_softmax_loss", "lovasz"),
    family="segmentation",
    contract_exceptions=_BATCH_OVERLAP,
    kind="overlap",
    task="segmentation",
    domain="probability",
    properties={"bounded": True, "convex": True, "from_logits": True},
    references=(
        "Berman, Rannen Triki & Blaschko (2018), The Lovász-Softmax Loss: A Tractable "
        "Surrogate for the Optimization of the Intersection-over-Union Measure in Neural "
        "Networks",
        "segmentation_models_pytorch.losses.LovaszLoss; kornia.losses.lovasz_softmax_loss",
    ),
)
def lovasz_softmax(
    y_true: Any,
    y_pred: Any,
    *,
    mode: str = "multiclass",
    from_logits: bool = False,
    classes: Any = "present",
    per_image: bool = False,
    ignore_index: int | None = None,
    class_weight: Any = None,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Lovász-Softmax loss: the Lovász extension of the Jaccard loss, per class.

    .. math:: \ell_c = \sum_i e_{c,(i)}\, \big(J_c(i) - J_c(i-1)\big),\qquad
              e_c = |y_c - p_c|

    with the errors sorted in decreasing order and ``J_c(i)`` the Jaccard loss of the set of
    the ``i`` largest errors (Berman et al. 2018, Alg. 1). Vectorised: one ``argsort`` over the
    pixels of every (image, class) row, a gather and cumulative counts; no loop over images or
    classes. The value does not depend on how tied errors are ordered; their gradient (a valid
    subgradient either way) does, and the sort is not stable (it is faster), so at exact ties
    frameworks may return different subgradients.

    ``classes``: ``"present"`` averages the classes present in the target (of the image or the
    batch), ``"all"`` every class (an absent class costs its largest probability), or a
    sequence of class indices; ``class_weight`` weights the average. ``mode="multilabel"`` or
    ``"binary"`` uses sigmoid probabilities per channel. Targets must be hard (0/1, or class
    indices).

    Anchors: smp ``LovaszLoss("multiclass")`` is ``from_logits=True, classes="present"`` with
    its ``per_image``; kornia ``lovasz_softmax_loss`` is ``from_logits=True, per_image=True,
    classes="all"`` (its ``weight`` scales ``ℓ_c`` and divides by C: use weights summing to C).

    Args:
        y_true: class indices (multiclass: ``y_pred``'s shape without ``axis``) or hard 0/1
            targets with ``y_pred``'s shape.
        y_pred: probabilities, or logits with ``from_logits=True``.
        mode: ``"multiclass"`` (softmax), ``"multilabel"`` or ``"binary"`` (sigmoid).
        from_logits: whether ``y_pred`` holds logits.
        classes: ``"present"``, ``"all"`` or a sequence of class indices.
        per_image: one loss per image (``True``) or one for the whole batch.
        ignore_index: a target value whose pixels are left out.
        class_weight: one weight per class for the class average.
        axis: the class axis.
        sample_weight, mask, reduction, normalizer: as in :func:`dice`.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1, 0]])                          # two pixels, classes 1 and 0
    >>> p = np.array([[[0.3, 0.7], [0.6, 0.4]]])
    >>> # class 0: errors (0.3 bg, 0.4 fg): 0.4·1 + 0.3·0 = 0.4;
    >>> # class 1: errors (0.3 fg, 0.4 bg): 0.4·(1/2) + 0.3·(1/2) = 0.35
    >>> round(float(lk.lovasz_softmax(y, p)), 6)
    0.375
    """
    _check_options(mode, "ignore", per_image, ignore_index)
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
    )
    backend = inputs.backend
    xp = backend.xp
    p = inputs.y_pred
    present_only, selected = _classes_selection(backend, classes, inputs.num_classes, p)
    weight = _class_weight(backend, class_weight, inputs)
    if selected is not None:
        weight = selected if weight is None else weight * selected
    fg = _foreground(inputs)
    valid = None
    if inputs.valid is not None:
        valid = _rows(inputs, backend.broadcast_like(inputs.valid, fg), per_image)
    loss, present = _lovasz_sorted(
        backend, None, _rows(inputs, fg, per_image), valid, prediction=_rows(inputs, p, per_image)
    )
    loss, valid_images = _average_classes(backend, loss, present if present_only else None, weight)
    if inputs.valid is not None:
        some = xp.any(valid, axis=(1, 2))
        valid_images = some if valid_images is None else valid_images & some
    return _finish(
        backend, loss, valid_images, per_image, sample_weight, reduction, normalizer, inputs.y_pred
    )


def _foreground(inputs: _Inputs) -> Any:
    """Hard 0/1 foreground in ``y_pred``'s dtype and shape."""
    backend = inputs.backend
    xp = backend.xp
    dtype = inputs.y_pred.dtype
    if inputs.labels is not None:
        indicator = getattr(backend, "class_indicator", None)  # torch: one kernel
        if indicator is not None:
            hot = indicator(inputs.labels, inputs.caxis, inputs.num_classes, dtype)
            if hot is not None:
                return hot
        hot = inputs.labels == _class_ids(inputs)
        return xp.astype(xp.astype(hot, xp.uint8), dtype)  # see _statistics
    target = inputs.target
    if inputs.checking:
        kept = target if inputs.valid is None else xp.where(inputs.valid, target, 0.0)
        if backend.any((kept != 0) & (kept != 1)):
            raise ValueError("Lovász losses need hard targets: y_true must hold only 0 and 1")
    return xp.astype(xp.astype(target > 0.5, xp.uint8), dtype)


@register(
    "lovasz_hinge",
    aliases=("lovasz_hinge_loss",),
    family="segmentation",
    contract_exceptions=_BATCH_OVERLAP,
    kind="overlap",
    task="segmentation",
    domain="real",
    properties={"bounded": False, "convex": True},
    references=(
        "Berman, Rannen Triki & Blaschko (2018), The Lovász-Softmax Loss",
        "segmentation_models_pytorch.losses.LovaszLoss('binary'); kornia.losses.lovasz_hinge_loss",
    ),
)
def lovasz_hinge(
    y_true: Any,
    y_pred: Any,
    *,
    mode: str = "binary",
    per_image: bool = False,
    ignore_index: int | None = None,
    class_weight: Any = None,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Binary Lovász hinge loss on real-valued scores (logits).

    .. math:: \ell = \sum_i \max(e_{(i)}, 0)\, \big(J(i) - J(i-1)\big),\qquad
              e = 1 - z\,(2y - 1)

    the Lovász extension of the Jaccard loss applied to the hinge errors, sorted decreasingly
    (Berman et al. 2018). ``mode="binary"`` treats each image (or the batch) as one problem;
    ``mode="multilabel"`` solves one per channel on ``axis`` and averages them (with
    ``class_weight``). An image without foreground costs its largest hinge error.
    Vectorised as :func:`lovasz_softmax`.

    Anchors: smp ``LovaszLoss("binary")`` with its ``per_image`` (smp's multilabel mode pools
    every channel into one problem: our ``mode="binary"`` on the same tensor); kornia
    ``lovasz_hinge_loss`` is ``per_image=True``.

    Args:
        y_true: hard 0/1 targets broadcastable to ``y_pred``.
        y_pred: scores (logits), any real value.
        mode: ``"binary"`` or ``"multilabel"``.
        per_image: one loss per image (``True``) or one for the whole batch.
        ignore_index: a target value whose pixels are left out.
        class_weight: multilabel: one weight per channel.
        axis: the channel axis in multilabel mode.
        sample_weight, mask, reduction, normalizer: as in :func:`dice`.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[1.0, 0.0]])
    >>> z = np.array([[0.5, 0.5]])                      # errors 0.5 and 1.5
    >>> round(float(lk.lovasz_hinge(y, z)), 6)          # 1.5·(1 - 1/2) + 0.5·(1/2)
    1.0
    """
    _check_options(mode, "ignore", per_image, ignore_index)
    if mode == "multiclass":
        raise ValueError("lovasz_hinge is binary: mode must be 'binary' or 'multilabel'")
    inputs = _prepare(
        y_true,
        y_pred,
        mode=mode,
        from_logits=True,
        axis=axis,
        ignore_index=ignore_index,
        mask=mask,
        reduction=reduction,
        normalizer=normalizer,
        logits_only=True,
    )
    backend = inputs.backend
    xp = backend.xp
    z = inputs.y_pred
    weight = _class_weight(backend, class_weight, inputs)
    fg = _foreground(inputs)
    hinge = 1.0 - z * (2.0 * fg - 1.0)
    errors = xp.where(hinge > 0, hinge, 0.0)
    valid = None
    if inputs.valid is not None:
        valid = _rows(inputs, backend.broadcast_like(inputs.valid, fg), per_image)
    loss, _ = _lovasz_sorted(
        backend, _rows(inputs, errors, per_image), _rows(inputs, fg, per_image), valid
    )
    loss, valid_images = _average_classes(backend, loss, None, weight)
    if valid is not None:
        some = xp.any(valid, axis=(1, 2))
        valid_images = some if valid_images is None else valid_images & some
    return _finish(
        backend, loss, valid_images, per_image, sample_weight, reduction, normalizer, inputs.y_pred
    )
