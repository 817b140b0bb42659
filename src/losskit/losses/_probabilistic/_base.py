"""What the probabilistic scores share: the family's registry fields, per-element positive
parameters (σ, variance) and the observation of an ensemble forecast."""

from __future__ import annotations

from typing import Any

from ... import _inputs, _validate
from ..._backend import ArrayAPIBackend

FAMILY: dict[str, Any] = {"family": "probabilistic"}


def parameter(
    backend: ArrayAPIBackend,
    value: Any,
    like: Any,
    name: str,
    checking: bool,
    *,
    allow_zero: bool,
) -> Any:
    """A per-element positive parameter (σ, variance) on ``like``'s backend and dtype.

    It must broadcast to ``like``'s shape without enlarging it; a shape that is a strict prefix
    of ``like``'s (one value per sample, as torch's GaussianNLLLoss accepts a variance without
    the last axis) is expanded on the right, as the reduction contract does for weights.
    """
    value = backend.asarray(value, like, name)
    if not (backend.is_floating(value) or backend.is_integral(value)):
        raise TypeError(f"{name} must be a numeric array or number; got dtype {value.dtype}")
    value = backend.astype(value, like.dtype)
    shape, target = backend.shape(value), backend.shape(like)
    if 0 < len(shape) < len(target) and _validate.same_shape(shape, target[: len(shape)]):
        value = backend.xp.reshape(value, shape + (1,) * (len(target) - len(shape)))
        shape = backend.shape(value)
    joint = _validate.broadcast_shapes(shape, target)
    if joint is None or not _validate.same_shape(joint, target):
        raise ValueError(
            f"{name} of shape {shape} must broadcast to the prediction's shape {target} (or be "
            f"a prefix of it, e.g. one value per sample)"
        )
    if checking:
        kind = "non-negative" if allow_zero else "positive"

        def too_low(low: Any, _: Any) -> Any:
            return (low < 0) if allow_zero else (low <= 0)

        def describe(bounds: Any) -> str:
            found = "" if bounds is None else f"; got a minimum of {bounds[0]:g}"
            return f"{name} must be {kind}{found}"

        nan = (lambda low, _: low != low, lambda _: f"{name} contains NaN")
        _validate.require_bounds(backend, value, nan, (too_low, describe))
    return value


def observation(
    backend: ArrayAPIBackend, y_true: Any, members: Any, axis: int, shape: tuple[Any, ...]
) -> Any:
    """``y_true`` with the shape of ``members`` (member axis last) without its last axis."""
    y = _inputs.targets(backend, y_true, members)
    reduced = backend.shape(members)[:-1]
    own = backend.shape(y)
    if len(own) == len(shape) and own[axis] == 1:  # the member axis kept with size 1
        y = backend.xp.squeeze(y, axis=axis)
        own = backend.shape(y)
    joint = _validate.broadcast_shapes(own, reduced)
    if joint is None or not _validate.same_shape(joint, reduced):
        raise ValueError(
            f"y_true of shape {own} does not match the ensemble of shape {shape} with members "
            f"on axis {axis}: "
            f"y_true must have the ensemble's shape without that axis (or broadcast to it)"
        )
    if own != reduced:
        y = backend.broadcast_like(y, members[..., 0])
    return y
