"""Pairs and triplets: contrastive pairs of a labelled batch, triplet margin, margin ranking,
cosine and hinge embedding."""

from __future__ import annotations

import math
from typing import Any

from ... import _validate
from ..._backend import ArrayAPIBackend, backend_of
from ..._reduce import reduce_loss
from ..._registry import register
from .._common import enter_arrays, prove_clean, relu
from ._base import (
    _BATCH_PAIRS,
    _COSINE_EPSILON,
    _METRIC,
    _PML,
    _check_fits,
    _enter_batch,
    _gram,
    _joint_shape,
    _non_negative,
    _off_diagonal,
    _p_norm,
    _pair_masks,
    _real,
    _signs,
    _sqrt0,
    _unit,
    _vectors,
)

#: What ``contrastive`` compares rows with.
_CONTRASTIVE_DISTANCES = ("euclidean", "squared_euclidean", "cosine")


# ---------------------------------------------------------------------- pair-based
@register(
    "contrastive",
    aliases=("contrastive_loss",),
    kind="pairs",
    task="metric_learning",
    properties={"bounded": False, "batch": True},
    contract_exceptions=_BATCH_PAIRS,
    references=(
        "Hadsell, Chopra & LeCun (2006), Dimensionality Reduction by Learning an Invariant Mapping",
        f"{_PML} ContrastiveLoss",
    ),
    **_METRIC,
)
def contrastive(
    embeddings: Any,
    labels: Any,
    *,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    normalize: bool = True,
    squared: bool = False,
    distance: str = "euclidean",
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Contrastive loss over every ordered pair of a labelled batch of embeddings.

    With :math:`d_{ij} = \lVert u_i - u_j \rVert_2` (``u`` the rows of ``embeddings``, scaled to
    unit norm when ``normalize=True``):

    .. math:: \ell_{ij} = \begin{cases} [d_{ij} - m_+]_+ & y_i = y_j \\
              [m_- - d_{ij}]_+ & y_i \ne y_j \end{cases}\qquad i \ne j

    ``squared=True`` uses :math:`\tfrac12[\cdot]_+^2` instead: with ``normalize=False`` and
    ``pos_margin=0`` that is Hadsell et al.'s original form. ``distance`` chooses what compares
    two rows:

    * ``"euclidean"`` (default): :math:`d_{ij}` as above;
    * ``"squared_euclidean"``: :math:`d_{ij}^2` in place of :math:`d_{ij}` (pml
      ``LpDistance(power=2)``);
    * ``"cosine"``: a similarity :math:`s_{ij} = u_i\cdot u_j` (the cosine with
      ``normalize=True``, the dot product without), so the hinges turn round:
      :math:`[m_+ - s_{ij}]_+` for positive pairs and :math:`[s_{ij} - m_-]_+` for negative ones
      (pml ``CosineSimilarity()``; ``DotProductSimilarity(normalize_embeddings=False)`` with
      ``normalize=False``); margins such as
      ``pos_margin=1, neg_margin=0`` suit it, and they may be any real numbers.

    Unreduced shape ``(N, N)``: one loss per ordered pair (both ``(i, j)`` and ``(j, i)``); the
    diagonal is not a pair and is excluded (0 in ``reduction="none"``). ``"mean"`` averages over
    all pairs; a batch without a pair (one embedding, everything masked) gives 0 with a zero
    gradient. ``mask``: ``(N,)`` removes embeddings from the batch, ``(N, N)`` selects pairs;
    ``sample_weight``: ``(N,)`` weights each anchor's row, ``(N, N)`` each pair.

    Parameters: ``embeddings`` ``(N, D)``; ``labels`` ``(N,)`` integers (equal labels make a
    positive pair); ``pos_margin`` and ``neg_margin`` (both ≥ 0 for the distances); ``normalize``
    (L2-normalise rows first, as torch ``F.normalize``); ``squared``; ``distance``.

    Reference: Hadsell, Chopra & LeCun (2006). The defaults are pytorch-metric-learning's
    ``ContrastiveLoss()`` (Euclidean ``LpDistance`` on normalised embeddings, margins 0 and 1); its
    per-pair losses are the entries of the unreduced matrix. pml reduces differently: its default
    ``AvgNonZeroReducer`` returns (mean of the non-zero positive-pair losses) + (mean of the
    non-zero negative-pair losses), and ``MeanReducer`` the sum of the two plain means — with
    ``reduction="sum"`` that is ``sample_weight = pos/n_pos + neg/n_neg``. ``normalize=False``
    matches ``ContrastiveLoss(distance=LpDistance(normalize_embeddings=False))``. Distances come
    from the Gram matrix, ``d² = ‖u_i‖² + ‖u_j‖² - 2 u_i·u_j`` (``O(N²)`` memory, as pml), with
    the norms read off its diagonal so that identical rows are exactly 0 apart; ``d²`` is clamped
    at 0 and the gradient at ``d = 0`` is 0. Like every Gram form it cancels for close points:
    ``d`` is accurate to about ``√(ε·‖u‖²)`` there (``ε`` the float's epsilon).

    >>> import numpy as np, losskit as lk
    >>> x = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0]])
    >>> lk.contrastive(x, np.array([0, 0, 1]), normalize=False, reduction="none").round(6).tolist()
    [[0.0, 1.414214, 0.0], [1.414214, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    _validate.check_choice("distance", distance, _CONTRASTIVE_DISTANCES)
    margin_check = _real if distance == "cosine" else _non_negative
    pos_margin = margin_check("pos_margin", pos_margin)
    neg_margin = margin_check("neg_margin", neg_margin)
    normalize = _validate.check_bool("normalize", normalize)
    squared = _validate.check_bool("squared", squared)
    pair_mask = None
    if mask is not None and len(_static_shape(mask)) == 2:
        pair_mask, mask = mask, None
    backend, x, labels, rows = _enter_batch(embeddings, labels, mask, reduction, normalizer)
    xp = backend.xp
    u = _unit(xp, x) if normalize else x
    gram = _gram(xp, u, u)
    positive, _, pair = _pair_masks(backend, labels, rows)
    if distance == "cosine":
        pull, push = relu(xp, pos_margin - gram), relu(xp, gram - neg_margin)
    else:
        d = _pair_distances(backend, gram, labels, squared=distance == "squared_euclidean")
        pull, push = relu(xp, d - pos_margin), relu(xp, neg_margin - d)
    if squared:
        pull, push = 0.5 * pull * pull, 0.5 * push * push
    loss = xp.where(positive, pull, push)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=pair_mask,
        valid=pair,
    )


def _pair_distances(backend: ArrayAPIBackend, gram: Any, labels: Any, squared: bool) -> Any:
    """Euclidean distances (squared when ``squared``) between rows from their Gram matrix, with
    the norms read off its diagonal so that identical rows are exactly 0 apart; 0 on the
    diagonal, and a zero gradient at 0."""
    xp = backend.xp
    off = _off_diagonal(backend, labels)
    zero = xp.zeros_like(gram)
    norms = xp.sum(xp.where(off, zero, gram), axis=1)  # the diagonal: the products of gram
    d2 = xp.expand_dims(norms, axis=1) + xp.expand_dims(norms, axis=0) - 2.0 * gram
    d2 = xp.where(off & (d2 > 0), d2, zero)
    return d2 if squared else _sqrt0(xp, d2)


def _static_shape(x: Any) -> tuple[Any, ...]:
    shape = getattr(x, "shape", None)
    if shape is None:
        return backend_of(x).shape(backend_of(x).asarray(x, x))
    return tuple(shape)


@register(
    "triplet_margin",
    aliases=("triplet_margin_loss", "triplet"),
    kind="axis",
    task="metric_learning",
    properties={"bounded": False},
    references=(
        "Schroff, Kalenichenko & Philbin (2015), FaceNet; Balntas et al. (2016), Learning local "
        "feature descriptors with triplets",
        "torch.nn.TripletMarginLoss; optax.losses.triplet_margin_loss",
    ),
    **_METRIC,
)
def triplet_margin(
    anchor: Any,
    positive: Any,
    negative: Any,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    eps_mode: str = "difference",
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Triplet margin loss on the last (feature) axis.

    .. math:: \ell = [\,m + d(a, p) - d(a, n)\,]_+,\qquad d(x, y) = \lVert x - y + ε\rVert_p

    ``swap=True`` replaces :math:`d(a, n)` by :math:`\min(d(a, n), d(p, n))` (Balntas et al.'s
    distance swap). ``eps`` is added to every component of the difference, as torch's
    ``pairwise_distance`` does (``eps_mode="difference"``, the default), so identical vectors are
    ``ε·D^{1/p}`` apart; ``eps_mode="sum"`` adds it under the root instead,
    :math:`(Σ|x - y|^p + ε)^{1/p}` (optax ``triplet_margin_loss``). Gradients are finite at
    identical vectors in both modes.

    Unreduced shape: the broadcast shape of the inputs without the last axis (one loss per
    triplet). Parameters: ``margin`` ≥ 0 (torch requires > 0), ``p`` > 0 (``math.inf`` allowed with
    ``eps_mode="difference"``), ``eps`` ≥ 0.

    Reference: Schroff et al. (2015); Balntas et al. (2016). Matches torch
    ``F.triplet_margin_loss`` (values and gradients, ``swap`` and every ``p``) and, with
    ``eps_mode="sum"``, optax ``triplet_margin_loss`` for even ``p`` (optax raises the signed
    difference to the power ``p``, which is not a norm for odd ``p``).

    >>> import numpy as np, losskit as lk
    >>> a, pos, neg = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[0.0, 5.5]])
    >>> lk.triplet_margin(a, pos, neg, eps=0.0, reduction="none").tolist()
    [0.5]
    """
    margin = _non_negative("margin", margin)
    p = _validate.check_range("p", p, 0.0, math.inf, low_open=True)
    eps = _non_negative("eps", eps)
    _validate.check_choice("eps_mode", eps_mode, ("difference", "sum"))
    swap = _validate.check_bool("swap", swap)
    if eps_mode == "sum" and math.isinf(p):
        raise ValueError("p must be finite with eps_mode='sum'")
    backend, (a, pos, neg), _ = enter_arrays(
        reduction,
        normalizer,
        {"anchor": anchor, "positive": positive, "negative": negative},
        (mask, sample_weight),
    )
    _vectors(backend, {"anchor": a, "positive": pos, "negative": neg})
    xp = backend.xp
    fused = getattr(backend, "euclidean_norm", None) if p == 2.0 else None  # torch: one kernel

    def distance(x: Any, y: Any) -> Any:
        if eps_mode == "difference":
            return _p_norm(xp, x - y + eps, p) if fused is None else fused(x - y + eps)
        return _p_norm(xp, x - y, p, offset=eps)

    d_pos, d_neg = distance(a, pos), distance(a, neg)
    if swap:
        d_neg = xp.minimum(d_neg, distance(pos, neg))
    loss = relu(xp, margin + d_pos - d_neg)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
    )


@register(
    "margin_ranking",
    aliases=("margin_ranking_loss",),
    kind="elementwise",
    task="ranking",
    properties={"convex": True, "bounded": False},
    references=("torch.nn.MarginRankingLoss",),
    family="metric",
    domain="real",
)
def margin_ranking(
    x1: Any,
    x2: Any,
    y: Any,
    *,
    margin: float = 0.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Margin ranking loss: :math:`\ell = [\,m - y\,(x_1 - x_2)\,]_+` with :math:`y \in \{-1, 1\}`.

    ``y = 1`` asks for ``x1`` to rank above ``x2`` by at least ``margin``, ``y = -1`` the
    reverse. Elementwise: the unreduced shape is the broadcast shape of ``x1``, ``x2`` and ``y``.
    ``margin`` may be any real number (torch's convention). Labels other than -1/1 raise (torch
    uses them as weights). Reference and anchor: torch ``F.margin_ranking_loss``.

    >>> import numpy as np, losskit as lk
    >>> lk.margin_ranking(np.array([1.0, 1.0]), np.array([0.5, 0.5]), np.array([1.0, -1.0]),
    ...                   margin=0.2, reduction="none").tolist()
    [0.0, 0.7]
    """
    margin = _real("margin", margin)
    backend, (a, b), checking = enter_arrays(reduction, normalizer, {"x1": x1, "x2": x2}, (y,))
    y = _signs(backend, y, a, checking)
    _joint_shape({"x1": backend.shape(a), "x2": backend.shape(b), "y": backend.shape(y)})
    # margin + y(x2 - x1) is margin - y(x1 - x2) to the bit; the addition is skipped at margin 0
    excess = y * (b - a)
    loss = backend.relu(excess + margin if margin else excess)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
    )


