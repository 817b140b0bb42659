"""losskit.boost without any boosting library: closed forms against autodiff, Hessian modes,
starting constants, metrics, refusals and calling conventions.

References are independent of the objective's code: Hessians and constants written out here
from the mathematics. The whole catalogue against finite differences and scipy.optimize is in
test_boost_catalogue.py.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import losskit as lk
from boost_data import REFUSED, K, N, make, sample
from cases import FACTORIES
from losskit import _registry
from losskit.boost import _autodiff


@pytest.fixture(params=["torch", "jax"])
def engine(request, monkeypatch):
    """The autodiff engine objectives without a closed form use (skipped when missing)."""
    pytest.importorskip(request.param)
    monkeypatch.setattr(_autodiff, "ENGINES", (request.param,))
    return request.param


# ---------------------------------------------------------------------- derivatives
CLOSED_VARIANTS = [
    ("mean_squared_error", {}),
    ("mean_absolute_error", {}),
    ("huber", {"delta": 0.7}),
    ("smooth_l1", {"beta": 0.3}),
    ("log_cosh", {}),
    ("quantile", {"quantiles": 0.25}),
    ("expectile", {"tau": 0.8}),
    ("poisson", {}),
    ("poisson_nll", {"full": True}),
    ("tweedie", {"power": 1.0}),
    ("tweedie", {"power": 1.5}),
    ("tweedie", {"power": 2.0}),
    ("binary_crossentropy", {}),
    ("binary_crossentropy", {"label_smoothing": 0.1, "pos_weight": 2.5}),
    ("soft_margin", {}),
    ("categorical_crossentropy", {}),
    ("categorical_crossentropy", {"label_smoothing": 0.2, "class_weight": [1.0, 2.0, 0.5, 3.0]}),
    ("sparse_categorical_crossentropy", {"class_weight": [1.0, 2.0, 0.5, 3.0]}),
    ("kl_divergence", {}),
]


@pytest.mark.parametrize(("name", "params"), CLOSED_VARIANTS)
def test_closed_forms_agree_with_autodiff(name, params, engine):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = lk.boost.objective(name, library="lightgbm", **params)
    assert obj.closed_form
    labels, margins = sample(name, np.random.default_rng(11))
    if name == "tweedie" and params["power"] == 2.0:
        labels = labels + 0.5  # the Gamma deviance needs y > 0
    g, h = obj.grad_hess(labels, margins)
    targets = obj.spec.targets_for(labels, K)
    ga, ha, _ = _autodiff.derivatives(obj.spec, targets, margins, using=engine)
    np.testing.assert_allclose(g, ga, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, ha, rtol=1e-12, atol=1e-12)


def test_full_softmax_hessian_for_catboost_matches_autodiff(engine):
    obj = lk.boost.objective("sparse_categorical_crossentropy", library="catboost")
    labels, margins = sample("sparse_categorical_crossentropy", np.random.default_rng(2))
    _, _, whole = obj._raw(labels, margins, full=True)
    _, _, by_autodiff = _autodiff.derivatives(
        obj.spec, labels.astype(int), margins, full=True, using=engine
    )
    p = np.exp(margins) / np.exp(margins).sum(1, keepdims=True)
    expected = np.stack([np.diag(r) - np.outer(r, r) for r in p])
    np.testing.assert_allclose(whole, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(by_autodiff, expected, rtol=1e-12, atol=1e-15)


def test_derivatives_are_those_of_the_loss_as_defined():
    y, m = np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.0, 0.5])
    g, h = lk.boost.objective("mse", library="xgboost").grad_hess(y, m)
    np.testing.assert_array_equal(g, 2 * (m - y))
    np.testing.assert_array_equal(h, [2.0, 2.0, 2.0])
    counts = np.array([0.0, 2.0, 5.0])
    g, h = lk.boost.objective("tweedie", library="xgboost", power=1.5).grad_hess(counts, m)
    mu = np.exp(m)  # the unit deviance 2(y^(2-p)/((1-p)(2-p)) - yμ^(1-p)/(1-p) + μ^(2-p)/(2-p))
    np.testing.assert_allclose(g, 2 * (mu**0.5 - counts * mu**-0.5), rtol=1e-14)
    np.testing.assert_allclose(h, 2 * (0.5 * mu**0.5 + 0.5 * counts * mu**-0.5), rtol=1e-14)


def test_weights_multiply_gradient_and_hessian():
    labels, margins = sample("sparse_categorical_crossentropy", np.random.default_rng(3))
    w = np.random.default_rng(4).uniform(0, 3, N)
    for name, (y, m) in {
        "sparse_categorical_crossentropy": (labels, margins),
        "huber": sample("huber", np.random.default_rng(5)),
    }.items():
        obj = lk.boost.objective(name, library="lightgbm")
        g, h = obj.grad_hess(y, m)
        gw, hw = obj.grad_hess(y, m, w)
        shape = (N,) + (1,) * (m.ndim - 1)
        np.testing.assert_allclose(gw, g * w.reshape(shape), rtol=1e-15)
        np.testing.assert_allclose(hw, h * w.reshape(shape), rtol=1e-15)


def test_elementwise_objective_takes_multi_output_margins():
    rng = np.random.default_rng(0)
    y, m = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
    g, h = lk.boost.objective("mse", library="xgboost").grad_hess(y.reshape(-1), m)
    np.testing.assert_allclose(g, 2 * (m - y))
    assert h.shape == m.shape


# ---------------------------------------------------------------------- Hessian modes
def sigmoid(m):
    return 1 / (1 + np.exp(-m))


def test_fisher_is_the_expected_hessian():
    rng = np.random.default_rng(5)
    m, y01, counts = rng.normal(size=N), (rng.random(N) > 0.5) * 1.0, rng.poisson(2.0, N) * 1.0

    def fisher(name, y, **params):
        return lk.boost.objective(name, library="xgboost", hessian="fisher", **params).grad_hess(
            y, m
        )[1]

    p, mu = sigmoid(m), np.exp(m)
    np.testing.assert_allclose(fisher("bce", y01), p * (1 - p), rtol=1e-12)
    np.testing.assert_allclose(fisher("poisson", counts), mu, rtol=1e-12)
    np.testing.assert_allclose(fisher("poisson_nll", counts), mu, rtol=1e-12)
    np.testing.assert_allclose(fisher("tweedie", counts, power=1.3), 2 * mu**0.7, rtol=1e-12)
    np.testing.assert_allclose(fisher("mse", rng.normal(size=N)), np.full(N, 2.0))
    # generic rules: a proper binary loss averages the Hessian over y ~ Bernoulli(σ(m))...
    brier = 2 * (p * (1 - p)) ** 2  # E_y d²/dm² (σ(m) - y)² = 2σ'(m)²
    np.testing.assert_allclose(fisher("brier", y01), brier, rtol=1e-10)
    # ... a loss eliciting the mean takes its Hessian at y = the prediction
    np.testing.assert_allclose(fisher("gaussian_nll", rng.normal(size=N), var=0.7), 1 / 0.7)


def test_fisher_of_a_proper_class_loss_averages_over_the_classes():
    labels, margins = sample("brier", np.random.default_rng(0))
    _, margins = sample("sparse_categorical_crossentropy", np.random.default_rng(0))
    labels = np.random.default_rng(1).integers(0, K, N).astype(float)
    obj = lk.boost.objective("brier", library="xgboost", hessian="fisher", mode="multiclass")
    _, h = obj.grad_hess(labels, margins)
    p = np.exp(margins) / np.exp(margins).sum(1, keepdims=True)
    # Brier Σ_k (p_k - y_k)²: E_y ∂²/∂m_c² = 2 Σ_k (∂p_k/∂m_c)², ∂p_k/∂m_c = p_k(δ_kc - p_c)
    jacobian = p[:, :, None] * (np.eye(K)[None] - p[:, None, :])
    np.testing.assert_allclose(h, 2 * np.sum(jacobian**2, axis=1), rtol=1e-10)


def test_fisher_is_refused_without_an_expected_hessian():
    with pytest.raises(ValueError, match=r"hessian='fisher' needs .*focal.*clip"):
        lk.boost.objective("binary_focal_crossentropy", library="xgboost", hessian="fisher")


def test_clip_and_constant():
    labels, margins = sample("binary_focal_crossentropy", np.random.default_rng(8))
    margins = margins * 4
    exact = make("binary_focal_crossentropy")
    clipped = make("binary_focal_crossentropy", hessian="clip", hessian_floor=0.01)
    default = make("binary_focal_crossentropy", hessian="clip")
    constant = make("binary_focal_crossentropy", hessian="constant")
    g, h = exact.grad_hess(labels, margins)
    assert np.any(h < 0.01)
    np.testing.assert_array_equal(clipped.grad_hess(labels, margins)[1], np.maximum(h, 0.01))
    np.testing.assert_array_equal(default.grad_hess(labels, margins)[1], np.maximum(h, 1e-6))
    w = np.linspace(0.5, 2.0, N)
    gc, hc = constant.grad_hess(labels, margins, w)
    np.testing.assert_array_equal(gc, g * w)
    np.testing.assert_array_equal(hc, w)


def test_exact_hessian_of_a_non_convex_loss_warns_once():
    with pytest.warns(UserWarning, match="binary_focal_crossentropy.*hessian='clip'") as record:
        obj = lk.boost.objective("binary_focal_crossentropy", library="xgboost")
        labels, margins = sample("binary_focal_crossentropy", np.random.default_rng(0))
        for _ in range(3):
            obj.grad_hess(labels, margins)
    assert len(record) == 1
    with pytest.warns(UserWarning, match="brier.*hessian='fisher'"):
        lk.boost.objective("brier", library="xgboost")  # convex in p, not in the logit


@pytest.mark.parametrize("name", ["mse", "bce", "poisson", "tweedie", "scce", "huber", "hinge"])
def test_convex_losses_do_not_warn(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lk.boost.objective(name, library="xgboost")


def test_a_zero_exact_hessian_warns_and_suggests_constant():
    mae = lk.boost.objective("mae", library="xgboost")
    with pytest.warns(UserWarning, match="hessian='constant'"):
        mae.grad_hess(np.zeros(3), np.ones(3))


# ---------------------------------------------------------------------- starting constants
def test_init_score_closed_rules():
    rng = np.random.default_rng(0)
    y, w = rng.normal(size=51), rng.uniform(0.5, 2.0, 51)
    counts, labels = rng.poisson(3.0, 51) * 1.0, rng.integers(0, 3, 51) * 1.0

    def init(name, target, weights=None, **params):
        return lk.boost.objective(name, library="catboost", **params).init_score(target, weights)

    assert init("mse", y, w) == pytest.approx(np.average(y, weights=w), rel=1e-12)
    assert init("mae", y) == pytest.approx(np.median(y), rel=1e-12)
    assert init("quantile", y, quantiles=0.9) == pytest.approx(
        np.quantile(y, 0.9, method="inverted_cdf")
    )
    assert init("poisson", counts, w) == pytest.approx(np.log(np.average(counts, weights=w)))
    assert init("tweedie", counts, power=1.7) == pytest.approx(np.log(counts.mean()))
    binary = (y > 0) * 1.0
    assert init("bce", binary) == pytest.approx(np.log(binary.mean() / (1 - binary.mean())))
    frequencies = np.bincount(labels.astype(int)) / 51
    np.testing.assert_allclose(init("scce", labels), np.log(frequencies), rtol=1e-12)


# ---------------------------------------------------------------------- metrics
def test_metric_is_the_weighted_mean_loss_on_margins():
    rng = np.random.default_rng(1)
    y, m, w = (rng.random(N) > 0.5) * 1.0, rng.normal(size=N), rng.uniform(0, 2, N)
    p = sigmoid(m)
    expected = np.average(-(y * np.log(p) + (1 - y) * np.log1p(-p)), weights=w)
    dmatrix = SimpleNamespace(get_label=lambda: y, get_weight=lambda: w)
    assert lk.boost.metric("bce", library="xgboost")(m, dmatrix) == (
        "binary_crossentropy",
        pytest.approx(expected, rel=1e-12),
    )
    name, value, higher = lk.boost.metric("bce", library="lightgbm")(m, dmatrix)
    assert (name, higher) == ("binary_crossentropy", False) and value == pytest.approx(expected)
    catboost = lk.boost.metric("bce", library="catboost")
    total, weight = catboost.evaluate([m], y, w)
    assert catboost.get_final_error(total, weight) == pytest.approx(expected, rel=1e-12)
    assert catboost.is_max_optimal() is False


# ---------------------------------------------------------------------- calling conventions
def test_library_calling_conventions():
    labels, margins = sample("sparse_categorical_crossentropy", np.random.default_rng(9))
    w = np.random.default_rng(1).uniform(0.5, 2.0, N)
    xgb_obj = lk.boost.objective("scce", library="xgboost")
    g, h = xgb_obj.grad_hess(labels, margins, w)
    dmatrix = SimpleNamespace(get_label=lambda: labels.astype(np.float32), get_weight=lambda: w)
    np.testing.assert_array_equal(xgb_obj(margins, dmatrix)[0], g)
    no_weights = SimpleNamespace(get_label=lambda: labels, get_weight=lambda: np.array([]))
    np.testing.assert_array_equal(
        xgb_obj(margins, no_weights)[1], xgb_obj.grad_hess(labels, margins)[1]
    )
    dataset = SimpleNamespace(get_label=lambda: labels, get_weight=lambda: w)
    np.testing.assert_array_equal(
        lk.boost.objective("scce", library="lightgbm")(margins, dataset)[1], h
    )
    np.testing.assert_array_equal(xgb_obj.sklearn(labels, margins, sample_weight=w)[0], g)
    # CatBoost: negated derivatives, one row at a time for a class loss (full Hessian)
    catboost = lk.boost.objective("scce", library="catboost")
    der1, der2 = catboost.calc_ders_multi(list(margins[0]), labels[0], w[0])
    p = np.exp(margins[0]) / np.exp(margins[0]).sum()
    np.testing.assert_allclose(der1, -g[0], rtol=1e-14)
    np.testing.assert_allclose(der2, -w[0] * (np.diag(p) - np.outer(p, p)), rtol=1e-12)
    y, m = sample("poisson", np.random.default_rng(0))
    ders = lk.boost.objective("poisson", library="catboost").calc_ders_range(m, y, None)
    np.testing.assert_allclose(np.array(ders), -np.stack([np.exp(m) - y, np.exp(m)], 1))


def test_transform_gives_the_prediction():
    m = np.array([[0.0, np.log(3.0)], [1.0, 1.0]])
    np.testing.assert_allclose(
        make("sparse_categorical_crossentropy").transform(m), [[0.25, 0.75], [0.5, 0.5]]
    )
    np.testing.assert_allclose(make("poisson").transform(np.log([2.0])), [2.0])
    np.testing.assert_allclose(make("binary_crossentropy").transform(np.array([0.0])), [0.5])
    np.testing.assert_allclose(make("huber").transform(np.array([1.5])), [1.5])


def test_loss_objects_and_user_losses():
    y, m = sample("huber", np.random.default_rng(4))
    by_name = lk.boost.objective("huber", library="xgboost", delta=0.3).grad_hess(y, m)
    by_object = lk.boost.objective(lk.Loss("huber", delta=0.3), library="xgboost").grad_hess(y, m)
    np.testing.assert_array_equal(by_name[0], by_object[0])

    @lk.loss(name="boost_test_cubic", replace=True, properties={"convex": True})
    def cubic(y_true, y_pred, *, xp, scale=1.0):
        d = y_pred - y_true
        return scale * d * d * xp.sqrt(d * d + 1.0)

    try:
        obj = lk.boost.objective(cubic, library="xgboost", scale=2.0)
    finally:
        _registry._remove("boost_test_cubic")  # registry-driven tests must not see it
    assert not obj.closed_form and obj.convex
    g, h = obj.grad_hess(y, m)
    d = m - y
    r = np.sqrt(d * d + 1)
    np.testing.assert_allclose(g, 2 * (2 * d * r + d**3 / r), rtol=1e-12)
    np.testing.assert_allclose(h, 2 * (2 * r + 5 * d**2 / r - d**4 / r**3), rtol=1e-12)


# ---------------------------------------------------------------------- refusals and errors
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_losses_that_cannot_be_objectives_say_why(name):
    with pytest.raises(
        lk.boost.NotAnObjective,
        match=f"^{name}.*{REFUSED[name]}".replace("(", r"\(").replace(")", r"\)"),
    ):
        lk.boost.objective(name, library="lightgbm")


def test_every_registered_loss_is_an_objective_or_says_why():
    for name in set(lk.names()) & set(FACTORIES):  # the catalogue (other tests add user losses)
        try:
            make(name)
        except lk.boost.NotAnObjective as error:
            assert name in str(error)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: lk.boost.objective("mse", library="sklearn"),
            ValueError,
            "library must be one of",
        ),
        (
            lambda: lk.boost.objective("mse", library="xgboost", hessian="diag"),
            ValueError,
            "hessian must be one of",
        ),
        (
            lambda: lk.boost.objective("mse", library="xgboost", hessian_floor=0.1),
            TypeError,
            "hessian_floor",
        ),
        (
            lambda: lk.boost.objective("mse", library="xgboost", hessian="clip", hessian_floor=-1),
            ValueError,
            "hessian_floor",
        ),
        (
            lambda: lk.boost.objective("mse", library="xgboost", sample_weight=[1.0]),
            TypeError,
            "sample weights come from",
        ),
        (
            lambda: lk.boost.objective("bce", library="xgboost", from_logits=False),
            ValueError,
            "from_logits=True",
        ),
        (
            lambda: lk.boost.objective("huber", library="xgboost", delt=1.0),
            TypeError,
            "did you mean 'delta'",
        ),
        (
            lambda: lk.boost.objective("quantile", library="xgboost", quantiles=[0.1, 0.9]),
            lk.boost.NotAnObjective,
            "one model per level",
        ),
        (
            lambda: lk.boost.objective("gaussian_nll", library="xgboost"),
            lk.boost.NotAnObjective,
            "needs var=",
        ),
        (
            lambda: lk.boost.objective("gaussian_nll", library="xgboost", var=np.ones(3)),
            lk.boost.NotAnObjective,
            "sample weight 1/v",
        ),
        (
            lambda: lk.boost.objective(lk.Loss("mse") + lk.Loss("mae"), library="xgboost"),
            lk.boost.NotAnObjective,
            "sum of losses",
        ),
        (lambda: lk.boost.objective("no_such_loss", library="xgboost"), KeyError, "unknown loss"),
    ],
)
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_bad_data_is_refused_with_the_losses_own_message():
    bce = lk.boost.objective("bce", library="xgboost")
    with pytest.raises(ValueError, match="labels do not fit the binary_crossentropy objective"):
        bce.grad_hess(np.array([0.0, 2.0]), np.zeros(2))
    scce = lk.boost.objective("scce", library="xgboost")
    with pytest.raises(ValueError, match=r"class labels must be integers in \[0, 3\)"):
        scce.grad_hess(np.array([0.0, 3.0]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="needs \\(N, K\\) margins"):
        scce.grad_hess(np.array([0.0, 1.0]), np.zeros(2))
    with pytest.raises(ValueError, match="3 labels for margins of shape \\(2,\\)"):
        bce.grad_hess(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="non-negative"):
        bce.grad_hess(np.zeros(2), np.zeros(2), np.array([1.0, -1.0]))


# ---------------------------------------------------------------------- imports
def test_closed_forms_import_no_framework_and_no_booster():
    code = """
import sys
import numpy as np
import losskit as lk
heavy = ("torch", "jax", "tensorflow", "xgboost", "lightgbm", "catboost")
assert not [m for m in heavy if m in sys.modules], "import losskit"
y, m = np.array([0.0, 1.0, 3.0]), np.array([0.1, -0.2, 0.3])
for name in ("mse", "mae", "huber", "quantile", "poisson", "tweedie", "bce", "log_cosh"):
    for library in ("xgboost", "lightgbm", "catboost"):
        obj = lk.boost.objective(name, library=library, hessian="constant")
        obj.grad_hess(np.minimum(y, 1.0) if name == "bce" else y, m)
        obj.init_score(np.minimum(y, 1.0) if name == "bce" else y)
        lk.boost.metric(name, library=library).value(np.minimum(y, 1.0) if name == "bce" else y, m)
lk.boost.objective("scce", library="catboost").calc_ders_multi([0.0, 1.0], 1.0, None)
print(sorted(m for m in heavy if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
