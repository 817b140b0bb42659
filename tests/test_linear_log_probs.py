"""``linear_log_probs``: per-token target log-probabilities of a linear layer, logits never stored.

The reference is written here in float64 NumPy from the explicit logits: ``z = h Wᵀ + b``, the
soft cap ``c·tanh(z / c)``, then ``/ T``, ``log_softmax`` picked at the target (0 where ignored);
its gradients are the closed form ``g·(onehot(y) - softmax(z))`` chained by hand through the
temperature, the cap and the product. Every combination of options is checked on torch, JAX
(``grad``, under ``jit``), TensorFlow and NumPy (values), with chunks smaller than the batch that
do not divide it, against the plain (one-chunk) path and the reference.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import losskit as lk  # noqa: E402
from losskit.losses._linear_logps import linear_log_probs  # noqa: E402

N, D, V = 13, 5, 7  # tokens (not a multiple of the chunk), features, classes
CHUNK = 4
IGNORED = [1, 6]
F32 = {"rtol": 2e-6, "atol": 2e-6}
SAME = {"rtol": 1e-6, "atol": 1e-6}  # chunked vs plain, float32


# ---------------------------------------------------------------------- data and reference
def _data(seed: int = 0, ignore_index: int | None = -100) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, V, N)
    if ignore_index is not None:
        labels[IGNORED] = ignore_index
    return {
        "hidden": rng.normal(0.0, 1.0, (N, D)),
        "weight": rng.normal(0.0, 1.0, (V, D)),
        "bias": rng.normal(0.0, 1.0, V),
        "labels": labels,
        "cotangent": rng.uniform(-1.0, 2.0, N),
    }


OPTIONS = [
    {"temperature": t, "softcap": c, "bias": b, "ignore_index": i}
    for t, c, b, i in itertools.product((1.0, 0.6), (None, 3.0), (False, True), (-100, None))
]


def _id(options: dict[str, Any]) -> str:
    return "-".join(f"{k[:4]}{v}" for k, v in options.items())


def _log_softmax(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=-1, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis=-1, keepdims=True))


def reference(data: dict[str, np.ndarray], options: dict[str, Any]) -> tuple[np.ndarray, dict]:
    """Float64 values ``(N,)`` and the gradients of ``Σ cotangent·log p`` (hidden, weight, bias)."""
    h, w, b = (np.asarray(data[k], dtype=np.float64) for k in ("hidden", "weight", "bias"))
    labels, g = data["labels"], data["cotangent"]
    t, c = options["temperature"], options["softcap"]
    z0 = h @ w.T + (b if options["bias"] else 0.0)
    capped = z0 if c is None else c * np.tanh(z0 / c)
    z = capped / t
    ignore = options["ignore_index"]
    valid = np.ones(N, dtype=bool) if ignore is None else labels != ignore
    safe = np.where(valid, labels, 0)
    logp = _log_softmax(z)[np.arange(N), safe]
    logp = np.where(valid, logp, 0.0)
    onehot = np.eye(V)[safe]
    softmax = np.exp(_log_softmax(z))
    dz = np.where(valid, g, 0.0)[:, None] * (onehot - softmax) / t
    if c is not None:
        dz = dz * (1.0 - np.tanh(z0 / c) ** 2)
    grads = {"hidden": dz @ w, "weight": dz.T @ h}
    if options["bias"]:
        grads["bias"] = dz.sum(axis=0)
    return logp, grads


def _kw(options: dict[str, Any], bias: Any, chunk_size: int | None) -> dict[str, Any]:
    kw = {k: options[k] for k in ("temperature", "softcap", "ignore_index")}
    kw["chunk_size"] = chunk_size
    if options["bias"]:
        kw["bias"] = bias
    return kw


def _check(got: tuple, want: tuple, tol: dict) -> None:
    np.testing.assert_allclose(got[0], want[0], **tol)
    assert set(got[1]) == set(want[1])
    for name, grad in want[1].items():
        scale = max(float(np.abs(grad).max()), 1e-30)
        np.testing.assert_allclose(
            got[1][name], grad, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=name
        )


# ---------------------------------------------------------------------- torch
def _torch_run(
    data: dict, options: dict, chunk_size: int | None, dtype: Any = torch.float32
) -> tuple[np.ndarray, dict]:
    p = {k: torch.tensor(data[k], dtype=dtype, requires_grad=True) for k in ("hidden", "weight")}
    p["bias"] = torch.tensor(data["bias"], dtype=dtype, requires_grad=True)
    out = linear_log_probs(
        p["hidden"], p["weight"], torch.as_tensor(data["labels"]),
        **_kw(options, p["bias"], chunk_size),
    )  # fmt: skip
    names = ["hidden", "weight"] + (["bias"] if options["bias"] else [])
    scalar = (out * torch.as_tensor(data["cotangent"], dtype=out.dtype)).sum()
    grads = torch.autograd.grad(scalar, [p[n] for n in names])
    to_np = lambda x: x.detach().double().numpy()  # noqa: E731
    return to_np(out), {n: to_np(g) for n, g in zip(names, grads, strict=True)}


@pytest.mark.parametrize("options", OPTIONS, ids=_id)
def test_torch_chunked_equals_plain_and_reference(options: dict) -> None:
    data = _data(1, options["ignore_index"])
    want = reference(data, options)
    plain = _torch_run(data, options, None)
    for chunk_size in (CHUNK, 1, 5):
        chunked = _torch_run(data, options, chunk_size)
        _check(chunked, plain, SAME)
    _check(plain, want, F32)
    _check(_torch_run(data, options, CHUNK), want, F32)


@pytest.mark.parametrize("chunk_size", [None, CHUNK])
def test_torch_float64_is_exact(chunk_size: int | None) -> None:
    options = {"temperature": 0.6, "softcap": 3.0, "bias": True, "ignore_index": -100}
    data = _data(2)
    _check(
        _torch_run(data, options, chunk_size, torch.float64),
        reference(data, options),
        {"rtol": 1e-12, "atol": 1e-13},
    )


def test_ignored_tokens_give_exactly_zero_and_no_gradient() -> None:
    data = _data(3)
    h = torch.tensor(data["hidden"], dtype=torch.float32, requires_grad=True)
    h_nan = h.detach().clone()
    h_nan[IGNORED] = float("inf")  # an ignored row never reaches a sum
    lk.set_validation(False)
    try:
        for chunk_size in (None, CHUNK):
            x = h_nan.clone().requires_grad_(True)
            out = linear_log_probs(
                x, torch.tensor(data["weight"]), torch.as_tensor(data["labels"]),
                temperature=0.5, softcap=2.0, chunk_size=chunk_size,
            )  # fmt: skip
            (grad,) = torch.autograd.grad(out.sum(), (x,))
            assert torch.all(out[IGNORED] == 0.0)
            assert torch.all(grad[IGNORED] == 0.0)
            assert torch.isfinite(out).all() and torch.isfinite(grad).all()
    finally:
        lk.set_validation(True)
    labels = torch.full((N,), -100)
    for chunk_size in (None, CHUNK):
        out = linear_log_probs(h, torch.tensor(data["weight"]), labels, chunk_size=chunk_size)
        (grad,) = torch.autograd.grad(out.sum(), (h,))
        assert torch.all(out == 0.0) and torch.all(grad == 0.0)


def test_values_are_nonpositive_and_finite_at_extreme_logits() -> None:
    data = _data(4)
    h = torch.tensor(data["hidden"] * 1e4, dtype=torch.float32, requires_grad=True)
    w = torch.tensor(data["weight"], dtype=torch.float32, requires_grad=True)
    labels = torch.as_tensor(data["labels"])
    for kw in ({}, {"softcap": 30.0}, {"temperature": 1e-3}, {"temperature": 50.0}):
        for chunk_size in (None, CHUNK):
            out = linear_log_probs(h, w, labels, chunk_size=chunk_size, **kw)
            grads = torch.autograd.grad(out.sum(), (h, w))
            assert torch.isfinite(out).all() and (out <= 0).all(), kw
            assert all(torch.isfinite(g).all() for g in grads), kw


def test_leading_axes_half_inputs_and_ops() -> None:
    data = _data(5)
    options = {"temperature": 0.6, "softcap": 3.0, "bias": True, "ignore_index": -100}
    want = reference(data, options)[0]
    h = torch.tensor(data["hidden"]).reshape(1, N, D)
    labels = torch.as_tensor(data["labels"]).reshape(1, N)
    kw = _kw(options, torch.tensor(data["bias"]), CHUNK)
    out = linear_log_probs(h.float(), torch.tensor(data["weight"]).float(), labels, **kw)
    assert out.shape == (1, N)
    np.testing.assert_allclose(out[0].double().numpy(), want, **F32)
    ops_out = lk.ops.linear_log_probs(h.float(), torch.tensor(data["weight"]).float(), labels, **kw)
    assert torch.equal(ops_out, out)
    half = linear_log_probs(
        h.bfloat16(), torch.tensor(data["weight"]).bfloat16(), labels,
        **{**kw, "bias": kw["bias"].bfloat16()},
    )  # fmt: skip
    assert half.dtype == torch.float32  # computed and returned in float32
    np.testing.assert_allclose(half[0].double().numpy(), want, rtol=0.05, atol=0.05)


# ---------------------------------------------------------------------- the memory plan
class _Allocations(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the element count of the largest tensor any operator produces."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for leaf in torch.utils._pytree.tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.largest = max(self.largest, leaf.numel())
        return out


@pytest.mark.parametrize("options", [{}, {"temperature": 0.7, "softcap": 5.0}], ids=["plain", "T"])
def test_chunked_path_never_allocates_the_logits(options: dict) -> None:
    n, v, d, rows = 96, 500, 8, 16
    rng = np.random.default_rng(16)
    h = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32, requires_grad=True)
    w = torch.tensor(rng.normal(size=(v, d)), dtype=torch.float32, requires_grad=True)
    b = torch.tensor(rng.normal(size=v), dtype=torch.float32, requires_grad=True)
    labels = torch.as_tensor(rng.integers(0, v, n))
    for chunk_size, bound in ((rows, rows * v), (None, n * v)):  # default: one chunk → plain
        with _Allocations() as record:
            out = linear_log_probs(h, w, labels, bias=b, chunk_size=chunk_size, **options)
            torch.autograd.grad(out.sum(), (h, w, b))
        assert record.largest == bound, (chunk_size, record.largest)


# ---------------------------------------------------------------------- composition with DPO
def test_composes_with_dpo_like_the_explicit_logits() -> None:
    """Per-sequence sums of linear_log_probs (policy and reference weights) fed to lk.dpo give
    the loss and policy-weight gradient of the plain path: logits, log_softmax, gather, sums."""
    pairs, length = 3, 5
    rng = np.random.default_rng(7)
    hidden = torch.tensor(rng.normal(size=(2, pairs, length, D)), dtype=torch.float64)
    policy = torch.tensor(rng.normal(size=(V, D)), dtype=torch.float64, requires_grad=True)
    ref = torch.tensor(rng.normal(size=(V, D)), dtype=torch.float64)
    tokens = torch.as_tensor(rng.integers(0, V, (2, pairs, length)))
    tokens[:, :, :2] = -100  # prompt tokens
    tokens[1, 0, -1] = -100  # padding

    def seq_chunked(w: Any) -> Any:
        return linear_log_probs(hidden, w, tokens, temperature=0.8, chunk_size=4).sum(-1)

    def seq_plain(w: Any) -> Any:
        logp = torch.log_softmax(hidden @ w.T / 0.8, dim=-1)
        valid = tokens != -100
        picked = logp.gather(-1, torch.where(valid, tokens, 0)[..., None])[..., 0]
        return torch.where(valid, picked, 0.0).sum(-1)

    results = []
    for seq in (seq_chunked, seq_plain):
        pol, rf = seq(policy), seq(ref).detach()
        loss = lk.dpo(pol[0], pol[1], rf[0], rf[1], beta=0.5)
        results.append((loss.detach(), torch.autograd.grad(loss, policy)[0]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-10, atol=1e-12)
    assert results[1][1].abs().max() > 1e-3


# ---------------------------------------------------------------------- JAX, TensorFlow, NumPy
@pytest.mark.parametrize("options", OPTIONS, ids=_id)
def test_jax_grad_and_jit_chunked_equals_plain(options: dict) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    data = _data(8, options["ignore_index"])
    labels, g = jnp.asarray(data["labels"]), jnp.asarray(data["cotangent"], dtype=jnp.float32)
    args = tuple(jnp.asarray(data[k], dtype=jnp.float32) for k in ("hidden", "weight", "bias"))
    names = ["hidden", "weight"] + (["bias"] if options["bias"] else [])

    def run(chunk_size: int | None, jit: bool) -> tuple[np.ndarray, dict]:
        def value(h: Any, w: Any, b: Any) -> Any:
            return linear_log_probs(h, w, labels, **_kw(options, b, chunk_size))

        def scalar(h: Any, w: Any, b: Any) -> Any:
            return jnp.sum(value(h, w, b) * g)

        grad = jax.grad(scalar, argnums=(0, 1, 2))
        if jit:
            value, grad = jax.jit(value), jax.jit(grad)
        grads = dict(zip(("hidden", "weight", "bias"), grad(*args), strict=True))
        as_np = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731
        return as_np(value(*args)), {n: as_np(grads[n]) for n in names}

    want = reference(data, options)
    plain = run(None, False)
    _check(plain, want, F32)
    for chunk_size, jit in ((CHUNK, False), (CHUNK, True), (5, True)):
        _check(run(chunk_size, jit), plain, SAME)


@pytest.mark.parametrize("options", [*OPTIONS[::3], OPTIONS[-1]], ids=_id)
def test_tensorflow_chunked_equals_plain(options: dict) -> None:
    tf = pytest.importorskip("tensorflow")
    data = _data(9, options["ignore_index"])
    names = ["hidden", "weight"] + (["bias"] if options["bias"] else [])

    def run(chunk_size: int | None) -> tuple[np.ndarray, dict]:
        v = {k: tf.Variable(data[k].astype(np.float32)) for k in ("hidden", "weight", "bias")}
        with tf.GradientTape() as tape:
            out = linear_log_probs(
                v["hidden"], v["weight"], tf.constant(data["labels"]),
                **_kw(options, v["bias"], chunk_size),
            )  # fmt: skip
            scalar = tf.reduce_sum(out * tf.constant(data["cotangent"], dtype=tf.float32))
        grads = tape.gradient(scalar, [v[n] for n in names])
        as_np = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731
        return as_np(out), {n: as_np(gr) for n, gr in zip(names, grads, strict=True)}

    plain = run(None)
    _check(plain, reference(data, options), F32)
    _check(run(CHUNK), plain, SAME)


@pytest.mark.parametrize("options", OPTIONS, ids=_id)
def test_numpy_chunked_values(options: dict) -> None:
    data = _data(10, options["ignore_index"])
    want = reference(data, options)[0]
    kw = _kw(options, data["bias"], None)
    plain = linear_log_probs(data["hidden"], data["weight"], data["labels"], **kw)
    assert isinstance(plain, np.ndarray) and plain.dtype == np.float64
    np.testing.assert_allclose(plain, want, rtol=1e-12, atol=1e-13)
    for chunk_size in (CHUNK, 5):
        kw["chunk_size"] = chunk_size
        chunked = linear_log_probs(data["hidden"], data["weight"], data["labels"], **kw)
        np.testing.assert_allclose(chunked, want, rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"temperature": 0.0}, ValueError, "temperature must be in"),
        ({"temperature": -1.0}, ValueError, "temperature must be in"),
        ({"temperature": float("nan")}, ValueError, "temperature must be in"),
        ({"temperature": "1"}, TypeError, "temperature must be a number"),
        ({"softcap": 0.0}, ValueError, "softcap must be None or a positive finite"),
        ({"softcap": -2.0}, ValueError, "softcap must be None or a positive finite"),
        ({"softcap": 1e300, "temperature": 1e-300}, ValueError, "softcap / temperature"),
        ({"targets": np.full(N, V)}, ValueError, r"targets must be class indices in \[0, 7\)"),
        ({"targets": np.full(N, -5)}, ValueError, "targets must be class indices"),
        ({"targets": np.zeros(N + 1, dtype=np.int64)}, ValueError, r"targets of shape \(14,\)"),
        ({"targets": np.full(N, 0.5)}, ValueError, "targets must hold integer"),
        ({"hidden": np.ones((N, D), dtype=np.int64)}, TypeError, "hidden must be a floating"),
        ({"weight": np.ones((V, D + 1))}, ValueError, r"weight of shape \(7, 6\)"),
        ({"bias": np.ones(V + 1)}, ValueError, r"bias of shape \(8,\)"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be a positive"),
        ({"ignore_index": 1.5}, TypeError, "ignore_index must be an int"),
    ],
)
def test_validation_errors_name_the_argument(change: dict, error: type, message: str) -> None:
    data = _data(11)
    args = {"hidden": data["hidden"], "weight": data["weight"], "targets": data["labels"]}
    kwargs: dict[str, Any] = {"bias": data["bias"]}
    for key, value in change.items():
        (args if key in args else kwargs)[key] = value
    with pytest.raises(error, match=message):
        linear_log_probs(args["hidden"], args["weight"], args["targets"], **kwargs)


def test_is_a_building_block_not_a_registered_loss() -> None:
    assert lk.linear_log_probs is linear_log_probs
    assert "linear_log_probs" in lk.__all__ and "linear_log_probs" in lk.ops.__all__
    assert "linear_log_probs" not in lk.names()
