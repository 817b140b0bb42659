"""Input checks with messages a user can act on.

Two kinds of check:

* **structural** checks (shapes, dtypes, argument values known in Python) always run: they cost
  nothing on the device and work while tracing;
* **value** checks (NaN, probabilities outside [0, 1], labels out of range, negative or infinite
  weights) read array contents back to the host, except on an accelerator, where they are queued
  on the device as asynchronous asserts instead (see the gates below). They run eagerly by
  default, are skipped whenever an input is being traced (``jax.jit``, ``torch.compile``,
  ``tf.function``, functorch transforms), and can be switched off: for the process with
  :func:`set_validation`, or for one block of code with the :func:`validation` context manager.

The block setting lives in a :class:`contextvars.ContextVar`: it applies to the thread (or
asyncio task) that entered the block and nowhere else, and nested blocks restore exactly what
they found. Threads and tasks outside any block follow the process default.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import numpy as np

from ._backend import ArrayAPIBackend

#: The process default, changed by :func:`set_validation`.
_STATE = {"enabled": True}
#: The settings of the :func:`validation` blocks this context is inside, innermost last. Kept in
#: the context, not on the block object, so one object may be entered by several threads at once.
_BLOCKS: contextvars.ContextVar[tuple[bool, ...]] = contextvars.ContextVar(
    "losskit_validation", default=()
)


def set_validation(enabled: bool) -> bool:
    """Turn the value checks on or off by default for the whole process; returns the previous
    default. A :func:`validation` block overrides it in the thread that entered the block.

    >>> import losskit as lk
    >>> previous = lk.set_validation(False)
    >>> lk.set_validation(previous)
    False
    """
    enabled = check_bool("enabled", enabled)
    previous = _STATE["enabled"]
    _STATE["enabled"] = enabled
    return previous


class validation:
    """Context manager that sets the value checks on or off for the current thread (or asyncio
    task) only, and restores the previous setting on exit; other threads are unaffected.

    >>> import numpy as np, losskit as lk
    >>> with lk.validation(False):
    ...     float(lk.mean_squared_error(np.zeros(3), np.ones(3)))
    1.0
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = check_bool("enabled", enabled)

    def __enter__(self) -> validation:
        _BLOCKS.set((*_BLOCKS.get(), self.enabled))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _BLOCKS.set(_BLOCKS.get()[:-1])


def validation_enabled() -> bool:
    """Whether value checks are on here: the innermost block's setting, else the process
    default."""
    blocks = _BLOCKS.get()
    return blocks[-1] if blocks else _STATE["enabled"]


def checking_values(backend: ArrayAPIBackend, x: Any) -> bool:
    """Whether value checks run for this call (on, and ``x`` is a concrete array).

    Tracing is asked first: under ``torch.compile`` it is a constant, so the context variable
    is never read inside a compiled graph."""
    if backend.is_tracing(x):
        return False
    return validation_enabled()


# ---------------------------------------------------------------------- structural checks
def check_bool(name: str, value: Any) -> bool:
    """A boolean option: ``True``/``False`` or a NumPy bool, returned as a Python bool.

    Anything else (the string ``"False"``, 0/1, None) is refused rather than read by its
    truthiness, which would turn ``"False"`` into True."""
    if isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be a bool (True or False); got {value!r}")


def check_int(name: str, value: Any, *, optional: bool = False) -> Any:
    """An integer option (a Python or NumPy int, not a bool); None too when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        expected = "an int or None" if optional else "an int"
        raise TypeError(f"{name} must be {expected}; got {value!r}")
    return int(value)


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")


def check_normalizer(normalizer: Any) -> None:
    """Structural check of ``normalizer`` (not None): a non-negative Python number, or a scalar
    numeric array (its value is checked by :func:`check_normalizer_value`)."""
    expected = "normalizer must be a non-negative number or a scalar array"
    if isinstance(normalizer, bool | np.bool_):
        raise TypeError(f"{expected}; got a bool")
    if isinstance(normalizer, int | float | np.integer | np.floating):
        if normalizer != normalizer or normalizer < 0:  # NaN; math.isnan breaks torch.compile
            raise ValueError(f"{expected}; got {normalizer}")
        return
    shape = getattr(normalizer, "shape", None)
    if shape is None:
        raise TypeError(f"{expected}; got {normalizer!r} of type {type(normalizer).__name__}")
    if isinstance(normalizer, np.ndarray) and normalizer.dtype.kind not in "iuf":
        raise TypeError(f"{expected}; got an array of dtype {normalizer.dtype}")
    if len(shape) != 0:
        raise ValueError(f"{expected}; got an array of shape {tuple(shape)}")


def check_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A Python number inside an interval; returns it as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number; got {type(value).__name__}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if value != value or too_low or too_high:  # NaN; math.isnan breaks torch.compile's floats
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}; got {value}")
    return value


def check_z_loss(value: Any) -> float:
    """The z-loss weight ``ζ`` of ``ζ·logsumexp(z)²``: a finite number ``≥ 0``."""
    return check_range("z_loss", value, 0.0, float("inf"), high_open=True)


def check_softcap(value: Any) -> float | None:
    """A logit soft cap ``c`` of ``c·tanh(z / c)``: None, or a positive finite number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"softcap must be None or a positive finite number; got {type(value).__name__}"
        )
    value = float(value)
    if not 0.0 < value < float("inf"):  # NaN fails too
        raise ValueError(
            f"softcap must be None or a positive finite number (the cap c of c·tanh(z / c)); "
            f"got {value}"
        )
    return value


