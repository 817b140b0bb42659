"""Class indices given to a loss that takes one target per class: never a silent wrong answer.

Integer labels ``(K,)`` against scores ``(K, K)`` broadcast along the class axis, so every row
would be scored against the same row of labels. Every registered classification, ranking or
distillation loss whose sample takes targets of ``y_pred``'s shape over a class (or list) axis
must either refuse such labels with a message naming its target argument, or read them as their
one-hot rows, exactly. (A feature axis may broadcast: one reference vector or box for every
prediction is a meaningful target for cosine similarity or a box loss.)
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import losskit as lk
from cases import FACTORIES, case

TARGET_PER_CLASS = sorted(
    name
    for name in FACTORIES
    if lk.info(name).kind == "axis"
    and lk.info(name).task in ("multiclass", "multilabel", "ranking", "distillation")
    and len(case(name).inputs) == 2
    and case(name).inputs[0].ndim >= 2
    and case(name).inputs[0].shape == case(name).inputs[1].shape
)


def _square_batch(name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(labels (K,), y_pred (K, K), params)``: as many rows as classes, the worst case."""
    sample = case(name)
    y_pred = sample.inputs[1]
    k = y_pred.shape[-1]
    flat = y_pred.reshape(-1, k)
    rows = flat[np.arange(k) % flat.shape[0]]
    labels = (3 * np.arange(k) + 1) % k
    return labels, rows, sample.params


def test_the_catalogue_has_losses_with_a_target_per_class():
    assert {"categorical_crossentropy", "kl_divergence", "generalized_crossentropy"} <= set(
        TARGET_PER_CLASS
    )
    assert {"listnet", "distillation_kl"} <= set(TARGET_PER_CLASS)


@pytest.mark.parametrize("column", [False, True], ids=["indices", "column"])
@pytest.mark.parametrize("name", TARGET_PER_CLASS)
def test_class_indices_are_refused_or_read_as_one_hot(name, column):
    loss = lk.get(name)
    labels, y_pred, params = _square_batch(name)
    target = next(iter(inspect.signature(loss).parameters))
    given = labels[:, None] if column else labels
    try:
        value = loss(given, y_pred, **params, reduction="none")
    except ValueError as error:
        assert target in str(error) and "axis" in str(error), str(error)
        return
    one_hot = np.eye(y_pred.shape[-1])[labels]
    np.testing.assert_allclose(value, loss(one_hot, y_pred, **params, reduction="none"), rtol=1e-12)


def test_categorical_crossentropy_points_to_its_sparse_variant():
    labels, y_pred, _ = _square_batch("categorical_crossentropy")
    with pytest.raises(ValueError, match="use sparse_categorical_crossentropy"):
        lk.categorical_crossentropy(labels, y_pred)


@pytest.mark.parametrize(
    "name",
    [
        "generalized_crossentropy",
        "symmetric_crossentropy",
        "normalized_crossentropy",
        "taylor_crossentropy",
        "bi_tempered_logistic",
    ],
)
def test_robust_losses_check_class_indices(name):
    loss = lk.get(name)
    _, y_pred, params = _square_batch(name)
    k = y_pred.shape[-1]
    with pytest.raises(ValueError, match=rf"class indices in \[0, {k}\)"):
        loss(np.full(k, k), y_pred, **params)
    with lk.validation(False):  # unchecked indices are clipped, never gathered out of range
        assert np.isfinite(loss(np.full(k, k), y_pred, **params))
