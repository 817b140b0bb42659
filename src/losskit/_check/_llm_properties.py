"""The property functions and curves of the language-model tasks, by task (``_preference``,
``_policy``, ``_distillation``); ``_properties.loss_curves`` and ``check`` read them here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _distillation, _policy, _preference
from ._context import Context
from ._report import Finding

PROPERTY_FUNCTIONS: dict[str, dict[str, Callable[[Context], Finding]]] = {
    "preference": _preference.PROPERTY_FUNCTIONS,
    "policy": _policy.PROPERTY_FUNCTIONS,
    "distillation": _distillation.PROPERTY_FUNCTIONS,
}

CURVES: dict[str, Callable[[Context], dict[str, Any]]] = {
    "preference": _preference.curves,
    "policy": _policy.curves,
    "distillation": _distillation.curves,
}
