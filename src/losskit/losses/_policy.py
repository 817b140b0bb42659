"""Policy-gradient losses for language models: the clipped surrogate of GRPO and its variants.

Inputs are per-token log-probabilities ``(B, T)`` of the sampled completions (``B`` sequences of
``T`` tokens, padded) under the policy being trained (``logps``) and under the policy that
sampled them (``old_logps``), and one advantage per sequence ``(B,)`` (or per token). The
completion mask travels as the contract's ``mask``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _inputs, _validate
from .._backend import ArrayAPIBackend
from .._reduce import check_reduction, reduce_loss
from .._registry import register

_FAMILY: dict[str, Any] = {"family": "policy"}

#: How the per-token losses become one loss (see :func:`grpo`).
VARIANTS = ("grpo", "bnpo", "dr_grpo", "dapo")
#: Variants whose unreduced loss is one value per sequence (the others: one per token).
_PER_SEQUENCE = ("grpo", "dr_grpo")
IMPORTANCE_SAMPLING = ("token", "sequence")

#: ``exp(u) - 1 - u = u² s(u)`` with ``s(u) = Σ_k u^k / (k + 2)!`` is evaluated from a
#: polynomial for ``s`` where ``|u|`` is at most this bound (``expm1(u) - u`` would cancel there);
#: beyond it ``expm1(u) - u`` loses at most a factor 4.4 of relative accuracy.
_SERIES_BOUND = 0.5


def _chebyshev_fit(degree: int) -> tuple[float, ...]:
    """Coefficients (constant first) of the polynomial of ``degree`` that interpolates ``s`` at
    the Chebyshev nodes of ``[-½, ½]``: within 1.5 float32 epsilons of ``s`` there with six
    terms, where the Taylor series needs seven."""
    n = degree + 1
    t = np.cos((2 * np.arange(n) + 1) * np.pi / (2 * n))  # the nodes on [-1, 1]
    u = _SERIES_BOUND * t
    s = sum(u**k / math.factorial(k + 2) for k in range(25))
    fit = np.linalg.solve(np.vander(t, n, increasing=True), s)
    return tuple(float(c) / _SERIES_BOUND**k for k, c in enumerate(fit))


#: The polynomial for ``s`` per compute dtype: in float64 the Taylor series to 14 terms (the
#: first term left out is below 6e-18 of the sum), in float32 the six-term Chebyshev fit.
_SERIES = {
    "float64": tuple(1.0 / math.factorial(k + 2) for k in range(14)),
    "float32": _chebyshev_fit(5),
}
#: ``exp(u) - 1 - u`` at ``u = ±½`` (the series in float64), and the chord through those two
#: points as ``(intercept, slope)``: it lies above the convex function on ``[-½, ½]`` and below
#: it outside.
_ENDS = tuple(
    sum(u**k / math.factorial(k) for k in range(2, 25)) for u in (-_SERIES_BOUND, _SERIES_BOUND)
)
_CHORD = ((_ENDS[0] + _ENDS[1]) / 2, (_ENDS[1] - _ENDS[0]) / (2 * _SERIES_BOUND))


def exp_minus_one_minus(backend: ArrayAPIBackend, u: Any) -> Any:
    """``exp(u) - 1 - u`` (≥ 0) with full relative accuracy, also for small ``|u|``.

    With ``e(u) = expm1(u) - u`` and ``c`` = ``u`` clipped to ``[-½, ½]``, the value is
    ``e(u) + (c² s(c) - e(c))``: where ``|u| ≤ ½`` the bracket replaces ``e(u)`` (which cancels)
    by the polynomial, beyond it is ``c² s(c) - e(±½)``, a few ulps of ``e(±½)``. ``e(c)`` is
    ``e(u)`` itself where ``|u| ≤ ½`` and ``e(±½)`` beyond: the smaller of ``e(u)`` and the chord
    at ``c``.
    Only ``e(u)`` is differentiated (the bracket is a constant to autodiff), so the gradient is
    ``expm1(u)`` and every higher derivative ``exp(u)``, finite wherever the value is; only
    cheap elementwise operations are added to it.
    """
    xp = backend.xp
    e = xp.expm1(u) - u
    near = xp.clip(backend.stop_gradient(u), -_SERIES_BOUND, _SERIES_BOUND)
    coefficients = _SERIES["float64" if backend.eps(u.dtype) < 1e-10 else "float32"]
    # the correction is a constant to autodiff: updated in place where the library allows it
    correction = near * coefficients[-1]
    for c in reversed(coefficients[:-1]):
        correction += c
        correction *= near
    correction *= near
    chord = near * _CHORD[1]
    chord += _CHORD[0]
    correction -= xp.minimum(backend.stop_gradient(e), chord)
    return e + correction


# ---------------------------------------------------------------------- inputs
def _log_probabilities(backend: ArrayAPIBackend, x: Any, like: Any, name: str) -> Any:
    """A float array of ``like``'s shape on ``like``'s backend, in its compute dtype."""
    x = backend.asarray(x, like, name)
    _validate.check_float_prediction(backend, x, name)
    if not _validate.same_shape(backend.shape(x), backend.shape(like)):
        raise ValueError(
            f"{name} must have the shape of logps, (batch, tokens) = {backend.shape(like)}; got "
            f"shape {backend.shape(x)}"
        )
    return backend.astype(x, like.dtype)


def _advantages(backend: ArrayAPIBackend, advantages: Any, like: Any) -> Any:
    """Advantages as a ``(B, 1)`` or ``(B, T)`` array (one per sequence or one per token)."""
    a = backend.asarray(advantages, like, "advantages")
    if not (backend.is_floating(a) or backend.is_integral(a)):
        raise TypeError(f"advantages must be a numeric array; got dtype {a.dtype}")
    a = backend.astype(a, like.dtype)
    batch, tokens = backend.shape(like)
    shape = backend.shape(a)
    if _validate.same_shape(shape, (batch,)):
        return backend.xp.reshape(a, (-1, 1))
    if _validate.same_shape(shape, (batch, 1)) or _validate.same_shape(shape, (batch, tokens)):
        return a
    raise ValueError(
        f"advantages must have one value per sequence, shape ({batch},), or one per token, "
        f"shape ({batch}, {tokens}); got shape {shape}"
    )


def _masks(backend: ArrayAPIBackend, mask: Any, like: Any, checking: bool) -> tuple[Any, Any]:
    """``(token mask (B, T) or None, sequence mask (B,) or None)`` from the ``mask`` argument:
    a ``(B, T)`` mask selects tokens, a ``(B,)`` (or ``(B, 1)``) mask whole sequences."""
    if mask is None:
        return None, None
    mask = _inputs.boolean_mask(backend, mask, like, checking)
    batch, tokens = backend.shape(like)
    shape = backend.shape(mask)
    xp = backend.xp
    if _validate.same_shape(shape, (batch, tokens)):
        return mask, None
    if _validate.same_shape(shape, (batch, 1)):
        mask = xp.reshape(mask, (-1,))
        shape = backend.shape(mask)
    if _validate.same_shape(shape, (batch,)):
        return backend.broadcast_like(xp.reshape(mask, (-1, 1)), like), mask
    raise ValueError(
        f"mask must select tokens, shape ({batch}, {tokens}) (the completion mask), or whole "
        f"sequences, shape ({batch},); got shape {shape}"
    )


def _check_options(
    beta: Any,
    epsilon_low: Any,
    epsilon_high: Any,
    variant: Any,
    max_completion_length: Any,
    importance_sampling: Any,
) -> tuple[float, float, float, int | None]:
    _validate.check_choice("variant", variant, VARIANTS)
    _validate.check_choice("importance_sampling", importance_sampling, IMPORTANCE_SAMPLING)
    beta = _validate.check_range("beta", beta, 0.0, math.inf, high_open=True)
    epsilon_low = _validate.check_range("epsilon_low", epsilon_low, 0.0, 1.0)
    epsilon_high = _validate.check_range("epsilon_high", epsilon_high, 0.0, math.inf)
    length = _validate.check_int("max_completion_length", max_completion_length, optional=True)
    if length is not None and length < 1:
        raise ValueError(f"max_completion_length must be a positive int; got {length}")
    return beta, epsilon_low, epsilon_high, length


# ---------------------------------------------------------------------- GRPO
@register(
    "grpo",
    aliases=("grpo_loss",),
    kind="sequence",
    task="policy_optimization",
    domain="log_probability",
    properties={"bounded": False, "clipped": True},
    references=(
        "Shao et al. (2024), DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open "
        "Language Models (GRPO)",
        "Schulman et al. (2017), Proximal Policy Optimization Algorithms (clipped surrogate)",
        "Yu et al. (2025), DAPO: An Open-Source LLM Reinforcement Learning System at Scale",
        "Liu et al. (2025), Understanding R1-Zero-Like Training: A Critical Perspective (Dr. GRPO)",
        "Zheng et al. (2025), Group Sequence Policy Optimization (GSPO)",
        "Schulman (2020), Approximating KL Divergence (the k3 estimator)",
        "TRL GRPOTrainer._compute_loss (trl 1.16)",
    ),
    **_FAMILY,
)
def grpo(
    logps: Any,
    old_logps: Any,
    advantages: Any,
    *,
    ref_logps: Any = None,
    mask: Any = None,
    beta: float = 0.0,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    variant: str = "grpo",
    max_completion_length: int | None = None,
    importance_sampling: str = "token",
    sample_weight: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Group relative policy optimisation: PPO's clipped surrogate on per-token log-probabilities,
    with an optional k3 KL penalty towards a reference policy.

    For sequence :math:`b`, token :math:`t`, advantage :math:`A_b` and ratio
    :math:`ρ_{bt} = \exp(\log π_θ - \log π_{old})` (``old_logps`` is a constant: it receives no
    gradient, so ``grpo(logps, logps.detach(), A)`` and ``grpo(logps, logps, A)`` agree):

    .. math:: \ell_{bt} = -\min\big(ρ_{bt} A_b,\ \operatorname{clip}(ρ_{bt}, 1-ε_{low},
              1+ε_{high})\, A_b\big) + β\,\big(e^{r_{bt} - l_{bt}} - (r_{bt} - l_{bt}) - 1\big)

    with :math:`l = ` ``logps`` and :math:`r = ` ``ref_logps`` (required when ``beta > 0``; the
    KL term is Schulman's k3 estimator). The surrogate is computed as ``-A·exp(c)`` with the log
    ratio clamped to the side the sign of ``A`` selects (``c = min(log ρ, log(1+ε_high))`` for
    ``A ≥ 0``, ``max(log ρ, log(1-ε_low))`` for ``A < 0``), which is the same function with the
    same gradient, without overflow where the clip holds; the k3 term takes a polynomial for
    small ``|r - l|`` in place of ``expm1(u) - u``, which cancels there, so a small penalty keeps
    its relative accuracy (the gradient, ``expm1(u)``, is autodiff's of ``expm1(u) - u``: exact
    to an ulp of the incoming gradient; higher derivatives too).

    ``importance_sampling="sequence"`` (GSPO) replaces every token's log ratio by its
    sequence's length-normalised one, :math:`\log ρ_b = \frac{1}{n_b}\sum_{t \in b}
    (l_{bt} - \log π_{old, bt})` over the sequence's ``n_b`` valid tokens; the gradient flows
    through every token of the mean, as in TRL (no other stop-gradient).

    ``variant`` says how the token losses are averaged (TRL's ``loss_type``); ``mask`` is the
    completion mask ``(B, T)``:

    * ``"grpo"``: the mean over each sequence's valid tokens, then the mean over sequences. An
      all-masked sequence contributes 0 and still counts among the sequences (as in TRL).
    * ``"dr_grpo"``: each sequence's token sum divided by ``max_completion_length`` (``T`` when
      None), then the mean over sequences: TRL's ``sum / (B · max_completion_length)``.
    * ``"bnpo"``: the mean over all valid tokens of the batch.
    * ``"dapo"``: the same as ``"bnpo"``; pass the global number of valid tokens (of the
      whole generation batch, across accumulation steps and devices) as ``normalizer=`` to get
      DAPO's token-level mean (``losskit.distributed.mean_denominator`` counts it).

    Unreduced shape (``reduction="none"``): ``"grpo"`` and ``"dr_grpo"`` give one value per
    sequence, ``(B,)`` (the sequence's token mean, resp. token sum / ``max_completion_length``);
    ``"bnpo"`` and ``"dapo"`` one value per token, ``(B, T)``, masked tokens exactly 0. In both
    cases ``"mean"`` is the contract's weighted mean of these values, so ``normalizer``
    replaces the number of sequences (``"grpo"``, ``"dr_grpo"``) or of valid tokens (``"bnpo"``,
    ``"dapo"``). ``sample_weight`` weights sequences, shape ``(B,)`` (``"bnpo"``/``"dapo"`` also
    take ``(B, T)`` token weights): ``"mean"`` is then ``Σ w_b ℓ_b / Σ w_b`` over sequences, resp.
    ``Σ w ℓ_{bt} / Σ w`` over valid tokens. A ``(B,)`` ``mask`` removes whole sequences (they
    no longer count among the sequences either); empty and all-masked batches give 0 with zero
    gradients.

    Options: ``epsilon_low`` in [0, 1], ``epsilon_high`` ≥ 0 (DAPO's clip-higher: 0.28),
    ``beta`` ≥ 0, ``advantages`` of shape ``(B,)`` or ``(B, T)``.

    Anchor: TRL ``GRPOTrainer._compute_loss`` (trl 1.16) with ``loss_type=variant``,
    ``epsilon=epsilon_low``, ``epsilon_high``, ``beta``, ``importance_sampling_level`` and, for
    ``"dapo"``, ``num_items_in_batch`` as ``normalizer`` (one process, no gradient
    accumulation). TRL's value is NaN where an overflowing ratio meets a zero advantage; here it
    is 0. References: Shao et al. (2024); Schulman et al. (2017); Yu et al. (2025); Liu et al.
    (2025); Zheng et al. (2025).

    >>> import numpy as np, losskit as lk
    >>> logps = np.log(np.array([[0.5, 0.25], [0.5, 0.5]]))
    >>> old = np.log(np.array([[0.25, 0.25], [0.5, 0.25]]))
    >>> lk.grpo(logps, old, np.array([1.0, -1.0]), reduction="none").tolist()
    [-1.1, 1.5]
    >>> round(float(lk.grpo(logps, old, np.array([1.0, -1.0]), variant="bnpo")), 6)
    0.2
    """
    beta, epsilon_low, epsilon_high, length = _check_options(
        beta, epsilon_low, epsilon_high, variant, max_completion_length, importance_sampling
    )
    check_reduction(reduction, normalizer)
    backend, logps, _ = _inputs.prediction(logps, "logps")
    shape = backend.shape(logps)
    if len(shape) != 2:
        raise ValueError(
            f"logps must be a 2-D (batch, tokens) array of per-token log-probabilities; got "
            f"shape {shape}"
        )
    old_logps = _log_probabilities(backend, old_logps, logps, "old_logps")
    advantages = _advantages(backend, advantages, logps)
    if beta > 0:
        if ref_logps is None:
            raise ValueError(
                "ref_logps (the reference policy's per-token log-probabilities) is required "
                f"when beta > 0; got beta={beta} and ref_logps=None"
            )
        ref_logps = _log_probabilities(backend, ref_logps, logps, "ref_logps")
    checking = _validate.checking_values(backend, logps)
    if checking:
        named = {"logps": logps, "old_logps": old_logps, "advantages": advantages}
        if beta > 0:
            named["ref_logps"] = ref_logps
        _validate.check_no_nan_in(backend, named)
    tokens, sequences = _masks(backend, mask, logps, checking)
    xp = backend.xp
    old_logps = backend.stop_gradient(old_logps)
    weights = None  # the token mask as 0/1 numbers
    if tokens is not None:  # masked tokens read 0: nothing they hold reaches a value or gradient
        weights = xp.astype(tokens, logps.dtype)
        logps = xp.where(tokens, logps, 0.0)
        old_logps = xp.where(tokens, old_logps, 0.0)
        if beta > 0:
            ref_logps = xp.where(tokens, ref_logps, 0.0)
    log_ratio = logps - old_logps
    count = _token_count(backend, weights, logps)  # per sequence, at least 1
    if importance_sampling == "sequence":
        log_ratio = backend.broadcast_like(
            xp.sum(log_ratio, axis=1, keepdims=True) / count, log_ratio
        )
    loss = -advantages * xp.exp(_clip(backend, log_ratio, advantages, epsilon_low, epsilon_high))
    if beta > 0:
        loss = loss + beta * exp_minus_one_minus(backend, ref_logps - logps)
    if variant in _PER_SEQUENCE:
        # a masked token's loss is -A (its log ratios are 0): multiplied by its weight 0
        tokens_sum = xp.sum(loss if weights is None else loss * weights, axis=1)
        if variant == "grpo":
            divisor = count
        elif length is not None:
            divisor = float(length)
        else:  # T, also when it is known only at run time (T = 0: nothing to divide)
            divisor = _row_length(backend, logps)
        if not isinstance(divisor, float):
            divisor = xp.reshape(divisor, (-1,))
        per_sequence = tokens_sum / divisor
        return reduce_loss(
            backend,
            per_sequence,
            reduction=reduction,
            normalizer=normalizer,
            sample_weight=sample_weight,
            valid=sequences,
        )
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        valid=tokens,
    )


