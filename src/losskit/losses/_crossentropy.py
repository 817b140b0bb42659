"""Binary, categorical and sparse categorical cross-entropy.

These are the source article's losses, done right: from logits the formulas are exact for any
logit (no ``log(p + 1e-7)``), and from probabilities each log is clamped at -100 with a bounded
slope, so values and gradients are finite at p = 0 and p = 1.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _inputs, _validate
from .._backend import ArrayAPIBackend
from .._reduce import check_reduction, fused_reduction, reduce_loss
from .._registry import register
from ._common import finish, full_target

_REFERENCE_BCE = (
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §6.2.2.2; torch.nn.BCEWithLogitsLoss"
)
_REFERENCE_CCE = (
    "Goodfellow, Bengio & Courville, Deep Learning (2016), §6.2.2.3; torch.nn.CrossEntropyLoss"
)
_SMOOTHING = "Szegedy et al., Rethinking the Inception Architecture (2016), label smoothing"
_Z_LOSS = "Chowdhery et al., PaLM: Scaling Language Modeling with Pathways (2022), §5, z-loss"
_SOFTCAP = (
    "Gemma Team, Gemma 2: Improving Open Language Models at a Practical Size (2024), "
    "logit soft-capping"
)


@register(
    "binary_crossentropy",
    aliases=("bce", "binary_cross_entropy", "log_loss"),
    family="crossentropy",
    kind="elementwise",
    task="binary",
    domain="probability",
    properties={"proper": True, "convex": True, "bounded": False, "from_logits": True},
    references=(_REFERENCE_BCE,),
)
def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    pos_weight: Any = None,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Binary cross-entropy, elementwise.

    .. math:: \ell = -[\,w_+\, y \log p + (1 - y)\log(1 - p)\,]

    with ``p = σ(z)`` when ``from_logits=True``; then the loss is computed as
    ``w₊·y·softplus(-z) + (1 - y)·softplus(z)``, exact for every logit (no cancellation) with
    gradient ``σ(z)(1 - y + w₊y) - w₊y``. From probabilities each log is clamped at -100 and its
    slope bounded by 1e12, as in ``torch.nn.functional.binary_cross_entropy``.

    Args:
        y_true: targets in [0, 1] (hard or soft), broadcastable to ``y_pred``.
        y_pred: probabilities, or logits with ``from_logits=True``.
        label_smoothing: ε in [0, 1]; targets become ``(1 - ε)·y + ε/2``.
        pos_weight: weight ``w₊`` of the positive term, broadcast against the last axis
            (``torch.nn.BCEWithLogitsLoss(pos_weight=...)``).
        sample_weight, mask, reduction, normalizer: the reduction contract (see ``docs``).

    References: Goodfellow et al., *Deep Learning* (2016) §6.2.2.2; torch ``BCEWithLogitsLoss``.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.binary_crossentropy(np.array([1.0, 0.0]), np.array([100.0, 0.0]),
    ...                                    from_logits=True, reduction="sum")), 6)
    0.693147
    """
    from_logits = _validate.check_bool("from_logits", from_logits)
    check_reduction(reduction, normalizer)
    backend, y_pred, _ = _inputs.prediction(y_pred)
    y_true = _inputs.targets(backend, y_true, y_pred)
    _validate.check_target_shape(backend.shape(y_true), backend.shape(y_pred))
    label_smoothing = _validate.check_range("label_smoothing", label_smoothing, 0.0, 1.0)
    checking = _validate.checking_values(backend, y_pred)
    fused = "none"
    if from_logits:
        fused = fused_reduction(backend, y_pred, reduction, normalizer, sample_weight, mask)
    # a fused mean or sum of logits is NaN whenever a logit is: it proves y_pred clean
    proven = checking and fused != "none" and pos_weight is None and backend.quiet_nan
    if checking:
        _check_targets(backend, y_true)
        if not proven:
            _check_prediction(backend, y_pred, from_logits)
    if pos_weight is not None:
        pos_weight = _pos_weight(backend, pos_weight, y_pred, checking)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        loss = backend.binary_crossentropy_logits(y_true, y_pred, pos_weight, fused)
        if fused != "none":
            return _proven_clean(backend, loss, y_pred, proven)
    else:
        loss = backend.binary_crossentropy_probs(y_true, y_pred, pos_weight)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "categorical_crossentropy",
    aliases=("cce", "category_crossentropy", "categorical_cross_entropy", "crossentropy"),
    family="crossentropy",
    kind="axis",
    task="multiclass",
    domain="probability",
    properties={"proper": True, "convex": True, "bounded": False, "from_logits": True},
    references=(_REFERENCE_CCE, _SMOOTHING, _Z_LOSS, _SOFTCAP),
)
def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    class_weight_rule: str = "losskit",
    axis: int = -1,
    z_loss: float = 0.0,
    softcap: float | None = None,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Categorical cross-entropy against a target distribution over ``axis``.

    .. math:: \ell = -\sum_k y_k \log p_k + ζ \operatorname{logsumexp}(z)^2,\qquad
              \log p = \operatorname{log\_softmax}(z)

    From logits ``log p`` is the stable ``log_softmax`` (a logit of -inf, a masked class, is
    fine). With ``softcap=c`` the logits are first replaced by ``c·tanh(z / c)``, and ζ =
    ``z_loss`` adds ``ζ·logsumexp(z)²`` (of the capped logits) to each row's loss; both default
    to off, and then the result is exactly that of the plain formula. From probabilities
    ``y_pred`` is *not* renormalised (as in the source article and torch); each log is clamped
    at -100 with a bounded slope, and with validation on, rows that do not sum to 1 are rejected
    with a hint to pass ``from_logits=True``.

    Args:
        y_true: a distribution over ``axis`` (one-hot or soft), ``y_pred``'s shape.
        y_pred: probabilities, or logits with ``from_logits=True``.
        label_smoothing: ε; targets become ``(1 - ε)·y + ε/K``.
        class_weight: length-K weights; each sample's loss is multiplied by
            ``Σ_k y_k w_k`` computed from the targets *before* smoothing (the z-loss term
            included).
        class_weight_rule: how ``class_weight`` enters, ``"losskit"`` (the default, above) or
            ``"torch"``: each class's term is weighted by its own class,
            ``ℓ = -Σ_k w_k y'_k log p_k`` with ``y'`` the *smoothed* targets (the z-loss term is
            still multiplied by ``Σ_k y_k w_k``), and ``"mean"`` divides by the number of rows
            (``Σ`` of ``sample_weight`` over unmasked rows), not by a weight sum — exactly
            ``torch.nn.functional.cross_entropy(weight=w, label_smoothing=ε)`` with probability
            targets. The default divides ``Σ (Σ_k y_k w_k)·ℓ`` by ``Σ_k y_k w_k`` summed over
            the rows. Both rules agree without ``class_weight``.
        axis: the class axis (``axis=1`` for channels-first ``(N, C, d1, ...)``).
        z_loss: ζ ≥ 0, the weight of the auxiliary ``logsumexp(z)²`` term that keeps the
            softmax normaliser near 1 (PaLM's z-loss, ζ = 1e-4 there; the ``z_loss`` of T5X's
            ``cross_entropy_with_logits``). Logits only: with ``from_logits=False`` a non-zero
            value is an error.
        softcap: None, or c > 0: logits are soft-capped to ``c·tanh(z / c)`` (in (-c, c))
            before the softmax, as Gemma 2's final logits (c = 30). A logit of -inf becomes
            -c, so mask classes after capping. The capped logits are rounded to the compute
            dtype: in float32 a very small loss (a confident row) keeps about 1e-5 relative
            accuracy instead of 1e-6. Logits only.
        sample_weight, mask, reduction, normalizer: the reduction contract.

    References: Goodfellow et al., *Deep Learning* (2016) §6.2.2.3; Szegedy et al. (2016) for
    label smoothing; Chowdhery et al., *PaLM* (2022) §5 for the z-loss; Gemma Team, *Gemma 2*
    (2024) for logit soft-capping.

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[0.0, 1.0, 0.0]])
    >>> round(float(lk.categorical_crossentropy(y, np.array([[0.2, 0.5, 0.3]]))), 6)
    0.693147
    >>> z = np.array([[0.0, 0.0, 0.0]])  # uniform: log 3, and logsumexp(z)² = (log 3)²
    >>> round(float(lk.categorical_crossentropy(y, z, from_logits=True, z_loss=1e-4)), 6)
    1.098733
    >>> z = np.array([[0.0, 100.0, 0.0]])  # capped at 1: log(2 + e) - 1 = 0.5514...
    >>> round(float(lk.categorical_crossentropy(y, z, from_logits=True, softcap=1.0)), 6)
    0.551445
    """
    from_logits = _validate.check_bool("from_logits", from_logits)
    z_loss, softcap = _logit_options(from_logits, z_loss, softcap)
    torch_rule = _torch_rule(class_weight_rule)
    check_reduction(reduction, normalizer)
    backend, y_pred, eps = _inputs.prediction(y_pred)
    axis = _validate.check_axis(axis, y_pred.ndim)
    y_true = _inputs.targets(backend, y_true, y_pred)
    _validate.check_target_shape(backend.shape(y_true), backend.shape(y_pred))
    _validate.check_class_axis(
        backend.shape(y_true), backend.shape(y_pred), axis, sparse="sparse_categorical_crossentropy"
    )
    label_smoothing = _validate.check_range("label_smoothing", label_smoothing, 0.0, 1.0)
    num_classes = backend.shape(y_pred)[axis]
    checking = _validate.checking_values(backend, y_pred)
    y_true = full_target(backend, y_true, y_pred)
    y_pred = backend.moveaxis(y_pred, axis, -1)
    y_true = backend.moveaxis(y_true, axis, -1)
    fused = fused_reduction(
        backend, y_pred, reduction, normalizer, sample_weight, mask, class_weight
    )
    kernel = getattr(backend, "softmax_crossentropy", None) if from_logits else None
    # the kernel's rows are NaN wherever a logit is (its log Σ exp is): their fused mean or sum
    # proves y_pred clean
    proven = checking and kernel is not None and fused != "none" and backend.quiet_nan
    if checking:
        _check_targets(backend, y_true)
        if not proven:
            _check_prediction(backend, y_pred, from_logits)
        if not from_logits:
            _validate.check_distribution(backend, y_pred, max(64, num_classes) * eps)
    logits = y_pred
    xp = backend.xp
    weight = None
    if class_weight is not None:
        class_weight = _inputs.parameter_vector(
            backend, class_weight, y_pred, "class_weight", num_classes, checking
        )
        weight = xp.sum(y_true * class_weight, axis=-1)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    if softcap is not None:
        y_pred = soft_cap(backend, y_pred, softcap)
    if torch_rule and weight is not None:
        return _categorical_torch_rule(
            backend,
            y_true * class_weight,
            y_pred,
            weight,
            from_logits,
            z_loss,
            (reduction, normalizer, sample_weight, mask),
        )
    loss = kernel(y_true, y_pred) if kernel is not None else None  # a fused Σ y·log p
    if loss is None:
        if proven:  # the kernel did not apply: nothing proves y_pred clean
            _check_prediction(backend, logits, from_logits)
            proven = False
        log_p = backend.log_softmax(y_pred, axis=-1) if from_logits else backend.clamped_log(y_pred)
        loss = backend.sum_times_log(y_true, log_p, axis=-1)
    if z_loss:
        loss = z_loss_term(backend, y_pred, z_loss) - loss
        if fused != "none":
            return _proven_clean(backend, backend.reduce_all(loss, fused), logits, proven)
    elif fused != "none":  # a plain mean or sum of the rows (negated once, exactly)
        total = -xp.sum(loss)
        rows = math.prod(backend.shape(loss))
        total = total / rows if fused == "mean" and rows else total
        return _proven_clean(backend, total, logits, proven)
    else:
        loss = -loss
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
        weight=weight,
    )


@register(
    "sparse_categorical_crossentropy",
    aliases=("scce", "sparse_crossentropy", "sparse_categorical_cross_entropy"),
    family="crossentropy",
    kind="axis",
    task="multiclass",
    domain="probability",
    properties={"proper": True, "convex": True, "bounded": False, "from_logits": True},
    references=(_REFERENCE_CCE, _SMOOTHING, _Z_LOSS, _SOFTCAP),
)
def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    class_weight_rule: str = "losskit",
    ignore_index: int | None = None,
    axis: int = -1,
    z_loss: float = 0.0,
    softcap: float | None = None,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Categorical cross-entropy with integer class indices as targets.

    .. math:: \ell = \operatorname{logsumexp}(z) - (1-ε)\, z_y - \tfrac{ε}{K}\sum_k z_k
              + ζ \operatorname{logsumexp}(z)^2

    (from logits, with ``z`` replaced by ``c·tanh(z / c)`` when ``softcap=c``; from
    probabilities ``-(1-ε) \log p_y - \tfrac{ε}{K}\sum_k \log p_k`` with clamped logs).
    Identical to :func:`categorical_crossentropy` on the one-hot targets, with or without class
    weights, smoothing, z-loss and soft cap. ``z_loss=0`` and ``softcap=None`` (the defaults)
    leave the plain formula and its fused kernels exactly as they are.

    Args:
        y_true: class indices in ``[0, K)``, ``y_pred``'s shape without ``axis`` (a size-1 axis in
            its place is accepted); integer-valued floats are accepted.
        y_pred: probabilities, or logits with ``from_logits=True``, classes along ``axis``.
        class_weight: length-K weights; each sample's loss is multiplied by ``w[y]``, and
            ``"mean"`` divides by ``Σ w[y]`` over the non-excluded positions.
        class_weight_rule: ``"losskit"`` (the default, above) or ``"torch"``: the smoothing
            term is weighted per class, ``ℓ = (1-ε)·w[y]·(-\log p_y) + \tfrac{ε}{K}\sum_k
            w_k·(-\log p_k)`` (plus ``w[y]·ζ·logsumexp(z)²``), and ``"mean"`` still divides
            by ``Σ w[y]`` over the non-excluded positions — exactly
            ``torch.nn.functional.cross_entropy(weight=w, label_smoothing=ε, ignore_index=...)``
            with class-index targets. The two rules differ only when ``class_weight`` and
            ``label_smoothing`` are both set (the default keeps index and one-hot targets
            identical; torch's rule does not, since torch's probability-target ``"mean"``
            divides by the row count).
        ignore_index: a label value excluded from the loss and from the mean's denominator
            (torch's ``ignore_index``; an all-ignored batch gives 0, not NaN). The z-loss term
            of an excluded position (ignored or masked) is excluded with it.
        axis: the class axis (``axis=1`` for torch's ``(N, C, d1, ...)`` layout).
        z_loss: ζ ≥ 0, weight of ``logsumexp(z)²`` added to each position's loss (PaLM's
            z-loss, ζ = 1e-4 there; T5X's ``cross_entropy_with_logits(z_loss=...)``): it keeps
            the softmax normaliser near 1. Its gradient is ``2ζ·logsumexp(z)·softmax(z)``.
            Logits only (a non-zero value with ``from_logits=False`` is an error).
        softcap: None, or c > 0: the logits become ``c·tanh(z / c)`` before the softmax
            (Gemma 2's final-logit soft-capping, c = 30); the gradient through the cap is
            multiplied by ``1 - tanh²(z / c)``. A logit of -inf becomes -c. The capped logits
            are rounded to the compute dtype (in float32 a very small loss keeps about 1e-5
            relative accuracy). Logits only.
        sample_weight, mask, reduction, normalizer: the reduction contract.

    References: torch ``cross_entropy``; Keras ``SparseCategoricalCrossentropy``; Chowdhery et
    al., *PaLM* (2022) §5 for the z-loss; Gemma Team, *Gemma 2* (2024) for soft-capping.

    >>> import numpy as np, losskit as lk
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(float(lk.sparse_categorical_crossentropy([0, -100], logits, from_logits=True,
    ...                                                ignore_index=-100)), 6)
    0.239545
    >>> # z-loss: + 1e-4·logsumexp(z)² = 1e-4·(log(e² + 2))², on the first row only
    >>> round(float(lk.sparse_categorical_crossentropy([0, -100], logits, from_logits=True,
    ...                                                ignore_index=-100, z_loss=1e-4)), 6)
    0.240046
    >>> # soft cap 1: the logit 2 counts as tanh(2) = 0.964...
    >>> round(float(lk.sparse_categorical_crossentropy([0], logits[:1], from_logits=True,
    ...                                                softcap=1.0)), 6)
    0.566851
    >>> # class weights with smoothing: the default weights the whole row by w[y], torch's
    >>> # rule each smoothing term by its own class (as F.cross_entropy(weight=w, ...))
    >>> z, w = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]]), np.array([1.0, 2.0, 0.5])
    >>> [round(float(lk.sparse_categorical_crossentropy([1, 0], z, from_logits=True,
    ...     class_weight=w, label_smoothing=0.3, class_weight_rule=rule)), 6)
    ...  for rule in ("losskit", "torch")]
    [1.099253, 1.055706]
    """
    from_logits = _validate.check_bool("from_logits", from_logits)
    z_loss, softcap = _logit_options(from_logits, z_loss, softcap)
    torch_rule = _torch_rule(class_weight_rule)
    check_reduction(reduction, normalizer)
    backend, y_pred, eps = _inputs.prediction(y_pred)
    axis = _validate.check_axis(axis, y_pred.ndim)
    label_smoothing = _validate.check_range("label_smoothing", label_smoothing, 0.0, 1.0)
    ignore_index = _validate.check_int("ignore_index", ignore_index, optional=True)
    num_classes = backend.shape(y_pred)[axis]
    checking = _validate.checking_values(backend, y_pred)
    labels = _inputs.sparse_labels(backend, y_true, y_pred, axis, checking)
    valid = None if ignore_index is None else labels != ignore_index
    fused = fused_reduction(
        backend, y_pred, reduction, normalizer, sample_weight, mask, class_weight, valid
    )
    # a fused mean or sum of every row's loss is NaN whenever a logit is: it proves y_pred clean
    proven = checking and from_logits and fused != "none" and backend.quiet_nan
    if checking:
        _validate.check_labels(backend, labels, num_classes, valid)
        if not proven:
            _check_prediction(backend, y_pred, from_logits)
    labels = _inputs.gatherable(backend, labels, num_classes, valid, checking)
    weight = None
    if class_weight is not None:
        class_weight = _inputs.parameter_vector(
            backend, class_weight, y_pred, "class_weight", num_classes, checking
        )
        weight = _gather_vector(backend, class_weight, labels)
        if torch_rule and label_smoothing:
            loss = _sparse_torch_rule(
                backend,
                labels,
                y_pred,
                axis,
                (label_smoothing, z_loss, softcap),
                class_weight,
                weight,
                from_logits,
                checking,
                eps,
            )
            return reduce_loss(
                backend,
                loss,
                reduction=reduction,
                normalizer=normalizer,
                sample_weight=sample_weight,
                mask=mask,
                valid=valid,
                mean_weight=weight,
            )
    if from_logits:
        logits = backend.moveaxis(y_pred, axis, -1)
        if softcap is not None:
            logits = soft_cap(backend, logits, softcap)
        if z_loss:  # the kernel's rows, plus the z-loss term, then the same reduction
            loss = backend.sparse_crossentropy_logits(labels, logits, label_smoothing)
            loss = loss + z_loss_term(backend, logits, z_loss)
            if fused != "none":
                loss = backend.reduce_all(loss, fused)
        else:
            loss = backend.sparse_crossentropy_logits(labels, logits, label_smoothing, fused)
        if fused != "none":
            return _proven_clean(backend, loss, y_pred, proven)
    else:
        loss = _sparse_from_probabilities(
            backend, labels, y_pred, axis, label_smoothing, checking, eps
        )
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


