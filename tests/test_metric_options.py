"""The metric-learning options and losses that reproduce other libraries, against those libraries:
``contrastive(distance=...)`` and ``grouped_info_nce`` against pytorch-metric-learning (pml) and
optax, ``multi_similarity`` against pml, ``circle`` with a separate reference set against Keras's
published test and pml (Keras itself in tests/test_metric_keras.py, slow: it imports
TensorFlow). Every expected number comes from the anchor library or from its published test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import losskit as lk

RNG = np.random.default_rng(23)
X = RNG.normal(size=(8, 5))
LABELS = np.array([0, 0, 1, 1, 1, 2, 3, 3])  # a group of three; label 2 is a singleton
REF = RNG.normal(size=(7, 5))
REF_LABELS = np.array([1, 0, 3, 1, 2, 0, 4])  # label 4 matches no anchor

TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}

#: optax's own ``ntxent`` test (optax/losses/_self_supervised_test.py): embeddings, and the
#: expected losses for three labellings / inputs.
OPTAX_YS = np.array([[-1.9540, 1.0780], [0.2380, -0.5703], [1.8745, -0.0195], [-0.6719, -1.9210]])
OPTAX_CASES = [
    (OPTAX_YS, [0, 0, 1, 1], 14.01032),
    (OPTAX_YS, [0, 0, 0, 1], 8.968544),  # a group of three
    (np.vstack([np.zeros((1, 2)), OPTAX_YS[1:]]), [0, 0, 1, 1], 9.2889),  # a zero embedding
]

#: Keras's own ``Circle`` test (keras/src/losses/losses_test.py), L2-normalised rows.
KERAS_LABELS = np.array([1, 1, 2, 2, 3])
KERAS_X = np.array(
    [
        [0.70014004, -0.42008403, 0.14002801, 0.56011203],
        [0.17609018, 0.70436073, -0.52827054, 0.44022545],
        [-0.34050261, 0.25537696, -0.68100522, 0.59587957],
        [0.32163376, -0.75047877, 0.53605627, -0.21442251],
        [0.51261459, -0.34174306, 0.17087153, 0.76892189],
    ]
)
KERAS_REF_LABELS = np.array([1, 1, 2, 2, 3, 4])
KERAS_REF = np.array(
    [
        [0.40824829, -0.54433105, 0.27216553, 0.68041382],
        [0.76376261, 0.10910895, -0.54554473, 0.32732684],
        [-0.74420841, 0.24806947, 0.49613894, -0.3721042],
        [0.52981294, -0.13245324, 0.79471941, -0.26490647],
        [0.54554473, -0.32732684, 0.10910895, 0.76376261],
        [-0.27216553, 0.68041382, 0.40824829, -0.54433105],
    ]
)
KERAS_REF_EXPECTED = [61.5844, 94.3465, 276.9344, 90.9873, 48.8963]


@pytest.fixture(params=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


def _pml() -> tuple[Any, Any]:
    torch = pytest.importorskip("torch")
    pytest.importorskip("pytorch_metric_learning")
    return torch, pytest.importorskip("pytorch_metric_learning.losses")


def _torch_parity(
    ours: Callable[..., Any], theirs: Callable[..., Any], inputs: list[np.ndarray], dtype: str
) -> None:
    """Values and gradients (with respect to every input) agree with the anchor's, in torch."""
    torch = pytest.importorskip("torch")
    results = []
    for fn in (ours, theirs):
        leaves = [torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True) for x in inputs]
        value = fn(*leaves)
        grads = torch.autograd.grad(value, leaves)
        results.append((value.detach().numpy(), [g.numpy() for g in grads]))
    (v1, g1), (v2, g2) = results
    np.testing.assert_allclose(v1, v2, **TOL[dtype])
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a, b, **TOL[dtype])


# ---------------------------------------------------------------- contrastive(distance=...)
def _pml_distance(name: str, normalize: bool) -> Any:
    distances = pytest.importorskip("pytorch_metric_learning.distances")
    if name == "squared_euclidean":
        return distances.LpDistance(power=2, normalize_embeddings=normalize)
    if normalize:
        return distances.CosineSimilarity()
    return distances.DotProductSimilarity(normalize_embeddings=False)


