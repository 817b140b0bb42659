"""Classification losses beyond cross-entropy: margins, divergences, focal."""

from __future__ import annotations

from typing import Any

from .. import _inputs, _validate
from .._backend import ArrayAPIBackend
from .._reduce import check_reduction, fused_reduction, reduce_loss
from .._registry import register
from ._common import (
    convert_pair,
    enter_fused_pair,
    enter_pair,
    enter_pair_eps,
    finish,
    full_target,
    relu,
    settle,
)


def _signed_labels(backend: ArrayAPIBackend, y_true: Any, checking: bool) -> Any:
    """Hinge targets in [-1, 1], a 0 label read as -1 element by element.

    Each label is mapped on its own, so a sample's loss never depends on the rest of its batch
    (Keras maps 0/1 to -1/1 only when the whole batch holds 0/1, so a 0 label changes meaning
    with its neighbours; for all-0/1 and all-±1 batches the two agree)."""
    xp = backend.xp
    if checking:

        def outside(low: Any, high: Any) -> Any:
            return (low < -1) | (high > 1)

        def describe(bounds: Any) -> str:
            found = "" if bounds is None else f"; got values in [{bounds[0]:g}, {bounds[1]:g}]"
            return f"y_true must hold labels -1/1 (or 0/1){found}"

        _validate.require_bounds(backend, y_true, (outside, describe))
    return xp.where(y_true == 0, -1.0, y_true)


