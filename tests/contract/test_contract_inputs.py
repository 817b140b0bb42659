"""Bad inputs, for every registered loss: a ``ValueError`` or ``TypeError`` that names the
argument, never a silent answer; and with value checks off, never a crash inside a framework.

The bad inputs are derived from each loss's signature and sample: a string or a NaN for every
numeric option, a string for every boolean option, an unknown choice for every string option,
``None`` and NaN for every array input, an unknown reduction, weights that are negative or
infinite, masks that are not boolean, normalizers that are negative, NaN, not scalars or not
numbers, and a batch whose inputs disagree in length.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit as lk
from conftest import get_backend
from harness import NAMES, batch_inputs, batch_size, native, option_kinds, run, spec, to_numpy

CHECKED = ["numpy", "torch", "jax", "tensorflow"]


def _raises_naming(argument, call):
    with pytest.raises((ValueError, TypeError)) as caught:
        call()
    assert argument in str(caught.value), f"the error does not name {argument!r}: {caught.value}"


def _bad_option_values(kind):
    if kind == "bool":
        return ["False", 2, None]
    if kind in ("int", "float"):
        bad: list[object] = ["ten", float("nan")]
        return [*bad, 1.5] if kind == "int" else bad
    if kind == "str":
        return ["no-such-choice", 3]
    return []


def _option_cases():
    for name in NAMES:
        for option, kind in option_kinds(spec(name)).items():
            for value in _bad_option_values(kind):
                yield pytest.param(name, option, value, id=f"{name}-{option}={value!r}")


@pytest.mark.parametrize(("name", "option", "value"), list(_option_cases()))
def test_bad_option_raises_naming_it(name, option, value):
    s = spec(name)
    c = s.case()
    backend = get_backend("numpy")
    params = {**c.params, option: value}
    _raises_naming(option, lambda: run(s, backend, c.inputs, "float64", **params))


@pytest.mark.parametrize("backend_name", CHECKED)
@pytest.mark.parametrize("name", NAMES)
def test_none_or_nan_inputs_raise_naming_the_argument(name, backend_name):
    backend = get_backend(backend_name)
    s = spec(name)
    c = s.case()
    for index, argument in enumerate(s.inputs[: len(c.inputs)]):
        arrays = native(backend, c.inputs, "float64")
        arrays[index] = None
        _raises_naming(argument, lambda a=arrays: s.function(*a, **c.params))
        if np.asarray(c.inputs[index]).dtype.kind != "f":
            continue
        poisoned = [np.array(x, dtype=float) if i == index else x for i, x in enumerate(c.inputs)]
        poisoned[index].flat[0] = np.nan
        _raises_naming(argument, lambda p=poisoned: run(s, backend, p, "float64", **c.params))


@pytest.mark.parametrize("backend_name", CHECKED)
@pytest.mark.parametrize("name", NAMES)
def test_bad_contract_arguments_raise_naming_them(name, backend_name):
    backend = get_backend(backend_name)
    s = spec(name)
    c = s.case()
    shape = np.shape(
        to_numpy(backend, run(s, backend, c.inputs, "float64", **c.params, reduction="none"))
    )

    def call(**kwargs):
        return lambda: run(s, backend, c.inputs, "float64", **{**c.params, **kwargs})

    _raises_naming("reduction", call(reduction="avg"))
    for bad in (-1.0, np.inf, np.nan):
        weight = np.ones(shape)
        weight.flat[0] = bad
        _raises_naming("sample_weight", call(sample_weight=weight))
    _raises_naming("mask", call(mask=np.full(shape, 0.5)))
    for bad in (np.array(-3.0), np.array(np.nan), np.array([1.0, 2.0, 3.0]), "ten", -3.0):
        _raises_naming("normalizer", call(normalizer=bad))


@pytest.mark.parametrize("name", NAMES)
def test_inputs_of_different_batch_sizes_raise(name):
    s = spec(name)
    c = s.case()
    rows = batch_inputs(c)
    if len(rows) < 2:
        pytest.skip("one batched input")
    first = np.asarray(c.inputs[rows[0]])
    n = batch_size(c)
    changed = list(c.inputs)  # one row fewer, or one more where one fewer would broadcast
    changed[rows[0]] = first[: n - 1] if n > 2 else np.concatenate([first, first[:1]])
    with pytest.raises(ValueError):
        run(s, get_backend("numpy"), changed, "float64", **c.params)


@pytest.mark.parametrize("backend_name", ["numpy", "array_api_strict", *CHECKED[1:]])
@pytest.mark.parametrize("name", NAMES)
def test_nan_inputs_with_checks_off_never_crash(name, backend_name):
    backend = get_backend(backend_name)
    s = spec(name)
    c = s.case()
    poisoned = [
        np.where(np.arange(np.size(x)).reshape(np.shape(x)) % 3 == 0, np.nan, x)
        if np.asarray(x).dtype.kind == "f"
        else x
        for x in c.inputs
    ]
    with lk.validation(False):
        for reduction in ("none", "mean"):
            run(s, backend, poisoned, "float32", **c.params, reduction=reduction)
