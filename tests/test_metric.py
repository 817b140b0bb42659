"""Metric-learning losses against float64 formulas written from the papers, and their anchors:
torch.nn.functional, pytorch-metric-learning (pml) and optax.

The references below loop over anchors and pairs in float64, straight from the definitions; the
anchors' numbers always come from the anchor libraries themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy.special import logsumexp

import losskit as lk
from conftest import tolerance

# One batch shape (8, 5) throughout: JAX compiles each eager operation once per shape, so shared
# shapes keep this file fast.
RNG = np.random.default_rng(11)
X = RNG.normal(size=(8, 5))
LABELS = np.array([0, 0, 1, 1, 1, 2, 3, 3])  # label 2 is a singleton: an anchor without positive
ZA = RNG.normal(size=(8, 5))
ZB = ZA + 0.5 * RNG.normal(size=(8, 5))
A, P, N = (RNG.normal(size=(8, 5)) for _ in range(3))
SIGNS = np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0, -1.0])
S1, S2 = RNG.normal(size=8), RNG.normal(size=8)
DIST = np.abs(RNG.normal(size=8)) * 1.5
KEEP = np.array([True, True, False, True, True, True, False, True])


# ---------------------------------------------------------------- float64 references
def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def contrastive_ref(x, labels, pos_margin=0.0, neg_margin=1.0, normalize=True, squared=False):
    """(N, N) loss matrix and the mask of pairs i ≠ j."""
    x = unit(x) if normalize else np.asarray(x, np.float64)
    n = len(x)
    loss, pairs = np.zeros((n, n)), ~np.eye(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            d = math.sqrt(sum((x[i, k] - x[j, k]) ** 2 for k in range(x.shape[1])))
            h = max(d - pos_margin, 0.0) if labels[i] == labels[j] else max(neg_margin - d, 0.0)
            loss[i, j] = 0.5 * h * h if squared else h
    return loss, pairs


def distance_ref(x, y, p, eps, mode):
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    if mode == "difference":
        d = d + eps
    if math.isinf(p):
        return np.max(np.abs(d), axis=-1)
    total = np.sum(np.abs(d) ** p, axis=-1) + (eps if mode == "sum" else 0.0)
    return total ** (1.0 / p)


def triplet_ref(a, pos, neg, margin=1.0, p=2.0, eps=1e-6, swap=False, mode="difference"):
    d_ap = distance_ref(a, pos, p, eps, mode)
    d_an = distance_ref(a, neg, p, eps, mode)
    if swap:
        d_an = np.minimum(d_an, distance_ref(pos, neg, p, eps, mode))
    return np.maximum(margin + d_ap - d_an, 0.0)


def margin_ranking_ref(x1, x2, y, margin=0.0):
    return np.maximum(margin - np.asarray(y) * (np.asarray(x1) - np.asarray(x2)), 0.0)


def cosine_embedding_ref(x1, x2, y, margin=0.0):
    x1, x2 = np.asarray(x1, np.float64), np.asarray(x2, np.float64)
    cos = np.sum(x1 * x2, -1) / np.sqrt(
        (np.sum(x1 * x1, -1) + 1e-12) * (np.sum(x2 * x2, -1) + 1e-12)
    )
    return np.where(np.asarray(y) == 1, 1.0 - cos, np.maximum(cos - margin, 0.0))


def hinge_embedding_ref(x, y, margin=1.0):
    return np.where(np.asarray(y) == 1, x, np.maximum(margin - np.asarray(x), 0.0))


def info_nce_ref(za, zb, temperature=0.1, negatives="all", symmetric=True, normalize=True):
    views = [unit(za), unit(zb)] if normalize else [np.asarray(za, float), np.asarray(zb, float)]
    n = len(za)
    out = np.zeros((n, 2))
    for v in (0, 1):
        own, other = views[v], views[1 - v]
        for i in range(n):
            candidates = [other[j] for j in range(n)]
            if negatives == "all":
                candidates += [own[j] for j in range(n) if j != i]
            logits = np.array([own[i] @ c for c in candidates]) / temperature
            out[i, v] = -(own[i] @ other[i]) / temperature + logsumexp(logits)
    return out if symmetric else out[:, 0]


def supcon_ref(x, labels, temperature=0.1):
    """Per-anchor loss and whether the anchor has a positive."""
    u = unit(x)
    n = len(u)
    loss, has = np.zeros(n), np.zeros(n, bool)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        positives = [j for j in others if labels[j] == labels[i]]
        if not positives:
            continue
        log_denominator = logsumexp([u[i] @ u[a] / temperature for a in others])
        loss[i] = -np.mean([u[i] @ u[p] / temperature - log_denominator for p in positives])
        has[i] = True
    return loss, has


def circle_ref(x, labels, m=0.25, gamma=256.0, weights_from=None):
    """Per-anchor circle loss; the α weights come from ``weights_from`` (default ``x``): the
    authors hold them constant in the gradient, so finite differences must too."""
    u, w = unit(x), unit(x if weights_from is None else weights_from)
    n = len(u)
    loss, valid = np.zeros(n), np.zeros(n, bool)
    for i in range(n):
        pos = [j for j in range(n) if j != i and labels[j] == labels[i]]
        neg = [j for j in range(n) if labels[j] != labels[i]]
        if not pos or not neg:
            continue
        lp = logsumexp(
            [-gamma * max(1 + m - w[i] @ w[j], 0) * (u[i] @ u[j] - (1 - m)) for j in pos]
        )
        ln = logsumexp([gamma * max(w[i] @ w[j] + m, 0) * (u[i] @ u[j] - m) for j in neg])
        loss[i], valid[i] = np.logaddexp(0.0, lp + ln), True
    return loss, valid


def rounded(x: np.ndarray, dtype: str) -> np.ndarray:
    return np.asarray(x).astype(dtype).astype(np.float64)


# ---------------------------------------------------------------- values on every backend
def _assert_close(got: Any, expected: Any, tol: dict[str, float], name: str = "") -> None:
    np.testing.assert_allclose(got, expected, err_msg=name, **tol)


def test_values_against_float64(backend, dtype):
    f, tol = backend.array, tolerance(dtype)
    x, za, zb = rounded(X, dtype), rounded(ZA, dtype), rounded(ZB, dtype)
    a, p, n = rounded(A, dtype), rounded(P, dtype), rounded(N, dtype)
    labels = f(LABELS)
    out = backend.to_numpy

    loss, pairs = contrastive_ref(x, LABELS)
    got = out(lk.contrastive(f(X, dtype), labels, reduction="none"))
    _assert_close(got, np.where(pairs, loss, 0.0), tol, "contrastive none")
    _assert_close(out(lk.contrastive(f(X, dtype), labels)), loss[pairs].mean(), tol, "mean")
    loss, pairs = contrastive_ref(x, LABELS, 0.2, 3.0, normalize=False, squared=True)
    got = lk.contrastive(
        f(X, dtype), labels, pos_margin=0.2, neg_margin=3.0, normalize=False, squared=True
    )
    _assert_close(out(got), loss[pairs].mean(), tol, "contrastive raw squared")

    # the triplet loss is a difference of two distances of size ~5: float32 keeps about
    # 4·ε₃₂·d of absolute accuracy, not 1e-7, where the difference is small
    difference = tol if dtype == "float64" else {"rtol": 1e-6, "atol": 3e-6}
    for kwargs in ({}, {"swap": True}, {"p": 1.0, "margin": 0.3}, {"p": 3.0}, {"p": math.inf}):
        ref = triplet_ref(a, p, n, **kwargs)
        got = lk.triplet_margin(f(A, dtype), f(P, dtype), f(N, dtype), reduction="none", **kwargs)
        _assert_close(out(got), ref, difference, f"triplet {kwargs}")
    ref = triplet_ref(a, p, n, p=4.0, eps=1e-3, mode="sum")
    got = lk.triplet_margin(
        f(A, dtype), f(P, dtype), f(N, dtype), p=4.0, eps=1e-3, eps_mode="sum", reduction="none"
    )
    _assert_close(out(got), ref, difference, "triplet eps_mode=sum")

    s1, s2, dist = rounded(S1, dtype), rounded(S2, dtype), rounded(DIST, dtype)
    got = lk.margin_ranking(f(S1, dtype), f(S2, dtype), f(SIGNS, dtype), margin=0.4)
    _assert_close(out(got), margin_ranking_ref(s1, s2, SIGNS, 0.4).mean(), tol, "margin_ranking")
    got = lk.cosine_embedding(f(A, dtype), f(P, dtype), f(SIGNS, dtype), margin=-0.2)
    ref = cosine_embedding_ref(a, p, SIGNS, -0.2)
    _assert_close(out(got), ref.mean(), tol, "cosine_embedding")
    got = lk.hinge_embedding(f(DIST, dtype), f(SIGNS, dtype), margin=1.2, reduction="none")
    _assert_close(out(got), hinge_embedding_ref(dist, SIGNS, 1.2), tol, "hinge_embedding")

    # softmax forms: ℓ = logsumexp - positive logit, both ~ 1/τ, so float32 keeps an absolute
    # accuracy of about (1/τ)·ε₃₂ rather than 1e-7 (the rounding of the logits themselves).
    soft = tol if dtype == "float64" else {"rtol": 1e-6, "atol": 2e-6}
    for kwargs in (
        {},
        {"negatives": "cross_view"},
        {"negatives": "cross_view", "symmetric": False},
        {"normalize": False, "temperature": 2.0},
    ):
        ref = info_nce_ref(za, zb, **kwargs)
        got = lk.info_nce(f(ZA, dtype), f(ZB, dtype), reduction="none", **kwargs)
        _assert_close(out(got), ref, soft, f"info_nce {kwargs}")

    loss, has = supcon_ref(x, LABELS, 0.1)
    got = lk.supervised_contrastive(f(X, dtype), labels, reduction="none")
    _assert_close(out(got), loss, soft, "supcon none")
    got = lk.supervised_contrastive(f(X, dtype), labels)
    _assert_close(out(got), loss[has].mean(), soft, "supcon mean over anchors with a positive")

    # γ = 256 multiplies similarities rounded to float32: absolute error ~ γ·ε₃₂ per logit.
    wide = tol if dtype == "float64" else {"rtol": 1e-6, "atol": 256 * 1.2e-7 * 4}
    loss, valid = circle_ref(x, LABELS)
    _assert_close(out(lk.circle(f(X, dtype), labels, reduction="none")), loss, wide, "circle")
    _assert_close(out(lk.circle(f(X, dtype), labels)), loss[valid].mean(), wide, "circle mean")
    loss, valid = circle_ref(x, LABELS, m=0.4, gamma=80.0)
    got = lk.circle(f(X, dtype), labels, m=0.4, gamma=80.0)
    _assert_close(out(got), loss[valid].mean(), wide, "circle m=0.4")


def test_half_precision_computes_in_float32():
    torch = pytest.importorskip("torch")
    x = torch.as_tensor(X, dtype=torch.float16)
    got = lk.supervised_contrastive(x, torch.as_tensor(LABELS))
    assert got.dtype == torch.float32
    loss, has = supcon_ref(X.astype(np.float16), LABELS)
    np.testing.assert_allclose(float(got), loss[has].mean(), rtol=1e-5)


# ---------------------------------------------------------------- gradients
def _numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        g[idx] = (f(up) - f(down)) / (2 * h)
    return g


def _mean_valid(loss: np.ndarray, valid: np.ndarray) -> float:
    return float(loss[valid].mean())


GRADIENT_CASES: dict[str, tuple[Callable[..., Any], Callable[[np.ndarray], float], np.ndarray]] = {
    "contrastive": (
        lambda b, t: lk.contrastive(t, b.array(LABELS), neg_margin=1.2),
        lambda x: contrastive_ref(x, LABELS, 0.0, 1.2)[0][~np.eye(8, dtype=bool)].mean(),
        X,
    ),
    "triplet": (
        lambda b, t: lk.triplet_margin(t, b.array(P), b.array(N), swap=True, p=3.0),
        lambda a: triplet_ref(a, P, N, swap=True, p=3.0).mean(),
        A,
    ),
    "cosine_embedding": (
        lambda b, t: lk.cosine_embedding(t, b.array(P), b.array(SIGNS), margin=-0.3),
        lambda a: cosine_embedding_ref(a, P, SIGNS, -0.3).mean(),
        A,
    ),
    "info_nce": (
        lambda b, t: lk.info_nce(t, b.array(ZB), temperature=0.2),
        lambda za: info_nce_ref(za, ZB, 0.2).mean(),
        ZA,
    ),
    "clip": (
        lambda b, t: lk.info_nce(t, b.array(ZB), temperature=0.2, negatives="cross_view"),
        lambda za: info_nce_ref(za, ZB, 0.2, "cross_view").mean(),
        ZA,
    ),
    "supervised_contrastive": (
        lambda b, t: lk.supervised_contrastive(t, b.array(LABELS), temperature=0.3),
        lambda x: _mean_valid(*supcon_ref(x, LABELS, 0.3)),
        X,
    ),
    "circle": (
        lambda b, t: lk.circle(t, b.array(LABELS), m=0.3, gamma=8.0),
        lambda x: _mean_valid(*circle_ref(x, LABELS, 0.3, 8.0, weights_from=X)),
        X,
    ),
}


@pytest.mark.parametrize("name", list(GRADIENT_CASES))
def test_gradients_against_finite_differences(autodiff_backend, name):
    """float64 autodiff against central differences of the float64 reference."""
    b = autodiff_backend
    ours, reference, x = GRADIENT_CASES[name]
    got = b.to_numpy(b.grad(lambda t: ours(b, t), b.array(x)))
    np.testing.assert_allclose(got, _numeric_gradient(reference, x), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- stress and degenerate batches
def _stress_inputs() -> dict[str, np.ndarray]:
    same = np.tile(RNG.normal(size=(1, 5)), (8, 1))
    zeros = np.zeros((8, 5))
    huge = RNG.normal(size=(8, 5)) * 1e6
    tiny = RNG.normal(size=(8, 5)) * 1e-30
    mixed = np.concatenate([zeros[:4], same[:4]])
    return {"same": same, "zeros": zeros, "huge": huge, "tiny": tiny, "mixed": mixed}


STRESS_LABELS = np.array([0, 0, 1, 1, 2, 2, 3, 3])


def _stress_losses(b: Any) -> dict[str, Callable[[Any], Any]]:
    labels = b.array(STRESS_LABELS)
    signs = b.array(SIGNS)
    return {
        "contrastive": lambda t: lk.contrastive(t, labels),
        "contrastive_raw": lambda t: lk.contrastive(t, labels, normalize=False, squared=True),
        "triplet": lambda t: lk.triplet_margin(t, t, t, swap=True),
        "triplet_p1": lambda t: lk.triplet_margin(t, t * 0.5, t, p=1.0),
        "triplet_p3_sum": lambda t: lk.triplet_margin(t, t, t * 2.0, p=3.0, eps_mode="sum"),
        "cosine_embedding": lambda t: lk.cosine_embedding(t, t * 0.5, signs),
        "info_nce": lambda t: lk.info_nce(t, t, temperature=1e-3),
        "info_nce_raw": lambda t: lk.info_nce(t, t * 0.5, normalize=False),
        "clip": lambda t: lk.info_nce(t, t, temperature=1e-3, negatives="cross_view"),
        "supcon": lambda t: lk.supervised_contrastive(t, labels, temperature=1e-3),
        "circle": lambda t: lk.circle(t, labels),
        "hinge_embedding": lambda t: lk.hinge_embedding(t[:, 0], signs),
        "margin_ranking": lambda t: lk.margin_ranking(t[:, 0], t[:, 1], signs),
    }


def _value_and_grad_functions(b: Any, fn: Callable[[Any], Any]) -> tuple[Callable, Callable]:
    """``fn`` and its gradient; on JAX compiled once (eager JAX dispatches op by op, which
    dominates the run time of a grid; test_jax_jit_agrees_with_eager ties jit to eager)."""
    if b.name == "jax":
        import jax

        return jax.jit(fn), jax.jit(jax.grad(fn))
    return fn, lambda t: b.grad(fn, t)


def test_stress_grid_values_and_gradients_are_finite(autodiff_backend):
    """float32, the harsher dtype (computations in float64 only gain range)."""
    b, dtype = autodiff_backend, "float32"
    for loss_name, loss in _stress_losses(b).items():
        fn, grad_fn = _value_and_grad_functions(b, loss)
        for input_name, x in _stress_inputs().items():
            if input_name == "huge" and loss_name in ("info_nce_raw", "contrastive_raw"):
                continue  # squared 1e6-scale distances: an honest 1e12, and logits of 1e12/τ
            label = f"{loss_name} on {input_name}"
            t = b.array(x, dtype)
            value = b.to_numpy(fn(t))
            grad = b.to_numpy(grad_fn(t))
            assert np.all(np.isfinite(value)), label
            assert np.all(np.isfinite(grad)), label


def test_identical_and_zero_embeddings_take_the_limits(backend):
    f, out = backend.array, backend.to_numpy
    same = np.ones((8, 5))
    # identical embeddings: positive pairs at distance 0, negatives at 0 (push loss = margin).
    # contrastive takes distances from the Gram matrix, d² = ‖a‖² + ‖b‖² - 2a·b (as pml and
    # torch.cdist do, O(N²) memory): a matmul may round a·b for two equal rows differently from
    # ‖a‖², and the square root turns that 1-ulp difference into d ≈ √ε (1.5e-8 in float64)
    got = out(lk.contrastive(f(same), f(LABELS), reduction="none"))
    expected = (LABELS[:, None] != LABELS[None, :]).astype(float)
    np.testing.assert_allclose(got, expected, atol=4 * math.sqrt(np.finfo(got.dtype).eps))
    # zero vectors have cosine 0: y = 1 costs 1, y = -1 costs max(0 - margin, 0)
    zeros = f(np.zeros((8, 5)))
    got = lk.cosine_embedding(zeros, zeros, f(SIGNS), reduction="none")
    np.testing.assert_allclose(out(got), np.where(SIGNS > 0, 1.0, 0.0))
    # identical triplets: torch's eps makes every distance eps·√D, and the loss the margin
    np.testing.assert_allclose(out(lk.triplet_margin(zeros, zeros, zeros)), 1.0, rtol=1e-12)
    # info_nce of zero vectors: every logit 0, so log(2N - 1)
    got = lk.info_nce(zeros, zeros, reduction="none")
    np.testing.assert_allclose(out(got), np.full((8, 2), math.log(15)), rtol=1e-12)


def _degenerate_cases(b: Any) -> dict[str, tuple[Callable[[Any, str], Any], np.ndarray]]:
    """Batches without a valid pair or anchor, and fully masked ones."""
    one = RNG.normal(size=(1, 5))
    four = RNG.normal(size=(8, 5))
    none_kept = b.array(np.zeros(8, bool))
    distinct = b.array(np.arange(8))
    same = b.array(np.zeros(8, np.int64))
    return {
        "contrastive_one_embedding": (
            lambda t, r: lk.contrastive(t, b.array(np.array([3])), reduction=r),
            one,
        ),
        "contrastive_all_masked": (
            lambda t, r: lk.contrastive(t, distinct, mask=none_kept, reduction=r),
            four,
        ),
        "supcon_no_positive": (
            lambda t, r: lk.supervised_contrastive(t, distinct, reduction=r),
            four,
        ),
        "supcon_all_masked": (
            lambda t, r: lk.supervised_contrastive(t, same, mask=none_kept, reduction=r),
            four,
        ),
        "circle_no_negative": (lambda t, r: lk.circle(t, same, reduction=r), four),
        "circle_no_positive": (lambda t, r: lk.circle(t, distinct, reduction=r), four),
        "info_nce_all_masked": (
            lambda t, r: lk.info_nce(t, t * 2.0, mask=none_kept, reduction=r),
            four,
        ),
        "clip_all_masked": (
            lambda t, r: lk.info_nce(
                t, t, negatives="cross_view", symmetric=False, mask=none_kept, reduction=r
            ),
            four,
        ),
        "triplet_all_masked": (
            lambda t, r: lk.triplet_margin(t, t * 2, t * 3, mask=none_kept, reduction=r),
            four,
        ),
    }


@pytest.mark.parametrize("reduction", ["mean", "sum", "sum_over_batch_size", "none"])
def test_no_valid_pair_gives_zero_with_zero_gradient(autodiff_backend, reduction):
    b = autodiff_backend
    for name, (fn, x) in _degenerate_cases(b).items():
        t = b.array(x)
        assert np.all(b.to_numpy(fn(t, reduction)) == 0.0), name
        if reduction != "none":
            grad = b.grad(lambda t, fn=fn: fn(t, reduction), t)
            assert np.all(b.to_numpy(grad) == 0.0), name


def _empty_batch_losses(b: Any) -> dict[str, tuple[Callable[..., Any], tuple[int, ...]]]:
    """Every batch loss on an empty batch of 5-d embeddings, with its unreduced shape."""
    labels, none = b.array(np.zeros(0, dtype=np.int64)), b.array(np.zeros(0, dtype=bool))
    weights = b.array(np.zeros(0))
    return {
        "contrastive": (lambda t, r: lk.contrastive(t, labels, reduction=r), (0, 0)),
        "contrastive_masked": (
            lambda t, r: lk.contrastive(t, labels, mask=none, sample_weight=weights, reduction=r),
            (0, 0),
        ),
        "supervised_contrastive": (
            lambda t, r: lk.supervised_contrastive(t, labels, mask=none, reduction=r),
            (0,),
        ),
        "circle": (lambda t, r: lk.circle(t, labels, sample_weight=weights, reduction=r), (0,)),
        "info_nce": (lambda t, r: lk.info_nce(t, 2 * t, reduction=r), (0, 2)),
        "info_nce_cross_view": (
            lambda t, r: lk.info_nce(
                t, t, negatives="cross_view", symmetric=False, mask=none, reduction=r
            ),
            (0,),
        ),
        "sigmoid_contrastive": (
            lambda t, r: lk.sigmoid_contrastive(t, 2 * t, mask=none, reduction=r),
            (0,),
        ),
        "triplet_margin": (lambda t, r: lk.triplet_margin(t, t * 2, t * 3, reduction=r), (0,)),
        "cosine_embedding": (
            lambda t, r: lk.cosine_embedding(t, 2 * t, weights, reduction=r),
            (0,),
        ),
    }


@pytest.mark.parametrize("reduction", ["mean", "sum", "sum_over_batch_size", "none"])
def test_empty_batch_gives_zero_with_zero_gradient(backend, reduction):
    b = backend
    empty = np.zeros((0, 5))
    for name, (fn, shape) in _empty_batch_losses(b).items():
        got = b.to_numpy(fn(b.array(empty), reduction))
        assert got.shape == (shape if reduction == "none" else ()), name
        assert np.all(got == 0.0), name
        if reduction != "none" and b.grad is not None:
            grad = b.grad(lambda t, fn=fn: fn(t, reduction), b.array(empty))
            assert grad is not None and b.to_numpy(grad).shape == empty.shape, name


def test_masked_rows_are_removed_from_the_batch(backend):
    """A (N,) mask is the same as dropping those embeddings (as anchors and as partners)."""
    f, out = backend.array, backend.to_numpy
    keep = KEEP
    x, labels = X[keep], LABELS[keep]
    for name, kwargs in (
        ("contrastive", {}),
        ("supervised_contrastive", {}),
        ("circle", {"gamma": 16.0}),
    ):
        fn = getattr(lk, name)
        masked = fn(f(X), f(LABELS), mask=f(keep), **kwargs)
        np.testing.assert_allclose(
            out(masked), out(fn(f(x), f(labels), **kwargs)), rtol=1e-12, err_msg=name
        )
    for kwargs in ({}, {"negatives": "cross_view"}, {"symmetric": False}):
        masked = lk.info_nce(f(ZA), f(ZB), mask=f(keep), **kwargs)
        dropped = lk.info_nce(f(ZA[keep]), f(ZB[keep]), **kwargs)
        np.testing.assert_allclose(out(masked), out(dropped), rtol=1e-12, err_msg=str(kwargs))
    masked = out(lk.supervised_contrastive(f(X), f(LABELS), mask=f(keep), reduction="none"))
    assert np.all(masked[~keep] == 0.0)


def test_masked_rows_get_zero_gradient(autodiff_backend):
    b = autodiff_backend
    keep = KEEP
    labels, mask = b.array(LABELS), b.array(keep)
    for name, fn in (
        ("contrastive", lambda t: lk.contrastive(t, labels, mask=mask)),
        ("supcon", lambda t: lk.supervised_contrastive(t, labels, mask=mask)),
        ("circle", lambda t: lk.circle(t, labels, mask=mask)),
    ):
        grad = b.to_numpy(b.grad(fn, b.array(X)))
        assert np.all(grad[~keep] == 0.0) and np.any(grad[keep] != 0.0), name
    zb = b.array(ZB)
    for kwargs in ({}, {"negatives": "cross_view"}):

        def loss(t: Any, kwargs: dict[str, str] = kwargs) -> Any:
            return lk.info_nce(t, zb, mask=mask, **kwargs)

        grad = b.to_numpy(b.grad(loss, b.array(ZA)))
        assert np.all(grad[~keep] == 0.0) and np.all(grad[keep] != 0.0), str(kwargs)


def test_sample_weight_and_pair_mask_follow_the_contract():
    loss, pairs = contrastive_ref(X, LABELS)
    w = RNG.uniform(0.5, 2.0, 8)
    weights = np.where(pairs, w[:, None], 0.0)
    got = lk.contrastive(X, LABELS, sample_weight=w)  # (N,): one weight per anchor row
    np.testing.assert_allclose(got, (weights * loss).sum() / weights.sum(), rtol=1e-12)
    pair_mask = RNG.random((8, 8)) > 0.3
    got = lk.contrastive(X, LABELS, mask=pair_mask, reduction="sum")
    np.testing.assert_allclose(got, loss[pair_mask & pairs].sum(), rtol=1e-12)
    got = lk.info_nce(ZA, ZB, sample_weight=w, reduction="none")  # (N,): one per pair
    np.testing.assert_allclose(got, info_nce_ref(ZA, ZB) * w[:, None], rtol=1e-12)
    got = lk.triplet_margin(A, P, N, sample_weight=w, normalizer=2.0)
    np.testing.assert_allclose(got, (triplet_ref(A, P, N) * w).sum() / 2.0, rtol=1e-12)


def test_mixed_inputs_follow_the_framework_array():
    torch = pytest.importorskip("torch")
    x2 = torch.as_tensor(S2, dtype=torch.float32).requires_grad_(True)
    got = lk.margin_ranking(S1, x2, SIGNS, margin=0.1, reduction="sum")
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    got.backward()
    expected = np.where(0.1 - SIGNS * (S1 - S2) > 0, SIGNS, 0.0)
    np.testing.assert_allclose(x2.grad.numpy(), expected)


# ---------------------------------------------------------------- tracing
def _traced_cases(xp_array: Callable[[np.ndarray], Any]) -> dict[str, tuple[Callable, np.ndarray]]:
    labels = xp_array(LABELS)
    p, n, signs = xp_array(P), xp_array(N), xp_array(SIGNS)
    keep = xp_array(KEEP)
    return {
        "contrastive": (lambda t: lk.contrastive(t, labels, mask=keep), X),
        "triplet_margin": (lambda t: lk.triplet_margin(t, p, n, swap=True), A),
        "margin_ranking": (lambda t: lk.margin_ranking(t[:, 0], t[:, 1], signs), A),
        "cosine_embedding": (lambda t: lk.cosine_embedding(t, p, signs), A),
        "hinge_embedding": (lambda t: lk.hinge_embedding(t[:, 0], signs), A),
        "info_nce": (lambda t: lk.info_nce(t, p, mask=keep), A),
        "supervised_contrastive": (lambda t: lk.supervised_contrastive(t, labels), X),
        "circle": (lambda t: lk.circle(t, labels, mask=keep), X),
    }


def test_jax_jit_agrees_with_eager():
    """All losses and their gradients in one jitted function (one compilation)."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    cases = _traced_cases(jnp.asarray)
    inputs = [jnp.asarray(x) for _, x in cases.values()]
    functions = [fn for fn, _ in cases.values()]

    def everything(*ts: Any) -> Any:
        return [(fn(t), jax.grad(fn)(t)) for fn, t in zip(functions, ts, strict=True)]

    traced = jax.jit(everything)(*inputs)
    for name, fn, t, (value, grad) in zip(cases, functions, inputs, traced, strict=True):
        np.testing.assert_allclose(float(value), float(fn(t)), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(grad, jax.grad(fn)(t), rtol=1e-10, atol=1e-14, err_msg=name)


def test_tf_function_jit_compile_agrees_with_eager():
    """All losses in one XLA-compiled tf.function (one compilation)."""
    tf = pytest.importorskip("tensorflow")
    cases = _traced_cases(tf.constant)
    inputs = [tf.constant(x) for _, x in cases.values()]
    functions = [fn for fn, _ in cases.values()]

    def everything(*ts: Any) -> Any:
        return [fn(t) for fn, t in zip(functions, ts, strict=True)]

    traced = tf.function(everything, jit_compile=True, autograph=False)(*inputs)
    for name, value, eager in zip(cases, traced, everything(*inputs), strict=True):
        np.testing.assert_allclose(float(value), float(eager), rtol=1e-12, err_msg=name)


def test_tf_function_with_unknown_batch_size():
    tf = pytest.importorskip("tensorflow")
    spec = (tf.TensorSpec([None, 5], tf.float64), tf.TensorSpec([None], tf.int64))

    @tf.function(input_signature=spec, autograph=False)
    def supcon(x: Any, labels: Any) -> Any:
        return lk.supervised_contrastive(x, labels)

    @tf.function(input_signature=spec, autograph=False)
    def contrastive(x: Any, labels: Any) -> Any:
        return lk.contrastive(x, labels)

    x, labels = tf.constant(X), tf.constant(LABELS)
    loss, has = supcon_ref(X, LABELS)
    np.testing.assert_allclose(float(supcon(x, labels)), loss[has].mean(), rtol=1e-12)
    loss, pairs = contrastive_ref(X, LABELS)
    np.testing.assert_allclose(float(contrastive(x, labels)), loss[pairs].mean(), rtol=1e-12)


# ---------------------------------------------------------------- validation
def test_invalid_inputs_raise_naming_the_argument():
    x, labels = X, LABELS
    cases: list[tuple[Callable[[], Any], type, str]] = [
        (lambda: lk.contrastive(x, labels, neg_margin=-1.0), ValueError, "neg_margin"),
        (lambda: lk.contrastive(x, labels, pos_margin=math.nan), ValueError, "pos_margin"),
        (lambda: lk.contrastive(x[0], labels), ValueError, "embeddings must be a 2-D"),
        (lambda: lk.contrastive(x[:, :0], labels), ValueError, "empty feature axis"),
        (lambda: lk.contrastive(x, labels[:5]), ValueError, r"labels must have .* \(8,\)"),
        (lambda: lk.contrastive(x, labels + 0.5), ValueError, "labels must hold integer"),
        (lambda: lk.contrastive(x.astype(int), labels), TypeError, "embeddings must be a float"),
        (lambda: lk.contrastive(x, labels, mask=np.ones(5, bool)), ValueError, "mask must have"),
        (lambda: lk.contrastive(x, labels, mask=np.full(8, 2)), ValueError, "mask must be bool"),
        (lambda: lk.contrastive(x, labels, reduction="avg"), ValueError, "reduction must be"),
        (lambda: lk.triplet_margin(A, P, N, margin=-0.5), ValueError, "margin"),
        (lambda: lk.triplet_margin(A, P, N, p=0.0), ValueError, "p must be"),
        (lambda: lk.triplet_margin(A, P, N, eps_mode="x"), ValueError, "eps_mode"),
        (lambda: lk.triplet_margin(A, P, N, p=math.inf, eps_mode="sum"), ValueError, "finite"),
        (lambda: lk.triplet_margin(A, P[:, :3], N), ValueError, "same feature size"),
        (lambda: lk.triplet_margin(A, P[:4], N), ValueError, "do not broadcast"),
        (lambda: lk.triplet_margin(A[0, 0], P, N), ValueError, "anchor must hold vectors"),
        (lambda: lk.margin_ranking(S1, S2, SIGNS * 2), ValueError, "y must hold labels -1 or 1"),
        (lambda: lk.margin_ranking(S1, S2, (SIGNS + 1) / 2), ValueError, "-1 or 1"),
        (lambda: lk.margin_ranking(S1, S2[:4], SIGNS), ValueError, "x2"),
        (lambda: lk.margin_ranking(S1, S2, SIGNS, margin="1"), TypeError, "margin"),
        (lambda: lk.cosine_embedding(A, P, SIGNS, margin=1.5), ValueError, "margin"),
        (lambda: lk.cosine_embedding(A, P, SIGNS[:4]), ValueError, "y of shape"),
        (lambda: lk.cosine_embedding(A, P, np.zeros(6)), ValueError, "-1 or 1"),
        (lambda: lk.hinge_embedding(DIST, SIGNS, margin=-1.0), ValueError, "margin"),
        (lambda: lk.hinge_embedding(DIST, np.ones(6) * 3), ValueError, "-1 or 1"),
        (lambda: lk.info_nce(ZA, ZB, temperature=0.0), ValueError, "temperature"),
        (lambda: lk.info_nce(ZA, ZB[:3]), ValueError, "same shape"),
        (lambda: lk.info_nce(ZA, ZB, negatives="some"), ValueError, "negatives"),
        (lambda: lk.info_nce(ZA, ZB, mask=np.ones(10, bool)), ValueError, "mask must have"),
        (lambda: lk.supervised_contrastive(x, labels, temperature=-1.0), ValueError, "temper"),
        (lambda: lk.supervised_contrastive(x, labels.astype(float) * np.nan), ValueError, "NaN"),
        (lambda: lk.circle(x, labels, gamma=0.0), ValueError, "gamma"),
        (lambda: lk.circle(x, labels, m=2.0), ValueError, "m must be"),
        (lambda: lk.circle(np.full((8, 5), np.nan), labels), ValueError, "embeddings contains"),
        (lambda: lk.info_nce(ZA, ZB, reduction="sum", normalizer=2.0), ValueError, "normalizer"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


def test_value_checks_are_skipped_while_tracing():
    jax = pytest.importorskip("jax")
    y = jax.numpy.asarray(SIGNS * 2)  # invalid, but not checkable while traced
    traced = jax.jit(lambda y: lk.margin_ranking(S1, S2, y))(y)
    assert np.isfinite(float(traced))


def test_registry_names_and_aliases():
    for alias, canonical in {
        "ntxent": "info_nce",
        "nt_xent": "info_nce",
        "supcon": "supervised_contrastive",
        "circle_loss": "circle",
        "triplet_margin_loss": "triplet_margin",
        "margin_ranking_loss": "margin_ranking",
        "cosine_embedding_loss": "cosine_embedding",
        "hinge_embedding_loss": "hinge_embedding",
        "contrastive_loss": "contrastive",
    }.items():
        assert lk.get(alias) is lk.get(canonical)
        assert lk.info(canonical).references
    assert lk.info("contrastive").kind == "pairs" and lk.info("circle").kind == "anchors"
    assert lk.info("triplet_margin").kind == "axis"


# ---------------------------------------------------------------- anchors: torch.nn.functional
TORCH_TOL = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12}}


def _torch_parity(
    ours: Callable,
    theirs: Callable,
    inputs: list[Any],
    dtype: str,
    tol: dict[str, float] | None = None,
) -> None:
    """Values and gradients (with respect to every float input) agree with torch."""
    tol = tol or TORCH_TOL[dtype]
    torch = pytest.importorskip("torch")
    results = []
    for fn in (ours, theirs):
        leaves = [torch.as_tensor(x).to(getattr(torch, dtype)).requires_grad_(True) for x in inputs]
        value = fn(*leaves)
        cot = torch.as_tensor(
            np.random.default_rng(3).uniform(0.5, 1.5, tuple(value.shape)), dtype=value.dtype
        )
        grads = torch.autograd.grad(value, leaves, grad_outputs=cot)
        results.append((value.detach().numpy(), [g.numpy() for g in grads]))
    (v1, g1), (v2, g2) = results
    assert v1.shape == v2.shape
    np.testing.assert_allclose(v1, v2, **tol)
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "options",
    [{}, {"swap": True}, {"p": 1.0}, {"p": 3.0, "margin": 0.4}, {"eps": 0.0, "margin": 2.0}],
)
def test_torch_triplet_margin(dtype, reduction, options):
    F = pytest.importorskip("torch").nn.functional
    _torch_parity(
        lambda a, p, n: lk.triplet_margin(a, p, n, reduction=reduction, **options),
        lambda a, p, n: F.triplet_margin_loss(a, p, n, reduction=reduction, **options),
        [A, P, N],
        dtype,
    )


