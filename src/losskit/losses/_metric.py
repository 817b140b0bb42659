"""Metric-learning losses on embeddings, pairs and triplets.

Three input forms, each documented with its unreduced shape (what ``reduction="none"`` returns):

* pairs and triplets of vectors (``triplet_margin``, ``cosine_embedding``): one loss per row, the
  feature axis (last) reduced;
* scores and ±1 labels (``margin_ranking``, ``hinge_embedding``): elementwise;
* a batch of embeddings ``(N, D)`` with integer ``labels`` (``contrastive``: one loss per ordered
  pair, ``(N, N)``; ``supervised_contrastive`` and ``circle``: one per anchor, ``(N,)``) or two
  views ``(N, D)`` of the same items (``info_nce``: ``(N, 2)``, one per anchor of each view).

For the batch forms a ``mask`` of shape ``(N,)`` removes embeddings from the batch altogether (as
anchors and as partners), so padding rows never act as negatives; ``sample_weight`` of shape
``(N,)`` weights each anchor's losses. Everything is computed with masks over all pairs (no
data-dependent shapes), so the losses run under ``jax.jit`` and ``tf.function(jit_compile=True)``.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _inputs, _validate
from .._backend import ArrayAPIBackend, backend_of
from .._reduce import check_reduction, reduce_loss
from .._registry import register

#: Rows are normalised as ``x / max(‖x‖, 1e-12)`` (torch ``F.normalize``, as pml does), written
#: ``x / sqrt(max(Σx², 1e-24))`` so that a zero vector has a finite gradient.
_NORM_FLOOR_SQUARED = 1e-24
#: torch ``cosine_embedding_loss`` adds this to each squared norm: 1e-12 rounded to float32.
_COSINE_EPSILON = 9.999999960041972e-13

_METRIC: dict[str, Any] = {"family": "metric", "domain": "embedding"}
_PML = "pytorch-metric-learning"
#: Declared in the registry by the losses that pair every example with the rest of the batch.
_BATCH_PAIRS = {
    "split_batch": "every example is paired with the rest of its batch (its positives and "
    "negatives), so the parts of a split batch do not add up to it; losskit.distributed gathers "
    "the other ranks' examples to keep the full-batch value",
}


# ---------------------------------------------------------------------- inputs
def _enter(
    reduction: str, normalizer: Any, inputs: dict[str, Any], others: tuple[Any, ...] = ()
) -> tuple[ArrayAPIBackend, list[Any], bool]:
    """Backend, float inputs in the compute dtype, and whether value checks run.

    The first argument that is not a NumPy array (or list) — among ``inputs``, then ``others``
    (labels) — decides the library and device; the first float input of that library decides the
    compute dtype (float64 stays float64, the rest computes in float32). The other inputs are
    converted to it.
    """
    check_reduction(reduction, normalizer)
    names = list(inputs)
    for name in names:
        backend_of(inputs[name], name)  # an unusable type is refused with its argument's name
    candidates = [*inputs.values(), *(o for o in others if o is not None)]
    lead = next((x for x in candidates if backend_of(x).name != "numpy"), candidates[0])
    backend = backend_of(lead)
    native = [backend.owns(inputs[n]) for n in names]
    lead_name = names[native.index(True)] if any(native) else names[0]
    lead = backend.asarray(inputs[lead_name], lead, lead_name)
    _check_float(backend, lead, lead_name)
    dtype = backend.compute_dtype(lead)
    arrays = []
    for name in names:
        x = lead if name == lead_name else backend.asarray(inputs[name], lead, name)
        _check_float(backend, x, name)
        arrays.append(backend.astype(x, dtype))
    checking = _validate.checking_values(backend, lead)
    if checking:
        for name, x in zip(names, arrays, strict=True):
            _validate.check_no_nan(backend, x, name)
    return backend, arrays, checking


def _check_float(backend: ArrayAPIBackend, x: Any, name: str) -> None:
    if not backend.is_floating(x):
        raise TypeError(
            f"{name} must be a floating-point array; got dtype {x.dtype}. Cast it to a float "
            f"dtype first"
        )


def _signs(backend: ArrayAPIBackend, y: Any, like: Any, checking: bool, name: str = "y") -> Any:
    """Labels -1/1 in ``like``'s dtype (checked when value checks run)."""
    y = backend.asarray(y, like, name)
    if not (backend.is_floating(y) or backend.is_integral(y)):
        raise TypeError(f"{name} must be a numeric array of labels -1/1; got dtype {y.dtype}")
    y = backend.astype(y, like.dtype)
    if checking:
        _validate.check_no_nan(backend, y, name)
        if backend.any((y != 1.0) & (y != -1.0)):
            bounds = backend.min_max(y)
            found = "" if bounds is None else f"; got values in [{bounds[0]:g}, {bounds[1]:g}]"
            raise ValueError(f"{name} must hold labels -1 or 1 only{found}")
    return y


