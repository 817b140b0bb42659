"""Image similarity losses on torch: losskit's ``ssim`` and ``ms_ssim`` against MONAI,
pytorch-msssim and kornia.

Forward + backward with respect to the predicted images, NCHW float32 (``axis=1``), 11-tap
Gaussian window (σ = 1.5), data range 1: 16×3×256×256 by default, with a per-call overhead row
at 2×3×32×32 (a 5-tap window). losskit is called with the options that reproduce each anchor
(``padding="valid"`` for MONAI ``SSIMLoss`` and pytorch-msssim, ``padding="reflect",
eps=1e-12`` and half the loss for kornia ``ssim_loss``; ``odd="zero_pad"`` for pytorch-msssim's
``ms_ssim``), and the values are checked to agree before timing. Each anchor is imported
lazily and skipped when it is not installed. ``--quick`` uses 2×3×48×48 (3-tap window).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

import losskit as lk

from ._common import grad_step as _step
from ._common import optional_module as _optional
from ._device import to_device
from ._suite import OFF, ON, Case, size_label
from ._timing import Step

SUITE = "image"
LARGE = (16, 3, 256, 256)
SMALL = (2, 3, 32, 32)
QUICK = (2, 3, 48, 48)

Pair = tuple[str, str, Step, Step]


def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())


def _pairs(shape: tuple[int, ...], size: int, multiscale: bool) -> list[Pair]:
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(shape, generator=gen)
    pred = to_device(0.7 * target + 0.3 * torch.rand(shape, generator=gen)).requires_grad_(True)
    target = to_device(target)
    monai = _optional("monai.losses")
    msssim = _optional("pytorch_msssim")
    kornia = _optional("kornia.losses")
    valid = {"axis": 1, "win_size": size}
    pairs: list[Pair] = []

    def add(loss: str, native: str, theirs: Callable[[], Any], ours: Callable[[], Any]) -> None:
        pairs.append((loss, native, _step(theirs, pred), _step(ours, pred)))

    if monai is not None:
        mssim = monai.SSIMLoss(spatial_dims=2, win_size=size)
        add(
            "ssim",
            "monai.SSIMLoss",
            lambda: mssim(pred, target),
            lambda: lk.ssim(target, pred, **valid),
        )
    if msssim is not None:
        add(
            "ssim",
            "pytorch_msssim.ssim",
            lambda: 1 - msssim.ssim(pred, target, data_range=1.0, win_size=size),
            lambda: lk.ssim(target, pred, **valid),
        )
    if kornia is not None:
        reflect = {**valid, "padding": "reflect", "eps": 1e-12}
        add(
            "ssim",
            "kornia.ssim_loss",
            lambda: kornia.ssim_loss(pred, target, size),
            lambda: 0.5 * lk.ssim(target, pred, **reflect),
        )
    if msssim is not None and multiscale:
        add(
            "ms_ssim",
            "pytorch_msssim.ms_ssim",
            lambda: 1 - msssim.ms_ssim(pred, target, data_range=1.0, win_size=size),
            lambda: lk.ms_ssim(target, pred, odd="zero_pad", **valid),
        )
    return pairs


def _cases(suite: str, shape: tuple[int, ...], size: int, multiscale: bool) -> Iterator[Case]:
    pairs = _pairs(shape, size, multiscale)
    for validation in (OFF, ON):
        for loss, native_name, native, ours in pairs:
            yield Case(
                suite, loss, size_label(shape), native_name, validation, native, ours, _value
            )


def cases(quick: bool) -> Iterator[Case]:
    """The large size (or, quick, a small one with a 3-tap window) and the per-call overhead."""
    if quick:
        yield from _cases(SUITE, QUICK, 3, True)
        return
    yield from _cases(SUITE, LARGE, 11, True)
    yield from _cases(f"{SUITE} overhead", SMALL, 5, False)


def versions() -> dict[str, str]:
    """Versions of torch and of the anchors found."""
    found = {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}
    for name in ("monai", "pytorch_msssim", "kornia"):
        module = _optional(name)
        if module is not None:
            found[name] = str(getattr(module, "__version__", "?"))
    return found