def test_torch_triplet_margin_identical_embeddings(dtype):
    F = pytest.importorskip("torch").nn.functional
    same = np.tile(A[:1], (4, 1))
    _torch_parity(
        lambda a, p, n: lk.triplet_margin(a, p, n, swap=True),
        lambda a, p, n: F.triplet_margin_loss(a, p, n, swap=True),
        [same, same, same],
        dtype,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("margin", [0.0, 0.5, -0.3])
def test_torch_margin_ranking(dtype, reduction, margin):
    F = pytest.importorskip("torch").nn.functional
    torch = pytest.importorskip("torch")
    y = torch.as_tensor(SIGNS, dtype=getattr(torch, dtype))
    _torch_parity(
        lambda a, b: lk.margin_ranking(a, b, y, margin=margin, reduction=reduction),
        lambda a, b: F.margin_ranking_loss(a, b, y, margin=margin, reduction=reduction),
        [S1, S2],
        dtype,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.5])
def test_torch_cosine_embedding(dtype, reduction, margin):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    y = torch.as_tensor(SIGNS, dtype=getattr(torch, dtype))
    x1 = A.copy()
    x1[0] = 0.0  # a zero vector: cosine 0, finite gradients on both sides
    _torch_parity(
        lambda a, b: lk.cosine_embedding(a, b, y, margin=margin, reduction=reduction),
        lambda a, b: F.cosine_embedding_loss(a, b, y, margin=margin, reduction=reduction),
        [x1, P],
        dtype,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("margin", [1.0, 0.5, 0.0])
def test_torch_hinge_embedding(dtype, reduction, margin):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    y = torch.as_tensor(SIGNS, dtype=getattr(torch, dtype))
    _torch_parity(
        lambda d: lk.hinge_embedding(d, y, margin=margin, reduction=reduction),
        lambda d: F.hinge_embedding_loss(d, y, margin=margin, reduction=reduction),
        [DIST],
        dtype,
    )


def test_torch_clip_loss(dtype):
    """``negatives="cross_view"`` is CLIP's symmetric cross-entropy (open_clip's ClipLoss)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tau = 0.07

    def clip(za: Any, zb: Any) -> Any:
        logits = F.normalize(za, dim=1) @ F.normalize(zb, dim=1).T / tau
        target = torch.arange(len(za))
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

    _torch_parity(
        lambda a, b: lk.info_nce(a, b, temperature=tau, negatives="cross_view"),
        clip,
        [ZA, ZB],
        dtype,
    )

    def one_way(za: Any, zb: Any) -> Any:
        logits = F.normalize(za, dim=1) @ F.normalize(zb, dim=1).T / tau
        return F.cross_entropy(logits, torch.arange(len(za)), reduction="none")

    _torch_parity(
        lambda a, b: lk.info_nce(
            a, b, temperature=tau, negatives="cross_view", symmetric=False, reduction="none"
        ),
        one_way,
        [ZA, ZB],
        dtype,
    )


# ---------------------------------------------------------------- anchors: pml
def _pml() -> Any:
    return pytest.importorskip("pytorch_metric_learning")


def test_pml_contrastive_per_pair_and_its_reductions(dtype):
    _pml()
    torch = pytest.importorskip("torch")
    from pytorch_metric_learning import distances, losses, reducers

    x = torch.as_tensor(X).to(getattr(torch, dtype))
    labels = torch.as_tensor(LABELS)
    same = LABELS[:, None] == LABELS[None, :]
    positive, negative = same & ~np.eye(8, dtype=bool), ~same
    tol = TORCH_TOL[dtype]
    for options, distance in (
        ({}, None),
        ({"pos_margin": 0.1, "neg_margin": 0.8}, None),
        ({"neg_margin": 2.5, "normalize": False}, distances.LpDistance(normalize_embeddings=False)),
    ):
        pml_options = {k: v for k, v in options.items() if k != "normalize"}
        pml_options |= {"distance": distance} if distance is not None else {}
        ours = lk.contrastive(x, labels, reduction="none", **options).numpy()
        loss_dict = losses.ContrastiveLoss(reducer=reducers.DoNothingReducer(), **pml_options)(
            x, labels
        )
        # pml lists the pairs in row-major order, as boolean indexing does
        np.testing.assert_allclose(ours[positive], loss_dict["pos_loss"]["losses"], **tol)
        np.testing.assert_allclose(ours[negative], loss_dict["neg_loss"]["losses"], **tol)

        # pml's default AvgNonZeroReducer: mean of the non-zero losses of each kind, summed
        pos, neg = ours[positive], ours[negative]
        default = pos[pos > 0].mean() + neg[neg > 0].mean()
        theirs = losses.ContrastiveLoss(**pml_options)(x, labels)
        np.testing.assert_allclose(default, float(theirs), **tol)
        # MeanReducer: the two plain means summed = reduction="sum" with these pair weights
        weight = positive / positive.sum() + negative / negative.sum()
        ours_sum = lk.contrastive(x, labels, reduction="sum", sample_weight=weight, **options)
        theirs = losses.ContrastiveLoss(reducer=reducers.MeanReducer(), **pml_options)(x, labels)
        np.testing.assert_allclose(float(ours_sum), float(theirs), **tol)


def test_pml_contrastive_gradients(dtype):
    _pml()
    torch = pytest.importorskip("torch")
    from pytorch_metric_learning import losses, reducers

    same = LABELS[:, None] == LABELS[None, :]
    weight = torch.as_tensor(
        (same & ~np.eye(8, dtype=bool)) / (same.sum() - 8) + ~same / (~same).sum()
    )
    labels = torch.as_tensor(LABELS)
    _torch_parity(
        lambda x: lk.contrastive(x, labels, reduction="sum", sample_weight=weight.to(x.dtype)),
        lambda x: losses.ContrastiveLoss(reducer=reducers.MeanReducer())(x, labels),
        [X],
        dtype,
    )


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_pml_ntxent(dtype, temperature):
    _pml()
    torch = pytest.importorskip("torch")
    from pytorch_metric_learning import losses, reducers

    labels = torch.arange(8).repeat(2)
    # in float32 both round logits of size 1/τ ≈ 14: ~1e-6 absolute. pml's log(num/den)
    # also loses relative accuracy on tiny losses, where ours stays within ~1e-6 relative.
    tol = TORCH_TOL[dtype] if dtype == "float64" else {"rtol": 1e-5, "atol": 3e-6}
    _torch_parity(
        lambda a, b: lk.info_nce(a, b, temperature=temperature),
        lambda a, b: losses.NTXentLoss(temperature)(torch.cat([a, b]), labels),
        [ZA, ZB],
        dtype,
        tol,
    )
    za, zb = (torch.as_tensor(z).to(getattr(torch, dtype)) for z in (ZA, ZB))
    ours = lk.info_nce(za, zb, temperature=temperature, reduction="none").numpy()
    loss_dict = losses.NTXentLoss(temperature, reducer=reducers.DoNothingReducer())(
        torch.cat([za, zb]), labels
    )
    # pml lists anchors 0..2N-1: column 0 (the z_a anchors) first, then column 1
    np.testing.assert_allclose(ours.T.reshape(-1), loss_dict["loss"]["losses"], **tol)


@pytest.mark.parametrize("temperature", [0.1, 0.05])
def test_pml_supcon(dtype, temperature):
    _pml()
    torch = pytest.importorskip("torch")
    from pytorch_metric_learning import losses, reducers

    labels = torch.as_tensor(LABELS)  # with a singleton: pml's AvgNonZero drops it, as we do
    _torch_parity(
        lambda x: lk.supervised_contrastive(x, labels, temperature=temperature),
        lambda x: losses.SupConLoss(temperature)(x, labels),
        [X],
        dtype,
    )
    x = torch.as_tensor(X).to(getattr(torch, dtype))
    ours = lk.supervised_contrastive(x, labels, temperature=temperature, reduction="none")
    theirs = losses.SupConLoss(temperature, reducer=reducers.DoNothingReducer())(x, labels)
    np.testing.assert_allclose(ours.numpy(), theirs["loss"]["losses"], **TORCH_TOL[dtype])


@pytest.mark.parametrize("m, gamma", [(0.25, 256.0), (0.4, 80.0), (0.25, 128.0)])
def test_pml_circle(dtype, m, gamma):
    _pml()
    torch = pytest.importorskip("torch")
    from pytorch_metric_learning import losses, reducers

    labels = torch.as_tensor(LABELS)
    x = torch.as_tensor(X).to(getattr(torch, dtype))
    ours = lk.circle(x, labels, m=m, gamma=gamma, reduction="none").numpy()
    theirs = losses.CircleLoss(m=m, gamma=gamma, reducer=reducers.DoNothingReducer())(x, labels)
    theirs = theirs["loss"]["losses"].reshape(-1).detach().numpy()
    # both compute γ-scaled logits from float32 similarities: absolute agreement ~ γ·ε₃₂
    tol = TORCH_TOL[dtype] if dtype == "float64" else {"rtol": 1e-5, "atol": gamma * 1e-6}
    np.testing.assert_allclose(ours, theirs, **tol)
    assert np.all(theirs[ours > 0] > 0)  # no underflow here, so AvgNonZero = our mean
    if dtype == "float64":
        _torch_parity(
            lambda x: lk.circle(x, labels, m=m, gamma=gamma),
            lambda x: losses.CircleLoss(m=m, gamma=gamma)(x, labels),
            [X],
            dtype,
        )


# ---------------------------------------------------------------- anchors: optax
def test_optax_ntxent():
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    jax = pytest.importorskip("jax")
    labels = jnp.asarray(np.tile(np.arange(8), 2))

    def theirs(za: Any, zb: Any) -> Any:
        return optax.losses.ntxent(jnp.concatenate([za, zb]), labels, 0.07)

    def ours(za: Any, zb: Any) -> Any:
        return lk.info_nce(za, zb, temperature=0.07)

    za, zb = jnp.asarray(ZA), jnp.asarray(ZB)
    (v1, g1), (v2, g2) = (
        jax.jit(jax.value_and_grad(f, argnums=(0, 1)))(za, zb) for f in (ours, theirs)
    )
    np.testing.assert_allclose(float(v1), float(v2), rtol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("p", [2.0, 4.0])
def test_optax_triplet_margin(p):
    optax = pytest.importorskip("optax")
    jnp = pytest.importorskip("jax.numpy")
    jax = pytest.importorskip("jax")

    def theirs(a: Any) -> Any:
        return optax.losses.triplet_margin_loss(a, P, N, norm_degree=p, margin=1.5, eps=1e-6)

    def ours(a: Any) -> Any:
        return lk.triplet_margin(a, P, N, p=p, margin=1.5, eps_mode="sum", reduction="none")

    a = jnp.asarray(A)
    (v1, g1), (v2, g2) = (
        jax.jit(jax.value_and_grad(lambda t, f=f: f(t).sum()))(a) for f in (ours, theirs)
    )
    np.testing.assert_allclose(ours(a), theirs(a), rtol=1e-12)
    np.testing.assert_allclose(float(v1), float(v2), rtol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-10)
