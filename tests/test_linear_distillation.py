"""``linear_distillation``: the chunked generalised JSD between two linear heads.

Values against the independent mpmath reference (``tests/contract/reference_llm_policy.py``)
for every option on the chunked path of each backend; float64 gradients against central
differences of that reference; the fused forms equal to the plain computation (values and the
student's three gradients, every reduction); no gradient reaching the teacher; TRL's GKD loss
on the two heads' logits; and the argument errors.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import losskit as lk
from conftest import get_backend, tolerance

sys.path.insert(0, str(Path(__file__).parent / "contract"))
from reference_llm_policy import linear_distillation as reference

BACKENDS = ["numpy", "array_api_strict", "torch", "jax", "tensorflow"]
N, V, D_S, D_T = 11, 6, 4, 5
CHUNK = 3  # 11 tokens: four chunks, the last one short


def _inputs(seed: int = 0) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    targets = r.integers(0, V, N)
    targets[[1, 6]] = -100
    return {
        "hs": r.normal(size=(N, D_S)),
        "ws": r.normal(size=(V, D_S)),
        "bs": r.normal(size=V),
        "ht": r.normal(size=(N, D_T)),
        "wt": r.normal(size=(V, D_T)),
        "bt": r.normal(size=V),
        "targets": targets,
    }


OPTIONS: list[dict[str, Any]] = [
    {"beta": 0.5},
    {"beta": 0.0, "temperature": 2.0},
    {"beta": 1.0, "temperature": 0.7},
    {"beta": 0.3, "softcap": 2.5, "temperature": 1.5},
    {"beta": 0.8, "bias": True, "targets": True},
    {"beta": 0.0, "softcap": 1.0, "bias": True, "targets": True, "ignore_index": None},
]


def _call_args(x: dict[str, np.ndarray], option: dict[str, Any], make: Any) -> tuple[list, dict]:
    """Positional arrays and keywords of one option (``bias``/``targets`` switch those on)."""
    params = {k: v for k, v in option.items() if k not in ("bias", "targets")}
    if option.get("bias"):
        params["student_bias"], params["teacher_bias"] = make(x["bs"]), make(x["bt"])
    if option.get("targets"):
        params["targets"] = x["targets"]
    return [make(x[k]) for k in ("hs", "ws", "ht", "wt")], params


def _reference(x: dict[str, np.ndarray], option: dict[str, Any]) -> np.ndarray:
    arrays, params = _call_args(x, option, lambda a: a)
    return reference(arrays, params)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("option", OPTIONS, ids=str)
def test_chunked_value_matches_the_reference(option, backend_name, dtype):
    backend = get_backend(backend_name)
    x = _inputs()
    rounded = {
        k: v.astype(dtype).astype(np.float64) if v.dtype.kind == "f" else v for k, v in x.items()
    }
    expected = _reference(rounded, option)
    arrays, params = _call_args(x, option, lambda a: backend.array(a, dtype))
    got = lk.linear_distillation(*arrays, **params, chunk_size=CHUNK, reduction="none")
    np.testing.assert_allclose(backend.to_numpy(got), expected, **tolerance(dtype))


@pytest.mark.parametrize("backend_name", ["torch", "jax", "tensorflow"])
@pytest.mark.parametrize("option", OPTIONS, ids=str)
def test_float64_gradient_matches_differences_of_the_reference(option, backend_name):
    backend = get_backend(backend_name)
    x = _inputs(1)
    step = 1e-6
    for index, key in enumerate(("hs", "ws")):

        def loss(a: Any, index: int = index) -> Any:
            arrays, params = _call_args(x, option, lambda value: backend.array(value, "float64"))
            arrays[index] = a
            return lk.linear_distillation(*arrays, **params, chunk_size=CHUNK, reduction="sum")

        got = backend.to_numpy(backend.grad(loss, backend.array(x[key], "float64")))
        expected = np.empty(x[key].shape)
        for pos in range(expected.size):
            total = []
            for sign in (1.0, -1.0):
                moved = {k: np.array(v) for k, v in x.items()}
                moved[key].flat[pos] += sign * step
                total.append(np.sum(_reference(moved, option)))
            expected.flat[pos] = (total[0] - total[1]) / (2 * step)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7, err_msg=key)


# ---------------------------------------------------------------------- fused == plain
def _torch_run(x, option, reduction, chunk):
    import torch

    make = torch.tensor
    arrays, params = _call_args(x, option, make)
    student = [arrays[0].requires_grad_(True), arrays[1].requires_grad_(True)]
    if "student_bias" in params:
        params["student_bias"].requires_grad_(True)
        student.append(params["student_bias"])
    arrays[2].requires_grad_(True)  # the teacher's: no gradient may reach them
    out = lk.linear_distillation(*arrays, **params, reduction=reduction, chunk_size=chunk)
    upstream = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * upstream).sum().backward()
    assert arrays[2].grad is None or not arrays[2].grad.any()
    return [out.detach().numpy()] + [t.grad.numpy() for t in student]


def _jax_run(x, option, reduction, chunk):
    import jax
    import jax.numpy as jnp

    arrays, params = _call_args(x, option, jnp.asarray)
    bias = params.pop("student_bias", None)

    def f(hs, ws, ht, bs):
        extra = {} if bs is None else {"student_bias": bs}
        out = lk.linear_distillation(
            hs, ws, ht, arrays[3], **params, **extra, reduction=reduction, chunk_size=chunk
        )
        upstream = jnp.linspace(0.5, 1.5, out.size).reshape(out.shape)
        return jnp.sum(out * upstream), out

    argnums = (0, 1, 2) if bias is None else (0, 1, 2, 3)
    (_, out), grads = jax.jit(jax.value_and_grad(f, argnums=argnums, has_aux=True))(
        arrays[0], arrays[1], arrays[2], bias
    )
    assert not np.any(np.asarray(grads[2])), "the teacher received a gradient"
    return [np.asarray(out)] + [np.asarray(g) for i, g in enumerate(grads) if i != 2]


def _tensorflow_run(x, option, reduction, chunk):
    import tensorflow as tf

    arrays, params = _call_args(x, option, lambda a: tf.Variable(a))
    student = [arrays[0], arrays[1]] + (
        [params["student_bias"]] if "student_bias" in params else []
    )
    with tf.GradientTape() as tape:
        out = lk.linear_distillation(*arrays, **params, reduction=reduction, chunk_size=chunk)
        n = int(np.prod(out.shape)) if out.shape.rank else 1
        upstream = tf.reshape(tf.linspace(tf.constant(0.5, out.dtype), 1.5, n), out.shape)
        total = tf.reduce_sum(out * upstream)
    grads = tape.gradient(total, [*student, arrays[2]])
    assert grads[-1] is None or not np.any(grads[-1].numpy())
    return [out.numpy()] + [g.numpy() for g in grads[:-1]]


RUNS = {"torch": _torch_run, "jax": _jax_run, "tensorflow": _tensorflow_run}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "sum_over_batch_size"])
@pytest.mark.parametrize("framework", ["torch", "jax", "tensorflow"])
@pytest.mark.parametrize("option", OPTIONS, ids=str)
def test_fused_equals_plain_with_the_student_gradients(option, framework, reduction):
    pytest.importorskip(framework)
    x = _inputs(2)
    fused = RUNS[framework](x, option, reduction, CHUNK)
    plain = RUNS[framework](x, option, reduction, None)  # 11 tokens fit the default chunk
    for got, want in zip(fused, plain, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_mask_weights_and_normalizer_follow_the_contract():
    torch = pytest.importorskip("torch")
    x = _inputs(3)
    arrays = [torch.tensor(x[k]) for k in ("hs", "ws", "ht", "wt")]
    mask = torch.tensor(np.arange(N) % 3 != 0)
    weight = torch.linspace(0.2, 2.0, N, dtype=torch.float64)
    per_token = reference([x[k] for k in ("hs", "ws", "ht", "wt")], {})
    keep = mask.numpy()
    w = weight.numpy()
    for chunk in (CHUNK, None):
        got = lk.linear_distillation(*arrays, mask=mask, sample_weight=weight, chunk_size=chunk)
        expected = np.sum((w * per_token)[keep]) / np.sum(w[keep])
        np.testing.assert_allclose(float(got), expected, rtol=1e-12)
        got = lk.linear_distillation(*arrays, mask=mask, normalizer=7.0, chunk_size=chunk)
        np.testing.assert_allclose(float(got), np.sum(per_token[keep]) / 7.0, rtol=1e-12)


def test_all_ignored_gives_zero_with_zero_gradient():
    torch = pytest.importorskip("torch")
    x = _inputs(4)
    hs = torch.tensor(x["hs"], requires_grad=True)
    targets = torch.full((N,), -100)
    loss = lk.linear_distillation(
        hs,
        torch.tensor(x["ws"]),
        torch.tensor(x["ht"]),
        torch.tensor(x["wt"]),
        targets=targets,
        chunk_size=CHUNK,
    )
    loss.backward()
    assert float(loss) == 0.0
    assert not hs.grad.any()


# ---------------------------------------------------------------------- anchors
@pytest.mark.parametrize(("beta", "temperature"), [(0.5, 1.0), (0.1, 2.0), (0.0, 1.0), (1.0, 1.0)])
def test_trl_gkd_loss_on_the_two_heads(beta, temperature):
    """TRL's ``generalized_jsd_loss(student_logits, teacher_logits, labels, beta, temperature,
    "batchmean")`` averages over the tokens whose label is not -100."""
    torch = pytest.importorskip("torch")
    trl_gkd = pytest.importorskip("trl.experimental.gkd")
    x = _inputs(5)
    hs, ws, ht, wt = (torch.tensor(x[k]) for k in ("hs", "ws", "ht", "wt"))
    labels = torch.tensor(x["targets"])
    want = trl_gkd.GKDTrainer.generalized_jsd_loss(
        (hs @ ws.T)[None],
        (ht @ wt.T)[None],
        labels[None],
        beta=beta,
        temperature=temperature,
        reduction="batchmean",
    )
    got = lk.linear_distillation(
        hs, ws, ht, wt, targets=labels, beta=beta, temperature=temperature, chunk_size=CHUNK
    )
    np.testing.assert_allclose(float(got), float(want), rtol=1e-10)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ht": np.zeros((N + 1, D_T))}, "teacher_hidden"),
        ({"wt": np.zeros((V + 1, D_T))}, "same vocabulary"),
        ({"wt": np.zeros((V, D_T + 1))}, "teacher_weight"),
        ({"ws": np.zeros((V, D_S + 1))}, "student_weight"),
    ],
)
def test_mismatched_heads_raise_naming_the_argument(change, message):
    x = {**_inputs(), **change}
    with pytest.raises(ValueError, match=message):
        lk.linear_distillation(x["hs"], x["ws"], x["ht"], x["wt"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"beta": 1.5}, "beta"),
        ({"temperature": 0.0}, "temperature"),
        ({"softcap": -1.0}, "softcap"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"targets": np.zeros(N + 1, dtype=int)}, "targets"),
        ({"targets": np.full(N, 0.5)}, "targets"),
        ({"student_bias": np.zeros(V + 1)}, "student_bias"),
        ({"teacher_bias": np.zeros(V + 1)}, "teacher_bias"),
        ({"reduction": "batchmean"}, "reduction"),
    ],
)
def test_bad_options_raise_naming_them(params, message):
    x = _inputs()
    with pytest.raises((ValueError, TypeError), match=message):
        lk.linear_distillation(x["hs"], x["ws"], x["ht"], x["wt"], **params)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("key", ["hs", "ws", "ht", "wt"])
def test_a_non_finite_input_is_named(key, bad):
    names = {"hs": "student_hidden", "ws": "student_weight", "ht": "teacher_hidden"}
    x = _inputs()
    x[key][0, 0] = bad
    with pytest.raises(ValueError, match=names.get(key, "teacher_weight") + " contains inf or NaN"):
        lk.linear_distillation(x["hs"], x["ws"], x["ht"], x["wt"])
