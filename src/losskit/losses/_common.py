"""The entry and exit every loss on a ``(y_true, y_pred)`` pair of one shape shares."""

from __future__ import annotations

from typing import Any

from .. import _inputs, _validate
from .._backend import ArrayAPIBackend, backend_of
from .._reduce import check_reduction, fused_reduction, reduce_loss


def enter_pair(
    y_true: Any,
    y_pred: Any,
    reduction: str,
    normalizer: Any,
    names: tuple[str, str] = ("y_true", "y_pred"),
) -> tuple[ArrayAPIBackend, Any, Any, bool]:
    """Backend, converted inputs (``y_true`` broadcastable to ``y_pred``, no NaN), and whether
    value checks run for this call. ``names`` are the two arguments' names in the loss's
    signature (``("y_true", "mean")``...), for messages."""
    return enter_pair_eps(y_true, y_pred, reduction, normalizer, names)[:4]


def enter_pair_eps(
    y_true: Any,
    y_pred: Any,
    reduction: str,
    normalizer: Any,
    names: tuple[str, str] = ("y_true", "y_pred"),
) -> tuple[ArrayAPIBackend, Any, Any, bool, float]:
    """:func:`enter_pair` and the machine epsilon of ``y_pred``'s own dtype (the tolerance of
    :func:`losskit._validate.check_class_probabilities` scales with it)."""
    check_reduction(reduction, normalizer)
    backend, y_true, y_pred, eps = convert_pair(y_true, y_pred, names)
    checking = _validate.checking_values(backend, y_pred)
    if checking:
        _validate.check_no_nan(backend, y_true, names[0])
        _validate.check_no_nan(backend, y_pred, names[1])
    return backend, y_true, y_pred, checking, eps


def enter_fused_pair(
    y_true: Any,
    y_pred: Any,
    reduction: str,
    normalizer: Any,
    sample_weight: Any,
    mask: Any,
) -> tuple[ArrayAPIBackend, Any, Any, str, dict[str, Any] | None]:
    """:func:`enter_pair` for an elementwise loss whose every entry is NaN where an input is:
    ``(backend, y_true, y_pred, fused, proof)`` with ``fused`` the reduction its primitive may
    apply (:func:`losskit._reduce.fused_reduction`). When that is a mean or a sum and value
    checks run, the NaN scans of the inputs are left to the output: pass it to :func:`settle`
    with ``proof``. Otherwise ``proof`` is None and the inputs were scanned here, as
    :func:`enter_pair` does."""
    check_reduction(reduction, normalizer)
    backend, y_true, y_pred, _ = convert_pair(y_true, y_pred, ("y_true", "y_pred"))
    fused = fused_reduction(backend, y_pred, reduction, normalizer, sample_weight, mask)
    if not _validate.checking_values(backend, y_pred):
        return backend, y_true, y_pred, fused, None
    if fused != "none" and backend.quiet_nan and 0 not in backend.shape(y_pred):
        return backend, y_true, y_pred, fused, {"y_true": y_true, "y_pred": y_pred}
    _validate.check_no_nan(backend, y_true, "y_true")
    _validate.check_no_nan(backend, y_pred, "y_pred")
    return backend, y_true, y_pred, fused, None


def settle(backend: ArrayAPIBackend, loss: Any, proof: dict[str, Any] | None) -> Any:
    """``loss``, once it has proven the inputs of :func:`enter_fused_pair` free of NaN (one host
    read of the scalar; the inputs are scanned only if it is NaN)."""
    if proof is not None:
        _validate.check_nan_behind(backend, loss, proof)
    return loss