def _clip(
    backend: ArrayAPIBackend,
    log_ratio: Any,
    advantages: Any,
    epsilon_low: float,
    epsilon_high: float,
) -> Any:
    """``log ρ`` clamped on the side the sign of ``A`` selects: at most ``log(1 + ε_high)`` where
    ``A ≥ 0``, at least ``log(1 - ε_low)`` where ``A < 0`` (``-min(ρA, clip(ρ)A)`` is
    ``-A·min(ρ, 1 + ε_high)`` for ``A ≥ 0`` and ``-A·max(ρ, 1 - ε_low)`` for ``A < 0``).

    One upper clamp, with a bound per sequence (or token), of ``s·log ρ`` with ``s = ±1`` the
    side, as ``max(x, b) = -min(-x, -b)``: the sign flips are exact, and their product is 1 in
    the gradient. (Two scalar clamps and a choice between them by the sign of ``A`` cost more,
    forward and backward.)"""
    xp = backend.xp
    positive = advantages >= 0
    side = xp.where(positive, xp.ones_like(advantages), -1.0)
    flipped_floor = math.inf if epsilon_low == 1.0 else -math.log1p(-epsilon_low)
    bound = xp.where(positive, math.log1p(epsilon_high), xp.full_like(advantages, flipped_floor))
    return side * xp.clip(side * log_ratio, None, bound)


def _token_count(backend: ArrayAPIBackend, weights: Any, like: Any) -> Any:
    """Each sequence's number of valid tokens ``(B, 1)``, at least 1 (an all-masked sequence
    divides 0 by 1); a Python float when every token counts and ``T`` is known."""
    xp = backend.xp
    if weights is None:
        return _row_length(backend, like)
    return xp.clip(xp.sum(weights, axis=1, keepdims=True), 1.0, None)


def _row_length(backend: ArrayAPIBackend, like: Any) -> Any:
    """``T`` as a Python float (at least 1), or ``(B, 1)`` counts when it is known only at run
    time."""
    tokens = backend.shape(like)[1]
    if tokens is not None:
        return float(max(tokens, 1))
    xp = backend.xp
    return xp.clip(xp.sum(xp.ones_like(like), axis=1, keepdims=True), 1.0, None)
