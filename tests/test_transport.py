"""The Sinkhorn divergence: parity with geomloss (its own code is the reference), the properties
of S_ε that hold whatever the solver, the static iteration count under tracing, and input
checks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import losskit as lk

sys.path.insert(0, str(Path(__file__).parent / "contract"))
from reference_transport import sinkhorn_divergence as reference

torch = pytest.importorskip("torch")
geomloss = pytest.importorskip("geomloss")


def clouds(batch: int | None = 3, n: int = 7, m: int = 9, d: int = 3, seed: int = 0):
    r = np.random.default_rng(seed)
    lead = () if batch is None else (batch,)
    return r.normal(size=(*lead, m, d)), r.normal(size=(*lead, n, d)) * 0.8 + 0.3


def exact_distance(x, y):
    """‖x - y‖ from coordinate differences, 0 (with a zero gradient) at coincident points:
    geomloss's own p=1 cost floors distances at 1e-4."""
    squared = ((x[..., :, None, :] - y[..., None, :, :]) ** 2).sum(-1)
    positive = squared > 0
    safe = torch.where(positive, squared, torch.ones_like(squared))
    return torch.where(positive, torch.sqrt(safe), torch.zeros_like(squared))


def geomloss_value_and_grad(true, pred, a=None, b=None, **options):
    x = torch.tensor(pred, requires_grad=True)
    y = torch.tensor(true)
    loss = geomloss.SamplesLoss("sinkhorn", backend="tensorized", **options)
    value = loss(x, y) if a is None else loss(torch.tensor(a), x, torch.tensor(b), y)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach().numpy(), grad.numpy()


def losskit_value_and_grad(true, pred, **options):
    x = torch.tensor(pred, requires_grad=True)
    value = lk.sinkhorn_divergence(torch.tensor(true), x, reduction="none", **options)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach().numpy(), grad.numpy()


OPTIONS = [
    {"p": 2},
    {"p": 2, "blur": 0.01},
    {"p": 2, "blur": 0.3, "scaling": 0.9},
    {"p": 2, "blur": 1.0, "scaling": 0.3, "diameter": 5.0},
    {"p": 2, "blur": 0.1, "debias": False},
    {"p": 1},
    {"p": 1, "blur": 0.2, "scaling": 0.8},
]


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items())
)
@pytest.mark.parametrize("batch", [None, 3])
def test_value_and_gradient_match_geomloss(options, batch):
    true, pred = clouds(batch)
    anchor = {**options, "cost": exact_distance} if options["p"] == 1 else options
    want, want_grad = geomloss_value_and_grad(true, pred, **anchor)
    got, got_grad = losskit_value_and_grad(true, pred, **options)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-10, atol=1e-13)


def test_large_clouds_match_geomloss():
    """300 × 300 costs: torch's in-place log-sum-exp path of the Sinkhorn loop."""
    true, pred = clouds(1, n=300, m=320)
    want, want_grad = geomloss_value_and_grad(true, pred, blur=0.1)
    got, got_grad = losskit_value_and_grad(true, pred, blur=0.1)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("p", [1, 2])
def test_weighted_points_match_geomloss(p):
    true, pred = clouds(2)
    r = np.random.default_rng(5)
    a, b = r.random(pred.shape[:2]) + 0.1, r.random(true.shape[:2]) + 0.1
    a[0, 2] = 0.0  # a point without mass
    a, b = a / a.sum(1, keepdims=True), b / b.sum(1, keepdims=True)
    options = {"p": p, "blur": 0.2}
    anchor = {**options, "cost": exact_distance} if p == 1 else options
    want, want_grad = geomloss_value_and_grad(true, pred, a, b, **anchor)
    got, got_grad = losskit_value_and_grad(true, pred, pred_weights=a, true_weights=b, **options)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-10, atol=1e-13)
    # unnormalised weights are normalised
    again = lk.sinkhorn_divergence(true, pred, pred_weights=3 * a, true_weights=b, **options)
    np.testing.assert_allclose(again, want.mean(), rtol=1e-12)


