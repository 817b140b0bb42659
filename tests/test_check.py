"""The property checker ``lk.check``: the known verdicts, user functions on every framework,
the report's formats, and the errors.

Expected values are derived independently: minimisers from first-order conditions solved with
SciPy, elicited statistics from the reference samples with NumPy, entropies and bounds in
closed form.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import losskit as lk
from losskit._check import PROPERTIES, REQUIREMENTS
from losskit._check._adapt import library_of
from losskit._check._elicit import reference_distributions
from losskit._check._report import VERDICTS

scipy_optimize = pytest.importorskip("scipy.optimize")


def _eta_index(finding: lk._check.Finding, eta: float) -> int:
    etas = np.asarray(finding.data["eta"])
    index = int(np.argmin(np.abs(etas - eta)))
    assert etas[index] == pytest.approx(eta)
    return index


# ====================================================================== known verdicts
@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy_is_strictly_proper_and_calibrated(from_logits):
    report = lk.check("binary_crossentropy", task="binary", from_logits=from_logits)
    proper = report["proper"]
    assert proper.verdict == "yes"
    assert proper.value < 1e-6
    assert proper.data["strict"] is True
    assert report["calibrated"].verdict == "yes"
    # the recovered link is the identity on probabilities, σ⁻¹ on logits
    q = np.asarray(proper.data["q_star"])
    np.testing.assert_allclose(q, proper.data["eta"], atol=1e-6)
    assert report["link"].value == ("logit (σ⁻¹)" if from_logits else "identity")
    # the value at a soft target is the entropy H(0.3) (largest over the targets 0, 1, .3, .7)
    entropy = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    assert report["minimum_at_target"].verdict == "pass"
    assert report["minimum_at_target"].value == pytest.approx(entropy, rel=1e-9)


def test_binary_crossentropy_from_logits_is_the_canonical_logistic_loss():
    report = lk.check("bce", task="binary", from_logits=True)
    assert report["canonical_link"].verdict == "yes"
    assert report["lipschitz"].verdict == "yes"
    assert report["lipschitz"].value == pytest.approx(1.0, abs=1e-9)  # |σ(z) - y| ≤ 1
    assert report["convex"].verdict == "yes"
    assert report["bounded"].verdict == "no"  # softplus grows linearly


def test_categorical_crossentropy_is_proper_on_the_simplex():
    report = lk.check("categorical_crossentropy", task="multiclass")
    assert report["proper"].verdict == "yes"
    np.testing.assert_allclose(
        report["proper"].data["q_star"], report["proper"].data["eta"], atol=1e-5
    )
    assert report["calibrated"].verdict == "yes"
    assert report["canonical_link"].verdict == "yes"  # through the softmax


def test_sparse_categorical_crossentropy_from_logits_is_canonical_and_shift_invariant():
    report = lk.check("sparse_categorical_crossentropy", task="multiclass", from_logits=True)
    assert "class-index targets" in report.domain
    assert report["proper"].verdict == "yes"
    assert report["canonical_link"].verdict == "yes"
    assert "adding a constant to every logit" in report["canonical_link"].meaning


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_brier_is_strictly_proper(task):
    report = lk.check("brier", task=task)
    assert report["proper"].verdict == "yes"
    assert report["proper"].value < 1e-5
    assert report["bounded"].verdict == "yes"
    # Brier through the sigmoid is not the canonical logistic loss: 2p(1-p)(p - y)
    assert report["canonical_link"].verdict == "no"
    if task == "binary":
        assert report["proper"].data["strict"] is True
        assert report["bounded"].value == pytest.approx(1.0)  # (1 - 0)^2


def spherical_numpy(y_true, y_pred):
    """The spherical score, binary: -p_y / ||(1 - p, p)||."""
    p = np.stack([1.0 - y_pred, y_pred], axis=-1)
    y = np.stack([1.0 - y_true, y_true], axis=-1)
    return -np.mean(np.sum(y * p, axis=-1) / np.linalg.norm(p, axis=-1))


def test_spherical_score_as_a_plain_numpy_function_is_strictly_proper():
    report = lk.check(spherical_numpy, task="binary")
    assert report.backend == "numpy"
    assert report["proper"].verdict == "yes"
    assert report["proper"].data["strict"] is True
    assert report["calibrated"].verdict == "yes"
    assert report["gradient"].verdict == "info"  # no autodiff to compare on NumPy
    # -1 at a confident correct prediction: negative values, reported with the regret form
    assert report["nonnegative"].verdict == "no"
    assert report["nonnegative"].value == pytest.approx(-1.0, abs=1e-12)
    assert "regret" in report["nonnegative"].meaning


def test_spherical_score_in_torch_is_strictly_proper_over_three_classes():
    torch = pytest.importorskip("torch")

    def spherical(y_true, y_pred):
        return -(torch.sum(y_true * y_pred, -1) / torch.linalg.norm(y_pred, dim=-1)).mean()

    report = lk.check(spherical, task="multiclass")
    assert report.backend == "torch"
    assert report["proper"].verdict == "yes"
    np.testing.assert_allclose(
        report["proper"].data["q_star"], report["proper"].data["eta"], atol=1e-5
    )
    assert report["gradient"].verdict == "pass"


def _focal_minimiser(eta: float, gamma: float = 2.0) -> float:
    """Root of d/dq [η·FL(1, q) + (1-η)·FL(0, q)], FL(1, q) = -(1-q)^γ log q."""

    def derivative(q: float) -> float:
        d1 = gamma * (1 - q) ** (gamma - 1) * math.log(q) - (1 - q) ** gamma / q
        d0 = -gamma * q ** (gamma - 1) * math.log1p(-q) + q**gamma / (1 - q)
        return eta * d1 + (1 - eta) * d0

    return scipy_optimize.brentq(derivative, 0.5, eta, xtol=1e-15)


def test_focal_loss_is_not_proper_but_is_calibrated():
    report = lk.check("binary_focal_crossentropy", task="binary")  # gamma=2
    assert report["proper"].verdict == "no"
    assert report["calibrated"].verdict == "yes"
    link = report["link"]
    i = _eta_index(link, 0.7)
    expected = _focal_minimiser(0.7)
    assert expected == pytest.approx(0.578, abs=5e-4)
    assert link.data["q_star"][i] == pytest.approx(expected, abs=1e-7)
    # the witness is the η where the minimiser is furthest from η, on the same link
    witness = report["proper"].witness
    assert witness is not None
    assert witness["minimiser"] == pytest.approx(_focal_minimiser(witness["eta"]), abs=1e-7)
    # soft targets: the focal loss with y = 0.3 is not minimised at 0.3
    assert report["minimum_at_target"].verdict == "fail"


def test_hinge_is_calibrated_but_not_proper():
    report = lk.check("hinge", task="binary")
    assert "scores" in report.domain
    assert report["calibrated"].verdict == "yes"
    assert report["proper"].verdict == "no"
    assert report["link"].value == "step (not invertible)"
    x = np.asarray(report["link"].data["x_star"])
    eta = np.asarray(report["link"].data["eta"])
    # the minimiser of η·max(0, 1-z) + (1-η)·max(0, 1+z) is sign(2η - 1)
    np.testing.assert_allclose(x[eta < 0.5], -1.0, atol=1e-6)
    np.testing.assert_allclose(x[eta > 0.5], 1.0, atol=1e-6)


def test_squared_hinge_is_proper_composite_with_a_linear_link():
    report = lk.check("squared_hinge", task="binary")
    assert report["proper"].verdict == "yes"
    x = np.asarray(report["link"].data["x_star"])
    eta = np.asarray(report["link"].data["eta"])
    np.testing.assert_allclose(x, 2 * eta - 1, atol=1e-6)  # z* = 2η - 1


def test_crammer_singer_multiclass_hinge_is_not_calibrated():
    report = lk.check("multiclass_hinge", task="multiclass")
    assert report["calibrated"].verdict == "no"
    eta = np.asarray(report["calibrated"].witness["eta"])
    assert eta.max() < 0.5  # fails only without a majority class (Tewari & Bartlett, 2007)


def test_mean_absolute_error_on_probabilities_is_symmetric_and_bounded():
    report = lk.check("mae", task="binary")
    assert report["symmetric"].verdict == "yes"
    assert report["symmetric"].value < 1e-12  # |0 - p| + |1 - p| = 1
    assert report["bounded"].verdict == "yes"
    assert report["bounded"].value == pytest.approx(1.0)
    assert report["proper"].verdict == "no"
    assert report["calibrated"].verdict == "yes"


def test_normalized_crossentropy_is_symmetric():
    report = lk.check("normalized_crossentropy", task="multiclass")
    assert report["symmetric"].verdict == "yes"  # Σ_k log p_k / Σ_j log p_j = 1


@pytest.mark.parametrize(
    "loss, statistic",
    [
        ("mse", "mean"),
        ("mae", "median"),
        (lk.Loss("quantile", quantiles=0.9), "quantile(0.9)"),
        (lk.Loss("expectile", tau=0.9), "expectile(0.9)"),
    ],
)
def test_elicited_statistics(loss, statistic):
    report = lk.check(loss, task="regression")
    assert report["elicits"].value == statistic
    assert report["scaling"].verdict == "yes"
    rows = report["elicits"].data["distributions"]
    for name, y in reference_distributions().items():
        c = rows[name]["minimiser"]
        if statistic == "mean":
            assert c == pytest.approx(np.mean(y), rel=1e-6)
        elif statistic == "median":
            assert c == pytest.approx(np.median(y), rel=1e-6)


def test_huber_elicits_neither_mean_nor_median():
    report = lk.check("huber", task="regression")
    assert report["elicits"].value == "none"
    for name, y in reference_distributions().items():
        c = report["elicits"].data["distributions"][name]["minimiser"]
        # on right-skewed data Huber's M-estimate lies strictly between median and mean
        assert np.median(y) + 1e-3 < c < np.mean(y) - 1e-3, name
        # and solves its estimating equation Σ clip(y - c, -δ, δ) = 0 (δ = 1)
        assert abs(np.mean(np.clip(y - c, -1.0, 1.0))) < 1e-7
    assert report["scaling"].value == "translation equivariant only"
    assert report["scaling"].verdict == "no"


def test_mape_under_forecasts():
    report = lk.check("mape", task="regression")
    assert report["elicits"].value == "1/y-weighted median"
    assert "under-forecasts" in report["elicits"].meaning
    for name, y in reference_distributions().items():
        c = report["elicits"].data["distributions"][name]["minimiser"]
        assert c < np.median(y)
        # the minimiser of Σ |y - c| / y is the median weighted by 1/y
        ys = np.sort(y)
        weights = np.cumsum(1 / ys) / np.sum(1 / ys)
        assert c == pytest.approx(ys[np.searchsorted(weights, 0.5)], rel=1e-6)


def test_losskit_dice_is_minimised_at_a_soft_target():
    report = lk.check("dice", task="segmentation")
    assert report["minimum_at_target"].verdict == "pass"
    assert report["decomposable"].verdict == "no"  # batch statistics by default
    assert report["scaling"].verdict == "yes"  # independent of the resolution
    per_image = lk.check(lk.Loss("dice", per_image=True), task="segmentation")
    assert per_image["decomposable"].verdict == "yes"


def test_soft_dice_with_a_half_target_is_minimised_at_one():
    jnp = pytest.importorskip("jax.numpy")

    def soft_dice(y_true, y_pred):
        intersection = jnp.sum(y_true * y_pred)
        return 1 - 2 * intersection / (jnp.sum(y_true) + jnp.sum(y_pred))

    report = lk.check(soft_dice, task="segmentation")
    assert report.backend == "jax"
    finding = report["minimum_at_target"]
    assert finding.verdict == "fail"
    assert finding.witness["target"] == "0.5 everywhere"
    # uniform prediction c against target 1/2: 1 - c / (c + 1/2), decreasing in c
    assert finding.witness["minimiser"] == pytest.approx(1.0, abs=1e-6)
    assert finding.witness["minimum"] == pytest.approx(1 - 1 / 1.5, abs=1e-9)
    assert finding.witness["loss at target"] == pytest.approx(0.5, abs=1e-9)
    # 0/0 on an empty mask with an empty prediction
    assert report["finite"].verdict == "fail"
    assert "NaN" in report["finite"].witness["problem"]


def test_the_articles_binary_crossentropy_fails_the_boundary_gradient_check():
    tf = pytest.importorskip("tensorflow")

    def binary_crossentropy(y_true, y_predict, epsilon=1e-7):  # the article, verbatim
        return -tf.reduce_sum(
            y_true * tf.math.log(y_predict + epsilon)
            + (1 - y_true) * tf.math.log(1 - y_predict + epsilon)
        )

    report = lk.check(binary_crossentropy, task="binary")
    assert report.backend == "tensorflow"
    assert report.seconds < 30
    finite = report["finite"]
    assert finite.verdict == "fail"
    witness = finite.witness
    assert "epsilon" in witness["problem"]
    p = 1 / (1 + math.exp(30.0))  # logit -30 for the label
    assert witness["loss"] == pytest.approx(-math.log(p + 1e-7), rel=1e-12)
    # d/dz of -log(σ(z) + ε) at z = -30: σ(z)(1 - σ(z)) / (σ(z) + ε)
    assert witness["|d loss/d logit|"] == pytest.approx(p * (1 - p) / (p + 1e-7), rel=1e-6)
    assert report["scalar"].value == "sum"  # reduce_sum
    assert report["bounded"].verdict == "yes"
    assert report["bounded"].value == pytest.approx(-math.log(1e-7), rel=1e-6)
    # losskit's own cross-entropy passes the same check
    assert lk.check("bce", task="binary")["finite"].verdict == "pass"


def test_a_per_sample_vector_fails_the_scalar_contract():
    def squared(y_true, y_pred):
        return (y_pred - y_true) ** 2  # no reduction

    report = lk.check(squared, task="regression", backend="numpy")
    assert report["scalar"].verdict == "fail"
    assert report["scalar"].value == "shape (6,)"
    assert any("shape (6,)" in note for note in report.notes)
    # the other properties still run, on the mean
    assert report["elicits"].value == "mean"


def test_a_batch_dependent_loss_fails_decomposability():
    def normalised(y_true, y_pred):
        d = (y_pred - y_true) ** 2
        return np.sum(d) / (1e-3 + np.max(d))

    report = lk.check(normalised, task="regression", backend="numpy")
    assert report["decomposable"].verdict == "no"


def test_a_wrong_custom_gradient_is_caught():
    torch = pytest.importorskip("torch")

    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, d):
            ctx.save_for_backward(d)
            return d * d

        @staticmethod
        def backward(ctx, grad):
            (d,) = ctx.saved_tensors
            return grad * d  # should be 2·d

    def half_wrong(y_true, y_pred):
        return Square.apply(y_pred - y_true).mean()

    report = lk.check(half_wrong, task="regression")
    assert report["gradient"].verdict == "fail"
    witness = report["gradient"].witness
    assert witness["autodiff"] == pytest.approx(0.5 * witness["finite difference"], rel=1e-6)


# ====================================================================== frameworks
def _squared_error(framework: str):
    if framework == "torch":
        torch = pytest.importorskip("torch")
        return lambda y, p: torch.mean((p - y) ** 2)
    if framework == "jax":
        jnp = pytest.importorskip("jax.numpy")
        return lambda y, p: jnp.mean((p - y) ** 2)
    if framework == "tensorflow":
        tf = pytest.importorskip("tensorflow")
        return lambda y, p: tf.reduce_mean(tf.square(p - y))
    return lambda y, p: float(np.mean((np.asarray(p) - np.asarray(y)) ** 2))


@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow", "numpy"])
def test_a_plain_function_in_each_framework(framework):
    report = lk.check(_squared_error(framework), task="regression", backend=framework)
    assert report.backend == framework
    assert report.dtype == "float64"
    assert report["scalar"].verdict == "pass"
    assert report["elicits"].value == "mean"
    assert report["convex"].verdict == "yes"
    assert report["lipschitz"].verdict == "no"
    assert report["canonical_link"].meaning.startswith("d loss/d y_pred = 2")
    expected = "info" if framework == "numpy" else "pass"
    assert report["gradient"].verdict == expected


def test_auto_tries_torch_first_and_falls_back_to_numpy():
    pytest.importorskip("torch")
    assert lk.check("mse", task="regression").backend == "torch"
    report = lk.check(_squared_error("numpy"), task="regression")
    assert report.backend == "numpy"


NUMPY_ONLY_CHECK = """
import sys, time, warnings
warnings.simplefilter("error")  # a framework tensor passing through NumPy would warn
import numpy as np
import losskit as lk


