"""Knowledge distillation: divergences between a teacher's and a student's logits.

Both losses take the teacher's logits first and the student's second, with the vocabulary (or
class) on ``axis``; they give one value per position (the ``axis`` reduced). The teacher is a
constant: it receives no gradient. Log-probabilities come from the exact ``log_softmax`` of the
logits divided by ``temperature``; a term whose probability is 0 (a ``-inf`` logit: a masked
vocabulary entry) contributes exactly 0, with a zero gradient.

Every divergence is summed as ``KL(p ‖ q) = Σ p·(e^w - 1 - w)``, ``w = log(q/p)``: the same value
as ``Σ p log(p/q)`` (``Σ (q - p) = 0``), but a sum of non-negative terms, so a small divergence
keeps its relative accuracy in float32 (``Σ p log(p/q)`` adds terms of both signs, each with an
error of the size of the log-probabilities).
"""

from __future__ import annotations

import math
from typing import Any

from .. import _validate
from .._backend import ArrayAPIBackend
from .._registry import register
from ._common import enter_pair, finish, full_target

_DISTILLATION: dict[str, Any] = {
    "family": "distillation",
    "kind": "axis",
    "task": "distillation",
    "domain": "logit",
}
_NAMES = ("teacher_logits", "student_logits")
DIRECTIONS = ("forward", "reverse")


class DivergencePair:
    """The teacher's (constant) and the student's log-probabilities ``(..., V)``, and their
    per-entry log-ratio ``u = log p_t - log p_s``; ``t_dead`` / ``s_dead`` mark probabilities of
    exactly 0 (``-inf`` logits). ``finite=True`` promises finite log-probabilities (the logits of
    a linear layer with finite inputs): no entry is dead, and the masks are skipped."""

    def __init__(
        self, backend: ArrayAPIBackend, log_t: Any, log_s: Any, finite: bool = False
    ) -> None:
        xp = backend.xp
        self.backend, self.xp = backend, xp
        self.log_t, self.log_s = log_t, log_s
        self.t_dead: Any = None
        self.s_dead: Any = None
        if finite:
            self.u = log_t - log_s
            return
        self.t_dead, self.s_dead = xp.isinf(log_t), xp.isinf(log_s)
        # -inf in both: no ratio (a 0 placeholder); in one of them, ±inf, which the divergences
        # take to their limits
        both = self.t_dead & self.s_dead
        zero = xp.zeros_like(log_t)
        self.u = xp.where(both, zero, log_t) - xp.where(both, zero, log_s)

    def generalized(self, beta: float) -> Any:
        """The generalised JSD per position: forward KL at β = 0, reverse KL at β = 1."""
        if beta == 0.0:
            return self.kl(forward=True)
        if beta == 1.0:
            return self.kl(forward=False)
        return self.jsd(beta)

    def kl(self, forward: bool) -> Any:
        """``KL(p_t ‖ p_s)`` (forward) or ``KL(p_s ‖ p_t)`` per position."""
        xp = self.xp
        if forward:
            log_p, log_q, dead, w = self.log_t, self.log_s, self.t_dead, -self.u
        else:
            log_p, log_q, dead, w = self.log_s, self.log_t, self.s_dead, self.u
        return xp.sum(_weighted_psi(xp, log_p, log_q, w, dead), axis=-1)

    def jsd(self, beta: float) -> Any:
        """``β KL(p_t ‖ m) + (1 - β) KL(p_s ‖ m)``, ``m = β p_t + (1 - β) p_s``, per position."""
        return self._jsd_parts(beta)[0]

    def _jsd_parts(self, beta: float) -> tuple[Any, Any]:
        """:meth:`jsd` and ``log(m / p_s)`` per entry."""
        xp = self.xp
        u = self.u
        zero = xp.zeros_like(u)
        up = u >= 0
        # log(m / p_t) = log(β + (1-β) e^{-u}) and log(m / p_s) = log(β e^{u} + 1 - β), each
        # as log1p(·expm1(·)) on the side where the exponential cannot overflow
        pos = xp.where(up, u, zero)
        neg = xp.where(up, zero, u)
        over_t_pos = xp.log1p((1.0 - beta) * xp.expm1(-pos))
        over_s_neg = xp.log1p(beta * xp.expm1(neg))
        over_t = xp.where(up, over_t_pos, over_s_neg - neg)
        over_s = xp.where(up, over_t_pos + pos, over_s_neg)
        log_t, log_s = self.log_t, self.log_s
        if self.t_dead is not None:  # never -inf twice (the gradient of logaddexp would be NaN)
            both = self.t_dead & self.s_dead
            log_t, log_s = xp.where(both, zero, log_t), xp.where(both, zero, log_s)
        log_m = xp.logaddexp(log_t + math.log(beta), log_s + math.log1p(-beta))
        teacher = _weighted_psi(xp, self.log_t, log_m, over_t, self.t_dead)
        student = _weighted_psi(xp, self.log_s, log_m, over_s, self.s_dead)
        return xp.sum(beta * teacher + (1.0 - beta) * student, axis=-1), over_s

    def generalized_and_gradient(self, beta: float) -> tuple[Any, Any]:
        """:meth:`generalized` and its gradient with respect to the student's logits (the
        inputs of its log-softmax), in closed form.

        With ``∂JSD/∂p_s = (1 - β) log(p_s / m)`` (the mixture's own terms cancel) through the
        softmax: ``g = (1 - β)·p_s·(r - Σ p_s r)`` with ``r = log(p_s / m)``; at β = 1,
        ``r = log(p_s / p_t)`` and the factor is 1; at β = 0, ``g = p_s - p_t``. Entries with
        ``p_s = 0`` get 0.
        """
        xp = self.xp
        p_s = xp.exp(self.log_s)
        if beta == 0.0:
            return self.kl(forward=True), p_s - xp.exp(self.log_t)
        zero = xp.zeros_like(p_s)
        if beta == 1.0:
            value, scale, ratio = self.kl(forward=False), 1.0, -self.u
        else:
            (value, over_s), scale = self._jsd_parts(beta), 1.0 - beta
            ratio = -over_s
        if self.s_dead is not None:
            ratio = xp.where(self.s_dead, zero, ratio)
        centre = xp.sum(p_s * ratio, axis=-1, keepdims=True)
        return value, (scale * p_s) * (ratio - centre)


