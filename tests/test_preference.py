"""Preference losses (``dpo``, ``kto``, ``orpo``, ``simpo``, ``cpo``).

* Parity with TRL 1.16 itself: ``DPOTrainer._compute_loss`` and ``KTOTrainer._compute_loss``
  driven by a stand-in model that returns the log-probabilities under test, and the loss
  methods of ``trl.experimental``'s ``CPOTrainer`` and ``ORPOTrainer`` on bare instances. TRL
  runs in float64 (its default dtype set to float64 for the call, so that the tensors it makes
  itself — EXO's ε — are float64 too), except ORPO, which casts to float32 itself.
* ORPO's odds at the tails (average log-probabilities from -1e-12 to -1e4) against mpmath;
  finite values and gradients at log-ratios of ±1e3 for every loss and variant.
* KTO's reference point: no gradient, clamped at 0; unpaired batches of different lengths;
  weights and masks in chosen-then-rejected order.
* Errors that name the argument; equal values on every backend.
"""

from __future__ import annotations

import collections
import contextlib
import types
from collections.abc import Iterator
from typing import Any

import mpmath
import numpy as np
import pytest

import losskit as lk
from conftest import get_backend
from losskit.losses._preference import CPO_VARIANTS, DPO_VARIANTS

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
B = 24


def _dpo_batch() -> list[np.ndarray]:
    """Sequence log-probabilities: ordinary ones (log-ratios of a few nats), then log-ratios of
    tens to hundreds of nats (h = β·δ up to ±100 at β = 0.1)."""
    policy = [-(5.0 + 55.0 * RNG.random(B)) for _ in range(2)]
    ref = [p + 4.0 * RNG.normal(size=B) for p in policy]
    ref = [np.minimum(x, -0.5) for x in ref]
    far = [np.array(v) for v in ([-1.0, -900.0, -2.0, -300.0], [-800.0, -1.0, -500.0, -3.0])]
    far_ref = [np.array(v) for v in ([-700.0, -1.0, -400.0, -2.0], [-1.0, -950.0, -4.0, -600.0])]
    return [np.concatenate([a, b]) for a, b in zip([*policy, *ref], [*far, *far_ref], strict=True)]


def _average_batch() -> list[np.ndarray]:
    """Average per-token log-probabilities, from -1e-6 (a nearly certain completion) to -8."""
    c = -np.exp(RNG.uniform(np.log(1e-6), np.log(8.0), B))
    r = -np.exp(RNG.uniform(np.log(1e-6), np.log(8.0), B))
    return [c, r]


DPO_BATCH = _dpo_batch()
AVERAGE_BATCH = _average_batch()


def _smoothing(variant: str) -> float:
    return {"robust": 0.2, "exo_pair": 1e-3}.get(variant, 0.0)


# ---------------------------------------------------------------------- TRL stand-ins
@contextlib.contextmanager
def _float64_default() -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


class _Accelerator:
    device = torch.device("cpu")

    def gather_for_metrics(self, x: Any) -> Any:
        return x

    def gather(self, x: Any) -> Any:
        return x

    def unwrap_model(self, model: Any) -> Any:
        return model


class _Model:
    """Returns, for each row, the log-probability ``table[input_ids[row, 0]]`` on the first
    completion token and 0 on the others, so a row's summed log-probability is its entry."""

    training = True

    def __init__(self, table: torch.Tensor) -> None:
        self.table = table

    def __call__(self, *, input_ids: torch.Tensor, **_: Any) -> Any:
        rows, length = input_ids.shape
        log_probs = torch.zeros(rows, length - 1, dtype=self.table.dtype)
        log_probs[:, 0] = self.table[input_ids[:, 0]]
        zeros = torch.zeros_like(log_probs)
        return types.SimpleNamespace(
            log_probs=log_probs,
            entropy=zeros,
            mean_logits=zeros,
            is_top1=torch.zeros(rows, length - 1, dtype=torch.bool),
            aux_loss=None,
        )


def _bare(cls: type, **attributes: Any) -> Any:
    trainer = object.__new__(cls)
    trainer.accelerator = _Accelerator()
    trainer._metrics = collections.defaultdict(lambda: collections.defaultdict(list))
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    trainer.aux_loss_enabled = False
    for key, value in attributes.items():
        setattr(trainer, key, value)
    return trainer


