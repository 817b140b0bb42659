"""Learning-to-rank losses against float64 loop references written from the papers, and parity
with the anchors that are installed (torch's margin ranking / logistic / soft-target
cross-entropy for the pairwise and ListNet terms, scikit-learn's ``ndcg_score`` for the NDCG
pieces). TF-Ranking and allRank are not dependencies: their conventions (TF-Ranking's
``-approxNDCG``, label-normalised ListNet; allRank's LambdaLoss weights) are documented and the
formulas written here from Burges et al. (2005), Cao et al. (2007), Xia et al. (2008),
Qin et al. (2010) and Wang et al. (2018).

Each reference loops over one list's valid items (label >= 0) and pairs, in float64, on the
inputs after rounding to the tested dtype. Gradients are compared with central differences of
the float64 reference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import losskit as lk
from conftest import tolerance

LN2 = math.log(2.0)

# ====================================================================== data
# 6 lists of 5 items: padding (-1), an all-padding list, an all-tie list, a single valid item,
# tied scores; labels graded 0..3.
LABELS = np.array(
    [
        [3.0, 1.0, 0.0, 2.0, 1.0],
        [2.0, 0.0, 1.0, -1.0, -1.0],
        [-1.0, -1.0, -1.0, -1.0, -1.0],
        [1.0, 1.0, 1.0, 1.0, 1.0],
        [0.0, -1.0, -1.0, -1.0, -1.0],
        [1.0, 0.0, 2.0, 0.0, 1.0],
    ]
)
SCORES = np.array(
    [
        [0.3, -1.2, 0.8, 1.5, -0.4],
        [-0.7, 1.1, 0.2, 2.5, -3.0],
        [0.5, 0.1, -0.2, 0.9, 1.3],
        [0.2, -0.5, 1.0, 0.0, 0.4],
        [1.7, 0.6, -1.1, 0.3, 0.2],
        [0.6, 0.6, -0.9, 1.4, 0.6],  # tied scores
    ]
)


def valid_items(y: np.ndarray) -> list[int]:
    return [i for i in range(len(y)) if y[i] >= 0]


def logsumexp(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=np.float64)
    m = np.max(v)
    return float(m + np.log(np.sum(np.exp(v - m))))


def softplus(x: float) -> float:
    return float(np.logaddexp(0.0, x))


def sigmoid(x: float) -> float:
    return float(np.exp(-np.logaddexp(0.0, -x)))


# ====================================================================== float64 references
def ranknet_one(y, s, normalize_pairs=False):
    v = valid_items(y)
    total, count = 0.0, 0
    for i in v:
        for j in v:
            if y[i] > y[j]:
                total += softplus(-(s[i] - s[j]))
                count += 1
    return total / count if normalize_pairs and count else total


def hinge_one(y, s, margin=1.0, normalize_pairs=False):
    v = valid_items(y)
    total, count = 0.0, 0
    for i in v:
        for j in v:
            if y[i] > y[j]:
                total += max(0.0, margin - (s[i] - s[j]))
                count += 1
    return total / count if normalize_pairs and count else total


def listnet_one(y, s, target="softmax"):
    v = valid_items(y)
    if not v:
        return 0.0
    yv, sv = y[v], s[v]
    if target == "softmax":
        p = np.exp(yv - logsumexp(yv))
    else:
        if yv.sum() == 0:
            return 0.0
        p = yv / yv.sum()
    return float(-np.sum(p * (sv - logsumexp(sv))))


def listmle_one(y, s):
    order = sorted(valid_items(y), key=lambda i: -y[i])  # Python's sort is stable
    return sum(logsumexp(s[order[k:]]) - s[order[k]] for k in range(len(order)))


def ideal_dcg(y):
    gains = sorted((2.0 ** y[i] - 1.0 for i in valid_items(y)), reverse=True)
    return sum(g / math.log2(1 + k) for k, g in enumerate(gains, start=1))


def approx_ndcg_one(y, s, temperature=0.1):
    v = valid_items(y)
    idcg = ideal_dcg(y)
    if idcg == 0:
        return 0.0
    dcg = 0.0
    for i in v:
        rank = 1.0 + sum(sigmoid((s[j] - s[i]) / temperature) for j in v if j != i)
        dcg += (2.0 ** y[i] - 1.0) / math.log2(1.0 + rank)
    return 1.0 - dcg / idcg


def lambda_one(y, s, weighting="ndcg_loss2++", mu=10.0, sigma=1.0):
    v = valid_items(y)
    idcg = ideal_dcg(y)
    if idcg == 0:
        return 0.0
    order = sorted(v, key=lambda i: -s[i])  # ranks by current score, ties by position
    rank = {item: k for k, item in enumerate(order, start=1)}
    gain = {i: (2.0 ** y[i] - 1.0) / idcg for i in v}

    def discount(r):
        return 1.0 / math.log2(1.0 + r)

    total = 0.0
    for i in v:
        for j in v:
            if y[i] > y[j]:
                rho = abs(discount(rank[i]) - discount(rank[j]))
                k = abs(rank[i] - rank[j])
                delta = discount(k) - discount(k + 1)
                scheme = {
                    "ndcg_loss2++": rho + mu * delta,
                    "ndcg_loss2": delta,
                    "lambdarank": rho,
                }[weighting]
                w = abs(gain[i] - gain[j]) * scheme
                total += w * softplus(-sigma * (s[i] - s[j])) / LN2
    return total


def per_list(fn, y, s, **kw):
    return np.array([fn(yy, ss, **kw) for yy, ss in zip(y, s, strict=True)])


def counted_ranknet(y):
    return np.array([bool(valid_items(r)) for r in y])


def counted_ndcg(y):
    return np.array([ideal_dcg(r) > 0 for r in y])


def counted_normalize(y):
    return np.array([sum(r[i] for i in valid_items(r)) > 0 for r in y])


# (name, loss params, reference, which lists count in the mean)
CASES = [
    ("pairwise_logistic", {}, ranknet_one, counted_ranknet),
    ("pairwise_logistic", {"normalize_pairs": True}, ranknet_one, counted_ranknet),
    ("pairwise_hinge", {}, hinge_one, counted_ranknet),
    ("pairwise_hinge", {"margin": 0.5, "normalize_pairs": True}, hinge_one, counted_ranknet),
    ("listnet", {}, listnet_one, counted_ranknet),
    ("listnet", {"target": "normalize"}, listnet_one, counted_normalize),
    ("listmle", {}, listmle_one, counted_ranknet),
    ("approx_ndcg", {}, approx_ndcg_one, counted_ndcg),
    ("approx_ndcg", {"temperature": 1.0}, approx_ndcg_one, counted_ndcg),
    ("lambda_loss", {}, lambda_one, counted_ndcg),
    ("lambda_loss", {"weighting": "ndcg_loss2"}, lambda_one, counted_ndcg),
    ("lambda_loss", {"weighting": "lambdarank", "sigma": 2.0}, lambda_one, counted_ndcg),
    ("lambda_loss", {"mu": 1.0}, lambda_one, counted_ndcg),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items()) or 'default'}" for n, p, _, _ in CASES]
NAMES = sorted({c[0] for c in CASES})


def rounded(x: Any, dtype: str) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).astype(dtype).astype(np.float64)


def total(backend: Any, x: Any) -> Any:
    if backend.name == "tensorflow":
        import tensorflow as tf

        return tf.reduce_sum(x)
    return x.sum()


# ====================================================================== values
@pytest.mark.parametrize(("name", "params", "ref", "counted"), CASES, ids=IDS)
def test_values_match_float64_reference(backend, dtype, name, params, ref, counted):
    y, s = LABELS, rounded(SCORES, dtype)
    fn = lk.get(name)
    expected = per_list(ref, y, s, **params)
    out = fn(backend.array(y, dtype), backend.array(s, dtype), reduction="none", **params)
    assert dtype in str(out.dtype)
    got = backend.to_numpy(out)
    assert got.shape == (len(y),)
    # float32: the list sums accumulate a few ulp of O(1)-O(10) terms
    tol = tolerance(dtype) if dtype == "float64" else {"rtol": 2e-6, "atol": 2e-6}
    np.testing.assert_allclose(got, expected, **tol)
    # "mean": only the lists with something to score count
    mean = backend.to_numpy(fn(backend.array(y, dtype), backend.array(s, dtype), **params))
    keep = counted(y)
    np.testing.assert_allclose(mean, expected[keep].mean(), **tol)
    # the all-padding list is exactly 0 and never counts
    assert got[2] == 0.0 and not keep[2]


@pytest.mark.parametrize("name", NAMES)
def test_list_axis_and_sample_weight(name):
    fn = lk.get(name)
    weights = np.array([1.0, 2.0, 3.0, 0.5, 1.5, 4.0])
    last = fn(LABELS, SCORES, reduction="none")
    first = fn(LABELS.T, SCORES.T, axis=0, reduction="none")
    np.testing.assert_allclose(first, last, rtol=1e-12, atol=1e-15)
    counted = last != 0  # every list with a nonzero value counts
    got = fn(LABELS, SCORES, sample_weight=weights)
    unweighted = fn(LABELS, SCORES, reduction="none")
    excluded = np.asarray(fn(LABELS, SCORES, sample_weight=weights, reduction="none"))
    assert excluded[2] == 0.0
    # weighted mean over the lists that count (the list with all ties counts for the pairwise
    # losses even though its value is 0, hence the explicit masks below)
    if name in ("approx_ndcg", "lambda_loss"):
        keep = counted_ndcg(LABELS)
    else:
        keep = counted_ranknet(LABELS)
    assert np.all(keep[counted])
    np.testing.assert_allclose(
        got, np.sum(weights[keep] * unweighted[keep]) / weights[keep].sum(), rtol=1e-12
    )


def test_batch_dimensions_are_kept():
    y = np.stack([LABELS, LABELS[::-1]])
    s = np.stack([SCORES, SCORES[::-1]])
    for name in NAMES:
        out = lk.get(name)(y, s, reduction="none")
        assert out.shape == (2, len(LABELS))
        np.testing.assert_allclose(out[1], out[0][::-1], rtol=1e-12)


# ====================================================================== gradients
def numeric_gradient(ref, y, s, params, h=1e-6):
    grad = np.zeros_like(s)
    for idx in np.ndindex(*s.shape):
        up, down = s.copy(), s.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (
            per_list(ref, y, up, **params).sum() - per_list(ref, y, down, **params).sum()
        ) / (2 * h)
    return grad


# away from ties of scores (the LambdaLoss weights jump there) and hinge kinks
SMOOTH_SCORES = np.array(
    [
        [0.31, -1.23, 0.87, 1.52, -0.44],
        [-0.71, 1.13, 0.26, 2.51, -3.02],
        [0.52, 0.17, -0.23, 0.91, 1.35],
        [0.24, -0.57, 1.06, 0.01, 0.48],
        [1.73, 0.62, -1.18, 0.35, 0.29],
        [0.66, 0.12, -0.93, 1.44, 0.58],
    ]
)


@pytest.mark.parametrize(("name", "params", "ref", "counted"), CASES, ids=IDS)
def test_gradients_match_finite_differences(autodiff_backend, name, params, ref, counted):
    b = autodiff_backend
    fn = lk.get(name)
    y = b.array(LABELS)
    got = b.to_numpy(b.grad(lambda t: fn(y, t, reduction="sum", **params), b.array(SMOOTH_SCORES)))
    expected = numeric_gradient(ref, LABELS, SMOOTH_SCORES, params)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    padding = LABELS < 0
    assert np.all(got[padding] == 0.0)


STRESS_LABELS = np.array(
    [
        [1.0, 1.0, 1.0, 1.0, 1.0],  # all ties
        [-1.0, -1.0, -1.0, -1.0, -1.0],  # all padding
        [0.0, 0.0, 0.0, 0.0, -1.0],  # no relevant item: IDCG = 0
        [3.0, 0.0, -1.0, 2.0, 1.0],
        [2.0, 1.0, 0.0, -1.0, 0.0],
        [1.0, 0.0, 1.0, 0.0, -1.0],
    ]
)
STRESS_SCORES = np.array(
    [
        [1.0, 1.0, 1.0, 1.0, 1.0],  # tied scores
        [1.0, -1.0, 2.0, 0.5, 0.0],
        [0.0, 0.0, 1.0, -1.0, 0.5],
        [-1.0, 1.0, 1.0, 0.3, 1.0],
        [1.0, -1.0, 1.0, -1.0, 1.0],
        [-1.0, 1.0, -1.0, 1.0, 1.0],
    ]
)


@pytest.mark.parametrize("name", NAMES)
def test_stress_grid_is_finite(autodiff_backend, dtype, name):
    """Ties, all-padding and no-relevant lists, scores from 0 to ±1e30, ±inf padding scores:
    finite values and gradients, and exactly zero gradient on padding."""
    b = autodiff_backend
    fn = lk.get(name)
    y = b.array(STRESS_LABELS, dtype)
    padding = STRESS_LABELS < 0
    infinite = np.where(np.arange(5) % 2 == 0, np.inf, -np.inf) * np.ones_like(STRESS_SCORES)
    settings = ({}, {"temperature": 1e-3}) if name == "approx_ndcg" else ({},)
    for scale in (0.0, 1.0, 1e4, 1e30):
        for params in settings:
            scores = scale * STRESS_SCORES
            value = b.to_numpy(fn(y, b.array(scores, dtype), reduction="none", **params))
            assert np.all(np.isfinite(value)), (scale, params, value)
            if name in ("pairwise_logistic", "pairwise_hinge", "lambda_loss"):
                assert value[0] == 0.0  # all labels tie: no ordered pair
            assert value[1] == 0.0 and value[2] >= 0.0
            with_inf = b.array(np.where(padding, infinite, scores), dtype)
            same = b.to_numpy(fn(y, with_inf, reduction="none", **params))
            np.testing.assert_array_equal(same, value)
            grad = b.to_numpy(b.grad(lambda t, p=params: fn(y, t, **p), with_inf))
            assert np.all(np.isfinite(grad)), (scale, params, grad)
            assert np.all(grad[padding] == 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_all_masked_or_all_padding_gives_zero_with_zero_gradient(autodiff_backend, name):
    b = autodiff_backend
    fn = lk.get(name)
    y, s = b.array(LABELS), b.array(SCORES)
    for kwargs, labels in (
        ({"mask": np.zeros(len(LABELS), dtype=bool)}, y),
        ({}, b.array(-np.ones_like(LABELS))),
    ):
        assert float(b.to_numpy(fn(labels, s, **kwargs))) == 0.0
        grad = b.to_numpy(b.grad(lambda t, lab=labels, kw=kwargs: fn(lab, t, **kw), s))
        assert np.all(grad == 0.0)


def test_listmle_padding_does_not_enter_the_normaliser():
    # PITFALL: ListMLE with padding in the tail log-sum-exp. Padded and unpadded lists agree.
    y = np.array([[2.0, 1.0, 0.0, -1.0, -1.0]])
    s = np.array([[0.5, -0.3, 1.2, 8.0, 9.0]])
    padded = lk.listmle(y, s)
    np.testing.assert_allclose(padded, lk.listmle(y[:, :3], s[:, :3]), rtol=1e-14)
    np.testing.assert_allclose(padded, listmle_one(y[0], s[0]), rtol=1e-14)


def test_listmle_is_exact_at_large_score_gaps():
    # a tail whose scores are far below the list's maximum must not underflow to log(0)
    y, s = np.array([[1.0, 0.0]]), np.array([[500.0, -500.0]])
    got = float(lk.listmle(y, s))
    assert got == pytest.approx(softplus(-1000.0), rel=1e-12, abs=0)
    got32 = float(lk.listmle(y.astype(np.float32), s.astype(np.float32)))
    assert np.isfinite(got32) and got32 == 0.0


def test_lambda_loss_all_ties_is_zero_not_nan():
    # PITFALL: LambdaLoss NaN when every label of a list ties
    y = np.array([[1.0, 1.0, 1.0]])
    assert float(lk.lambda_loss(y, np.array([[0.1, 0.2, 0.3]]), reduction="sum")) == 0.0


def test_approx_ndcg_approaches_ndcg_and_listnet_normalize_is_a_ratio():
    y = np.array([[2.0, 0.0, 1.0, 3.0]])
    s = np.array([[0.1, 0.9, 0.5, 1.4]])
    # T → 0: approximate ranks become the true ranks (2, 4, 3, 1)
    rank = np.array([4.0, 2.0, 3.0, 1.0])
    ndcg = np.sum((2**y - 1) / np.log2(1 + rank)) / ideal_dcg(y[0])
    np.testing.assert_allclose(lk.approx_ndcg(y, s, temperature=1e-4), 1 - ndcg, rtol=1e-12)
    p = y / y.sum()
    np.testing.assert_allclose(
        lk.listnet(y, s, target="normalize"), -np.sum(p * (s - logsumexp(s[0]))), rtol=1e-12
    )


# ====================================================================== anchors
def _pairs(y, s):
    return [(s[i], s[j]) for i in valid_items(y) for j in valid_items(y) if y[i] > y[j]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("row", [0, 1, 5])
def test_torch_margin_ranking_and_logistic_pairs(dtype, row):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rtol = 1e-6 if dtype == "float32" else 1e-12
    y, s = LABELS[row : row + 1], SMOOTH_SCORES[row : row + 1].astype(dtype)
    hi, lo = (torch.tensor(np.array(v)) for v in zip(*_pairs(y[0], s[0]), strict=True))
    ones = torch.ones_like(hi)
    for margin in (1.0, 0.3):
        ours = lk.pairwise_hinge(y, s, margin=margin, reduction="sum")
        theirs = F.margin_ranking_loss(hi, lo, ones, margin=margin, reduction="sum")
        np.testing.assert_allclose(float(ours), float(theirs), rtol=rtol)
        ours = lk.pairwise_hinge(y, s, margin=margin, normalize_pairs=True)
        theirs = F.margin_ranking_loss(hi, lo, ones, margin=margin)
        np.testing.assert_allclose(float(ours), float(theirs), rtol=rtol)
    ours = lk.pairwise_logistic(y, s, reduction="sum")
    theirs = F.binary_cross_entropy_with_logits(hi - lo, ones, reduction="sum")
    np.testing.assert_allclose(float(ours), float(theirs), rtol=rtol)


def test_torch_soft_target_cross_entropy_is_listnet():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for row in (0, 1, 5):
        v = valid_items(LABELS[row])
        logits = torch.tensor(SMOOTH_SCORES[row, v], requires_grad=True)
        target = torch.softmax(torch.tensor(LABELS[row, v]), dim=0)
        theirs = F.cross_entropy(logits[None], target[None])
        (g_theirs,) = torch.autograd.grad(theirs, logits)
        scores = torch.tensor(SMOOTH_SCORES[row : row + 1], requires_grad=True)
        ours = lk.listnet(torch.tensor(LABELS[row : row + 1]), scores)
        (g_ours,) = torch.autograd.grad(ours, scores)
        np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-12)
        np.testing.assert_allclose(g_ours[0, v].numpy(), g_theirs.numpy(), rtol=1e-10, atol=1e-15)


def test_sklearn_ndcg_anchors_approx_ndcg_and_lambdarank_weights():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    ndcg_score = sklearn_metrics.ndcg_score
    # binary relevance: 2^y - 1 = y, sklearn's linear gain
    y = np.array([[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
    s = np.array([[0.2, 1.5, -0.3, 0.9, -1.1, 0.4]])
    exact = ndcg_score(y, s)
    np.testing.assert_allclose(
        1.0 - float(lk.approx_ndcg(y, s, temperature=1e-5)), exact, rtol=1e-10
    )
    # LambdaRank weight of a pair = |ΔNDCG| when the two items swap ranks
    total = 0.0
    for i in range(6):
        for j in range(6):
            if y[0, i] > y[0, j]:
                swapped = s.copy()
                swapped[0, [i, j]] = swapped[0, [j, i]]
                delta = abs(exact - ndcg_score(y, swapped))
                total += delta * softplus(-(s[0, i] - s[0, j])) / LN2
    ours = float(lk.lambda_loss(y, s, weighting="lambdarank"))
    np.testing.assert_allclose(ours, total, rtol=1e-12)


# ====================================================================== tracing
def test_jax_jit_agrees_with_eager():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    y, s = jnp.asarray(LABELS), jnp.asarray(SCORES)
    for name, params, _, _ in CASES:
        fn = lk.get(name)
        eager = fn(y, s, **params)
        value, grad = jax.jit(jax.value_and_grad(lambda t, f=fn, p=params: f(y, t, **p)))(s)
        np.testing.assert_allclose(float(value), float(eager), rtol=1e-12, err_msg=name)
        assert np.all(np.isfinite(np.asarray(grad)))


def test_tf_function_jit_compile_agrees_with_eager():
    tf = pytest.importorskip("tensorflow")
    y, s = tf.constant(LABELS), tf.constant(SCORES)

    @tf.function(jit_compile=True)
    def run(t):
        return tf.stack([lk.get(name)(y, t) for name in NAMES])

    values = run(s)
    for k, name in enumerate(NAMES):
        eager = lk.get(name)(y, s)
        np.testing.assert_allclose(values[k].numpy(), eager.numpy(), rtol=1e-12, err_msg=name)


# ====================================================================== validation and names
@pytest.mark.parametrize(
    ("name", "params", "word"),
    [
        ("approx_ndcg", {"temperature": 0.0}, "temperature"),
        ("approx_ndcg", {"temperature": -1.0}, "temperature"),
        ("pairwise_hinge", {"margin": -0.5}, "margin"),
        ("lambda_loss", {"weighting": "ndcg"}, "weighting"),
        ("lambda_loss", {"mu": -1.0}, "mu"),
        ("lambda_loss", {"sigma": 0.0}, "sigma"),
        ("listnet", {"target": "uniform"}, "target"),
        ("listmle", {"axis": 2}, "axis"),
        ("pairwise_logistic", {"reduction": "avg"}, "reduction"),
    ],
)
def test_invalid_parameters_raise(name, params, word):
    with pytest.raises(ValueError, match=word):
        lk.get(name)(LABELS, SCORES, **params)


@pytest.mark.parametrize("name", NAMES)
def test_bad_shapes_and_nan_raise(name):
    fn = lk.get(name)
    with pytest.raises(ValueError, match="does not match"):
        fn(LABELS[:, :3], SCORES)
    with pytest.raises(ValueError, match="NaN"):
        fn(LABELS, np.where(LABELS > 2, np.nan, SCORES))
    with pytest.raises(TypeError, match="floating"):
        fn(LABELS, SCORES.astype(int))


ALIASES = {
    "ranknet": "pairwise_logistic",
    "pairwise_logistic_loss": "pairwise_logistic",
    "pairwise_hinge_loss": "pairwise_hinge",
    "listnet_loss": "listnet",
    "listmle_loss": "listmle",
    "approx_ndcg_loss": "approx_ndcg",
    "lambdaloss": "lambda_loss",
}


def test_names_aliases_and_metadata():
    for name in NAMES:
        assert name in lk.names() and lk.get(name) is getattr(lk, name)
        info = lk.info(name)
        assert info.family == "ranking" and info.kind == "axis" and info.references
    for alias, canonical in ALIASES.items():
        assert lk.get(alias) is lk.get(canonical)
    assert lk.info("approx_ndcg").properties["bounded"] is True
