"""Quantile forecasts: the pinball loss over several levels at once."""

from __future__ import annotations

import itertools
import math
from typing import Any

from ... import _validate
from ..._backend import ArrayAPIBackend
from ..._registry import register
from .._common import enter_pair, finish, relu
from .._regression import _quantile_levels, _with_level_axis, pinball
from ._base import FAMILY

_MONOTONE = (None, "sort", "penalty")


@register(
    "multi_quantile",
    aliases=("mqloss", "multi_quantile_loss"),
    kind="axis",
    task="regression",
    domain="real",
    properties={"elicits": "quantiles", "proper": True, "bounded": False},
    references=(
        "Koenker & Bassett (1978), Regression Quantiles; Chernozhukov, Fernández-Val & Galichon "
        "(2010), Quantile and Probability Curves Without Crossing; neuralforecast MQLoss",
    ),
    **FAMILY,
)
def multi_quantile(
    y_true: Any,
    y_pred: Any,
    *,
    quantiles: Any = (0.1, 0.5, 0.9),
    monotone: str | None = None,
    penalty_weight: float = 1.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Multi-quantile loss: the pinball loss averaged over K quantile levels.

    .. math:: \ell = \frac1K\sum_{k=1}^K \max\bigl(q_k d_k, (q_k - 1) d_k\bigr)
              \;\Bigl[+\; λ\sum_{k=1}^{K-1} \max(\hat y_k - \hat y_{k+1}, 0)\Bigr],
              \qquad d_k = y - \hat y_k

    ``y_pred`` has a trailing axis of K predicted quantiles, one per level of ``quantiles``
    (strictly increasing, inside (0, 1)); ``y_true`` has ``y_pred``'s shape without it (or
    with size 1 there); the unreduced loss has ``y_true``'s shape. Each level's term is
    :func:`quantile`'s pinball loss. The ``"mean"`` is neuralforecast's ``MQLoss(quantiles=...)``
    (which averages over the levels, then over the points); with uniformly spaced levels it
    approximates half the CRPS.

    ``monotone`` keeps the predicted quantiles from crossing (``ŷ_k > ŷ_{k+1}``):

    * ``None`` (default): the levels are scored independently, as ``MQLoss`` does;
    * ``"sort"``: rearrangement (Chernozhukov et al. 2010): the K predictions are sorted before
      scoring, so ``ŷ₍ₖ₎`` is scored at ``q_k``. The sorted curve is never farther from the true
      quantile curve, and the gradient reaches each prediction at the level it is scored at;
    * ``"penalty"``: the crossing penalty ``λ Σ_k relu(ŷ_k - ŷ_{k+1})`` is added, with
      ``λ = penalty_weight`` (≥ 0; it is ignored by the other modes). It is zero on monotone
      predictions, so it changes nothing where they do not cross.

    References: Koenker & Bassett (1978); Chernozhukov, Fernández-Val & Galichon (2010).

    >>> import numpy as np, losskit as lk
    >>> y, q = np.array([1.0]), np.array([[0.0, 2.0, 1.5]])
    >>> round(float(lk.multi_quantile(y, q)), 6)
    0.216667
    >>> round(float(lk.multi_quantile(y, q, monotone="sort")), 6)
    0.15
    """
    levels = _levels(quantiles)
    _validate.check_choice("monotone", monotone, _MONOTONE)
    penalty_weight = _validate.check_range(
        "penalty_weight", penalty_weight, 0.0, math.inf, high_open=True
    )
    y_true, y_pred = _with_level_axis(y_true, y_pred, len(levels))
    backend, y_true, y_pred, _ = enter_pair(y_true, y_pred, reduction, normalizer)
    xp = backend.xp
    q = backend.astype(backend.asarray(list(levels), y_pred), y_pred.dtype)
    scored = xp.sort(y_pred, axis=-1) if monotone == "sort" else y_pred
    loss = xp.mean(pinball(xp, y_true - scored, q), axis=-1)
    if monotone == "penalty" and len(levels) > 1:
        loss = loss + penalty_weight * _crossings(backend, y_pred)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _levels(quantiles: Any) -> tuple[float, ...]:
    """The quantile levels: numbers strictly inside (0, 1), strictly increasing."""
    levels = _quantile_levels(quantiles)
    for level in levels:
        _validate.check_range("quantiles", level, 0.0, 1.0, low_open=True, high_open=True)
    if any(low >= high for low, high in itertools.pairwise(levels)):
        raise ValueError(f"quantiles must be strictly increasing; got {list(levels)}")
    return levels


def _crossings(backend: ArrayAPIBackend, y_pred: Any) -> Any:
    """``Σ_k relu(ŷ_k - ŷ_{k+1})`` over the trailing axis."""
    xp = backend.xp
    return xp.sum(relu(xp, y_pred[..., :-1] - y_pred[..., 1:]), axis=-1)