def trl_dpo(inputs: list[np.ndarray], beta: float, variant: str, epsilon: float) -> np.ndarray:
    """TRL's per-pair DPO loss (each pair its own batch of one: TRL returns batch means)."""
    from trl.trainer.dpo_trainer import DPOTrainer

    out = []
    with _float64_default():
        for c, r, ref_c, ref_r in zip(*inputs, strict=True):
            trainer = _bare(
                DPOTrainer,
                model=_Model(torch.tensor([c, r])),
                ld_alpha=None,
                precompute_ref_logps=True,
                f_divergence_type="reverse_kl",
                loss_types=[variant],
                loss_weights=[1.0],
                beta=beta,
                label_smoothing=epsilon,
                use_weighting=False,
                args=types.SimpleNamespace(discopop_tau=0.05),
            )
            batch = {
                "input_ids": torch.tensor([[0, 0, 0], [1, 0, 0]]),
                "attention_mask": torch.ones(2, 3, dtype=torch.long),
                "completion_mask": torch.tensor([[0, 1, 0], [0, 1, 0]]),  # one token each
                "ref_chosen_logps": torch.tensor([ref_c]),
                "ref_rejected_logps": torch.tensor([ref_r]),
            }
            out.append(float(trainer._compute_loss(trainer.model, batch, False)))
    return np.array(out)


def trl_kto(
    inputs: list[np.ndarray], kl: float, beta: float, desirable: float, undesirable: float
) -> float:
    """TRL's KTO loss of one batch: the chosen items, then the rejected ones, with a KL estimate
    whose mismatched completions give exactly ``kl`` (before TRL clamps it)."""
    from trl.trainer.kto_trainer import KTOTrainer

    c, r, ref_c, ref_r = inputs
    n = len(c) + len(r)
    with _float64_default():
        # rows 0..n-1: the completions; row n: every KL completion (log-prob kl, reference 0)
        table = torch.tensor([*c, *r, kl])
        trainer = _bare(
            KTOTrainer,
            model=_Model(table),
            precompute_ref_logps=True,
            calculate_KL=True,
            loss_type="kto",
            beta=beta,
            desirable_weight=desirable,
            undesirable_weight=undesirable,
        )
        ids = torch.zeros(n, 3, dtype=torch.long)
        ids[:, 0] = torch.arange(n)
        batch = {
            "label": torch.tensor([True] * len(c) + [False] * len(r)),
            "input_ids": ids,
            "attention_mask": torch.ones(n, 3, dtype=torch.long),
            "completion_mask": torch.tensor([[0, 1, 0]] * n),
            "KL_input_ids": torch.full((n, 3), n, dtype=torch.long),
            "KL_attention_mask": torch.ones(n, 3, dtype=torch.long),
            "KL_completion_mask": torch.tensor([[0, 1, 0]] * n),
            "ref_logps": torch.tensor([*ref_c, *ref_r]),
            "ref_KL_logps": torch.zeros(n),
        }
        return float(trainer._compute_loss(trainer.model, batch, False))


def trl_cpo(inputs: list[np.ndarray], loss_type: str, **attributes: Any) -> np.ndarray:
    from trl.experimental.cpo.cpo_trainer import CPOTrainer

    trainer = _bare(CPOTrainer, alpha=0.0, loss_type=loss_type, **attributes)
    c, r = (torch.tensor(x, dtype=torch.float64) for x in inputs)
    with _float64_default():
        return trainer.cpo_loss(c, r)[0].numpy()


def trl_orpo(inputs: list[np.ndarray], beta: float) -> np.ndarray:
    """TRL's ``losses`` (β·log σ(log odds), the negative of the loss; computed in float32)."""
    from trl.experimental.orpo.orpo_trainer import ORPOTrainer

    trainer = _bare(ORPOTrainer, beta=beta)
    c, r = (torch.tensor(x, dtype=torch.float64) for x in inputs)
    return trainer.odds_ratio_loss(c, r)[0].double().numpy()


