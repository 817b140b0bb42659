"""Learning-to-rank losses on score lists (negative labels mark padding).

Every loss takes ``(y_true, y_pred)`` of shape ``(..., list_size)`` (the list on ``axis``):
graded relevance labels (``>= 0``; a negative label marks a padding item) and scores. The
unreduced loss has one value per list. Padding items take no part in any sum, softmax or
normaliser, whatever their score (even ±inf); their gradient is exactly 0.

A list with nothing to score does not count in the ``"mean"`` (nor in
``"sum_over_batch_size"``): its unreduced value is exactly 0 and it is excluded as ``mask``
would exclude it. "Nothing to score" means: no valid item (every loss); for the NDCG losses
(:func:`approx_ndcg`, :func:`lambda_loss`) also an ideal DCG of 0 (no relevant item), where
NDCG is undefined; for :func:`listnet` with ``target="normalize"`` also a label sum of 0. A
list whose labels all tie has no ordered pair: the pairwise losses give 0 for it, and it
counts.

Pairs, sorts and ranks are formed with O(n²) comparisons on the list (no data-dependent
shapes, so every loss works under ``jax.jit`` and ``tf.function(jit_compile=True)``).
"""

from __future__ import annotations

import math
from typing import Any

from .. import _validate
from .._reduce import reduce_loss
from .._registry import register
from ._common import enter_pair, full_target, times_log

_RANKING: dict[str, Any] = {"family": "ranking", "kind": "axis", "task": "ranking"}
_LN2 = math.log(2.0)


class _Lists:
    """Scores, labels and validity of a batch of lists, the list on the last axis."""

    def __init__(
        self, y_true: Any, y_pred: Any, axis: int, reduction: str, normalizer: Any
    ) -> None:
        backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
        axis = _validate.check_axis(axis, y_pred.ndim)
        _validate.check_class_axis(backend.shape(y_true), backend.shape(y_pred), axis, what="item")
        xp = backend.xp
        y_true = full_target(backend, y_true, y_pred)
        labels = backend.moveaxis(y_true, axis, -1)
        scores = backend.moveaxis(y_pred, axis, -1)
        self.backend, self.xp = backend, xp
        self.valid = labels >= 0
        zero = xp.zeros_like(scores)
        #: padding replaced by 0: a padding score (-inf, say) never reaches arithmetic
        self.labels = xp.where(self.valid, labels, zero)
        self.scores = xp.where(self.valid, scores, zero)
        self.size = backend.shape(scores)[-1]

    # pair matrices: entry [..., i, j]
    def column(self, x: Any) -> Any:
        return self.xp.expand_dims(x, axis=-1)  # x_i

    def row(self, x: Any) -> Any:
        return self.xp.expand_dims(x, axis=-2)  # x_j

    def ordered_pairs(self) -> Any:
        """``[i, j]``: both items valid and ``y_i > y_j``."""
        both = self.column(self.valid) & self.row(self.valid)
        return both & (self.column(self.labels) > self.row(self.labels))

    def score_differences(self) -> Any:
        return self.column(self.scores) - self.row(self.scores)

    def _index(self) -> tuple[Any, Any]:
        index = self.backend.arange(self.scores, self.size)
        return self.xp.expand_dims(index, axis=1), self.xp.expand_dims(index, axis=0)

    def index_order(self) -> Any:
        """``[i, j]``: ``j < i`` (ties are broken by position, as a stable sort does)."""
        i, j = self._index()
        return j < i

    def diagonal(self) -> Any:
        """``[i, j]``: ``i == j``."""
        i, j = self._index()
        return j == i

    def ranks(self, keys: Any) -> Any:
        """1-based rank of each item when the valid items are sorted by ``keys`` descending,
        ties by position (a stable sort); float, no gradient."""
        xp = self.xp
        ki, kj = self.column(keys), self.row(keys)
        ahead = (kj > ki) | ((kj == ki) & self.index_order())
        ahead = ahead & self.row(self.valid)
        return 1.0 + xp.sum(xp.astype(ahead, self.scores.dtype), axis=-1)

    def any_valid(self) -> Any:
        return self.xp.any(self.valid, axis=-1)

    def sum_pairs(self, pairs: Any, terms: Any) -> Any:
        xp = self.xp
        return xp.sum(xp.where(pairs, terms, xp.zeros_like(terms)), axis=(-2, -1))

    def masked_log_softmax(self, x: Any, keep: Any) -> Any:
        """``log_softmax`` over the kept entries of the last axis (relatively exact for a small
        loss, -inf elsewhere); every row of ``keep`` must hold a True."""
        return self.backend.masked_log_softmax(x, keep, axis=-1)

    def gains(self) -> Any:
        """``2^y - 1`` (0 for padding), exact for small labels."""
        return self.xp.expm1(self.labels * _LN2)

    def ideal_dcg(self, gains: Any) -> Any:
        """DCG of the ideal order: gains sorted descending, discounted by ``log2(1 + rank)``."""
        xp = self.xp
        discount = xp.log1p(self.ranks(self.labels)) / _LN2
        return xp.sum(xp.where(self.valid, gains / discount, xp.zeros_like(gains)), axis=-1)

    def reduce(
        self,
        loss: Any,
        counted: Any,
        sample_weight: Any,
        mask: Any,
        reduction: str,
        normalizer: Any,
    ) -> Any:
        """The contract, with the lists that have nothing to score excluded."""
        return reduce_loss(
            self.backend,
            loss,
            reduction=reduction,
            normalizer=normalizer,
            sample_weight=sample_weight,
            mask=mask,
            valid=counted,
        )


