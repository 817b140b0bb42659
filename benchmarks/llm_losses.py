"""Language-model losses on torch: preference, policy and distillation losses vs TRL's formulas.

The anchors are the plain-torch expressions TRL 1.16's trainers evaluate, written out here (so
the suite needs torch only): ``DPOTrainer`` (``loss_type="sigmoid"``), ``KTOTrainer``
(``"kto"``), ``ORPOTrainer.odds_ratio_loss``, ``CPOTrainer.cpo_loss`` (``"simpo"`` and
``"sigmoid"``), ``GRPOTrainer._compute_loss`` (``loss_type="grpo"``, ``beta=0.04``) and
``GKDTrainer.generalized_jsd_loss`` (β = 0.5, ``reduction="batchmean"``, padding labels -100).

Each anchor is the expression TRL evaluates for the loss with its default options, every operation
it runs included even where an option makes it a no-op (CPO's and SimPO's label-smoothing term at
ε = 0, KTO's desirable and undesirable weights of 1, GRPO's KL with its log ratio formed twice);
left out are what surrounds the loss in the trainers: logged metrics, the sum with other loss
terms (DPO's ``loss_weights``, ORPO's and CPO's NLL) and the division for gradient
accumulation.

Forward + backward in float32: the sequence losses take ``(B,)`` sequence log-probabilities
(the gradient is taken with respect to the policy's chosen and rejected ones), GRPO ``(B, T)``
per-token log-probabilities with a completion mask, generalized JSD ``(B, T, V)`` logits (the
gradient with respect to the student's). Sizes: B = 64 sequences of T = 512 tokens, and
B = 8, T = 512, V = 4096 for generalized JSD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

import losskit as lk

from ._device import to_device
from ._suite import OFF, ON, Case, size_label
from ._timing import Step

Pair = tuple[str, str, str, Step, Step]

#: (sequences, tokens) for the preference and policy losses; (batch, tokens, vocabulary) for
#: generalized JSD.
LARGE = {"sequences": (64, 512), "logits": (8, 512, 4096)}
QUICK = {"sequences": (8, 16), "logits": (2, 16, 64)}
BETA_GRPO = 0.04


def _step(loss_fn: Callable[[], torch.Tensor], *wrt: torch.Tensor) -> Step:
    """Forward + backward: the loss and its gradients with respect to ``wrt``."""

    def step() -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        loss = loss_fn()
        return loss, torch.autograd.grad(loss, wrt)

    return step


# ------------------------------------------------------ the anchors, as TRL 1.16 computes them
def _trl_dpo(c: torch.Tensor, r: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor, beta: float):
    delta = (c - rc) - (r - rr)
    return (-F.logsigmoid(beta * delta)).mean()


def _trl_kto(c, r, rc, rr, kl: torch.Tensor, beta: float, weights=(1.0, 1.0)) -> torch.Tensor:
    z = kl.clamp(min=0).detach()
    desirable = 1 - torch.sigmoid(beta * ((c - rc) - z))
    undesirable = 1 - torch.sigmoid(beta * (z - (r - rr)))
    return torch.cat([weights[0] * desirable, weights[1] * undesirable]).mean()


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for x < 0, switching forms at -log 2."""
    low = x < -0.6931471805599453
    return torch.where(low, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x)))


def _trl_orpo(c: torch.Tensor, r: torch.Tensor, beta: float) -> torch.Tensor:
    log_odds = (c - r) - (_log1mexp(c) - _log1mexp(r))
    return -(beta * F.logsigmoid(log_odds)).mean()


def _trl_cpo(c, r, beta: float, gamma: float | None = None, label_smoothing: float = 0.0):
    """``CPOTrainer.cpo_loss``: ``"sigmoid"`` (γ None) or ``"simpo"`` (γ = ``simpo_gamma``), its
    conservative form in both cases, as TRL evaluates it for every ε."""
    logits = c - r
    if gamma is not None:
        logits = logits - gamma / beta
    losses = (
        -F.logsigmoid(beta * logits) * (1 - label_smoothing)
        - F.logsigmoid(-beta * logits) * label_smoothing
    )
    return losses.mean()


def _trl_grpo(logps, old_logps, ref_logps, advantages, mask, beta, epsilon=0.2) -> torch.Tensor:
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    a = advantages.unsqueeze(1)
    per_token = -torch.min(ratio * a, clipped * a)
    per_token = per_token + beta * (torch.exp(ref_logps - logps) - (ref_logps - logps) - 1)
    return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


def _trl_generalized_jsd(student, teacher, labels, beta: float) -> torch.Tensor:
    log_s = F.log_softmax(student, dim=-1)
    log_t = F.log_softmax(teacher, dim=-1)
    b = torch.tensor(beta, dtype=log_s.dtype, device=log_s.device)
    log_m = torch.logsumexp(torch.stack([log_s + torch.log1p(-b), log_t + torch.log(b)]), dim=0)
    kl_t = F.kl_div(log_m, log_t, reduction="none", log_target=True)
    kl_s = F.kl_div(log_m, log_s, reduction="none", log_target=True)
    jsd = b * kl_t + (1 - b) * kl_s
    valid = labels != -100
    return jsd[valid].sum() / valid.sum().clamp_min(1)


