"""Structured classification losses: multiclass hinge, sparsemax and CTC."""

from __future__ import annotations

import math
from typing import Any

from .. import _inputs, _validate
from .._backend import ArrayAPIBackend
from .._reduce import check_reduction, fused_reduction, reduce_loss
from .._registry import register
from ._common import finish

_WESTON_WATKINS = (
    "Weston & Watkins (1999), Support Vector Machines for Multi-Class Pattern Recognition"
)
_CRAMMER_SINGER = (
    "Crammer & Singer (2001), On the Algorithmic Implementation of Multiclass Kernel-based "
    "Vector Machines"
)
_SPARSEMAX = (
    "Martins & Astudillo (2016), From Softmax to Sparsemax: A Sparse Model of Attention and "
    "Multi-Label Classification"
)
_CTC = (
    "Graves, Fernández, Gomez & Schmidhuber (2006), Connectionist Temporal Classification: "
    "Labelling Unsegmented Sequence Data with Recurrent Neural Networks"
)


def _relu(xp: Any, x: Any) -> Any:
    """``max(x, 0)`` with derivative 0 at the kink on every framework."""
    return xp.where(x > 0, x, xp.zeros_like(x))


def _check_ignore_index(ignore_index: Any) -> None:
    _validate.check_int("ignore_index", ignore_index, optional=True)


def _sparse_entry(
    backend: ArrayAPIBackend, y_true: Any, y_pred: Any, axis: int, ignore_index: Any, checking: bool
) -> tuple[Any, Any]:
    """Class indices (``y_pred``'s shape without ``axis``), checked and made safe to gather, and
    the ``ignore_index`` exclusions (None without one)."""
    num_classes = backend.shape(y_pred)[axis]
    labels = _inputs.sparse_labels(backend, y_true, y_pred, axis, checking)
    valid = None if ignore_index is None else labels != ignore_index
    if checking:
        _validate.check_labels(backend, labels, num_classes, valid)
        _validate.check_no_nan(backend, y_pred, "y_pred")
    return _inputs.gatherable(backend, labels, num_classes, valid, checking), valid


def _num_classes(backend: ArrayAPIBackend, y_pred: Any, axis: int) -> int:
    """The static number of classes along ``axis``; at least one."""
    num_classes = backend.shape(y_pred)[axis]
    if num_classes is None:
        raise ValueError("the number of classes (y_pred's class axis) must be known when tracing")
    if num_classes < 1:
        raise ValueError(
            f"y_pred of shape {backend.shape(y_pred)} has no classes along axis {axis}; at least "
            f"one is needed"
        )
    return num_classes


def _picked(backend: ArrayAPIBackend, scores: Any, labels: Any) -> Any:
    """``scores[..., labels]`` over the last axis, keeping it (size 1)."""
    return backend.take_along_axis(scores, backend.xp.expand_dims(labels, axis=-1), axis=-1)


