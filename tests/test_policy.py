"""``lk.grpo``: parity with TRL's GRPOTrainer, the independent reference on every backend, the
completion mask's conventions, extreme ratios, and errors that name their argument."""

from __future__ import annotations

import collections
import os
import sys
import types
from pathlib import Path

import mpmath
import numpy as np
import pytest

import losskit as lk
from conftest import get_backend, tolerance

sys.path.insert(0, str(Path(__file__).parent / "contract"))
from reference_llm_policy import grpo_reference

VARIANTS = ["grpo", "bnpo", "dr_grpo", "dapo"]
LEVELS = ["token", "sequence"]
BACKENDS = ["numpy", "array_api_strict", "torch", "jax", "tensorflow"]


def sample(batch: int = 5, tokens: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    """Log-probabilities with ratios on both sides of the clip range, a KL reference, signed
    advantages, and a completion mask with a padded sequence, an all-masked one (row 2) and a
    one-token completion (row 3)."""
    r = np.random.default_rng(seed)
    logps = np.log(r.random((batch, tokens)) * 0.9 + 0.05)
    mask = np.ones((batch, tokens), dtype=bool)
    mask[1, 3:] = False
    mask[2] = False
    mask[3, 1:] = False
    return {
        "logps": logps,
        "old": logps + 0.4 * r.normal(size=(batch, tokens)),
        "ref": logps + 0.3 * r.normal(size=(batch, tokens)),
        "adv": r.normal(size=batch),
        "mask": mask,
    }


def options(variant: str, level: str, beta: float, s: dict[str, np.ndarray]) -> dict:
    o = {"variant": variant, "importance_sampling": level, "beta": beta, "epsilon_high": 0.28}
    if beta:
        o["ref_logps"] = s["ref"]
    if variant == "dr_grpo":
        o["max_completion_length"] = 8
    return o


def expected_mean(s, o, mask=None, normalizer=None):
    """The documented reduction of the reference's unreduced loss."""
    mask = s["mask"] if mask is None else mask
    none = grpo_reference([s["logps"], s["old"], s["adv"]], o, mask=mask)
    if o["variant"] in ("grpo", "dr_grpo"):
        return none.sum() / (normalizer or none.shape[0])
    return none.sum() / (normalizer or mask.sum())


# ---------------------------------------------------------------------- TRL
def trl_grpo(s, *, variant, level, beta, max_completion_length=None, num_items=None):
    """TRL's ``GRPOTrainer._compute_loss`` on a bare trainer (``object.__new__``) holding the
    attributes the method reads, with the policy's log-probabilities injected: its loss and the
    gradient with respect to ``logps`` (float64, one process, no accumulation)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import GRPOTrainer

    logps = torch.tensor(s["logps"], requires_grad=True)
    batch, tokens = logps.shape
    trainer = object.__new__(GRPOTrainer)
    trainer.__dict__.update(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, torch.zeros_like(logps), None),
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level=level,
        beta=beta,
        loss_type=variant,
        epsilon_low=0.2,
        epsilon_high=0.28,
        use_vllm=False,
        vllm_importance_sampling_correction=False,
        aux_loss_enabled=False,
        _entropy_bonus_enabled=False,
        max_completion_length=max_completion_length,
        current_gradient_accumulation_steps=1,
        model=types.SimpleNamespace(training=True),
        args=types.SimpleNamespace(
            delta=None, use_bias_correction_kl=False, steps_per_generation=1
        ),
        accelerator=types.SimpleNamespace(
            num_processes=1,
            gather=lambda x: x,
            reduce=lambda x, reduction: x,
            gather_for_metrics=lambda x: x,
        ),
        _metrics={"train": collections.defaultdict(list), "eval": collections.defaultdict(list)},
    )
    inputs = {
        "prompt_ids": torch.zeros((batch, 0), dtype=torch.long),
        "prompt_mask": torch.zeros((batch, 0), dtype=torch.long),
        "completion_ids": torch.zeros((batch, tokens), dtype=torch.long),
        "completion_mask": torch.tensor(s["mask"], dtype=torch.long),
        "advantages": torch.tensor(s["adv"]),
        "old_per_token_logps": torch.tensor(s["old"]),
    }
    if beta:
        inputs["ref_per_token_logps"] = torch.tensor(s["ref"])
    if num_items is not None:
        inputs["num_items_in_batch"] = torch.tensor(float(num_items), dtype=torch.float64)
    loss = trainer._compute_loss(None, inputs)
    (grad,) = torch.autograd.grad(loss, logps)
    return loss.item(), grad.numpy()


@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_trl_grpo_trainer(variant, level, beta):
    torch = pytest.importorskip("torch")
    s = sample()
    o = options(variant, level, beta, s)
    num_items = 2 * int(s["mask"].sum()) if variant == "dapo" else None  # a "global" count
    want, want_grad = trl_grpo(
        s,
        variant=variant,
        level=level,
        beta=beta,
        max_completion_length=o.get("max_completion_length"),
        num_items=num_items,
    )
    x = torch.tensor(s["logps"], requires_grad=True)
    got = lk.grpo(x, s["old"], s["adv"], mask=s["mask"], normalizer=num_items, **o)
    (grad,) = torch.autograd.grad(got, x)
    np.testing.assert_allclose(got.item(), want, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(grad.numpy(), want_grad, rtol=1e-12, atol=1e-15)
    assert np.all(grad.numpy()[~s["mask"]] == 0.0)


def test_dapo_without_normalizer_is_bnpo_and_its_denominator_is_the_token_count():
    from losskit.distributed import mean_denominator

    s = sample()
    args = (s["logps"], s["old"], s["adv"])
    dapo = lk.grpo(*args, mask=s["mask"], variant="dapo")
    assert float(dapo) == float(lk.grpo(*args, mask=s["mask"], variant="bnpo"))
    count = mean_denominator(lk.grpo, *args, mask=s["mask"], variant="dapo")
    assert float(count) == s["mask"].sum()
    per_sequence = mean_denominator(lk.grpo, *args, mask=s["mask"], variant="grpo")
    assert float(per_sequence) == s["mask"].shape[0]  # all sequences, the all-masked one too


# ---------------------------------------------------------------------- reference, backends
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_every_variant_matches_the_reference(backend_name, dtype):
    b = get_backend(backend_name)
    s = sample()
    rounded = {
        k: v.astype(dtype).astype(np.float64) if v.dtype.kind == "f" else v for k, v in s.items()
    }
    for variant in VARIANTS:
        for level in LEVELS:
            for beta in (0.0, 0.04):
                o = options(variant, level, beta, s)
                native = {**o, "ref_logps": b.array(s["ref"], dtype)} if beta else o
                args = [b.array(s[k], dtype) for k in ("logps", "old", "adv")]
                mask = b.array(s["mask"])
                none = lk.grpo(*args, mask=mask, reduction="none", **native)
                mean = lk.grpo(*args, mask=mask, **native)
                ref_o = {**o, "ref_logps": rounded["ref"]} if beta else o
                want = grpo_reference(
                    [rounded["logps"], rounded["old"], rounded["adv"]], ref_o, mask=s["mask"]
                )
                what = f"{variant} {level} beta={beta}"
                got = np.asarray(b.to_numpy(none), dtype=np.float64)
                assert got.shape == want.shape, what
                np.testing.assert_allclose(got, want, **tolerance(dtype), err_msg=what)
                assert dtype in str(mean.dtype), what
                denominator = want.shape[0] if variant in ("grpo", "dr_grpo") else s["mask"].sum()
                np.testing.assert_allclose(
                    float(b.to_numpy(mean)),
                    want.sum() / denominator,
                    rtol=tolerance(dtype)["rtol"] * 10,
                    atol=tolerance(dtype)["atol"] * 10,
                    err_msg=what,
                )


def _central_difference(s, o, mask, h=1e-6):
    out = np.zeros_like(s["logps"])
    for index in np.ndindex(out.shape):
        plus, minus = s["logps"].copy(), s["logps"].copy()
        plus[index] += h
        minus[index] -= h
        up = expected_mean({**s, "logps": plus}, o, mask)
        down = expected_mean({**s, "logps": minus}, o, mask)
        out[index] = (up - down) / (2 * h)
    return out


@pytest.mark.parametrize("backend_name", ["torch", "jax", "tensorflow"])
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_float64_gradient_is_the_derivative_of_the_reference(backend_name, variant, level):
    b = get_backend(backend_name)
    s = sample()
    o = options(variant, level, 0.04, s)
    native = {**o, "ref_logps": b.array(s["ref"])}
    old, adv, mask = b.array(s["old"]), b.array(s["adv"]), b.array(s["mask"])
    grad = b.to_numpy(
        b.grad(lambda x: lk.grpo(x, old, adv, mask=mask, **native), b.array(s["logps"]))
    )
    # the reference with ref_logps depending on nothing: the k3 term's derivative in logps only
    np.testing.assert_allclose(grad, _central_difference(s, o, s["mask"]), rtol=1e-6, atol=1e-9)


def test_values_and_gradients_agree_across_backends():
    s = sample()
    results = {}
    for name in ["numpy", "torch", "jax", "tensorflow"]:
        b = get_backend(name)
        for variant in VARIANTS:
            for level in LEVELS:
                o = options(variant, level, 0.04, s)
                native = {**o, "ref_logps": b.array(s["ref"])}
                args = [b.array(s[k]) for k in ("logps", "old", "adv")]
                mask = b.array(s["mask"])
                value = float(b.to_numpy(lk.grpo(*args, mask=mask, **native)))
                grad = None
                if b.grad is not None:

                    def f(x, args=args, mask=mask, native=native):
                        return lk.grpo(x, *args[1:], mask=mask, **native)

                    grad = b.to_numpy(b.grad(f, args[0]))
                results.setdefault((variant, level), []).append((name, value, grad))
    for key, rows in results.items():
        _, value, _ = rows[0]
        grads = [g for _, _, g in rows if g is not None]
        for name, v, _ in rows[1:]:
            np.testing.assert_allclose(v, value, rtol=1e-13, err_msg=f"{key} {name}")
        for g in grads[1:]:
            np.testing.assert_allclose(g, grads[0], rtol=1e-12, atol=1e-16, err_msg=str(key))


# ---------------------------------------------------------------------- masks and shapes
def test_an_all_masked_sequence_contributes_0_and_counts_among_sequences():
    s = sample()
    args = (s["logps"], s["old"], s["adv"])
    none = lk.grpo(*args, mask=s["mask"], reduction="none")
    assert none.shape == (5,) and none[2] == 0.0
    assert float(lk.grpo(*args, mask=s["mask"])) == pytest.approx(none.sum() / 5, rel=1e-15)
    # a per-sequence mask (B,) removes the sequence from the batch altogether
    keep = s["mask"].any(axis=1)
    dropped = lk.grpo(*args, mask=s["mask"] & keep[:, None])
    by_sequence = lk.grpo(*args, mask=keep)
    assert float(by_sequence) == pytest.approx(float(lk.grpo(*(x[keep] for x in args))), rel=1e-14)
    assert float(dropped) == pytest.approx(none.sum() / 5, rel=1e-14)
    bnpo = lk.grpo(*args, mask=s["mask"], variant="bnpo", reduction="none")
    assert bnpo.shape == (5, 6) and np.all(bnpo[~s["mask"]] == 0.0)


def test_all_masked_and_empty_batches_are_zero_with_zero_gradients():
    torch = pytest.importorskip("torch")
    s = sample()
    for variant in VARIANTS:
        for level in LEVELS:
            o = options(variant, level, 0.04, s)
            x = torch.tensor(s["logps"], requires_grad=True)
            out = lk.grpo(x, s["old"], s["adv"], mask=np.zeros((5, 6), bool), **o)
            (g,) = torch.autograd.grad(out, x)
            assert out.item() == 0.0 and torch.all(g == 0.0), (variant, level)
            empty = torch.zeros((0, 6), dtype=torch.float64, requires_grad=True)
            o_empty = {**o, "ref_logps": np.zeros((0, 6))} if o["beta"] else o
            out = lk.grpo(empty, np.zeros((0, 6)), np.zeros(0), **o_empty)
            (g,) = torch.autograd.grad(out, empty)
            assert out.item() == 0.0 and g.shape == (0, 6), (variant, level)


def test_one_token_completions():
    r = np.random.default_rng(3)
    logps = np.log(r.random((4, 1)))
    old = logps + r.normal(size=(4, 1))
    adv = r.normal(size=4)
    ratio = np.exp(logps - old)[:, 0]
    clipped = np.clip(ratio, 0.8, 1.2)
    per = -np.minimum(ratio * adv, clipped * adv)
    for variant in VARIANTS:
        for level in LEVELS:  # one token: the sequence ratio is the token's ratio
            got = lk.grpo(logps, old, adv, variant=variant, importance_sampling=level)
            assert float(got) == pytest.approx(per.mean(), rel=1e-14), (variant, level)


def test_old_logps_is_a_constant():
    torch = pytest.importorskip("torch")
    s = sample()
    x = torch.tensor(s["logps"], requires_grad=True)
    lk.grpo(x, x, s["adv"], variant="bnpo").backward()
    # ratio 1 inside the clip range: d/dl (-A·ρ) = -A, averaged over the B·T tokens
    np.testing.assert_allclose(x.grad.numpy(), -np.repeat(s["adv"][:, None], 6, 1) / 30)
    y = torch.tensor(s["logps"], requires_grad=True)
    old = torch.tensor(s["old"], requires_grad=True)
    lk.grpo(y, old, s["adv"]).backward()
    assert old.grad is None


def test_extreme_ratios_give_finite_values_and_gradients():
    torch = pytest.importorskip("torch")
    log_ratio = torch.tensor([[1e4, -1e4, 100.0], [1e4, -1e4, 100.0], [-1e4, -100.0, -30.0]])
    adv = torch.tensor([1.0, 0.0, -2.0])  # A > 0, A = 0, and A < 0 with vanishing ratios
    x = (log_ratio - 1e4).requires_grad_(True)
    out = lk.grpo(x, torch.full_like(log_ratio, -1e4), adv, variant="bnpo", reduction="none")
    # A ≥ 0: the ratio is capped before exp (-A·1.2 where ρ > 1.2, never exp(1e4));
    # A = 0: exactly 0, even where ρ overflows; A < 0: -A·max(ρ, 0.8)
    np.testing.assert_allclose(out.detach()[0], [-1.2, 0.0, -1.2], rtol=1e-6)
    assert torch.all(out.detach()[1] == 0.0)
    np.testing.assert_allclose(out.detach()[2], [1.6, 1.6, 1.6], rtol=1e-6)
    out.sum().backward()
    assert torch.all(x.grad == 0.0)  # every token sits on a flat side of the clip
    # A < 0 and an overflowing ratio: the loss itself is infinite (as -A·ρ is)
    inf = lk.grpo(torch.tensor([[0.0]]), torch.tensor([[-1e4]]), torch.tensor([-1.0]))
    assert inf.item() == float("inf")


def test_small_kl_penalty_keeps_its_relative_accuracy():
    logps = np.full((1, 4), -2.0, dtype=np.float32)
    delta = np.array([[1e-4, -3e-3, 0.2, -0.7]], dtype=np.float32)
    ref = (logps + delta).astype(np.float32)
    zero = np.zeros(1, dtype=np.float32)
    got = lk.grpo(logps, logps, zero, ref_logps=ref, beta=1.0, variant="bnpo", reduction="none")
    u = ref.astype(np.float64) - logps.astype(np.float64)
    with mpmath.workdps(40):
        want = [float(mpmath.exp(mpmath.mpf(v)) - mpmath.mpf(v) - 1) for v in u[0]]
    np.testing.assert_allclose(got[0], want, rtol=1e-6)


def test_reduction_none_and_sample_weight():
    s = sample()
    args = (s["logps"], s["old"], s["adv"])
    w = np.array([1.0, 2.0, 0.5, 0.0, 3.0])
    for variant in VARIANTS:
        none = lk.grpo(*args, mask=s["mask"], variant=variant, reduction="none")
        weighted = lk.grpo(*args, mask=s["mask"], variant=variant, sample_weight=w)
        total = lk.grpo(*args, mask=s["mask"], variant=variant, sample_weight=w, reduction="sum")
        if variant in ("grpo", "dr_grpo"):
            assert none.shape == (5,)
            expected = (w * none).sum() / w.sum()
        else:
            assert none.shape == (5, 6)
            expected = (w[:, None] * none).sum() / (w[:, None] * s["mask"]).sum()
        assert float(weighted) == pytest.approx(expected, rel=1e-14), variant
        assert float(total) == pytest.approx(float(np.sum(w * none.T)), rel=1e-14), variant


def test_jit_and_tf_function_with_a_mask():
    jax = pytest.importorskip("jax")
    tf = pytest.importorskip("tensorflow")
    s = sample()
    for level in LEVELS:
        o = options("grpo", level, 0.04, s)
        eager = lk.grpo(s["logps"], s["old"], s["adv"], mask=s["mask"], **o)
        jitted = jax.jit(lambda a, b, c, m, o=o: lk.grpo(a, b, c, mask=m, **o))(
            *(jax.numpy.asarray(s[k]) for k in ("logps", "old", "adv", "mask"))
        )
        compiled = tf.function(lambda a, b, c, m, o=o: lk.grpo(a, b, c, mask=m, **o))(
            *(tf.constant(s[k]) for k in ("logps", "old", "adv", "mask"))
        )
        np.testing.assert_allclose(np.asarray(jitted), eager, rtol=1e-13)
        np.testing.assert_allclose(compiled.numpy(), eager, rtol=1e-13)


# ---------------------------------------------------------------------- errors
def _raises(match, **kwargs):
    s = sample()
    with pytest.raises((ValueError, TypeError), match=match):
        lk.grpo(s["logps"], s["old"], s["adv"], **kwargs)


def test_bad_options_raise_naming_the_argument():
    _raises("variant", variant="ppo")
    _raises("importance_sampling", importance_sampling="sentence")
    _raises("ref_logps", beta=0.04)
    _raises("epsilon_low", epsilon_low=1.5)
    _raises("epsilon_high", epsilon_high=-0.1)
    _raises("beta", beta=-1.0)
    _raises("max_completion_length", variant="dr_grpo", max_completion_length=0)
    _raises("max_completion_length", max_completion_length=2.5)
    _raises("mask", mask=np.ones((5, 7), bool))
    s = sample()
    with pytest.raises(ValueError, match="old_logps"):
        lk.grpo(s["logps"], s["old"][:, :3], s["adv"])
    with pytest.raises(ValueError, match="ref_logps"):
        lk.grpo(s["logps"], s["old"], s["adv"], beta=0.1, ref_logps=s["ref"][:3])
    with pytest.raises(ValueError, match="advantages"):
        lk.grpo(s["logps"], s["old"], s["adv"][:3])
    with pytest.raises(ValueError, match="logps"):
        lk.grpo(s["logps"][0], s["old"][0], s["adv"])
