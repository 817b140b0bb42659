"""Optimal-transport losses on torch: losskit's ``sinkhorn_divergence`` against geomloss.

Forward + backward with respect to the predicted cloud, against
``geomloss.SamplesLoss("sinkhorn", p=2, blur=0.05, scaling=0.5, backend="tensorized")`` (the
same solver: ε-scaling from the clouds' diameter, the same number of iterations, value checked
before timing). geomloss is imported lazily; when it is missing the suite is skipped.
Sizes: 2 pairs of clouds of 2048 points in 3-D (cost matrices 2048×2048 per pair); ``--quick``
uses 2×64×3 and the overhead rows 1×32×3.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import torch

import losskit as lk

from ._common import grad_step as _step
from ._device import to_device
from ._suite import OFF, ON, Case, size_label

SUITE = "transport"
LARGE = (2, 2048, 3)
SMALL = (1, 32, 3)
QUICK = (2, 64, 3)


def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())


def _cases(suite: str, shape: tuple[int, int, int], quick: bool) -> Iterator[Case]:
    geomloss = importlib.import_module("geomloss")
    gen = torch.Generator().manual_seed(0)
    target = to_device(torch.randn(*shape, generator=gen))
    pred = to_device(0.8 * torch.randn(*shape, generator=gen) + 0.3).requires_grad_(True)
    options = {"p": 2, "blur": 0.05, "scaling": 0.5}
    anchor = geomloss.SamplesLoss("sinkhorn", backend="tensorized", **options)
    native = _step(lambda: anchor(pred, target).mean(), pred)
    ours = _step(lambda: lk.sinkhorn_divergence(target, pred, **options), pred)
    for validation in (OFF,) if quick else (OFF, ON):
        name = "geomloss SamplesLoss tensorized"
        yield Case(
            suite, "sinkhorn_divergence", size_label(shape), name, validation, native, ours, _value
        )


def cases(quick: bool) -> Iterator[Case]:
    """The large size (or, quick, a tiny one) and the per-call overhead at 1×32×3."""
    yield from _cases(SUITE, QUICK if quick else LARGE, quick)
    if not quick:
        yield from _cases(f"{SUITE} overhead", SMALL, quick)


def versions() -> dict[str, str]:
    """Versions of torch and geomloss."""
    geomloss = importlib.import_module("geomloss")
    return {
        "torch": torch.__version__,
        "torch_threads": str(torch.get_num_threads()),
        "geomloss": str(geomloss.__version__),
    }