def _shape_of(backend: ArrayAPIBackend, x: Any) -> tuple[Any, ...]:
    return backend.shape(x)


def _joint_shape(shapes: dict[str, tuple[Any, ...]]) -> tuple[Any, ...]:
    """The broadcast shape of named inputs, or a ``ValueError`` naming them all."""
    joint: tuple[Any, ...] | None = ()
    for shape in shapes.values():
        joint = None if joint is None else _validate.broadcast_shapes(joint, shape)
    if joint is None:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"input shapes do not broadcast together: {listed}")
    return joint


def _check_fits(name: str, shape: tuple[Any, ...], target: tuple[Any, ...], what: str) -> None:
    """``shape`` must broadcast to ``target`` without enlarging it."""
    joint = _validate.broadcast_shapes(shape, target)
    if joint is None or not _validate.same_shape(joint, target):
        raise ValueError(f"{name} of shape {shape} does not match {what} of shape {target}")


def _vectors(backend: ArrayAPIBackend, arrays: dict[str, Any]) -> tuple[Any, ...]:
    """Feature vectors on the last axis: at least 1-D, one feature size, broadcastable rows."""
    shapes = {n: _shape_of(backend, x) for n, x in arrays.items()}
    for name, shape in shapes.items():
        if len(shape) == 0:
            raise ValueError(f"{name} must hold vectors on its last axis; got a scalar")
        if shape[-1] == 0:
            raise ValueError(f"{name} has an empty feature axis (shape {shape})")
    features = {s[-1] for s in shapes.values()} - {None}
    if len(features) > 1:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"inputs must have the same feature size (last axis); got {listed}")
    return _joint_shape({n: s[:-1] for n, s in shapes.items()})


def _batch(backend: ArrayAPIBackend, x: Any, name: str, allow_empty: bool = False) -> Any:
    """An ``(N, D)`` batch of embeddings with D ≥ 1, and N ≥ 1 unless ``allow_empty`` (an
    empty batch has no pair: its losses are empty and reduce to exactly 0); returns N (None if
    unknown)."""
    shape = backend.shape(x)
    if len(shape) != 2:
        raise ValueError(f"{name} must be a 2-D (batch, features) array; got shape {shape}")
    if shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is an empty batch (shape {shape}); at least one row is needed")
    if shape[1] == 0:
        raise ValueError(f"{name} has an empty feature axis (shape {shape})")
    return shape[0]


def _labels(backend: ArrayAPIBackend, labels: Any, like: Any, n: Any, checking: bool) -> Any:
    """Integer class labels of shape ``(N,)`` (integer-valued floats accepted)."""
    labels = backend.asarray(labels, like, "labels")
    _validate.check_integer_dtype(backend, labels, "labels")
    if not _validate.same_shape(backend.shape(labels), (n,)):
        raise ValueError(
            f"labels must have one entry per embedding, shape ({n},); got shape "
            f"{backend.shape(labels)}"
        )
    if backend.is_floating(labels) and checking:
        _validate.check_no_nan(backend, labels, "labels")
        _validate.check_integer_valued(backend, labels, "labels")
    return backend.astype(labels, backend.index_dtype)