def test_geomloss_default_p1_cost_differs_by_its_distance_floor():
    """geomloss's p=1 cost is sqrt(max(d², 1e-8)): one point each scores ‖x - y‖ - 1e-4."""
    x, y = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])
    want, _ = geomloss_value_and_grad(y, x, p=1)
    assert want == pytest.approx(5.0 - 1e-4, rel=1e-12)
    assert lk.sinkhorn_divergence(y, x, p=1) == pytest.approx(5.0, rel=1e-12)


def test_reductions_and_batch_items():
    true, pred = clouds(4)
    per_item = lk.sinkhorn_divergence(true, pred, reduction="none")
    assert per_item.shape == (4,)
    singles = [lk.sinkhorn_divergence(true[k], pred[k], diameter=None) for k in range(4)]
    # each cloud pair alone has its own (smaller) diameter, so a different schedule: compare
    # with the batch's diameter passed explicitly
    points = np.concatenate([true.reshape(-1, 3), pred.reshape(-1, 3)])
    diameter = float(np.linalg.norm(points.max(0) - points.min(0)))
    singles = [lk.sinkhorn_divergence(true[k], pred[k], diameter=diameter) for k in range(4)]
    np.testing.assert_allclose(per_item, singles, rtol=1e-12)
    assert lk.sinkhorn_divergence(true, pred) == pytest.approx(per_item.mean(), rel=1e-12)
    weighted = lk.sinkhorn_divergence(true, pred, sample_weight=np.array([1.0, 0, 2, 0]))
    assert weighted == pytest.approx((per_item[0] + 2 * per_item[2]) / 3, rel=1e-12)


# ---------------------------------------------------------------------- properties of S_ε
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_identical_clouds_score_exactly_zero(p, dtype):
    _, pred = clouds(3)
    pred = pred.astype(dtype)
    assert np.all(lk.sinkhorn_divergence(pred, pred, p=p, reduction="none") == 0.0)
    x = torch.tensor(pred, requires_grad=True)
    value = lk.sinkhorn_divergence(torch.tensor(pred), x, p=p)
    (grad,) = torch.autograd.grad(value, x)
    assert value.item() == 0.0 and torch.all(torch.isfinite(grad))


@pytest.mark.parametrize("p", [1, 2])
def test_divergence_is_non_negative_and_symmetric(p):
    for seed in range(5):
        true, pred = clouds(3, seed=seed)
        options = {"p": p, "blur": 0.5, "scaling": 0.9, "extra_iterations": 200}
        forward = lk.sinkhorn_divergence(true, pred, reduction="none", **options)
        backward = lk.sinkhorn_divergence(pred, true, reduction="none", **options)
        assert np.all(forward > 0)
        np.testing.assert_allclose(forward, backward, rtol=1e-10)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("blur", [1.0, 1e-2, 1e-4])
def test_one_point_each_scores_the_cost(p, blur):
    """With one point per cloud every plan is the product: S = C(x, y) = ‖x - y‖^p / p."""
    x, y = np.array([[0.5, -1.0, 2.0]]), np.array([[1.5, 1.0, 0.0]])
    expected = np.linalg.norm(x - y) ** p / p
    assert lk.sinkhorn_divergence(y, x, p=p, blur=blur) == pytest.approx(expected, rel=1e-12)


def test_small_blur_tends_to_the_assignment_cost():
    """Two points against two: as blur → 0, S → W₂²/2 of the best matching (closed form)."""
    x = np.array([[0.0, 0.0], [0.5, 0.0]])
    y = np.array([[0.2, 0.3], [0.3, -0.3]])
    matching = 0.5 * np.mean(np.sum((x - y) ** 2, axis=1))  # better than the swapped pairs
    assert matching < 0.5 * np.mean(np.sum((x - y[::-1]) ** 2, axis=1))
    values = [
        float(lk.sinkhorn_divergence(y, x, blur=blur, scaling=0.9, extra_iterations=200))
        for blur in (0.5, 0.1, 0.02)
    ]
    errors = [abs(v - matching) for v in values]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-9


