"""losskit.distributed on torch: the global mean denominator, the normaliser, SigLIP, and the
cross-rank losses.

In this process (no process group, world size 1): ``mean_denominator`` for every registered
loss on every backend, ``global_normalizer``, ``sigmoid_contrastive`` against a float64 NumPy
formula, and the argument checks. The multi-process checks (gloo, world sizes 2 and 4, every
feature against the single-process full batch) run ``scripts/distributed_torch_check.py``; the
example and the documentation's recipes run under ``torch.distributed.run``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import losskit as lk
from cases import FACTORIES, case
from conftest import get_backend
from losskit import distributed as lkd

ROOT = Path(__file__).resolve().parent.parent
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _distributed_available() -> bool:
    if not HAS_TORCH:
        return False
    import torch.distributed

    return bool(torch.distributed.is_available())


needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
needs_distributed = pytest.mark.skipif(
    not _distributed_available(), reason="torch.distributed is not available"
)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


# ---------------------------------------------------------------------- mean_denominator
def _check_denominator(name: str, backend_name: str) -> None:
    b = get_backend(backend_name)
    c, f = case(name), lk.get(name)
    inputs = [b.array(x) for x in c.inputs]
    mean = b.to_numpy(f(*inputs, **c.params))
    total = b.to_numpy(f(*inputs, **c.params, reduction="sum"))
    count = lkd.mean_denominator(f, *inputs, **c.params)
    assert b.to_numpy(count).shape == ()
    assert float(b.to_numpy(count)) > 0, name
    np.testing.assert_allclose(mean, total / b.to_numpy(count), rtol=1e-12, atol=1e-14)
    # it depends on what excludes or weighs entries, not on the predictions' values
    flipped = [
        b.array(np.flip(x, 0).copy()) if k in c.differentiable and k not in c.shared else inputs[k]
        for k, x in enumerate(c.inputs)
    ]
    again = lkd.mean_denominator(name, *flipped, **c.params)
    np.testing.assert_array_equal(b.to_numpy(again), b.to_numpy(count))


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("backend_name", ["numpy", "torch"])
def test_mean_denominator_is_the_mean_reduction_denominator(name, backend_name):
    _check_denominator(name, backend_name)


@pytest.mark.parametrize(
    "name", ["sparse_categorical_crossentropy", "info_nce", "dice", "ctc", "supervised_contrastive"]
)
@pytest.mark.parametrize("backend_name", ["jax", "tensorflow"])
def test_mean_denominator_on_jax_and_tensorflow(name, backend_name):
    _check_denominator(name, backend_name)


def test_mean_denominator_counts_what_the_contract_counts():
    r = np.random.default_rng(0)
    labels = r.integers(0, 4, (5, 7))
    labels[r.random((5, 7)) < 0.4] = -100
    logits = r.normal(size=(5, 7, 4))
    count = lkd.mean_denominator(
        lk.sparse_categorical_crossentropy, labels, logits, from_logits=True, ignore_index=-100
    )
    assert float(count) == np.sum(labels != -100)
    class_weight = np.array([0.5, 1.0, 2.0, 3.0])
    weighted = lkd.mean_denominator(
        "sparse_categorical_crossentropy",
        labels,
        logits,
        from_logits=True,
        ignore_index=-100,
        class_weight=class_weight,
        sample_weight=np.arange(5.0),
    )
    gathered = class_weight[np.where(labels != -100, labels, 0)]
    expected = np.sum(np.where(labels != -100, gathered, 0.0) * np.arange(5.0)[:, None])
    assert float(weighted) == pytest.approx(expected, rel=1e-14)
    # sample_weight (N,) on an (N, 3) loss: expanded on the right
    w = r.random(6)
    assert float(
        lkd.mean_denominator("mse", np.zeros((6, 3)), np.ones((6, 3)), sample_weight=w)
    ) == pytest.approx(3 * w.sum(), rel=1e-14)
    # info_nce: (N, 2) anchors, masked pairs are neither
    mask = np.array([True, False, True, True, False])
    z = r.normal(size=(5, 3))
    assert float(lkd.mean_denominator(lk.Loss("info_nce"), z, z, mask=mask)) == 6.0
    assert float(lkd.mean_denominator("info_nce", z, z, mask=mask, symmetric=False)) == 3.0
    # per-image Dice with a pixel mask: only images with a counted class
    y = np.eye(3)[r.integers(0, 3, (4, 5, 5))]
    pixels = r.random((4, 5, 5)) > 0.5
    pixels[1] = False
    count = lkd.mean_denominator(
        "dice", y, r.normal(size=(4, 5, 5, 3)), from_logits=True, per_image=True, mask=pixels
    )
    assert float(count) == 3.0
    # per_image=False: one value for the batch
    assert float(lkd.mean_denominator("dice", y, r.dirichlet(np.ones(3), (4, 5, 5)))) == 1.0


def test_mean_denominator_of_a_custom_loss():
    from losskit import _registry

    @lk.loss(name="test_distributed_cubed_error", replace=True)
    def cubed(y_true, y_pred, *, xp):
        d = y_pred - y_true
        return d * d * d

    try:
        w = np.array([0.5, 0.0, 2.0])
        y = np.zeros((3, 2))
        mask = np.array([[True, False], [True, True], [True, True]])
        count = lkd.mean_denominator(cubed, y, np.ones((3, 2)), sample_weight=w, mask=mask)
        assert float(count) == pytest.approx(0.5 + 0.0 + 2 * 2.0)
    finally:
        _registry._remove("test_distributed_cubed_error")


@needs_torch
def test_mean_denominator_on_torch_has_no_gradient_and_stays_on_the_device():
    import torch

    logits = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    count = lkd.mean_denominator(
        lk.sparse_categorical_crossentropy,
        torch.tensor([0, -100, 2, 1]),
        logits,
        from_logits=True,
        ignore_index=-100,
    )
    assert isinstance(count, torch.Tensor) and not count.requires_grad
    assert count.dtype == torch.float64 and count.device == logits.device and float(count) == 3.0


def test_mean_denominator_rejects_what_has_no_single_denominator():
    x = np.zeros(3)
    with pytest.raises(TypeError, match="remove reduction="):
        lkd.mean_denominator("mse", x, x, reduction="sum")
    with pytest.raises(TypeError, match="remove normalizer="):
        lkd.mean_denominator("mse", x, x, normalizer=2.0)
    with pytest.raises(ValueError, match="sum of 2 terms"):
        lkd.mean_denominator(lk.Loss("mse") + lk.Loss("mae"), x, x)
    with pytest.raises(ValueError, match="did not reduce through losskit"):
        lkd.mean_denominator(lambda a, b, **kw: 0.0, x, x)
    with pytest.raises(KeyError, match="unknown loss"):
        lkd.mean_denominator("no_such_loss", x, x)


def test_import_needs_no_framework():
    code = (
        "import sys\n"
        "for name in ('torch', 'jax', 'tensorflow'): sys.modules[name] = None  # unimportable\n"
        "import numpy as np\n"
        "import losskit.distributed as lkd\n"
        "print(float(lkd.mean_denominator('mse', np.zeros(4), np.ones(4))))\n"
        "print(sorted(lkd.__all__))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("4.0")


# ---------------------------------------------------------------------- global_normalizer
@needs_torch
def test_global_normalizer_on_one_process():
    import torch

    count = torch.tensor(5, dtype=torch.int64)
    result = lkd.global_normalizer(count)
    assert result.dtype == torch.float64 and result.shape == () and float(result) == 5.0
    as_float = torch.tensor([7.0], dtype=torch.float64)
    copy = lkd.global_normalizer(as_float)
    assert float(copy) == 7.0 and copy.data_ptr() != as_float.data_ptr()  # never the input
    assert float(lkd.global_normalizer([torch.tensor(2), 3, np.float32(4.0)])) == 9.0
    assert float(lkd.global_normalizer(6, average_gradients=False)) == 6.0
    # zero valid elements: the loss is 0 with a zero gradient, not NaN
    logits = torch.randn(3, 4, requires_grad=True)
    labels = torch.full((3,), -100)
    normalizer = lkd.global_normalizer((labels != -100).sum())
    value = lk.sparse_categorical_crossentropy(
        labels, logits, from_logits=True, ignore_index=-100, normalizer=normalizer
    )
    value.backward()
    assert value.item() == 0.0 and torch.equal(logits.grad, torch.zeros_like(logits))


@needs_torch
def test_global_normalizer_argument_errors():
    import torch

    with pytest.raises(TypeError, match="bool"):
        lkd.global_normalizer(True)
    with pytest.raises(ValueError, match="non-negative"):
        lkd.global_normalizer(-1)
    with pytest.raises(ValueError, match="scalar count"):
        lkd.global_normalizer(torch.ones(2))
    with pytest.raises(ValueError, match="empty sequence"):
        lkd.global_normalizer([])
    with pytest.raises(TypeError, match="average_gradients must be a bool"):
        lkd.global_normalizer(3, average_gradients=1)
    with pytest.raises(TypeError, match="local_count must be a number"):
        lkd.global_normalizer(object())


@needs_distributed
def test_group_without_a_process_group_is_an_error():
    import torch

    with pytest.raises(RuntimeError, match=r"group was given but torch\.distributed"):
        lkd.global_normalizer(3, group=object())
    z = torch.randn(3, 2)
    with pytest.raises(RuntimeError, match="group was given"):
        lkd.info_nce(z, z, group=object())
    with pytest.raises(RuntimeError, match="group was given"):
        lkd.all_gather(z, group=object())


# ---------------------------------------------------------------------- sigmoid_contrastive
def _siglip_reference(a, b, t, bias, normalize, mask=None, weight=None):
    """Per-row losses and the mean, in float64 from the paper's formula; gradients for
    normalize=False (d/dx log(1 + exp(-zx)) = -z σ(-zx))."""
    if normalize:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    n = a.shape[0]
    keep = np.ones(n, bool) if mask is None else mask
    w = np.ones(n) if weight is None else weight
    logits = t * a @ b.T + bias
    z = 2 * np.eye(n) - 1
    pairs = np.logaddexp(0.0, -z * logits) * keep[None, :]
    rows = np.where(keep, pairs.sum(1), 0.0) * w
    mean = rows.sum() / (w * keep).sum()
    g = -z / (1 + np.exp(z * logits)) * keep[None, :] * (w * keep)[:, None] / (w * keep).sum()
    grads = {"a": t * g @ b, "b": t * g.T @ a, "t": np.sum(g * (a @ b.T)), "bias": g.sum()}
    return rows, mean, grads


@pytest.mark.parametrize("normalize", [True, False])
def test_sigmoid_contrastive_matches_the_paper_formula(normalize):
    r = np.random.default_rng(1)
    a, b = r.normal(size=(6, 4)), r.normal(size=(6, 4))
    mask = np.array([1, 1, 0, 1, 1, 1], bool)
    weight = r.random(6) + 0.5
    for t, bias in ((10.0, -10.0), (1.0, 0.0), (100.0, -30.0)):
        rows, mean, _ = _siglip_reference(a, b, t, bias, normalize, mask, weight)
        kw = {"logit_scale": t, "bias": bias, "normalize": normalize, "mask": mask}
        got = lk.sigmoid_contrastive(a, b, sample_weight=weight, reduction="none", **kw)
        np.testing.assert_allclose(got, rows, rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(lk.sigmoid_contrastive(a, b, sample_weight=weight, **kw), mean)
        plain_rows, plain_mean, _ = _siglip_reference(a, b, t, bias, normalize)
        plain = lk.sigmoid_contrastive(a, b, logit_scale=t, bias=bias, normalize=normalize)
        np.testing.assert_allclose(plain, plain_mean, rtol=1e-13)  # -Σ_ij log σ / N
        summed = lk.sigmoid_contrastive(
            a, b, logit_scale=t, bias=bias, normalize=normalize, reduction="sum"
        )
        np.testing.assert_allclose(summed, plain_rows.sum(), rtol=1e-13)


@needs_torch
def test_sigmoid_contrastive_gradients_with_learnt_scale_and_bias():
    import torch

    r = np.random.default_rng(2)
    a, b = r.normal(size=(5, 3)), r.normal(size=(5, 3))
    mask = np.array([1, 0, 1, 1, 1], bool)
    weight = r.random(5) + 0.5
    _, mean, grads = _siglip_reference(a, b, 2.5, -1.5, False, mask, weight)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    t = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor([-1.5], dtype=torch.float64, requires_grad=True)  # shape (1,) accepted
    value = lk.sigmoid_contrastive(
        ta, tb, logit_scale=t, bias=bias, normalize=False, mask=torch.tensor(mask),
        sample_weight=torch.tensor(weight),
    )  # fmt: skip
    value.backward()
    np.testing.assert_allclose(value.item(), mean, rtol=1e-13)
    np.testing.assert_allclose(ta.grad.numpy(), grads["a"], rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(tb.grad.numpy(), grads["b"], rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(t.grad.item(), grads["t"], rtol=1e-11)
    np.testing.assert_allclose(bias.grad.numpy(), [grads["bias"]], rtol=1e-11)
    # the torch module generated for it
    import losskit.torch as lkt

    module = lkt.SigmoidContrastive(logit_scale=2.5, bias=-1.5, normalize=False)
    np.testing.assert_allclose(module(ta, tb).item(), lk.sigmoid_contrastive(a, b, **{
        "logit_scale": 2.5, "bias": -1.5, "normalize": False}), rtol=1e-13)  # fmt: skip


def test_sigmoid_contrastive_argument_errors():
    z = np.zeros((3, 2))
    assert lk.info("siglip").name == "sigmoid_contrastive"
    with pytest.raises(ValueError, match="logit_scale"):
        lk.sigmoid_contrastive(z, z, logit_scale=0.0)
    with pytest.raises(ValueError, match="logit_scale must be > 0"):
        lk.sigmoid_contrastive(z, z, logit_scale=np.array(-1.0))
    with pytest.raises(ValueError, match="bias must be a number or a scalar array"):
        lk.sigmoid_contrastive(z, z, bias=np.zeros(2))
    with pytest.raises(TypeError, match="bias must be a number"):
        lk.sigmoid_contrastive(z, z, bias=True)
    with pytest.raises(ValueError, match="same shape"):
        lk.sigmoid_contrastive(z, np.zeros((4, 2)))


# ---------------------------------------------------------------------- one process
@needs_distributed
@pytest.mark.parametrize("negatives", ["all", "cross_view"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_distributed_losses_on_one_process_are_the_single_device_losses(negatives, symmetric):
    import torch

    g = torch.Generator().manual_seed(0)
    z_a, z_b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    mask, weight = torch.tensor([1, 1, 0, 1, 1]) > 0, torch.rand(5, generator=g)
    kw = {"negatives": negatives, "symmetric": symmetric, "mask": mask, "sample_weight": weight}
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(
            lkd.info_nce(z_a, z_b, reduction=reduction, **kw),
            lk.info_nce(z_a, z_b, reduction=reduction, **kw),
        )
        torch.testing.assert_close(
            lkd.siglip(z_a, z_b, mask=mask, reduction=reduction, sizes=[5]),
            lk.sigmoid_contrastive(z_a, z_b, mask=mask, reduction=reduction),
        )
    torch.testing.assert_close(lkd.all_gather(z_a), z_a)


@needs_distributed
def test_distributed_argument_errors():
    import torch

    z = torch.randn(3, 2)
    with pytest.raises(TypeError, match="takes torch tensors; z_a is a numpy"):
        lkd.info_nce(np.zeros((3, 2)), z)
    with pytest.raises(TypeError, match="takes torch tensors; x is"):
        lkd.all_gather(np.zeros(3))
    with pytest.raises(ValueError, match=r"sizes\[0\] = 4 but this rank's batch has 3 rows"):
        lkd.info_nce(z, z, sizes=[4])
    with pytest.raises(ValueError, match="one non-negative int per rank"):
        lkd.sigmoid_contrastive(z, z, sizes=[3, 3])
    with pytest.raises(ValueError, match="reduction"):
        lkd.info_nce(z, z, reduction="sum_over_batch_size")
    with pytest.raises(ValueError, match="z_a and z_b must have the same shape"):
        lkd.siglip(z, torch.randn(4, 2))
    with pytest.raises(ValueError, match="z_a is an empty batch"):
        lkd.info_nce(z[:0], z[:0])
    with pytest.raises(TypeError, match="average_gradients must be a bool"):
        lkd.info_nce(z, z, average_gradients="yes")
    with pytest.raises(ValueError, match="0-d tensor"):
        lkd.all_gather(torch.tensor(1.0))


# ---------------------------------------------------------------------- process groups
def _run(args: list[str], timeout: int = 240) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=ENV, timeout=timeout, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr[-6000:]
    return done.stdout


#: What a worker prints when gloo's threads abort it during interpreter shutdown, after the script
#: has run (torch 2.13 on CPU, about one run in five while DDP modules are still alive at exit).
#: Such a run says nothing about losskit's numbers, so it is retried.
TEARDOWN_ABORT = "terminate called without an active exception"


def _torchrun(script: str, attempts: int = 3) -> str:
    """``python -m torch.distributed.run --nproc_per_node=2 script`` on a free port."""
    for _ in range(attempts):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        args = ["-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}"]
        done = subprocess.run(
            [sys.executable, *args, script],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=240,
            cwd=ROOT,
        )
        if done.returncode == 0:
            return done.stdout
        if TEARDOWN_ABORT not in done.stderr:
            break
    raise AssertionError(done.stdout + done.stderr[-6000:])


@pytest.mark.slow
@needs_distributed
@pytest.mark.parametrize("world", [2, 4])
def test_every_feature_equals_the_full_batch_on_gloo(world):
    out = _run([str(ROOT / "tests" / "scripts" / "distributed_torch_check.py"), str(world)])
    assert f"world {world}: all ok" in out
    for feature in ("normaliser", "all_gather", "info_nce", "sigmoid_contrastive", "DDP"):
        assert feature in out, out


@pytest.mark.slow
@needs_distributed
def test_ddp_example_under_torchrun_and_alone():
    example = str(ROOT / "examples" / "ddp_train.py")
    runs = {
        1: _run([example]),
        2: _torchrun(example),
    }
    for world, out in runs.items():
        assert f"world {world}: the first step's gradient equals" in out, out
        losses = [float(v) for v in re.findall(r"step +\d+: loss ([\d.]+)", out)]
        assert len(losses) > 10 and losses[-1] < losses[0], out
    # one process or two: the same training run
    alone, shared = (
        [float(v) for v in re.findall(r"step +\d+: loss ([\d.]+)", runs[w])[:3]] for w in (1, 2)
    )
    np.testing.assert_allclose(shared, alone, atol=2e-4)


#: the sections of docs/scaling-out.md this file tests (the others are tested with their code)
TORCH_SECTIONS = (
    "## Global mean",
    "## Contrastive losses",
    "## SigLIP",
    "## Vocabulary-parallel cross-entropy",
)


@pytest.mark.slow
@needs_distributed
def test_scaling_out_recipes_run_alone_and_under_torchrun(tmp_path):
    text = (ROOT / "docs" / "scaling-out.md").read_text(encoding="utf-8")
    sections = re.split(r"(?m)^(?=## )", text)
    chosen = [sections[0], *(s for s in sections if s.startswith(TORCH_SECTIONS))]  # + setup
    blocks = [b for s in chosen for b in re.findall(r"```python\n(.*?)```", s, flags=re.S)]
    assert len(blocks) >= 5
    script = tmp_path / "recipes.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    _run([str(script)])
    out = _torchrun(str(script))
    assert "Traceback" not in out