# ---------------------------------------------------------------------- helpers
def _logit_options(from_logits: bool, z_loss: Any, softcap: Any) -> tuple[float, float | None]:
    """``(z_loss, softcap)`` checked: both act on logits, so they need ``from_logits=True``."""
    z_loss = _validate.check_z_loss(z_loss)
    softcap = _validate.check_softcap(softcap)
    if not from_logits and z_loss:
        raise ValueError(
            f"z_loss={z_loss:g} needs from_logits=True: the z-loss penalises logsumexp(z)² of "
            "the logits, which probabilities do not determine (pass logits, or z_loss=0)"
        )
    if not from_logits and softcap is not None:
        raise ValueError(
            f"softcap={softcap:g} needs from_logits=True: soft-capping c·tanh(z / c) applies "
            "to logits before the softmax (pass logits, or softcap=None)"
        )
    return z_loss, softcap


_CLASS_WEIGHT_RULES = ("losskit", "torch")


def _torch_rule(class_weight_rule: Any) -> bool:
    """True for ``class_weight_rule="torch"`` (the argument checked)."""
    if not isinstance(class_weight_rule, str):
        raise TypeError(
            f"class_weight_rule must be one of 'losskit', 'torch'; got {class_weight_rule!r}"
        )
    _validate.check_choice("class_weight_rule", class_weight_rule, _CLASS_WEIGHT_RULES)
    return bool(class_weight_rule == "torch")