def _difference(got: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """Max absolute and max relative difference."""
    absolute = np.abs(got - expected)
    relative = absolute / np.maximum(np.abs(expected), np.finfo(float).tiny)
    return float(absolute.max()), float(relative.max())


# ---------------------------------------------------------------------- parity with TRL
@pytest.fixture(scope="module")
def trl() -> Any:
    trl = pytest.importorskip("trl")
    assert trl.__version__.startswith("1.16"), (
        f"the parity tests follow TRL 1.16: {trl.__version__}"
    )
    return trl


@pytest.mark.parametrize("variant", DPO_VARIANTS)
def test_dpo_matches_trl(trl, variant):
    epsilon = _smoothing(variant)
    expected = trl_dpo(DPO_BATCH, 0.1, variant, epsilon)
    got = lk.dpo(*DPO_BATCH, beta=0.1, variant=variant, label_smoothing=epsilon, reduction="none")
    assert np.all(np.isfinite(expected))
    # one ulp of the larger terms: the losses TRL writes as 1 - σ(x) lose their tail there
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_dpo_sigmoid_smoothing_is_conservative_dpo(trl):
    """TRL 1.16's "sigmoid" has no label smoothing; with it, it is the cDPO mixture of the
    "sigmoid" losses of the two orderings (TRL's "robust" numerator, before its division)."""
    epsilon = 0.15
    plain = trl_dpo(DPO_BATCH, 0.1, "sigmoid", 0.0)
    flipped = trl_dpo([DPO_BATCH[i] for i in (1, 0, 3, 2)], 0.1, "sigmoid", 0.0)
    got = lk.dpo(*DPO_BATCH, label_smoothing=epsilon, reduction="none")
    np.testing.assert_allclose(got, (1 - epsilon) * plain + epsilon * flipped, rtol=1e-12)


@pytest.mark.parametrize(
    ("kl", "beta", "desirable", "undesirable"),
    [(0.3, 0.1, 1.0, 1.0), (-0.4, 0.5, 1.0, 1.33), (12.0, 0.05, 0.6, 1.0)],
)
def test_kto_matches_trl(trl, kl, beta, desirable, undesirable):
    c, r, ref_c, ref_r = DPO_BATCH
    inputs = [c[:7], r[:12], ref_c[:7], ref_r[:12]]  # unpaired: 7 desirable, 12 undesirable
    expected = trl_kto(inputs, kl, beta, desirable, undesirable)
    got = lk.kto(
        *inputs, kl=kl, beta=beta, desirable_weight=desirable, undesirable_weight=undesirable
    )
    np.testing.assert_allclose(float(got), expected, rtol=1e-13)
    # item by item: a batch of one desirable (or undesirable) completion
    unreduced = lk.kto(
        *inputs,
        kl=kl,
        beta=beta,
        desirable_weight=desirable,
        undesirable_weight=undesirable,
        reduction="none",
    )
    empty = np.zeros(0)
    for i in range(7):
        one = trl_kto([c[i : i + 1], empty, ref_c[i : i + 1], empty], kl, beta, desirable, 1.0)
        np.testing.assert_allclose(unreduced[i], one, rtol=1e-13)
    for i in range(12):
        one = trl_kto([empty, r[i : i + 1], empty, ref_r[i : i + 1]], kl, beta, 1.0, undesirable)
        np.testing.assert_allclose(unreduced[7 + i], one, rtol=1e-13)


@pytest.mark.parametrize("variant", CPO_VARIANTS)
def test_cpo_matches_trl(trl, variant):
    inputs = DPO_BATCH[:2] if variant != "ipo" else AVERAGE_BATCH
    epsilon = 0.2 if variant == "sigmoid" else 0.0
    expected = trl_cpo(inputs, variant, beta=0.1, label_smoothing=epsilon)
    got = lk.cpo(*inputs, beta=0.1, variant=variant, label_smoothing=epsilon, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("beta", "ratio", "epsilon"), [(2.0, 0.5, 0.0), (2.5, 1.4, 0.1)])
def test_simpo_matches_trl_cpo_trainer(trl, beta, ratio, epsilon):
    expected = trl_cpo(
        AVERAGE_BATCH, "simpo", beta=beta, simpo_gamma=ratio * beta, label_smoothing=epsilon
    )
    got = lk.simpo(
        *AVERAGE_BATCH,
        beta=beta,
        gamma_beta_ratio=ratio,
        label_smoothing=epsilon,
        reduction="none",
    )
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_orpo_matches_trl(trl):
    """TRL computes the odds ratio in float32: losskit on the same float32 inputs agrees to a
    few float32 ulps, and is the negative of TRL's ``losses``."""
    inputs = [x.astype(np.float32) for x in AVERAGE_BATCH]
    expected = -trl_orpo(inputs, beta=0.1)
    got = lk.orpo(*inputs, beta=0.1, reduction="none")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=4e-6, atol=1e-12)
    exact = lk.orpo(*(x.astype(np.float64) for x in inputs), beta=0.1, reduction="none")
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("offset", [1e-2, 1e-4, 1e-6, -1e-5, -0.3])
def test_exo_pair_keeps_its_relative_accuracy_near_its_minimum(offset):
    """EXO is a KL divergence, 0 at h* = logit(1 - ε): near it the loss is second order in
    h - h*. Against mpmath at the same inputs, losskit is within the conditioning of h (its own
    rounding, ≈ 2·eps·|h| / |h - h*|); TRL's two first-order terms cancel (2e-5 at 1e-6)."""
    epsilon, beta = 1e-3, 0.5
    optimum = np.log((1 - epsilon) / epsilon)
    c = np.array([-20.0 + (optimum + offset) / beta])
    ref_c, r = np.array([-20.0]), np.array([-1.0])
    got = float(lk.dpo(c, r, ref_c, r, beta=beta, variant="exo_pair", label_smoothing=epsilon))
    with mpmath.workdps(50):
        h = mpmath.mpf(beta) * (mpmath.mpf(c[0]) - mpmath.mpf(ref_c[0]))
        q, e = 1 / (1 + mpmath.exp(-h)), mpmath.mpf(epsilon)
        expected = float(q * mpmath.log(q / (1 - e)) + (1 - q) * mpmath.log((1 - q) / e))
    bound = 4 * np.finfo(float).eps * optimum / abs(offset) + 1e-14
    assert abs(got - expected) <= bound * expected, (got, expected)


