"""What a benchmark case is, and how one becomes a result row."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import losskit as lk

from ._timing import Settings, Step, Timing, compare

#: Validation labels: value checks on, off, or skipped because the loss is traced/compiled.
ON, OFF, TRACED = "on", "off", "traced"

#: Input shapes: (rows, classes) for cross-entropy, the array shape for elementwise losses,
#: (rows, features) for embeddings, (rows, features) for batch losses that compare every pair
#: of rows (contrastive), (batch, frames, classes, label length) for CTC.
LARGE = {
    "classes": (4096, 1000),
    "elements": (4096, 1024),
    "embeddings": (4096, 512),
    "batch": (256, 64),
    "sequences": (64, 200, 32, 40),
}
#: Small inputs, where the per-call overhead dominates.
SMALL = {
    "classes": (32, 10),
    "elements": (32,),
    "embeddings": (32, 16),
    "batch": (32, 16),
    "sequences": (32, 20, 10, 5),
}
QUICK = {
    "classes": (64, 10),
    "elements": (64, 64),
    "embeddings": (64, 16),
    "batch": (16, 8),
    "sequences": (4, 16, 6, 4),
}


def size_label(shape: tuple[int, ...]) -> str:
    """``(4096, 1000)`` as ``"4096x1000"``."""
    return "x".join(str(d) for d in shape)


@dataclass(frozen=True)
class Case:
    """One native loss and the matching losskit call, both as forward + backward steps.

    Each step returns ``(loss, gradient)``; ``loss_value`` reads the loss back as a float so the
    two sides can be checked to compute the same thing before they are timed.
    """

    suite: str
    loss: str
    size: str
    native_name: str
    validation: str
    native: Step
    losskit: Step
    loss_value: Callable[[Any], float]
    #: A timing already measured elsewhere (in a subprocess): ``run_case`` reports it as is.
    timing: Timing | None = None


@dataclass(frozen=True)
class Row:
    """One measured case: what was compared, and its timing."""

    suite: str
    loss: str
    size: str
    native: str
    validation: str
    timing: Timing


def check_same_loss(case: Case, rtol: float = 1e-3) -> None:
    """Raise if the native and losskit steps disagree on the loss value."""
    native = case.loss_value(case.native()[0])
    ours = case.loss_value(case.losskit()[0])
    if not math.isclose(native, ours, rel_tol=rtol, abs_tol=1e-6):
        raise AssertionError(
            f"{case.suite} / {case.loss}: native loss {native!r} != losskit loss {ours!r}"
        )


def run_case(case: Case, settings: Settings) -> Row:
    """Time ``case`` with losskit's value checks set as the case says, then restore them."""
    if case.timing is not None:
        return Row(case.suite, case.loss, case.size, case.native_name, case.validation, case.timing)
    previous = lk.set_validation(case.validation != OFF)
    try:
        check_same_loss(case)
        timing = compare(case.native, case.losskit, settings)
    finally:
        lk.set_validation(previous)
    return Row(case.suite, case.loss, case.size, case.native_name, case.validation, timing)