def divergence_rows(
    teacher_logits: Any,
    student_logits: Any,
    beta: float,
    temperature: Any,
    axis: Any,
    reduction: str,
    normalizer: Any,
) -> tuple[ArrayAPIBackend, Any]:
    """The checked arguments of a distillation loss (logits divided by the temperature, the class
    axis moved last, the teacher detached) and the generalised JSD per position
    (:meth:`DivergencePair.generalized`). The backend may differentiate it through the closed
    form of :meth:`DivergencePair.generalized_and_gradient` instead of autodiff
    (:meth:`~losskit._backend.ArrayAPIBackend.rows_with_gradient`)."""
    temperature = _validate.check_range(
        "temperature", temperature, 0.0, math.inf, low_open=True, high_open=True
    )
    backend, teacher, student, _ = enter_pair(
        teacher_logits, student_logits, reduction, normalizer, _NAMES
    )
    axis = _validate.check_axis(axis, student.ndim)
    _validate.check_class_axis(backend.shape(teacher), backend.shape(student), axis, _NAMES)
    teacher = backend.stop_gradient(full_target(backend, teacher, student))
    teacher = backend.moveaxis(teacher, axis, -1)
    student = backend.moveaxis(student, axis, -1)
    if temperature != 1.0:
        teacher, student = teacher / temperature, student / temperature
    log_t = backend.log_softmax(teacher, axis=-1)

    def rows(student: Any, log_t: Any, gradient: bool) -> tuple[Any, Any]:
        pair = DivergencePair(backend, log_t, backend.log_softmax(student, axis=-1))
        if gradient:
            return pair.generalized_and_gradient(beta)
        return pair.generalized(beta), None

    return backend, backend.rows_with_gradient(rows, student, log_t)