# ---------------------------------------------------------------------- ORPO at the tails
def _mp_orpo(c: float, r: float, beta: float = 0.1) -> float:
    with mpmath.workdps(60):
        odds = [mpmath.log(mpmath.exp(x) / (1 - mpmath.exp(x))) for x in map(mpmath.mpf, (c, r))]
        return float(beta * mpmath.log1p(mpmath.exp(-(odds[0] - odds[1]))))


def _mp_orpo_gradient(c: float, r: float, beta: float = 0.1) -> tuple[float, float]:
    """dℓ/dc and dℓ/dr: ℓ = β softplus(-(L(c) - L(r))), L' = 1 / (1 - e^x)."""
    with mpmath.workdps(60):
        c_, r_ = mpmath.mpf(c), mpmath.mpf(r)
        odds = [mpmath.log(mpmath.exp(x) / (1 - mpmath.exp(x))) for x in (c_, r_)]
        weight = -beta / (1 + mpmath.exp(odds[0] - odds[1]))  # -β σ(-log odds ratio)
        return (
            float(weight / (1 - mpmath.exp(c_))),
            float(-weight / (1 - mpmath.exp(r_))),
        )


TAILS = np.array([-1e-12, -1e-9, -1e-6, -1e-3, -0.3, -0.6931, -0.6932, -2.0, -40.0, -1e3, -1e4])


