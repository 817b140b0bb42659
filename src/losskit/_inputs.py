"""Bringing a loss's arguments onto one backend, in the dtype the loss computes in.

``y_pred`` decides: its library and device win, and its float dtype sets the compute dtype
(float64 stays float64; float16, bfloat16 and float32 compute in float32). Targets, weights and
masks are converted to it.
"""

from __future__ import annotations

from typing import Any

from . import _validate
from ._backend import ArrayAPIBackend, backend_of


def prediction(y_pred: Any, name: str = "y_pred") -> tuple[ArrayAPIBackend, Any, float]:
    """``(backend, y_pred in the compute dtype, machine epsilon of the input dtype)``; ``name``
    is the argument's name in the loss's signature (``mean``, ``logits``...), for messages."""
    backend = backend_of(y_pred, name)
    y_pred = backend.asarray(y_pred, y_pred, name)
    _validate.check_float_prediction(backend, y_pred, name)
    eps = backend.eps(y_pred.dtype)
    return backend, backend.astype(y_pred, backend.compute_dtype(y_pred)), eps


def targets(backend: ArrayAPIBackend, y_true: Any, y_pred: Any, name: str = "y_true") -> Any:
    """Float targets in ``y_pred``'s compute dtype."""
    y_true = backend.asarray(y_true, y_pred, name)
    if not (backend.is_floating(y_true) or backend.is_integral(y_true) or backend.is_bool(y_true)):
        raise TypeError(f"{name} must be a numeric array; got dtype {y_true.dtype}")
    return backend.astype(y_true, y_pred.dtype)


def labels_of(backend: ArrayAPIBackend, y_true: Any, y_pred: Any, checking: bool) -> Any:
    """Integer class indices (integer-valued floats are accepted)."""
    y_true = backend.asarray(y_true, y_pred, "y_true")
    _validate.check_integer_dtype(backend, y_true, "y_true")
    if backend.is_floating(y_true) and checking:
        _validate.check_no_nan(backend, y_true, "y_true")
        _validate.check_integer_valued(backend, y_true, "y_true")
    return backend.astype(y_true, backend.index_dtype)


def parameter_vector(
    backend: ArrayAPIBackend, value: Any, y_pred: Any, name: str, length: int, checking: bool
) -> Any:
    """A per-class parameter (``class_weight``): a length-``length`` float vector, checked."""
    value = backend.asarray(value, y_pred, name)
    if backend.shape(value) != (length,):
        raise ValueError(
            f"{name} must have one entry per class, shape ({length},); got shape "
            f"{backend.shape(value)}"
        )
    value = backend.astype(value, y_pred.dtype)
    if checking:
        _validate.check_weights(backend, value, name)
    return value


def sparse_labels(
    backend: ArrayAPIBackend, y_true: Any, y_pred: Any, axis: int, checking: bool
) -> Any:
    """Class indices with ``y_pred``'s shape without ``axis`` (a size-1 axis there is accepted)."""
    labels = labels_of(backend, y_true, y_pred, checking)
    expected = backend.shape(y_pred)[:axis] + backend.shape(y_pred)[axis + 1 :]
    shape = backend.shape(labels)
    if _validate.same_shape(shape, expected):
        return labels
    if _validate.same_shape(shape, (*backend.shape(y_pred)[:axis], 1, *expected[axis:])):
        return backend.xp.squeeze(labels, axis=axis)
    raise ValueError(
        f"y_true of shape {shape} does not match y_pred of shape {backend.shape(y_pred)} with "
        f"classes on axis {axis}: sparse labels must have shape {expected}"
    )


def boolean_mask(backend: ArrayAPIBackend, mask: Any, like: Any, checking: bool) -> Any:
    """``mask`` as a boolean array on ``like``'s backend; 0/1 numbers are accepted (checked to be
    0 or 1 when value checks run), anything else is refused naming ``mask``."""
    mask = backend.asarray(mask, like, "mask")
    if backend.is_bool(mask):
        return mask
    if not (backend.is_integral(mask) or backend.is_floating(mask)):
        raise TypeError(f"mask must be a boolean array; got dtype {mask.dtype}")
    if checking:
        message = "mask must be boolean (or hold only 0 and 1); use sample_weight for weights"
        _validate.require_none(backend, (mask != 0) & (mask != 1), message)
    return mask != 0


def gatherable(
    backend: ArrayAPIBackend, labels: Any, num_classes: int, valid: Any, checked: bool
) -> Any:
    """``labels`` safe to gather with: clipped into ``[0, num_classes)`` unless ``checked`` (the
    value checks ran on them, so only excluded entries can be out of range), and 0 wherever
    ``valid`` (None: every entry) excludes them. Unchecked labels never reach a gather out of
    range, so they never crash a framework kernel."""
    xp = backend.xp
    if not checked:
        labels = xp.clip(labels, 0, num_classes - 1)
    if valid is not None:
        labels = xp.where(valid, labels, xp.zeros_like(labels))
    return labels