@pytest.mark.parametrize(
    ("distance", "normalize", "margins"),
    [
        ("squared_euclidean", True, {}),
        ("squared_euclidean", False, {"pos_margin": 0.5, "neg_margin": 6.0}),
        ("cosine", True, {"pos_margin": 0.9, "neg_margin": 0.1}),
        ("cosine", False, {"pos_margin": 1.5, "neg_margin": -0.4}),
    ],
)
def test_pml_contrastive_distances_per_pair_and_in_mean(dtype, distance, normalize, margins):
    torch, losses = _pml()
    reducers = pytest.importorskip("pytorch_metric_learning.reducers")
    pml_distance = _pml_distance(distance, normalize)
    x, labels = torch.tensor(X, dtype=getattr(torch, dtype)), torch.as_tensor(LABELS)
    options = {"distance": distance, "normalize": normalize, **margins}
    ours = lk.contrastive(x, labels, reduction="none", **options).numpy()
    pairs = losses.ContrastiveLoss(
        distance=pml_distance, reducer=reducers.DoNothingReducer(), **margins
    )(x, labels)
    same = LABELS[:, None] == LABELS[None, :]
    positive, negative = same & ~np.eye(8, dtype=bool), ~same
    np.testing.assert_allclose(ours[positive], pairs["pos_loss"]["losses"], **TOL[dtype])
    np.testing.assert_allclose(ours[negative], pairs["neg_loss"]["losses"], **TOL[dtype])
    # pml's MeanReducer (mean of the positive pairs + mean of the negative pairs): "sum" with
    # these pair weights; values and gradients
    weight = torch.as_tensor(positive / positive.sum() + negative / negative.sum())
    _torch_parity(
        lambda e: lk.contrastive(
            e, labels, reduction="sum", sample_weight=weight.to(e.dtype), **options
        ),
        lambda e: losses.ContrastiveLoss(
            distance=pml_distance, reducer=reducers.MeanReducer(), **margins
        )(e, labels),
        [X],
        dtype,
    )


def test_contrastive_refuses_a_bad_distance_and_margin():
    with pytest.raises(ValueError, match="distance must be one of"):
        lk.contrastive(X, LABELS, distance="manhattan")
    with pytest.raises(ValueError, match="neg_margin"):
        lk.contrastive(X, LABELS, neg_margin=-0.5)  # distances: margins ≥ 0
    # a similarity margin may be negative
    assert np.isfinite(lk.contrastive(X, LABELS, distance="cosine", neg_margin=-0.5))


