"""``linear_cross_entropy``: cross-entropy straight from hidden states, logits never stored.

The reference is the formula written out in float64 (``torch`` float64 autograd supplies its
gradients): ``z = h Wᵀ + b``, soft cap, ``ℓ = lse - (1-ε) z_y - ε mean z + ζ lse²``, then the
reduction contract. Every combination of options is checked on torch (chunked and plain paths,
values and gradients) and NumPy (values); JAX (under ``jit``) and TensorFlow share the NumPy
path's formula and are checked on a covering subset.

Memory cannot be asserted deterministically through the process's resident size (allocator
caching, other threads); instead a torch dispatch mode records every tensor the operators
produce, and the tests assert that no tensor larger than one chunk of logits (or the weight) is
ever created by the chunked path — the plain path creates the full ``(N, V)`` logits.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import losskit as lk  # noqa: E402
from losskit.losses import _linear  # noqa: E402  (registers the loss)
from losskit.losses._linear import linear_cross_entropy  # noqa: E402

N, D, V = 13, 5, 7  # tokens (not a multiple of the chunk), features, classes
CHUNK = 4
REDUCTIONS = ("mean", "sum", "none", "sum_over_batch_size")
F32 = {"rtol": 1e-6, "atol": 1e-7}
GRAD32 = {"rtol": 1e-5, "atol": 1e-6}
F64 = {"rtol": 1e-12, "atol": 1e-14}


# ---------------------------------------------------------------------- data and reference
def _data(seed: int = 0, n: int = N) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, V, n)
    labels[[1, 6]] = -100
    return {
        "hidden": rng.normal(0.0, 1.0, (n, D)),
        "weight": rng.normal(0.0, 1.0, (V, D)),
        "bias": rng.normal(0.0, 1.0, V),
        "labels": labels,
        "class_weight": rng.uniform(0.5, 2.0, V),
        "sample_weight": rng.uniform(0.0, 2.0, n),
        "mask": rng.random(n) > 0.2,
        "cotangent": rng.uniform(-1.0, 2.0, n),
    }


def _data_for(options: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """:func:`_data`, with every label valid when nothing is ignored."""
    data = _data(seed)
    if options["ignore_index"] is None:
        data["labels"] = np.where(data["labels"] < 0, 3, data["labels"])
    return data


def _options() -> list[dict[str, Any]]:
    """Every combination of the loss's own options and of the contract's weights."""
    grid = itertools.product(
        (0.0, 0.2), (0.0, 0.01), (None, 3.0), (False, True), (False, True), (-100, None), (0, 1)
    )
    return [
        {
            "label_smoothing": eps,
            "z_loss": z,
            "softcap": cap,
            "bias": bias,
            "class_weight": cw,
            "ignore_index": ignore,
            "weights": weights,
        }
        for eps, z, cap, bias, cw, ignore, weights in grid
    ]


def _option_id(options: dict[str, Any]) -> str:
    keys = ("label_smoothing", "z_loss", "softcap", "bias", "class_weight", "ignore_index")
    return "-".join(f"{k[:4]}{options[k]}" for k in keys) + f"-w{options['weights']}"


OPTIONS = _options()
#: A covering subset for the backends that share the NumPy path's formula.
SUBSET = [OPTIONS[0], OPTIONS[-1], OPTIONS[37], OPTIONS[90], OPTIONS[107]]


def _keywords(data: dict[str, Any], options: dict[str, Any], convert: Callable) -> dict:
    """The loss's keyword arguments for ``options`` (arrays through ``convert``)."""
    kw: dict[str, Any] = {
        "label_smoothing": options["label_smoothing"],
        "z_loss": options["z_loss"],
        "softcap": options["softcap"],
        "ignore_index": options["ignore_index"],
    }
    if options["class_weight"]:
        kw["class_weight"] = convert(data["class_weight"])
    if options["weights"]:
        kw["sample_weight"] = convert(data["sample_weight"])
        kw["mask"] = convert(data["mask"])
    return kw