# ---------------------------------------------------------------------- the contract reference
VARIANTS = [
    {"p": 1},
    {"p": 2, "debias": False},
    {"p": 1, "blur": 3.0, "weights": True},
    {"p": 2, "blur": 1.5, "single": True},
]


@pytest.mark.parametrize(
    "variant", VARIANTS, ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items())
)
def test_converged_loss_matches_the_independent_reference(variant):
    """The contract suite's NumPy reference (plain alternating Sinkhorn to convergence) against
    the loss with enough extra iterations, on options the contract sample leaves at default."""
    options = {k: v for k, v in variant.items() if k not in ("weights", "single")}
    options = {"blur": 2.0, **options, "extra_iterations": 150}
    true, pred = clouds(None if variant.get("single") else 2, d=2)
    if variant.get("weights"):
        r = np.random.default_rng(3)
        options["pred_weights"] = r.random(pred.shape[:-1]) + 0.2
        options["true_weights"] = r.random(true.shape[:-1]) + 0.2
    got = lk.sinkhorn_divergence(true, pred, reduction="none", **options)
    np.testing.assert_allclose(got, reference([true, pred], options), rtol=1e-11, atol=1e-13)


# ---------------------------------------------------------------------- tracing
def test_traced_call_needs_a_static_diameter():
    jax = pytest.importorskip("jax")
    true, pred = (jax.numpy.asarray(v) for v in clouds(2))
    with pytest.raises(ValueError, match="diameter"):
        jax.jit(lk.sinkhorn_divergence)(true, pred)
    jitted = jax.jit(lambda t, q: lk.sinkhorn_divergence(t, q, diameter=6.0))(true, pred)
    eager = lk.sinkhorn_divergence(true, pred, diameter=6.0)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6)


def test_eager_diameter_is_the_bounding_box_diagonal():
    true, pred = clouds(2)
    points = np.concatenate([true.reshape(-1, 3), pred.reshape(-1, 3)])
    diameter = float(np.linalg.norm(points.max(0) - points.min(0)))
    assert lk.sinkhorn_divergence(true, pred) == lk.sinkhorn_divergence(
        true, pred, diameter=diameter
    )


# ---------------------------------------------------------------------- input checks
@pytest.mark.parametrize(
    ("true_shape", "pred_shape", "match"),
    [
        ((5, 2), (2, 4, 2), "both"),
        ((5, 2), (4, 3), "coordinates"),
        ((2, 5, 2), (3, 4, 2), "clouds"),
        ((0, 2), (4, 2), "no points"),
        ((5,), (4,), "point cloud"),
    ],
)
def test_bad_shapes_raise(true_shape, pred_shape, match):
    with pytest.raises(ValueError, match=match):
        lk.sinkhorn_divergence(np.ones(true_shape), np.ones(pred_shape))


def test_bad_weights_and_options_raise():
    true, pred = clouds(None)
    with pytest.raises(ValueError, match="pred_weights"):
        lk.sinkhorn_divergence(true, pred, pred_weights=np.ones(3))
    with pytest.raises(ValueError, match="true_weights"):
        lk.sinkhorn_divergence(true, pred, true_weights=-np.ones(true.shape[0]))
    with pytest.raises(ValueError, match="true_weights"):
        lk.sinkhorn_divergence(true, pred, true_weights=np.zeros(true.shape[0]))
    with pytest.raises(ValueError, match="p must be one of"):
        lk.sinkhorn_divergence(true, pred, p=3)
    with pytest.raises(ValueError, match="scaling"):
        lk.sinkhorn_divergence(true, pred, scaling=1.0)
    with pytest.raises(ValueError, match="extra_iterations"):
        lk.sinkhorn_divergence(true, pred, extra_iterations=-1)
