"""Parity with ``sklearn.metrics.log_loss`` (binary and multiclass, with ``sample_weight``).

``log_loss`` is a weighted mean over samples, ``Σ w ℓ / Σ w``: losskit's ``reduction="mean"``
with ``sample_weight``. sklearn clips probabilities to the dtype's epsilon and checks that rows
sum to 1, so the comparison uses interior probabilities with exactly normalised rows. It runs
losskit on every backend (the result converted back to NumPy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

metrics = pytest.importorskip("sklearn.metrics")

import losskit as lk  # noqa: E402

#: sklearn computes in float64 from the given (possibly float32) probabilities.
TOL = {"float32": {"rtol": 2e-6, "atol": 1e-7}, "float64": {"rtol": 1e-12, "atol": 1e-14}}


def _binary(dtype: str, n: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(40)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    p = rng.uniform(0.02, 0.98, n).astype(dtype)
    w = rng.uniform(0.1, 3.0, n)
    return y, p, w


def _multiclass(dtype: str, n: int = 10, k: int = 4) -> tuple:
    rng = np.random.default_rng(41)
    labels = rng.integers(0, k, n)
    labels[:k] = np.arange(k)  # every class present (sklearn infers the classes)
    p = rng.dirichlet(np.full(k, 3.0), n) * 0.9 + 0.1 / k  # interior
    p = p.astype(dtype)
    p = p / p.sum(axis=1, keepdims=True)  # normalised in the input dtype
    w = rng.uniform(0.1, 3.0, n)
    return labels, p, w


def _loss(backend: Any, fn: Any, y: np.ndarray, p: np.ndarray, dtype: str, **kwargs: Any) -> float:
    args = {
        k: backend.array(v, dtype) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    out = fn(backend.array(y), backend.array(p, dtype), **args)
    return float(backend.to_numpy(out))


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_log_loss(backend: Any, dtype: str, weighted: bool) -> None:
    y, p, w = _binary(dtype)
    sample_weight = w if weighted else None
    ref = metrics.log_loss(y, p, sample_weight=sample_weight, labels=[0, 1])
    ours = _loss(
        backend, lk.binary_crossentropy, y.astype(dtype), p, dtype, sample_weight=sample_weight
    )
    assert ours == pytest.approx(ref, rel=TOL[dtype]["rtol"], abs=TOL[dtype]["atol"])


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_log_loss_as_two_class_distribution(
    backend: Any, dtype: str, weighted: bool
) -> None:
    """The (1 - p, p) columns as a 2-class categorical problem give the same number."""
    y, p, w = _binary(dtype)
    sample_weight = w if weighted else None
    two = np.stack([1 - p, p], axis=1)
    ref = metrics.log_loss(y, two, sample_weight=sample_weight)
    onehot = np.eye(2, dtype=dtype)[y]
    ours = _loss(
        backend,
        lk.categorical_crossentropy,
        onehot.astype(dtype),
        two,
        dtype,
        sample_weight=sample_weight,
    )
    assert ours == pytest.approx(ref, rel=TOL[dtype]["rtol"], abs=TOL[dtype]["atol"])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_multiclass_log_loss(backend: Any, dtype: str, weighted: bool, sparse: bool) -> None:
    labels, p, w = _multiclass(dtype)
    sample_weight = w if weighted else None
    ref = metrics.log_loss(labels, p, sample_weight=sample_weight)
    if sparse:
        ours = _loss(
            backend,
            lk.sparse_categorical_crossentropy,
            labels,
            p,
            dtype,
            sample_weight=sample_weight,
        )
    else:
        onehot = np.eye(p.shape[1], dtype=dtype)[labels]
        ours = _loss(
            backend, lk.categorical_crossentropy, onehot, p, dtype, sample_weight=sample_weight
        )
    assert ours == pytest.approx(ref, rel=TOL[dtype]["rtol"], abs=TOL[dtype]["atol"])


def test_weights_change_the_mean() -> None:
    """The weighted and unweighted sklearn numbers differ, and losskit follows each."""
    labels, p, w = _multiclass("float64")
    plain = metrics.log_loss(labels, p)
    weighted = metrics.log_loss(labels, p, sample_weight=w)
    assert not np.isclose(plain, weighted, rtol=1e-3)
    ours = lk.sparse_categorical_crossentropy(labels, p, sample_weight=w)
    assert float(ours) == pytest.approx(weighted, rel=1e-12)
    assert float(lk.sparse_categorical_crossentropy(labels, p)) == pytest.approx(plain, rel=1e-12)