def check_axis(axis: Any, ndim: int, name: str = "axis") -> int:
    """A valid axis of an ``ndim``-dimensional array, returned non-negative."""
    axis = check_int(name, axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for y_pred with {ndim} dimension(s)")
    return axis % ndim


def broadcast_shapes(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """NumPy broadcasting of two static shapes; ``None`` when they do not broadcast.

    A dimension unknown while tracing (``None``) is compatible with anything.
    """
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da == 1:
            out.append(db)
        elif db == 1 or db is None or da == db:
            out.append(da)
        elif da is None:
            out.append(db)
        else:
            return None
    return tuple(reversed(out))


def same_shape(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Shape equality where a dimension unknown while tracing (``None``) matches anything."""
    return len(a) == len(b) and all(
        x == y or x is None or y is None for x, y in zip(a, b, strict=True)
    )


def check_target_shape(
    y_true_shape: tuple[Any, ...],
    y_pred_shape: tuple[Any, ...],
    names: tuple[str, str] = ("y_true", "y_pred"),
) -> None:
    """``y_true`` must broadcast to ``y_pred`` without enlarging it.

    A target of shape ``(N,)`` against a prediction of shape ``(N, 1)`` would broadcast to
    ``(N, N)`` and silently compare every sample with every other: that is rejected.
    """
    if y_true_shape == y_pred_shape:  # the common case, without the general comparison
        return
    joint = broadcast_shapes(y_true_shape, y_pred_shape)
    if joint is not None and same_shape(joint, y_pred_shape):
        return
    true, pred = names
    hint = ""
    if len(y_true_shape) + 1 == len(y_pred_shape) and y_pred_shape[-1] == 1:
        hint = f"; add a trailing axis to {true} ({true}[..., None]) or squeeze {pred}"
    elif len(y_pred_shape) + 1 == len(y_true_shape) and y_true_shape[-1] == 1:
        hint = f"; squeeze the trailing axis of {true}"
    raise ValueError(
        f"{true} of shape {y_true_shape} does not match {pred} of shape {y_pred_shape}: "
        f"{true} must have {pred}'s shape (or broadcast to it){hint}"
    )


def check_class_axis(
    y_true_shape: tuple[Any, ...],
    y_pred_shape: tuple[Any, ...],
    axis: int,
    names: tuple[str, str] = ("y_true", "y_pred"),
    *,
    what: str = "class",
    sparse: str | None = None,
) -> None:
    """``y_true`` holds one target per entry of ``y_pred``'s ``axis`` (the classes of a
    distribution, the items of a list): that axis is never broadcast into.

    Integer class indices ``(N,)`` against scores ``(N, K)`` with ``N == K`` would otherwise
    broadcast to ``(K, K)`` and score every row against the same "distribution" of labels, a
    silent wrong answer. ``sparse`` names the loss that takes class indices, for the message."""
    if len(y_true_shape) == len(y_pred_shape) and same_shape(
        (y_true_shape[axis],), (y_pred_shape[axis],)
    ):
        return
    true, pred = names
    hint = ""
    if sparse is not None:
        hint = f"; for integer class indices use {sparse}, or one-hot encode {true}"
    elif what == "class" and true == "y_true":
        hint = f"; one-hot encode {true} if it holds class indices"
    raise ValueError(
        f"{true} of shape {y_true_shape} must give one target per {what} of {pred} ({what} "
        f"axis {axis} of shape {y_pred_shape}); that axis is never broadcast{hint}"
    )


def check_integer_dtype(backend: ArrayAPIBackend, x: Any, name: str) -> None:
    if not (backend.is_integral(x) or backend.is_floating(x)):
        raise TypeError(f"{name} must hold integer class indices; got dtype {x.dtype}")


def check_float_prediction(backend: ArrayAPIBackend, y_pred: Any, name: str = "y_pred") -> None:
    if not backend.is_floating(y_pred):
        what = " (probabilities or logits)" if name == "y_pred" else ""
        raise TypeError(
            f"{name} must be a floating-point array{what}; got dtype {y_pred.dtype}. Cast it to "
            f"a float dtype first"
        )


# ---------------------------------------------------------------------- value checks
# Every value check passes through one of three gates: ``require_bounds`` (rules on an array's
# min and max), ``require_none`` (no entry of a boolean array holds) and ``check_no_nan``. Each
# rule is written once, for both paths the gate chooses between:
#
# * host memory (NumPy, a CPU tensor, JAX, TensorFlow): the gate reads what it needs back once
#   and raises a ValueError that quotes the values found;
# * an accelerator (``backend.checks_on_device``): it reads nothing back, since a read would stall
#   the device's queue; each rule is queued there as an asynchronous assert, whose message (the
#   same wording, without the values found, which are never read) the device raises later.

#: A rule on ``(low, high)``: ``fails(low, high)``, written with comparisons joined by ``|`` so
#: that it reads host floats and 0-d device arrays alike, and ``describe(bounds)``, the message,
#: quoting ``bounds`` when they were read (None on a device).
Rule = tuple[Callable[[Any, Any], Any], Callable[[tuple[float, float] | None], str]]


def require_bounds(backend: ArrayAPIBackend, x: Any, *rules: Rule) -> None:
    """Each rule on ``x``'s ``(min, max)`` (NaN if ``x`` holds one), in order, from one
    reduction: one host read, or asserts queued on the device. Empty or traced: nothing."""
    if backend.checks_on_device(x):
        apply_rules(backend, bounds_of(backend, x), *rules)
        return
    bounds = backend.min_max(x)  # the host path inline: it is the one that waits
    if bounds is not None:
        for fails, describe in rules:
            if fails(*bounds):
                raise ValueError(describe(bounds))


class DeviceBounds(tuple):
    """``(min, max)`` left on a device as 0-d arrays: rules on them are queued, not read."""


def bounds_of(backend: ArrayAPIBackend, x: Any) -> Any:
    """``(min, max)`` of ``x``: read back as floats, or on a device left there
    (:class:`DeviceBounds`); None when ``x`` is empty or traced."""
    if backend.checks_on_device(x):
        bounds = backend.device_min_max(x)
        return None if bounds is None else DeviceBounds(bounds)
    return backend.min_max(x)


def apply_rules(backend: ArrayAPIBackend, bounds: Any, *rules: Rule) -> None:
    """The rules on ``bounds`` (from :func:`bounds_of`): a ValueError at the first that fails,
    or, for :class:`DeviceBounds`, one asynchronous assert each."""
    if bounds is None:
        return
    if isinstance(bounds, DeviceBounds):
        for fails, describe in rules:
            backend.assert_async(backend.xp.logical_not(fails(*bounds)), describe(None))
        return
    for fails, describe in rules:
        if fails(*bounds):
            raise ValueError(describe(bounds))


def require_none(
    backend: ArrayAPIBackend,
    bad: Any,
    message: str,
    detail: Callable[[], str] | None = None,
) -> None:
    """No entry of the boolean array ``bad`` holds (traced: nothing). On the host, a failure's
    message ends with ``detail()`` (values read only then, to quote them)."""
    if backend.checks_on_device(bad):
        if not backend.is_tracing(bad):
            backend.assert_async(backend.xp.logical_not(backend.xp.any(bad)), message)
        return
    if backend.any(bad):
        raise ValueError(message + ("" if detail is None else detail()))


def _is_nan(low: Any, high: Any) -> Any:
    return (low != low) | (high != high)


# Rules are built once per wording (cached): the host path then costs one read and a comparison.
@functools.lru_cache(maxsize=512)
def _nan_rule(name: str) -> Rule:
    return _is_nan, lambda _: f"{name} contains NaN"


def _found(bounds: tuple[float, float] | None, lead: str = "; got values in ") -> str:
    return "" if bounds is None else f"{lead}[{bounds[0]:g}, {bounds[1]:g}]"


def check_no_nan(backend: ArrayAPIBackend, x: Any, name: str) -> None:
    if backend.checks_on_device(x):
        require_none(backend, backend.xp.isnan(x), f"{name} contains NaN")
    elif backend.has_nan(x):
        raise ValueError(f"{name} contains NaN")


def check_no_nan_in(backend: ArrayAPIBackend, arrays: dict[str, Any]) -> None:
    """:func:`check_no_nan` for several arrays (name → array) with one host read: the sum of
    their sums is NaN if any of them holds a NaN (or an inf meets a -inf, a false alarm that the
    array-by-array check then clears); only then is each one read, to name the first at fault.
    On a device, each array is checked by its own assert (nothing is read)."""
    total = None
    for x in arrays.values():
        if backend.is_tracing(x):
            return
        if backend.checks_on_device(x):
            for name, y in arrays.items():
                check_no_nan(backend, y, name)
            return
        part = backend.xp.sum(x)
        total = part if total is None else total + part
    if total is None or backend.is_tracing(total):  # concrete inputs captured by a trace
        return
    if not bool(backend.xp.isnan(total)):
        return
    for name, x in arrays.items():
        check_no_nan(backend, x, name)


def check_finite_in(backend: ArrayAPIBackend, arrays: dict[str, Any], hint: str = "") -> None:
    """No inf or NaN in any of ``arrays`` (name → array), with one host read: ``Σ x·0`` is NaN
    exactly when some entry is not finite (no overflow can raise a false alarm); only then is
    each array read, to name the first at fault. ``hint`` ends the message. On a device, each
    array is checked by its own assert."""
    xp = backend.xp
    total = None
    for x in arrays.values():
        if backend.is_tracing(x):
            return
        if backend.checks_on_device(x):
            for name, y in arrays.items():
                bad = xp.logical_not(xp.isfinite(y))
                require_none(backend, bad, f"{name} contains inf or NaN{hint}")
            return
        part = xp.sum(x * 0.0)
        total = part if total is None else total + part
    if total is None or backend.is_tracing(total) or not bool(xp.isnan(total)):
        return
    for name, x in arrays.items():
        if not bool(xp.all(xp.isfinite(x))):
            raise ValueError(f"{name} contains inf or NaN{hint}")


def check_nan_behind(backend: ArrayAPIBackend, output: Any, arrays: dict[str, Any]) -> None:
    """:func:`check_no_nan` of ``arrays`` (name → array), in order, proven by ``output`` instead
    of read: a loss's fused mean or sum is NaN whenever an input it read holds a NaN, so one
    host read of that scalar clears every input; only a NaN output (an input's NaN, or an
    ``inf - inf`` the scans then clear) has each input scanned, to name the first at fault.

    On a device the output alone is asserted free of NaN (scanning the inputs would cost a pass
    over each); its message names the inputs together, and, as it cannot scan them, also fires
    for an ``inf - inf`` between infinite inputs."""
    if backend.checks_on_device(output):
        names = ", ".join(arrays)
        require_none(
            backend,
            backend.xp.isnan(output),
            f"an input ({names}) contains NaN: the loss is NaN (or an inf meets an inf of "
            f"the opposite sign)",
        )
        return
    if not backend.has_nan(output):
        return
    for name, x in arrays.items():
        check_no_nan(backend, x, name)


def check_unit_interval_no_nan(
    backend: ArrayAPIBackend, x: Any, nan_name: str, name: str, *, hint: str = ""
) -> None:
    """:func:`check_no_nan` (naming ``nan_name``) then :func:`check_unit_interval` (naming
    ``name``), with one reduction and one host read: every backend's min and max are NaN when
    ``x`` holds a NaN."""
    require_bounds(backend, x, _nan_rule(nan_name), _unit_interval_rule(name, hint))


@functools.lru_cache(maxsize=512)
def _unit_interval_rule(name: str, hint: str = "") -> Rule:
    def fails(low: Any, high: Any) -> Any:
        return (low < 0) | (high > 1)

    return fails, lambda bounds: f"{name} must lie in [0, 1]{_found(bounds)}{hint}"


def check_unit_interval(backend: ArrayAPIBackend, x: Any, name: str, *, hint: str = "") -> None:
    require_bounds(backend, x, _unit_interval_rule(name, hint))


def nan_checked_bounds(backend: ArrayAPIBackend, x: Any, name: str) -> Any:
    """:func:`bounds_of` ``x`` after :func:`check_no_nan`'s check, from the same one reduction
    (min and max are NaN when ``x`` holds a NaN)."""
    bounds = bounds_of(backend, x)
    apply_rules(backend, bounds, _nan_rule(name))
    return bounds


def check_bounds_in_unit_interval(
    backend: ArrayAPIBackend, bounds: Any, name: str, *, hint: str = ""
) -> None:
    """:func:`check_unit_interval` on bounds already taken by :func:`bounds_of`."""
    apply_rules(backend, bounds, _unit_interval_rule(name, hint))


FROM_LOGITS_HINT = ". If y_pred holds logits (unnormalised scores), pass from_logits=True"


def check_probabilities(backend: ArrayAPIBackend, y_pred: Any) -> None:
    check_unit_interval(
        backend, y_pred, "y_pred (probabilities, from_logits=False)", hint=FROM_LOGITS_HINT
    )


def check_distribution(
    backend: ArrayAPIBackend, y_pred: Any, tolerance: float, axis: Any = -1
) -> None:
    """Rows of a probability ``y_pred`` (classes on ``axis``, the last by default) must sum to 1
    within ``tolerance``: every loss that reads ``y_pred`` as a distribution over classes
    applies this one rule."""
    xp = backend.xp
    deviation = xp.abs(xp.sum(y_pred, axis=axis) - 1.0)
    require_bounds(backend, deviation, _distribution_rule(tolerance))


@functools.lru_cache(maxsize=512)
def _distribution_rule(tolerance: float) -> Rule:
    def too_far(_: Any, high: Any) -> Any:
        return high > tolerance

    def describe(bounds: tuple[float, float] | None) -> str:
        found = "" if bounds is None else f"; the largest deviation is {bounds[1]:g}"
        return (
            f"y_pred rows must sum to 1 over the class axis when from_logits=False{found} "
            f"(tolerance {tolerance:g}){FROM_LOGITS_HINT}"
        )

    return too_far, describe


def check_normalizer_value(backend: ArrayAPIBackend, normalizer: Any) -> None:
    """A scalar ``normalizer`` array must hold a non-negative number (not NaN)."""

    def fails(low: Any, _: Any) -> Any:
        return (low < 0) | (low != low)

    def describe(bounds: tuple[float, float] | None) -> str:
        found = "" if bounds is None else f"; got {bounds[0]:g}"
        return f"normalizer must be a non-negative number{found}"

    require_bounds(backend, normalizer, (fails, describe))


def check_class_probabilities(
    backend: ArrayAPIBackend, y_pred: Any, eps: float, axis: Any = -1
) -> None:
    """``y_pred`` read as probabilities over the classes on ``axis``: in [0, 1], and each row
    summing to 1 within ``max(64, K)·eps`` (``eps`` of ``y_pred``'s own dtype)."""
    check_probabilities(backend, y_pred)
    num_classes = backend.shape(y_pred)[axis]
    check_distribution(backend, y_pred, max(64, num_classes or 0) * eps, axis)


@functools.lru_cache(maxsize=512)
def labels_rule(
    num_classes: int, name: str = "y_true labels", note: str = " (or ignore_index)"
) -> Rule:
    """Class indices in ``[0, num_classes)``: ``{name} must be class indices in [0, K){note}``."""

    def fails(low: Any, high: Any) -> Any:
        return (low < 0) | (high >= num_classes)

    def describe(bounds: tuple[float, float] | None) -> str:
        found = _found(bounds, "; found labels in ")
        return f"{name} must be class indices in [0, {num_classes}){note}{found}"

    return fails, describe


def check_labels(backend: ArrayAPIBackend, labels: Any, num_classes: int, valid: Any) -> None:
    """Integer class indices in ``[0, num_classes)`` wherever ``valid`` (None: everywhere)."""
    xp = backend.xp
    if valid is not None:
        labels = xp.where(valid, labels, xp.zeros_like(labels))
    require_bounds(backend, labels, labels_rule(num_classes))


def check_integer_valued(backend: ArrayAPIBackend, x: Any, name: str) -> None:
    xp = backend.xp
    message = f"{name} must hold integer class indices; got non-integer values"
    require_none(backend, xp.floor(x) != x, message)


def check_weights(backend: ArrayAPIBackend, w: Any, name: str) -> None:
    require_bounds(backend, w, *_weight_rules(name))


@functools.lru_cache(maxsize=512)
def _weight_rules(name: str) -> tuple[Rule, ...]:
    def negative(low: Any, _: Any) -> Any:
        return low < 0

    def infinite(_: Any, high: Any) -> Any:
        return high == float("inf")

    def minimum(bounds: tuple[float, float] | None) -> str:
        found = "" if bounds is None else f"; got a minimum of {bounds[0]:g}"
        return f"{name} must be non-negative{found}"

    def finite(bounds: tuple[float, float] | None) -> str:
        return f"{name} must be finite" + ("" if bounds is None else "; got inf")

    return _nan_rule(name), (negative, minimum), (infinite, finite)
