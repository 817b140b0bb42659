"""Value checks that never stall an accelerator, checked on the CPU.

On a tensor outside host memory (``TorchBackend.checks_on_device``) no check may read a value
back: each is queued as ``torch._assert_async``. Here that path is forced on CPU tensors and
every registered loss runs inside a dispatch mode that refuses the two operations that would
make the host wait on a device:

* ``aten._local_scalar_dense``: a value read back (``.item()``, ``bool()``, ``float()``,
  ``int()`` of a tensor);
* ``aten.lift_fresh``: host data made into a tensor inside the loss (on an accelerator, a
  blocking host-to-device copy). A loss's small constants (an SSIM window, quantile levels, a
  Python number) are copied to a device once and reused, so the call before the checked one
  puts them there.

``tests/test_cuda.py`` runs the same losses on a GPU under ``torch.cuda.set_sync_debug_mode``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import losskit as lk
from cases import case

torch = pytest.importorskip("torch")
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from losskit._backend._torch import TorchBackend  # noqa: E402

NAMES = lk.names()

#: Losses whose registered case needs a host read even on an accelerator, with the reason. None:
#: the one read left by design is an option's, below.
ALLOWED_HOST_READS: dict[str, str] = {}


class HostReadError(AssertionError):
    pass


class RefuseHostReads(TorchDispatchMode):
    """Raises at the first operation that would make the host wait on a device."""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default:
            raise HostReadError("a tensor's value was read back to the host")
        if func is torch.ops.aten.lift_fresh.default:
            raise HostReadError("host data was made into a tensor (a host-to-device copy)")
        return func(*args, **(kwargs or {}))


@pytest.fixture
def on_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPU tensors take the accelerator's path: checks queued as asserts, nothing read back."""
    monkeypatch.setattr(TorchBackend, "checks_on_device", lambda self, x: True)


def _tensors(inputs: list[np.ndarray], differentiable: tuple[int, ...] = ()) -> list[Any]:
    out = []
    for k, x in enumerate(inputs):
        t = torch.tensor(x, dtype=torch.float32 if x.dtype.kind == "f" else None)
        out.append(t.requires_grad_(True) if k in differentiable else t)
    return out


def _run_without_host_reads(f: Any, inputs: list[np.ndarray], params: dict[str, Any], grad=()):
    f(*_tensors(inputs), **params)  # constants reach the "device" once
    xs = _tensors(inputs, grad)
    with RefuseHostReads():
        value = f(*xs, **params)
        if grad:
            torch.sum(value).backward()
    return value, [xs[i].grad for i in grad]


@pytest.mark.parametrize("name", NAMES)
def test_every_loss_reads_nothing_back_on_a_device(name, on_device):
    if name in ALLOWED_HOST_READS:
        pytest.skip(ALLOWED_HOST_READS[name])
    c, f = case(name), lk.get(name)
    value, grads = _run_without_host_reads(f, c.inputs, c.params, c.differentiable)
    expected = f(*_tensors(c.inputs), **c.params)  # the same values as the host path's
    torch.testing.assert_close(value.detach(), expected, rtol=1e-6, atol=1e-7)
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads), name


def _probs(rows: int = 6, classes: int = 4) -> np.ndarray:
    z = np.random.default_rng(0).normal(size=(rows, classes))
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


_LABELS = np.array([0, 1, 2, 3, 1, 0])
#: Array options are tensors, as on a GPU (a NumPy array passed per call is copied to the
#: device each call); the class weights stay NumPy: a constant, copied once.
_OPTIONS = {
    "weights, mask, normalizer": (
        "mean_squared_error",
        [np.ones((6, 3)), np.zeros((6, 3))],
        {
            "sample_weight": torch.arange(6.0),
            "mask": torch.tensor([1.0, 0, 1, 1, 0, 1]),
            "normalizer": torch.tensor(4.0),
        },
    ),
    "probabilities": ("categorical_crossentropy", [np.eye(4)[_LABELS], _probs()], {}),
    "labels, ignore_index": (
        "sparse_categorical_crossentropy",
        [np.array([0, 1, -100, 3, 1, 0]), _probs()],
        {"ignore_index": -100, "from_logits": False},
    ),
    "logits, class weights": (
        "sparse_categorical_crossentropy",
        [_LABELS, np.log(_probs())],
        {"from_logits": True, "class_weight": np.array([1.0, 2.0, 0.5, 1.0])},
    ),
    "binary probabilities": (
        "binary_crossentropy",
        [np.array([[1.0, 0.0]] * 3), np.array([[0.9, 0.2]] * 3)],
        {"sample_weight": torch.tensor([1.0, 0.0, 2.0])},
    ),
}


