"""Independent float64 references for the language-model policy and distillation losses.

``grpo`` (the clipped surrogate with the k3 KL penalty, every variant and both importance-sampling
levels) and the distillation divergences ``generalized_jsd`` and ``distillation_kl``, written from
the papers' formulas (Shao et al. 2024, Schulman et al. 2017, Zheng et al. 2025 for GSPO,
Agarwal et al. 2024 for GKD, Hinton et al. 2015), never from losskit's code: the surrogate in
plain float64 NumPy (``-min(ρA, clip(ρ)A)`` as written), the KL estimator and the divergences in
``mpmath`` at 40 digits, entry by entry.

``REFERENCES[name](inputs, params)`` returns the unreduced loss (the shape of
``reduction="none"``: one value per sequence for ``grpo``'s ``"grpo"`` and ``"dr_grpo"``, one
per token for ``"bnpo"``/``"dapo"``; one value per position for the divergences).
:func:`grpo_reference` and :func:`divergence_rows` also take a completion mask, for the tests
that need one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np

from reference_pointwise import _options

Reference = Callable[[list[np.ndarray], dict[str, Any]], np.ndarray]

DIGITS = 40


# ---------------------------------------------------------------------- GRPO
def k3(ref: np.ndarray, logps: np.ndarray) -> np.ndarray:
    """Schulman's k3 estimator ``exp(r - l) - (r - l) - 1``, each entry in mpmath."""
    out = np.empty(np.shape(logps))
    with mpmath.workdps(DIGITS):
        for index in np.ndindex(out.shape):
            u = mpmath.mpf(float(ref[index])) - mpmath.mpf(float(logps[index]))
            out[index] = float(mpmath.exp(u) - u - 1)
    return out


def grpo_reference(
    inputs: list[np.ndarray], params: dict[str, Any], mask: np.ndarray | None = None
) -> np.ndarray:
    """GRPO's unreduced loss; ``mask`` ``(B, T)`` marks the completion tokens (None: all)."""
    o = _options(
        params,
        ref_logps=None,
        beta=0.0,
        epsilon_low=0.2,
        epsilon_high=0.2,
        variant="grpo",
        max_completion_length=None,
        importance_sampling="token",
    )
    logps, old, advantages = (np.asarray(x, dtype=np.float64) for x in inputs)
    batch, tokens = logps.shape
    m = np.ones((batch, tokens)) if mask is None else np.asarray(mask, dtype=np.float64)
    a = advantages.reshape(batch, -1)  # (B, 1) or (B, T)
    log_ratio = np.where(m > 0, logps - old, 0.0)
    if o["importance_sampling"] == "sequence":
        lengths = m.sum(axis=1, keepdims=True)
        seq = log_ratio.sum(axis=1, keepdims=True) / np.maximum(lengths, 1.0)
        log_ratio = np.broadcast_to(seq, (batch, tokens))
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.exp(log_ratio)
        clipped = np.clip(ratio, 1.0 - o["epsilon_low"], 1.0 + o["epsilon_high"])
        per_token = -np.minimum(ratio * a, clipped * a)
    if o["beta"] > 0:
        per_token = per_token + o["beta"] * k3(o["ref_logps"], logps)
    per_token = np.where(m > 0, per_token, 0.0)
    if o["variant"] == "grpo":
        return per_token.sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
    if o["variant"] == "dr_grpo":
        length = o["max_completion_length"] or tokens
        return per_token.sum(axis=1) / max(length, 1)
    if o["variant"] in ("bnpo", "dapo"):
        return per_token
    raise NotImplementedError(f"variant {o['variant']!r}")


