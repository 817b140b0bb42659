"""Bad input gets a clear error naming the argument, on every backend; value checks switch off."""

from __future__ import annotations

import asyncio
import inspect
import threading

import numpy as np
import pytest

import losskit as lk
from cases import case

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
        "infinite sample_weight": (
            lambda: lk.mean_squared_error(f(P), f(P), sample_weight=f(np.array([np.inf, 1.0]))),
            ValueError,
            "sample_weight must be finite",
        ),
        "infinite class_weight": (
            lambda: lk.categorical_crossentropy(
                f(np.eye(3)[[0, 1]]), f(P), class_weight=f(np.array([np.inf, 1.0, 1.0]))
            ),
            ValueError,
            "class_weight must be finite",
        ),
        "infinite pos_weight": (
            lambda: lk.binary_crossentropy(
                f(np.array([1.0, 0.0])), f(np.array([0.5, 0.5])), pos_weight=f(np.array(np.inf))
            ),
            ValueError,
            "pos_weight must be finite",
        ),
        "infinite alpha vector": (
            lambda: lk.categorical_focal_crossentropy(
                f(np.eye(3)[[0, 1]]), f(P), alpha=f(np.array([np.inf, 1.0, 1.0]))
            ),
            ValueError,
            "alpha must be finite",
        ),
        "negative normalizer array": (
            lambda: lk.mean_squared_error(f(P), f(P), normalizer=f(np.array(-3.0))),
            ValueError,
            "normalizer must be a non-negative number",
        ),
        "NaN normalizer array": (
            lambda: lk.mean_squared_error(f(P), f(P), normalizer=f(np.array(np.nan))),
            ValueError,
            "normalizer must be a non-negative number",
        ),
        "non-scalar normalizer array": (
            lambda: lk.mean_squared_error(f(P), f(P), normalizer=f(np.array([1.0, 2.0, 3.0]))),
            ValueError,
            "normalizer must be a non-negative number or a scalar array; got an array of shape",
        ),
        "string normalizer": (
            lambda: lk.mean_squared_error(f(P), f(P), normalizer="ten"),
            TypeError,
            "normalizer must be a non-negative number or a scalar array",
        ),
        "one-hot target above 1": (
            lambda: lk.categorical_hinge(f(np.array([[1.5, 0.0, 0.0]])), f(P[:1])),
            ValueError,
            "y_true (one-hot targets) must lie in [0, 1]",
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
    "infinite sample_weight",
    "infinite class_weight",
    "infinite pos_weight",
    "infinite alpha vector",
    "negative normalizer array",
    "NaN normalizer array",
    "one-hot target above 1",
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


def test_unsupported_input_type_names_the_argument():
    with pytest.raises(TypeError, match="y_pred must be a NumPy, PyTorch, JAX or TensorFlow array"):
        lk.mean_squared_error(P, object())


# ---------------------------------------------------------------------- the validation switch
def _bce_of_nan() -> object:
    return lk.binary_crossentropy(np.array([1.0]), np.array([np.nan]))


def _checks_on() -> bool:
    try:
        _bce_of_nan()
    except ValueError:
        return True
    return False


def _in_thread(function):
    found = []
    worker = threading.Thread(target=lambda: found.append(function()))
    worker.start()
    worker.join()
    return found[0]


def test_validation_block_in_one_thread_leaves_other_threads_checked():
    inside, release = threading.Event(), threading.Event()
    seen = []

    def unchecked():
        with lk.validation(False):
            inside.set()
            release.wait(10)
            seen.append(_checks_on())

    worker = threading.Thread(target=unchecked)
    worker.start()
    assert inside.wait(10)
    try:
        with pytest.raises(ValueError, match="y_pred contains NaN"):
            _bce_of_nan()
    finally:
        release.set()
        worker.join()
    assert seen == [False]


def test_overlapping_validation_blocks_in_two_threads_leave_checks_on():
    shared = lk.validation(False)  # one block object entered by both threads
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with shared:
            a_in.set()
            b_in.wait(10)
        seen["first after exit"] = _checks_on()
        a_out.set()

    def second():
        a_in.wait(10)
        with shared:
            b_in.set()
            a_out.wait(10)
            seen["second inside"] = _checks_on()
        seen["second after exit"] = _checks_on()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"first after exit": True, "second inside": False, "second after exit": True}
    assert _checks_on() and _in_thread(_checks_on)


def test_nested_validation_blocks_restore_each_setting():
    with lk.validation(False):
        assert not _checks_on()
        with lk.validation(True):
            assert _checks_on()
            with lk.validation(False):
                assert not _checks_on()
            assert _checks_on()
        assert not _checks_on()
    assert _checks_on()


def test_set_validation_is_the_default_of_every_thread_and_a_block_overrides_it():
    previous = lk.set_validation(False)
    try:
        assert not _in_thread(_checks_on)
        with lk.validation(True):
            assert _checks_on()
            assert not _in_thread(_checks_on)  # a block is this thread's only
    finally:
        assert lk.set_validation(previous) is False
    assert _in_thread(_checks_on)