@register(
    "hinge",
    aliases=("hinge_loss",),
    family="classification",
    kind="elementwise",
    task="binary",
    domain="real",
    properties={"convex": True, "bounded": False, "calibrated": True},
    references=("Cortes & Vapnik (1995), Support-Vector Networks; keras.losses.Hinge",),
)
def hinge(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Hinge loss: :math:`\ell = \max(1 - y\,\hat y, 0)` with labels :math:`y \in \{-1, 1\}`.

    A 0 label means -1, decided for each element on its own (so 0/1 labels work as in Keras,
    and a 0 label means the same in any batch). Elementwise: Keras averages the last axis first.
    Reference: Cortes & Vapnik (1995).

    >>> import numpy as np, losskit as lk
    >>> lk.hinge(np.array([1.0, -1.0]), np.array([0.3, 2.0]), reduction="none").tolist()
    [0.7, 3.0]
    """
    backend, y_true, y_pred, checking = enter_pair(y_true, y_pred, reduction, normalizer)
    y = _signed_labels(backend, y_true, checking)
    loss = relu(backend.xp, 1.0 - y * y_pred)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "squared_hinge",
    aliases=("squared_hinge_loss",),
    family="classification",
    kind="elementwise",
    task="binary",
    domain="real",
    properties={"convex": True, "bounded": False, "calibrated": True},
    references=("keras.losses.SquaredHinge",),
)
def squared_hinge(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Squared hinge: :math:`\ell = \max(1 - y\,\hat y, 0)^2`, labels -1/1 (or 0/1).

    >>> import numpy as np, losskit as lk
    >>> lk.squared_hinge(np.array([1.0, 0.0]), np.array([0.5, 1.0]), reduction="none").tolist()
    [0.25, 4.0]
    """
    backend, y_true, y_pred, checking = enter_pair(y_true, y_pred, reduction, normalizer)
    y = _signed_labels(backend, y_true, checking)
    margin = relu(backend.xp, 1.0 - y * y_pred)
    return finish(backend, margin * margin, sample_weight, mask, reduction, normalizer)


@register(
    "categorical_hinge",
    aliases=("categorical_hinge_loss",),
    family="classification",
    kind="axis",
    task="multiclass",
    domain="real",
    properties={"convex": True, "bounded": False},
    references=("keras.losses.CategoricalHinge",),
)
def categorical_hinge(
    y_true: Any,
    y_pred: Any,
    *,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Categorical hinge (Keras), over ``axis``:

    .. math:: \ell = \max(1 + \max_k (1-y_k)\hat y_k - \sum_k y_k \hat y_k,\; 0)

    ``y_true`` is one-hot over ``axis``; the loss is the margin between the true class's score
    and the best other score.

    >>> import numpy as np, losskit as lk
    >>> float(lk.categorical_hinge(np.array([[0.0, 1.0, 0.0]]), np.array([[0.2, 0.9, 0.5]])))
    0.6
    """
    backend, y_true, y_pred, checking = enter_pair(y_true, y_pred, reduction, normalizer)
    axis = _validate.check_axis(axis, y_pred.ndim)
    _validate.check_class_axis(backend.shape(y_true), backend.shape(y_pred), axis)
    if checking:
        _validate.check_unit_interval(backend, y_true, "y_true (one-hot targets)")
    xp = backend.xp
    y_true = full_target(backend, y_true, y_pred)
    positive = xp.sum(y_true * y_pred, axis=axis)
    negative = xp.max((1.0 - y_true) * y_pred, axis=axis)
    loss = relu(xp, negative - positive + 1.0)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "kl_divergence",
    aliases=("kld", "kullback_leibler_divergence", "kl_div"),
    family="classification",
    kind="axis",
    task="multiclass",
    domain="probability",
    properties={"convex": True, "bounded": False, "from_logits": True},
    references=(
        "Kullback & Leibler (1951); torch.nn.KLDivLoss(reduction='batchmean'); "
        "keras.losses.KLDivergence",
    ),
)
def kl_divergence(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    log_target: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(y \,\|\, \hat y) = \sum_k y_k (\log y_k -
    \log \hat y_k)` over ``axis``.

    ``y_pred`` holds probabilities (logs clamped at -100), or logits with ``from_logits=True``
    (stable ``log_softmax``). ``y_true`` holds probabilities (``0·log 0 = 0``), or
    log-probabilities with ``log_target=True`` (torch's option). ``"mean"`` averages over the
    samples, which is torch's ``reduction="batchmean"``; Keras clips both inputs to [1e-7, 1]
    instead, so it differs where a probability is below 1e-7.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.kl_divergence(np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]]))), 6)
    0.143841
    """
    from_logits = _validate.check_bool("from_logits", from_logits)
    log_target = _validate.check_bool("log_target", log_target)
    check_reduction(reduction, normalizer)
    backend, y_true, y_pred, eps = convert_pair(y_true, y_pred)
    checking = _validate.checking_values(backend, y_pred)
    axis = _validate.check_axis(axis, y_pred.ndim)
    _validate.check_class_axis(backend.shape(y_true), backend.shape(y_pred), axis)
    if checking:  # y_true's NaN and range checks read one min and max
        bounds = None
        if log_target:
            _validate.check_no_nan(backend, y_true, "y_true")
        else:
            bounds = _validate.nan_checked_bounds(backend, y_true, "y_true")
        _validate.check_no_nan(backend, y_pred, "y_pred")
        if not from_logits:
            _validate.check_class_probabilities(backend, y_pred, eps, axis)
        _validate.check_bounds_in_unit_interval(backend, bounds, "y_true (probabilities)")
    y_true = full_target(backend, y_true, y_pred)
    loss = _kl_rows(backend, y_true, y_pred, axis, from_logits, log_target)
    fused = fused_reduction(backend, y_pred, reduction, normalizer, sample_weight, mask)
    if fused != "none":  # a plain mean or sum of the rows, without the general contract
        return backend.reduce_all(loss, fused)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _kl_rows(
    backend: ArrayAPIBackend,
    y_true: Any,
    y_pred: Any,
    axis: int,
    from_logits: bool,
    log_target: bool,
) -> Any:
    """``Σ y (log y - log q)`` over ``axis``; from logits with a backend's fused ``Σ y·log q``
    (``softmax_crossentropy``) as ``Σ y·log y - Σ y·log q``: the logits' part is then the
    categorical cross-entropy's kernel, and the targets' part needs no gradient."""
    xp = backend.xp
    kernel = getattr(backend, "softmax_crossentropy", None)
    if from_logits and not log_target and kernel is not None:
        rows = kernel(backend.moveaxis(y_true, axis, -1), backend.moveaxis(y_pred, axis, -1))
        if rows is not None:
            return xp.sum(backend.xlogy(y_true, y_true), axis=axis) - rows
    log_q = backend.log_softmax(y_pred, axis=axis) if from_logits else backend.clamped_log(y_pred)
    if log_target:
        return xp.sum(xp.exp(y_true) * (y_true - log_q), axis=axis)
    # y (log y - log q) as one guarded product (0 where y = 0, also against a -inf log q)
    safe = xp.where(y_true == 0, 1.0, y_true)
    return backend.sum_times_log(y_true, xp.log(safe) - log_q, axis=axis)


# ---------------------------------------------------------------------- focal
_FOCAL_REFERENCE = "Lin et al. (2017), Focal Loss for Dense Object Detection"


def _check_gamma(gamma: Any) -> float:
    return _validate.check_range("gamma", gamma, 0.0, float("inf"))


def _modulate(xp: Any, one_minus_p: Any, gamma: float) -> Any:
    """``(1 - p)^γ``; γ = 0 gives exactly 1 (no ``0^0`` gradient), and the base is kept above
    the smallest normal float so that ``γ < 1`` stays differentiable."""
    if gamma == 0.0:
        return xp.ones_like(one_minus_p)
    return xp.pow(xp.maximum(one_minus_p, 1e-37), gamma) if gamma != 1.0 else one_minus_p


def _alpha_argument(backend: ArrayAPIBackend, alpha: Any, y_pred: Any, checking: bool) -> Any:
    """``alpha``: None, a number in [0, 1], or per-class weights along the last axis."""
    if alpha is None or isinstance(alpha, int | float):
        return None if alpha is None else _validate.check_range("alpha", alpha, 0.0, 1.0)
    num_classes = backend.shape(y_pred)[-1]
    return _inputs.parameter_vector(backend, alpha, y_pred, "alpha", num_classes, checking)


@register(
    "binary_focal_crossentropy",
    aliases=("binary_focal_loss", "sigmoid_focal_loss", "focal_loss"),
    family="classification",
    kind="elementwise",
    task="binary",
    domain="probability",
    properties={"proper": False, "bounded": False, "from_logits": True},
    references=(_FOCAL_REFERENCE, "keras.losses.BinaryFocalCrossentropy; optax.sigmoid_focal_loss"),
)
def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    gamma: float = 2.0,
    alpha: Any = None,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Binary focal loss, elementwise: cross-entropy down-weighted on easy examples.

    .. math:: \ell = α_t\,(1 - p_t)^γ\,\mathrm{BCE}(y, p),\quad p_t = y p + (1-y)(1-p),
              \quad α_t = y α + (1-y)(1-α)

    The cross-entropy is losskit's exact one (from logits: no cancellation), and ``1 - p_t`` is
    ``y σ(-z) + (1-y) σ(z)``, exact in both tails. ``alpha=None`` applies no balancing; a number
    weights positives by α and negatives by 1 - α (Keras with ``apply_class_balancing=True``,
    optax, torchvision); a vector (one entry per last-axis class) does so per class. On torch,
    logits take a fused path outside tracing (the same formulas, with the derivative computed
    alongside the value).
    Reference: Lin et al. (2017).

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.binary_focal_crossentropy(np.array([1.0]), np.array([0.9]))), 6)
    0.001054
    """
    gamma = _check_gamma(gamma)
    from_logits = _validate.check_bool("from_logits", from_logits)
    label_smoothing = _validate.check_range("label_smoothing", label_smoothing, 0.0, 1.0)
    backend, y_true, y_pred, checking = enter_pair(y_true, y_pred, reduction, normalizer)
    xp = backend.xp
    if checking:
        _validate.check_unit_interval(backend, y_true, "y_true (targets)")
        if not from_logits:
            _validate.check_probabilities(backend, y_pred)
    alpha = _alpha_argument(backend, alpha, y_pred, checking)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    fused = getattr(backend, "binary_focal_logits", None) if from_logits else None
    if fused is not None:
        # value and derivative in one pass (torch); it reduces too when nothing else weighs in
        plain = sample_weight is None and mask is None and normalizer is None
        inner = "none"
        if plain:
            inner = "mean" if reduction == "sum_over_batch_size" else reduction
        loss = fused(y_true, y_pred, gamma, alpha, inner)
        if loss is not None:
            if plain:
                return loss
            return finish(backend, loss, sample_weight, mask, reduction, normalizer)
    if from_logits:
        ce = backend.binary_crossentropy_logits(y_true, y_pred)
        p, q = backend.sigmoid(y_pred), backend.sigmoid(-y_pred)
    else:
        ce = backend.binary_crossentropy_probs(y_true, y_pred)
        p, q = y_pred, 1.0 - y_pred
    loss = _modulate(xp, y_true * q + (1.0 - y_true) * p, gamma) * ce
    if alpha is not None:
        loss = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * loss
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "categorical_focal_crossentropy",
    aliases=("categorical_focal_loss", "softmax_focal_loss"),
    family="classification",
    kind="axis",
    task="multiclass",
    domain="probability",
    properties={"proper": False, "bounded": False, "from_logits": True},
    references=(_FOCAL_REFERENCE, "keras.losses.CategoricalFocalCrossentropy"),
)
def categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    gamma: float = 2.0,
    alpha: Any = None,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Categorical focal loss over ``axis``, in log space.

    .. math:: \ell = -\sum_k α_k\,(1 - p_k)^γ\, y_k \log p_k

    with ``log p`` the stable ``log_softmax`` (from logits) or the clamped log, and
    ``1 - p_k = -expm1(log p_k)`` (exact when ``p_k`` is close to 1). ``alpha``: None (1), a
    number (Keras's scalar ``alpha``), or one weight per class. Keras renormalises probability
    inputs and clips them to [1e-7, 1 - 1e-7]; losskit does neither. Reference: Lin et al. (2017).

    >>> import numpy as np, losskit as lk
    >>> y = np.array([[0.0, 1.0]])
    >>> round(float(lk.categorical_focal_crossentropy(y, np.array([[0.5, 0.5]]), gamma=1.0)), 6)
    0.346574
    """
    gamma = _check_gamma(gamma)
    from_logits = _validate.check_bool("from_logits", from_logits)
    label_smoothing = _validate.check_range("label_smoothing", label_smoothing, 0.0, 1.0)
    backend, y_true, y_pred, checking, eps = enter_pair_eps(y_true, y_pred, reduction, normalizer)
    axis = _validate.check_axis(axis, y_pred.ndim)
    _validate.check_class_axis(
        backend.shape(y_true),
        backend.shape(y_pred),
        axis,
        sparse="sparse_categorical_focal_crossentropy",
    )
    y_true = full_target(backend, y_true, y_pred)
    y_true, y_pred = backend.moveaxis(y_true, axis, -1), backend.moveaxis(y_pred, axis, -1)
    if checking:
        _validate.check_unit_interval(backend, y_true, "y_true (targets)")
        if not from_logits:
            _validate.check_class_probabilities(backend, y_pred, eps)
    alpha = _alpha_argument(backend, alpha, y_pred, checking)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / backend.shape(y_pred)[-1]
    loss = _focal_terms(backend, y_true, y_pred, gamma, alpha, from_logits)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


