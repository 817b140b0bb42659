"""The reduction contract, held by every registered loss on every backend.

* ``"sum"`` equals the sum of ``"none"``; ``"mean"`` equals it over the entries that count;
  weights of ones change nothing; a permuted batch gives the same sum and the same unreduced
  values; halves of a split batch add up to the whole (unless the loss declares
  ``split_batch``).
* An all-masked batch and an empty batch give exactly 0 with zero, finite gradients (unless the
  loss declares ``empty_batch``, in which case it raises a ``ValueError`` saying why).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conftest import get_backend, tolerance
from harness import NAMES, batch_size, gradient, mask_length, native, run, spec, take, to_numpy
from losskit.distributed import mean_denominator

BACKENDS = ["numpy", "array_api_strict", "torch", "jax", "tensorflow"]
AUTODIFF = ["torch", "jax", "tensorflow"]


def _close(a, b, dtype, scale=1.0, what=""):
    tol = tolerance(dtype)
    np.testing.assert_allclose(a, b, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=what)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_reductions_agree_and_unit_weights_change_nothing(name, backend_name):
    backend = get_backend(backend_name)
    dtype = "float32"
    s = spec(name)
    c = s.case()
    unreduced = to_numpy(backend, run(s, backend, c.inputs, dtype, **c.params, reduction="none"))
    total = to_numpy(backend, run(s, backend, c.inputs, dtype, **c.params, reduction="sum"))
    _close(total, unreduced.sum(), dtype, scale=unreduced.size, what="sum of none")
    ones = np.ones(unreduced.shape)
    for reduction in ("none", "sum", "mean"):
        plain = run(s, backend, c.inputs, dtype, **c.params, reduction=reduction)
        weighted = run(
            s, backend, c.inputs, dtype, **c.params, reduction=reduction, sample_weight=ones
        )
        _close(to_numpy(backend, weighted), to_numpy(backend, plain), dtype, what=reduction)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_a_permuted_batch_gives_the_same_loss(name, backend_name):
    backend = get_backend(backend_name)
    s = spec(name)
    c = s.case()
    order = np.random.default_rng(3).permutation(batch_size(c))
    shuffled = take(c, order)
    for reduction in ("sum", "mean"):
        a = to_numpy(backend, run(s, backend, c.inputs, "float64", **c.params, reduction=reduction))
        b = run(s, backend, shuffled.inputs, "float64", **shuffled.params, reduction=reduction)
        _close(to_numpy(backend, b), a, "float64", what=reduction)
    a = to_numpy(backend, run(s, backend, c.inputs, "float64", **c.params, reduction="none"))
    b = run(s, backend, shuffled.inputs, "float64", **shuffled.params, reduction="none")
    _close(np.sort(to_numpy(backend, b), axis=None), np.sort(a, axis=None), "float64")


def _halves(c):
    n = batch_size(c)
    return [take(c, slice(0, n // 2)), take(c, slice(n // 2, n))]


def _split_sums(s, backend, c):
    whole = run(s, backend, c.inputs, "float64", **c.params, reduction="sum")
    parts = [run(s, backend, h.inputs, "float64", **h.params, reduction="sum") for h in _halves(c)]
    return to_numpy(backend, whole), sum(to_numpy(backend, p) for p in parts)


def _split_means(s, backend, c):
    """The whole batch's mean, and the parts' means over the global denominator, added."""
    count = sum(
        to_numpy(
            backend, mean_denominator(s.function, *native(backend, h.inputs, "float64"), **h.params)
        )
        for h in _halves(c)
    )
    whole = run(s, backend, c.inputs, "float64", **c.params)
    parts = [run(s, backend, h.inputs, "float64", **h.params, normalizer=count) for h in _halves(c)]
    return to_numpy(backend, whole), sum(to_numpy(backend, p) for p in parts)


@pytest.mark.parametrize("backend_name", ["numpy", "torch", "jax", "tensorflow"])
@pytest.mark.parametrize("name", NAMES)
def test_halves_of_a_split_batch_add_up_to_the_whole(name, backend_name):
    backend = get_backend(backend_name)
    s = spec(name)
    c = s.case()
    if s.declares("split_batch"):  # it must be real: with the default options, a split differs
        defaults = replace(c, params={k: v for k, v in c.params.items() if k != "per_image"})
        whole, parts = _split_sums(s, backend, defaults)
        assert not np.isclose(whole, parts, rtol=1e-9), (
            f"{name} declares split_batch but a split batch adds up: remove the declaration"
        )
        if "per_image" not in s.options:
            return
        c = replace(c, params={**c.params, "per_image": True})
    whole, parts = _split_sums(s, backend, c)
    _close(parts, whole, "float64", what="sums")
    whole, parts = _split_means(s, backend, c)
    _close(parts, whole, "float64", what="means over the global denominator")


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_all_masked_batch_is_exactly_zero(name, backend_name):
    backend = get_backend(backend_name)
    s = spec(name)
    c = s.case()
    mask = np.zeros(mask_length(s, c), dtype=bool)  # one per example: a prefix of every shape
    for reduction in ("mean", "sum"):
        out = run(s, backend, c.inputs, "float32", **c.params, reduction=reduction, mask=mask)
        out = to_numpy(backend, out)
        assert out.shape == () and out == 0.0, (name, reduction, out)
    if backend.grad is None:
        return
    reduction = "mean"
    for index in c.differentiable:
        g = gradient(
            s, backend, c.inputs, "float32", index, **c.params, reduction=reduction, mask=mask
        )
        assert np.all(g == 0.0), (name, index)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_is_exactly_zero(name, backend_name):
    backend = get_backend(backend_name)
    s = spec(name)
    empty = take(s.case(), slice(0, 0))
    if s.declares("empty_batch"):
        with pytest.raises(ValueError, match="empty"):
            run(s, backend, empty.inputs, "float32", **empty.params)
        return
    for reduction in ("mean", "sum"):
        out = to_numpy(
            backend, run(s, backend, empty.inputs, "float32", **empty.params, reduction=reduction)
        )
        assert out.shape == () and out == 0.0, (name, reduction, out)
    unreduced = to_numpy(
        backend, run(s, backend, empty.inputs, "float32", **empty.params, reduction="none")
    )
    ordinary = run(s, backend, s.case().inputs, "float32", **empty.params, reduction="none")
    if np.ndim(to_numpy(backend, ordinary)) == 0:  # one value for the whole batch: 0 when empty
        assert unreduced.shape == () and unreduced == 0.0, name
    elif s.name == "proxy_anchor":  # one value per proxy, whatever the batch: zeros when empty
        assert unreduced.shape == np.shape(to_numpy(backend, ordinary)), name
        assert np.all(unreduced == 0.0), name
    else:
        assert unreduced.size == 0, name
    if backend.grad is None:
        return
    for index in empty.differentiable:
        g = gradient(s, backend, empty.inputs, "float32", index, **empty.params)
        assert g.shape == np.shape(empty.inputs[index]) and np.all(g == 0.0), (name, index)


@pytest.mark.parametrize("name", NAMES)
def test_declared_exceptions_are_shown_by_losskit_info(name, capsys):
    from losskit.cli import main

    s = spec(name)
    assert main(["info", name]) == 0
    shown = capsys.readouterr().out
    for promise, reason in s.info.contract_exceptions.items():
        assert promise in shown and reason in shown
