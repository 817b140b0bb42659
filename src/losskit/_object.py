"""``lk.Loss``: a configured loss as a value — callable, composable, picklable, serialisable."""

from __future__ import annotations

import difflib
import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _validate
from ._registry import get, info, name_of

#: The per-call arguments of the reduction contract; they reach every term of a sum.
CALL_ARGUMENTS = ("sample_weight", "mask", "reduction", "normalizer")


class Loss:
    """A loss with its parameters bound: ``Loss("huber", delta=0.5)(y_true, y_pred)``.

    ``loss`` is a registered name or alias, or a loss function (a built-in, an ``@lk.loss``
    function, or any callable taking the inputs and the contract's keywords). ``params`` are the
    loss's own keyword parameters, checked against its signature now; the per-call arguments
    (``sample_weight``, ``mask``, ``reduction``, ``normalizer``, and data passed by keyword such as
    ``gaussian_nll``'s ``var``) are given at each call and override bound values.

    Loss objects combine: ``a + b`` and ``w * a`` (``w`` a real number) give a loss whose value is
    ``Σ wᵢ·ℓᵢ``, each term called with the same inputs and per-call arguments. With
    ``reduction="none"`` the terms' unreduced shapes must broadcast together.

    A registered loss's configuration is plain data: ``get_config()`` returns names, numbers,
    strings and nested lists (array parameters become lists), and ``Loss.from_config(config)``
    rebuilds an equal object; nothing is pickled or evaluated. Objects pickle by name and
    parameters, so they cross process boundaries (data loaders, multiprocessing).

    >>> import numpy as np, losskit as lk
    >>> huber = lk.Loss("huber", delta=0.5)
    >>> huber
    Loss('huber', delta=0.5)
    >>> float(huber(np.array([0.0, 0.0]), np.array([0.25, 2.0])))
    0.453125
    >>> both = 0.5 * lk.Loss("mse") + huber
    >>> both
    0.5 * Loss('mean_squared_error') + Loss('huber', delta=0.5)
    >>> float(both(np.array([0.0, 0.0]), np.array([0.25, 2.0])))
    1.46875
    >>> lk.Loss.from_config(both.get_config()) == both
    True
    """

    def __init__(self, loss: str | Callable[..., Any], /, **params: Any) -> None:
        if isinstance(loss, Loss):
            raise TypeError("loss must be a loss name or function, not a Loss object")
        self.function = get(loss)
        self.name = info(loss).name if isinstance(loss, str) else name_of(self.function)
        _check_params(self.function, params)
        self.params = dict(params)

    # calling -------------------------------------------------------------------------------
    def __call__(self, *inputs: Any, **call: Any) -> Any:
        return self.function(*inputs, **{**self.params, **call})

    # composition ---------------------------------------------------------------------------
    def terms(self) -> list[tuple[float, Loss]]:
        """The ``(weight, loss)`` terms of this loss: one, with weight 1."""
        return [(1.0, self)]

    def __add__(self, other: Any) -> Loss:
        if not isinstance(other, Loss):
            return NotImplemented
        return SumLoss([*self.terms(), *other.terms()])

    def __radd__(self, other: Any) -> Loss:
        if isinstance(other, numbers.Number) and other == 0:  # sum([...]) starts from 0
            return self
        return NotImplemented

    def __mul__(self, weight: Any) -> Loss:
        if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
            return NotImplemented
        return SumLoss([(float(weight) * w, term) for w, term in self.terms()])

    __rmul__ = __mul__

    # value semantics -----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Loss):
            return NotImplemented
        return self.get_config() == other.get_config() and self._functions() == other._functions()

    __hash__ = None  # type: ignore[assignment]  # mutable parameters

    def _functions(self) -> list[Callable[..., Any]]:
        return [term.function for _, term in self.terms()]

    def __repr__(self) -> str:
        label = self.name if self.name is not None else getattr(self.function, "__name__", "?")
        args = [repr(label), *(f"{k}={_short(v)}" for k, v in self.params.items())]
        return f"Loss({', '.join(args)})"

    def __reduce__(self) -> tuple[Any, ...]:
        target = self.name if self.name is not None else self.function
        return (_rebuild, (target, self.params))

    # configuration -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Plain data describing this loss: ``{"loss": name, "params": {...}}``."""
        if self.name is None:
            raise ValueError(
                f"loss function {getattr(self.function, '__name__', self.function)!r} is not "
                "registered, so its configuration cannot name it; register it with @lk.loss"
            )
        return {"loss": self.name, "params": {k: _plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Loss:
        """The loss described by ``config`` (as returned by ``get_config``)."""
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a mapping; got {type(config).__name__}")
        if "terms" in config:
            return SumLoss(
                [(float(t["weight"]), cls.from_config(t["loss"])) for t in config["terms"]]
            )
        if "loss" not in config:
            raise ValueError("config must have a 'loss' key (or 'terms' for a sum of losses)")
        return cls(config["loss"], **dict(config.get("params", {})))


class SumLoss(Loss):
    """A weighted sum of losses, ``Σ wᵢ·ℓᵢ`` (built with ``+`` and ``*`` on ``Loss`` objects)."""

    def __init__(self, terms: Sequence[tuple[float, Loss]]) -> None:
        if not terms:
            raise ValueError("a sum of losses needs at least one term")
        self._terms = [(float(w), term) for w, term in terms]
        self.name = None
        self.params = {}

    def terms(self) -> list[tuple[float, Loss]]:
        return list(self._terms)

    def __call__(self, *inputs: Any, **call: Any) -> Any:
        total = None
        for weight, term in self._terms:
            value = term(*inputs, **call)
            value = value if weight == 1.0 else weight * value
            total = value if total is None else total + value
        return total

    def __repr__(self) -> str:
        return " + ".join(repr(t) if w == 1.0 else f"{_short(w)} * {t!r}" for w, t in self._terms)

    def __reduce__(self) -> tuple[Any, ...]:
        return (SumLoss, (self._terms,))

    def get_config(self) -> dict[str, Any]:
        return {"terms": [{"weight": w, "loss": t.get_config()} for w, t in self._terms]}


def _rebuild(target: Any, params: dict[str, Any]) -> Loss:
    return Loss(target, **params)


def _check_params(function: Callable[..., Any], params: Mapping[str, Any]) -> None:
    contract = [k for k in params if k in CALL_ARGUMENTS and k != "reduction"]
    if contract:
        raise TypeError(
            f"{contract[0]!r} is a per-call argument: pass it when calling the loss, not to Loss()"
        )
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some callables have no signature; the call will check
        return
    accepted = {p.name: p for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY}
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    for key in params:
        if key not in accepted:
            close = difflib.get_close_matches(key, list(accepted), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(k for k in accepted if k not in CALL_ARGUMENTS) or "none"
            raise TypeError(
                f"{getattr(function, '__name__', 'loss')}() has no parameter {key!r}{hint} "
                f"(its parameters: {known})"
            )
        if isinstance(accepted[key].default, bool):  # a boolean option: refused now, not later
            _validate.check_bool(key, params[key])


def _plain(value: Any) -> Any:
    """``value`` as JSON-like data: arrays of any library become nested lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    tolist = getattr(value, "tolist", None)
    if tolist is None and hasattr(value, "numpy"):  # TensorFlow tensors
        tolist = value.numpy().tolist
    if tolist is None and hasattr(value, "__array__"):
        import numpy as np

        tolist = np.asarray(value).tolist
    if tolist is None:
        raise TypeError(f"parameter value {value!r} cannot be stored as plain data")
    if hasattr(value, "detach"):  # torch tensors that require grad
        return value.detach().cpu().tolist()
    return tolist()


def _short(value: Any) -> str:
    if hasattr(value, "shape") and not isinstance(value, (int, float)):
        return f"<array shape={tuple(value.shape)}>"
    return repr(value)