# ---------------------------------------------------------------------- multiclass hinge
@register(
    "multiclass_hinge",
    aliases=("multi_margin", "multi_margin_loss", "multiclass_hinge_loss"),
    family="classification",
    kind="axis",
    task="multiclass",
    domain="real",
    properties={"convex": True, "bounded": False, "calibrated": False},
    references=(
        _WESTON_WATKINS,
        _CRAMMER_SINGER,
        "torch.nn.MultiMarginLoss; sklearn.metrics.hinge_loss; optax.losses.multiclass_hinge_loss",
    ),
)
def multiclass_hinge(
    y_true: Any,
    y_pred: Any,
    *,
    margin: float = 1.0,
    p: int = 1,
    variant: str = "weston_watkins",
    class_weight: Any = None,
    ignore_index: int | None = None,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Multiclass hinge loss on integer labels, over the class ``axis`` of the scores.

    .. math::
        \text{Weston–Watkins:}\quad \ell = \sum_{j \ne y} \max(0,\, m - s_y + s_j)^p

        \text{Crammer–Singer:}\quad \ell = \max_{j \ne y} \max(0,\, m - s_y + s_j)^p

    Args:
        y_true: class indices in ``[0, K)``, ``y_pred``'s shape without ``axis`` (integer-valued
            floats are accepted).
        y_pred: real scores (not probabilities), classes along ``axis``.
        margin: the margin ``m`` (≥ 0).
        p: 1 (hinge) or 2 (squared hinge), as in torch.
        variant: ``"weston_watkins"`` (default: every violating class counts) or
            ``"crammer_singer"`` (only the most violating one).
        class_weight: length-K weights; each sample's loss is multiplied by ``w[y]``.
        ignore_index: a label value excluded from the loss and the mean's denominator.
        axis: the class axis.
        sample_weight, mask, reduction, normalizer: the reduction contract.

    Anchors. ``torch.nn.functional.multi_margin_loss(x, y, p, margin, weight)`` is Weston–Watkins
    divided by the number of classes K, and its ``"mean"`` divides by N even with ``weight``; it
    equals ``multiclass_hinge(y, x, p=p, margin=margin, class_weight=weight,
    reduction="sum_over_batch_size") / K`` (``reduction="sum"`` / K for torch's ``"sum"``).
    ``sklearn.metrics.hinge_loss`` on multiclass decision values is Crammer–Singer with
    ``margin=1, p=1``, averaged (``sample_weight`` as here); ``optax.losses.multiclass_hinge_loss``
    is the same per sample (``reduction="none"``). Keras's ``categorical_hinge`` is
    Crammer–Singer on one-hot targets. References: Weston & Watkins (1999); Crammer & Singer
    (2001).

    >>> import numpy as np, losskit as lk
    >>> s = np.array([[2.0, 1.5, -1.0], [0.0, 0.3, 0.2]])
    >>> lk.multiclass_hinge([0, 2], s, reduction="none").round(6).tolist()
    [0.5, 1.9]
    >>> lk.multiclass_hinge([0, 2], s, variant="crammer_singer", reduction="none").tolist()
    [0.5, 1.1]
    """
    margin = _validate.check_range("margin", margin, 0.0, math.inf, high_open=True)
    if _validate.check_int("p", p) not in (1, 2):
        raise ValueError(f"p must be 1 or 2; got {p!r}")
    _validate.check_choice("variant", variant, ("weston_watkins", "crammer_singer"))
    _check_ignore_index(ignore_index)
    check_reduction(reduction, normalizer)
    backend, y_pred, _ = _inputs.prediction(y_pred)
    axis = _validate.check_axis(axis, y_pred.ndim)
    num_classes = _num_classes(backend, y_pred, axis)
    checking = _validate.checking_values(backend, y_pred)
    labels, valid = _sparse_entry(backend, y_true, y_pred, axis, ignore_index, checking)
    xp = backend.xp
    scores = backend.moveaxis(y_pred, axis, -1)
    loss = None
    fused = getattr(backend, "multiclass_hinge", None) if variant == "weston_watkins" else None
    if fused is not None:
        # torch's fused kernels; they also reduce when nothing weighs or excludes entries
        inner = fused_reduction(
            backend, y_pred, reduction, normalizer, sample_weight, mask, class_weight, ignore_index
        )
        loss = fused(scores, labels, margin, p, inner)
        if loss is not None and inner != "none":
            return loss
    true_class = None
    if loss is None:
        true_class = backend.one_hot(labels, num_classes, dtype=scores.dtype) > 0
        loss = _hinge_terms(backend, scores, labels, true_class, margin, p, variant)
    weight = None
    if class_weight is not None:
        class_weight = _inputs.parameter_vector(
            backend, class_weight, y_pred, "class_weight", num_classes, checking
        )
        if true_class is None:
            true_class = backend.one_hot(labels, num_classes, dtype=scores.dtype) > 0
        weight = xp.sum(xp.where(true_class, class_weight, xp.zeros_like(scores)), axis=-1)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
        weight=weight,
        valid=valid,
    )


def _hinge_terms(
    backend: ArrayAPIBackend,
    scores: Any,
    labels: Any,
    true_class: Any,
    margin: float,
    p: int,
    variant: str,
) -> Any:
    """The unreduced multiclass hinge over the last axis of ``scores``."""
    xp = backend.xp
    true_score = _picked(backend, scores, labels)
    if variant == "weston_watkins":
        violation = _relu(xp, margin - true_score + scores)
        terms = violation if p == 1 else violation * violation
        return xp.sum(xp.where(true_class, xp.zeros_like(terms), terms), axis=-1)
    lowest = xp.full_like(scores, -math.inf)
    best_other = xp.max(xp.where(true_class, lowest, scores), axis=-1, keepdims=True)
    violation = _relu(xp, margin - true_score + best_other)[..., 0]
    return violation if p == 1 else violation * violation


# ---------------------------------------------------------------------- sparsemax
def _sparsemax(backend: ArrayAPIBackend, z: Any) -> tuple[Any, Any]:
    """``(sparsemax(z), τ)`` over the last axis; ``z`` already shifted so that its max is 0.

    ``τ = (Σ_{j ≤ k(z)} z_(j) - 1) / k(z)`` with ``z_(1) ≥ z_(2) ≥ ...`` and
    ``k(z) = max{k : 1 + k z_(k) > Σ_{j ≤ k} z_(j)}``; ``sparsemax(z) = max(z - τ, 0)``.
    """
    xp = backend.xp
    num_classes = backend.shape(z)[-1]
    ordered = -xp.sort(-backend.stop_gradient(z), axis=-1)  # no derivative through the sort
    cumulative = xp.cumulative_sum(ordered, axis=-1)
    rank = backend.arange(z, 1, num_classes + 1, dtype=z.dtype)
    support = 1.0 + rank * ordered > cumulative
    size = xp.sum(xp.astype(support, backend.index_dtype), axis=-1, keepdims=True)
    # k(z) ≥ 1 for any real z; a NaN row has an empty support: gather the first entry (NaN)
    # rather than index -1, so the NaN reaches the value instead of crashing the gather
    size = xp.where(size > 0, size, xp.ones_like(size))
    top = backend.take_along_axis(cumulative, size - 1, axis=-1)
    count = xp.astype(size, z.dtype)
    tau = (top - 1.0) / count
    # τ's derivative is that of (Σ_{j ∈ S} z_j - 1) / |S| with the support S held fixed: a masked
    # sum added as a zero (its value minus itself), so the value stays the sorted one
    in_support = xp.sum(xp.where(z > tau, z, xp.zeros_like(z)), axis=-1, keepdims=True) / count
    tau = tau + (in_support - backend.stop_gradient(in_support))
    return _relu(xp, z - tau), tau


@register(
    "sparsemax_loss",
    aliases=("multiclass_sparsemax_loss",),
    family="classification",
    kind="axis",
    task="multiclass",
    domain="real",
    properties={"convex": True, "bounded": False, "proper": True, "from_logits": True},
    references=(
        _SPARSEMAX,
        "Blondel, Martins & Niculae (2020), Learning with Fenchel-Young Losses",
        "optax.losses.multiclass_sparsemax_loss",
    ),
)
def sparsemax_loss(
    y_true: Any,
    y_pred: Any,
    *,
    ignore_index: int | None = None,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Sparsemax loss (Martins & Astudillo, 2016): the Fenchel–Young loss of sparsemax.

    With ``p = sparsemax(z) = max(z - τ, 0)`` (the Euclidean projection of the scores onto the
    simplex) and a target distribution ``q`` (one-hot ``e_y`` for a label ``y``):

    .. math::
        \ell = -q^\top z + \tfrac12 \sum_{j \in S(z)} (z_j^2 - τ^2) + \tfrac12 \|q\|^2
             = \tfrac12 \|p - q\|^2 + \sum_j q_j \max(τ - z_j, 0)

    The second form, a sum of non-negative terms, is what is computed (no cancellation); τ comes
    from a sort and a cumulative sum of the scores shifted by their maximum (sparsemax is
    shift-invariant). The gradient is ``p - q``; the loss is 0 exactly when ``p = q``.

    Args:
        y_true: class indices (``y_pred``'s shape without ``axis``), or a target distribution with
            ``y_pred``'s shape (one-hot, or soft: the paper's multi-label form with ``q`` summing
            to 1). A target with the full shape is read as a distribution.
        y_pred: real scores (logits), classes along ``axis``; a score of -inf excludes a class.
        ignore_index: a label value excluded from the loss (integer labels only).
        axis: the class axis.
        sample_weight, mask, reduction, normalizer: the reduction contract.

    Anchors: ``optax.losses.multiclass_sparsemax_loss(scores, labels)`` is this loss per sample
    (``reduction="none"``). optax's ``sparsemax_loss(x, label)`` is the *binary* case: it equals
    this loss on the two scores ``[x, 0]`` with class index ``1 - label``. Reference: Martins &
    Astudillo (2016), eq. (16); Blondel et al. (2020) for the Fenchel–Young view.

    >>> import numpy as np, losskit as lk
    >>> lk.sparsemax_loss([0, 1], np.array([[1.0, 0.0, -2.0]] * 2), reduction="none").tolist()
    [0.0, 1.0]
    >>> round(float(lk.sparsemax_loss([1], np.array([[0.5, 0.0, 0.0]]))), 6)  # p = (2/3, 1/6, 1/6)
    0.583333
    """
    _check_ignore_index(ignore_index)
    check_reduction(reduction, normalizer)
    backend, y_pred, eps = _inputs.prediction(y_pred)
    axis = _validate.check_axis(axis, y_pred.ndim)
    num_classes = _num_classes(backend, y_pred, axis)
    checking = _validate.checking_values(backend, y_pred)
    xp = backend.xp
    y_true = backend.asarray(y_true, y_pred, "y_true")
    true_shape = backend.shape(y_true)
    dense = num_classes != 1 and _validate.same_shape(true_shape, backend.shape(y_pred))
    valid = None
    z = backend.moveaxis(y_pred, axis, -1)
    if dense:
        if ignore_index is not None:
            raise ValueError("ignore_index applies to integer labels, not to a target distribution")
        q = backend.moveaxis(_inputs.targets(backend, y_true, y_pred), axis, -1)
        if checking:
            _validate.check_no_nan(backend, q, "y_true")
            _validate.check_unit_interval(backend, q, "y_true (target distribution)")
            _validate.check_no_nan(backend, y_pred, "y_pred")
            tolerance = max(64, num_classes) * eps
            labels_shape = backend.shape(y_pred)[:axis] + backend.shape(y_pred)[axis + 1 :]

            def describe(bounds: Any) -> str:
                found = "" if bounds is None else f"; the largest deviation is {bounds[1]:g}"
                return (
                    f"y_true rows must sum to 1 over the class axis (a target distribution)"
                    f"{found}. Pass integer class indices of shape {labels_shape} instead"
                )

            deviation = xp.abs(xp.sum(q, axis=-1) - 1.0)
            _validate.require_bounds(
                backend, deviation, (lambda _, high: high > tolerance, describe)
            )
    else:
        labels, valid = _sparse_entry(backend, y_true, y_pred, axis, ignore_index, checking)
        q = backend.one_hot(labels, num_classes, dtype=z.dtype)
    z = z - backend.stop_gradient(xp.max(z, axis=-1, keepdims=True))
    prob, tau = _sparsemax(backend, z)
    gap = prob - q
    below = _relu(xp, tau - z)
    below = xp.where(q > 0, q * below, xp.zeros_like(below))  # 0·inf = 0 at a -inf score
    loss = xp.sum(0.5 * gap * gap + below, axis=-1)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
        valid=valid,
    )


