"""Values, gradients and dtypes of every registered loss against its independent reference.

* The unreduced loss (``reduction="none"``) of the ordinary sample and of the edge samples is
  within the README's tolerance of the float64 reference evaluated at the inputs as rounded to
  the dtype (float32: 1e-6 relative or 1e-7 absolute; float64: 1e-12 relative), on every backend,
  with finite gradients at the edges (``harness.edge_samples``: logits ±1e4, probabilities 0, 1
  and subnormal, zero and huge embeddings, tiny means, a batch of one).
* ``"mean"`` and ``"sum"`` are the documented reductions of that reference, in the input's array
  type and dtype.
* float64 autodiff gradients equal central differences of the reference.
* float16 and bfloat16 inputs compute in float32 and return float32; float32 and float64 stay.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import get_backend, tolerance
from harness import NAMES, edge_samples, gradient, native, run, spec, to_numpy
from references import REFERENCES

BACKENDS = ["numpy", "array_api_strict", "torch", "jax", "tensorflow"]


def rounded(inputs: list[np.ndarray], dtype: str) -> list[np.ndarray]:
    """Float inputs as the loss sees them: rounded to ``dtype``, then widened to float64."""
    out = []
    for x in inputs:
        x = np.asarray(x)
        out.append(x.astype(dtype).astype(np.float64) if x.dtype.kind == "f" else x)
    return out


def valid_count(name: str, inputs: list[np.ndarray], unreduced: np.ndarray) -> int:
    """How many unreduced entries ``"mean"`` averages over: all but ignored targets and, for a
    loss over pairs, the diagonal."""
    if name == "linear_cross_entropy":
        return int(np.sum(np.asarray(inputs[2]) != -100))
    if name == "grouped_info_nce":  # the ordered pairs within a group
        labels = np.asarray(inputs[1])
        return int(np.sum(labels[:, None] == labels[None, :])) - len(labels)
    if spec(name).info.kind == "pairs":  # (N, N) ordered pairs: the diagonal is not a pair
        return unreduced.size - unreduced.shape[0]
    return unreduced.size


def assert_matches_reference(name, backend, dtype, inputs, params, what=""):
    s = spec(name)
    expected = REFERENCES[name](rounded(inputs, dtype), dict(params))
    got = to_numpy(backend, run(s, backend, inputs, dtype, **params, reduction="none"))
    assert got.shape == expected.shape, (name, what, got.shape, expected.shape)
    np.testing.assert_allclose(got, expected, **tolerance(dtype), err_msg=f"{name} {what}")
    return expected


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_value_matches_the_reference(name, backend_name, dtype):
    backend = get_backend(backend_name)
    s = spec(name)
    c = s.case()
    expected = assert_matches_reference(name, backend, dtype, c.inputs, c.params)
    total = float(np.sum(expected))
    got_sum = to_numpy(backend, run(s, backend, c.inputs, dtype, **c.params, reduction="sum"))
    arrays = native(backend, c.inputs, dtype)
    mean = s.function(*arrays, **c.params)
    prediction = arrays[c.differentiable[0]]
    assert type(mean).__module__.split(".")[0] == type(prediction).__module__.split(".")[0]
    assert dtype in str(mean.dtype), (name, mean.dtype)
    got_mean = to_numpy(backend, mean)
    tol = tolerance(dtype)
    scale = float(np.sum(np.abs(expected)))  # a sum is exact relative to the sum of |terms|
    np.testing.assert_allclose(got_sum, total, rtol=0, atol=tol["atol"] + tol["rtol"] * scale)
    count = valid_count(name, c.inputs, expected)
    np.testing.assert_allclose(
        got_mean, total / count, rtol=0, atol=tol["atol"] + tol["rtol"] * scale / count
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_edge_values_match_the_reference_with_finite_gradients(name, backend_name, dtype):
    backend = get_backend(backend_name)
    s = spec(name)
    for label, sample in edge_samples(s):
        value = assert_matches_reference(name, backend, dtype, sample.inputs, sample.params, label)
        assert np.all(np.isfinite(value)), f"{name} {label}: the reference is not finite"
        if backend.grad is None:
            continue
        for index in sample.differentiable:
            g = gradient(s, backend, sample.inputs, dtype, index, **sample.params, reduction="sum")
            assert np.all(np.isfinite(g)), f"{name} {label}: gradient of input {index}: {g}"


def _central_difference(reference, inputs, params, index, positions, h=1e-6):
    out = []
    for pos in positions:
        plus = [np.array(x, dtype=float) if i == index else x for i, x in enumerate(inputs)]
        minus = [np.array(x, dtype=float) if i == index else x for i, x in enumerate(inputs)]
        plus[index].flat[pos] += h
        minus[index].flat[pos] -= h
        out.append((np.sum(reference(plus, params)) - np.sum(reference(minus, params))) / (2 * h))
    return np.array(out)


@pytest.mark.parametrize("backend_name", ["torch", "jax", "tensorflow"])
@pytest.mark.parametrize("name", NAMES)
def test_float64_gradient_matches_differences_of_the_reference(name, backend_name):
    backend = get_backend(backend_name)
    s = spec(name)
    c = s.case()
    reference = REFERENCES[name]
    rng = np.random.default_rng(7)
    agree = []
    for index in c.differentiable:
        size = np.asarray(c.inputs[index]).size
        positions = rng.choice(size, size=min(size, 8), replace=False)
        got = gradient(s, backend, c.inputs, "float64", index, **c.params, reduction="sum")
        expected = _central_difference(reference, c.inputs, dict(c.params), index, positions)
        agree.append(np.allclose(got.reshape(-1)[positions], expected, rtol=1e-5, atol=1e-7))
        if not s.declares("true_gradient"):
            np.testing.assert_allclose(
                got.reshape(-1)[positions], expected, rtol=1e-5, atol=1e-7, err_msg=f"{index}"
            )
    if s.declares("true_gradient"):
        assert not all(agree), f"{name} declares true_gradient but its gradient is the true one"


HALF = [("torch", "float16"), ("torch", "bfloat16"), ("jax", "float16"), ("jax", "bfloat16")]
HALF += [("tensorflow", "float16"), ("tensorflow", "bfloat16"), ("numpy", "float16")]


@pytest.mark.parametrize(("backend_name", "half"), HALF)
@pytest.mark.parametrize("name", NAMES)
def test_half_inputs_compute_in_float32(name, backend_name, half):
    backend = get_backend(backend_name)
    s = spec(name)
    c = s.case()
    out = run(s, backend, c.inputs, half, **c.params, reduction="none")
    assert "float32" in str(out.dtype), (name, out.dtype)
    expected = REFERENCES[name](rounded_half(c.inputs, half), dict(c.params))
    np.testing.assert_allclose(to_numpy(backend, out), expected, **tolerance("float32"))


def rounded_half(inputs: list[np.ndarray], half: str) -> list[np.ndarray]:
    if half == "float16":
        return rounded(inputs, "float16")
    import ml_dtypes

    out = []
    for x in inputs:
        x = np.asarray(x)
        if x.dtype.kind == "f":
            x = x.astype(ml_dtypes.bfloat16).astype(np.float64)
        out.append(x)
    return out


def test_numpy_bfloat16_computes_in_float32():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    import losskit as lk

    y = np.array([1.0, 0.0], dtype=ml_dtypes.bfloat16)
    p = np.array([0.25, 0.75], dtype=ml_dtypes.bfloat16)
    out = lk.binary_crossentropy(y, p, reduction="none")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [np.log(4.0), np.log(4.0)], rtol=1e-6)