# ------------------------------------------------------------------------------ the pairs
def _pairs(sizes: dict[str, tuple[int, ...]]) -> list[Pair]:
    gen = torch.Generator().manual_seed(0)
    b, t = sizes["sequences"]

    def sequence_logps(requires_grad: bool) -> torch.Tensor:
        # sums of t per-token log-probabilities around -1.5 each
        x = -1.5 * t + (t**0.5) * torch.randn(b, generator=gen)
        return to_device(x).requires_grad_(requires_grad)

    c, r = sequence_logps(True), sequence_logps(True)
    rc, rr = sequence_logps(False), sequence_logps(False)
    kl = to_device(torch.tensor(0.3))
    # average per-token log-probabilities (ORPO, SimPO, CPO): in (-3, -0.1)
    ac = to_device(-0.1 - 2.9 * torch.rand(b, generator=gen)).requires_grad_(True)
    ar = to_device(-0.1 - 2.9 * torch.rand(b, generator=gen)).requires_grad_(True)

    logps = (-1.5 + 0.5 * torch.randn(b, t, generator=gen)).clamp(max=-1e-3)
    old_logps = to_device(logps + 0.1 * torch.randn(b, t, generator=gen))
    ref_logps = to_device(logps + 0.1 * torch.randn(b, t, generator=gen))
    logps = to_device(logps).requires_grad_(True)
    advantages = to_device(torch.randn(b, generator=gen))
    lengths = torch.randint(t // 4, t + 1, (b,), generator=gen)
    tokens = to_device(torch.arange(t) < lengths[:, None])
    token_weights = tokens.float()

    n, s, v = sizes["logits"]
    teacher = to_device(torch.randn(n, s, v, generator=gen))
    student = to_device(torch.randn(n, s, v, generator=gen)).requires_grad_(True)
    labels = torch.randint(0, v, (n, s), generator=gen)
    labels[:, : s // 8] = -100  # prompt tokens
    labels = to_device(labels)
    positions = labels != -100

    seq = size_label((b,))
    return [
        (
            "dpo (sigmoid)",
            seq,
            "TRL DPO -logsigmoid(β·δ)",
            _step(lambda: _trl_dpo(c, r, rc, rr, 0.1), c, r),
            _step(lambda: lk.dpo(c, r, rc, rr, beta=0.1), c, r),
        ),
        (
            "kto",
            f"{b}+{b}",
            "TRL KTO 1-σ(β(·))",
            _step(lambda: _trl_kto(c, r, rc, rr, kl, 0.1), c, r),
            _step(lambda: lk.kto(c, r, rc, rr, kl=kl, beta=0.1), c, r),
        ),
        (
            "orpo",
            seq,
            "TRL ORPO odds_ratio_loss",
            _step(lambda: _trl_orpo(ac, ar, 0.1), ac, ar),
            _step(lambda: lk.orpo(ac, ar, beta=0.1), ac, ar),
        ),
        (
            "simpo",
            seq,
            "TRL CPO cpo_loss(simpo)",
            _step(lambda: _trl_cpo(ac, ar, 2.0, gamma=1.0), ac, ar),
            _step(lambda: lk.simpo(ac, ar, beta=2.0, gamma_beta_ratio=0.5), ac, ar),
        ),
        (
            "cpo (sigmoid)",
            seq,
            "TRL CPO cpo_loss(sigmoid)",
            _step(lambda: _trl_cpo(ac, ar, 0.1), ac, ar),
            _step(lambda: lk.cpo(ac, ar, beta=0.1), ac, ar),
        ),
        (
            "grpo (grpo, β=0.04)",
            size_label((b, t)),
            "TRL GRPO _compute_loss",
            _step(
                lambda: _trl_grpo(
                    logps, old_logps, ref_logps, advantages, token_weights, BETA_GRPO
                ),
                logps,
            ),
            _step(
                lambda: lk.grpo(
                    logps, old_logps, advantages, ref_logps=ref_logps, mask=tokens, beta=BETA_GRPO
                ),
                logps,
            ),
        ),
        (
            "generalized_jsd",
            size_label((n, s, v)),
            "TRL GKD generalized_jsd_loss",
            _step(lambda: _trl_generalized_jsd(student, teacher, labels, 0.5), student),
            _step(lambda: lk.generalized_jsd(teacher, student, beta=0.5, mask=positions), student),
        ),
    ]


def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())


def cases(quick: bool) -> Iterator[Case]:
    """Every pair at B=64, T=512 (V=4096 for generalized JSD), or tiny sizes when quick; the
    preference and policy losses again with value checks on (not when quick)."""
    pairs = _pairs(QUICK if quick else LARGE)
    for loss, size, native_name, native, ours in pairs:
        yield Case("llm", loss, size, native_name, OFF, native, ours, _value)
    if quick:  # the smoke run: checks off only
        return
    # checks on: not for generalized JSD, whose seconds per call would double the run time
    for loss, size, native_name, native, ours in pairs:
        if loss != "generalized_jsd":
            yield Case("llm", loss, size, native_name, ON, native, ours, _value)


def versions() -> dict[str, str]:
    """The torch version and threading for the results file."""
    return {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}