def test_validation_block_in_an_asyncio_task_stays_in_that_task():
    async def unchecked(started, release):
        with lk.validation(False):
            started.set()
            await release.wait()
            return _checks_on()

    async def main():
        started, release = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(unchecked(started, release))
        await started.wait()
        outside = _checks_on()
        release.set()
        return outside, await task

    assert asyncio.run(main()) == (True, False)


@pytest.mark.parametrize("value", ["false", "False", 0, 1, None, np.array([True])])
def test_validation_switches_refuse_non_booleans(value):
    with pytest.raises(TypeError, match="enabled must be a bool"):
        lk.set_validation(value)
    with pytest.raises(TypeError, match="enabled must be a bool"):
        lk.validation(value)
    assert _checks_on()


def test_validation_switches_accept_numpy_bools():
    assert lk.set_validation(np.False_) is True
    try:
        assert not _checks_on()
    finally:
        assert lk.set_validation(True) is False
    with lk.validation(np.False_):
        assert not _checks_on()


# ---------------------------------------------------------------------- option types
def _options(accept):
    found = []
    for name in lk.names():
        if not lk.get(name).__module__.startswith("losskit."):
            continue  # losses registered by other tests
        for option, parameter in inspect.signature(lk.get(name)).parameters.items():
            if accept(option, parameter.default):
                found.append((name, option))
    return found


BOOLEAN_OPTIONS = _options(lambda option, default: isinstance(default, bool))
INTEGER_OPTIONS = _options(
    lambda option, default: (
        option == "ignore_index" or (isinstance(default, int) and not isinstance(default, bool))
    )
)


def _call(name, **params):
    c = case(name)
    return lk.get(name)(*c.inputs, **{**c.params, **params})


def test_the_catalogue_has_boolean_and_integer_options():
    assert len(BOOLEAN_OPTIONS) >= 40 and ("binary_crossentropy", "from_logits") in BOOLEAN_OPTIONS
    assert ("lovasz_hinge", "axis") in INTEGER_OPTIONS and ("ctc", "blank") in INTEGER_OPTIONS


@pytest.mark.parametrize(("name", "option"), BOOLEAN_OPTIONS)
@pytest.mark.parametrize("value", ["False", "true", 0, 1, None])
def test_every_boolean_option_refuses_non_booleans(name, option, value):
    with lk.validation(False), pytest.raises(TypeError, match=f"{option} must be a bool"):
        _call(name, **{option: value})
    with pytest.raises(TypeError, match=f"{option} must be a bool"):
        lk.Loss(name, **{option: value})


@pytest.mark.parametrize(("name", "option"), BOOLEAN_OPTIONS)
def test_every_boolean_option_takes_a_numpy_bool_as_its_python_bool(name, option):
    c = case(name)
    default = c.params.get(option, inspect.signature(lk.get(name)).parameters[option].default)
    expected = _call(name, **{option: default})
    np.testing.assert_array_equal(_call(name, **{option: np.bool_(default)}), expected)


def test_from_logits_string_is_refused_not_read_as_true():
    with pytest.raises(TypeError, match="from_logits must be a bool"):
        lk.binary_crossentropy([1.0], [0.9], from_logits="False")


def test_boolean_option_of_a_custom_loss_is_strict():
    @lk.loss(name="test_validation_flagged_square", replace=True)
    def flagged(y_true, y_pred, *, double=False):
        return (y_pred - y_true) ** 2 * (2.0 if double else 1.0)

    assert float(flagged(np.zeros(2), np.ones(2), double=np.True_)) == 2.0
    with pytest.raises(TypeError, match="double must be a bool"):
        flagged(np.zeros(2), np.ones(2), double="False")


@pytest.mark.parametrize(("name", "option"), INTEGER_OPTIONS)
@pytest.mark.parametrize("value", [1.5, float("nan"), "0", True])
def test_every_integer_option_refuses_non_integers(name, option, value):
    with pytest.raises(TypeError, match=f"{option} must be an int"):
        _call(name, **{option: value})


def test_segmentation_classes_must_be_integers():
    c = case("lovasz_softmax")
    with pytest.raises(TypeError, match="each entry of classes must be an int"):
        lk.lovasz_softmax(*c.inputs, **c.params, classes=[0, 1.5])


# ---------------------------------------------------------------------- probability rows
def _reads_probability_rows(name):
    info = lk.info(name)
    parameters = inspect.signature(lk.get(name)).parameters
    if "from_logits" not in parameters:
        return False
    if info.kind == "overlap":
        return parameters["mode"].default == "multiclass"
    return info.task == "multiclass" or name == "brier"


ROW_LOSSES = [
    n
    for n in lk.names()
    if lk.get(n).__module__.startswith("losskit.") and _reads_probability_rows(n)
]