@pytest.mark.parametrize("backend_name", ["numpy", "torch", "jax", "tensorflow"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orpo_is_exact_at_the_tails(backend_name, dtype):
    """Every pair of tail log-probabilities (float32 rounds them first) against mpmath."""
    backend = get_backend(backend_name)
    c, r = (x.ravel().astype(dtype) for x in np.meshgrid(TAILS, TAILS))
    if dtype == "float32":  # below float32's normal range nothing is exact; skip -1e-12 there
        keep = (c < -1e-30) & (r < -1e-30)
        c, r = c[keep], r[keep]
    expected = np.array([_mp_orpo(float(a), float(b)) for a, b in zip(c, r, strict=True)])
    got = backend.to_numpy(
        lk.orpo(backend.array(c, dtype), backend.array(r, dtype), reduction="none")
    )
    if dtype == "float64":
        rtol: Any = 1e-12
    else:  # a small loss ≈ β·e^{-gap}: its relative error is the gap's absolute error, ≈ ε·|odds|
        odds = [np.abs(np.log(-np.expm1(x.astype(float)))) + np.abs(x) for x in (c, r)]
        rtol = 4 * np.finfo(np.float32).eps * (1.0 + odds[0] + odds[1])
    error = np.abs(np.asarray(got, dtype=float) - expected)
    assert np.all(error <= rtol * expected), (error / expected, rtol)


@pytest.mark.parametrize("backend_name", ["torch", "jax", "tensorflow"])
def test_orpo_gradient_is_exact_at_the_tails(backend_name):
    backend = get_backend(backend_name)
    c, r = (x.ravel() for x in np.meshgrid(TAILS, TAILS))
    for index in (0, 1):
        arrays = [backend.array(c, "float64"), backend.array(r, "float64")]

        def loss(x, index=index, arrays=arrays):
            args = list(arrays)
            args[index] = x
            return lk.orpo(*args, reduction="sum")

        got = np.asarray(backend.to_numpy(backend.grad(loss, arrays[index])))
        expected = np.array([_mp_orpo_gradient(a, b)[index] for a, b in zip(c, r, strict=True)])
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=0)


def test_orpo_at_a_log_probability_of_zero_is_finite():
    """A probability that rounds to 1 (log p = 0): large, finite log-odds and gradients."""
    c = torch.tensor([0.0, -1e-45, -0.5], requires_grad=True)
    r = torch.tensor([-1.0, 0.0, 0.0], requires_grad=True)
    loss = lk.orpo(c, r, reduction="none")
    assert torch.isfinite(loss).all()
    loss.sum().backward()
    assert torch.isfinite(c.grad).all() and torch.isfinite(r.grad).all()
    value = loss.detach()
    assert float(value[0]) < 1e-30  # chosen certain, rejected not: no loss to speak of
    assert float(value[2]) > 8.0  # rejected certain: 0.1 times a log-odds gap of about 87


# ---------------------------------------------------------------------- extremes
def _extreme_inputs(count: int) -> list[np.ndarray]:
    """Log-ratios and margins of ±1e3: every input cycles through -1e-9 .. -1e3 in its own
    order."""
    values = np.array([-1e-9, -1e3, -0.5, -1e3 + 1e-3, -1e-3, -500.0])
    return [np.roll(values, k) for k in range(count)]


CALLS = [
    *(("dpo", {"variant": v, "label_smoothing": _smoothing(v)}) for v in DPO_VARIANTS),
    ("kto", {"kl": 0.5}),
    ("orpo", {}),
    ("simpo", {"label_smoothing": 0.1}),
    *(("cpo", {"variant": v}) for v in CPO_VARIANTS),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend_name", ["torch", "jax", "tensorflow"])
@pytest.mark.parametrize(("name", "params"), CALLS)
def test_gradients_are_finite_at_log_ratios_of_1e3(name, params, backend_name, dtype):
    backend = get_backend(backend_name)
    count = 2 if name in ("orpo", "simpo", "cpo") else 4
    inputs = [backend.array(x, dtype) for x in _extreme_inputs(count)]
    value = backend.to_numpy(lk.get(name)(*inputs, **params, reduction="none"))
    assert np.all(np.isfinite(value)), value
    for index in range(count):

        def loss(x, index=index):
            args = list(inputs)
            args[index] = x
            return lk.get(name)(*args, **params, reduction="sum")

        g = backend.to_numpy(backend.grad(loss, inputs[index]))
        assert np.all(np.isfinite(g)), (index, g)


# ---------------------------------------------------------------------- KTO specifics
def test_kto_kl_gets_no_gradient_and_is_clamped_at_zero():
    c, r, ref_c, ref_r = (torch.tensor(x[:5]) for x in DPO_BATCH)
    kl = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    c = c.clone().requires_grad_(True)
    loss = lk.kto(c, r, ref_c, ref_r, kl=kl)
    loss.backward()
    assert kl.grad is None and c.grad is not None
    negative = lk.kto(*DPO_BATCH, kl=-3.0, reduction="none")
    np.testing.assert_array_equal(negative, lk.kto(*DPO_BATCH, kl=0.0, reduction="none"))
    assert not np.array_equal(negative, lk.kto(*DPO_BATCH, kl=0.1, reduction="none"))


def test_kto_kl_is_a_constant_under_jax_grad():
    jax = pytest.importorskip("jax")
    inputs = [jax.numpy.asarray(x[:5]) for x in DPO_BATCH]
    grad = jax.grad(lambda k: lk.kto(*inputs, kl=k))(jax.numpy.asarray(0.7))
    assert float(grad) == 0.0


def test_kto_unpaired_batches_and_concatenated_weights():
    c, r, ref_c, ref_r = DPO_BATCH
    inputs = [c[:3], r[:5], ref_c[:3], ref_r[:5]]
    unreduced = lk.kto(*inputs, kl=0.2, reduction="none")
    assert unreduced.shape == (8,)
    np.testing.assert_allclose(lk.kto(*inputs, kl=0.2), unreduced.mean(), rtol=1e-15)
    # weights and masks: the chosen items first, then the rejected ones
    weight = np.array([1.0, 2.0, 0.0, 3.0, 1.0, 1.0, 0.5, 4.0])
    np.testing.assert_allclose(
        lk.kto(*inputs, kl=0.2, sample_weight=weight),
        np.sum(weight * unreduced) / weight.sum(),
        rtol=1e-14,
    )
    chosen_only = np.arange(8) < 3
    np.testing.assert_allclose(
        lk.kto(*inputs, kl=0.2, mask=chosen_only),
        lk.kto(c[:3], r[:0], ref_c[:3], ref_r[:0], kl=0.2),
        rtol=1e-15,
    )
    # no rejected (or no chosen) completion at all
    assert lk.kto(c[:3], r[:0], ref_c[:3], ref_r[:0], kl=0.2, reduction="none").shape == (3,)
    assert float(lk.kto(c[:0], r[:0], ref_c[:0], ref_r[:0], kl=0.2)) == 0.0
    with pytest.raises(ValueError, match="mask"):
        lk.kto(*inputs, kl=0.2, mask=np.ones(3, dtype=bool))


def test_kto_bad_reference_point_names_kl():
    with pytest.raises(ValueError, match="kl"):
        lk.kto(*DPO_BATCH, kl=np.array([0.1, 0.2]))
    with pytest.raises(TypeError, match="kl"):
        lk.kto(*DPO_BATCH, kl=None)
    with pytest.raises(TypeError, match="kl"):
        lk.kto(*DPO_BATCH)
    with pytest.raises(ValueError, match="kl contains NaN"):
        lk.kto(*DPO_BATCH, kl=float("nan"))
    with pytest.raises(ValueError, match="chosen_logps must be a 1-D"):
        lk.kto(DPO_BATCH[0][:, None], *DPO_BATCH[1:], kl=0.1)


# ---------------------------------------------------------------------- errors
def test_exo_pair_without_smoothing_names_label_smoothing():
    with pytest.raises(ValueError, match="label_smoothing"):
        lk.dpo(*DPO_BATCH, variant="exo_pair")
    with pytest.raises(ValueError, match="label_smoothing"):
        lk.dpo(*DPO_BATCH, variant="exo_pair", label_smoothing=1.0)


def test_bad_variant_names_variant():
    for function, inputs in ((lk.dpo, DPO_BATCH), (lk.cpo, DPO_BATCH[:2])):
        with pytest.raises(ValueError, match="variant"):
            function(*inputs, variant="simpo" if function is lk.dpo else "robust")
        with pytest.raises(ValueError, match="variant"):
            function(*inputs, variant="no-such")


def test_label_smoothing_for_a_variant_that_ignores_it_is_refused():
    with pytest.raises(ValueError, match=r"label_smoothing.*variant='hinge'"):
        lk.dpo(*DPO_BATCH, variant="hinge", label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"label_smoothing.*variant='ipo'"):
        lk.cpo(*DPO_BATCH[:2], variant="ipo", label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 0.5\)"):
        lk.dpo(*DPO_BATCH, variant="robust", label_smoothing=0.5)
    for value in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="label_smoothing"):
            lk.simpo(*AVERAGE_BATCH, label_smoothing=value)


def test_positive_log_probabilities_and_mismatched_shapes_are_refused():
    c, r, ref_c, ref_r = DPO_BATCH
    with pytest.raises(ValueError, match="rejected_logps must hold log-probabilities"):
        lk.dpo(c, -r, ref_c, ref_r)
    with pytest.raises(ValueError, match="chosen_logps must hold log-probabilities"):
        lk.orpo(-AVERAGE_BATCH[0], AVERAGE_BATCH[1])
    with pytest.raises(
        ValueError, match=r"ref_chosen_logps of shape \(28, 1\) does not match chosen_logps"
    ):
        lk.dpo(c, r, ref_c[:, None], ref_r)
    with pytest.raises(ValueError, match=r"rejected_logps of shape \(5,\) does not match"):
        lk.simpo(AVERAGE_BATCH[0], AVERAGE_BATCH[1][:5])
    with pytest.raises(ValueError, match="beta"):
        lk.dpo(c, r, ref_c, ref_r, beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        lk.orpo(*AVERAGE_BATCH, beta=-1.0)
    with lk.validation(False):  # unchecked: a value, never a crash (ORPO clamps the log-odds)
        assert np.all(np.isfinite(lk.orpo(-AVERAGE_BATCH[0], AVERAGE_BATCH[1], reduction="none")))


def test_a_scalar_reference_broadcasts():
    c, r, _, _ = DPO_BATCH
    np.testing.assert_allclose(
        lk.dpo(c, r, 0.0, 0.0, reduction="none"),
        lk.dpo(c, r, np.zeros(B + 4), np.zeros(B + 4), reduction="none"),
        rtol=0,
    )
    np.testing.assert_allclose(
        lk.dpo(c, r, 0.0, 0.0, beta=0.3, reduction="none"),
        lk.cpo(c, r, beta=0.3, reduction="none"),
        rtol=1e-15,
    )


# ---------------------------------------------------------------------- backends
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "params"), CALLS)
def test_values_equal_across_backends(name, params, dtype):
    count = 2 if name in ("orpo", "simpo", "cpo") else 4
    inputs = AVERAGE_BATCH if count == 2 else DPO_BATCH
    function = lk.get(name)
    expected = function(*(x.astype(dtype) for x in inputs), **params, reduction="none")
    assert expected.dtype == dtype
    # float32: "robust" and "exo_pair" subtract terms of order 1, so compare to that scale too
    rtol, atol = (1e-12, 1e-30) if dtype == "float64" else (2e-6, 1e-6)
    for backend_name in ("array_api_strict", "torch", "jax", "tensorflow"):
        backend = get_backend(backend_name)
        got = function(*(backend.array(x, dtype) for x in inputs), **params, reduction="none")
        got = np.asarray(backend.to_numpy(got))
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=backend_name)