# ---------------------------------------------------------------- grouped_info_nce
@pytest.mark.parametrize(("embeddings", "labels", "expected"), OPTAX_CASES)
def test_grouped_info_nce_reproduces_optax_published_test(embeddings, labels, expected):
    # optax asserts atol=1e-4 against these published numbers (given to 4-6 digits)
    got = float(lk.grouped_info_nce(embeddings, np.array(labels)))
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_grouped_info_nce_against_optax_values_and_gradients(temperature):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    optax = pytest.importorskip("optax")
    labels = jnp.asarray(LABELS)

    def ours(x: Any) -> Any:
        return lk.grouped_info_nce(x, labels, temperature=temperature)

    def theirs(x: Any) -> Any:
        return optax.losses.ntxent(x, labels, temperature)

    x = jnp.asarray(X)
    (v1, g1), (v2, g2) = (jax.jit(jax.value_and_grad(f))(x) for f in (ours, theirs))
    np.testing.assert_allclose(float(v1), float(v2), rtol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("temperature", [0.07, 0.3])
def test_grouped_info_nce_against_pml_per_pair_values_and_gradients(dtype, temperature):
    torch, losses = _pml()
    reducers = pytest.importorskip("pytorch_metric_learning.reducers")
    labels = torch.as_tensor(LABELS)
    # in float32 both round logits of size 1/τ ≈ 14: ~1e-6 absolute
    _torch_parity(
        lambda x: lk.grouped_info_nce(x, labels, temperature=temperature),
        lambda x: losses.NTXentLoss(temperature)(x, labels),
        [X],
        dtype,
    )
    x = torch.tensor(X, dtype=getattr(torch, dtype))
    ours = lk.grouped_info_nce(x, labels, temperature=temperature, reduction="none").numpy()
    pairs = losses.NTXentLoss(temperature, reducer=reducers.DoNothingReducer())(x, labels)
    a, p = (i.numpy() for i in pairs["loss"]["indices"][:2])
    np.testing.assert_allclose(ours[a, p], pairs["loss"]["losses"], **TOL[dtype])
    positive = (LABELS[:, None] == LABELS[None, :]) & ~np.eye(8, dtype=bool)
    assert len(a) == positive.sum() and np.all(ours[~positive] == 0)


def test_grouped_info_nce_of_two_views_is_info_nce():
    za, zb = X[:4], X[4:]
    labels = np.tile(np.arange(4), 2)
    np.testing.assert_allclose(
        float(lk.grouped_info_nce(X, labels, temperature=0.2)),
        float(lk.info_nce(za, zb, temperature=0.2)),
        rtol=1e-12,
    )


def test_grouped_info_nce_refuses_bad_arguments():
    with pytest.raises(ValueError, match="temperature"):
        lk.grouped_info_nce(X, LABELS, temperature=0.0)
    with pytest.raises(ValueError, match="labels must have one entry per embedding"):
        lk.grouped_info_nce(X, LABELS[:5])
    with pytest.raises(TypeError, match="normalize"):
        lk.grouped_info_nce(X, LABELS, normalize="yes")
    with pytest.raises(ValueError, match="embeddings must be a 2-D"):
        lk.grouped_info_nce(X[0], LABELS[:1])


# ---------------------------------------------------------------- circle with a reference set
def test_circle_reference_set_reproduces_keras_published_test():
    got = lk.circle(
        KERAS_X,
        KERAS_LABELS,
        ref_embeddings=KERAS_REF,
        ref_labels=KERAS_REF_LABELS,
        m=0.4,
        gamma=80.0,
        remove_diagonal=False,
        reduction="none",
    )
    np.testing.assert_allclose(got, KERAS_REF_EXPECTED, atol=1e-4)


@pytest.mark.parametrize(("m", "gamma"), [(0.4, 80.0), (0.25, 16.0)])
def test_circle_reference_set_against_pml_values_and_gradients(dtype, m, gamma):
    torch, losses = _pml()
    reducers = pytest.importorskip("pytorch_metric_learning.reducers")
    labels, ref_labels = torch.as_tensor(LABELS), torch.as_tensor(REF_LABELS)
    tol = TOL[dtype] if dtype == "float64" else {"rtol": 1e-5, "atol": gamma * 1e-6}
    x = torch.tensor(X, dtype=getattr(torch, dtype))
    ref = torch.tensor(REF, dtype=getattr(torch, dtype))
    ours = lk.circle(
        x,
        labels,
        ref_embeddings=ref,
        ref_labels=ref_labels,
        m=m,
        gamma=gamma,
        remove_diagonal=False,
        reduction="none",
    ).numpy()
    theirs = losses.CircleLoss(m=m, gamma=gamma, reducer=reducers.DoNothingReducer())(
        x, labels, ref_emb=ref, ref_labels=ref_labels
    )
    np.testing.assert_allclose(ours, theirs["loss"]["losses"].reshape(-1), **tol)
    if dtype == "float64":  # pml's AvgNonZeroReducer = our mean here (no anchor underflows)
        _torch_parity(
            lambda e, r: lk.circle(
                e,
                labels,
                ref_embeddings=r,
                ref_labels=ref_labels,
                m=m,
                gamma=gamma,
                remove_diagonal=False,
            ),
            lambda e, r: losses.CircleLoss(m=m, gamma=gamma)(
                e, labels, ref_emb=r, ref_labels=ref_labels
            ),
            [X, REF],
            dtype,
        )


def test_circle_refuses_an_incomplete_or_mismatched_reference_set():
    with pytest.raises(ValueError, match="ref_labels is missing"):
        lk.circle(X, LABELS, ref_embeddings=REF)
    with pytest.raises(ValueError, match="ref_embeddings is missing"):
        lk.circle(X, LABELS, ref_labels=REF_LABELS)
    with pytest.raises(ValueError, match="ref_labels must have one entry per ref_embeddings"):
        lk.circle(X, LABELS, ref_embeddings=REF, ref_labels=REF_LABELS[:3])
    with pytest.raises(ValueError, match="ref_embeddings must have the feature size"):
        lk.circle(X, LABELS, ref_embeddings=REF[:, :3], ref_labels=REF_LABELS)
    with pytest.raises(TypeError, match="remove_diagonal"):
        lk.circle(X, LABELS, remove_diagonal="no")


# ---------------------------------------------------------------- multi_similarity
@pytest.mark.parametrize(("alpha", "beta", "base"), [(2.0, 50.0, 0.5), (1.5, 10.0, 0.1)])
def test_multi_similarity_against_pml_values_and_gradients(dtype, alpha, beta, base):
    torch, losses = _pml()
    reducers = pytest.importorskip("pytorch_metric_learning.reducers")
    labels = torch.as_tensor(LABELS)
    _torch_parity(  # pml's MeanReducer: the mean over every anchor, as ours
        lambda x: lk.multi_similarity(x, labels, alpha=alpha, beta=beta, base=base),
        lambda x: losses.MultiSimilarityLoss(alpha, beta, base)(x, labels),
        [X],
        dtype,
    )
    x = torch.tensor(X, dtype=getattr(torch, dtype))
    ours = lk.multi_similarity(x, labels, alpha=alpha, beta=beta, base=base, reduction="none")
    theirs = losses.MultiSimilarityLoss(alpha, beta, base, reducer=reducers.DoNothingReducer())
    expected = theirs(x, labels)["loss"]["losses"].reshape(-1)
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), **TOL[dtype])


def test_multi_similarity_refuses_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        lk.multi_similarity(X, LABELS, alpha=0.0)
    with pytest.raises(ValueError, match="beta"):
        lk.multi_similarity(X, LABELS, beta=-1.0)
    with pytest.raises(TypeError, match="base must be a number"):
        lk.multi_similarity(X, LABELS, base="0.5")
