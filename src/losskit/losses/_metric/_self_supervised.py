"""Self-supervised losses on two views of the same items: InfoNCE / NT-Xent, SigLIP."""

from __future__ import annotations

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
    _masked_logsumexp,
    _off_diagonal,
    _positive,
    _real,
    _row_mask,
    _softplus,
    _unit,
)


# ---------------------------------------------------------------------- batch softmax forms
@register(
    "info_nce",
    aliases=("ntxent", "nt_xent"),
    kind="anchors",
    task="self_supervised",
    properties={"bounded": False, "batch": True},
    contract_exceptions=_BATCH_PAIRS,
    references=(
        "van den Oord, Li & Vinyals (2018), Representation Learning with Contrastive Predictive "
        "Coding",
        "Chen et al. (2020), A Simple Framework for Contrastive Learning (SimCLR); Radford et al. "
        "(2021), CLIP",
        f"{_PML} NTXentLoss; optax.losses.ntxent",
    ),
    **_METRIC,
)
def info_nce(
    z_a: Any,
    z_b: Any,
    *,
    temperature: float = 0.1,
    negatives: str = "all",
    symmetric: bool = True,
    normalize: bool = True,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""InfoNCE / NT-Xent on two views ``z_a``, ``z_b`` ``(N, D)`` of the same N items.

    Row ``i`` of ``z_a`` and row ``i`` of ``z_b`` are a positive pair. With cosine similarities
    :math:`s(u, v) = \hat u \cdot \hat v / τ` (dot products when ``normalize=False``), each
    anchor's loss is a cross-entropy over its candidates :math:`C`:

    .. math:: \ell = -s(\text{anchor}, \text{positive})
              + \log \sum_{c \in C} \exp s(\text{anchor}, c)

    * ``negatives="all"`` (default, NT-Xent of SimCLR): the candidates of each of the 2N
      embeddings are the 2N - 1 others — its positive and 2N - 2 negatives from both views.
    * ``negatives="cross_view"``: the candidates are the N rows of the other view (in-batch
      InfoNCE of van den Oord et al.; CLIP's loss with ``symmetric=True``).

    Unreduced shape ``(N, 2)``: column 0 holds the losses of the anchors from ``z_a``, column 1
    those from ``z_b``; with ``symmetric=False``, ``(N,)`` for the ``z_a`` anchors only. So
    ``"mean"`` is SimCLR's loss averaged over the 2N anchors, or CLIP's
    ``(CE(logits) + CE(logitsᵀ)) / 2``. ``mask`` ``(N,)`` removes pairs from the batch (they are
    neither anchors nor negatives); ``sample_weight`` ``(N,)`` weights pairs.

    Parameters: ``temperature`` > 0 (SimCLR uses 0.1-0.5, pml and optax default to 0.07);
    ``normalize`` (unit-normalise rows, ``x / max(‖x‖, 1e-12)``, so zero rows give no NaN).

    References: van den Oord et al. (2018); Chen et al. (2020); Radford et al. (2021). Matches
    pytorch-metric-learning ``NTXentLoss(temperature)`` and ``optax.losses.ntxent`` on the
    concatenated views with labels ``[0..N-1, 0..N-1]`` (their mean over positive pairs is this
    ``"mean"``; pml adds the smallest normal float inside its log, optax clamps squared norms
    at the float's eps).

    >>> import numpy as np, losskit as lk
    >>> z_a, z_b = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> lk.info_nce(z_a, z_b, temperature=1.0, reduction="none").round(6).tolist()
    [[0.551445, 0.551445], [0.551445, 0.551445]]
    """
    temperature = _positive("temperature", temperature)
    _validate.check_choice("negatives", negatives, ("all", "cross_view"))
    symmetric = _validate.check_bool("symmetric", symmetric)
    normalize = _validate.check_bool("normalize", normalize)
    backend, (a, b), checking = enter_arrays(
        reduction, normalizer, {"z_a": z_a, "z_b": z_b}, (mask,)
    )
    n = _batch(backend, a, "z_a", allow_empty=True)
    _batch(backend, b, "z_b", allow_empty=True)
    if not _validate.same_shape(backend.shape(a), backend.shape(b)):
        raise ValueError(
            f"z_a and z_b must have the same shape (two views of the same batch); got "
            f"{backend.shape(a)} and {backend.shape(b)}"
        )
    xp = backend.xp
    rows = None if mask is None else _row_mask(backend, mask, a, n, checking)
    if normalize:
        a, b = _unit(xp, a), _unit(xp, b)
    scale = 1.0 / temperature
    positive = xp.expand_dims(xp.sum(a * b, axis=-1) * scale, axis=1)
    s_ab = _gram(xp, a, b) * scale
    others = _off_diagonal(backend, positive[:, 0])
    columns = others if rows is None else others & xp.expand_dims(rows, axis=0)
    losses = [_nce_terms(backend, s_ab, positive, columns, a, scale, negatives)]
    if symmetric:
        s_ba = xp.permute_dims(s_ab, (1, 0))
        losses.append(_nce_terms(backend, s_ba, positive, columns, b, scale, negatives))
        loss = xp.concat(losses, axis=1)
        valid = None if rows is None else xp.expand_dims(rows, axis=1) & (xp.ones_like(loss) > 0)
    else:
        loss, valid = losses[0][:, 0], rows
    return _finish_anchors(backend, loss, valid, sample_weight, reduction, normalizer)


def _nce_terms(
    backend: ArrayAPIBackend,
    cross: Any,
    positive: Any,
    negatives_mask: Any,
    same_view: Any,
    scale: float,
    negatives: str,
) -> Any:
    """``-log softmax`` at the positive for the anchors of one view, as ``(N, 1)``.

    ``cross`` holds the anchors' scaled similarities to the other view, ``same_view`` the
    anchors themselves, ``negatives_mask`` the kept ``j ≠ i`` columns. Written
    ``softplus(logsumexp_negatives(s - s_pos))`` = ``log(1 + Σ exp(s_neg - s_pos))``: relatively
    exact when the positive dominates and the loss is tiny, where ``logsumexp(s) - s_pos``
    cancels two numbers of size ``1/τ``.
    """
    xp = backend.xp
    scores, keep = cross, negatives_mask
    if negatives == "all":
        own = _gram(xp, same_view, same_view) * scale
        scores = xp.concat([cross, own], axis=1)
        keep = xp.concat([negatives_mask, negatives_mask], axis=1)
    lse, present = _masked_logsumexp(backend, scores - positive, keep)
    loss = xp.where(present, _softplus(xp, lse), xp.zeros_like(lse))
    return xp.expand_dims(loss, axis=1)


def global_nce_losses(
    backend: ArrayAPIBackend,
    views: tuple[Any, Any],
    gathered: tuple[Any, Any, Any],
    indices: tuple[Any, Any],
    rows: Any,
    temperature: float,
    negatives: str,
    symmetric: bool,
) -> tuple[Any, Any]:
    """InfoNCE of this shard's pairs ``views = (a, b)`` against every shard's candidates
    ``gathered = (all_a, all_b, all_rows)`` (rows concatenated in shard order, ``all_rows`` the
    pairs not masked); ``indices = (anchors, columns)`` are the global row indices of ``a``'s rows
    and ``arange(len(all_a))``, on the arrays' device. Returns the
    unreduced loss (``(n, 2)``, or ``(n,)`` with ``symmetric=False``) and its valid entries (None
    when ``rows``, this shard's unmasked pairs, is None). The distributed forms of
    :func:`info_nce` (torch process groups, JAX ``shard_map``) share it."""
    xp = backend.xp
    a, b = views
    all_a, all_b, all_rows = gathered
    scale = 1.0 / temperature
    positive = xp.expand_dims(xp.sum(a * b, axis=-1) * scale, axis=1)
    anchors, columns = indices
    # a candidate is kept when it is not the anchor's own column (its positive in the other
    # view, itself in its own view) and its pair is not masked
    keep = (xp.expand_dims(anchors, axis=1) != columns[None, :]) & all_rows[None, :]

    def anchor_losses(anchor: Any, other_view: Any, same_view: Any) -> Any:
        scores, kept = _gram(xp, anchor, other_view) * scale, keep
        if negatives == "all":
            scores = xp.concat([scores, _gram(xp, anchor, same_view) * scale], axis=1)
            kept = xp.concat([keep, keep], axis=1)
        return _nce_terms(backend, scores, positive, kept, None, scale, "cross_view")

    first = anchor_losses(a, all_b, all_a)
    if not symmetric:
        return first[:, 0], rows
    loss = xp.concat([first, anchor_losses(b, all_a, all_b)], axis=1)
    valid = None if rows is None else backend.broadcast_like(xp.expand_dims(rows, axis=1), loss)
    return loss, valid


@register(
    "sigmoid_contrastive",
    aliases=("siglip", "sigmoid_contrastive_loss"),
    kind="anchors",
    task="self_supervised",
    properties={"bounded": False, "batch": True},
    contract_exceptions=_BATCH_PAIRS,
    references=(
        "Zhai, Mustafa, Kolesnikov & Beyer (2023), Sigmoid Loss for Language Image Pre-Training "
        "(SigLIP)",
    ),
    **_METRIC,
)
def sigmoid_contrastive(
    z_a: Any,
    z_b: Any,
    *,
    logit_scale: Any = 10.0,
    bias: Any = -10.0,
    normalize: bool = True,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Pairwise sigmoid loss (SigLIP) on two views ``z_a``, ``z_b`` ``(N, D)`` of the same N items.

    Every pair ``(i, j)`` is its own binary classification, positive on the diagonal: with
    logits :math:`x_{ij} = t\,\hat a_i\cdot\hat b_j + b` (rows unit-normalised when
    ``normalize=True``), :math:`z_{ij} = 1` if :math:`i = j` and :math:`-1` otherwise,

    .. math:: \ell_i = -\sum_{j=1}^{N} \log σ(z_{ij}\,x_{ij})
              = \sum_{j=1}^{N} \log\bigl(1 + e^{-z_{ij} x_{ij}}\bigr)

    Unreduced shape ``(N,)``: one loss per row of ``z_a`` (e.g. per image), summed over all N
    rows of ``z_b`` (the texts). So ``"mean"`` is the paper's
    :math:`-\frac1N\sum_i\sum_j \log σ(z_{ij} x_{ij})`, normalised by the batch size N and not
    by the N² pairs (``"sum"`` divided by N² is the per-pair average). Unlike softmax losses,
    no row needs the whole batch at once, which is what makes the chunked multi-device version
    (``losskit.distributed.sigmoid_contrastive``) cheap. ``mask`` ``(N,)`` removes pairs from the
    batch (neither anchors nor negatives); ``sample_weight`` ``(N,)`` weights the rows.

    Parameters: ``logit_scale`` t > 0 and ``bias`` b, Python numbers or scalar arrays — pass the
    model's learnable parameters (the paper learns ``t = exp(t')`` from ``t' = log 10`` and
    ``b`` from -10, the defaults here) and they receive gradients; ``logit_scale`` is
    ``1 / temperature``. Each term is a softplus written to be exact in both tails, so the large
    negative logits of the -10 bias lose nothing.

    Reference: Zhai et al. (2023), Sigmoid Loss for Language Image Pre-Training (Algorithm 1:
    ``-sum(log_sigmoid(labels * logits)) / n``).

    >>> import numpy as np, losskit as lk
    >>> z_a, z_b = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> lk.sigmoid_contrastive(z_a, z_b, logit_scale=1.0, bias=0.0,
    ...                        reduction="none").round(6).tolist()
    [1.006409, 1.006409]
    """
    normalize = _validate.check_bool("normalize", normalize)
    backend, (a, b), checking = enter_arrays(
        reduction, normalizer, {"z_a": z_a, "z_b": z_b}, (mask,)
    )
    n = _batch(backend, a, "z_a", allow_empty=True)
    _batch(backend, b, "z_b", allow_empty=True)
    if not _validate.same_shape(backend.shape(a), backend.shape(b)):
        raise ValueError(
            f"z_a and z_b must have the same shape (two views of the same batch); got "
            f"{backend.shape(a)} and {backend.shape(b)}"
        )
    scale = _scalar_parameter(backend, "logit_scale", logit_scale, a, checking, positive=True)
    shift = _scalar_parameter(backend, "bias", bias, a, checking, positive=False)
    xp = backend.xp
    rows = None if mask is None else _row_mask(backend, mask, a, n, checking)
    if normalize:
        a, b = _unit(xp, a), _unit(xp, b)
    diagonal = ~_off_diagonal(backend, a[:, 0])
    columns = None if rows is None else xp.expand_dims(rows, axis=0)
    loss = _sigmoid_rows(backend, a, b, scale, shift, diagonal, columns)
    return _finish_anchors(backend, loss, rows, sample_weight, reduction, normalizer)


def _scalar_parameter(
    backend: ArrayAPIBackend, name: str, value: Any, like: Any, checking: bool, positive: bool
) -> Any:
    """A Python number (checked, returned as a float) or a scalar array — shape ``()`` or
    ``(1,)``, e.g. a learnable parameter — in ``like``'s dtype, keeping its gradient."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a scalar array; got a bool")
    if isinstance(value, int | float):
        return _positive(name, value) if positive else _real(name, value)
    value = backend.asarray(value, like, name)
    if not (backend.is_floating(value) or backend.is_integral(value)):
        raise TypeError(f"{name} must be a number or a numeric scalar array; got {value.dtype}")
    shape = backend.shape(value)
    if not (_validate.same_shape(shape, ()) or _validate.same_shape(shape, (1,))):
        raise ValueError(f"{name} must be a number or a scalar array; got shape {shape}")
    value = backend.astype(backend.xp.reshape(value, ()), like.dtype)
    if checking:
        _validate.check_no_nan(backend, value, name)
        if positive and backend.any(value <= 0):
            raise ValueError(f"{name} must be > 0; got {float(value)}")
    return value


def _sigmoid_rows(
    backend: ArrayAPIBackend,
    a: Any,
    b: Any,
    scale: Any,
    bias: Any,
    positive: Any,
    keep: Any,
) -> Any:
    """``Σ_j -log σ(z_ij·x_ij)`` for each row of ``a`` ``(B, D)`` against the rows of ``b``
    ``(M, D)``, with ``x_ij = scale·a_i·b_j + bias``; ``positive`` marks ``z = +1`` (None: every
    pair is negative) and ``keep`` the pairs counted (None: all; else broadcast to ``(B, M)``).
    Excluded pairs never reach the softplus, so they get exactly zero gradient."""
    xp = backend.xp
    logits = _gram(xp, a, b) * scale + bias
    margin = -logits if positive is None else xp.where(positive, logits, -logits)
    if keep is None:
        return xp.sum(_softplus(xp, -margin), axis=1)
    zero = xp.zeros_like(margin)
    terms = _softplus(xp, -xp.where(keep, margin, zero))
    return xp.sum(xp.where(keep, terms, zero), axis=1)