def convert_pair(
    y_true: Any, y_pred: Any, names: tuple[str, str] = ("y_true", "y_pred")
) -> tuple[ArrayAPIBackend, Any, Any, float]:
    """Backend, ``y_true`` and ``y_pred`` in the compute dtype (``y_true`` broadcastable to
    ``y_pred``), and the machine epsilon of ``y_pred``'s own dtype."""
    true, pred = names
    backend, y_pred, eps = _inputs.prediction(y_pred, pred)
    y_true = _inputs.targets(backend, y_true, y_pred, true)
    _validate.check_target_shape(backend.shape(y_true), backend.shape(y_pred), names)
    return backend, y_true, y_pred, eps


def finish(
    backend: ArrayAPIBackend,
    loss: Any,
    sample_weight: Any,
    mask: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    """The reduction contract on the unreduced ``loss``."""
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
    )


def times_log(backend: ArrayAPIBackend, y: Any, log_p: Any) -> Any:
    """``y · log p`` with ``0 · log 0 = 0`` (a -inf log of a class with no target mass), and a
    zero, not NaN, gradient there."""
    xp = backend.xp
    return y * xp.where(y == 0, 0.0, log_p)


def full_target(backend: ArrayAPIBackend, y_true: Any, y_pred: Any) -> Any:
    """``y_true`` broadcast to ``y_pred``'s shape (losses over an axis need it whole)."""
    if backend.shape(y_true) == backend.shape(y_pred):
        return y_true
    return backend.broadcast_like(y_true, y_pred)


def enter_arrays(
    reduction: str,
    normalizer: Any,
    inputs: dict[str, Any],
    others: tuple[Any, ...] = (),
    *,
    scan: bool = True,
) -> tuple[ArrayAPIBackend, list[Any], bool]:
    """Backend, float inputs in the compute dtype, and whether value checks run. The inputs are
    scanned for NaN unless ``scan=False``: the caller then proves them clean through an
    intermediate that is NaN wherever an input is (:func:`prove_clean`).

    The first argument that is not a NumPy array (or list) — among ``inputs``, then ``others``
    (labels) — decides the library and device; the first float input of that library decides the
    compute dtype (float64 stays float64, the rest computes in float32). The other inputs are
    converted to it.
    """
    check_reduction(reduction, normalizer)
    names = list(inputs)
    for name in names:
        backend_of(inputs[name], name)  # an unusable type is refused with its argument's name
    candidates = [*inputs.values(), *(o for o in others if o is not None)]
    lead = next((x for x in candidates if backend_of(x).name != "numpy"), candidates[0])
    backend = backend_of(lead)
    native = [backend.owns(inputs[n]) for n in names]
    lead_name = names[native.index(True)] if any(native) else names[0]
    lead = backend.asarray(inputs[lead_name], lead, lead_name)
    check_float(backend, lead, lead_name)
    dtype = backend.compute_dtype(lead)
    arrays = []
    for name in names:
        x = lead if name == lead_name else backend.asarray(inputs[name], lead, name)
        check_float(backend, x, name)
        arrays.append(backend.astype(x, dtype))
    checking = _validate.checking_values(backend, lead)
    if checking and scan:
        for name, x in zip(names, arrays, strict=True):
            _validate.check_no_nan(backend, x, name)
    return backend, arrays, checking


def prove_clean(
    backend: ArrayAPIBackend, witness: Any, inputs: dict[str, Any], checking: bool
) -> None:
    """The NaN checks of ``inputs`` (name → array) that :func:`enter_arrays` left out
    (``scan=False``), from ``witness``, an intermediate that is NaN wherever an input is: one
    reduction of it and one host read (:func:`losskit._validate.check_nan_behind`)."""
    if checking:
        _validate.check_nan_behind(backend, backend.xp.sum(witness), inputs)


def check_float(backend: ArrayAPIBackend, x: Any, name: str) -> None:
    if not backend.is_floating(x):
        raise TypeError(
            f"{name} must be a floating-point array; got dtype {x.dtype}. Cast it to a float "
            f"dtype first"
        )


def relu(xp: Any, x: Any) -> Any:
    """``max(x, 0)`` with derivative 0 at the kink on every framework."""
    return xp.where(x > 0, x, 0.0)
