"""Classification losses beyond cross-entropy: margins, divergences, focal."""

from __future__ import annotations

from typing import Any

from .. import _inputs, _validate
from .._backend import ArrayAPIBackend
from .._reduce import check_reduction, reduce_loss
from .._registry import register


def _enter(y_true: Any, y_pred: Any, reduction: str, normalizer: Any) -> tuple[Any, Any, Any, bool]:
    """Entry of a loss on ``(y_true, y_pred)`` of the same shape: backend, inputs, checking."""
    check_reduction(reduction, normalizer)
    backend, y_pred, _ = _inputs.prediction(y_pred)
    y_true = _inputs.targets(backend, y_true, y_pred)
    _validate.check_target_shape(backend.shape(y_true), backend.shape(y_pred))
    checking = _validate.checking_values(backend, y_pred)
    if checking:
        _validate.check_no_nan(backend, y_true, "y_true")
        _validate.check_no_nan(backend, y_pred, "y_pred")
    return backend, y_true, y_pred, checking


def _finish(
    backend: ArrayAPIBackend,
    loss: Any,
    sample_weight: Any,
    mask: Any,
    reduction: str,
    normalizer: Any,
) -> Any:
    return reduce_loss(
        backend,
        loss,
        reduction=reduction,
        normalizer=normalizer,
        sample_weight=sample_weight,
        mask=mask,
    )


def _signed_labels(backend: ArrayAPIBackend, y_true: Any, checking: bool) -> Any:
    """Hinge targets in [-1, 1]; when every label is 0 or 1 they are mapped to -1/1 (Keras's
    convention), decided on the device so that it also holds while tracing."""
    xp = backend.xp
    if checking:
        bounds = backend.min_max(y_true)
        if bounds is not None and (bounds[0] < -1 or bounds[1] > 1):
            found = f"[{bounds[0]:g}, {bounds[1]:g}]"
            raise ValueError(f"y_true must hold labels -1/1 (or 0/1); got values in {found}")
    zero_one = xp.all((y_true == 0) | (y_true == 1))
    return xp.where(zero_one, 2.0 * y_true - 1.0, y_true)


def _relu(xp: Any, x: Any) -> Any:
    """``max(x, 0)`` with derivative 0 at the kink on every framework."""
    return xp.where(x > 0, x, xp.zeros_like(x))


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

    Labels given as 0/1 are mapped to -1/1 (as Keras does). Elementwise: Keras averages the last
    axis first. Reference: Cortes & Vapnik (1995).

    >>> import numpy as np, losskit as lk
    >>> lk.hinge(np.array([1.0, -1.0]), np.array([0.3, 2.0]), reduction="none").tolist()
    [0.7, 3.0]
    """
    backend, y_true, y_pred, checking = _enter(y_true, y_pred, reduction, normalizer)
    y = _signed_labels(backend, y_true, checking)
    loss = _relu(backend.xp, 1.0 - y * y_pred)
    return _finish(backend, loss, sample_weight, mask, reduction, normalizer)


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
    backend, y_true, y_pred, checking = _enter(y_true, y_pred, reduction, normalizer)
    y = _signed_labels(backend, y_true, checking)
    margin = _relu(backend.xp, 1.0 - y * y_pred)
    return _finish(backend, margin * margin, sample_weight, mask, reduction, normalizer)


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
    backend, y_true, y_pred, _ = _enter(y_true, y_pred, reduction, normalizer)
    axis = _validate.check_axis(axis, y_pred.ndim)
    xp = backend.xp
    if backend.shape(y_true) != backend.shape(y_pred):
        y_true = backend.broadcast_like(y_true, y_pred)
    positive = xp.sum(y_true * y_pred, axis=axis)
    negative = xp.max((1.0 - y_true) * y_pred, axis=axis)
    loss = _relu(xp, negative - positive + 1.0)
    return _finish(backend, loss, sample_weight, mask, reduction, normalizer)


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
    backend, y_true, y_pred, checking = _enter(y_true, y_pred, reduction, normalizer)
    axis = _validate.check_axis(axis, y_pred.ndim)
    xp = backend.xp
    if checking and not from_logits:
        _validate.check_probabilities(backend, y_pred)
    if checking and not log_target:
        _validate.check_unit_interval(backend, y_true, "y_true (probabilities)")
    if backend.shape(y_true) != backend.shape(y_pred):
        y_true = backend.broadcast_like(y_true, y_pred)
    log_q = backend.log_softmax(y_pred, axis=axis) if from_logits else backend.clamped_log(y_pred)
    if log_target:
        p = xp.exp(y_true)
        terms = p * (y_true - log_q)
    else:
        terms = backend.xlogy(y_true, y_true) - y_true * xp.where(
            y_true == 0, xp.zeros_like(log_q), log_q
        )
    loss = xp.sum(terms, axis=axis)
    return _finish(backend, loss, sample_weight, mask, reduction, normalizer)
