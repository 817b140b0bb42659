"""What every property function shares: the :class:`Context` and small helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._adapt import Engine, Evaluator, Subject, quiet
from ._problem import LOGIT, PROB, SCORE, Problem
from ._report import Finding, format_number

ETA = np.arange(1, 50) / 50.0  # the true probabilities η of the binary checks: 0.02, ..., 0.98


@dataclass
class Context:
    """What every property function sees."""

    subject: Subject
    engine: Engine
    #: a :class:`Problem`, or a language-model task's layout (``_llm``)
    problem: Any
    ev: Evaluator
    rng: np.random.Generator
    notes: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)

    @property
    def f64(self) -> bool:
        return self.engine.dtype == "float64"

    @property
    def rtol(self) -> float:
        return 1e-9 if self.f64 else 1e-5

    def values(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        with quiet():
            return self.ev.values(y_true, y_pred)

    def grads(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with quiet():
            return self.ev.grads(y_true, y_pred)

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


def _finding(
    name: str,
    verdict: str,
    value: Any,
    meaning: str,
    witness: dict[str, Any] | None = None,
    **data: Any,
) -> Finding:
    return Finding(name, verdict, value, meaning, witness if verdict == "fail" else None, data)


def _na(name: str, why: str) -> Finding:
    return Finding(name, "info", None, why)


def _fmt(x: Any) -> str:
    return format_number(x)


def _close(a: float, b: float, rtol: float) -> bool:
    return bool(abs(a - b) <= rtol * max(1.0, abs(a), abs(b)))


def _finite(x: Any) -> bool:
    return bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64))))


_SINGULAR = {PROB: "probability", LOGIT: "logit", SCORE: "score"}


def _varying_grad(problem: Problem, grads: np.ndarray) -> np.ndarray:
    """d loss / d(the prediction that varies) of stacked ``binary_calls``."""
    if problem.task == "multilabel":
        return grads[:, 0, 0]
    if problem.task == "segmentation":
        return grads.reshape(len(grads), -1).sum(axis=1)
    return grads.reshape(len(grads), -1)[:, 0]


def _through_link(problem: Problem, pred: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """A binary gradient with respect to the logit: the chain rule through σ for
    probabilities, unchanged for logits and scores."""
    if problem.domain == PROB:
        return grad * pred * (1.0 - pred)
    return grad


def _softmax_grad(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """d loss / d logits from d loss / d probabilities, ``q = softmax(z)`` (rows)."""
    return q * (g - np.sum(q * g, axis=-1, keepdims=True))
