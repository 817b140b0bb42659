"""Policy-gradient losses for language models: the clipped surrogate of GRPO and its variants.

Inputs are per-token log-probabilities ``(B, T)`` of the sampled completions (``B`` sequences of
``T`` tokens, padded) under the policy being trained (``logps``) and under the policy that
sampled them (``old_logps``), and one advantage per sequence ``(B,)`` (or per token). The
completion mask travels as the contract's ``mask``.
"""

from __future__ import annotations

import math
from typing import Any

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

#: ``exp(u) - 1 - u = u² Σ_k u^k / (k + 2)!`` is summed as a series for ``|u|`` below this
#: bound (``expm1(u) - u`` would cancel there); above it ``expm1(u) - u`` loses at most a factor
#: 4.4 of relative accuracy. Fourteen terms make the series exact in float64 on ``|u| < 1/2``.
_SERIES_BOUND = 0.5
_SERIES = tuple(1.0 / math.factorial(k + 2) for k in range(14))


def exp_minus_one_minus(backend: ArrayAPIBackend, u: Any) -> Any:
    """``exp(u) - 1 - u`` (≥ 0) with full relative accuracy, also for small ``|u|``; each branch
    sees only its own inputs, so the gradient ``expm1(u)`` is finite wherever the value is."""
    xp = backend.xp
    small = xp.abs(u) < _SERIES_BOUND
    near = xp.where(small, u, xp.zeros_like(u))
    series = xp.full_like(u, _SERIES[-1])
    for c in reversed(_SERIES[:-1]):
        series = series * near + c
    far = xp.where(small, xp.ones_like(u), u)
    return xp.where(small, near * near * series, xp.expm1(far) - far)


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
    same gradient, without overflow where the clip holds; the k3 term is summed as a series for
    small ``|r - l|``, so a small penalty keeps its relative accuracy.

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
        _validate.check_no_nan(backend, logps, "logps")
        _validate.check_no_nan(backend, old_logps, "old_logps")
        _validate.check_no_nan(backend, advantages, "advantages")
        if beta > 0:
            _validate.check_no_nan(backend, ref_logps, "ref_logps")
    tokens, sequences = _masks(backend, mask, logps, checking)
    xp = backend.xp
    zero = xp.zeros_like(logps)

    def valid(x: Any) -> Any:  # masked tokens: 0, and no gradient through what they hold
        return x if tokens is None else xp.where(tokens, x, zero)

    log_ratio = valid(logps - backend.stop_gradient(old_logps))
    if tokens is None:
        count = xp.sum(xp.ones_like(logps), axis=1, keepdims=True)
    else:
        count = xp.sum(xp.astype(tokens, logps.dtype), axis=1, keepdims=True)
    count = xp.maximum(count, xp.ones_like(count))  # an all-masked sequence: 0 / 1
    if importance_sampling == "sequence":
        log_ratio = backend.broadcast_like(xp.sum(log_ratio, axis=1, keepdims=True) / count, zero)
    # -min(ρA, clip(ρ)A) = -A·min(ρ, 1 + ε_high) for A ≥ 0 and -A·max(ρ, 1 - ε_low) for A < 0:
    # the log ratio is clamped on the side the sign of A selects, then exponentiated once
    capped = xp.minimum(log_ratio, math.log1p(epsilon_high))
    floored = log_ratio if epsilon_low == 1.0 else xp.maximum(log_ratio, math.log1p(-epsilon_low))
    loss = -advantages * xp.exp(xp.where(advantages >= 0, capped, floored))
    if beta > 0:
        loss = loss + beta * exp_minus_one_minus(backend, valid(ref_logps - logps))
    loss = valid(loss)
    if variant in _PER_SEQUENCE:
        if variant == "grpo":
            divisor = count
        elif length is not None:
            divisor = float(length)
        else:  # T, also when it is known only at run time (T = 0: nothing to divide)
            divisor = xp.maximum(xp.sum(xp.ones_like(logps), axis=1, keepdims=True), 1.0)
        per_sequence = xp.reshape(xp.sum(loss, axis=1, keepdims=True) / divisor, (-1,))
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
