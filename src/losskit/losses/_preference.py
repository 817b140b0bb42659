"""Preference optimisation losses for language models: DPO and its variants, KTO, ORPO, SimPO, CPO.

Every loss here reads *log-probabilities* of whole completions under the policy (and, for DPO and
KTO, under a frozen reference model), computed upstream from the model's token log-probabilities:
sums over the completion's tokens (DPO, KTO, CPO) or per-token averages (ORPO, SimPO, and the
length-normalised forms of the others). Inputs are real arrays ``≤ 0`` (checked when value checks
run); losskit never sees tokens or logits here.

Unreduced shapes: ``dpo``, ``orpo``, ``simpo`` and ``cpo`` give one value per pair (the inputs
have one shape; a 0-d input such as a constant reference broadcasts); ``kto`` gives the
concatenation of its chosen and rejected items (they are unpaired, and their numbers may
differ).

Numerics: every ``-log σ(x)`` is ``softplus(-x)`` (exact in both tails), every ``1 - σ(x)`` is
``σ(-x)``, and the odds of ORPO use ``log(1 - eˣ)`` as ``log(-expm1(x))``; values and gradients
are finite for log-ratios of ±1e3 and more.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _validate
from .._backend import ArrayAPIBackend, backend_of
from .._reduce import check_reduction
from .._registry import register
from ._common import finish
from ._metric import _check_float, _enter, _relu

_PREFERENCE: dict[str, Any] = {"family": "preference", "task": "preference"}
_DOMAIN = "log_probability"
_TRL = "TRL 1.16"

#: The DPO variants, each one of TRL's ``DPOConfig.loss_type`` values.
DPO_VARIANTS = (
    "sigmoid",
    "robust",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "bco_pair",
    "sppo_hard",
    "apo_zero",
    "apo_down",
    "discopop",
)
#: The DPO variants that read ``label_smoothing``.
_SMOOTHED = ("sigmoid", "robust", "exo_pair")
#: DiscoPOP's temperature τ: TRL's ``DPOConfig.discopop_tau`` default (the paper's value).
DISCOPOP_TAU = 0.05
CPO_VARIANTS = ("sigmoid", "hinge", "ipo")


# ---------------------------------------------------------------------- inputs
def _enter_logps(
    reduction: str, normalizer: Any, inputs: dict[str, Any]
) -> tuple[ArrayAPIBackend, list[Any], bool]:
    """Backend, the inputs in the compute dtype, and whether value checks run; with checks on,
    every input must hold log-probabilities (no NaN, nothing above 0)."""
    check_reduction(reduction, normalizer)
    found = _one_library(inputs)
    if found is None:  # mixed libraries, lists or numbers: the general conversion
        backend, arrays, checking = _enter(reduction, normalizer, inputs)
    else:
        backend, arrays = found
        checking = _validate.checking_values(backend, arrays[0])
    if checking:
        _check_log_probabilities(backend, list(inputs), arrays)
    return backend, arrays, checking


def _one_library(inputs: dict[str, Any]) -> tuple[ArrayAPIBackend, list[Any]] | None:
    """The common case, converted without the general search for a leading input: every input
    an array of the first one's type and dtype, of that library. None otherwise."""
    values = list(inputs.values())
    lead = values[0]
    kind, dtype = type(lead), getattr(lead, "dtype", None)
    if dtype is None:  # a list, a number, None
        return None
    for x in values[1:]:
        if type(x) is not kind or x.dtype != dtype:
            return None
    backend = backend_of(lead)
    if not backend.owns(lead):
        return None
    names = list(inputs)
    _check_float(backend, lead, names[0])
    arrays = [lead]
    for name, x in zip(names[1:], values[1:], strict=True):
        arrays.append(backend.asarray(x, lead, name))  # on lead's device
    compute = backend.compute_dtype(lead)
    if compute != dtype:
        arrays = [backend.astype(x, compute) for x in arrays]
    return backend, arrays