def reference(
    data: dict[str, np.ndarray], options: dict[str, Any], reduction: str, normalizer: Any = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Float64 value and gradients (hidden, weight, bias) from the formula, on the float64 values
    of the inputs; ``reduction='none'`` gradients are those of ``Σ cotangent·ℓ``."""
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in data.items() if k != "labels"}
    params = {k: t[k].clone().requires_grad_(True) for k in ("hidden", "weight", "bias")}
    labels = torch.as_tensor(data["labels"])
    z = params["hidden"] @ params["weight"].T
    if options["bias"]:
        z = z + params["bias"]
    if options["softcap"] is not None:
        z = options["softcap"] * torch.tanh(z / options["softcap"])
    ignore = options["ignore_index"]
    valid = torch.ones_like(labels, dtype=torch.bool) if ignore is None else labels != ignore
    safe = torch.where(valid, labels, 0)
    lse = torch.logsumexp(z, dim=-1)
    eps, zl = options["label_smoothing"], options["z_loss"]
    per = lse - (1 - eps) * z.gather(1, safe[:, None])[:, 0] - eps * z.mean(-1) + zl * lse**2
    w = torch.ones_like(per)
    if options["class_weight"]:
        w = w * t["class_weight"][safe]
    if options["weights"]:
        w = w * t["sample_weight"]
        valid = valid & torch.as_tensor(data["mask"])
    weighted = torch.where(valid, w * per, 0.0)
    if reduction == "none":
        out, scalar = weighted, (weighted * t["cotangent"]).sum()
    else:
        out = weighted.sum()
        if reduction == "mean":
            denominator = normalizer if normalizer is not None else torch.where(valid, w, 0).sum()
        elif reduction == "sum_over_batch_size":
            denominator = valid.sum().to(torch.float64)
        else:
            denominator = 1.0
        denominator = torch.as_tensor(denominator, dtype=torch.float64)
        out = torch.where(denominator > 0, out / denominator.clamp_min(1e-300), 0.0)
        scalar = out
    grads = torch.autograd.grad(scalar, list(params.values()), allow_unused=True)
    names = ("hidden", "weight", "bias") if options["bias"] else ("hidden", "weight")
    return out.detach().numpy(), {n: g.numpy() for n, g in zip(names, grads, strict=False)}


# ---------------------------------------------------------------------- backends
def _torch_run(
    data: dict[str, Any],
    options: dict[str, Any],
    reduction: str,
    chunk_size: int | None,
    dtype: Any = torch.float32,
    normalizer: Any = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    params = {
        k: torch.tensor(data[k], dtype=dtype, requires_grad=True)
        for k in ("hidden", "weight", "bias")
    }
    kw = _keywords(data, options, lambda x: torch.as_tensor(x))
    if options["bias"]:
        kw["bias"] = params["bias"]
    if normalizer is not None:
        kw["normalizer"] = normalizer
    out = linear_cross_entropy(
        params["hidden"],
        params["weight"],
        torch.as_tensor(data["labels"]),
        reduction=reduction,
        chunk_size=chunk_size,
        **kw,
    )
    scalar = (out * torch.as_tensor(data["cotangent"], dtype=out.dtype)).sum()
    scalar = scalar if reduction == "none" else out
    names = ["hidden", "weight"] + (["bias"] if options["bias"] else [])
    grads = torch.autograd.grad(scalar, [params[n] for n in names])
    to_np = lambda g: g.detach().double().numpy()  # noqa: E731
    return to_np(out), {n: to_np(g) for n, g in zip(names, grads, strict=True)}


def _check(got: tuple, want: tuple, value_tol: dict, grad_tol: dict | None) -> None:
    np.testing.assert_allclose(got[0], want[0], **value_tol)
    if grad_tol is None:
        return
    for name, grad in want[1].items():
        scale = max(float(np.abs(grad).max()), 1e-30)
        np.testing.assert_allclose(
            got[1][name], grad, rtol=grad_tol["rtol"], atol=grad_tol["atol"] * scale, err_msg=name
        )


# ---------------------------------------------------------------------- exactness
@pytest.mark.parametrize("chunk_size", [None, CHUNK], ids=["plain", "chunked"])
@pytest.mark.parametrize("options", OPTIONS, ids=_option_id)
def test_torch_every_option_matches_reference(options: dict, chunk_size: int | None) -> None:
    data = _data_for(options, 0)
    for reduction in REDUCTIONS:
        want = reference(data, options, reduction)
        _check(_torch_run(data, options, reduction, chunk_size), want, F32, GRAD32)
    want = reference(data, options, "mean", normalizer=20.0)
    _check(_torch_run(data, options, "mean", chunk_size, normalizer=20.0), want, F32, GRAD32)


@pytest.mark.parametrize("options", OPTIONS, ids=_option_id)
def test_numpy_every_option_matches_reference(options: dict) -> None:
    data = _data_for(options, 1)
    kw = _keywords(data, options, np.asarray)
    if options["bias"]:
        kw["bias"] = data["bias"].astype(np.float32)
    args = (data["hidden"].astype(np.float32), data["weight"].astype(np.float32), data["labels"])
    for reduction, chunk_size in itertools.product(REDUCTIONS, (None, CHUNK, 1)):
        out = linear_cross_entropy(*args, reduction=reduction, chunk_size=chunk_size, **kw)
        np.testing.assert_allclose(out, reference(data, options, reduction)[0], **F32)


def test_float64_is_exact_to_1e12() -> None:
    for options, reduction in itertools.product(SUBSET, REDUCTIONS):
        data = _data_for(options, 2)
        want = reference(data, options, reduction)
        got = _torch_run(data, options, reduction, CHUNK, dtype=torch.float64)
        _check(got, want, F64, {"rtol": 1e-11, "atol": 1e-12})


def test_same_value_as_sparse_categorical_crossentropy() -> None:
    """The defining identity, through the public sparse cross-entropy on explicit logits."""
    data = _data(3)
    h, w, b = (torch.tensor(data[k]) for k in ("hidden", "weight", "bias"))
    labels = torch.as_tensor(data["labels"])
    kw = {"class_weight": torch.as_tensor(data["class_weight"]), "label_smoothing": 0.1}
    for reduction in REDUCTIONS:
        ours = linear_cross_entropy(h, w, labels, bias=b, reduction=reduction, chunk_size=3, **kw)
        theirs = lk.sparse_categorical_crossentropy(
            labels, h @ w.T + b, from_logits=True, ignore_index=-100, reduction=reduction, **kw
        )
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), **F64)


def test_normalizer_as_an_array_and_zero() -> None:
    """A global token count as a tensor (gradient accumulation), 0 giving exactly 0."""
    data = _data(18)
    h, w = torch.tensor(data["hidden"]), torch.tensor(data["weight"])
    labels = torch.as_tensor(data["labels"])
    want = reference(data, OPTIONS[0], "mean", normalizer=20.0)[0]
    got = linear_cross_entropy(h, w, labels, chunk_size=CHUNK, normalizer=torch.tensor(20.0))
    np.testing.assert_allclose(float(got), want, **F64)
    zero = linear_cross_entropy(h, w, labels, chunk_size=CHUNK, normalizer=torch.tensor(0.0))
    assert float(zero) == 0.0


@pytest.mark.parametrize("chunk_size", [1, 3, 12, 13, 14, 100])
def test_chunk_boundaries_do_not_change_the_result(chunk_size: int) -> None:
    options = OPTIONS[-1]
    data = _data_for(options, 4)
    want = reference(data, options, "none")
    _check(_torch_run(data, options, "none", chunk_size), want, F32, GRAD32)


def test_leading_axes_and_prefix_weights() -> None:
    """``hidden (B, T, d)`` with ``targets (B, T)``; a per-sequence weight ``(B,)`` expands."""
    rng = np.random.default_rng(5)
    h = torch.tensor(rng.normal(size=(3, 4, D)))
    w = torch.tensor(rng.normal(size=(V, D)))
    y = torch.as_tensor(rng.integers(0, V, (3, 4)))
    seq = torch.tensor([1.0, 0.0, 2.0])
    got = linear_cross_entropy(h, w, y, sample_weight=seq, reduction="none", chunk_size=5)
    flat = linear_cross_entropy(h.reshape(12, D), w, y.reshape(12), reduction="none")
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got.numpy(), (flat.reshape(3, 4) * seq[:, None]).numpy(), **F64)
    mean = linear_cross_entropy(h, w, y, sample_weight=seq, chunk_size=5)
    np.testing.assert_allclose(float(mean), float(got.sum() / 12.0), **F64)
    # a trailing size-1 axis on the targets is accepted
    same = linear_cross_entropy(h, w, y[..., None], chunk_size=5)
    np.testing.assert_allclose(float(same), float(linear_cross_entropy(h, w, y)), **F64)


# ---------------------------------------------------------------------- JAX and TensorFlow
@pytest.mark.parametrize("options", SUBSET, ids=_option_id)
def test_jax_jit_matches_reference(options: dict) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    data = _data_for(options, 6)
    kw = _keywords(data, options, jnp.asarray)
    labels = jnp.asarray(data["labels"])
    cot = jnp.asarray(data["cotangent"], dtype=jnp.float32)
    names = ["hidden", "weight"] + (["bias"] if options["bias"] else [])
    params = [jnp.asarray(data[n], dtype=jnp.float32) for n in names]
    for reduction, chunk_size in (("mean", CHUNK), ("none", CHUNK), ("sum", None)):

        def loss(*p: Any, reduction: str = reduction, chunk_size: Any = chunk_size) -> Any:
            extra = {"bias": p[2]} if len(p) == 3 else {}
            out = linear_cross_entropy(
                p[0], p[1], labels, reduction=reduction, chunk_size=chunk_size, **extra, **kw
            )
            return (jnp.sum(out * cot) if reduction == "none" else out), out

        fn = jax.jit(jax.value_and_grad(loss, argnums=tuple(range(len(params))), has_aux=True))
        (_, out), grads = fn(*params)
        got = (np.asarray(out), {n: np.asarray(g) for n, g in zip(names, grads, strict=True)})
        _check(got, reference(data, options, reduction), F32, GRAD32)


def test_jax_weight_gradient_blocks_with_a_remainder() -> None:
    """20 classes in blocks of 3 (8 blocks requested): six in the loop, a shorter last one."""
    jax = pytest.importorskip("jax")
    rng = np.random.default_rng(19)
    data = dict(_data(19), weight=rng.normal(size=(20, D)), bias=rng.normal(size=20))
    data["labels"] = rng.integers(0, 20, N)
    params = [jax.numpy.asarray(data[k], dtype=jax.numpy.float32) for k in ("hidden", "weight")]
    labels = jax.numpy.asarray(data["labels"])
    fn = jax.grad(lambda h, w: linear_cross_entropy(h, w, labels, chunk_size=CHUNK), (0, 1))
    grads = fn(*params)
    want = reference(data, dict(OPTIONS[0], ignore_index=None), "mean")[1]
    for name, grad in zip(("hidden", "weight"), grads, strict=True):
        scale = float(np.abs(want[name]).max())
        np.testing.assert_allclose(np.asarray(grad), want[name], rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("options", SUBSET[:3], ids=_option_id)
def test_tensorflow_value_and_gradient(options: dict) -> None:
    tf = pytest.importorskip("tensorflow")
    data = _data_for(options, 7)
    kw = _keywords(data, options, tf.constant)
    names = ["hidden", "weight"] + (["bias"] if options["bias"] else [])
    params = [tf.Variable(data[n].astype(np.float32)) for n in names]
    for reduction in ("mean", "none"):
        with tf.GradientTape() as tape:
            extra = {"bias": params[2]} if options["bias"] else {}
            out = linear_cross_entropy(
                params[0],
                params[1],
                tf.constant(data["labels"]),
                reduction=reduction,
                chunk_size=CHUNK,
                **extra,
                **kw,
            )
            scalar = out if reduction == "mean" else tf.reduce_sum(out * data["cotangent"])
        grads = tape.gradient(scalar, params)
        got = (out.numpy(), {n: g.numpy() for n, g in zip(names, grads, strict=True)})
        _check(got, reference(data, options, reduction), F32, GRAD32)


def test_tensorflow_function_and_jax_vmap() -> None:
    tf = pytest.importorskip("tensorflow")
    jax = pytest.importorskip("jax")
    data = _data(8)
    args = [data["hidden"].astype(np.float32), data["weight"].astype(np.float32), data["labels"]]
    want = reference(data, OPTIONS[0], "mean")[0]
    traced = tf.function(lambda h, w, y: linear_cross_entropy(h, w, y, chunk_size=CHUNK))
    np.testing.assert_allclose(traced(*[tf.constant(a) for a in args]).numpy(), want, **F32)
    jnp = jax.numpy
    batched = jax.vmap(lambda h, y: linear_cross_entropy(h, jnp.asarray(args[1]), y, chunk_size=3))
    got = batched(jnp.stack([jnp.asarray(args[0])] * 2), jnp.stack([jnp.asarray(args[2])] * 2))
    np.testing.assert_allclose(np.asarray(got), [want, want], **F32)


# ---------------------------------------------------------------------- dtypes and edge cases
def test_bfloat16_inputs_give_float32_accurate_results() -> None:
    data = _data(9)
    h16 = torch.tensor(data["hidden"]).to(torch.bfloat16).requires_grad_(True)
    w16 = torch.tensor(data["weight"]).to(torch.bfloat16).requires_grad_(True)
    labels = torch.as_tensor(data["labels"])
    exact = {k: v for k, v in data.items()}  # the reference on the bfloat16 values themselves
    exact["hidden"] = h16.detach().double().numpy()
    exact["weight"] = w16.detach().double().numpy()
    for chunk_size in (None, CHUNK):
        out = linear_cross_entropy(h16, w16, labels, chunk_size=chunk_size, label_smoothing=0.1)
        assert out.dtype == torch.float32
        gh, gw = torch.autograd.grad(out, (h16, w16))
        assert gh.dtype == gw.dtype == torch.bfloat16
        options = dict(OPTIONS[0], label_smoothing=0.1)
        value, grads = reference(exact, options, "mean")
        np.testing.assert_allclose(float(out.detach()), value, **F32)
        np.testing.assert_allclose(gh.double().numpy(), grads["hidden"], rtol=1e-2, atol=1e-3)
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    got = linear_cross_entropy(
        jnp.asarray(exact["hidden"], dtype=jnp.bfloat16),
        jnp.asarray(exact["weight"], dtype=jnp.bfloat16),
        jnp.asarray(data["labels"]),
        chunk_size=CHUNK,
        label_smoothing=0.1,
    )
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(float(got), value, **F32)


@pytest.mark.parametrize("chunk_size", [None, CHUNK])
def test_all_ignored_gives_zero_with_zero_gradient(chunk_size: int | None) -> None:
    data = _data(10)
    h = torch.tensor(data["hidden"], requires_grad=True)
    w = torch.tensor(data["weight"], requires_grad=True)
    b = torch.tensor(data["bias"], requires_grad=True)
    labels = torch.full((N,), -100)
    cw = torch.as_tensor(data["class_weight"])
    for reduction, class_weight in itertools.product(REDUCTIONS, (None, cw)):
        out = linear_cross_entropy(
            h, w, labels, bias=b, reduction=reduction, class_weight=class_weight,
            chunk_size=chunk_size, z_loss=0.1, label_smoothing=0.1,
        )  # fmt: skip
        assert torch.all(out == 0.0)
        grads = torch.autograd.grad(out.sum(), (h, w, b))
        assert all(torch.all(g == 0.0) for g in grads)
    value = linear_cross_entropy(data["hidden"], data["weight"], np.full(N, -100), chunk_size=3)
    assert float(value) == 0.0


def test_excluded_tokens_never_reach_the_sums() -> None:
    """An inf/NaN hidden state at an ignored or masked token leaves value and gradients finite."""
    data = _data(11)
    hidden = data["hidden"].copy()
    hidden[1] = np.nan  # label -100
    hidden[6] = np.inf  # label -100
    with lk.validation(False):
        for chunk_size in (None, CHUNK):
            h = torch.tensor(hidden, requires_grad=True)
            w = torch.tensor(data["weight"], requires_grad=True)
            out = linear_cross_entropy(h, w, torch.as_tensor(data["labels"]), chunk_size=chunk_size)
            gh, gw = torch.autograd.grad(out, (h, w))
            clean = data["hidden"].copy()
            clean[[1, 6]] = 0.0
            want = reference(dict(data, hidden=clean), OPTIONS[0], "mean")
            np.testing.assert_allclose(float(out.detach()), want[0], **F64)
            assert torch.isfinite(gw).all() and torch.all(gh[[1, 6]] == 0.0)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_inputs_are_never_mutated(reduction: str) -> None:
    data = _data(12)
    tensors = {k: torch.tensor(data[k], requires_grad=k != "class_weight") for k in
               ("hidden", "weight", "bias", "class_weight")}  # fmt: skip
    labels = torch.as_tensor(data["labels"])
    before = {k: (t.detach().clone(), t._version) for k, t in tensors.items()}
    labels_before = labels.clone()
    out = linear_cross_entropy(
        tensors["hidden"], tensors["weight"], labels, bias=tensors["bias"],
        class_weight=tensors["class_weight"], softcap=2.0, z_loss=0.1, label_smoothing=0.1,
        reduction=reduction, chunk_size=CHUNK,
    )  # fmt: skip
    out.sum().backward()
    for k, t in tensors.items():
        assert t._version == before[k][1], k
        assert torch.equal(t.detach(), before[k][0]), k
    assert torch.equal(labels, labels_before)


def test_gradient_reaches_sample_weight_in_the_fused_path() -> None:
    data = _data(13)
    h = torch.tensor(data["hidden"])
    w = torch.tensor(data["weight"])
    labels = torch.as_tensor(data["labels"])
    sw = torch.tensor(data["sample_weight"], requires_grad=True)
    (fused,) = torch.autograd.grad(
        linear_cross_entropy(h, w, labels, sample_weight=sw, chunk_size=CHUNK), sw
    )
    sw2 = sw.detach().clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(
        lk.sparse_categorical_crossentropy(
            labels, h @ w.T, from_logits=True, ignore_index=-100, sample_weight=sw2
        ),
        sw2,
    )
    np.testing.assert_allclose(fused.numpy(), plain.numpy(), **F64)


def test_retain_graph() -> None:
    """'none' recomputes in its backward (a second backward works); the scalar reductions free
    their precomputed gradients and say so on a second backward."""
    data = _data(14)
    h = torch.tensor(data["hidden"], requires_grad=True)
    w = torch.tensor(data["weight"])
    labels = torch.as_tensor(data["labels"])
    per_token = linear_cross_entropy(h, w, labels, reduction="none", chunk_size=CHUNK).sum()
    (first,) = torch.autograd.grad(per_token, h, retain_graph=True)
    (second,) = torch.autograd.grad(per_token, h)
    assert torch.equal(first, second)
    mean = linear_cross_entropy(h, w, labels, chunk_size=CHUNK)
    mean.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="reduction='none'"):
        mean.backward()


def test_traced_torch_takes_the_plain_path() -> None:
    """torch.func transforms cannot run the chunked Functions: the plain path is used."""
    data = _data(15)
    w = torch.tensor(data["weight"])
    labels = torch.as_tensor(data["labels"])
    grad = torch.func.grad(lambda h: linear_cross_entropy(h, w, labels, chunk_size=CHUNK))(
        torch.tensor(data["hidden"])
    )
    want = reference(data, OPTIONS[0], "mean")[1]["hidden"]
    np.testing.assert_allclose(grad.numpy(), want, **F64)


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


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_chunked_path_never_allocates_the_logits(reduction: str) -> None:
    n, v, d, rows = 96, 500, 8, 16
    rng = np.random.default_rng(16)
    h = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32, requires_grad=True)
    w = torch.tensor(rng.normal(size=(v, d)), dtype=torch.float32, requires_grad=True)
    labels = torch.as_tensor(rng.integers(0, v, n))
    for chunk_size, bound in ((rows, rows * v), (None, n * v)):  # default: one chunk → plain
        with _Allocations() as record:
            out = linear_cross_entropy(h, w, labels, reduction=reduction, softcap=5.0,
                                       chunk_size=chunk_size)  # fmt: skip
            torch.autograd.grad(out.sum(), (h, w))
        assert record.largest == bound, (chunk_size, record.largest)


def test_default_chunk_sizes() -> None:
    """The allocation plan at the benchmark's shapes: torch reuses one (rows, V) float32 buffer
    (64 MiB and 128 MiB); JAX chunks are a quarter as tall (XLA keeps two chunk-sized
    buffers)."""
    assert _linear.default_rows(32768, 256) == 512
    assert _linear.default_rows(65536, 512) == 512
    assert _linear.default_rows(128256, 4096) == 4096
    assert _linear.default_rows(10, 16) == _linear.CHUNK_BYTES // 40 // 8 * 8
    jax_kernels = pytest.importorskip("losskit.losses._jax_linear")
    assert jax_kernels.default_rows(32768, 256) == 64
    assert jax_kernels.default_rows(65536, 512) == 128


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"hidden": np.ones((N, D), dtype=np.int64)}, TypeError, "hidden must be a floating"),
        ({"hidden": np.float32(1.0)}, ValueError, "feature axis"),
        ({"weight": np.ones((V, D + 1))}, ValueError, r"weight of shape \(7, 6\)"),
        ({"weight": np.ones(V)}, ValueError, "weight of shape"),
        ({"bias": np.ones(V + 1)}, ValueError, r"bias of shape \(8,\)"),
        ({"targets": np.zeros(N + 1, dtype=np.int64)}, ValueError, r"targets of shape \(14,\)"),
        ({"targets": np.full(N, 0.5)}, ValueError, "targets must hold integer"),
        ({"targets": np.full(N, V)}, ValueError, r"targets must be class indices in \[0, 7\)"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be a positive"),
        ({"chunk_size": -3}, ValueError, "chunk_size must be a positive"),
        ({"chunk_size": 2.0}, TypeError, "chunk_size must be an int"),
        ({"chunk_size": True}, TypeError, "chunk_size must be an int"),
        ({"softcap": 0.0}, ValueError, "softcap must be None or a positive finite"),
        ({"softcap": -1.0}, ValueError, "softcap must be None or a positive finite"),
        ({"z_loss": -0.1}, ValueError, "z_loss must be in"),
        ({"label_smoothing": 1.5}, ValueError, "label_smoothing must be in"),
        ({"class_weight": np.ones(V - 1)}, ValueError, "class_weight must have one entry"),
        ({"class_weight": -np.ones(V)}, ValueError, "class_weight must be non-negative"),
        ({"ignore_index": 1.0}, TypeError, "ignore_index must be an int"),
        ({"reduction": "sum", "normalizer": 3.0}, ValueError, "normalizer"),
        ({"reduction": "avg"}, ValueError, "reduction must be one of"),
        ({"sample_weight": np.ones(N + 2)}, ValueError, "sample_weight of shape"),
    ],
)
def test_validation_errors_name_the_argument(change: dict, error: type, message: str) -> None:
    data = _data(17)
    args = {"hidden": data["hidden"], "weight": data["weight"], "targets": data["labels"]}
    kwargs = {"bias": data["bias"]}
    for key, value in change.items():
        (args if key in args else kwargs)[key] = value
    with pytest.raises(error, match=message):
        linear_cross_entropy(args["hidden"], args["weight"], args["targets"], **kwargs)


def test_validation_on_torch_names_the_argument() -> None:
    h = torch.zeros(N, D)
    with pytest.raises(ValueError, match="weight of shape"):
        linear_cross_entropy(h, torch.zeros(D, V), torch.zeros(N, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden contains NaN"):
        linear_cross_entropy(h.fill_(float("nan")), torch.zeros(V, D), torch.zeros(N).long())


def test_registered_with_its_metadata() -> None:
    info = lk.info("linear_cross_entropy")
    assert info.function is linear_cross_entropy
    assert (info.family, info.kind, info.task, info.domain) == (
        "crossentropy", "axis", "multiclass", "logit"
    )  # fmt: skip
    assert info.references
