"""Mixed inputs: y_pred's library wins; targets, weights and masks of any library follow it."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import losskit as lk
import reference as ref
from conftest import ALL_BACKENDS, get_backend

LOGITS = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
LABELS = np.array([2, 1])


@pytest.mark.parametrize(("target_lib", "pred_lib"), list(itertools.permutations(ALL_BACKENDS, 2)))
def test_targets_from_another_library(target_lib, pred_lib):
    targets, preds = get_backend(target_lib), get_backend(pred_lib)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no conversion warnings either
        out = lk.sparse_categorical_crossentropy(
            targets.array(LABELS),
            preds.array(LOGITS),
            from_logits=True,
            sample_weight=targets.array(np.array([1.0, 3.0])),
        )
    if pred_lib != "numpy":
        assert (
            type(out).__module__.split(".")[0] == type(preds.array(LOGITS)).__module__.split(".")[0]
        )
    per_sample = ref.cce_logits(ref.one_hot(LABELS, 3), LOGITS)
    np.testing.assert_allclose(preds.to_numpy(out), (per_sample * [1, 3]).sum() / 4, rtol=1e-12)


def test_lists_and_scalars_become_numpy():
    assert lk.mean_squared_error(1.0, 3.0) == 4.0
    np.testing.assert_allclose(
        lk.binary_crossentropy([1, 0], [0.9, 0.1], reduction="none"), -np.log([0.9, 0.9])
    )
    np.testing.assert_allclose(
        lk.sparse_categorical_crossentropy([[2], [1]], LOGITS.tolist(), from_logits=True),
        ref.cce_logits(ref.one_hot(LABELS, 3), LOGITS).mean(),
    )


def test_torch_device_and_grad_follow_the_prediction():
    torch = pytest.importorskip("torch")
    z = torch.tensor(LOGITS, requires_grad=True)
    out = lk.sparse_categorical_crossentropy(LABELS, z, from_logits=True)
    assert out.device == z.device and out.requires_grad