def _focal_terms(
    backend: ArrayAPIBackend, y: Any, y_pred: Any, gamma: float, alpha: Any, from_logits: bool
) -> Any:
    """``-Σ_k α_k (1 - p_k)^γ y_k log p_k`` over the last axis."""
    xp = backend.xp
    log_p = backend.log_softmax(y_pred, axis=-1) if from_logits else backend.clamped_log(y_pred)
    terms = _modulate(xp, -xp.expm1(log_p), gamma) * backend.times_log(y, log_p)
    if alpha is not None:
        terms = alpha * terms
    return -xp.sum(terms, axis=-1)


@register(
    "sparse_categorical_focal_crossentropy",
    aliases=("sparse_categorical_focal_loss", "sparse_focal_loss"),
    family="classification",
    kind="axis",
    task="multiclass",
    domain="probability",
    properties={"proper": False, "bounded": False, "from_logits": True},
    references=(_FOCAL_REFERENCE,),
)
def sparse_categorical_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    gamma: float = 2.0,
    alpha: Any = None,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Focal loss with integer class indices: :func:`categorical_focal_crossentropy` on the
    one-hot targets, with ``ignore_index`` excluded as in the sparse cross-entropy.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.sparse_categorical_focal_crossentropy(np.array([1]),
    ...                                                      np.array([[0.5, 0.5]]), gamma=1.0)), 6)
    0.346574
    """
    gamma = _check_gamma(gamma)
    from_logits = _validate.check_bool("from_logits", from_logits)
    label_smoothing = _validate.check_range("label_smoothing", label_smoothing, 0.0, 1.0)
    ignore_index = _validate.check_int("ignore_index", ignore_index, optional=True)
    check_reduction(reduction, normalizer)
    backend, y_pred, eps = _inputs.prediction(y_pred)
    axis = _validate.check_axis(axis, y_pred.ndim)
    num_classes = backend.shape(y_pred)[axis]
    checking = _validate.checking_values(backend, y_pred)
    labels = _inputs.sparse_labels(backend, y_true, y_pred, axis, checking)
    xp = backend.xp
    valid = None if ignore_index is None else labels != ignore_index
    if checking:
        _validate.check_labels(backend, labels, num_classes, valid)
        _validate.check_no_nan(backend, y_pred, "y_pred")
        if not from_logits:
            _validate.check_class_probabilities(backend, y_pred, eps, axis)
    labels = xp.clip(labels, 0, num_classes - 1)
    if valid is not None:
        labels = xp.where(valid, labels, xp.zeros_like(labels))
    y_pred = backend.moveaxis(y_pred, axis, -1)
    alpha = _alpha_argument(backend, alpha, y_pred, checking)
    target = backend.one_hot(labels, num_classes, dtype=y_pred.dtype)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / num_classes
    loss = _focal_terms(backend, target, y_pred, gamma, alpha, from_logits)
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
        valid=valid,
    )


# ---------------------------------------------------------------- more margins and divergences
@register(
    "soft_margin",
    aliases=("soft_margin_loss", "logistic_margin"),
    family="classification",
    kind="elementwise",
    task="binary",
    domain="real",
    properties={"convex": True, "bounded": False, "calibrated": True, "proper": True},
    references=("torch.nn.SoftMarginLoss",),
)
def soft_margin(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Soft margin (logistic) loss: :math:`\ell = \log(1 + e^{-y\hat y})`, labels -1/1 (or 0/1).

    Computed as ``softplus(-y ŷ)``, exact for any margin. Reference: torch ``SoftMarginLoss``.

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.soft_margin(np.array([1.0]), np.array([0.0]))), 6)
    0.693147
    """
    backend, y_true, y_pred, _, proof = enter_fused_pair(
        y_true, y_pred, reduction, normalizer, sample_weight, mask
    )
    y = _signed_labels(backend, y_true, _validate.checking_values(backend, y_pred))
    loss = backend.softplus(-y * y_pred)  # NaN wherever an input is: a mean or sum proves them
    return settle(backend, finish(backend, loss, sample_weight, mask, reduction, normalizer), proof)