def mape(y_true, y_pred):
    return np.mean(np.abs((y_true - y_pred) / y_true))


start = time.perf_counter()
report = lk.check(mape, task="regression")
seconds = time.perf_counter() - start
print(report.backend, round(seconds, 3), *sorted(set(sys.modules) & {"torch", "jax", "tensorflow"}))
"""


def test_a_numpy_function_is_checked_on_numpy_only():
    """No framework is imported for a NumPy function, nor called with its tensors."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")  # TensorFlow would log if imported
    done = subprocess.run(
        [sys.executable, "-c", NUMPY_ONLY_CHECK], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    backend, seconds, *frameworks = done.stdout.split()
    assert backend == "numpy"
    assert frameworks == []
    assert float(seconds) < 10.0  # well under a second alone; the frameworks' imports took ~6 s


def _numpy_helper(y, p):
    return np.abs(p - y)


def test_the_library_of_a_plain_function():
    from functools import partial

    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    assert library_of(lambda y, p: np.mean((p - y) ** 2)) == "numpy"
    assert library_of(lambda y, p: _numpy_helper(y, p).mean()) == "numpy"  # through a helper
    assert library_of(partial(np.average, axis=0)) == "numpy"
    assert library_of(lambda y, p: ((p - y) ** 2).mean()) is None  # operators only
    assert library_of(lambda y, p: torch.mean((p - y) ** 2)) == "torch"
    module = torch.nn.MSELoss()
    assert library_of(lambda y, p: module(p, y)) == "torch"  # a module in a closure
    assert library_of(module) == "torch"
    assert library_of(lambda y, p: jnp.mean(np.float64(2.0) * (p - y) ** 2)) == "jax"
    assert library_of(lk.mean_squared_error) is None  # losskit runs on every library


def test_auto_runs_a_plain_function_on_its_own_framework():
    jnp = pytest.importorskip("jax.numpy")
    report = lk.check(lambda y, p: jnp.mean((p - y) ** 2), task="regression")
    assert report.backend == "jax"
    # a function of operators only tries NumPy first
    assert lk.check(lambda y, p: ((p - y) ** 2).mean(), task="regression").backend == "numpy"


def test_requirements_pass_or_fail_and_facts_are_yes_or_no(tmp_path):
    mse = lk.check("mean_squared_error", task="regression", backend="numpy")
    assert mse["bounded"].verdict == "no" and mse["bounded"].holds is False
    assert mse["bounded"].witness is not None  # the evidence is kept
    assert mse["nonnegative"].verdict == "yes" and mse["nonnegative"].value == 0
    assert mse.failed() == []
    bce = lk.check("binary_crossentropy", task="binary")
    for fact in ("lipschitz", "symmetric", "bounded"):
        assert bce[fact].verdict == "no", fact
    assert bce["proper"].verdict == "yes"
    assert bce["finite"].verdict == "pass" and bce.failed() == []
    rows = {line.split()[0]: line.split()[1] for line in str(bce).splitlines()[3:20] if line}
    assert rows["bounded"] == "no" and rows["finite"] == "pass"
    assert "yes or no" in str(bce)  # the legend
    html = bce.to_html(tmp_path).read_text(encoding="utf-8")
    assert '<tr class="no"><td><code>bounded</code>' in html
    assert 'class="fail"' not in html


def test_logit_functions_without_a_from_logits_parameter():
    torch = pytest.importorskip("torch")

    def logistic(y_true, y_pred):  # takes logits
        return torch.nn.functional.binary_cross_entropy_with_logits(y_pred, y_true)

    report = lk.check(logistic, task="binary", from_logits=True)
    assert report["proper"].verdict == "yes"
    assert report["canonical_link"].verdict == "yes"
    assert report["finite"].verdict == "pass"


def test_custom_losses_and_loss_objects():
    @lk.loss(name="check_test_pinball", replace=True)
    def pinball(y_true, y_pred, *, xp, tau=0.8):
        d = y_true - y_pred
        return xp.maximum(tau * d, (tau - 1) * d)

    assert lk.check(pinball, task="regression")["elicits"].value == "quantile(0.8)"
    assert lk.check("check_test_pinball", task="regression")["elicits"].value == "quantile(0.8)"
    combined = 0.5 * lk.Loss("mse") + 0.5 * lk.Loss("mae")
    report = lk.check(combined, task="regression")
    assert report["elicits"].value == "none"
    assert report.loss_name == repr(combined)


def test_multilabel_checks_each_label():
    report = lk.check("binary_crossentropy", task="multilabel")
    assert report["proper"].verdict == "yes"
    assert report["calibrated"].verdict == "yes"
    focal = lk.check("binary_focal_crossentropy", task="multilabel")
    i = _eta_index(focal["link"], 0.7)
    assert focal["link"].data["q_star"][i] == pytest.approx(_focal_minimiser(0.7), abs=1e-7)


# ====================================================================== the report
def test_report_has_every_property_in_order():
    report = lk.check("mse", task="regression")
    assert report.keys() == list(PROPERTIES)
    assert [f.name for f in report] == list(PROPERTIES)
    assert len(report) == len(PROPERTIES)
    for finding in report:
        assert finding.verdict in VERDICTS
        assert finding.meaning.endswith(".")
        if finding.verdict not in ("fail", "no"):
            assert finding.witness is None
        # requirements pass or fail; the other properties are facts, yes or no
        allowed = (
            ("pass", "fail", "info") if finding.name in REQUIREMENTS else ("yes", "no", "info")
        )
        assert finding.verdict in allowed
    not_applicable = {"proper", "link", "calibrated"}
    assert all(report[name].verdict == "info" for name in not_applicable)
    assert report.task == "regression"
    assert report.loss_name == "mean_squared_error"
    assert set(report.passed()) | set(report.failed()) <= set(PROPERTIES)
    with pytest.raises(KeyError, match="known: scalar"):
        report["unknown_property"]


def test_report_text_markdown_dict_and_html(tmp_path):
    report = lk.check("binary_focal_crossentropy", task="binary")
    text = str(report)
    assert text.splitlines()[0].startswith("losskit check of binary_focal_crossentropy")
    for name in PROPERTIES:
        assert name in text
    assert "evidence:" in text and "proper:" in text
    markdown = report.to_markdown()
    assert "| property | verdict | value | meaning |" in markdown
    assert "| `proper` | no |" in markdown
    data = json.loads(json.dumps(report.to_dict()))
    assert data["findings"]["calibrated"]["verdict"] == "yes"
    page = report.to_html(tmp_path / "report")
    assert page.name == "index.html"
    html = page.read_text(encoding="utf-8")
    for png in ("loss.png", "expected_loss.png", "link.png", "gradient_weight.png"):
        assert (tmp_path / "report" / png).stat().st_size > 5000
        assert f'src="{png}"' in html
    assert "binary_focal_crossentropy" in html


def test_regression_report_html_has_the_elicitation_plot(tmp_path):
    page = lk.check("huber", task="regression").to_html(tmp_path)
    assert (tmp_path / "elicited.png").stat().st_size > 5000
    assert "elicited.png" in page.read_text(encoding="utf-8")


def test_a_full_check_is_fast():
    report = lk.check("categorical_crossentropy", task="multiclass", from_logits=True)
    assert report.seconds < 30


# ====================================================================== errors
def test_unknown_task_names_the_argument():
    with pytest.raises(ValueError, match="task must be one of 'binary'"):
        lk.check("bce", task="classification")


def test_unknown_backend_names_the_argument():
    with pytest.raises(ValueError, match="backend must be one of"):
        lk.check("bce", task="binary", backend="mxnet")


def test_a_loss_that_is_not_callable():
    with pytest.raises(TypeError, match="loss must be a registered loss name"):
        lk.check(42, task="binary")


def test_an_unknown_loss_name_suggests_close_names():
    with pytest.raises(KeyError, match="did you mean 'binary_crossentropy'"):
        lk.check("binary_crosentropy", task="binary")


def test_a_function_that_fails_everywhere_summarises_each_backend():
    def broken(y_true, y_pred):
        raise RuntimeError("boom")

    with pytest.raises(TypeError) as error:
        lk.check(broken, task="binary")
    message = str(error.value)
    assert "could not be called" in message
    assert "numpy: RuntimeError: boom" in message
    for name in ("torch", "jax", "tensorflow"):
        if lk._check._adapt.installed(name):
            assert f"{name}: RuntimeError: boom" in message


def test_a_loss_needing_more_inputs_is_reported():
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'var'"):
        lk.check("gaussian_nll", task="regression", backend="numpy")