@pytest.mark.parametrize("option", sorted(_OPTIONS))
def test_options_read_nothing_back_on_a_device(option, on_device):
    name, inputs, params = _OPTIONS[option]
    _run_without_host_reads(lk.get(name), inputs, params, (1,))


_BAD = {
    "NaN y_pred": (
        "mean_squared_error",
        [np.zeros(3), np.array([0.0, np.nan, 1.0])],
        {},
        "contains NaN",
        "y_pred",
    ),
    "label out of range": (
        "sparse_categorical_crossentropy",
        [np.array([0, 7, 1, 2, 3, 0]), _probs()],
        {"from_logits": False},
        "class indices in [0, 4)",
        "y_true",
    ),
    "negative sample_weight": (
        "mean_squared_error",
        [np.zeros(3), np.ones(3)],
        {"sample_weight": torch.tensor([1.0, -1.0, 1.0])},
        "must be non-negative",
        "sample_weight",
    ),
    "probability above 1": (
        "binary_crossentropy",
        [np.array([1.0, 0.0]), np.array([0.5, 1.5])],
        {},
        "must lie in [0, 1]",
        "y_pred",
    ),
    "rows not summing to 1": (
        "categorical_crossentropy",
        [np.eye(4)[_LABELS], _probs() * 0.5],
        {},
        "must sum to 1",
        "y_pred",
    ),
    "mask not 0/1": (
        "mean_squared_error",
        [np.zeros(3), np.ones(3)],
        {"mask": torch.tensor([1.0, 0.5, 0.0])},
        "mask must be boolean",
        "mask",
    ),
}


@pytest.mark.parametrize("bad", sorted(_BAD))
def test_bad_values_raise_from_the_device_assert(bad, on_device):
    """The assert's own error (RuntimeError, where the host path raises ValueError), with the
    eager check's wording less the values found, which were never read."""
    name, inputs, params, wording, argument = _BAD[bad]
    xs = _tensors(inputs)
    with RefuseHostReads(), pytest.raises(RuntimeError) as error:
        lk.get(name)(*xs, **params)
    message = str(error.value)
    assert wording in message and argument in message, message


def test_checks_can_be_switched_off_on_a_device(on_device):
    xs = _tensors([np.zeros(3), np.array([0.5, 1.5, 0.0])])
    with lk.validation(False), RefuseHostReads():
        lk.binary_crossentropy(*xs)


def test_cpu_tensors_keep_the_host_path_and_its_messages():
    backend = TorchBackend()
    assert not backend.checks_on_device(torch.zeros(2))
    assert backend.checks_on_device(torch.zeros(2, device="meta"))
    with pytest.raises(ValueError, match=r"got values in \[0, 1\.5\]"):
        lk.binary_crossentropy(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.5]))


#: Losses whose torch kernels have no "meta" implementation.
NO_META_KERNEL = {"ctc": "torch's _ctc_loss has no meta kernel"}


@pytest.mark.parametrize("name", NAMES)
def test_every_loss_keeps_to_its_inputs_device(name):
    """On the "meta" device (shapes only, no data) every tensor a loss makes must be on its
    inputs' device, as on a GPU, and the checks (asserts there) must not fail."""
    if name in NO_META_KERNEL:
        pytest.skip(NO_META_KERNEL[name])
    c, f = case(name), lk.get(name)
    value = f(*[x.to("meta") for x in _tensors(c.inputs)], **c.params)
    assert value.device.type == "meta"


def test_sinkhorn_without_a_diameter_reads_it_once_by_design(on_device):
    """The one host read left on a device: ``sinkhorn_divergence`` without ``diameter=`` reads
    the point clouds' diameter, since the number of ε-scaling steps (a Python loop) follows from
    it. Passing ``diameter=`` (as under ``jax.jit``) avoids it."""
    c = case("sinkhorn_divergence")
    params = {k: v for k, v in c.params.items() if k != "diameter"}
    xs = _tensors(c.inputs)
    with RefuseHostReads(), pytest.raises(HostReadError) as error:
        lk.sinkhorn_divergence(*xs, **params)
    assert any("_eager_diameter" in str(frame.name) for frame in error.traceback)
    with RefuseHostReads():
        lk.sinkhorn_divergence(*xs, **params, diameter=8.0)
