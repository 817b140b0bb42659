"""Parity with Liger-Kernel's chunked language-model losses (``liger_kernel.chunked_loss``).

Liger's fused losses take hidden states and an ``lm_head`` weight, compute the logits a chunk of
sequences at a time in plain torch (``torch.compile`` optional, no Triton kernel), and return
the loss with its gradients for the hidden states and the weight. They run on CPU. Each is
compared, value and both gradients, with the same loss assembled from losskit's parts:
``lk.linear_log_probs`` per token, summed (or averaged over the completion's tokens) per
sequence, into ``lk.dpo`` / ``kto`` / ``orpo`` / ``simpo`` / ``cpo``, per token into
``lk.grpo``, and explicit logits into ``lk.generalized_jsd`` (plus ``lk.linear_cross_entropy``
where Liger adds the chosen completions' NLL or a hard-label term).

Conventions of the anchor, mapped here:

* chosen and rejected sequences are stacked on the batch axis (chosen first); the reference
  model's log-probabilities come from ``ref_input``/``ref_weight`` without gradient;
* ``average_log_prob`` switches between per-sequence sums and per-token averages (DPO, CPO, KTO
  default to sums, ORPO and SimPO to averages); ``compute_nll_loss`` adds ``alpha`` times the
  chosen tokens' mean NLL;
* SimPO's ``gamma`` is γ itself (losskit's ``gamma_beta_ratio`` is γ/β);
* KTO's ``kl`` is used as given, unclamped (losskit, TRL and the paper clamp it at 0): see
  ``test_kto_reference_point_is_not_clamped_by_liger``;
* the JSD loss is ``weight_hard_loss · CE + weight_soft_loss · JSD_β``, both averaged over the
  tokens whose label is not ``ignore_index``; the temperature divides both logits for the JSD
  only (the CE reads the raw logits);
* the GRPO loss's ``"dapo"`` without ``num_items_in_batch`` is the mean over the batch's valid
  tokens (losskit's ``"dapo"`` without ``normalizer``).

Precision: Liger casts the logits to float32 before its ``log_softmax`` (preference losses, the
NLL and CE terms) and computes GRPO's log-probabilities in float32 whatever the input dtype, so
with float64 inputs those losses have float32 accuracy and are compared at float32 tolerances;
its JSD term keeps the input dtype, and with the loss accumulator made float64 (the default
dtype set for the call) it is compared at float64 tolerances. Liger runs eagerly
(``compiled=False``: the same torch operations, without 3 to 20 s of compilation per
configuration on CPU); ``test_compiled_liger_agrees`` runs it compiled. The file takes some
ten seconds (importing Liger, about 170 Liger calls): it is one of the slow files
(``SLOW_FILES`` in ``conftest.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
chunked = pytest.importorskip("liger_kernel.chunked_loss")

import losskit as lk  # noqa: E402

PAIRS, TOKENS, HIDDEN, VOCAB = 3, 9, 16, 40
TEACHER_HIDDEN = 24
#: losskit's token chunk: smaller than the batch and not dividing it, so its chunked kernels
#: (autograd Functions that recompute each chunk) run, not the plain path
CHUNK = 8

# Tolerances. Liger's log-probabilities are float32 in both dtypes (see above). A float32
# log-softmax of logits of a few units is exact to about 1e-6 absolute (an ulp of a
# log Σ exp(z) ≈ 4 is 5e-7), and a sequence sums up to 8 of them, so two correct float32
# sequence log-probabilities may differ by a few 1e-6; a loss inherits that times its
# sensitivity: at most β ≤ 2.5 for the logistic losses, but 2·|δ - 1/(2β)| ≈ 70 for
# "sppo_hard", whose value is ≈ 50 here. Relative 2e-5 with absolute 4e-6 covers these; the
# largest measured difference uses a quarter of it (sppo_hard in float64: 1.6e-5 on 50.7, and
# 7e-6 on gradient entries of up to 15), every other case less than a tenth.
FLOAT32 = {"rtol": 2e-5, "atol": 4e-6}
#: the JSD term in float64 (Liger keeps the input dtype): a few ulps of the values and gradients
FLOAT64 = {"rtol": 1e-11, "atol": 1e-13}
DTYPES = ["float32", "float64"]


# ---------------------------------------------------------------------- data
def _batch(seed: int = 0) -> dict[str, np.ndarray]:
    """Two sequences per pair (chosen first), a prompt of 1 to 6 ignored tokens each, logits of
    a few units; a reference model a little off the policy."""
    rng = np.random.default_rng(seed)
    rows = 2 * PAIRS
    hidden = rng.normal(size=(rows, TOKENS, HIDDEN))
    weight = 0.3 * rng.normal(size=(VOCAB, HIDDEN))
    targets = rng.integers(0, VOCAB, (rows, TOKENS))
    prompt = rng.integers(1, TOKENS - 2, rows)
    targets[np.arange(TOKENS) < prompt[:, None]] = -100
    return {
        "hidden": hidden,
        "weight": weight,
        "bias": 0.5 * rng.normal(size=VOCAB),
        "targets": targets,
        "ref_hidden": hidden + 0.2 * rng.normal(size=hidden.shape),
        "ref_weight": weight + 0.1 * rng.normal(size=weight.shape),
    }


BATCH = _batch()


def _tensor(x: np.ndarray, dtype: str) -> Any:
    if x.dtype.kind in "iub":
        return torch.as_tensor(x)
    return torch.as_tensor(x, dtype=getattr(torch, dtype))


@contextlib.contextmanager
def _default_dtype(dtype: str) -> Iterator[None]:
    """Liger accumulates its loss in ``torch.zeros(())`` of the default dtype."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def value_and_grads(
    loss_of: Callable[..., Any], dtype: str, names: tuple[str, ...] = ("hidden", "weight")
) -> list[np.ndarray]:
    """``[loss, ∂loss/∂name for name in names]`` (as float64 NumPy) of ``loss_of(**tensors)``,
    the named inputs of ``BATCH`` being leaves that require gradients."""
    leaves = {n: _tensor(BATCH[n], dtype).requires_grad_(True) for n in names}
    with _default_dtype(dtype):
        loss = loss_of(**leaves)
    if isinstance(loss, tuple):  # Liger's preference losses: (loss, metrics)
        loss = loss[0]
    grads = torch.autograd.grad(loss, list(leaves.values()))
    return [t.detach().double().numpy() for t in (loss, *grads)]


