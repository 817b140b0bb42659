"""Metric-learning losses on torch: losskit against pytorch-metric-learning (pml).

Forward + backward with respect to the embeddings of one batch: NTXentLoss (two views, and over
labels), SupConLoss, CircleLoss, ContrastiveLoss, MultiSimilarityLoss, ProxyAnchorLoss and the
angular-margin heads (ArcFace, CosFace, SphereFace, Sub-center ArcFace), with the options that
make losskit compute pml's number (checked before timing). pml is imported lazily: when it is
missing the suite is skipped.
Sizes: a batch of 1024 embeddings of dimension 128 (4 per class), and N=32 (per-call overhead).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Iterator

import torch

import losskit as lk

from ._common import grad_step as _step
from ._device import to_device
from ._suite import OFF, ON, Case, size_label
from ._timing import Step

LARGE = (1024, 128)
SMALL = (32, 16)
QUICK = (16, 8)
PER_CLASS = 4

Pair = tuple[str, str, str, Step, Step]


def _pairs(shape: tuple[int, int]) -> list[Pair]:
    pml = importlib.import_module("pytorch_metric_learning.losses")
    reducers = importlib.import_module("pytorch_metric_learning.reducers")
    gen = torch.Generator().manual_seed(0)
    n, d = shape
    x = to_device(torch.randn(n, d, generator=gen)).requires_grad_(True)
    labels = to_device(torch.arange(n) // PER_CLASS)
    # pml's NTXentLoss materialises (2m)^2 x (2m) arrays: two views of at most 128 items
    m = min(n, 128)
    za = to_device(torch.randn(m, d, generator=gen)).requires_grad_(True)
    zb = to_device(torch.randn(m, d, generator=gen))
    views = to_device(torch.arange(m).repeat(2))
    tau = 0.1

    ntxent = pml.NTXentLoss(tau)
    supcon = pml.SupConLoss(tau)
    circle = pml.CircleLoss(m=0.25, gamma=256.0)
    # pml's default AvgNonZeroReducer depends on which pair losses are zero: MeanReducer (the
    # mean over positive pairs plus the mean over negative pairs) is a fixed pair weighting
    contrastive = pml.ContrastiveLoss(reducer=reducers.MeanReducer())
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(n, dtype=torch.bool, device=same.device)
    negative = ~same
    pair_weight = positive / positive.sum() + negative / negative.sum()

    size = size_label(shape)
    return [
        *_pairs_round_two(x, labels, n, d),
        (
            "info_nce (ntxent)",
            f"2x{m}x{d}",
            "pml NTXentLoss",
            _step(lambda: ntxent(torch.cat([za, zb]), views), za),
            _step(lambda: lk.info_nce(za, zb, temperature=tau), za),
        ),
        (
            "supervised_contrastive",
            size,
            "pml SupConLoss",
            _step(lambda: supcon(x, labels), x),
            _step(lambda: lk.supervised_contrastive(x, labels, temperature=tau), x),
        ),
        (
            "circle",
            size,
            "pml CircleLoss",
            _step(lambda: circle(x, labels), x),
            _step(lambda: lk.circle(x, labels, m=0.25, gamma=256.0), x),
        ),
        (
            "contrastive",
            size,
            "pml ContrastiveLoss(MeanReducer)",
            _step(lambda: contrastive(x, labels), x),
            _step(lambda: lk.contrastive(x, labels, reduction="sum", sample_weight=pair_weight), x),
        ),
    ]


def _pairs_round_two(x: torch.Tensor, labels: torch.Tensor, n: int, d: int) -> list[Pair]:
    """NT-Xent over labels, Multi-Similarity, Proxy Anchor and the angular-margin heads (their
    class centres or proxies taken from the pml module, as ``W.T`` / ``proxies``)."""
    pml = importlib.import_module("pytorch_metric_learning.losses")
    size = size_label((n, d))
    classes = (n - 1) // PER_CLASS + 1  # labels are arange(n) // PER_CLASS (no device read)
    torch.manual_seed(0)
    ntxent = pml.NTXentLoss(0.1)
    multi = pml.MultiSimilarityLoss()
    proxy = to_device(pml.ProxyAnchorLoss(num_classes=classes, embedding_size=d))
    proxies = proxy.proxies.detach()
    # pml's NTXentLoss materialises m^2 x m arrays: at most 128 embeddings
    m = min(n, 128)
    xg, labels_g = x.detach()[:m].clone().requires_grad_(True), labels[:m]
    rows: list[Pair] = [
        (
            "grouped_info_nce",
            size_label((m, d)),
            "pml NTXentLoss(labels)",
            _step(lambda: ntxent(xg, labels_g), xg),
            _step(lambda: lk.grouped_info_nce(xg, labels_g, temperature=0.1), xg),
        ),
        (
            "multi_similarity",
            size,
            "pml MultiSimilarityLoss",
            _step(lambda: multi(x, labels), x),
            _step(lambda: lk.multi_similarity(x, labels), x),
        ),
        (
            "proxy_anchor",
            size,
            "pml ProxyAnchorLoss",
            _step(lambda: proxy(x, labels), x),
            _step(lambda: lk.proxy_anchor(x, labels, proxies), x),
        ),
    ]
    heads = [
        ("arcface", "ArcFaceLoss", {"margin": 28.6}, {"margin": math.radians(28.6)}),
        ("cosface", "CosFaceLoss", {}, {}),
        ("sphereface", "SphereFaceLoss", {}, {}),
        (
            "subcenter_arcface",
            "SubCenterArcFaceLoss",
            {"margin": 28.6},
            {"margin": math.radians(28.6), "sub_centers": 3},
        ),
    ]
    for name, cls, pml_options, options in heads:
        head = to_device(getattr(pml, cls)(num_classes=classes, embedding_size=d, **pml_options))
        weight = head.W.detach().T.contiguous()
        function = getattr(lk, name)
        rows.append(
            (
                name,
                size,
                f"pml {cls}",
                _step(functools.partial(head, x, labels), x),
                _step(functools.partial(function, x, labels, weight, **options), x),
            )
        )
    return rows


def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())


def _cases(suite: str, shape: tuple[int, int], quick: bool = False) -> Iterator[Case]:
    pairs = _pairs(shape)
    for validation in (OFF,) if quick else (OFF, ON):  # the smoke run: checks off only
        for loss, size, native_name, native, ours in pairs:
            yield Case(suite, loss, size, native_name, validation, native, ours, _value)


def cases(quick: bool) -> Iterator[Case]:
    """Every pml anchor at a large batch (or, quick, a tiny one) and at N=32."""
    yield from _cases("pml", QUICK if quick else LARGE, quick)
    if not quick:  # the smoke run (CI) skips the N=32 rows: the same code at another size
        yield from _cases("pml overhead", SMALL)


def versions() -> dict[str, str]:
    """Versions of pml (ImportError when missing: the suite is skipped)."""
    pml = importlib.import_module("pytorch_metric_learning")
    return {"pytorch_metric_learning": pml.__version__}