def _weighted_psi(xp: Any, log_p: Any, log_q: Any, w: Any, dead: Any) -> Any:
    """``p · (e^w - 1 - w)`` for ``w = log(q / p)`` (``w`` given, computed accurately by the
    caller), elementwise, and 0 where ``dead`` (p = 0; None: nowhere).

    Summed over two distributions this is ``KL(p ‖ q)`` as a sum of non-negative terms
    (``Σ (q - p)`` is 0): no cancellation between entries, and a common error in ``w`` (the
    normalisers') cancels to first order. ``e^w - 1 - w`` is ``expm1(w) - w`` up to ``w = 1``;
    above, the term is ``q - p (1 + w)``, where ``e^w`` could overflow while ``q`` cannot. Each
    branch sees only its own inputs, so every gradient is finite where the value is."""
    zero = xp.zeros_like(log_p)
    if dead is not None:
        log_p = xp.where(dead, zero, log_p)
        w = xp.where(dead, zero, w)
    big = w > 1.0
    small_w = xp.where(big, zero, w)
    big_w = xp.where(big, w, xp.ones_like(w))
    p = xp.exp(log_p)
    small = p * (xp.expm1(small_w) - small_w)
    large = xp.exp(xp.where(big, log_q, zero)) - p * (1.0 + big_w)
    term = xp.where(big, large, small)
    return term if dead is None else xp.where(dead, zero, term)


