"""Self-supervised losses on two views of the same items: InfoNCE / NT-Xent, SigLIP, VICReg,
Barlow Twins."""

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
    _non_negative,
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
        if positive:
            detail = lambda: f"; got {float(value)}"  # noqa: E731
            _validate.require_none(backend, value <= 0, f"{name} must be > 0", detail)
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


# ---------------------------------------------------------------------- batch statistics forms
def _enter_views(
    z_a: Any, z_b: Any, mask: Any, reduction: str, normalizer: Any
) -> tuple[ArrayAPIBackend, Any, Any, Any]:
    """Backend, the two views ``(N, D)`` with masked rows set to 0, and the kept rows as 0/1
    weights ``(N, 1)`` in their dtype."""
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
    if mask is None:
        return backend, a, b, xp.ones_like(a[:, :1])
    rows = xp.expand_dims(_row_mask(backend, mask, a, n, checking), axis=1)
    zero = xp.zeros_like(a)
    kept = xp.where(rows, xp.ones_like(a[:, :1]), xp.zeros_like(a[:, :1]))
    return backend, xp.where(rows, a, zero), xp.where(rows, b, zero), kept


def _column_statistics(xp: Any, x: Any, kept: Any, count: Any) -> tuple[Any, Any]:
    """The kept rows of ``x`` centred on their column means (other rows 0), and the unbiased
    column variances ``Σ (x - x̄)² / (n - 1)``; ``count`` is ``max(n, 2)``."""
    centred = (x - xp.sum(x, axis=0, keepdims=True) / count) * kept
    return centred, xp.sum(centred * centred, axis=0) / (count - 1)


def _kept_count(backend: ArrayAPIBackend, kept: Any) -> tuple[Any, Any]:
    """The number of kept rows as ``max(n, 2)`` (a safe divisor) and whether ``n ≥ 2``."""
    xp = backend.xp
    n = xp.sum(kept)
    return xp.maximum(n, xp.ones_like(n) * 2.0), n >= 2.0


def _sum_off_diagonal_squares(backend: ArrayAPIBackend, matrix: Any) -> Any:
    xp = backend.xp
    off = _off_diagonal(backend, matrix[0, :])
    return xp.sum(xp.where(off, matrix * matrix, xp.zeros_like(matrix)))