def _safe_divide(xp: Any, numerator: Any, denominator: Any) -> Any:
    """``numerator / denominator`` where the denominator is positive, else 0 (no NaN)."""
    positive = denominator > 0
    safe = xp.where(positive, denominator, xp.ones_like(denominator))
    return xp.where(positive, numerator / safe, xp.zeros_like(numerator))


def _relu(xp: Any, x: Any) -> Any:
    return xp.where(x > 0, x, xp.zeros_like(x))


def _pairwise(lists: _Lists, terms: Any, normalize_pairs: bool) -> tuple[Any, Any]:
    xp = lists.xp
    pairs = lists.ordered_pairs()
    loss = lists.sum_pairs(pairs, terms)
    if _validate.check_bool("normalize_pairs", normalize_pairs):
        count = xp.sum(xp.astype(pairs, loss.dtype), axis=(-2, -1))
        loss = _safe_divide(xp, loss, count)
    return loss, lists.any_valid()


# ---------------------------------------------------------------------- pairwise
@register(
    "pairwise_logistic",
    aliases=("ranknet", "pairwise_logistic_loss"),
    domain="real",
    properties={"convex": True, "bounded": False},
    references=(
        "Burges et al. (2005), Learning to Rank using Gradient Descent (RankNet); "
        "tfr.keras.losses.PairwiseLogisticLoss",
    ),
    **_RANKING,
)
def pairwise_logistic(
    y_true: Any,
    y_pred: Any,
    *,
    normalize_pairs: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Pairwise logistic (RankNet) loss over the ordered pairs of each list.

    .. math:: \ell = \sum_{i,j:\,y_i > y_j} \log\left(1 + e^{-(s_i - s_j)}\right)

    over pairs of valid (non-padding) items, computed as ``softplus(-(s_i - s_j))`` (exact for
    any score gap). ``normalize_pairs=True`` divides each list's sum by its number of ordered
    pairs (0 for a list without pairs). Tied labels form no pair. A list without valid items
    gives 0 and is left out of the mean (see the module notes). Reference: Burges et al. (2005).

    >>> import numpy as np, losskit as lk
    >>> y, s = np.array([[2.0, 1.0, -1.0]]), np.array([[0.0, 0.0, 5.0]])
    >>> round(float(lk.pairwise_logistic(y, s)), 6)
    0.693147
    """
    lists = _Lists(y_true, y_pred, axis, reduction, normalizer)
    terms = lists.backend.softplus(-lists.score_differences())
    loss, counted = _pairwise(lists, terms, normalize_pairs)
    return lists.reduce(loss, counted, sample_weight, mask, reduction, normalizer)


@register(
    "pairwise_hinge",
    aliases=("pairwise_hinge_loss",),
    domain="real",
    properties={"convex": True, "bounded": False},
    references=(
        "Herbrich, Graepel & Obermayer (1999), Support Vector Learning for Ordinal Regression; "
        "Joachims (2002), Optimizing Search Engines using Clickthrough Data (RankSVM); "
        "tfr.keras.losses.PairwiseHingeLoss",
    ),
    **_RANKING,
)
def pairwise_hinge(
    y_true: Any,
    y_pred: Any,
    *,
    margin: float = 1.0,
    normalize_pairs: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Pairwise hinge (RankSVM) loss over the ordered pairs of each list.

    .. math:: \ell = \sum_{i,j:\,y_i > y_j} \max\left(0,\; m - (s_i - s_j)\right)

    with ``margin`` m >= 0, over pairs of valid items; the derivative at the kink is 0.
    ``normalize_pairs=True`` divides each list's sum by its number of ordered pairs. Reference:
    Herbrich et al. (1999); Joachims (2002).

    >>> import numpy as np, losskit as lk
    >>> y, s = np.array([[2.0, 1.0, 0.0]]), np.array([[0.5, 0.0, 1.0]])
    >>> round(float(lk.pairwise_hinge(y, s)), 6)
    4.0
    """
    margin = _validate.check_range("margin", margin, 0.0, math.inf, high_open=True)
    lists = _Lists(y_true, y_pred, axis, reduction, normalizer)
    terms = _relu(lists.xp, margin - lists.score_differences())
    loss, counted = _pairwise(lists, terms, normalize_pairs)
    return lists.reduce(loss, counted, sample_weight, mask, reduction, normalizer)


# ---------------------------------------------------------------------- listwise
@register(
    "listnet",
    aliases=("listnet_loss", "list_net"),
    domain="real",
    properties={"convex": True, "bounded": False},
    references=(
        "Cao, Qin, Liu, Tsai & Li (2007), Learning to Rank: From Pairwise Approach to Listwise "
        "Approach; tfr.keras.losses.SoftmaxLoss (target='normalize')",
    ),
    **_RANKING,
)
def listnet(
    y_true: Any,
    y_pred: Any,
    *,
    target: str = "softmax",
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""ListNet: cross-entropy between the target top-one distribution and softmax(scores).

    .. math:: \ell = -\sum_i P_y(i) \log \frac{e^{s_i}}{\sum_j e^{s_j}}

    over the valid items of the list. ``target="softmax"`` (default; Cao et al.'s top-one
    probability with φ = exp) takes ``P_y = softmax(y)``; ``target="normalize"`` takes
    ``P_y = y / Σ y`` (TF-Ranking's ``SoftmaxLoss``), and a list whose labels sum to 0 is left
    out. Padding is excluded from both softmaxes (a masked log-sum-exp, never ``-inf - -inf``).
    Reference: Cao et al. (2007).

    >>> import numpy as np, losskit as lk
    >>> y, s = np.array([[1.0, 0.0, -1.0]]), np.array([[0.0, 0.0, 9.0]])
    >>> round(float(lk.listnet(y, s)), 6)
    0.693147
    """
    _validate.check_choice("target", target, ("softmax", "normalize"))
    lists = _Lists(y_true, y_pred, axis, reduction, normalizer)
    xp, valid = lists.xp, lists.valid
    counted = lists.any_valid()
    keep = valid | xp.expand_dims(~counted, axis=-1)  # an all-padding row keeps its zeros
    if target == "softmax":
        log_target = lists.masked_log_softmax(lists.labels, keep)
        p = xp.where(valid, xp.exp(log_target), xp.zeros_like(log_target))
    else:
        total = xp.sum(lists.labels, axis=-1)
        p = lists.labels / xp.expand_dims(xp.where(total > 0, total, xp.ones_like(total)), axis=-1)
        counted = total > 0
    log_q = lists.masked_log_softmax(lists.scores, keep)
    loss = -xp.sum(times_log(lists.backend, p, log_q), axis=-1)
    return lists.reduce(loss, counted, sample_weight, mask, reduction, normalizer)


@register(
    "listmle",
    aliases=("listmle_loss", "list_mle"),
    domain="real",
    properties={"convex": True, "bounded": False},
    references=(
        "Xia, Liu, Wang, Zhang & Li (2008), Listwise Approach to Learning to Rank: Theory and "
        "Algorithm; tfr.keras.losses.ListMLELoss",
    ),
    **_RANKING,
)
def listmle(
    y_true: Any,
    y_pred: Any,
    *,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""ListMLE: Plackett–Luce negative log-likelihood of the ranking given by the labels.

    .. math:: \ell = \sum_{k=1}^{n} \left(\log \sum_{l=k}^{n} e^{s_{π(l)}} - s_{π(k)}\right)

    with π the valid items sorted by label, descending. Ties are broken deterministically by
    position (a stable sort; TF-Ranking shuffles them at random by default). Padding items are
    not part of π, so they do not enter any normaliser. Each tail log-sum-exp is taken over a
    masked row with its own maximum shift (exact at any score scale), in O(n²). Reference:
    Xia et al. (2008).

    >>> import numpy as np, losskit as lk
    >>> y, s = np.array([[1.0, 0.0, -1.0]]), np.array([[0.0, 0.0, 9.0]])
    >>> round(float(lk.listmle(y, s)), 6)
    0.693147
    """
    lists = _Lists(y_true, y_pred, axis, reduction, normalizer)
    xp = lists.xp
    yi, yj = lists.column(lists.labels), lists.row(lists.labels)
    later = (yj < yi) | ((yj == yi) & ~lists.index_order())  # item j placed at or after i
    keep = (later & lists.row(lists.valid)) | lists.diagonal()
    # row i holds item i's tail (the items placed at or after it); its term is -log_softmax
    # of the tail at item i itself, the diagonal
    tails = lists.masked_log_softmax(xp.expand_dims(lists.scores, axis=-2), keep)
    terms = -xp.sum(xp.where(lists.diagonal(), tails, xp.zeros_like(tails)), axis=-1)
    loss = xp.sum(xp.where(lists.valid, terms, xp.zeros_like(terms)), axis=-1)
    return lists.reduce(loss, lists.any_valid(), sample_weight, mask, reduction, normalizer)


# ---------------------------------------------------------------------- NDCG surrogates
@register(
    "approx_ndcg",
    aliases=("approx_ndcg_loss", "approxndcg"),
    domain="real",
    properties={"convex": False, "bounded": True, "metric": "ndcg"},
    references=(
        "Qin, Liu & Li (2010), A General Approximation Framework for Direct Optimization of "
        "Information Retrieval Measures; tfr.keras.losses.ApproxNDCGLoss",
    ),
    **_RANKING,
)
def approx_ndcg(
    y_true: Any,
    y_pred: Any,
    *,
    temperature: float = 0.1,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""ApproxNDCG: one minus NDCG with ranks smoothed by sigmoids, in [0, 1].

    .. math:: \ell = 1 - \frac{1}{\mathrm{IDCG}} \sum_i \frac{2^{y_i} - 1}{\log_2(1 + \hat π_i)},
              \qquad \hat π_i = 1 + \sum_{j \ne i} σ\!\left(\frac{s_j - s_i}{T}\right)

    with ``temperature`` T > 0 (TF-Ranking's default 0.1, i.e. α = 10 in Qin et al.) and IDCG
    the DCG of the ideal order. TF-Ranking's loss is ``-approxNDCG``: the same gradient, offset
    by 1, so that a perfect ranking scores 0 here. Lists with IDCG = 0 (no relevant valid item)
    give 0 and are left out of the mean. Reference: Qin et al. (2010).

    >>> import numpy as np, losskit as lk
    >>> y, s = np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]])
    >>> round(float(lk.approx_ndcg(y, s, temperature=1.0)), 6)
    0.243529
    """
    temperature = _validate.check_range(
        "temperature", temperature, 0.0, math.inf, low_open=True, high_open=True
    )
    lists = _Lists(y_true, y_pred, axis, reduction, normalizer)
    xp = lists.xp
    # σ((s_j - s_i)/T) over the other valid items j
    ahead = lists.backend.sigmoid(-lists.score_differences() / temperature)
    others = lists.row(lists.valid) & ~lists.diagonal()
    approx_rank = 1.0 + xp.sum(xp.where(others, ahead, xp.zeros_like(ahead)), axis=-1)
    gains = lists.gains()
    dcg = xp.sum(gains / (xp.log1p(approx_rank) / _LN2), axis=-1)
    ideal = lists.ideal_dcg(gains)
    counted = ideal > 0
    loss = xp.where(counted, 1.0 - _safe_divide(xp, dcg, ideal), xp.zeros_like(dcg))
    return lists.reduce(loss, counted, sample_weight, mask, reduction, normalizer)


_WEIGHTINGS = ("ndcg_loss2++", "ndcg_loss2", "lambdarank")


@register(
    "lambda_loss",
    aliases=("lambdaloss", "lambda_rank_loss"),
    domain="real",
    properties={"convex": False, "bounded": False, "metric": "ndcg"},
    references=(
        "Wang, Li, Golbandi, Bendersky & Najork (2018), The LambdaLoss Framework for Ranking "
        "Metric Optimization; Burges (2010), From RankNet to LambdaRank to LambdaMART",
    ),
    **_RANKING,
)
def lambda_loss(
    y_true: Any,
    y_pred: Any,
    *,
    weighting: str = "ndcg_loss2++",
    mu: float = 10.0,
    sigma: float = 1.0,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""LambdaLoss: pairwise logistic terms weighted by the NDCG change of each pair.

    .. math:: \ell = \sum_{i,j:\,y_i > y_j} w_{ij}\,\log_2\!\left(1 + e^{-σ(s_i - s_j)}\right),
              \qquad w_{ij} = |G_i - G_j| \cdot \begin{cases}
              ρ_{ij} + μ\,δ_{ij} & \text{"ndcg_loss2++" (default)} \\
              δ_{ij} & \text{"ndcg_loss2"} \\ ρ_{ij} & \text{"lambdarank"} \end{cases}

    with ``G = (2^y - 1)/IDCG``, the current ranks ``r`` (valid items sorted by score,
    descending, ties by position), ``D(r) = log2(1 + r)``, ``ρ_ij = |1/D(r_i) - 1/D(r_j)|``
    (LambdaRank's ``|ΔNDCG|``) and ``δ_ij = 1/D(|r_i - r_j|) - 1/D(|r_i - r_j| + 1)``. The weights
    are constants for the gradient (the ranks are piecewise constant). ``mu`` (μ >= 0, allRank's
    default 10) mixes the two NDCG-Loss2++ terms, ``sigma`` (σ > 0) scales the score gaps; the
    logistic term is ``softplus/ln 2``, exact for any gap (allRank clamps the sigmoid at 1e-10).
    A list whose labels all tie has no pair and gives 0, not NaN; lists with IDCG = 0 are left
    out of the mean. Reference: Wang et al. (2018).

    >>> import numpy as np, losskit as lk
    >>> y, s = np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]])
    >>> round(float(lk.lambda_loss(y, s, weighting="lambdarank")), 6)
    0.36907
    """
    _validate.check_choice("weighting", weighting, _WEIGHTINGS)
    mu = _validate.check_range("mu", mu, 0.0, math.inf, high_open=True)
    sigma = _validate.check_range("sigma", sigma, 0.0, math.inf, low_open=True, high_open=True)
    lists = _Lists(y_true, y_pred, axis, reduction, normalizer)
    xp = lists.xp
    gains = lists.gains()
    ideal = lists.ideal_dcg(gains)
    counted = ideal > 0
    g = _safe_divide(xp, gains, xp.expand_dims(ideal, axis=-1))
    ranks = lists.ranks(lists.backend.stop_gradient(lists.scores))
    ri, rj = lists.column(ranks), lists.row(ranks)
    weight = lists.column(g) - lists.row(g)  # > 0 on the ordered pairs
    if weighting != "ndcg_loss2":
        inverse = _LN2 / xp.log1p(ranks)
        lambdarank = xp.abs(lists.column(inverse) - lists.row(inverse))
    if weighting != "lambdarank":
        gap = xp.maximum(xp.abs(ri - rj), 1.0)  # the diagonal is never a pair
        delta = _LN2 / xp.log1p(gap) - _LN2 / xp.log1p(gap + 1.0)
    if weighting == "ndcg_loss2++":
        weight = weight * (lambdarank + mu * delta)
    elif weighting == "ndcg_loss2":
        weight = weight * delta
    else:
        weight = weight * lambdarank
    terms = weight * lists.backend.softplus(-sigma * lists.score_differences()) / _LN2
    loss = lists.sum_pairs(lists.ordered_pairs(), terms)
    return lists.reduce(loss, counted, sample_weight, mask, reduction, normalizer)