@register(
    "cosine_embedding",
    aliases=("cosine_embedding_loss",),
    kind="axis",
    task="metric_learning",
    properties={"bounded": True},
    references=("torch.nn.CosineEmbeddingLoss",),
    **_METRIC,
)
def cosine_embedding(
    x1: Any,
    x2: Any,
    y: Any,
    *,
    margin: float = 0.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Cosine embedding loss on the last (feature) axis, labels :math:`y \in \{-1, 1\}`.

    .. math:: \ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\
              [\cos(x_1, x_2) - m]_+ & y = -1 \end{cases},\qquad
              \cos = \frac{x_1\cdot x_2}{\sqrt{(\lVert x_1\rVert^2 + 10^{-12})
              (\lVert x_2\rVert^2 + 10^{-12})}}

    The 1e-12 added to each squared norm is torch's: a zero vector has cosine 0 and finite
    gradients. Unreduced shape: the broadcast shape of ``x1`` and ``x2`` without the last axis
    (``y`` must broadcast to it). ``margin`` in [-1, 1]. Reference and anchor: torch
    ``F.cosine_embedding_loss`` (torch gives 0 for labels other than -1/1; here they raise).

    >>> import numpy as np, losskit as lk
    >>> x1, x2 = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 1.0], [1.0, 1.0]])
    >>> lk.cosine_embedding(x1, x2, np.array([1.0, -1.0]), margin=0.5,
    ...                     reduction="none").round(6).tolist()
    [0.292893, 0.207107]
    """
    margin = _validate.check_range("margin", margin, -1.0, 1.0)
    backend, (a, b), checking = enter_arrays(
        reduction, normalizer, {"x1": x1, "x2": x2}, (y,), scan=False
    )
    rows = _vectors(backend, {"x1": a, "x2": b})
    y = _signs(backend, y, a, checking)
    _check_fits("y", backend.shape(y), rows, "the rows of x1 and x2")
    xp = backend.xp
    dot = xp.sum(a * b, axis=-1)
    norms = (xp.sum(a * a, axis=-1) + _COSINE_EPSILON) * (xp.sum(b * b, axis=-1) + _COSINE_EPSILON)
    cos = dot / xp.sqrt(norms)
    prove_clean(backend, cos, {"x1": a, "x2": b}, checking)  # NaN wherever an input is
    loss = xp.where(y > 0, 1.0 - cos, relu(xp, cos - margin))
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
    )


@register(
    "hinge_embedding",
    aliases=("hinge_embedding_loss",),
    kind="elementwise",
    task="metric_learning",
    properties={"convex": True, "bounded": False},
    references=("torch.nn.HingeEmbeddingLoss",),
    family="metric",
    domain="non-negative",
)
def hinge_embedding(
    x: Any,
    y: Any,
    *,
    margin: float = 1.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Hinge embedding loss on distances ``x`` with labels :math:`y \in \{-1, 1\}`.

    .. math:: \ell = \begin{cases} x & y = 1 \\ [m - x]_+ & y = -1 \end{cases}

    ``x`` is typically a distance between two embeddings (e.g. L1): similar pairs are pulled
    together, dissimilar ones pushed beyond ``margin`` (≥ 0). Elementwise: the unreduced shape is
    the broadcast shape of ``x`` and ``y``. Reference and anchor: torch
    ``F.hinge_embedding_loss`` (torch adds both terms for labels other than -1/1; here they
    raise).

    >>> import numpy as np, losskit as lk
    >>> lk.hinge_embedding(np.array([0.3, 0.3, 2.0]), np.array([1.0, -1.0, -1.0]),
    ...                    reduction="none").tolist()
    [0.3, 0.7, 0.0]
    """
    margin = _non_negative("margin", margin)
    backend, (d,), checking = enter_arrays(reduction, normalizer, {"x": x}, (y,))
    y = _signs(backend, y, d, checking)
    _joint_shape({"x": backend.shape(d), "y": backend.shape(y)})
    xp = backend.xp
    loss = xp.where(y > 0, d, relu(xp, margin - d))
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
    )
