"""Supervised contrastive losses over a labelled batch: SupCon, Circle."""

from __future__ import annotations

import math
from typing import Any

from ... import _validate
from ..._backend import ArrayAPIBackend
from ..._reduce import reduce_loss
from ..._registry import register
from .._common import enter_arrays, relu
from ._base import (
    _BATCH_PAIRS,
    _METRIC,
    _PML,
    _batch,
    _enter_batch,
    _finish_anchors,
    _gram,
    _index,
    _labels,
    _masked_logsumexp,
    _pair_masks,
    _positive,
    _row_mask,
    _softplus,
    _unit,
)


@register(
    "supervised_contrastive",
    aliases=("supcon", "supcon_loss"),
    kind="anchors",
    task="metric_learning",
    properties={"bounded": False, "batch": True},
    contract_exceptions=_BATCH_PAIRS,
    references=(
        "Khosla et al. (2020), Supervised Contrastive Learning",
        f"{_PML} SupConLoss",
    ),
    **_METRIC,
)
def supervised_contrastive(
    embeddings: Any,
    labels: Any,
    *,
    temperature: float = 0.1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Supervised contrastive loss (Khosla et al.'s :math:`\mathcal L^{sup}_{out}`).

    With cosine similarities :math:`s_{ij} = \hat x_i\cdot\hat x_j / τ`, positives
    :math:`P(i) = \{j \ne i: y_j = y_i\}` and candidates :math:`A(i) = \{j \ne i\}`:

    .. math:: \ell_i = -\frac{1}{|P(i)|}\sum_{p \in P(i)}
              \Big(s_{ip} - \log \sum_{a \in A(i)} \exp s_{ia}\Big)

    Unreduced shape ``(N,)``, one loss per anchor. An anchor without positives contributes 0 (not
    NaN) and is left out of ``"mean"``, which averages over the anchors that have a positive
    (``reduction="none"`` then ``.mean()`` averages over all N, as the authors' code does). A
    batch in which no anchor has a positive gives 0 with a zero gradient. ``mask`` ``(N,)``
    removes embeddings from the batch; ``temperature`` > 0.

    Reference: Khosla et al. (2020). Matches pytorch-metric-learning ``SupConLoss(temperature)``
    per anchor and, with its default ``AvgNonZeroReducer``, in mean — except that pml returns 0
    for a batch without any negative pair, where this keeps the paper's value. The authors'
    ``temperature / base_temperature`` factor is 1 here (their defaults).

    >>> import numpy as np, losskit as lk
    >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> lk.supervised_contrastive(x, np.array([0, 0, 1]), temperature=1.0,
    ...                           reduction="none").round(6).tolist()
    [0.313262, 0.313262, 0.0]
    """
    temperature = _positive("temperature", temperature)
    backend, x, labels, rows = _enter_batch(embeddings, labels, mask, reduction, normalizer)
    xp = backend.xp
    u = _unit(xp, x)
    s = _gram(xp, u, u) * (1.0 / temperature)
    positive, _, pair = _pair_masks(backend, labels, rows)
    log_prob = backend.masked_log_softmax(s, pair, axis=1)
    count = xp.sum(xp.astype(positive, s.dtype), axis=1)
    has_positive = count > 0
    total = xp.sum(xp.where(positive, log_prob, xp.zeros_like(log_prob)), axis=1)
    loss = -total / xp.where(has_positive, count, xp.ones_like(count))
    valid = has_positive if rows is None else has_positive & rows
    return _finish_anchors(backend, loss, valid, sample_weight, reduction, normalizer)


@register(
    "circle",
    aliases=("circle_loss",),
    kind="anchors",
    task="metric_learning",
    properties={"bounded": False, "batch": True},
    contract_exceptions={
        **_BATCH_PAIRS,
        "true_gradient": "the adaptive pair weights alpha are held constant in the gradient, as "
        "in the paper and its reference code, so the gradient is not the derivative of the value",
    },
    references=(
        "Sun et al. (2020), Circle Loss: A Unified Perspective of Pair Similarity Optimization",
        f"{_PML} CircleLoss",
    ),
    **_METRIC,
)
def circle(
    embeddings: Any,
    labels: Any,
    *,
    m: float = 0.25,
    gamma: float = 256.0,
    ref_embeddings: Any = None,
    ref_labels: Any = None,
    remove_diagonal: bool = True,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Circle loss with pair labels, in log space.

    With cosine similarities :math:`s_{ij}`, positives :math:`P(i)` (same label, ``j ≠ i``) and
    negatives :math:`N(i)` (other labels):

    .. math:: \ell_i = \operatorname{softplus}\Big(
              \log\!\sum_{p \in P(i)} e^{-γ α_p (s_{ip} - Δ_p)}
              + \log\!\sum_{n \in N(i)} e^{γ α_n (s_{in} - Δ_n)}\Big)

    with :math:`α_p = [1 + m - s_{ip}]_+`, :math:`α_n = [s_{in} + m]_+` (held constant in the
    gradient, as in the authors' code), :math:`Δ_p = 1 - m`, :math:`Δ_n = m`. Both sums are
    log-sum-exps, so γ = 256 (the paper's face-recognition setting) is exact in float32.

    Unreduced shape ``(N,)``, one loss per anchor; an anchor without a positive or without a
    negative contributes 0 and is left out of ``"mean"``. ``mask`` ``(N,)`` removes embeddings
    from the batch. Parameters: ``m`` (relaxation, in [-1, 1]) and ``gamma`` (scale, > 0); the
    defaults are the paper's face-recognition values (pml defaults to m = 0.4, γ = 80).

    A separate reference set: ``ref_embeddings`` ``(M, D)`` with ``ref_labels`` ``(M,)`` (both or
    neither) supplies the partners :math:`j` of each anchor :math:`i` of ``embeddings`` in place of
    the batch itself (a memory bank, the other modality), so :math:`s_{ij}` is ``(N, M)``.
    ``remove_diagonal`` (default True) leaves the pairs ``j = i`` out of the positives: without a
    reference set these are the anchors themselves; with one, set it to False unless row ``i`` of
    the reference set is anchor ``i`` (Keras's ``remove_diagonal``; pml ``CircleLoss()(embeddings,
    labels, ref_emb=..., ref_labels=...)`` keeps them: ``remove_diagonal=False``). ``mask``
    removes anchors only when a reference set is given.

    Reference: Sun et al. (2020). Matches pytorch-metric-learning ``CircleLoss(m, gamma)`` per
    anchor and, with its default ``AvgNonZeroReducer``, in mean whenever no anchor's loss
    underflows to exactly 0 (pml drops those from its average; they count here).

    >>> import numpy as np, losskit as lk
    >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> lk.circle(x, np.array([0, 0, 1]), m=0.25, gamma=1.0, reduction="none").round(6).tolist()
    [0.632599, 0.632599, 0.0]
    """
    m = _validate.check_range("m", m, -1.0, 1.0)
    gamma = _positive("gamma", gamma)
    remove_diagonal = _validate.check_bool("remove_diagonal", remove_diagonal)
    if (ref_embeddings is None) != (ref_labels is None):
        missing = "ref_labels" if ref_labels is None else "ref_embeddings"
        raise ValueError(f"ref_embeddings and ref_labels go together; {missing} is missing")
    if ref_embeddings is None:
        backend, x, labels, rows = _enter_batch(embeddings, labels, mask, reduction, normalizer)
        u = v = _unit(backend.xp, x)
        positive, negative = _circle_pairs(backend, labels, labels, rows, remove_diagonal)
    else:
        backend, (x, ref), labels, ref_labels, rows = _enter_reference(
            embeddings, labels, ref_embeddings, ref_labels, mask, reduction, normalizer
        )
        u, v = _unit(backend.xp, x), _unit(backend.xp, ref)
        positive, negative = _circle_pairs(backend, labels, ref_labels, None, remove_diagonal)
    xp = backend.xp
    s = _gram(xp, u, v)
    fixed = backend.stop_gradient(s)
    alpha_p = relu(xp, 1.0 + m - fixed)
    alpha_n = relu(xp, fixed + m)
    lse_p, has_p = _masked_logsumexp(backend, -gamma * alpha_p * (s - (1.0 - m)), positive)
    lse_n, has_n = _masked_logsumexp(backend, gamma * alpha_n * (s - m), negative)
    loss = _softplus(xp, lse_p + lse_n)
    valid = has_p & has_n
    if rows is not None:
        valid = valid & rows
    return _finish_anchors(backend, loss, valid, sample_weight, reduction, normalizer)


def _circle_pairs(
    backend: ArrayAPIBackend, labels: Any, ref_labels: Any, rows: Any, remove_diagonal: bool
) -> tuple[Any, Any]:
    """``(positive, negative)`` ``(N, M)`` masks: same and other label, the pairs ``j = i`` left
    out of the positives when ``remove_diagonal``; ``rows`` (None: all) the kept rows of a batch
    that is its own reference set."""
    xp = backend.xp
    same = xp.expand_dims(labels, axis=1) == xp.expand_dims(ref_labels, axis=0)
    positive, negative = same, ~same
    if remove_diagonal:
        diagonal = xp.expand_dims(_index(backend, labels), axis=1) == xp.expand_dims(
            _index(backend, ref_labels), axis=0
        )
        positive = positive & ~diagonal
    if rows is not None:
        kept = xp.expand_dims(rows, axis=1) & xp.expand_dims(rows, axis=0)
        positive, negative = positive & kept, negative & kept
    return positive, negative


def _enter_reference(
    embeddings: Any,
    labels: Any,
    ref_embeddings: Any,
    ref_labels: Any,
    mask: Any,
    reduction: str,
    normalizer: Any,
) -> tuple[ArrayAPIBackend, tuple[Any, Any], Any, Any, Any]:
    """Backend, ``(embeddings, ref_embeddings)``, both label vectors and the anchor mask."""
    backend, (x, ref), checking = enter_arrays(
        reduction,
        normalizer,
        {"embeddings": embeddings, "ref_embeddings": ref_embeddings},
        (labels, ref_labels, mask),
    )
    n = _batch(backend, x, "embeddings", allow_empty=True)
    m = _batch(backend, ref, "ref_embeddings", allow_empty=True)
    features = (backend.shape(x)[1], backend.shape(ref)[1])
    if None not in features and features[0] != features[1]:
        raise ValueError(
            f"ref_embeddings must have the feature size of embeddings ({features[0]}); got "
            f"shape {backend.shape(ref)}"
        )
    labels = _labels(backend, labels, x, n, checking)
    ref_labels = _labels(backend, ref_labels, x, m, checking, name="ref_labels")
    rows = None if mask is None else _row_mask(backend, mask, x, n, checking)
    return backend, (x, ref), labels, ref_labels, rows


@register(
    "grouped_info_nce",
    aliases=("grouped_ntxent", "ntxent_labels"),
    kind="pairs",
    task="metric_learning",
    properties={"bounded": False, "batch": True},
    contract_exceptions=_BATCH_PAIRS,
    references=(
        "Chen et al. (2020), A Simple Framework for Contrastive Learning (SimCLR); van den Oord, "
        "Li & Vinyals (2018), Representation Learning with Contrastive Predictive Coding",
        f"{_PML} NTXentLoss; optax.losses.ntxent",
    ),
    **_METRIC,
)
def grouped_info_nce(
    embeddings: Any,
    labels: Any,
    *,
    temperature: float = 0.07,
    normalize: bool = True,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""NT-Xent / InfoNCE over a labelled batch: groups of any size, every pair in a group positive.

    With similarities :math:`s_{ij} = \hat x_i\cdot\hat x_j / τ` (dot products when
    ``normalize=False``), positives :math:`P(i) = \{j \ne i: y_j = y_i\}` and negatives
    :math:`N(i) = \{n: y_n \ne y_i\}`, each positive pair is a cross-entropy of its positive
    against the anchor's negatives only (the other positives are not in the denominator):

    .. math:: \ell_{ij} = -\log\frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{n \in N(i)} e^{s_{in}}}
              = \operatorname{softplus}\Big(\log\!\sum_{n \in N(i)} e^{s_{in}} - s_{ij}\Big),
              \qquad j \in P(i)

    Unreduced shape ``(N, N)``: one loss per ordered positive pair, 0 elsewhere (the diagonal,
    negative pairs); ``"mean"`` averages over the positive pairs. A pair whose anchor has no
    negative has loss 0 and still counts; a batch without a positive pair gives 0 with a zero
    gradient. Labels ``[0, 1, ..., N-1, 0, 1, ..., N-1]`` over two concatenated views give
    SimCLR's NT-Xent (:func:`info_nce` on the two views); groups of three or more give several
    positives per anchor. ``mask`` ``(N,)`` removes embeddings from the batch;
    ``sample_weight`` ``(N,)`` weights each anchor's row, ``(N, N)`` each pair.

    Parameters: ``temperature`` > 0 (default 0.07, as pml and optax); ``normalize``
    (unit-normalise rows, ``x / max(‖x‖, 1e-12)``).

    References: Chen et al. (2020); van den Oord et al. (2018). Matches pytorch-metric-learning
    ``NTXentLoss(temperature)(embeddings, labels)`` and ``optax.losses.ntxent(embeddings, labels,
    temperature)`` in ``"mean"`` (pml adds the smallest normal float inside its log, optax clamps
    squared norms at the float's eps). The pair loss is a softplus of a log-sum-exp, exact when
    the positive dominates and the loss is tiny.

    >>> import numpy as np, losskit as lk
    >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> lk.grouped_info_nce(x, np.array([0, 0, 1]), temperature=1.0,
    ...                     reduction="none").round(6).tolist()
    [[0.0, 0.313262, 0.0], [0.313262, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    temperature = _positive("temperature", temperature)
    normalize = _validate.check_bool("normalize", normalize)
    backend, x, labels, rows = _enter_batch(embeddings, labels, mask, reduction, normalizer)
    xp = backend.xp
    u = _unit(xp, x) if normalize else x
    s = _gram(xp, u, u) * (1.0 / temperature)
    positive, negative, _ = _pair_masks(backend, labels, rows)
    lse, has_negative = _masked_logsumexp(backend, s, negative)
    keep = positive & xp.expand_dims(has_negative, axis=1)
    zero = xp.zeros_like(s)
    gap = xp.where(keep, xp.expand_dims(lse, axis=1) - s, zero)
    loss = xp.where(keep, _softplus(xp, gap), zero)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        valid=positive,
    )


@register(
    "multi_similarity",
    aliases=("multi_similarity_loss", "ms_loss"),
    kind="anchors",
    task="metric_learning",
    properties={"bounded": False, "batch": True},
    contract_exceptions=_BATCH_PAIRS,
    references=(
        "Wang, Han, Huang, Dong & Scott (2019), Multi-Similarity Loss with General Pair Weighting "
        "for Deep Metric Learning",
        f"{_PML} MultiSimilarityLoss",
    ),
    **_METRIC,
)
def multi_similarity(
    embeddings: Any,
    labels: Any,
    *,
    alpha: float = 2.0,
    beta: float = 50.0,
    base: float = 0.5,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Multi-Similarity loss: soft weighting of every positive and negative pair of an anchor.

    With cosine similarities :math:`s_{ij}`, positives :math:`P(i)` (same label, ``j ≠ i``) and
    negatives :math:`N(i)` (other labels):

    .. math:: \ell_i = \frac1α\log\Big(1 + \sum_{p \in P(i)} e^{-α(s_{ip} - λ)}\Big)
              + \frac1β\log\Big(1 + \sum_{n \in N(i)} e^{β(s_{in} - λ)}\Big)

    Each term is a softplus of a log-sum-exp, so β = 50 (and larger) is exact in float32.
    Unreduced shape ``(N,)``, one loss per anchor; an anchor without positives (or negatives)
    has only the other term, and every anchor counts in ``"mean"``. ``mask`` ``(N,)`` removes
    embeddings from the batch. Parameters: ``alpha`` α > 0 (positive pairs), ``beta`` β > 0
    (negative pairs), ``base`` λ (the similarity both are measured from).

    Reference: Wang et al. (2019), the loss of their eq. 7 without the pair-mining step (which
    pytorch-metric-learning keeps in a separate ``MultiSimilarityMiner``). Matches pml
    ``MultiSimilarityLoss(alpha, beta, base)`` (its defaults α = 2, β = 50, λ = 0.5 are these),
    per anchor and in mean, values and gradients.

    >>> import numpy as np, losskit as lk
    >>> x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> lk.multi_similarity(x, np.array([0, 0, 1]), alpha=1.0, beta=1.0,
    ...                     reduction="none").round(6).tolist()
    [0.948154, 0.948154, 0.794377]
    """
    alpha = _positive("alpha", alpha)
    beta = _positive("beta", beta)
    base = _validate.check_range("base", base, -math.inf, math.inf, low_open=True, high_open=True)
    backend, x, labels, rows = _enter_batch(embeddings, labels, mask, reduction, normalizer)
    xp = backend.xp
    u = _unit(xp, x)
    s = _gram(xp, u, u)
    positive, negative, _ = _pair_masks(backend, labels, rows)
    lse_p, has_p = _masked_logsumexp(backend, -alpha * (s - base), positive)
    lse_n, has_n = _masked_logsumexp(backend, beta * (s - base), negative)
    zero = xp.zeros_like(lse_p)
    pull = xp.where(has_p, _softplus(xp, lse_p), zero) * (1.0 / alpha)
    push = xp.where(has_n, _softplus(xp, lse_n), zero) * (1.0 / beta)
    return _finish_anchors(backend, pull + push, rows, sample_weight, reduction, normalizer)