@register(
    "vicreg",
    aliases=("vicreg_loss",),
    kind="anchors",
    task="self_supervised",
    properties={"bounded": False, "batch": True},
    contract_exceptions=_BATCH_PAIRS,
    references=(
        "Bardes, Ponce & LeCun (2022), VICReg: Variance-Invariance-Covariance Regularization for "
        "Self-Supervised Learning",
        f"{_PML} VICRegLoss",
    ),
    **_METRIC,
)
def vicreg(
    z_a: Any,
    z_b: Any,
    *,
    sim_coeff: float = 25.0,
    std_coeff: float = 25.0,
    cov_coeff: float = 1.0,
    eps: float = 1e-4,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""VICReg on two views ``z_a``, ``z_b`` ``(N, D)`` of the same N items: one value per batch.

    With unbiased column variances :math:`σ^2_k` and covariance matrices
    :math:`C = \frac{1}{N-1} \sum_i (z_i - \bar z)(z_i - \bar z)^\top` of each view,

    .. math:: \ell = λ\,\frac{1}{ND}\sum_{i,k} (a_{ik} - b_{ik})^2
              + μ\,\frac{v(a) + v(b)}{2} + ν\,\bigl(c(a) + c(b)\bigr),\quad
              v(z) = \frac1D \sum_k \max\bigl(0, 1 - \sqrt{σ^2_k + ε}\bigr),\quad
              c(z) = \frac1D \sum_{k \ne l} C_{kl}^2

    with λ = ``sim_coeff`` (invariance), μ = ``std_coeff`` (variance), ν = ``cov_coeff``
    (covariance), ε = ``eps``; the defaults 25, 25, 1 and 1e-4 are the paper's.

    Unreduced shape ``()``: the loss is a statistic of the whole batch, so every reduction
    returns the same value (``sample_weight`` can only be a scalar). ``mask`` ``(N,)`` removes
    pairs from the batch before the statistics are taken; with fewer than two pairs left the
    variances are undefined and the loss is exactly 0 with zero gradients.

    Reference: Bardes, Ponce & LeCun (2022), VICReg. Matches pytorch-metric-learning
    ``VICRegLoss(invariance_lambda=sim_coeff, variance_mu=std_coeff, covariance_v=cov_coeff,
    eps=eps)(z_a, ref_emb=z_b)``.

    >>> import numpy as np, losskit as lk
    >>> z_a, z_b = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 1.0], [0.0, 0.0]])
    >>> round(float(lk.vicreg(z_a, z_b)), 6)
    20.320563
    """
    sim_coeff = _non_negative("sim_coeff", sim_coeff)
    std_coeff = _non_negative("std_coeff", std_coeff)
    cov_coeff = _non_negative("cov_coeff", cov_coeff)
    eps = _positive("eps", eps)
    backend, a, b, kept = _enter_views(z_a, z_b, mask, reduction, normalizer)
    xp = backend.xp
    count, enough = _kept_count(backend, kept)
    d = float(backend.shape(a)[1])
    difference = a - b
    invariance = xp.sum(difference * difference) / (count * d)
    spread, covariance = 0.0, 0.0
    for view in (a, b):
        centred, variance = _column_statistics(xp, view, kept, count)
        std = xp.sqrt(variance + eps)
        spread = spread + xp.sum(xp.where(std < 1.0, 1.0 - std, xp.zeros_like(std))) / (2 * d)
        scatter = xp.matmul(xp.permute_dims(centred, (1, 0)), centred)  # (D, D)
        covariance = covariance + _sum_off_diagonal_squares(backend, scatter / (count - 1)) / d
    loss = sim_coeff * invariance + std_coeff * spread + cov_coeff * covariance
    return _finish_batch(backend, loss, enough, sample_weight, reduction, normalizer)


@register(
    "barlow_twins",
    aliases=("barlow_twins_loss",),
    kind="anchors",
    task="self_supervised",
    properties={"bounded": False, "batch": True},
    contract_exceptions=_BATCH_PAIRS,
    references=(
        "Zbontar, Jing, Misra, LeCun & Deny (2021), Barlow Twins: Self-Supervised Learning via "
        "Redundancy Reduction",
        "MONAI BarlowTwinsLoss",
    ),
    **_METRIC,
)
def barlow_twins(
    z_a: Any,
    z_b: Any,
    *,
    off_diagonal_weight: float = 5e-3,
    eps: float = 1e-6,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Barlow Twins on two views ``z_a``, ``z_b`` ``(N, D)`` of the same N items: one value per
    batch.

    Each view's columns are standardised over the batch, :math:`\tilde z_{ik} =
    (z_{ik} - \bar z_k) / (σ_k + ε)` with the unbiased standard deviation :math:`σ_k`; the
    cross-correlation of the views :math:`c_{kl} = \frac1N \sum_i \tilde a_{ik} \tilde b_{il}`
    is pulled towards the identity:

    .. math:: \ell = \sum_k (1 - c_{kk})^2 + λ \sum_{k \ne l} c_{kl}^2

    with λ = ``off_diagonal_weight`` (the paper's 5e-3 by default) and ε = ``eps``.

    Unreduced shape ``()``: the loss is a statistic of the whole batch, so every reduction
    returns the same value (``sample_weight`` can only be a scalar). ``mask`` ``(N,)`` removes
    pairs from the batch before the statistics are taken; with fewer than two pairs left the
    standard deviations are undefined and the loss is exactly 0 with zero gradients.

    Reference: Zbontar et al. (2021), Barlow Twins. Matches MONAI
    ``BarlowTwinsLoss(lambd=off_diagonal_weight)(z_a, z_b)``, whose standardisation (unbiased
    σ, ε = 1e-6 added to σ) this follows; the paper's code standardises with a batch-norm layer
    (biased variance, ε = 1e-5 under the square root), which differs by O(1/N).

    >>> import numpy as np, losskit as lk
    >>> z_a, z_b = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 1.0], [0.0, 0.0]])
    >>> round(float(lk.barlow_twins(z_a, z_b)), 6)
    2.502497
    """
    off_diagonal_weight = _non_negative("off_diagonal_weight", off_diagonal_weight)
    eps = _positive("eps", eps)
    backend, a, b, kept = _enter_views(z_a, z_b, mask, reduction, normalizer)
    xp = backend.xp
    count, enough = _kept_count(backend, kept)
    standard = []
    for view in (a, b):
        centred, variance = _column_statistics(xp, view, kept, count)
        positive = variance > 0  # sqrt's gradient at 0 would be infinite
        ones, zeros = xp.ones_like(variance), xp.zeros_like(variance)
        std = xp.where(positive, xp.sqrt(xp.where(positive, variance, ones)), zeros)
        standard.append(xp.permute_dims(centred / (std + eps), (1, 0)))
    correlation = _gram(xp, standard[0], standard[1]) / count
    off = _off_diagonal(backend, correlation[0, :])
    diagonal = xp.sum(xp.where(off, xp.zeros_like(correlation), correlation), axis=1)
    on = xp.sum((1.0 - diagonal) ** 2)
    loss = on + off_diagonal_weight * _sum_off_diagonal_squares(backend, correlation)
    return _finish_batch(backend, loss, enough, sample_weight, reduction, normalizer)


def _finish_batch(
    backend: ArrayAPIBackend,
    loss: Any,
    enough: Any,
    sample_weight: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    """The reduction contract on a batch statistic ``loss`` ``()``, counted when the batch had
    ``enough`` rows (else exactly 0, and no NaN from the unused value reaches the gradient)."""
    xp = backend.xp
    loss = xp.where(enough, loss, xp.zeros_like(loss))
    return _finish_anchors(backend, loss, enough, sample_weight, reduction, normalizer)
