"""Helpers the torch benchmark suites share: optional anchors and the forward + backward step."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ._timing import Step


def optional_module(name: str) -> Any:
    """The module, or None when it (or a dependency) is not installed: an anchor such as smp or
    torchvision fails with ImportError or RuntimeError when its C extension does not load."""
    try:
        return importlib.import_module(name)
    except Exception:
        return None


def grad_step(loss_fn: Callable[[], Any], x: Any) -> Step:
    """Forward + backward: the loss and its gradient with respect to the torch tensor ``x``."""
    import torch

    def step() -> tuple[Any, Any]:
        loss = loss_fn()
        (grad,) = torch.autograd.grad(loss, x)
        return loss, grad

    return step