def _probability_call(name, scale):
    rng = np.random.default_rng(3)
    segmentation = lk.info(name).kind == "overlap"
    shape = (2, 5, 3) if segmentation else (4, 3)
    z = rng.normal(size=shape)
    probabilities = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    labels = rng.integers(0, 3, shape[:-1])
    target = labels if name.startswith("sparse") else np.eye(3)[labels]
    params = {"mode": "multiclass"} if name == "brier" else {}
    return lambda: lk.get(name)(target, probabilities * scale, **params)


def test_every_multiclass_probability_loss_is_listed():
    expected = {"categorical_crossentropy", "categorical_focal_crossentropy", "poly_loss"}
    assert expected | {"lovasz_softmax", "brier", "kl_divergence"} <= set(ROW_LOSSES)


@pytest.mark.parametrize("name", ROW_LOSSES)
@pytest.mark.parametrize("scale", [0.5, 1.99 / 2])
def test_probability_rows_not_summing_to_one_are_refused_by_every_loss(name, scale):
    np.isfinite(_probability_call(name, 1.0)())  # valid rows pass
    with pytest.raises(ValueError, match="rows must sum to 1"):
        _probability_call(name, scale)()


# ---------------------------------------------------------------------- argument names
@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: lk.mean_squared_error([1.0], None), TypeError, "y_pred must be a NumPy"),
        (lambda: lk.mean_squared_error(None, [1.0]), TypeError, "y_true must hold numbers"),
        (
            lambda: lk.mean_squared_error([[1.0], [1.0, 2.0]], [[1.0], [2.0]]),
            ValueError,
            "y_true must be an array or a nested list of numbers with one rectangular shape",
        ),
        (
            lambda: lk.mean_squared_error([1.0], [[1.0], [1.0, 2.0]]),
            ValueError,
            "y_pred must be an array or a nested list of numbers with one rectangular shape",
        ),
        (lambda: lk.binary_crossentropy(["a"], [0.5]), TypeError, "y_true must hold numbers"),
        (lambda: lk.mean_squared_error([1.0], "abc"), TypeError, "y_pred must be a NumPy"),
        (lambda: lk.mean_squared_error([1.0], ["abc"]), TypeError, "y_pred must hold numbers"),
        (lambda: lk.beta_nll([1.0], [1], [1.0]), TypeError, "mean must be a floating-point"),
        (
            lambda: lk.beta_nll([1.0, 2.0], [1.0, 2.0, 3.0], [1.0]),
            ValueError,
            "y_true of shape (2,) does not match mean of shape (3,)",
        ),
        (lambda: lk.beta_nll([1.0], [np.nan], [1.0]), ValueError, "mean contains NaN"),
        (lambda: lk.crps_gaussian([1.0], [1], [1.0]), TypeError, "mu must be a floating-point"),
        (lambda: lk.crps_gaussian([1.0], None, [1.0]), TypeError, "mu must be a NumPy"),
        (
            lambda: lk.crps_gaussian([1.0], [[1.0], [1.0, 2.0]], [1.0]),
            ValueError,
            "mu must be an array",
        ),
        (lambda: lk.crps_ensemble([1.0], [[1, 2]]), TypeError, "ensemble must be a floating"),
        (lambda: lk.crps_ensemble([1.0], None), TypeError, "ensemble must be a NumPy"),
        (lambda: lk.info_nce(None, np.ones((2, 3))), TypeError, "z_a must be a NumPy"),
        (
            lambda: lk.triplet_margin(np.ones((2, 3)), np.ones((2, 3)), [[1.0], [1.0, 2.0]]),
            ValueError,
            "negative must be an array",
        ),
        (lambda: lk.ctc([[1]], None), TypeError, "logits must be a NumPy"),
        (
            lambda: lk.quantile([1.0], [1.0], quantiles="0.5"),
            TypeError,
            "quantiles must be a number or a sequence of numbers",
        ),
        (
            lambda: lk.quantile([[1.0]], [[1.0, 1.0]], quantiles=["0.1", "0.9"]),
            TypeError,
            "quantiles must be a number",
        ),
        (lambda: lk.gaussian_nll([1.0], [1.0], var="one"), TypeError, "var must hold numbers"),
    ],
)
def test_conversion_errors_name_the_argument(call, error, fragment):
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value)


@pytest.mark.parametrize("option", ["logit_scale", "bias"])
def test_string_sigmoid_contrastive_parameter_is_named_on_every_backend(backend, option):
    z = backend.array(np.eye(3))
    with pytest.raises(TypeError, match=f"{option} must hold numbers"):
        lk.sigmoid_contrastive(z, z, **{option: "ten"})


def test_numpy_quantile_levels_are_accepted_as_numbers():
    y, p = np.array([[0.0, 0.0]]), np.array([[1.0, -1.0]])
    out = lk.quantile(y, p, quantiles=np.array([np.float32(0.25), np.float32(0.75)]))
    assert float(out) == pytest.approx((0.75 * 1.0 + 0.75 * 1.0) / 2)
