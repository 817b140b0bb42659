"""PyTorch eager: ``torch.nn.functional`` losses against losskit on the same tensors.

Two suites: large inputs (where kernels dominate) and N=32 inputs (where the per-call Python
overhead dominates), each with losskit's value checks off and on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

import losskit as lk

from ._suite import LARGE, OFF, ON, QUICK, Case, size_label
from ._timing import Step

OVERHEAD = {"classes": (32, 10), "elements": (32,)}

Pair = tuple[str, str, str, Step, Step]


def _step(loss_fn: Callable[[], torch.Tensor], x: torch.Tensor) -> Step:
    """Forward + backward: the loss and its gradient with respect to ``x``."""

    def step() -> tuple[torch.Tensor, torch.Tensor]:
        loss = loss_fn()
        (grad,) = torch.autograd.grad(loss, x)
        return loss, grad

    return step


def _crossentropy(shape: tuple[int, ...], gen: torch.Generator) -> Pair:
    n, c = shape
    logits = torch.randn(n, c, generator=gen).requires_grad_(True)
    labels = torch.randint(0, c, (n,), generator=gen)
    native = _step(lambda: F.cross_entropy(logits, labels), logits)
    ours = _step(
        lambda: lk.sparse_categorical_crossentropy(labels, logits, from_logits=True), logits
    )
    return "sparse CE (logits)", size_label(shape), "F.cross_entropy", native, ours


def _binary(shape: tuple[int, ...], gen: torch.Generator) -> Pair:
    logits = torch.randn(shape, generator=gen).requires_grad_(True)
    targets = (torch.rand(shape, generator=gen) < 0.5).float()
    native = _step(lambda: F.binary_cross_entropy_with_logits(logits, targets), logits)
    ours = _step(lambda: lk.binary_crossentropy(targets, logits, from_logits=True), logits)
    name = "F.binary_cross_entropy_with_logits"
    return "binary CE (logits)", size_label(shape), name, native, ours


def _squared(shape: tuple[int, ...], gen: torch.Generator) -> Pair:
    pred = torch.randn(shape, generator=gen).requires_grad_(True)
    target = torch.randn(shape, generator=gen)
    native = _step(lambda: F.mse_loss(pred, target), pred)
    ours = _step(lambda: lk.mean_squared_error(target, pred), pred)
    return "MSE", size_label(shape), "F.mse_loss", native, ours


def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())


def _pairs(sizes: dict[str, tuple[int, ...]]) -> list[Pair]:
    gen = torch.Generator().manual_seed(0)
    return [
        _crossentropy(sizes["classes"], gen),
        _binary(sizes["elements"], gen),
        _squared(sizes["elements"], gen),
    ]


def _cases(suite: str, pairs: list[Pair]) -> Iterator[Case]:
    for validation in (OFF, ON):
        for loss, size, native_name, native, ours in pairs:
            yield Case(suite, loss, size, native_name, validation, native, ours, _value)


def cases(quick: bool) -> Iterator[Case]:
    """Large-input and small-input (overhead) cases, validation off then on."""
    yield from _cases("torch eager", _pairs(QUICK if quick else LARGE))
    yield from _cases("torch overhead", _pairs(OVERHEAD))


def versions() -> dict[str, str]:
    """Library versions and threading for the results file."""
    return {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}