def assert_same(got: list[np.ndarray], want: list[np.ndarray], tol: dict[str, float]) -> None:
    names = ("value", "hidden grad", "weight grad", "bias grad")[: len(want)]
    for name, a, b in zip(names, got, want, strict=True):
        np.testing.assert_allclose(a, b, err_msg=name, **tol)


# ---------------------------------------------------------------------- losskit's side
def _constant(name: str, dtype: str) -> Any:
    return _tensor(BATCH[name], dtype)


def sequence_logps(hidden: Any, weight: Any, average: bool, bias: Any = None) -> Any:
    """Per-sequence log-probabilities of ``BATCH``'s targets: sums over the non-ignored tokens,
    or their averages."""
    targets = torch.as_tensor(BATCH["targets"])
    per_token = lk.linear_log_probs(hidden, weight, targets, bias=bias, chunk_size=CHUNK)
    total = per_token.sum(-1)
    return total / (targets != -100).sum(-1) if average else total


def reference_inputs(dtype: str) -> dict[str, Any]:
    """The reference model's hidden states and weight, as Liger's keyword arguments."""
    hidden, weight = _constant("ref_hidden", dtype), _constant("ref_weight", dtype)
    return {"ref_input": hidden, "ref_weight": weight}


def reference_logps(dtype: str, average: bool) -> Any:
    hidden, weight = _constant("ref_hidden", dtype), _constant("ref_weight", dtype)
    return sequence_logps(hidden, weight, average).detach()


def chosen_nll(hidden: Any, weight: Any, bias: Any = None) -> Any:
    """Mean NLL over the chosen sequences' non-ignored tokens."""
    targets = torch.as_tensor(BATCH["targets"][:PAIRS])
    return lk.linear_cross_entropy(hidden[:PAIRS], weight, targets, bias=bias, chunk_size=CHUNK)


def _pairs(x: Any) -> tuple[Any, Any]:
    return x[:PAIRS], x[PAIRS:]


