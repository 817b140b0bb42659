"""PyTorch eager: ``torch.nn.functional`` losses (and timm's) against losskit on the same tensors.

Two suites: large inputs (where kernels dominate) and N=32 inputs (where the per-call Python
overhead dominates), each with losskit's value checks off and on. Every losskit call uses the
options that make it compute the anchor's loss (see each loss's docstring); the two values are
checked to agree before timing. The inputs are drawn on the CPU and moved to ``--device``.
timm's ``AsymmetricLossMultiLabel`` is added when timm imports
(it is installed in ``.venv-vision`` only).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

import losskit as lk

from ._common import grad_step as _step
from ._device import to_device
from ._suite import LARGE, OFF, ON, QUICK, SMALL, Case, size_label
from ._timing import Step

Pair = tuple[str, str, str, Step, Step]
Sizes = dict[str, tuple[int, ...]]


class _Data:
    """Seeded random inputs, drawn on the CPU and put on the benchmark's device; ``leaf``
    tensors require a gradient."""

    def __init__(self) -> None:
        self.gen = torch.Generator().manual_seed(0)

    def normal(self, shape: tuple[int, ...], scale: float = 1.0) -> torch.Tensor:
        return to_device(scale * torch.randn(shape, generator=self.gen))

    def leaf(self, shape: tuple[int, ...], scale: float = 1.0) -> torch.Tensor:
        return self.normal(shape, scale).requires_grad_(True)

    def uniform(self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return to_device(self._uniform(shape, low, high))

    def _uniform(self, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape, generator=self.gen)

    def counts(self, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
        """Poisson counts of rates uniform in [low, high)."""
        return to_device(torch.poisson(self._uniform(shape, low, high), generator=self.gen))

    def signs(self, shape: tuple[int, ...]) -> torch.Tensor:
        return to_device(torch.where(torch.rand(shape, generator=self.gen) < 0.5, -1.0, 1.0))

    def labels(self, shape: tuple[int, ...], classes: int, low: int = 0) -> torch.Tensor:
        return to_device(torch.randint(low, classes, shape, generator=self.gen))


def _classification(sizes: Sizes, d: _Data) -> list[Pair]:
    n, c = sizes["classes"]
    size = size_label((n, c))
    z = d.leaf((n, c))
    labels = d.labels((n,), c)
    probs = torch.softmax(d.normal((n, c)), dim=-1)
    scores = d.leaf((n, c))
    return [
        (
            "sparse CE (logits)",
            size,
            "F.cross_entropy",
            _step(lambda: F.cross_entropy(z, labels), z),
            _step(lambda: lk.sparse_categorical_crossentropy(labels, z, from_logits=True), z),
        ),
        (
            "categorical CE (logits)",
            size,
            "F.cross_entropy(probs)",
            _step(lambda: F.cross_entropy(z, probs), z),
            _step(lambda: lk.categorical_crossentropy(probs, z, from_logits=True), z),
        ),
        (
            "kl_divergence (logits)",
            size,
            "F.kl_div(batchmean)",
            _step(lambda: F.kl_div(F.log_softmax(z, -1), probs, reduction="batchmean"), z),
            _step(lambda: lk.kl_divergence(probs, z, from_logits=True), z),
        ),
        (
            "multiclass_hinge",
            size,
            "F.multi_margin_loss",
            _step(lambda: F.multi_margin_loss(scores, labels), scores),
            # torch divides the Weston-Watkins sum by the class count and its mean by N
            _step(
                lambda: lk.multiclass_hinge(labels, scores, reduction="sum_over_batch_size") / c,
                scores,
            ),
        ),
    ]


def _elementwise(sizes: Sizes, d: _Data) -> list[Pair]:
    shape = sizes["elements"]
    size = size_label(shape)
    z = d.leaf(shape)
    hard = (d.uniform(shape) < 0.5).float()
    pred = d.leaf(shape)
    target = d.normal(shape)
    counts = d.counts(shape, 0.5, 4.0)
    var = d.uniform(shape, 0.5, 2.0)
    signs = d.signs(shape)
    return [
        (
            "binary CE (logits)",
            size,
            "F.binary_cross_entropy_with_logits",
            _step(lambda: F.binary_cross_entropy_with_logits(z, hard), z),
            _step(lambda: lk.binary_crossentropy(hard, z, from_logits=True), z),
        ),
        (
            "MSE",
            size,
            "F.mse_loss",
            _step(lambda: F.mse_loss(pred, target), pred),
            _step(lambda: lk.mean_squared_error(target, pred), pred),
        ),
        (
            "MAE (l1)",
            size,
            "F.l1_loss",
            _step(lambda: F.l1_loss(pred, target), pred),
            _step(lambda: lk.mean_absolute_error(target, pred), pred),
        ),
        (
            "huber",
            size,
            "F.huber_loss",
            _step(lambda: F.huber_loss(pred, target), pred),
            _step(lambda: lk.huber(target, pred), pred),
        ),
        (
            "smooth_l1",
            size,
            "F.smooth_l1_loss",
            _step(lambda: F.smooth_l1_loss(pred, target), pred),
            _step(lambda: lk.smooth_l1(target, pred), pred),
        ),
        (
            "poisson_nll",
            size,
            "F.poisson_nll_loss",
            _step(lambda: F.poisson_nll_loss(pred, counts), pred),
            _step(lambda: lk.poisson_nll(counts, pred), pred),
        ),
        (
            "gaussian_nll",
            size,
            "F.gaussian_nll_loss",
            _step(lambda: F.gaussian_nll_loss(pred, target, var), pred),
            _step(lambda: lk.gaussian_nll(target, pred, var=var), pred),
        ),
        (
            "soft_margin",
            size,
            "F.soft_margin_loss",
            _step(lambda: F.soft_margin_loss(z, signs), z),
            _step(lambda: lk.soft_margin(signs, z), z),
        ),
    ]


def _pairs_1d(sizes: Sizes, d: _Data) -> list[Pair]:
    """Losses on 1-d inputs (one value per item): as many items as the elementwise shape."""
    n = 1
    for dim in sizes["elements"]:
        n *= dim
    size = size_label((n,))
    x1, x2 = d.leaf((n,)), d.normal((n,))
    dist = d.uniform((n,), 0.0, 2.0).requires_grad_(True)
    signs = d.signs((n,))
    return [
        (
            "margin_ranking",
            size,
            "F.margin_ranking_loss",
            _step(lambda: F.margin_ranking_loss(x1, x2, signs), x1),
            _step(lambda: lk.margin_ranking(x1, x2, signs), x1),
        ),
        (
            "hinge_embedding",
            size,
            "F.hinge_embedding_loss",
            _step(lambda: F.hinge_embedding_loss(dist, signs), dist),
            _step(lambda: lk.hinge_embedding(dist, signs), dist),
        ),
    ]


def _embeddings(sizes: Sizes, d: _Data) -> list[Pair]:
    n, f = sizes["embeddings"]
    size = size_label((n, f))
    a = d.leaf((n, f))
    p, neg, b = d.normal((n, f)), d.normal((n, f)), d.normal((n, f))
    signs = d.signs((n,))
    return [
        (
            "triplet_margin",
            size,
            "F.triplet_margin_loss",
            _step(lambda: F.triplet_margin_loss(a, p, neg), a),
            _step(lambda: lk.triplet_margin(a, p, neg), a),
        ),
        (
            "cosine_embedding",
            size,
            "F.cosine_embedding_loss",
            _step(lambda: F.cosine_embedding_loss(a, b, signs), a),
            _step(lambda: lk.cosine_embedding(a, b, signs), a),
        ),
        (
            "cosine_similarity",
            size,
            "-F.cosine_similarity.mean",
            _step(lambda: -F.cosine_similarity(a, b, dim=-1).mean(), a),
            _step(lambda: lk.cosine_similarity(b, a), a),
        ),
    ]


def _ctc(sizes: Sizes, d: _Data) -> list[Pair]:
    n, t, k, s = sizes["sequences"]
    z = d.leaf((t, n, k), 2.0)  # torch's time-major layout
    labels = d.labels((n, s), k, low=1)  # 0 is the blank
    label_lengths = d.labels((n,), s + 1, low=max(1, s // 2))
    logit_lengths = to_device(torch.full((n,), t, dtype=torch.long))

    def native() -> torch.Tensor:
        return F.ctc_loss(F.log_softmax(z, -1), labels, logit_lengths, label_lengths)

    def ours() -> torch.Tensor:
        return lk.ctc(
            labels,
            z,
            label_lengths,
            logit_lengths,
            time_major=True,
            normalize="target_length",
        )

    size = f"N{n} T{t} C{k} S{s}"
    return [("ctc", size, "F.ctc_loss", _step(native, z), _step(ours, z))]


def _timm(sizes: Sizes, d: _Data) -> list[Pair]:
    """timm's asymmetric loss, when timm is installed (it needs torchvision)."""
    try:
        timm_loss = importlib.import_module("timm.loss")
    except Exception:
        return []
    n, c = sizes["classes"]
    z = d.leaf((n, c))
    y = (d.uniform((n, c)) < 0.1).float()
    asl = timm_loss.AsymmetricLossMultiLabel()  # defaults: gamma_neg 4, gamma_pos 1, clip 0.05

    def ours() -> torch.Tensor:  # timm: sum over classes, mean over the batch
        return lk.asymmetric_loss(y, z, from_logits=True, reduction="sum") / n

    name = "timm AsymmetricLossMultiLabel"
    return [
        ("asymmetric_loss", size_label((n, c)), name, _step(lambda: asl(z, y), z), _step(ours, z))
    ]