def _check_log_probabilities(backend: ArrayAPIBackend, names: list[str], arrays: list[Any]) -> None:
    """No NaN and nothing above 0 in any input. One reduction (a maximum, which NaN
    propagates to) and one host read for all of them together; only when that finds a problem
    are the inputs read one by one, to name the first one at fault."""
    xp = backend.xp
    flat = [x if len(x.shape) == 1 else xp.reshape(x, (-1,)) for x in arrays]
    every = xp.concat([backend.stop_gradient(x) for x in flat])
    if backend.is_tracing(every) or backend.shape(every)[0] == 0:
        return
    if not backend.checks_on_device(every):  # one read clears them all
        highest = xp.max(every)
        if backend.is_tracing(highest):  # a concrete input captured by a function being traced
            return
        if backend.to_float(highest) <= 0:  # False for NaN
            return
    for name, x in zip(names, arrays, strict=True):
        _validate.check_no_nan(backend, x, name)
    for name, x in zip(names, arrays, strict=True):
        _validate.require_bounds(backend, x, _log_probability_rule(name))


def _log_probability_rule(name: str) -> _validate.Rule:
    def describe(bounds: Any) -> str:
        found = "" if bounds is None else f"; got a maximum of {bounds[1]:g}"
        return (
            f"{name} must hold log-probabilities (≤ 0){found}. Pass log p, not the negative "
            "log-likelihood -log p nor logits"
        )

    return (lambda _, high: high > 0), describe


def _same_shape(backend: ArrayAPIBackend, names: tuple[str, ...], arrays: tuple[Any, ...]) -> None:
    """Every input has the shape of the first one that is not 0-d (a 0-d input is a constant
    that broadcasts). Broadcasting goes no further: ``(B,)`` against ``(B, 1)`` would silently
    compare every pair with every other."""
    first = arrays[0].shape
    if all(x.shape == first for x in arrays[1:]):  # one shape: the common case
        return
    shapes = [backend.shape(x) for x in arrays]
    named = [(name, shape) for name, shape in zip(names, shapes, strict=True) if len(shape)]
    if not named:
        return
    first, expected = named[0]
    for name, shape in named[1:]:
        if not _validate.same_shape(shape, expected):
            raise ValueError(
                f"{name} of shape {shape} does not match {first} of shape {expected}: the loss "
                "has one value per pair, so every input must have that shape (a 0-d value "
                "broadcasts)"
            )


def _beta(value: Any, name: str = "beta") -> float:
    return _validate.check_range(name, value, 0.0, math.inf, low_open=True, high_open=True)


def _smoothing(value: Any, variant: str, allowed: tuple[str, ...]) -> float:
    """``label_smoothing`` in [0, 1], and 0 for the variants that do not read it."""
    epsilon = _validate.check_range("label_smoothing", value, 0.0, 1.0)
    if epsilon and variant not in allowed:
        readers = ", ".join(repr(v) for v in allowed)
        raise ValueError(
            f"label_smoothing is read by variant {readers} only; got label_smoothing={epsilon} "
            f"with variant={variant!r}"
        )
    return epsilon


# ---------------------------------------------------------------------- numerics
def _smoothed_logistic(backend: ArrayAPIBackend, minus_z: Any, epsilon: float) -> Any:
    """``-(1-ε)·log σ(z) - ε·log σ(-z) = (1-ε)·softplus(-z) + ε·softplus(z)``: two non-negative
    terms, so no cancellation. It takes ``-z``, which every caller forms directly (``β(r - c)``
    for ``z = β(c - r)``, the same number): one negation less."""
    loss = backend.softplus(minus_z)
    if epsilon:
        loss = (1.0 - epsilon) * loss + epsilon * backend.softplus(-minus_z)
    return loss


#: ``1/2!, 1/3!, ..., 1/20!``: the series ``e^{-x} - 1 + x = x² Σ_k (-x)^k / (k+2)!``, truncated
#: where the next term is below 2e-17 of the sum for ``|x| < 1``.
_EXCESS_SERIES = tuple(1.0 / math.factorial(n) for n in range(2, 21))


def _bernoulli_kl_term(backend: ArrayAPIBackend, q: Any, log_ratio: Any, p: float) -> Any:
    """``q·log(q/p) + (p - q) = q·(e^{-x} - 1 + x)`` with ``x = log(q/p)``: one term of a
    Bernoulli KL divergence, ≥ 0 and relatively exact.

    For ``|x| < 1`` the bracket comes from its series (``x + expm1(-x)`` would cancel); beyond,
    from ``q·x + (p - q) = p·(1 + eˣ(x - 1))``, which cancels by at most a factor 4 there and
    never forms ``e^{-x}`` (it would overflow). Each branch sees only its own inputs, so
    gradients stay finite.
    """
    xp = backend.xp
    near = (log_ratio < 1.0) & (log_ratio > -1.0)
    x = xp.where(near, log_ratio, xp.zeros_like(log_ratio))
    minus = -x
    series = xp.full_like(x, _EXCESS_SERIES[-1])
    for coefficient in reversed(_EXCESS_SERIES[:-1]):
        series = series * minus + coefficient
    small = q * (x * x * series)
    far_x = xp.where(near, xp.zeros_like(log_ratio), log_ratio)
    far = q * far_x + (p - q)
    return xp.where(near, small, far)


