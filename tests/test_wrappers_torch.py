"""``losskit.torch``: a module for every registered loss, with torch's conventions."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import losskit as lk
from cases import case

torch = pytest.importorskip("torch")
lkt = pytest.importorskip("losskit.torch")

from losskit._wrapping import class_name, loss_parameters, takes_pair  # noqa: E402

SCRIPTS = Path(__file__).parent / "scripts"


def _has_axis(name: str) -> bool:
    return any(p.name == "axis" for p in loss_parameters(lk.get(name)))


def _module(name: str, **extra):
    c = case(name)
    params = {**c.params, **({"axis": -1} if _has_axis(name) else {}), **extra}
    return getattr(lkt, class_name(name))(**params), c


def _torch_inputs(name: str, inputs):
    tensors = [torch.as_tensor(x) for x in inputs]
    if takes_pair(lk.get(name)):  # torch order: forward(input, target, ...)
        tensors[0], tensors[1] = tensors[1], tensors[0]
    return tensors


@pytest.mark.parametrize("name", lk.names())
def test_module_matches_the_function(name):
    module, c = _module(name)
    expected = lk.get(name)(*c.inputs, **c.params, **({"axis": -1} if _has_axis(name) else {}))
    tensors = _torch_inputs(name, c.inputs)
    got = module(*tensors)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", lk.names())
def test_module_gradients_are_finite(name):
    module, c = _module(name)
    tensors = _torch_inputs(name, c.inputs)
    positions = [(1 - i if i < 2 and takes_pair(lk.get(name)) else i) for i in c.differentiable]
    for i in positions:
        tensors[i] = tensors[i].clone().requires_grad_(True)
    module(*tensors, reduction="sum").backward()
    for i in positions:
        assert tensors[i].grad is not None and torch.isfinite(tensors[i].grad).all(), name


@pytest.mark.parametrize("name", [n for n in lk.names() if _has_axis(n)])
def test_class_axis_defaults_to_one(name):
    parameter = inspect.signature(getattr(lkt, class_name(name))).parameters["axis"]
    assert parameter.default == 1


def test_class_names_follow_the_registry():
    assert lkt.BinaryCrossentropy.loss_name == "binary_crossentropy"
    assert lkt.KLDivergence.loss_name == "kl_divergence"
    assert all(hasattr(lkt, class_name(n)) for n in lk.names())  # later ones via __getattr__


def test_nchw_segmentation_and_channels_first_classification():
    rng = np.random.default_rng(0)
    logits = torch.as_tensor(rng.normal(size=(2, 3, 4, 5)))
    labels = torch.as_tensor(rng.integers(0, 3, (2, 4, 5)))
    got = lkt.SparseCategoricalCrossentropy(from_logits=True)(logits, labels)
    expected = torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_array_parameters_are_buffers():
    weight = torch.tensor([1.0, 2.0, 3.0])
    criterion = lkt.CategoricalCrossentropy(from_logits=True, class_weight=weight)
    assert "class_weight" in criterion.state_dict()
    criterion = criterion.to(torch.float64)
    assert criterion.class_weight.dtype == torch.float64
    restored = lkt.CategoricalCrossentropy(from_logits=True, class_weight=torch.zeros(3))
    restored.load_state_dict(criterion.state_dict())
    torch.testing.assert_close(restored.class_weight, weight)
    from_numpy = lkt.BinaryCrossentropy(from_logits=True, pos_weight=np.array([2.0, 1.0]))
    assert isinstance(from_numpy.pos_weight, torch.Tensor)
    logits = torch.tensor([[0.3, -1.0], [2.0, 0.5]], dtype=torch.float64)
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, target, pos_weight=torch.tensor([2.0, 1.0], dtype=torch.float64)
    )
    torch.testing.assert_close(from_numpy(logits, target), expected)


def test_module_of_a_loss_object_and_pickling():
    criterion = lkt.Module(0.5 * lk.Loss("mean_squared_error") + lk.Loss("huber", delta=0.5))
    assert "Loss('huber', delta=0.5)" in repr(criterion)
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    expected = 0.5 * torch.nn.functional.mse_loss(x, y) + torch.nn.functional.huber_loss(
        x, y, delta=0.5
    )
    torch.testing.assert_close(criterion(x, y), expected)
    clone = pickle.loads(pickle.dumps(criterion))
    torch.testing.assert_close(clone(x, y), expected)
    dice = pickle.loads(pickle.dumps(lkt.Huber(delta=0.25)))
    torch.testing.assert_close(dice(x, y), torch.nn.functional.huber_loss(x, y, delta=0.25))


def test_reduction_at_construction_and_call():
    x, y = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    criterion = lkt.MeanAbsoluteError(reduction="sum")
    torch.testing.assert_close(criterion(x, y), (x - y).abs().sum())
    torch.testing.assert_close(criterion(x, y, reduction="none"), (x - y).abs())


def test_autocast_bfloat16_gives_a_float32_loss():
    model = torch.nn.Linear(8, 3)
    x, labels = torch.randn(16, 8), torch.randint(0, 3, (16,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
        loss = lkt.SparseCategoricalCrossentropy(from_logits=True)(logits, labels)
    assert logits.dtype == torch.bfloat16
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(model.weight.grad).all()


def test_torch_func_grad_and_vmap():
    criterion = lkt.BinaryCrossentropy(from_logits=True)
    z = torch.randn(5, 3, dtype=torch.float64)
    y = (torch.rand(5, 3) > 0.5).double()
    g = torch.func.grad(lambda t: criterion(t, y, reduction="sum"))(z)
    torch.testing.assert_close(g, torch.sigmoid(z) - y)
    per_row = torch.func.vmap(criterion)(z, y)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")
    torch.testing.assert_close(per_row, expected.mean(-1))


def test_bad_parameters_name_the_argument():
    with pytest.raises(TypeError, match="did you mean 'delta'"):
        lkt.Huber(detla=1.0)
    with pytest.raises(ValueError, match="class_weight"):
        criterion = lkt.CategoricalCrossentropy(from_logits=True, class_weight=torch.ones(2))
        criterion(torch.randn(4, 3), torch.eye(3)[[0, 1, 2, 0]])
    with pytest.raises(TypeError, match="not both"):
        lkt.Module(lk.Loss("mse"), delta=1.0)


@pytest.mark.slow
def test_compile_fullgraph_and_ddp_in_subprocesses():
    """torch.compile and a two-process gloo DDP run, each in a fresh interpreter."""
    for script in ("torch_wrapper_compile.py", "torch_ddp_check.py"):
        result = subprocess.run(
            [sys.executable, str(SCRIPTS / script)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "all ok" in result.stdout, result.stdout


def test_mixed_devices_name_the_argument():
    """Tensors on another device than y_pred are an error, not a silent copy (``meta`` stands
    in for an accelerator on CPU-only machines)."""
    criterion = lkt.MeanSquaredError()
    with pytest.raises(ValueError, match="y_true is on device meta"):
        criterion(torch.ones(3), torch.ones(3, device="meta"))
    with pytest.raises(ValueError, match="sample_weight is on device meta"):
        criterion(torch.ones(3), torch.ones(3), sample_weight=torch.ones(3, device="meta"))
    weighted = lkt.CategoricalCrossentropy(class_weight=torch.ones(3, device="meta"))
    with pytest.raises(ValueError, match="class_weight is on device meta"):
        weighted(torch.full((2, 3), 1 / 3), torch.eye(3)[:2])