# ---------------------------------------------------------------------- CTC
def _lengths(
    backend: ArrayAPIBackend, value: Any, like: Any, name: str, batch: Any, checking: bool
) -> Any:
    """A per-sequence length vector of shape ``(batch,)`` in the index dtype."""
    lengths = backend.asarray(value, like, name)
    if not (backend.is_integral(lengths) or backend.is_floating(lengths)):
        raise TypeError(f"{name} must hold integer lengths; got dtype {lengths.dtype}")
    if not _validate.same_shape(backend.shape(lengths), (batch,)):
        raise ValueError(
            f"{name} must have one length per sequence, shape ({batch},); got shape "
            f"{backend.shape(lengths)}"
        )
    if backend.is_floating(lengths) and checking:
        _validate.check_no_nan(backend, lengths, name)
        message = f"{name} must hold integer lengths; got non-integer values"
        _validate.require_none(backend, backend.xp.floor(lengths) != lengths, message)
    return backend.astype(lengths, backend.index_dtype)


def _check_lengths(
    backend: ArrayAPIBackend, lengths: Any, name: str, upper: int, what: str
) -> None:
    def outside(low: Any, high: Any) -> Any:
        return (low < 0) | (high > upper)

    def describe(bounds: Any) -> str:
        found = "" if bounds is None else f"; found lengths in [{bounds[0]:g}, {bounds[1]:g}]"
        return f"{name} must lie in [0, {upper}] ({what}){found}"

    _validate.require_bounds(backend, lengths, (outside, describe))