def _row_mask(backend: ArrayAPIBackend, mask: Any, like: Any, n: Any, checking: bool) -> Any:
    """A boolean ``(N,)`` mask over the batch (0/1 numbers accepted)."""
    mask = _inputs.boolean_mask(backend, mask, like, checking)
    if not _validate.same_shape(backend.shape(mask), (n,)):
        raise ValueError(
            f"mask must have one entry per embedding (or pair of views), shape ({n},); got "
            f"shape {backend.shape(mask)}"
        )
    return mask


def _positive(name: str, value: Any) -> float:
    return _validate.check_range(name, value, 0.0, math.inf, low_open=True, high_open=True)


def _non_negative(name: str, value: Any) -> float:
    return _validate.check_range(name, value, 0.0, math.inf, high_open=True)


def _real(name: str, value: Any) -> float:
    return _validate.check_range(name, value, -math.inf, math.inf, low_open=True, high_open=True)


# ---------------------------------------------------------------------- numerics
def _relu(xp: Any, x: Any) -> Any:
    """``max(x, 0)`` with derivative 0 at the kink on every framework."""
    return xp.where(x > 0, x, xp.zeros_like(x))


def _softplus(xp: Any, x: Any) -> Any:
    """``log(1 + eˣ)``, relatively exact in both tails on every framework (torch's kernel returns
    ``x`` above 20, TensorFlow's ``logaddexp`` rounds ``1 + eˣ``), derivative σ(x), ½ at 0.

    Written ``H(x)·x + log1p(e^{-|x|})`` with ``H`` the step (½ at 0) and ``|x| = sign(x)·x``.
    """
    sign = xp.sign(x)
    linear = xp.where(x < 0, xp.zeros_like(x), (0.5 * sign + 0.5) * x)  # 0 at x = -inf
    return linear + xp.log1p(xp.exp(-sign * x))


def _sqrt0(xp: Any, s: Any) -> Any:
    """``sqrt(s)`` for ``s ≥ 0`` with value and gradient 0 at ``s = 0`` (no ``1/0``)."""
    positive = s > 0
    return xp.where(positive, xp.sqrt(xp.where(positive, s, xp.ones_like(s))), xp.zeros_like(s))


def _unit(xp: Any, x: Any) -> Any:
    """Rows scaled to unit L2 norm, ``x / max(‖x‖, 1e-12)``; a zero row stays zero."""
    squared = xp.sum(x * x, axis=-1, keepdims=True)
    return x / xp.sqrt(xp.maximum(squared, _NORM_FLOOR_SQUARED))


def _p_norm(xp: Any, d: Any, p: float, offset: float = 0.0) -> Any:
    """``(Σ|d|^p + offset)^(1/p)`` over the last axis (``max|d|`` for p = ∞), with finite
    gradients where ``d`` or the sum is 0 (|d| written ``sign(d)·d``)."""
    if p == 2.0:
        total = xp.sum(d * d, axis=-1)
        return _sqrt0(xp, total + offset if offset else total)
    magnitude = xp.sign(d) * d
    if math.isinf(p):
        return xp.max(magnitude, axis=-1)
    if p == 1.0:
        total = xp.sum(magnitude, axis=-1)
    else:
        nonzero = magnitude > 0
        safe = xp.where(nonzero, magnitude, xp.ones_like(magnitude))
        powered = xp.where(nonzero, xp.pow(safe, p), xp.zeros_like(magnitude))
        total = xp.sum(powered, axis=-1)
    if offset:
        total = total + offset
    if p == 1.0:
        return total
    positive = total > 0
    safe_total = xp.where(positive, total, xp.ones_like(total))
    return xp.where(positive, xp.pow(safe_total, 1.0 / p), xp.zeros_like(total))


