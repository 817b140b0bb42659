"""Bad input gets a clear error naming the argument, on every backend; value checks switch off."""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk

P = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
LOGITS = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
LABELS = np.array([2, 1])


def _cases(b):
    """(callable, exception type, message fragment) for every documented bad input."""
    f = b.array
    return {
        "shape mismatch": (
            lambda: lk.mean_squared_error(f(np.zeros(4)), f(np.zeros((4, 1)))),
            ValueError,
            "add a trailing axis to y_true",
        ),
        "shape mismatch cce": (
            lambda: lk.categorical_crossentropy(f(np.eye(2)), f(P)),
            ValueError,
            "does not match y_pred of shape (2, 3)",
        ),
        "integer y_pred": (
            lambda: lk.binary_crossentropy(f(np.array([0.0, 1.0])), f(np.array([0, 1]))),
            TypeError,
            "y_pred must be a floating-point array",
        ),
        "float labels": (
            lambda: lk.sparse_categorical_crossentropy(f(np.array([0.5, 1.0])), f(P)),
            ValueError,
            "y_true must hold integer class indices",
        ),
        "label out of range": (
            lambda: lk.sparse_categorical_crossentropy(f(np.array([0, 3])), f(P)),
            ValueError,
            "class indices in [0, 3)",
        ),
        "negative label": (
            lambda: lk.sparse_categorical_crossentropy(f(np.array([-1, 0])), f(P)),
            ValueError,
            "found labels in [-1, 0]",
        ),
        "sparse label shape": (
            lambda: lk.sparse_categorical_crossentropy(f(np.array([0, 1, 2])), f(P)),
            ValueError,
            "sparse labels must have shape (2,)",
        ),
        "probabilities above 1": (
            lambda: lk.binary_crossentropy(f(np.array([0.0, 1.0])), f(np.array([0.5, 3.0]))),
            ValueError,
            "pass from_logits=True",
        ),
        "probabilities below 0": (
            lambda: lk.sparse_categorical_crossentropy(f(LABELS), f(LOGITS)),
            ValueError,
            "y_pred (probabilities, from_logits=False) must lie in [0, 1]",
        ),
        "rows not summing to 1": (
            lambda: lk.categorical_crossentropy(f(np.eye(3)[[0, 1]]), f(P * 0.5)),
            ValueError,
            "rows must sum to 1",
        ),
        "binary targets outside [0, 1]": (
            lambda: lk.binary_crossentropy(f(np.array([0.0, 2.0])), f(np.array([0.5, 0.5]))),
            ValueError,
            "y_true (targets) must lie in [0, 1]",
        ),
        "unknown reduction": (
            lambda: lk.mean_squared_error(f(P), f(P), reduction="avg"),
            ValueError,
            "reduction must be one of 'mean', 'sum', 'none', 'sum_over_batch_size'",
        ),
        "normalizer with sum": (
            lambda: lk.mean_squared_error(f(P), f(P), reduction="sum", normalizer=3),
            ValueError,
            "normalizer replaces the denominator of reduction='mean'",
        ),
        "negative normalizer": (
            lambda: lk.mean_squared_error(f(P), f(P), normalizer=-1.0),
            ValueError,
            "normalizer must be a non-negative number",
        ),
        "negative weight": (
            lambda: lk.mean_squared_error(f(P), f(P), sample_weight=f(np.array([1.0, -2.0]))),
            ValueError,
            "sample_weight must be non-negative",
        ),
        "NaN weight": (
            lambda: lk.mean_squared_error(f(P), f(P), sample_weight=f(np.array([1.0, np.nan]))),
            ValueError,
            "sample_weight contains NaN",
        ),
        "mask shape": (
            lambda: lk.mean_squared_error(f(P), f(P), mask=f(np.ones((2, 2), bool))),
            ValueError,
            "mask of shape (2, 2) does not fit the unreduced loss of shape (2, 3)",
        ),
        "weight shape": (
            lambda: lk.mean_squared_error(f(P), f(P), sample_weight=f(np.ones(5))),
            ValueError,
            "sample_weight of shape (5,) does not fit",
        ),
        "NaN prediction": (
            lambda: lk.mean_squared_error(f(P), f(np.array([[np.nan, 0, 0], [0, 0, 0.0]]))),
            ValueError,
            "y_pred contains NaN",
        ),
        "NaN target": (
            lambda: lk.binary_crossentropy(f(np.array([np.nan, 1.0])), f(np.array([0.5, 0.5]))),
            ValueError,
            "y_true contains NaN",
        ),
        "class_weight length": (
            lambda: lk.sparse_categorical_crossentropy(f(LABELS), f(P), class_weight=f(np.ones(2))),
            ValueError,
            "class_weight must have one entry per class, shape (3,)",
        ),
        "negative class_weight": (
            lambda: lk.categorical_crossentropy(
                f(np.eye(3)[[0, 1]]), f(P), class_weight=f(np.array([1.0, -1.0, 1.0]))
            ),
            ValueError,
            "class_weight must be non-negative",
        ),
        "label_smoothing range": (
            lambda: lk.binary_crossentropy(f(P), f(P), label_smoothing=1.5),
            ValueError,
            "label_smoothing must be in [0.0, 1.0]",
        ),
        "axis range": (
            lambda: lk.categorical_crossentropy(f(P), f(P), axis=2),
            ValueError,
            "axis=2 is out of range",
        ),
        "pos_weight shape": (
            lambda: lk.binary_crossentropy(
                f(P), f(LOGITS), from_logits=True, pos_weight=f(np.ones(2))
            ),
            ValueError,
            "pos_weight of shape (2,) must broadcast",
        ),
        "non-boolean mask": (
            lambda: lk.mean_squared_error(f(P), f(P), mask=f(np.array([0.5, 1.0]))),
            ValueError,
            "mask must be boolean",
        ),
    }


CASE_NAMES = list(_cases(type("B", (), {"array": staticmethod(np.asarray)})).keys())


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_input_raises_a_clear_error(backend, case):
    call, error, fragment = _cases(backend)[case]
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value)


VALUE_CASES = [
    "float labels",
    "label out of range",
    "negative label",
    "probabilities above 1",
    "rows not summing to 1",
    "binary targets outside [0, 1]",
    "negative weight",
    "NaN weight",
    "NaN prediction",
    "negative class_weight",
]


@pytest.mark.parametrize("case", VALUE_CASES)
def test_value_checks_switch_off_without_crashing(backend, case):
    call, _, _ = _cases(backend)[case]
    with lk.validation(False):
        call()  # unspecified value, but no error and no framework crash
    with pytest.raises(ValueError):
        call()


def test_set_validation_returns_previous_and_context_restores():
    assert lk.set_validation(False) is True
    try:
        with lk.validation(True), pytest.raises(ValueError):
            lk.binary_crossentropy(np.array([1.0]), np.array([2.0]))
        lk.binary_crossentropy(np.array([1.0]), np.array([2.0]))  # off again after the block
    finally:
        assert lk.set_validation(True) is False


def test_structural_checks_run_with_validation_off():
    with lk.validation(False), pytest.raises(ValueError, match="reduction must be one of"):
        lk.mean_squared_error(P, P, reduction="avg")


def test_unknown_name_lists_close_matches():
    with pytest.raises(KeyError, match="binary_crossentropy"):
        lk.get("binary_crossentropyy")


def test_unsupported_input_type():
    with pytest.raises(TypeError, match="cannot compute with an input of type"):
        lk.mean_squared_error(P, object())
