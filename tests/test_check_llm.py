"""``lk.check`` on the language-model tasks: preference, policy and distillation losses.

Expected values are closed forms written here: DPO's margin curve ``softplus(-βδ)`` and its
Bradley-Terry minimiser ``logit(η)/β``, IPO's target margin ``1/(2β)`` and linear link
``(2η - 1)/(2β)``, the hinge's plateau from ``1/β``, KTO's ``1 - σ(βδ/2)``, SimPO's first-order
condition solved with SciPy, GRPO's clipped surrogate ``-min(ρA, clip(ρ)A)``, forward KL's
minimiser over random teachers (their mean) and reverse KL's (their normalised geometric mean).
Deliberately wrong losses (a flipped sign, an epsilon floor, a detached teacher that is not, a
clip without PPO's min, padding multiplied by 0) must be caught.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit as lk
from losskit._check import PROPERTIES, TASK_PROPERTIES
from losskit.cli import main


def _torch():
    return pytest.importorskip("torch")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


# ====================================================================== preference
def test_dpo_sigmoid_curve_minimum_and_bradley_terry_link():
    _torch()
    beta = 0.5
    report = lk.check(lk.Loss("dpo", beta=beta), task="preference", backend="torch")
    assert report.keys() == [*PROPERTIES, *TASK_PROPERTIES["preference"]]
    assert report.backend == "torch" and "reference model" in report.domain
    # the pair's loss against its margin: softplus(-βδ), slope -β·σ(-βδ)
    x = report.curves["x"]
    values, slopes = report.curves["curves"]["chosen preferred"]
    np.testing.assert_allclose(values, _softplus(-beta * x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(slopes, -beta * _sigmoid(-beta * x), rtol=1e-6, atol=1e-9)
    minimum = report["minimum_at_target"]
    assert minimum.verdict == "pass" and minimum.value == math.inf  # no target margin
    # η·softplus(-βδ) + (1-η)·softplus(βδ) is minimal at δ = logit(η)/β
    link = report["link"]
    np.testing.assert_allclose(link.data["x_star"], _logit(link.data["eta"]) / beta, atol=1e-6)
    assert link.value == "logit(η)/β (β = 0.5)"
    assert report["proper"].verdict == "yes" and report["calibrated"].verdict == "yes"
    assert report["direction"].verdict == "pass"
    assert report["scaling"].verdict == "yes" and report["scaling"].value == "margin only"
    # |(∂ℓ/∂c, ∂ℓ/∂r)| = √2·β·σ(-βδ) < √2·β; unbounded as softplus grows linearly
    assert report["lipschitz"].verdict == "yes"
    assert report["lipschitz"].value == pytest.approx(math.sqrt(2) * beta, rel=1e-9)
    assert report["bounded"].verdict == "no"
    assert report["symmetric"].verdict == "no"
    assert report["gradient"].verdict == "pass" and report["finite"].verdict == "pass"
    assert report["canonical_link"].verdict == "info" and report["elicits"].verdict == "info"


def test_ipo_has_a_finite_target_margin_and_a_linear_link():
    beta = 0.1
    report = lk.check(lk.Loss("dpo", variant="ipo", beta=beta), task="preference")
    target = 1 / (2 * beta)
    minimum = report["minimum_at_target"]
    assert minimum.verdict == "pass"
    assert minimum.value == pytest.approx(target, abs=1e-6)
    assert minimum.data["reward_margin"] == pytest.approx(0.5, abs=1e-7)  # β·δ*
    # η·(δ - τ)² + (1-η)·(δ + τ)² is minimal at δ = τ·(2η - 1)
    link = report["link"]
    np.testing.assert_allclose(link.data["x_star"], target * (2 * link.data["eta"] - 1), atol=1e-6)
    assert link.value == "(2η - 1)/(2β) (β = 0.1)"
    # beyond its target the loss pulls the margin back: ∂ℓ/∂chosen = 2(δ - τ) > 0
    direction = report["direction"]
    assert direction.verdict == "fail"
    witness = direction.witness
    assert witness["margin"] >= target
    assert witness["∂ℓ/∂chosen"] == pytest.approx(2 * (witness["margin"] - target), rel=1e-6)
    assert "target margin" in direction.meaning
    assert report["lipschitz"].verdict == "no" and report["convex"].verdict == "yes"


def test_hinge_is_minimal_from_its_margin_on():
    beta = 0.1
    report = lk.check(lk.Loss("dpo", variant="hinge", beta=beta), task="preference")
    minimum = report["minimum_at_target"]
    assert minimum.data["plateau"] is True
    assert minimum.value == pytest.approx(1 / beta, abs=1e-6)  # [1 - βδ]+ = 0 from δ = 1/β
    assert minimum.data["minimum"] == 0.0
    assert report["link"].value == "step (not invertible)"  # the minimiser is ±1/β
    assert report["proper"].verdict == "no" and report["calibrated"].verdict == "yes"
    assert report["direction"].verdict == "pass"  # a zero gradient beyond the margin


def test_conservative_dpo_has_a_finite_target_margin():
    beta, epsilon = 0.1, 0.1
    report = lk.check(lk.Loss("dpo", beta=beta, label_smoothing=epsilon), task="preference")
    # (1-ε)·softplus(-βδ) + ε·softplus(βδ) is minimal where σ(βδ) = 1 - ε
    assert report["minimum_at_target"].value == pytest.approx(_logit(1 - epsilon) / beta, abs=1e-6)
    assert report["direction"].verdict == "fail"  # beyond it, the margin is pulled back


def test_kto_is_symmetric_bounded_and_reads_each_log_ratio():
    report = lk.check("kto", task="preference")  # kl=0, β = 0.1, both weights 1
    # a pair at margin δ holds log-ratios ±δ/2: the mean of 1 - σ(βδ/2) and 1 - σ(βδ/2)
    x = report.curves["x"]
    values, _ = report.curves["curves"]["chosen preferred"]
    np.testing.assert_allclose(values, 1 - _sigmoid(0.05 * x), rtol=1e-12)
    assert report["symmetric"].verdict == "yes"  # (1 - σ(h)) + (1 - σ(-h)) = 1
    assert report["symmetric"].value < 1e-12
    assert report["bounded"].verdict == "yes"
    assert report["bounded"].value == pytest.approx(1.0, abs=1e-12)
    assert report["link"].value == "step to ±∞ (not invertible)"
    assert report["proper"].verdict == "no" and report["calibrated"].verdict == "yes"
    assert report["scaling"].value == "log-ratios only" and report["scaling"].verdict == "yes"
    assert report["direction"].verdict == "pass"


def test_simpo_bradley_terry_minimiser_solves_its_first_order_condition():
    brentq = pytest.importorskip("scipy.optimize").brentq
    beta, gamma = 2.0, 1.0  # gamma_beta_ratio 0.5
    report = lk.check("simpo", task="preference", backend="numpy")
    assert "no reference model" in report.domain
    link = report["link"]
    eta = link.data["eta"]
    for i in (5, 20, 35, 48):

        def derivative(d, e=eta[i]):
            # d/dδ [η·softplus(γ - βδ) + (1-η)·softplus(γ + βδ)]
            return -e * beta * _sigmoid(gamma - beta * d) + (1 - e) * beta * _sigmoid(
                gamma + beta * d
            )

        assert link.data["x_star"][i] == pytest.approx(brentq(derivative, -50, 50), abs=1e-6)
    assert report["proper"].verdict == "yes"
    assert report["scaling"].value == "margin only" and report["scaling"].verdict == "info"
    assert report["convex"].verdict == "yes"


def test_cpo_and_orpo():
    cpo = lk.check("cpo", task="preference")
    np.testing.assert_allclose(
        cpo["link"].data["x_star"], _logit(cpo["link"].data["eta"]) / 0.1, atol=1e-6
    )
    orpo = lk.check("orpo", task="preference")
    # exact log(1 - e^x) near 0: finite at log-probabilities of -1e-9 and 0
    assert orpo["finite"].verdict == "pass"
    assert orpo["direction"].verdict == "pass"
    assert orpo["scaling"].value == "log-probabilities"  # the odds read each log-probability
    # d/dr β·softplus(lo(r) - lo(c)) ≈ β/|r| as r → 0: no Lipschitz bound
    assert orpo["lipschitz"].verdict == "no"


def test_a_preference_loss_with_the_sign_flipped_is_caught():
    def flipped(chosen, rejected, ref_chosen, ref_rejected):
        h = 0.1 * ((chosen - ref_chosen) - (rejected - ref_rejected))
        return float(np.mean(np.logaddexp(0.0, h)))  # softplus(+h): prefers the rejected

    report = lk.check(flipped, task="preference", backend="numpy")
    assert report["direction"].verdict == "fail"
    assert report["direction"].witness["∂ℓ/∂chosen"] > 0
    assert report["minimum_at_target"].verdict == "fail"
    assert report["minimum_at_target"].value == -math.inf
    assert report["calibrated"].verdict == "no"


def test_an_epsilon_floor_in_a_preference_loss_is_caught():
    torch = _torch()

    def floored(chosen, rejected, ref_chosen, ref_rejected):
        h = 0.1 * ((chosen - ref_chosen) - (rejected - ref_rejected))
        return -torch.log(torch.sigmoid(h) + 1e-7).mean()

    report = lk.check(floored, task="preference")
    finite = report["finite"]
    assert finite.verdict == "fail"
    witness = finite.witness
    assert "epsilon floor" in witness["problem"]
    h = 0.1 * witness["margin"]
    assert witness["loss"] == pytest.approx(-math.log(_sigmoid(h) + 1e-7), rel=1e-9)
    # losskit's DPO passes the same check
    assert lk.check("dpo", task="preference")["finite"].verdict == "pass"


def test_a_naive_log_odds_is_caught_at_log_probability_zero():
    torch = _torch()

    def naive_orpo(chosen, rejected):
        def log_odds(x):
            return x - torch.log(1 - torch.exp(x))

        return -0.1 * torch.nn.functional.logsigmoid(log_odds(chosen) - log_odds(rejected)).mean()

    finite = lk.check(naive_orpo, task="preference")["finite"]
    assert finite.verdict == "fail"
    assert "log-probability 0" in finite.witness["point"]


# ====================================================================== policy
def test_grpo_gradient_clipping_and_masking():
    report = lk.check("grpo", task="policy")
    assert report.keys() == [*PROPERTIES, *TASK_PROPERTIES["policy"]]
    # every token at ratio ρ: -min(ρA, clip(ρ, 0.8, 1.2)A)
    rho = report.curves["x"]
    up, up_slope = report.curves["curves"]["advantage +1"]
    down, down_slope = report.curves["curves"]["advantage -1"]
    np.testing.assert_allclose(up, -np.minimum(rho, 1.2), rtol=1e-12)
    np.testing.assert_allclose(down, np.maximum(rho, 0.8), rtol=1e-12)
    smooth = (np.abs(rho - 0.8) > 1e-9) & (np.abs(rho - 1.2) > 1e-9)  # not at the kinks
    np.testing.assert_allclose(up_slope[smooth], np.where(rho < 1.2, -1.0, 0.0)[smooth], atol=1e-9)
    np.testing.assert_allclose(down_slope[smooth], np.where(rho > 0.8, 1.0, 0.0)[smooth], atol=1e-9)
    clipping = report["clipping"]
    assert clipping.verdict == "pass" and clipping.value == "[0.8, 1.2]"
    assert clipping.data["epsilon_high"] == pytest.approx(0.2, abs=1e-6)
    assert clipping.data["epsilon_low"] == pytest.approx(0.2, abs=1e-6)
    assert report["policy_gradient"].value == "grpo"  # -A/(B·|o_b|) per valid token
    assert report["advantage_sign"].verdict == "pass"
    masking = report["masking"]
    assert masking.verdict == "pass" and "counts among the sequences" in masking.meaning
    assert report["scaling"].verdict == "yes" and report["decomposable"].verdict == "yes"
    assert report["finite"].verdict == "pass"
    assert report["minimum_at_target"].verdict == "info"
    assert report["nonnegative"].value < 0


@pytest.mark.parametrize(
    "variant, normalisation, decomposable",
    [("bnpo", "bnpo", "no"), ("dr_grpo", "dr_grpo", "yes")],
)
def test_grpo_variants_are_named_by_their_normalisation(variant, normalisation, decomposable):
    report = lk.check(lk.Loss("grpo", variant=variant), task="policy")
    assert report["policy_gradient"].value == normalisation
    # BNPO's token mean over the batch weights a sequence by its length
    assert report["decomposable"].verdict == decomposable


def test_clip_higher_is_found():
    report = lk.check(lk.Loss("grpo", epsilon_high=0.28, epsilon_low=0.1), task="policy")
    assert report["clipping"].data["epsilon_high"] == pytest.approx(0.28, abs=1e-6)
    assert report["clipping"].data["epsilon_low"] == pytest.approx(0.1, abs=1e-6)


def _token_mean(per_token, mask):
    return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()


def test_a_clip_without_the_pessimistic_min_is_caught():
    torch = _torch()

    def clip_only(logps, old_logps, advantages, mask):
        ratio = torch.exp(logps - old_logps)
        return _token_mean(-torch.clamp(ratio, 0.8, 1.2) * advantages[:, None], mask)

    clipping = lk.check(clip_only, task="policy")["clipping"]
    assert clipping.verdict == "fail" and clipping.value == "both sides"
    assert clipping.witness["ratio"] < 1  # A > 0 loses its gradient below the trust region


def test_padding_multiplied_by_zero_is_caught():
    torch = _torch()

    def naive(logps, old_logps, advantages, mask):
        ratio = torch.exp(logps - old_logps)
        a = advantages[:, None]
        return _token_mean(-torch.minimum(ratio * a, torch.clamp(ratio, 0.8, 1.2) * a), mask)

    report = lk.check(naive, task="policy")
    assert report["clipping"].value == "[0.8, 1.2]"
    finite = report["finite"]
    assert finite.verdict == "fail"
    assert finite.witness["problem"] == "the loss is NaN"  # 0·inf: a zero advantage or padding


def test_a_policy_loss_that_ignores_its_mask_or_the_advantage_sign_is_caught():
    torch = _torch()

    def unmasked(logps, old_logps, advantages, mask):
        return (-torch.exp(logps - old_logps) * advantages[:, None]).mean()

    assert lk.check(unmasked, task="policy")["masking"].verdict == "fail"

    def flipped(logps, old_logps, advantages, mask):
        return _token_mean(torch.exp(logps - old_logps) * advantages[:, None], mask)

    report = lk.check(flipped, task="policy")
    assert report["policy_gradient"].verdict == "fail"
    assert report["advantage_sign"].verdict == "fail"


# ====================================================================== distillation
def test_forward_kl_is_proper_and_canonical():
    report = lk.check("distillation_kl", task="distillation", backend="numpy")
    assert report.keys() == [*PROPERTIES, *TASK_PROPERTIES["distillation"]]
    proper = report["proper"]
    assert proper.verdict == "yes"
    # Σ w·KL(p_i ‖ q) is minimal at the mean teacher Σ w·p_i
    mean = proper.data["weights"] @ proper.data["teachers"]
    np.testing.assert_allclose(proper.data["q_star"], mean, atol=1e-6)
    assert report["elicits"].value == "mean"
    assert report["canonical_link"].verdict == "yes"  # softmax(z_s) - p_t
    assert report["minimum_at_target"].verdict == "pass"
    assert report["minimum_at_target"].value == 0.0
    assert report["teacher_gradient"].verdict == "info"  # no autodiff on NumPy
    assert report["scaling"].verdict == "yes" and report["finite"].verdict == "pass"
    assert report["symmetric"].verdict == "no" and report["bounded"].verdict == "no"
    assert report["convex"].verdict == "yes"  # logsumexp minus a linear term
    # the curve against the student's probability of class 0, teacher (0.7, 0.1, 0.1, 0.1)
    q0 = report.curves["x"]
    values, _ = report.curves["curves"]["teacher p₀ = 0.7"]
    p = np.array([0.7, 0.1, 0.1, 0.1])
    q = np.column_stack([q0] + [(1 - q0) / 3] * 3)
    np.testing.assert_allclose(values, np.sum(p * np.log(p / q), axis=1), rtol=1e-9, atol=1e-15)


def test_reverse_kl_elicits_the_geometric_mean():
    reverse = lk.Loss("distillation_kl", direction="reverse")
    report = lk.check(reverse, task="distillation", backend="numpy")
    data = report["elicits"].data
    assert report["elicits"].value == "geometric mean"
    log_mean = data["weights"] @ np.log(data["teachers"])
    geometric = np.exp(log_mean) / np.exp(log_mean).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(data["q_star"], geometric, atol=1e-6)
    assert report["proper"].verdict == "no"


def test_the_canonical_gradient_is_forward_kl_s():
    # GKD at β = 0 is forward KL: d/dz_s = softmax(z_s) - softmax(z_t); at β = 1 reverse KL
    forward = lk.Loss("generalized_jsd", beta=0.0)
    assert lk.check(forward, task="distillation", backend="numpy")["canonical_link"].holds
    reverse = lk.Loss("generalized_jsd", beta=1.0)
    report = lk.check(reverse, task="distillation", backend="numpy")
    assert report["canonical_link"].verdict == "no"
    witness = report["canonical_link"].witness
    # reverse KL's gradient is q·(log(q/p) - KL(q ‖ p)), computed here from the witness
    log_q = witness["student logits"] - np.logaddexp.reduce(witness["student logits"])
    log_p = witness["teacher logits"] - np.logaddexp.reduce(witness["teacher logits"])
    q = np.exp(log_q)
    expected = q * ((log_q - log_p) - np.sum(q * (log_q - log_p)))
    np.testing.assert_allclose(witness["gradient"], expected, atol=1e-8)


@pytest.mark.parametrize(
    "loss, backend", [("generalized_jsd", "numpy"), ("linear_distillation", "torch")]
)
def test_jsd_is_symmetric_and_bounded(loss, backend):
    if backend == "torch":
        _torch()
    report = lk.check(loss, task="distillation", backend=backend)
    assert report["symmetric"].verdict == "yes"  # β = 1/2
    assert report["bounded"].verdict == "yes"
    assert 0 < report["bounded"].value <= math.log(2)  # JSD ≤ ln 2
    assert report["minimum_at_target"].verdict == "pass"
    assert report["teacher_gradient"].verdict == ("pass" if backend == "torch" else "info")
    assert report["proper"].verdict == "no" and report["elicits"].value == "none"
    assert report["finite"].verdict == "pass"
    if loss == "linear_distillation":
        assert "linear heads" in report.domain


def test_a_teacher_that_receives_a_gradient_is_caught():
    torch = _torch()

    def kl(teacher, student):  # the teacher is not detached
        log_p = torch.log_softmax(teacher, -1)
        return (log_p.exp() * (log_p - torch.log_softmax(student, -1))).sum(-1).mean()

    report = lk.check(kl, task="distillation")
    assert report["teacher_gradient"].verdict == "fail"
    assert report["teacher_gradient"].value > 0
    # and a masked entry (-inf in both) gives 0·(-inf - -inf) = NaN
    assert report["finite"].verdict == "fail"
    assert "masked" in report["finite"].witness["point"]


def test_an_epsilon_in_the_log_of_a_kl_is_caught():
    eps = 1e-7

    def softmax(z):
        e = np.exp(z - np.max(z, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1, keepdims=True)

    def kl(teacher, student):
        p, q = softmax(teacher), softmax(student)
        return np.mean(np.sum(p * (np.log(p + eps) - np.log(q + eps)), axis=-1))

    report = lk.check(kl, task="distillation", backend="numpy")
    finite = report["finite"]
    assert finite.verdict == "fail" and "epsilon floor" in finite.witness["problem"]
    p = np.exp(finite.witness["teacher logits"])
    p /= p.sum()
    q = np.exp(finite.witness["student logits"])
    q /= q.sum()
    expected = np.sum(p * (np.log(p + eps) - np.log(q + eps)))
    assert finite.witness["loss"] == pytest.approx(expected, rel=1e-9)


def test_a_user_loss_of_the_same_signature():
    @lk.loss(name="check_llm_simple_preference", replace=True)
    def simple(chosen, rejected, *, xp, beta=2.0):
        return lk.ops.softplus(-beta * (chosen - rejected))

    report = lk.check(simple, task="preference", backend="numpy")
    np.testing.assert_allclose(
        report["link"].data["x_star"], _logit(report["link"].data["eta"]) / 2.0, atol=1e-6
    )

    @lk.loss(name="check_llm_forward_kl", kind="axis", replace=True)
    def forward_kl(teacher, student, *, xp):
        log_p = lk.ops.log_softmax(teacher, axis=-1)
        return xp.sum(xp.exp(log_p) * (log_p - lk.ops.log_softmax(student, axis=-1)), axis=-1)

    report = lk.check(forward_kl, task="distillation", backend="numpy")
    assert report["proper"].verdict == "yes"
    assert report["teacher_gradient"].verdict == "info"  # no autodiff on NumPy


# ====================================================================== errors and the CLI
def test_errors():
    with pytest.raises(ValueError, match="from_logits does not apply"):
        lk.check("dpo", task="preference", from_logits=True)

    def three(a, b, c):
        return a.mean()

    with pytest.raises(TypeError, match=r"f\(chosen_logps, rejected_logps"):
        lk.check(three, task="preference", backend="numpy")


def test_cli_checks_language_model_losses(capsys, tmp_path):
    markdown = str(tmp_path / "r.md")
    code = main(
        ["check", "dpo", "--task", "preference", "--backend", "numpy", "--markdown", markdown]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "task=preference" in out and "direction" in out
    assert "| `direction` | pass |" in (tmp_path / "r.md").read_text()
    code = main(["check", "grpo", "--report", str(tmp_path / "grpo")])  # the registry's task
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "task=policy" in out and "clipping" in out
    assert (tmp_path / "grpo" / "loss.png").exists()
    code = main(["check", "generalized_jsd", "--task", "distillation", "--backend", "numpy"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "teacher_gradient" in out


def test_preference_html_report_has_the_margin_plots(tmp_path):
    page = lk.check("dpo", task="preference").to_html(tmp_path)
    html = page.read_text(encoding="utf-8")
    for png in ("loss.png", "expected_loss.png", "link.png", "gradient_weight.png"):
        assert (tmp_path / png).stat().st_size > 5000
        assert f'src="{png}"' in html
