"""Self-supervised and box losses on torch: losskit against their anchors.

Forward + backward, each anchor with the options that make losskit compute its number (checked
before timing):

* ``vicreg`` against pytorch-metric-learning's ``VICRegLoss`` (``loss(z_a, ref_emb=z_b)``, its
  λ, μ, ν and ε passed as ``sim_coeff``, ``std_coeff``, ``cov_coeff`` and ``eps``), gradient
  with respect to the first view;
* ``barlow_twins`` against MONAI's ``BarlowTwinsLoss`` (its ``lambd`` is
  ``off_diagonal_weight``);
* ``giou_loss``, ``diou_loss``, ``ciou_loss`` against ``torchvision.ops``'s box losses
  (``reduction="mean"``), gradient with respect to the predicted boxes.

Each anchor is imported lazily and its rows are left out when it is missing; torchvision is not
in the main environment (run ``.venv-vision/bin/python -m benchmarks --only self_supervised``
for the box rows), and the suite is skipped when none of its anchors imports.
Sizes: two views of 1024 embeddings of dimension 2048 (the covariance and cross-correlation
matrices are 2048×2048) and 65536 box pairs; ``--quick`` uses 64×32 views and 256 boxes, and
the N=32 rows measure the per-call overhead.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator

import torch

import losskit as lk

from ._common import grad_step as _step
from ._common import optional_module as _optional
from ._device import to_device
from ._suite import OFF, ON, Case, size_label
from ._timing import Step

SUITE = "self_supervised"
#: (views: rows × features, boxes: pairs)
LARGE = ((1024, 2048), 65536)
SMALL = ((32, 16), 32)
QUICK = ((64, 32), 256)

Pair = tuple[str, str, str, Step, Step]


def _views(shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Two correlated views; the columns scaled from 0.4 to 1.6 so that VICReg's variance hinge
    is active for some columns and not for others."""
    gen = torch.Generator().manual_seed(0)
    n, d = shape
    z_a = torch.linspace(0.4, 1.6, d) * torch.randn(n, d, generator=gen)
    z_b = z_a + 0.4 * torch.randn(n, d, generator=gen)
    return to_device(z_a).requires_grad_(True), to_device(z_b)


def _view_pairs(shape: tuple[int, int]) -> list[Pair]:
    pml = _optional("pytorch_metric_learning.losses")
    monai = _optional("monai.losses")
    z_a, z_b = _views(shape)
    size = size_label(shape)
    pairs: list[Pair] = []
    if pml is not None:
        anchor = pml.VICRegLoss(invariance_lambda=25.0, variance_mu=25.0, covariance_v=1.0)
        options = {"sim_coeff": 25.0, "std_coeff": 25.0, "cov_coeff": 1.0, "eps": 1e-4}
        pairs.append(
            (
                "vicreg",
                size,
                "pml VICRegLoss",
                _step(lambda: anchor(z_a, ref_emb=z_b), z_a),
                _step(lambda: lk.vicreg(z_a, z_b, **options), z_a),
            )
        )
    if monai is not None:
        barlow = monai.BarlowTwinsLoss(lambd=5e-3)
        weight = float(barlow.lambd)  # MONAI keeps lambd as a float32 tensor
        pairs.append(
            (
                "barlow_twins",
                size,
                "monai BarlowTwinsLoss",
                _step(lambda: barlow(z_a, z_b), z_a),
                _step(lambda: lk.barlow_twins(z_a, z_b, off_diagonal_weight=weight), z_a),
            )
        )
    return pairs


def _boxes(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(target, predicted) boxes ``(x1, y1, x2, y2)``: overlapping, nested and disjoint pairs."""
    gen = torch.Generator().manual_seed(1)

    def boxes() -> torch.Tensor:
        corner = 4.0 * torch.rand(n, 2, generator=gen)
        return torch.cat([corner, corner + 0.1 + 3.0 * torch.rand(n, 2, generator=gen)], dim=1)

    return to_device(boxes()), to_device(boxes()).requires_grad_(True)


def _box_pairs(n: int) -> list[Pair]:
    ops = _optional("torchvision.ops")
    if ops is None:
        print("  (box rows skipped: torchvision does not import)", file=sys.stderr, flush=True)
        return []
    target, pred = _boxes(n)
    anchors = [
        ("giou_loss", "generalized_box_iou_loss", lk.giou_loss),
        ("diou_loss", "distance_box_iou_loss", lk.diou_loss),
        ("ciou_loss", "complete_box_iou_loss", lk.ciou_loss),
    ]
    pairs: list[Pair] = []
    for loss, native, ours in anchors:
        theirs = getattr(ops, native)
        pairs.append(
            (
                loss,
                f"{n}x4",
                f"torchvision.ops.{native}",
                _step(functools.partial(theirs, pred, target, reduction="mean"), pred),
                _step(functools.partial(ours, target, pred), pred),
            )
        )
    return pairs


def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())


def _cases(suite: str, sizes: tuple[tuple[int, int], int], quick: bool) -> Iterator[Case]:
    pairs = [*_view_pairs(sizes[0]), *_box_pairs(sizes[1])]
    if not pairs:
        raise ImportError(
            "none of pytorch_metric_learning, monai and torchvision imports (the suite's anchors)"
        )
    for validation in (OFF,) if quick else (OFF, ON):  # the smoke run: checks off only
        for loss, size, native_name, native, ours in pairs:
            yield Case(suite, loss, size, native_name, validation, native, ours, _value)


def cases(quick: bool) -> Iterator[Case]:
    """Every anchor found at the large sizes (or, quick, tiny ones) and at N=32."""
    yield from _cases(SUITE, QUICK if quick else LARGE, quick)
    if not quick:  # the smoke run skips the N=32 rows: the same code at another size
        yield from _cases(f"{SUITE} overhead", SMALL, quick)


def versions() -> dict[str, str]:
    """Versions of torch and of the anchors found."""
    found = {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}
    for name in ("pytorch_metric_learning", "monai", "torchvision"):
        module = _optional(name)
        if module is not None:
            found[name] = str(getattr(module, "__version__", "?"))
    return found