def _masked_logsumexp(backend: ArrayAPIBackend, x: Any, keep: Any) -> tuple[Any, Any]:
    """``log Σ_{keep} exp(x)`` over the last axis, and whether a row keeps anything.

    Rows that keep nothing give 0 (also rows of length 0, from an empty batch). Excluded
    entries never reach ``exp`` (they are replaced before it), so they get exactly zero
    gradient even when they hold huge values.
    """
    xp = backend.xp
    if backend.shape(x)[-1] == 0:  # no maximum to take: every row is empty
        return xp.sum(x, axis=-1), xp.any(keep, axis=-1)
    low = xp.where(keep, x, xp.full_like(x, -math.inf))
    top = xp.max(low, axis=-1, keepdims=True)
    top = backend.stop_gradient(xp.where(xp.isfinite(top), top, xp.zeros_like(top)))
    shifted = xp.where(keep, x - top, xp.zeros_like(x))
    total = xp.sum(xp.where(keep, xp.exp(shifted), xp.zeros_like(x)), axis=-1, keepdims=True)
    present = xp.any(keep, axis=-1, keepdims=True)
    lse = xp.log(xp.where(present, total, xp.ones_like(total))) + top
    lse = xp.where(present, lse, xp.zeros_like(lse))
    return xp.squeeze(lse, axis=-1), xp.squeeze(present, axis=-1)


def _gram(xp: Any, a: Any, b: Any) -> Any:
    """``a @ bᵀ`` for ``(N, D)`` and ``(M, D)`` arrays."""
    return xp.matmul(a, xp.permute_dims(b, (1, 0)))


def _index(backend: ArrayAPIBackend, vector: Any) -> Any:
    """``0, 1, ..., N-1`` for a vector of length N (also when N is known only at run time)."""
    xp = backend.xp
    n = backend.shape(vector)[0]
    if n is not None:
        return xp.arange(n, dtype=backend.index_dtype)
    return xp.cumulative_sum(xp.ones_like(vector)) - 1


def _off_diagonal(backend: ArrayAPIBackend, vector: Any) -> Any:
    """The ``(N, N)`` boolean mask ``i ≠ j`` for a vector of length N."""
    xp = backend.xp
    index = _index(backend, vector)
    return xp.expand_dims(index, axis=1) != xp.expand_dims(index, axis=0)


def _pair_masks(backend: ArrayAPIBackend, labels: Any, rows: Any) -> tuple[Any, Any, Any]:
    """``(positive, negative, pair)`` boolean ``(N, N)`` masks over ordered pairs ``i ≠ j`` of
    kept rows: same label, different label, either."""
    xp = backend.xp
    pair = _off_diagonal(backend, labels)
    if rows is not None:
        pair = pair & xp.expand_dims(rows, axis=1) & xp.expand_dims(rows, axis=0)
    same = xp.expand_dims(labels, axis=1) == xp.expand_dims(labels, axis=0)
    return pair & same, pair & ~same, pair


def _enter_batch(
    embeddings: Any, labels: Any, mask: Any, reduction: str, normalizer: Any
) -> tuple[ArrayAPIBackend, Any, Any, Any]:
    """Backend, embeddings ``(N, D)``, labels ``(N,)`` and the row mask (None: all rows)."""
    backend, (x,), checking = _enter(
        reduction, normalizer, {"embeddings": embeddings}, (labels, mask)
    )
    n = _batch(backend, x, "embeddings", allow_empty=True)
    labels = _labels(backend, labels, x, n, checking)
    rows = None if mask is None else _row_mask(backend, mask, x, n, checking)
    return backend, x, labels, rows