def _log_odds(backend: ArrayAPIBackend, logp: Any) -> Any:
    """``log(p / (1 - p)) = x - log(1 - eˣ)`` from ``x = log p``, with ``log(1 - eˣ)`` as
    ``log(-expm1(x))``: ``-expm1(x)`` is relatively exact for every ``x < 0`` (near 0 too), and
    where ``eˣ`` is below the dtype's resolution the log of its rounding to 1 is off by ``eˣ``,
    nothing next to ``|x|``; ``x = -inf`` gives ``-inf``. Log-probabilities above ``-tiny``
    (the smallest normal number of the compute dtype), 0 included, are read as ``-tiny``: the
    odds are then large but finite (log-odds ≈ 87 in float32, 708 in float64)."""
    xp = backend.xp
    tiny = 2.0**-1022 if backend.eps(logp.dtype) < 1e-10 else 2.0**-126
    x = xp.clip(logp, None, -tiny)
    return x - xp.log(-xp.expm1(x))


# ---------------------------------------------------------------------- DPO
@register(
    "dpo",
    aliases=("direct_preference_optimization",),
    kind="elementwise",
    domain=_DOMAIN,
    properties={"bounded": False},
    references=(
        "Rafailov et al. (2023), Direct Preference Optimization: Your Language Model is Secretly "
        "a Reward Model",
        f"{_TRL} DPOTrainer (loss_type = variant)",
    ),
    **_PREFERENCE,
)
def dpo(
    chosen_logps: Any,
    rejected_logps: Any,
    ref_chosen_logps: Any,
    ref_rejected_logps: Any,
    *,
    beta: float = 0.1,
    variant: str = "sigmoid",
    label_smoothing: float = 0.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Direct preference optimisation, one loss per (chosen, rejected) pair.

    With the log-ratios :math:`c' = c - c_{ref}` and :math:`r' = r - r_{ref}` of the chosen and
    rejected completions, their margin :math:`\delta = c' - r'` and :math:`h = \beta\delta`, the
    default ``variant="sigmoid"`` is (conservative DPO when ``label_smoothing`` ε > 0):

    .. math:: \ell = -(1-\varepsilon)\log\sigma(h) - \varepsilon\log\sigma(-h)

    The other variants are TRL's ``DPOTrainer`` loss types of the same name:

    * ``"robust"``: :math:`[-(1-\varepsilon)\log\sigma(h) + \varepsilon\log\sigma(-h)]
      /(1-2\varepsilon)`, ε in [0, ½) (Chowdhury et al. 2024); it may be negative.
    * ``"hinge"``: :math:`[1 - h]_+` (SLiC, Zhao et al. 2023).
    * ``"ipo"``: :math:`(\delta - 1/(2\beta))^2` (Azar et al. 2024).
    * ``"exo_pair"``: :math:`\mathrm{KL}(\mathrm{Bern}(\sigma(h)) \,\|\,
      \mathrm{Bern}(1-\varepsilon))` (Ji et al. 2024); needs ε in (0, 1) — TRL's documentation
      suggests 1e-3.
    * ``"nca_pair"``: :math:`-\log\sigma(\beta c') - \tfrac12\log\sigma(-\beta c') -
      \tfrac12\log\sigma(-\beta r')` (Chen et al. 2024).
    * ``"bco_pair"``: :math:`-\log\sigma(\beta c') - \log\sigma(-\beta r')` (Jung et al. 2024).
    * ``"sppo_hard"``: :math:`(c' - \tfrac{1}{2\beta})^2 + (r' + \tfrac{1}{2\beta})^2`
      (Wu et al. 2024, hard probabilities).
    * ``"apo_zero"``: :math:`\sigma(-\beta c') + \sigma(\beta r')`; ``"apo_down"``:
      :math:`\sigma(\beta c') + \sigma(-h)` (D'Oosterlinck et al. 2024).
    * ``"discopop"``: :math:`-\log\sigma(h)\,\sigma(-h/\tau) + e^{-h}\,\sigma(h/\tau)` with
      τ = 0.05, TRL's default ``discopop_tau`` (Lu et al. 2024).

    ``label_smoothing`` is read by ``"sigmoid"``, ``"robust"`` and ``"exo_pair"`` only; a
    non-zero value with another variant raises (TRL ignores it there).

    Args:
        chosen_logps, rejected_logps: the policy's log-probabilities of the chosen and rejected
            completions, shape ``(B,)`` (sums over the completion's tokens, as TRL; pass
            per-token averages for the length-normalised forms).
        ref_chosen_logps, ref_rejected_logps: the same under the reference model (a 0-d 0.0
            gives the reference-free form). Every input is used as given.
        beta: β > 0, the strength of the KL regularisation (TRL's default 0.1).
        variant: one of the names above.
        label_smoothing: ε (see the variants).
        sample_weight, mask, reduction, normalizer: the reduction contract, one entry per pair.

    Numerics: every :math:`-\log\sigma` is a softplus and every :math:`1-\sigma(x)` is
    :math:`\sigma(-x)`, exact in both tails; ``"exo_pair"`` is summed as two non-negative terms
    :math:`q\,(e^{-x} - 1 + x)` (a series near :math:`x = 0`), so it keeps its relative accuracy
    near its minimum, where TRL's form cancels; ``"discopop"``'s :math:`e^{-h}\sigma(h/\tau)` is
    :math:`\exp(-h + \log\sigma(h/\tau))`, finite where TRL's :math:`e^{-h}` overflows.

    Anchor: TRL 1.16 ``DPOTrainer`` with ``loss_type=variant``, ``label_smoothing=ε`` and
    ``f_divergence_type="reverse_kl"``; its ``"ipo"`` divides each log-ratio by the completion's
    length (pass per-token averages to reproduce it). TRL 1.16's ``"sigmoid"`` has no label
    smoothing (its earlier versions' conservative form is the one here). Not covered: TRL's
    ``"aot"`` and ``"aot_unpaired"`` (they sort the batch, so they have no per-pair value),
    ``"sft"`` and ``"sigmoid_norm"`` (they read tokens; ``sigmoid_norm`` is ``"sigmoid"`` on
    per-token averages).

    >>> import numpy as np, losskit as lk
    >>> c, r = np.array([-10.0, -12.0]), np.array([-14.0, -11.0])
    >>> ref_c, ref_r = np.array([-11.0, -12.0]), np.array([-12.0, -12.0])
    >>> lk.dpo(c, r, ref_c, ref_r, beta=0.5, reduction="none").round(6).tolist()
    [0.201413, 0.974077]
    >>> float(lk.dpo(c, r, ref_c, ref_r, variant="ipo"))  # δ = 3, -1; 1/(2β) = 5: (4 + 36) / 2
    20.0
    """
    beta = _beta(beta)
    _validate.check_choice("variant", variant, DPO_VARIANTS)
    epsilon = _smoothing(label_smoothing, variant, _SMOOTHED)
    if variant == "robust" and epsilon >= 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5) for variant 'robust'; got {epsilon}")
    if variant == "exo_pair" and not 0.0 < epsilon < 1.0:
        raise ValueError(
            "variant 'exo_pair' needs label_smoothing in (0, 1), the ε of its target "
            f"distribution (1e-3 is usual); got label_smoothing={epsilon}"
        )
    inputs = {
        "chosen_logps": chosen_logps,
        "rejected_logps": rejected_logps,
        "ref_chosen_logps": ref_chosen_logps,
        "ref_rejected_logps": ref_rejected_logps,
    }
    backend, arrays, _ = _enter_logps(reduction, normalizer, inputs)
    c, r, ref_c, ref_r = arrays
    _same_shape(backend, tuple(inputs), tuple(arrays))
    if variant == "sigmoid":  # -h = β((r - c) - (r_ref - c_ref)): one operation fewer on the
        # policy's side, which is differentiated (the reference's margin usually is not)
        loss = _smoothed_logistic(backend, beta * ((r - c) - (ref_r - ref_c)), epsilon)
    else:
        loss = _dpo_variant(backend, variant, c - ref_c, r - ref_r, beta, epsilon)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _dpo_variant(
    backend: ArrayAPIBackend, variant: str, chosen: Any, rejected: Any, beta: float, epsilon: float
) -> Any:
    """The unreduced loss of a DPO variant other than ``"sigmoid"`` from the log-ratios ``c'``
    and ``r'``."""
    xp = backend.xp
    softplus, sigmoid = backend.softplus, backend.sigmoid
    margin = chosen - rejected
    h = beta * margin
    if variant == "robust":
        clean = (1.0 - epsilon) * softplus(-h)
        return (clean - epsilon * softplus(h)) / (1.0 - 2.0 * epsilon) if epsilon else clean
    if variant == "hinge":
        return _relu(xp, 1.0 - h)
    if variant == "ipo":
        d = margin - 1.0 / (2.0 * beta)
        return d * d
    if variant == "exo_pair":
        log_q_win, log_q_lose = backend.log_sigmoid(h), backend.log_sigmoid(-h)
        win = log_q_win - math.log1p(-epsilon)
        lose = log_q_lose - math.log(epsilon)
        return _bernoulli_kl_term(
            backend, xp.exp(log_q_win), win, 1.0 - epsilon
        ) + _bernoulli_kl_term(backend, xp.exp(log_q_lose), lose, epsilon)
    if variant == "nca_pair":
        z = beta * chosen
        return softplus(-z) + 0.5 * softplus(z) + 0.5 * softplus(beta * rejected)
    if variant == "bco_pair":
        return softplus(-beta * chosen) + softplus(beta * rejected)
    if variant == "sppo_hard":
        win = chosen - 0.5 / beta
        lose = rejected + 0.5 / beta
        return win * win + lose * lose
    if variant == "apo_zero":
        return sigmoid(-beta * chosen) + sigmoid(beta * rejected)
    if variant == "apo_down":
        return sigmoid(beta * chosen) + sigmoid(-h)
    # discopop
    logistic = softplus(-h) * sigmoid(-h * (1.0 / DISCOPOP_TAU))
    exponential = xp.exp(-h + backend.log_sigmoid(h * (1.0 / DISCOPOP_TAU)))
    return logistic + exponential


# ---------------------------------------------------------------------- KTO
@register(
    "kto",
    aliases=("kahneman_tversky_optimization",),
    kind="concatenated",
    domain=_DOMAIN,
    properties={"bounded": True},
    references=(
        "Ethayarajh et al. (2024), KTO: Model Alignment as Prospect Theoretic Optimization",
        f"{_TRL} KTOTrainer (loss_type='kto')",
    ),
    **_PREFERENCE,
)
def kto(
    chosen_logps: Any,
    rejected_logps: Any,
    ref_chosen_logps: Any,
    ref_rejected_logps: Any,
    *,
    kl: Any,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Kahneman-Tversky optimisation: desirable and undesirable completions, unpaired.

    With the log-ratios :math:`c' = c - c_{ref}` of the desirable (chosen) completions and
    :math:`r' = r - r_{ref}` of the undesirable (rejected) ones, and the reference point
    :math:`z = \max(\mathrm{kl}, 0)`:

    .. math:: \ell_{chosen} = \lambda_D\,(1 - \sigma(\beta(c' - z))), \qquad
              \ell_{rejected} = \lambda_U\,(1 - \sigma(\beta(z - r')))

    The unreduced loss is the concatenation ``[ℓ_chosen, ℓ_rejected]``, shape
    ``(B_chosen + B_rejected,)``; ``"mean"`` is the plain mean over all items (TRL and the
    paper), the weights λ sitting inside each item's loss. ``sample_weight`` and ``mask`` follow
    that order: one entry per chosen item, then one per rejected item (e.g.
    ``concatenate([chosen_mask, rejected_mask])``); with ``sample_weight`` the mean is
    ``Σ w·ℓ / Σ w`` as for every loss.

    Args:
        chosen_logps: the policy's log-probabilities of the desirable completions, ``(B_c,)``.
        rejected_logps: the same for the undesirable completions, ``(B_r,)``; ``B_r`` may differ
            from ``B_c``, and either may be 0.
        ref_chosen_logps, ref_rejected_logps: the reference model's, shaped like
            ``chosen_logps`` and ``rejected_logps`` (or 0-d).
        kl: the reference point, an estimate of KL(policy ‖ reference) — in TRL the batch mean
            of the log-ratios of mismatched (prompt, completion) pairs. A number or a 0-d
            array, treated as a constant (no gradient flows to it) and clamped at 0, as TRL.
        beta: β > 0 (TRL's default 0.1).
        desirable_weight, undesirable_weight: λ_D, λ_U ≥ 0.
        sample_weight, mask, reduction, normalizer: the reduction contract (see above).

    Numerics: :math:`1 - \sigma(x)` is computed as :math:`\sigma(-x)`, exact when the loss is
    small. Anchor: TRL 1.16 ``KTOTrainer`` with ``loss_type="kto"`` (its loss is the mean of
    the concatenated losses, its ``kl`` the clamped, detached batch estimate).

    >>> import numpy as np, losskit as lk
    >>> chosen, ref_chosen = np.array([-8.0, -9.0]), np.array([-10.0, -9.0])
    >>> rejected, ref_rejected = np.array([-12.0]), np.array([-11.0])
    >>> lk.kto(chosen, rejected, ref_chosen, ref_rejected, kl=0.5, beta=1.0,
    ...        reduction="none").round(6).tolist()
    [0.182426, 0.622459, 0.182426]
    """
    beta = _beta(beta)
    desirable_weight = _validate.check_range("desirable_weight", desirable_weight, 0.0, math.inf)
    undesirable_weight = _validate.check_range(
        "undesirable_weight", undesirable_weight, 0.0, math.inf
    )
    inputs = {
        "chosen_logps": chosen_logps,
        "rejected_logps": rejected_logps,
        "ref_chosen_logps": ref_chosen_logps,
        "ref_rejected_logps": ref_rejected_logps,
    }
    backend, (c, r, ref_c, ref_r), checking = _enter_logps(reduction, normalizer, inputs)
    for name, x in (("chosen_logps", c), ("rejected_logps", r)):
        if len(backend.shape(x)) != 1:
            raise ValueError(
                f"{name} must be a 1-D array, one log-probability per completion; got shape "
                f"{backend.shape(x)}"
            )
    _same_shape(backend, ("chosen_logps", "ref_chosen_logps"), (c, ref_c))
    _same_shape(backend, ("rejected_logps", "ref_rejected_logps"), (r, ref_r))
    z = _reference_point(backend, kl, c, checking)
    xp = backend.xp
    # 1 - σ(β(c' - z)) = σ(β((c_ref + z) - c)) and 1 - σ(β(z - r')) = σ(β(r - (r_ref + z))):
    # the shifted references are constants, one differentiated operation fewer on each side
    chosen = backend.sigmoid(beta * ((ref_c + z) - c))
    rejected = backend.sigmoid(beta * (r - (ref_r + z)))
    if desirable_weight != 1.0:
        chosen = desirable_weight * chosen
    if undesirable_weight != 1.0:
        rejected = undesirable_weight * rejected
    loss = xp.concat([chosen, rejected], axis=0)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _reference_point(backend: ArrayAPIBackend, kl: Any, like: Any, checking: bool) -> Any:
    """``max(kl, 0)`` as a constant of ``like``'s backend and dtype (no gradient flows to it)."""
    if kl is None:
        raise TypeError("kl must be a number or a 0-d array (the KL estimate); got None")
    if isinstance(kl, bool | np.bool_):
        raise TypeError("kl must be a number or a 0-d array (the KL estimate); got a bool")
    if isinstance(kl, int | float | np.integer | np.floating):  # stays a Python number
        number = float(kl)
        if number != number:  # NaN; math.isnan breaks torch.compile's floats
            raise ValueError("kl contains NaN")
        return number if number > 0 else 0.0
    value = backend.asarray(kl, like, "kl")
    if not (backend.is_floating(value) or backend.is_integral(value)):
        raise TypeError(f"kl must be a real number or a 0-d array; got dtype {value.dtype}")
    if len(backend.shape(value)) != 0:
        raise ValueError(
            f"kl must be a number or a 0-d array (one estimate for the batch); got shape "
            f"{backend.shape(value)}"
        )
    value = backend.stop_gradient(backend.astype(value, like.dtype))
    if checking:
        _validate.check_no_nan(backend, value, "kl")
    return backend.xp.clip(value, 0.0, None)


# ---------------------------------------------------------------------- ORPO
@register(
    "orpo",
    aliases=("odds_ratio_preference_optimization",),
    kind="elementwise",
    domain=_DOMAIN,
    properties={"bounded": False},
    references=(
        "Hong, Lee & Thorne (2024), ORPO: Monolithic Preference Optimization without Reference "
        "Model",
        f"{_TRL} experimental ORPOTrainer.odds_ratio_loss",
    ),
    **_PREFERENCE,
)
def orpo(
    chosen_logps: Any,
    rejected_logps: Any,
    *,
    beta: float = 0.1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""ORPO's odds-ratio term, one value per pair.

    With :math:`p = e^{c}` and :math:`q = e^{r}` the completions' average per-token
    probabilities under the policy:

    .. math:: \ell = -\beta \log\sigma\Big(\log\frac{p}{1-p} - \log\frac{q}{1-q}\Big), \qquad
              \log\frac{p}{1-p} = c - \log(1 - e^{c})

    This is the odds-ratio term only: ORPO's full objective adds the chosen completions' NLL
    (``-chosen_logps`` averaged, or a token-level cross-entropy), which the caller adds.

    Args:
        chosen_logps, rejected_logps: *average* per-token log-probabilities of the chosen and
            rejected completions (≤ 0), shape ``(B,)``.
        beta: λ of the paper, > 0 (TRL's ``beta``, default 0.1).
        sample_weight, mask, reduction, normalizer: the reduction contract, one entry per pair.

    Numerics: :math:`\log(1 - e^{x})` is ``log(-expm1(x))``, whose argument is relatively exact
    for every ``x < 0``: the log-odds are exact from ``x = -1e-9`` (log-odds 20.7) to ``-1e3``
    and beyond (where :math:`e^{x}` is below the dtype's resolution the log-odds are ``x`` to
    within an ulp), and so are their gradients; the outer :math:`-\log\sigma` is a softplus.
    A log-probability of 0 (or above ``-tiny``, the dtype's smallest normal number: a
    probability that rounds to 1) is read as ``-tiny``, so the odds stay finite and so do the
    gradients (TRL gives an infinite log-odds and a NaN gradient there).

    Anchor: TRL 1.16 ``trl.experimental.orpo.ORPOTrainer.odds_ratio_loss``, whose ``losses``
    are :math:`\beta\log\sigma(\cdot)`, the negative of this loss (its trainer subtracts them).

    >>> import numpy as np, losskit as lk
    >>> loss = lk.orpo(np.array([-0.5, -1e-9]), np.array([-2.0, -1.0]), reduction="none")
    >>> [f"{x:.6g}" for x in loss.tolist()]
    ['0.00967059', '5.81977e-11']
    """
    beta = _beta(beta)
    inputs = {"chosen_logps": chosen_logps, "rejected_logps": rejected_logps}
    backend, (c, r), _ = _enter_logps(reduction, normalizer, inputs)
    _same_shape(backend, ("chosen_logps", "rejected_logps"), (c, r))
    # -log σ(log odds ratio) = softplus(log odds(r) - log odds(c))
    loss = beta * backend.softplus(_log_odds(backend, r) - _log_odds(backend, c))
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


# ---------------------------------------------------------------------- SimPO and CPO
@register(
    "simpo",
    aliases=("simple_preference_optimization",),
    kind="elementwise",
    domain=_DOMAIN,
    properties={"convex": True, "bounded": False},
    references=(
        "Meng, Xia & Chen (2024), SimPO: Simple Preference Optimization with a Reference-Free "
        "Reward",
        f"{_TRL} experimental CPOTrainer (loss_type='simpo', simpo_gamma = gamma_beta_ratio·beta)",
    ),
    **_PREFERENCE,
)
def simpo(
    chosen_logps: Any,
    rejected_logps: Any,
    *,
    beta: float = 2.0,
    gamma_beta_ratio: float = 0.5,
    label_smoothing: float = 0.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""SimPO, the reference-free preference loss with a target margin, one value per pair.

    With :math:`z = \beta\,(c - r - \gamma/\beta)`:

    .. math:: \ell = -(1-\varepsilon)\log\sigma(z) - \varepsilon\log\sigma(-z)

    (the paper's loss at ε = 0: :math:`-\log\sigma(\beta c - \beta r - \gamma)`).

    Args:
        chosen_logps, rejected_logps: *average* per-token log-probabilities (the length-
            normalised rewards of the paper), shape ``(B,)``.
        beta: β > 0 (the paper's default 2.0).
        gamma_beta_ratio: γ/β, the target margin in log-probability units (the paper's 0.5).
        label_smoothing: ε in [0, 1] (conservative form).
        sample_weight, mask, reduction, normalizer: the reduction contract, one entry per pair.

    Both terms are softplus values ≥ 0, exact in both tails. Anchor: TRL 1.16
    ``trl.experimental.cpo.CPOTrainer.cpo_loss`` with ``loss_type="simpo"``, ``beta=β``,
    ``simpo_gamma = gamma_beta_ratio·β`` and ``label_smoothing=ε`` (TRL's ``simpo_gamma`` is γ
    itself; the paper's reference code uses ``gamma_beta_ratio``).

    >>> import numpy as np, losskit as lk
    >>> lk.simpo(np.array([-0.5, -1.0]), np.array([-1.5, -0.8]), reduction="none").round(6).tolist()
    [0.313262, 1.620417]
    """
    beta = _beta(beta)
    ratio = _validate.check_range(
        "gamma_beta_ratio", gamma_beta_ratio, -math.inf, math.inf, low_open=True, high_open=True
    )
    epsilon = _validate.check_range("label_smoothing", label_smoothing, 0.0, 1.0)
    inputs = {"chosen_logps": chosen_logps, "rejected_logps": rejected_logps}
    backend, (c, r), _ = _enter_logps(reduction, normalizer, inputs)
    _same_shape(backend, ("chosen_logps", "rejected_logps"), (c, r))
    loss = _smoothed_logistic(backend, beta * ((r - c) + ratio), epsilon)  # -z
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "cpo",
    aliases=("contrastive_preference_optimization",),
    kind="elementwise",
    domain=_DOMAIN,
    properties={"convex": True, "bounded": False},
    references=(
        "Xu et al. (2024), Contrastive Preference Optimization: Pushing the Boundaries of LLM "
        "Performance in Machine Translation",
        f"{_TRL} experimental CPOTrainer.cpo_loss (loss_type = variant)",
    ),
    **_PREFERENCE,
)
def cpo(
    chosen_logps: Any,
    rejected_logps: Any,
    *,
    beta: float = 0.1,
    variant: str = "sigmoid",
    label_smoothing: float = 0.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""CPO's preference term (DPO without a reference model), one value per pair.

    With :math:`\delta = c - r`, ``variant="sigmoid"`` (the paper's Eq. 3; conservative with
    ``label_smoothing`` ε > 0):

    .. math:: \ell = -(1-\varepsilon)\log\sigma(\beta\delta) - \varepsilon\log\sigma(-\beta\delta)

    ``"hinge"``: :math:`[1 - \beta\delta]_+`; ``"ipo"``: :math:`(\delta - 1/(2\beta))^2` (TRL
    feeds it per-token averages). ``label_smoothing`` is read by ``"sigmoid"`` only; a non-zero
    value with another variant raises (TRL's ``CPOTrainer`` warns and ignores it).

    This is the preference term only: CPO's objective adds the NLL of the chosen completions
    (TRL's ``cpo_alpha`` times it), which the caller adds. TRL's AlphaPO reward (``alpha`` ≠ 0)
    is not covered.

    Args:
        chosen_logps, rejected_logps: log-probabilities of the chosen and rejected completions
            (sums over tokens, or per-token averages for ``"ipo"``), shape ``(B,)``.
        beta: β > 0 (TRL's default 0.1).
        variant: ``"sigmoid"``, ``"hinge"`` or ``"ipo"``.
        label_smoothing: ε in [0, 1], with ``"sigmoid"``.
        sample_weight, mask, reduction, normalizer: the reduction contract, one entry per pair.

    Anchor: TRL 1.16 ``trl.experimental.cpo.CPOTrainer.cpo_loss`` (``alpha=0``). For SimPO
    (``loss_type="simpo"`` there) use :func:`losskit.simpo`.

    >>> import numpy as np, losskit as lk
    >>> c, r = np.array([-20.0, -30.0]), np.array([-25.0, -28.0])
    >>> lk.cpo(c, r, reduction="none").round(6).tolist()
    [0.474077, 0.798139]
    """
    beta = _beta(beta)
    _validate.check_choice("variant", variant, CPO_VARIANTS)
    epsilon = _smoothing(label_smoothing, variant, ("sigmoid",))
    inputs = {"chosen_logps": chosen_logps, "rejected_logps": rejected_logps}
    backend, (c, r), _ = _enter_logps(reduction, normalizer, inputs)
    _same_shape(backend, ("chosen_logps", "rejected_logps"), (c, r))
    if variant == "sigmoid":
        loss = _smoothed_logistic(backend, beta * (r - c), epsilon)  # -βδ
    elif variant == "hinge":
        loss = _relu(backend.xp, 1.0 - beta * (c - r))
    else:
        d = (c - r) - 1.0 / (2.0 * beta)
        loss = d * d
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)