# ---------------------------------------------------------------------- DPO
#: Liger's DPO loss types (all of them are losskit variants; Liger has no "ipo"), with the
#: label smoothing of those that read it
DPO_TYPES = {
    "sigmoid": 0.0,
    "hinge": 0.0,
    "exo_pair": 1e-3,
    "nca_pair": 0.0,
    "robust": 0.2,
    "bco_pair": 0.0,
    "sppo_hard": 0.0,
    "apo_zero": 0.0,
    "apo_down": 0.0,
    "discopop": 0.0,
}


def liger_dpo(dtype: str, average: bool, loss_type: str, **options: Any) -> list[np.ndarray]:
    module = chunked.LigerFusedLinearDPOLoss(
        compiled=options.pop("compiled", False),
        average_log_prob=average,
        loss_type=loss_type,
        label_smoothing=options.pop("label_smoothing", DPO_TYPES[loss_type]),
        **options,
    )
    targets = torch.as_tensor(BATCH["targets"])
    ref = reference_inputs(dtype)
    return value_and_grads(lambda hidden, weight: module(weight, hidden, targets, **ref), dtype)


def losskit_dpo(dtype: str, average: bool, loss_type: str, **options: Any) -> list[np.ndarray]:
    beta, alpha = options.get("beta", 0.1), options.get("alpha", 1.0)
    epsilon = options.get("label_smoothing", DPO_TYPES[loss_type])
    ref_c, ref_r = _pairs(reference_logps(dtype, average))

    def loss(hidden: Any, weight: Any) -> Any:
        c, r = _pairs(sequence_logps(hidden, weight, average))
        value = lk.dpo(c, r, ref_c, ref_r, beta=beta, variant=loss_type, label_smoothing=epsilon)
        if options.get("compute_nll_loss"):
            value = value + alpha * chosen_nll(hidden, weight)
        return value

    return value_and_grads(loss, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("average", [False, True], ids=["sum", "average"])
@pytest.mark.parametrize("loss_type", list(DPO_TYPES))
def test_dpo(loss_type, average, dtype):
    got = losskit_dpo(dtype, average, loss_type)
    want = liger_dpo(dtype, average, loss_type)
    assert_same(got, want, FLOAT32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dpo_with_nll_and_beta(dtype):
    options = {"beta": 0.5, "compute_nll_loss": True, "alpha": 0.7}
    got = losskit_dpo(dtype, False, "sigmoid", **options)
    want = liger_dpo(dtype, False, "sigmoid", **options)
    assert_same(got, want, FLOAT32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dpo_with_bias(dtype):
    """The projection's bias (policy only; the reference has none) and its gradient."""
    module = chunked.LigerFusedLinearDPOLoss(compiled=False)
    targets = torch.as_tensor(BATCH["targets"])
    ref = reference_inputs(dtype)
    names = ("hidden", "weight", "bias")
    want = value_and_grads(
        lambda hidden, weight, bias: module(weight, hidden, targets, bias, **ref), dtype, names
    )
    ref_c, ref_r = _pairs(reference_logps(dtype, False))

    def loss(hidden: Any, weight: Any, bias: Any) -> Any:
        c, r = _pairs(sequence_logps(hidden, weight, False, bias))
        return lk.dpo(c, r, ref_c, ref_r)

    assert_same(value_and_grads(loss, dtype, names), want, FLOAT32)


def test_dpo_sigmoid_label_smoothing_is_ignored_by_liger():
    """Liger's ``"sigmoid"`` ignores ``label_smoothing`` (as TRL 1.16's ``DPOTrainer``); losskit's
    reads it (conservative DPO). Liger's loss at ε is losskit's at ε = 0."""
    smoothed = liger_dpo("float32", False, "sigmoid", label_smoothing=0.15)
    assert_same(losskit_dpo("float32", False, "sigmoid"), smoothed, FLOAT32)
    conservative = losskit_dpo("float32", False, "sigmoid", label_smoothing=0.15)
    assert abs(conservative[0] - smoothed[0]) > 1e-3


# ---------------------------------------------------------------------- ORPO, SimPO, CPO
def liger_reference_free(name: str, dtype: str, **options: Any) -> list[np.ndarray]:
    cls = {
        "orpo": chunked.LigerFusedLinearORPOLoss,
        "simpo": chunked.LigerFusedLinearSimPOLoss,
        "cpo": chunked.LigerFusedLinearCPOLoss,
    }[name]
    module = cls(compiled=False, **options)
    targets = torch.as_tensor(BATCH["targets"])
    return value_and_grads(lambda hidden, weight: module(weight, hidden, targets), dtype)


def losskit_reference_free(
    name: str, dtype: str, average: bool, nll: bool, preference: Callable[[Any, Any], Any]
) -> list[np.ndarray]:
    def loss(hidden: Any, weight: Any) -> Any:
        c, r = _pairs(sequence_logps(hidden, weight, average))
        value = preference(c, r)
        return value + chosen_nll(hidden, weight) if nll else value

    return value_and_grads(loss, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nll", [True, False], ids=["nll", "no_nll"])
@pytest.mark.parametrize("beta", [0.1, 1.5])
def test_orpo(beta, nll, dtype):
    """ORPO reads per-token averages (Liger's default for it) and adds the NLL by default."""
    want = liger_reference_free("orpo", dtype, beta=beta, compute_nll_loss=nll)
    got = losskit_reference_free("orpo", dtype, True, nll, lambda c, r: lk.orpo(c, r, beta=beta))
    assert_same(got, want, FLOAT32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nll", [True, False], ids=["nll", "no_nll"])
@pytest.mark.parametrize(("beta", "gamma", "epsilon"), [(2.0, 1.0, 0.0), (2.5, 0.6, 0.1)])
def test_simpo(beta, gamma, epsilon, nll, dtype):
    """Liger's ``gamma`` is γ, losskit's ``gamma_beta_ratio`` γ/β; per-token averages."""
    want = liger_reference_free(
        "simpo", dtype, beta=beta, gamma=gamma, label_smoothing=epsilon, compute_nll_loss=nll
    )
    got = losskit_reference_free(
        "simpo",
        dtype,
        True,
        nll,
        lambda c, r: lk.simpo(
            c, r, beta=beta, gamma_beta_ratio=gamma / beta, label_smoothing=epsilon
        ),
    )
    assert_same(got, want, FLOAT32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nll", [True, False], ids=["nll", "no_nll"])
@pytest.mark.parametrize("average", [False, True], ids=["sum", "average"])
@pytest.mark.parametrize("epsilon", [0.0, 0.2])
def test_cpo(epsilon, average, nll, dtype):
    """Liger's CPO is the ``"sigmoid"`` variant (conservative with label smoothing)."""
    want = liger_reference_free(
        "cpo",
        dtype,
        beta=0.1,
        label_smoothing=epsilon,
        average_log_prob=average,
        compute_nll_loss=nll,
    )
    got = losskit_reference_free(
        "cpo", dtype, average, nll, lambda c, r: lk.cpo(c, r, beta=0.1, label_smoothing=epsilon)
    )
    assert_same(got, want, FLOAT32)


# ---------------------------------------------------------------------- KTO
#: desirable (True) and undesirable completions, interleaved and unequal in number
KTO_LABELS = np.array([True, False, True, True, False, True])


def liger_kto(dtype: str, average: bool, kl: float | None, beta: float) -> list[np.ndarray]:
    module = chunked.LigerFusedLinearKTOLoss(
        compiled=False, use_ref_model=True, average_log_prob=average, beta=beta
    )
    inputs = {
        "target": torch.as_tensor(BATCH["targets"]),
        "preference_labels": torch.as_tensor(KTO_LABELS),
        **reference_inputs(dtype),
        "kl": None if kl is None else torch.tensor(kl, dtype=getattr(torch, dtype)),
    }
    return value_and_grads(lambda hidden, weight: module(hidden, weight, **inputs), dtype)


def losskit_kto(dtype: str, average: bool, kl: float, beta: float) -> list[np.ndarray]:
    desirable = torch.as_tensor(KTO_LABELS)
    ref = reference_logps(dtype, average)

    def loss(hidden: Any, weight: Any) -> Any:
        logps = sequence_logps(hidden, weight, average)
        return lk.kto(
            logps[desirable],
            logps[~desirable],
            ref[desirable],
            ref[~desirable],
            kl=kl,
            beta=beta,
        )

    return value_and_grads(loss, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("average", [False, True], ids=["sum", "average"])
@pytest.mark.parametrize(("kl", "beta"), [(None, 0.1), (0.3, 0.1), (1.2, 0.5)])
def test_kto(kl, beta, average, dtype):
    """Liger's ``kl=None`` is a reference point of 0."""
    want = liger_kto(dtype, average, kl, beta)
    got = losskit_kto(dtype, average, 0.0 if kl is None else kl, beta)
    assert_same(got, want, FLOAT32)


def test_kto_reference_point_is_not_clamped_by_liger():
    """A negative KL estimate: Liger uses it as given; losskit clamps it at 0 (as TRL's
    ``KTOTrainer`` and the paper's ``z₀ = max(0, KL)``), so its loss is Liger's at 0, and
    Liger's at -0.4 is the unclamped formula."""
    liger_negative = liger_kto("float64", False, -0.4, 0.5)
    liger_zero = liger_kto("float64", False, 0.0, 0.5)
    assert_same(losskit_kto("float64", False, -0.4, 0.5), liger_zero, FLOAT32)
    assert abs(liger_negative[0] - liger_zero[0]) > 1e-3
    # the unclamped formula, on sequence log-probabilities from losskit (equal to Liger's to
    # float32 accuracy, as checked by test_kto)
    logps = sequence_logps(_constant("hidden", "float64"), _constant("weight", "float64"), False)
    ratio = (logps - reference_logps("float64", False)).detach().numpy()
    sign = np.where(KTO_LABELS, 1.0, -1.0)
    unclamped = np.mean(1.0 / (1.0 + np.exp(0.5 * (ratio + 0.4) * sign)))
    np.testing.assert_allclose(liger_negative[0], unclamped, **FLOAT32)


# ---------------------------------------------------------------------- JSD distillation
def _distillation_batch() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    tokens = 2 * PAIRS * TOKENS
    return {
        "student": rng.normal(size=(tokens, HIDDEN)),
        "teacher": rng.normal(size=(tokens, TEACHER_HIDDEN)),
        "teacher_weight": 0.3 * rng.normal(size=(VOCAB, TEACHER_HIDDEN)),
        "labels": BATCH["targets"].reshape(-1),
    }


DISTILLATION = _distillation_batch()


def liger_jsd(dtype: str, beta: float, temperature: float, hard: float) -> list[np.ndarray]:
    module = chunked.LigerFusedLinearJSDLoss(
        weight_hard_loss=hard,
        weight_soft_loss=1.0 - hard,
        beta=beta,
        temperature=temperature,
        compiled=False,
        chunk_size=16,
    )
    teacher = _tensor(DISTILLATION["teacher"], dtype)
    teacher_weight = _tensor(DISTILLATION["teacher_weight"], dtype)
    labels = torch.as_tensor(DISTILLATION["labels"])
    student = _tensor(DISTILLATION["student"], dtype).requires_grad_(True)
    weight = _constant("weight", dtype).requires_grad_(True)
    with _default_dtype(dtype):
        loss = module(student, weight, teacher, teacher_weight, labels)
    grads = torch.autograd.grad(loss, (student, weight))
    return [t.detach().double().numpy() for t in (loss, *grads)]


def losskit_jsd(
    dtype: str, beta: float, temperature: float, hard: float, divergence: Callable[..., Any]
) -> list[np.ndarray]:
    teacher_logits = (
        _tensor(DISTILLATION["teacher"], dtype) @ _tensor(DISTILLATION["teacher_weight"], dtype).T
    )
    labels = torch.as_tensor(DISTILLATION["labels"])
    student = _tensor(DISTILLATION["student"], dtype).requires_grad_(True)
    weight = _constant("weight", dtype).requires_grad_(True)
    soft = divergence(teacher_logits, student @ weight.T, temperature=temperature, mask=labels >= 0)
    loss = (1.0 - hard) * soft
    if hard:
        loss = loss + hard * lk.linear_cross_entropy(student, weight, labels, chunk_size=CHUNK)
    grads = torch.autograd.grad(loss, (student, weight))
    return [t.detach().double().numpy() for t in (loss, *grads)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("beta", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_generalized_jsd(beta, temperature, dtype):
    """The soft term alone: Liger keeps the input dtype, so float64 is compared at float64."""
    want = liger_jsd(dtype, beta, temperature, hard=0.0)
    got = losskit_jsd(
        dtype,
        beta,
        temperature,
        0.0,
        lambda t, s, **kw: lk.generalized_jsd(t, s, beta=beta, **kw),
    )
    assert_same(got, want, FLOAT64 if dtype == "float64" else FLOAT32)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_distillation_kl_is_jsd_at_beta_0_and_1(direction):
    beta = 0.0 if direction == "forward" else 1.0
    want = liger_jsd("float64", beta, 1.5, hard=0.0)
    got = losskit_jsd(
        "float64",
        beta,
        1.5,
        0.0,
        lambda t, s, **kw: lk.distillation_kl(t, s, direction=direction, **kw),
    )
    assert_same(got, want, FLOAT64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_linear_distillation(beta, temperature, dtype):
    """Fused against fused: both heads' hidden states and weights, chunked on both sides."""
    want = liger_jsd(dtype, beta, temperature, hard=0.0)
    teacher = _tensor(DISTILLATION["teacher"], dtype)
    teacher_weight = _tensor(DISTILLATION["teacher_weight"], dtype)
    labels = torch.as_tensor(DISTILLATION["labels"])
    student = _tensor(DISTILLATION["student"], dtype).requires_grad_(True)
    weight = _constant("weight", dtype).requires_grad_(True)
    loss = lk.linear_distillation(
        student,
        weight,
        teacher,
        teacher_weight,
        targets=labels,
        beta=beta,
        temperature=temperature,
        chunk_size=CHUNK,
    )
    grads = torch.autograd.grad(loss, (student, weight))
    got = [t.detach().double().numpy() for t in (loss, *grads)]
    assert_same(got, want, FLOAT64 if dtype == "float64" else FLOAT32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_jsd_with_hard_labels(temperature, dtype):
    """``0.5 · CE + 0.5 · JSD``: Liger's default weights. Its CE is float32 (its log-softmax
    casts), on the logits before the temperature."""
    want = liger_jsd(dtype, 0.5, temperature, hard=0.5)
    got = losskit_jsd(
        dtype, 0.5, temperature, 0.5, lambda t, s, **kw: lk.generalized_jsd(t, s, **kw)
    )
    assert_same(got, want, FLOAT32)


# ---------------------------------------------------------------------- GRPO
def _log_softmax_at(hidden: np.ndarray, weight: np.ndarray, ids: np.ndarray) -> np.ndarray:
    z = hidden @ weight.T
    top = z.max(-1, keepdims=True)
    log_p = z - top - np.log(np.exp(z - top).sum(-1, keepdims=True))
    return np.take_along_axis(log_p, ids[..., None], -1)[..., 0]


def _policy_batch() -> dict[str, np.ndarray]:
    """Sampled tokens, completions of 3 to 9 tokens (padding masked), advantages of both signs,
    and the sampling and reference policies' log-probabilities from weights a little off the
    policy's, so that some ratios are clipped (|log ρ| up to ~0.5)."""
    rng = np.random.default_rng(9)
    rows = 2 * PAIRS
    ids = rng.integers(0, VOCAB, (rows, TOKENS))
    lengths = np.array([9, 3, 7, 5, 8, 4])
    mask = (np.arange(TOKENS) < lengths[:, None]).astype(np.int64)
    hidden, weight = BATCH["hidden"], BATCH["weight"]
    old = _log_softmax_at(hidden, weight + 0.08 * rng.normal(size=weight.shape), ids)
    ref = _log_softmax_at(hidden, weight + 0.1 * rng.normal(size=weight.shape), ids)
    return {
        "ids": ids,
        "mask": mask,
        "advantages": np.array([1.2, -0.7, 0.4, -1.5, 0.9, -0.3]),
        "old": old,
        "ref": ref,
    }


POLICY = _policy_batch()
GRPO_OPTIONS = [
    {"loss_type": t, "importance_sampling_level": level, "beta": beta}
    for t in ("grpo", "bnpo", "dr_grpo", "dapo")
    for level in ("token", "sequence")
    for beta in (0.0, 0.04)
] + [
    {"loss_type": "dapo", "epsilon_high": 0.28, "temperature": 0.7, "beta": 0.04},
    {"loss_type": "grpo", "epsilon_low": 0.1, "epsilon_high": 0.3, "temperature": 1.3},
    {"loss_type": "dr_grpo", "max_completion_length": 12, "beta": 0.1},
    {"loss_type": "dapo", "num_items_in_batch": 57, "beta": 0.04},
]


def _grpo_id(options: dict[str, Any]) -> str:
    return "-".join(f"{v}" for v in options.values())


def liger_grpo(dtype: str, options: dict[str, Any]) -> list[np.ndarray]:
    options = dict(options)
    items = options.pop("num_items_in_batch", None)
    if options["loss_type"] == "dr_grpo":
        options.setdefault("max_completion_length", TOKENS)
    module = chunked.LigerFusedLinearGRPOLoss(
        compiled=options.pop("compiled", False), chunk_size=2, **options
    )
    inputs = {
        "selected_token_ids": torch.as_tensor(POLICY["ids"]),
        "attention_mask": torch.as_tensor(POLICY["mask"]),
        "advantages": _tensor(POLICY["advantages"], dtype),
        "ref_per_token_logps": _tensor(POLICY["ref"], dtype),
        "old_per_token_logps": _tensor(POLICY["old"], dtype),
        "num_items_in_batch": items,
    }
    return value_and_grads(lambda hidden, weight: module(hidden, weight, **inputs), dtype)


def losskit_grpo(dtype: str, options: dict[str, Any]) -> list[np.ndarray]:
    ids = torch.as_tensor(POLICY["ids"])
    old, ref, advantages = (_tensor(POLICY[n], dtype) for n in ("old", "ref", "advantages"))
    mask = torch.as_tensor(POLICY["mask"]).bool()
    items = options.get("num_items_in_batch")
    temperature = options.get("temperature", 1.0)

    def loss(hidden: Any, weight: Any) -> Any:
        logps = lk.linear_log_probs(
            hidden, weight, ids, temperature=temperature, ignore_index=None, chunk_size=CHUNK
        )
        return lk.grpo(
            logps,
            old,
            advantages,
            ref_logps=ref,
            mask=mask,
            beta=options.get("beta", 0.04),
            epsilon_low=options.get("epsilon_low", 0.2),
            epsilon_high=options.get("epsilon_high", 0.2),
            variant=options["loss_type"],
            max_completion_length=options.get("max_completion_length"),
            importance_sampling=options.get("importance_sampling_level", "token"),
            normalizer=None if items is None else float(items),
        )

    return value_and_grads(loss, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", GRPO_OPTIONS, ids=_grpo_id)
def test_grpo(options, dtype):
    """Liger's log-probabilities (and so its loss) are float32 in both dtypes."""
    want = liger_grpo(dtype, options)
    got = losskit_grpo(dtype, options)
    assert_same(got, want, FLOAT32)


def test_some_grpo_ratios_are_clipped_on_each_side():
    """The batch exercises both clips: ratios of tokens with a positive advantage above
    1 + ε_high and of tokens with a negative one below 1 - ε_low (ε = 0.2)."""
    logps = _log_softmax_at(BATCH["hidden"], BATCH["weight"], POLICY["ids"])
    ratio = np.exp(logps - POLICY["old"])[POLICY["mask"].astype(bool)]
    positive = np.broadcast_to(POLICY["advantages"][:, None] > 0, logps.shape)
    positive = positive[POLICY["mask"].astype(bool)]
    assert np.any(ratio[positive] > 1.2) and np.any(ratio[~positive] < 0.8)


# ---------------------------------------------------------------------- compiled
def test_compiled_liger_agrees():
    """Liger's default ``compiled=True`` (``torch.compile`` of each chunk's loss on CPU) gives
    the eager results checked above, up to float32 rounding."""
    assert_same(
        liger_dpo("float32", False, "sigmoid", compiled=True),
        losskit_dpo("float32", False, "sigmoid"),
        FLOAT32,
    )
    options = {"loss_type": "grpo", "beta": 0.04}
    assert_same(
        liger_grpo("float32", {**options, "compiled": True}),
        losskit_grpo("float32", options),
        FLOAT32,
    )