@register(
    "generalized_jsd",
    aliases=("gkd", "generalized_jensen_shannon"),
    properties={"bounded": False, "teacher_gradient": False},
    references=(
        "Agarwal et al. (2024), On-Policy Distillation of Language Models: Learning from "
        "Self-Generated Mistakes (GKD)",
        "TRL GKDTrainer.generalized_jsd_loss (trl 1.16, reduction='batchmean')",
    ),
    **_DISTILLATION,
)
def generalized_jsd(
    teacher_logits: Any,
    student_logits: Any,
    *,
    beta: float = 0.5,
    temperature: float = 1.0,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Generalised Jensen-Shannon divergence between teacher and student (GKD), per position.

    With :math:`p_t = \mathrm{softmax}(z_t / τ)`, :math:`p_s = \mathrm{softmax}(z_s / τ)` and the
    mixture :math:`m = β\,p_t + (1 - β)\,p_s`:

    .. math:: \mathrm{JSD}_β = β\,\mathrm{KL}(p_t \,\|\, m) + (1 - β)\,\mathrm{KL}(p_s \,\|\, m)

    for 0 < β < 1; ``beta=0`` is :math:`\mathrm{KL}(p_t \| p_s)` (forward KL, supervised
    distillation) and ``beta=1`` is :math:`\mathrm{KL}(p_s \| p_t)` (reverse KL), as in TRL (the
    skewed divergence itself tends to 0 at both ends). The mixture is computed in log space:
    :math:`\log m = \operatorname{logaddexp}(\log(1-β) + \log p_s, \log β + \log p_t)`, and
    :math:`\log(m/p_t) = \log(β + (1-β)e^{-u})`, :math:`\log(m/p_s) = \log(βe^{u} + 1-β)` with
    :math:`u = \log p_t - \log p_s`, as ``log1p``/``expm1`` on the side that cannot overflow.
    Every term with :math:`p = 0` is 0 (a masked vocabulary entry: a ``-inf`` logit in both), so
    logits at ±1e4 and ``-inf`` give finite values and gradients.

    Unreduced shape: the logits' shape without ``axis`` (one value per token for ``(B, T, V)``
    logits); ``mask`` ``(B, T)`` excludes positions (padding, prompt tokens) and ``"mean"`` then
    averages over the unmasked ones. The teacher receives no gradient. ``beta`` in [0, 1],
    ``temperature`` > 0 (both logits are divided by it; no :math:`τ^2` factor).

    Anchor: TRL ``GKDTrainer.generalized_jsd_loss(student_logits, teacher_logits, labels, beta,
    temperature, reduction="batchmean")`` with ``mask = labels != -100`` (its arguments come in
    the other order). Reference: Agarwal et al. (2024).

    >>> import numpy as np, losskit as lk
    >>> t, s = np.log(np.array([[0.5, 0.5]])), np.log(np.array([[0.9, 0.1]]))
    >>> round(float(lk.generalized_jsd(t, s, beta=0.5)), 6)
    0.101749
    >>> round(float(lk.generalized_jsd(t, s, beta=0.0)), 6)  # KL(teacher || student)
    0.510826
    """
    beta = _validate.check_range("beta", beta, 0.0, 1.0)
    backend, loss = divergence_rows(
        teacher_logits, student_logits, beta, temperature, axis, reduction, normalizer
    )
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "distillation_kl",
    aliases=("kd_loss", "knowledge_distillation"),
    properties={"bounded": False, "teacher_gradient": False},
    references=(
        "Hinton, Vinyals & Dean (2015), Distilling the Knowledge in a Neural Network",
        "Gu et al. (2024), MiniLLM: Knowledge Distillation of Large Language Models (reverse KL)",
    ),
    **_DISTILLATION,
)
def distillation_kl(
    teacher_logits: Any,
    student_logits: Any,
    *,
    temperature: float = 1.0,
    direction: str = "forward",
    axis: int = -1,
    temperature_scaling: bool = False,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Knowledge-distillation KL divergence between softened teacher and student distributions.

    With :math:`p_t = \mathrm{softmax}(z_t / τ)` and :math:`p_s = \mathrm{softmax}(z_s / τ)`:

    .. math:: \ell = c\cdot\mathrm{KL}(p_t \,\|\, p_s)\ \ (\texttt{direction="forward"}),\qquad
              \ell = c\cdot\mathrm{KL}(p_s \,\|\, p_t)\ \ (\texttt{direction="reverse"})

    with :math:`c = 1`, or :math:`c = τ^2` when ``temperature_scaling=True`` (Hinton et al.'s
    factor, which keeps the gradient's scale independent of τ). There is **no** τ² factor by
    default. Computed from exact log-softmaxes as :math:`\sum p (\log p - \log q)`, a term with
    :math:`p = 0` (a ``-inf`` logit) being 0 with a zero gradient, so logits at ±1e4 and masked
    vocabulary entries (``-inf`` in both) stay finite; forward KL is +inf where the student has
    a ``-inf`` logit and the teacher does not.

    Unreduced shape: the logits' shape without ``axis`` (one value per token); ``mask``
    excludes positions, ``"mean"`` averages over the rest (torch's ``batchmean`` for ``(N, V)``
    logits). The teacher receives no gradient. ``temperature`` > 0.

    Anchors: ``direction="forward"`` is torch ``F.kl_div(log_softmax(z_s/τ),
    log_softmax(z_t/τ), log_target=True, reduction="batchmean")`` (times τ² with
    ``temperature_scaling``: the classic Hinton loss) and TRL GKD's ``beta=0``;
    ``"reverse"`` is TRL GKD's ``beta=1``. References: Hinton, Vinyals & Dean (2015); Gu et al.
    (2024) for the reverse direction.

    >>> import numpy as np, losskit as lk
    >>> t, s = np.log(np.array([[0.5, 0.5]])), np.log(np.array([[0.9, 0.1]]))
    >>> round(float(lk.distillation_kl(t, s)), 6)
    0.510826
    >>> round(float(lk.distillation_kl(t, s, direction="reverse")), 6)
    0.368064
    """
    _validate.check_choice("direction", direction, DIRECTIONS)
    temperature_scaling = _validate.check_bool("temperature_scaling", temperature_scaling)
    beta = 0.0 if direction == "forward" else 1.0  # the generalised JSD's two ends
    backend, loss = divergence_rows(
        teacher_logits, student_logits, beta, temperature, axis, reduction, normalizer
    )
    if temperature_scaling:
        loss = loss * (float(temperature) ** 2)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)
