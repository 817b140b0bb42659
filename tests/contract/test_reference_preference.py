"""Every option of the preference losses (each DPO and CPO variant, KTO's weights and reference
point, SimPO's margin and smoothing) against the independent mpmath references, on every backend
and dtype: the ordinary sample and the log-probability edges (-1e-9 to -1e3, log-ratios ±1e3),
with finite gradients there and float64 gradients equal to central differences of the reference.

The registry-driven contract suite runs each loss with the options of its sample in
``tests/cases.py``; this file covers the options that sample does not use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losskit as lk
from conftest import get_backend, tolerance
from harness import edge_samples, gradient, spec, to_numpy
from losskit.losses._preference import CPO_VARIANTS, DPO_VARIANTS
from reference_preference import REFERENCES

BACKENDS = ["numpy", "array_api_strict", "torch", "jax", "tensorflow"]


def _dpo_params(variant: str) -> dict[str, Any]:
    epsilon = {"sigmoid": 0.25, "robust": 0.2, "exo_pair": 1e-3}.get(variant, 0.0)
    return {"variant": variant, "label_smoothing": epsilon, "beta": 0.1}


OPTIONS: list[tuple[str, dict[str, Any]]] = [
    *(("dpo", _dpo_params(v)) for v in DPO_VARIANTS),
    ("dpo", {"variant": "sigmoid", "beta": 0.5}),
    ("dpo", {"variant": "robust", "label_smoothing": 0.0}),
    ("dpo", {"variant": "exo_pair", "label_smoothing": 0.3, "beta": 0.5}),
    *(("cpo", {"variant": v, "beta": 0.2}) for v in CPO_VARIANTS),
    ("cpo", {"variant": "sigmoid", "label_smoothing": 0.3}),
    ("kto", {"kl": 0.0}),
    ("kto", {"kl": -2.0, "beta": 0.5}),
    ("kto", {"kl": 4.0, "desirable_weight": 0.7, "undesirable_weight": 2.5}),
    ("simpo", {}),
    ("simpo", {"beta": 2.5, "gamma_beta_ratio": 1.4, "label_smoothing": 0.2}),
    ("simpo", {"gamma_beta_ratio": -0.3}),
    ("orpo", {"beta": 0.25}),
]
IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in params.items()) for name, params in OPTIONS]


def _rounded(inputs: list[np.ndarray], dtype: str) -> list[np.ndarray]:
    return [np.asarray(x).astype(dtype).astype(np.float64) for x in inputs]


def _samples(name: str) -> list[tuple[str, list[np.ndarray]]]:
    s = spec(name)
    base = s.case()
    out = [("sample", base.inputs)]
    out += [(label, sample.inputs) for label, sample in edge_samples(s)]
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize(("name", "params"), OPTIONS, ids=IDS)
def test_option_matches_the_reference_with_finite_gradients(name, params, backend_name, dtype):
    backend = get_backend(backend_name)
    function = lk.get(name)
    for label, inputs in _samples(name):
        expected = REFERENCES[name](_rounded(inputs, dtype), dict(params))
        arrays = [backend.array(x, dtype) for x in inputs]
        got = to_numpy(backend, function(*arrays, **params, reduction="none"))
        assert got.shape == expected.shape, (label, got.shape, expected.shape)
        np.testing.assert_allclose(got, expected, **tolerance(dtype), err_msg=label)
        if backend.grad is None:
            continue
        for index in range(len(inputs)):
            g = gradient(spec(name), backend, inputs, dtype, index, **params, reduction="sum")
            assert np.all(np.isfinite(g)), f"{label}: gradient of input {index}: {g}"


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
@pytest.mark.parametrize(("name", "params"), OPTIONS, ids=IDS)
def test_float64_gradient_matches_differences_of_the_reference(name, params, backend_name):
    backend = get_backend(backend_name)
    inputs = spec(name).case().inputs
    reference = REFERENCES[name]
    h = 1e-6
    for index in range(len(inputs)):
        got = gradient(spec(name), backend, inputs, "float64", index, **params, reduction="sum")
        expected = np.empty(np.shape(inputs[index]))
        for pos in range(expected.size):
            plus = [np.array(x, dtype=float) for x in inputs]
            minus = [np.array(x, dtype=float) for x in inputs]
            plus[index].flat[pos] += h
            minus[index].flat[pos] -= h
            difference = np.sum(reference(plus, dict(params))) - np.sum(reference(minus, params))
            expected.flat[pos] = difference / (2 * h)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7, err_msg=f"{index}")


def test_the_references_follow_the_closed_forms():
    """Spot values of the references from closed forms (checks the references themselves)."""
    c, r, ref_c, ref_r = (np.array([v]) for v in (-10.0, -14.0, -11.0, -12.0))
    h = 0.1 * ((-10.0 + 11.0) - (-14.0 + 12.0))  # 0.3
    sigmoid = REFERENCES["dpo"]([c, r, ref_c, ref_r], {"variant": "sigmoid"})
    np.testing.assert_allclose(sigmoid, [np.log1p(np.exp(-h))], rtol=1e-15)
    ipo = REFERENCES["dpo"]([c, r, ref_c, ref_r], {"variant": "ipo"})
    np.testing.assert_allclose(ipo, [(3.0 - 5.0) ** 2], rtol=1e-15)
    orpo = REFERENCES["orpo"]([np.array([np.log(0.5)]), np.array([np.log(0.2)])], {})
    np.testing.assert_allclose(orpo, [0.1 * np.log1p(0.25)], rtol=1e-15)  # odds 1 and 1/4
    kto = REFERENCES["kto"]([c, r, ref_c, ref_r], {"kl": 1.0, "beta": 1.0})
    np.testing.assert_allclose(kto, [0.5, 1.0 / (1.0 + np.exp(1.0 + 2.0 - 0.0))], rtol=1e-15)