def _finish_anchors(
    backend: ArrayAPIBackend,
    loss: Any,
    valid: Any,
    sample_weight: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        valid=valid,
    )


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
    ``pos_margin=0`` that is Hadsell et al.'s original form.

    Unreduced shape ``(N, N)``: one loss per ordered pair (both ``(i, j)`` and ``(j, i)``); the
    diagonal is not a pair and is excluded (0 in ``reduction="none"``). ``"mean"`` averages over
    all pairs; a batch without a pair (one embedding, everything masked) gives 0 with a zero
    gradient. ``mask``: ``(N,)`` removes embeddings from the batch, ``(N, N)`` selects pairs;
    ``sample_weight``: ``(N,)`` weights each anchor's row, ``(N, N)`` each pair.

    Parameters: ``embeddings`` ``(N, D)``; ``labels`` ``(N,)`` integers (equal labels make a
    positive pair); ``pos_margin`` and ``neg_margin`` (both ≥ 0); ``normalize`` (L2-normalise rows
    first, as torch ``F.normalize``); ``squared``.

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
    pos_margin = _non_negative("pos_margin", pos_margin)
    neg_margin = _non_negative("neg_margin", neg_margin)
    normalize = _validate.check_bool("normalize", normalize)
    squared = _validate.check_bool("squared", squared)
    pair_mask = None
    if mask is not None and len(_static_shape(mask)) == 2:
        pair_mask, mask = mask, None
    backend, x, labels, rows = _enter_batch(embeddings, labels, mask, reduction, normalizer)
    xp = backend.xp
    u = _unit(xp, x) if normalize else x
    gram = _gram(xp, u, u)
    off = _off_diagonal(backend, labels)
    zero = xp.zeros_like(gram)
    norms = xp.sum(xp.where(off, zero, gram), axis=1)  # the diagonal: the products of gram
    d2 = xp.expand_dims(norms, axis=1) + xp.expand_dims(norms, axis=0) - 2.0 * gram
    d = _sqrt0(xp, xp.where(off & (d2 > 0), d2, zero))
    positive, _, pair = _pair_masks(backend, labels, rows)
    pull, push = _relu(xp, d - pos_margin), _relu(xp, neg_margin - d)
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
    backend, (a, pos, neg), _ = _enter(
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
    loss = _relu(xp, margin + d_pos - d_neg)
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
    backend, (a, b), checking = _enter(reduction, normalizer, {"x1": x1, "x2": x2}, (y,))
    y = _signs(backend, y, a, checking)
    _joint_shape({"x1": backend.shape(a), "x2": backend.shape(b), "y": backend.shape(y)})
    loss = _relu(backend.xp, margin - y * (a - b))
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
    backend, (a, b), checking = _enter(reduction, normalizer, {"x1": x1, "x2": x2}, (y,))
    rows = _vectors(backend, {"x1": a, "x2": b})
    y = _signs(backend, y, a, checking)
    _check_fits("y", backend.shape(y), rows, "the rows of x1 and x2")
    xp = backend.xp
    dot = xp.sum(a * b, axis=-1)
    norms = (xp.sum(a * a, axis=-1) + _COSINE_EPSILON) * (xp.sum(b * b, axis=-1) + _COSINE_EPSILON)
    cos = dot / xp.sqrt(norms)
    loss = xp.where(y > 0, 1.0 - cos, _relu(xp, cos - margin))
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
    backend, (d,), checking = _enter(reduction, normalizer, {"x": x}, (y,))
    y = _signs(backend, y, d, checking)
    _joint_shape({"x": backend.shape(d), "y": backend.shape(y)})
    xp = backend.xp
    loss = xp.where(y > 0, d, _relu(xp, margin - d))
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
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
    backend, (a, b), checking = _enter(reduction, normalizer, {"z_a": z_a, "z_b": z_b}, (mask,))
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
    backend, (a, b), checking = _enter(reduction, normalizer, {"z_a": z_a, "z_b": z_b}, (mask,))
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
    backend, x, labels, rows = _enter_batch(embeddings, labels, mask, reduction, normalizer)
    xp = backend.xp
    u = _unit(xp, x)
    s = _gram(xp, u, u)
    positive, negative, _ = _pair_masks(backend, labels, rows)
    fixed = backend.stop_gradient(s)
    alpha_p = _relu(xp, 1.0 + m - fixed)
    alpha_n = _relu(xp, fixed + m)
    lse_p, has_p = _masked_logsumexp(backend, -gamma * alpha_p * (s - (1.0 - m)), positive)
    lse_n, has_n = _masked_logsumexp(backend, gamma * alpha_n * (s - m), negative)
    loss = _softplus(xp, lse_p + lse_n)
    valid = has_p & has_n
    if rows is not None:
        valid = valid & rows
    return _finish_anchors(backend, loss, valid, sample_weight, reduction, normalizer)