@register(
    "poly_loss",
    aliases=("poly1", "poly1_crossentropy"),
    family="classification",
    kind="axis",
    task="multiclass",
    domain="probability",
    properties={"bounded": False, "from_logits": True},
    references=(
        "Leng et al. (2022), PolyLoss: A Polynomial Expansion Perspective of "
        "Classification Loss Functions",
    ),
)
def poly_loss(
    y_true: Any,
    y_pred: Any,
    *,
    epsilon: float = 1.0,
    from_logits: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Poly-1 loss: cross-entropy plus ``epsilon`` times the first polynomial term.

    .. math:: \ell = -\sum_k y_k \log p_k + ε\,(1 - p_t),\qquad p_t = \sum_k y_k p_k

    ``y_true`` is a distribution over ``axis`` (one-hot or soft); ε = 0 is the cross-entropy.
    Reference: Leng et al. (2022).

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.poly_loss(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]]))), 6)
    1.193147
    """
    epsilon = _validate.check_range("epsilon", epsilon, -1.0, float("inf"))
    from_logits = _validate.check_bool("from_logits", from_logits)
    backend, y_true, y_pred, checking, eps = enter_pair_eps(y_true, y_pred, reduction, normalizer)
    axis = _validate.check_axis(axis, y_pred.ndim)
    _validate.check_class_axis(backend.shape(y_true), backend.shape(y_pred), axis)
    xp = backend.xp
    if checking:
        _validate.check_unit_interval(backend, y_true, "y_true (targets)")
        if not from_logits:
            _validate.check_class_probabilities(backend, y_pred, eps, axis)
    y_true = full_target(backend, y_true, y_pred)
    log_p = backend.log_softmax(y_pred, axis=axis) if from_logits else backend.clamped_log(y_pred)
    # 1 - p_t as Σ y (1 - p) + (1 - Σ y), with 1 - p = -expm1(log p) from logits: exact when
    # p_t is close to 1 (the second term is 0 for one-hot targets)
    one_minus_p = -xp.expm1(log_p) if from_logits else 1.0 - y_pred
    ce = -backend.sum_times_log(y_true, log_p, axis=axis)
    rest = (1.0 - xp.sum(y_true, axis=axis)) + xp.sum(y_true * one_minus_p, axis=axis)
    loss = ce + epsilon * rest
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)


@register(
    "js_divergence",
    aliases=("jensen_shannon_divergence", "jsd"),
    family="classification",
    kind="axis",
    task="multiclass",
    domain="probability",
    properties={"bounded": True, "symmetric": True, "from_logits": True},
    references=("Lin (1991), Divergence Measures Based on the Shannon Entropy",),
)
def js_divergence(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    axis: int = -1,
    sample_weight: Any = None,
    mask: Any = None,
    reduction: str = "mean",
    normalizer: Any = None,
) -> Any:
    r"""Jensen-Shannon divergence over ``axis`` (natural log, bounded by log 2).

    .. math:: \mathrm{JS}(y, \hat y) = \tfrac12 \mathrm{KL}(y \,\|\, m) + \tfrac12
              \mathrm{KL}(\hat y \,\|\, m),\qquad m = \tfrac12 (y + \hat y)

    ``y_pred`` holds probabilities, or logits with ``from_logits=True``; ``0·log 0 = 0``.
    SciPy's ``jensenshannon`` is its square root. Reference: Lin (1991).

    >>> import numpy as np, losskit as lk
    >>> round(float(lk.js_divergence(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))), 6)
    0.693147
    """
    from_logits = _validate.check_bool("from_logits", from_logits)
    backend, y_true, y_pred, checking, eps = enter_pair_eps(y_true, y_pred, reduction, normalizer)
    axis = _validate.check_axis(axis, y_pred.ndim)
    _validate.check_class_axis(backend.shape(y_true), backend.shape(y_pred), axis)
    xp = backend.xp
    if checking:
        _validate.check_unit_interval(backend, y_true, "y_true (probabilities)")
        if not from_logits:
            _validate.check_class_probabilities(backend, y_pred, eps, axis)
    y_true = full_target(backend, y_true, y_pred)
    q = backend.softmax(y_pred, axis=axis) if from_logits else y_pred
    log_m = backend.clamped_log(0.5 * (y_true + q))
    half_kl = backend.xlogy(y_true, y_true) + backend.xlogy(q, q)
    cross = backend.times_log(y_true, log_m) + backend.times_log(q, log_m)
    loss = 0.5 * xp.sum(half_kl - cross, axis=axis)
    return finish(backend, loss, sample_weight, mask, reduction, normalizer)
