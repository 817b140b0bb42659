"""Proxy-based losses: each class is represented by a learnable proxy ``(C, D)``, and the batch's
embeddings are pulled towards their class's proxy and pushed from the others (Proxy Anchor).

Like the class centres of the angular-margin losses, the proxies are a plain input of the
function; ``losskit.torch.ProxyAnchor(num_classes=C, embedding_size=D)`` and the Keras layer own
them as a learnable parameter.
"""

from __future__ import annotations

import math
from typing import Any

from ... import _validate
from ..._backend import ArrayAPIBackend
from ..._registry import register
from .._common import enter_arrays
from ._base import (
    _BATCH_PAIRS,
    _METRIC,
    _PML,
    _batch,
    _finish_anchors,
    _gram,
    _labels,
    _masked_logsumexp,
    _positive,
    _row_mask,
    _softplus,
    _unit,
)


def _enter_proxies(
    embeddings: Any, labels: Any, proxies: Any, mask: Any, reduction: str, normalizer: Any
) -> tuple[ArrayAPIBackend, Any, Any, Any, Any]:
    """Backend, embeddings ``(N, D)``, proxies ``(C, D)``, labels in ``[0, C)`` and the mask."""
    backend, (x, p), checking = enter_arrays(
        reduction, normalizer, {"embeddings": embeddings, "proxies": proxies}, (labels, mask)
    )
    n = _batch(backend, x, "embeddings", allow_empty=True)
    _batch(backend, p, "proxies")
    (classes, features), size = backend.shape(p), backend.shape(x)[1]
    if None not in (features, size) and features != size:
        raise ValueError(
            f"proxies must hold one proxy of the embeddings' size per class, shape (C, {size}); "
            f"got shape {backend.shape(p)}"
        )
    labels = _labels(backend, labels, x, n, checking)
    if checking:
        if classes is not None:
            note = f" (proxies has {classes} rows)"
            rule = _validate.labels_rule(classes, "labels", note)
            _validate.require_bounds(backend, labels, rule)
    elif classes is not None:  # an out-of-range label never selects a proxy
        labels = backend.xp.clip(labels, 0, classes - 1)
    rows = None if mask is None else _row_mask(backend, mask, x, n, checking)
    return backend, x, p, labels, rows


@register(
    "proxy_anchor",
    aliases=("proxy_anchor_loss",),
    kind="anchors",
    task="metric_learning",
    properties={"bounded": False, "batch": True},
    contract_exceptions=_BATCH_PAIRS,
    references=(
        "Kim, Kim, Cho & Kwak (2020), Proxy Anchor Loss for Deep Metric Learning",
        f"{_PML} ProxyAnchorLoss",
    ),
    **_METRIC,
)
def proxy_anchor(
    embeddings: Any,
    labels: Any,
    proxies: Any,
    *,
    margin: float = 0.1,
    alpha: float = 32.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Proxy Anchor loss: every proxy is an anchor against all the embeddings of the batch.

    With cosine similarities :math:`s_{ic}` between embedding ``i`` and proxy ``c``, the
    embeddings of class c, :math:`X_c^+`, and the others, :math:`X_c^-`:

    .. math:: \ell = \frac{1}{|P^+|}\sum_{c \in P^+}\log\Big(1 + \sum_{i \in X_c^+}
              e^{-α(s_{ic} - δ)}\Big) + \frac{1}{C}\sum_{c=1}^{C}\log\Big(1 +
              \sum_{i \in X_c^-} e^{α(s_{ic} + δ)}\Big)

    with :math:`P^+` the proxies with at least one embedding in the batch. Unreduced shape
    ``(C,)``, one entry per proxy, :math:`\ell_c = \frac{C}{|P^+|}\,\text{pull}_c +
    \text{push}_c` (the pull term 0 for a proxy without embeddings), so that ``"mean"`` over the
    proxies is the paper's loss; ``sample_weight`` ``(C,)`` weights proxies. ``mask`` ``(N,)``
    removes embeddings from the batch. Each log is a softplus of a log-sum-exp, exact for the
    paper's α = 32.

    Inputs: ``embeddings`` ``(N, D)``, integer ``labels`` ``(N,)`` in ``[0, C)``, ``proxies``
    ``(C, D)`` (the model's learnable parameter; ``losskit.torch.ProxyAnchor`` and
    ``losskit.keras.ProxyAnchor`` own it). Parameters: ``margin`` δ (default 0.1), ``alpha`` α
    > 0 (default 32).

    Reference: Kim et al. (2020). Matches pytorch-metric-learning ``ProxyAnchorLoss(num_classes,
    embedding_size, margin=δ, alpha=α)`` with ``proxies = loss.proxies`` (its default
    ``DivisorReducer``), values and gradients.

    >>> import numpy as np, losskit as lk
    >>> x, p = np.array([[1.0, 0.0], [0.6, 0.8]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> lk.proxy_anchor(x, np.array([0, 0]), p, margin=0.0, alpha=1.0,
    ...                 reduction="none").round(6).tolist()
    [1.301201, 1.441147]
    """
    margin = _validate.check_range("margin", margin, -math.inf, math.inf, low_open=True)
    alpha = _positive("alpha", alpha)
    backend, x, p, labels, rows = _enter_proxies(
        embeddings, labels, proxies, mask, reduction, normalizer
    )
    xp = backend.xp
    classes = backend.shape(p)[0]
    s = xp.permute_dims(_gram(xp, _unit(xp, x), _unit(xp, p)), (1, 0))  # (C, N)
    ids = backend.arange(labels, classes, dtype=labels.dtype)
    own = xp.expand_dims(ids, axis=1) == xp.expand_dims(labels, axis=0)
    if rows is not None:
        kept = xp.expand_dims(rows, axis=0)
        positive, negative = own & kept, ~own & kept
    else:
        positive, negative = own, ~own
    lse_pull, has_pull = _masked_logsumexp(backend, -alpha * (s - margin), positive)
    lse_push, has_push = _masked_logsumexp(backend, alpha * (s + margin), negative)
    zero = xp.zeros_like(lse_pull)
    pull = xp.where(has_pull, _softplus(xp, lse_pull), zero)
    push = xp.where(has_push, _softplus(xp, lse_push), zero)
    with_embeddings = xp.sum(xp.astype(has_pull, pull.dtype))
    share = float(classes) / xp.maximum(with_embeddings, xp.ones_like(with_embeddings))
    loss = pull * share + push
    return _finish_anchors(backend, loss, None, sample_weight, reduction, normalizer)