def _categorical_torch_rule(
    backend: ArrayAPIBackend,
    weighted_targets: Any,
    y_pred: Any,
    row_weight: Any,
    from_logits: bool,
    z_loss: float,
    reduction_args: tuple[Any, Any, Any, Any],
) -> Any:
    """torch's class weighting of probability targets: ``-Σ_k w_k y'_k log p_k`` per row (the
    z-loss term times the row's weight), and ``"mean"`` over the rows, not over a weight sum.
    Never TensorFlow's fused kernel: its gradient assumes targets that sum to 1."""
    reduction, normalizer, sample_weight, mask = reduction_args
    log_p = backend.log_softmax(y_pred, axis=-1) if from_logits else backend.clamped_log(y_pred)
    loss = -backend.sum_times_log(weighted_targets, log_p, axis=-1)
    if z_loss:
        loss = loss + row_weight * z_loss_term(backend, y_pred, z_loss)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
    )


def _sparse_torch_rule(
    backend: ArrayAPIBackend,
    labels: Any,
    y_pred: Any,
    axis: int,
    options: tuple[float, float, float | None],
    class_weight: Any,
    label_weight: Any,
    from_logits: bool,
    checking: bool,
    eps: float,
) -> Any:
    """torch's class weighting with smoothing, per position (unreduced):
    ``w_y·[(1-ε)(-log p_y) + ζ·lse(z)²] + (ε/K)·Σ_k w_k(-log p_k)``."""
    label_smoothing, z_loss, softcap = options
    xp = backend.xp
    scores = backend.moveaxis(y_pred, axis, -1)
    num_classes = backend.shape(scores)[-1]
    if from_logits:
        if softcap is not None:
            scores = soft_cap(backend, scores, softcap)
        log_p = backend.log_softmax(scores, axis=-1)
    else:
        if checking:
            _validate.check_distribution(backend, scores, max(64, num_classes) * eps)
        log_p = backend.clamped_log(scores)
    picked = backend.take_along_axis(log_p, xp.expand_dims(labels, axis=-1), axis=-1)[..., 0]
    true_term = -(1.0 - label_smoothing) * picked
    if z_loss:
        true_term = true_term + z_loss_term(backend, scores, z_loss)
    smoothing_term = -xp.sum(log_p * class_weight, axis=-1) * (label_smoothing / num_classes)
    return label_weight * true_term + smoothing_term


