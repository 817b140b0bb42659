"""Segmentation losses on torch: losskit against segmentation-models-pytorch, MONAI and kornia.

Forward + backward on multiclass logits in NCHW layout (``axis=1``) with integer labels,
16×4×128×128 by default. Each anchor is imported lazily and skipped when it is not installed
(smp needs torchvision: run ``.venv-vision/bin/python -m benchmarks --only segmentation``
for it). losskit is called with the options that reproduce each anchor, and the two values are
checked to agree before timing. The target is ``ratio = losskit / fastest anchor <= 0.8``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

import losskit as lk

from ._common import grad_step as _step
from ._common import optional_module as _optional
from ._device import to_device
from ._suite import OFF, ON, Case
from ._timing import Step

SHAPE = (16, 4, 128, 128)
QUICK_SHAPE = (2, 4, 16, 16)
SUITE = "segmentation"

Pair = tuple[str, str, Step, Step]


def _data(shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    n, c, h, w = shape
    logits = to_device(2.0 * torch.randn(shape, generator=gen)).requires_grad_(True)
    labels = to_device(torch.randint(0, c, (n, h, w), generator=gen))
    one_hot = torch.nn.functional.one_hot(labels, c).permute(0, 3, 1, 2).float().contiguous()
    return logits, labels, one_hot


def _pairs(shape: tuple[int, ...]) -> list[Pair]:
    z, labels, one_hot = _data(shape)
    column = labels[:, None]
    smp = _optional("segmentation_models_pytorch.losses")
    monai = _optional("monai.losses")
    kornia = _optional("kornia.losses")
    pairs: list[Pair] = []

    def add(loss: str, native: str, theirs: Callable[[], Any], ours: Callable[[], Any]) -> None:
        pairs.append((loss, native, _step(theirs, z), _step(ours, z)))

    common = {"axis": 1, "from_logits": True}
    batch = {**common, "empty": "zero"}  # smp: batch statistics, absent classes zeroed
    monai_like = {**common, "per_image": True, "empty": "keep", "smooth": 1e-5}
    kornia_like = {**common, "per_image": True, "empty": "ignore"}
    ft = {"alpha": 0.3, "beta": 0.7}

    if smp is not None:
        dice = smp.DiceLoss("multiclass", from_logits=True)
        add("dice", "smp.DiceLoss", lambda: dice(z, labels), lambda: lk.dice(labels, z, **batch))
    if monai is not None:
        mdice = monai.DiceLoss(softmax=True, to_onehot_y=True)
        add(
            "dice",
            "monai.DiceLoss",
            lambda: mdice(z, column),
            lambda: lk.dice(labels, z, **monai_like),
        )
    if kornia is not None:
        add(
            "dice",
            "kornia.dice_loss",
            lambda: kornia.dice_loss(z, labels, average="macro"),
            lambda: lk.dice(labels, z, **kornia_like),
        )

    if smp is not None:
        jac = smp.JaccardLoss("multiclass", from_logits=True)
        add(
            "jaccard",
            "smp.JaccardLoss",
            lambda: jac(z, labels),
            lambda: lk.jaccard(labels, z, **batch),
        )
    if monai is not None:
        mjac = monai.DiceLoss(softmax=True, to_onehot_y=True, jaccard=True)
        jaccard_monai = {**monai_like, "smooth": 0.5e-5}
        add(
            "jaccard",
            "monai.DiceLoss(jaccard)",
            lambda: mjac(z, column),
            lambda: lk.jaccard(labels, z, **jaccard_monai),
        )

    if smp is not None:
        tv = smp.TverskyLoss("multiclass", from_logits=True, **ft)
        add(
            "tversky",
            "smp.TverskyLoss",
            lambda: tv(z, labels),
            lambda: lk.tversky(labels, z, **ft, **batch),
        )
    if monai is not None:
        mtv = monai.TverskyLoss(softmax=True, to_onehot_y=True, **ft)
        add(
            "tversky",
            "monai.TverskyLoss",
            lambda: mtv(z, column),
            lambda: lk.tversky(labels, z, **ft, **monai_like),
        )
    if kornia is not None:
        add(
            "tversky",
            "kornia.tversky_loss",
            lambda: kornia.tversky_loss(z, labels, 0.3, 0.7),
            lambda: lk.tversky(labels, z, **ft, **kornia_like),
        )

    if smp is not None:
        lov = smp.LovaszLoss("multiclass", from_logits=True)
        add(
            "lovasz_softmax",
            "smp.LovaszLoss",
            lambda: lov(z, labels),
            lambda: lk.lovasz_softmax(labels, z, axis=1, from_logits=True),
        )
    if kornia is not None:
        add(
            "lovasz_softmax",
            "kornia.lovasz_softmax_loss",
            lambda: kornia.lovasz_softmax_loss(z, labels),
            lambda: lk.lovasz_softmax(
                labels, z, axis=1, from_logits=True, per_image=True, classes="all"
            ),
        )

    if monai is not None:  # the boundary-aware losses (distance maps, skeletons)
        mboundary = monai.BoundaryLoss(softmax=True, to_onehot_y=True)
        add(
            "boundary_loss",
            "monai.BoundaryLoss",
            lambda: mboundary(z, column),
            lambda: lk.boundary_loss(labels, z, **common),
        )
        mhausdorff = monai.HausdorffDTLoss(softmax=True, to_onehot_y=True)
        no_background = [0.0] + [1.0] * (shape[1] - 1)  # MONAI's include_background=False
        add(
            "hausdorff_dt",
            "monai.HausdorffDTLoss",
            lambda: mhausdorff(z, column),
            lambda: lk.hausdorff_dt(labels, z, class_weight=no_background, **common),
        )
        mcldice = monai.SoftclDiceLoss(softmax=True, to_onehot_y=True)
        add(
            "soft_cldice",
            "monai.SoftclDiceLoss",
            lambda: mcldice(z, column),
            lambda: lk.soft_cldice(labels, z, **common),
        )

    focal = {"gamma": 2.0, "alpha": 0.25, "from_logits": True}
    if smp is not None:
        sfocal = smp.FocalLoss("multilabel", alpha=0.25, gamma=2.0)
        add(
            "binary focal",
            "smp.FocalLoss",
            lambda: sfocal(z, one_hot),
            lambda: lk.binary_focal_crossentropy(one_hot, z, **focal),
        )
    if monai is not None:
        mfocal = monai.FocalLoss(alpha=0.25, gamma=2.0)
        add(
            "binary focal",
            "monai.FocalLoss",
            lambda: mfocal(z, one_hot),
            lambda: lk.binary_focal_crossentropy(one_hot, z, **focal),
        )
    if kornia is not None:
        add(
            "binary focal",
            "kornia.binary_focal_loss",
            lambda: kornia.binary_focal_loss_with_logits(z, one_hot, alpha=0.25, reduction="mean"),
            lambda: lk.binary_focal_crossentropy(one_hot, z, **focal),
        )
    return pairs


def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())


def cases(quick: bool) -> Iterator[Case]:
    """Every (loss, anchor) pair, validation off then on."""
    shape = QUICK_SHAPE if quick else SHAPE
    size = "x".join(str(d) for d in shape)
    pairs = _pairs(shape)
    for validation in (OFF, ON):
        for loss, native_name, native, ours in pairs:
            yield Case(SUITE, loss, size, native_name, validation, native, ours, _value)


def versions() -> dict[str, str]:
    """Versions of torch and of the anchors found."""
    found = {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}
    for name in ("segmentation_models_pytorch", "monai", "kornia"):
        module = _optional(name)
        if module is not None:
            found[name] = str(getattr(module, "__version__", "?"))
    return found
