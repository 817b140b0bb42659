"""``@lk.loss``: turn an unreduced formula into a full losskit loss."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from . import _inputs, _validate
from ._reduce import check_reduction, reduce_loss
from ._registry import LossInfo, add

KINDS = ("elementwise", "axis")
_CONTRACT = ("sample_weight", "mask", "reduction", "normalizer", "axis")


def loss(
    name: str | Callable[..., Any] | None = None,
    *,
    kind: str = "elementwise",
    aliases: tuple[str, ...] = (),
    replace: bool = False,
    family: str = "custom",
    task: str = "any",
    domain: str = "real",
    properties: dict[str, Any] | None = None,
    references: tuple[str, ...] = (),
) -> Any:
    """Decorator: write the per-element formula once, get a loss with the full public contract.

    The formula is ``f(y_true, y_pred, *, xp, **params)``, returning the *unreduced* loss. ``xp``
    is the array-API namespace of the inputs (NumPy, torch, JAX, losskit's TensorFlow namespace,
    ...); ``lk.ops`` holds the stable primitives. With ``kind="axis"`` the arrays arrive with the
    class axis moved last and the formula reduces that axis. The result gains ``sample_weight``,
    ``mask``, ``reduction``, ``normalizer`` (and ``axis`` for ``kind="axis"``), dispatches on every
    backend and is registered under ``name`` (the function's name by default).

    >>> import numpy as np, losskit as lk
    >>> @lk.loss(name="doc_absolute_error", replace=True)
    ... def doc_absolute_error(y_true, y_pred, *, xp, scale=1.0):
    ...     return scale * xp.abs(y_pred - y_true)
    >>> float(doc_absolute_error(np.array([0.0, 1.0]), np.array([2.0, 1.0]), reduction="sum"))
    2.0
    >>> lk.get("doc_absolute_error") is doc_absolute_error
    True
    """
    if callable(name):
        return loss()(name)
    _validate.check_choice("kind", kind, KINDS)

    def decorate(formula: Callable[..., Any]) -> Callable[..., Any]:
        wrapped = _build(formula, kind)
        add(
            LossInfo(
                name=name or formula.__name__,
                function=wrapped,
                aliases=tuple(aliases),
                family=family,
                kind=kind,
                task=task,
                domain=domain,
                properties=dict(properties or {}),
                references=tuple(references),
            ),
            replace=replace,
        )
        return wrapped

    return decorate


def _formula_parameters(formula: Callable[..., Any]) -> tuple[list[inspect.Parameter], bool]:
    parameters = list(inspect.signature(formula).parameters.values())
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2:
        raise TypeError(
            f"a loss formula takes (y_true, y_pred, *, xp, ...); {formula.__name__} has "
            f"{len(positional)} positional parameter(s)"
        )
    extra = [p for p in parameters[2:] if p.name != "xp"]
    clash = [p.name for p in extra if p.name in _CONTRACT]
    if clash:
        raise TypeError(f"formula parameter {clash[0]!r} clashes with the reduction contract")
    takes_xp = any(p.name == "xp" for p in parameters)
    return extra, takes_xp


def _build(formula: Callable[..., Any], kind: str) -> Callable[..., Any]:
    extra, takes_xp = _formula_parameters(formula)
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in extra)
    allowed = {p.name for p in extra if p.kind != p.VAR_KEYWORD}
    flags = {p.name for p in extra if isinstance(p.default, bool)}  # boolean options: strict

    def wrapped(
        y_true: Any,
        y_pred: Any,
        *,
        sample_weight: Any = None,
        mask: Any = None,
        reduction: str = "mean",
        normalizer: Any = None,
        axis: int = -1,
        **params: Any,
    ) -> Any:
        unknown = set(params) - allowed
        if unknown and not accepts_any:
            raise TypeError(
                f"{formula.__name__}() got an unexpected keyword argument {sorted(unknown)[0]!r}"
            )
        for name in flags.intersection(params):
            params[name] = _validate.check_bool(name, params[name])
        if kind == "elementwise" and axis != -1:
            raise TypeError(f"{formula.__name__}() is elementwise and takes no axis argument")
        check_reduction(reduction, normalizer)
        backend, y_pred, _ = _inputs.prediction(y_pred)
        y_true = backend.asarray(y_true, y_pred, "y_true")
        if backend.is_floating(y_true) or backend.is_bool(y_true):
            y_true = backend.astype(y_true, y_pred.dtype)
        if _validate.checking_values(backend, y_pred):
            _validate.check_no_nan(backend, y_pred, "y_pred")
        if kind == "elementwise":
            _validate.check_target_shape(backend.shape(y_true), backend.shape(y_pred))
            expected = backend.shape(y_pred)
        else:
            axis = _validate.check_axis(axis, y_pred.ndim)
            expected = backend.shape(y_pred)[:axis] + backend.shape(y_pred)[axis + 1 :]
            if y_true.ndim == y_pred.ndim:
                _validate.check_target_shape(backend.shape(y_true), backend.shape(y_pred))
                y_true = backend.moveaxis(y_true, axis, -1)
            y_pred = backend.moveaxis(y_pred, axis, -1)
        if takes_xp:
            params["xp"] = backend.xp
        value = formula(y_true, y_pred, **params)
        value = backend.asarray(value, y_pred)
        if not _validate.same_shape(backend.shape(value), expected):
            raise ValueError(
                f"loss formula {formula.__name__} returned shape {backend.shape(value)}; a "
                f"kind={kind!r} formula must return the unreduced shape {expected}"
            )
        return reduce_loss(
            backend,
            value,
            reduction=reduction,
            normalizer=normalizer,
            sample_weight=sample_weight,
            mask=mask,
        )

    wrapped.__name__ = formula.__name__
    wrapped.__qualname__ = formula.__qualname__
    wrapped.__doc__ = formula.__doc__
    wrapped.__module__ = formula.__module__
    wrapped.__signature__ = _public_signature(extra, kind)  # type: ignore[attr-defined]
    wrapped.formula = formula  # type: ignore[attr-defined]
    return wrapped


def _public_signature(extra: list[inspect.Parameter], kind: str) -> inspect.Signature:
    kw = inspect.Parameter.KEYWORD_ONLY
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [inspect.Parameter("y_true", positional), inspect.Parameter("y_pred", positional)]
    parameters += [p.replace(kind=kw) for p in extra if p.kind != p.VAR_KEYWORD]
    if kind == "axis":
        parameters.append(inspect.Parameter("axis", kw, default=-1))
    parameters += [
        inspect.Parameter("sample_weight", kw, default=None),
        inspect.Parameter("mask", kw, default=None),
        inspect.Parameter("reduction", kw, default="mean"),
        inspect.Parameter("normalizer", kw, default=None),
    ]
    return inspect.Signature(parameters)