def soft_cap(backend: ArrayAPIBackend, logits: Any, cap: float) -> Any:
    """``c·tanh(z / c)``: logits squashed smoothly into ``(-c, c)`` (slope 1 at 0)."""
    return cap * backend.xp.tanh(logits / cap)


def z_loss_term(backend: ArrayAPIBackend, logits: Any, z_loss: float) -> Any:
    """``ζ·logsumexp(z)²`` over the last axis; its gradient is ``2ζ·logsumexp(z)·softmax(z)``."""
    lse = backend.logsumexp(logits, axis=-1)
    return z_loss * (lse * lse)


def _check_prediction(backend: ArrayAPIBackend, y_pred: Any, from_logits: bool) -> None:
    """No NaN in ``y_pred``, and probabilities in [0, 1] (one reduction: min and max)."""
    if from_logits:
        _validate.check_no_nan(backend, y_pred, "y_pred")
        return
    _validate.check_unit_interval_no_nan(
        backend,
        y_pred,
        "y_pred",
        "y_pred (probabilities, from_logits=False)",
        hint=_validate.FROM_LOGITS_HINT,
    )


def _check_targets(backend: ArrayAPIBackend, y_true: Any) -> None:
    """No NaN in ``y_true`` and values in [0, 1]: one reduction (min and max), one host read."""
    _validate.check_unit_interval_no_nan(backend, y_true, "y_true", "y_true (targets)")


