"""The language-model tasks: what the checker feeds a preference, policy or distillation loss.

The checker's machinery (``_adapt``) evaluates and differentiates a loss written as
``f(y_true, y_pred)``: ``y_pred`` holds what training moves (the gradient is taken with respect to
it), ``y_true`` the constants. A *layout* packs each task's inputs into that pair and an
*adapter* unpacks them into the loss's own signature:

============  ================================  ==============================================
task          y_pred of one call                y_true of one call
============  ================================  ==============================================
preference    ``(n, 2)``: the policy's          ``(n, 2)``: the reference model's (ignored by
              log-probabilities of the chosen    a loss of two inputs: ORPO, SimPO, CPO)
              and rejected completions
policy        ``(B, T)``: per-token log-probs    ``(B, T, 3)``: old log-probabilities, the
              of ``B`` sequences of ``T`` tokens sequence's advantage (repeated per token) and
                                                 the completion mask (0/1)
distillation  ``(n, V)``: the student's logits   ``(n, V)``: the teacher's logits
============  ================================  ==============================================

A preference loss is called as ``f(chosen, rejected, ref_chosen, ref_rejected)`` when it takes
four positional inputs and as ``f(chosen, rejected)`` when it takes two (KTO gets ``kl=0.0``); a
policy loss as ``f(logps, old_logps, advantages, mask=...)`` (the mask by keyword when the loss
has a parameter ``mask`` or ``completion_mask``, otherwise no mask; a loss with a ``ref_logps``
parameter gets the old log-probabilities there, so that a KL penalty such as GRPO's with
``beta > 0`` is 0 at ``π = π_old``); a distillation loss as
``f(teacher_logits, student_logits)``, and a loss of two linear heads (parameters
``student_hidden``, ``student_weight``, ``teacher_hidden``, ``teacher_weight``, such as
``linear_distillation``) with the logits as hidden states and identity weights.

Every log-probability the checker draws is ``≤ 0``; the draws are described with each layout.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._object import Loss
from ._adapt import Engine, Subject
from ._problem import LM_TASKS
from ._report import Finding

__all__ = ["LM_TASKS", "DistillationLayout", "PolicyLayout", "PreferenceLayout", "setups"]

#: The parameter names under which a policy loss takes the completion mask.
MASK_NAMES = ("mask", "completion_mask")

#: The parameters that mark a loss of two linear output heads (hidden states and weights).
LINEAR_HEADS = frozenset({"student_hidden", "student_weight", "teacher_hidden", "teacher_weight"})


# ---------------------------------------------------------------------- layouts
@dataclass
class Layout:
    """What every layout provides to the shared property functions (``scalar``, ``gradient``,
    ``decomposable``): typical calls, one sample as a call, the bounds of ``y_pred``."""

    task: str = ""
    domain: str = "log-probability"
    unit: str = "sample"
    classification: bool = False
    has_link: bool = False
    #: finite differences relative to ``|x|`` below 1 (log-probabilities near 0)
    relative_steps: bool = True

    @property
    def bounds(self) -> tuple[float, float]:
        return -math.inf, 0.0

    def typical(self, rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def one_call(self, y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``i`` of a typical batch as a call of batch size one."""
        return np.asarray(y)[None], np.asarray(p)[None]

    def describe(self) -> str:
        raise NotImplementedError