def grpo(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    return grpo_reference(inputs, params)


# ---------------------------------------------------------------------- distillation
def _log_softmax(row: np.ndarray, temperature: float) -> list[Any]:
    """``z/τ - logsumexp(z/τ)`` of one row, in mpmath (``-inf`` entries stay ``-inf``)."""
    scaled = [mpmath.mpf(float(z)) / temperature for z in row]
    finite = [z for z in scaled if mpmath.isfinite(z)]
    top = max(finite)
    total = mpmath.log(mpmath.fsum(mpmath.exp(z - top) for z in finite)) + top
    return [z - total if mpmath.isfinite(z) else mpmath.mpf("-inf") for z in scaled]


def _kl(log_p: list[Any], log_q: list[Any]) -> Any:
    """``Σ p (log p - log q)`` with ``0 log 0 = 0``."""
    return mpmath.fsum(
        mpmath.exp(lp) * (lp - lq) for lp, lq in zip(log_p, log_q, strict=True) if lp != -mpmath.inf
    )


def _jsd(log_t: list[Any], log_s: list[Any], beta: float) -> Any:
    """GKD's β-skewed Jensen-Shannon divergence; KL(t ‖ s) at β = 0, KL(s ‖ t) at β = 1."""
    if beta == 0.0:
        return _kl(log_t, log_s)
    if beta == 1.0:
        return _kl(log_s, log_t)
    b = mpmath.mpf(beta)
    log_m = [
        mpmath.log(b * mpmath.exp(lt) + (1 - b) * mpmath.exp(ls))
        if lt != -mpmath.inf or ls != -mpmath.inf
        else mpmath.mpf("-inf")
        for lt, ls in zip(log_t, log_s, strict=True)
    ]
    return b * _kl(log_t, log_m) + (1 - b) * _kl(log_s, log_m)


def divergence_rows(
    teacher: np.ndarray,
    student: np.ndarray,
    divergence: Callable[[list[Any], list[Any]], Any],
    temperature: float,
    axis: int = -1,
) -> np.ndarray:
    """``divergence(log p_t, log p_s)`` of every row along ``axis`` (shape without it)."""
    t = np.moveaxis(np.asarray(teacher, dtype=np.float64), axis, -1)
    s = np.moveaxis(np.asarray(student, dtype=np.float64), axis, -1)
    t = np.broadcast_to(t, s.shape)
    out = np.empty(s.shape[:-1])
    with mpmath.workdps(DIGITS):
        tau = mpmath.mpf(temperature)
        for index in np.ndindex(out.shape):
            value = divergence(_log_softmax(t[index], tau), _log_softmax(s[index], tau))
            out[index] = float(value)
    return out


def generalized_jsd(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = _options(params, beta=0.5, temperature=1.0, axis=-1)
    return divergence_rows(
        inputs[0],
        inputs[1],
        lambda lt, ls: _jsd(lt, ls, o["beta"]),
        o["temperature"],
        o["axis"],
    )


def distillation_kl(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    o = _options(params, temperature=1.0, direction="forward", axis=-1, temperature_scaling=False)
    forward = o["direction"] == "forward"
    rows = divergence_rows(
        inputs[0],
        inputs[1],
        lambda lt, ls: _kl(lt, ls) if forward else _kl(ls, lt),
        o["temperature"],
        o["axis"],
    )
    return rows * (o["temperature"] ** 2 if o["temperature_scaling"] else 1.0)


def linear_distillation(inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    """GKD's divergence between two linear heads' logits (``h Wᵀ + b``, float64 products),
    soft-capped in mpmath then divided by the temperature; 0 at ``targets == ignore_index``.
    ``chunk_size`` only decides how losskit splits the work: the reference ignores it."""
    o = _options(
        params,
        beta=0.5,
        temperature=1.0,
        softcap=None,
        targets=None,
        ignore_index=-100,
        student_bias=None,
        teacher_bias=None,
        chunk_size=None,
    )
    h_s, w_s, h_t, w_t = (np.asarray(x, dtype=np.float64) for x in inputs)
    student, teacher = h_s @ w_s.T, h_t @ w_t.T
    if o["student_bias"] is not None:
        student = student + np.asarray(o["student_bias"], dtype=np.float64)
    if o["teacher_bias"] is not None:
        teacher = teacher + np.asarray(o["teacher_bias"], dtype=np.float64)
    cap = o["softcap"]
    if cap is not None:  # c·tanh(z / c) in mpmath, rounded to float64
        with mpmath.workdps(DIGITS):
            c = mpmath.mpf(cap)
            soft = np.vectorize(lambda v: float(c * mpmath.tanh(mpmath.mpf(float(v)) / c)))
            student, teacher = soft(student), soft(teacher)
    rows = divergence_rows(
        teacher, student, lambda lt, ls: _jsd(lt, ls, o["beta"]), o["temperature"]
    )
    if o["targets"] is not None and o["ignore_index"] is not None:
        rows = np.where(np.asarray(o["targets"]) == o["ignore_index"], 0.0, rows)
    return rows


REFERENCES: dict[str, Reference] = {
    "grpo": grpo,
    "linear_distillation": linear_distillation,
    "generalized_jsd": generalized_jsd,
    "distillation_kl": distillation_kl,
}