def _proven_clean(backend: ArrayAPIBackend, total: Any, y_pred: Any, proven: bool) -> Any:
    """``total``, a fused mean or sum that is NaN whenever ``y_pred`` holds a NaN, once it has
    cleared ``y_pred`` (where ``proven``: its check was left to this)."""
    if proven:
        _validate.check_nan_behind(backend, total, {"y_pred": y_pred})
    return total


def _pos_weight(backend: ArrayAPIBackend, pos_weight: Any, y_pred: Any, checking: bool) -> Any:
    pos_weight = backend.astype(backend.asarray(pos_weight, y_pred, "pos_weight"), y_pred.dtype)
    shape, pred_shape = backend.shape(pos_weight), backend.shape(y_pred)
    joint = _validate.broadcast_shapes(shape, pred_shape)
    if joint is None or not _validate.same_shape(joint, pred_shape):
        raise ValueError(
            f"pos_weight of shape {shape} must broadcast against y_pred of shape {pred_shape} "
            f"(one weight, or one per entry of the last axis)"
        )
    if checking:
        _validate.check_weights(backend, pos_weight, "pos_weight")
    return pos_weight


def _gather_vector(backend: ArrayAPIBackend, vector: Any, labels: Any) -> Any:
    """``vector[labels]`` for labels of any shape."""
    xp = backend.xp
    flat = xp.take(vector, xp.reshape(labels, (-1,)), axis=0)
    return backend.reshape_like(flat, labels)


def _sparse_from_probabilities(
    backend: ArrayAPIBackend,
    labels: Any,
    y_pred: Any,
    axis: int,
    label_smoothing: float,
    checking: bool,
    eps: float,
) -> Any:
    xp = backend.xp
    num_classes = backend.shape(y_pred)[axis]
    probs = backend.moveaxis(y_pred, axis, -1)
    if checking:
        _validate.check_distribution(backend, probs, max(64, num_classes) * eps)
    log_p = backend.clamped_log(probs)
    picked = backend.take_along_axis(log_p, xp.expand_dims(labels, axis=-1), axis=-1)[..., 0]
    if not label_smoothing:
        return -picked
    return -(1.0 - label_smoothing) * picked - label_smoothing * xp.mean(log_p, axis=-1)
