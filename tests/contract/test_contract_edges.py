"""Finite values and gradients at the edges of every loss's domain, on every backend.

The edge samples (``harness.edge_samples``): logits of ±1e4, ±100, ±30, ±17 and 0, probabilities
0, 1, subnormal and 1 - 2⁻²⁴, real predictions of ±1e4, zero and huge embeddings, tiny and huge
positive means, and a batch of one example. Their values are also held to the reference in
``test_contract_values.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import get_backend
from harness import NAMES, edge_samples, gradient, run, spec, to_numpy

BACKENDS = ["numpy", "array_api_strict", "torch", "jax", "tensorflow"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_edge_values_and_gradients_are_finite(name, backend_name, dtype):
    backend = get_backend(backend_name)
    s = spec(name)
    for label, sample in edge_samples(s):
        value = to_numpy(
            backend, run(s, backend, sample.inputs, dtype, **sample.params, reduction="none")
        )
        assert np.all(np.isfinite(value)), f"{name} {label}: {value}"
        if backend.grad is None:
            continue
        for index in sample.differentiable:
            g = gradient(s, backend, sample.inputs, dtype, index, **sample.params, reduction="sum")
            assert np.all(np.isfinite(g)), f"{name} {label}: gradient of input {index}: {g}"