# ---------------------------------------------------------------------- torch.compile
_COMPILE_SCRIPT = """
import numpy as np, torch, losskit as lk
from losskit.losses._preference import CPO_VARIANTS, DPO_VARIANTS
rng = np.random.default_rng(0)
inputs = [torch.tensor(-rng.uniform(0.01, 30.0, 8)) for _ in range(4)]
smoothing = {"robust": 0.2, "exo_pair": 1e-3}
calls = [("dpo", {"variant": v, "label_smoothing": smoothing.get(v, 0.0)}) for v in DPO_VARIANTS]
calls += [("cpo", {"variant": v}) for v in CPO_VARIANTS]
calls += [("kto", {"kl": 0.3}), ("kto", {"kl": torch.tensor(-0.3, dtype=torch.float64)})]
calls += [("orpo", {}), ("simpo", {"label_smoothing": 0.1})]
for name, params in calls:
    count = 2 if name in ("orpo", "simpo", "cpo") else 4
    def loss(*xs, name=name, params=params):
        return lk.get(name)(*[x / 30 for x in xs], **params)
    xs = [x.clone().requires_grad_(True) for x in inputs[:count]]
    eager = loss(*xs)
    eager_grads = torch.autograd.grad(eager, xs)
    torch._dynamo.reset()  # one function per call: no recompilation limit
    compiled = torch.compile(loss, fullgraph=True)(*xs)
    grads = torch.autograd.grad(compiled, xs)
    torch.testing.assert_close(compiled, eager, rtol=1e-12, atol=1e-15)
    for g, e in zip(grads, eager_grads):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-15)
print("all ok")
"""


@pytest.mark.slow
def test_torch_compile_fullgraph_in_subprocess():
    """Every loss and variant under ``torch.compile(fullgraph=True)`` (no graph break), values
    and gradients equal to eager mode; in a fresh interpreter, as the other compile tests."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _COMPILE_SCRIPT], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "all ok" in result.stdout
