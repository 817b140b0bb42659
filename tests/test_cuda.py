"""Every registered loss on a CUDA GPU, under ``torch.cuda.set_sync_debug_mode("error")``: no value
check, and nothing else in a loss, may make the host wait on the device. Marked ``cuda``; skipped
without a GPU (``tests/test_device_sync.py`` checks the same path on the CPU).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

import losskit as lk
from cases import case

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

NAMES = lk.names()


def _tensor(x: np.ndarray, device: str) -> Any:
    return torch.tensor(x, dtype=torch.float32 if x.dtype.kind == "f" else None, device=device)


def _value_and_grads(name: str, device: str, refuse_syncs: bool = False) -> tuple[Any, list[Any]]:
    c, f = case(name), lk.get(name)
    xs = [_tensor(x, device).requires_grad_(k in c.differentiable) for k, x in enumerate(c.inputs)]
    if refuse_syncs:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
    try:
        value = f(*xs, **c.params)
        if c.differentiable:
            torch.sum(value).backward()
    finally:
        if refuse_syncs:
            torch.cuda.set_sync_debug_mode("default")
    return value.detach(), [xs[i].grad for i in c.differentiable]


def test_the_sync_debug_mode_catches_a_host_read():
    x = torch.ones(2, device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        with pytest.raises(RuntimeError):
            x.sum().item()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("name", NAMES)
def test_every_loss_runs_on_cuda_without_a_host_sync(name):
    value, grads = _value_and_grads(name, "cuda", refuse_syncs=True)
    expected, expected_grads = _value_and_grads(name, "cpu")
    torch.testing.assert_close(value.cpu(), expected, rtol=1e-5, atol=1e-6)
    for grad, want in zip(grads, expected_grads, strict=True):
        assert grad is not None and bool(torch.isfinite(grad).all()), name
        torch.testing.assert_close(grad.cpu(), want, rtol=1e-4, atol=1e-6)


def test_a_bad_label_on_cuda_raises_a_device_side_assert():
    """The label check is queued on the device; the error surfaces at the next synchronisation
    (and leaves the process's CUDA context unusable, as torch's own label checks do: hence a
    subprocess)."""
    code = textwrap.dedent(
        """
        import torch, losskit as lk
        labels = torch.tensor([0, 9], device="cuda")
        logits = torch.zeros(2, 4, device="cuda")
        lk.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        torch.cuda.synchronize()
        print("no error")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "no error" not in run.stdout
    assert "device-side assert" in run.stderr or "class indices" in run.stderr, run.stderr[-2000:]
