"""Lovász losses: the Lovász extension of the Jaccard loss on softmax errors (Lovász-Softmax)
and on hinge errors (Lovász hinge), Berman, Rannen Triki & Blaschko (2018)."""

from __future__ import annotations

import math
from typing import Any

from ... import _validate
from ..._backend import ArrayAPIBackend
from ..._registry import register
from ._common import (
    _BATCH_OVERLAP,
    _average_classes,
    _check_options,
    _class_weight,
    _finish,
    _foreground,
    _Inputs,
    _prepare,
)


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
        position = backend.arange(fg, 1, pixels + 1, dtype=fg.dtype)
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