def _value(loss: torch.Tensor) -> float:
    return float(loss.detach())


def _pairs(sizes: Sizes) -> list[Pair]:
    d = _Data()
    return [
        *_classification(sizes, d),
        *_elementwise(sizes, d),
        *_pairs_1d(sizes, d),
        *_embeddings(sizes, d),
        *_ctc(sizes, d),
        *_timm(sizes, d),
    ]


def _forward(loss_fn: Callable[[], torch.Tensor]) -> Step:
    """Forward only, outside autograd (inference, evaluation): the loss, and no gradient."""

    def step() -> tuple[torch.Tensor, None]:
        with torch.no_grad():
            return loss_fn(), None

    return step


#: The losses whose N=32 calls are also timed forward only, and in the smoke run.
CORE = (
    "sparse CE (logits)",
    "categorical CE (logits)",
    "kl_divergence (logits)",
    "binary CE (logits)",
    "MSE",
    "huber",
)


def _forward_pairs(sizes: Sizes) -> list[Pair]:
    """The core losses forward only, on the inputs of their forward + backward rows."""
    d = _Data()
    n, c = sizes["classes"]
    z, labels, probs = d.leaf((n, c)), d.labels((n,), c), torch.softmax(d.normal((n, c)), -1)
    x, target = d.leaf(sizes["elements"]), d.normal(sizes["elements"])
    hard = (d.uniform(sizes["elements"]) < 0.5).float()
    classes, elements = size_label((n, c)), size_label(sizes["elements"])

    def kl_native() -> torch.Tensor:
        return F.kl_div(F.log_softmax(z, -1), probs, reduction="batchmean")

    calls = [
        ("sparse CE (logits)", classes, "F.cross_entropy", lambda: F.cross_entropy(z, labels),
         lambda: lk.sparse_categorical_crossentropy(labels, z, from_logits=True)),
        ("categorical CE (logits)", classes, "F.cross_entropy(probs)",
         lambda: F.cross_entropy(z, probs),
         lambda: lk.categorical_crossentropy(probs, z, from_logits=True)),
        ("kl_divergence (logits)", classes, "F.kl_div(batchmean)", kl_native,
         lambda: lk.kl_divergence(probs, z, from_logits=True)),
        ("binary CE (logits)", elements, "F.binary_cross_entropy_with_logits",
         lambda: F.binary_cross_entropy_with_logits(x, hard),
         lambda: lk.binary_crossentropy(hard, x, from_logits=True)),
        ("MSE", elements, "F.mse_loss", lambda: F.mse_loss(x, target),
         lambda: lk.mean_squared_error(target, x)),
        ("huber", elements, "F.huber_loss", lambda: F.huber_loss(x, target),
         lambda: lk.huber(target, x)),
    ]  # fmt: skip
    return [(loss, size, name, _forward(a), _forward(b)) for loss, size, name, a, b in calls]


def _cases(suite: str, pairs: list[Pair]) -> Iterator[Case]:
    for validation in (OFF, ON):  # ON is the default a user runs
        for loss, size, native_name, native, ours in pairs:
            yield Case(suite, loss, size, native_name, validation, native, ours, _value)


def cases(quick: bool) -> Iterator[Case]:
    """Large-input and small-input (overhead) cases, validation off then on; the N=32 rows of
    the core losses forward only too. The smoke run (CI) keeps the N=32 rows of the core
    losses only, so that a regression of the per-call overhead shows there."""
    yield from _cases("torch eager", _pairs(QUICK if quick else LARGE))
    small = _pairs(SMALL)
    if quick:
        small = [pair for pair in small if pair[0] in CORE]
    yield from _cases("torch overhead", small)
    yield from _cases("torch overhead fwd", _forward_pairs(SMALL))


def versions() -> dict[str, str]:
    """Library versions and threading for the results file."""
    found = {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}
    with contextlib.suppress(Exception):
        found["timm"] = importlib.import_module("timm").__version__
    return found
