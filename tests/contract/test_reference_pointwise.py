"""The pointwise references agree with losskit in float64 NumPy, on each loss's ordinary case and
on its options; the CTC anchor agrees with a sum over every frame-level path."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest

import losskit as lk
from cases import C, N, case
from reference_pointwise import REFERENCES, bisect, tempered_softmax

RTOL = 1e-10

COVERED = {
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "smooth_l1",
    "log_cosh",
    "quantile",
    "expectile",
    "poisson",
    "poisson_nll",
    "gaussian_nll",
    "laplace_nll",
    "tweedie",
    "cosine_similarity",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
    "sparse_categorical_focal_crossentropy",
    "hinge",
    "squared_hinge",
    "soft_margin",
    "categorical_hinge",
    "kl_divergence",
    "js_divergence",
    "poly_loss",
    "asymmetric_loss",
    "generalized_crossentropy",
    "symmetric_crossentropy",
    "normalized_crossentropy",
    "bi_tempered_logistic",
    "taylor_crossentropy",
    "multiclass_hinge",
    "sparsemax_loss",
    "ctc",
    "linear_cross_entropy",
    "brier",
    "crps_gaussian",
    "crps_ensemble",
    "beta_nll",
}


def losskit_none(name: str, inputs: list[np.ndarray], params: dict[str, Any]) -> np.ndarray:
    return np.asarray(lk.get(name)(*inputs, **params, reduction="none"), dtype=np.float64)


def assert_reference_matches(name: str, inputs: list[np.ndarray], params: dict[str, Any]) -> None:
    expected = REFERENCES[name](inputs, dict(params))
    got = losskit_none(name, inputs, params)
    assert expected.dtype == np.float64
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)


# ---------------------------------------------------------------------- inputs for the options
Inputs = list[np.ndarray]


def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


def zero_target(inputs: Inputs) -> Inputs:
    y = np.array(inputs[0], dtype=float)
    y[0, 0] = 0.0
    return [y, *inputs[1:]]


def three_levels(inputs: Inputs) -> Inputs:
    return [inputs[0][:, 0], inputs[1]]


def zero_one_labels(inputs: Inputs) -> Inputs:
    return [(inputs[0] > 0) * 1.0, inputs[1]]


def mixed_labels(inputs: Inputs) -> Inputs:
    y = np.array(inputs[0], dtype=float)
    y[:2] = 0.0
    return [y, inputs[1]]


def soft_targets(inputs: Inputs) -> Inputs:
    """One-hot rows mixed with a random distribution (still summing to 1)."""
    y = np.asarray(inputs[0], dtype=float)
    z = _rng().normal(size=y.shape)
    noise = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    return [0.7 * y + 0.3 * noise, *inputs[1:]]


def classes_first(inputs: Inputs) -> Inputs:
    return [np.moveaxis(np.asarray(x), -1, 0) for x in inputs]


def sparse_classes_first(inputs: Inputs) -> Inputs:
    return [inputs[0], np.moveaxis(inputs[1], -1, 0)]


def labels_with_class_axis(inputs: Inputs) -> Inputs:
    return [np.asarray(inputs[0])[:, None], inputs[1]]


def log_targets(inputs: Inputs) -> Inputs:
    return [np.log(inputs[0]), inputs[1]]


def ignored_label(inputs: Inputs) -> Inputs:
    labels = np.array(inputs[0])
    labels[1] = -1
    return [labels, inputs[1]]


def variance_per_sample(inputs: Inputs) -> Inputs:
    """Targets and means with a trailing axis of 3, one variance per sample."""
    r = _rng()
    y, mean = (np.asarray(x)[:, None] + r.normal(size=(N, 3)) for x in inputs[:2])
    return [y, mean, inputs[2]]


def ensemble_first(inputs: Inputs) -> Inputs:
    return [inputs[0], np.moveaxis(inputs[1], -1, 0)]


def observation_axis_kept(inputs: Inputs) -> Inputs:
    return [inputs[0][:, None], inputs[1]]


def sparse_probabilities(inputs: Inputs) -> Inputs:
    return case("sparse_categorical_crossentropy").inputs


def one_hot_probabilities(inputs: Inputs) -> Inputs:
    return case("categorical_crossentropy").inputs


def one_hot_logits(inputs: Inputs) -> Inputs:
    return case("categorical_hinge").inputs


def time_major(inputs: Inputs) -> Inputs:
    return [inputs[0], np.moveaxis(inputs[1], 0, 1)]


def short_labels(inputs: Inputs) -> Inputs:
    return [inputs[0], inputs[1], np.array([3, 2])]


def short_frames(inputs: Inputs) -> Inputs:
    return [inputs[0], inputs[1], np.array([3, 1]), np.array([7, 4])]


def impossible(inputs: Inputs) -> Inputs:
    labels = np.array([[1, 1, 2], [2, 3, 1]])
    return [labels, inputs[1], np.array([3, 3]), np.array([3, 7])]


def last_class_blank(inputs: Inputs) -> Inputs:
    return [np.asarray(inputs[0]) - 1, inputs[1]]


def no_ignored(inputs: Inputs) -> Inputs:
    labels = np.array(inputs[2])
    labels[0] = 1
    return [inputs[0], inputs[1], labels]


def _weights(count: int) -> np.ndarray:
    return np.linspace(0.5, 2.0, count)


Variant = tuple[str, str, dict[str, Any], Callable[[Inputs], Inputs] | None]

VARIANTS: list[Variant] = [
    ("mean_absolute_percentage_error", "epsilon", {"epsilon": 0.5}, zero_target),
    ("mean_squared_logarithmic_error", "epsilon", {"epsilon": 0.5}, None),
    ("huber", "delta_default", {}, None),
    ("huber", "delta_2", {"delta": 2.0}, None),
    ("smooth_l1", "beta_0", {"beta": 0.0}, None),
    ("smooth_l1", "beta_default", {}, None),
    ("quantile", "three_levels", {"quantiles": [0.1, 0.5, 0.9]}, three_levels),
    ("quantile", "median", {"quantiles": 0.5}, None),
    ("expectile", "tau_09", {"tau": 0.9}, None),
    ("poisson_nll", "rate", {"log_input": False}, None),
    ("poisson_nll", "full", {"full": True}, None),
    ("poisson_nll", "rate_full_eps", {"log_input": False, "full": True, "eps": 0.5}, None),
    ("gaussian_nll", "full", {"var": 0.7, "full": True}, None),
    ("gaussian_nll", "var_per_sample", {"var": np.linspace(0.2, 3.0, N)}, None),
    ("gaussian_nll", "eps_clamps", {"var": np.linspace(0.2, 3.0, N), "eps": 1.0}, None),
    ("laplace_nll", "full", {"scale": 0.7, "full": True}, None),
    ("laplace_nll", "scale_array", {"scale": np.linspace(0.2, 3.0, 3 * N).reshape(N, 3)}, None),
    ("laplace_nll", "eps_clamps", {"scale": 0.7, "eps": 1.5}, None),
    ("tweedie", "poisson", {"power": 1.0}, None),
    ("tweedie", "gamma", {"power": 2.0}, None),
    ("tweedie", "power_1_2", {"power": 1.2}, None),
    ("tweedie", "zero_target", {"power": 1.5}, zero_target),
    ("cosine_similarity", "axis_0", {"axis": 0}, None),
    ("binary_crossentropy", "logits", {"from_logits": True}, None),
    (
        "binary_crossentropy",
        "smoothing_pos_weight",
        {"label_smoothing": 0.1, "pos_weight": np.array([0.5, 1.0, 3.0])},
        None,
    ),
    ("binary_crossentropy", "logits_pos_weight", {"from_logits": True, "pos_weight": 2.5}, None),
    ("binary_focal_crossentropy", "alpha", {"alpha": 0.25, "gamma": 0.5}, None),
    (
        "binary_focal_crossentropy",
        "logits_smoothing",
        {"from_logits": True, "label_smoothing": 0.1, "alpha": 0.75},
        None,
    ),
    ("binary_focal_crossentropy", "alpha_per_class", {"alpha": np.array([0.2, 0.5, 0.9])}, None),
    ("categorical_crossentropy", "logits", {"from_logits": True}, None),
    (
        "categorical_crossentropy",
        "smoothing_class_weight",
        {"label_smoothing": 0.1, "class_weight": _weights(C)},
        None,
    ),
    ("categorical_crossentropy", "soft_axis_0", {"axis": 0}, classes_first),
    (
        "categorical_crossentropy",
        "logits_z_loss_softcap_soft",
        {"from_logits": True, "z_loss": 1e-2, "softcap": 0.5},
        soft_targets,
    ),
    (
        "categorical_crossentropy",
        "logits_z_loss_smoothing_class_weight_axis_0",
        {
            "from_logits": True,
            "z_loss": 0.1,
            "label_smoothing": 0.1,
            "class_weight": _weights(C),
            "axis": 0,
        },
        classes_first,
    ),
    ("categorical_focal_crossentropy", "logits", {"from_logits": True, "gamma": 1.5}, None),
    (
        "categorical_focal_crossentropy",
        "alpha_smoothing",
        {"alpha": _weights(C) / 2, "label_smoothing": 0.1},
        None,
    ),
    ("categorical_focal_crossentropy", "scalar_alpha_soft", {"alpha": 0.25}, soft_targets),
    ("sparse_categorical_crossentropy", "logits", {"from_logits": True}, None),
    (
        "sparse_categorical_crossentropy",
        "ignore_class_weight_smoothing",
        {"ignore_index": -1, "class_weight": _weights(C), "label_smoothing": 0.2},
        ignored_label,
    ),
    ("sparse_categorical_crossentropy", "labels_keep_class_axis", {}, labels_with_class_axis),
    (
        "sparse_categorical_crossentropy",
        "logits_z_loss_softcap_ignore_class_weight_smoothing",
        {
            "from_logits": True,
            "z_loss": 0.05,
            "softcap": 0.3,
            "ignore_index": -1,
            "class_weight": _weights(C),
            "label_smoothing": 0.1,
        },
        ignored_label,
    ),
    (
        "sparse_categorical_crossentropy",
        "logits_softcap_axis_0",
        {"from_logits": True, "softcap": 0.4, "axis": 0},
        sparse_classes_first,
    ),
    (
        "sparse_categorical_crossentropy",
        "logits_axis_0",
        {"from_logits": True, "axis": 0},
        sparse_classes_first,
    ),
    ("sparse_categorical_focal_crossentropy", "logits", {"from_logits": True, "gamma": 3.0}, None),
    (
        "sparse_categorical_focal_crossentropy",
        "ignore_alpha_smoothing",
        {"ignore_index": -1, "alpha": _weights(C) / 2, "label_smoothing": 0.1},
        ignored_label,
    ),
    ("hinge", "zero_one_labels", {}, zero_one_labels),
    ("squared_hinge", "zero_one_labels", {}, zero_one_labels),
    ("soft_margin", "zero_one_labels", {}, zero_one_labels),
    ("categorical_hinge", "axis_0", {"axis": 0}, classes_first),
    ("kl_divergence", "logits", {"from_logits": True}, None),
    ("kl_divergence", "log_target", {"log_target": True}, log_targets),
    ("kl_divergence", "one_hot_target", {}, one_hot_probabilities),
    ("js_divergence", "logits", {"from_logits": True}, None),
    ("js_divergence", "one_hot_target", {}, one_hot_probabilities),
    ("poly_loss", "logits_epsilon", {"from_logits": True, "epsilon": 2.0}, None),
    ("poly_loss", "soft_negative_epsilon", {"epsilon": -0.5}, soft_targets),
    ("asymmetric_loss", "logits", {"from_logits": True}, None),
    ("asymmetric_loss", "no_clip", {"clip": None}, None),
    ("asymmetric_loss", "no_focusing", {"gamma_neg": 0.0, "gamma_pos": 0.0, "clip": 0.2}, None),
    (
        "asymmetric_loss",
        "logits_clip_soft",
        {"from_logits": True, "clip": 0.3, "gamma_neg": 0.5},
        lambda inputs: [np.abs(inputs[1] - 0.2), inputs[1]],
    ),
    ("generalized_crossentropy", "logits_q", {"from_logits": True, "q": 0.3}, None),
    (
        "generalized_crossentropy",
        "smoothing_class_weight",
        {"label_smoothing": 0.1, "class_weight": _weights(C), "q": 1.0},
        None,
    ),
    ("symmetric_crossentropy", "logits", {"from_logits": True, "alpha": 1.0, "beta": 0.5}, None),
    (
        "symmetric_crossentropy",
        "soft_A",
        {"A": -6.0, "label_smoothing": 0.05, "class_weight": _weights(C)},
        soft_targets,
    ),
    ("normalized_crossentropy", "logits", {"from_logits": True}, None),
    ("normalized_crossentropy", "smoothing_class_weight", {"label_smoothing": 0.2}, soft_targets),
    ("taylor_crossentropy", "order_1", {"order": 1}, None),
    ("taylor_crossentropy", "logits_order_5", {"from_logits": True, "order": 5}, None),
    ("taylor_crossentropy", "class_weight", {"class_weight": _weights(C)}, soft_targets),
    ("bi_tempered_logistic", "softmax", {"t1": 1.0, "t2": 1.0}, None),
    ("bi_tempered_logistic", "t1_only", {"t1": 0.5, "t2": 1.0}, None),
    ("bi_tempered_logistic", "t2_heavy", {"t1": 1.0, "t2": 1.5}, None),
    ("bi_tempered_logistic", "t2_light", {"t1": 0.7, "t2": 0.6, "num_iters": 8}, None),
    (
        "bi_tempered_logistic",
        "soft_smoothing_weight",
        {"t1": 0.8, "t2": 1.2, "label_smoothing": 0.1, "class_weight": _weights(C)},
        soft_targets,
    ),
    ("multiclass_hinge", "crammer_singer", {"variant": "crammer_singer"}, None),
    ("multiclass_hinge", "squared_margin", {"p": 2, "margin": 0.5}, None),
    (
        "multiclass_hinge",
        "ignore_class_weight",
        {"ignore_index": -1, "class_weight": _weights(C), "variant": "crammer_singer", "p": 2},
        ignored_label,
    ),
    ("sparsemax_loss", "distribution", {}, lambda inputs: soft_targets(one_hot_logits(inputs))),
    ("sparsemax_loss", "ignore", {"ignore_index": -1}, ignored_label),
    ("sparsemax_loss", "axis_0", {"axis": 0}, sparse_classes_first),
    ("ctc", "time_major", {"time_major": True}, time_major),
    ("ctc", "label_lengths", {}, short_labels),
    ("ctc", "frames_target_length", {"normalize": "target_length"}, short_frames),
    ("ctc", "impossible", {}, impossible),
    ("ctc", "impossible_zero_infinity", {"zero_infinity": True}, impossible),
    ("ctc", "blank_last", {"blank": -1}, last_class_blank),
    (
        "linear_cross_entropy",
        "bias_smoothing_z_loss",
        {"bias": np.linspace(-1.0, 1.0, C), "label_smoothing": 0.1, "z_loss": 1e-2},
        None,
    ),
    (
        "linear_cross_entropy",
        "softcap_class_weight",
        {"softcap": 2.0, "class_weight": _weights(C)},
        None,
    ),
    ("linear_cross_entropy", "no_ignore", {"ignore_index": None}, no_ignored),
    ("brier", "logits", {"from_logits": True}, None),
    ("brier", "multiclass_labels", {"mode": "multiclass"}, sparse_probabilities),
    ("brier", "multiclass_one_hot", {"mode": "multiclass"}, one_hot_probabilities),
    ("brier", "multiclass_logits", {"mode": "multiclass", "from_logits": True}, one_hot_logits),
    ("crps_ensemble", "fair", {"estimator": "fair"}, None),
    ("crps_ensemble", "pwm", {"estimator": "pwm"}, None),
    ("crps_ensemble", "qd", {"estimator": "qd"}, None),
    ("crps_ensemble", "axis_0", {"axis": 0}, ensemble_first),
    ("crps_ensemble", "observation_axis_kept", {}, observation_axis_kept),
    ("beta_nll", "beta_0", {"beta": 0.0}, None),
    ("beta_nll", "beta_1_full", {"beta": 1.0, "full": True}, None),
    ("beta_nll", "eps_clamps", {"eps": 1.0}, None),
    ("beta_nll", "variance_per_sample", {"beta": 0.3}, variance_per_sample),
]


# ---------------------------------------------------------------------- tests
def test_the_references_cover_the_pointwise_losses():
    assert set(REFERENCES) == COVERED
    assert set(lk.names()) >= COVERED


@pytest.mark.parametrize("name", sorted(COVERED))
def test_reference_matches_losskit_on_the_ordinary_case(name):
    c = case(name)
    assert_reference_matches(name, c.inputs, c.params)


@pytest.mark.parametrize(
    ("name", "params", "make"),
    [
        pytest.param(name, params, make, id=f"{name}-{label}")
        for name, label, params, make in VARIANTS
    ],
)
def test_reference_matches_losskit_with_options(name, params, make):
    c = case(name)
    inputs = c.inputs if make is None else make(c.inputs)
    assert_reference_matches(name, inputs, {**c.params, **params})


def test_every_loss_with_options_has_an_option_checked():
    with_options = {
        name
        for name in COVERED
        if set(lk.info(name).function.__kwdefaults__ or {})
        - {"sample_weight", "mask", "reduction", "normalizer"}
    }
    assert with_options <= {name for name, *_ in VARIANTS}


@pytest.mark.parametrize("name", sorted(COVERED))
def test_an_option_the_reference_does_not_model_is_refused(name):
    c = case(name)
    with pytest.raises(NotImplementedError):
        REFERENCES[name](c.inputs, {**c.params, "an_unknown_option": 1.0})
    with pytest.raises(NotImplementedError):
        REFERENCES[name](c.inputs, {**c.params, "sample_weight": np.ones(N)})


def ctc_by_enumeration(labels: np.ndarray, logits: np.ndarray, blank: int = 0) -> np.ndarray:
    """``-log Σ_π Π_t p_t(π_t)`` over every frame-level path that collapses to the labels."""
    _, frames, classes = logits.shape
    log_p = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    paths = list(itertools.product(range(classes), repeat=frames))
    out = []
    for row, target in zip(log_p, labels, strict=True):
        kept = []
        for path in paths:
            merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
            if [k for k in merged if k != blank] == list(target):
                kept.append(sum(row[t, k] for t, k in enumerate(path)))
        top = max(kept)
        out.append(-(top + np.log(np.sum(np.exp(np.array(kept) - top)))))
    return np.array(out)


def test_the_ctc_anchor_is_the_sum_over_every_path():
    c = case("ctc")
    expected = ctc_by_enumeration(c.inputs[0], c.inputs[1])
    np.testing.assert_allclose(REFERENCES["ctc"](c.inputs, {}), expected, rtol=1e-12)


@pytest.mark.parametrize("t", [0.3, 0.7, 1.0, 1.5, 3.0])
def test_the_tempered_softmax_sums_to_one(t):
    with mpmath.workdps(40):
        a = [mpmath.mpf(v) for v in (3.0, -1.0, 0.5, 0.0, -20.0)]
        total = mpmath.fsum(tempered_softmax(a, mpmath.mpf(t)))
        assert abs(total - 1) < mpmath.mpf(10) ** -30


def test_bisection_finds_the_root_to_forty_digits():
    with mpmath.workdps(40):
        root = bisect(lambda x: 2 - x * x, mpmath.mpf(0), mpmath.mpf(2))
        assert abs(root - mpmath.sqrt(2)) < mpmath.mpf(10) ** -38


def test_the_bi_tempered_reference_at_unit_temperatures_is_the_softmax_crossentropy():
    logits = np.array([[3.0, -1.0, 0.5, 0.0], [0.0, 2.0, -3.0, 1.0]])
    one_hot = np.eye(4)[[0, 2]]
    got = REFERENCES["bi_tempered_logistic"]([one_hot, logits], {"t1": 1.0, "t2": 1.0})
    log_softmax = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    np.testing.assert_allclose(got, -log_softmax[[0, 1], [0, 2]], rtol=1e-14)


@pytest.mark.parametrize("power", [1.0, 1.5, 2.0])
@pytest.mark.parametrize("mean", [1e-30, 1e-10])
def test_tweedie_of_a_mean_far_below_the_target(power, mean):
    inputs = [np.array([1.0, 2.5, 0.3]), np.full(3, mean)]
    assert_reference_matches("tweedie", inputs, {"power": power})


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "soft_margin"])
def test_a_zero_label_means_minus_one_when_mixed_with_minus_one(name):
    c = case(name)
    assert_reference_matches(name, mixed_labels(c.inputs), {})


def test_the_gaussian_crps_of_a_point_forecast_is_the_absolute_error():
    y, mu = np.array([0.3, -2.0]), np.array([1.0, 0.5])
    got = REFERENCES["crps_gaussian"]([y, mu, np.zeros(2)], {})
    np.testing.assert_allclose(got, np.abs(y - mu), rtol=1e-15)
    tiny = REFERENCES["crps_gaussian"]([y, mu, np.full(2, 1e-9)], {})
    np.testing.assert_allclose(tiny, np.abs(y - mu), rtol=1e-8)


@pytest.mark.parametrize("gap", [1.0, 40.0, 300.0])
def test_the_references_keep_the_relative_accuracy_of_a_confident_prediction(gap):
    logits = np.array([[gap, 0.0, 0.0, 0.0]])
    one_hot = np.array([[1.0, 0.0, 0.0, 0.0]])
    nll = float(mpmath.log1p(3 * mpmath.exp(-gap)))
    for name in ("categorical_crossentropy", "kl_divergence", "taylor_crossentropy"):
        params = {"from_logits": True, **({"order": 60} if name == "taylor_crossentropy" else {})}
        got = REFERENCES[name]([one_hot, logits], params)
        np.testing.assert_allclose(got, [nll], rtol=1e-14, err_msg=name)
    head = [np.array([[gap]]), np.array([[1.0], [0.0], [0.0], [0.0]]), np.array([0])]
    got = REFERENCES["linear_cross_entropy"](head, {})
    np.testing.assert_allclose(got, [nll], rtol=1e-14, err_msg="linear_cross_entropy")
