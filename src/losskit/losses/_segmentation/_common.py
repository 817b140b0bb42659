"""What every segmentation loss shares: reading the inputs (``mode``, the class axis, index
or dense targets, ``ignore_index`` and ``mask``), the per-(image, class) overlap statistics,
the class average and the reduction of the per-image (or per-batch) losses.

The front end (:func:`_prepare`): the ``mode`` decides how ``y_pred`` is read (``"binary"``:
one foreground map, no class axis; ``"multiclass"``: exclusive classes on ``axis``, softmax for
logits; ``"multilabel"``: independent classes on ``axis``, sigmoid for logits),
``ignore_index`` and the per-pixel ``mask`` remove pixels from every sum, and axis 0 is the
batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from ... import _inputs, _validate
from ..._backend import ArrayAPIBackend
from ..._reduce import check_reduction, expand_to, reduce_loss

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
    ids = inputs.backend.arange(inputs.labels, inputs.num_classes, dtype=inputs.labels.dtype)
    return xp.reshape(ids, tuple(shape))


def _statistics(inputs: _Inputs, per_image: bool, squared: bool = False) -> tuple[Any, Any, Any]:
    """``(I, Σp, Σy)`` per (image, class): the soft intersection ``Σ min(p, y)``, prediction
    and target masses, over the valid pixels; each an (N, C) or (1, C) table. ``squared``:
    ``(Σ p·y, Σp², Σy²)`` instead (V-Net's squared denominator, MONAI's ``squared_pred``).

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
    fused = None if squared else getattr(backend, "overlap_statistics", None)
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
        prediction_mass = _total(xp, p * p if squared else p, axes)
        target_mass = _total(xp, hot, axes)
    elif squared:
        y = inputs.target if keep is None else inputs.target * keep
        intersection = _total(xp, p * y, axes)
        prediction_mass = _total(xp, p * p, axes)
        target_mass = _total(xp, y * y, axes)
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
    if backend.checks_on_device(inputs.y_pred):  # nothing is read there: queue the full checks
        _full_checks(inputs)
        return
    xp = backend.xp
    shape = backend.shape(inputs.y_pred)
    pixels = math.prod(shape) // inputs.num_classes
    counted = xp.sum(target_mass, dtype=xp.float64)
    doubt = xp.any(xp.isnan(prediction_mass)) | (counted != float(pixels))
    if backend.any(doubt):
        _full_checks(inputs)


def _smoothing(smooth: Any, smooth_nr: Any, smooth_dr: Any) -> tuple[float, float]:
    """``(numerator, denominator)`` smoothing: ``smooth_nr`` / ``smooth_dr`` where given,
    ``smooth`` otherwise."""
    check = _validate.check_range
    smooth = check("smooth", smooth, 0.0, math.inf)
    nr = smooth if smooth_nr is None else check("smooth_nr", smooth_nr, 0.0, math.inf)
    dr = smooth if smooth_dr is None else check("smooth_dr", smooth_dr, 0.0, math.inf)
    return nr, dr


def _class_weight(backend: ArrayAPIBackend, class_weight: Any, inputs: _Inputs) -> Any:
    if class_weight is None:
        return None
    return _inputs.parameter_vector(
        backend, class_weight, inputs.y_pred, "class_weight", inputs.num_classes, inputs.checking
    )


def _average_classes(
    backend: ArrayAPIBackend, loss: Any, counted: Any, weight: Any, normalize: bool = True
) -> tuple[Any, Any]:
    """Weighted mean over the class axis of an (N, C) table: ``(per-image loss, valid)``;
    ``Σ_c w_c ℓ_c / Σ_c w_c`` over the counted classes, or with ``normalize=False``
    ``Σ_c w_c ℓ_c / count`` (MONAI's weighting). An image with no counted class (or, when
    normalising, zero total weight) is not valid."""
    xp = backend.xp
    if counted is None and weight is None:
        return xp.mean(loss, axis=-1), None
    w = xp.ones_like(loss) if weight is None else weight * xp.ones_like(loss)
    if not normalize:
        if counted is None:
            return xp.mean(w * loss, axis=-1), None
        count = xp.sum(xp.where(counted, xp.ones_like(loss), xp.zeros_like(loss)), axis=-1)
        weighted = xp.where(counted, w * loss, xp.zeros_like(loss))
        return _safe_mean(xp, xp.sum(weighted, axis=-1), count)
    if counted is not None:
        w = xp.where(counted, w, xp.zeros_like(w))
    return _safe_mean(xp, xp.sum(w * loss, axis=-1), xp.sum(w, axis=-1))


def _safe_mean(xp: Any, total: Any, count: Any) -> tuple[Any, Any]:
    """``(total / count, count > 0)``, 0 where ``count`` is 0."""
    some = count > 0
    mean = total / xp.where(some, count, xp.ones_like(count))
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
        valid = _batch_validity(backend, loss, valid, sample_weight, images)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        valid=valid,
    )


def _finish_classes(
    backend: ArrayAPIBackend,
    table: Any,
    counted: Any,
    weight: Any,
    normalize: bool,
    per_image: bool,
    sample_weight: Any,
    reduction: str,
    normalizer: Any,
    images: Any,
) -> Any:
    """Per-class losses (``per_class=True``) through the reduction contract: the (N, C) table
    with ``per_image``, its one row (C,) for the batch otherwise.

    ``counted`` (None: all) marks the entries that count; the class weights ``weight`` are
    reduction weights (``"mean"``: ``Σ w·ℓ / Σ w``) or, with ``normalize=False``, factors of
    the loss itself (MONAI: ``"none"`` gives ``w·ℓ``, ``"mean"`` ``Σ w·ℓ / count``)."""
    xp = backend.xp
    if weight is not None:
        weight = weight * xp.ones_like(table)
        if not normalize:
            table, weight = weight * table, None
    if counted is not None:
        counted = counted & (xp.zeros_like(table) == 0)
    if not per_image:
        table = table[0, ...]
        weight = None if weight is None else weight[0, ...]
        counted = None if counted is None else counted[0, ...]
        some = _batch_validity(backend, table, None, sample_weight, images)
        if some is not None:
            some = some & (xp.zeros_like(table) == 0)
            counted = some if counted is None else counted & some
    return reduce_loss(
        backend,
        table,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        weight=weight,
        valid=counted,
    )


def _batch_validity(
    backend: ArrayAPIBackend, loss: Any, valid: Any, sample_weight: Any, images: Any
) -> Any:
    """With ``per_image=False``: ``valid`` and whether the batch holds an image; a
    ``sample_weight`` that is not a scalar is refused."""
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
    return valid


def _any_image(backend: ArrayAPIBackend, images: Any) -> Any:
    """None when the batch (axis 0 of ``images``) is known to be non-empty; otherwise a 0-d
    boolean array: whether it holds an image (read off the run-time shape while tracing)."""
    xp = backend.xp
    batch = backend.shape(images)[0]
    if batch is not None and batch > 0:
        return None
    column = images[(slice(None),) + (0,) * (len(backend.shape(images)) - 1)]
    return xp.sum(xp.ones_like(column)) > 0


def _foreground(inputs: _Inputs, losses: str = "Lovász losses") -> Any:
    """Hard 0/1 foreground in ``y_pred``'s dtype and shape (``losses``: who needs it, for the
    error message on soft targets)."""
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
        message = f"{losses} need hard targets: y_true must hold only 0 and 1"
        _validate.require_none(backend, (kept != 0) & (kept != 1), message)
    return xp.astype(xp.astype(target > 0.5, xp.uint8), dtype)
