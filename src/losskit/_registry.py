"""Name → loss, with the metadata that drives wrappers, listings, plots and tests."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

F = Callable[..., Any]


@dataclass(frozen=True)
class LossInfo:
    """What the registry knows about a loss.

    ``kind`` is ``"elementwise"`` (unreduced shape = broadcast shape of the inputs) or ``"axis"``
    (a class/feature axis is reduced). ``task`` names the problem it fits (``"binary"``,
    ``"multiclass"``, ``"multilabel"``, ``"regression"``, ...). ``domain`` describes valid
    predictions (``"probability"``, ``"logit"``, ``"real"``, ...). ``properties`` records what is
    known analytically (``proper``, ``convex``, ``bounded``...), ``references`` where the formula
    comes from.

    ``contract_exceptions`` maps a promise of the reduction contract that cannot hold for this
    loss (one of :data:`PROMISES`) to the reason, shown by ``losskit info`` and checked by the
    contract test suite: a loss keeps every promise it does not declare here.
    """

    name: str
    function: F
    aliases: tuple[str, ...] = ()
    family: str = "custom"
    kind: str = "elementwise"
    task: str = "any"
    domain: str = "real"
    properties: dict[str, Any] = field(default_factory=dict)
    references: tuple[str, ...] = ()
    contract_exceptions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.contract_exceptions) - set(PROMISES))
        if unknown:
            raise ValueError(
                f"contract_exceptions of {self.name!r} names unknown promises {unknown}; "
                f"the promises are {', '.join(PROMISES)}"
            )


#: The promises a loss may declare it cannot keep, with the reason, in ``contract_exceptions``:
#: ``empty_batch`` (an empty batch gives 0 with zero gradients), ``split_batch`` (the sum over
#: the parts of a split batch equals the sum over the whole batch), ``true_gradient`` (the
#: gradient is the derivative of the value: no stop-gradient inside the formula).
PROMISES = ("empty_batch", "split_batch", "true_gradient")

_LOSSES: dict[str, LossInfo] = {}
_ALIASES: dict[str, str] = {}


def register(
    name: str,
    *,
    aliases: tuple[str, ...] = (),
    replace: bool = False,
    **metadata: Any,
) -> Callable[[F], F]:
    """Decorator that registers a loss function under ``name`` and its ``aliases``."""

    def decorate(function: F) -> F:
        add(LossInfo(name=name, function=function, aliases=tuple(aliases), **metadata), replace)
        return function

    return decorate


def add(info: LossInfo, replace: bool = False) -> None:
    taken = [n for n in (info.name, *info.aliases) if n in _LOSSES or n in _ALIASES]
    if taken and not replace:
        raise ValueError(
            f"loss name {taken[0]!r} is already registered; pass replace=True to override it"
        )
    if replace:
        for n in taken:
            _remove(n)
    _LOSSES[info.name] = info
    for alias in info.aliases:
        _ALIASES[alias] = info.name


def _remove(name: str) -> None:
    canonical = _ALIASES.pop(name, name)
    old = _LOSSES.pop(canonical, None)
    if old is not None:
        for alias in old.aliases:
            _ALIASES.pop(alias, None)


def info(name: str) -> LossInfo:
    """The registry entry of a canonical name or alias (``KeyError`` with close matches)."""
    if not isinstance(name, str):
        raise TypeError(f"a loss name must be a string; got {type(name).__name__}")
    canonical = _ALIASES.get(name, name)
    try:
        return _LOSSES[canonical]
    except KeyError:
        close = suggestions(name)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"unknown loss {name!r}{hint} (lk.names() lists them all)") from None


def suggestions(name: str, limit: int = 5) -> list[str]:
    """Registered names close to ``name``: canonical names and aliases that start with it, then
    those that contain it (as a word first: ``focal`` finds ``focal_loss`` and
    ``binary_focal_crossentropy``), then, when these are few, close spellings (``difflib``);
    one name per loss, the one that matched.

    >>> import losskit
    >>> names = suggestions("focal")
    >>> names[0], all("focal" in name for name in names)
    ('focal_loss', True)
    """
    text = name.strip().lower().replace("-", "_").replace(" ", "_")
    known = sorted([*_LOSSES, *_ALIASES], key=lambda n: (len(n), n))
    found: list[str] = []
    losses: set[str] = set()

    def add(candidates: list[str]) -> None:
        for candidate in candidates:
            loss = _ALIASES.get(candidate, candidate)
            if loss not in losses:  # one name per loss: the one that matched
                losses.add(loss)
                found.append(candidate)

    if text:
        add([n for n in known if n.startswith(text)])
        add([n for n in known if f"_{text}_" in f"_{n}_"])
        add([n for n in known if text in n])
    if len(found) < 3:  # close spellings only when the name is not part of known names
        lowered = {n.lower(): n for n in known}
        close = difflib.get_close_matches(text, list(lowered), n=limit, cutoff=0.5)
        add([lowered[c] for c in close])
    return found[:limit]


def get(name: str | F) -> F:
    """The loss function registered under ``name`` (a canonical name or an alias).

    A callable is returned unchanged, so ``get`` accepts whatever a ``loss=`` argument may hold.

    >>> import losskit as lk
    >>> lk.get("bce") is lk.binary_crossentropy
    True
    """
    if callable(name):
        return name
    return info(name).function


def name_of(function: F) -> str | None:
    """The canonical name ``function`` is registered under, or ``None``."""
    for entry in _LOSSES.values():
        if entry.function is function:
            return entry.name
    return None


def names() -> list[str]:
    """The sorted canonical names of every registered loss.

    >>> import losskit as lk
    >>> "categorical_crossentropy" in lk.names()
    True
    """
    return sorted(_LOSSES)


def aliases() -> dict[str, str]:
    """Every alias and the canonical name it stands for."""
    return dict(sorted(_ALIASES.items()))