@register(
    "ctc",
    aliases=("ctc_loss", "connectionist_temporal_classification"),
    family="sequence",
    kind="sequence",
    task="sequence",
    domain="logit",
    properties={"convex": False, "bounded": False, "from_logits": True},
    references=(_CTC, "torch.nn.CTCLoss; tf.nn.ctc_loss; optax.ctc_loss; keras.losses.CTC"),
)
def ctc(
    labels: Any,
    logits: Any,
    label_lengths: Any = None,
    logit_lengths: Any = None,
    *,
    blank: int = 0,
    time_major: bool = False,
    zero_infinity: bool = False,
    normalize: str = "none",
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Connectionist temporal classification loss (Graves et al., 2006), per sequence.

    .. math:: \ell = -\log \sum_{π \in \mathcal B^{-1}(l)} \prod_{t=1}^{T} p_t(π_t)

    the negative log-probability of the label sequence ``l``, summed over every frame-level path
    ``π`` that collapses to it (merge repeats, then drop blanks), with
    ``p_t = softmax(logits_t)``. Computed by the forward algorithm in log space over the extended
    label sequence ``(blank, l_1, blank, ..., l_S, blank)`` of 2S + 1 states, vectorised over the
    batch and the states (one step per frame).

    The argument order is ``tf.nn.ctc_loss``'s, which also reads as the catalogue's
    ``(y_true, y_pred)``; the layout is batch-major ``(B, T, K)`` as in Keras, optax and most
    models (``time_major=True`` takes torch's and TF's default ``(T, B, K)``). ``logits`` are
    normalised with ``log_softmax`` (Keras, TF and optax take logits); since ``log_softmax`` of
    log-probabilities is the identity, torch's ``log_probs`` can be passed unchanged.

    Args:
        labels: ``(B, S)`` integer labels, right-padded; entries past ``label_lengths`` are
            ignored. Labels must lie in ``[0, K)`` and must not be the blank. (torch's
            concatenated 1-D targets must be padded to ``(B, S)`` first.)
        logits: ``(B, T, K)`` scores (or ``(T, B, K)`` with ``time_major=True``), K classes
            including the blank.
        label_lengths: ``(B,)`` label counts in ``[0, S]``. None: the labels that are neither the
            blank nor negative are counted (Keras pads with the blank 0; TF sparse code with -1).
            For optax's paddings pass ``S - label_paddings.sum(-1)``.
        logit_lengths: ``(B,)`` frame counts in ``[0, T]``; None: every sequence has T frames.
            For optax pass ``T - logit_paddings.sum(-1)``.
        blank: the blank class, in ``[-K, K)`` (-1 is the last class, TF's ``blank_index=-1``).
        time_major: ``logits`` are ``(T, B, K)``.
        zero_infinity: impossible alignments (fewer frames than the labels need, counting a blank
            between repeated labels) give +inf, or 0 with a zero gradient when True (torch's
            option). Their gradient is zero, never NaN, in both cases.
        normalize: ``"none"`` (default: the per-sequence negative log-likelihood, as TF, Keras and
            optax return it) or ``"target_length"`` (each loss divided by
            ``max(label_length, 1)``; with ``reduction="mean"`` this is torch's
            ``reduction="mean"``).
        sample_weight, mask, reduction, normalizer: the reduction contract on the ``(B,)``
            per-sequence losses (``"mean"`` of the default equals ``tf.reduce_mean`` of
            ``tf.nn.ctc_loss`` and Keras's ``CTC``).

    Anchors: torch ``F.ctc_loss(log_probs, targets, input_lengths, target_lengths)`` is
    ``ctc(targets, log_probs, target_lengths, input_lengths, time_major=True)`` (``"none"``,
    ``"sum"``; torch's ``"mean"`` needs ``normalize="target_length"``). Where an alignment is
    impossible this and torch return +inf; optax (``log_epsilon``) and TF return a large finite
    value.

    The recursion runs one step per frame (vectorised over batch and states), with log 0 held
    at a finite floor so that each step is a plain three-term log-sum-exp: under ``jax.jit`` it
    is a ``lax.scan`` (one compiled step), under ``tf.function`` a loop unrolled over the T frames.

    >>> import numpy as np, losskit as lk
    >>> logits = np.zeros((1, 2, 3))  # two frames, uniform over {blank, a, b}
    >>> round(float(lk.ctc(np.array([[1]]), logits)), 6)  # paths "a a", "a -", "- a"
    1.098612
    """
    _validate.check_choice("normalize", normalize, ("none", "target_length"))
    time_major = _validate.check_bool("time_major", time_major)
    zero_infinity = _validate.check_bool("zero_infinity", zero_infinity)
    blank = _validate.check_int("blank", blank)
    check_reduction(reduction, normalizer)
    backend, logits, _ = _inputs.prediction(logits, "logits")
    if logits.ndim != 3:
        layout = "(T, B, K)" if time_major else "(B, T, K)"
        raise ValueError(f"logits must have 3 dimensions {layout}; got shape {logits.shape}")
    if time_major:
        logits = backend.moveaxis(logits, 0, 1)
    batch, frames, num_classes = backend.shape(logits)
    if frames is None or num_classes is None:
        raise ValueError("ctc needs the number of frames and of classes known when tracing")
    if not -num_classes <= blank < num_classes:
        raise ValueError(f"blank={blank} is out of range for {num_classes} classes")
    blank = blank % num_classes
    checking = _validate.checking_values(backend, logits)
    xp = backend.xp
    labels = backend.asarray(labels, logits, "labels")
    _validate.check_integer_dtype(backend, labels, "labels")
    if backend.is_floating(labels) and checking:
        _validate.check_no_nan(backend, labels, "labels")
        _validate.check_integer_valued(backend, labels, "labels")
    labels = backend.astype(labels, backend.index_dtype)
    if labels.ndim != 2 or not _validate.same_shape(backend.shape(labels)[:1], (batch,)):
        raise ValueError(
            f"labels must have shape (batch, max_label_length) = ({batch}, S), right-padded; got "
            f"shape {backend.shape(labels)}"
        )
    max_labels = backend.shape(labels)[1]
    if max_labels is None:
        raise ValueError("ctc needs the padded label length known when tracing")
    if label_lengths is None:
        label_lengths = xp.sum(xp.astype((labels != blank) & (labels >= 0), labels.dtype), axis=1)
    else:
        label_lengths = _lengths(backend, label_lengths, logits, "label_lengths", batch, checking)
    if logit_lengths is None:
        logit_lengths = xp.full_like(label_lengths, frames)
    else:
        logit_lengths = _lengths(backend, logit_lengths, logits, "logit_lengths", batch, checking)
    position = backend.arange(labels, max_labels, dtype=labels.dtype)
    in_label = position < xp.expand_dims(label_lengths, axis=1)
    if checking:
        _validate.check_no_nan(backend, logits, "logits")
        _check_lengths(backend, label_lengths, "label_lengths", max_labels, "the padded labels")
        _check_lengths(backend, logit_lengths, "logit_lengths", frames, "the frames of logits")
        inside = xp.where(in_label, labels, xp.zeros_like(labels))
        rule = _validate.labels_rule(num_classes, "labels", "")
        within = (rule[0], lambda bounds: rule[1](bounds) + " within label_lengths")
        _validate.require_bounds(backend, inside, within)
        blank_message = f"labels must not contain the blank ({blank}) within label_lengths"
        _validate.require_none(backend, in_label & (labels == blank), blank_message)
    label_lengths = xp.clip(label_lengths, 0, max_labels)
    logit_lengths = xp.clip(logit_lengths, 0, frames)
    blanks = xp.full_like(labels, blank)
    labels = xp.where(in_label, xp.clip(labels, 0, num_classes - 1), blanks)
    log_probs = backend.log_softmax(logits, axis=-1)

    def recursion(log_probs: Any) -> Any:
        return _ctc_forward(backend, labels, log_probs, blank, logit_lengths, label_lengths)

    fused = getattr(backend, "ctc_nll", None)  # torch's fused kernels
    nll = None
    if fused is not None:
        nll = fused(labels, log_probs, blank, logit_lengths, label_lengths, recursion)
    if nll is None:
        nll = recursion(log_probs)
    if zero_infinity:
        nll = xp.where(xp.isinf(nll), xp.zeros_like(nll), nll)
    if normalize == "target_length":
        nll = nll / xp.astype(xp.clip(label_lengths, 1, None), nll.dtype)
    return finish(backend, nll, sample_weight, mask, reduction, normalizer)


def _ctc_forward(
    backend: ArrayAPIBackend,
    labels: Any,
    log_probs: Any,
    blank: int,
    logit_lengths: Any,
    label_lengths: Any,
) -> Any:
    """``-log p(labels | log_probs)`` per sequence; ``labels`` ``(B, S)`` are blank past their
    length, ``log_probs`` ``(B, T, K)``."""
    xp = backend.xp
    frames = backend.shape(log_probs)[1]
    states = 2 * backend.shape(labels)[1] + 1
    # the extended sequence (blank, l1, blank, l2, ..., lS, blank): (B, 2S + 1)
    blank_column = xp.expand_dims(xp.full_like(label_lengths, blank), axis=1)
    extended = blank_column
    if states > 1:
        pairs = xp.stack([xp.full_like(labels, blank), labels], axis=-1)
        extended = xp.concat([xp.reshape(pairs, (-1, states - 1)), blank_column], axis=1)
    # a path may skip the blank before state s when l'_s is a label different from l'_{s-2}
    before = xp.concat([blank_column, blank_column, extended], axis=1)[:, :states]
    skip = (extended != blank) & (extended != before)
    # log 0 is a finite floor inside the recursion: every term stays finite, so the log-sum
    # needs no guards against -inf - -inf; a log-likelihood at the floor is an impossible
    # alignment (a real one is above it: the floor is -max/4 of the dtype), read as -inf at the end
    floor = -0.25 * float(xp.finfo(log_probs.dtype).max)
    zeros = xp.zeros_like(extended, dtype=log_probs.dtype)
    never = xp.full_like(zeros, floor)
    state = backend.arange(labels, states, dtype=labels.dtype)
    alpha = xp.where(state == 0, zeros, never)  # before the first frame: the empty prefix
    pad = never[:, :2]

    def frame(alpha: Any, inputs: tuple[Any, Any]) -> Any:
        log_probs_t, live = inputs
        emitted = backend.take_along_axis(log_probs_t, extended, axis=-1)
        advance = xp.concat([pad[:, :1], alpha], axis=1)[:, :states]
        jump = xp.where(skip, xp.concat([pad, alpha], axis=1)[:, :states], never)
        step = xp.maximum(emitted + _finite_log_add(backend, alpha, advance, jump), never)
        return xp.where(xp.expand_dims(live, axis=1), step, alpha)

    frame_ids = backend.arange(logit_lengths, frames, dtype=logit_lengths.dtype)
    frame_index = xp.expand_dims(frame_ids, axis=1)
    live = frame_index < xp.expand_dims(logit_lengths, axis=0)  # (T, B)
    alpha = backend.scan(frame, alpha, (backend.moveaxis(log_probs, 1, 0), live))
    last = xp.expand_dims(2 * label_lengths, axis=1)
    end_blank = backend.take_along_axis(alpha, last, axis=-1)[:, 0]
    end_label = backend.take_along_axis(alpha, xp.clip(last - 1, 0, None), axis=-1)[:, 0]
    end_label = xp.where(label_lengths > 0, end_label, never[:, 0])
    log_likelihood = _finite_log_add(backend, end_blank, end_label)
    impossible = log_likelihood <= floor
    return xp.where(impossible, xp.full_like(log_likelihood, math.inf), -log_likelihood)


def _finite_log_add(backend: ArrayAPIBackend, *terms: Any) -> Any:
    """``log Σ exp(terms)`` of finite terms: the largest is factored out, so the sum is at
    least 1 and its log finite."""
    xp = backend.xp
    top = terms[0]
    for term in terms[1:]:
        top = xp.maximum(top, term)
    top = backend.stop_gradient(top)
    total = xp.exp(terms[0] - top)
    for term in terms[1:]:
        total = total + xp.exp(term - top)
    return xp.log(total) + top