@dataclass
class PreferenceLayout(Layout):
    """Pairs of completions: the policy's log-probabilities ``(chosen, rejected)`` in ``y_pred``,
    the reference model's in ``y_true``.

    Typical pairs: each log-probability is ``-exp(N(0, 1))`` (from about -0.05 to -20, the range
    of per-token averages and of short sums), each reference one the policy's times
    ``exp(N(0, 0.5))``, so the log-ratios are a fraction of the log-probabilities.

    A pair *at margin* δ (:meth:`at_margin`) splits δ evenly between the two log-ratios,
    ``c - c_ref = δ/2`` and ``r - r_ref = -δ/2``: the better completion keeps the log-probability
    ``-level`` (0.5 by default, a per-token average of probability 0.6), the worse one moves
    down by ``|δ|``, and both references sit at ``-level - |δ|/2``. Swapping the pair's roles is
    the pair at ``-δ``.
    """

    task: str = "preference"
    unit: str = "pair"
    references: bool = True

    LEVEL = 0.5

    @staticmethod
    def pack(
        chosen: Any, rejected: Any, ref_chosen: Any, ref_rejected: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stacked calls of one pair each: ``y_true`` and ``y_pred`` of shape ``(M, 1, 2)``."""
        c, r, rc, rr = np.broadcast_arrays(
            *(
                np.asarray(x, dtype=np.float64).reshape(-1)
                for x in (chosen, rejected, ref_chosen, ref_rejected)
            )
        )
        return np.stack([rc, rr], -1)[:, None, :], np.stack([c, r], -1)[:, None, :]

    def at_margin(self, margins: Any, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
        """One call per margin δ: the pair described in the class docstring."""
        d = np.asarray(margins, dtype=np.float64).reshape(-1)
        reference = -level - 0.5 * np.abs(d)
        return self.pack(
            -level - np.maximum(0.0, -d), -level - np.maximum(0.0, d), reference, reference
        )

    def typical(self, rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
        policy = -np.exp(rng.normal(0.0, 1.0, (n, 2)))
        reference = policy * np.exp(rng.normal(0.0, 0.5, (n, 2)))
        return reference, policy

    def describe(self) -> str:
        if self.references:
            return "log-probabilities of (chosen, rejected) completions, with the reference model's"
        return "log-probabilities of (chosen, rejected) completions, no reference model"


@dataclass
class PolicyLayout(Layout):
    """Sequences of sampled tokens: per-token log-probabilities ``(B, T)`` in ``y_pred``; the old
    policy's log-probabilities, the advantages and the completion mask in ``y_true``.

    Typical sequences (``T = 4`` tokens): log-probabilities ``log U(0.05, 0.95)``, old ones
    those plus ``N(0, 0.15)`` (ratios mostly inside a 0.2 trust region, some outside), one
    advantage ``N(0, 1)`` per sequence, and completion lengths from 1 to ``T`` (the first
    sequence full) when the loss takes a mask.
    """

    task: str = "policy"
    unit: str = "sequence"
    masked: bool = True
    tokens: int = 4
    #: sequences in one call of the property probes
    batch: int = 2

    @staticmethod
    def pack(
        logps: Any, old_logps: Any, advantages: Any, mask: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stacked calls: ``logps``, ``old_logps``, ``mask`` ``(M, B, T)``, ``advantages``
        ``(M, B)``; returns ``y_true (M, B, T, 3)`` and ``y_pred (M, B, T)``."""
        logps = np.asarray(logps, dtype=np.float64)
        old = np.broadcast_to(np.asarray(old_logps, dtype=np.float64), logps.shape)
        adv = np.asarray(advantages, dtype=np.float64)
        adv = np.broadcast_to(adv.reshape(*adv.shape, 1), logps.shape)
        mask = np.broadcast_to(np.asarray(mask, dtype=np.float64), logps.shape)
        return np.stack([old, adv, mask], -1), logps.copy()

    def uniform(
        self, log_ratio: Any, advantage: Any, old: float = -1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """One call per entry: every token of every sequence has log-ratio ``log_ratio`` and
        every sequence the advantage; the old log-probability is ``old - max(u, 0)`` so that
        both stay ``≤ 0``; no token masked."""
        u = np.asarray(log_ratio, dtype=np.float64).reshape(-1)
        a = np.broadcast_to(np.asarray(advantage, dtype=np.float64).reshape(-1), u.shape)
        shape = (len(u), self.batch, self.tokens)
        old_logps = np.broadcast_to((old - np.maximum(u, 0.0))[:, None, None], shape)
        logps = old_logps + u[:, None, None]
        return self.pack(logps, old_logps, np.broadcast_to(a[:, None], shape[:2]), np.ones(shape))

    def lengths_mask(self, lengths: Any) -> np.ndarray:
        """The completion mask of sequences of the given lengths, ``lengths.shape + (T,)``."""
        return (np.arange(self.tokens) < np.asarray(lengths)[..., None]).astype(np.float64)

    def typical(self, rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
        t = self.tokens
        logps = np.log(rng.uniform(0.05, 0.95, (n, t)))
        old = np.minimum(logps + rng.normal(0.0, 0.15, (n, t)), -1e-3)
        lengths = rng.integers(1, t + 1, n) if self.masked else np.full(n, t)
        lengths[0] = t
        y_true, y_pred = self.pack(
            logps[None], old[None], rng.normal(0, 1, (1, n)), self.lengths_mask(lengths)[None]
        )
        return y_true[0], y_pred[0]

    def describe(self) -> str:
        mask = "and a completion mask" if self.masked else "no mask"
        return (
            f"per-token log-probabilities of sequences of {self.tokens} tokens, with the old "
            f"policy's, one advantage per sequence {mask}"
        )


@dataclass
class DistillationLayout(Layout):
    """Positions of a vocabulary of ``classes`` entries: the teacher's logits in ``y_true``, the
    student's in ``y_pred`` (class axis last). Typical logits are ``N(0, 2)``. ``infinite``:
    whether ``-inf`` logits (a masked vocabulary entry) can be fed (not through linear heads:
    ``-inf`` hidden states would meet zero weights)."""

    task: str = "distillation"
    domain: str = "logit"
    unit: str = "position"
    relative_steps: bool = False
    classes: int = 4
    infinite: bool = True
    linear_heads: bool = False

    @property
    def bounds(self) -> tuple[float, float]:
        return -math.inf, math.inf

    @staticmethod
    def pack(teacher: Any, student: Any) -> tuple[np.ndarray, np.ndarray]:
        """Stacked calls of one position each: ``(M, 1, V)`` teacher and student logits."""
        t = np.asarray(teacher, dtype=np.float64)
        s = np.asarray(student, dtype=np.float64)
        t, s = np.broadcast_arrays(t, s)
        return t[:, None, :].copy(), s[:, None, :].copy()

    def typical(self, rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
        k = self.classes
        return rng.normal(0.0, 2.0, (n, k)), rng.normal(0.0, 2.0, (n, k))

    def describe(self) -> str:
        heads = " (as linear heads with identity weights)" if self.linear_heads else ""
        return f"student logits over {self.classes} classes against teacher logits{heads}"


LMLayout = PreferenceLayout | PolicyLayout | DistillationLayout

SIGNATURES = {
    "preference": "f(chosen_logps, rejected_logps[, ref_chosen_logps, ref_rejected_logps])",
    "policy": "f(logps, old_logps, advantages[, mask=...])",
    "distillation": "f(teacher_logits, student_logits)",
}


# ---------------------------------------------------------------------- adapters
def _positional(function: Any) -> tuple[int, float]:
    """How many positional inputs ``function`` requires and how many it accepts."""
    if isinstance(function, Loss):
        function = function.terms()[0][1].function
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return 0, math.inf
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in kinds]
    required = sum(p.default is inspect.Parameter.empty for p in positional)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return required, math.inf
    return required, len(positional)


def _preference_adapter(function: Callable[..., Any], references: bool) -> Callable[..., Any]:
    if references:

        def four(y_true: Any, y_pred: Any, **kwargs: Any) -> Any:
            return function(
                y_pred[..., 0], y_pred[..., 1], y_true[..., 0], y_true[..., 1], **kwargs
            )

        return four

    def two(y_true: Any, y_pred: Any, **kwargs: Any) -> Any:
        return function(y_pred[..., 0], y_pred[..., 1], **kwargs)

    return two


def _policy_adapter(
    function: Callable[..., Any], mask_name: str | None, reference: bool
) -> Callable[..., Any]:
    def call(y_true: Any, y_pred: Any, **kwargs: Any) -> Any:
        if mask_name is not None:
            kwargs[mask_name] = y_true[..., 2]
        if reference:  # the old policy as the reference: a KL penalty is 0 at π = π_old
            kwargs["ref_logps"] = y_true[..., 0]
        return function(y_pred, y_true[..., 0], y_true[..., 0, 1], **kwargs)

    return call


def _heads_adapter(function: Callable[..., Any], engine: Engine) -> Callable[..., Any]:
    """Logits as the hidden states of linear heads whose weights are the identity."""

    def call(y_true: Any, y_pred: Any, **kwargs: Any) -> Any:
        eye = engine.asarray(np.eye(int(y_pred.shape[-1])))
        return function(y_pred, eye, y_true, eye, **kwargs)

    return call


def setups(subject: Subject, task: str, engine: Engine) -> list[tuple[Subject, LMLayout]]:
    """The ways to call ``subject`` for ``task``, most specific first: each an adapted subject
    (``f(y_true, y_pred)``) and its layout."""
    adapted = replace(subject, kwargs={}, original=subject.function)
    if task == "preference":
        required, accepted = _positional(subject.function)
        kwargs = {"kl": 0.0} if "kl" in subject.parameters else {}
        out: list[tuple[Subject, LMLayout]] = []
        for references in (True, False):
            count = 4 if references else 2
            if required <= count <= accepted:
                out.append(
                    (
                        replace(
                            adapted,
                            function=_preference_adapter(subject.function, references),
                            kwargs=kwargs,
                        ),
                        PreferenceLayout(references=references),
                    )
                )
        return out
    if task == "policy":
        names = [n for n in MASK_NAMES if n in subject.parameters]
        options: list[str | None] = [*names[:1], None]
        reference = "ref_logps" in subject.parameters
        return [
            (
                replace(adapted, function=_policy_adapter(subject.function, name, reference)),
                PolicyLayout(masked=name is not None),
            )
            for name in options
        ]
    if subject.parameters >= LINEAR_HEADS:
        return [
            (
                replace(adapted, function=_heads_adapter(subject.function, engine)),
                DistillationLayout(infinite=False, linear_heads=True),
            )
        ]
    return [(adapted, DistillationLayout())]


def swapped(subject: Subject) -> Subject:
    """``subject`` with its two arguments exchanged: differentiating it with respect to
    ``y_pred`` differentiates the original with respect to ``y_true``."""
    function = subject.function

    def call(y_true: Any, y_pred: Any, **kwargs: Any) -> Any:
        return function(y_pred, y_true, **kwargs)

    return replace(subject, function=call)


def known_parameter(subject: Subject, name: str) -> Any:
    """A parameter's value as the loss receives it: bound in an ``lk.Loss`` object, or the
    function's default; None when unknown."""
    function = subject.original if subject.original is not None else subject.function
    if name in subject.kwargs:
        return subject.kwargs[name]
    if isinstance(function, Loss):
        terms = function.terms()
        if len(terms) != 1:
            return None
        if name in terms[0][1].params:
            return terms[0][1].params[name]
        function = terms[0][1].function
    try:
        parameter = inspect.signature(function).parameters.get(name)
    except (TypeError, ValueError):
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


# ---------------------------------------------------------------------- shared checks
def epsilon_floor(
    params: np.ndarray, values: np.ndarray, slopes: np.ndarray, lowest: float, base: float
) -> tuple[int, int] | None:
    """An epsilon floor (``log(p + eps)``) along a ladder of ever worse predictions.

    ``params`` moves away from the good side (``|params|`` increasing), ``values`` and
    ``slopes`` are the loss and its derivative there, ``lowest`` the loss's smallest value and
    ``base`` its rise at the ladder's start. From the first point ``a`` whose rise is 5 times
    ``base`` (a loss that levels off before never gets there), a point ``j`` at least 6 times as
    far out where the loss has risen 1.5 times as much again while its slope has fallen below
    1e-3 of the slope at ``a`` is a loss still growing with a vanished gradient: returns
    ``(a, j)``, or None.
    """
    if not (base > 0 and math.isfinite(base)):
        return None
    rise = np.asarray(values, dtype=np.float64) - lowest
    high = np.nonzero(np.isfinite(rise) & (rise >= 5.0 * base))[0]
    if not len(high):
        return None
    a = int(high[0])
    for j in range(a + 1, len(params)):
        far = abs(params[j]) >= 6.0 * abs(params[a])
        growing = rise[j] > 1.5 * rise[a]
        if far and growing and abs(slopes[j]) < 1e-3 * abs(slopes[a]):
            return a, j
    return None


def not_applicable(name: str, why: str) -> Callable[[Any], Finding]:
    """A property function that reports ``name`` as not applicable, saying ``why``."""

    def function(ctx: Any) -> Finding:
        return Finding(name, "info", None, why)

    return function


def difference_step(ctx: Any, x: np.ndarray) -> np.ndarray:
    """Central-difference steps along a one-dimensional path (a margin, a logit offset)."""
    base = 1e-6 if ctx.f64 else 3e-3
    return base * np.maximum(1.0, np.abs(x))
